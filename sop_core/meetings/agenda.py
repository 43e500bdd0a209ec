"""The pre-S&OP agenda: the exceptions that need a decision, ranked by money at stake.

`agenda(result, overrides, products)` columns: kind ('revenue gap' | 'supply gap' | 'stockout' |
'below safety stock' | 'excess stock' | 'inventory' | 'large override'), subject, detail, period
(first period concerned, or NaT), units, money (the money at stake, ≥ 0), page (where the detail
lives). Sorted by money, largest first, with the one 'inventory' line (the rest, below) last. The
money mixes scopes: the revenue gap is the outlook year's; every other item is over the plan horizon.

The Inventory page's exceptions come in as they are there (`inventory.exceptions`, not recomputed):
a stockout's money is the revenue at risk (deepest shortage × unit_price), a safety-stock breach's
the cost to restore the buffer (largest gap × unit_cost), excess stock's its value at cost
(largest excess × unit_cost). Breaches and excess are capped at the INVENTORY_ITEMS largest; the
rest come to one 'inventory' line with their count and money, so the list stays readable.

The executive meeting opens with what the agenda comes to: whether a plan of record was approved
this cycle (`record_status`), the full-year outlook against the annual plan in one sentence with
the bridge's largest steps (`plan_vs_annual`), and the decisions needed (`decisions_needed`): the
decisions asked for in pre-S&OP that no approved plan has taken yet, then the agenda's top
exceptions in the agenda's own order.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core.formatting import delta_money, pct
from sop_core.formatting import money as fmt_money
from sop_core.formatting import units as fmt_units
from sop_core.meetings import decisions
from sop_core.meetings.decisions import CLOSED

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.planning.scenarios import Scenario
    from sop_core.store.workspace import Workspace

AGENDA_COLUMNS = ["kind", "subject", "detail", "period", "units", "money", "page"]
LARGE_OVERRIDE_SHARE = 0.005  # an override moving more than 0.5% of the horizon's revenue is on the agenda
INVENTORY_ITEMS = 5  # safety-stock breaches and excess stock listed one by one; the rest share one line


def _prices(products: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(products.drop_duplicates("sku", keep="last").set_index("sku")["unit_price"],
                         errors="coerce").fillna(0.0)


def supply_gaps(constrained: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """One row per family short of capacity: units short after pre-build and the revenue they carry."""
    c = constrained[constrained["short_units"] > 1e-9].copy()
    if c.empty:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    c["money"] = c["short_units"] * c["sku"].map(_prices(products)).fillna(0.0)
    rows = []
    for family, g in c.groupby("family"):
        months = sorted(pd.to_datetime(g["period"]).unique())
        span = f"{pd.Timestamp(months[0]):%b %Y}" + (f"–{pd.Timestamp(months[-1]):%b %Y}" if len(months) > 1 else "")
        resources = ", ".join(sorted(g["resource"].dropna().astype(str).unique()))
        rows.append({"kind": "supply gap", "subject": f"{family}: {fmt_units(g['short_units'].sum())} units short",
                     "detail": f"capacity of {resources or 'its resource'} in {span}, after pre-build",
                     "period": pd.Timestamp(months[0]), "units": float(g["short_units"].sum()),
                     "money": float(g["money"].sum()), "page": "supply_review"})
    return pd.DataFrame(rows, columns=AGENDA_COLUMNS)


def stockouts(exceptions: pd.DataFrame) -> pd.DataFrame:
    """Projected stockouts from the inventory exceptions, money = revenue at risk."""
    s = exceptions[exceptions["kind"] == "stockout"]
    return pd.DataFrame({
        "kind": "stockout", "subject": s["sku"].astype(str) + " (" + s["family"].astype(str) + ") runs out",
        "detail": "projected available balance below zero", "period": pd.to_datetime(s["first_period"]),
        "units": s["units"].astype(float), "money": s["value"].astype(float), "page": "inventory",
    }, columns=AGENDA_COLUMNS)


def inventory_position(exceptions: pd.DataFrame, top: int = INVENTORY_ITEMS) -> pd.DataFrame:
    """Safety-stock breaches and excess stock (inventory exceptions): the `top` by money, then one line for the rest.

    exceptions: `inventory.exceptions` (sku, family, kind, first_period, units, value); money = its value
    (cost to restore the buffer; excess at cost). The rest line: kind 'inventory', its count by kind,
    period = the earliest, units NaN (breach and excess units do not add up), money = the sum.
    """
    kinds = {"below safety stock": "below safety stock", "excess": "excess stock"}
    e = exceptions[exceptions["kind"].isin(list(kinds))].copy()
    if e.empty:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    e["money"] = pd.to_numeric(e["value"], errors="coerce").astype(float)
    e["units"] = pd.to_numeric(e["units"], errors="coerce").astype(float)
    e["period"] = pd.to_datetime(e["first_period"])
    e = e.sort_values(["money", "units", "sku"], ascending=[False, False, True], na_position="last", kind="mergesort")
    shown, rest = e.head(max(int(top), 0)), e.iloc[max(int(top), 0):]
    rows = []
    for _, x in shown.iterrows():
        name = f"{x['sku']} ({x['family']})"
        if x["kind"] == "excess":
            subject = f"{name}: {fmt_units(x['units'])} units of excess stock"
            detail = "more stock than the excess-cover months of demand need, valued at cost"
        else:
            subject = f"{name}: {fmt_units(x['units'])} units below safety stock"
            detail = "projected balance falls below safety stock (no stockout), valued at the cost to restore it"
        rows.append({"kind": kinds[x["kind"]], "subject": subject, "detail": detail, "period": x["period"],
                     "units": float(x["units"]), "money": float(x["money"]), "page": "inventory"})
    if len(rest):
        counts = rest["kind"].map(kinds).value_counts()
        what = " and ".join(f"{int(counts[k])} {k}" for k in ("below safety stock", "excess stock") if k in counts)
        rows.append({"kind": "inventory",
                     "subject": f"{len(rest)} more inventory exception{'s' if len(rest) > 1 else ''}",
                     "detail": f"the smaller ones: {what}; each is on the Inventory page",
                     "period": rest["period"].min(), "units": np.nan, "money": float(rest["money"].sum(min_count=1)),
                     "page": "inventory"})
    return pd.DataFrame(rows, columns=AGENDA_COLUMNS)


def revenue_gap(kpis: dict[str, Any], year: int) -> pd.DataFrame:
    """The full-year revenue gap to the annual plan, when the outlook is below it."""
    gap = kpis.get("gap_to_plan")
    if gap is None or not np.isfinite(gap) or gap >= 0:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    return pd.DataFrame([{
        "kind": "revenue gap", "subject": f"{year} outlook {fmt_money(-gap)} below the annual plan",
        "detail": f"{pct(kpis.get('gap_to_plan_pct'), signed=True)} against {fmt_money(kpis.get('plan_revenue'))}",
        "period": pd.Timestamp(year=year, month=1, day=1), "units": np.nan, "money": float(-gap),
        "page": "financials"}], columns=AGENDA_COLUMNS)


def large_overrides(overrides: pd.DataFrame, consensus: pd.DataFrame, products: pd.DataFrame,
                    horizon_revenue: float, share: float = LARGE_OVERRIDE_SHARE) -> pd.DataFrame:
    """Active overrides whose change in units, valued at the scope's average price, exceeds `share` of revenue."""
    if overrides is None or overrides.empty:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    active = overrides[overrides["undoes"].isna() & ~overrides["undone"].astype(bool)]
    price = consensus.assign(price=consensus["sku"].map(_prices(products)).fillna(0.0))
    rows = []
    for _, o in active.iterrows():
        scope = price
        for col in ("family", "region", "sku"):
            if isinstance(o[col], str) and o[col]:
                scope = scope[scope[col] == o[col]]
        avg = float((scope["price"] * scope["consensus"]).sum() / scope["consensus"].sum()) if scope["consensus"].sum() else 0.0
        delta = float(o["after_units"] - o["before_units"])
        value = abs(delta) * avg
        if value < share * horizon_revenue:
            continue
        who = o["sku"] if isinstance(o["sku"], str) else (o["family"] if isinstance(o["family"], str) else "all")
        where = f", {o['region']}" if isinstance(o["region"], str) else ""
        rows.append({"kind": "large override", "subject": f"{who}{where}: {fmt_units(delta)} units by {o['author']}",
                     "detail": f"{o['reason']}" + (f" — {o['comment']}" if isinstance(o["comment"], str) and o["comment"] else ""),
                     "period": pd.Timestamp(o["period_from"]), "units": delta, "money": value,
                     "page": "demand_review"})
    return pd.DataFrame(rows, columns=AGENDA_COLUMNS)


def agenda(result: Any, overrides: pd.DataFrame | None, products: pd.DataFrame) -> pd.DataFrame:
    """Every exception that needs a decision (AGENDA_COLUMNS), largest money at stake first, the rest line last.

    result: a `plan.PlanResult` (constrained, exceptions, consensus, kpis, year).
    """
    parts = [
        revenue_gap(result.kpis, result.year),
        supply_gaps(result.constrained, products),
        stockouts(result.exceptions),
        inventory_position(result.exceptions),
        large_overrides(overrides, result.consensus, products, float(result.kpis.get("horizon_revenue", 0.0))),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    out = pd.concat(parts, ignore_index=True).sort_values("money", ascending=False, kind="mergesort")
    return out.sort_values("kind", key=lambda k: k.eq("inventory"), kind="mergesort").reset_index(drop=True)


def gap_to_plan(result: Any) -> tuple[float, float | None] | None:
    """(revenue gap to the annual plan, as a fraction of the plan) of the outlook year; None when no annual plan was checked."""
    if result.coverage.annual_plan.state == "none":
        return None
    gap = result.kpis.get("gap_to_plan")
    pct = result.kpis.get("gap_to_plan_pct")
    return gap, (None if gap is None or pd.isna(gap) or pct is None else float(pct))


def money_at_stake(items: pd.DataFrame, unseen: bool) -> float | None:
    """Σ money of the agenda's exceptions; None when none is listed and a check did not see the whole plan."""
    if len(items):
        return float(items["money"].sum())
    return None if unseen else 0.0


# -- the executive meeting's opening ------------------------------------------------------------------
NEEDED_COLUMNS = ["kind", "subject", "detail", "money", "money_text", "page", "overdue"]
TOP_EXCEPTIONS = 3  # exceptions the executive meeting shows; the Pre-S&OP page lists them all
BRIDGE_DRIVERS = 3  # bridge steps named in the sentence on the annual plan


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float, np.number)) and bool(np.isfinite(x))


def record_status(version: Any | None, cycle_started: pd.Timestamp | None) -> tuple[bool, str]:
    """(approved this cycle, the status line) of the plan of record.

    version: the latest approved `versions.Version` (label, approved_by, approved_at) or None;
    cycle_started: when this cycle's data arrived (`cycle.cycle_start`). Approved this cycle =
    approved at or after that (the Cycle overview's rule; with no cycle start known, never).
    """
    if version is None:
        return False, ("No plan approved for this cycle yet: there is no plan of record. "
                       "An admin approves and freezes one below.")
    record = (f"Plan of record: {version.label}, approved by {version.approved_by} on "
              f"{pd.Timestamp(version.approved_at):%d %b %Y}.")
    if cycle_started is not None and pd.Timestamp(version.approved_at) >= pd.Timestamp(cycle_started):
        return True, record
    return False, f"No plan approved for this cycle yet. {record}"


def plan_vs_annual(kpis: Mapping[str, Any], bridge: pd.DataFrame | None, year: int,
                   drivers: int = BRIDGE_DRIVERS, coverage: Any | None = None) -> str:
    """One sentence: the full-year outlook against the annual plan, the gap in money and % with its sign, and
    the bridge's largest steps (`finance.bridge`: step, kind, value), largest first.

    kpis: `plan.PlanResult.kpis` (revenue, plan_revenue, gap_to_plan, gap_to_plan_pct). coverage:
    `plan.PlanResult.coverage`; when no sku of the plan has a price the outlook in money is not checked
    (never "$0"), and without an annual plan the comparison says which table it needs.
    """
    revenue, budget, gap = kpis.get("revenue"), kpis.get("plan_revenue"), kpis.get("gap_to_plan")
    if coverage is not None and coverage.prices.state == "none":
        return (f"The {year} outlook in money is not checked: no sku of the plan has a price "
                f"({coverage.prices.load_text}).")
    if not _finite(budget) or budget == 0 or not _finite(gap):
        text = f"No annual plan for {year}: the full-year outlook is {fmt_money(revenue)}"
        return text + (" — the comparison is not checked: load the plan table (revenue_plan)." if coverage is not None
                       else ".")
    head = f"{year} full-year outlook {fmt_money(revenue)} against the annual plan of {fmt_money(budget)}"
    if abs(gap) < 0.5:
        return head + ": on plan."
    text = f"{head}: {delta_money(gap)} ({pct(kpis.get('gap_to_plan_pct'), signed=True)})"
    if bridge is not None and len(bridge):
        effects = bridge[bridge["kind"] == "effect"].set_index("step")["value"].astype(float)
        effects = effects[effects.abs() >= 0.5].sort_values(key=lambda v: v.abs(), ascending=False).head(drivers)
        if len(effects):
            text += " — " + ", ".join(f"{step.lower()} {delta_money(v)}" for step, v in effects.items())
    return text + "."


def decisions_needed(exceptions: pd.DataFrame, decision_log: pd.DataFrame, *,
                     option_names: Mapping[str, str] | None = None,
                     option_effects: Mapping[str, float] | None = None, year: int | None = None,
                     top: int = TOP_EXCEPTIONS) -> pd.DataFrame:
    """What the executive meeting must decide, one row each (NEEDED_COLUMNS): the decisions, then the top exceptions.

    decision_log: `decisions.log` (LOG_COLUMNS); the decisions still to take are those not done or
    dropped and linked to no approved plan version, earliest due first (the log's order).
    exceptions: `agenda(...)` (AGENDA_COLUMNS, ranked); its first `top` rows are kept in that order.
    option_names / option_effects: scenario_id → name / the option's effect on the `year` outlook
    (scenario − baseline revenue), for decisions with an option.
    Columns: kind ('decision' or the exception's kind), subject, detail, money (an exception's money
    at stake ≥ 0; a decision's option effect, signed; NaN when not known), money_text, page (the
    page stem that explains it), overdue (bool; decisions past their due date).
    """
    names, effects = dict(option_names or {}), dict(option_effects or {})
    rows: list[dict[str, Any]] = []
    log = decision_log[~decision_log["status"].isin(CLOSED) & decision_log["version_id"].isna()]
    for _, d in log.iterrows():
        option = d["scenario_id"] if isinstance(d["scenario_id"], str) and d["scenario_id"] else None
        effect = effects.get(option) if option is not None else None
        effect = float(effect) if _finite(effect) else np.nan
        detail = f"{d['owner']} to decide by {pd.Timestamp(d['due_date']):%d %b %Y}"
        if bool(d["overdue"]):
            detail += " (overdue)"
        if option is not None:
            detail += f" · option “{names.get(option, 'a scenario')}”"
            if np.isfinite(effect):
                detail += f": {delta_money(effect)} on the {year or 'full-year'} outlook"
        else:
            detail += " · no option attached"
        rows.append({"kind": "decision", "subject": str(d["title"]), "detail": detail, "money": effect,
                     "money_text": delta_money(effect) if np.isfinite(effect) else "—", "page": "pre_sop",
                     "overdue": bool(d["overdue"])})
    for _, e in exceptions.head(max(int(top), 0)).iterrows():
        rows.append({"kind": str(e["kind"]), "subject": str(e["subject"]), "detail": str(e["detail"]),
                     "money": float(e["money"]), "money_text": fmt_money(float(e["money"])), "page": str(e["page"]),
                     "overdue": False})
    out = pd.DataFrame(rows, columns=NEEDED_COLUMNS)
    return out.astype({"money": float, "overdue": bool})


def executive_decisions(ws: Workspace, result: Any, option_revenue: Callable[[Scenario], float] | None = None,
                        top: int = TOP_EXCEPTIONS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the agenda, the decisions needed) of the Executive page for the plan `result` — the one list that the
    page and the executive pack show.

    result: the baseline `plan.PlanResult` (the current consensus). The agenda is `agenda(result, the
    override history, products)`, the Pre-S&OP page's ranking; the decisions needed are
    `decisions_needed` of it and of the open and in-progress decisions linked to no plan version.
    option_revenue(scenario): the `result.year` outlook revenue with a decision's scenario applied (its
    effect = that − the baseline's); None leaves the effects unknown.
    """
    from sop_core.demand import overrides
    from sop_core.planning import scenarios

    items = agenda(result, overrides.history(ws), ws.table("products"))
    log = decisions.log(ws, status=("open", "in progress"))
    unlinked = log[log["version_id"].isna()]
    wanted = set(unlinked["scenario_id"].dropna())
    attached = {s.scenario_id: s for s in scenarios.list_scenarios(ws, include_archived=True)
                if s.scenario_id in wanted}
    base = float(result.kpis["revenue"])
    effects = {i: float(option_revenue(s)) - base for i, s in attached.items()} if option_revenue else {}
    needed = decisions_needed(items, unlinked, option_names={i: s.name for i, s in attached.items()},
                              option_effects=effects, year=result.year, top=top)
    return items, needed


# -- the executive meeting's charts -------------------------------------------------------------------
def family_supply(constrained: pd.DataFrame) -> pd.DataFrame:
    """Demand and constrained supply per family over the plan horizon, largest demand first.

    constrained: a `supply.constrained_plan` frame (family, units, constrained_units, short_units).
    Columns: family, demand, supplied, short (units, whole as the engine computed them; the chart rounds).
    Lines without a family come under '(no family)'.
    """
    cols = ["family", "demand", "supplied", "short"]
    if constrained is None or not len(constrained):
        return pd.DataFrame(columns=cols).astype({"demand": float, "supplied": float, "short": float})
    c = constrained.assign(family=constrained["family"].astype(object).where(constrained["family"].notna(),
                                                                            "(no family)").astype(str))
    g = c.groupby("family")[["units", "constrained_units", "short_units"]].sum()
    out = pd.DataFrame({"family": g.index, "demand": g["units"].to_numpy(dtype=float),
                        "supplied": g["constrained_units"].to_numpy(dtype=float),
                        "short": g["short_units"].clip(lower=0).to_numpy(dtype=float)})
    return out.sort_values(["demand", "family"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def revenue_by_month(monthly: pd.DataFrame, approved: pd.DataFrame | None = None) -> pd.DataFrame:
    """Revenue per month of the outlook year with the last approved plan's revenue beside it.

    monthly: `finance.monthly_outlook` (period, source 'actual' | 'plan', revenue, plan_revenue = the
    annual plan); approved: `versions.monthly_revenue` of the last approved version for that year
    (period, revenue), or None. Columns: period, source, revenue, plan_revenue, approved_revenue
    (NaN for a month the approved plan does not cover, e.g. the months that were actuals already).
    """
    out = monthly[["period", "source", "revenue", "plan_revenue"]].copy()
    out["period"] = pd.to_datetime(out["period"])
    if approved is not None and len(approved):
        by_month = approved.assign(period=pd.to_datetime(approved["period"])).set_index("period")["revenue"]
        out["approved_revenue"] = out["period"].map(by_month).astype(float)
    else:
        out["approved_revenue"] = np.nan
    return out.sort_values("period").reset_index(drop=True)

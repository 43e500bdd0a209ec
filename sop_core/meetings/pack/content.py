"""What the executive pack says, as data: `gather` builds a `PackContent` (no rendering).

The plan it shows, the scorecard, the headline gap and bridge, family plans, capacity, decisions
and the share link, all from `plan.evaluate` on that plan (see the package docstring); also the
numbers as the pack prints them (`kpi_value_text`), which the PDF and the workbook share.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core.formatting import delta_money, money, pct, units
from sop_core.intake.company import current as current_company
from sop_core.meetings import agenda, decisions, links, versions
from sop_core.planning import finance, kpis, plan, scenarios

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

COMPANY_SETTING = "company_name"  # workspace setting naming the company on the title line
CONSENSUS_LABEL = "current consensus (not yet approved)"
EXECUTIVE_PAGE = "executive"  # URL path of the Executive S&OP page the share link opens
NO_FAMILY = "(no family)"

STEP_TEXT = {
    "Annual plan": "revenue of the annual plan for the year",
    "Volume": "outlook units − plan units, at the plan's average price",
    "Price": "outlook units × (outlook price − plan price), family by family",
    "Mix": "a shift of units between families with different plan prices",
    "Volume & mix": "outlook units at list price − annual plan (the annual plan has no volumes, so volume and "
                    "mix are shown together)",
    "Supply constraint": "revenue capacity cannot make: constrained − unconstrained outlook",
    "Outlook": "actuals to date + the constrained plan for the rest of the year",
}
# a history in money: its volume is revenue, so the plan's price is 1 and the whole gap is volume
MONEY_STEP_TEXT = {
    "Volume": "outlook revenue − annual plan revenue (a history in money: its volume is revenue)",
    "Price": "none: a history in money has no prices apart from its amounts",
    "Mix": "none: a history in money has no prices apart from its amounts",
    "Volume & mix": "outlook revenue − annual plan revenue (a history in money: its volume is revenue)",
}


def step_text(step: str, note: str, in_money: bool = False) -> str:
    """What a bridge step measures, as the pack prints it (the engine's note for a step it does not name)."""
    return (MONEY_STEP_TEXT if in_money else {}).get(step) or STEP_TEXT.get(step, note)


# -- content ---------------------------------------------------------------------------------------
@dataclass
class Headline:
    """The revenue answer: outlook vs annual plan for the outlook year, and one sentence saying it."""

    year: int
    revenue: float
    plan_revenue: float
    gap: float
    gap_pct: float
    text: str


@dataclass
class PackContent:
    """Everything the executive pack shows, as data (no rendering).

    plan_lines: the plan (sku, region, family, period, units, unit_price, revenue, cogs), as
    approved for a version. family_plan: family, period, units, revenue, cogs. family_summary:
    family, units, revenue, cogs, gross_margin_pct (horizon), outlook_revenue, plan_revenue, gap,
    gap_pct (outlook year), is_total. monthly_outlook: period, source, revenue, plan_revenue.
    utilisation: `supply.utilisation`. capacity: resource, basis, months, peak_utilisation,
    peak_period, average_utilisation, overloaded_months, over_hours, top_families. decisions:
    `decisions.LOG_COLUMNS` (open ones and those linked to the version). needed: what the meeting
    must decide, `agenda.executive_decisions` on the current consensus, the Executive page's list
    (`agenda.NEEDED_COLUMNS`). fingerprint: `links.fingerprint` (data + overrides), the one in `link`.
    changes: `versions.compare` by family against the previous version. in_money: the sales history is in
    money (`history.is_money`), so the plan's "units" are currency: the pack shows revenue, not units.
    """

    company: str
    cycle_month: pd.Timestamp | None
    generated_at: datetime
    plan_label: str
    version: versions.Version | None
    year: int
    fingerprint: str
    scorecard: list[kpis.KPI]
    headline: Headline
    bridge: pd.DataFrame
    monthly_outlook: pd.DataFrame
    plan_lines: pd.DataFrame
    family_plan: pd.DataFrame
    family_summary: pd.DataFrame
    utilisation: pd.DataFrame
    capacity: pd.DataFrame
    capacity_text: str
    plan_kpis: dict[str, float]
    decisions: pd.DataFrame
    scenario: scenarios.Scenario | None = None
    scenario_lines: list[str] = field(default_factory=list)
    link: str | None = None
    changes: pd.DataFrame | None = None
    previous_label: str | None = None
    notes: list[str] = field(default_factory=list)
    needed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=agenda.NEEDED_COLUMNS))
    in_money: bool = False

    @property
    def measure(self) -> str:
        """The plan's measure in a heading: 'Consensus revenue' for a history in money, else 'Plan units'."""
        return "Consensus revenue" if self.in_money else "Plan units"

    @property
    def approved(self) -> bool:
        """True when the pack shows an approved plan version (not the current consensus)."""
        return self.version is not None

    @property
    def title(self) -> str:
        """'Northwind Outdoor · S&OP executive pack · November 2026 cycle'."""
        parts = [self.company] if self.company else []
        parts.append("S&OP executive pack")
        if self.cycle_month is not None:
            parts.append(f"{self.cycle_month:%B %Y} cycle")
        return " · ".join(parts)


def company_name(ws: Workspace) -> str:
    """The company on the title line: setting 'company_name', else the name of the company the workspace holds."""
    name = ws.get_setting(COMPANY_SETTING)
    if isinstance(name, str) and name.strip():
        return name.strip()
    return current_company(ws).name or ""


def current_consensus(ws: Workspace) -> pd.DataFrame | None:
    """The demand review's consensus for the current data and saved forecast settings, or None (read only).

    The stored consensus of the run key, else the stored forecast run with the active overrides
    applied in memory (as the Demand review would store it on first use).
    """
    from sop_core.demand import forecast, overrides

    settings = forecast.saved_settings(ws)

    def statistical() -> pd.DataFrame | None:
        run = forecast.load_run(ws, settings)
        return None if run is None or run.forecast is None or run.forecast.empty else run.forecast

    return overrides.run_consensus(ws, forecast.run_key_for(ws, settings), statistical, store=False)


def _stored_accuracy_points(ws: Workspace) -> pd.DataFrame | None:
    """Backtest points of the stored forecast run for the current data and settings, or None."""
    from sop_core.demand import forecast

    try:
        pts = forecast.backtest_points(ws, forecast.saved_settings(ws))
    except (KeyError, ValueError):  # pragma: no cover - a damaged run row
        return None
    return pts if pts is not None and len(pts) else None


def _plan_frame(lines: pd.DataFrame) -> pd.DataFrame:
    """Version lines as the plan engine's input (sku, region, family, period, units)."""
    return lines[["sku", "region", "family", "period", "units"]].assign(
        period=pd.to_datetime(lines["period"]), units=pd.to_numeric(lines["units"], errors="coerce").astype(float))


def _family(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), NO_FAMILY).astype(str)


def family_plan(lines: pd.DataFrame) -> pd.DataFrame:
    """Plan per family × month: family, period, units, revenue, cogs (money NaN when any line lacks it)."""
    df = pd.DataFrame({
        "family": _family(lines["family"]), "period": pd.to_datetime(lines["period"]),
        "units": pd.to_numeric(lines["units"], errors="coerce").astype(float),
        "revenue": pd.to_numeric(lines["revenue"], errors="coerce").astype(float),
        "cogs": pd.to_numeric(lines["cogs"], errors="coerce").astype(float),
    })
    g = df.groupby(["family", "period"], as_index=False).agg(
        units=("units", "sum"), revenue=("revenue", lambda s: s.sum() if s.notna().all() else np.nan),
        cogs=("cogs", lambda s: s.sum() if s.notna().all() else np.nan))
    return g.sort_values(["family", "period"]).reset_index(drop=True)


def _family_summary(fam: pd.DataFrame, vs_budget: pd.DataFrame) -> pd.DataFrame:
    """Per family plus a Total row: horizon units, revenue, cogs, margin %; outlook-year revenue vs annual plan."""

    def total(s: pd.Series) -> float:
        return float(s.sum()) if s.notna().all() else np.nan

    g = fam.groupby("family").agg(units=("units", "sum"), revenue=("revenue", total), cogs=("cogs", total))
    vb = vs_budget[~vs_budget["is_total"]].set_index("family")[["outlook_revenue", "plan_revenue", "gap", "gap_pct"]]
    out = g.join(vb, how="outer").rename_axis("family").reset_index()
    not_planned = ~out["family"].isin(g.index)  # in the annual plan only: nothing planned
    out.loc[not_planned, ["units", "revenue", "cogs"]] = 0.0
    out = out.sort_values("family").reset_index(drop=True)
    tot = vs_budget[vs_budget["is_total"]]
    row = {"family": finance.TOTAL, "units": float(out["units"].sum()), "revenue": total(out["revenue"]),
           "cogs": total(out["cogs"])}
    if len(tot):
        row.update({c: float(tot[c].iloc[0]) for c in ("outlook_revenue", "plan_revenue", "gap", "gap_pct")})
    out = pd.concat([out, pd.DataFrame([row])], ignore_index=True)
    out["gross_margin_pct"] = finance.margin_pct(out["revenue"], out["cogs"])
    out["is_total"] = out.index == len(out) - 1
    return out[["family", "units", "revenue", "cogs", "gross_margin_pct", "outlook_revenue", "plan_revenue", "gap",
                "gap_pct", "is_total"]]


def _monthly_outlook(r: plan.PlanResult, budget: pd.DataFrame) -> pd.DataFrame:
    """Outlook revenue per month of the year (actual or plan months) with the annual plan's revenue."""
    o = r.outlook_constrained
    g = o.groupby(["period", "source"], as_index=False)["revenue"].sum()
    if budget is not None and len(budget) and "revenue_plan" in budget.columns:
        b = budget.assign(period=pd.to_datetime(budget["period"]).dt.to_period("M").dt.to_timestamp(),
                          revenue_plan=pd.to_numeric(budget["revenue_plan"], errors="coerce").astype(float))
        by_month = b[b["period"].dt.year == r.year].groupby("period")["revenue_plan"].sum(min_count=1)
        g["plan_revenue"] = pd.to_datetime(g["period"]).map(by_month).astype(float)
    else:
        g["plan_revenue"] = np.nan
    return g.sort_values("period").reset_index(drop=True)


def _headline(k: Mapping[str, float], bridge: pd.DataFrame, year: int) -> Headline:
    """The gap to the annual plan in one sentence, with its three largest drivers."""
    gap, gap_pct = float(k["gap_to_plan"]), float(k["gap_to_plan_pct"])
    revenue, plan_revenue = float(k["revenue"]), float(k["plan_revenue"])
    if not math.isfinite(plan_revenue):
        text = f"Outlook {year}: {money(revenue)}. No annual plan is loaded, so there is no gap to show."
    elif abs(gap) < 0.5:
        text = f"Outlook {year}: {money(revenue)}, on the annual plan of {money(plan_revenue)}."
    else:
        effects = bridge[bridge["kind"] == "effect"].set_index("step")["value"].astype(float)
        effects = effects[effects.abs() >= 0.5].sort_values(key=lambda s: s.abs(), ascending=False)
        drivers = ", ".join(f"{step.lower()} {delta_money(v)}" for step, v in effects.head(3).items())
        text = (f"Outlook {year}: {money(revenue)} vs annual plan {money(plan_revenue)}, "
                f"{delta_money(gap)} ({pct(gap_pct, 1, signed=True)}) {'below' if gap < 0 else 'above'} plan"
                + (f": {drivers}." if drivers else "."))
    return Headline(year=year, revenue=revenue, plan_revenue=plan_revenue, gap=gap, gap_pct=gap_pct, text=text)


def capacity_summary(util: pd.DataFrame) -> pd.DataFrame:
    """Per resource: basis, months, peak_utilisation, peak_period, average_utilisation, overloaded_months,
    over_hours, top_families (at the peak); highest peak first."""
    cols = ["resource", "basis", "months", "peak_utilisation", "peak_period", "average_utilisation",
            "overloaded_months", "over_hours", "top_families"]
    if util is None or util.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    rows = []
    for res, g in util.groupby("resource", sort=True):
        u = pd.to_numeric(g["utilisation"], errors="coerce").astype(float)
        ok = np.isfinite(u)
        peak = g.loc[u[ok].idxmax()] if ok.any() else None
        rows.append({
            "resource": str(res), "basis": str(g["basis"].iloc[0]), "months": int(len(g)),
            "peak_utilisation": float(u[ok].max()) if ok.any() else np.nan,
            "peak_period": pd.Timestamp(peak["period"]) if peak is not None else pd.NaT,
            "average_utilisation": float(u[ok].mean()) if ok.any() else np.nan,
            "overloaded_months": int(g["overloaded"].astype(bool).sum()),
            "over_hours": float(pd.to_numeric(g["over_hours"], errors="coerce").sum()),
            "top_families": str(peak["top_families"]) if peak is not None else "",
        })
    return pd.DataFrame(rows, columns=cols).sort_values("peak_utilisation", ascending=False, na_position="last") \
        .reset_index(drop=True)


def _capacity_text(k: Mapping[str, float], cap: pd.DataFrame, in_money: bool = False) -> str:
    """The supply answer in one sentence, as the Supply review says it."""
    if in_money:
        return ("Capacity is not checked: the sales history is in money (sales values), and capacity is counted in "
                "units. Load a sales history in units for the supply and inventory checks.")
    short, n_over = float(k["units_short"]), int(k["overloaded_resource_months"])
    peak = cap.dropna(subset=["peak_utilisation"]).head(1)
    if peak.empty:
        return ("Capacity is not checked: it needs the capacity table and a resource and hours per unit for the "
                "skus in the products table.")
    where = (f"peak {pct(peak['peak_utilisation'].iloc[0], 0)} on {peak['resource'].iloc[0]} in "
             f"{pd.Timestamp(peak['peak_period'].iloc[0]):%b %Y}") if len(peak) else "no resource could be loaded"
    if short > 0.5:
        demand = float(k["units_demand"])
        share = f", {pct(short / demand, 1)} of demand" if demand > 0 else ""
        at_risk = float(k["horizon_revenue_unconstrained"] - k["horizon_revenue"])
        return (f"Capacity cannot make the whole plan: {units(short)} units short after pre-build{share} "
                f"({money(at_risk)} of revenue); {n_over} resource-month{'s' if n_over != 1 else ''} "
                f"overloaded; {where}.")
    if n_over:
        months = "1 resource-month is" if n_over == 1 else f"{n_over} resource-months are"
        return (f"{months} overloaded, but pre-building in earlier months covers the whole plan: nothing is "
                f"short; {where}.")
    return f"Capacity covers the plan: no resource is overloaded in any month ({where})."


def _decisions(ws: Workspace, version_id: str | None, today: date | None) -> pd.DataFrame:
    """Open decisions and those linked to the version, earliest due first."""
    log = decisions.log(ws, today=today)
    keep = ~log["status"].isin(decisions.CLOSED)
    if version_id is not None:
        keep |= log["version_id"].astype(object) == version_id
    return log[keep].reset_index(drop=True)


def _previous(ws: Workspace, version: versions.Version) -> versions.Version | None:
    """The approved version just before `version` (by number), or None."""
    lst = versions.list_versions(ws)
    before = lst[lst["number"] < version.number]
    return versions.get(ws, str(before.iloc[0]["version_id"])) if len(before) else None


def _stale_note(ws: Workspace, version: versions.Version) -> str | None:
    """'The data changed since this version was approved: sales, plan' for the tables whose content changed."""
    from sop_core.contract import TABLES

    current = {k: ws.fingerprint([k]) for k in version.fingerprints if k in TABLES}
    if "data" in version.fingerprints:
        current["data"] = ws.fingerprint()
    changed = [k for k in versions.stale_inputs(version, current) if k in current]
    if not changed:
        return None
    return f"The data changed since this version was approved: {', '.join(changed)}."


_FP_PARAM = re.compile(r"([?&]fp=)[^&#]*")


def _link_text(ws: Workspace, link: str | links.ViewState | None, scenario_id: str | None,
               base_url: str | None, fingerprint: str) -> str:
    """The share link printed in the pack: `link` as given, else a link to the Executive page (and scenario);
    its fingerprint is the pack's (`links.fingerprint` when the pack was gathered), as on the cover."""
    if isinstance(link, str) and link.strip():
        return _FP_PARAM.sub(lambda m: m.group(1) + fingerprint, link.strip())
    state = link if isinstance(link, links.ViewState) else links.ViewState(page=EXECUTIVE_PAGE,
                                                                            scenario_id=scenario_id)
    return links.url(base_url or "", dataclasses.replace(state, fingerprint=fingerprint))


def _consensus_frame(cons: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """The consensus as plan lines (sku, region, family, period, units, unit_price, revenue, cogs)."""
    c = plan.as_consensus(cons)
    return versions.prepare_lines(c.assign(units=c["consensus"]), products if len(products) else None)


def _needed(ws: Workspace, inputs: plan.PlanInputs, result: plan.PlanResult) -> pd.DataFrame:
    """The Executive page's decisions needed for the baseline plan `result` of `inputs` (`agenda.executive_decisions`)."""
    _, needed = agenda.executive_decisions(
        ws, result, lambda sc: plan.evaluate_scenario(inputs, sc).kpis["revenue"])
    return needed


def gather(ws: Workspace, version_id: str | None = None, link: str | links.ViewState | None = None, *,
           consensus: pd.DataFrame | None = None, accuracy_points: pd.DataFrame | None = None,
           company: str | None = None, base_url: str | None = None, today: date | None = None,
           now: datetime | None = None) -> PackContent:
    """What the pack shows, for version `version_id`, else the latest approved version, else the current consensus.

    consensus: the current consensus to use when no version is approved (default: `current_consensus(ws)`).
    accuracy_points: forecast points (period, forecast, actual) for forecast accuracy and bias
    (default: the stored backtest of the current forecast run). link: the share link text to print,
    or a `links.ViewState` to link to (default: the Executive page with the version's scenario;
    `base_url` makes it absolute). Raises KeyError for an unknown version and ValueError when there is
    no plan at all.
    """
    now = now or datetime.now(timezone.utc)
    notes: list[str] = []
    version = previous = None
    changes = None
    if version_id:
        version = versions.get(ws, version_id)
        if version is None:
            raise KeyError(f"no approved plan version {version_id!r}: see the Executive S&OP page for the versions")
    else:
        version = versions.latest(ws)
    from sop_core.demand.history import is_money
    from sop_core.demand.history import products as load_products

    products = load_products(ws)
    in_money = is_money(ws)
    if version is not None:
        lines = versions.load_version(ws, version.version_id)
        label = (f"{version.label} (approved by {version.approved_by} on {version.approved_at:%d %b %Y})")
        previous = _previous(ws, version)
        if previous is not None:
            changes = versions.compare(versions.load_version(ws, previous.version_id), lines, "family")
        stale = _stale_note(ws, version)
        if stale:
            notes.append(stale)
    else:
        cons = consensus if consensus is not None else current_consensus(ws)
        if cons is None or len(cons) == 0:
            raise ValueError("no approved plan version and no consensus plan: run the forecast (Demand review, or "
                             "`python -m sop_core forecast`) first")
        lines = _consensus_frame(cons, products)
        label = CONSENSUS_LABEL
    inputs = plan.PlanInputs.from_workspace(ws, _plan_frame(lines))
    scenario = None
    sid = version.scenario_id if version is not None else None
    if sid:
        scenario = scenarios.get(ws, sid)
        if scenario is None:
            notes.append("The scenario this version was built on is no longer in the workspace: capacity and "
                         "prices are the loaded ones.")
        else:  # its demand changes are in the approved units already; its capacity and prices apply
            inputs = plan.apply_scenario(inputs, dataclasses.replace(scenario.changes, demand=(), overrides=()))
    r = plan.evaluate(inputs)
    k = dict(r.kpis)
    # what the meeting must decide, as the Executive page lists it: on the current consensus (the version's plan
    # when there is none), without the version's scenario
    if version is None:
        needed = _needed(ws, inputs, r)
    else:
        cons = consensus if consensus is not None else current_consensus(ws)
        current = cons is not None and len(cons) > 0
        base = plan.PlanInputs.from_workspace(ws, _plan_frame(_consensus_frame(cons, products) if current else lines))
        needed = _needed(ws, base, plan.evaluate(base))
        if not current:
            notes.append("No current consensus: the decisions needed are those of the approved plan.")
    fingerprint = links.fingerprint(ws)  # data + overrides: the one the share link carries

    pts = accuracy_points if accuracy_points is not None else _stored_accuracy_points(ws)
    sc_inputs = kpis.inputs_from_workspace(ws, consensus=_plan_frame(lines), accuracy_points=pts,
                                           utilisation=r.utilisation, outlook=r.outlook_constrained)
    sc_inputs.year = r.year
    sc_inputs.coverage = r.coverage  # a KPI whose check saw nothing is 'not checked' here as on the pages
    card = kpis.scorecard(sc_inputs)

    fam = family_plan(lines)
    cap = capacity_summary(r.utilisation)
    if len(r.unloaded) and cap["peak_utilisation"].notna().any():
        n = r.unloaded["sku"].nunique()
        notes.append(f"The capacity check can't see {n} sku{'s' if n != 1 else ''} (no resource or hours per unit): "
                     f"{units(float(r.unloaded['units'].sum()))} units planned as if capacity were unlimited.")
    from sop_core.demand.history import last_actual_period
    from sop_core.meetings.cycle import cycle_month

    last = last_actual_period(inputs.history) if len(inputs.history) else None
    return PackContent(
        company=company if company is not None else company_name(ws),
        cycle_month=cycle_month(last), generated_at=now, plan_label=label, version=version, year=r.year,
        fingerprint=fingerprint, scorecard=card, headline=_headline(k, r.bridge, r.year),
        bridge=r.bridge.copy(), monthly_outlook=_monthly_outlook(r, inputs.budget),
        plan_lines=lines.assign(period=pd.to_datetime(lines["period"])), family_plan=fam,
        family_summary=_family_summary(fam, r.vs_budget), utilisation=r.utilisation, capacity=cap,
        capacity_text=_capacity_text(k, cap, in_money), plan_kpis=k,
        decisions=_decisions(ws, version.version_id if version is not None else None, today),
        scenario=scenario, scenario_lines=scenario.describe() if scenario is not None else [],
        link=_link_text(ws, link, sid if scenario is not None else None, base_url, fingerprint), needed=needed,
        changes=changes, previous_label=previous.label if previous is not None else None, notes=notes,
        in_money=in_money,
    )


# -- numbers as the pack prints them ------------------------------------------------------------------
def kpi_value_text(k: kpis.KPI, value: float | None | str = "value") -> str:
    """A scorecard value (default the KPI's value; else the number given) as printed: 91.4% / 6.8× / 58 days /
    $1.2M; '—' when missing."""
    v = k.value if isinstance(value, str) else value
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if k.unit == "pct":
        return pct(v, 1)
    if k.unit == "days":
        return f"{units(v)} days"
    if k.unit == "money":
        return money(v)
    return f"{v:,.1f}×".replace("-", "−")


def month_label(p: Any) -> str:
    return f"{pd.Timestamp(p):%b %Y}" if p is not None and not pd.isna(p) else "—"

"""The plan behind the Supply review, Inventory and Financials pages: one `sop_core.plan.evaluate`, cached by content.

Every number on those pages comes from `plan.evaluate(plan.PlanInputs.from_workspace(ws, consensus, ...))`,
the function the scenario comparison runs too, so a page and a scenario baseline never disagree.
The result is cached per (workspace file, data fingerprint + loaded tables, forecast run key, content
hash of the consensus, plan settings): a rerun that changes none of them costs a few small queries
and an unpickle, never the engines.

Also here: the "this page needs table X" and "run the demand review first" empty states, the plan
settings that live in the session (pre-build months, excess cover), and small reshapes of the
result frames for the pages' charts and tables.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from sop_core import contract, finance, forecast, plan
from sop_core.demo import DEMO_DIR
from sop_core.export import csv_bytes
from sop_core.formatting import units as fmt_units
from sop_core.scenarios import Scenario
from sop_core.workspace import Workspace, frame_sha256

from .demand import consensus_frame, forecast_run
from .state import page_link

PREBUILD_KEY = "plan_prebuild_months"  # session keys shared by the three pages
EXCESS_KEY = "plan_excess_cover_months"
PREBUILD_RANGE = (0, 6)
EXCESS_RANGE = (1, 24)
ALL = "All"


# -- empty states ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataState:
    """Which contract tables are loaded now and a content key of them (one query, every rerun)."""

    present: frozenset[str]
    key: str


def data_state(ws: Workspace) -> DataState:
    """The loaded contract tables with the content hash of their latest load, in one query.

    (`Workspace.has_table` and `fingerprint` cost a query each; a table dropped outside a load stays
    in the loads log, so presence is read from the catalog, not from the log.)
    """
    rows = ws.query(
        "SELECT t.table_name, l.content_sha256 FROM duckdb_tables() t LEFT JOIN ("
        "  SELECT table_name, content_sha256 FROM loads"
        "  QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY loaded_at DESC) = 1"
        ") l USING (table_name) WHERE t.schema_name = 'main' ORDER BY t.table_name")
    rows = rows[rows["table_name"].isin(list(contract.TABLES))]
    key = "|".join(f"{t}:{h if isinstance(h, str) else '-'}" for t, h in zip(rows["table_name"], rows["content_sha256"]))
    return DataState(present=frozenset(rows["table_name"]), key=key)


def require_tables(ws: Workspace, page: str, tables: Sequence[str]) -> DataState:
    """Say plainly which table the page still needs (with the demo company's file as an example) and stop.

    Returns the data state (tables present, content key) for the page's notes and `plan_view`.
    """
    data = data_state(ws)
    missing = [t for t in tables if t not in data.present]
    if not missing:
        return data
    names = " and ".join(missing)
    plural = len(missing) > 1
    st.info(f"The {page} needs the {names} table{'s' if plural else ''} — load {'them' if plural else 'it'} "
            "on the Data page.", icon=":material/database:")
    for name in missing:
        spec = contract.TABLES[name]
        cols = ", ".join(f"**{c}**" if c in spec.required else c for c in spec.column_names)
        either = "".join(f" (at least one of {' or '.join(g)})" for g in spec.one_of)
        st.markdown(f"**{spec.label}** (`{name}`), {spec.grain}: {cols}{either}. Bold columns are required.")
        example = DEMO_DIR / f"{name}.csv"
        if example.is_file():
            st.download_button(f"Example: the demo company's {name}.csv", example.read_bytes(),
                               file_name=f"{name}.csv", mime="text/csv", icon=":material/download:",
                               key=f"example_{name}", on_click="ignore")
    page_link("data.py", label="Go to Data", icon=":material/database:")
    st.stop()


def demand_plan(ws: Workspace) -> tuple[forecast.ForecastRun, pd.DataFrame]:
    """The forecast run and consensus of the current data and settings; stops with a link when there is none.

    These pages never fit: the Demand review runs the forecast.
    """
    run = forecast_run(ws, forecast.saved_settings(ws))
    if run is None:
        st.info("Run the demand review first: these numbers start from its consensus demand plan, and there is "
                "no forecast yet for the current data and forecast settings.", icon=":material/trending_up:")
        st.page_link("pages/demand_review.py", label="Go to the Demand review", icon=":material/trending_up:")
        st.stop()
    return run, consensus_frame(ws, run)


# -- settings in the session ------------------------------------------------------------------------
def _saved(ws: Workspace) -> dict[str, Any]:
    return ws.get_setting(plan.PLAN_SETTINGS, {}) or {}


def settings(ws: Workspace) -> dict[str, Any]:
    """The plan settings of this session: pre-build and excess cover as set on the pages, else saved, else defaults."""
    saved = _saved(ws)

    def pick(name: str) -> Any:
        return saved.get(name, plan.DEFAULTS[name])

    return {
        "prebuild_months": int(st.session_state.get(PREBUILD_KEY, pick("prebuild_months"))),
        "service_level": float(pick("service_level")),
        "excess_cover_months": float(st.session_state.get(EXCESS_KEY, pick("excess_cover_months"))),
    }


def _copy(src: str, dst: str) -> None:
    st.session_state[dst] = st.session_state[src]


def _session_slider(container: Any, label: str, key: str, widget_key: str, default: int, bounds: tuple[int, int],
                    help: str) -> int:
    """A slider whose value outlives page switches (Streamlit drops the state of widgets not on the page)."""
    st.session_state.setdefault(key, int(default))
    if widget_key not in st.session_state:
        st.session_state[widget_key] = int(st.session_state[key])
    container.slider(label, *bounds, key=widget_key, on_change=_copy, args=(widget_key, key), help=help)
    return int(st.session_state[key])


def prebuild_input(current: dict[str, Any], container: Any = st) -> int:
    """Pre-build horizon in months (0–6, default 2), kept in the session for every plan page.

    `current`: `settings(ws)` of this rerun.
    """
    return _session_slider(
        container, "Pre-build horizon (months)", PREBUILD_KEY, "sr_prebuild", current["prebuild_months"],
        PREBUILD_RANGE, "When a month is short of capacity, spare capacity of up to this many earlier months "
        "builds ahead (nearest month first). 0 = no pre-build.")


def excess_input(current: dict[str, Any], container: Any = st) -> int:
    """Excess-cover threshold in months (default 6), kept in the session for every plan page.

    `current`: `settings(ws)` of this rerun.
    """
    return _session_slider(
        container, "Excess beyond (months of cover)", EXCESS_KEY, "inv_excess_cover",
        int(round(current["excess_cover_months"])), EXCESS_RANGE,
        "Stock beyond the next this-many months of demand is excess (valued at cost).")


# -- the cached plan ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanView:
    """One evaluated plan and the page-ready frames derived from it (read-only; built once per cache key)."""

    result: plan.PlanResult
    settings: dict[str, Any]
    budget_monthly: pd.DataFrame  # family, period, volume_plan, revenue_plan, margin_plan of result.year
    seconds: float
    # supply review
    util_matrix: pd.DataFrame  # resource × month utilisation
    peak: dict[str, Any] | None  # resource, period, utilisation of the highest finite utilisation
    tight: pd.DataFrame  # overloaded resource-months (else the 5 tightest), highest first
    gaps: pd.DataFrame  # short units per family × month (+ Total), only where short
    unloaded_note: str | None
    shortage_revenue: float
    # inventory
    exception_rows: pd.DataFrame
    exception_counts: dict[str, float]
    # financials
    family_table: pd.DataFrame
    plan_margin_pct: float
    outlook_years: tuple[int, ...] = ()  # calendar years the actuals + plan cover in full and the annual plan has

    @property
    def kpis(self) -> dict[str, float]:
        return self.result.kpis


def _budget_monthly(budget: pd.DataFrame, year: int, products: pd.DataFrame) -> pd.DataFrame:
    """The annual plan of `year` per family × month (sku rows mapped to their family, as finance does)."""
    cols = ["family", "period", "volume_plan", "revenue_plan", "margin_plan"]
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    if budget is None or budget.empty:
        return empty
    b = budget.assign(_month=pd.to_datetime(budget["period"]).dt.to_period("M").dt.to_timestamp())
    parts = [finance.budget_by_family(g.drop(columns="_month"), year, products).assign(period=m)
             for m, g in b.groupby("_month") if m.year == int(year)]
    return pd.concat(parts, ignore_index=True)[cols] if parts else empty


def _outlook_years(inputs: plan.PlanInputs, year: int) -> tuple[int, ...]:
    """Years whose 12 months are all actuals or plan months and that the annual plan covers (always `year`)."""
    hist = pd.to_datetime(inputs.history["period"]) if len(inputs.history) else pd.Series(dtype="datetime64[ns]")
    months = pd.to_datetime(inputs.consensus["period"])
    first = min([m for m in (hist.min() if len(hist) else None, months.min()) if m is not None and pd.notna(m)])
    last = months.max()
    budget = set(pd.to_datetime(inputs.budget["period"]).dt.year) if len(inputs.budget) else set()
    years = {y for y in range(first.year, last.year + 1)
             if pd.Timestamp(y, 1, 1) >= first.replace(day=1) and pd.Timestamp(y, 12, 1) <= last and y in budget}
    return tuple(sorted(years | {int(year)}))


def build_view(inputs: plan.PlanInputs, seconds_start: float | None = None, year: int | None = None) -> PlanView:
    """Evaluate the inputs with `plan.evaluate` (money KPIs for `year`, default the engine's) and derive what the pages show."""
    import time

    t0 = seconds_start if seconds_start is not None else time.perf_counter()
    r = plan.evaluate(inputs, year)
    budget_monthly = _budget_monthly(inputs.budget, r.year, inputs.products)
    n_over = int(r.kpis["overloaded_resource_months"])
    util = r.utilisation.assign(_u=pd.to_numeric(r.utilisation["utilisation"], errors="coerce").astype(float))
    tight = (util[util["overloaded"]] if n_over else util).sort_values("_u", ascending=False)
    tight = tight.head(12 if n_over else 5).drop(columns="_u").reset_index(drop=True)
    k = r.kpis
    return PlanView(
        result=r,
        settings={"prebuild_months": inputs.prebuild_months, "service_level": inputs.service_level,
                  "excess_cover_months": inputs.excess_cover_months},
        budget_monthly=budget_monthly,
        seconds=time.perf_counter() - t0,
        util_matrix=utilisation_matrix(r.utilisation),
        peak=peak_utilisation(r.utilisation),
        tight=tight,
        gaps=gap_matrix(r.shortfall),
        unloaded_note=unloaded_caption(r.unloaded),
        shortage_revenue=float(k["horizon_revenue_unconstrained"] - k["horizon_revenue"]),
        exception_rows=exception_table(r),
        exception_counts=exception_counts(r.exceptions),
        family_table=family_finance(r),
        plan_margin_pct=plan_margin_pct(budget_monthly),
        outlook_years=_outlook_years(inputs, r.year),
    )


@st.cache_data(show_spinner="Assembling the plan…", max_entries=16, ttl=6 * 3600)
def _evaluate(path: str, data: str, run_key: str, consensus_sha: str, prebuild_months: int, service_level: float,
              excess_cover_months: float, _ws: Workspace, _consensus: pd.DataFrame, scenario_id: str | None = None,
              _scenario: Scenario | None = None, year: int | None = None) -> PlanView:
    import time

    t0 = time.perf_counter()
    inputs = plan.PlanInputs.from_workspace(_ws, _consensus, prebuild_months=prebuild_months,
                                            service_level=service_level, excess_cover_months=excess_cover_months)
    return build_view(plan.apply_scenario(inputs, _scenario), t0, year)  # a stored scenario never changes: its id keys it


def plan_view(ws: Workspace, run: forecast.ForecastRun, consensus: pd.DataFrame,
              data: DataState | None = None, current: dict[str, Any] | None = None,
              scenario: Scenario | None = None, year: int | None = None) -> PlanView:
    """The evaluated plan for this data, run, consensus and session settings (cached by content).

    The baseline, or with `scenario` the baseline with the scenario's changes (`plan.apply_scenario`);
    money KPIs for the outlook `year` (default: the year of the month after the last actuals).
    """
    s = settings(ws) if current is None else current
    data = data_state(ws) if data is None else data
    try:
        return _evaluate(str(ws.path), data.key, run.run_key, frame_sha256(consensus),
                         s["prebuild_months"], s["service_level"], s["excess_cover_months"], ws, consensus,
                         scenario.scenario_id if scenario is not None else None, scenario, year)
    except ValueError as exc:
        st.error(f"The plan could not be assembled: {exc}", icon=":material/error:")
        st.stop()


def run_caption(run: forecast.ForecastRun, view: PlanView) -> str:
    """One line saying what the numbers are built on."""
    r = view.result
    months = sorted(pd.to_datetime(r.constrained["period"]).unique())
    span = f"{pd.Timestamp(months[0]):%b %Y}–{pd.Timestamp(months[-1]):%b %Y}" if months else "—"
    return (f"Consensus of the demand review (forecast of {run.created_at:%d %b %Y}, data through "
            f"{run.last_actual:%b %Y}) · plan horizon {span} · pre-build {view.settings['prebuild_months']} "
            f"month{'s' if view.settings['prebuild_months'] != 1 else ''}")


def trend(x: float | None, better: str | None = "higher") -> dict[str, str]:
    """`st.metric` keyword arguments (arrow and colour) for a delta of sign `x`.

    Streamlit reads the direction from a leading ASCII '-', but sop_core.formatting writes the
    minus sign '−'; so the arrow is set from the number itself. better: 'higher', 'lower' or None (grey).
    """
    if x is None or not np.isfinite(x) or abs(x) < 1e-12:
        return {"delta_arrow": "off", "delta_color": "gray"}
    good = (x > 0) == (better == "higher") if better in ("higher", "lower") else None
    return {"delta_arrow": "up" if x > 0 else "down",
            "delta_color": "gray" if good is None else ("green" if good else "red")}


# -- reshapes for the pages ----------------------------------------------------------------------------
def peak_utilisation(util: pd.DataFrame) -> dict[str, Any] | None:
    """Resource, period and utilisation of the highest finite utilisation, or None."""
    u = pd.to_numeric(util["utilisation"], errors="coerce").astype(float)
    ok = np.isfinite(u)
    if not ok.any():
        return None
    row = util.loc[u[ok].idxmax()]
    return {"resource": str(row["resource"]), "period": pd.Timestamp(row["period"]),
            "utilisation": float(row["utilisation"])}


def utilisation_matrix(util: pd.DataFrame) -> pd.DataFrame:
    """Resource × month utilisation (NaN where capacity is unknown or zero)."""
    u = util.assign(utilisation=pd.to_numeric(util["utilisation"], errors="coerce").astype(float)
                    .replace([np.inf, -np.inf], np.nan))
    return u.pivot(index="resource", columns="period", values="utilisation").sort_index(axis=1)


def gap_matrix(shortfall: pd.DataFrame) -> pd.DataFrame:
    """Short units per family × month, only families and months with a shortage."""
    s = shortfall[shortfall["short_units"] > 1e-6]
    if s.empty:
        return pd.DataFrame()
    m = s.pivot_table(index="family", columns="period", values="short_units", aggfunc="sum", fill_value=0.0)
    m["Total"] = m.sum(axis=1)
    return m.sort_values("Total", ascending=False)


def unloaded_caption(unloaded: pd.DataFrame) -> str | None:
    """'The capacity check can't see ...' for skus without resource or hours, or None."""
    if unloaded.empty:
        return None
    g = unloaded.groupby(["sku", "reason"], as_index=False)["units"].sum().sort_values("units", ascending=False)
    items = ", ".join(f"{r.sku} ({r.reason})" for r in g.head(8).itertuples())
    more = f" and {len(g) - 8} more" if len(g) > 8 else ""
    n = g["sku"].nunique()
    return (f"The capacity check can't see {n} sku{'s' if n != 1 else ''}: {items}{more} — "
            f"{fmt_units(g['units'].sum())} units over the horizon, planned as if capacity were unlimited. "
            "Give them a resource and hours_per_unit in the products table.")


def constrained_series(constrained: pd.DataFrame, family: str | None) -> pd.DataFrame:
    """Demand, supply and shortage per month (one family, or all): period, units, constrained_units, prebuilt_units, short_units."""
    c = constrained if family in (None, ALL) else constrained[constrained["family"] == family]
    return c.groupby("period", as_index=False)[["units", "constrained_units", "prebuilt_units", "short_units"]].sum()


def projection_series(projection: pd.DataFrame, family: str | None, sku: str | None) -> pd.DataFrame:
    """Projected balance per month for a sku, a family or everything: period, opening, receipts, demand, closing, safety_stock."""
    p = projection
    if sku not in (None, ALL):
        p = p[p["sku"] == sku]
    elif family not in (None, ALL):
        p = p[p["family"] == family]
    return p.groupby("period", as_index=False)[["opening", "receipts", "demand", "closing", "safety_stock"]].sum()


def exception_table(r: plan.PlanResult) -> pd.DataFrame:
    """The exception list with each sku's safety stock and where it comes from."""
    ex = r.exceptions
    cols = ["sku", "family", "kind", "first_period", "units", "value", "value_basis", "safety_stock_units",
            "safety_source"]
    if ex.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    ss = r.safety[["sku", "safety_stock_units", "source"]].rename(columns={"source": "safety_source"})
    out = ex.merge(ss, on="sku", how="left")
    out["units"] = pd.to_numeric(out["units"], errors="coerce").astype(float)
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    return out[cols]


def exception_csv(table: pd.DataFrame) -> bytes:
    """The exception list as a CSV file (months as YYYY-MM, units rounded, formula-like text neutralised)."""
    export = table.assign(first_period=pd.to_datetime(table["first_period"]).dt.strftime("%Y-%m"),
                          units=pd.to_numeric(table["units"]).round(0), value=pd.to_numeric(table["value"]).round(2),
                          safety_stock_units=pd.to_numeric(table["safety_stock_units"]).round(0))
    return csv_bytes(export)


def exception_counts(ex: pd.DataFrame) -> dict[str, float]:
    """Counts and money of the exceptions by kind: stockouts, breaches, excess (count and value)."""
    by = {k: ex[ex["kind"] == k] if len(ex) else ex for k in ("stockout", "below safety stock", "excess")}
    return {
        "stockouts": float(len(by["stockout"])),
        "revenue_at_risk": float(pd.to_numeric(by["stockout"]["value"], errors="coerce").sum()) if len(ex) else 0.0,
        "breaches": float(len(by["below safety stock"])),
        "breach_value": float(pd.to_numeric(by["below safety stock"]["value"], errors="coerce").sum())
        if len(ex) else 0.0,
        "excess": float(len(by["excess"])),
        "excess_value": float(pd.to_numeric(by["excess"]["value"], errors="coerce").sum()) if len(ex) else 0.0,
    }


def monthly_outlook(view: PlanView, family: str | None) -> pd.DataFrame:
    """Outlook (constrained) vs annual plan per month of the outlook year: period, source, revenue, plan_revenue."""
    r = view.result
    o = r.outlook_constrained
    b = view.budget_monthly
    if family not in (None, ALL):
        o = o[o["family"] == family]
        b = b[b["family"] == family]
    g = o.groupby(["period", "source"], as_index=False)["revenue"].sum()
    plan_m = b.groupby("period")["revenue_plan"].sum(min_count=1) if len(b) else pd.Series(dtype=float)
    g["plan_revenue"] = g["period"].map(plan_m).astype(float)
    return g.sort_values("period").reset_index(drop=True)


def family_finance(r: plan.PlanResult) -> pd.DataFrame:
    """Per family plus a Total row: family, outlook_revenue, plan_revenue, gap, gap_pct, margin_pct, is_total."""
    vb = r.vs_budget.copy()
    oc = r.outlook_constrained
    oc = oc[pd.to_datetime(oc["period"]).dt.year == r.year]
    g = oc.groupby("family")[["revenue", "cogs", "unpriced_units", "uncosted_units"]].sum()
    total = g.sum().rename(finance.TOTAL)
    g = pd.concat([g, total.to_frame().T])
    complete = (g["unpriced_units"] <= 0) & (g["uncosted_units"] <= 0)
    g["margin_pct"] = pd.Series(finance.margin_pct(g["revenue"], g["cogs"]), index=g.index).where(complete)
    vb["margin_pct"] = vb["family"].map(g["margin_pct"]).astype(float)
    return vb[["family", "outlook_revenue", "plan_revenue", "gap", "gap_pct", "margin_pct", "is_total"]]


def plan_margin_pct(b: pd.DataFrame) -> float:
    """Gross margin % of the annual plan (Σ margin_plan / Σ revenue_plan of the year), NaN without margin_plan."""
    if b.empty or not b["margin_plan"].notna().any():
        return float("nan")
    rev = float(b.loc[b["margin_plan"].notna(), "revenue_plan"].sum())
    return float(b["margin_plan"].sum()) / rev if rev else float("nan")


def rules(module: Any) -> str:
    """The 'Rules' section of an engine module's docstring, as the page prints it."""
    doc = module.__doc__ or ""
    i = doc.find("Rules")
    lines = doc[i:].splitlines()[1:] if i >= 0 else doc.splitlines()
    bullets: list[str] = []
    after_formula = False
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text.startswith("* ") or not bullets:
            bullets.append(text)
            after_formula = False
        elif len(line) - len(line.lstrip()) >= 4:  # a formula line of the docstring: keep it on its own line
            bullets[-1] += f"  \n`{text}`"
            after_formula = True
        else:
            bullets[-1] += ("  \n" if after_formula else " ") + text
            after_formula = False
    return "\n".join(bullets)

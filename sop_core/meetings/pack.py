"""The executive S&OP pack: one PDF to read before the meeting, one Excel workbook of the plan.

    content = gather(ws)                       # what the pack says (pure data, no rendering)
    images = render_charts(content)            # the charts as PNG (plotly + kaleido + Chromium)
    pdf = build_pdf(content, images)           # bytes of the PDF
    xlsx = build_xlsx(content)                 # bytes of the workbook (values only)

Which plan: the approved plan version `version_id`, else the latest approved version, else the
current consensus of the demand review ("current consensus (not yet approved)"): the consensus
given to `gather`, else the one stored for the workspace's forecast settings, else the stored
forecast run with the active overrides applied (computed, not stored: the pack writes nothing).

Every number is assembled by `plan.evaluate` on that plan (the function behind the Supply review,
Inventory and Financials pages and the scenario comparison), so the pack and the pages agree:

* scorecard: `kpis.scorecard` with the plan as the forward plan, the plan's utilisation, and the
  constrained outlook (so "Revenue vs annual plan" is the headline gap %); forecast accuracy and
  bias from the stored backtest of the forecast run, when there is one;
* headline gap and bridge: outlook (actuals to date + constrained plan) vs the annual plan for the
  outlook year, `finance.bridge` steps;
* family plans: the plan's lines (the version as approved: its frozen revenue and COGS) per family
  and month, and per family against the annual plan; what changed since the previous version;
* capacity: `supply.utilisation` per resource × month, and per resource its peak;
* decisions: the log's open decisions and those linked to the version;
* scenario link: the version's scenario and a share link (`links.url`) to the Executive page.

Charts are built with the app's own figure builders (`pages/shell/charts.py`, plain plotly) and
exported once per pack through one kaleido browser session. Kaleido finds the browser through
choreographer: $BROWSER_PATH, else chromium / chrome on the PATH (here /usr/bin/chromium). When
the export fails (no browser, a timeout), `render_charts` says why in `ChartImages.error` and the
PDF shows a note in place of each chart; the tables carry the same numbers.
"""
from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import math
import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core.meetings import decisions, exports, links, versions
from sop_core.planning import finance, kpis, plan, scenarios, supply
from sop_core.intake.company import current as current_company
from sop_core.formatting import delta_money, delta_units, money, pct, units

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from sop_core.store.workspace import Workspace

COMPANY_SETTING = "company_name"  # workspace setting naming the company on the title line
CONSENSUS_LABEL = "current consensus (not yet approved)"
EXECUTIVE_PAGE = "executive"  # URL path of the Executive S&OP page the share link opens
CHART_TIMEOUT = 90.0  # seconds for the whole chart export
MAX_DECISIONS = 30
MONTHS_PER_TABLE = 12
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PLAN_COLUMNS = ("sku", "region", "family", "period", "units", "revenue", "cogs")
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
    `decisions.LOG_COLUMNS`. changes: `versions.compare` by family against the previous version.
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
    from sop_core.demand import consensus as cons_mod
    from sop_core.demand import forecast, overrides

    settings = forecast.saved_settings(ws)
    stored = cons_mod.load_consensus(ws, forecast.run_key_for(ws, settings))
    if stored is not None:
        return stored
    run = forecast.load_run(ws, settings)
    if run is None or run.forecast is None or run.forecast.empty:
        return None
    return cons_mod.apply_overrides(run.forecast, overrides.active(ws))


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


def _capacity_text(k: Mapping[str, float], cap: pd.DataFrame) -> str:
    """The supply answer in one sentence, as the Supply review says it."""
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


def _link_text(ws: Workspace, link: str | links.ViewState | None, scenario_id: str | None,
               base_url: str | None) -> str:
    """The share link printed in the pack: `link` as given, else a link to the Executive page (and scenario)."""
    if isinstance(link, str) and link.strip():
        return link.strip()
    state = link if isinstance(link, links.ViewState) else links.ViewState(page=EXECUTIVE_PAGE,
                                                                            scenario_id=scenario_id)
    return links.url(base_url or "", links.stamp(ws, state))


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
    from sop_core.demand.history import products as load_products

    products = load_products(ws)
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
        c = plan.as_consensus(cons)
        lines = versions.prepare_lines(c.assign(units=c["consensus"]), products if len(products) else None)
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
    from sop_core.meetings.cycle import cycle_month
    from sop_core.demand.history import last_actual_period

    last = last_actual_period(inputs.history) if len(inputs.history) else None
    return PackContent(
        company=company if company is not None else company_name(ws),
        cycle_month=cycle_month(last), generated_at=now, plan_label=label, version=version, year=r.year,
        fingerprint=ws.fingerprint(), scorecard=card, headline=_headline(k, r.bridge, r.year),
        bridge=r.bridge.copy(), monthly_outlook=_monthly_outlook(r, inputs.budget),
        plan_lines=lines.assign(period=pd.to_datetime(lines["period"])), family_plan=fam,
        family_summary=_family_summary(fam, r.vs_budget), utilisation=r.utilisation, capacity=cap,
        capacity_text=_capacity_text(k, cap), plan_kpis=k,
        decisions=_decisions(ws, version.version_id if version is not None else None, today),
        scenario=scenario, scenario_lines=scenario.describe() if scenario is not None else [],
        link=_link_text(ws, link, sid if scenario is not None else None, base_url),
        changes=changes, previous_label=previous.label if previous is not None else None, notes=notes,
    )


# -- numbers as the pack prints them ------------------------------------------------------------------
def kpi_value_text(k: kpis.KPI) -> str:
    """A scorecard value as printed: 91.4% / 6.8× / 58 days / $1.2M; '—' when missing."""
    v = k.value
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if k.unit == "pct":
        return pct(v, 1)
    if k.unit == "days":
        return f"{units(v)} days"
    if k.unit == "money":
        return money(v)
    return f"{v:,.1f}×".replace("-", "−")


def _month(p: Any) -> str:
    return f"{pd.Timestamp(p):%b %Y}" if p is not None and not pd.isna(p) else "—"


# -- charts -------------------------------------------------------------------------------------------
@dataclass
class ChartImages:
    """PNG bytes per chart name, and why the export failed (None when every chart was made)."""

    images: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None


# chart name -> size on the page in mm (width, height)
CHART_SIZES: dict[str, tuple[float, float]] = {
    "bridge": (150.0, 88.0), "outlook": (125.0, 88.0), "family_plan": (277.0, 80.0), "capacity": (277.0, 0.0),
}
PX_PER_MM = 4.3


def _capacity_height(content: PackContent) -> float:
    """Height in mm of the capacity heatmap: a band per resource."""
    n = max(1, content.utilisation["resource"].nunique()) if len(content.utilisation) else 1
    return min(120.0, 22.0 + 11.0 * n)


def figures(content: PackContent) -> dict[str, tuple[go.Figure, float, float]]:
    """The pack's plotly figures with their size on the page in mm: name -> (figure, width, height).

    Built with the app's figure builders (pages/shell/charts.py), so the pack looks like the app.
    """
    from sop_core.meetings import charts  # plain plotly (no Streamlit): imported only when charts are made

    out: dict[str, tuple[go.Figure, float, float]] = {}
    font = dict(size=13)
    if len(content.bridge):
        w, h = CHART_SIZES["bridge"]
        fig = charts.bridge_chart(content.bridge)
        # plotly's 'total' bar is the running sum so far, which is 0 for the opening 'Annual plan' bar:
        # totals are drawn as 'absolute' (their own value), which is also right for the closing outlook
        fig.update_traces(measure=["absolute" if k == "total" else "relative" for k in content.bridge["kind"]])
        fig.update_layout(font=font, title=dict(text=f"From the annual plan to the outlook, {content.year}",
                                                x=0.01, font=dict(size=15)), margin=dict(t=80))
        out["bridge"] = (fig, w, h)
    mo = content.monthly_outlook
    if len(mo):
        w, h = CHART_SIZES["outlook"]
        fig = charts.outlook_chart(mo)
        fig.update_layout(font=font, title=dict(text=f"Revenue by month, {content.year}", x=0.01,
                                                font=dict(size=15)), margin=dict(t=80))
        out["outlook"] = (fig, w, h)
    fp = content.family_plan
    if len(fp):
        wide = fp.pivot_table(index="period", columns="family", values="units", aggfunc="sum").fillna(0.0)
        fams = list(wide.columns)
        w, h = CHART_SIZES["family_plan"]
        fig = charts.bars(wide.reset_index(), "period", fams, names=[str(f) for f in fams], barmode="stack",
                          yaxis_title="Units")
        fig.update_layout(font=font, bargap=0.2)
        out["family_plan"] = (fig, w, h)
    if len(content.utilisation):
        matrix = supply.utilisation_matrix(content.utilisation)
        if not matrix.empty:
            w = CHART_SIZES["capacity"][0]
            fig = charts.heatmap(matrix, colorbar_title="Load")
            fig.update_traces(colorbar=dict(tickformat=".0%"))
            fig.update_layout(font=dict(size=12))
            out["capacity"] = (fig, w, _capacity_height(content))
    return out


def browser_path() -> str | None:
    """The browser kaleido will use: $BROWSER_PATH, else chromium / chrome on the PATH; None = kaleido searches."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "…"


def export_pngs(figs: Mapping[str, tuple[go.Figure, float, float]], timeout: float = CHART_TIMEOUT,
                scale: float = 2.0) -> ChartImages:
    """PNG of each figure (sized from its mm size), through one kaleido browser session in a worker thread.

    Never raises: on failure the images made so far and the reason in `error`.
    """
    if not figs:
        return ChartImages()
    try:
        import kaleido
    except ImportError as exc:  # pragma: no cover - kaleido is a requirement
        return ChartImages(error=f"kaleido is not installed ({exc}): pip install kaleido")
    images: dict[str, bytes] = {}
    failure: list[str] = []
    path = browser_path()

    async def render() -> None:
        kw: dict[str, Any] = {"n": 1, "timeout": timeout}
        if path:
            kw["path"] = path
        async with kaleido.Kaleido(**kw) as k:
            for name, (fig, w_mm, h_mm) in figs.items():
                opts = {"format": "png", "width": int(round(w_mm * PX_PER_MM)),
                        "height": int(round(h_mm * PX_PER_MM)), "scale": scale}
                # through JSON: kaleido str()s numpy object arrays (pandas str columns) instead of listing them
                images[name] = await k.calc_fig(json.loads(fig.to_json()), opts=opts)

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(render(), timeout))
        except asyncio.TimeoutError:
            failure.append(f"the chart export took longer than {timeout:g} s")
        except BaseException as exc:  # noqa: BLE001 - any failure of the browser becomes a note in the pack
            if type(exc).__name__ == "ChromeNotFoundError":
                failure.append(f"no Chrome/Chromium browser found{f' at {path}' if path else ''}: install Chromium "
                               "(e.g. apt-get install chromium) or set BROWSER_PATH to its binary")
            else:
                failure.append(_first_line(exc))

    worker = threading.Thread(target=run, name="pack-charts", daemon=True)
    worker.start()
    worker.join(timeout + 30.0)
    if worker.is_alive():
        failure.append(f"the chart export did not finish in {timeout + 30.0:g} s")
    error = None
    if failure or len(images) < len(figs):
        error = failure[0] if failure else "some charts could not be exported"
    return ChartImages(images=dict(images), error=error)


def render_charts(content: PackContent, timeout: float = CHART_TIMEOUT) -> ChartImages:
    """The pack's charts as PNG (see `figures`); failures are reported in `ChartImages.error`, never raised."""
    try:
        figs = figures(content)
    except Exception as exc:  # noqa: BLE001 - a chart that cannot be built must not stop the pack
        return ChartImages(error=f"the charts could not be built: {_first_line(exc)}")
    return export_pngs(figs, timeout)


# -- PDF ---------------------------------------------------------------------------------------------
FONT_FILES: tuple[tuple[str, str], ...] = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
)
_ASCII = str.maketrans({"−": "-", "—": "-", "–": "-", "≥": ">=", "≤": "<=", "Σ": "sum ", "Δ": "d", "…": "...",
                        "“": '"', "”": '"', "‘": "'", "’": "'", "→": "->", "≈": "~"})
STATUS_FILL = {"green": (220, 242, 228), "amber": (255, 240, 204), "red": (252, 222, 214), "missing": (236, 238, 242)}
INK, MUTED, RULE = (27, 36, 48), (96, 104, 118), (214, 219, 227)
HEAD_FILL = (232, 238, 246)
PAGE_W, MARGIN = 297.0, 10.0
NOTE_H = 22.0  # height of the note that stands in for a chart that could not be exported
BODY_W = PAGE_W - 2 * MARGIN


def _font_dirs() -> list[Path]:
    dirs = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
            Path("/usr/share/fonts/truetype/liberation"), Path("/usr/share/fonts/liberation")]
    spec = importlib.util.find_spec("matplotlib")  # ships DejaVu Sans; located, not imported
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    return dirs


def find_fonts() -> tuple[Path, Path] | None:
    """A Unicode TrueType sans (regular, bold) for the PDF, or None (then the core Helvetica, text in Latin-1)."""
    for regular, bold in FONT_FILES:
        for d in _font_dirs():
            if (d / regular).is_file() and (d / bold).is_file():
                return d / regular, d / bold
    return None


def _pdf_class() -> type:
    from fpdf import FPDF

    class PackPDF(FPDF):
        """Landscape A4 with a running header (after the first page) and a page-numbered footer."""

        running_title = ""
        family_name = "helvetica"
        unicode = False

        def t(self, text: Any) -> str:
            """Text the current font can draw (Latin-1 stand-ins for the core font)."""
            s = "" if text is None else str(text)
            if self.unicode:
                return s
            return s.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")

        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font(self.family_name, "", 7.5)
                self.set_text_color(*MUTED)
                self.cell(0, 4, self.t(self.running_title), new_x="LMARGIN", new_y="NEXT", align="L")
                self.ln(2)
                self.set_text_color(*INK)

        def footer(self) -> None:
            self.set_y(-9)
            self.set_font(self.family_name, "", 7.5)
            self.set_text_color(*MUTED)
            self.cell(0, 4, self.t(f"Page {self.page_no()} of {{nb}}"), align="R")
            self.set_text_color(*INK)

    return PackPDF


def _new_pdf(content: PackContent) -> Any:
    pdf = _pdf_class()(orientation="L", unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=12)
    fonts = find_fonts()
    if fonts is not None:
        pdf.add_font("PackSans", "", str(fonts[0]))
        pdf.add_font("PackSans", "B", str(fonts[1]))
        pdf.family_name, pdf.unicode = "PackSans", True
    pdf.running_title = content.title + f" · plan: {content.plan_label}"
    pdf.set_title(content.title)
    pdf.set_author(content.company or "S&OP")
    pdf.set_creator("sop_core.meetings.pack")
    pdf.set_creation_date(content.generated_at)
    pdf.alias_nb_pages()
    return pdf


def _font(pdf: Any, size: float, bold: bool = False, color: tuple[int, int, int] = INK) -> None:
    pdf.set_font(pdf.family_name, "B" if bold else "", size)
    pdf.set_text_color(*color)


def _heading(pdf: Any, text: str, lead: str | None = None) -> None:
    _font(pdf, 15, True)
    pdf.multi_cell(BODY_W, 7.5, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")
    if lead:
        _font(pdf, 10.5)
        pdf.multi_cell(BODY_W, 5.2, pdf.t(lead), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(2)


def _subheading(pdf: Any, text: str) -> None:
    _font(pdf, 11.5, True)
    pdf.multi_cell(BODY_W, 6, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(0.5)


def _small(pdf: Any, text: str, color: tuple[int, int, int] = MUTED) -> None:
    _font(pdf, 8.5, color=color)
    pdf.multi_cell(BODY_W, 4.2, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")


def _table(pdf: Any, headers: list[str], rows: list[list[str]], widths: list[float], align: list[str],
           *, size: float = 8.5, fills: dict[tuple[int, int], tuple[int, int, int]] | None = None,
           bold_rows: set[int] | None = None, width: float | None = None) -> None:
    """A table with a shaded header row (repeated after a page break); widths in mm."""
    from fpdf.fonts import FontFace

    fills, bold_rows = fills or {}, bold_rows or set()
    _font(pdf, size)
    total = width if width is not None else sum(widths)
    head = FontFace(family=pdf.family_name, emphasis="BOLD", size_pt=size, color=INK, fill_color=HEAD_FILL)
    with pdf.table(col_widths=tuple(widths), width=total, align="LEFT", text_align=tuple(align),
                   headings_style=head, line_height=size * 0.5, borders_layout="HORIZONTAL_LINES",
                   padding=(1.0, 1.2, 1.0, 1.2), first_row_as_headings=True, repeat_headings=1) as table:
        hr = table.row()
        for h in headers:
            hr.cell(pdf.t(h))
        for i, row in enumerate(rows):
            tr = table.row()
            for j, v in enumerate(row):
                fill = fills.get((i, j))
                style = None
                if fill is not None or i in bold_rows:
                    style = FontFace(family=pdf.family_name, emphasis="BOLD" if i in bold_rows else None,
                                     size_pt=size, color=INK, fill_color=fill)
                tr.cell(pdf.t(v), style=style)
    pdf.ln(2)


def _chart(pdf: Any, images: ChartImages, name: str, w: float, h: float, x: float | None = None,
           y: float | None = None) -> float:
    """The chart image at (x, y), or a framed note saying why it is missing; returns the height used (mm)."""
    x = MARGIN if x is None else x
    y = pdf.get_y() if y is None else y
    png = images.images.get(name)
    if png:
        from io import BytesIO

        pdf.image(BytesIO(png), x=x, y=y, w=w, h=h)
        return h
    box = min(h, NOTE_H)
    pdf.set_draw_color(*RULE)
    pdf.set_fill_color(246, 247, 249)
    pdf.rect(x, y, w, box, style="DF")
    pdf.set_xy(x + 4, y + 4)
    _font(pdf, 9, color=MUTED)
    why = images.error or "the chart export was not run"
    pdf.multi_cell(w - 8, 4.6, pdf.t(f"Chart not available: {why}. The tables have the same numbers."), align="L")
    return box


def _month_tables(pdf: Any, title: str, label: str, wide: pd.DataFrame, fmt: Any, *, row_totals: bool,
                  total_row: bool) -> None:
    """A rows × months table in blocks of MONTHS_PER_TABLE months, optionally with a Total column and row."""
    periods = list(wide.columns)
    for b in range(0, len(periods), MONTHS_PER_TABLE):
        block = periods[b:b + MONTHS_PER_TABLE]
        if pdf.get_y() + 8 + 5.2 * (len(wide) + 2) > pdf.h - 14:
            pdf.add_page()
        _subheading(pdf, f"{title}, {_month(block[0])} – {_month(block[-1])}")
        rows = [[str(i)] + [fmt(_num(wide.at[i, p])) for p in block]
                + ([fmt(float(wide.loc[i, block].sum()))] if row_totals else []) for i in wide.index]
        if total_row:
            rows.append(["Total"] + [fmt(float(wide[p].sum())) for p in block]
                        + ([fmt(float(wide[block].to_numpy().sum()))] if row_totals else []))
        extra = 22 if row_totals else 0
        mw = min(18.5, (BODY_W - 44 - extra) / len(block))
        _table(pdf, [label] + [f"{pd.Timestamp(p):%b %y}" for p in block] + (["Total"] if row_totals else []), rows,
               [44] + [mw] * len(block) + ([extra] if row_totals else []),
               ["LEFT"] + ["RIGHT"] * (len(block) + (1 if row_totals else 0)), size=7.5,
               bold_rows={len(rows) - 1} if total_row else None)


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _fmt_pct(v: Any, signed: bool = False, digits: int = 1) -> str:
    return pct(None if v is None or pd.isna(v) else float(v), digits, signed=signed)


def _fmt_money(v: Any) -> str:
    return money(None if v is None or pd.isna(v) else float(v))


def _fmt_delta(v: Any) -> str:
    return delta_money(None if v is None or pd.isna(v) else float(v))


def _title_page(pdf: Any, c: PackContent) -> None:
    pdf.add_page()
    _font(pdf, 20, True)
    pdf.multi_cell(BODY_W, 10, pdf.t(c.title), new_x="LMARGIN", new_y="NEXT", align="L")
    _font(pdf, 10.5, color=MUTED)
    pdf.multi_cell(BODY_W, 5.5, pdf.t(
        f"Plan: {c.plan_label} · outlook year {c.year} · generated {c.generated_at:%d %b %Y %H:%M} UTC · "
        f"data {c.fingerprint}"), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(3)
    # the answers first
    k = c.plan_kpis
    open_dec = c.decisions[~c.decisions["status"].isin(decisions.CLOSED)] if len(c.decisions) else c.decisions
    overdue = int(open_dec["overdue"].sum()) if len(open_dec) else 0
    lines = [("Revenue", c.headline.text), ("Capacity", c.capacity_text)]
    dec = (f"{len(open_dec)} open decision{'s' if len(open_dec) != 1 else ''}"
           + (f", {overdue} overdue" if overdue else "") + " — listed at the end of the pack."
           if len(open_dec) else "No open decisions.")
    lines.append(("Decisions", dec))
    if c.scenario is not None:
        lines.append(("Scenario", f"The plan is built on the scenario “{c.scenario.name}”."))
    for note in c.notes:
        lines.append(("Note", note))
    top = pdf.get_y()
    pdf.set_fill_color(244, 247, 251)
    pdf.set_draw_color(*RULE)
    # measure, then draw the box behind the lines
    _font(pdf, 10.5)
    heights = [len(pdf.multi_cell(BODY_W - 36, 5.4, pdf.t(t), dry_run=True, output="LINES", align="L")) * 5.4
               for _, t in lines]
    box_h = sum(heights) + 2.5 * len(lines) + 4
    pdf.rect(MARGIN, top, BODY_W, box_h, style="DF")
    pdf.set_y(top + 3)
    for (label, text), hh in zip(lines, heights):
        y = pdf.get_y()
        pdf.set_x(MARGIN + 4)
        _font(pdf, 10.5, True)
        pdf.cell(28, 5.4, pdf.t(label))
        pdf.set_xy(MARGIN + 32, y)
        _font(pdf, 10.5)
        pdf.multi_cell(BODY_W - 36, 5.4, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_y(y + hh + 2.5)
    pdf.set_y(top + box_h + 5)
    # scorecard
    _subheading(pdf, "Scorecard")
    rows, fills = [], {}
    for i, kp in enumerate(c.scorecard):
        how = kp.formula
        if kp.key == "revenue_vs_plan":
            how += " (in this pack the outlook uses the constrained plan, as in the bridge)"
        if kp.status == "missing" and kp.not_checked_text:
            how = f"Not checked: {kp.not_checked_text}. {how}"
        status = "not checked" if kp.status == "missing" else kp.status
        rows.append([kp.label, kpi_value_text(kp), kp.target_text or "—", status, how])
        fills[(i, 3)] = STATUS_FILL.get(kp.status, STATUS_FILL["missing"])
    _table(pdf, ["KPI", "Value", "Target (green)", "Status", "How it is measured"], rows,
           [48, 22, 26, 18, BODY_W - 114], ["LEFT", "RIGHT", "LEFT", "CENTER", "LEFT"], size=8, fills=fills)
    _small(pdf, "Status against the workspace's KPI targets: green meets the target, amber is within the "
                "tolerance, red is outside it. Utilisation is the highest resource × month of the next 12 months.")


def _gap_page(pdf: Any, c: PackContent, images: ChartImages) -> None:
    pdf.add_page()
    h = c.headline
    title = (f"Gap to the annual plan {c.year}: {delta_money(h.gap)} ({pct(h.gap_pct, 1, signed=True)})"
             if math.isfinite(h.plan_revenue) else f"Revenue outlook {c.year}: {money(h.revenue)}")
    _heading(pdf, title, h.text)
    y = pdf.get_y()
    bw, bh = CHART_SIZES["bridge"]
    ow, oh = CHART_SIZES["outlook"]
    used = _chart(pdf, images, "bridge", bw, bh, x=MARGIN, y=y)
    used = max(used, _chart(pdf, images, "outlook", ow, oh, x=MARGIN + bw + (BODY_W - bw - ow), y=y))
    pdf.set_y(y + used + 3)
    mo = c.monthly_outlook
    if "outlook" not in images.images and len(mo):
        by = mo.groupby("period").agg(revenue=("revenue", "sum"), plan_revenue=("plan_revenue", "first"),
                                      source=("source", "last"))
        wide = pd.DataFrame([by["revenue"], by["plan_revenue"]],
                            index=["Outlook (actual, then plan)", "Annual plan"])
        _month_tables(pdf, f"Revenue by month {c.year}", "", wide, money, row_totals=True, total_row=False)
    _subheading(pdf, "Bridge from the annual plan to the outlook")
    rows, bold = [], set()
    for i, s in enumerate(c.bridge.itertuples()):
        total = s.kind == "total"
        if total:
            bold.add(i)
        rows.append([s.step, _fmt_money(s.value) if total else _fmt_delta(s.value), _fmt_money(s.cumulative),
                     STEP_TEXT.get(s.step, s.note)])
    _table(pdf, ["Step", "Effect", "Running total", "What it measures"], rows, [40, 28, 28, BODY_W - 96],
           ["LEFT", "RIGHT", "RIGHT", "LEFT"], bold_rows=bold)
    _small(pdf, "Outlook = actuals to date + the constrained plan for the rest of the year, at list prices. "
                "The effects add up exactly to the gap.")


def _family_pages(pdf: Any, c: PackContent, images: ChartImages) -> None:
    pdf.add_page()
    fam = c.family_plan
    periods = sorted(pd.to_datetime(fam["period"]).unique()) if len(fam) else []
    span = f"{_month(periods[0])} – {_month(periods[-1])}" if periods else "no months"
    tot = c.family_summary[c.family_summary["is_total"]]
    lead = (f"{units(float(tot['units'].iloc[0]))} units, {_fmt_money(tot['revenue'].iloc[0])} of revenue over the "
            f"plan horizon ({span}); {c.year} outlook by family against the annual plan.") if len(tot) else None
    _heading(pdf, "Family plans", lead)
    rows, bold = [], set()
    for i, s in enumerate(c.family_summary.itertuples()):
        if s.is_total:
            bold.add(i)
        rows.append([s.family, units(s.units), _fmt_money(s.revenue), _fmt_pct(s.gross_margin_pct),
                     _fmt_money(s.outlook_revenue), _fmt_money(s.plan_revenue), _fmt_delta(s.gap),
                     _fmt_pct(s.gap_pct, signed=True)])
    _table(pdf, ["Family", "Plan units", "Plan revenue", "Gross margin %", f"Outlook {c.year}",
                 f"Annual plan {c.year}", "Gap", "Gap %"], rows,
           [60, 30, 32, 30, 32, 32, 30, 31], ["LEFT"] + ["RIGHT"] * 7, bold_rows=bold)
    if "family_plan" in images.images or images.error:
        _subheading(pdf, "Plan units by family and month")
        w, h = CHART_SIZES["family_plan"]
        if pdf.get_y() + h > pdf.h - 14:
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_y(y + _chart(pdf, images, "family_plan", w, h, y=y) + 2)
    if periods:
        wide = fam.pivot_table(index="family", columns="period", values="units", aggfunc="sum").fillna(0.0)
        _month_tables(pdf, "Plan units by month", "Family", wide, units, row_totals=True, total_row=True)
    if c.changes is not None and len(c.changes):
        if pdf.get_y() + 8 + 5.2 * (len(c.changes) + 2) > pdf.h - 14:
            pdf.add_page()
        _subheading(pdf, f"What changed since {c.previous_label}")
        ch = c.changes
        rows = [[str(s.family), units(s.old_units), units(s.new_units), delta_units(s.d_units),
                 _fmt_money(s.old_revenue), _fmt_money(s.new_revenue), _fmt_delta(s.d_revenue)]
                for s in ch.itertuples()]
        rows.append(["Total", units(ch["old_units"].sum()), units(ch["new_units"].sum()),
                     delta_units(ch["d_units"].sum()),
                     _fmt_money(ch["old_revenue"].sum()), _fmt_money(ch["new_revenue"].sum()),
                     _fmt_delta(ch["d_revenue"].sum())])
        _table(pdf, ["Family", "Previous units", "Units", "Change", "Previous revenue", "Revenue", "Change"], rows,
               [60, 32, 32, 30, 34, 34, 30], ["LEFT"] + ["RIGHT"] * 6, bold_rows={len(rows) - 1})
    if c.approved:
        _small(pdf, "Revenue and COGS of the plan as approved (the version's frozen prices and costs).")


def _capacity_page(pdf: Any, c: PackContent, images: ChartImages) -> None:
    pdf.add_page()
    _heading(pdf, "Capacity (rough-cut)", c.capacity_text)
    if len(c.utilisation):
        h = _capacity_height(c)
        _subheading(pdf, "Utilisation by resource and month (required / available; red above 100%)")
        y = pdf.get_y()
        pdf.set_y(y + _chart(pdf, images, "capacity", BODY_W, h, y=y) + 3)
        if "capacity" not in images.images:
            _month_tables(pdf, "Utilisation by resource and month", "Resource",
                          supply.utilisation_matrix(c.utilisation), lambda v: _fmt_pct(v, digits=0),
                          row_totals=False, total_row=False)
    cap = c.capacity
    if len(cap):
        rows, fills = [], {}
        for i, s in enumerate(cap.itertuples()):
            over = s.overloaded_months > 0
            if over:
                fills[(i, 5)] = STATUS_FILL["red"]
            rows.append([s.resource, "hours" if s.basis == "hours" else "units", _fmt_pct(s.peak_utilisation, digits=0),
                         _month(s.peak_period), _fmt_pct(s.average_utilisation, digits=0),
                         f"{units(s.overloaded_months)} of {units(s.months)}", units(s.over_hours), s.top_families])
        _table(pdf, ["Resource", "Measured in", "Peak", "Peak month", "Average", "Months over 100%",
                     "Hours over", "Load at the peak from"], rows,
               [32, 24, 18, 24, 20, 32, 24, BODY_W - 174], ["LEFT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT",
                                                            "RIGHT", "LEFT"], fills=fills)
        _small(pdf, "Required = planned units × hours per unit (units where capacity is given in units); before "
                    "pre-build. Hours over = required − available, summed over the overloaded months.")
    else:
        _small(pdf, "No capacity table is loaded, or no sku has a resource and hours per unit: capacity is not "
                    "checked.", color=INK)


def _decisions_page(pdf: Any, c: PackContent) -> None:
    pdf.add_page()
    d = c.decisions
    open_n = int((~d["status"].isin(decisions.CLOSED)).sum()) if len(d) else 0
    overdue = int(d["overdue"].sum()) if len(d) else 0
    if len(d):
        lead = (f"{open_n} open decision{'s' if open_n != 1 else ''}" + (f", {overdue} overdue" if overdue else "")
                + "." + (" Decisions linked to this plan version are listed whatever their status." if c.approved
                         else ""))
    else:
        lead = "No open decisions" + (", and none linked to this plan version." if c.approved else ".")
    _heading(pdf, "Decisions", lead)
    if len(d):
        rows, fills = [], {}
        for i, s in enumerate(d.head(MAX_DECISIONS).itertuples()):
            status = s.status + (" · overdue" if s.overdue else "")
            if s.overdue:
                fills[(i, 4)] = STATUS_FILL["red"]
            detail = str(s.detail or "")
            detail = detail if len(detail) <= 180 else detail[:177] + "…"
            rows.append([f"{pd.Timestamp(s.due_date):%d %b %Y}", str(s.title), detail, str(s.owner), status])
        _table(pdf, ["Due", "Decision", "Detail", "Owner", "Status"], rows,
               [24, 80, BODY_W - 24 - 80 - 40 - 34, 40, 34], ["LEFT"] * 5, fills=fills)
        if len(d) > MAX_DECISIONS:
            _small(pdf, f"… and {len(d) - MAX_DECISIONS} more in the decision log (Executive S&OP page).")
    pdf.ln(3)
    _subheading(pdf, "Scenario and link")
    _font(pdf, 10)
    if c.scenario is not None:
        pdf.multi_cell(BODY_W, 5.2, pdf.t(f"The plan is built on the scenario “{c.scenario.name}” "
                                          f"(by {c.scenario.author}):"), new_x="LMARGIN", new_y="NEXT", align="L")
        for line in c.scenario_lines or ["no changes to the baseline"]:
            pdf.set_x(MARGIN + 4)
            pdf.multi_cell(BODY_W - 4, 5.2, pdf.t(f"• {line}"), new_x="LMARGIN", new_y="NEXT", align="L")
    else:
        pdf.multi_cell(BODY_W, 5.2, pdf.t("The plan is the baseline: no scenario changes."),
                       new_x="LMARGIN", new_y="NEXT", align="L")
    if c.link:
        pdf.ln(1)
        absolute = c.link.startswith(("http://", "https://"))
        _font(pdf, 10)
        pdf.multi_cell(BODY_W, 5.2, pdf.t("Open it in the app:" if absolute else
                                          "Open it in the app (path after the app's address):"),
                       new_x="LMARGIN", new_y="NEXT", align="L")
        _font(pdf, 9, color=(31, 95, 168))
        pdf.multi_cell(BODY_W, 5, pdf.t(c.link), new_x="LMARGIN", new_y="NEXT", align="L",
                       link=c.link if absolute else None)
        _small(pdf, "The link names the view and the data it was made on; if the data changes, the app says so.")


def build_pdf(content: PackContent, images: ChartImages | None = None) -> bytes:
    """The executive pack as PDF bytes: summary and scorecard, gap and bridge, family plans, capacity, decisions.

    images: the charts from `render_charts(content)` (exported now when None); a missing chart
    becomes a note on its page.
    """
    images = images if images is not None else render_charts(content)
    pdf = _new_pdf(content)
    _title_page(pdf, content)
    _gap_page(pdf, content, images)
    _family_pages(pdf, content, images)
    _capacity_page(pdf, content, images)
    _decisions_page(pdf, content)
    return bytes(pdf.output())


# -- Excel ---------------------------------------------------------------------------------------------
def xlsx_sheets(content: PackContent) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, str]]]:
    """The workbook's frames (sheet name -> frame) and number formats (values only, no formulas)."""
    lines = content.plan_lines
    plan_sheet = pd.DataFrame({c: lines[c] for c in PLAN_COLUMNS})
    fs = content.family_summary.drop(columns="is_total").rename(columns={
        "units": "plan_units", "revenue": "plan_revenue_horizon", "cogs": "plan_cogs_horizon",
        "outlook_revenue": f"outlook_revenue_{content.year}", "plan_revenue": f"annual_plan_revenue_{content.year}",
        "gap": "gap", "gap_pct": "gap_pct"})
    card = pd.DataFrame([{
        "key": k.key, "kpi": k.label, "value": k.value, "shown_as": kpi_value_text(k), "unit": k.unit,
        "status": k.status, "target": k.target_text, "note": k.missing_message or k.note, "formula": k.formula,
    } for k in content.scorecard])
    dec = content.decisions[["due_date", "title", "owner", "status", "overdue", "detail", "created_by",
                             "created_at", "version_id", "scenario_id"]].copy()
    dec["due_date"] = pd.to_datetime(dec["due_date"])
    bridge = content.bridge[["step", "kind", "value", "cumulative"]].assign(
        what_it_measures=[STEP_TEXT.get(s, n) for s, n in zip(content.bridge["step"], content.bridge["note"])])
    cap = content.capacity.copy()
    v = content.version
    about = pd.DataFrame({"item": ["company", "pack", "plan", "version_id", "content_sha256", "outlook_year",
                                   "cycle_month", "generated_at_utc", "data_fingerprint", "scenario", "link"],
                          "value": [content.company, content.title, content.plan_label,
                                    v.version_id if v else "", v.content_sha256 if v else "", str(content.year),
                                    _month(content.cycle_month) if content.cycle_month is not None else "",
                                    f"{content.generated_at:%Y-%m-%d %H:%M}", content.fingerprint,
                                    content.scenario.name if content.scenario is not None else "",
                                    content.link or ""]})
    sheets = {"Plan": plan_sheet, "Family summary": fs, "Family by month": content.family_plan, "Bridge": bridge,
              "Capacity": cap, "Scorecard": card, "Decisions": dec, "About": about}
    n0, m0, p1 = "#,##0", "#,##0.00", "0.0%"
    formats = {
        "Plan": {"units": n0, "revenue": m0, "cogs": m0},
        "Family summary": {"plan_units": n0, "plan_revenue_horizon": m0, "plan_cogs_horizon": m0,
                           "gross_margin_pct": p1, f"outlook_revenue_{content.year}": m0,
                           f"annual_plan_revenue_{content.year}": m0, "gap": m0, "gap_pct": p1},
        "Family by month": {"units": n0, "revenue": m0, "cogs": m0},
        "Bridge": {"value": m0, "cumulative": m0},
        "Capacity": {"peak_utilisation": p1, "average_utilisation": p1, "over_hours": n0},
        "Decisions": {"created_at": "yyyy-mm-dd hh:mm"},
    }
    return sheets, formats


def build_xlsx(content: PackContent) -> bytes:
    """The plan as an Excel workbook, values only.

    Sheets: Plan (sku, region, family, period, units, revenue, cogs), Family summary, Family by
    month, Bridge, Capacity, Scorecard, Decisions, About. Text from uploaded data is neutralised.
    """
    sheets, formats = xlsx_sheets(content)
    return exports.to_xlsx_bytes(sheets, formats)

"""The scenario comparison: the baseline and one to four scenarios side by side on the same KPIs and charts.

    results = render_comparison(ws, run, scenario_ids, horizon=18, key="sc")

draws, top to bottom: a card per plan with the headline KPIs and their change against the
baseline (green better, red worse, by each KPI's direction in `kpi_catalogue.MEASURES`), the KPI table of
`plan.compare` with the differences highlighted the same way, and three charts side by side
(revenue by month, utilisation of the bottleneck resource, inventory value). The Scenarios,
Pre-S&OP and Executive pages call it; every plan is `pages.shell.plan_view.plan_view` (one
cached `plan.evaluate` per plan), so these numbers are the Supply review, Inventory and
Financials pages' numbers for the same scenario.

Scenario names are user text: Markdown gets them escaped (`escape.plain`), charts HTML-escaped,
tables as plain cells.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from pages.shell import nav
from sop_core.demand import forecast
from sop_core.escape import plain
from sop_core.formatting import delta_money, delta_units, money, pct, plural, pts, units
from sop_core.meetings import charts, links
from sop_core.meetings.exports import to_csv_bytes
from sop_core.planning import plan, scenarios
from sop_core.planning.kpi_catalogue import MEASURES, scope_text
from sop_core.planning.plan import BASELINE, KPI_KEYS
from sop_core.planning.scenarios import Scenario
from sop_core.store.workspace import Workspace

from . import plan_view as pv
from .demand import consensus_frame
from .share import link_params

HEADLINE: tuple[str, ...] = ("revenue", "gap_to_plan", "plan_fill_rate", "peak_utilisation")
BETTER_CSS = "color: #1e7b4f; background-color: #e3f4ea; font-weight: 600"
WORSE_CSS = "color: #b3360b; background-color: #fbe6dc; font-weight: 600"
SCENARIO_PAGES: tuple[str, ...] = ("supply_review", "inventory", "financials")
_TOLERANCE = {"money": 0.5, "units": 0.5, "count": 0.5, "pct": 5e-5, "ratio": 5e-5}


# -- numbers as text ------------------------------------------------------------------------------------
def _bad(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def fmt_value(kpi: str, x: float | None) -> str:
    """A KPI value as the pages print it ($32.7M, 93.1%, 12,345)."""
    unit = MEASURES[kpi].unit
    if unit == "money":
        return money(x)
    if unit in ("pct", "ratio"):
        return pct(x)
    return units(x)


def fmt_delta(kpi: str, x: float | None) -> str:
    """A change of a KPI against the baseline (+$243K, −0.02 pts, +4,215); '—' when unknown, '0' for no change."""
    unit = MEASURES[kpi].unit
    if _bad(x):
        return "—"
    if abs(x) < _TOLERANCE[unit]:
        return "$0" if unit == "money" else "0 pts" if unit in ("pct", "ratio") else "0"
    if unit == "money":
        return delta_money(x)
    if unit in ("pct", "ratio"):
        return pts(x, 1 if abs(x) >= 5e-4 else 2)
    return delta_units(x)


def changed(kpi: str, delta: float | None) -> bool:
    """True when the change is known and not negligible."""
    return not _bad(delta) and abs(delta) >= _TOLERANCE[MEASURES[kpi].unit]


def tone(kpi: str, delta: float | None) -> str | None:
    """'better', 'worse' or None (no change, unknown, or a KPI without a better direction)."""
    info = MEASURES[kpi]
    if info.better is None or not changed(kpi, delta) or (info.unit in ("pct", "ratio") and abs(delta) < 5e-4):
        return None  # a change under 0.05 pts is shown, not highlighted
    return "better" if (delta > 0) == (info.better == "higher") else "worse"


def _delta_color(kpi: str) -> str:
    better = MEASURES[kpi].better
    return "normal" if better == "higher" else "inverse" if better == "lower" else "off"


# -- the plans ---------------------------------------------------------------------------------------
def display_names(items: Sequence[Scenario]) -> list[str]:
    """Unique column names: the scenario name, ' (2)', ' (3)' … on repeats; never 'Baseline' or a 'Δ …' column."""
    taken = {BASELINE, plan.delta_column(BASELINE)}
    out = []
    for s in items:
        base = s.name.strip() or "Scenario"
        name, n = base, 2
        while name in taken or plan.delta_column(name) in taken or name.startswith(plan.DELTA_PREFIX):
            name, n = f"{base} ({n})", n + 1
            if n > 100:  # pragma: no cover - a hundred scenarios of one name
                break
        taken.update({name, plan.delta_column(name)})
        out.append(name)
    return out


def evaluate(ws: Workspace, run: forecast.ForecastRun, items: Sequence[Scenario]) -> dict[str, plan.PlanView]:
    """Baseline plus each scenario (display name → the cached plan view of the Supply/Inventory/Financials pages)."""
    cons = consensus_frame(ws, run)
    data = pv.data_state(ws)
    current = pv.settings(ws)
    out = {BASELINE: pv.plan_view(ws, run, cons, data, current)}
    for name, sc in zip(display_names(items), items):
        out[name] = pv.plan_view(ws, run, cons, data, current, scenario=sc)
    return out


def _months(results: dict[str, plan.PlanResult], horizon: int | None) -> list[pd.Timestamp]:
    base = results[BASELINE]
    months = sorted(pd.to_datetime(base.constrained["period"]).unique())
    return [pd.Timestamp(m) for m in (months[:horizon] if horizon else months)]


def kpi_table(results: dict[str, plan.PlanResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numbers, shown): `plan.compare` and the same table as text, one row per KPI labelled, plus 'Over'."""
    numbers = plan.compare(results)
    base = results[BASELINE]
    months = sorted(pd.to_datetime(base.constrained["period"]).unique())
    horizon = f"{pd.Timestamp(months[0]):%b %y}–{pd.Timestamp(months[-1]):%b %y}" if months else "plan"
    shown = pd.DataFrame({"KPI": [MEASURES[k].label for k in KPI_KEYS],
                          "Over": [f"FY {base.year}" if MEASURES[k].scope == "year" else horizon for k in KPI_KEYS]})
    for name in results:  # each scenario's value next to its change against the baseline
        shown[name] = [fmt_value(k, numbers.loc[k, name]) for k in KPI_KEYS]
        if name != BASELINE:
            shown[plan.delta_column(name)] = [fmt_delta(k, numbers.loc[k, plan.delta_column(name)]) for k in KPI_KEYS]
    return numbers, shown


def export_table(numbers: pd.DataFrame, year: int) -> pd.DataFrame:
    """The comparison as numbers for a spreadsheet: kpi, label, unit, scope, then baseline, scenarios and deltas."""
    out = numbers.reset_index()
    out.insert(1, "label", [MEASURES[k].label for k in out["kpi"]])
    out.insert(2, "unit", [MEASURES[k].unit for k in out["kpi"]])
    out.insert(3, "scope", [f"year {year}" if MEASURES[k].scope == "year" else "plan horizon" for k in out["kpi"]])
    return out


def _styled(numbers: pd.DataFrame, shown: pd.DataFrame) -> Any:
    delta_cols = [c for c in numbers.columns if c.startswith(plan.DELTA_PREFIX)]

    def colour(col: pd.Series) -> list[str]:
        tones = [tone(k, numbers.loc[k, col.name]) for k in KPI_KEYS]
        return [BETTER_CSS if t == "better" else WORSE_CSS if t == "worse" else "" for t in tones]

    return shown.style.apply(colour, subset=delta_cols)


# -- drawing ------------------------------------------------------------------------------------------
def _card(name: str, sc: Scenario | None, r: plan.PlanResult, base: plan.PlanResult, fingerprint: str,
          key: str) -> None:
    with st.container(border=True, key=key):
        st.markdown(f"**{plain(name)}**")
        if sc is None:
            st.caption("The consensus plan as it stands, no changes.")
        else:
            st.caption(f"{plain(sc.author)} · {sc.created_at:%d %b %Y} · " +
                       "; ".join(plain(line) for line in sc.describe()))
        for k in HEADLINE:
            info = MEASURES[k]
            value = r.kpis.get(k, float("nan"))
            delta = None if sc is None else value - base.kpis.get(k, float("nan"))
            shown = f"{fmt_delta(k, delta)} vs baseline" if delta is not None and changed(k, delta) else None
            if shown and shown.startswith("−"):  # st.metric reads the direction from an ASCII minus
                shown = "-" + shown[1:]
            st.metric(info.label, fmt_value(k, value), delta=shown,
                      delta_color=_delta_color(k), help=f"{info.formula} ({scope_text(k)})")
        if sc is not None:
            pages = {p.url_path: p for p in nav.all_pages()}
            targets = [pages[p] for p in SCENARIO_PAGES if p in pages]
            if targets:
                params = link_params(links.ViewState(scenario_id=sc.scenario_id, fingerprint=fingerprint))
                with st.popover("Open on…", icon=":material/open_in_new:", width="stretch"):
                    for p in targets:
                        st.page_link(f"pages/{p.script}", label=p.title, icon=p.icon, query_params=params)


def _chart_frame(results: dict[str, plan.PlanResult], what: str, months: list[pd.Timestamp],
                 resource: str | None = None) -> pd.DataFrame:
    s = plan.compare_series(results, what, resource)
    s = s[s["period"].isin(months)]
    wide = s.pivot_table(index="period", columns="scenario", values="value", aggfunc="first")
    wide = wide.reindex(index=months, columns=list(results))
    wide.columns = [f"p{i}" for i in range(len(wide.columns))]
    return wide.rename_axis("period").reset_index()


def _lines(frame: pd.DataFrame, names: list[str], *, money_axis: bool, title: str) -> Any:
    cols = [c for c in frame.columns if c != "period"]
    dashes = ["dot"] + ["solid"] * (len(cols) - 1)
    fig = charts.lines(frame, "period", cols, names=[html.escape(n) for n in names], dashes=dashes,
                       height=300 + 18 * len(cols),
                       yaxis_title=title, money=money_axis)
    if money_axis:
        fig.update_yaxes(tickprefix="$")
    return fig


@st.fragment
def _utilisation(results: dict[str, plan.PlanResult], names: list[str], months: list[pd.Timestamp],
                 resources: list[str], neck: str | None, key: str) -> None:
    """Utilisation of one resource per plan (a fragment: choosing the resource redraws only this chart)."""
    resource = st.session_state.get(f"{key}_resource")
    resource = resource if resource in resources else neck if neck in resources else (resources or [None])[0]
    if resource is None:
        st.markdown("**Utilisation**")
        st.caption("No capacity data: utilisation can't be shown.")
        return
    st.markdown(f"**Utilisation of {plain(resource)}**" + (" (the bottleneck)" if resource == neck else ""))
    fig = _lines(_chart_frame(results, "utilisation", months, resource), names, money_axis=False,
                 title="Required / available")
    fig.update_traces(hovertemplate="%{y:.0%}")
    fig.update_yaxes(tickformat=".0%")
    fig.add_hline(y=1.0, line=dict(color=charts.RED, width=1, dash="dash"))
    st.plotly_chart(fig, key=f"{key}_utilisation", config={"displayModeBar": False})
    st.selectbox("Resource", resources, index=resources.index(resource), key=f"{key}_resource",
                 help="Default: the bottleneck, the resource with the highest utilisation of any month in any of "
                      "the plans.")


def render_comparison(ws: Workspace, run: forecast.ForecastRun, scenario_ids: Sequence[str], *,
                      horizon: int | None = None, key: str = "cmp",
                      fingerprint: str | None = None) -> dict[str, plan.PlanResult]:
    """Draw the baseline and the scenarios `scenario_ids` (up to links.MAX_COMPARE; unknown ids left out) side by side.

    horizon: months shown in the charts (None = the whole plan); key: prefix of the widget keys;
    fingerprint: `links.fingerprint(ws)` if the page has it (for the "Open on…" links). Returns display name → result.
    """
    items = [sc for sc in (scenarios.get(ws, i) for i in list(dict.fromkeys(scenario_ids))[:links.MAX_COMPARE])
             if sc is not None]
    views = evaluate(ws, run, items)
    results = {name: v.result for name, v in views.items()}
    names = list(results)
    base = results[BASELINE]
    by_name = dict(zip(names[1:], items))
    fingerprint = fingerprint or links.fingerprint(ws)

    # the answer: headline KPIs per plan
    cols = st.columns(max(len(results), 3))  # cards keep their width: baseline alone takes a third
    for i, (col, name) in enumerate(zip(cols, names)):
        with col:
            _card(name, by_name.get(name), results[name], base, fingerprint, f"{key}_card_{i}")

    # the KPI table, differences highlighted
    numbers, shown = kpi_table(results)
    st.markdown("**Every KPI, side by side**")
    config = {"KPI": st.column_config.TextColumn("KPI", pinned=True),
              "Over": st.column_config.TextColumn("Over", help="FY: the outlook year (actuals to date + plan); "
                                                  "otherwise every month of the plan")}
    deltas = [plan.delta_column(n) for n in names[1:]]
    # with several scenarios the table shows the baseline and each change (it fits at 1280 px); the values below
    order = None if len(names) <= 2 else ["KPI", BASELINE, *deltas]
    st.dataframe(_styled(numbers, shown), hide_index=True, width="stretch", key=f"{key}_kpis",
                 height=35 * (len(shown) + 1) + 3, column_config=config, column_order=order)
    if order is not None:
        with st.expander("Each plan's values", icon=":material/table_view:"):
            st.dataframe(shown, hide_index=True, width="stretch", key=f"{key}_kpi_values", column_config=config,
                         column_order=["KPI", "Over", *names])
    for cov in (base.coverage.incomplete() if base.coverage is not None else []):  # what no KPI here could see
        st.caption(f":material/visibility_off: {cov.text}")
    c = st.columns([3, 1])
    c[0].caption("Δ = scenario − baseline; pts = percentage points. Green: better, red: worse, by each KPI's direction "
                 "(annual plan revenue, demand and inventory have none).")
    c[1].download_button("Download the table (CSV)", to_csv_bytes(export_table(numbers, base.year)),
                         file_name="scenario_comparison.csv",
                         mime="text/csv", icon=":material/download:", key=f"{key}_csv", on_click="ignore",
                         width="stretch")
    with st.expander("How each KPI is computed", icon=":material/function:"):
        st.markdown("\n".join(f"- **{MEASURES[k].label}**: {MEASURES[k].formula}" for k in KPI_KEYS))

    # the charts, side by side
    months = _months(results, horizon)
    resources = sorted(base.utilisation["resource"].astype(str).unique())
    c = st.columns(3)
    with c[0]:
        st.markdown("**Revenue by month** (constrained plan)")
        st.plotly_chart(_lines(_chart_frame(results, "revenue", months), names, money_axis=True, title="Revenue"),
                        key=f"{key}_revenue", config={"displayModeBar": False})
    with c[1]:
        _utilisation(results, names, months, resources, plan.bottleneck(results), key)
    with c[2]:
        st.markdown("**Inventory value** (projected, at cost)")
        st.plotly_chart(_lines(_chart_frame(results, "inventory", months), names, money_axis=True,
                               title="Inventory at cost"), key=f"{key}_inventory", config={"displayModeBar": False})
    span = f"{months[0]:%b %Y}–{months[-1]:%b %Y}" if months else "—"
    st.caption(f"Charts: {span} ({plural(len(months), 'month')}). Dotted: the baseline.")
    return results

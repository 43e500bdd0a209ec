"""The KPI scorecard as tiles: value, red/amber/green status and what it covers, target in words, formula on
hover, and the 12-month trend (history) drawn against the target."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from sop_core.demand import forecast
from sop_core.escape import plain
from sop_core.formatting import metric_delta, money, pct, plural, pts
from sop_core.meetings import charts
from sop_core.planning import kpis
from sop_core.planning.plan import PlanView
from sop_core.store.workspace import Workspace, frame_sha256

from .plan_view import data_state

STATUS = {"green": ("green", ":material/check_circle:", "On target"),
          "amber": ("orange", ":material/error:", "Watch"),
          "red": ("red", ":material/cancel:", "Off target"),
          "missing": ("gray", ":material/visibility_off:", "Not checked")}  # neutral: never met without evidence
NOT_CHECKED = STATUS["missing"][2]


def _number_text(value: float, unit: str, signed: bool = False) -> str:
    """One number of a KPI in its unit, as the tile writes it: 91.4%, 6.8×, 51 days, $1.2M."""
    if unit == "pct":
        return pct(value, signed=signed)
    if unit == "ratio":
        return f"{value:,.1f}×"
    if unit == "days":
        return f"{value:,.0f} days"
    return money(value)


def value_text(k: kpis.KPI) -> str:
    """The number the status judges (the latest month, or the value) as a finance person reads it; 'Not checked'
    when it could not be computed."""
    if k.value is None or k.status == "missing":
        return NOT_CHECKED
    return _number_text(k.judged, k.unit, k.key in ("bias", "revenue_vs_plan"))


def other_figure(k: kpis.KPI) -> str:
    """The tile's second figure: the 12 months beside a latest month, or the latest month beside the 12 months."""
    if k.status == "missing" or not k.basis or k.latest is None or k.latest_period is None:
        return ""
    signed = k.key in ("bias", "revenue_vs_plan")
    if k.basis == "latest":  # the delta above is the latest month against this
        return f"12 months: {_number_text(k.value, k.unit, signed)}"
    return f"{k.latest_period:%b %Y}: {_number_text(k.latest, k.unit, signed)}"


def _delta(k: kpis.KPI) -> str | None:
    """The latest month against the 12 months, in points ('−4.3 pts': the tile's next line gives the 12 months, and
    a short delta reads whole in a third of a 1024 px page); None when not monthly."""
    if k.status == "missing" or k.basis != "latest" or k.latest is None or k.unit != "pct":
        return None
    return metric_delta(pts(k.latest - k.value))


def _axis_text(value: float, unit: str) -> str:
    """A target as a short axis label: 95%, −5%, 6×, 30 (days), $1M."""
    if unit == "pct":
        return pct(value, digits=0)
    if unit == "ratio":
        return f"{value:g}×"
    if unit == "days":
        return f"{value:g}"
    return money(value)


@st.cache_data(show_spinner="Computing the scorecard…", max_entries=8, ttl=6 * 3600)
def _scorecard(path: str, key: str, _ws: Workspace, _view: PlanView | None) -> list[kpis.KPI]:
    points = forecast.backtest_points(_ws, forecast.saved_settings(_ws))
    return kpis.plan_scorecard(_ws, points, _view.result if _view is not None else None)


def scorecard(ws: Workspace, run: forecast.ForecastRun | None, view: PlanView | None) -> list[kpis.KPI]:
    """The scorecard for the current data, forecast run and plan (cached by content)."""
    targets = ws.get_setting(kpis.TARGETS_SETTING, {})
    key = "|".join([data_state(ws).key, run.run_key if run else "-",
                    frame_sha256(view.result.consensus) if view is not None else "-", str(targets)])
    return _scorecard(str(ws.path), key, ws, view)


def _target_band(k: kpis.KPI) -> float | tuple[float, float] | None:
    """The green target as the chart draws it: a level, or a (low, high) band (bias ±t is the band (−t, t))."""
    if k.target is None:
        return None
    if isinstance(k.target, tuple):
        return k.target
    if k.direction == "band":
        return (-abs(k.target), abs(k.target))
    # one-sided: shade the good side of the target up (or down) to the trend's extreme
    t = float(k.target)
    values = [float(v) for v in k.trend["value"]] if len(k.trend) else [t]
    return (t, max(values + [t])) if k.direction == "higher" else (min(values + [t, 0.0]), t)


def _sparkline(k: kpis.KPI) -> go.Figure:
    """The KPI's trend (history) with its target, hover texts as the tile writes the value."""
    signed = k.key in ("bias", "revenue_vs_plan")
    target = _target_band(k)
    if isinstance(target, tuple) and not isinstance(k.target, tuple) and k.direction != "band":
        levels = [float(k.target)]  # a one-sided target: label only the target itself, not the band's far edge
        labels = [_axis_text(levels[0], k.unit), ""]
        labels = labels if k.direction == "higher" else labels[::-1]
    else:
        levels = list(target) if isinstance(target, tuple) else [] if target is None else [target]
        labels = [_axis_text(t, k.unit) for t in levels]
    return charts.sparkline(k.trend, [_number_text(v, k.unit, signed) for v in k.trend["value"]], target=target,
                            target_labels=labels)


def render(cards: list[kpis.KPI], columns: int = 3, trends: bool = True, key: str = "sc") -> None:
    """KPI tiles in a grid; a KPI that could not be computed says "Not checked" (grey) and what to load instead of
    a number and a status.

    Each tile: the value, its status and what it covers, the target in words, and the trend (history) with
    the target drawn on it and a caption saying what the points are.
    """
    rows = [cards[i:i + columns] for i in range(0, len(cards), columns)]
    for row in rows:
        cols = st.columns(columns)
        for col, k in zip(cols, row):
            color, icon, word = STATUS[k.status]
            with col.container(border=True):
                st.metric(k.label, value_text(k), delta=_delta(k), delta_color="off" if k.direction == "band"
                          else "normal" if k.direction == "higher" else "inverse",
                          help=k.formula + (f"\n\n{plain(k.note)}" if k.note else ""))
                if k.status == "missing":  # (a note may name a resource: data)
                    text = k.not_checked_text
                    st.caption(f":gray[{icon} {plain(text[:1].upper() + text[1:])}]")
                    continue
                st.caption(f":{color}[{icon} **{word}**] {k.status_basis} · target: {k.target_words}")
                if other_figure(k):
                    st.caption(other_figure(k))
                if k.coverage:  # the status stands on part of the plan: say how much
                    st.caption(f":material/visibility_off: {k.coverage}")
                if trends and len(k.trend) > 1:
                    st.plotly_chart(_sparkline(k), key=f"{key}_{k.key}", config={"displayModeBar": False})
                    st.caption(f"Last {plural(len(k.trend), 'month')}, history: {k.trend_basis}.")

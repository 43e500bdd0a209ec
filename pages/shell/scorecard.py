"""The KPI scorecard as tiles: value, red/amber/green status, target, formula on hover, 12-month trend."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from sop_core import forecast, kpis
from sop_core.formatting import money, pct
from sop_core.plan import PlanView
from sop_core.workspace import Workspace, frame_sha256

from .plan_view import data_state

STATUS = {"green": ("green", ":material/check_circle:", "On target"),
          "amber": ("orange", ":material/error:", "Watch"),
          "red": ("red", ":material/cancel:", "Off target"),
          "missing": ("gray", ":material/help:", "No data")}
LINE = {"green": "#2e9e6a", "amber": "#e07b28", "red": "#c2410c", "missing": "#8a94a6"}


def value_text(k: kpis.KPI) -> str:
    """The KPI's value as a finance person reads it."""
    if k.value is None or k.status == "missing":
        return "—"
    if k.unit == "pct":
        return pct(k.value, signed=k.key in ("bias", "revenue_vs_plan"))
    if k.unit == "ratio":
        return f"{k.value:,.1f}×"
    if k.unit == "days":
        return f"{k.value:,.0f} days"
    return money(k.value)


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


def _sparkline(k: kpis.KPI) -> go.Figure:
    fig = go.Figure(go.Scatter(x=k.trend["period"], y=k.trend["value"], mode="lines+markers",
                               line=dict(color=LINE[k.status], width=2), marker=dict(size=4),
                               hovertemplate="%{x|%b %Y}: %{y:.3~g}<extra></extra>"))
    fig.update_layout(height=70, margin=dict(l=0, r=0, t=0, b=0), showlegend=False, plot_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig


def render(cards: list[kpis.KPI], columns: int = 3, trends: bool = True, key: str = "sc") -> None:
    """KPI tiles in a grid; a missing KPI names the table it needs instead of a number."""
    rows = [cards[i:i + columns] for i in range(0, len(cards), columns)]
    for row in rows:
        cols = st.columns(columns)
        for col, k in zip(cols, row):
            color, icon, word = STATUS[k.status]
            with col.container(border=True):
                st.metric(k.label, value_text(k), help=k.formula + (f"\n\n{k.note}" if k.note else ""))
                if k.status == "missing":
                    st.caption(f":gray[{icon} {k.missing_message}]")
                else:
                    st.caption(f":{color}[{icon} **{word}**] · target {k.target_text}")
                    if trends and len(k.trend) > 1:
                        st.plotly_chart(_sparkline(k), key=f"{key}_{k.key}", config={"displayModeBar": False,
                                                                                   "staticPlot": True})

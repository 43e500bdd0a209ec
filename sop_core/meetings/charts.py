"""Plotly figures shared by the pages, built with graph_objects (px costs ~100 ms a figure).

Every series is drawn by its ROLE (what it is: actuals, consensus, annual plan, shortage...), never by a
raw colour, so that the same thing looks the same on every page. `ROLE_STYLE` holds the one style of
each role; the hues come from the theme's categorical palette (.streamlit/config.toml
chartCategoricalColors) except where readability needs otherwise (see the notes in `ROLE_STYLE`).
A role is never told apart by hue alone: dash, width, markers or a bar pattern differ too.

Names of the data (resources, families, version and scenario names) are user text: plotly reads its text
as HTML (`<a href>` makes a live link), so a name that becomes a label, a tick or a hover is HTML-escaped
(`label_text`); numbers and dates need nothing.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from sop_core.planning.supply import LOAD_AMBER, LOAD_RED

# The theme's categorical palette, by name (chartCategoricalColors in .streamlit/config.toml).
BLUE, ORANGE, GREEN, PURPLE, TEAL, OCHRE, MAGENTA = (
    "#1f5fa8", "#e07b28", "#2e9e6a", "#7c3aed", "#0e7490", "#a16207", "#be185d")
# The palette's own red (#c2410c) is an orange-red too close to the consensus orange (even more so for
# red-green colour-blind readers): shortages and negatives use one darker, clearly red hue instead.
RED = "#b42318"
INK, GREY = "#1b2430", "#8a94a6"  # the theme's text colour; a neutral for guides (the "actuals end" line)


@dataclass(frozen=True)
class RoleStyle:
    """How one role is drawn: line colour, dash, width, marker symbol (None: none), bar pattern, light tint."""

    color: str
    dash: str = "solid"
    width: float = 2.0
    marker: str | None = None
    pattern: str = ""
    tint: str | None = None  # the same hue, light: a secondary bar (pre-build, receipts) or a band


ROLE_STYLE: dict[str, RoleStyle] = {
    "actuals": RoleStyle(INK, "solid", 2.0),
    "statistical": RoleStyle(BLUE, "dot", 2.0, tint="rgba(31,95,168,0.12)"),  # tint: the 80% interval band
    "consensus": RoleStyle(ORANGE, "solid", 3.0, tint="#f2c49b"),
    "annual_plan": RoleStyle("#6b84a8", "dash", 2.0, marker="circle"),  # plan lines: dashed grey-blue
    "constrained": RoleStyle(TEAL, "solid", 2.0, tint="#9fcfdb"),  # the supply plan, what it delivers
    "inventory": RoleStyle(PURPLE, "solid", 3.0, marker="circle"),  # projected balance on hand
    "capacity": RoleStyle(RED, "dash", 1.5),  # a limit: above it is a shortage
    "safety_stock": RoleStyle(RED, "longdash", 2.0),  # a limit: below it is a breach
    "shortage": RoleStyle(RED, "solid", 2.0, pattern="/"),  # short units, negative steps
    "positive": RoleStyle(GREEN, "solid", 2.0),
    "total": RoleStyle("#94a3b8", "solid", 2.0),  # level bars of a bridge (plan, outlook)
    "baseline": RoleStyle("#4b5563", "dot", 3.0),  # the plan as it stands, against scenarios
    "scenario_1": RoleStyle(MAGENTA, "solid", 2.0, marker="circle"),
    "scenario_2": RoleStyle(OCHRE, "solid", 2.0, marker="square"),
    # the palette has no hue left for a 3rd and 4th scenario: a sky blue and a lime, apart from the others
    "scenario_3": RoleStyle("#0ea5e9", "solid", 2.0, marker="diamond"),
    "scenario_4": RoleStyle("#65a30d", "solid", 2.0, marker="triangle-up"),
}
SCENARIO_ROLES: tuple[str, ...] = tuple(r for r in ROLE_STYLE if r.startswith("scenario_"))
NEGATIVE, POSITIVE = "shortage", "positive"

# Legend labels the pages already pass, read as roles (lower case, a trailing "(…)" dropped).
_ALIASES: dict[str, str] = {
    "actual": "actuals", "actuals": "actuals", "history": "actuals",
    "statistical": "statistical", "statistical forecast": "statistical", "forecast": "statistical",
    "consensus": "consensus", "consensus demand": "consensus", "demand": "consensus",
    "annual plan": "annual_plan", "plan": "annual_plan",
    "constrained": "constrained", "constrained plan": "constrained", "outlook": "constrained",
    "supply": "constrained", "supplied": "constrained", "receipts": "constrained",
    "projected balance": "inventory", "closing": "inventory", "inventory": "inventory",
    "capacity": "capacity", "safety stock": "safety_stock",
    "short": "shortage", "shortage": "shortage", "negative": "shortage", "positive": "positive",
    "total": "total", "baseline": "baseline",
}


def label_text(name: object) -> str:
    """A name of the data as plotly text (a legend entry, a category tick, a hover): HTML-escaped."""
    return html.escape(str(name))


def style(role: str) -> RoleStyle:
    """The style of `role` (a key of ROLE_STYLE); a clear error naming the known roles otherwise."""
    try:
        return ROLE_STYLE[role]
    except KeyError:
        raise ValueError(f"unknown chart role {role!r}: use one of {', '.join(ROLE_STYLE)}") from None


def role_for(name: str) -> str | None:
    """The role a legend label names ('Consensus demand (unconstrained)' -> 'consensus'), None if none."""
    key = re.sub(r"\s+", " ", str(name)).strip().lower()
    return _ALIASES.get(key) or _ALIASES.get(re.sub(r"\s*\([^)]*\)$", "", key))


def roles_for(names: Sequence[str]) -> list[str]:
    """A role per series: in a comparison (a 'Baseline' among `names`) the others are scenario_1, 2...;
    otherwise the role each label names, series naming none taking the scenario hues in order."""
    comparison = any(role_for(n) == "baseline" for n in names)
    out, k = [], 0
    for n in names:
        role = role_for(n)
        if role is None or (comparison and role != "baseline"):
            role, k = SCENARIO_ROLES[k % len(SCENARIO_ROLES)], k + 1
        out.append(role)
    return out


def _line(role: str, *, color: str | None = None, dash: str | None = None, **extra) -> dict:
    """The line dict of `role` (colour and dash overridable, for callers that still pass them)."""
    s = style(role)
    return dict(color=color or s.color, width=s.width, dash=dash or s.dash, **extra)


def _scatter(x, y, role: str, name: str, fmt: str = "%{y:,.0f}", **kw) -> go.Scatter:
    """A line trace styled by `role` (markers when the role has them)."""
    s = style(role)
    line = kw.pop("line", None) or _line(role)
    if s.marker:
        kw.setdefault("marker", dict(symbol=s.marker, size=6, color=line["color"]))
    return go.Scatter(x=x, y=y, name=name, mode="lines+markers" if s.marker else "lines", line=line,
                      hovertemplate=fmt, **kw)


def _bar(x, y, role: str, name: str, fmt: str = "%{y:,.0f}", *, light: bool = False,
         color: str | None = None) -> go.Bar:
    """A bar trace styled by `role`: its colour (`light`: its tint), hatched if the role has a pattern."""
    s = style(role)
    marker: dict = dict(color=color or (s.tint if light and s.tint else s.color))
    if s.pattern:
        marker["pattern"] = dict(shape=s.pattern, fgcolor="white", fgopacity=0.55, size=7, solidity=0.25)
    return go.Bar(x=x, y=y, name=name, marker=marker, hovertemplate=fmt)


GRID = "#e6e9ef"  # the value axis's grid lines


def _layout_spec(height: int = 380, yaxis_title: str = "") -> dict:
    """The charts' common layout as one dict (height, margins, hover, legend above, value axis from zero)."""
    return dict(
        height=height, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        yaxis=dict(title=yaxis_title, separatethousands=True, rangemode="tozero"),
        plot_bgcolor="white",
    )


def _layout(fig: go.Figure, height: int = 380, yaxis_title: str = "") -> go.Figure:
    fig.update_layout(**_layout_spec(height, yaxis_title))
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor=GRID)
    return fig


def _from_last_actual(history: pd.DataFrame, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """`frame` with the last actual (history's last period, its quantity in each of `columns`) prepended,
    so that a forecast line starts where the actuals end; unchanged if it does not start after them."""
    if not len(history) or not len(frame):
        return frame
    last = history.loc[history["period"].idxmax()]
    if pd.Timestamp(last["period"]) >= pd.Timestamp(frame["period"].min()):
        return frame
    joint = pd.DataFrame({"period": [last["period"]], **{c: [float(last["quantity"])] for c in columns}})
    return pd.concat([joint, frame[["period", *columns]]], ignore_index=True)


def plan_chart(history: pd.DataFrame, statistical: pd.DataFrame | None, consensus: pd.DataFrame | None,
               actuals_end: pd.Timestamp | None, *, units_label: str = "Units", height: int = 400) -> go.Figure:
    """History, statistical forecast with its band, consensus, and a marker where actuals end.

    history: period, quantity; statistical: period, value, lower, upper; consensus: period, consensus.
    The forecast lines and the band start at the last actual point, so they join the actuals line.
    """
    traces: list[go.Scatter] = []
    first = "%{y:,.0f} (actual)"  # the hover of the joining point, the last actual
    if statistical is not None and len(statistical):
        st_ = _from_last_actual(history, statistical.sort_values("period"), ("value", "lower", "upper"))
        traces.append(go.Scatter(x=st_["period"], y=st_["upper"], mode="lines", line=dict(width=0),
                                 showlegend=False, hoverinfo="skip"))
        traces.append(go.Scatter(x=st_["period"], y=st_["lower"], mode="lines", line=dict(width=0),
                                 fill="tonexty", fillcolor=style("statistical").tint, name="80% interval",
                                 hoverinfo="skip"))
    if len(history):
        traces.append(_scatter(history["period"], history["quantity"], "actuals", "Actuals"))
    if statistical is not None and len(statistical):
        fmt = [first if i == 0 and len(st_) > len(statistical) else "%{y:,.0f}" for i in range(len(st_))]
        traces.append(_scatter(st_["period"], st_["value"], "statistical", "Statistical", fmt))
    if consensus is not None and len(consensus):
        cons = _from_last_actual(history, consensus.sort_values("period"), ("consensus",))
        fmt = [first if i == 0 and len(cons) > len(consensus) else "%{y:,.0f}" for i in range(len(cons))]
        traces.append(_scatter(cons["period"], cons["consensus"], "consensus", "Consensus", fmt))
    # the whole layout in one dict: plotly validates it once (half the time of update_layout calls, on every rerun)
    layout = _layout_spec(height, units_label)
    layout["xaxis"] = dict(showgrid=False)
    layout["yaxis"]["gridcolor"] = GRID
    layout["legend"]["traceorder"] = "normal"  # the band first, then actuals, statistical, consensus
    if actuals_end is not None:
        x = pd.Timestamp(actuals_end)
        layout["shapes"] = [dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper",
                                 line=dict(color=GREY, dash="dash"))]
        # inside the plot at its top, left of the line: clear of the legend above the plot
        layout["annotations"] = [dict(x=x, y=1, yref="paper", text="actuals end", showarrow=False, xanchor="right",
                                      yanchor="top", xshift=-4, bgcolor="rgba(255,255,255,0.8)",
                                      font=dict(color=GREY, size=11))]
    return go.Figure(data=traces, layout=layout)


def _series_roles(ys: Sequence[str], names: Sequence[str] | None, roles: Sequence[str] | None) -> list[str]:
    """One role per series: `roles` as given (checked), else read from the legend labels."""
    if roles is not None:
        if len(roles) != len(ys):
            raise ValueError(f"{len(roles)} roles for {len(ys)} series: give one role per series")
        for r in roles:
            style(r)
        return list(roles)
    return roles_for([str(n) for n in (names or ys)])


def bars(frame: pd.DataFrame, x: str, ys: Sequence[str], names: Sequence[str] | None = None,
         colors: Sequence[str] | None = None, *, roles: Sequence[str] | None = None, barmode: str = "group",
         height: int = 340, yaxis_title: str = "", money: bool = False) -> go.Figure:
    """Grouped (or stacked) bars of one or more columns against `x`, each drawn by its role.

    roles: one per column (keys of ROLE_STYLE); by default read from the labels (`roles_for`).
    colors: explicit colours, overriding the roles' (kept for older callers).
    """
    fig = go.Figure()
    labels = list(names or ys)
    fmt = "$%{y:,.0f}" if money else "%{y:,.0f}"
    for i, (y, role) in enumerate(zip(ys, _series_roles(ys, names, roles))):
        fig.add_trace(_bar(frame[x], frame[y], role, labels[i], fmt,
                           color=colors[i % len(colors)] if colors else None))
    fig.update_layout(barmode=barmode)
    return _layout(fig, height, yaxis_title)


def lines(frame: pd.DataFrame, x: str, ys: Sequence[str], names: Sequence[str] | None = None,
          dashes: Sequence[str] | None = None, *, roles: Sequence[str] | None = None, height: int = 340,
          yaxis_title: str = "", money: bool = False) -> go.Figure:
    """One line per column against `x`, each drawn by its role.

    roles: one per column (keys of ROLE_STYLE); by default read from the labels (`roles_for`: a
    'Baseline' and scenarios are baseline, scenario_1, scenario_2...). dashes: explicit dashes,
    overriding the roles' (kept for older callers).
    """
    fig = go.Figure()
    labels = list(names or ys)
    fmt = "$%{y:,.0f}" if money else "%{y:,.0f}"
    for i, (y, role) in enumerate(zip(ys, _series_roles(ys, names, roles))):
        line = _line(role, dash=dashes[i] if dashes else None)
        fig.add_trace(_scatter(frame[x], frame[y], role, labels[i], fmt, line=line))
    return _layout(fig, height, yaxis_title)


def _waterfall_trace(x, y, totals: Sequence[bool], text: Sequence[str], fmt: str, **kw) -> go.Waterfall:
    """A bridge trace: totals 'total', rises 'positive', falls 'shortage' (labelled +/−, not told by hue alone)."""
    return go.Waterfall(
        x=x, y=y, measure=["absolute" if t else "relative" for t in totals], text=list(text),
        textposition="outside", cliponaxis=False, hovertemplate=fmt + "<extra></extra>",
        increasing=dict(marker=dict(color=style(POSITIVE).color)),
        decreasing=dict(marker=dict(color=style(NEGATIVE).color)),
        totals=dict(marker=dict(color=style("total").color)), connector=dict(line=dict(color=GREY, width=1)), **kw)


def waterfall(steps: pd.DataFrame, *, label: str = "step", value: str = "value", kind: str = "kind",
              height: int = 380, money: bool = True) -> go.Figure:
    """A bridge: rows of (label, value, kind) where kind is 'total' or 'relative'.

    A 'total' bar shows its own value (plotly's 'absolute'; plotly's 'total' would draw the running
    sum so far, 0 for an opening bar); other rows are steps from the bar before, labelled with their sign.
    """
    from sop_core.formatting import delta_money, delta_units, units
    from sop_core.formatting import money as money_text

    totals = [k == "total" for k in steps[kind]]
    level, delta = (money_text, delta_money) if money else (units, delta_units)
    text = [level(v) if t else delta(v) for v, t in zip(steps[value], totals)]
    fig = go.Figure(_waterfall_trace([label_text(s) for s in steps[label]], steps[value], totals, text,
                                     "$%{y:,.0f}" if money else "%{y:,.0f}"))
    return _layout(fig, height, "")


# -- supply, inventory and financials ---------------------------------------------------------------
# Built in one go (traces and a layout dict into one go.Figure call): each update_layout / update_axes
# call re-validates, and chaining them costs ~25 ms a figure against ~4 ms.


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _layout_dict(height: int, yaxis_title: str = "", **extra) -> dict:
    """The look of `_layout` as a layout dict, with `extra` merged in (nested dicts merged key by key)."""
    return _merge(dict(
        height=height, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified", plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, traceorder="normal"),
        yaxis=dict(title=dict(text=yaxis_title), separatethousands=True, rangemode="tozero", gridcolor="#e6e9ef"),
        xaxis=dict(showgrid=False),
    ), extra)


def supply_chart(frame: pd.DataFrame, *, height: int = 360) -> go.Figure:
    """Constrained vs unconstrained plan: supplied units (pre-built part light) and short units stacked, demand line.

    frame: period, units (demand), constrained_units, prebuilt_units, short_units.
    """
    made_in_month = (frame["constrained_units"] - frame["prebuilt_units"]).clip(lower=0)
    x = frame["period"]
    traces = [_bar(x, made_in_month, "constrained", "Supplied in the month")]
    if (frame["prebuilt_units"] > 0.5).any():
        traces.append(_bar(x, frame["prebuilt_units"], "constrained", "Supplied from pre-build", light=True))
    traces += [
        _bar(x, frame["short_units"], "shortage", "Short"),
        _scatter(x, frame["units"], "consensus", "Consensus demand (unconstrained)"),
    ]
    return go.Figure(data=traces, layout=_layout_dict(height, "Units", barmode="stack", bargap=0.25))


def utilisation_heatmap(matrix: pd.DataFrame, *, height: int | None = None) -> go.Figure:
    """Resource × month utilisation on a fixed red-amber-green scale: green to 85%, amber to 100%, red above (to 130%).

    matrix: index resource, columns month (Timestamp), values required / available (NaN = no capacity).
    """
    cols = [c.strftime("%b %y") if isinstance(c, pd.Timestamp) else str(c) for c in matrix.columns]
    # month over year on two lines: a narrow cell (18 months in ~600 px) keeps its label upright and whole
    ticks = [c.strftime("%b<br>%y") if isinstance(c, pd.Timestamp) else str(c) for c in matrix.columns]
    z = matrix.to_numpy(dtype=float)
    top = 1.3
    heat = go.Heatmap(
        z=z.clip(max=top), x=cols, y=[label_text(i) for i in matrix.index], zmin=0.0, zmax=top,
        # anchored at 100%: the colour changes to red exactly there, whatever the data's range
        colorscale=[[0.0, "#e3f1e6"], [LOAD_AMBER / top, "#b7dfc0"], [LOAD_AMBER / top + 1e-6, "#fde6a8"],
                    [LOAD_RED / top, "#f7c35f"], [LOAD_RED / top + 1e-6, "#e4572e"], [1.0, "#a4161a"]],
        text=[[("" if pd.isna(v) else f"{v:.0%}") for v in row] for row in z], texttemplate="%{text}",
        xgap=2, ygap=2, colorbar=dict(title=dict(text="Load"), tickvals=[0, 0.5, LOAD_AMBER, LOAD_RED, top],
                                      ticktext=["0%", "50%", f"{LOAD_AMBER:.0%}", f"{LOAD_RED:.0%}",
                                                f"≥{top:.0%}"]),
        hovertemplate="%{y} · %{x}: %{text}<extra></extra>",
    )
    layout = dict(height=height or 100 + 46 * max(len(matrix), 1), margin=dict(l=10, r=10, t=10, b=10),
                  plot_bgcolor="white", yaxis=dict(showgrid=False, autorange="reversed"),
                  xaxis=dict(showgrid=False, tickmode="array", tickvals=cols, ticktext=ticks, tickangle=0,
                             tickfont=dict(size=10), automargin=True))
    return go.Figure(data=[heat], layout=layout)


def projection_chart(frame: pd.DataFrame, *, safety_label: str = "Safety stock", height: int = 380) -> go.Figure:
    """Projected available balance: demand and receipts bars, closing balance line, safety stock as a dashed line.

    frame: period, receipts, demand, closing, safety_stock. The legend says "Safety stock";
    `safety_label` (e.g. "Safety stock (computed)") names it in the hover.
    """
    x = frame["period"]
    traces = [
        _bar(x, frame["demand"], "consensus", "Demand (consensus)", light=True),
        _bar(x, frame["receipts"], "constrained", "Receipts (production and orders)", light=True),
        _scatter(x, frame["closing"], "inventory", "Projected balance (closing)"),
        _scatter(x, frame["safety_stock"], "safety_stock", "Safety stock",
                 f"%{{y:,.0f}}<extra>{safety_label}</extra>", line=_line("safety_stock", shape="hv")),
    ]
    negative = bool((frame["closing"] < 0).any())
    layout = _layout_dict(height, "Units", barmode="group", bargap=0.3,
                          **({"yaxis": {"rangemode": "normal"},
                              "shapes": [dict(type="line", xref="paper", x0=0, x1=1, y0=0, y1=0,
                                              line=dict(color=style(NEGATIVE).color, width=1))]} if negative else {}))
    return go.Figure(data=traces, layout=layout)


def outlook_chart(frame: pd.DataFrame, *, height: int = 360) -> go.Figure:
    """Revenue per month: actual months and plan months as differently coloured bars, the annual plan as a line.

    frame: period, source ('actual' | 'plan'), revenue, plan_revenue.
    """
    traces = []
    for source, name, role in (("actual", "Actual", "actuals"), ("plan", "Outlook (constrained plan)", "constrained")):
        part = frame[frame["source"] == source]
        if len(part):
            traces.append(_bar(part["period"], part["revenue"], role, name, "$%{y:,.0f}"))
    if frame["plan_revenue"].notna().any():
        traces.append(_scatter(frame["period"], frame["plan_revenue"], "annual_plan", "Annual plan", "$%{y:,.0f}"))
    return go.Figure(data=traces, layout=_layout_dict(height, "Revenue", bargap=0.25, yaxis=dict(tickprefix="$")))


def bridge_chart(steps: pd.DataFrame, *, height: int = 400) -> go.Figure:
    """The gap bridge as `waterfall` draws it, each bar labelled in compact money (+$1.2M / −$300K).

    steps: step, kind ('total' | 'effect'), value (and cumulative, for the axis range). The axis is
    zoomed on the bars' range (it does not start at zero) so that the steps can be read.
    """
    from sop_core.formatting import delta_money, money

    total = steps["kind"] == "total"
    text = [money(v) if t else delta_money(v) for v, t in zip(steps["value"], total)]
    bar = _waterfall_trace(steps["step"], steps["value"], list(total), text, "$%{y:,.0f}")
    levels = steps["value"][total].astype(float)
    if "cumulative" in steps.columns:
        levels = pd.concat([levels, steps["cumulative"].astype(float)])
    lo, hi = float(levels.min()), float(levels.max())
    pad = max(hi - lo, abs(hi) * 0.02, 1.0)
    layout = _layout_dict(height, "", showlegend=False, margin=dict(t=40),
                          yaxis=dict(tickprefix="$", rangemode="normal", range=[max(0.0, lo - pad * 0.6), hi + pad * 0.35]))
    return go.Figure(data=[bar], layout=layout)


# -- tile sparklines --------------------------------------------------------------------------------


def sparkline(frame: pd.DataFrame, hover: Sequence[str], *, target: float | tuple[float, float] | None = None,
              target_labels: Sequence[str] = (), height: int = 110) -> go.Figure:
    """A tile-sized trend: the actuals line with its first and last month on the x axis, the target as a thin
    dashed line (a number) or a light band (a (low, high) pair) labelled on the y axis, and nothing else.

    frame: period, value (history, one row a month). hover: the text of each value as the tile writes it
    ('91.4%'), shown with its month. target_labels: the y-axis labels of the target (one, or low and high).
    No legend, no zoom; give the figure `config={"displayModeBar": False}` when showing it.
    """
    if len(hover) != len(frame):
        raise ValueError(f"{len(hover)} hover texts for {len(frame)} points: give one per point")
    x = pd.to_datetime(frame["period"])
    ink, good = style("actuals").color, style("positive").color
    traces: list[go.Scatter] = []
    ticks: list[float] = []
    if target is not None and len(frame):
        edge = [x.min(), x.max()]
        guide = dict(color=good, width=1, dash="dash")
        if isinstance(target, tuple):
            lo, hi = float(target[0]), float(target[1])
            traces += [go.Scatter(x=edge, y=[lo, lo], mode="lines", line=guide, name="Target band (low)",
                                  hoverinfo="skip"),
                       go.Scatter(x=edge, y=[hi, hi], mode="lines", line=guide, name="Target band (high)",
                                  fill="tonexty", fillcolor="rgba(46,158,106,0.10)", hoverinfo="skip")]
            ticks = [lo, hi]
        else:
            traces.append(go.Scatter(x=edge, y=[float(target)] * 2, mode="lines", line=guide, name="Target",
                                     hoverinfo="skip"))
            ticks = [float(target)]
    traces.append(go.Scatter(x=x, y=frame["value"], mode="lines+markers", name="Trend", customdata=list(hover),
                             line=dict(color=ink, width=1.5), marker=dict(size=4, color=ink),
                             hovertemplate="%{x|%b %Y}: %{customdata}<extra></extra>"))
    ends = [x.min(), x.max()] if len(x) else []
    labels = list(target_labels) if len(target_labels) == len(ticks) else [f"{t:g}" for t in ticks]
    font = dict(size=10, color=GREY)
    layout = dict(
        height=height, margin=dict(l=26, r=36, t=6, b=20), showlegend=False, plot_bgcolor="white",
        hovermode="closest", dragmode=False,
        xaxis=dict(tickvals=ends, ticktext=[f"{d:%b %Y}" for d in ends], tickfont=font, showgrid=False,
                   fixedrange=True, zeroline=False, showline=False, ticks=""),
        yaxis=dict(tickvals=ticks, ticktext=labels, tickfont=dict(size=10, color=good), showgrid=False,
                   side="right", fixedrange=True, zeroline=False, showline=False, ticks=""),
    )
    return go.Figure(data=traces, layout=layout)


# -- the executive meeting: sized for a 1024×768 projector -----------------------------------------------
# The Executive page stacks its charts full width (about 560 px wide at 1024 px with the sidebar open):
# short heights, compact money ticks ($2.5M), the legend above the plot, no mode bar.
# the last approved plan (a line): a hue of its own (fuchsia), dotted, with diamonds
ROLE_STYLE["approved_plan"] = RoleStyle("#a21caf", "dot", 2.5, marker="diamond")
EXEC_HEIGHT = 300
MONEY_TICKS = dict(tickformat="$~s")  # $2.5M, $800k: short ticks that fit a narrow chart


def revenue_by_month(frame: pd.DataFrame, *, height: int = EXEC_HEIGHT) -> go.Figure:
    """Revenue per month of the outlook year: actual and outlook months as bars, the annual plan and the last
    approved plan as lines (each left out when it has no month).

    frame: `agenda.revenue_by_month` (period, source 'actual' | 'plan', revenue, plan_revenue, approved_revenue).
    """
    month = [f"{pd.Timestamp(p):%b}" for p in frame["period"]]  # months as categories: one bar width for all
    frame = frame.assign(_month=month)
    traces: list = []
    for source, name, role in (("actual", "Actual", "actuals"), ("plan", "Outlook", "constrained")):
        part = frame[frame["source"] == source]
        if len(part):
            traces.append(_bar(part["_month"], part["revenue"], role, name, "$%{y:,.0f}"))
    for col, name, role in (("plan_revenue", "Annual plan", "annual_plan"),
                            ("approved_revenue", "Last approved plan", "approved_plan")):
        if col in frame.columns and frame[col].notna().any():
            traces.append(_scatter(frame["_month"], frame[col], role, name, "$%{y:,.0f}", connectgaps=False))
    layout = _layout_dict(height, "", bargap=0.25, barmode="overlay", margin=dict(l=10, r=10, t=40, b=10),
                          yaxis=MONEY_TICKS, xaxis=dict(type="category", categoryorder="array",
                                                        categoryarray=list(dict.fromkeys(month))))
    return go.Figure(data=traces, layout=layout)


def _running_levels(values: Sequence[float], totals: Sequence[bool]) -> list[float]:
    """The level after each bar of a bridge: a total is its own value, a step adds to the level before."""
    out, level = [], 0.0
    for v, t in zip(values, totals):
        level = float(v) if t else level + float(v)
        out.append(level)
    return out


def change_waterfall(steps: pd.DataFrame, *, money: bool = True, height: int = EXEC_HEIGHT - 40) -> go.Figure:
    """What changed since the last approved plan: the approved total, one step per family, the current total.

    steps: `versions.change_bridge` (label, value, kind 'total' | 'relative'). Steps are labelled with
    their sign (+$120K / −1,234 units, whole units), totals with their level; the axis is zoomed on the
    bars' range (it does not start at zero) so that a change of a few percent can be seen. Family
    names are HTML-escaped.
    """
    from sop_core.formatting import delta_money, delta_units, units
    from sop_core.formatting import money as money_text

    totals = [k == "total" for k in steps["kind"]]
    values = [float(v) for v in steps["value"]]
    level, delta = (money_text, delta_money) if money else (units, delta_units)
    text = [level(v) if t else delta(v) for v, t in zip(values, totals)]
    bar = _waterfall_trace([label_text(s) for s in steps["label"]], values, totals, text,
                           "$%{y:,.0f}" if money else "%{y:,.0f}")
    levels = _running_levels(values, totals) or [0.0]
    lo, hi = min(levels), max(levels)
    pad = max(hi - lo, abs(hi) * 0.02, 1.0)
    yaxis = dict(rangemode="normal", range=[max(0.0, lo - pad * 0.6), hi + pad * 0.2])
    if money:
        yaxis.update(MONEY_TICKS)
    layout = _layout_dict(height, "", showlegend=False, margin=dict(l=10, r=10, t=20, b=10),  # the heading says what
                          yaxis=yaxis)
    return go.Figure(data=[bar], layout=layout)


def family_supply(frame: pd.DataFrame, *, height: int | None = None) -> go.Figure:
    """Demand and constrained supply per family over the plan horizon, as horizontal bars (names read across).

    frame: `agenda.family_supply` (family, demand, supplied, short), largest demand first (drawn on top).
    Supplied and short stack to the demand; a family that is short is labelled with its short units.
    """
    from sop_core.formatting import units

    names = [label_text(f) for f in frame["family"]]
    supplied = _bar(frame["supplied"], names, "constrained", "Supplied (constrained plan)", "%{x:,.0f}")
    # short units are a sliver of the bar: solid red (a hatch would not show), and said in words beside it
    short = go.Bar(x=frame["short"], y=names, name="Short", marker=dict(color=style(NEGATIVE).color))
    supplied.update(orientation="h", hovertemplate="%{y}: %{x:,.0f} supplied<extra></extra>")
    short.update(orientation="h", hovertemplate="%{y}: %{x:,.0f} short<extra></extra>",
                 text=[f"{units(s)} short" if s >= 0.5 else "" for s in frame["short"]], textposition="outside",
                 textfont=dict(color=style(NEGATIVE).color), cliponaxis=False)
    layout = _layout_dict(height or 90 + 34 * max(len(frame), 1), "", barmode="stack", bargap=0.3,
                          hovermode="closest", margin=dict(l=10, r=70, t=40, b=10),
                          xaxis=dict(title=dict(text="Units over the plan horizon"), separatethousands=True,
                                     showgrid=True, gridcolor="#e6e9ef", tickformat="~s"),
                          yaxis=dict(autorange="reversed", rangemode="normal", showgrid=False, separatethousands=False))
    return go.Figure(data=[supplied, short], layout=layout)


# -- charts a snapshot link stores as data and draws again ---------------------------------------------------
def plan_bridge(bridge: pd.DataFrame, *, height: int = EXEC_HEIGHT) -> go.Figure:
    """The gap bridge (`finance.bridge`: step, kind 'total' | 'effect', value) drawn as `change_waterfall` draws
    a bridge: the Executive page's look (zoomed, compact money, short top margin)."""
    steps = pd.DataFrame({"label": bridge["step"], "value": bridge["value"],
                          "kind": ["total" if k == "total" else "relative" for k in bridge["kind"]]})
    return change_waterfall(steps, money=True, height=height)


SNAPSHOT_CHARTS = {
    "revenue_by_month": lambda f: revenue_by_month(f),
    "bridge": lambda f: plan_bridge(f),
    "family_supply": lambda f: family_supply(f),
    "change_revenue": lambda f: change_waterfall(f, money=True),
    "change_units": lambda f: change_waterfall(f, money=False),
}


def from_snapshot(name: str, frame: pd.DataFrame) -> go.Figure:
    """The chart `name` (a key of SNAPSHOT_CHARTS) of a snapshot's stored frame; ValueError for an unknown name."""
    try:
        build = SNAPSHOT_CHARTS[name]
    except KeyError:
        raise ValueError(f"unknown snapshot chart {name!r}: use one of {', '.join(SNAPSHOT_CHARTS)}") from None
    if "period" in frame.columns:
        frame = frame.assign(period=pd.to_datetime(frame["period"]))
    return build(frame)

"""The shared figures (sop_core/meetings/charts.py): one style per role, the same on every chart; the demand
chart's forecast joining the actuals; safety stock as a line. Plain plotly, small hand-made frames."""
from __future__ import annotations

import pandas as pd
import pytest

from sop_core.meetings import charts
from sop_core.meetings.charts import ROLE_STYLE, role_for, roles_for, style

HIST = pd.DataFrame({"period": pd.date_range("2026-01-01", periods=4, freq="MS"),
                     "quantity": [100.0, 120.0, 90.0, 110.0]})
FUTURE = pd.date_range("2026-05-01", periods=3, freq="MS")
STAT = pd.DataFrame({"period": FUTURE, "value": [105.0, 115.0, 95.0], "lower": [90.0, 95.0, 80.0],
                     "upper": [120.0, 135.0, 110.0]})
CONS = pd.DataFrame({"period": FUTURE, "consensus": [108.0, 118.0, 99.0]})
SUPPLY = pd.DataFrame({"period": FUTURE, "units": [108.0, 118.0, 99.0], "constrained_units": [108.0, 110.0, 99.0],
                       "prebuilt_units": [0.0, 5.0, 0.0], "short_units": [0.0, 8.0, 0.0]})
PROJECTION = pd.DataFrame({"period": FUTURE, "receipts": [100.0, 110.0, 95.0], "demand": [108.0, 118.0, 99.0],
                           "closing": [50.0, 42.0, -3.0], "safety_stock": [20.0, 20.0, 25.0]})
OUTLOOK = pd.DataFrame({"period": pd.date_range("2026-01-01", periods=4, freq="MS"),
                        "source": ["actual", "actual", "plan", "plan"], "revenue": [1e6, 1.1e6, 1.2e6, 0.9e6],
                        "plan_revenue": [1.05e6, 1.1e6, 1.15e6, 1.0e6]})
BRIDGE = pd.DataFrame({"step": ["Annual plan", "Volume", "Mix", "Outlook"],
                       "kind": ["total", "effect", "effect", "total"], "value": [100.0, -12.0, 4.0, 92.0]})


def trace(fig, name: str):
    """The trace of `fig` named `name` (exactly one)."""
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def plan_fig():
    return charts.plan_chart(HIST, STAT, CONS, HIST["period"].iloc[-1])


# -- the roles ----------------------------------------------------------------------------------------
def test_each_role_has_one_style_and_no_two_roles_look_alike():
    looks = {(s.color, s.dash, s.marker, s.pattern) for s in ROLE_STYLE.values()}
    assert len(looks) == len(ROLE_STYLE)
    for needed in ("actuals", "statistical", "consensus", "annual_plan", "constrained", "capacity", "shortage",
                   "positive", "baseline", "safety_stock", "scenario_1", "scenario_2", "scenario_3", "scenario_4"):
        assert isinstance(style(needed), charts.RoleStyle)


def test_a_hue_means_one_thing_except_the_red_of_limits_and_shortages():
    by_colour: dict[str, set[str]] = {}
    for role, s in ROLE_STYLE.items():
        by_colour.setdefault(s.color.lower(), set()).add(role)
    shared = {c: roles for c, roles in by_colour.items() if len(roles) > 1}
    assert shared == {charts.RED: {"shortage", "capacity", "safety_stock"}}
    # the red ones differ by dash or pattern, never by hue alone
    assert len({(style(r).dash, style(r).pattern) for r in shared[charts.RED]}) == 3
    assert ROLE_STYLE["consensus"].color == charts.ORANGE and by_colour[charts.ORANGE] == {"consensus"}


def test_positive_and_negative_differ_by_more_than_hue():
    assert style("shortage").pattern and not style("positive").pattern
    fig = charts.bridge_chart(BRIDGE)
    assert list(fig.data[0].text) == ["$100", "−$12", "+$4", "$92"]


def test_unknown_role_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown chart role 'consenus'.*consensus"):
        style("consenus")
    frame = pd.DataFrame({"period": FUTURE, "a": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="unknown chart role"):
        charts.lines(frame, "period", ["a"], roles=["consenus"])
    with pytest.raises(ValueError, match="1 roles for 2 series"):
        charts.bars(frame.assign(b=1.0), "period", ["a", "b"], roles=["consensus"])


def test_roles_are_read_from_the_labels_the_pages_pass():
    assert role_for("Consensus demand (unconstrained)") == "consensus"
    assert role_for("Demand (consensus)") == "consensus"
    assert role_for("Outlook (constrained plan)") == "constrained"
    assert role_for("Safety stock (2 of 29 computed)") == "safety_stock"
    assert role_for("Annual plan") == "annual_plan"
    assert role_for("Tents") is None
    # the scenario comparison: the baseline, then scenarios in order, whatever they are called
    assert roles_for(["Baseline", "Tents +10%", "Consensus", "S3", "S4", "S5"]) == [
        "baseline", "scenario_1", "scenario_2", "scenario_3", "scenario_4", "scenario_1"]
    assert roles_for(["Actual", "Annual plan", "Tents"]) == ["actuals", "annual_plan", "scenario_1"]


# -- the same thing looks the same on every chart --------------------------------------------------------
def test_consensus_has_one_colour_on_every_chart():
    demand = trace(plan_fig(), "Consensus").line
    supply = trace(charts.supply_chart(SUPPLY), "Consensus demand (unconstrained)").line
    assert demand.color == supply.color == style("consensus").color
    assert demand.dash == supply.dash == style("consensus").dash
    inventory_bar = trace(charts.projection_chart(PROJECTION), "Demand (consensus)").marker.color
    assert inventory_bar == style("consensus").tint
    assert charts.lines(pd.DataFrame({"period": FUTURE, "c": [1.0, 2.0, 3.0]}), "period", ["c"],
                        names=["Consensus"]).data[0].line.color == style("consensus").color


def test_shortage_and_negative_steps_share_one_red():
    short = trace(charts.supply_chart(SUPPLY), "Short").marker
    assert short.color == style("shortage").color == charts.RED and short.pattern.shape == "/"
    for fig in (charts.bridge_chart(BRIDGE),
                charts.waterfall(BRIDGE.rename(columns={"step": "label"}), label="label", money=False)):
        assert fig.data[0].decreasing.marker.color == charts.RED
        assert fig.data[0].increasing.marker.color == style("positive").color


def test_plan_lines_are_dashed_grey_blue_and_the_baseline_is_not_the_statistical_forecast():
    plan = trace(charts.outlook_chart(OUTLOOK), "Annual plan").line
    assert (plan.color, plan.dash) == (style("annual_plan").color, "dash") and plan.color != charts.ORANGE
    frame = pd.DataFrame({"period": FUTURE, "p0": [1.0, 2.0, 3.0], "p1": [2.0, 3.0, 4.0]})
    fig = charts.lines(frame, "period", ["p0", "p1"], names=["Baseline", "Tents +10%"], dashes=["dot", "solid"])
    base, first = fig.data
    stat = trace(plan_fig(), "Statistical").line
    assert base.line.color == style("baseline").color != stat.color
    assert first.line.color == style("scenario_1").color != charts.ORANGE
    assert first.marker.symbol == style("scenario_1").marker


def test_every_chart_draws_only_role_colours():
    allowed = {c for s in ROLE_STYLE.values() for c in (s.color, s.tint) if c}
    figs = [plan_fig(), charts.supply_chart(SUPPLY), charts.projection_chart(PROJECTION),
            charts.outlook_chart(OUTLOOK), charts.bridge_chart(BRIDGE)]
    for fig in figs:
        for t in fig.data:
            if t.type == "bar":
                assert t.marker.color in allowed, (t.name, t.marker.color)
            elif t.type == "scatter" and t.line.width != 0:
                assert t.line.color in allowed, (t.name, t.line.color)


def test_explicit_colours_and_dashes_still_override_the_roles():
    frame = pd.DataFrame({"period": FUTURE, "a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0]})
    fig = charts.bars(frame, "period", ["a", "b"], names=["Consensus", "Short"], colors=["#123456"])
    assert [t.marker.color for t in fig.data] == ["#123456", "#123456"]
    fig = charts.lines(frame, "period", ["a", "b"], names=["Consensus", "Actual"], dashes=["dash", "dot"])
    assert [(t.line.color, t.line.dash) for t in fig.data] == [(charts.ORANGE, "dash"), (charts.INK, "dot")]


# -- the demand chart ---------------------------------------------------------------------------------
def test_forecast_lines_start_at_the_last_actual():
    fig = plan_fig()
    last_period, last_qty = HIST["period"].iloc[-1], HIST["quantity"].iloc[-1]
    for name, n in (("Statistical", len(STAT)), ("Consensus", len(CONS))):
        t = trace(fig, name)
        assert pd.Timestamp(t.x[0]) == last_period and t.y[0] == last_qty
        assert [pd.Timestamp(x) for x in t.x[1:]] == list(FUTURE) and len(t.y) == n + 1
        assert t.hovertemplate[0].endswith("(actual)") and t.hovertemplate[1] == "%{y:,.0f}"
    band = trace(fig, "80% interval")
    assert pd.Timestamp(band.x[0]) == last_period and band.y[0] == last_qty


def test_forecast_overlapping_the_actuals_is_not_joined():
    fig = charts.plan_chart(HIST, STAT.assign(period=HIST["period"].iloc[1:].tolist()), None, None)
    t = trace(fig, "Statistical")
    assert len(t.x) == len(STAT) and pd.Timestamp(t.x[0]) == HIST["period"].iloc[1]
    assert list(trace(charts.plan_chart(HIST.iloc[:0], STAT, CONS, None), "Consensus").y) == list(CONS["consensus"])


def test_actuals_end_label_sits_inside_the_plot_clear_of_the_legend():
    fig = plan_fig()
    note = next(a for a in fig.layout.annotations if a.text == "actuals end")
    assert note.yref == "paper" and note.y == 1 and note.yanchor == "top"
    assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y > 1


def test_the_demand_chart_has_the_common_layout_built_in_one_go():
    """plan_chart builds its layout as one dict (one validation, issue 15): the same layout as `_layout` gives."""
    import plotly.graph_objects as go

    fig = charts.plan_chart(HIST, STAT, CONS, HIST["period"].iloc[-1], units_label="Revenue", height=300)
    common = charts._layout(go.Figure(), 300, "Revenue").layout.to_plotly_json()
    got = fig.layout.to_plotly_json()
    assert {k: got[k] for k in common if k != "legend"} == {k: v for k, v in common.items() if k != "legend"}
    assert got["legend"] == {**common["legend"], "traceorder": "normal"}
    assert [s.type for s in fig.layout.shapes] == ["line"] and pd.Timestamp(fig.layout.shapes[0].x0) == HIST["period"].iloc[-1]
    assert [t.name for t in fig.data] == [None, "80% interval", "Actuals", "Statistical", "Consensus"]
    assert not charts.plan_chart(HIST, STAT, CONS, None).layout.shapes  # no actuals end: no line, no label
    assert not charts.plan_chart(HIST, STAT, CONS, None).layout.annotations


# -- the inventory chart ------------------------------------------------------------------------------
def test_safety_stock_is_a_dashed_line_with_a_plain_legend_label():
    fig = charts.projection_chart(PROJECTION, safety_label="Safety stock (2 of 3 computed)")
    t = trace(fig, "Safety stock")
    assert t.type == "scatter" and t.mode == "lines" and t.fill is None
    assert t.line.dash == style("safety_stock").dash != "solid" and t.line.color == style("safety_stock").color
    assert "Safety stock (2 of 3 computed)" in t.hovertemplate  # the detail stays, in the hover
    assert [d.type for d in fig.data].index("scatter") > max(i for i, d in enumerate(fig.data) if d.type == "bar")


# -- the executive meeting's charts ------------------------------------------------------------------------
REVENUE_MONTHS = pd.DataFrame({
    "period": pd.date_range("2026-09-01", periods=4, freq="MS"), "source": ["actual", "actual", "actual", "plan"],
    "revenue": [2.5e6, 2.2e6, 2.4e6, 3.0e6], "plan_revenue": [2.6e6, 2.3e6, 2.7e6, 3.2e6],
    "approved_revenue": [float("nan"), float("nan"), float("nan"), 3.1e6]})


def test_revenue_by_month_draws_actuals_outlook_annual_plan_and_the_approved_plan() -> None:
    fig = charts.revenue_by_month(REVENUE_MONTHS)
    assert [t.name for t in fig.data] == ["Actual", "Outlook", "Annual plan", "Last approved plan"]
    assert list(trace(fig, "Outlook").x) == ["Dec"]  # one month of outlook: a bar as wide as the others
    assert fig.layout.xaxis.type == "category" and list(fig.layout.xaxis.categoryarray) == ["Sep", "Oct", "Nov", "Dec"]
    assert trace(fig, "Last approved plan").line.dash == ROLE_STYLE["approved_plan"].dash
    assert fig.layout.yaxis.tickformat == "$~s" and fig.layout.height == charts.EXEC_HEIGHT
    no_approved = charts.revenue_by_month(REVENUE_MONTHS.assign(approved_revenue=float("nan")))
    assert "Last approved plan" not in [t.name for t in no_approved.data]


CHANGE = pd.DataFrame({"label": ["v1 approved", "Tents <b>&</b>", "Cookware", "Current plan"],
                       "value": [50_000_000.0, 911_000.0, -113_000.0, 50_798_000.0],
                       "kind": ["total", "relative", "relative", "total"]})


def test_change_waterfall_labels_steps_with_their_sign_and_zooms_on_the_bars() -> None:
    fig = charts.change_waterfall(CHANGE, money=True)
    bar = fig.data[0]
    assert list(bar.text) == ["$50.0M", "+$911K", "−$113K", "$50.8M"]
    assert list(bar.measure) == ["absolute", "relative", "relative", "absolute"]
    assert list(bar.x)[1] == "Tents &lt;b&gt;&amp;&lt;/b&gt;"  # a family name is HTML-escaped
    lo, hi = fig.layout.yaxis.range
    assert 49_000_000 < lo < 50_000_000 and 50_911_000 < hi < 51_500_000  # not from zero: the steps can be seen

    units = charts.change_waterfall(CHANGE.assign(value=[420_977.4, 3_566.2, -2_295.1, 422_248.6]), money=False)
    assert list(units.data[0].text) == ["420,977", "+3,566", "−2,295", "422,249"]  # whole units, signed steps


def test_plan_bridge_draws_the_gap_bridge_like_the_change_waterfall() -> None:
    fig = charts.plan_bridge(BRIDGE)
    assert list(fig.data[0].measure) == ["absolute", "relative", "relative", "absolute"]
    assert list(fig.data[0].text) == ["$100", "−$12", "+$4", "$92"]


def test_family_supply_stacks_supplied_and_short_with_the_short_units_said() -> None:
    frame = pd.DataFrame({"family": ["Cookware", "Tents & <i>Co</i>"], "demand": [160_000.0, 104_998.0],
                          "supplied": [160_000.0, 101_695.0], "short": [0.0, 3_303.0]})
    fig = charts.family_supply(frame)
    supplied, short = fig.data
    assert fig.layout.barmode == "stack" and supplied.orientation == "h" == short.orientation
    assert list(short.text) == ["", "3,303 short"]
    assert list(short.y)[1] == "Tents &amp; &lt;i&gt;Co&lt;/i&gt;"
    assert fig.layout.yaxis.autorange == "reversed"  # largest demand on top


def test_a_snapshot_chart_is_drawn_again_from_its_stored_frame() -> None:
    from sop_core.meetings import links

    stored = links.data_frame(links.frame_data(REVENUE_MONTHS))  # dates as ISO text, NaN as null
    fig = charts.from_snapshot("revenue_by_month", stored)
    assert [t.name for t in fig.data] == ["Actual", "Outlook", "Annual plan", "Last approved plan"]
    assert set(charts.SNAPSHOT_CHARTS) == {"revenue_by_month", "bridge", "family_supply", "change_revenue",
                                           "change_units"}
    with pytest.raises(ValueError, match="unknown snapshot chart"):
        charts.from_snapshot("<script>", stored)

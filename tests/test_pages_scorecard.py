"""The KPI scorecard tiles (pages/shell/scorecard.py): each trend a small readable chart with its first and
last month, the target drawn on it and hover values written as the tile writes them; targets in plain
words; captions saying what the status covers and that the trend is history. AppTest on the demo company,
plus the pieces the tiles are built from (`kpis.KPI` wording, `charts.sparkline`) on small frames."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from apptest_support import app, demo_workspace_file, metrics, open_page  # noqa: F401

from sop_core.meetings import charts
from sop_core.planning import kpis

MONTH = re.compile(r"^[A-Z][a-z]{2} \d{4}$")  # "Nov 2025"
TREND = pd.DataFrame({"period": pd.date_range("2025-11-01", periods=4, freq="MS"), "value": [0.9, 0.95, 0.97, 0.8]})


# -- the wording of the KPIs ------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "words"), [
    ("bias", "within ±5%"), ("otif", "at least 95%"), ("order_fill_rate", "at least 98%"),
    ("capacity_utilisation", "at most 90%"), ("days_of_supply", "between 30 and 90 days"),
    ("inventory_turns", "at least 6×"), ("revenue_vs_plan", "at least 0%"), ("gross_margin_pct_12m", "at least 35%"),
])
def test_targets_read_in_plain_words(key, words):
    k = kpis.make_kpi(key, 0.5)
    assert k.target_words == words
    assert not re.search(r"[|≤≥]", k.target_words)


def test_target_words_follow_the_saved_targets_and_the_symbolic_text_is_kept():
    t = kpis.merge_targets({"otif": {"green": 0.975, "amber": 0.9}, "bias": {"green": 0.07, "amber": 0.1}})
    assert kpis.make_kpi("otif", 0.5, t).target_words == "at least 97.5%"
    assert kpis.make_kpi("bias", 0.5, t).target_words == "within ±7%"
    assert kpis.make_kpi("otif", 0.5, t).target_text == "≥ 98%"  # the board pack's table keeps its form


def test_capacity_says_whether_its_value_is_the_plan_ahead_or_the_actuals_behind():
    ahead = kpis.make_kpi("capacity_utilisation", 1.095, note="peak R1 in Mar 2027 over the next 12 months of the plan")
    assert "next 12 months of plan" in ahead.status_basis and "next 12 months" in ahead.trend_basis
    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    products = pd.DataFrame({"sku": ["A"], "unit_price": [10.0], "unit_cost": [5.0], "resource": ["R1"],
                             "hours_per_unit": [1.0]})
    capacity = pd.DataFrame({"period": months, "resource": "R1", "available_hours": 100.0})
    history = pd.DataFrame({"sku": "A", "period": months, "quantity": [50.0 + i for i in range(12)]})
    behind = kpis.utilisation_kpi(None, None, products, capacity, history)  # no forward plan
    assert behind.value == pytest.approx(0.61)
    assert behind.status_basis == "at the peak month of the last 12 months"
    assert "next" not in behind.trend_basis and "highest of the last 12" in behind.trend_basis


# -- the sparkline figure ---------------------------------------------------------------------------
def test_sparkline_labels_first_and_last_month_and_draws_a_target_line():
    fig = charts.sparkline(TREND, ["90.0%", "95.0%", "97.0%", "80.0%"], target=0.95, target_labels=["95%"])
    assert [t.name for t in fig.data] == ["Target", "Trend"]
    target = fig.data[0]
    assert list(target.y) == [0.95, 0.95] and target.line.dash == "dash" and target.line.width <= 1
    assert list(fig.layout.xaxis.ticktext) == ["Nov 2025", "Feb 2026"]
    assert list(fig.layout.yaxis.ticktext) == ["95%"]
    trend = fig.data[1]
    assert list(trend.customdata) == ["90.0%", "95.0%", "97.0%", "80.0%"] and "%{x|%b %Y}" in trend.hovertemplate
    assert fig.layout.xaxis.fixedrange and fig.layout.yaxis.fixedrange and not fig.layout.showlegend
    assert fig.layout.height <= 120


def test_sparkline_draws_a_two_sided_target_as_a_band_and_no_target_when_none():
    band = charts.sparkline(TREND, ["x"] * 4, target=(-0.05, 0.05), target_labels=["−5%", "5%"])
    low, high = band.data[0], band.data[1]
    assert low.name.startswith("Target") and high.name.startswith("Target") and high.fill == "tonexty"
    assert (low.y[0], high.y[0]) == (-0.05, 0.05)
    assert list(band.layout.yaxis.ticktext) == ["−5%", "5%"]
    assert [t.name for t in charts.sparkline(TREND, ["x"] * 4).data] == ["Trend"]
    with pytest.raises(ValueError, match="3 hover texts for 4 points"):
        charts.sparkline(TREND, ["x"] * 3)


# -- the page ---------------------------------------------------------------------------------------
def tile_charts(at) -> dict[str, dict]:
    """KPI key → plotly spec of its tile's chart (keyed sc_<key> by `scorecard.render`)."""
    out = {}
    for c in at.get("plotly_chart"):
        m = re.search(r"sc_(\w+)$", c.proto.id)
        assert m, c.proto.id
        out[m.group(1)] = {"spec": json.loads(c.proto.spec), "config": json.loads(c.proto.config or "{}")}
    return out


def test_each_tile_charts_its_trend_against_its_target_with_its_months(app):
    at = open_page(app, "scorecard")
    assert metrics(at)["Not checked"] == "0"
    found = tile_charts(at)
    assert list(found) == list(kpis.KPI_KEYS)  # one chart per tile, in scorecard order
    for key, chart in found.items():
        spec, names = chart["spec"], [t.get("name", "") for t in chart["spec"]["data"]]
        assert any(n.startswith("Target") for n in names), (key, names)
        ticks = spec["layout"]["xaxis"]["ticktext"]
        assert len(ticks) == 2 and all(MONTH.match(t) for t in ticks), (key, ticks)
        assert chart["config"].get("displayModeBar") is False, key
        trend = next(t for t in spec["data"] if t.get("name") == "Trend")
        assert len(trend["customdata"]) >= 2, key  # the hover text of each month
    bias = [t for t in found["bias"]["spec"]["data"] if t.get("name", "").startswith("Target")]
    assert len(bias) == 2  # a band, both sides
    otif = next(t for t in found["otif"]["spec"]["data"] if t.get("name") == "Trend")["customdata"]
    assert all(re.match(r"^\d+\.\d%$", v) for v in otif), otif  # as the tile writes 91.4%
    days = next(t for t in found["days_of_supply"]["spec"]["data"] if t.get("name") == "Trend")["customdata"]
    assert all(v.endswith(" days") for v in days), days


def test_tiles_say_the_target_in_words_what_the_status_covers_and_that_trends_are_history(app):
    at = open_page(app, "scorecard")
    captions = [c.value for c in at.caption]
    status = dict(zip(kpis.KPI_KEYS, [c for c in captions if "target:" in c], strict=True))  # tiles in order
    assert not any(re.search(r"\|x\||[≤≥]", c) for c in status.values()), status
    assert status["bias"].endswith("target: within ±5%")
    assert status["otif"].endswith("target: at least 95%")
    assert status["days_of_supply"].endswith("target: between 30 and 90 days")
    # a monthly KPI is judged on its latest month by default, and the tile also gives the 12 months
    assert re.search(r" in [A-Z][a-z]{2} \d{4}, the latest month · ", status["order_fill_rate"])
    assert sum(c.startswith("12 months: ") for c in captions) == 5
    assert "next 12 months of plan" in status["capacity_utilisation"]
    trends = [c for c in captions if ", history:" in c]
    assert len(trends) == len(kpis.KPI_KEYS)
    assert any(c.startswith("Last 12 months, history: peak load of each actual month; the value is the plan's peak")
               for c in trends), trends
    assert sum("the status is on the latest month" in c for c in trends) == 5  # the monthly KPIs

"""KPI scorecard: every formula against a hand-worked example, edge cases, statuses and the demo company."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sop_core.intake import company, demo
from sop_core.periods import period_start
from sop_core.planning import actuals, kpi_targets, kpis, service, supply
from sop_core.planning.kpis import KPI, ScorecardInputs

T = pd.Timestamp


def ms(s: str) -> pd.Timestamp:
    """A month start."""
    return pd.Timestamp(s)


# -- statuses and targets ------------------------------------------------------------------------
@pytest.mark.parametrize("value, direction, green, amber, expected", [
    (0.95, "higher", 0.95, 0.90, "green"),     # on the green line is green
    (0.94, "higher", 0.95, 0.90, "amber"),
    (0.90, "higher", 0.95, 0.90, "amber"),
    (0.89, "higher", 0.95, 0.90, "red"),
    (0.90, "lower", 0.90, 1.00, "green"),
    (1.00, "lower", 0.90, 1.00, "amber"),
    (1.01, "lower", 0.90, 1.00, "red"),
    (-0.05, "band", 0.05, 0.10, "green"),      # |bias| <= 5%
    (0.07, "band", 0.05, 0.10, "amber"),
    (-0.07, "band", 0.05, 0.10, "amber"),
    (-0.11, "band", 0.05, 0.10, "red"),
    (30.0, "band", (30, 90), (15, 120), "green"),
    (95.0, "band", (30, 90), (15, 120), "amber"),
    (10.0, "band", (30, 90), (15, 120), "red"),
    (200.0, "band", (30, 90), (15, 120), "red"),
    (None, "higher", 0.95, 0.90, "missing"),
    (float("nan"), "band", 0.05, 0.10, "missing"),
])
def test_status_thresholds_including_bands(value, direction, green, amber, expected):
    assert kpi_targets.status_of(value, direction, green, amber) == expected


def test_default_targets_and_overrides():
    t = kpis.merge_targets()
    latest = {"basis": "latest"}  # a monthly KPI is judged on its latest month unless its target says '12m'
    assert t["forecast_accuracy"] == {"green": 0.75, "amber": 0.65, **latest}
    assert t["bias"] == {"green": 0.05, "amber": 0.10, **latest}
    assert t["otif"] == {"green": 0.95, "amber": 0.90, **latest}
    assert t["order_fill_rate"] == {"green": 0.98, "amber": 0.95, **latest}
    assert t["inventory_turns"] == {"green": 6.0, "amber": 4.0}
    assert t["capacity_utilisation"] == {"green": 0.90, "amber": 1.00}
    assert t["revenue_vs_plan"] == {"green": 0.0, "amber": -0.05}
    assert t["gross_margin_pct_12m"] == {"green": 0.35, "amber": 0.30, **latest}
    assert t["days_of_supply"]["green"] == (30.0, 90.0)
    t2 = kpis.merge_targets({"otif": {"green": 0.97}, "days_of_supply": {"green": [20, 60], "amber": [10, 90]}})
    assert t2["otif"] == {"green": 0.97, "amber": 0.90, **latest} and t2["days_of_supply"]["green"] == (20.0, 60.0)
    with pytest.raises(ValueError, match="wrong order"):
        kpis.merge_targets({"otif": {"green": 0.80}})  # green below amber for a 'higher' KPI
    with pytest.raises(ValueError, match="unknown KPI"):
        kpis.merge_targets({"nps": {"green": 1}})
    with pytest.raises(ValueError, match="must contain"):
        kpis.merge_targets({"days_of_supply": {"green": [10, 200]}})
    assert kpis.merge_targets({"otif": {"basis": "12m"}})["otif"]["basis"] == "12m"
    with pytest.raises(ValueError, match="basis"):
        kpis.merge_targets({"otif": {"basis": "quarter"}})
    with pytest.raises(ValueError, match="basis"):
        kpis.merge_targets({"days_of_supply": {"basis": "latest"}})  # not a monthly KPI


def test_a_bad_latest_month_is_not_hidden_by_a_good_year():
    """The issue's case: fill rate 98.5% over 12 months, 94.2% in October against a 98% target."""
    months = pd.date_range("2025-11-01", periods=12, freq="MS")
    values = [0.99] * 11 + [0.942]
    trend = pd.DataFrame({"period": months, "value": values})
    k = kpis.make_kpi("order_fill_rate", 0.985, trend=trend)
    assert k.basis == "latest" and k.latest == pytest.approx(0.942) and k.latest_period == pd.Timestamp("2026-10-01")
    assert k.status == "red" and k.judged == pytest.approx(0.942)
    assert k.status_basis == "in Oct 2026, the latest month" and "status is on the latest month" in k.trend_basis
    pooled = kpis.make_kpi("order_fill_rate", 0.985, kpis.merge_targets({"order_fill_rate": {"basis": "12m"}}),
                           trend=trend)
    assert pooled.status == "green" and pooled.status_basis == "over the last 12 months"
    assert pooled.latest == pytest.approx(0.942)  # still shown on the tile
    assert kpis.make_kpi("inventory_turns", 6.5, trend=trend).basis == ""  # rolling turns: the value is the latest
    gap = trend.assign(value=values[:-1] + [float("nan")])  # no number for the last month: the one before counts
    k = kpis.make_kpi("order_fill_rate", 0.985, trend=gap)
    assert k.latest == pytest.approx(0.99) and k.latest_period == pd.Timestamp("2026-09-01") and k.status == "green"


def test_targets_are_a_workspace_setting(workspace):
    assert kpis.load_targets(workspace)["otif"]["green"] == 0.95
    kpis.save_targets(workspace, {"otif": {"green": 0.97, "amber": 0.93}}, author="coo")
    assert kpis.load_targets(workspace)["otif"] == {"green": 0.97, "amber": 0.93, "basis": "latest"}
    kpis.save_targets(workspace, {"otif": {"green": 0.97, "amber": 0.93, "basis": "12m"}}, author="coo")
    assert kpis.load_targets(workspace)["otif"]["basis"] == "12m"
    with pytest.raises(ValueError):
        kpis.save_targets(workspace, {"otif": {"green": 0.5, "amber": 0.9}})
    assert kpis.load_targets(workspace)["otif"]["green"] == 0.97  # refused change not stored
    k = kpis.make_kpi("otif", 0.95, kpis.load_targets(workspace))
    assert k.status == "amber" and k.target == 0.97 and k.target_text == "≥ 97%"


# -- forecast accuracy and bias --------------------------------------------------------------------
def points_example() -> pd.DataFrame:
    """Four points over two months.

    Jan: F 110 A 100 (e +10), F 90 A 100 (e −10): Σ|e| 20, ΣA 200 → WAPE 0.10, accuracy 0.90, bias 0/200 = 0
    Feb: F 50 A 40 (e +10), F 5 A 10 (e −5):    Σ|e| 15, ΣA 50  → WAPE 0.30, accuracy 0.70, bias 5/50 = 0.10
    all: Σ|e| 35, ΣA 250 → WAPE 0.14, accuracy 0.86 (green ≥ 75%); bias 5/250 = 0.02 (green, |0.02| ≤ 5%)
    """
    return pd.DataFrame({
        "series_id": ["a", "b", "a", "b"],
        "period": [ms("2026-01-01"), ms("2026-01-01"), ms("2026-02-01"), ms("2026-02-01")],
        "forecast": [110.0, 90.0, 50.0, 5.0],
        "actual": [100.0, 100.0, 40.0, 10.0],
    })


def test_accuracy_and_bias_hand_worked():
    acc, bias = kpis.accuracy_kpis(points_example())
    assert acc.value == pytest.approx(0.86) and acc.unit == "pct"
    # judged on the latest month (Feb: 70%, amber against 75%), though the two months pooled are green
    assert acc.latest == pytest.approx(0.70) and acc.status == "amber"
    assert bias.value == pytest.approx(0.02) and bias.status == "amber" and bias.direction == "band"  # Feb: +10%
    assert acc.trend["value"].tolist() == pytest.approx([0.90, 0.70])
    assert bias.trend["value"].tolist() == pytest.approx([0.0, 0.10])
    assert list(acc.trend.columns) == ["period", "value"]
    assert "1 − WAPE" in acc.formula and "Σ(F − A) / ΣA" in bias.formula


def test_accuracy_window_is_the_last_12_months():
    # a point 13 months before the last one (F 1000, A 1) is outside the window and changes nothing
    old = pd.DataFrame({"series_id": ["a"], "period": [ms("2025-01-01")], "forecast": [1000.0], "actual": [1.0]})
    acc, _ = kpis.accuracy_kpis(pd.concat([old, points_example()], ignore_index=True))
    assert acc.value == pytest.approx(0.86)


def test_zero_actuals_make_accuracy_missing_with_a_reason_not_a_crash():
    pts = points_example().assign(actual=0.0)
    acc, bias = kpis.accuracy_kpis(pts)
    for k in (acc, bias):
        assert k.value is None and k.status == "missing" and k.missing_table is None
        assert "n/a" in k.note and "sum to 0" in k.note
        assert k.missing_message == k.note
    assert acc.trend.empty


def test_no_forecast_points_says_what_is_needed():
    acc, bias = kpis.accuracy_kpis(None)
    assert acc.status == bias.status == "missing"
    assert acc.missing_table == "forecast" and acc.missing_message == "needs the forecast table"


def test_plan_vs_actual_matches_a_past_plan_with_actuals():
    # plan: a/N 10 in Jan, Feb, Mar; actuals: a/N 8 in Jan, b/N 5 in Jan and 6 in Feb (history Jan–Feb)
    plan = pd.DataFrame({"sku": "a", "region": "N", "family": "F", "period": [ms("2026-01-01"), ms("2026-02-01"),
                                                                            ms("2026-03-01")], "units": 10.0})
    hist = pd.DataFrame({"sku": ["a", "b", "b"], "region": "N", "family": "F",
                         "period": [ms("2026-01-01"), ms("2026-01-01"), ms("2026-02-01")],
                         "quantity": [8.0, 5.0, 6.0]})
    pva = kpis.plan_vs_actual(plan, hist)
    got = {(p.strftime("%m"), s): (f, a) for p, s, f, a in pva[["period", "sku", "forecast", "actual"]].itertuples(
        index=False)}
    # March is after the last actual month: left out; a planned series without sales is an actual of 0
    assert got == {("01", "a"): (10, 8), ("01", "b"): (0, 5), ("02", "a"): (10, 0), ("02", "b"): (0, 6)}
    acc, bias = kpis.accuracy_kpis(pva)
    # Σ|e| = 2 + 5 + 10 + 6 = 23, ΣA = 19 → accuracy 1 − 23/19 (below 0); bias = (2 − 5 + 10 − 6)/19 = 1/19
    assert acc.value == pytest.approx(1 - 23 / 19) and acc.status == "red"
    assert bias.value == pytest.approx(1 / 19)


# -- OTIF and fill rate ----------------------------------------------------------------------------
def orders_example() -> pd.DataFrame:
    """Seven lines; judged as of 10 Mar 2026.

    L1 req 2 Mar 10, delivered 1 Mar 10     on time, in full        → OTIF, 10 units
    L2 req 2 Mar 10, delivered 4 Mar 10     late                    → not OTIF, 10 units
    L3 req 3 Mar 10, delivered 3 Mar 8      short                   → not OTIF, 8 units
    L4 req 5 Mar 4,  delivered 5 Mar 6      over-delivered, in full → OTIF, min(6, 4) = 4 units
    L5 req 6 Mar 5,  open, due date passed  past due                → not OTIF, 0 units
    L6 req 20 Mar 7, open, not yet due      left out
    L7 req 10 Feb 10, delivered 10 Feb 10                           → OTIF, 10 units
    counted L1–L5, L7 = 6 lines, 3 OTIF → OTIF 3/6 = 0.50 (red)
    fill rate = (10 + 10 + 8 + 4 + 0 + 10) / (10 + 10 + 10 + 4 + 5 + 10) = 42/49 = 0.857 (red)
    """
    return pd.DataFrame({
        "order_id": ["O1", "O1", "O2", "O3", "O4", "O5", "O0"],
        "sku": ["a", "b", "a", "a", "b", "a", "a"],
        "requested_date": pd.to_datetime(["2026-03-02", "2026-03-02", "2026-03-03", "2026-03-05", "2026-03-06",
                                          "2026-03-20", "2026-02-10"]),
        "requested_qty": [10, 10, 10, 4, 5, 7, 10],
        "delivered_date": pd.to_datetime(["2026-03-01", "2026-03-04", "2026-03-03", "2026-03-05", None, None,
                                          "2026-02-10"]),
        "delivered_qty": pd.array([10, 10, 8, 6, None, None, 10], dtype="Int64"),
    })


def test_otif_and_fill_rate_hand_worked():
    o, f = kpis.service_kpis(orders_example(), as_of=T("2026-03-10"))
    assert o.value == pytest.approx(0.5) and o.status == "red"
    assert f.value == pytest.approx(42 / 49) and f.status == "red"
    # trend per requested month: Feb 1/1 and 10/10; Mar 2/5 OTIF and (10 + 10 + 8 + 4 + 0)/(10 + 10 + 10 + 4 + 5)
    assert o.trend["period"].tolist() == [ms("2026-02-01"), ms("2026-03-01")]
    assert o.trend["value"].tolist() == pytest.approx([1.0, 0.4])
    assert f.trend["value"].tolist() == pytest.approx([1.0, 32 / 39])
    assert "1 open past due" in o.note and "1 not yet due" in o.note
    assert service.otif(orders_example(), T("2026-03-10")) == pytest.approx(0.5)
    assert service.fill_rate(orders_example(), T("2026-03-10")) == pytest.approx(42 / 49)


def test_undelivered_lines_count_only_once_due():
    lines = service.order_lines(orders_example(), T("2026-03-10"))
    assert lines["state"].tolist() == ["delivered"] * 4 + ["past due", "not due", "delivered"]
    # as of 6 Mar, L5 (requested 6 Mar) has not passed its date yet: left out → 3 OTIF of 5 counted
    assert service.otif(orders_example(), T("2026-03-06")) == pytest.approx(3 / 5)
    # default as_of = the latest delivered_date (5 Mar): L5 and L6 are not due yet → 3 of 5
    assert service.default_as_of(orders_example()) == T("2026-03-05")
    assert service.otif(orders_example()) == pytest.approx(3 / 5)


def test_blank_delivered_qty_with_a_date_is_taken_as_in_full():
    o = orders_example().iloc[[0]].assign(delivered_qty=pd.array([None], dtype="Int64"))
    otif, fill = kpis.service_kpis(o, as_of=T("2026-03-10"))
    assert otif.value == 1.0 and fill.value == 1.0 and "taken as in full" in otif.note


def test_no_orders_says_needs_the_orders_table():
    for orders in (None, orders_example().iloc[0:0]):
        o, f = kpis.service_kpis(orders)
        assert o.status == f.status == "missing" and o.value is None
        assert o.missing_table == "orders" and o.missing_message == "needs the orders table"


# -- inventory turns ------------------------------------------------------------------------------
PRODUCTS = pd.DataFrame({"sku": ["a", "b"], "family": ["F", "F"], "unit_price": [5.0, 20.0],
                         "unit_cost": [2.0, 10.0], "resource": ["R", "R"], "hours_per_unit": [2.0, 2.0]})


def year_history(months: pd.DatetimeIndex, a: float = 100.0, b: float = 10.0) -> pd.DataFrame:
    """a and b sold every month at list price."""
    rows = [(m, "a", "N", "F", a, a * 5.0) for m in months] + [(m, "b", "N", "F", b, b * 20.0) for m in months]
    return pd.DataFrame(rows, columns=["period", "sku", "region", "family", "quantity", "revenue"])


def month_end_inventory(months: pd.DatetimeIndex, a: list[float], b: list[float]) -> pd.DataFrame:
    """Month-end snapshots, a split over two locations."""
    rows = []
    for m, qa, qb in zip(months, a, b):
        d = m + pd.offsets.MonthEnd(0)
        rows += [(d, "a", "DC1", qa * 2 / 3), (d, "a", "DC2", qa / 3), (d, "b", "DC1", qb)]
    return pd.DataFrame(rows, columns=["date", "sku", "location", "on_hand"])


def test_inventory_turns_hand_worked():
    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    hist = year_history(months)  # COGS a month = 100 × 2 + 10 × 10 = 300; a year = 3,600
    # on hand at cost: Jan–Jun a 150, b 30 → 150 × 2 + 30 × 10 = 600; Jul–Dec a 0, b 30 → 300
    inv = month_end_inventory(months, [150.0] * 6 + [0.0] * 6, [30.0] * 12)
    # a mid-month snapshot is superseded by the month-end one of the same sku
    inv = pd.concat([inv, pd.DataFrame({"date": [T("2025-12-15")], "sku": ["a"], "location": ["DC1"],
                                        "on_hand": [999.0]})], ignore_index=True)
    k = kpis.turns_kpi(inv, hist, PRODUCTS)
    # average inventory = (6 × 600 + 6 × 300) / 12 = 450 → turns = 3,600 / 450 = 8.0 (green ≥ 6)
    assert k.value == pytest.approx(8.0) and k.status == "green" and k.unit == "ratio"
    # rolling trend, Nov: COGS of Jan–Nov = 3,300 annualised × 12/11 = 3,600; inventory (6 × 600 + 5 × 300)/11
    assert len(k.trend) == 12 and k.trend["period"].iloc[-1] == ms("2025-12-01")
    assert k.trend["value"].iloc[-1] == pytest.approx(8.0)
    assert k.trend["value"].iloc[-2] == pytest.approx(3600 / (5100 / 11))


def test_inventory_turns_annualise_a_short_history():
    months = pd.date_range("2025-07-01", periods=6, freq="MS")
    hist = year_history(months)  # 6 months of COGS = 1,800 → × 12/6 = 3,600 a year
    inv = month_end_inventory(months, [0.0] * 6, [30.0] * 6)  # 300 at cost every month
    k = kpis.turns_kpi(inv, hist, PRODUCTS)
    assert k.value == pytest.approx(12.0) and "annualised" in k.note


def test_inventory_turns_missing_inputs():
    months = pd.date_range("2025-01-01", periods=3, freq="MS")
    hist, inv = year_history(months), month_end_inventory(months, [1.0] * 3, [1.0] * 3)
    assert kpis.turns_kpi(None, hist, PRODUCTS).missing_table == "inventory"
    assert kpis.turns_kpi(inv, None, PRODUCTS).missing_table == "sales"
    k = kpis.turns_kpi(inv, hist, PRODUCTS.drop(columns="unit_cost"))
    assert k.missing_table == "products" and "unit_cost" in k.note


# -- days of supply ----------------------------------------------------------------------------------
def snapshot(date: str, qty: float, sku: str = "a") -> pd.DataFrame:
    return pd.DataFrame({"date": [T(date)], "sku": [sku], "location": ["DC1"], "on_hand": [qty]})


def plan(units: dict[str, float], sku: str = "a") -> pd.DataFrame:
    return pd.DataFrame({"sku": sku, "region": "N", "family": "F", "period": [ms(p) for p in units],
                         "units": list(units.values())})


def test_days_of_supply_walks_the_forecast_forward():
    # on hand 31 Jan: a 150 × cost 2 = 300. Feb demand 100 × 2 = 200 (28 days) leaves 100;
    # March 124 × 2 = 248 over 31 days = 8 a day → 100 / 8 = 12.5 days → 28 + 12.5 = 40.5 days (green, 30–90)
    k = kpis.days_of_supply_kpi(snapshot("2026-01-31", 150), plan({"2026-02-01": 100, "2026-03-01": 124}), PRODUCTS)
    assert k.value == pytest.approx(40.5) and k.status == "green" and k.unit == "days"
    # without unit_cost the walk is in units: 150 − 100 = 50 left for March at 124/31 = 4 a day → 28 + 12.5
    k_units = kpis.days_of_supply_kpi(snapshot("2026-01-31", 150), plan({"2026-02-01": 100, "2026-03-01": 124}),
                                      PRODUCTS.drop(columns="unit_cost"))
    assert k_units.value == pytest.approx(40.5) and "in units" in k_units.note


def test_days_of_supply_first_month_pro_rata_and_beyond_the_horizon():
    # snapshot 15 Feb: 13 days of February left, demand 200 × 13/28; the rest at 8 a day in March
    k = kpis.days_of_supply_kpi(snapshot("2026-02-15", 150), plan({"2026-02-01": 100, "2026-03-01": 124}), PRODUCTS)
    assert k.value == pytest.approx(13 + (300 - 200 * 13 / 28) / 8)
    # value 1000 against a one-month forecast of 200 (28 days): 800 left at 200/28 a day → 28 + 112 = 140 days, red
    k = kpis.days_of_supply_kpi(snapshot("2026-01-31", 500), plan({"2026-02-01": 100}), PRODUCTS)
    assert k.value == pytest.approx(140.0) and k.status == "red"
    # no demand at all: capped at 104 weeks
    k = kpis.days_of_supply_kpi(snapshot("2026-01-31", 500), plan({"2026-02-01": 0}), PRODUCTS)
    assert k.value == pytest.approx(728.0) and "capped" in k.note


def test_days_of_supply_missing_inputs():
    assert kpis.days_of_supply_kpi(None, plan({"2026-02-01": 1}), PRODUCTS).missing_table == "inventory"
    assert kpis.days_of_supply_kpi(snapshot("2026-01-31", 5), None, PRODUCTS).missing_table == "forecast"


# -- capacity utilisation ----------------------------------------------------------------------------
def test_capacity_utilisation_is_the_forward_peak():
    # history Dec 2025: 30 units of a × 2 h = 60 h of 100 → 0.60 (trend)
    # plan Jan 2026: 40 × 2 = 80 h of 100 → 0.80; Feb: 55 × 2 = 110 h of 100 → 1.10 → peak 110%, red (> 100%)
    hist = pd.DataFrame({"period": [ms("2025-12-01")], "sku": ["a"], "region": ["N"], "family": ["F"],
                         "quantity": [30.0], "revenue": [150.0]})
    cap = pd.DataFrame({"period": [ms("2025-12-01"), ms("2026-01-01"), ms("2026-02-01")], "resource": "R",
                        "available_hours": 100.0, "capacity_units": np.nan})
    k = kpis.utilisation_kpi(None, plan({"2026-01-01": 40, "2026-02-01": 55}), PRODUCTS, cap, hist)
    assert k.value == pytest.approx(1.10) and k.status == "red"
    assert "R in Feb 2026" in k.note and "1 month(s)" in k.note
    assert k.trend["value"].tolist() == pytest.approx([0.60])
    # the same from a supply.utilisation frame the Supply review already computed
    util = kpis.utilisation_of(plan({"2026-01-01": 40, "2026-02-01": 55}), PRODUCTS, cap)
    assert kpis.utilisation_kpi(util, None, None, None, hist).value == pytest.approx(1.10)
    assert kpis.utilisation_kpi(None, plan({"2026-01-01": 1}), PRODUCTS, None).missing_table == "capacity"


def _peaks_at_full_grain(history, products, capacity) -> pd.DataFrame:
    """The utilisation of actuals as computed before issue 15: every sku × region × family row, with the family names."""
    h = actuals.normalise_history(history)
    h = h[h["period"].isin(actuals.month_starts(h["period"].max(), kpis.TREND_POINTS))]
    return kpis.peak_utilisation(kpis.utilisation_of(h, products, capacity, units="quantity"))


def test_utilisation_of_actuals_per_sku_and_month_equals_the_full_grain():
    t = demo.generate()
    sales, prod, cap = t["sales"], t["products"], t["capacity"]
    full = _peaks_at_full_grain(sales, prod, cap)
    assert len(full) == 12
    # without a forward plan the value is the actuals' peak: value, note and trend as at the full grain
    k = kpis.utilisation_kpi(None, None, prod, cap, sales)
    top = full.loc[full["utilisation"].idxmax()]
    assert k.value == pytest.approx(float(top["utilisation"]), rel=1e-12)
    assert f"peak {top['resource']} in {pd.Timestamp(top['period']):%b %Y}" in k.note
    assert k.trend["period"].tolist() == full["period"].tolist()
    assert k.trend["value"].to_numpy() == pytest.approx(full["utilisation"].to_numpy(), rel=1e-12)
    # supply.utilisation without the family names: every other column the same
    h = actuals.normalise_history(sales)
    load = supply.required_load(h.rename(columns={"quantity": "units"}), prod)
    a, b = supply.utilisation(load, cap), supply.utilisation(load, cap, top_families=False)
    assert (b["top_families"] == "").all() and (a["top_families"] != "").any()
    pd.testing.assert_frame_equal(a.drop(columns="top_families"), b.drop(columns="top_families"))


def _normalise_before(history: pd.DataFrame) -> pd.DataFrame:
    """actuals.normalise_history as it was before its fast path (issue 15)."""
    when = "period" if "period" in history.columns else "date"
    return pd.DataFrame({
        "sku": history["sku"].astype(str).to_numpy(),
        "region": history["region"].astype(object).where(history["region"].notna(), "All").astype(str).to_numpy(),
        "family": history["family"].astype(object).where(history["family"].notna(), history["sku"])
        .astype(str).to_numpy(),
        "period": period_start(history[when]).to_numpy(),
        "quantity": pd.to_numeric(history["quantity"], errors="coerce").fillna(0.0).astype(float).to_numpy(),
        "revenue": pd.to_numeric(history["revenue"], errors="coerce").astype(float).to_numpy(),
    })


def test_normalise_history_is_as_before_and_the_same_when_normalised_again():
    t = demo.generate()
    odd = pd.DataFrame({"date": [ms("2026-01-15"), ms("2026-02-03"), ms("2026-02-09")], "sku": ["a", 7, "c"],
                        "region": ["N", None, np.nan], "family": [None, "F", "G"],
                        "quantity": [1.0, np.nan, 3.0], "revenue": [np.nan, 2.0, 3.0]})
    as_str = odd.assign(sku=odd["sku"].astype(str), region=pd.Series(["N", "S", "E"], dtype="str"))
    for frame in (t["sales"], odd, as_str):
        once = actuals.normalise_history(frame)
        pd.testing.assert_frame_equal(once, _normalise_before(frame), check_dtype=False)
        assert [str(d) for d in once.dtypes] == ["str", "str", "str", "datetime64[us]", "float64", "float64"]
        pd.testing.assert_frame_equal(actuals.normalise_history(once), once)


# -- revenue vs plan and gross margin ------------------------------------------------------------
def test_revenue_vs_plan_hand_worked():
    # annual plan 2026: 1,000 a month → 12,000. Actuals Jan–Jun: 92 units of a at 10 = 920 a month → 5,520.
    # consensus Jul–Dec: 100 units a month at unit_price 10 → 6,000. Outlook 11,520 → (11,520 − 12,000)/12,000 = −4%
    prod = pd.DataFrame({"sku": ["a"], "family": ["F"], "unit_price": [10.0], "unit_cost": [6.0]})
    months = pd.date_range("2026-01-01", periods=12, freq="MS")
    budget = pd.DataFrame({"period": months, "family": "F", "sku": None, "region": None, "volume_plan": 100.0,
                           "revenue_plan": 1000.0, "margin_plan": 400.0})
    hist = pd.DataFrame({"period": months[:6], "sku": "a", "region": "N", "family": "F", "quantity": 92.0,
                         "revenue": 920.0})
    cons = plan({m.strftime("%Y-%m-%d"): 100.0 for m in months[6:]})
    k = kpis.revenue_vs_plan_kpi(budget, hist, cons, prod)
    assert k.value == pytest.approx(-0.04) and k.status == "amber"  # ≥ −5% amber, < 0 not green
    # trend: (920 − 1,000)/1,000 = −8% for each month with actuals
    assert k.trend["value"].tolist() == pytest.approx([-0.08] * 6)
    assert kpis.revenue_vs_plan_kpi(None, hist, cons, prod).missing_table == "plan"
    assert kpis.revenue_vs_plan_kpi(budget, hist, None, prod).missing_table == "forecast"


def test_gross_margin_hand_worked():
    # a sells at 9 (list price 10), costs 6: (9 − 6)/9 = 33.3% → amber (≥ 30%, < 35%)
    prod = pd.DataFrame({"sku": ["a", "b"], "family": ["F", "F"], "unit_price": [10.0, 5.0], "unit_cost": [6.0, None]})
    months = pd.date_range("2026-01-01", periods=3, freq="MS")
    hist = pd.DataFrame({"period": months, "sku": "a", "region": "N", "family": "F", "quantity": 10.0,
                         "revenue": 90.0})
    k = kpis.gross_margin_kpi(hist, prod)
    assert k.value == pytest.approx(1 / 3) and k.status == "amber" and len(k.trend) == 3
    # a sku sold without a unit_cost: no margin on half the data
    hist_b = pd.concat([hist, hist.assign(sku="b", revenue=50.0)], ignore_index=True)
    k = kpis.gross_margin_kpi(hist_b, prod)
    assert k.status == "missing" and k.missing_table == "products" and "no unit_cost" in k.note
    assert kpis.gross_margin_kpi(None, prod).missing_table == "sales"


# -- the scorecard -----------------------------------------------------------------------------------
def test_empty_scorecard_says_what_each_kpi_needs():
    cards = kpis.scorecard(ScorecardInputs())
    assert [k.key for k in cards] == list(kpis.KPI_KEYS)
    assert all(k.status == "missing" and k.value is None for k in cards)
    needs = {k.key: k.missing_table for k in cards}
    assert needs == {"forecast_accuracy": "forecast", "bias": "forecast", "otif": "orders", "order_fill_rate": "orders",
                     "inventory_turns": "inventory", "days_of_supply": "inventory",
                     "capacity_utilisation": "capacity", "revenue_vs_plan": "plan", "gross_margin_pct_12m": "sales"}
    assert all(k.missing_message.startswith("needs the ") for k in cards)


def test_by_status_groups_labels_in_scorecard_order():
    cards = [kpis.make_kpi("otif", 0.91), kpis.make_kpi("order_fill_rate", 0.99), kpis.make_kpi("revenue_vs_plan", -0.2),
             kpis.make_kpi("capacity_utilisation", 1.2), kpis.make_kpi("bias", None)]
    grouped = kpis.by_status(cards)
    assert grouped == {"green": ["Fill rate (units)"], "amber": ["OTIF"],
                       "red": ["Revenue vs annual plan", "Capacity utilisation (peak)"], "missing": ["Forecast bias"]}
    assert kpis.by_status([]) == {s: [] for s in kpi_targets.STATUSES}


def demo_inputs() -> tuple[dict[str, pd.DataFrame], ScorecardInputs]:
    """The demo company's frames, with a seasonal-naive forecast for the backtest points and the forward plan."""
    t = demo.generate()
    h = actuals.normalise_history(t["sales"])
    last = h["period"].max()
    series = h.groupby(["sku", "region", "family", "period"], as_index=False)["quantity"].sum()
    recent = series[series["period"] > last - pd.DateOffset(months=12)]
    cons = pd.concat([recent.assign(period=recent["period"] + pd.DateOffset(months=12 * y)) for y in (1, 2)])
    cons = cons.rename(columns={"quantity": "units"})
    naive = series.assign(period=series["period"] + pd.DateOffset(months=12)).rename(columns={"quantity": "forecast"})
    pts = recent.merge(naive, on=["sku", "region", "family", "period"], how="left").fillna({"forecast": 0.0})
    pts = pts.rename(columns={"quantity": "actual"})
    return t, ScorecardInputs(orders=t["orders"], inventory=t["inventory"], products=t["products"],
                              history=t["sales"], accuracy_points=pts, consensus=cons, capacity=t["capacity"],
                              budget=t["plan"])


def test_scorecard_on_the_demo_company():
    t, inputs = demo_inputs()
    cards = {k.key: k for k in kpis.scorecard(inputs)}
    assert list(cards) == list(kpis.KPI_KEYS)
    assert cards["otif"].value == pytest.approx(0.91, abs=0.01)
    for k in cards.values():
        assert isinstance(k, KPI)
        assert k.status in ("green", "amber", "red"), (k.key, k.note)
        assert k.value is not None and math.isfinite(k.value) and k.missing_table is None
        assert 1 <= len(k.trend) <= 12, k.key
        assert list(k.trend.columns) == ["period", "value"] and k.formula
    assert cards["revenue_vs_plan"].value < 0  # the demo has a revenue gap to the annual plan
    assert 0 < cards["order_fill_rate"].value <= 1 and cards["order_fill_rate"].value >= cards["otif"].value
    frame = kpis.as_frame(list(cards.values()))
    assert frame["key"].tolist() == list(kpis.KPI_KEYS) and not frame["value"].isna().any()


def test_scorecard_from_a_workspace_with_the_demo(workspace):
    company.reset_to_demo(workspace)
    kpis.save_targets(workspace, {"otif": {"green": 0.90, "amber": 0.85}})
    inputs = kpis.inputs_from_workspace(workspace)
    cards = {k.key: k for k in kpis.scorecard(inputs)}
    assert cards["otif"].value == pytest.approx(0.91, abs=0.01) and cards["otif"].status == "green"
    assert cards["inventory_turns"].status != "missing" and cards["gross_margin_pct_12m"].status != "missing"
    assert cards["forecast_accuracy"].missing_table == "forecast"  # no backtest passed in
    assert cards["days_of_supply"].missing_table == "forecast"


# -- no green without evidence ---------------------------------------------------------------------------
def test_a_kpi_without_its_table_is_not_checked_and_says_what_to_load():
    o, f = kpis.service_kpis(None)
    assert o.status == "missing" and o.not_checked_text == "load the orders table"
    assert kpis.turns_kpi(None, None, None).not_checked_text == "load the inventory table"
    assert kpis.utilisation_kpi(None, None, None, None).not_checked_text == "load the capacity table"
    assert kpis.gross_margin_kpi(None, None).not_checked_text == "load the sales table"
    acc, _ = kpis.accuracy_kpis(None)
    assert acc.not_checked_text.startswith("needs a forecast backtest")  # not a table: the reason
    assert kpis.make_kpi("otif", 0.99).not_checked_text == ""


def _coverage(capacity=(45, 45), inventory=(45, 45), prices=(45, 45), annual=(3, 3)):
    from sop_core.planning import coverage

    def cov(check, seen, noun="sku", why="are not in the products table", need="products"):
        checked, total = seen
        return coverage.Coverage(check, checked, total, noun=noun,
                                 reasons=((why, total - checked),) if checked < total else (),
                                 needs=(need,) if checked < total else ())
    return coverage.PlanCoverage(
        capacity=cov("capacity", capacity, why="have no resource", need="products (resource, hours_per_unit)"),
        inventory=cov("inventory", inventory, why="have no stock record in the inventory table", need="inventory"),
        prices=cov("prices", prices, why="have no unit_price", need="products (unit_price)"),
        annual_plan=cov("annual plan", annual, noun="family", why="have no revenue_plan", need="plan (revenue_plan)"))


def test_kpis_whose_check_saw_nothing_of_the_plan_are_not_checked_never_on_target():
    """Capacity of another data set: utilisation 0% would be 'on target' — with nothing loaded it is not checked."""
    cards = [kpis.make_kpi("capacity_utilisation", 0.0, note="peak R1"), kpis.make_kpi("days_of_supply", 60.0),
             kpis.make_kpi("inventory_turns", 8.0), kpis.make_kpi("revenue_vs_plan", 0.02),
             kpis.make_kpi("otif", 0.99)]
    assert [k.status for k in cards] == ["green"] * 5
    blind = kpis.with_coverage(cards, _coverage(capacity=(0, 45), inventory=(0, 45), prices=(0, 45)))
    by = {k.key: k for k in blind}
    for key in ("capacity_utilisation", "days_of_supply", "inventory_turns", "revenue_vs_plan"):
        assert by[key].status == "missing" and by[key].value is None and by[key].trend.empty, key
    assert by["capacity_utilisation"].not_checked_text == (
        "Load vs capacity: not checked — load products (resource, hours_per_unit) for these skus "
        "(45 skus: 45 have no resource).")
    assert by["revenue_vs_plan"].not_checked_text.startswith("Value in money: not checked — load products (unit_price)")
    assert by["otif"].status == "green"  # orders are not a plan check
    no_plan = {k.key: k for k in kpis.with_coverage(cards, _coverage(annual=(0, 3)))}
    assert no_plan["revenue_vs_plan"].status == "missing"
    assert no_plan["revenue_vs_plan"].not_checked_text.startswith("Comparison with the annual plan: not checked")


def test_kpis_whose_check_saw_part_of_the_plan_say_how_much():
    cards = kpis.with_coverage([kpis.make_kpi("capacity_utilisation", 0.8, note="peak R1 in Mar 2027")],
                               _coverage(capacity=(12, 45)))
    assert cards[0].status == "green" and cards[0].note == "peak R1 in Mar 2027"
    assert cards[0].coverage == "Load vs capacity: checked 12 of 45 skus"  # the tile says so beside the status
    assert kpis.with_coverage(cards, None) == cards
    assert kpis.with_coverage([kpis.make_kpi("capacity_utilisation", 0.8)], _coverage())[0].coverage == ""

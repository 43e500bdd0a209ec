"""The plan assembly: scenario arithmetic on a hand-made company, comparison, and the demo company end to end.

Hand-made company, Jan-Mar 2027, no sales history (so the outlook year is 2027 and is all plan):
  A  family F1, region N 80 + S 20 = 100 units/month, price 10, cost 6,  R1, 1 h/unit
  B  family F1, region N 50 units/month,               price 20, cost 12, R1, 1 h/unit
  C  family F2, region N 200 units/month,              price 5,  cost 2,  R2, 0.5 h/unit
  R1 160 h/month (load 150: 94%), R2 1000 h/month. On hand: C 100 units. Safety stock 0.
  Per month: F1 revenue 2000, F2 1000; COGS 1600. Horizon: revenue 9000, COGS 4800, margin 4200.
  Annual plan 2027: F1 6000, F2 3000 (no gap at baseline).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sop_core.demand import consensus, history
from sop_core.intake import company
from sop_core.planning import finance, inventory, plan, scenarios, supply
from sop_core.planning.plan import PlanInputs
from sop_core.store.workspace import Workspace, frame_sha256

JAN, FEB, MAR = (pd.Timestamp(f"2027-0{m}-01") for m in (1, 2, 3))
MONTHS = (JAN, FEB, MAR)

PRODUCTS = pd.DataFrame({
    "sku": ["A", "B", "C"], "description": None, "family": ["F1", "F1", "F2"], "category": None,
    "unit_price": [10.0, 20.0, 5.0], "unit_cost": [6.0, 12.0, 2.0], "resource": ["R1", "R1", "R2"],
    "hours_per_unit": [1.0, 1.0, 0.5], "lead_time_weeks": [4.0, 4.0, 4.0], "safety_stock_units": [0.0, 0.0, 0.0],
})


def make_inputs(**kw) -> PlanInputs:
    """The hand-made company's inputs (keyword arguments replace fields)."""
    rows = [(s, r, f, p, u) for p in MONTHS
            for s, r, f, u in (("A", "N", "F1", 80), ("A", "S", "F1", 20), ("B", "N", "F1", 50), ("C", "N", "F2", 200))]
    stat = pd.DataFrame(rows, columns=["sku", "region", "family", "period", "value"])
    cons = consensus.apply_overrides(stat)
    capacity = pd.DataFrame({"period": [p for p in MONTHS for _ in (1, 2)], "resource": ["R1", "R2"] * 3,
                             "available_hours": [160.0, 1000.0] * 3, "capacity_units": np.nan})
    inv = pd.DataFrame({"date": [pd.Timestamp("2026-12-31")] * 3, "sku": ["A", "B", "C"], "location": ["DC"] * 3,
                        "on_hand": [0.0, 0.0, 100.0]})  # A and B counted, with nothing in stock
    supply_table = pd.DataFrame({"date": pd.Series(dtype="datetime64[us]"), "sku": pd.Series(dtype=object),
                                 "quantity": pd.Series(dtype=float), "source": pd.Series(dtype=object)})
    budget = pd.DataFrame({"period": [JAN, JAN], "family": ["F1", "F2"], "sku": None, "region": None,
                           "volume_plan": [450.0, 600.0], "revenue_plan": [6000.0, 3000.0], "margin_plan": np.nan})
    hist = pd.DataFrame(columns=["series_id", "sku", "region", "family", "period", "quantity", "revenue"])
    fields = dict(consensus=cons, products=PRODUCTS, inventory=inv, capacity=capacity, supply=supply_table,
                  budget=budget, history=hist)
    fields.update(kw)
    return PlanInputs(**fields)


def family_revenue(frame: pd.DataFrame, family: str) -> float:
    """Σ revenue of a family in a valued plan frame."""
    return float(frame.loc[frame["family"] == family, "revenue"].sum())


UP = {"demand": [{"family": "F1", "pct": 10}]}
CUT = {"capacity": [{"resource": "R1", "pct": -20}]}


@pytest.fixture(scope="module")
def base() -> plan.PlanResult:
    return plan.evaluate(make_inputs())


@pytest.fixture(scope="module")
def up() -> plan.PlanResult:
    """F1 demand +10%."""
    return plan.evaluate_scenario(make_inputs(), UP)


@pytest.fixture(scope="module")
def cut() -> plan.PlanResult:
    """R1 at 80% capacity."""
    return plan.evaluate_scenario(make_inputs(), CUT)


# -- the baseline ------------------------------------------------------------------------------------
def test_baseline_kpis_by_hand(base: plan.PlanResult) -> None:
    k = base.kpis
    assert base.year == 2027
    assert list(k) == list(plan.KPI_KEYS)
    assert k["revenue"] == pytest.approx(9000.0) and k["revenue_unconstrained"] == pytest.approx(9000.0)
    assert k["gross_margin"] == pytest.approx(4200.0)
    assert k["gross_margin_pct"] == pytest.approx(4200 / 9000)
    assert k["plan_revenue"] == 9000.0 and k["gap_to_plan"] == pytest.approx(0.0)
    assert k["horizon_revenue"] == pytest.approx(9000.0)
    assert k["units_demand"] == 1050.0 and k["units_short"] == 0.0 and k["plan_fill_rate"] == 1.0
    assert k["stockouts"] == 0.0 and k["revenue_at_risk"] == 0.0
    assert k["inventory_value_end"] == pytest.approx(200.0) and k["inventory_value_avg"] == pytest.approx(200.0)
    assert k["peak_utilisation"] == pytest.approx(150 / 160)
    assert k["overloaded_resource_months"] == 0.0


def test_the_views_of_the_pages_are_the_same_frames(base: plan.PlanResult) -> None:
    assert base.supply_review.constrained is base.constrained
    assert base.inventory_view.projection is base.projection
    fv = base.finance_view
    assert fv.year == 2027 and fv.bridge is base.bridge
    assert fv.bridge["value"].iloc[-1] == pytest.approx(base.kpis["revenue"])  # bridge ends at the outlook


# -- the pages' view ---------------------------------------------------------------------------------
def test_build_view_of_the_baseline_by_hand() -> None:
    v = plan.build_view(make_inputs())
    assert v.kpis == plan.evaluate(make_inputs()).kpis and v.result.year == 2027 and v.seconds >= 0
    assert v.settings == {"prebuild_months": 2, "service_level": 0.95, "excess_cover_months": 6.0}
    assert list(zip(v.budget_monthly["family"], v.budget_monthly["period"], v.budget_monthly["revenue_plan"])) == \
        [("F1", JAN, 6000.0), ("F2", JAN, 3000.0)]
    # R1 150 of 160 h every month is the peak (first month on a tie); nothing overloaded -> the 5 tightest
    assert v.peak == {"resource": "R1", "period": JAN, "utilisation": pytest.approx(150 / 160)}
    assert v.util_matrix.shape == (2, 3) and v.tight["resource"].tolist() == ["R1"] * 3 + ["R2"] * 2
    assert v.gaps.empty and v.unloaded_note is None and v.shortage_revenue == pytest.approx(0.0)
    assert v.exception_counts["stockouts"] == 0.0 and list(v.exception_rows.columns) == list(
        inventory.EXCEPTION_TABLE_COLUMNS)
    total = v.family_table.set_index("family").loc[finance.TOTAL]
    assert total["outlook_revenue"] == pytest.approx(9000.0) and total["plan_revenue"] == 9000.0
    assert total["margin_pct"] == pytest.approx(4200 / 9000)
    assert np.isnan(v.plan_margin_pct)  # the annual plan gives no margin_plan
    assert v.outlook_years == (2027,)


def test_build_view_of_a_capacity_cut_shows_the_gap() -> None:
    v = plan.build_view(plan.apply_scenario(make_inputs(), CUT))
    # R1 150 of 128 h in each of the 3 months: all three overloaded, F1 short 22 units a month
    assert v.tight["resource"].tolist() == ["R1"] * 3 and v.tight["overloaded"].all()
    assert v.gaps.index.tolist() == ["F1"] and v.gaps.loc["F1", "Total"] == pytest.approx(3 * 22.0)
    assert v.shortage_revenue == pytest.approx(44 * 10 + 22 * 20)
    assert v.exception_counts["stockouts"] == 2.0 and v.exception_counts["revenue_at_risk"] == pytest.approx(880.0)


def test_skus_without_a_stock_record_are_not_checked_never_exceptions() -> None:
    only_c = pd.DataFrame({"date": [pd.Timestamp("2026-12-31")], "sku": ["C"], "location": ["DC"], "on_hand": [100.0]})
    r = plan.evaluate_scenario(make_inputs(inventory=only_c), CUT)
    # A and B would run out (the capacity cut), but nobody counted their stock: no stockout is claimed
    assert r.kpis["stockouts"] == 0.0 and r.exceptions.empty
    assert r.coverage.inventory.state == "partial" and r.coverage.inventory.text == (
        "Stock projection: checked 1 of 3 skus — 2 have no stock record in the inventory table; "
        "load inventory for the rest.")
    assert r.coverage.capacity.complete and r.coverage.prices.complete and r.coverage.annual_plan.complete
    other = pd.DataFrame({"date": [pd.Timestamp("2026-12-31")], "sku": ["ZZ"], "location": ["DC"], "on_hand": [9e9]})
    r = plan.evaluate(make_inputs(inventory=other))  # stock of another company's sku: no excess claimed either
    assert r.exceptions.empty and r.coverage.inventory.state == "none"


def test_a_plan_no_check_could_see_says_not_checked() -> None:
    derived = PRODUCTS.assign(unit_price=np.nan, unit_cost=np.nan, resource=None, hours_per_unit=np.nan,
                              derived=True)  # no products table: made from sales without revenue
    r = plan.evaluate(make_inputs(products=derived, capacity=make_inputs().capacity.iloc[0:0],
                                  inventory=make_inputs().inventory.iloc[0:0], budget=make_inputs().budget.iloc[0:0]))
    cov = r.coverage
    assert [c.state for c in (cov.capacity, cov.inventory, cov.prices, cov.annual_plan)] == ["none"] * 4
    assert cov.capacity.text == ("Load vs capacity: not checked — load capacity and products (resource, "
                                 "hours_per_unit) for these skus (3 skus: no capacity and no products tables loaded).")
    assert cov.annual_plan.text == ("Comparison with the annual plan: not checked — load plan (revenue_plan for 2027) for these families "
                                    "(2 families: no plan table loaded).")
    assert cov.prices.text == ("Value in money: not checked — load products (unit_price) for these skus "
                               "(3 skus: 3 have no unit_price).")
    assert r.kpis["overloaded_resource_months"] == 0.0  # the count is 0, but the check never ran: coverage says so


def test_outlook_years_are_the_full_years_with_an_annual_plan() -> None:
    months_2026 = pd.date_range("2026-01-01", "2026-12-01", freq="MS")
    hist = pd.DataFrame({"series_id": "A | N", "sku": "A", "region": "N", "family": "F1", "period": months_2026,
                         "quantity": 1.0, "revenue": 10.0})
    inputs = make_inputs(history=hist)
    budget = inputs.budget
    both = pd.concat([budget, budget.assign(period=pd.Timestamp("2026-06-01"))], ignore_index=True)
    # 2026: all actuals and in the annual plan; 2027: only Jan–Mar planned, listed as the requested year
    assert plan.outlook_years(make_inputs(history=hist, budget=both), 2027) == (2026, 2027)
    assert plan.outlook_years(inputs, 2027) == (2027,)  # no annual plan for 2026
    assert plan.outlook_years(make_inputs(history=hist.iloc[1:], budget=both), 2027) == (2027,)  # Jan 2026 missing


# -- scenario arithmetic ----------------------------------------------------------------------------
def test_demand_up_10pct_on_one_family_is_capped_by_capacity(base: plan.PlanResult, up: plan.PlanResult) -> None:
    r = up
    # unconstrained: F1 moves by exactly +10%, F2 not at all
    assert family_revenue(r.valued_plan, "F1") == pytest.approx(1.10 * family_revenue(base.valued_plan, "F1"))
    assert family_revenue(r.valued_plan, "F2") == pytest.approx(family_revenue(base.valued_plan, "F2"))
    # constrained: R1 needs 165 h of 160 each month, so F1 gets 160/165 of its demand: +400, not +600
    f1_before = family_revenue(base.valued_constrained, "F1")
    f1_after = family_revenue(r.valued_constrained, "F1")
    assert f1_after == pytest.approx(6600.0 * 160 / 165)
    assert 0 < f1_after - f1_before < 0.10 * f1_before
    k = r.kpis
    assert k["revenue_unconstrained"] == pytest.approx(9600.0)
    assert k["revenue"] == pytest.approx(9000.0 + 400.0)
    assert k["units_short"] == pytest.approx(15.0)
    assert k["peak_utilisation"] == pytest.approx(165 / 160) and k["overloaded_resource_months"] == 3.0


def test_price_down_3pct_moves_revenue_and_margin(base: plan.PlanResult) -> None:
    r = plan.evaluate_scenario(make_inputs(), {"price": [{"pct": -3}]})
    k, b = r.kpis, base.kpis
    assert k["revenue"] == pytest.approx(0.97 * b["revenue"])
    assert k["gross_margin"] == pytest.approx(b["gross_margin"] - 0.03 * b["revenue"])  # COGS unchanged
    assert k["gross_margin_pct"] == pytest.approx((0.97 * 9000 - 4800) / (0.97 * 9000))
    assert k["gap_to_plan"] == pytest.approx(-270.0) and k["gap_to_plan_pct"] == pytest.approx(-0.03)
    assert k["units_demand"] == b["units_demand"]  # price changes no volume


def test_price_change_of_one_family_only() -> None:
    r = plan.evaluate_scenario(make_inputs(), {"price": [{"family": "F2", "pct": 10}, {"family": "F2", "pct": 10}]})
    assert family_revenue(r.valued_plan, "F2") == pytest.approx(3000.0 * 1.1 * 1.1)  # compounding
    assert family_revenue(r.valued_plan, "F1") == pytest.approx(6000.0)


def test_capacity_down_20pct_increases_units_short(base: plan.PlanResult, cut: plan.PlanResult) -> None:
    r = cut
    k = r.kpis
    assert base.kpis["units_short"] == 0.0
    assert k["units_short"] == pytest.approx(3 * (150 - 128))
    assert k["peak_utilisation"] == pytest.approx(150 / 128)
    # A and B run out: deepest shortage A 3 × 100 × 22/150 = 44 units × 10, B 3 × 50 × 22/150 = 22 × 20
    assert k["stockouts"] == 2.0 and k["revenue_at_risk"] == pytest.approx(440.0 + 440.0)
    assert k["revenue"] == pytest.approx(9000.0 - 44 * 10 - 22 * 20)


def test_capacity_change_limited_to_months() -> None:
    march = {"capacity": [{"resource": "R1", "pct": -20, "period_from": "2027-03", "period_to": "2027-03"}]}
    # March needs 150 h of 128: 22 missing; Jan and Feb have 10 h spare each to pre-build (prebuild_months 2)
    assert plan.evaluate_scenario(make_inputs(), march).kpis["units_short"] == pytest.approx(2.0)
    assert plan.evaluate_scenario(make_inputs(prebuild_months=1), march).kpis["units_short"] == pytest.approx(12.0)


def test_demand_change_by_region_and_months() -> None:
    inputs = plan.apply_scenario(make_inputs(), {"demand": [{"region": "N", "period_from": "2027-02",
                                                             "period_to": "2027-02", "pct": 50}]})
    c = inputs.consensus.set_index(["sku", "region", "period"])["consensus"]
    assert c[("A", "N", FEB)] == 120.0 and c[("B", "N", FEB)] == 75.0 and c[("C", "N", FEB)] == 300.0
    assert c[("A", "S", FEB)] == 20.0 and c[("A", "N", JAN)] == 80.0 and c[("A", "N", MAR)] == 80.0
    assert inputs.consensus["statistical"].sum() == make_inputs().consensus["statistical"].sum()


def test_scenario_overrides_then_demand_changes() -> None:
    changes = {"overrides": [{"family": "F1", "period_from": JAN, "period_to": JAN, "kind": "units", "value": 300}],
               "demand": [{"family": "F1", "pct": 10}]}
    c = plan.apply_scenario(make_inputs(), changes).consensus
    jan = c[(c["period"] == JAN) & (c["family"] == "F1")].set_index(["sku", "region"])["consensus"]
    # units override: F1 Jan total 300 split pro rata (A N 80, A S 20, B N 50 of 150), then +10%
    assert jan.sum() == pytest.approx(330.0)
    assert jan[("A", "N")] == pytest.approx(300 * 80 / 150 * 1.1)
    assert c.loc[c["period"] == JAN, "overridden"].tolist() == [True, True, True, False]  # C is out of scope


def test_apply_scenario_copies_never_edits_inputs() -> None:
    inputs = make_inputs()
    before = {n: frame_sha256(getattr(inputs, n)) for n in ("consensus", "products", "capacity")}
    key = inputs.cache_key()
    changed = plan.apply_scenario(inputs, {"demand": [{"pct": 10}], "price": [{"pct": -3}],
                                           "capacity": [{"pct": -20}]})
    assert {n: frame_sha256(getattr(inputs, n)) for n in before} == before
    assert inputs.cache_key() == key != changed.cache_key()
    assert plan.apply_scenario(inputs, None) is inputs


def test_evaluate_is_a_pure_function_of_its_inputs(base: plan.PlanResult) -> None:
    again = plan.evaluate(make_inputs())
    assert again.kpis == base.kpis
    pd.testing.assert_frame_equal(again.projection, base.projection)
    assert make_inputs().cache_key() == make_inputs().cache_key()


def test_a_stored_scenario_evaluates_like_its_changes(workspace: Workspace, up: plan.PlanResult) -> None:
    sc = scenarios.create(workspace, "F1 +10%", UP, "alice")
    r = plan.evaluate_scenario(make_inputs(), sc)
    assert (r.scenario_id, r.scenario_name) == (sc.scenario_id, "F1 +10%")
    assert r.kpis == up.kpis


def test_an_empty_plan_is_a_clear_error() -> None:
    empty = make_inputs().consensus.iloc[0:0]
    with pytest.raises(ValueError, match="the plan is empty"):
        plan.evaluate(make_inputs(consensus=empty))


def test_a_plain_units_plan_is_accepted() -> None:
    units = make_inputs().consensus[["sku", "region", "family", "period", "consensus"]].rename(
        columns={"consensus": "units"})
    r = plan.evaluate(make_inputs(consensus=plan.as_consensus(units)))
    assert r.kpis["revenue"] == pytest.approx(9000.0)


# -- comparison ----------------------------------------------------------------------------------
def test_compare_lines_up_kpis_with_deltas(base: plan.PlanResult, up: plan.PlanResult,
                                           cut: plan.PlanResult) -> None:
    df = plan.compare({"Baseline": base, "F1 +10%": up, "R1 80%": cut})
    assert list(df.columns) == ["Baseline", "F1 +10%", "R1 80%", "Δ F1 +10%", "Δ R1 80%"]
    assert list(df.index) == list(plan.KPI_KEYS) and df.index.name == "kpi"
    assert df.loc["revenue", "Δ F1 +10%"] == pytest.approx(400.0)
    assert df.loc["units_short", "Δ R1 80%"] == pytest.approx(66.0)
    with pytest.raises(ValueError, match="baseline"):
        plan.compare({"F1 +10%": up})


def test_compare_series_for_charts(base: plan.PlanResult, up: plan.PlanResult) -> None:
    results = {"Baseline": base, "F1 +10%": up}
    rev = plan.compare_series(results, "revenue")
    assert list(rev.columns) == ["scenario", "period", "value"]
    assert rev["scenario"].tolist() == ["Baseline"] * 3 + ["F1 +10%"] * 3
    assert rev.groupby("scenario")["value"].sum().to_dict() == pytest.approx(
        {"Baseline": 9000.0, "F1 +10%": 9400.0})
    util = plan.compare_series(results, "utilisation")
    assert util.loc[util["scenario"] == "F1 +10%", "value"].tolist() == pytest.approx([165 / 160] * 3)
    r2 = plan.compare_series(results, "utilisation", resource="R2")
    assert r2["value"].tolist() == pytest.approx([0.1] * 6)
    units = plan.compare_series(results, "units")
    demand = plan.compare_series(results, "demand")
    assert demand["value"].sum() == pytest.approx(1050 + 1095)  # F1 +10%: 150 × 3 × 10% = 45 more
    assert units["value"].sum() == pytest.approx(1050 + 1095 - 15)  # of which 15 cannot be made
    assert len(plan.compare_series(results, "inventory")) == 6
    with pytest.raises(ValueError, match="unknown series"):
        plan.compare_series(results, "profit")


def test_bottleneck_is_the_resource_with_the_highest_month_of_any_plan(base: plan.PlanResult,
                                                                      up: plan.PlanResult) -> None:
    assert plan.bottleneck({"Baseline": base, "F1 +10%": up}) == "R1"  # R1 at 94% and 103%, R2 at 10%
    util = pd.DataFrame({"period": [JAN, FEB, MAR], "resource": ["R1", "R2", "R3"],
                         "utilisation": [np.nan, np.inf, 0.5]})  # no capacity: NaN / inf never the bottleneck
    odd = dataclasses.replace(base, utilisation=util)
    assert plan.bottleneck({"Baseline": odd}) == "R3"
    assert plan.bottleneck({"Baseline": odd, "F1 +10%": up}) == "R1"
    assert plan.bottleneck({"Baseline": dataclasses.replace(base, utilisation=util.iloc[0:0])}) is None


def test_evaluate_many_names_repeats_apart(workspace: Workspace) -> None:
    a = scenarios.create(workspace, "Same", {"price": [{"pct": 1}]}, "alice")
    b = scenarios.create(workspace, "Same", {"price": [{"pct": 2}]}, "alice")
    c = scenarios.create(workspace, "Same", {"price": [{"pct": 3}]}, "alice")
    out = plan.evaluate_many(make_inputs(), [a, b, c])
    assert list(out) == ["Baseline", "Same", "Same (2)", "Same (3)"]
    assert out["Same (3)"].kpis["revenue"] == pytest.approx(9000 * 1.03)


# -- the demo company ----------------------------------------------------------------------------
def seasonal_naive(hist: pd.DataFrame, horizon: int = 18) -> pd.DataFrame:
    """Statistical forecast frame: each series' same month of the last year (0 where there was none)."""
    last = hist["period"].max()
    y = hist.set_index(["sku", "region", "period"])["quantity"]
    rows = []
    for (sku, region, family), _ in hist.groupby(["sku", "region", "family"]):
        for k in range(1, horizon + 1):
            p = last + pd.DateOffset(months=k)
            src = p - pd.DateOffset(months=12 * ((k - 1) // 12 + 1))
            rows.append((f"{sku} | {region}", sku, region, family, p, float(y.get((sku, region, src), 0.0))))
    stat = pd.DataFrame(rows, columns=["series_id", "sku", "region", "family", "period", "value"])
    return stat.assign(lower=stat["value"], upper=stat["value"], model="seasonal naive")


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory):
    ws = Workspace(Path(tmp_path_factory.mktemp("demo")) / "ws.duckdb")
    company.reset_to_demo(ws)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def demo_consensus(demo_ws: Workspace) -> pd.DataFrame:
    return consensus.apply_overrides(seasonal_naive(history.demand_history(demo_ws)))


def test_demo_company_kpis(demo_ws: Workspace, demo_consensus: pd.DataFrame) -> None:
    inputs = PlanInputs.from_workspace(demo_ws, demo_consensus)
    r = plan.evaluate(inputs)
    k = r.kpis
    last = history.last_actual_period(inputs.history)
    assert r.year == (last + pd.DateOffset(months=1)).year
    assert set(k) == set(plan.KPI_KEYS)
    assert all(np.isfinite(v) for v in k.values())
    price = inputs.products.set_index("sku")["unit_price"]
    # revenue = Σ units × price, over the horizon and for the outlook year
    assert k["horizon_revenue_unconstrained"] == pytest.approx(
        float((demo_consensus["consensus"] * demo_consensus["sku"].map(price)).sum()))
    c = r.constrained
    assert k["horizon_revenue"] == pytest.approx(float((c["constrained_units"] * c["sku"].map(price)).sum()))
    h = inputs.history
    actual = float(h.loc[(h["period"].dt.year == r.year) & (h["period"] <= last), "revenue"].sum())
    rest = c[(c["period"].dt.year == r.year) & (c["period"] > last)]
    assert k["revenue"] == pytest.approx(actual + float((rest["constrained_units"] * rest["sku"].map(price)).sum()))
    # the constrained plan never exceeds demand
    assert (c["constrained_units"] <= c["units"] + 1e-9).all()
    assert k["horizon_revenue"] <= k["horizon_revenue_unconstrained"] + 1e-6
    assert k["revenue"] <= k["revenue_unconstrained"] + 1e-6
    assert k["units_short"] == pytest.approx(k["units_demand"] - k["units_supplied"])
    assert k["plan_revenue"] > 0 and k["gap_to_plan"] == pytest.approx(k["revenue"] - k["plan_revenue"])


def test_demo_baseline_matches_the_pages_engines(demo_ws: Workspace, demo_consensus: pd.DataFrame) -> None:
    r = plan.evaluate(PlanInputs.from_workspace(demo_ws, demo_consensus))
    sr = supply.from_workspace(demo_ws, demo_consensus)
    pd.testing.assert_frame_equal(r.constrained, sr.constrained)
    pd.testing.assert_frame_equal(r.utilisation, sr.utilisation)
    iv = inventory.from_workspace(demo_ws, demo_consensus, constrained=sr.constrained)
    pd.testing.assert_frame_equal(r.projection, iv.projection)
    pd.testing.assert_frame_equal(r.exceptions, iv.exceptions)
    fv = finance.from_workspace(demo_ws, demo_consensus, constrained=sr.constrained)
    pd.testing.assert_frame_equal(r.vs_budget, fv.vs_budget)
    pd.testing.assert_frame_equal(r.bridge, fv.bridge)


def test_demo_scenario_never_changes_uploaded_data(demo_ws: Workspace, demo_consensus: pd.DataFrame) -> None:
    names = demo_ws.loaded_tables()
    before = {n: frame_sha256(demo_ws.table(n)) for n in names}
    fingerprint, loads = demo_ws.fingerprint(), demo_ws.scalar("SELECT count(*) FROM loads")
    sc = scenarios.create(demo_ws, "Peak squeeze", {"demand": [{"family": "Tents", "pct": 10}],
                                                    "price": [{"pct": -3}],
                                                    "capacity": [{"resource": "ASSY-2", "pct": -20}]}, "alice")
    assert sc.warnings == ()
    inputs = PlanInputs.from_workspace(demo_ws, demo_consensus)
    results = plan.evaluate_many(inputs, [sc])
    assert {n: frame_sha256(demo_ws.table(n)) for n in names} == before
    assert demo_ws.fingerprint() == fingerprint and demo_ws.scalar("SELECT count(*) FROM loads") == loads
    k0, k1 = results["Baseline"].kpis, results["Peak squeeze"].kpis
    assert k1["units_short"] > k0["units_short"]
    assert k1["peak_utilisation"] > k0["peak_utilisation"]
    df = plan.compare(results)
    assert df.loc["units_short", "Δ Peak squeeze"] == pytest.approx(k1["units_short"] - k0["units_short"])

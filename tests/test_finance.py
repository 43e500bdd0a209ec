"""Financial view: plan valued in money, outlook, gap to the annual plan and the bridge."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from apptest_support import demo_csv_dir

from sop_core.intake import company
from sop_core.planning import finance, supply

DEMO = demo_csv_dir()


def M(month: int, year: int = 2026) -> pd.Timestamp:
    """Month start."""
    return pd.Timestamp(year=year, month=month, day=1)


PRODUCTS = pd.DataFrame({
    "sku": ["A", "B", "C", "N"],
    "family": ["F1", "F1", "F2", "F2"],
    "unit_price": [5.0, 2.5, 30.0, None],
    "unit_cost": [3.0, 1.0, 20.0, None],
})


def test_revenue_is_units_times_price() -> None:
    plan = pd.DataFrame({"sku": ["A", "B", "A", "C"], "region": ["N", "N", "S", "N"],
                         "family": ["F1", "F1", "F1", "F2"], "period": [M(1)] * 4, "units": [10.0, 4.0, 2.0, 3.0]})
    v = finance.value_plan(plan, PRODUCTS).set_index("family")
    # F1: A (10 + 2) × 5 = 60, B 4 × 2.5 = 10 -> 70; cogs 12 × 3 + 4 × 1 = 40; margin 30 = 42.86 %
    assert v.loc["F1", "units"] == 16.0
    assert v.loc["F1", "revenue"] == 70.0
    assert v.loc["F1", "cogs"] == 40.0
    assert v.loc["F1", "gross_margin"] == 30.0
    assert v.loc["F1", "gross_margin_pct"] == pytest.approx(30 / 70)
    # F2: C 3 × 30 = 90, cogs 60
    assert v.loc["F2", "revenue"] == 90.0 and v.loc["F2", "gross_margin"] == 30.0


def test_units_without_price_are_counted_not_valued() -> None:
    plan = pd.DataFrame({"sku": ["C", "N"], "region": "N", "family": "F2", "period": [M(1)] * 2,
                         "units": [1.0, 7.0]})
    v = finance.value_plan(plan, PRODUCTS).iloc[0]
    assert v["revenue"] == 30.0 and v["unpriced_units"] == 7.0 and v["uncosted_units"] == 7.0
    assert np.isnan(v["gross_margin"]) and np.isnan(v["gross_margin_pct"])  # not a margin on half the data


def test_value_plan_of_the_constrained_units() -> None:
    c = pd.DataFrame({"sku": ["A"], "region": ["N"], "family": ["F1"], "period": [M(1)], "units": [10.0],
                      "constrained_units": [6.0]})
    assert finance.value_plan(c, PRODUCTS, units="constrained_units")["revenue"].item() == 30.0


def test_margin_pct_with_zero_revenue_is_nan() -> None:
    assert np.isnan(finance.margin_pct(0.0, 0.0))
    assert np.isnan(finance.margin_pct(0, 5))
    assert finance.margin_pct(200.0, 150.0) == pytest.approx(0.25)
    s = finance.margin_pct(pd.Series([100.0, 0.0]), pd.Series([60.0, 10.0]))
    assert s.iloc[0] == pytest.approx(0.4) and np.isnan(s.iloc[1])
    a = finance.margin_pct(np.array([0.0, 50.0]), np.array([1.0, 25.0]))
    assert np.isnan(a[0]) and a[1] == pytest.approx(0.5)


def test_outlook_is_actuals_to_date_plus_plan_for_the_rest_of_the_year() -> None:
    actuals = pd.DataFrame({
        "sku": ["A", "A", "A", "C", "A"],
        "region": "N",
        "family": ["F1", "F1", "F1", "F2", "F1"],
        "period": [M(12, 2025), M(1), M(3), M(2), M(4)],
        "quantity": [99.0, 10.0, 20.0, 1.0, 50.0],
        "revenue": [999.0, 48.0, None, 31.0, 250.0],
    })
    months = pd.date_range(M(2), M(12), freq="MS")  # the plan starts before the cut-off: those months are ignored
    plan = pd.DataFrame({"sku": "A", "region": "N", "family": "F1", "period": months, "units": 100.0})
    o = finance.outlook(actuals, plan, 2026, M(3), PRODUCTS)
    assert len(o) == 2 * 12  # every family × month of the year
    f1 = o[o["family"] == "F1"].set_index("period")
    assert (f1.loc[:M(3), "source"] == "actual").all() and (f1.loc[M(4):, "source"] == "plan").all()
    # F1 actuals: Jan 10 units / 48 revenue (actual); Feb nothing; Mar 20 units with no revenue -> 20 × 5 = 100
    assert f1.loc[M(1), "revenue"] == 48.0 and f1.loc[M(1), "list_revenue"] == 50.0
    assert f1.loc[M(2), "units"] == 0.0
    assert f1.loc[M(3), "revenue"] == 100.0
    # Apr–Dec from the plan (the April actual is after the cut-off): 9 × 100 units × 5 = 4,500
    assert f1.loc[M(4):, "units"].sum() == 900.0
    assert f1.loc[M(4):, "revenue"].sum() == 4500.0
    # the year: 30 + 900 units, 48 + 100 + 4,500 revenue; cogs 930 × 3
    assert f1["units"].sum() == 930.0
    assert f1["revenue"].sum() == 4648.0
    assert f1["cogs"].sum() == 2790.0
    assert f1["margin"].sum() == 4648.0 - 2790.0
    f2 = o[o["family"] == "F2"].set_index("period")
    assert f2["revenue"].sum() == 31.0 and f2["cogs"].sum() == 20.0


def test_vs_budget_family_rows_and_total() -> None:
    o = pd.DataFrame({"family": ["F1", "F1", "F2"], "period": [M(1), M(2), M(1)], "revenue": [60.0, 40.0, 90.0]})
    budget = pd.DataFrame({"period": [M(1), M(2), M(1), M(1, 2027)], "family": ["F1", "F1", None, "F1"],
                           "sku": [None, None, "C", None], "region": "N",
                           "revenue_plan": [50.0, 50.0, 120.0, 999.0]})
    v = finance.vs_budget(o, budget, 2026, PRODUCTS).set_index("family")
    # F1 100 vs 100: gap 0; F2 (budget by sku C -> F2) 90 vs 120: −30 = −25 %; total 190 vs 220: −30
    assert v.loc["F1", "gap"] == 0.0
    assert v.loc["F2", "gap"] == -30.0 and v.loc["F2", "gap_pct"] == pytest.approx(-0.25)
    assert v.loc["Total", "outlook_revenue"] == 190.0 and v.loc["Total", "plan_revenue"] == 220.0
    assert v.loc["Total", "is_total"] and not v.loc["F1", "is_total"]


# -- the Financials page's tables ---------------------------------------------------------------------
MONTHLY_BUDGET = pd.DataFrame({"period": [M(1), pd.Timestamp("2026-02-15"), M(1), M(1, 2027)],
                               "family": ["F1", "F1", None, "F1"], "sku": [None, None, "C", None], "region": "N",
                               "revenue_plan": [50.0, 50.0, 120.0, 999.0], "margin_plan": [20.0, None, 30.0, 1.0]})


def test_budget_monthly_per_family_and_month_of_the_year() -> None:
    b = finance.budget_monthly(MONTHLY_BUDGET, 2026, PRODUCTS)
    assert list(b.columns) == list(finance.BUDGET_MONTHLY_COLUMNS)
    # sku C's row goes to its family F2; 2027 is left out; Feb 15 is February
    assert list(zip(b["family"], b["period"], b["revenue_plan"])) == [("F1", M(1), 50.0), ("F2", M(1), 120.0),
                                                                      ("F1", M(2), 50.0)]
    assert b["volume_plan"].isna().all() and np.isnan(b["margin_plan"].iloc[2])
    assert finance.budget_monthly(MONTHLY_BUDGET.head(0), 2026).empty
    assert finance.budget_monthly(MONTHLY_BUDGET, 2025, PRODUCTS).empty


def test_monthly_outlook_against_the_annual_plan_for_a_family_or_all() -> None:
    o = pd.DataFrame({"family": ["F1", "F1", "F2", "F2"], "period": [M(1), M(2), M(1), M(3)],
                      "source": ["actual", "plan", "actual", "plan"], "revenue": [60.0, 40.0, 90.0, 10.0]})
    b = finance.budget_monthly(MONTHLY_BUDGET, 2026, PRODUCTS)
    every = finance.monthly_outlook(o, b)
    assert list(every.columns) == ["period", "source", "revenue", "plan_revenue"]
    assert every["period"].tolist() == [M(1), M(2), M(3)] and every["revenue"].tolist() == [150.0, 40.0, 10.0]
    assert every["plan_revenue"].tolist()[:2] == [170.0, 50.0] and np.isnan(every["plan_revenue"].iloc[2])
    f2 = finance.monthly_outlook(o, b, "F2")
    assert f2["revenue"].tolist() == [90.0, 10.0] and f2["plan_revenue"].iloc[0] == 120.0
    assert finance.monthly_outlook(o, b.head(0))["plan_revenue"].isna().all()


def test_family_finance_adds_margin_only_where_every_unit_is_priced_and_costed() -> None:
    o = pd.DataFrame({"family": ["F1", "F1", "F2", "F2"], "period": [M(1), M(2), M(1), M(1, 2027)],
                      "revenue": [60.0, 40.0, 90.0, 500.0], "cogs": [40.0, 20.0, 45.0, 1.0],
                      "unpriced_units": [0.0, 0.0, 5.0, 0.0], "uncosted_units": 0.0})
    vb = finance.vs_budget(o, MONTHLY_BUDGET, 2026, PRODUCTS)
    t = finance.family_finance(vb, o, 2026).set_index("family")
    assert list(t.columns) == ["outlook_revenue", "plan_revenue", "gap", "gap_pct", "margin_pct", "is_total"]
    assert t.loc["F1", "margin_pct"] == pytest.approx(0.4)  # (100 − 60) / 100
    assert np.isnan(t.loc["F2", "margin_pct"]) and np.isnan(t.loc[finance.TOTAL, "margin_pct"])  # F2 has unpriced units
    assert t.loc["F2", "gap"] == -30.0 and t.loc[finance.TOTAL, "is_total"]
    priced = finance.family_finance(vb, o.assign(unpriced_units=0.0), 2026).set_index("family")
    assert priced.loc[finance.TOTAL, "margin_pct"] == pytest.approx((190.0 - 105.0) / 190.0)  # 2027 left out


def test_plan_margin_pct_over_the_rows_that_give_a_margin() -> None:
    b = finance.budget_monthly(MONTHLY_BUDGET, 2026, PRODUCTS)  # F1 Jan 50 / 20, F2 Jan 120 / 30, F1 Feb 50 / —
    assert finance.plan_margin_pct(b) == pytest.approx(50.0 / 170.0)
    assert np.isnan(finance.plan_margin_pct(b.assign(margin_plan=np.nan)))
    assert np.isnan(finance.plan_margin_pct(b.head(0)))


def outlook_frame(rows: list[tuple]) -> pd.DataFrame:
    """Outlook frame from (family, units, revenue, list_revenue) tuples, all in Jan 2026."""
    return pd.DataFrame([(f, M(1), u, r, lr) for f, u, r, lr in rows],
                        columns=["family", "period", "units", "revenue", "list_revenue"])


BUDGET = pd.DataFrame({"period": [M(1), M(1)], "family": ["F1", "F2"], "region": "N",
                       "volume_plan": [100.0, 100.0], "revenue_plan": [1000.0, 3000.0]})
UNCONSTRAINED = outlook_frame([("F1", 150, 1350.0, 1500.0), ("F2", 90, 2880.0, 2700.0)])
CONSTRAINED = outlook_frame([("F1", 150, 1350.0, 1500.0), ("F2", 80, 2560.0, 2400.0)])


def test_bridge_volume_price_mix_supply() -> None:
    b = finance.bridge(BUDGET, UNCONSTRAINED, CONSTRAINED, PRODUCTS, 2026)
    assert b["step"].tolist() == ["Annual plan", "Volume", "Price", "Mix", "Supply constraint", "Outlook"]
    v = b.set_index("step")["value"]
    # plan: F1 100 units at 10 = 1,000, F2 100 at 30 = 3,000 -> 4,000; average price 20, shares 50/50
    # outlook: F1 150 units 1,350 (price 9), F2 90 units 2,880 (price 32) -> 240 units, 4,230
    # volume = (240 − 200) × 20 = 800
    # mix    = (150 − 0.5 × 240) × 10 + (90 − 0.5 × 240) × 30 = 300 − 900 = −600
    # price  = 150 × (9 − 10) + 90 × (32 − 30) = −150 + 180 = 30      (800 − 600 + 30 = 230 = 4,230 − 4,000)
    # supply = 3,910 − 4,230 = −320; outlook 3,910
    assert v["Annual plan"] == 4000.0
    assert v["Volume"] == pytest.approx(800.0)
    assert v["Mix"] == pytest.approx(-600.0)
    assert v["Price"] == pytest.approx(30.0)
    assert v["Supply constraint"] == pytest.approx(-320.0)
    assert v["Outlook"] == pytest.approx(3910.0)
    effects = b.loc[b["kind"] == "effect", "value"].sum()
    assert abs(effects - (v["Outlook"] - v["Annual plan"])) < 1e-6
    assert b["cumulative"].iloc[-2] == pytest.approx(3910.0)


def test_bridge_without_volume_plan_collapses_volume_and_mix() -> None:
    budget = BUDGET.drop(columns="volume_plan")
    b = finance.bridge(budget, UNCONSTRAINED, CONSTRAINED, PRODUCTS, 2026)
    assert b["step"].tolist() == ["Annual plan", "Volume & mix", "Price", "Supply constraint", "Outlook"]
    v = b.set_index("step")["value"]
    # at list price the outlook is 1,500 + 2,700 = 4,200: volume & mix = 4,200 − 4,000 = 200;
    # price = 4,230 − 4,200 = 30; supply −320; 200 + 30 − 320 = −90 = 3,910 − 4,000
    assert v["Volume & mix"] == pytest.approx(200.0)
    assert v["Price"] == pytest.approx(30.0)
    assert abs(b.loc[b["kind"] == "effect", "value"].sum() - (3910.0 - 4000.0)) < 1e-6
    assert "no volume_plan" in b.set_index("step").loc["Volume & mix", "note"]


def test_bridge_with_an_unbudgeted_family_and_no_constraint() -> None:
    o = outlook_frame([("F1", 150, 1350.0, 1500.0), ("F2", 90, 2880.0, 2700.0), ("F3", 10, 70.0, 70.0)])
    b = finance.bridge(BUDGET, o, None, PRODUCTS, 2026)
    v = b.set_index("step")["value"]
    # F3 is priced at its own outlook price (7): no price effect, volume and mix take its 70
    # volume = (250 − 200) × 20 = 1,000; mix = (150 − 125) × 10 + (90 − 125) × 30 + (10 − 0) × 7 = −730;
    # price = 30 (as before, F3 none); 1,000 − 730 + 30 = 300 = 4,300 − 4,000
    assert v["Volume"] == pytest.approx(1000.0)
    assert v["Mix"] == pytest.approx(250 - 1050 + 70)
    assert v["Price"] == pytest.approx(30.0)
    assert v["Supply constraint"] == 0.0
    assert v["Outlook"] == pytest.approx(4300.0)
    assert "F3" in b.set_index("step").loc["Mix", "note"]


@pytest.mark.parametrize("seed", range(25))
def test_bridge_steps_sum_to_the_gap_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fams = [f"F{i}" for i in range(int(rng.integers(1, 7)))]
    months = pd.date_range(M(1), periods=12, freq="MS")
    has_volume = seed % 3 != 0
    budget = pd.DataFrame([(m, f, r, rng.uniform(0, 500) if has_volume else np.nan, rng.uniform(0, 9000))
                           for f in fams for m in months for r in ("N", "S") if rng.random() > 0.2],
                          columns=["period", "family", "region", "volume_plan", "revenue_plan"])
    o_fams = [f for f in fams if rng.random() > 0.2] + (["NEW"] if seed % 4 == 0 else [])
    unc = pd.DataFrame([(f, m, u := rng.uniform(0, 600), u * rng.uniform(5, 40), u * rng.uniform(5, 40))
                        for f in o_fams for m in months], columns=["family", "period", "units", "revenue",
                                                                   "list_revenue"])
    con = unc.assign(revenue=unc["revenue"] * rng.uniform(0.7, 1.0, len(unc)))
    b = finance.bridge(budget, unc, con, PRODUCTS, 2026)
    plan_total = budget["revenue_plan"].sum()
    outlook_total = con["revenue"].sum()
    assert b["value"].iloc[0] == pytest.approx(plan_total)
    assert b["value"].iloc[-1] == pytest.approx(outlook_total)
    assert abs(b.loc[b["kind"] == "effect", "value"].sum() - (outlook_total - plan_total)) < 1e-6
    assert b["cumulative"].iloc[-2] == pytest.approx(outlook_total)
    if not has_volume:
        assert "Volume & mix" in b["step"].tolist()


def test_outlook_bridge_end_to_end_with_the_constrained_plan() -> None:
    products = pd.DataFrame({"sku": ["A", "C"], "family": ["F1", "F2"], "unit_price": [10.0, 30.0],
                             "unit_cost": [6.0, 20.0], "resource": ["L1", "L1"], "hours_per_unit": [1.0, 1.0]})
    months = pd.date_range(M(1), periods=12, freq="MS")
    plan = pd.DataFrame([(s, "N", f, m, u) for s, f, u in (("A", "F1", 60.0), ("C", "F2", 60.0)) for m in months],
                        columns=["sku", "region", "family", "period", "units"])
    cap = pd.DataFrame({"period": months, "resource": "L1", "available_hours": 100.0})
    c = supply.constrained_plan(plan, products, cap)
    # every month 120 units on 100 h: fill 5/6 -> A 50, C 50: constrained revenue 12 × (500 + 1,500) = 24,000
    unc = finance.outlook(None, plan, 2026, None, products)
    con = finance.outlook(None, c, 2026, None, products, units="constrained_units")
    assert unc["revenue"].sum() == pytest.approx(12 * (600 + 1800))
    assert con["revenue"].sum() == pytest.approx(24000.0)
    budget = pd.DataFrame({"period": months, "family": "F1", "volume_plan": 50.0, "revenue_plan": 500.0})
    b = finance.bridge(budget, unc, con, products, 2026).set_index("step")["value"]
    assert b["Supply constraint"] == pytest.approx(24000.0 - 28800.0)
    assert b["Outlook"] - b["Annual plan"] == pytest.approx(
        b[["Volume", "Price", "Mix", "Supply constraint"]].sum())


def test_demo_company_revenue_and_bridge() -> None:
    try:
        from test_supply import naive_plan
    except ImportError:  # tests imported as a package
        from tests.test_supply import naive_plan

    t = {p.stem: pd.read_csv(p) for p in DEMO.glob("*.csv")}
    products = t["products"]
    plan = naive_plan(t["sales"], products)
    v = finance.value_plan(plan, products)
    price = products.set_index("sku")["unit_price"]
    assert v["revenue"].sum() == pytest.approx((plan["units"] * plan["sku"].map(price)).sum())
    year = int(pd.Timestamp(plan["period"].min()).year)
    o = finance.outlook(None, plan, year, None, products)
    if "capacity" in t:
        c = supply.constrained_plan(plan, products, t["capacity"])
        oc = finance.outlook(None, c, year, None, products, units="constrained_units")
        assert oc["revenue"].sum() <= o["revenue"].sum() + 1e-6
    else:
        oc = None
    if "plan" in t:
        b = finance.bridge(t["plan"], o, oc, products, year)
        total = (oc if oc is not None else o)["revenue"].sum()
        assert abs(b.loc[b["kind"] == "effect", "value"].sum() - (total - b["value"].iloc[0])) < 1e-6


def test_from_workspace_end_to_end_on_the_demo_company(workspace) -> None:
    from sop_core.planning import inventory

    try:
        from test_supply import naive_plan
    except ImportError:  # tests imported as a package
        from tests.test_supply import naive_plan

    company.reset_to_demo(workspace)
    plan = naive_plan(pd.read_csv(DEMO / "sales.csv"), pd.read_csv(DEMO / "products.csv"))
    sr = supply.from_workspace(workspace, plan)
    assert (sr.constrained["constrained_units"] <= sr.constrained["units"] + 1e-6).all()
    iv = inventory.from_workspace(workspace, plan, constrained=sr.constrained)
    pj = iv.projection
    assert np.allclose(pj["closing"], pj["opening"] + pj["receipts"] - pj["demand"])
    fv = finance.from_workspace(workspace, plan, constrained=sr.constrained)
    b = fv.bridge
    assert abs(b.loc[b["kind"] == "effect", "value"].sum() - (b["value"].iloc[-1] - b["value"].iloc[0])) < 1e-6
    total = fv.vs_budget.set_index("family").loc["Total"]
    assert total["outlook_revenue"] == pytest.approx(b["value"].iloc[-1])
    assert total["plan_revenue"] == pytest.approx(b["value"].iloc[0])

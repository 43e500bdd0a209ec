"""Inventory projection, forward cover, safety stock and exceptions: hand-computed cases and invariants."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from apptest_support import demo_csv_dir

from sop_core.meetings.exports import to_csv_bytes
from sop_core.planning import inventory, supply
from sop_core.planning.inventory import COVER_CAP_WEEKS, DAYS_PER_MONTH

DEMO = demo_csv_dir()


def M(month: int, year: int = 2026) -> pd.Timestamp:
    """Month start."""
    return pd.Timestamp(year=year, month=month, day=1)


def plan_of(sku: str, units: list[float], start: int = 1, family: str = "F", region: str = "N") -> pd.DataFrame:
    """Monthly plan for one sku from month `start` of 2026."""
    return pd.DataFrame({"sku": sku, "region": region, "family": family,
                         "period": pd.date_range(M(start), periods=len(units), freq="MS"),
                         "units": [float(u) for u in units]})


def products_of(rows: list[tuple]) -> pd.DataFrame:
    """Products from (sku, family, unit_price, unit_cost) tuples."""
    return pd.DataFrame(rows, columns=["sku", "family", "unit_price", "unit_cost"])


def test_latest_on_hand_sums_locations_at_the_latest_snapshot() -> None:
    inv = pd.DataFrame({
        "date": pd.to_datetime(["2026-01-31", "2026-01-31", "2026-02-28", "2026-02-28", "2026-01-31"]),
        "sku": ["A", "A", "A", "A", "B"],
        "location": ["X", "Y", "X", "Y", "X"],
        "on_hand": [10.0, 5.0, 7.0, 3.0, 4.0],
    })
    oh = inventory.latest_on_hand(inv).set_index("sku")
    # A: 28 Feb snapshot, 7 + 3 = 10 (January's 15 is history); B: its latest is 31 Jan, 4
    assert oh.loc["A", "on_hand"] == 10.0
    assert oh.loc["A", "as_of"] == pd.Timestamp("2026-02-28")
    assert oh.loc["B", "on_hand"] == 4.0
    assert oh.loc["B", "as_of"] == pd.Timestamp("2026-01-31")


def test_projected_balance_with_receipts_and_a_stockout() -> None:
    plan = plan_of("A", [60, 60, 60])
    on_hand = pd.DataFrame({"sku": ["A"], "on_hand": [100.0]})
    # the supply table, by date: a receipt on 15 Feb counts in February; one in last December is ignored
    receipts = pd.DataFrame({"date": pd.to_datetime(["2026-02-15", "2025-12-20"]), "sku": ["A", "A"],
                             "quantity": [30.0, 500.0], "source": ["Purchase order", "Purchase order"]})
    safety = pd.DataFrame({"sku": ["A"], "safety_stock_units": [20.0]})
    pj = inventory.project(plan, on_hand, receipts, safety, M(1), 3,
                           products=products_of([("A", "F", 10.0, 2.0)])).set_index("period")
    # Jan 100 − 60 = 40; Feb 40 + 30 − 60 = 10; Mar 10 − 60 = −50 (50 short)
    assert pj["opening"].tolist() == [100.0, 40.0, 10.0]
    assert pj["receipts"].tolist() == [0.0, 30.0, 0.0]
    assert pj["closing"].tolist() == [40.0, 10.0, -50.0]
    assert pj["shortage_units"].tolist() == [0.0, 0.0, 50.0]
    assert pj["below_safety"].tolist() == [False, True, True]
    # value at cost 2: 80, 20, 0 (a shortage is worth nothing)
    assert pj["value_at_cost"].tolist() == [80.0, 20.0, 0.0]
    # cover: Jan's 40 lasts 40/60 of February's 28 days = 18.667 days = 2.667 weeks;
    # Feb's 10 lasts 10/60 of March's 31 days = 5.1667 days = 0.738 weeks; a shortage has 0
    assert pj.loc[M(1), "cover_weeks"] == pytest.approx(40 / 60 * 28 / 7)
    assert pj.loc[M(2), "cover_weeks"] == pytest.approx(10 / 60 * 31 / 7)
    assert pj.loc[M(3), "cover_weeks"] == 0.0
    v = inventory.inventory_value(pj.reset_index())
    assert v["value_at_cost"].tolist() == [80.0, 20.0, 0.0]


def test_forward_cover_walks_a_seasonal_forecast() -> None:
    # opening 400; demand Jan 100, Feb 10, Mar 10, Apr 10, May 200, Jun 200 -> Jan closing 300
    # walk from Feb: 10 (28 d), 10 (31 d), 10 (30 d) -> 30 used in 89 days; May 200 (31 d) -> 230 in 120 days;
    # June: the remaining 70 of 200 lasts 70/200 × 30 = 10.5 days -> 130.5 days = 18.64 weeks
    plan = plan_of("A", [100, 10, 10, 10, 200, 200])
    pj = inventory.project(plan, pd.DataFrame({"sku": ["A"], "on_hand": [400.0]}), None, None, M(1), 6)
    cover = pj.set_index("period").loc[M(1), "cover_weeks"]
    assert cover == pytest.approx(130.5 / 7)
    # the average-based answer: 300 / (530 / 6 per month) = 3.40 months = 14.7 weeks — averages lie
    average_based = 300 / (530 / 6) * 52 / 12
    assert abs(cover - average_based) > 3


def test_cover_beyond_the_horizon_and_the_cap() -> None:
    # demand 10 in Jan (31 d) and 10 in Feb (28 d); opening 100 -> Jan closing 90.
    # Feb uses 10 (28 days), then 80 left at the horizon's average 20 / 59 per day = 236 days -> 264 days
    plan = pd.concat([plan_of("A", [10, 10]), plan_of("Z", [0, 0])])
    pj = inventory.project(plan, pd.DataFrame({"sku": ["A", "Z"], "on_hand": [100.0, 5.0]}), None, None)
    pj = pj.set_index(["sku", "period"])
    assert pj.loc[("A", M(1)), "cover_weeks"] == pytest.approx(264 / 7)
    # no demand at all: capped
    assert pj.loc[("Z", M(1)), "cover_weeks"] == COVER_CAP_WEEKS
    # a balance exactly used up at a month end has cover to that month end, not beyond
    c = inventory.forward_cover_weeks(np.array([10.0]), np.array([[10.0, 5.0]]), np.array([28.0, 31.0]),
                                      np.array([0.0]))
    assert c[0] == pytest.approx(4.0)


def test_safety_stock_given_or_computed() -> None:
    products = pd.DataFrame({"sku": ["A", "B", "C", "D"], "family": "F", "unit_price": 1.0, "unit_cost": 1.0,
                             "lead_time_weeks": [None, None, None, 9 * DAYS_PER_MONTH / 7],  # D: 9 months
                             "safety_stock_units": [50.0, None, None, None]})
    hist = pd.DataFrame({
        "sku": ["A", "B", "B", "B", "B", "C", "D", "D"],
        "period": [M(1), M(1), M(2), M(3), M(4), M(4), M(1), M(3)],
        "quantity": [5.0, 10.0, 20.0, 30.0, 40.0, 7.0, 10.0, 10.0],
    })
    default_lt = 4 * DAYS_PER_MONTH / 7  # exactly 4 months -> sqrt = 2
    ss = inventory.safety_stock(products, hist, lead_time_weeks=default_lt, service_level=0.95).set_index("sku")
    z = 1.6448536269514722
    # A: given in the products table
    assert ss.loc["A", "safety_stock_units"] == 50.0 and ss.loc["A", "source"] == "products"
    # B: 10, 20, 30, 40: mean 25, squared deviations 225 + 25 + 25 + 225 = 500, σ = sqrt(500 / 3) = 12.91;
    # default lead time 4 months -> z × 12.91 × 2 = 42.47
    assert ss.loc["B", "source"] == "computed"
    assert ss.loc["B", "safety_stock_units"] == pytest.approx(z * np.sqrt(500 / 3) * 2)
    # C: one month of history, no σ -> none, 0 units
    assert ss.loc["C", "source"] == "none" and ss.loc["C", "safety_stock_units"] == 0.0
    # D: sold Jan and Mar; Feb and Apr (up to the history's end) count as 0 -> 10, 0, 10, 0:
    # σ = sqrt(4 × 25 / 3) = 5.774; its own lead time 9 months -> z × 5.774 × 3
    assert ss.loc["D", "safety_stock_units"] == pytest.approx(z * np.sqrt(100 / 3) * 3)


def test_exceptions_ranked_by_money() -> None:
    products = products_of([("S1", "Bikes", 10.0, 4.0), ("S2", "Locks", 8.0, 3.0), ("S3", "Bells", 9.0, 5.0)])
    plan = pd.concat([plan_of("S1", [10, 30, 30], family="Bikes"), plan_of("S2", [10, 10, 10], family="Locks"),
                      plan_of("S3", [10, 10, 10], family="Bells")])
    on_hand = pd.DataFrame({"sku": ["S1", "S2", "S3"], "on_hand": [20.0, 1000.0, 30.0]})
    safety = pd.DataFrame({"sku": ["S3"], "safety_stock_units": [40.0]})
    pj = inventory.project(plan, on_hand, None, safety, products=products)
    ex = inventory.exceptions(pj, products, excess_cover_months=6)
    # S2: closings 990, 980, 970; next 6 months of demand from Jan = Feb 10 + Mar 10 + 4 × 10 (average) = 60
    #     -> excess 930 (Jan), 920, 910: 930 × cost 3 = 2,790
    # S1: closings 10, −20, −50 -> deepest shortage 50 × price 10 = 500 revenue at risk, first in Feb
    # S3: closings 20, 10, 0 vs safety 40 -> gap 20, 30, 40: 40 × cost 5 = 200
    assert ex[["sku", "kind"]].values.tolist() == [["S2", "excess"], ["S1", "stockout"],
                                                   ["S3", "below safety stock"]]
    e = ex.set_index("sku")
    assert e.loc["S2", "units"] == pytest.approx(930.0) and e.loc["S2", "value"] == pytest.approx(2790.0)
    assert e.loc["S1", "units"] == 50.0 and e.loc["S1", "value"] == 500.0
    assert e.loc["S1", "first_period"] == M(2)
    assert e.loc["S1", "value_basis"] == "revenue at risk"
    assert e.loc["S3", "units"] == 40.0 and e.loc["S3", "value"] == 200.0
    assert e.loc["S2", "family"] == "Locks"


# -- the Inventory page's tables ----------------------------------------------------------------------
def three_skus() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The projection, exceptions and safety stock of `test_exceptions_ranked_by_money`'s three skus."""
    products = products_of([("S1", "Bikes", 10.0, 4.0), ("S2", "Locks", 8.0, 3.0), ("S3", "Bells", 9.0, 5.0)])
    plan = pd.concat([plan_of("S1", [10, 30, 30], family="Bikes"), plan_of("S2", [10, 10, 10], family="Locks"),
                      plan_of("S3", [10, 10, 10], family="Bells")])
    on_hand = pd.DataFrame({"sku": ["S1", "S2", "S3"], "on_hand": [20.0, 1000.0, 30.0]})
    safety = inventory.safety_stock(products.assign(safety_stock_units=[np.nan, 0.0, 40.0]), pd.DataFrame(
        {"sku": ["S1"] * 3, "period": [M(10, 2025), M(11, 2025), M(12, 2025)], "quantity": [10.0, 20.0, 30.0]}))
    pj = inventory.project(plan, on_hand, None, safety, products=products)
    return pj, inventory.exceptions(pj, products, excess_cover_months=6), safety


def test_projection_series_for_a_sku_a_family_or_everything() -> None:
    pj, _, _ = three_skus()
    cols = ["period", "opening", "receipts", "demand", "closing", "safety_stock"]
    s1 = inventory.projection_series(pj, sku="S1")
    assert list(s1.columns) == cols and s1["closing"].tolist() == [10.0, -20.0, -50.0]
    assert inventory.projection_series(pj, "Locks")["closing"].tolist() == [990.0, 980.0, 970.0]
    assert inventory.projection_series(pj, "Locks", "S1")["closing"].tolist() == [10.0, -20.0, -50.0]  # sku wins
    every = inventory.projection_series(pj)
    assert every["demand"].tolist() == [30.0, 50.0, 50.0] and every["closing"].iloc[0] == 10.0 + 990.0 + 20.0


def test_exception_table_adds_each_skus_safety_stock_and_its_source() -> None:
    _, ex, safety = three_skus()
    t = inventory.exception_table(ex, safety)
    assert list(t.columns) == list(inventory.EXCEPTION_TABLE_COLUMNS)
    assert t["sku"].tolist() == ["S2", "S1", "S3"]  # the exceptions' order: largest money first
    e = t.set_index("sku")
    assert e.loc["S3", "safety_stock_units"] == 40.0 and e.loc["S3", "safety_source"] == "products"
    assert e.loc["S1", "safety_source"] == "computed" and e.loc["S1", "safety_stock_units"] > 0
    assert t["units"].dtype == float and t["value"].dtype == float
    empty = inventory.exception_table(ex.head(0), safety)
    assert empty.empty and list(empty.columns) == list(inventory.EXCEPTION_TABLE_COLUMNS)


def test_exception_export_rounds_and_the_csv_neutralises_formula_text() -> None:
    table = pd.DataFrame({
        "sku": ["=HYPERLINK(\"http://x\")", "+SUM(A1)", "-1+2", "@cmd", "TN-1001"], "family": ["F"] * 5,
        "kind": ["excess"] * 5, "first_period": pd.to_datetime(["2027-01-01"] * 5), "units": [1.4, 2, 3, 4, -5],
        "value": [1.234, 2, 3, 4, -5], "value_basis": ["excess at cost"] * 5, "safety_stock_units": [0.6] * 5,
        "safety_source": ["computed"] * 5,
    })
    out = inventory.exception_export(table)
    assert list(out.columns) == list(table.columns)
    assert out["first_period"].iloc[0] == "2027-01" and out["units"].tolist() == [1.0, 2.0, 3.0, 4.0, -5.0]
    assert out["value"].iloc[0] == 1.23 and out["safety_stock_units"].iloc[0] == 1.0
    back = pd.read_csv(io.BytesIO(to_csv_bytes(out)), encoding="utf-8-sig", dtype=str)
    assert back["sku"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+SUM(A1)", "'-1+2", "'@cmd", "TN-1001"]
    assert back["units"].tolist() == ["1.0", "2.0", "3.0", "4.0", "-5.0"]  # numbers stay numbers
    assert back["first_period"].iloc[0] == "2027-01"


def test_exception_counts_by_kind_with_their_money() -> None:
    _, ex, _ = three_skus()
    assert inventory.exception_counts(ex) == {"stockouts": 1.0, "revenue_at_risk": 500.0, "breaches": 1.0,
                                              "breach_value": 200.0, "excess": 1.0,
                                              "excess_value": pytest.approx(2790.0)}
    assert inventory.exception_counts(ex.head(0)) == {"stockouts": 0.0, "revenue_at_risk": 0.0, "breaches": 0.0,
                                                      "breach_value": 0.0, "excess": 0.0, "excess_value": 0.0}


# -- invariants --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(20))
def test_balance_identity_every_month_on_random_plans(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, T = int(rng.integers(1, 8)), int(rng.integers(1, 18))
    skus = [f"S{i}" for i in range(n)]
    months = pd.date_range("2026-03-01", periods=T, freq="MS")
    plan = pd.DataFrame([(s, r, "F", m, float(rng.gamma(1.5, 30)) * (rng.random() > 0.2))
                         for s in skus for r in ("N", "S") for m in months],
                        columns=["sku", "region", "family", "period", "units"])
    rec = pd.DataFrame([(s, m + pd.Timedelta(days=int(rng.integers(0, 27))), float(rng.uniform(0, 100)))
                        for s in skus for m in months if rng.random() < 0.3], columns=["sku", "date", "quantity"])
    on_hand = pd.DataFrame({"sku": skus + ["EXTRA"], "on_hand": rng.uniform(0, 300, n + 1)})
    pj = inventory.project(plan, on_hand, rec, None).sort_values(["sku", "period"])
    g = pj.groupby("sku")
    assert np.allclose(pj["closing"], pj["opening"] + pj["receipts"] - pj["demand"])
    assert np.allclose(g["opening"].shift(-1).dropna(), pj.loc[g["opening"].shift(-1).notna(), "closing"])
    assert pj["demand"].sum() == pytest.approx(plan["units"].sum())
    assert pj["receipts"].sum() == pytest.approx(rec["quantity"].sum())
    assert np.allclose(pj["shortage_units"], np.maximum(-pj["closing"], 0))
    assert ((pj["cover_weeks"] >= 0) & (pj["cover_weeks"] <= COVER_CAP_WEEKS)).all()
    assert (pj.loc[pj["closing"] <= 0, "cover_weeks"] == 0).all()
    assert set(pj["sku"]) == set(skus) | {"EXTRA"}  # stock without a plan is still projected


@pytest.mark.parametrize("seed", range(10))
def test_projection_on_constrained_production_never_delivers_before_making(seed: int) -> None:
    # demand = constrained units, receipts = what is made: starting from zero stock the balance never goes negative
    rng = np.random.default_rng(seed)
    T = 10
    months = pd.date_range("2026-01-01", periods=T, freq="MS")
    plan = pd.DataFrame([(s, "N", "F", m, float(rng.gamma(2, 40))) for s in ("A", "B") for m in months],
                        columns=["sku", "region", "family", "period", "units"])
    products = pd.DataFrame({"sku": ["A", "B"], "family": "F", "unit_price": 1.0, "unit_cost": 1.0,
                             "resource": "L1", "hours_per_unit": [1.0, 0.5]})
    cap = pd.DataFrame({"period": months, "resource": "L1", "available_hours": rng.uniform(40, 160, T)})
    c = supply.constrained_plan(plan, products, cap, prebuild_months=2)
    pj = inventory.project(c.assign(units=c["constrained_units"]), None, supply.production_plan(c), None)
    assert (pj["closing"] >= -1e-6).all()
    assert pj["closing"].groupby(pj["sku"]).last().abs().max() < 1e-6


def test_demo_company_projection_invariants() -> None:
    try:
        from test_supply import naive_plan
    except ImportError:  # tests imported as a package
        from tests.test_supply import naive_plan

    t = {p.stem: pd.read_csv(p) for p in DEMO.glob("*.csv")}
    plan = naive_plan(t["sales"], t["products"])
    on_hand = inventory.latest_on_hand(t["inventory"])
    hist = t["sales"].assign(period=pd.to_datetime(t["sales"]["date"]))
    safety = inventory.safety_stock(t["products"], hist)
    assert set(safety["source"]) <= {"products", "computed", "none"}
    pj = inventory.project(plan, on_hand, t.get("supply"), safety, products=t["products"])
    assert np.allclose(pj["closing"], pj["opening"] + pj["receipts"] - pj["demand"])
    assert pj["demand"].sum() == pytest.approx(plan["units"].sum())
    ex = inventory.exceptions(pj, t["products"])
    assert ex["value"].fillna(-1).is_monotonic_decreasing


def test_exceptions_only_for_the_skus_given() -> None:
    """The plan passes the skus it can speak for (in the plan, with a stock record): no exception for the others."""
    pj, ex, _ = three_skus()
    assert set(ex["sku"]) == {"S1", "S2", "S3"}
    products = products_of([("S1", "Bikes", 10.0, 4.0), ("S2", "Locks", 8.0, 3.0), ("S3", "Bells", 9.0, 5.0)])
    only = inventory.exceptions(pj, products, excess_cover_months=6, skus=["S1"])
    assert only[["sku", "kind"]].values.tolist() == [["S1", "stockout"]]
    assert inventory.exceptions(pj, products, skus=[]).empty  # nothing checked: no exception claimed

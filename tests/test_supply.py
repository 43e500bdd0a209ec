"""Rough-cut capacity and the constrained plan: hand-computed cases and invariants on generated data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from apptest_support import demo_csv_dir

from sop_core.planning import supply

DEMO = demo_csv_dir()


def M(month: int, year: int = 2026) -> pd.Timestamp:
    """Month start."""
    return pd.Timestamp(year=year, month=month, day=1)


def plan_of(rows: list[tuple]) -> pd.DataFrame:
    """Plan frame from (sku, region, family, month, units) tuples."""
    return pd.DataFrame([(s, r, f, M(m), float(u)) for s, r, f, m, u in rows],
                        columns=["sku", "region", "family", "period", "units"])


def capacity_of(rows: list[tuple], col: str = "available_hours") -> pd.DataFrame:
    """Capacity frame from (resource, month, amount) tuples."""
    return pd.DataFrame([(M(m), r, float(a)) for r, m, a in rows], columns=["period", "resource", col])


PRODUCTS = pd.DataFrame({
    "sku": ["A", "B", "C", "D"],
    "family": ["Bikes", "Helmets", "Locks", "Bells"],
    "unit_price": [10.0, 20.0, 5.0, 1.0],
    "unit_cost": [4.0, 8.0, 2.0, 0.5],
    "resource": ["L1", "L1", "L2", None],
    "hours_per_unit": [2.0, 1.0, None, None],
})


def one_line(hours: float = 1.0) -> pd.DataFrame:
    """A single sku A on line L1."""
    return pd.DataFrame({"sku": ["A"], "family": ["Bikes"], "unit_price": [10.0], "unit_cost": [4.0],
                         "resource": ["L1"], "hours_per_unit": [hours]})


# -- utilisation -------------------------------------------------------------------------------------
def test_utilisation_hours_and_overloaded_month() -> None:
    plan = plan_of([("A", "N", "Bikes", 1, 30), ("B", "N", "Helmets", 1, 40),
                    ("A", "N", "Bikes", 2, 50), ("B", "N", "Helmets", 2, 50)])
    cap = capacity_of([("L1", 1, 125), ("L1", 2, 125)])
    load = supply.required_load(plan, PRODUCTS)
    # Jan: A 30 × 2 h = 60, B 40 × 1 h = 40 -> 100 h
    jan = load[load["period"] == M(1)].set_index("sku")["required_hours"]
    assert jan.to_dict() == {"A": 60.0, "B": 40.0}
    u = supply.utilisation(load, cap).set_index("period")
    # Jan: 100 / 125 = 0.8, spare 25, families Bikes 60/100, Helmets 40/100
    assert u.loc[M(1), "required_hours"] == 100.0
    assert u.loc[M(1), "utilisation"] == pytest.approx(0.8)
    assert not u.loc[M(1), "overloaded"]
    assert u.loc[M(1), "spare_hours"] == pytest.approx(25.0)
    assert u.loc[M(1), "top_families"] == "Bikes (60%), Helmets (40%)"
    # Feb: A 50 × 2 = 100, B 50 × 1 = 50 -> 150 h / 125 = 1.2, 25 h over, no spare
    assert u.loc[M(2), "utilisation"] == pytest.approx(1.2)
    assert u.loc[M(2), "overloaded"]
    assert u.loc[M(2), "spare_hours"] == 0.0
    assert u.loc[M(2), "over_hours"] == pytest.approx(25.0)
    assert u.loc[M(2), "top_families"].startswith("Bikes (67%)")
    assert set(u["basis"]) == {"hours"}


def test_utilisation_in_units_when_hours_absent_and_unloaded_skus_reported() -> None:
    # C has no hours_per_unit and L2 gives capacity_units: required = units. 80 / 100 = 0.8
    plan = plan_of([("C", "N", "Locks", 1, 80), ("D", "N", "Bells", 1, 5), ("Z", "N", "Other", 1, 7)])
    cap = capacity_of([("L2", 1, 100)], col="capacity_units")
    load = supply.required_load(plan, PRODUCTS)
    assert load.set_index("sku")["issue"].to_dict() == {"C": "no hours_per_unit", "D": "no resource",
                                                        "Z": "not in products"}
    u = supply.utilisation(load, cap)
    assert len(u) == 1
    row = u.iloc[0]
    assert (row["resource"], row["basis"]) == ("L2", "units")
    assert row["required_hours"] == 80.0 and row["available_hours"] == 100.0
    assert row["utilisation"] == pytest.approx(0.8)
    # D (no resource) and Z (not in products) are reported, not dropped silently
    un = supply.unloaded(load, cap).set_index("sku")
    assert un["reason"].to_dict() == {"Z": "not in products", "D": "no resource"}
    assert un.loc["Z", "units"] == 7.0
    # ... and passed through the constrained plan with the reason
    c = supply.constrained_plan(plan, PRODUCTS, cap).set_index("sku")
    assert c.loc["D", "capacity_check"] == "no resource"
    assert c.loc["D", "constrained_units"] == 5.0
    assert c.loc["C", "capacity_check"] == "capacity"


def test_hours_resource_with_a_sku_missing_hours_reports_it() -> None:
    products = pd.DataFrame({"sku": ["A", "X"], "family": ["F", "F"], "unit_price": [1.0, 1.0],
                             "unit_cost": [1.0, 1.0], "resource": ["L1", "L1"], "hours_per_unit": [1.0, None]})
    plan = plan_of([("A", "N", "F", 1, 10), ("X", "N", "F", 1, 4)])
    load = supply.required_load(plan, products)
    cap = capacity_of([("L1", 1, 100)])
    u = supply.utilisation(load, cap)
    assert u["required_hours"].tolist() == [10.0]  # only A can be loaded in hours
    assert supply.unloaded(load, cap)["reason"].tolist() == ["no hours_per_unit"]


# -- constrained plan ------------------------------------------------------------------------------
def test_overloaded_month_is_allocated_pro_rata_to_demand() -> None:
    # one month, 100 h. A 30 units × 2 h = 60 h, B 60 units × 1 h = 60 h -> 120 h load, fill 100/120 = 5/6
    # A: 30 × 5/6 = 25 (short 5), B: 60 × 5/6 = 50 (short 10); hours used 25 × 2 + 50 × 1 = 100
    plan = plan_of([("A", "N", "Bikes", 1, 30), ("B", "N", "Helmets", 1, 60)])
    c = supply.constrained_plan(plan, PRODUCTS, capacity_of([("L1", 1, 100)])).set_index("sku")
    assert c.loc["A", "constrained_units"] == pytest.approx(25.0)
    assert c.loc["B", "constrained_units"] == pytest.approx(50.0)
    assert c.loc["A", "short_units"] == pytest.approx(5.0)
    assert c.loc["B", "short_units"] == pytest.approx(10.0)
    assert c.loc["A", "made_units"] * 2 + c.loc["B", "made_units"] == pytest.approx(100.0)


def test_prebuild_from_one_earlier_month() -> None:
    # cap 100/month, demand Jan 80, Feb 120: Jan's 20 spare builds Feb's 20 excess -> no shortfall
    plan = plan_of([("A", "N", "Bikes", 1, 80), ("A", "N", "Bikes", 2, 120)])
    c = supply.constrained_plan(plan, one_line(), capacity_of([("L1", 1, 100), ("L1", 2, 100)]))
    c = c.set_index("period")
    assert c.loc[M(2), "constrained_units"] == pytest.approx(120.0)
    assert c.loc[M(2), "prebuilt_units"] == pytest.approx(20.0)
    assert c.loc[M(2), "short_units"] == pytest.approx(0.0)
    # made: Jan 80 + 20 pre-built = 100, Feb 100
    assert c["made_units"].tolist() == pytest.approx([100.0, 100.0])


def test_prebuild_from_two_earlier_months_nearest_first() -> None:
    # cap 100; demand Jan 80, Feb 90, Mar 130 -> Mar needs 30: Feb spare 10 (nearest) + Jan spare 20
    plan = plan_of([("A", "N", "Bikes", 1, 80), ("A", "N", "Bikes", 2, 90), ("A", "N", "Bikes", 3, 130)])
    cap = capacity_of([("L1", m, 100) for m in (1, 2, 3)])
    c = supply.constrained_plan(plan, one_line(), cap, prebuild_months=2).set_index("period")
    assert c.loc[M(3), "prebuilt_units"] == pytest.approx(30.0)
    assert c.loc[M(3), "short_units"] == pytest.approx(0.0)
    assert c["made_units"].tolist() == pytest.approx([100.0, 100.0, 100.0])
    # the horizon of pre-build is one month: only Feb's 10 -> short 20
    c1 = supply.constrained_plan(plan, one_line(), cap, prebuild_months=1).set_index("period")
    assert c1.loc[M(3), "prebuilt_units"] == pytest.approx(10.0)
    assert c1.loc[M(3), "short_units"] == pytest.approx(20.0)
    assert c1["made_units"].tolist() == pytest.approx([80.0, 100.0, 100.0])
    # no pre-build at all
    c0 = supply.constrained_plan(plan, one_line(), cap, prebuild_months=0).set_index("period")
    assert c0.loc[M(3), "short_units"] == pytest.approx(30.0)


def test_prebuild_horizon_limit_and_plan_start() -> None:
    # Jan 50 (50 spare), Feb 100, Mar 100, Apr 130: Apr may use Feb and Mar (no spare), not Jan -> short 30
    plan = plan_of([("A", "N", "Bikes", m, u) for m, u in ((1, 50), (2, 100), (3, 100), (4, 130))])
    cap = capacity_of([("L1", m, 100) for m in (1, 2, 3, 4)])
    c = supply.constrained_plan(plan, one_line(), cap, prebuild_months=2).set_index("period")
    assert c.loc[M(4), "short_units"] == pytest.approx(30.0)
    assert c.loc[M(4), "prebuilt_units"] == 0.0
    # with a 3-month window Jan's spare covers it
    c3 = supply.constrained_plan(plan, one_line(), cap, prebuild_months=3).set_index("period")
    assert c3.loc[M(4), "short_units"] == pytest.approx(0.0)
    # capacity before the first month of the plan is the past: never used to pre-build
    plan2 = plan_of([("A", "N", "Bikes", 2, 130)])
    c4 = supply.constrained_plan(plan2, one_line(), cap).set_index("period")
    assert c4.loc[M(2), "short_units"] == pytest.approx(30.0)


def test_earliest_shortfall_gets_first_claim_on_spare() -> None:
    # Jan 70 (30 spare), Feb 120 (needs 20), Mar 120 (needs 20): Feb takes 20 of Jan, Mar gets Jan's last 10
    plan = plan_of([("A", "N", "Bikes", m, u) for m, u in ((1, 70), (2, 120), (3, 120))])
    cap = capacity_of([("L1", m, 100) for m in (1, 2, 3)])
    c = supply.constrained_plan(plan, one_line(), cap).set_index("period")
    assert c.loc[M(2), "short_units"] == pytest.approx(0.0)
    assert c.loc[M(3), "prebuilt_units"] == pytest.approx(10.0)
    assert c.loc[M(3), "short_units"] == pytest.approx(10.0)


def test_shortfall_by_family_when_prebuild_cannot_cover() -> None:
    # 2 h/unit resource with 200 h (=100 units) per month; Bikes Jan 90 Feb 130 -> 10 pre-built, 20 short in Feb
    plan = plan_of([("A", "N", "Bikes", 1, 60), ("A", "S", "Bikes", 1, 30),
                    ("A", "N", "Bikes", 2, 100), ("A", "S", "Bikes", 2, 30)])
    cap = capacity_of([("L1", 1, 200), ("L1", 2, 200)])
    c = supply.constrained_plan(plan, one_line(hours=2.0), cap)
    s = supply.shortfall(c).set_index("period")
    assert s.loc[M(1), "short_units"] == pytest.approx(0.0)
    assert s.loc[M(2), "short_units"] == pytest.approx(20.0)
    assert s.loc[M(2), "constrained_units"] == pytest.approx(110.0)
    assert s.loc[M(2), "short_pct"] == pytest.approx(20 / 130)
    # the two regions get the same fill rate 110/130: N 100 -> 84.615, S 30 -> 25.385
    feb = c[c["period"] == M(2)].set_index("region")
    assert feb.loc["N", "constrained_units"] == pytest.approx(100 * 110 / 130)
    assert feb.loc["S", "constrained_units"] == pytest.approx(30 * 110 / 130)


def test_firm_production_receipts_serve_demand_and_take_capacity() -> None:
    # Jan, L1 100 h, both 1 h/unit. A demand 50, B demand 60. Firm receipt of 70 A in Jan:
    # A is served 50 by the receipt (20 go to stock); the receipt takes 70 h, leaving 30 h for B -> B short 30
    products = pd.DataFrame({"sku": ["A", "B"], "family": ["F1", "F2"], "unit_price": [1.0, 1.0],
                             "unit_cost": [1.0, 1.0], "resource": ["L1", "L1"], "hours_per_unit": [1.0, 1.0]})
    plan = plan_of([("A", "N", "F1", 1, 50), ("B", "N", "F2", 1, 60)])
    supply_table = pd.DataFrame({"date": [pd.Timestamp("2026-01-20"), pd.Timestamp("2026-01-05")],
                                 "sku": ["A", "B"], "quantity": [70.0, 999.0],
                                 "source": ["Production", "Purchase order"]})
    firm = supply.production_receipts(supply_table)
    assert firm[["sku", "quantity"]].values.tolist() == [["A", 70.0]]
    c = supply.constrained_plan(plan, products, capacity_of([("L1", 1, 100)]), receipts=firm).set_index("sku")
    assert c.loc["A", "receipt_units"] == pytest.approx(50.0)
    assert c.loc["A", "constrained_units"] == pytest.approx(50.0)
    assert c.loc["A", "made_units"] == pytest.approx(0.0)
    assert c.loc["B", "constrained_units"] == pytest.approx(30.0)
    assert c.loc["B", "short_units"] == pytest.approx(30.0)
    # the production plan for the inventory projection = new production + firm receipts in full
    pp = supply.production_plan(c.reset_index(), firm).set_index("sku")["quantity"]
    assert pp.to_dict() == pytest.approx({"A": 70.0, "B": 30.0})


def test_firm_receipts_split_over_regions_pro_rata() -> None:
    # A: N 30, S 10, receipt 20 -> 50% of each region's demand: N 15, S 5; the rest is made (capacity ample)
    plan = plan_of([("A", "N", "Bikes", 1, 30), ("A", "S", "Bikes", 1, 10)])
    rec = pd.DataFrame({"sku": ["A"], "period": [M(1)], "quantity": [20.0]})
    c = supply.constrained_plan(plan, one_line(), capacity_of([("L1", 1, 1000)]), receipts=rec).set_index("region")
    assert c["receipt_units"].to_dict() == pytest.approx({"N": 15.0, "S": 5.0})
    assert c["made_units"].to_dict() == pytest.approx({"N": 15.0, "S": 5.0})
    assert c["short_units"].sum() == 0.0


def test_month_without_capacity_row_is_unknown_not_zero() -> None:
    plan = plan_of([("A", "N", "Bikes", 1, 50), ("A", "N", "Bikes", 2, 500)])
    c = supply.constrained_plan(plan, one_line(), capacity_of([("L1", 1, 100)])).set_index("period")
    assert c.loc[M(2), "constrained_units"] == 500.0
    assert c.loc[M(2), "capacity_check"] == "no capacity for the month"
    assert c.loc[M(1), "made_units"] == 50.0  # Jan's spare is not spent on an unknown month


def test_the_consensus_engine_frame_is_accepted() -> None:
    cons = plan_of([("A", "N", "Bikes", 1, 30)]).rename(columns={"units": "consensus"}).assign(statistical=1.0)
    load = supply.required_load(cons, PRODUCTS)
    assert load["required_hours"].tolist() == [60.0]


def test_plan_missing_columns_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="missing: units"):
        supply.required_load(pd.DataFrame({"sku": ["A"], "period": [M(1)]}), PRODUCTS)


# -- the Supply review's tables ----------------------------------------------------------------------
def util_of(rows: list[tuple]) -> pd.DataFrame:
    """A `utilisation` frame from (resource, month, utilisation, overloaded) tuples (other columns filled)."""
    df = pd.DataFrame([(r, M(m), float(u), bool(o)) for r, m, u, o in rows],
                      columns=["resource", "period", "utilisation", "overloaded"])
    return df.assign(basis="hours", required_hours=1.0, available_hours=1.0, spare_hours=0.0, over_hours=0.0,
                     top_families="")


UTIL = util_of([("L1", 2, 1.2, True), ("L1", 1, 0.8, False), ("L2", 1, np.inf, True), ("L2", 2, np.nan, False),
                ("L3", 1, 0.5, False)])


def test_utilisation_matrix_is_resource_by_month_with_unknown_and_infinite_as_nan() -> None:
    m = supply.utilisation_matrix(UTIL)
    assert m.index.tolist() == ["L1", "L2", "L3"] and m.columns.tolist() == [M(1), M(2)]
    assert m.loc["L1"].tolist() == [0.8, 1.2]
    assert m.loc["L2"].isna().all()  # capacity 0 (inf) and unknown (NaN) both show blank
    assert m.loc["L3", M(1)] == 0.5 and np.isnan(m.loc["L3", M(2)])  # no row for the month


def test_peak_resource_month_skips_infinite_utilisation() -> None:
    assert supply.peak_resource_month(UTIL) == {"resource": "L1", "period": M(2), "utilisation": 1.2}
    assert supply.peak_resource_month(util_of([("L2", 1, np.inf, True), ("L2", 2, np.nan, False)])) is None


def test_tightest_lists_overloaded_months_else_the_five_tightest() -> None:
    over = supply.tightest(UTIL)
    assert list(zip(over["resource"], over["period"])) == [("L2", M(1)), ("L1", M(2))]  # inf first
    assert list(over.columns) == list(UTIL.columns) and over.index.tolist() == [0, 1]
    free = util_of([("L1", m, u, False) for m, u in zip(range(1, 8), [0.1, 0.7, 0.3, 0.9, 0.5, 0.6, 0.2])])
    assert supply.tightest(free)["utilisation"].tolist() == [0.9, 0.7, 0.6, 0.5, 0.3]
    many = util_of([("L1", m, 1.0 + m / 100, True) for m in range(1, 13)] +
                   [("L2", m, 1.5 + m / 100, True) for m in range(1, 4)])
    top = supply.tightest(many)
    assert len(top) == supply.TIGHTEST_OVERLOADED and top["resource"].head(3).tolist() == ["L2"] * 3


def test_gap_matrix_only_short_families_and_months_with_a_total() -> None:
    short = pd.DataFrame({"family": ["Bikes", "Bikes", "Locks", "Locks", "Bells"],
                          "period": [M(1), M(2), M(1), M(2), M(3)], "short_units": [0.0, 20.0, 5.0, 1e-9, 0.0]})
    g = supply.gap_matrix(short)
    assert g.index.tolist() == ["Bikes", "Locks"] and g.columns.tolist() == [M(1), M(2), "Total"]
    assert g.loc["Bikes"].tolist() == [0.0, 20.0, 20.0] and g.loc["Locks"].tolist() == [5.0, 0.0, 5.0]
    assert supply.gap_matrix(short.assign(short_units=0.0)).empty


def test_unloaded_caption_names_the_skus_and_their_units() -> None:
    unl = pd.DataFrame({"sku": ["D", "Z", "D"], "family": ["Bells", "Other", "Bells"], "resource": [None] * 3,
                        "units": [5.0, 7.0, 1_000.0], "reason": [supply.NO_RESOURCE, supply.NOT_IN_PRODUCTS,
                                                                  supply.NO_RESOURCE]})
    assert supply.unloaded_caption(unl) == (
        "The capacity check can't see 2 skus: D (no resource), Z (not in products) — 1,012 units over the "
        "horizon, planned as if capacity were unlimited. Give them a resource and hours_per_unit in the "
        "products table.")
    many = pd.DataFrame({"sku": [f"S{i}" for i in range(10)], "units": 1.0, "reason": supply.NO_HOURS})
    assert "and 2 more" in supply.unloaded_caption(many) and supply.unloaded_caption(many.head(0)) is None


def test_constrained_series_per_family_or_all() -> None:
    plan = plan_of([("A", "N", "Bikes", 1, 60), ("A", "S", "Bikes", 1, 30), ("A", "N", "Bikes", 2, 100),
                    ("A", "S", "Bikes", 2, 30), ("B", "N", "Helmets", 2, 10)])
    prod = pd.concat([one_line(hours=2.0), PRODUCTS[PRODUCTS["sku"] == "B"]], ignore_index=True)
    c = supply.constrained_plan(plan, prod, capacity_of([("L1", 1, 200), ("L1", 2, 200)]))
    bikes = supply.constrained_series(c, "Bikes").set_index("period")
    assert list(bikes.columns) == ["units", "constrained_units", "prebuilt_units", "short_units"]
    assert bikes.loc[M(2), "units"] == 130.0
    assert bikes["units"].sum() == pytest.approx(bikes["constrained_units"].sum() + bikes["short_units"].sum())
    every = supply.constrained_series(c).set_index("period")
    assert every.loc[M(2), "units"] == 140.0 and every.loc[M(1), "units"] == 90.0


# -- invariants on generated data ------------------------------------------------------------------
def random_case(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A random plan, products, capacity and firm receipts (some resources overloaded)."""
    rng = np.random.default_rng(seed)
    n_sku, T = int(rng.integers(2, 9)), int(rng.integers(3, 13))
    skus = [f"S{i}" for i in range(n_sku)]
    resources = ["R1", "R2", "R3"]
    products = pd.DataFrame({
        "sku": skus, "family": [f"F{i % 3}" for i in range(n_sku)],
        "unit_price": rng.uniform(5, 50, n_sku), "unit_cost": rng.uniform(1, 5, n_sku),
        "resource": [resources[i % 3] if rng.random() > 0.15 else None for i in range(n_sku)],
        "hours_per_unit": rng.uniform(0.1, 2, n_sku),
    })
    months = pd.date_range("2026-01-01", periods=T, freq="MS")
    rows = [(s, r, products.loc[i, "family"], m, float(rng.gamma(2, 40)) * (rng.random() > 0.1))
            for i, s in enumerate(skus) for r in ("N", "S") for m in months]
    plan = pd.DataFrame(rows, columns=["sku", "region", "family", "period", "units"])
    cap_rows = [(m, res, float(rng.uniform(20, 300)), float(rng.uniform(50, 400)))
                for res in ("R1", "R2") for m in months if rng.random() > 0.1]
    capacity = pd.DataFrame(cap_rows, columns=["period", "resource", "available_hours", "capacity_units"])
    rec = pd.DataFrame([(s, m, float(rng.uniform(0, 80))) for s in skus for m in months if rng.random() < 0.2],
                       columns=["sku", "period", "quantity"])
    return plan, products, capacity, rec


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("prebuild", [0, 1, 2, 3])
def test_constrained_plan_invariants(seed: int, prebuild: int) -> None:
    plan, products, capacity, rec = random_case(seed)
    c = supply.constrained_plan(plan, products, capacity, prebuild, rec if seed % 2 else None)
    tol = 1e-6
    # every plan unit is there (no row dropped), and constrained <= unconstrained per row
    assert c["units"].sum() == pytest.approx(plan["units"].sum())
    assert (c["constrained_units"] <= c["units"] + tol).all()
    assert (c["constrained_units"] >= -tol).all()
    assert (c["prebuilt_units"] <= c["constrained_units"] + tol).all()
    assert np.allclose(c["short_units"], c["units"] - c["constrained_units"])
    # cumulatively per row: supplied never exceeds demand, and nothing is supplied before it is made
    c = c.sort_values(["sku", "region", "period"])
    g = c.groupby(["sku", "region"])
    assert (g["constrained_units"].cumsum() <= g["units"].cumsum() + tol).all()
    supplied_new = c["constrained_units"] - c["receipt_units"]
    assert (c.assign(x=supplied_new).groupby(["sku", "region"])["x"].cumsum()
            <= g["made_units"].cumsum() + tol).all()
    # everything made is delivered within the horizon
    assert c["made_units"].sum() == pytest.approx(supplied_new.sum())
    # production never exceeds capacity: firm receipts take capacity first, new production fits the rest
    hours = products.set_index("sku")["hours_per_unit"]
    checked = c[c["capacity_check"] == "capacity"]
    made = (checked["made_units"] * checked["sku"].map(hours)).groupby(
        [checked["resource"], checked["period"]]).sum()
    rec_load = pd.Series(0.0, index=made.index)
    if seed % 2:
        r = rec.merge(products[["sku", "resource", "hours_per_unit"]], on="sku")
        rl = (r["quantity"] * r["hours_per_unit"]).groupby([r["resource"], r["period"]]).sum()
        rec_load = rl.reindex(made.index).fillna(0.0)
    cap = capacity.set_index(["resource", "period"])["available_hours"].reindex(made.index)
    known = cap.notna()  # an unknown month constrains nothing: only rows with no demand stay 'capacity'
    assert (made[~known] <= tol).all()
    assert (made[known] <= np.maximum(cap[known] - rec_load[known], 0.0) + tol).all()


# -- the demo company ------------------------------------------------------------------------------
def demo_tables() -> dict[str, pd.DataFrame]:
    """The demo company's CSVs, as a user would upload them."""
    return {p.stem: pd.read_csv(p) for p in DEMO.glob("*.csv")}


def naive_plan(sales: pd.DataFrame, products: pd.DataFrame, months: int = 12) -> pd.DataFrame:
    """Plan = same month last year per sku × region for the 12 months after the last actual."""
    s = sales.copy()
    s["period"] = pd.to_datetime(s["date"]).dt.to_period("M").dt.start_time
    if "region" not in s.columns:
        s["region"] = "All"
    m = s.groupby(["sku", "region", "period"], as_index=False)["quantity"].sum()
    last = m["period"].max()
    fam = products.set_index("sku")["family"]
    keys = m[["sku", "region"]].drop_duplicates()
    out = []
    for k in range(1, months + 1):
        p = last + pd.DateOffset(months=k)
        ly = m[m["period"] == p - pd.DateOffset(years=1)].set_index(["sku", "region"])["quantity"]
        f = keys.copy()
        f["period"] = p
        f["units"] = [float(ly.get((a, b), 0.0)) for a, b in zip(f["sku"], f["region"])]
        out.append(f)
    plan = pd.concat(out, ignore_index=True)
    plan["family"] = plan["sku"].map(fam).fillna(plan["sku"])
    return plan


def test_demo_company_capacity_invariants() -> None:
    t = demo_tables()
    plan = naive_plan(t["sales"], t["products"])
    load = supply.required_load(plan, t["products"])
    assert load["units"].sum() == pytest.approx(plan["units"].sum())
    u = supply.utilisation(load, t["capacity"])
    assert (u["required_hours"] >= 0).all()
    rec = supply.production_receipts(t["supply"]) if "supply" in t else None
    c = supply.constrained_plan(plan, t["products"], t["capacity"], 2, rec)
    assert (c["constrained_units"] <= c["units"] + 1e-6).all()
    assert c["units"].sum() == pytest.approx(plan["units"].sum())
    s = supply.shortfall(c)
    assert s["short_units"].sum() == pytest.approx(c["short_units"].sum())


def test_load_band_is_anchored_at_100_percent() -> None:
    assert supply.load_band(0.5) == "green"
    assert supply.load_band(supply.LOAD_AMBER) == "amber"
    assert supply.load_band(1.0) == "amber"  # exactly full is not overloaded
    assert supply.load_band(1.0001) == "red"
    assert supply.load_band(float("nan")) == supply.load_band(None) == supply.load_band(float("inf")) == "missing"

"""Coverage: what each plan check could see, and the words for what it could not (no green without evidence)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sop_core.planning import coverage, supply
from sop_core.planning.coverage import Coverage

JAN, FEB = pd.Timestamp("2027-01-01"), pd.Timestamp("2027-02-01")


def consensus(skus: list[str], units: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame({"sku": [s for s in skus for _ in (JAN, FEB)], "period": [JAN, FEB] * len(skus),
                         "consensus": units, "family": "F"})


def constrained(checks: dict[str, list[str]]) -> pd.DataFrame:
    """A constrained plan: sku -> capacity_check per month (Jan, Feb)."""
    rows = [(s, p, 10.0, c) for s, cs in checks.items() for p, c in zip((JAN, FEB), cs)]
    return pd.DataFrame(rows, columns=["sku", "period", "units", "capacity_check"])


# -- the sentence ---------------------------------------------------------------------------------------------
def test_states_and_their_sentences():
    none = Coverage("capacity", 0, 45, reasons=(("are not in the products table", 45),),
                    needs=("products (resource, hours_per_unit)",))
    assert none.state == "none" and not none.complete and none.summary == "not checked"
    assert none.text == ("Load vs capacity: not checked — load products (resource, hours_per_unit) for these skus "
                         "(45 skus: 45 are not in the products table).")
    part = Coverage("capacity", 12, 45, reasons=(("have no resource", 33),),
                    needs=("products (resource, hours_per_unit)",))
    assert part.state == "partial" and part.summary == "checked 12 of 45 skus"
    assert part.text == ("Load vs capacity: checked 12 of 45 skus — 33 have no resource; load products (resource, "
                         "hours_per_unit) for the rest.")
    full = Coverage("inventory", 45, 45)
    assert full.complete and full.text == "Stock projection: checked all 45 skus."
    assert Coverage("prices", 1, 1).summary == "checked 1 sku"
    empty = Coverage("capacity", 0, 0)
    assert empty.state == "none" and not empty.complete  # nothing to check is never "met"
    assert empty.text == "Load vs capacity: not checked — the plan has nothing to check."


def test_one_of_a_kind_reads_in_the_singular_and_families_in_the_plural():
    c = Coverage("annual plan", 2, 3, noun="family", reasons=(("have no revenue_plan for 2027", 1),),
                 needs=("plan (revenue_plan for 2027)",))
    assert c.text == ("Comparison with the annual plan: checked 2 of 3 families — 1 has no revenue_plan for 2027; "
                      "load plan (revenue_plan for 2027) for the rest.")


def test_not_checked_before_any_plan_names_the_missing_tables():
    assert coverage.not_checked("capacity", ["sales"]) == \
        "Load vs capacity: not checked — load capacity and products (resource, hours_per_unit)."
    assert coverage.not_checked("capacity", ["sales", "products"]) == "Load vs capacity: not checked — load capacity."
    assert coverage.not_checked("inventory", ["sales", "inventory"], "the forecast") == \
        "Stock projection: not checked — waiting for the forecast."
    assert coverage.not_checked("annual plan", []) == \
        "Comparison with the annual plan: not checked — load plan (revenue_plan)."


# -- capacity ------------------------------------------------------------------------------------------------
def test_capacity_counts_skus_checked_in_every_month_they_have_demand():
    c = coverage.capacity(constrained({
        "A": [supply.CHECKED, supply.CHECKED], "B": [supply.CHECKED, supply.UNKNOWN_MONTH],
        "C": [supply.NO_RESOURCE, supply.NO_RESOURCE], "D": [supply.NO_RESOURCE] * 2,
        "E": [supply.NOT_IN_PRODUCTS] * 2}))
    assert (c.checked, c.total, c.state) == (1, 5, "partial")
    assert c.reasons == (("have no resource", 2), ("are not in the products table", 1),
                         ("have months without capacity", 1))
    assert c.needs == ("products (resource, hours_per_unit)", "capacity")
    assert c.text == ("Load vs capacity: checked 1 of 5 skus — 2 have no resource, 1 is not in the products table, "
                      "1 has months without capacity; load products (resource, hours_per_unit) and capacity for the "
                      "rest.")


def test_capacity_of_a_first_file_is_not_checked():
    plan = constrained({f"Store {i}": [supply.NOT_IN_PRODUCTS] * 2 for i in range(45)})
    c = coverage.capacity(plan, capacity_loaded=False, products_loaded=False)
    assert c.state == "none" and c.checked == 0 and c.total == 45
    assert c.text == ("Load vs capacity: not checked — load capacity and products (resource, hours_per_unit) for "
                      "these skus (45 skus: no capacity and no products tables loaded).")
    # the tables are there but hold other skus: the reason is said per sku
    c = coverage.capacity(plan)
    assert c.text.endswith("(45 skus: 45 are not in the products table).")


def test_capacity_ignores_skus_without_demand_and_an_empty_plan_is_not_checked():
    plan = constrained({"A": [supply.CHECKED] * 2}).pipe(
        lambda d: pd.concat([d, constrained({"Z": [supply.NO_RESOURCE] * 2}).assign(units=0.0)]))
    assert coverage.capacity(plan).complete
    assert coverage.capacity(plan.iloc[0:0]).state == "none"


# -- stock, prices, annual plan ------------------------------------------------------------------------------
def test_inventory_counts_plan_skus_with_a_stock_record():
    cons = consensus(["A", "B", "C"])
    c = coverage.inventory(cons, pd.DataFrame({"sku": ["A", "X"], "on_hand": [1.0, 5.0]}))
    assert (c.checked, c.total) == (1, 3) and c.reasons == (("have no stock record in the inventory table", 2),)
    assert coverage.checked_skus(cons, pd.DataFrame({"sku": ["A", "X"]})) == {"A"}  # X is not in the plan
    none = coverage.inventory(cons, pd.DataFrame({"sku": pd.Series(dtype=str)}), inventory_loaded=False)
    assert none.state == "none" and none.text == ("Stock projection: not checked — load inventory for these skus "
                                                  "(3 skus: no inventory table loaded).")
    # a sku with no demand left is still the plan's: its stock is checked too
    assert coverage.inventory(consensus(["A"], units=0.0), pd.DataFrame({"sku": ["A"]})).complete


def test_prices_count_plan_skus_with_a_unit_price():
    cons = consensus(["A", "B", "C"])
    products = pd.DataFrame({"sku": ["A", "B"], "unit_price": [5.0, np.nan]})
    c = coverage.prices(cons, products)
    assert (c.checked, c.total) == (1, 3)
    assert c.reasons == (("are not in the products table", 1), ("have no unit_price", 1))
    assert c.text == ("Value in money: checked 1 of 3 skus — 1 is not in the products table, 1 has no unit_price; "
                      "load products (unit_price) for the rest.")
    derived = pd.DataFrame({"sku": ["A", "B", "C"], "unit_price": np.nan, "derived": True})  # sales without revenue
    assert coverage.prices(cons, derived).text == ("Value in money: not checked — load products (unit_price) for "
                                                   "these skus (3 skus: 3 have no unit_price).")


def test_annual_plan_counts_outlook_families_with_revenue_plan_for_the_year():
    outlook = pd.DataFrame({"family": ["F1", "F2", "F3"], "period": JAN, "units": [1.0, 1.0, 0.0]})
    budget = pd.DataFrame({"period": [JAN, pd.Timestamp("2026-01-01")], "family": ["F1", "F2"],
                           "revenue_plan": [100.0, 100.0]})
    c = coverage.annual_plan(outlook, budget, 2027)
    assert (c.checked, c.total) == (1, 2)  # F3 sells nothing in 2027; F2's plan is for 2026
    assert c.text == ("Comparison with the annual plan: checked 1 of 2 families — 1 has no revenue_plan for 2027; "
                      "load plan (revenue_plan for 2027) for the rest.")
    none = coverage.annual_plan(outlook, budget.iloc[0:0], 2027, plan_loaded=False)
    assert none.state == "none" and none.text == ("Comparison with the annual plan: not checked — load plan "
                                                  "(revenue_plan for 2027) for these families (2 families: no plan "
                                                  "table loaded).")


def test_is_loaded_tells_a_derived_products_table_from_a_loaded_one():
    assert coverage.is_loaded(pd.DataFrame({"sku": ["A"], "derived": [False]}))
    assert not coverage.is_loaded(pd.DataFrame({"sku": ["A"], "derived": [True]}))
    assert not coverage.is_loaded(pd.DataFrame({"sku": pd.Series(dtype=str)})) and not coverage.is_loaded(None)


def test_plan_coverage_lists_the_checks_that_did_not_see_everything():
    full = Coverage("capacity", 3, 3)
    pc = coverage.PlanCoverage(capacity=full, inventory=Coverage("inventory", 0, 3), prices=Coverage("prices", 3, 3),
                               annual_plan=Coverage("annual plan", 1, 2, noun="family"))
    assert [c.check for c in pc.incomplete()] == ["inventory", "annual plan"]
    assert [c.check for c in pc.incomplete("capacity", "inventory")] == ["inventory"]


@pytest.mark.parametrize("check", list(coverage.CHECKS))
def test_every_check_has_a_sentence_and_the_tables_it_needs(check):
    assert coverage.CHECKS[check] and coverage.NEEDS[check]
    assert coverage.not_checked(check, []).startswith(f"{coverage.CHECKS[check]}: not checked — load ")

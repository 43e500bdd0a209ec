"""Units of measure (case 29): one unit loads as written; several units are rejected, unless products
give the case -> base unit conversion, in which case quantities are converted and reported."""
from __future__ import annotations

import pandas as pd
import pytest
from test_intake import snapshot

from sop_core.intake import units
from sop_core.intake.load import load, prepare
from sop_core.intake.mapping import propose_mapping
from sop_core.intake.worker import prepare_isolated
from sop_core.store.workspace import Workspace

SALES_MIXED = (b"Order Date,Item No,Qty,UoM,Revenue\n"
               b"2024-01-01,A1,5,EA,50\n"
               b"2024-01-01,A1,2,CS,240\n"
               b"2024-02-01,B2,3,ea,60\n"
               b"2024-02-01,B2,1, case ,120\n"
               b"2024-03-01,A1,7,EA,70\n")
PRODUCTS_PLAIN = b"sku,family,unit_price,unit_cost\nA1,Tools,10,6\nB2,Tools,20,12\n"
PRODUCTS_CASES = (b"Item No,Family,Price,Cost,Base UoM,Case Pack\n"
                  b"A1,Tools,10,6,EA,12\nB2,Tools,20,12,each,24\nC3,Tools,5,3,,\n")


@pytest.fixture
def with_products(workspace: Workspace) -> Workspace:
    """A workspace whose products give units per case for A1 (12) and B2 (24), none for C3."""
    p = load(workspace, "products.csv", PRODUCTS_CASES, "products")
    assert p.ok, p.errors
    return workspace


def test_unit_codes_and_conversions_from_products() -> None:
    codes = units.normalise_units(pd.Series([" ea", "Each", "PCS", "cs", "Case ", "CTN", "PAL", None, "k g"]))
    assert codes.tolist() == ["EA", "EA", "EA", "CS", "CS", "CS", "PAL", "", "KG"]
    products = pd.DataFrame({"sku": ["A1", "B2", "C3", "D4"], "base_unit": ["pcs", None, None, "KG"],
                             "units_per_case": [12.0, 24.0, None, None]})
    assert units.conversions_from_products(products) == {"A1": ("EA", 12.0), "B2": ("EA", 24.0), "D4": ("KG", None)}
    assert units.conversions_from_products(products.drop(columns=["base_unit", "units_per_case"])) == {}
    assert units.describe_counts(pd.Series(["EA", "EA", "CS", ""])) == "EA: 2 rows, CS: 1 row, (empty): 1 row"


def test_unit_columns_are_proposed_from_erp_headers() -> None:
    assert propose_mapping(["Order Date", "Item No", "Qty", "UoM"], "sales")["unit"] == "UoM"
    assert propose_mapping(["date", "sku", "on hand", "Unit of Measure"], "inventory")["unit"] == "Unit of Measure"
    products = propose_mapping(["Item No", "Family", "Price", "Cost", "Base UoM", "Case Pack"], "products")
    assert products["base_unit"] == "Base UoM" and products["units_per_case"] == "Case Pack"


def test_one_unit_loads_as_written(workspace: Workspace) -> None:
    p = load(workspace, "s.csv", b"date,sku,qty,unit\n2024-01-01,A1,5,CS\n2024-02-01,A1,2, cs\n", "sales")
    assert p.ok, p.errors
    assert workspace.table("sales")["quantity"].tolist() == [5.0, 2.0]
    assert p.notes[-1] == "column 'unit': every quantity is in CS, loaded as written"
    assert "unit" not in workspace.table("sales").columns
    assert not any("unit" in w for w in p.warnings)


def test_mixed_units_without_conversion_are_rejected_and_nothing_changes(workspace: Workspace) -> None:
    assert load(workspace, "products.csv", PRODUCTS_PLAIN, "products").ok
    assert load(workspace, "sales.csv", b"date,sku,quantity\n2024-01-01,A1,9\n", "sales").ok
    before = snapshot(workspace)
    p = load(workspace, "mixed.csv", SALES_MIXED, "sales")
    assert not p.ok and [e.kind for e in p.errors] == ["mixed_units"]
    err = p.errors[0]
    assert err.column == "UoM" and err.rows == [3, 5] and err.count == 2
    assert str(err) == (
        "mixed.csv, column 'UoM': 2 rows are in other units than the rest of the column (rows 3, 5), e.g. 'CS'. "
        "Mixed units (EA: 3 rows, CS: 2 rows) with no conversion: use one unit in the file, or load products "
        "with units_per_case (and base_unit when it is not EA) for these skus first, so cases are converted.")
    assert snapshot(workspace) == before


def test_mixed_units_are_converted_with_the_products_units_per_case(with_products: Workspace) -> None:
    p = load(with_products, "mixed.csv", SALES_MIXED, "sales")
    assert p.ok, p.errors
    stored = with_products.query('SELECT "date", "sku", "quantity", "revenue" FROM "sales" ORDER BY "date", "sku"')
    # A1 on 2024-01-01: 5 EA + 2 CS × 12 = 29, summed as one key after the conversion; B2: 3 EA, 1 CS × 24
    assert stored["quantity"].tolist() == [29.0, 27.0, 7.0]
    assert stored["revenue"].tolist() == [290.0, 180.0, 70.0]  # money is not a quantity: never converted
    assert ("mixed.csv, column 'UoM': 2 rows in cases (CS) converted to EA — quantity × units_per_case from "
            "products (A1 ×12, B2 ×24) (rows 3, 5); units found: EA: 3 rows, CS: 2 rows") in p.warnings
    assert p.stats["duplicates_summed"] == 2


def test_every_quantity_column_of_orders_is_converted(with_products: Workspace) -> None:
    data = (b"order_id,sku,requested_date,requested_qty,delivered_date,delivered_qty,unit\n"
            b"O1,A1,2024-01-05,2,2024-01-07,1,CS\nO2,B2,2024-01-06,10,,,EA\n")
    p = prepare("orders.csv", data, "orders", ws=with_products)
    assert p.ok, p.errors
    assert p.frame["requested_qty"].tolist() == [24.0, 10.0]
    assert p.frame["delivered_qty"].tolist()[0] == 12.0 and pd.isna(p.frame["delivered_qty"].iloc[1])


def test_rows_of_a_sku_without_conversion_are_an_error(with_products: Workspace) -> None:
    before = snapshot(with_products)
    data = b"date,sku,quantity,uom\n2024-01-01,A1,5,EA\n2024-01-01,C3,2,CS\n2024-02-01,A1,1,PAL\n2024-02-01,A1,1,CS\n"
    p = load(with_products, "s.csv", data, "sales")
    assert not p.ok and [e.kind for e in p.errors] == ["no_unit_conversion"]
    err = p.errors[0]
    assert err.column == "uom" and err.rows == [3, 4]
    assert "2 rows are in units with no conversion to their sku's base unit (rows 3, 4), e.g. 'CS for sku C3'" \
        in str(err)
    assert str(err).endswith("Units found: CS: 2 rows, EA: 1 row, PAL: 1 row. Add units_per_case (base units in one "
                             "case) to products for 'C3' and load it first. Only cases (CS) are converted: give the "
                             "rows in PAL in the sku's base unit.")
    assert snapshot(with_products) == before


def test_the_isolated_worker_converts_with_the_workspace_products(with_products: Workspace) -> None:
    p = prepare_isolated("mixed.csv", SALES_MIXED, "sales", ws=with_products)
    assert p.ok, p.errors
    assert p.frame.sort_values(["date", "sku"])["quantity"].tolist() == [29.0, 27.0, 7.0]
    assert any("converted to EA" in w for w in p.warnings)
    without = prepare_isolated("mixed.csv", SALES_MIXED, "sales")
    assert [e.kind for e in without.errors] == ["mixed_units"] and without.errors[0].rows == [3, 5]


def test_units_per_case_must_be_at_least_one() -> None:
    p = prepare("products.csv", b"sku,family,unit_price,unit_cost,units_per_case\nA1,Tools,10,6,0\n", "products")
    assert not p.ok and p.errors[0].column == "units_per_case" and p.errors[0].rows == [2]


def test_a_file_all_in_cases_is_converted_when_products_give_the_factor(with_products: Workspace) -> None:
    p = load(with_products, "cases.csv", b"date,sku,qty,unit\n2024-01-01,A1,2,CS\n2024-01-01,B2,1,case\n", "sales")
    assert p.ok, p.errors
    assert with_products.query('SELECT "quantity" FROM "sales" ORDER BY "sku"')["quantity"].tolist() == [24.0, 24.0]
    assert any("2 rows in cases (CS) converted to EA" in w for w in p.warnings)
    # ...and without a factor for the sku it is an error, not a silent load in cases
    q = load(with_products, "c3.csv", b"date,sku,qty,unit\n2024-01-01,C3,2,CS\n", "sales")
    assert not q.ok and [e.kind for e in q.errors] == ["no_unit_conversion"]

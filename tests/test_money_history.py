"""A history in money (issue 17, item 5): sales values only, said at load or detected by the mapping.

The amounts are the demand: stored in quantity and revenue, the basis recorded with the load (setting
`contract.BASIS_SETTING`, same transaction); products are priced 1.0 per currency unit, so the plan's
revenue is the consensus itself; capacity and stock are not checked (they need units); the board pack
shows revenue, not units. The real file is Prophet's example of US retail sales (millions of dollars).
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file
from pypdf import PdfReader
from test_plan import seasonal_naive  # the statistical frame the plan tests use

from sop_core import contract
from sop_core.cli import main as cli
from sop_core.demand import consensus, history
from sop_core.formatting import delta_demand, demand, demand_noun
from sop_core.intake import company
from sop_core.intake.errors import IntakeError
from sop_core.intake.load import append, commit, is_money, load, prepare
from sop_core.intake.mapping import guess_table, is_money_layout, propose_mapping
from sop_core.intake.raw_table import Limits
from sop_core.intake.worker import prepare_isolated
from sop_core.meetings import pack
from sop_core.planning import coverage, plan
from sop_core.store.workspace import Workspace

RETAIL = "prophet_examples/example_retail_sales.csv"
REVENUE_ONLY = (b"Order Date,Product ID,Category,Sales\n"
                b"2025-01-01,A,Tents,100.50\n2025-02-01,A,Tents,120\n2025-03-01,A,Tents,90\n"
                b"2025-01-01,B,Bags,10\n2025-02-01,B,Bags,12.25\n2025-03-01,B,Bags,11\n")
UNITS_FILE = b"Order Date,Product ID,Qty\n2025-04-01,A,7\n"


def basis(ws: Workspace) -> str | None:
    """The basis the workspace recorded for its sales history (None when never written)."""
    return ws.get_setting(contract.BASIS_SETTING)


def sales(ws: Workspace) -> pd.DataFrame:
    return ws.query('SELECT * FROM sales ORDER BY sku, "date"')


def retail_bytes() -> bytes:
    return shared_file(RETAIL).read_bytes()


# -- detection and the explicit choice -------------------------------------------------------------
def test_a_file_with_sales_and_no_quantity_column_is_detected_as_money(workspace: Workspace) -> None:
    headers = ["Order Date", "Product ID", "Category", "Sales"]
    mapping = propose_mapping(headers, "sales")
    assert "quantity" not in mapping and mapping["revenue"] == "Sales" and is_money_layout(mapping, "sales")
    assert guess_table(headers) == "sales"
    assert guess_table(["Date", "SKU", "Sales"]) == "sales"  # not the annual plan (period, sku, revenue_plan)
    p = load(workspace, "orders.csv", REVENUE_ONLY)
    assert p.ok, [str(e) for e in p.errors]
    assert p.table == "sales" and is_money(p) and p.mapping["revenue"] == "Sales" and "quantity" not in p.mapping
    assert any("history in money" in n for n in p.notes)
    got = sales(workspace)
    assert got["quantity"].tolist() == got["revenue"].tolist() == [100.5, 120.0, 90.0, 10.0, 12.25, 11.0]
    assert basis(workspace) == contract.MONEY and history.is_money(workspace)


def test_a_file_with_quantity_and_sales_stays_in_units(workspace: Workspace) -> None:
    p = load(workspace, "s.csv", b"Date,SKU,Qty,Sales\n2025-01-01,A,2,20\n2025-02-01,A,3,30\n")
    assert p.ok and not is_money(p)
    assert sales(workspace)[["quantity", "revenue"]].values.tolist() == [[2.0, 20.0], [3.0, 30.0]]
    assert basis(workspace) is None and history.measure(workspace) == contract.UNITS  # units: nothing to record


def test_saying_money_on_a_file_with_both_columns_takes_the_amounts(workspace: Workspace) -> None:
    p = load(workspace, "s.csv", b"Date,SKU,Qty,Sales\n2025-01-01,A,2,20\n", money=True)
    assert p.ok and is_money(p)
    assert sales(workspace)[["quantity", "revenue"]].values.tolist() == [[20.0, 20.0]]
    assert any("ignored column 'Qty'" in w for w in p.warnings)


def test_saying_units_on_a_revenue_only_file_asks_for_the_quantity(workspace: Workspace) -> None:
    p = prepare("orders.csv", REVENUE_ONLY, ws=workspace, money=False)
    assert not p.ok and "missing: quantity" in str(p.errors[0])


def test_the_real_retail_sales_file_loads_as_money_through_the_upload_path(workspace: Workspace) -> None:
    """example_retail_sales.csv (`ds, y`, US retail sales in $M) checked in the parse worker, then committed."""
    company.start_company(workspace, "test", name="Retail")
    p = prepare_isolated("example_retail_sales.csv", retail_bytes(), None, ws=workspace, money=True)
    assert p.ok, [str(e) for e in p.errors]
    assert p.table == "sales" and is_money(p) and p.mapping["revenue"] == "y"
    commit(workspace, p, author="test")
    raw = pd.read_csv(shared_file(RETAIL))
    got = sales(workspace)
    assert len(got) == len(raw) == 293 and got["sku"].unique().tolist() == ["example_retail_sales"]
    assert got["revenue"].tolist() == got["quantity"].tolist() == raw["y"].astype(float).tolist()
    assert basis(workspace) == contract.MONEY
    prod = history.products(workspace)
    assert prod["unit_price"].tolist() == [1.0] and prod["unit_cost"].isna().all()
    # the same layout is remembered as money: the next upload needs no questions
    again = prepare_isolated("example_retail_sales.csv", retail_bytes(), None, ws=workspace)
    assert again.ok and again.mapping_source == "remembered" and is_money(again)


def test_without_saying_money_a_ds_y_file_is_units(workspace: Workspace) -> None:
    p = load(workspace, "example_retail_sales.csv", retail_bytes())
    assert p.ok and not is_money(p) and not history.is_money(workspace)


def test_a_streamed_money_file_stores_the_amounts_as_revenue(workspace: Workspace) -> None:
    p = prepare_isolated("orders.csv", REVENUE_ONLY, "sales", ws=workspace, keep_staged=True,
                         limits=Limits(stream_bytes=0))
    assert p.ok and p.staged is not None and is_money(p)
    commit(workspace, p)
    got = sales(workspace)
    assert got["revenue"].tolist() == got["quantity"].tolist() == [100.5, 120.0, 90.0, 10.0, 12.25, 11.0]
    assert basis(workspace) == contract.MONEY


def test_a_wide_file_said_to_be_money(workspace: Workspace) -> None:
    p = load(workspace, "wide.csv", b"Month,North,South\n2025-01-01,10,20\n2025-02-01,11,21\n", money=True)
    assert p.ok and p.wide is not None and is_money(p)
    assert sales(workspace)["revenue"].tolist() == [10.0, 11.0, 20.0, 21.0]
    assert basis(workspace) == contract.MONEY


# -- stored with the load, reset with the company ----------------------------------------------------------
def test_the_basis_is_written_in_the_loads_transaction(workspace: Workspace) -> None:
    assert load(workspace, "orders.csv", REVENUE_ONLY).ok and basis(workspace) == contract.MONEY
    p = prepare("u.csv", b"Date,SKU,Qty\n2025-01-01,A,1\n", ws=workspace)
    p.frame["quantity"] = pd.Series(["not a number"] * len(p.frame), dtype=object)  # the CAST fails mid-way
    with pytest.raises(IntakeError, match="could not be stored, nothing changed"):
        commit(workspace, p)
    assert basis(workspace) == contract.MONEY  # rolled back with the table
    events = workspace.query("SELECT kind, subject, detail FROM audit_log WHERE subject = ?", [contract.BASIS_SETTING])
    assert [json.loads(d)["value"] for d in events["detail"]] == [contract.MONEY]
    assert load(workspace, "u.csv", b"Date,SKU,Qty\n2025-01-01,A,1\n").ok and basis(workspace) == contract.UNITS
    assert load(workspace, "u.csv", b"Date,SKU,Qty\n2025-01-01,A,2\n").ok  # the same basis: no new setting event
    assert len(workspace.query("SELECT 1 FROM audit_log WHERE subject = ?", [contract.BASIS_SETTING])) == 2


def test_appending_another_basis_is_refused(workspace: Workspace) -> None:
    assert load(workspace, "orders.csv", REVENUE_ONLY).ok
    before = sales(workspace)
    with pytest.raises(IntakeError, match="in units but the loaded history is in money"):
        append(workspace, prepare("u.csv", UNITS_FILE, ws=workspace))
    assert sales(workspace).equals(before)
    done = append(workspace, prepare("more.csv", b"Order Date,Product ID,Sales\n2025-04-01,A,50\n", ws=workspace))
    assert done.rows_added == 1 and basis(workspace) == contract.MONEY


def test_a_company_reset_forgets_the_money_basis(workspace: Workspace) -> None:
    company.start_company(workspace, "test")
    assert load(workspace, "orders.csv", REVENUE_ONLY).ok and history.is_money(workspace)
    company.reset_to_demo(workspace, backup_dir=workspace.path.parent / "backups")
    assert basis(workspace) is None and not history.is_money(workspace)
    company.start_company(workspace, "test", backup_dir=workspace.path.parent / "backups")
    assert not history.is_money(workspace)


def test_the_command_line_says_money(workspace: Workspace, tmp_path: Path, capsys) -> None:
    path = workspace.path
    workspace.close()
    assert cli.main(["--workspace", str(path), "load", str(shared_file(RETAIL)), "--money"]) == 0
    out = capsys.readouterr().out
    assert "revenue <- 'y'" in out and "loaded 293 rows into sales (a history in money)" in out
    with Workspace(path) as ws:
        assert history.is_money(ws)
        assert sales(ws)["revenue"].sum() == pytest.approx(float(pd.read_csv(shared_file(RETAIL))["y"].sum()))


# -- planning in money -------------------------------------------------------------------------------------
def test_products_in_money_cost_per_currency_unit(workspace: Workspace) -> None:
    assert load(workspace, "orders.csv", REVENUE_ONLY).ok
    products = b"sku,family,unit_price,unit_cost\nA,Tents,200,150\nB,Bags,0,5\n"
    assert load(workspace, "products.csv", products, "products").ok
    prod = history.products(workspace).set_index("sku")
    assert prod["unit_price"].tolist() == [1.0, 1.0]
    assert prod.loc["A", "unit_cost"] == pytest.approx(0.75) and pd.isna(prod.loc["B", "unit_cost"])
    assert not prod["derived"].any()


def money_plan(ws: Workspace) -> tuple[plan.PlanInputs, plan.PlanResult]:
    cons = consensus.apply_overrides(seasonal_naive(history.demand_history(ws), 12))
    inputs = plan.PlanInputs.from_workspace(ws, cons)
    return inputs, plan.evaluate(inputs)


def test_a_plan_in_money_is_valued_at_its_amounts_and_checks_no_units(workspace: Workspace) -> None:
    assert load(workspace, "orders.csv", REVENUE_ONLY).ok
    assert load(workspace, "products.csv", b"sku,family,unit_price,unit_cost,resource,hours_per_unit\n"
                                           b"A,Tents,200,150,Line,1\nB,Bags,10,4,Line,1\n", "products").ok
    assert load(workspace, "cap.csv", b"period,resource,available_hours\n2026-01-01,Line,1\n", "capacity").ok
    assert load(workspace, "inv.csv", b"date,sku,on_hand\n2025-03-31,A,5\n", "inventory").ok
    inputs, r = money_plan(workspace)
    assert inputs.basis == contract.MONEY
    assert inputs.capacity.empty and inputs.inventory.empty and inputs.supply.empty  # they are in units
    assert r.kpis["horizon_revenue_unconstrained"] == pytest.approx(float(inputs.consensus["consensus"].sum()))
    cost = (r.valued_plan["cogs"].sum() / r.valued_plan["revenue"].sum())
    assert 0.4 < cost < 0.75  # between B's 40% and A's 75% cost of sales
    for cov in (r.coverage.capacity, r.coverage.inventory):
        assert cov.state == "none" and "history in money, not units" in cov.text, cov.text
        assert "load sales (quantity in units)" in cov.text
    assert r.coverage.prices.complete
    units_inputs = plan.PlanInputs.from_workspace(workspace, inputs.consensus)  # cache key says the basis
    assert units_inputs.cache_key() == inputs.cache_key()
    assert plan.dataclasses.replace(inputs, basis=contract.UNITS).cache_key() != inputs.cache_key()


def test_the_annual_plan_of_a_money_history_is_its_revenue(workspace: Workspace) -> None:
    assert load(workspace, "orders.csv", REVENUE_ONLY).ok
    budget = b"period,family,volume_plan,revenue_plan\n" + b"".join(
        f"2025-{m:02d}-01,Tents,3,100\n".encode() for m in range(4, 13))
    assert load(workspace, "plan.csv", budget, "plan").ok
    inputs, r = money_plan(workspace)
    assert inputs.budget["volume_plan"].tolist() == inputs.budget["revenue_plan"].tolist()
    steps = r.bridge.set_index("step")["value"]
    assert "Price" in steps and steps["Price"] == pytest.approx(0.0, abs=1e-6)  # one currency unit is one unit


def test_units_views_say_they_need_a_history_in_units() -> None:
    text = coverage.needs_units("supply review")
    assert text.startswith("The supply review needs a sales history in units") and "Data page" in text


def test_the_board_pack_of_a_money_history_shows_revenue_not_units(workspace: Workspace) -> None:
    assert load(workspace, "orders.csv", REVENUE_ONLY).ok
    cons = consensus.apply_overrides(seasonal_naive(history.demand_history(workspace), 12))
    content = pack.gather(workspace, consensus=cons)
    assert content.in_money and content.measure == "Consensus revenue"
    assert content.capacity_text.startswith("Capacity is not checked: the sales history is in money")
    sheets, formats, _ = pack.xlsx_sheets(content)
    assert "Units" not in sheets["Plan"].columns and "Revenue" in sheets["Plan"].columns
    assert "Plan units (horizon)" not in sheets["Family summary"].columns
    bridge = sheets["Bridge"].set_index("Step")["What it measures"]
    volume = next(bridge[s] for s in ("Volume", "Volume & mix") if s in bridge.index)
    assert "a history in money: its volume is revenue" in volume
    pdf = pack.build_pdf(content, pack.ChartImages())
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages))
    assert "Consensus revenue by month" in text and "Plan units" not in text
    assert "of consensus revenue over the plan horizon" in text


# -- formatting ----------------------------------------------------------------------------------------------
def test_demand_figures_in_their_measure() -> None:
    assert (demand(1_234_567.0, in_money=True), demand(1234.0), demand(1234.0, with_unit=True)) == \
        ("$1.23M", "1,234", "1,234 units")
    assert (delta_demand(-2500.0, True), delta_demand(12.0, with_unit=True)) == ("−$2.50K", "+12 units")
    assert (demand_noun(True), demand_noun(False), demand(None, True)) == ("revenue", "units", "—")

"""The pages on a history in money: Prophet's US retail sales ($M, `ds, y`) loaded with "amounts are money".

The workspace is built as a user would: their own company, the file checked in the parse worker with
money=True and committed, the forecast fitted (one series, seconds). The Demand review and Financials
show currency, never units; the Supply review and Inventory say they need a sales history in units;
every other page runs.
"""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from apptest_support import APP, app, app_workspace, demo_workspace_file, metrics, open_page, texts  # noqa: F401
from apptest_support import open_copy as _open
from conftest import shared_file

from sop_core import escape
from sop_core.demand import consensus, forecast, history
from sop_core.formatting import money
from sop_core.planning import coverage

BUILD = """
import sys
from sop_core.intake import company, load, worker
from sop_core.demand import forecast
from sop_core.store.workspace import Workspace
path, file, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
with Workspace(path) as ws:
    company.start_company(ws, "test", name="US retail")
    p = worker.prepare_isolated("example_retail_sales.csv", open(file, "rb").read(), None, ws=ws, money=True)
    assert p.ok, [str(e) for e in p.errors]
    load.commit(ws, p, author="test")
    for f in extra:
        name, table = f.rsplit(":", 1)
        assert load.load(ws, name, open(name, "rb").read(), table, author="test").ok
    forecast.run_forecast(ws, forecast.saved_settings(ws))
"""
# the user's products, capacity and stock, all in units: a money history cannot use the last two
UNITS_TABLES = {
    "products": b"sku,family,unit_price,unit_cost,resource,hours_per_unit\nexample_retail_sales,Retail,100,60,Line,0.01\n",
    "capacity": b"period,resource,available_hours\n" + b"".join(
        f"{y}-{m:02d}-01,Line,10\n".encode() for y in (2016, 2017) for m in range(1, 13)),
    "inventory": b"date,sku,on_hand\n2016-05-31,example_retail_sales,1000\n",
}


def _build(folder, extra: dict[str, bytes]) -> str:
    path = folder / "workspace.duckdb"
    args = []
    for table, data in extra.items():
        (folder / f"{table}.csv").write_bytes(data)
        args.append(f"{folder / f'{table}.csv'}:{table}")
    subprocess.run([sys.executable, "-c", BUILD, str(path), str(shared_file("prophet_examples/example_retail_sales.csv")),
                    *args], cwd=APP.parent, check=True, timeout=600)
    return str(path)


@pytest.fixture(scope="module")
def retail_money(tmp_path_factory) -> str:
    return _build(tmp_path_factory.mktemp("money"), {})


@pytest.fixture(scope="module")
def with_unit_tables(tmp_path_factory) -> str:
    return _build(tmp_path_factory.mktemp("money_units"), UNITS_TABLES)


def test_demand_review_shows_consensus_revenue_in_currency(retail_money, tmp_path, monkeypatch):
    at = _open(retail_money, tmp_path, monkeypatch, "demand_review")
    at.workspace_path = tmp_path / "workspace.duckdb"  # the copy open_copy made
    ws = app_workspace(at)
    assert history.is_money(ws)
    settings = forecast.saved_settings(ws)
    run = forecast.load_run(ws, settings)
    cons = consensus.load_consensus(ws, run.run_key)
    first = cons["period"].min()
    expected = float(cons.loc[cons["period"] < first + pd.DateOffset(months=12), "consensus"].sum())
    shown = metrics(at)
    assert shown["Consensus revenue, next 12 months"] == money(expected), shown
    assert not any(label.startswith("Consensus units") for label in shown)
    assert shown["Consensus in these periods"].startswith("$")
    assert "The sales history is in money" in texts(at)


@pytest.mark.parametrize("page,view", [("supply_review", "supply review"), ("inventory", "inventory projection")])
def test_units_views_say_they_need_a_history_in_units(retail_money, tmp_path, monkeypatch, page, view):
    at = _open(retail_money, tmp_path, monkeypatch, page)
    assert [i.value for i in at.info] == [coverage.needs_units(view)]
    assert not at.metric  # no number in units is shown


def test_financials_values_the_plan_at_its_amounts(retail_money, tmp_path, monkeypatch):
    at = _open(retail_money, tmp_path, monkeypatch, "financials")
    body = texts(at)
    assert "The sales history is in money" in body and "prices are derived from sales revenue" not in body
    assert metrics(at)["Full-year outlook 2016"].startswith("$")


@pytest.mark.parametrize("page", ["home", "data", "scenarios", "pre_sop", "executive", "scorecard"])
def test_every_other_page_runs_on_a_money_history(retail_money, tmp_path, monkeypatch, page):
    at = _open(retail_money, tmp_path, monkeypatch, page)
    assert not at.exception
    if page == "data":
        assert "The sales history is in money" in texts(at)
    assert "needs the products table" not in texts(at)  # valued at its amounts: no prices to load


@pytest.mark.parametrize("page", ["home", "supply_review", "inventory", "financials", "scenarios", "pre_sop",
                                  "executive", "scorecard"])
def test_loaded_capacity_and_stock_are_not_checked_against_money(with_unit_tables, tmp_path, monkeypatch, page):
    at = _open(with_unit_tables, tmp_path, monkeypatch, page)
    body = texts(at)
    assert not at.success, [s.value for s in at.success]
    for claim in ("Capacity covers the consensus", "No stockout and no safety-stock breach is projected"):
        assert claim not in body, claim
    if page in ("supply_review", "inventory"):
        assert "needs a sales history in units" in body
    if page == "financials":
        assert "gross margin needs unit_price and unit_cost" in body
        assert metrics(at)["Gross margin %"] == "40.0%"  # 1 − 60 / 100: the cost of a dollar of sales
    if page == "scorecard":
        shown = metrics(at)
        for label in ("Inventory turns", "Days of supply (forward)", "Capacity utilisation (peak)"):
            assert shown[label] == "Not checked", (label, shown[label])


# -- the Data page: the user says so, or the file says it -------------------------------------------------
def _money_box(at):
    return next(c for c in at.checkbox if c.label == "Amounts are money, not units")


def test_data_page_loads_a_ds_y_file_as_money_when_the_box_is_ticked(app):
    at = open_page(app, "data")
    data = shared_file("prophet_examples/example_retail_sales.csv").read_bytes()
    at.file_uploader(key="uploads").set_value(("example_retail_sales.csv", data, "text/csv")).run()
    assert not at.exception and not _money_box(at).value  # `ds, y`: units unless the user says otherwise
    _money_box(at).check().run()
    assert not at.exception and _money_box(at).value
    assert any("history in money" in c.value for c in at.caption), [c.value for c in at.caption]
    next(b for b in at.button if b.label == "Start my company with this file").click().run()
    assert not at.exception
    ws = app_workspace(at)
    assert history.is_money(ws)
    stored = ws.query("SELECT quantity, revenue FROM sales")
    assert len(stored) == 293 and stored["quantity"].equals(stored["revenue"])
    assert "The sales history is in money" in texts(at)


def test_data_page_ticks_the_box_for_a_file_with_sales_and_no_quantity(app):
    at = open_page(app, "data")
    data = b"Order Date,Product ID,Sales\n2026-01-01,TN-1001,120.5\n2026-02-01,TN-1001,99\n"
    at.file_uploader(key="uploads").set_value(("revenue.csv", data, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _money_box(at).value
    _money_box(at).uncheck().run()  # the user says units: the file then lacks its quantity
    assert any(escape.plain("missing: quantity") in e.value for e in at.error), [e.value for e in at.error]

"""A user's first file: every page on a workspace holding only `sales` (no green without evidence).

The file is what a user loads first: weekly sales in money for 45 stores (date = week-ending Friday,
store as the sku, revenue as the quantity), no products, inventory, capacity, plan or orders. Every
page must run, claim no check as met (no success box, no "On target", no "$0" outlook) and say what
was not checked and which table to load. A second workspace adds the user's own products and
capacity for 12 of the 45 stores: the supply review then says how much it checked.

The history is 18 months long, so every series gets the short-history fallback (no Prophet fit):
the forecast, fitted once per module in a child process, takes seconds.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from apptest_support import APP, metrics, texts
from apptest_support import open_copy as _open
from streamlit.testing.v1 import AppTest

from sop_core import escape

STORES = [f"Store {i:02d}" for i in range(1, 46)]
CHECKED_STORES = STORES[:12]  # the ones the second workspace's products give a resource
PAGES = ("home", "data", "demand_review", "supply_review", "inventory", "financials", "scenarios", "pre_sop",
         "executive", "scorecard")


def first_file() -> bytes:
    """Weekly sales in money for 45 stores, week-ending Fridays from May 2025 to October 2026 (a CSV)."""
    weeks = pd.date_range("2025-05-02", "2026-10-30", freq="W-FRI")
    rng = np.random.default_rng(11)
    rows = [(d.date().isoformat(), s, round(float(rng.uniform(2_000, 9_000)), 2)) for s in STORES for d in weeks]
    return pd.DataFrame(rows, columns=["Week ending", "Store", "Revenue"]).to_csv(index=False).encode()


def own_products_and_capacity() -> tuple[bytes, bytes]:
    """The user's products (12 stores, one resource 'Floor') and capacity for it: partial coverage."""
    products = pd.DataFrame({"sku": CHECKED_STORES, "family": "Stores", "unit_price": 1.0, "unit_cost": 0.6,
                             "resource": "Floor", "hours_per_unit": 0.001})
    months = pd.date_range("2026-11-01", periods=24, freq="MS")
    capacity = pd.DataFrame({"period": months.strftime("%Y-%m-%d"), "resource": "Floor", "available_hours": 1_000.0})
    return products.to_csv(index=False).encode(), capacity.to_csv(index=False).encode()


BUILD = """
import sys
from sop_core.intake import company, load as intake
from sop_core.demand import forecast
from sop_core.store.workspace import Workspace
path, files = sys.argv[1], sys.argv[2:]
with Workspace(path) as ws:
    company.start_company(ws, "test", name="My shops")
    for f in files:
        name, table = f.rsplit(":", 1)
        mapping = {"date": "Week ending", "sku": "Store", "quantity": "Revenue"} if table == "sales" else None
        p = intake.load(ws, name, open(name, "rb").read(), table, mapping=mapping, author="test")
        assert p.ok, [str(e) for e in p.errors]
    forecast.run_forecast(ws, forecast.saved_settings(ws))
"""


def _build(folder, extra: dict[str, bytes]) -> str:
    """A workspace of one's own company with the first file (and `extra` tables) loaded and forecast."""
    files = {"sales": first_file(), **extra}
    args = []
    for table, data in files.items():
        path = folder / f"{table}.csv"
        path.write_bytes(data)
        args.append(f"{path}:{table}")
    ws_path = folder / "workspace.duckdb"
    subprocess.run([sys.executable, "-c", BUILD, str(ws_path), *args], cwd=APP.parent, check=True, timeout=600)
    return str(ws_path)


@pytest.fixture(scope="module")
def sales_only(tmp_path_factory) -> str:
    return _build(tmp_path_factory.mktemp("first_file"), {})


@pytest.fixture(scope="module")
def partly_covered(tmp_path_factory) -> str:
    products, capacity = own_products_and_capacity()
    return _build(tmp_path_factory.mktemp("partly"), {"products": products, "capacity": capacity})


def _no_green(at: AppTest, page: str = "") -> None:
    """No success box and no check shown as met anywhere on the page.

    Evidence there is may show green: the Cycle overview's data and demand steps (the sales table is
    loaded, the forecast ran), the data page's loaded tables, forecast accuracy and bias (backtested on
    the sales). The Cycle overview's supply step must not be complete.
    """
    assert not at.success, [s.value for s in at.success]
    body = texts(at)
    for claim in ("Capacity covers the consensus", "No stockout and no safety-stock breach is projected",
                  "No exception:", "Nothing to decide:", "load within capacity", "Every KPI on target"):
        assert claim not in body, claim
    greens = [c.value for c in at.caption if c.value.startswith(":green[")]
    partial = [c.value for c in at.caption if c.value.startswith(":material/visibility_off: Load vs capacity: checked")]
    assert len(greens) <= 2 + len(partial), greens  # forecast accuracy and bias, or a status that says its coverage
    if page == "home":
        from test_pages_home import statuses

        assert statuses(at)[2:] != ["Complete"] * 3 and statuses(at)[2] != "Complete", statuses(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_first_file_and_claims_nothing_unchecked(sales_only, tmp_path, monkeypatch, page):
    at = _open(sales_only, tmp_path, monkeypatch, page)
    _no_green(at, page)
    assert not [m for m in at.metric if m.value in ("$0", "$0.00")], metrics(at)  # nothing is priced
    body = texts(at)
    needs = {
        "supply_review": "Not checked: the supply review needs the products and capacity tables",
        "inventory": "Not checked: the inventory projection needs the products and inventory tables",
        "pre_sop": "Not checked: the pre-S&OP needs the products table",
        "executive": "Not checked: the executive S&OP needs the products table",
        "financials": "Value in money: not checked — load products (unit_price) for these skus (45 skus: 45 have "
                      "no unit_price).",
    }
    if page in needs:
        assert needs[page] in body, body


def test_cycle_overview_says_what_was_not_checked(sales_only, tmp_path, monkeypatch):
    at = _open(sales_only, tmp_path, monkeypatch, "home")
    body = texts(at)
    supply_card = next(m.value for m in at.markdown if "Load vs capacity" in m.value)
    assert supply_card == ("- Load vs capacity: not checked — load capacity and products (resource, hours_per_unit) "
                           "for these skus (45 skus: no capacity and no products tables loaded).")
    assert "- Stock projection: not checked — load inventory for these skus (45 skus: no inventory table loaded)." \
        in body
    assert "- Value in money: not checked — load products (unit_price) for these skus (45 skus: 45 have no " \
        "unit_price)." in body
    assert any(c.value == escape.plain("capacity not checked: data missing") for c in at.caption)


def test_scorecard_tiles_say_not_checked_and_what_to_load(sales_only, tmp_path, monkeypatch):
    at = _open(sales_only, tmp_path, monkeypatch, "scorecard")
    m = metrics(at)
    greens = [c.value for c in at.caption if c.value.startswith(":green[")]
    assert m["On target"] == str(len(greens)) and len(greens) <= 2  # forecast accuracy and bias: backtested
    for label in ("OTIF", "Fill rate (units)", "Inventory turns", "Days of supply (forward)",
                  "Capacity utilisation (peak)", "Revenue vs annual plan", "Gross margin %"):
        assert m[label] == "Not checked", (label, m[label])
    captions = [c.value for c in at.caption]
    assert any("Load the orders table" in c and c.startswith(":gray[") for c in captions), captions
    assert any("Load the inventory table" in c for c in captions), captions
    assert any("Load the capacity table" in c or "Load vs capacity: not checked" in c for c in captions), captions


def test_supply_review_on_part_of_the_stores_says_how_much_it_checked(partly_covered, tmp_path, monkeypatch):
    at = _open(partly_covered, tmp_path, monkeypatch, "supply_review")
    _no_green(at)
    body = texts(at)
    assert ("Load vs capacity: checked 12 of 45 skus — 33 are not in the products table; load products "
            "(resource, hours_per_unit) for the rest.") in body, body
    assert "Checked 12 of 45 skus" in body
    assert "for the 12 of 45 skus checked" in body or "Capacity cannot make" in body


@pytest.mark.parametrize("page", ["home", "inventory", "financials", "pre_sop", "executive", "scorecard"])
def test_other_pages_on_part_of_the_stores_claim_nothing_unchecked(partly_covered, tmp_path, monkeypatch, page):
    at = _open(partly_covered, tmp_path, monkeypatch, page)
    _no_green(at, page)
    body = texts(at)
    if page in ("pre_sop", "executive"):
        assert "Stock projection: not checked — load inventory for these skus (45 skus: no inventory table loaded)." \
            in body, body
        assert "Comparison with the annual plan: not checked" in body, body
    if page == "scorecard":
        assert ":material/visibility_off: Load vs capacity: checked 12 of 45 skus" in body, body
    if page == "financials":
        assert "Value in money: checked 12 of 45 skus — 33 are not in the products table" in body, body
        assert metrics(at)["Annual plan 2026"] == "Not checked"

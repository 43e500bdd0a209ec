"""A planner's first steps in a real browser: a cold-start deep link, then an upload on the Data page."""
from __future__ import annotations

import pytest

from .conftest import wait_idle

pytestmark = pytest.mark.browser


def test_cold_start_deep_link_opens_the_page_inside_the_app(server, page):
    # nobody has opened the root URL since the server started: this is the shared-link case
    page.goto(f"{server.url}/data")
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    wait_idle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Demand review").count() == 1, "the app's navigation frame is missing"
    assert nav.get_by_text("Pre-S&OP meetings").count() == 1
    assert page.url.endswith("/data")


def test_upload_through_the_file_chooser_shows_in_data_health(server, page, tmp_path):
    csv = tmp_path / "erp_inventory.csv"
    csv.write_text("Snapshot Date,Item No,Warehouse,Qty On Hand\n2026-10-31,TN-1001,DC-East,120\n"
                   "2026-10-31,TN-1002,DC-East,80\n2026-10-31,TN-1002,DC-West,15\n", encoding="utf-8")
    page.goto(f"{server.url}/data")
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    wait_idle(page)
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("stFileUploaderDropzone").get_by_role("button", name="Upload").last.click()
    chooser.value.set_files(str(csv))
    page.get_by_text("erp_inventory.csv").first.wait_for()
    wait_idle(page)
    load = page.get_by_role("button", name="Load into inventory")
    load.wait_for()
    load.click()
    page.get_by_text("Loaded into inventory.", exact=True).wait_for()
    wait_idle(page)
    health = page.locator('[data-testid="stDataFrame"]').first
    health.wait_for()
    # the data-health table now names the uploaded file as the inventory table's last load
    page.wait_for_function("() => document.body.innerText.includes('Tables loaded')")
    from sop_core.workspace import Workspace

    server.stop()
    with Workspace(server.workspace) as ws:
        loads = ws.latest_loads().set_index("table_name")
        assert loads.loc["inventory", "file_name"] == "erp_inventory.csv"
        assert ws.scalar("SELECT sum(on_hand) FROM inventory") == 215

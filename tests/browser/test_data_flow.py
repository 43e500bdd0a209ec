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


def _upload(page, path) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("stFileUploaderDropzone").get_by_role("button", name="Upload").last.click()
    chooser.value.set_files(str(path))
    page.get_by_text(path.name).first.wait_for()
    wait_idle(page)


def test_a_file_over_the_demo_starts_the_users_company(page, tmp_path):
    """Load a file over the demo, accept 'start my company': no demo override, no green status left."""
    import pandas as pd

    from sop_core.demand import overrides
    from sop_core.demand.overrides import OverrideInput
    from sop_core.intake import company
    from sop_core.store.workspace import Workspace

    from .conftest import Server

    path = tmp_path / "workspace.duckdb"
    with Workspace(path) as ws:  # the demo, with a planner's override on it
        company.reset_to_demo(ws)
        stat = pd.DataFrame([{"series_id": "TN-1001 | North", "sku": "TN-1001", "region": "North", "family": "Tents",
                              "period": p, "value": 100.0, "lower": 90.0, "upper": 110.0, "model": "prophet"}
                             for p in pd.date_range("2026-11-01", periods=3, freq="MS")])
        overrides.save_override(ws, "demo-run", stat, OverrideInput(
            family="Tents", period_from="2026-11-01", period_to="2027-01-01", kind="percent", value=10.0,
            reason="Promotion"), author="alice")
    rows = ["Order Date,Item No,Qty"] + [f"2024-{m:02d}-15,MY-{i},{20 + 3 * m + i}"
                                         for m in range(1, 13) for i in range(3)]
    rows += [f"2025-{m:02d}-15,MY-{i},{25 + 3 * m + i}" for m in range(1, 13) for i in range(3)]
    rows += [f"2026-{m:02d}-15,MY-{i},{28 + 3 * m + i}" for m in range(1, 11) for i in range(3)]
    csv = tmp_path / "my_sales.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")

    srv = Server(path)
    srv.start()
    try:
        page.set_default_timeout(120_000)
        page.goto(f"{srv.url}/data")
        page.get_by_role("heading", name="Data", exact=True).wait_for()
        wait_idle(page)
        _upload(page, csv)
        assert page.get_by_role("button", name="Load into sales").count() == 0  # never beside the demo
        page.get_by_text("holds the demo company", exact=False).first.wait_for()
        page.get_by_role("button", name="Start my company with this file").click()
        page.get_by_text("Loaded into sales.", exact=True).wait_for()
        page.get_by_text("set aside in the backup", exact=False).first.wait_for()
        wait_idle(page)
        page.goto(f"{srv.url}/demand_review")
        page.get_by_role("heading", name="Demand review", exact=True).wait_for()
        # the user's forecast fits in the background, then the page fills in (its caption names the run)
        page.wait_for_function("() => document.body.innerText.includes('Forecast of ')", timeout=300_000)
        page.get_by_role("heading", name="Demand plan — All products").wait_for()
        wait_idle(page, timeout=300)
        body = page.inner_text("body")
        assert "Promotion" not in body and "+10%" not in body, "a demo override shows on the user's data"
        page.goto(f"{srv.url}/supply_review")
        page.get_by_role("heading", name="Supply review", exact=True).wait_for()
        page.get_by_text("Not checked", exact=False).first.wait_for()
        wait_idle(page, timeout=300)
        body = page.inner_text("body")
        assert "Capacity covers" not in body
        assert page.locator('[data-testid="stAlertContentSuccess"]').count() == 0, "a green status without data"
        assert "capacity" in body.lower()  # it says which table the check needs
    finally:
        srv.stop()
    with Workspace(path) as ws:
        assert company.current(ws).kind == company.OWN and ws.loaded_tables() == ["sales"]
        assert overrides.active(ws).empty

"""Every page in a real browser at a laptop's and a projector's size: screenshots kept, nothing wider than the page.

Each page of the demo company (its forecast fitted; three scenarios compared where a page compares) is
opened in headless Chromium at 1280×800 and 1024×768. A screenshot of what fits on the screen and of the
whole page is kept in tests/browser/artefacts/ (or $SOP_ARTEFACTS), to be looked at. The test fails when
a table or data grid is wider than the page's main block, when at 1280 px a grid scrolls sideways inside
itself, when a grid cell reads "None" or "nan", or when a page shows an exception. The Executive page has its own test
(test_executive.py), with its charts.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from pages.shell.nav import all_pages

from .conftest import Server, wait_idle
from .test_executive import ARTEFACTS, OVERFLOW_JS, SIZES

pytestmark = pytest.mark.browser
PAGES = [p for p in all_pages() if p.url_path != "executive"]
BAD_CELLS = {"None", "nan", "NaN", "NaT", "<NA>"}
SCROLLBAR = 12  # px


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The fitted demo with one saved scenario, served once for the module."""
    from apptest_support import demo_template

    from sop_core.planning import scenarios
    from sop_core.store.workspace import Workspace

    path = tmp_path_factory.mktemp("shots") / "workspace.duckdb"
    shutil.copy(demo_template(tmp_path_factory), path)
    with Workspace(path) as ws:
        made = [scenarios.create(ws, "Tents +15% demand", {"demand": [{"family": "Tents", "pct": 15}]}, "planner"),
                scenarios.create(ws, "Price −5%", {"price": [{"pct": -5}]}, "planner"),
                scenarios.create(ws, "Overtime on ASSY-2", {"capacity": [{"resource": "ASSY-2", "pct": 20}]},
                                 "planner")]
    srv = Server(path)
    srv.compare = ",".join(s.scenario_id for s in made)  # three scenarios side by side: the widest tables
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sized_pages(chromium, server: Server) -> Iterator[dict]:
    """One browser context per screen size."""
    contexts = {size: chromium.new_context(viewport={"width": size[0], "height": size[1]}) for size in SIZES}
    pages = {}
    for size, ctx in contexts.items():
        ctx.set_default_timeout(180_000)
        pages[size] = ctx.new_page()
    yield pages
    for ctx in contexts.values():
        ctx.close()


def _settle(page) -> None:
    """Wait for the script run and for late fragments (background forecast, charts) to draw."""
    page.get_by_role("heading", level=1).first.wait_for()
    wait_idle(page, 180)
    deadline = time.monotonic() + 180
    while page.get_by_text("Forecasting demand").count() and time.monotonic() < deadline:
        time.sleep(1)
    wait_idle(page, 180)
    time.sleep(1.5)  # plotly and the grids paint after the run ends


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("spec", PAGES, ids=[p.url_path for p in PAGES])
def test_every_page_fits_and_reads_clean(server: Server, sized_pages: dict, spec, size) -> None:
    page = sized_pages[size]
    path = "" if spec.url_path == "home" else spec.url_path
    if spec.url_path in ("scenarios", "pre_sop"):
        path += f"?cmp={server.compare}"
    page.goto(f"{server.url}/{path}")
    _settle(page)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    name = f"{spec.url_path}_{size[0]}x{size[1]}"
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))
    main = page.locator('[data-testid="stMain"]')
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size[0], "height": min(max(height, size[1]), 12_000)})
    time.sleep(1.0)
    page.screenshot(path=str(ARTEFACTS / f"{name}_full.png"))
    page.set_viewport_size({"width": size[0], "height": size[1]})

    assert page.locator('[data-testid="stException"]').count() == 0, main.inner_text()[:2000]
    found = page.evaluate(OVERFLOW_JS)
    # at 1280 px no table is wider than the page nor scrolls sideways (a grid's vertical scrollbar may take
    # SCROLLBAR px from its width); at 1024 px with the sidebar open, a grid may scroll inside itself
    wide = [t for t in found["tables"] if t["right"] > t["limit"] + 1
            or (size[0] >= 1280 and t["scroll"] > t["width"] + SCROLLBAR)]
    assert not wide, (spec.url_path, size, [(t["text"], t["right"], t["limit"], t["scroll"], t["width"]) for t in wide])
    assert found["page"][0] <= found["page"][1] + 1, found["page"]  # the main block never scrolls sideways
    cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]').all_inner_texts()
    bad = sorted({c.strip() for c in cells} & BAD_CELLS)
    assert not bad, (spec.url_path, bad)

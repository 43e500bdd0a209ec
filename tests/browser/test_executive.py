"""The Executive page in a real browser: read on a projector, and a pre-read that survives a late override.

* A snapshot link made on the Executive page (Share → Make a snapshot link, copied with its "Copy link"
  button), then a later override on
  the Demand review: the link, opened in another browser, shows the old numbers marked "as of" the
  day it was made, and "Compare with today" shows its headline numbers beside today's, the whole
  snapshot folded above today's page.
* Screenshots of the Executive page at 1280×800 and 1024×768 (what fits on the screen, and the whole
  page), kept as test artefacts in tests/browser/artefacts/ (or $SOP_ARTEFACTS); no table is wider
  than the page's main block, nor scrolls sideways inside itself, and the page has its charts.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from apptest_support import demo_workspace_file  # noqa: F401  (the demo company with its forecast fitted)

from .conftest import Server, choose, wait_idle

pytestmark = pytest.mark.browser
ARTEFACTS = Path(os.environ.get("SOP_ARTEFACTS") or Path(__file__).parent / "artefacts")
SIZES = ((1280, 800), (1024, 768))

# every table and dataframe of the main block that is shown: its box against the main block's content box,
# and its own scrolling width against its width (a data grid scrolls sideways inside itself when too wide)
OVERFLOW_JS = """() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const m = main.getBoundingClientRect();
  const pad = parseFloat(getComputedStyle(main).paddingRight) || 0;
  const out = [];
  for (const el of main.querySelectorAll('[data-testid="stDataFrame"], [data-testid="stTable"]')) {
    const r = el.getBoundingClientRect();
    if (r.height < 5 || !el.offsetParent) continue;
    const inner = el.querySelector('.dvn-scroller') || el;
    out.push({text: (el.innerText || '').slice(0, 60), right: r.right, limit: m.right - pad,
              scroll: inner.scrollWidth, width: inner.clientWidth});
  }
  return {tables: out, page: [main.scrollWidth, main.clientWidth]};
}"""


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True)).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _open_executive(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Executive S&OP").wait_for()
    wait_idle(page, 180)


def _save_override(page, server: Server, family: str = "Tents") -> None:
    """A +10% Promotion override on `family` on the Demand review, stored (its ledger line written)."""
    from sop_core.store import ledger

    def saved() -> int:
        return len([e for e in ledger.read(ledger.ledger_path(server.workspace)).entries if e.kind == "override"])

    page.goto(f"{server.url}/demand_review?family={family}")
    page.get_by_text("Consensus in these periods").wait_for()
    wait_idle(page, 120)
    slider = page.get_by_role("slider", name="Change %")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    wait_idle(page)
    choose(page, page.get_by_label("Reason").first, "Promotion")
    wait_idle(page)
    before = saved()
    page.get_by_role("button", name="Save override").click()
    deadline = time.monotonic() + 90
    while saved() == before:
        assert time.monotonic() < deadline, page.inner_text("body")[-1500:]
        time.sleep(0.3)
    wait_idle(page, 120)


def _family_caption(page) -> str:
    """The caption under "Demand and supply by family": the plan horizon's demand, supply and short units."""
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text=re.compile(r"demand [\d,]+ units")) \
        .first.inner_text().strip()


def test_a_snapshot_link_keeps_the_numbers_of_the_pre_read_after_a_late_override(demo_server, chromium):
    from sop_core import clock

    sender = chromium.new_context(viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    sender.set_default_timeout(120_000)
    page = sender.new_page()
    _open_executive(page, f"{demo_server.url}/executive")
    units_short = _metric(page, "Units short")
    family = _family_caption(page)

    page.get_by_role("button", name="Share").click()
    page.get_by_role("button", name="Make a snapshot link").click()
    code = page.locator('[data-testid="stCode"]').filter(has_text="snap=")
    code.wait_for()
    link = re.sub(r"\s+", "", code.inner_text())
    assert re.search(r"[?&]snap=[0-9a-f]{32}", link) and link.startswith(f"{demo_server.url}/executive?"), link
    copy = page.get_by_test_id("stPopoverBody").get_by_role("button", name="Copy link")
    copy.nth(1).wait_for()  # the live link's and the snapshot link's
    copy.nth(1).click()  # the visible button of the snapshot link
    deadline = time.monotonic() + 10
    while page.evaluate("() => navigator.clipboard.readText()").strip() != link:
        assert time.monotonic() < deadline, page.evaluate("() => navigator.clipboard.readText()")
        time.sleep(0.2)
    page.keyboard.press("Escape")

    _save_override(page, demo_server, "Tents")  # the late override, after the pre-read went out
    sender.close()

    reader = chromium.new_context(viewport={"width": 1280, "height": 900})  # another browser: no session
    reader.set_default_timeout(120_000)
    page = reader.new_page()
    page.goto(link)
    frozen = page.locator(".st-key-snapshot_view")
    frozen.wait_for()
    wait_idle(page, 180)
    marked = frozen.get_by_text(re.compile(r"Snapshot as of")).first.inner_text()
    assert f"as of {clock.today():%d %b %Y}" in marked, marked
    assert page.get_by_text("can't be shown again").count() == 0  # the old numbers, not an apology
    assert _metric(page, "Units short") == units_short
    assert frozen.get_by_text(family, exact=True).count() == 1  # the family chart's caption, as it was
    assert frozen.get_by_text("can't be shown").count() == 0, frozen.inner_text()
    frozen.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    assert frozen.locator('[data-testid="stPlotlyChart"]').count() >= 3  # its charts, drawn from the stored data
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "executive_snapshot_link.png"))

    page.get_by_role("button", name="Compare with today").click()
    page.get_by_text("Below: today's data").wait_for()
    wait_idle(page, 180)
    compared = page.locator(".st-key-snapshot_compare")  # the snapshot's headline numbers beside today's
    compared.get_by_text(re.compile(r"The snapshot, as of .*, and today")).wait_for()
    compared.locator('[data-testid="stDataFrame"]').wait_for()  # label, as of, today per headline number
    assert _family_caption(page) != family  # today's page under it: a Tents override later, more demand
    page.screenshot(path=str(ARTEFACTS / "executive_snapshot_compare.png"))
    page.get_by_text(re.compile(r"Snapshot as of .* every number the link was made with")).click()
    page.get_by_text(family, exact=True).wait_for()  # the whole snapshot, folded above today's page
    reader.close()


@pytest.fixture
def approved_server(demo_workspace_file, tmp_path):  # noqa: F811
    """The fitted demo with its plan approved and a later override on Tents: every section of the page has content."""
    from sop_core.demand import forecast, overrides
    from sop_core.meetings import versions
    from sop_core.planning import plan
    from sop_core.store.workspace import Workspace

    path = tmp_path / "workspace.duckdb"
    shutil.copy(demo_workspace_file, path)
    with Workspace(path) as ws:
        run = forecast.load_run(ws, forecast.saved_settings(ws))
        cons = overrides.refresh_consensus(ws, run.run_key, run.forecast, "planner")  # as the pages store it
        inputs = plan.PlanInputs.from_workspace(ws, cons)
        versions.approve(ws, plan.evaluate_scenario(inputs, None), name="November 2026 S&OP", scenario_id=None,
                         fingerprints={}, approved_by="ceo")
        overrides.save_override(ws, run.run_key, run.forecast, overrides.OverrideInput(
            family="Tents", period_from="2027-01-01", period_to="2027-06-01", kind="percent", value=10.0,
            reason="Promotion"), author="alice")
    srv = Server(path)
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("width,height", SIZES)
def test_the_executive_page_fits_a_projector_with_its_charts(approved_server, chromium, width, height):
    ctx = chromium.new_context(viewport={"width": width, "height": height})
    ctx.set_default_timeout(120_000)
    page = ctx.new_page()
    _open_executive(page, f"{approved_server.url}/executive")
    page.get_by_text("Volume by family (units)").wait_for()
    wait_idle(page, 180)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"executive_{width}x{height}.png"))  # what the room sees first

    charts = page.locator('[data-testid="stPlotlyChart"]')
    assert charts.count() >= 5, charts.count()  # revenue, bridge, supply by family, the two waterfalls
    first = charts.first.bounding_box()
    assert first is not None and first["y"] < height, first  # a chart on the first screen

    full = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": full + 40})
    wait_idle(page, 60)
    page.screenshot(path=str(ARTEFACTS / f"executive_{width}x{height}_full.png"))  # the whole page, as opened

    for summary in page.locator('[data-testid="stExpander"] summary').all():  # tables in expanders too
        summary.click()
    wait_idle(page, 60)
    time.sleep(1)
    found = page.evaluate(OVERFLOW_JS)
    assert len(found["tables"]) >= 2, found  # what changed by family, the approved versions
    wide = [t for t in found["tables"] if t["right"] > t["limit"] + 1 or t["scroll"] > t["width"] + 1]
    assert not wide, wide
    assert found["page"][0] <= found["page"][1] + 1, found["page"]  # nothing makes the page scroll sideways
    ctx.close()

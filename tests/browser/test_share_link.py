"""Share links in a real browser: a scenario built in one browser reopens, after a server restart, in another.

The link is read from the Share popover (and copied with its copy button, as a planner would), the
server is restarted, and the link is opened in a NEW browser context (no cookies, no session): the
headline numbers must be the same. A tampered link says "Scenario not found" and shows the baseline.
"""
from __future__ import annotations

import shutil
import time
from urllib.parse import quote

import pytest
from apptest_support import demo_workspace_file  # noqa: F401  (the demo company with its forecast fitted)

from .conftest import Server, choose, wait_idle

pytestmark = pytest.mark.browser
NAME = "Tents +10%, ASSY-2 at 80%"
VIEWPORT = {"width": 1400, "height": 1600}


@pytest.fixture
def server(demo_workspace_file, tmp_path):  # noqa: F811
    """A server on a copy of the fitted demo workspace (fitting in the browser would take the test's time)."""
    path = tmp_path / "workspace.duckdb"
    shutil.copy(demo_workspace_file, path)
    srv = Server(path)
    srv.start()
    yield srv
    srv.stop()


def _context(chromium):
    ctx = chromium.new_context(viewport=VIEWPORT, permissions=["clipboard-read", "clipboard-write"])
    ctx.set_default_timeout(60_000)
    return ctx


def _open(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Scenarios").wait_for()
    wait_idle(page, 120)


def _metrics(page, count: int) -> list[str]:
    """The metric values once `count` of them are on the page (the comparison cards: 4 per plan)."""
    values = page.locator('[data-testid="stMetricValue"]')
    deadline = time.monotonic() + 60
    while values.count() != count and time.monotonic() < deadline:
        time.sleep(0.2)
    wait_idle(page, 60)
    assert values.count() == count
    return [v.strip() for v in values.all_inner_texts()]


def _card_titles(page) -> list[str]:
    """The names on the comparison cards, left to right."""
    return page.locator('[class*="st-key-sc_card_"] [data-testid="stMarkdownContainer"] strong').all_inner_texts()


def _choose(page, scope, label: str, option: str, nth: int = 0) -> None:
    """Pick `option` in the `nth` selectbox labelled `label` inside `scope`."""
    box = scope.get_by_role("combobox", name=label, exact=True).nth(nth)
    choose(page, box, option)
    assert box.input_value() == option


def test_a_scenario_link_reopens_the_same_numbers_after_a_restart_in_another_browser(server, chromium):
    # browser 1: build a scenario in the UI, read its link from the Share popover and copy it
    first = _context(chromium)
    page = first.new_page()
    _open(page, f"{server.url}/scenarios")
    form = page.get_by_test_id("stForm")
    form.get_by_label("Name", exact=True).fill(NAME)
    _choose(page, form, "Family", "Tents")
    form.get_by_role("spinbutton", name="Demand change %").fill("10")
    _choose(page, form, "Resource", "ASSY-2")
    form.get_by_role("spinbutton", name="Capacity change %").fill("-20")
    form.get_by_role("button", name="Save scenario").click()
    before = _metrics(page, 8)  # the baseline and the scenario cards
    assert _card_titles(page) == ["Baseline", NAME]
    assert before[:4] != before[4:], "the scenario should change the headline numbers"

    page.get_by_role("button", name="Share").click()
    popover = page.get_by_test_id("stPopoverBody")
    link = popover.locator("code").inner_text().strip()
    popover.get_by_test_id("stCode").hover()
    popover.get_by_role("button", name="Copy to clipboard").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.strip() == link
    assert link.startswith(f"{server.url}/scenarios?cmp=") and "&fp=" in link
    assert link == page.url, "the address bar is the same link"
    first.close()

    server.restart()

    # browser 2: a new context (no session, no cookies) opens the link on the restarted server
    second = _context(chromium)
    page = second.new_page()
    _open(page, link)
    assert _metrics(page, 8) == before
    assert _card_titles(page) == ["Baseline", NAME]
    assert page.get_by_text("Scenario not found").count() == 0
    assert page.get_by_text("the data or the overrides changed since").count() == 0
    second.close()


def test_a_tampered_link_shows_the_message_and_the_baseline(server, chromium):
    ctx = _context(chromium)
    page = ctx.new_page()
    _open(page, f"{server.url}/scenarios")
    baseline = _metrics(page, 4)
    ctx.close()

    ctx = _context(chromium)
    page = ctx.new_page()
    _open(page, f"{server.url}/scenarios?s={quote(chr(39) + ' OR 1=1 --')}&cmp={'A' * 22}&h=12")
    page.get_by_text("Scenario not found — showing the baseline.").wait_for()
    assert _metrics(page, 4) == baseline
    assert "s=" not in page.url.split("?", 1)[1].replace("cmp=", "")  # the bad id left the address bar
    assert "1=1" not in page.locator('[data-testid="stMain"]').inner_text()
    ctx.close()

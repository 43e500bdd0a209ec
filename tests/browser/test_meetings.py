"""A planner and an executive in a real browser: move a slider, save an override, approve the plan."""
from __future__ import annotations

import re

import pytest

from .conftest import choose, wait_idle

pytestmark = pytest.mark.browser


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True)).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_slider_previews_and_saves_an_override(demo_server, page):
    page.goto(f"{demo_server.url}/demand_review?family=Tents")
    page.get_by_text("Consensus in these periods").wait_for()
    wait_idle(page)
    before_total = _metric(page, "Consensus units, next 12 months")
    before = _metric(page, "Consensus in these periods")
    slider = page.get_by_role("slider", name="Change %")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    page.wait_for_function(
        "(b) => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.includes("
        "'Consensus in these periods') && !m.innerText.includes(b))", arg=before)
    wait_idle(page)
    assert _metric(page, "Consensus in these periods") != before
    choose(page, page.get_by_label("Reason").first, "Promotion")
    wait_idle(page)
    page.get_by_role("button", name="Save override").click()
    page.wait_for_function(
        "(b) => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.includes("
        "'Consensus units, next 12 months') && !m.innerText.includes(b))", arg=before_total)
    after_total = _metric(page, "Consensus units, next 12 months")
    assert int(re.sub(r"\D", "", after_total)) > int(re.sub(r"\D", "", before_total))


def test_approve_on_the_executive_page_survives_a_reload(demo_server, page):
    page.goto(f"{demo_server.url}/pre_sop")
    page.get_by_text("Decisions to ask for").wait_for()
    wait_idle(page)
    page.get_by_label("Decision to ask for").fill("Approve overtime on ASSY-2")
    page.get_by_label("Owner").fill("COO")
    page.get_by_role("button", name="Add decision").click()
    page.get_by_text("Approve overtime on ASSY-2").first.wait_for(state="attached")  # a cell of the decision log
    wait_idle(page)

    page.goto(f"{demo_server.url}/executive")
    page.get_by_text("Approve the plan").wait_for()
    wait_idle(page)
    assert page.get_by_text("No plan approved yet.").count() == 1
    form = page.locator('[data-testid="stForm"]').filter(has=page.get_by_text("Decisions taken with it"))
    choose(page, form.get_by_role("combobox").last, "Approve overtime on ASSY-2")
    page.keyboard.press("Escape")
    form.get_by_text("Approve overtime on ASSY-2").wait_for()  # chosen
    form.get_by_role("button", name="Approve and freeze this plan").click()
    page.get_by_text("Plan of record: v1 · November 2026 S&OP").wait_for()

    page.reload()
    page.get_by_text("Plan of record: v1 · November 2026 S&OP").wait_for()
    wait_idle(page)
    # the page draws its charts first: wait for the section rather than count it while the run goes on
    page.get_by_text("What changed since the last approved plan").wait_for()
    assert page.get_by_text("What changed since the last approved plan").count() == 1
    # the decision is in the log: it is offered for a status update
    choose(page, page.get_by_label("Update a decision's status").first, "Approve overtime on ASSY-2", pick=False)
    page.keyboard.press("Escape")

    from sop_core.meetings import decisions, versions
    from sop_core.store.workspace import Workspace

    demo_server.stop()
    with Workspace(demo_server.workspace) as ws:
        v = versions.latest(ws)
        assert v.number == 1 and v.approved_by == "planner"
        assert decisions.log(ws)["version_id"].tolist() == [v.version_id]

"""A room full of people: several sessions open the Demand review at the same moment, none fails or times out."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser
SESSIONS = 10  # the room: ten people open the page together


def test_several_sessions_open_the_demand_review_at_once(demo_server, chromium):
    contexts = [chromium.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(SESSIONS)]
    try:
        pages = [c.new_page() for c in contexts]
        started = time.monotonic()
        for page in pages:  # every request is in flight before any page is awaited
            page.goto(f"{demo_server.url}/demand_review", wait_until="commit")
        done = []
        for page in pages:
            page.get_by_role("heading", name="Demand review", exact=True).wait_for(timeout=240_000)
            page.wait_for_function("() => document.body.innerText.includes('Forecast of ')", timeout=240_000)
            done.append(time.monotonic() - started)
        for page in pages:
            body = page.inner_text("body")
            assert "Something went wrong" not in body and "took too long" not in body, body[:2000]
            assert page.locator('[data-testid="stException"]').count() == 0
        print(f"{SESSIONS} sessions: last page ready after {max(done):.1f} s")
    finally:
        for c in contexts:
            c.close()

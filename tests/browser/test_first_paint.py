"""The Demand review's first paint does not wait for Plotly (issue 15).

Streamlit loads the 4.6 MB Plotly code as a chunk of its own (PlotlyChart.*.js) when the first chart
arrives. Here that chunk is held back: the page's answer, its tables and its controls must show
meanwhile, and the chart once the chunk is let through.
"""
from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.browser
PLOTLY_CHUNK = re.compile(r"/static/js/PlotlyChart\.[^/]*\.js$")


def test_the_page_shows_its_answer_while_the_plotly_chunk_is_held_back(demo_server, chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    held = []
    try:
        page = context.new_page()
        page.route(PLOTLY_CHUNK, lambda route: held.append(route))  # not answered until the text is checked
        started = time.monotonic()
        page.goto(f"{demo_server.url}/demand_review", wait_until="commit")
        page.wait_for_function("() => document.body.innerText.includes('Forecast of ')", timeout=240_000)
        page.get_by_role("heading", name="Forecast accuracy", exact=True).wait_for(timeout=60_000)
        page.locator('[data-testid="stDataFrame"] >> visible=true').first.wait_for(timeout=60_000)
        text_at = time.monotonic() - started
        assert held, "the page asked for no Plotly chunk: no chart on the Demand review?"
        assert page.locator(".js-plotly-plot").count() == 0  # the chart is not drawn without its code
        for route in held:
            route.continue_()
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=120_000)
        print(f"answer and tables after {text_at:.1f} s with Plotly held back; chart after "
              f"{time.monotonic() - started:.1f} s")
    finally:
        context.close()

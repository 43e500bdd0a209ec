"""The app's frame (pages/shell/state.py): a read stopped by a workspace limit is a plain message, not an incident."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sop_core import escape

APP = Path(__file__).resolve().parents[1] / "app.py"
SLOW = "SELECT sum(i % 7) FROM range(1000000000000) t(i)"  # hours of work: only the time limit ends it


def test_a_read_over_the_time_limit_shows_its_message_not_an_incident(tmp_path, monkeypatch):
    """Case 49 in the app: the page says the query took too long; no incident id, no traceback."""
    monkeypatch.setenv("SOP_WORKSPACE", str(tmp_path / "workspace.duckdb"))

    def slow_health(ws):
        ws.query_timeout_s = 0.3  # this test's own workspace (the app caches one per file)
        return ws.query(SLOW)

    monkeypatch.setattr("sop_core.intake.health.table_health", slow_health)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("pages/data.py")  # a deep link: the Cycle overview (which fits a forecast) does not run
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert escape.plain("took too long (over 0.3 s)") in errors[0] and "incident" not in errors[0]


def test_an_empty_workspace_opened_first_by_a_viewer_gets_the_demo(tmp_path):
    """With sign-in on, the first visitor may be a viewer: the demo company loads all the same."""
    from pages.shell.state import _open
    from sop_core.store import access

    access.enable(True)
    access.set_actor(access.Actor("vic@example.com", "viewer"))
    try:
        ws = _open(str(tmp_path / "workspace.duckdb"))
        assert {"sales", "products", "capacity"} <= set(ws.loaded_tables())
        with pytest.raises(access.NotPermitted):  # the viewer still changes nothing
            ws.set_setting("kpi_targets", {})
    finally:
        access.enable(False)
        access.set_actor(None)
        _open.clear()

"""Cycle overview page: each step's status from what was stored this cycle (streamlit.testing.v1.AppTest)."""
from __future__ import annotations

import datetime as dt

from apptest_support import app, app_workspace, demo_workspace_file  # noqa: F401  (fixtures)

from sop_core.demand import review
from sop_core.meetings import cycle, decisions


def statuses(at) -> list[str]:
    """The status label of each step card, in cycle order."""
    labels = list(cycle.STATUS_LABELS.values())
    found = [next(lbl for lbl in labels if f"**{lbl}**" in m.value) for m in at.markdown
             if any(f"**{lbl}**" in m.value for lbl in labels)]
    assert len(found) == len(cycle.STEPS), found
    return found


def test_steps_nobody_started_say_so_and_a_decision_starts_the_pre_sop(app):
    app.run()
    assert not app.exception, app.exception
    assert statuses(app) == ["Complete", "In progress", "Not started", "Not started", "Not started"]
    text = " ".join(m.value for m in app.markdown)
    assert text.count(review.FLAGGED_MEANING) == 1 and "|TS|" not in text  # worded plainly, once
    assert "Next up: **Demand review**" in text

    decisions.record(app_workspace(app), title="Approve overtime", owner="COO",
                     due_date=dt.date.today() + dt.timedelta(days=7), author="planner")
    app.run()
    assert not app.exception, app.exception
    assert statuses(app)[3] == "In progress"

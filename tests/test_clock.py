"""The one clock: $SOP_TODAY or the real date, and a suite that does not care what the machine's clock says."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from sop_core import clock
from sop_core.intake import demo, health
from sop_core.meetings import cycle, decisions

ROOT = Path(__file__).resolve().parents[1]
# the modules whose results depend on "today": run under a machine clock moved ahead
DATE_SENSITIVE = ["tests/test_clock.py", "tests/test_demo.py", "tests/test_company.py", "tests/test_health.py",
                  "tests/test_decisions.py", "tests/test_cycle.py", "tests/test_validate.py"]


def test_today_is_the_pinned_day_or_the_real_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_ENV, "2027-03-09")
    assert clock.today() == date(2027, 3, 9)
    assert clock.today_ts() == pd.Timestamp("2027-03-09")
    monkeypatch.delenv(clock.TODAY_ENV)
    assert clock.today() == datetime.now(timezone.utc).date()


def test_a_bad_pinned_day_says_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_ENV, "next tuesday")
    with pytest.raises(ValueError, match="SOP_TODAY.*not a date"):
        clock.today()


@pytest.mark.parametrize("today, month", [("2026-12-06", "2026-11-01"), ("2027-01-01", "2026-12-01"),
                                          ("2028-03-01", "2028-02-01"), ("2029-12-31", "2029-11-01")])
def test_last_complete_month(today: str, month: str) -> None:
    assert clock.last_complete_month(date.fromisoformat(today)) == pd.Timestamp(month)


def test_engine_dates_follow_the_clock(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Freshness, the demo, decisions' due dates: all from the one clock."""
    from sop_core.intake import company

    company.reset_to_demo(workspace)
    assert health.freshness(workspace)["months_behind"] == 0
    assert cycle.cycle_month(health.freshness(workspace)["last_period"]) == pd.Timestamp("2026-11-01")
    monkeypatch.setenv(clock.TODAY_ENV, "2027-02-10")
    assert health.freshness(workspace)["months_behind"] == 3  # Oct 2026 data, Jan 2027 the last complete month
    assert demo.demo_end() == "2027-01"
    with pytest.raises(ValueError, match="in the past"):
        decisions.record(workspace, title="t", owner="o", due_date="2027-02-09", author="a")
    decisions.record(workspace, title="t", owner="o", due_date="2027-02-10", author="a")


@pytest.mark.skipif(shutil.which("faketime") is None, reason="faketime not installed (apt-get install faketime)")
@pytest.mark.parametrize("ahead", ["+45d", "+400d", "+1096d"])
def test_the_date_sensitive_tests_pass_with_the_machine_clock_moved(ahead: str) -> None:
    """The machine's clock 45 days, 400 days (across a year end) and 3 years ahead: the same results."""
    env = {**os.environ, "FAKETIME": ahead}  # monotonic moves too: libfaketime breaks sleep otherwise
    env.pop(clock.TODAY_ENV, None)  # the child's conftest pins it again, as in any run
    moved = subprocess.run(["faketime", "-f", ahead, sys.executable, "-c",
                            "import datetime; print(datetime.date.today().isoformat())"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert date.fromisoformat(moved.stdout.strip()) > date.today(), "faketime did not move the clock"
    run = subprocess.run(["faketime", "-f", ahead, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-k", "not the_date_sensitive_tests", *DATE_SENSITIVE],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, f"with the clock {ahead}:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"

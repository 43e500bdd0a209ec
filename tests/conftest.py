"""Shared fixtures: a fresh workspace per test and the public data sets in /work/shared/data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sop_core.store.workspace import Workspace

# One calendar for the whole suite, whatever the machine's clock says: "today" is mid-November 2026,
# so the demo company's history ends in October 2026 (tests that need another day set $SOP_TODAY
# themselves, see test_clock.py). Servers and workers started by tests inherit it.
PINNED_TODAY = "2026-11-15"
os.environ["SOP_TODAY"] = PINNED_TODAY

SHARED_DATA = Path(os.environ.get("SOP_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture
def workspace(tmp_path: Path):
    """A Workspace on a fresh file under tmp_path, closed after the test."""
    ws = Workspace(tmp_path / "workspace.duckdb")
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture
def shared_data() -> Path:
    """The shared public data folder (skips the test when it is not available)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set SOP_SHARED_DATA)")
    return SHARED_DATA


def shared_file(relative: str) -> Path:
    """A file of the shared data folder, skipping the test when it is missing."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data file not found: {path} (set SOP_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def _no_forecast_job_outlives_its_test():
    """A background forecast a test started (a page, the app's prefetch) ends before the next test begins.

    The job registry is process-wide: a job still running would call the next test's patched
    forecast or compete with it for the workers.
    """
    yield
    import sys

    jobs = sys.modules.get("sop_core.demand.forecast_jobs")
    if jobs is None:
        return
    for state in jobs.JOBS.running():
        jobs.JOBS.wait((state.path, state.key), 300)
    warm = sys.modules.get("sop_core.planning.warmup")
    if warm is not None:
        warm.forget()  # the background baseline of the test's workspace is stopped

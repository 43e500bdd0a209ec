"""First open: a page that needs the forecast renders at once with the background job's progress, then the result.

The fit is gated (forecast.run_forecast waits for an event before fitting three cheap series), so
the first script run provably ends before the fit does.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from apptest_support import APP, reset_access, signed_in  # noqa: F401 - reset_access is a fixture
from streamlit.testing.v1 import AppTest
from test_forecast_jobs import SETTINGS, tiny_sales

from sop_core import escape
from sop_core.demand import forecast as F
from sop_core.demand import forecast_jobs as J
from sop_core.demand.executor import SerialExecutor
from sop_core.store import access
from sop_core.store.workspace import Provenance, Workspace


class Gate:
    """Replaces forecast.run_forecast: waits for `release` (or raises `error`), then fits serially."""

    def __init__(self, real, error: Exception | None = None) -> None:  # type: ignore[no-untyped-def]
        self.real, self.error = real, error
        self.release, self.reported = threading.Event(), threading.Event()
        self.calls = 0

    def __call__(self, ws, settings=None, progress=None, executor=None, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        if progress:
            progress(0, 3)
        self.reported.set()
        assert self.release.wait(60), "the test never released the fit"
        if self.error is not None:
            raise self.error
        return self.real(ws, settings, progress=progress, executor=SerialExecutor(), **kw)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    g = Gate(F.run_forecast)
    monkeypatch.setattr(F, "run_forecast", g)
    yield g
    g.release.set()  # never leave a job thread waiting


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app on a workspace of one's own (three series of sales, no forecast run yet)."""
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ws.replace_table("sales", tiny_sales(), Provenance(file_name="sales.csv", sha256="sales.csv"))
        F.save_settings(ws, SETTINGS)
    monkeypatch.setenv("SOP_WORKSPACE", str(path))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.workspace_path = path
    return at


def job_key(at: AppTest) -> tuple[str, str]:
    from pages.shell.state import _open

    return J.JOBS.job_key(_open(str(at.workspace_path)), SETTINGS)


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_the_page_renders_at_once_with_progress_then_the_forecast(fresh: AppTest, gate: Gate) -> None:
    at = fresh
    at.run()  # the Cycle overview: the fit is held back, yet the run ends
    assert not at.exception, at.exception
    assert titles(at) == ["Cycle overview"]
    assert at.caption[0].value == "Where this month's S&OP cycle stands."
    bars = at.get("progress")
    assert len(bars) == 1
    assert bars[0].proto.text.startswith("Forecasting demand: ")  # preparing, or 0 of 3 if the job got that far
    assert any("being fitted in the background" in i.value for i in at.info)
    assert not at.subheader  # the page stopped below the progress
    state = J.JOBS.get_key(job_key(at))
    assert state is not None and state.status == J.RUNNING

    assert gate.reported.wait(30)
    at.run()  # another rerun (or another session) while it runs: the same job, no second fit
    assert not at.exception and gate.calls == 1
    assert at.get("progress")[0].proto.text.startswith("Forecasting demand: 0 of 3 series fitted and backtested · ")

    gate.release.set()
    assert J.JOBS.wait(job_key(at), 60).status == J.DONE
    at.run()  # what the progress fragment's rerun does once the job is done
    assert not at.exception, at.exception
    assert titles(at) == ["Cycle overview"]
    assert not at.get("progress")
    assert any(s.value.endswith(" cycle") for s in at.subheader), [s.value for s in at.subheader]
    assert gate.calls == 1


def test_a_failed_job_is_an_error_on_the_page_with_a_retry(fresh: AppTest, gate: Gate) -> None:
    gate.error = RuntimeError("could not reach the Dask scheduler at tcp://10.9.9.9:8786")
    at = fresh
    at.run()
    assert len(at.get("progress")) == 1
    gate.release.set()
    assert J.JOBS.wait(job_key(at), 60).status == J.FAILED
    at.run()
    assert not at.exception, at.exception
    assert titles(at) == ["Cycle overview"]
    errors = [e.value for e in at.error]
    assert errors == ["Could not forecast: " + escape.plain("could not reach the Dask scheduler at tcp://10.9.9.9:8786")]
    assert not at.get("progress") and gate.calls == 1  # a failure is not refitted on every view
    gate.error = None  # fixed: try again
    next(b for b in at.button if b.label == "Try again").click().run()
    assert not at.exception, at.exception
    assert J.JOBS.wait(job_key(at), 60).status == J.DONE and gate.calls == 2
    at.run()
    assert not at.error and any(s.value.endswith(" cycle") for s in at.subheader)


def test_a_viewer_does_not_start_a_fit_but_sees_one_running(fresh: AppTest, gate: Gate, monkeypatch,
                                                             reset_access) -> None:  # noqa: F811
    monkeypatch.setattr(J, "prefetch", lambda *a, **k: None)  # not the app's own start at opening: see below
    at = signed_in(fresh, "vic@example.com")
    at.run()
    assert not at.exception, at.exception
    assert titles(at) == ["Cycle overview"]
    assert [i.value for i in at.info] == ["The forecast for the latest data has not been run yet: a planner runs it "
                                          "by opening the Demand review."]
    assert not at.get("progress") and gate.calls == 0 and J.JOBS.get_key(job_key(at)) is None
    # a planner's session starts it: the viewer now sees its progress
    from pages.shell.state import _open

    with access.acting_as(access.Actor("pat@example.com", "planner")):
        J.start(_open(str(at.workspace_path)), SETTINGS, author="pat@example.com")
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("progress")) == 1 and gate.calls == 1
    gate.release.set()
    assert J.JOBS.wait(job_key(at), 60).status == J.DONE
    at.run()
    assert not at.get("progress") and any(s.value.endswith(" cycle") for s in at.subheader)


def test_the_app_starts_the_fit_when_it_opens_the_workspace(fresh: AppTest, gate: Gate,
                                                             reset_access) -> None:  # noqa: F811
    """The first visitor may be a viewer: the app itself (the system actor) starts the fit on opening."""
    at = signed_in(fresh, "vic@example.com")
    at.run()
    assert not at.exception, at.exception
    job = J.JOBS.get_key(job_key(at))
    assert job is not None and job.author == J.PREFETCH_AUTHOR
    assert len(at.get("progress")) == 1  # the viewer sees the app's own fit in progress
    gate.release.set()
    assert J.JOBS.wait(job_key(at), 60).status == J.DONE
    at.run()
    assert not at.get("progress") and any(s.value.endswith(" cycle") for s in at.subheader)


def _page_that_goes_on() -> None:
    """A page drawing the rest of itself while the forecast fits (ensure_forecast(stop=False))."""
    import os

    import streamlit as st

    from pages.shell.demand import ensure_forecast
    from pages.shell.state import _open
    from sop_core.demand.forecast import ForecastSettings

    st.title("A page", anchor=False)
    run = ensure_forecast(_open(os.environ["SOP_WORKSPACE"]), ForecastSettings(horizon=6, origins=1), "tester",
                          stop=False)
    st.markdown("forecast: " + ("waiting" if run is None else f"{run.n_series} series"))
    st.markdown("the rest of the page")


def test_stop_false_lets_the_page_draw_the_rest(fresh: AppTest, gate: Gate) -> None:
    at = AppTest.from_function(_page_that_goes_on, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("progress")) == 1
    assert [m.value for m in at.markdown][-2:] == ["forecast: waiting", "the rest of the page"]
    gate.release.set()
    assert J.JOBS.wait(job_key(fresh), 60).status == J.DONE
    at.run()
    assert not at.get("progress") and [m.value for m in at.markdown][-2:] == ["forecast: 3 series",
                                                                             "the rest of the page"]

"""Background forecast jobs: one job per run key, progress, result, failure, retry, actor, prefetch."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apptest_support import reset_access  # noqa: F401 - the fixture

from sop_core.demand import forecast as F
from sop_core.demand import forecast_jobs as J
from sop_core.demand.executor import SerialExecutor
from sop_core.store import access
from sop_core.store.workspace import Provenance, Workspace

SETTINGS = F.ForecastSettings(horizon=6, origins=1)


def tiny_sales(series: int = 3, months: int = 30) -> pd.DataFrame:
    """`series` steady monthly series to Oct 2026 (cheap fits: seasonal naive or Prophet on a short history)."""
    dates = pd.date_range(end="2026-10-01", periods=months, freq="MS")
    rng = np.random.default_rng(3)
    rows = [{"date": d, "sku": f"S{i}", "region": "North", "channel": None, "family": "F",
             "quantity": float(50 + 10 * i + rng.normal(0, 2)), "revenue": 1.0}
            for i in range(series) for d in dates]
    return pd.DataFrame(rows)


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace(tmp_path / "ws.duckdb")
    w.replace_table("sales", tiny_sales(), Provenance(file_name="sales.csv", sha256="sales.csv"))
    try:
        yield w
    finally:
        w.close()


class FakeRun:
    """What a runner returns (the registry reads run_id and n_series)."""

    def __init__(self, n: int) -> None:
        self.run_id, self.n_series = "fake-run", n


class GatedRunner:
    """A fake run_forecast: reports 0/5 then 2/5, waits for `gate`, then 5/5 (or raises `error`)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.gate = threading.Event()
        self.reached = threading.Event()
        self.calls = 0
        self.actors: list[access.Actor | None] = []
        self.error = error
        self._lock = threading.Lock()

    def __call__(self, ws, settings, progress=None, executor=None, author=None):  # type: ignore[no-untyped-def]
        with self._lock:
            self.calls += 1
        self.actors.append(access.current())
        progress(0, 5)
        progress(2, 5)
        self.reached.set()
        assert self.gate.wait(30)
        if self.error is not None:
            raise self.error
        progress(5, 5)
        return FakeRun(5)


def test_no_job_until_started(ws: Workspace) -> None:
    assert J.ForecastJobs().get(ws, SETTINGS) is None


def test_progress_then_result_and_one_job_for_every_caller(ws: Workspace) -> None:
    runner = GatedRunner()
    jobs = J.ForecastJobs(runner)
    first = jobs.start(ws, SETTINGS, author="ana", executor=SerialExecutor())
    assert first.status == J.RUNNING and first.author == "ana"
    assert runner.reached.wait(10)
    state = jobs.get(ws, SETTINGS)
    assert (state.status, state.done, state.total) == (J.RUNNING, 2, 5)
    assert state.text() == "Forecasting demand: 2 of 5 series fitted and backtested"
    assert state.fraction == pytest.approx(0.4)
    # eight sessions asking at once while it runs: they all join the one job
    seen: list[J.JobState] = []
    threads = [threading.Thread(target=lambda: seen.append(jobs.start(ws, SETTINGS, executor=SerialExecutor())))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runner.calls == 1 and all(s.status == J.RUNNING and s.started_at == first.started_at for s in seen)
    assert len(jobs.running()) == 1
    runner.gate.set()
    done = jobs.wait(jobs.job_key(ws, SETTINGS), 10)
    assert (done.status, done.done, done.total, done.run_id, done.error) == (J.DONE, 5, 5, "fake-run", None)
    assert done.fraction == 1.0 and done.finished_at is not None and not jobs.running()
    assert jobs.result(jobs.job_key(ws, SETTINGS)).run_id == "fake-run"


def test_text_before_the_series_are_known() -> None:
    state = J.JobState(key="k", path="p", status=J.RUNNING)
    assert state.fraction == 0.0 and "preparing the series" in state.text()


def test_a_failure_is_kept_with_its_message_until_retried(ws: Workspace) -> None:
    runner = GatedRunner(error=RuntimeError("the cluster went away"))
    runner.gate.set()
    jobs = J.ForecastJobs(runner)
    key = jobs.job_key(ws, SETTINGS)
    jobs.start(ws, SETTINGS, executor=SerialExecutor())
    failed = jobs.wait(key, 10)
    assert failed.status == J.FAILED and failed.error == "the cluster went away"
    assert failed.text() == "The forecast could not be run: the cluster went away"
    assert jobs.start(ws, SETTINGS, executor=SerialExecutor()).status == J.FAILED  # not refitted on every page view
    assert runner.calls == 1
    runner.error = None
    assert jobs.start(ws, SETTINGS, executor=SerialExecutor(), retry=True).status == J.RUNNING
    assert jobs.wait(key, 10).status == J.DONE and runner.calls == 2


def test_a_bad_scheduler_setting_fails_the_job_not_the_caller(ws: Workspace) -> None:
    from sop_core.demand.dask_executor import SCHEDULER_SETTING

    ws.set_setting(SCHEDULER_SETTING, "not an address")
    jobs = J.ForecastJobs(GatedRunner())
    jobs.start(ws, SETTINGS)  # executor resolved in the job from the setting
    state = jobs.wait(jobs.job_key(ws, SETTINGS), 30)
    assert state.status == J.FAILED and state.error


def test_other_settings_or_data_are_another_job(ws: Workspace) -> None:
    runner = GatedRunner()
    jobs = J.ForecastJobs(runner)
    a = jobs.start(ws, SETTINGS, executor=SerialExecutor())
    b = jobs.start(ws, F.ForecastSettings(horizon=7, origins=1), executor=SerialExecutor())
    assert a.key != b.key and len(jobs.running()) == 2
    runner.gate.set()
    for s in (a, b):
        assert jobs.wait((s.path, s.key), 10).status == J.DONE
    assert runner.calls == 2


def test_no_sales_is_refused_at_start(tmp_path: Path) -> None:
    with Workspace(tmp_path / "empty.duckdb") as empty:
        with pytest.raises(ValueError, match="no sales history"):
            J.ForecastJobs(GatedRunner()).start(empty, SETTINGS)


def test_the_job_runs_as_the_actor_who_started_it(ws: Workspace, reset_access) -> None:  # noqa: F811
    runner = GatedRunner()
    runner.gate.set()
    jobs = J.ForecastJobs(runner)
    pat = access.Actor("pat@example.com", "planner")
    access.enable(True)
    with access.acting_as(pat):
        jobs.start(ws, SETTINGS, executor=SerialExecutor())
    jobs.wait(jobs.job_key(ws, SETTINGS), 10)
    assert runner.actors == [pat]


def test_a_real_fit_in_the_background_is_stored_once_and_audited(ws: Workspace, reset_access) -> None:  # noqa: F811
    jobs = J.ForecastJobs()  # the real forecast.run_forecast
    key = jobs.job_key(ws, SETTINGS)
    access.enable(True)  # storing writes an audit event: it must pass as the starter, not as nobody
    with access.acting_as(access.Actor("pat@example.com", "planner")):
        jobs.start(ws, SETTINGS, author="pat@example.com", executor=SerialExecutor())
    state = jobs.wait(key, 120)
    assert state.status == J.DONE, state.error
    assert (state.done, state.total) == (3, 3)
    stored = F.load_run(ws, SETTINGS)
    assert stored is not None and stored.run_id == state.run_id and stored.n_series == 3
    assert ws.scalar("SELECT author FROM audit_log WHERE kind = 'forecast'") == "pat@example.com"
    # asked again: the stored run is the answer, nothing refits
    assert jobs.start(ws, SETTINGS, executor=SerialExecutor()) == state


def test_a_viewer_started_job_fails_with_the_permission_message(ws: Workspace, reset_access) -> None:  # noqa: F811
    jobs = J.ForecastJobs()
    access.enable(True)
    with access.acting_as(access.Actor("vic@example.com", "viewer")):
        jobs.start(ws, SETTINGS, executor=SerialExecutor())
    state = jobs.wait(jobs.job_key(ws, SETTINGS), 120)
    assert state.status == J.FAILED and "not permitted" in state.error


def test_prefetch_starts_only_when_no_run_is_stored(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = GatedRunner()
    runner.gate.set()
    monkeypatch.setattr(J, "JOBS", J.ForecastJobs(runner))
    F.save_settings(ws, SETTINGS)
    state = J.prefetch(ws, delay=0)
    assert state is not None and state.author == J.PREFETCH_AUTHOR
    assert J.JOBS.wait((state.path, state.key), 10).status == J.DONE and runner.actors == [access.SYSTEM]
    F.run_forecast(ws, SETTINGS, executor=SerialExecutor())  # now stored
    assert J.prefetch(ws) is None


def test_a_delayed_start_waits_until_a_page_asks(ws: Workspace) -> None:
    runner = GatedRunner()
    runner.gate.set()
    jobs = J.ForecastJobs(runner)
    first = jobs.start(ws, SETTINGS, executor=SerialExecutor(), delay=60)
    assert first.status == J.RUNNING and not runner.reached.wait(0.5)  # waiting out its delay
    jobs.start(ws, SETTINGS, executor=SerialExecutor())  # a page needs the forecast: no more waiting
    assert jobs.wait(jobs.job_key(ws, SETTINGS), 10).status == J.DONE and runner.calls == 1


def test_a_delayed_start_fits_after_its_delay(ws: Workspace) -> None:
    runner = GatedRunner()
    runner.gate.set()
    jobs = J.ForecastJobs(runner)
    jobs.start(ws, SETTINGS, executor=SerialExecutor(), delay=0.3)
    assert jobs.wait(jobs.job_key(ws, SETTINGS), 10).status == J.DONE


def test_prefetch_on_an_empty_workspace_does_nothing(tmp_path: Path) -> None:
    with Workspace(tmp_path / "empty.duckdb") as empty:
        assert J.prefetch(empty) is None


def test_finished_jobs_are_pruned(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(J, "KEEP_FINISHED", 2)
    runner = GatedRunner()
    runner.gate.set()
    jobs = J.ForecastJobs(runner)
    states = [jobs.start(ws, F.ForecastSettings(horizon=h, origins=1), executor=SerialExecutor()) for h in (6, 7, 8, 9)]
    for s in states:
        jobs.wait((s.path, s.key), 10)
    jobs.start(ws, F.ForecastSettings(horizon=10, origins=1), executor=SerialExecutor())
    assert jobs.get(ws, F.ForecastSettings(horizon=6, origins=1)) is None
    assert jobs.get(ws, F.ForecastSettings(horizon=9, origins=1)) is not None


def test_ensure_returns_the_stored_run_without_starting_a_job(ws: Workspace) -> None:
    jobs = J.ForecastJobs(GatedRunner())
    found = J.ensure(ws, SETTINGS, lambda: "stored run", jobs=jobs)  # type: ignore[arg-type,return-value]
    assert (found.run, found.waiting) == ("stored run", None) and jobs.get(ws, SETTINGS) is None


def test_ensure_starts_the_fit_for_a_planner_and_reports_it_running(ws: Workspace, reset_access) -> None:  # noqa: F811
    runner = GatedRunner()
    jobs = J.ForecastJobs(runner)
    access.enable(True)
    with access.acting_as(access.Actor("pat@example.com", "planner")):
        found = J.ensure(ws, SETTINGS, lambda: None, author="pat", executor=SerialExecutor(), jobs=jobs)
    assert (found.run, found.waiting, found.may_fit) == (None, J.WAITING_RUNNING, True)
    assert found.state is not None and (found.state.path, found.state.key) == jobs.job_key(ws, SETTINGS)
    runner.gate.set()
    assert jobs.wait(jobs.job_key(ws, SETTINGS), 10).status == J.DONE


def test_ensure_never_starts_a_fit_for_a_viewer(ws: Workspace, reset_access) -> None:  # noqa: F811
    runner = GatedRunner()
    jobs = J.ForecastJobs(runner)
    access.enable(True)
    with access.acting_as(access.Actor("val@example.com", "viewer")):
        found = J.ensure(ws, SETTINGS, lambda: None, jobs=jobs)
    assert (found.waiting, found.may_fit) == (J.WAITING_VIEWER, False)
    assert jobs.get(ws, SETTINGS) is None and runner.calls == 0


def test_ensure_reports_a_failed_job_and_an_empty_history(ws: Workspace, tmp_path: Path) -> None:
    runner = GatedRunner(error=RuntimeError("the cluster went away"))
    runner.gate.set()
    jobs = J.ForecastJobs(runner)
    jobs.start(ws, SETTINGS, executor=SerialExecutor())
    jobs.wait(jobs.job_key(ws, SETTINGS), 10)
    failed = J.ensure(ws, SETTINGS, lambda: None, jobs=jobs)
    assert failed.waiting == J.WAITING_FAILED and failed.state.error == "the cluster went away"
    assert runner.calls == 1  # not refitted by asking again
    with Workspace(tmp_path / "empty.duckdb") as empty:
        none = J.ensure(empty, SETTINGS, lambda: None, jobs=J.ForecastJobs(GatedRunner()))
    assert none.waiting == J.WAITING_NO_HISTORY and "no sales history" in none.message

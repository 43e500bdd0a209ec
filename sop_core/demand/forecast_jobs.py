"""Background forecast jobs: one fit per workspace and run key for the whole server process.

The app never fits a forecast inside a page's script run: `start(ws, settings)` starts (or
joins) a job on a daemon thread that calls `forecast.run_forecast`, and the pages poll
`get(ws, settings)` for its progress until the run is stored. Every session of the server
shares the jobs, so a second visitor (or a second tab) sees the first one's progress instead of
fitting again; `forecast.run_forecast`'s per-key lock additionally guarantees that two fits of
the same run never overlap, whoever calls it.

A job is identified by (resolved workspace path, run key) — the key of the current data and
settings (`forecast.run_key`); loading new data or changing the settings gives a new key and so
a new job. States: 'running' (done/total series so far; total is 0 until the series are read),
'done' (run_id of the stored run), 'failed' (the error message; the traceback is logged). A
failed job stays failed — pages show its message — until `start(..., retry=True)`; a finished
job is started again only when asked (the page asks when the stored run has gone).

The job runs as the actor who started it (`access.acting_as`): the background thread does not
inherit the page's context, and storing the run writes an audit event checked against the role.

No streamlit import: the page glue is pages/shell/demand.py.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sop_core.demand import forecast
from sop_core.demand.executor import Executor
from sop_core.store import access
from sop_core.store.workspace import Workspace

log = logging.getLogger("sop.forecast_jobs")

RUNNING, DONE, FAILED = "running", "done", "failed"
PREFETCH_DELAY = 3.0  # seconds `prefetch` waits before fitting (the first page is drawn meanwhile)
PREFETCH_AUTHOR = "app start-up"  # the author `prefetch` records on the run's audit event
KEEP_FINISHED = 16  # finished jobs remembered (their state, not their frames), oldest dropped first

Runner = Callable[..., "forecast.ForecastRun"]


@dataclass(frozen=True)
class JobState:
    """A snapshot of one job (safe to read from any thread)."""

    key: str  # the run key
    path: str  # the workspace file
    status: str  # 'running', 'done' or 'failed'
    done: int = 0  # series fitted and backtested so far
    total: int = 0  # series to fit (0 until known)
    run_id: str | None = None  # the stored run, when done
    error: str | None = None  # what went wrong, when failed
    started_at: float = 0.0  # time.time()
    finished_at: float | None = None
    author: str | None = None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def fraction(self) -> float:
        """Share of series done, 0..1 (0 until the total is known, 1 when done)."""
        if self.status == DONE:
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def seconds(self) -> float:
        """Seconds since the start (to the finish when finished)."""
        return (self.finished_at or time.time()) - self.started_at

    def text(self) -> str:
        """One line for the user: 'Forecasting demand: 40 of 87 series fitted and backtested'."""
        if self.status == FAILED:
            return f"The forecast could not be run: {self.error}"
        if self.status == DONE:
            return f"Forecast ready: {self.total:,} series fitted and backtested"
        if not self.total:
            return "Forecasting demand: reading the sales history and preparing the series"
        return f"Forecasting demand: {self.done:,} of {self.total:,} series fitted and backtested"


class _Job:
    """A running or finished job (mutable; guarded by its registry's lock)."""

    def __init__(self, state: JobState) -> None:
        self.state = state
        self.finished = threading.Event()
        self.wake = threading.Event()  # ends a start delay early: someone is waiting for the forecast
        self.result: forecast.ForecastRun | None = None
        self.exception: BaseException | None = None
        self.thread: threading.Thread | None = None


class ForecastJobs:
    """The registry of background forecast jobs (thread-safe; the module has one, `JOBS`)."""

    def __init__(self, runner: Runner | None = None) -> None:
        self._runner = runner  # None: forecast.run_forecast (looked up at call time, so tests can patch it)
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], _Job] = {}

    # -- queries ------------------------------------------------------------------------------
    @staticmethod
    def job_key(ws: Workspace, settings: forecast.ForecastSettings) -> tuple[str, str]:
        """(workspace file, run key) of the current data and settings."""
        return str(ws.path.resolve()), forecast.run_key(ws, settings)

    def get(self, ws: Workspace, settings: forecast.ForecastSettings) -> JobState | None:
        """The job of the current data and settings, or None when none was started in this process."""
        return self.get_key(self.job_key(ws, settings))

    def get_key(self, key: tuple[str, str]) -> JobState | None:
        """The job of a (workspace file, run key), or None."""
        with self._lock:
            job = self._jobs.get(key)
            return None if job is None else job.state

    def result(self, key: tuple[str, str]) -> forecast.ForecastRun | None:
        """The run a finished job fitted (or found stored), else None."""
        with self._lock:
            job = self._jobs.get(key)
            return None if job is None else job.result

    def running(self) -> list[JobState]:
        """Every job still running."""
        with self._lock:
            return [j.state for j in self._jobs.values() if j.state.status == RUNNING]

    # -- starting and waiting -------------------------------------------------------------------
    def start(self, ws: Workspace, settings: forecast.ForecastSettings, *, author: str | None = None,
              actor: access.Actor | None = None, executor: Executor | None = None,
              retry: bool = False, delay: float = 0.0) -> JobState:
        """Start the job of the current data and settings unless one is running; its state.

        A running job is joined (whatever `retry`); a failed one is returned as is unless
        `retry`; a finished one is returned while its run is stored, else started again.
        actor: who the fit runs as (its audit event is checked against the role); default the
        caller's current actor. executor: where to fit; default the workspace's Dask scheduler
        setting, else $SOP_DASK_SCHEDULER, else the local pool (resolved in the job, so a bad
        scheduler address fails the job with its message). delay: seconds the job waits before
        fitting (it is 'running' meanwhile), so a page being drawn is not slowed by the fit's start;
        a later `start` of the same job (a page that needs the forecast) ends the wait.
        """
        if not ws.has_table("sales"):
            raise ValueError("no sales history loaded: load a sales file (or the demo) before forecasting")
        key = self.job_key(ws, settings)
        actor = actor if actor is not None else access.current()
        previous = self.get_key(key)
        if previous is not None and previous.status == DONE and stored(ws, key[1]):
            return previous
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.state.status == RUNNING or (job.state.status == FAILED and not retry)):
                job.wake.set()
                return job.state
            job = _Job(JobState(key=key[1], path=key[0], status=RUNNING, started_at=time.time(), author=author))
            self._jobs.pop(key, None)
            self._jobs[key] = job  # newest last: pruning drops the oldest finished
            self._prune()
            job.thread = threading.Thread(target=self._run,
                                          args=(key, job, ws, settings, author, actor, executor, delay),
                                          name=f"sop-forecast-{key[1][:16]}", daemon=True)
            job.thread.start()
            return job.state

    def wait(self, key: tuple[str, str], timeout: float | None = None) -> JobState | None:
        """Block until the job of `key` finishes (or `timeout` seconds pass); its state, None if unknown."""
        with self._lock:
            job = self._jobs.get(key)
        if job is None:
            return None
        job.finished.wait(timeout)
        with self._lock:
            return job.state

    def forget(self, key: tuple[str, str] | None = None) -> None:
        """Drop a finished job's record (all finished ones when key is None); running jobs are kept."""
        with self._lock:
            for k in [key] if key is not None else list(self._jobs):
                job = self._jobs.get(k)
                if job is not None and job.state.status != RUNNING:
                    del self._jobs[k]

    # -- the job thread -------------------------------------------------------------------------
    def _progress(self, job: _Job, done: int, total: int) -> None:
        with self._lock:
            job.state = replace(job.state, done=int(done), total=int(total))

    def _run(self, key: tuple[str, str], job: _Job, ws: Workspace, settings: forecast.ForecastSettings,
             author: str | None, actor: access.Actor | None, executor: Executor | None, delay: float = 0.0) -> None:
        try:
            if delay > 0:
                job.wake.wait(delay)
            with access.acting_as(actor):
                ex = executor
                if ex is None:
                    from sop_core.demand.dask_executor import SCHEDULER_SETTING
                    from sop_core.demand.executor import get_executor

                    ex = get_executor(ws.get_setting(SCHEDULER_SETTING))
                runner = self._runner or forecast.run_forecast
                run = runner(ws, settings, progress=lambda d, t: self._progress(job, d, t), executor=ex,
                             author=author)
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the pages with its message
            log.exception("forecast job %s on %s failed", key[1], key[0])
            message = str(exc) or type(exc).__name__
            with self._lock:
                job.exception = exc
                job.state = replace(job.state, status=FAILED, error=message, finished_at=time.time())
        else:
            with self._lock:
                job.result = run
                n = int(getattr(run, "n_series", job.state.total) or job.state.total)
                job.state = replace(job.state, status=DONE, done=n, total=n, run_id=run.run_id,
                                    finished_at=time.time())
        finally:
            job.finished.set()

    def _prune(self) -> None:
        """Keep at most KEEP_FINISHED finished jobs (called with the lock held)."""
        finished = [k for k, j in self._jobs.items() if j.state.status != RUNNING]
        for k in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[k]


JOBS = ForecastJobs()


def stored(ws: Workspace, run_key: str) -> bool:
    """True when the workspace holds a run with that key."""
    return bool(ws.scalar("SELECT count(*) FROM forecast_runs WHERE run_key = ?", [run_key]))


def start(ws: Workspace, settings: forecast.ForecastSettings, **kwargs: Any) -> JobState:
    """`JOBS.start`: start (or join) the background job of the current data and settings."""
    return JOBS.start(ws, settings, **kwargs)


def get(ws: Workspace, settings: forecast.ForecastSettings) -> JobState | None:
    """`JOBS.get`: the job of the current data and settings in this process, or None."""
    return JOBS.get(ws, settings)


WAITING_VIEWER, WAITING_NO_HISTORY, WAITING_RUNNING, WAITING_FAILED = "viewer", "no_history", "running", "failed"


@dataclass(frozen=True)
class Ensured:
    """What `ensure` found: the stored run, or why there is none yet (`waiting`) and the job's state."""

    run: forecast.ForecastRun | None
    may_fit: bool  # whether the acting user may start (or retry) a fit
    waiting: str | None = None  # None when `run` is there; else 'viewer', 'no_history', 'running' or 'failed'
    state: JobState | None = None  # the job, when one runs or failed
    message: str | None = None  # why, for 'no_history'


def ensure(ws: Workspace, settings: forecast.ForecastSettings, find_run: Callable[[], forecast.ForecastRun | None],
           *, author: str | None = None, executor: Executor | None = None, jobs: ForecastJobs | None = None) -> Ensured:
    """The stored run for the current data and settings; when there is none, start its fit if the user may.

    `find_run()` reads the stored run (the page passes its cached reader). A viewer never starts a
    fit: they wait for a planner ('viewer'), or for a job already running. A job that failed stays
    failed until `start(..., retry=True)`.
    """
    jobs = jobs or JOBS
    run = find_run()
    may_fit = forecast.may_fit()
    if run is not None:
        return Ensured(run, may_fit)
    state = jobs.get(ws, settings)
    if state is None or state.status == DONE:
        if not may_fit:
            return Ensured(None, may_fit, WAITING_VIEWER)
        try:
            state = jobs.start(ws, settings, author=author, executor=executor)
        except ValueError as exc:  # no sales history
            return Ensured(None, may_fit, WAITING_NO_HISTORY, message=str(exc))
        if state.status == DONE:  # its run is stored (it ended between the two reads)
            run = find_run()
            if run is not None:
                return Ensured(run, may_fit)
    return Ensured(None, may_fit, WAITING_FAILED if state.status == FAILED else WAITING_RUNNING, state)


def prefetch(ws: Workspace, settings: forecast.ForecastSettings | None = None, *,
             actor: access.Actor | None = access.SYSTEM, delay: float = PREFETCH_DELAY) -> JobState | None:
    """Start the forecast of the saved settings when the workspace has sales and no stored run for them.

    For the app's workspace opening (so the fit starts before any page asks); runs as the
    system actor, like the demo load, after `delay` seconds (the first page is drawn while the
    job waits: starting the fit at once slows it down on a small machine; a page that needs the
    forecast meanwhile joins the job). Returns the job's state, or None when nothing is needed.
    Never raises: a failure to start is logged (the pages start the job again and show why).
    """
    try:
        settings = settings or forecast.saved_settings(ws)
        if not ws.has_table("sales") or stored(ws, forecast.run_key(ws, settings)):
            return None
        return JOBS.start(ws, settings, author=PREFETCH_AUTHOR, actor=actor, delay=delay)
    except Exception:  # noqa: BLE001 - a convenience: the page path reports the error
        log.exception("could not start the forecast in the background")
        return None

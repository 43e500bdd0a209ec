"""DaskExecutor on a real loopback cluster: a scheduler and two workers started as processes by the test.

Covers: the same forecast as the local pool; a worker killed mid-run and the run still completing
with the same result; the app's progress bar fed from the cluster; retries; a chunk that keeps
failing reported with its series; cancel; an unreachable scheduler; version mismatch; selection
by SOP_DASK_SCHEDULER / address. Prophet fits are kept few: 12 series, horizon 6, one origin.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sop_core import escape

distributed = pytest.importorskip("distributed")

from sop_core.demand import dask_executor as D  # noqa: E402
from sop_core.demand import forecast as F  # noqa: E402
from sop_core.demand.executor import LocalExecutor, get_executor  # noqa: E402
from sop_core.store.workspace import Provenance, Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = F.ForecastSettings(horizon=6, origins=1)
N_SERIES = 12


# -- functions the workers run (this module is on the workers' PYTHONPATH) ---------------------------
def always_fails(payload: tuple[str, list[F.SeriesTask]]) -> None:
    """Append one line per attempt to the file, then raise."""
    path, _tasks = payload
    with open(path, "a") as f:
        f.write("attempt\n")
    raise ValueError("boom: this chunk cannot be fitted")


def fails_once(payload: tuple[str, list[F.SeriesTask]]) -> list[str]:
    """Raise on the first attempt (leaving a marker file), return the series ids on the retry."""
    path, tasks = payload
    if not os.path.exists(path):
        Path(path).write_text("failed once\n")
        raise RuntimeError("transient failure")
    return [t.series_id for t in tasks]


def sleepy(payload: tuple[float, int]) -> int:
    """Sleep, then return the chunk number."""
    time.sleep(payload[0])
    return payload[1]


def scheduler_keys(dask_scheduler: Any, prefix: str) -> list[str]:
    """Keys the scheduler still holds that start with prefix (runs on the scheduler)."""
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith(prefix)]


# -- data and cluster -----------------------------------------------------------------------------
def sales(n: int = N_SERIES, months: int = 36) -> pd.DataFrame:
    """n monthly sku × region series to Oct 2026: level, trend, yearly season, noise."""
    rng = np.random.default_rng(11)
    dates = pd.date_range(end="2026-10-01", periods=months, freq="MS")
    t = np.arange(months)
    rows = []
    for i in range(n):
        level = rng.uniform(40, 400)
        y = level * (1 + 0.01 * t / 12 * i) * (1 + 0.3 * np.sin(2 * np.pi * (t + i) / 12)) + rng.normal(0, level * 0.08,
                                                                                                    months)
        for d, q in zip(dates, np.clip(y, 0, None).round()):
            rows.append({"date": d, "sku": f"S{i:02d}", "region": "North" if i % 2 else "South", "channel": None,
                         "family": "F1" if i < n // 2 else "F2", "quantity": float(q), "revenue": float(q) * 5})
    return pd.DataFrame(rows)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A `dask scheduler` and `dask worker` processes on 127.0.0.1 (workers without nanny: a kill is final)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.env = {k: v for k, v in os.environ.items() if k != D.SCHEDULER_ENV} | {"PYTHONPATH": path}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.scheduler = self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                                   "--no-dashboard", "--idle-timeout", "900",
                                                   "--preload", "sop_core.demand.dask_executor"])
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline or self.scheduler.poll() is not None:
                    raise RuntimeError(f"dask scheduler did not start: see {tmp / 'scheduler.log'}") from exc
                time.sleep(0.2)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Start `python -m dask ARGS` in the app folder, logging to tmp/NAME.log."""
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start_worker(self) -> subprocess.Popen[bytes]:
        """One single-threaded worker process."""
        i = len(self.workers)
        proc = self._spawn(f"worker{i}", ["worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                          "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--death-timeout",
                                          "60", "--local-directory", str(self.tmp / f"w{i}"),
                                          "--preload", "sop_core.demand.dask_executor"])
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        """Terminate the workers, then the scheduler (each by its own pid; killed if still up after 10 s)."""
        for group in (self.workers, [self.scheduler]):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace file with the 12 series loaded."""
    path = tmp_path_factory.mktemp("dask") / "ws.duckdb"
    with Workspace(path) as ws:
        ws.replace_table("sales", sales(), Provenance(file_name="sales.csv", sha256="sales.csv"))
    return path


@pytest.fixture(scope="module")
def local_run(workspace_file: Path) -> F.ForecastRun:
    """The reference: the forecast fitted in the local fork pool (before any Dask client thread exists)."""
    ex = LocalExecutor(workers=2)
    try:
        with Workspace(workspace_file) as ws:
            return F.run_forecast(ws, SETTINGS, executor=ex, force=True)
    finally:
        ex.shutdown()


@pytest.fixture(scope="module")
def cluster(local_run: F.ForecastRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and two workers on loopback, as real processes (started after the local reference)."""
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start_worker()
        c.start_worker()
        with distributed.Client(c.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=90)
        yield c
    finally:
        D.close_shared()
        c.stop()


@pytest.fixture
def ex(cluster: Cluster) -> Iterator[D.DaskExecutor]:
    """A DaskExecutor on the loopback cluster, closed after the test."""
    with D.DaskExecutor(cluster.address, timeout=10, worker_timeout=30) as e:
        yield e


def assert_same_run(a: F.ForecastRun, b: F.ForecastRun) -> None:
    """Forecast and metrics frames of two runs are equal."""
    pd.testing.assert_frame_equal(a.forecast.reset_index(drop=True), b.forecast.reset_index(drop=True),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(a.metrics.reset_index(drop=True), b.metrics.reset_index(drop=True),
                                  check_dtype=False)


def refit(path: Path, executor: Any, progress: Any = None) -> F.ForecastRun:
    """Fit the workspace's forecast again (force) through executor."""
    with Workspace(path) as ws:
        return F.run_forecast(ws, SETTINGS, progress=progress, executor=executor, force=True)


# -- tests ------------------------------------------------------------------------------------------
def test_cluster_forecast_equals_the_local_pool(cluster: Cluster, ex: D.DaskExecutor, workspace_file: Path,
                                                local_run: F.ForecastRun) -> None:
    calls: list[tuple[int, int]] = []
    run = refit(workspace_file, ex, lambda d, t: calls.append((d, t)))
    assert run.n_series == N_SERIES and run.fitted == N_SERIES and not run.cached
    assert_same_run(run, local_run)
    assert run.metrics["candidate"].str.contains("prophet").any()  # Prophet really ran on the workers
    # progress counts series as chunks complete: 0, then chunk sizes accumulating to the total
    assert calls[0] == (0, N_SERIES) and calls[-1] == (N_SERIES, N_SERIES)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(done) == 1 + len(ex_chunks(ex))
    with Workspace(workspace_file) as ws:  # stored in bulk: the stored frames are the cluster's
        stored = F.load_run(ws, run_key=run.run_key)
    assert stored is not None and stored.run_id == run.run_id
    assert_same_run(stored, local_run)


def ex_chunks(ex: D.DaskExecutor) -> list[list[int]]:
    """The chunks run_forecast sends for N_SERIES series to this executor."""
    from sop_core.demand.executor import chunked

    return chunked(list(range(N_SERIES)), ex.workers)


def test_failing_chunk_is_retried_then_reported_with_its_series(ex: D.DaskExecutor, tmp_path: Path,
                                                               local_run: F.ForecastRun) -> None:
    tasks = [F.SeriesTask(f"S{i:02d} | North", pd.Timestamp("2026-01-01"), np.arange(3.0)) for i in range(3)]
    ex.retries = 1
    # a transient failure is retried and the run succeeds
    out = ex.map_chunks(fails_once, [(str(tmp_path / "marker"), tasks)])
    assert out == [[t.series_id for t in tasks]] and (tmp_path / "marker").exists()
    # a chunk that keeps failing: ChunkFailed naming its series and the worker's error, after retries
    attempts = tmp_path / "attempts.txt"
    with pytest.raises(D.ChunkFailed) as info:
        ex.map_chunks(always_fails, [(str(attempts), tasks)])
    err = info.value
    assert err.series_ids == [t.series_id for t in tasks] and err.index == 0
    assert "S00 | North, S01 | North, S02 | North" in str(err) and "boom" in str(err)
    assert isinstance(err.error, ValueError)
    assert attempts.read_text().count("attempt") == 2  # the first try and one retry


def test_cancel_stops_outstanding_work(cluster: Cluster, ex: D.DaskExecutor) -> None:
    ex.name = "sop-canceltest"
    done: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ex.map_chunks(sleepy, [(1.5, i) for i in range(10)], done.append)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.8)
    t0 = time.monotonic()
    ex.cancel()
    t.join(timeout=10)
    assert not t.is_alive() and time.monotonic() - t0 < 2
    assert len(errors) == 1 and isinstance(errors[0], D.RunCancelled), errors
    assert len(done) < 10
    deadline = time.monotonic() + 10
    while ex.client.run_on_scheduler(scheduler_keys, prefix="sop-canceltest"):
        assert time.monotonic() < deadline, "cancelled tasks are still held by the scheduler"
        time.sleep(0.2)


class Stopped(BaseException):
    """Like Streamlit's StopException or Ctrl-C: a BaseException raised inside the progress callback."""


def test_exception_in_progress_callback_cancels_the_run(ex: D.DaskExecutor) -> None:
    ex.name = "sop-stoptest"

    def stop(i: int) -> None:
        raise Stopped

    with pytest.raises(Stopped):
        ex.map_chunks(sleepy, [(0.3, i) for i in range(8)], stop)
    deadline = time.monotonic() + 10
    while ex.client.run_on_scheduler(scheduler_keys, prefix="sop-stoptest"):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_unreachable_scheduler_is_a_clear_error_within_the_timeout() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(D.SchedulerUnreachable) as info:
        D.DaskExecutor(address, timeout=2).map_chunks(sleepy, [(0, 0)])
    assert time.monotonic() - t0 < 2 + 3
    assert address in str(info.value) and "2 s" in str(info.value) and D.SCHEDULER_ENV in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_missing_distributed_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"install dask\[distributed\] to use SOP_DASK_SCHEDULER"):
        D.DaskExecutor("tcp://127.0.0.1:8786")


def test_scheduler_selection_and_address_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(D.SCHEDULER_ENV, raising=False)
    assert isinstance(get_executor(), LocalExecutor)
    monkeypatch.setenv(D.SCHEDULER_ENV, "127.0.0.1:8786")
    env_ex = get_executor()
    assert isinstance(env_ex, D.DaskExecutor) and env_ex.address == "tcp://127.0.0.1:8786"
    explicit = get_executor("tcp://10.0.0.7:9000")  # the flag / app setting wins over the environment
    assert isinstance(explicit, D.DaskExecutor) and explicit.address == "tcp://10.0.0.7:9000"
    assert explicit._client is None  # nothing connects until there is work
    assert D.normalize_address("  ") is None
    for bad in ("tcp://host", "host:port", "http://h:1", "h:99999"):
        with pytest.raises(ValueError, match="tcp://host:8786"):
            D.normalize_address(bad)
    with pytest.raises(ValueError):
        D.DaskExecutor("")  # never Client(None), which would start a local cluster silently
    D.close_shared()


class FakeClient:
    """Stands in for distributed.Client in the version check."""

    status = "running"

    def __init__(self, worker_prophet: str, worker_code: str) -> None:
        self.worker_prophet, self.worker_code = worker_prophet, worker_code

    def get_versions(self, check: bool = False, packages: Any = None) -> dict[str, Any]:
        from distributed.versions import get_versions

        mine = get_versions(packages)
        other = {"host": mine["host"], "packages": dict(mine["packages"], prophet=self.worker_prophet)}
        return {"client": mine, "scheduler": mine, "workers": {"tcp://10.0.0.9:4000": other}}

    def run(self, fn: Any) -> dict[str, str]:
        return {"tcp://10.0.0.9:4000": self.worker_code}

    def run_on_scheduler(self, fn: Any) -> str:
        return fn()


def test_worker_version_mismatch_is_reported_clearly() -> None:
    from importlib.metadata import version

    prophet = version("prophet")
    ex = D.DaskExecutor("tcp://127.0.0.1:8786")
    ex._client = FakeClient(prophet, D.project_fingerprint())
    ex.check_workers()  # same versions, same code: fine
    ex._client = FakeClient("1.0", "another-copy")
    with pytest.raises(D.WorkerMismatch) as info:
        ex.check_workers()
    msg = str(info.value)
    assert f"prophet: app {prophet}, 1.0 on tcp://10.0.0.9:4000" in msg
    assert "sop_core: another version of the app's code on tcp://10.0.0.9:4000" in msg
    assert "pip install -r requirements.txt" in msg
    ex._client = None


def _run_app_until_the_job_ends(path: Path) -> Any:
    """Run the forecast-on-open script, wait for its background job, run it again; the AppTest and the job."""
    from streamlit.testing.v1 import AppTest

    from pages.shell.state import _open
    from sop_core.demand import forecast_jobs

    at = AppTest.from_function(_demand_script, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    job = forecast_jobs.JOBS.wait(forecast_jobs.JOBS.job_key(_open(str(path)), SETTINGS), 300)
    assert job is not None and not job.running
    at.run()
    assert not at.exception, at.exception
    return at, job


def test_app_progress_is_fed_from_the_cluster(cluster: Cluster, workspace_file: Path, tmp_path: Path,
                                             local_run: F.ForecastRun, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.duckdb"
    with Workspace(path) as ws:  # the same data, no stored run, the cluster set in the app's setting
        ws.replace_table("sales", sales(), Provenance(file_name="sales.csv", sha256="sales.csv"))
        ws.set_setting(D.SCHEDULER_SETTING, cluster.address)
    monkeypatch.delenv(D.SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("SOP_TEST_WORKSPACE", str(path))
    at, job = _run_app_until_the_job_ends(path)
    assert job.status == "done" and job.done == job.total == N_SERIES, job
    assert job.text() == f"Forecast ready: {N_SERIES} series fitted and backtested"
    assert any("fitted on the cluster: 12 series" in m.value for m in at.markdown), [m.value for m in at.markdown]
    assert cluster.address in D._SHARED  # the app's executor came from the workspace setting
    from pages.shell.state import _open

    stored = F.load_run(_open(str(path)), SETTINGS)
    assert stored is not None
    assert_same_run(stored, local_run)


def test_app_shows_an_unreachable_scheduler_as_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.duckdb"
    address = f"tcp://127.0.0.1:{free_port()}"
    with Workspace(path) as ws:
        ws.replace_table("sales", sales(2), Provenance(file_name="sales.csv", sha256="sales.csv"))
        ws.set_setting(D.SCHEDULER_SETTING, address)
    monkeypatch.setenv("SOP_TEST_WORKSPACE", str(path))
    at, job = _run_app_until_the_job_ends(path)
    assert job.status == "failed"
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and escape.plain(f"could not reach the Dask scheduler at {address}") in errors[0], errors
    D.close_shared()


def test_demand_review_form_stores_the_scheduler_setting(workspace_file: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from streamlit.testing.v1 import AppTest

    from pages.shell.state import _open

    path = tmp_path / "page.duckdb"
    shutil.copy(workspace_file, path)
    with Workspace(path) as ws:  # the page's settings match the stored run: no fit on open
        F.save_settings(ws, SETTINGS)
    monkeypatch.setenv("SOP_WORKSPACE", str(path))
    monkeypatch.delenv(D.SCHEDULER_ENV, raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/demand_review.py")
    at.run()
    assert not at.exception, at.exception
    box = next(t for t in at.text_input if t.label == "Dask scheduler (optional)")
    assert box.value == ""
    box.set_value("not an address")
    next(b for b in at.button if b.label == "Apply settings").click()
    at.run()
    assert any(escape.plain("tcp://host:8786") in e.value for e in at.error), [e.value for e in at.error]
    box = next(t for t in at.text_input if t.label == "Dask scheduler (optional)")
    box.set_value("10.0.0.5:8786")
    next(b for b in at.button if b.label == "Apply settings").click()
    at.run()
    assert not at.exception, at.exception
    assert _open(str(path)).get_setting(D.SCHEDULER_SETTING) == "tcp://10.0.0.5:8786"
    _open.clear()


def _demand_script() -> None:
    """The app's forecast-on-open path (pages.shell.demand.ensure_forecast) on the test workspace."""
    import os

    import streamlit as st

    from pages.shell.demand import ensure_forecast
    from pages.shell.state import _open
    from sop_core.demand.forecast import ForecastSettings

    ws = _open(os.environ["SOP_TEST_WORKSPACE"])  # the server's shared workspace: the background job uses it
    run = ensure_forecast(ws, ForecastSettings(horizon=6, origins=1), "tester")
    st.markdown(f"fitted on the cluster: {run.n_series} series")


def test_cli_forecast_on_the_cluster(cluster: Cluster, workspace_file: Path, local_run: F.ForecastRun,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from sop_core.cli import main as cli

    code = cli.main(["--workspace", str(workspace_file), "forecast", "--horizon", "6", "--origins", "1", "--force",
                     "--scheduler", cluster.address])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"fits run on the Dask cluster at {cluster.address}" in err and f"{N_SERIES}/{N_SERIES} series" in err
    with Workspace(workspace_file) as ws:
        stored = F.load_run(ws, SETTINGS)
    assert stored is not None
    assert_same_run(stored, local_run)


def test_cli_unreachable_scheduler_exits_with_the_error(workspace_file: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from sop_core.cli import main as cli

    address = f"tcp://127.0.0.1:{free_port()}"
    code = cli.main(["--workspace", str(workspace_file), "forecast", "--horizon", "6", "--origins", "1", "--force",
                     "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 1 and f"error: could not reach the Dask scheduler at {address}" in err
    assert "Traceback" not in err
    assert cli.main(["--workspace", str(workspace_file), "forecast", "--scheduler", "not an address"]) == 2
    assert "tcp://host:8786" in capsys.readouterr().err


def test_a_worker_killed_mid_run_and_the_run_still_completes(cluster: Cluster, workspace_file: Path,
                                                             local_run: F.ForecastRun) -> None:
    """Last in the module: it leaves the cluster with one worker."""
    killed: list[tuple[str, int]] = []
    stop = threading.Event()

    with distributed.Client(cluster.address, timeout=10, set_as_default=False) as watcher:
        pids = watcher.run(os.getpid)

        def kill_a_busy_worker() -> None:
            """SIGKILL the first worker seen working on chunks twice in a row (its chunk is lost mid-fit).

            The second look comes soon: on a quiet machine a chunk can take well under a second, and a
            worker that must stay busy longer may never be caught before the run ends.
            """
            while not stop.is_set():
                busy = sorted(w for w, keys in watcher.processing().items() if keys)
                if busy:
                    stop.wait(0.05)
                    if busy[0] in {w for w, keys in watcher.processing().items() if keys}:
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        killed.append((busy[0], pids[busy[0]]))
                        return
                stop.wait(0.05)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        killer.start()
        try:
            with D.DaskExecutor(cluster.address, timeout=10, worker_timeout=30) as ex:
                run = refit(workspace_file, ex)
                alive = set(ex.client.nthreads())
        finally:
            stop.set()
            killer.join(timeout=5)
    assert killed, "no worker was killed during the run"
    addr, pid = killed[0]
    assert addr not in alive
    proc = next(p for p in cluster.workers if p.pid == pid)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert run.n_series == N_SERIES and run.fitted == N_SERIES
    assert_same_run(run, local_run)

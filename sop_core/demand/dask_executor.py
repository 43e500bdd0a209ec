"""Forecast fits on a Dask cluster: the `DaskExecutor` behind `SOP_DASK_SCHEDULER`.

The same `map_chunks(fn, chunks, on_done)` as the local pool (`executor.py`), run on a Dask
cluster that someone already started (`dask scheduler`, `dask worker tcp://host:8786`); this
module never starts a cluster itself. `get_executor()` picks it when an address is given
(the CLI's `--scheduler`, the app's "Dask scheduler" setting) or `$SOP_DASK_SCHEDULER` is set.

How it behaves towards the cluster
- Connects with `distributed.Client(address, timeout=...)`: an unreachable scheduler is a
  `SchedulerUnreachable` error naming the address and the timeout, not a hang; a scheduler
  without workers is a `ClusterError` after `worker_timeout`.
- Before the first run (and whenever new workers joined) it compares the scheduler's and workers'
  Python and package versions with this process (`client.get_versions(check=True, packages=...)`)
  and their copy of `sop_core` (a hash of its source files): a mismatch could give different
  forecasts (or tasks the scheduler cannot unpickle), so it is a `WorkerMismatch` error listing
  package, app version and the versions found, and where.
- Each chunk is one task named `sop-forecast-<token>`, the token a hash of the function and the
  chunk (pure keys: the same chunk is the same task, and retrying it is safe because `fn` must be
  a pure function of its chunk). Tasks are submitted in a window of about two per worker thread,
  so the scheduler never holds the whole data set; results stream back (`as_completed`), each
  chunk's result is released on the cluster as soon as it is collected, and `on_done(i)` is
  called in the calling thread as chunk i completes.
- A task that raises is retried `retries` times; a task whose worker dies is rescheduled by the
  scheduler (up to `distributed.scheduler.allowed-failures`). A chunk that still fails raises
  `ChunkFailed` with its index, series ids and the worker's error; nothing is dropped silently.
- `cancel()` (or an exception in `on_done`, e.g. Streamlit stopping the script) cancels every
  outstanding task of the run and raises `RunCancelled`.
- `close()` (or `with DaskExecutor(...)`) closes the client; the shared executors returned by
  `shared_executor()` are closed at exit.

The scheduler and the workers need the app's requirements (`pip install -r requirements.txt -r requirements-dask.txt`) and
the project on their `PYTHONPATH`: workers run the fits, and the scheduler unpickles each task.
Start both with `--preload sop_core.demand.dask_executor` (`dask_setup` below) so they import the engine
and Prophet once at start instead of during the first forecast (README, "Scaling out with Dask").
"""
from __future__ import annotations

import atexit
import hashlib
import importlib
import socket
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sop_core import config
from sop_core.demand.models import warm_up

# What a forecast worker imports at start (the forkserver's preload and `dask_setup`): Prophet, and the
# module whose functions the tasks run. Named, not imported, so the executors stay below the forecast.
WORKER_PRELOAD: tuple[str, ...] = ("prophet", "statsmodels.tsa.seasonal", "sop_core.demand.forecast")

SCHEDULER_ENV = config.DASK_SCHEDULER
SCHEDULER_SETTING = "dask_scheduler"
CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler
WORKER_TIMEOUT = 60.0  # seconds to wait for a first worker (adaptive clusters start them on demand)
CHUNK_TIMEOUT = 900.0  # seconds without any finished chunk before the run is declared stuck
RETRIES = 2
TASK_NAME = "sop-forecast"
INSTALL_HINT = ("install dask[distributed] to use SOP_DASK_SCHEDULER "
                "(pip install -r requirements-dask.txt: the versions the app is tested with)")
WORKER_HINT = ("on the scheduler and every worker: pip install -r requirements.txt -r requirements-dask.txt (the same "
               "Python version as the "
               "app) and start `dask scheduler` / `dask worker` with the app folder on PYTHONPATH "
               "(README, 'Scaling out with Dask')")
# packages whose version can change a forecast or how chunks travel; compared app vs every worker
RESULT_PACKAGES: tuple[str, ...] = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "toolz", "numpy",
                                    "pandas", "prophet", "cmdstanpy", "holidays")
SCHEDULER_PACKAGES: tuple[str, ...] = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "toolz", "numpy",
                                       "pandas")  # the scheduler unpickles tasks but runs no fits
_POLL = 0.05  # seconds between checks for a finished chunk or a cancel


class ClusterError(RuntimeError):
    """The Dask cluster could not run the forecast (the message says why and what to do)."""


class SchedulerUnreachable(ClusterError, ConnectionError):
    """No Dask scheduler answered at the address within the timeout."""


class WorkerMismatch(ClusterError):
    """Workers run other package versions or another copy of sop_core than this process."""


class RunCancelled(ClusterError):
    """The run was cancelled; its outstanding tasks were cancelled on the cluster."""


class ChunkFailed(ClusterError):
    """A chunk kept failing after its retries: carries its index, series ids and the worker's error."""

    def __init__(self, index: int, total: int, series_ids: Sequence[str], error: BaseException | None,
                 retries: int) -> None:
        self.index = index
        self.total = total
        self.series_ids = list(series_ids)
        self.error = error
        shown = ", ".join(self.series_ids[:20]) + (f" and {len(self.series_ids) - 20} more"
                                                    if len(self.series_ids) > 20 else "")
        what = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        killed = type(error).__name__ == "KilledWorker"
        cause = ("its worker died each time it ran it (memory or a crashing fit?)" if killed
                 else f"it raised after {retries} retr{'y' if retries == 1 else 'ies'}")
        super().__init__(f"chunk {index + 1} of {total} failed on the Dask cluster: {cause}. Worker error: {what}. "
                         f"Its {len(self.series_ids)} series: {shown or '(none found)'}. Nothing was stored; "
                         "fix the cause and run again.")


def _distributed() -> Any:
    """The distributed module, or an ImportError naming the package to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return distributed


def normalize_address(text: str | None) -> str | None:
    """'host:port' or 'tcp://host:port' as a scheduler URI; None when blank; ValueError when malformed."""
    value = (text or "").strip()
    if not value:
        return None
    if "://" not in value:
        value = "tcp://" + value
    scheme, _, rest = value.partition("://")
    host, sep, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls", "ws", "wss", "ucx", "inproc") or not sep or not host or not port.isdigit() \
            or not 0 < int(port) < 65536:
        raise ValueError(f"the Dask scheduler address must look like tcp://host:8786, got {text!r}")
    return f"{scheme}://{host}:{port}"


def scheduler_address(explicit: str | None = None) -> str | None:
    """The scheduler to use: `explicit` (flag or app setting), else $SOP_DASK_SCHEDULER, else None (local pool)."""
    return normalize_address(explicit) or normalize_address(config.dask_scheduler())


def project_fingerprint() -> str:
    """sha256 of sop_core's source files (run on workers to check they have the app's code)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def chunk_series(chunk: Any) -> list[str]:
    """The series ids in a chunk: items with a `series_id` (SeriesTask) in a payload such as (config, tasks)."""
    found: list[str] = []

    def walk(x: Any, depth: int) -> None:
        if hasattr(x, "series_id"):
            found.append(str(x.series_id))
        elif isinstance(x, dict) and "series_id" in x:
            found.append(str(x["series_id"]))
        elif depth < 3 and isinstance(x, (list, tuple)):
            for y in x:
                walk(y, depth + 1)

    walk(chunk, 0)
    return found


def _python(info: dict[str, Any]) -> str | None:
    """major.minor of a versions entry's Python."""
    v = (info or {}).get("packages", {}).get("python")
    return ".".join(str(v).split(".")[:2]) if v else None


class DaskExecutor:
    """Runs chunks as tasks on an existing Dask cluster (see the module docstring)."""

    def __init__(self, address: str, *, timeout: float = CONNECT_TIMEOUT, retries: int = RETRIES,
                 worker_timeout: float = WORKER_TIMEOUT, chunk_timeout: float = CHUNK_TIMEOUT,
                 check_versions: bool = True, name: str = TASK_NAME) -> None:
        self._dd = _distributed()
        address = normalize_address(address)
        if not address:  # never fall back to Client() (which would start a local cluster silently)
            raise ValueError("a Dask scheduler address is required, e.g. tcp://scheduler-host:8786")
        self.address = address
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.worker_timeout = float(worker_timeout)
        self.chunk_timeout = float(chunk_timeout)
        self.check_versions = check_versions
        self.name = name
        self._client: Any = None
        self._checked: set[str] = set()
        self._lock = threading.Lock()
        self._active: set[threading.Event] = set()

    # -- connection ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The connected distributed.Client (connects on first use)."""
        with self._lock:
            if self._client is not None and self._client.status in ("closing", "closed", "failed"):
                self._client = None
                self._checked.clear()
            if self._client is None:
                try:
                    self._probe()
                    self._client = self._dd.Client(self.address, timeout=self.timeout, set_as_default=False,
                                                   name=self.name)
                except Exception as exc:  # refused, timed out, or something that is not a scheduler answered
                    raise SchedulerUnreachable(
                        f"could not reach the Dask scheduler at {self.address} within {self.timeout:g} s "
                        f"({type(exc).__name__}: {exc}). Check the address ({SCHEDULER_ENV}, --scheduler or the "
                        "app's 'Dask scheduler' setting), that `dask scheduler` runs there and the port is open; "
                        "clear it to fit on this machine.") from exc
            return self._client

    def _probe(self) -> None:
        """Open and close a TCP connection to the scheduler's port (fails fast on a refused port)."""
        scheme, _, rest = self.address.partition("://")
        if scheme not in ("tcp", "tls", "ws", "wss"):
            return
        host, _, port = rest.rpartition(":")
        socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout).close()

    def _nthreads(self) -> dict[str, int]:
        """Worker address -> threads, as the scheduler sees them now."""
        return dict(self.client.nthreads())

    @property
    def workers(self) -> int:
        """Worker threads on the cluster (waits up to worker_timeout for a first worker)."""
        self._ready()
        return max(1, sum(self._nthreads().values()))

    def _ready(self) -> None:
        """Connect, wait for a worker and check any workers not checked yet."""
        client = self.client
        if not self._nthreads():
            try:
                client.wait_for_workers(1, timeout=self.worker_timeout)
            except TimeoutError as exc:
                raise ClusterError(f"the Dask scheduler at {self.address} has no workers after "
                                   f"{self.worker_timeout:g} s: start some with `dask worker {self.address}`") from exc
        if self.check_versions:
            new = set(self._nthreads()) - self._checked
            if new:
                self.check_workers()

    def check_workers(self) -> None:
        """Raise WorkerMismatch when the scheduler's or a worker's Python, packages or sop_core differ from ours.

        The scheduler unpickles every task (it imports sop_core's dataclasses), so it is checked too.
        """
        client = self.client
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # distributed only warns; the table below is the error
            versions = client.get_versions(check=True, packages=list(RESULT_PACKAGES))
        mine = versions["client"]
        nodes: dict[str, tuple[Any, tuple[str, ...]]] = {"scheduler": (versions.get("scheduler"), SCHEDULER_PACKAGES)}
        nodes.update({addr: (info, RESULT_PACKAGES) for addr, info in (versions.get("workers") or {}).items()})
        rows: list[str] = []
        for pkg in ("python", *RESULT_PACKAGES):
            want = _python(mine) if pkg == "python" else mine["packages"].get(pkg)
            differ: dict[str, list[str]] = {}
            for node, (info, pkgs) in nodes.items():
                if pkg != "python" and pkg not in pkgs:
                    continue
                info = info if isinstance(info, dict) else {}
                got = _python(info) if pkg == "python" else info.get("packages", {}).get(pkg)
                if got != want:
                    differ.setdefault(str(got or "MISSING"), []).append(node)
            for got, where in differ.items():
                rows.append(f"  {pkg}: app {want or 'MISSING'}, {got} on {', '.join(sorted(where))}")
        here = project_fingerprint()
        try:
            prints = {"scheduler": client.run_on_scheduler(project_fingerprint)}
            prints.update(client.run(project_fingerprint))
        except Exception as exc:  # a node could not even load sop_core to run the probe
            raise WorkerMismatch(f"the Dask scheduler or workers at {self.address} cannot import sop_core "
                                 f"({type(exc).__name__}: {exc}); the scheduler unpickles the tasks and the workers "
                                 f"run them, so both need the app's environment. {WORKER_HINT}") from exc
        other = sorted(node for node, fp in prints.items() if fp != here)
        if other:
            rows.append(f"  sop_core: another version of the app's code on {', '.join(other)}")
        if rows:
            raise WorkerMismatch("the Dask cluster differs from this app, so it could give other forecasts than this "
                                 "machine:\n" + "\n".join(rows) + f"\nFix: {WORKER_HINT}")
        self._checked |= set(prints) - {"scheduler"}

    def close(self) -> None:
        """Close the client (the cluster keeps running; it is not ours)."""
        with self._lock:
            client, self._client = self._client, None
            self._checked.clear()
        if client is not None:
            client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel every run in progress on this executor (its outstanding tasks are cancelled on the cluster)."""
        for ev in list(self._active):
            ev.set()

    def key(self, fn: Callable[[Any], Any], chunk: Any) -> str:
        """The task key of fn(chunk): the name plus a hash of both (same chunk, same key)."""
        from dask.base import tokenize

        return f"{self.name}-{tokenize(fn, chunk)}"

    def map_chunks(self, fn: Callable[[Any], Any], chunks: Sequence[Any],
                   on_done: Callable[[int], None] | None = None, *,
                   cancel: threading.Event | None = None) -> list[Any]:
        """fn(chunk) for every chunk on the cluster; results in chunk order; on_done(i) as chunk i completes.

        fn must be a top-level function of the project (workers import it) and pure in its chunk.
        `cancel`: an event that cancels this run when set (cancel() sets it too).
        """
        n = len(chunks)
        if n == 0:
            return []
        self._ready()
        client = self.client
        stop = cancel if cancel is not None else threading.Event()
        self._active.add(stop)
        by_key: dict[str, list[int]] = {}
        for i, chunk in enumerate(chunks):
            by_key.setdefault(self.key(fn, chunk), []).append(i)
        pending = deque(by_key)  # unique keys in chunk order
        inflight: dict[Any, str] = {}
        results: list[Any] = [None] * n
        ac = self._dd.as_completed(loop=client.loop)

        def submit() -> None:
            window = max(2, 2 * sum(self._nthreads().values()))
            while pending and len(inflight) < window:
                key = pending.popleft()
                i = by_key[key][0]
                fut = client.submit(fn, chunks[i], key=key, pure=True, retries=self.retries, priority=-i)
                inflight[fut] = key
                ac.add(fut)

        last = checked = time.monotonic()
        no_workers_since: float | None = None
        done = 0
        try:
            submit()
            while inflight:
                if stop.is_set():
                    raise RunCancelled(f"the forecast run was cancelled: {done} of {n} chunks were done; the "
                                       "outstanding tasks were cancelled on the cluster")
                if not ac.has_ready():
                    now = time.monotonic()
                    if now - last > self.chunk_timeout:
                        raise ClusterError(f"no chunk finished on the Dask cluster at {self.address} for "
                                           f"{self.chunk_timeout:.0f} s; the run was stopped, please run again")
                    if now - checked > 1.0:
                        checked = now
                        if self._nthreads():
                            no_workers_since = None
                        elif no_workers_since is None:
                            no_workers_since = now
                        elif now - no_workers_since > self.worker_timeout:
                            raise ClusterError(f"every worker left the Dask cluster at {self.address} and none came "
                                               f"back in {self.worker_timeout:g} s; the run was stopped")
                    stop.wait(_POLL)
                    continue
                fut = next(ac)
                key = inflight.pop(fut)
                idx = by_key[key]
                if fut.status == "finished":
                    res = fut.result()
                elif fut.status == "error":
                    raise ChunkFailed(idx[0], n, chunk_series(chunks[idx[0]]), fut.exception(), self.retries)
                else:  # cancelled or lost: the scheduler connection dropped or someone cancelled the key
                    raise ClusterError(f"chunk {idx[0] + 1} of {n} was {fut.status} on the Dask cluster at "
                                       f"{self.address} (client {client.status}); nothing was stored, run again")
                del fut  # release the result on the cluster
                for i in idx:
                    results[i] = res
                    done += 1
                    if on_done:
                        on_done(i)
                last = time.monotonic()
                submit()
        except BaseException:
            if inflight:
                try:
                    client.cancel(list(inflight), reason="sop forecast run stopped")
                except Exception:  # the connection may be what failed
                    pass
            raise
        finally:
            self._active.discard(stop)
        return results


def dask_setup(server: Any) -> None:
    """Preload hook (`dask scheduler|worker --preload sop_core.demand.dask_executor`): import the engine at start.

    The scheduler unpickles tasks that hold sop_core's dataclasses and workers import Prophet on
    their first chunk; doing it at start keeps the first forecast from paying seconds of imports.
    """
    for name in WORKER_PRELOAD:
        importlib.import_module(name)
    if type(server).__name__ == "Worker":
        warm_up()


_SHARED: dict[str, DaskExecutor] = {}
_SHARED_LOCK = threading.Lock()


def shared_executor(address: str) -> DaskExecutor:
    """The process-wide DaskExecutor for a scheduler address (one client per address, closed at exit)."""
    addr = normalize_address(address)
    if not addr:
        raise ValueError("a Dask scheduler address is required, e.g. tcp://scheduler-host:8786")
    with _SHARED_LOCK:
        ex = _SHARED.get(addr)
        if ex is None:
            ex = _SHARED[addr] = DaskExecutor(addr)
        return ex


@atexit.register
def close_shared() -> None:
    """Close every shared executor's client."""
    with _SHARED_LOCK:
        items = list(_SHARED.values())
        _SHARED.clear()
    for ex in items:
        try:
            ex.close()
        except Exception as exc:  # at exit the loop may be gone already
            print(f"sop_core.demand.dask_executor: closing the Dask client failed: {exc}", file=sys.stderr)

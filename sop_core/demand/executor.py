"""Where model fits run: the seam between the forecast engine and its compute backend.

`get_executor()` returns the process-wide `LocalExecutor`: a `multiprocessing` pool whose
workers fork from a clean forkserver with Prophet preloaded (not from the multi-threaded app), one
worker per CPU, created on first use and kept alive for the life of the process (shut down at
exit), so reruns and other sessions reuse it. With a scheduler address (`SOP_DASK_SCHEDULER`, the
CLI's --scheduler, the app setting) it returns `dask_executor.DaskExecutor`, the same `map_chunks`
on a Dask cluster.

Rules for callers: the function must be a top-level (picklable) function, and chunks must hold
plain data (DataFrames, numpy arrays, dataclasses): never the Workspace or a DuckDB connection.
Workers fork from a forkserver and, unlike standard forkserver workers, never import the
parent's main script (under Streamlit that is app.py, which would run the app in every worker).
"""
from __future__ import annotations

import atexit
import io
import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Sequence
from multiprocessing import context as mp_context
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.pool import Pool
from typing import Any, Protocol

from sop_core import config
from sop_core.demand.dask_executor import WORKER_PRELOAD, scheduler_address, shared_executor
from sop_core.store.access import SENSITIVE_ENV

WORKERS_ENV = config.WORKERS
CHUNK_TIMEOUT = 900.0  # seconds without any finished chunk before the pool is declared broken


class Executor(Protocol):
    """Runs a function over chunks and reports each finished chunk."""

    workers: int

    def map_chunks(self, fn: Callable[[Any], Any], chunks: Sequence[Any],
                   on_done: Callable[[int], None] | None = None) -> list[Any]:
        """fn(chunk) for every chunk; results in chunk order; on_done(i) as chunk i completes."""
        ...


def _call_indexed(task: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    """Worker entry: run fn on one chunk and return it with its index."""
    fn, i, chunk = task
    return i, fn(chunk)


class SerialExecutor:
    """Runs chunks one after the other in the calling process (tests, one CPU, debugging)."""

    workers = 1

    def map_chunks(self, fn: Callable[[Any], Any], chunks: Sequence[Any],
                   on_done: Callable[[int], None] | None = None) -> list[Any]:
        """fn(chunk) for every chunk in order; on_done(i) after each."""
        out = []
        for i, chunk in enumerate(chunks):
            out.append(fn(chunk))
            if on_done:
                on_done(i)
        return out


class _MainlessPopen(popen_forkserver.Popen):
    """A forkserver child that does not run the parent's `__main__` first.

    Streamlit runs each script as a module named `__main__` whose file is app.py, so a standard
    forkserver or spawn child would run the whole app before taking its first task (and die
    doing it). Workers only run top-level functions of `sop_core`, so they need no main module.
    This is `popen_forkserver.Popen._launch` of CPython 3.11 with the main-module entries dropped.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        mp_context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            mp_context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)  # the child watches this duplicate to notice the parent's death
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _MainlessProcess(mp_context.ForkServerProcess):
    """A forkserver process started through `_MainlessPopen`."""

    @staticmethod
    def _Popen(process_obj: Any) -> _MainlessPopen:
        return _MainlessPopen(process_obj)


class _MainlessForkServerContext(mp_context.ForkServerContext):
    """The forkserver start method with `_MainlessProcess` workers."""

    Process = _MainlessProcess


def scrub_environment() -> None:
    """A worker's start: drop the server's secrets from its environment (tokens, keys, passwords, sign-in)."""
    for name in [k for k in os.environ if SENSITIVE_ENV.search(k)]:
        del os.environ[name]


class LocalExecutor:
    """A long-lived process pool on this machine (forkserver workers, Prophet preloaded)."""

    def __init__(self, workers: int | None = None, chunk_timeout: float = CHUNK_TIMEOUT) -> None:
        self.workers = max(1, int(workers or config.forecast_workers()))
        self.chunk_timeout = float(chunk_timeout)
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> Pool:
        """The pool, started on first use."""
        with self._lock:
            if self._pool is None:
                # forkserver, not fork: the app server and the test runner are multi-threaded (web server,
                # browser driver, cluster client), and a worker forked from such a process can crash or hang
                # on a lock held by another thread. Workers fork from a clean server with Prophet preloaded.
                ctx = _MainlessForkServerContext()
                ctx.set_forkserver_preload(list(WORKER_PRELOAD))
                self._pool = ctx.Pool(self.workers, initializer=scrub_environment)
            return self._pool

    def map_chunks(self, fn: Callable[[Any], Any], chunks: Sequence[Any],
                   on_done: Callable[[int], None] | None = None) -> list[Any]:
        """fn(chunk) for every chunk in the pool (imap_unordered); results in chunk order; on_done(i) as each completes.

        With one worker or one chunk it runs in the calling process (no pickling, no pool start).
        """
        if self.workers == 1 or len(chunks) <= 1:
            return SerialExecutor().map_chunks(fn, chunks, on_done)
        results: list[Any] = [None] * len(chunks)
        pool = self._get_pool()
        it = pool.imap_unordered(_call_indexed, [(fn, i, c) for i, c in enumerate(chunks)])
        try:
            for _ in range(len(chunks)):
                i, res = it.next(timeout=self.chunk_timeout)
                results[i] = res
                if on_done:
                    on_done(i)
        except mp.TimeoutError as exc:
            self.shutdown()  # a worker died or hangs (its task is lost): start a fresh pool next time
            raise RuntimeError(f"a worker sent no result for {self.chunk_timeout:.0f} s; the pool was restarted, "
                               "please run again") from exc
        except (BrokenPipeError, EOFError, OSError):
            self.shutdown()
            raise
        return results

    def shutdown(self) -> None:
        """Stop the pool's workers (a new pool starts on next use)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            pool.join()

    @property
    def started(self) -> bool:
        """True when the worker processes are running."""
        return self._pool is not None


_LOCAL: LocalExecutor | None = None
_LOCAL_LOCK = threading.Lock()


def get_executor(address: str | None = None) -> Executor:
    """The process-wide executor: a DaskExecutor for `address` or $SOP_DASK_SCHEDULER, else the local pool.

    The local pool (a lazily started LocalExecutor, shut down at exit) needs no configuration;
    a scheduler address (`address` from the CLI flag or the app setting, before the environment)
    selects `dask_executor.shared_executor(address)`, which never starts a cluster itself.
    """
    scheduler = scheduler_address(address)
    if scheduler:
        return shared_executor(scheduler)
    global _LOCAL
    with _LOCAL_LOCK:
        if _LOCAL is None:
            _LOCAL = LocalExecutor()
            atexit.register(_LOCAL.shutdown)
        return _LOCAL


def chunked(items: Sequence[Any], workers: int, min_size: int = 5, max_size: int = 25) -> list[list[Any]]:
    """Split items into chunks of min_size..max_size, about four per worker, to amortise task overhead."""
    n = len(items)
    if n == 0:
        return []
    size = max(min_size, min(max_size, -(-n // (max(1, workers) * 4))))
    return [list(items[i:i + size]) for i in range(0, n, size)]

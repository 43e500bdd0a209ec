"""Benchmark of the Dask executor: the local pool against a loopback Dask cluster, and a 50,000-series projection.

Run: ``python benchmarks/dask_bench.py [--series 2000] [--prophet-series 100] [--workers 2]``.

The script starts its own loopback cluster as processes (``python -m dask scheduler`` and
``--workers`` single-threaded ``dask worker`` processes, ``--preload sop_core.dask_executor``),
the way the README starts a real one, and stops them at the end. The local pool has the same
number of processes. Both run the production worker entry point ``forecast.fit_chunk`` on chunks
sized by ``executor.chunked``, as ``run_forecast`` does.

Which model is fitted (Prophet for 2,000 series takes ~4–7 minutes per backend on 2 cores, so the
2,000-series rows use a fast model and Prophet is timed on a smaller set):
- fast, 2,000 series: generated monthly series with intermittent demand (≥ 50% zero months), so
  the production path picks Croston SBA, backtests it against seasonal naive over 3 origins and
  fits it (horizon 18). The model costs milliseconds, so these rows show the executors' own costs.
- no-op, the same 2,000-series chunks mapped with ``len``: a chunk's round trip (payload out,
  scheduling, a tiny result back) — the per-chunk overhead.
- Prophet, ``--prophet-series`` generated seasonal series through the full production pipeline
  (3-origin backtest + choice + final fit, horizon 18): the per-series cost per worker process.
- projection: 50,000 Prophet series on N = 1, 4, 16, 64 single-threaded workers from those two
  measurements: ceil(chunks / N) × (chunk size × per-series cost) + chunks × per-chunk overhead.
  It excludes the app's own preparation (reading the history, building the series) and the bulk
  write of the results, which run in the app process either way.
"""
from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make sop_core and forecast_bench importable
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast_bench import generated_tasks, print_table, row  # noqa: E402
from sop_core import backtest as B  # noqa: E402
from sop_core.dask_executor import SCHEDULER_ENV, DaskExecutor  # noqa: E402
from sop_core.executor import LocalExecutor, chunked  # noqa: E402
from sop_core.forecast import FitConfig, ForecastSettings, SeriesTask, fit_chunk  # noqa: E402
from sop_core.models import warm_up  # noqa: E402

Row = dict[str, Any]
PROJECT_SERIES = 50_000
PROJECT_WORKERS = (1, 4, 16, 64)


def intermittent_tasks(n: int, months: int = 48, seed: int = 1) -> list[SeriesTask]:
    """n monthly series with 55–85% zero months (the production path fits Croston SBA to them)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-11-01")
    out = []
    for i in range(n):
        p = rng.uniform(0.15, 0.45)
        y = np.where(rng.random(months) < p, rng.poisson(rng.uniform(2, 30), months) + 1, 0).astype(float)
        y[0], y[-3] = max(y[0], 1.0), max(y[-3], 1.0)
        out.append(SeriesTask(f"int-{i:04d}", start, y))
    return out


def production_config(tasks: Sequence[SeriesTask]) -> FitConfig:
    """The app's default monthly settings (horizon 18, 3 backtest origins) for these series."""
    s = ForecastSettings()
    n = max(len(t.y) for t in tasks)
    last = max(t.start + pd.DateOffset(months=len(t.y) - 1) for t in tasks)
    plan = B.plan_backtest(last, n, s.horizon, s.season_length, s.freq, s.origins)
    return FitConfig(s.bucket, s.freq, s.season_length, s.horizon, s.mode, s.seasonality_mode, None, plan)


def payloads(tasks: list[SeriesTask], workers: int) -> list[tuple[FitConfig, list[SeriesTask]]]:
    """fit_chunk payloads as run_forecast builds them."""
    cfg = production_config(tasks)
    return [(cfg, c) for c in chunked(tasks, workers)]


def timed(ex: Any, fn: Callable[[Any], Any], chunks: list[Any]) -> tuple[float, list[Any]]:
    """Wall seconds of ex.map_chunks(fn, chunks) and its results."""
    t0 = time.perf_counter()
    out = ex.map_chunks(fn, chunks)
    return time.perf_counter() - t0, out


def same(a: list[Any], b: list[Any]) -> bool:
    """True when two fit_chunk result lists are equal (forecast rows, backtest points, choices)."""
    try:
        for x, y in zip(a, b, strict=True):
            pd.testing.assert_frame_equal(x[0], y[0])
            pd.testing.assert_frame_equal(x[1], y[1])
            assert x[2] == y[2]
    except AssertionError:
        return False
    return True


# -- the loopback cluster -------------------------------------------------------------------------
def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackCluster:
    """`dask scheduler` + single-threaded `dask worker` processes on 127.0.0.1, stopped by stop()."""

    def __init__(self, workers: int, tmp: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if k != SCHEDULER_ENV}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        common = ["--no-dashboard", "--preload", "sop_core.dask_executor"]
        port = self.address.rsplit(":", 1)[1]
        self.procs = [self._spawn(["scheduler", "--host", "127.0.0.1", "--port", port, *common], env, tmp / "s.log")]
        for i in range(workers):
            self.procs.append(self._spawn(["worker", self.address, "--nworkers", "1", "--nthreads", "1", "--no-nanny",
                                           "--host", "127.0.0.1", "--local-directory", str(tmp / f"w{i}"), *common],
                                          env, tmp / f"w{i}.log"))
        deadline = time.monotonic() + 120
        while True:  # the scheduler listens once its preload imported the engine
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the dask scheduler did not start; see {tmp / 's.log'}")
                time.sleep(0.2)

    @staticmethod
    def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """python -m dask ARGS in the project folder."""
        return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """Terminate the processes this benchmark started."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


# -- the benchmark --------------------------------------------------------------------------------
def measure(ex: Any, label: str, fast: list[Any], prophet: list[Any], n_fast: int, n_prophet: int,
            threads: int) -> dict[str, Any]:
    """Time the fast run, the no-op round trip and the Prophet run on one executor."""
    out: dict[str, Any] = {"label": label}
    print(f"  {label}: Croston SBA, {n_fast} series ...", file=sys.stderr, flush=True)
    out["fast_s"], out["fast"] = timed(ex, fit_chunk, fast)
    print(f"  {label}: no-op round trip ...", file=sys.stderr, flush=True)
    out["noop_s"], _ = timed(ex, len, fast)
    if n_prophet:
        print(f"  {label}: Prophet, {n_prophet} series ...", file=sys.stderr, flush=True)
        out["prophet_s"], out["prophet"] = timed(ex, fit_chunk, prophet)
        out["per_series"] = out["prophet_s"] * threads / n_prophet
    return out


def rows_for(m: dict[str, Any], n_fast: int, n_prophet: int, chunks: int, pchunks: int, threads: int) -> list[Row]:
    """Table rows of one executor's measurements."""
    label = m["label"]
    rows = [
        row(label, f"Croston SBA (backtest + choice + fit), {n_fast:,} series", round(m["fast_s"], 2), "s",
            f"{n_fast / m['fast_s']:,.0f} series/s; {chunks} chunks"),
        row(label, f"per-chunk overhead (no-op round trip of the {chunks} chunks)",
            round(1000 * m["noop_s"] / chunks, 2), "ms", f"{m['noop_s']:.2f} s in all"),
    ]
    if n_prophet:
        rows.append(row(label, f"Prophet (backtest + choice + fit), {n_prophet:,} series", round(m["prophet_s"], 2),
                        "s", f"{n_prophet / m['prophet_s']:.1f} series/s; {pchunks} chunks; "
                             f"{1000 * m['per_series']:.0f} ms per series per worker process ({threads})"))
    return rows


def projection(per_series: float, overhead: float, chunk_size: int = 25) -> list[Row]:
    """Rows projecting 50,000 Prophet series on N single-threaded workers."""
    rows = []
    for n in PROJECT_WORKERS:
        chunks = len(chunked(range(PROJECT_SERIES), n))
        size = math.ceil(PROJECT_SERIES / chunks)
        compute = math.ceil(chunks / n) * size * per_series
        total = compute + chunks * overhead
        rows.append(row("projection", f"{PROJECT_SERIES:,} Prophet series on {n} worker{'s' if n > 1 else ''}",
                        round(total / 60, 1), "min", f"{PROJECT_SERIES / total:,.0f} series/s; {chunks:,} chunks of "
                        f"{size}; overhead {chunks * overhead:.1f} s ({chunks * overhead / total:.1%})"))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the local pool, then the loopback cluster, and print one table with the projection."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=2000, help="generated series for the fast-model rows (2000)")
    ap.add_argument("--prophet-series", type=int, default=100, help="generated series fitted with Prophet (100; 0 = skip)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes on each side (2)")
    args = ap.parse_args(argv)
    w = args.workers
    fast_tasks = intermittent_tasks(args.series)
    prophet_tasks = generated_tasks(args.prophet_series) if args.prophet_series else []
    fast, prophet = payloads(fast_tasks, w), payloads(prophet_tasks, w) if prophet_tasks else []
    warm = payloads(generated_tasks(2, seed=9), w)[:1]
    assert all(isinstance(c[1][0], SeriesTask) for c in fast)

    # the fork pool first, before any Dask client thread exists in this process
    print("local pool ...", file=sys.stderr, flush=True)
    warm_up()
    local = LocalExecutor(workers=w)
    local.map_chunks(fit_chunk, warm * w)
    loc = measure(local, f"local pool ({w} processes)", fast, prophet, args.series, args.prophet_series, w)
    local.shutdown()

    with tempfile.TemporaryDirectory() as tmp:
        print("starting the loopback cluster ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        cluster = LoopbackCluster(w, Path(tmp))
        try:
            with DaskExecutor(cluster.address, timeout=30, worker_timeout=120) as ex:
                ex.client.wait_for_workers(w, timeout=180)
                threads = ex.workers
                start_s = time.perf_counter() - t0
                ex.map_chunks(fit_chunk, warm * threads)
                dsk = measure(ex, f"Dask loopback ({threads} workers)", fast, prophet, args.series,
                              args.prophet_series, threads)
        finally:
            cluster.stop()

    rows = [row("setup", "Dask cluster start (scheduler + workers, preload imports Prophet)", round(start_s, 1), "s",
                "paid once: the cluster is long-lived")]
    rows += rows_for(loc, args.series, args.prophet_series, len(fast), len(prophet), w)
    rows += rows_for(dsk, args.series, args.prophet_series, len(fast), len(prophet), threads)
    identical = same(loc["fast"], dsk["fast"]) and (not prophet or same(loc["prophet"], dsk["prophet"]))
    rows.append(row("check", "cluster results equal the local pool's", "yes" if identical else "NO", "",
                    "forecast rows, backtest points and model choices"))
    if args.prophet_series:
        overhead = dsk["noop_s"] / len(fast)
        rows.append(row("projection", "inputs", round(1000 * dsk["per_series"]), "ms/series",
                        f"Prophet per series per worker process (cluster run); per-chunk overhead "
                        f"{1000 * overhead:.1f} ms; chunks of 25 (executor.chunked)"))
        rows += projection(dsk["per_series"], overhead)
    print_table(rows)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())

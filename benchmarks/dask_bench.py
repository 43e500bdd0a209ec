"""Benchmark of the Dask executor: the local pool against a loopback Dask cluster, and a 50,000-series projection.

Run: ``python benchmarks/dask_bench.py [--series 2000] [--prophet-series 100] [--workers 2]``.

The script starts its own loopback cluster as processes (``python -m dask scheduler`` and
``--workers`` single-threaded ``dask worker`` processes, ``--preload sop_core.demand.dask_executor``),
the way the README starts a real one, and stops them at the end. The local pool has the same
number of processes. Both run the production worker entry point ``forecast.fit_chunk`` on chunks
sized by ``executor.chunked``, as ``run_forecast`` does.

Which model is fitted: Prophet through the full pipeline costs ~150 ms of CPU per series here,
so 2,000 Prophet series would take ~2.5 minutes per backend on a quiet 2-core machine and several
times that on a shared one; the 2,000-series rows therefore use a fast model, and Prophet is
timed on a smaller set for the projection:
- Croston SBA, 2,000 series: generated monthly series with intermittent demand (55–85% zero
  months), so the production path picks Croston SBA, backtests it against seasonal naive over
  3 origins and fits it (horizon 18): ~25 ms of CPU per series, mostly pandas.
- per-chunk overhead: the same 2,000-series chunks mapped with ``len``, a chunk's round trip
  (payload out, scheduling, a tiny result back), and the scheduler's + client's CPU per chunk.
- Prophet, ``--prophet-series`` (100) generated seasonal series through the same pipeline
  (3-origin backtest + choice + final fit, horizon 18): CPU seconds per series on the workers
  (including the Stan subprocesses), which depends far less than wall time on how busy the machine is.
- projection: 50,000 Prophet series on N = 1, 4, 16, 64 single-threaded workers (one core each):
  ceil(chunks / N) × (chunk size × per-series CPU + per-chunk round trip), with how busy the
  scheduler and client would be. It excludes the app's own preparation (reading the history,
  building the series) and the bulk write of the results, which run in the app process either way.

The run also checks that the cluster's results equal the local pool's, series by series.
Figures from a shared machine are noisy: compare ratios within one run (performance-notes.md).
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

from sop_core.demand import backtest as B  # noqa: E402
from sop_core.demand.dask_executor import SCHEDULER_ENV, DaskExecutor  # noqa: E402
from sop_core.demand.executor import LocalExecutor, chunked  # noqa: E402
from sop_core.demand.forecast import FitConfig, ForecastSettings, SeriesTask, fit_chunk  # noqa: E402
from sop_core.demand.models import warm_up  # noqa: E402

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
        common = ["--no-dashboard", "--preload", "sop_core.demand.dask_executor"]
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
            except OSError as exc:
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the dask scheduler did not start; see {tmp / 's.log'}") from exc
                time.sleep(0.2)

    @staticmethod
    def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """python -m dask ARGS in the project folder."""
        return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """Terminate the workers, then the scheduler (the processes this benchmark started)."""
        for group in (self.procs[1:], self.procs[:1]):
            for p in group:
                if p.poll() is None:
                    p.terminate()
            for p in group:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)


# -- the benchmark --------------------------------------------------------------------------------
def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes and their finished children (Stan runs)."""
    import psutil  # a dependency of distributed

    return sum(sum(psutil.Process(p).cpu_times()[:4]) for p in pids)


def timed(ex: Any, fn: Callable[[Any], Any], chunks: list[Any], workers: Sequence[int],
          coordinator: Sequence[int]) -> dict[str, Any]:
    """ex.map_chunks(fn, chunks): wall seconds, workers' and coordinator's CPU seconds, results."""
    w0, c0, t0 = cpu_seconds(workers), cpu_seconds(coordinator), time.perf_counter()
    out = ex.map_chunks(fn, chunks)
    return {"wall": time.perf_counter() - t0, "cpu": cpu_seconds(workers) - w0,
            "coord": cpu_seconds(coordinator) - c0, "out": out}


def measure(ex: Any, label: str, runs: dict[str, list[Any]], workers: Sequence[int],
            coordinator: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Time each named list of chunks on one executor ('noop' maps len, the others fit_chunk)."""
    out = {}
    for name, chunks in runs.items():
        if chunks:
            print(f"  {label}: {name}, {len(chunks)} chunks ...", file=sys.stderr, flush=True)
            out[name] = timed(ex, len if name == "noop" else fit_chunk, chunks, workers, coordinator)
    return out


def rows_for(label: str, m: dict[str, dict[str, Any]], n: dict[str, int], chunks: dict[str, int]) -> list[Row]:
    """Table rows of one executor's measurements."""
    rows = []
    for name, what in (("sba", "Croston SBA"), ("prophet", "Prophet")):
        if name in m:
            r = m[name]
            rows.append(row(label, f"{what} (backtest + choice + fit), {n[name]:,} series", round(r["wall"], 2), "s",
                            f"{n[name] / r['wall']:,.1f} series/s; {chunks[name]} chunks; worker CPU "
                            f"{1000 * r['cpu'] / n[name]:,.0f} ms per series"))
    r = m["noop"]
    rows.append(row(label, f"per-chunk overhead: no-op round trip of the {chunks['noop']} SBA chunks",
                    round(1000 * r["wall"] / chunks["noop"], 2), "ms",
                    f"{r['wall']:.2f} s in all; coordinator CPU {1000 * r['coord'] / chunks['noop']:.1f} ms per chunk"))
    return rows


def projection(per_series: float, round_trip: float, coord: float) -> list[Row]:
    """Rows projecting 50,000 Prophet series on N single-threaded workers.

    Each worker runs its share of chunks one after the other, paying the per-chunk round trip on
    each; the scheduler and client handle every chunk (coord CPU seconds each), overlapped with
    the fits as long as they are not busier than the run lasts.
    """
    rows = []
    for n in PROJECT_WORKERS:
        chunks = len(chunked(range(PROJECT_SERIES), n))
        size = math.ceil(PROJECT_SERIES / chunks)
        total = math.ceil(chunks / n) * (size * per_series + round_trip)
        busy = chunks * coord / total
        rows.append(row("projection", f"{PROJECT_SERIES:,} Prophet series on {n} worker{'s' if n > 1 else ''}",
                        round(total / 60, 1), "min", f"{PROJECT_SERIES / total:,.1f} series/s; {chunks:,} chunks of "
                        f"{size}; round trips {math.ceil(chunks / n) * round_trip:.1f} s; scheduler+client busy "
                        f"{busy:.1%} of the run"))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the local pool, then the loopback cluster, and print one table with the projection."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=2000, help="generated series for the Croston SBA rows (2000)")
    ap.add_argument("--prophet-series", type=int, default=100,
                    help="generated series fitted with Prophet (100; 0 = skip)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes on each side (2)")
    args = ap.parse_args(argv)
    w = args.workers
    sba = payloads(intermittent_tasks(args.series), w)
    prophet = payloads(generated_tasks(args.prophet_series), w) if args.prophet_series else []
    runs = {"sba": sba, "noop": sba, "prophet": prophet}
    n = {"sba": args.series, "prophet": args.prophet_series}
    chunks = {k: len(v) for k, v in runs.items()}
    warm = payloads(generated_tasks(2, seed=9), w)[:1] + payloads(intermittent_tasks(5, seed=9), w)[:1]
    me = [os.getpid()]

    # the fork pool first, before any Dask client thread exists in this process
    print("local pool ...", file=sys.stderr, flush=True)
    warm_up()
    local = LocalExecutor(workers=w)
    local.map_chunks(fit_chunk, warm * w)  # every process imports and runs both paths once
    loc = measure(local, "local pool", runs, [p.pid for p in local._pool._pool], me)  # type: ignore[union-attr]
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
                pids = list(ex.client.run(os.getpid).values())
                dsk = measure(ex, "Dask loopback", runs, pids, me + [cluster.procs[0].pid])
        finally:
            cluster.stop()

    rows = [row("setup", f"Dask cluster start: scheduler + {w} workers (preload imports Prophet)", round(start_s, 1),
                "s", "paid once: the cluster is long-lived")]
    rows += rows_for(f"local pool ({w} processes)", loc, n, chunks)
    rows += rows_for(f"Dask loopback ({threads} workers)", dsk, n, chunks)
    identical = all(same(loc[k]["out"], dsk[k]["out"]) for k in ("sba", "prophet") if k in loc)
    rows.append(row("check", "cluster results equal the local pool's", "yes" if identical else "NO", "",
                    "forecast rows, backtest points and model choices, every series"))
    if args.prophet_series:
        per_series = dsk["prophet"]["cpu"] / args.prophet_series
        round_trip = dsk["noop"]["wall"] / chunks["noop"]
        coord = dsk["noop"]["coord"] / chunks["noop"]
        wall_ms = 1000 * dsk["prophet"]["wall"] * threads / n["prophet"]
        rows.append(row("projection", "inputs: Prophet per series (worker CPU, cluster run)", round(1000 * per_series),
                        "ms", f"wall-clock equivalent here {wall_ms:.0f} ms; round trip {1000 * round_trip:.1f} ms and "
                              f"scheduler+client CPU {1000 * coord:.1f} ms per chunk; chunks of 25 (executor.chunked); "
                              "one core per worker"))
        rows += projection(per_series, round_trip, coord)
    print_table(rows)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())

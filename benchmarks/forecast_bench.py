"""Benchmark of the forecast engine: fit throughput and backtest accuracy.

Run: ``python benchmarks/forecast_bench.py [--quick] [--only NAME ...]``.

The script is a list of bench functions (`BENCHES`, name -> function returning rows); each row is
a dict with bench, case, value, unit, note. To add a benchmark, write a function returning such
rows and append it to BENCHES (the consensus slider bench of benchmarks/consensus_bench.py is
adapted that way).

Rows:
- fit: Prophet fit + 18-month predict of generated 48-month series (the production path without
  the backtest), 10 / 100 / 500 series, serial and in the fork pool; serial 500 is projected
  from serial 100 unless --full-serial. Target: 500 series in under 60 s on 2 cores.
- run: the full per-series pipeline (3-origin backtest + choice + final fit) on the same series.
- demo: run_forecast on the demo company (sop_core.intake.demo) — the held-out WAPE of the whole
  procedure (the stored points) and of seasonal naive on the same points.
- real: the same backtest on the shared public series (retail sales, air passengers, six wine
  varieties, horizon 18, 3 origins; cement quarterly, horizon 10, FPP3's Prophet) and the cement
  anchor RMSE (FPP3 §12.2: Prophet 248, seasonal naive ≈ 184).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make sop_core importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sop_core.demand import backtest as B  # noqa: E402
from sop_core.demand import metrics  # noqa: E402
from sop_core.demand import models as M  # noqa: E402
from sop_core.demand.executor import SerialExecutor, chunked, get_executor  # noqa: E402
from sop_core.demand.forecast import FitConfig, ForecastSettings, SeriesTask, fit_chunk, run_forecast  # noqa: E402
from sop_core.intake import company  # noqa: E402

Row = dict[str, Any]
SHARED = Path(os.environ.get("SOP_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
OPTIONS: dict[str, Any] = {"quick": False, "full_serial": False}


def row(bench: str, case: str, value: Any, unit: str = "", note: str = "") -> Row:
    """One result row."""
    return {"bench": bench, "case": case, "value": value, "unit": unit, "note": note}


# -- generated series --------------------------------------------------------------------------
def generated_tasks(n: int, months: int = 48, seed: int = 0) -> list[SeriesTask]:
    """n monthly series: level, trend, yearly seasonality and noise, all positive (Prophet candidates)."""
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    start = pd.Timestamp("2022-11-01")
    out = []
    for i in range(n):
        level = rng.uniform(50, 2000)
        y = level * (1 + rng.uniform(-0.01, 0.02) * t / 12) * (
            1 + rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * (t + rng.integers(0, 12)) / 12))
        y = np.clip(y + rng.normal(0, level * rng.uniform(0.03, 0.15), months), 0, None).round()
        out.append(SeriesTask(f"gen-{i:04d}", start, y))
    return out


def _config(tasks: list[SeriesTask], backtest: bool) -> FitConfig:
    """The production monthly configuration, with or without the 3-origin backtest."""
    s = ForecastSettings()
    n = max(len(t.y) for t in tasks)
    last = max(t.start + pd.DateOffset(months=len(t.y) - 1) for t in tasks)
    plan = (B.plan_backtest(last, n, s.horizon, s.season_length, s.freq, s.origins) if backtest
            else B.BacktestPlan((), 0, 3, 13, "benchmark: final fit only"))
    return FitConfig(s.bucket, s.freq, s.season_length, s.horizon, s.mode, s.seasonality_mode, None, plan)


def _time(tasks: list[SeriesTask], backtest: bool, parallel: bool) -> float:
    """Seconds to fit the tasks through fit_chunk, serially or in the pool."""
    cfg = _config(tasks, backtest)
    ex = get_executor() if parallel else SerialExecutor()
    chunks = chunked(tasks, ex.workers)
    t0 = time.perf_counter()
    ex.map_chunks(fit_chunk, [(cfg, c) for c in chunks])
    return time.perf_counter() - t0


def _throughput(bench: str, label: str, backtest: bool, sizes: list[int]) -> list[Row]:
    """Serial vs parallel timing rows for each size (serial 500 projected unless --full-serial)."""
    rows: list[Row] = []
    workers = get_executor().workers
    per_series = None
    for n in sizes:
        tasks = generated_tasks(n)
        if n <= 100 or OPTIONS["full_serial"]:
            s = _time(tasks, backtest, parallel=False)
            per_series = s / n
            rows.append(row(bench, f"{label}, {n} series, serial", round(s, 2), "s", f"{n / s:.1f} series/s"))
        elif per_series is not None:
            rows.append(row(bench, f"{label}, {n} series, serial", round(per_series * n, 1), "s",
                            f"projected from the last serial size ({1 / per_series:.1f} series/s)"))
        p = _time(tasks, backtest, parallel=True)
        note = f"{n / p:.1f} series/s, {workers} workers"
        if n == 500 and not backtest:
            note += f"; target < 60 s: {'met' if p < 60 else 'MISSED'}"
        rows.append(row(bench, f"{label}, {n} series, parallel", round(p, 2), "s", note))
    return rows


def bench_fit() -> list[Row]:
    """Prophet fit + predict throughput (production configuration, no backtest)."""
    M.warm_up()
    get_executor().map_chunks(fit_chunk, [(_config(generated_tasks(2), False), [t]) for t in generated_tasks(2)])
    return _throughput("fit", "Prophet fit+predict", False, [10, 100] if OPTIONS["quick"] else [10, 100, 500])


def bench_run() -> list[Row]:
    """The whole per-series pipeline: 3-origin backtest, choice, final fit."""
    return _throughput("run", "backtest+choice+fit", True, [10, 100] if OPTIONS["quick"] else [100, 500])


# -- accuracy -----------------------------------------------------------------------------------
def _accuracy_rows(bench: str, name: str, points: pd.DataFrame, choices: pd.DataFrame, note: str = "") -> list[Row]:
    """WAPE of the automatic choice, the candidate everywhere and seasonal naive on the same points."""
    chosen = metrics.summarise(B.chosen_points(points, choices), None).iloc[0]
    cand = metrics.summarise(points, None).iloc[0]
    models = ", ".join(f"{m} {n}" for m, n in choices["model"].value_counts().items())
    return [
        row(bench, f"{name}: automatic choice WAPE", round(float(chosen["wape"]), 4), "fraction",
            f"{models}; MASE {chosen['mase']:.2f}; bias {chosen['bias']:+.1%}" + (f"; {note}" if note else "")),
        row(bench, f"{name}: candidate everywhere WAPE", round(float(cand["wape"]), 4), "fraction",
            "Prophet (or the fallback) on every series"),
        row(bench, f"{name}: seasonal naive WAPE", round(float(chosen["wape_seasonal_naive"]), 4), "fraction",
            f"FVA of the choice {chosen['fva']:+.1%} (positive = better than naive)"),
    ]


def bench_demo() -> list[Row]:
    """run_forecast on the demo company in a temporary workspace."""
    from sop_core.demand.forecast import backtest_metrics, backtest_points
    from sop_core.store.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        with Workspace(Path(tmp) / "bench.duckdb") as ws:
            company.reset_to_demo(ws)
            t0 = time.perf_counter()
            run = run_forecast(ws, ForecastSettings())
            seconds = time.perf_counter() - t0
            pts = backtest_points(ws, chosen=False)
            choices = backtest_metrics(ws)[["series_id", "model"]]
    note = f"{run.n_series} series, run_forecast {seconds:.1f} s with {get_executor().workers} workers"
    # stored points are the procedure's held-out forecasts already (selection.replay): summarise them as
    # they are, the forward choices only name the models
    total = metrics.summarise(pts, None).iloc[0]
    models = ", ".join(f"{m} {n}" for m, n in choices["model"].value_counts().items())
    name = "demo company (horizon 18, 3 origins)"
    return [
        row("demo", f"{name}: held-out WAPE of the procedure", round(float(total["wape"]), 4), "fraction",
            f"forward choices: {models}; MASE {total['mase']:.2f}; bias {total['bias']:+.1%}; {note}"),
        row("demo", f"{name}: seasonal naive WAPE", round(float(total["wape_seasonal_naive"]), 4), "fraction",
            f"FVA of the procedure {total['fva']:+.1%} (positive = better than naive)"),
    ]


def _read_text(path: Path) -> str:
    """File text with any line endings normalised."""
    return path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")


def real_series() -> dict[str, tuple[pd.Series, str]]:
    """Shared public series: name -> (values indexed by bucket start, pandas freq)."""
    out: dict[str, tuple[pd.Series, str]] = {}
    for name, rel in (("retail sales", "prophet_examples/example_retail_sales.csv"),
                      ("air passengers", "prophet_examples/example_air_passengers.csv")):
        p = SHARED / rel
        if p.is_file():
            df = pd.read_csv(io.StringIO(_read_text(p)), parse_dates=["ds"])
            out[name] = (df.set_index("ds")["y"].astype(float), "MS")
    wine = SHARED / "australian_wines/AustralianWines_6varieties.csv"
    if wine.is_file():
        df = pd.read_csv(io.StringIO(_read_text(wine)), na_values=["*"], skip_blank_lines=True)
        df.columns = [c.strip() for c in df.columns]
        df = df.dropna(subset=["Month"])
        df.index = pd.to_datetime(df["Month"].str.strip(), format="%b-%y")
        for col in df.columns[1:]:
            s = pd.to_numeric(df[col], errors="coerce").interpolate(limit_area="inside").dropna()
            out[f"wine {col.lower()}"] = (s, "MS")
    cement = SHARED / "cement/fpp2_qcement.csv"
    if cement.is_file():
        df = pd.read_csv(cement, parse_dates=["ds"])
        df = df[(df["ds"] >= "1988-01-01") & (df["ds"] <= "2007-12-31")]
        out["cement (FPP3 train)"] = (df.set_index("ds")["y"] * 1000, "QS")
    return out


def bench_real() -> list[Row]:
    """Backtest WAPE of the automatic choice vs seasonal naive on the shared real series, and the cement anchor."""
    series = real_series()
    if not series:
        return [row("real", "shared data", "skipped", "", f"not found at {SHARED} (set SOP_SHARED_DATA)")]
    rows: list[Row] = []
    all_pts, all_choices = [], []
    for name, (s, freq) in series.items():
        monthly = freq == "MS"
        model = M.prophet_for_bucket("month") if monthly else M.fpp3_cement_prophet()
        hist = pd.DataFrame({"series_id": name, "period": s.index, "y": s.to_numpy()})
        pts, plan = B.backtest(hist, model, 18 if monthly else 10, 12 if monthly else 4, freq, origins=3)
        choices = B.select(pts, "auto")
        chosen = B.summary(pts, choices).iloc[0]
        rows.append(row("real", f"{name}: automatic ({choices['model'].iloc[0]}) WAPE", round(float(chosen["wape"]), 4),
                        "fraction", choices["reason"].iloc[0]))
        all_pts.append(pts)
        all_choices.append(choices)
    pts, choices = pd.concat(all_pts, ignore_index=True), pd.concat(all_choices, ignore_index=True)
    rows += _accuracy_rows("real", "all real series (volume-weighted)", pts, choices)
    per = B.summary(pts, choices)
    rows.append(row("real", "all real series: mean of per-series WAPE, automatic", round(float(per["wape"].mean()), 4),
                    "fraction", f"seasonal naive {per['wape_seasonal_naive'].mean():.4f}; the weighted rows are "
                    "dominated by retail sales' volume"))
    cement = SHARED / "cement/fpp2_qcement.csv"
    if cement.is_file():
        df = pd.read_csv(cement, parse_dates=["ds"])
        df["y"] *= 1000
        train = df[(df["ds"] >= "1988-01-01") & (df["ds"] <= "2007-12-31")]
        test = df[df["ds"] > "2007-12-31"].head(10)["y"].to_numpy()
        hist = pd.DataFrame({"series_id": "cement", "period": train["ds"], "y": train["y"]})
        for label, model, book in (("Prophet as FPP3 (Prophet's optimizer)", M.fpp3_cement_prophet(), "248"),
                                   ("Prophet, app optimizer (LBFGS)", M.ProphetModel(yearly_order=2,
                                    seasonality_mode="multiplicative"), "248"),
                                   ("seasonal naive", M.SeasonalNaive(4), "≈184")):
            f = model.forecast(hist, 10, "QS")["value"].to_numpy()
            rmse = float(np.sqrt(np.mean((f - test) ** 2)))
            rows.append(row("cement", f"RMSE {label}", round(rmse, 1), "kt", f"book: {book}"))
    return rows


def bench_consensus_slider() -> list[Row]:
    """The overrides engineer's consensus recompute after a slider move (benchmarks/consensus_bench.py)."""
    try:
        from benchmarks.consensus_bench import bench_consensus  # type: ignore[import-not-found]
    except ImportError:
        try:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from consensus_bench import bench_consensus  # type: ignore[import-not-found, no-redef]
        except ImportError:
            return [row("consensus", "recompute after a slider move", "skipped", "", "consensus_bench.py not found")]
    return [row("consensus", f"{r['case']} — {r['frame']}, {r['existing_overrides']} overrides",
                round(float(r["median_ms"]), 1), "ms", f"p95 {r['p95_ms']:.1f} ms, {r['runs']} runs")
            for r in bench_consensus(repeat=10, persist_repeat=5)]


BENCHES: dict[str, Callable[[], list[Row]]] = {
    "fit": bench_fit,
    "run": bench_run,
    "demo": bench_demo,
    "real": bench_real,
    "consensus": bench_consensus_slider,
}


def print_table(rows: list[Row]) -> None:
    """Rows as an aligned text table."""
    def fmt(v: Any) -> str:
        return f"{v:,.4g}" if isinstance(v, float) and abs(v) < 1 else (f"{v:,}" if isinstance(v, (int, float)) else str(v))

    cells = [(r["bench"], r["case"], fmt(r["value"]), r["unit"], r["note"]) for r in rows]
    heads = ("bench", "case", "value", "unit", "note")
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads[:4])]
    line = lambda c: "  ".join([c[0].ljust(widths[0]), c[1].ljust(widths[1]), c[2].rjust(widths[2]),  # noqa: E731
                                c[3].ljust(widths[3]), c[4]]).rstrip()
    print(line(heads))
    print("  ".join("-" * w for w in widths) + "  ----")
    for c in cells:
        print(line(c))


def main(argv: list[str] | None = None) -> int:
    """Run the selected benches and print one table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 and 100 series only")
    ap.add_argument("--full-serial", action="store_true", help="time serial 500 instead of projecting it")
    ap.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these benches")
    args = ap.parse_args(argv)
    OPTIONS.update(quick=args.quick, full_serial=args.full_serial)
    rows: list[Row] = []
    for name in args.only or list(BENCHES):
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += BENCHES[name]()
        print(f"  {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

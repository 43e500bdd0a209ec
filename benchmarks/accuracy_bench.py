"""Held-out accuracy on public data: seasonal naive, plain Prophet, each candidate and the app's choice.

Run: ``python benchmarks/accuracy_bench.py [--full] [--m4 N] [--only NAME ...] [--workers N]``.

Data: ``$SOP_SHARED_DATA`` (default /work/shared/data), read as the files are:
- ``m4_weekly``: the M4 weekly series, trained on the training file and scored on the 13 test
  weeks (one origin, sMAPE as M4 scores it, and WAPE); a seeded sample of 60 series by default,
  all 359 with ``--full`` (or ``--m4 N``);
- ``monthly``: Prophet's retail sales and air passengers and the six Australian wine varieties,
  h = 12, 3 origins;
- ``cement``: quarterly cement production, h = 8, 3 origins;
- ``superstore_m`` / ``superstore_w``: the Superstore order lines summed by sub-category and month
  (h = 6) or week (h = 13), 3 origins.

Protocol (issue 17): rolling origin, origins a horizon apart, the last leaving h points; at each
origin every method gets only the training rows and forecasts the next h buckets; WAPE pooled over
every series, origin and step: Σ|F − A| / Σ|A|. "app (automatic)" is the engine's own per-series
pipeline (forecast.fit_series: candidate set, inner backtest, choice, final fit) on the training
rows; "app reported" is what that pipeline's own backtest reported at the same origins (the pooled
WAPE of its held-out procedure points), to compare with what it then achieved (the gap in points
is printed under it). ``--app-only`` runs the app's procedure alone (fast, for tuning).
"plain Prophet" is Prophet with its defaults (automatic yearly seasonality); "prophet" the app's
configured Prophet. "mean(theta, ets, arima)" is a fixed combination, for reference. Seconds are summed fit time in
the workers (per method, all series and origins); wall time is printed at the end.
"""
from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make sop_core importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sop_core.demand import candidates as C  # noqa: E402
from sop_core.demand import intermittent as I  # noqa: E402
from sop_core.demand import models as M  # noqa: E402
from sop_core.demand.backtest import plan_backtest  # noqa: E402
from sop_core.demand.forecast import FitConfig, SeriesTask, fit_series  # noqa: E402

DATA = Path(os.environ.get("SOP_SHARED_DATA", "/work/shared/data"))
M4_SAMPLE = 60
Series = tuple[str, pd.DatetimeIndex, np.ndarray]


def _text(path: Path, encoding: str = "utf-8") -> io.StringIO:
    """A file's text with any line endings (CR-only, CRLF) normalised."""
    raw = path.read_bytes().decode(encoding)
    return io.StringIO(raw.replace("\r\n", "\n").replace("\r", "\n"))


def load_prophet_examples() -> list[Series]:
    out = []
    for name in ("example_retail_sales", "example_air_passengers"):
        df = pd.read_csv(_text(DATA / "prophet_examples" / f"{name}.csv"), parse_dates=["ds"]).dropna()
        out.append((name.replace("example_", ""), pd.DatetimeIndex(df["ds"]), df["y"].to_numpy(float)))
    return out


def load_wines() -> list[Series]:
    df = pd.read_csv(_text(DATA / "australian_wines" / "AustralianWines_6varieties.csv"), na_values=["*"])
    df.columns = [c.strip() for c in df.columns]
    df = df.dropna(subset=["Month"])
    periods = pd.DatetimeIndex(pd.to_datetime(df["Month"], format="%b-%y"))
    out = []
    for col in df.columns[1:]:
        s = pd.Series(pd.to_numeric(df[col], errors="coerce").to_numpy(), index=periods).interpolate(limit_area="inside")
        s = s.dropna()
        out.append((f"wine {col.lower()}", pd.DatetimeIndex(s.index), s.to_numpy(float)))
    return out


def load_cement() -> list[Series]:
    df = pd.read_csv(DATA / "cement" / "fpp2_qcement.csv", parse_dates=["ds"])
    return [("cement", pd.DatetimeIndex(df["ds"]), df["y"].to_numpy(float))]


def load_superstore(bucket: str) -> list[Series]:
    df = pd.read_csv(DATA / "superstore" / "Sample - Superstore.csv", encoding="utf-8-sig")
    d = pd.to_datetime(df["Order Date"], format="%d/%m/%y")
    if bucket == "month":
        period = d.dt.to_period("M").dt.start_time
        freq = "MS"
    else:
        period = d - pd.to_timedelta(d.dt.day_of_week, unit="D")
        freq = "W-MON"
    g = df.assign(period=period).groupby(["Sub-Category", "period"])["Quantity"].sum()
    timeline = pd.date_range(period.min(), period.max(), freq=freq)
    out = []
    for sub, part in g.groupby(level=0):
        s = part.droplevel(0).reindex(timeline, fill_value=0.0)
        out.append((f"superstore {sub}", timeline, s.to_numpy(float)))
    return out


def load_m4(n: int | None) -> list[Series]:
    train = pd.read_csv(DATA / "m4_weekly" / "Weekly-train.csv")
    test = pd.read_csv(DATA / "m4_weekly" / "Weekly-test.csv")
    ids = train["V1"].tolist()
    if n is not None and n < len(ids):
        ids = sorted(np.random.default_rng(17).choice(ids, n, replace=False).tolist(), key=lambda s: int(s[1:]))
    tr = train.set_index("V1")
    te = test.set_index("V1")
    out = []
    for sid in ids:
        y = np.r_[tr.loc[sid].dropna().to_numpy(float), te.loc[sid].dropna().to_numpy(float)]
        periods = pd.date_range(end="2026-11-06", periods=len(y), freq="W-FRI")
        out.append((sid, periods, y))
    return out


# name -> (loader, bucket, freq, season length, horizon, origins)
DATASETS: dict[str, tuple[Callable[[argparse.Namespace], list[Series]], str, str, int, int, int]] = {
    "m4_weekly": (lambda a: load_m4(None if a.full else a.m4), "week", "W-FRI", 52, 13, 1),
    "monthly": (lambda a: load_prophet_examples() + load_wines(), "month", "MS", 12, 12, 3),
    "cement": (lambda a: load_cement(), "month", "QS-JAN", 4, 8, 3),
    "superstore_m": (lambda a: load_superstore("month"), "month", "MS", 12, 6, 3),
    "superstore_w": (lambda a: load_superstore("week"), "week", "W-MON", 52, 13, 3),
}
SINGLE = ("seasonal_naive", "plain_prophet", "prophet", "theta", "ets_damped", "arima", "stl", "mstl", "sba", "tsb",
          "adida")
APP = "app (automatic)"


def _models(m: int) -> dict[str, M.Model]:
    return {
        "seasonal_naive": M.SeasonalNaive(m), "plain_prophet": M.ProphetModel(yearly_order=None, optimizer=None),
        "prophet": M.prophet_for_bucket("month"), "theta": C.Theta(m), "ets_damped": C.DampedETS(m),
        "arima": C.Arima(m), "stl": C.StlDamped(m), "mstl": C.Mstl(m), "sba": M.CrostonSBA(), "tsb": I.TSB(),
        "adida": I.Adida(),
    }


def run_task(task: tuple[str, Series, str, str, int, int, int, bool]) -> dict[str, Any]:
    """One series at one outer origin: every method's forecast of the held-out h buckets (app_only: the app's alone)."""
    warnings.filterwarnings("ignore")
    M.quiet_logs()
    ds, (sid, periods, y), bucket, freq, m, h, n_train, app_only = task
    train, tp = y[:n_train], periods[:n_train]
    future = periods[n_train:n_train + h]
    out: dict[str, Any] = {"ds": ds, "sid": sid, "actual": y[n_train:n_train + h], "f": {}, "t": {}}
    models = {} if app_only else _models(m)
    if bucket == "week" and not app_only:
        models["prophet"] = M.prophet_for_bucket("week")
    for name, model in models.items():
        t0 = time.perf_counter()
        try:
            out["f"][name] = np.clip(model.predict(train, tp, future)[0], 0, None)
        except Exception:  # noqa: BLE001 - a method that cannot fit scores as the last value
            out["f"][name] = np.full(h, train[-1])
        out["t"][name] = time.perf_counter() - t0
    if not app_only:
        out["f"]["mean(theta, ets, arima)"] = C.combine([out["f"][n] for n in ("theta", "ets_damped", "arima")])
    plan = plan_backtest(tp[-1], n_train, h, m, freq, 3)
    cfg = FitConfig(bucket, freq, m, h, "auto", "additive", None, plan)
    t0 = time.perf_counter()
    fc, points, choice = fit_series(SeriesTask(sid, tp[0], train), cfg)
    out["t"][APP] = time.perf_counter() - t0
    out["f"][APP] = fc["value"].to_numpy(float)
    out["model"] = choice["model"]
    out["rep_err"] = float(np.abs(points["forecast"] - points["actual"]).sum()) if len(points) else 0.0
    out["rep_act"] = float(np.abs(points["actual"]).sum()) if len(points) else 0.0
    return out


def tasks_for(name: str, args: argparse.Namespace) -> list[tuple]:
    loader, bucket, freq, m, h, origins = DATASETS[name]
    out = []
    for s in loader(args):
        n = len(s[2])
        for k in range(origins):
            n_train = n - h - (origins - 1 - k) * h
            if n_train >= m + 2:
                out.append((name, s, bucket, freq, m, h, n_train, bool(args.app_only)))
    return out


def smape(a: np.ndarray, f: np.ndarray) -> float:
    den = np.abs(a) + np.abs(f)
    return float(np.mean(np.where(den > 0, 200 * np.abs(f - a) / np.where(den > 0, den, 1), 0.0)))


def report(results: list[dict[str, Any]], name: str) -> list[str]:
    rs = [r for r in results if r["ds"] == name]
    if not rs:
        return []
    a = np.concatenate([r["actual"] for r in rs])
    methods = [meth for meth in (*SINGLE, "mean(theta, ets, arima)", APP) if meth in rs[0]["f"]]
    lines = [f"\n{name}: {len({r['sid'] for r in rs})} series, {len(rs)} series × origins, h = {len(rs[0]['actual'])}",
             f"{'method':26s} {'WAPE':>7s} {'sMAPE':>7s} {'fit s':>8s}"]
    for meth in methods:
        f = np.concatenate([r["f"][meth] for r in rs])
        w = np.abs(f - a).sum() / np.abs(a).sum()
        t = sum(r["t"].get(meth, 0.0) for r in rs)
        lines.append(f"{meth:26s} {w:7.2%} {smape(a, f):7.2f} {t:8.1f}")
    rep_a = sum(r["rep_act"] for r in rs)
    rep = sum(r["rep_err"] for r in rs) / rep_a if rep_a > 0 else float("nan")
    lines.append(f"{'app reported (backtest)':26s} {rep:7.2%}")
    f_app = np.concatenate([r["f"][APP] for r in rs])
    achieved = np.abs(f_app - a).sum() / np.abs(a).sum()
    lines.append(f"{'reported − achieved':26s} {100 * (rep - achieved):+6.2f} pts")
    models = pd.Series([r["model"] for r in rs]).value_counts()
    lines.append("app's choices: " + ", ".join(f"{k} {v}" for k, v in models.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="all 359 M4 weekly series (default: a sample of 60)")
    p.add_argument("--m4", type=int, default=M4_SAMPLE, help="M4 weekly sample size (default 60)")
    p.add_argument("--only", nargs="*", choices=list(DATASETS), help="data sets to run (default all)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--dump", type=Path, help="also pickle the raw per-series results to this file")
    p.add_argument("--app-only", action="store_true", help="only the app's automatic procedure (fast, for tuning)")
    args = p.parse_args(argv)
    names = args.only or list(DATASETS)
    M.warm_up()
    t0 = time.perf_counter()
    tasks = [t for n in names for t in tasks_for(n, args)]
    with mp.get_context("fork").Pool(args.workers) as pool:
        results = list(pool.imap_unordered(run_task, tasks, chunksize=2))
    if args.dump:
        pd.to_pickle(results, args.dump)
    for n in names:
        print("\n".join(report(results, n)))
    print(f"\n{len(tasks)} series × origins in {time.perf_counter() - t0:.0f} s wall on {args.workers} worker(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

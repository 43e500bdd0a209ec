"""`forecast` and `backtest` subcommands of `python -m sop_core` (registered through sop_core.cli.registry).

forecast: fit (or reuse) and store the statistical forecast; progress on stderr, summary on stdout.
`--scheduler tcp://host:8786` (or $SOP_DASK_SCHEDULER) fits on a running Dask cluster instead of
this machine's process pool (sop_core.demand.dask_executor); the result is the same.
backtest: the same run, then per-series metrics, the model chosen and a `total` object
(wape, accuracy, bias, mase, tracking_signal, wape_seasonal_naive, fva, n: fractions) as JSON:
the held-out accuracy of the whole procedure, model choice included (`measured` says how); a
series' `selection_score` is the optimistic score the choice was made on, not an accuracy.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from sop_core.cli.registry import add_command, open_workspace


def _configure_common(p: argparse.ArgumentParser) -> None:
    """Arguments shared by forecast and backtest (the ForecastSettings)."""
    p.add_argument("--bucket", choices=["month", "week"], default="month", help="planning bucket (default month)")
    p.add_argument("--horizon", type=int, default=18, help="buckets ahead, 6..24 (default 18)")
    p.add_argument("--level", choices=["sku", "family"], default="sku",
                   help="fit per sku × region, or per family × region split to skus (default sku)")
    p.add_argument("--mode", choices=["auto", "prophet"], default="auto",
                   help="auto: per series the best candidate or the mean of the best three on the backtest; "
                        "prophet: Prophet wherever it can fit (default auto)")
    p.add_argument("--seasonality-mode", choices=["additive", "multiplicative"], default="additive",
                   help="Prophet seasonality (default additive)")
    p.add_argument("--holidays", metavar="COUNTRY", help="country holidays, e.g. US (weeks: every holiday in its week; months: Easter and the "
                        "holidays that move between months)")
    p.add_argument("--origins", type=int, default=3, help="backtest origins (default 3)")
    p.add_argument("--inactive-after", type=int, default=0, metavar="BUCKETS",
                   help="a series without sales for this many buckets is not fitted and forecast zero "
                        "(default 0: 24 months or 52 weeks)")
    p.add_argument("--force", action="store_true", help="refit even when a stored run matches")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="fit on the running Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); "
                        "default $SOP_DASK_SCHEDULER, else this machine's process pool")
    p.add_argument("--author", help="name recorded with the run")


def _configure_forecast(p: argparse.ArgumentParser) -> None:
    """Arguments of `forecast`."""
    _configure_common(p)


def _configure_backtest(p: argparse.ArgumentParser) -> None:
    """Arguments of `backtest`."""
    _configure_common(p)
    p.add_argument("--json", type=Path, required=True, metavar="FILE",
                   help="write per-series metrics, models and the total to FILE ('-' for stdout)")


def _settings(args: argparse.Namespace) -> Any:
    """ForecastSettings from the arguments (ValueError with a clear message when invalid)."""
    from sop_core.demand.forecast import ForecastSettings

    return ForecastSettings(bucket=args.bucket, horizon=args.horizon, level=args.level, mode=args.mode,
                            seasonality_mode=args.seasonality_mode, holidays_country=args.holidays,
                            origins=args.origins, inactive_after=args.inactive_after)


def _progress() -> Any:
    """A progress callback printing 'fitting: done/total series' on stderr."""
    start = time.perf_counter()

    def report(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\rfitting: {done}/{total} series ({time.perf_counter() - start:.1f} s)", end=end,
              file=sys.stderr, flush=True)

    return report


def _run(args: argparse.Namespace) -> tuple[Any, Any] | int:
    """Open the workspace and run (or reuse) the forecast; an exit code on error."""
    from sop_core.demand.dask_executor import ClusterError, DaskExecutor, scheduler_address
    from sop_core.demand.forecast import run_forecast

    try:
        settings = _settings(args)
        address = scheduler_address(args.scheduler)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ws = open_workspace(args)
    executor = None
    try:
        if address:
            executor = DaskExecutor(address)
            print(f"fits run on the Dask cluster at {address}", file=sys.stderr)
        run = run_forecast(ws, settings, progress=_progress(), executor=executor, force=args.force,
                           author=args.author)
    except (ValueError, ImportError, ClusterError) as exc:
        ws.close()
        lead = "\n" if isinstance(exc, ClusterError) else ""  # end a progress line cut short
        print(f"{lead}error: {exc}", file=sys.stderr)
        return 1
    finally:
        if executor is not None:
            executor.close()
    return ws, run


def _forecast(args: argparse.Namespace) -> int:
    """Fit and store the forecast; print a summary."""
    res = _run(args)
    if isinstance(res, int):
        return res
    ws, run = res
    with ws:
        models = run.metrics["model"].value_counts()
        print(f"run {run.run_key} ({'reused, not refitted' if run.cached else f'fitted in {run.seconds:.1f} s'})")
        print(f"{run.n_series} series, {len(run.forecast):,} forecast rows, "
              f"{run.forecast['period'].min():%Y-%m-%d} – {run.forecast['period'].max():%Y-%m-%d}")
        print("models: " + ", ".join(f"{m} {n}" for m, n in models.items()))
        for w in run.warnings:
            print(f"note: {w}")
    return 0


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/inf -> None, numpy -> Python, timestamps -> ISO dates."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return value


def _records(df: Any) -> list[dict[str, Any]]:
    """Frame rows as JSON-safe dicts."""
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def backtest_report(ws: Any, run: Any) -> dict[str, Any]:
    """The backtest JSON document of a run: settings, plan, total, by_family, series."""
    from sop_core.demand import metrics
    from sop_core.demand.forecast import accuracy_summary, accuracy_total

    total = accuracy_total(ws, run.settings) or {}
    by_family = accuracy_summary(ws, run.settings, by=["family"])
    return {
        "run_key": run.run_key,
        "settings": run.settings.to_dict(),
        "cached": run.cached,
        "backtest": run.backtest,
        "fractions": "wape, accuracy, bias, mase and fva are fractions (0.12 = 12%)",
        "measured": metrics.FORMULAS["held_out"],
        "selection_score": metrics.FORMULAS["selection_score"] + " (series[].selection_score)",
        "total": {k: _clean(v) for k, v in total.items()},
        "by_family": _records(by_family) if by_family is not None else [],
        "models": {str(k): int(v) for k, v in run.metrics["model"].value_counts().items()},
        "series": _records(run.metrics.rename(columns={"wape_candidate": "selection_score"})),
    }


def _backtest(args: argparse.Namespace) -> int:
    """Run (or reuse) the forecast and write the backtest metrics as JSON."""
    res = _run(args)
    if isinstance(res, int):
        return res
    ws, run = res
    with ws:
        doc = backtest_report(ws, run)
    text = json.dumps(doc, indent=2, allow_nan=False)
    if str(args.json) == "-":
        print(text)
    else:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
        t = doc["total"]
        pct = lambda x: f"{x:.1%}" if isinstance(x, float) else "n/a"  # noqa: E731
        mase = f"{t['mase']:.2f}" if isinstance(t.get("mase"), float) else "n/a"
        print(f"wrote {args.json}: {len(doc['series'])} series; total WAPE {pct(t.get('wape'))} "
              f"(seasonal naive {pct(t.get('wape_seasonal_naive'))}), bias {pct(t.get('bias'))}, MASE {mase}")
    return 0


def register() -> None:
    """Add the forecast and backtest commands to the CLI."""
    add_command("forecast", "fit (or reuse) and store the statistical forecast", _configure_forecast, _forecast)
    add_command("backtest", "backtest the forecast models and write per-series metrics as JSON",
                _configure_backtest, _backtest)


register()

"""`export` subcommand of `python -m sop_core`: the stored forecast or consensus as a CSV (how a plan reaches an ERP).

    python -m sop_core export forecast --csv forecast.csv
    python -m sop_core export consensus --csv consensus.csv

One row per series and period: `sku`, `region` (empty when the data has none: the app's
history.NO_REGION), `period` (ISO date of the bucket: a month's first day; a week on the data's own
weekday), `value`, and for the forecast `model` (the model or combination chosen for
that series). The run is the stored one for the current data and the workspace's saved forecast
settings; nothing is fitted here (run `forecast` first). The consensus is the stored one of that
run, or, when none is stored, the run's forecast with every active override applied (not stored).
The file is written by `meetings.exports.to_csv_bytes`: UTF-8 with a BOM, CRLF rows, and no cell
a spreadsheet would run as a formula.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sop_core.cli.registry import add_command, open_workspace
from sop_core.demand.history import NO_REGION

KINDS: tuple[str, ...] = ("forecast", "consensus")
FORECAST_EXPORT_COLUMNS: tuple[str, ...] = ("sku", "region", "period", "value", "model")
CONSENSUS_EXPORT_COLUMNS: tuple[str, ...] = ("sku", "region", "period", "value")


def _configure(p: argparse.ArgumentParser) -> None:
    """Arguments of `export`."""
    p.add_argument("kind", choices=list(KINDS), help="what to export: the statistical forecast or the consensus")
    p.add_argument("--csv", type=Path, required=True, metavar="FILE", help="the CSV file to write")


def export_frame(forecast: pd.DataFrame, value: str = "value", with_model: bool = True) -> pd.DataFrame:
    """Rows to export (sku, region, period as ISO date, value[, model]), sorted by sku, region, period."""
    cols = list(FORECAST_EXPORT_COLUMNS if with_model else CONSENSUS_EXPORT_COLUMNS)
    out = pd.DataFrame({
        "sku": forecast["sku"].astype(object).where(forecast["sku"].notna(), ""),
        "region": forecast["region"].astype(object).where(
            forecast["region"].notna() & (forecast["region"] != NO_REGION), ""),
        "period": pd.to_datetime(forecast["period"]).dt.strftime("%Y-%m-%d"),
        "value": forecast[value].astype(float),
    })
    if with_model:
        out["model"] = forecast["model"].astype(object)
    return out.sort_values(["sku", "region", "period"], kind="stable").reset_index(drop=True)[cols]


def _export(args: argparse.Namespace) -> int:
    """Write the stored forecast or consensus of the current data and saved settings as CSV."""
    from sop_core.demand import forecast, overrides
    from sop_core.meetings.exports import to_csv_bytes

    with open_workspace(args) as ws:
        settings = forecast.saved_settings(ws)
        run = forecast.load_run(ws, settings) if ws.has_table("sales") else None
        if run is None or run.forecast.empty:
            print("no stored forecast for the current data and settings: run `python -m sop_core forecast` first",
                  file=sys.stderr)
            return 1
        if args.kind == "forecast":
            frame = export_frame(run.forecast)
        else:
            cons = overrides.run_consensus(ws, run.run_key, lambda: run.forecast, store=False)
            if cons is None or cons.empty:
                print("no consensus for the current forecast run", file=sys.stderr)
                return 1
            frame = export_frame(cons, value="consensus", with_model=False)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    args.csv.write_bytes(to_csv_bytes(frame))
    print(f"wrote {args.csv}: {len(frame):,} rows ({args.kind}, run {run.run_key})")
    return 0


def register() -> None:
    """Add the export command to the CLI."""
    add_command("export", "write the stored forecast or consensus as a CSV (sku, region, period, value[, model])",
                _configure, _export)


register()

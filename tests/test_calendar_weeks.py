"""A file stamped on week-ending Fridays stays on Fridays end to end: load, history, forecast, consensus, export."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from sop_core.cli import main as cli
from sop_core.demand import forecast as F
from sop_core.demand.executor import SerialExecutor
from sop_core.demand.history import demand_history, week_anchor
from sop_core.store.workspace import Provenance, Workspace

LAST_FRIDAY = pd.Timestamp("2026-10-30")


def _friday_file(path: Path) -> pd.DatetimeIndex:
    """Two skus, 120 weeks ending on Fridays, written as a CSV as an ERP would export it."""
    fridays = pd.date_range(end=LAST_FRIDAY, periods=120, freq="W-FRI")
    t = np.arange(120)
    rng = np.random.default_rng(4)
    rows = [{"date": d.strftime("%Y-%m-%d"), "sku": sku, "quantity": round(q, 1)}
            for sku, base in (("F1", 100.0), ("F2", 40.0))
            for d, q in zip(fridays, base + 0.3 * base * np.sin(2 * np.pi * t / 52) + rng.normal(0, 3, 120))]
    pd.DataFrame(rows).to_csv(path, index=False)
    return fridays


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(path.read_bytes()), encoding="utf-8-sig", keep_default_na=False)


def test_a_friday_file_stays_on_fridays_end_to_end(tmp_path: Path, capsys) -> None:
    ws_path = tmp_path / "ws.duckdb"
    fridays = _friday_file(tmp_path / "weekly.csv")
    assert cli.main(["--workspace", str(ws_path), "load", str(tmp_path / "weekly.csv"), "--table", "sales"]) == 0
    settings = F.ForecastSettings(bucket="week", horizon=8, holidays_country="US")
    with Workspace(ws_path) as ws:
        assert week_anchor(ws) == 4
        hist = demand_history(ws, "week")
        assert set(hist["period"]) == set(fridays)  # each Friday its own bucket, none moved to a Monday
        F.save_settings(ws, settings)
        run = F.run_forecast(ws, settings, executor=SerialExecutor())
    assert run.last_actual == LAST_FRIDAY
    assert (run.forecast["period"].dt.day_of_week == 4).all()
    assert run.forecast["period"].min() == LAST_FRIDAY + pd.Timedelta(weeks=1)
    assert (run.metrics["n_origins"] == 2).all()  # cut-offs on Fridays of the history (3, the first informs only)
    capsys.readouterr()
    for kind in ("forecast", "consensus"):
        out = tmp_path / f"{kind}.csv"
        assert cli.main(["--workspace", str(ws_path), "export", kind, "--csv", str(out)]) == 0
        periods = pd.to_datetime(_read(out)["period"])
        assert (periods.dt.day_of_week == 4).all() and periods.min() == pd.Timestamp("2026-11-06")
        assert len(periods) == 2 * 8


def test_daily_sales_keep_iso_monday_weeks(workspace: Workspace) -> None:
    days = pd.date_range("2026-09-01", "2026-10-31", freq="D")
    workspace.replace_table("sales", pd.DataFrame({"date": days, "sku": "D1", "region": None, "channel": None,
                                                    "family": None, "quantity": 1.0, "revenue": 1.0}),
                            Provenance(file_name="d.csv", sha256="d"))
    assert week_anchor(workspace) == 0
    hist = demand_history(workspace, "week")
    assert (hist["period"].dt.day_of_week == 0).all()
    assert hist.set_index("period")["quantity"].loc[pd.Timestamp("2026-09-07")] == 7.0  # Mon 7 .. Sun 13 Sep

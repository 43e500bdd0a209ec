"""`python -m sop_core export forecast|consensus --csv FILE`: columns, ISO periods, formula safety, round trip."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from sop_core.cli import main as cli
from sop_core.demand import forecast as F
from sop_core.demand.executor import SerialExecutor
from sop_core.store.workspace import Provenance, Workspace

HOSTILE = '=HYPERLINK("http://evil.example","x")'
SETTINGS = F.ForecastSettings(horizon=6)


def _workspace(path: Path) -> F.ForecastRun:
    """Two short series (fallback candidates only: fast), one with a formula-like sku and no region."""
    months = pd.date_range("2025-11-01", periods=10, freq="MS")
    rows = [{"date": d, "sku": sku, "region": region, "channel": None, "family": "F", "quantity": q,
             "revenue": q * 2.0}
            for sku, region, base in (("TN-1", "North", 20.0), (HOSTILE, None, 7.0))
            for d, q in zip(months, base + np.arange(10.0) % 3)]
    with Workspace(path) as ws:
        ws.replace_table("sales", pd.DataFrame(rows), Provenance(file_name="s.csv", sha256="s"))
        F.save_settings(ws, SETTINGS)
        return F.run_forecast(ws, SETTINGS, executor=SerialExecutor())


def _read(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # BOM and CRLF, like every export
    return pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype={"sku": str, "region": str},
                       keep_default_na=False)


def test_export_forecast_round_trip(tmp_path: Path, capsys) -> None:
    run = _workspace(tmp_path / "ws.duckdb")
    out = tmp_path / "out" / "forecast.csv"
    assert cli.main(["--workspace", str(tmp_path / "ws.duckdb"), "export", "forecast", "--csv", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    df = _read(out)
    assert list(df.columns) == ["sku", "region", "period", "value", "model"]
    assert len(df) == len(run.forecast) == 2 * 6
    assert set(df["sku"]) == {"TN-1", "'" + HOSTILE}  # shown as text, never run as a formula
    assert set(df.loc[df["sku"] != "TN-1", "region"]) == {""}  # no region: empty
    assert df["period"].iloc[0] == "2026-09-01" and df["period"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    back = run.forecast.assign(sku=run.forecast["sku"].where(run.forecast["sku"] == "TN-1", "'" + HOSTILE),
                               period=run.forecast["period"].dt.strftime("%Y-%m-%d"))
    merged = df.merge(back, on=["sku", "period"], suffixes=("", "_run"))
    assert len(merged) == len(df)
    np.testing.assert_allclose(merged["value"], merged["value_run"])
    assert (merged["model"] == merged["model_run"]).all()


def test_export_consensus_and_missing_run(tmp_path: Path, capsys) -> None:
    ws_path = tmp_path / "ws.duckdb"
    out = tmp_path / "consensus.csv"
    with Workspace(ws_path):
        pass
    assert cli.main(["--workspace", str(ws_path), "export", "consensus", "--csv", str(out)]) == 1
    assert "run `python -m sop_core forecast` first" in capsys.readouterr().err and not out.exists()
    run = _workspace(tmp_path / "ws2.duckdb")
    assert cli.main(["--workspace", str(tmp_path / "ws2.duckdb"), "export", "consensus", "--csv", str(out)]) == 0
    df = _read(out)
    assert list(df.columns) == ["sku", "region", "period", "value"] and len(df) == len(run.forecast)
    # no overrides: the consensus equals the statistical forecast
    assert np.isclose(df["value"].sum(), run.forecast["value"].sum())

"""The workspace database: schema, atomic loads, provenance, reopening, content fingerprints."""
import numpy as np
import pandas as pd
import pytest

from sop_core import forecast
from sop_core.workspace import Provenance, Workspace, frame_sha256


def _sales(n: int = 200_000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
                         "sku": rng.choice([f"S{i:03d}" for i in range(300)], n), "quantity": rng.integers(0, 50, n)
                         .astype(float)})


def test_one_cell_changes_the_content_hash_and_the_forecast_key(tmp_path):
    # guards against the sampled-hash trap: st.cache_data hashes a sample of big frames
    df = _sales()
    edited = df.copy()
    edited.loc[123_456, "quantity"] += 1
    assert frame_sha256(df) != frame_sha256(edited)
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.replace_table("sales", df, Provenance("a.csv", "1"))
        key = forecast.run_key(ws, forecast.ForecastSettings())
        ws.replace_table("sales", edited, Provenance("a.csv", "2"))
        assert forecast.run_key(ws, forecast.ForecastSettings()) != key


def test_a_failed_load_leaves_the_previous_table(tmp_path):
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.replace_table("sales", _sales(10), Provenance("a.csv", "1"))
        before = ws.table("sales")
        bad = _sales(10).assign(quantity=["x"] * 10)  # cannot be cast to DOUBLE
        with pytest.raises(Exception):
            ws.replace_table("sales", bad, Provenance("b.csv", "2"))
        pd.testing.assert_frame_equal(ws.table("sales"), before)
        assert list(ws.latest_loads()["file_name"]) == ["a.csv"]


def test_the_workspace_survives_a_reopen(tmp_path):
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        ws.replace_table("sales", _sales(50), Provenance("a.csv", "1", author="ana"))
        ws.set_setting("company_name", "Acme")
        fp = ws.fingerprint()
    with Workspace(path) as ws:
        assert ws.scalar("SELECT count(*) FROM sales") == 50
        assert ws.get_setting("company_name") == "Acme"
        assert ws.fingerprint() == fp
        assert ws.latest_loads()["author"].tolist() == ["ana"]

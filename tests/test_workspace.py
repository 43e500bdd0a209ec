"""The workspace database: schema, atomic loads, provenance, reopening, content fingerprints, read limits."""
import threading
import time

import duckdb
import numpy as np
import pandas as pd
import pytest

from sop_core.demand import forecast
from sop_core.store.workspace import Provenance, QueryOutOfMemory, QueryTimeout, Workspace, frame_sha256

SLOW = "SELECT sum(i % 7) FROM range(1000000000000) t(i)"  # hours of work: only a time limit ends it
GREEDY = "SELECT list(i) FROM range(50000000) t(i)"  # one 400 MB list: an aggregate that cannot spill to disk


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
        with pytest.raises(duckdb.ConversionException):
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


def _timed(fn) -> tuple[BaseException | None, float]:
    """The exception `fn()` raised (None if it returned) and how long it took."""
    start = time.monotonic()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


def test_a_read_past_the_time_limit_is_stopped_and_other_sessions_carry_on(tmp_path):
    """Case 49: the slow read's own cursor is interrupted; reads and saves of other threads go on."""
    with Workspace(tmp_path / "w.duckdb", query_timeout_s=0.5) as ws:
        ws.replace_table("sales", _sales(50), Provenance("a.csv", "1"))
        slow: dict[str, object] = {}
        worker = threading.Thread(target=lambda: slow.update(zip(("error", "seconds"),
                                                                 _timed(lambda: ws.scalar(SLOW)))))
        worker.start()
        others = 0
        while worker.is_alive() and others < 10_000:  # another session reading and saving while the slow read runs
            assert ws.scalar("SELECT count(*) FROM sales") == 50
            others += 1
            if others == 5:
                ws.set_setting("company_name", "Acme")
        worker.join(10)
        assert not worker.is_alive()
        assert others >= 5
        assert isinstance(slow["error"], QueryTimeout)
        assert "took too long (over 0.5 s)" in str(slow["error"]) and "nothing was changed" in str(slow["error"])
        assert 0.5 <= slow["seconds"] < 5
        time.sleep(0.6)  # past the deadline of every read above: nothing stale may fire
        assert ws.scalar("SELECT count(*) FROM sales") == 50
        assert ws.get_setting("company_name") == "Acme"
        ws.set_setting("company_name", "Acme 2")
        assert ws.query("SELECT * FROM sales").shape == (50, len(ws.table("sales").columns))
        assert ws.get_setting("company_name") == "Acme 2"


def test_the_time_limit_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SOP_QUERY_TIMEOUT_S", "0.3")
    with Workspace(tmp_path / "w.duckdb") as ws:
        error, seconds = _timed(lambda: ws.query(SLOW))
        assert isinstance(error, QueryTimeout) and "over 0.3 s" in str(error) and seconds < 5
    monkeypatch.setenv("SOP_QUERY_TIMEOUT_S", "0")  # no limit
    with Workspace(tmp_path / "w.duckdb") as ws:
        assert ws.query_timeout_s == 0
        assert ws.scalar("SELECT count(*) FROM range(10)") == 10


def test_a_read_over_the_memory_limit_is_an_error_not_a_kill(tmp_path):
    """Case 50: DuckDB's out-of-memory error becomes a message; the process and the workspace carry on."""
    with Workspace(tmp_path / "w.duckdb", memory_limit="64MB") as ws:
        ws.replace_table("sales", _sales(50), Provenance("a.csv", "1"))
        assert ws.memory_limit == "61.0 MiB"
        for read in (ws.scalar, ws.query):
            error, seconds = _timed(lambda read=read: read(GREEDY))
            assert isinstance(error, QueryOutOfMemory), error
            assert "more memory than the workspace limit of 61.0 MiB" in str(error)
            assert "nothing was changed" in str(error) and seconds < 10
        assert ws.scalar("SELECT count(*) FROM sales") == 50
        ws.set_setting("company_name", "Acme")
        assert ws.get_setting("company_name") == "Acme"


def test_the_memory_limit_comes_from_the_environment_and_a_bad_one_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SOP_MEMORY_LIMIT", "64MB")
    with Workspace(tmp_path / "w.duckdb") as ws:
        assert ws.memory_limit == "61.0 MiB"
        with pytest.raises(QueryOutOfMemory):
            ws.scalar(GREEDY)
    monkeypatch.setenv("SOP_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match=r"memory limit 'lots' \(\$SOP_MEMORY_LIMIT\) is not a size like '4GB'"):
        Workspace(tmp_path / "w.duckdb")
    monkeypatch.delenv("SOP_MEMORY_LIMIT")
    with Workspace(tmp_path / "w.duckdb") as ws:  # the failed open released the file
        assert ws.memory_limit != "61.0 MiB"

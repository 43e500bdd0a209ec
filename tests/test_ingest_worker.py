"""Uploads parsed in a locked-down child process (catalogue cases 9, 50, 58, 61 and the worker limits)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sop_core.intake.load import commit, prepare
from sop_core.intake.worker import WorkerLimits, hardened_connection, prepare_isolated, worker_environment
from sop_core.meetings import decisions as D
from sop_core.store.workspace import Workspace

SALES = b"date,sku,quantity\n2024-01-01,A,5\n2024-02-01,A,7\n2024-03-01,B,1.5\n"


def messages(p) -> str:
    return " | ".join(str(e) for e in p.errors)


def test_isolated_prepare_gives_the_same_result_as_in_process() -> None:
    inside = prepare("s.csv", SALES, "sales")
    isolated = prepare_isolated("s.csv", SALES, "sales")
    assert isolated.ok, messages(isolated)
    pd.testing.assert_frame_equal(isolated.frame, inside.frame)
    pd.testing.assert_frame_equal(isolated.raw.data, inside.raw.data)
    assert list(isolated.raw.line_numbers) == list(inside.raw.line_numbers)
    assert (isolated.mapping, isolated.table, isolated.warnings, isolated.notes, isolated.stats["rows_kept"]) == \
        (inside.mapping, inside.table, inside.warnings, inside.notes, inside.stats["rows_kept"])
    assert isolated.stats["worker_seconds"] > 0


def test_rejected_rows_come_back_with_rows_and_columns() -> None:
    data = b"date,sku,qty\n2024-01-01,A,5\n2024-01-02,A,-3\n2024-01-03,A,-1\n"
    p = prepare_isolated("s.csv", data, "sales")
    assert not p.ok and p.frame is None
    e = p.errors[0]
    assert (e.column, e.rows, e.kind) == ("qty", [3, 4], prepare("s.csv", data, "sales").errors[0].kind)
    assert "2 rows are negative (rows 3, 4)" in str(e)
    assert p.stats["rejected"][0]["rows"] == [3, 4]


def test_remembered_mapping_and_cross_table_warnings_use_the_workspace(workspace: Workspace) -> None:
    commit(workspace, prepare("p.csv", b"sku,family,unit_price,unit_cost\nA,F,2,1\n", "products"))
    odd = b"Day,Item,Units Sold\n2024-01-01,A,5\n2024-02-01,Z9,7\n"
    first = prepare("s.csv", odd, "sales", mapping={"date": "Day", "sku": "Item", "quantity": "Units Sold"},
                    ws=workspace)
    commit(workspace, first)
    p = prepare_isolated("s2.csv", odd, "sales", ws=workspace)
    assert p.ok and p.mapping_source == "remembered", messages(p)
    assert any("not in products" in w and "'Z9'" in w for w in p.warnings)
    assert p.frame["quantity"].tolist() == [5.0, 7.0]


def test_options_reach_the_worker() -> None:
    data = b"date;sku;quantity\n05.01.2024;A;1.234,5\n"
    p = prepare_isolated("eu.csv", data, "sales", dayfirst=True, decimal=",")
    assert p.ok, messages(p)
    assert p.frame["quantity"].tolist() == [1234.5]
    assert p.frame["date"].tolist() == [pd.Timestamp("2024-01-05")]


def test_parser_crash_is_a_clear_error_and_other_sessions_keep_working(workspace: Workspace) -> None:
    """Case 9: the parser calls os.abort(); the upload fails cleanly and saves go on meanwhile."""
    saved: list[str] = []
    stop = threading.Event()

    def other_session() -> None:
        i = 0
        while not stop.is_set():
            saved.append(D.record(workspace, title=f"t{i}", owner="o", due_date="2099-01-01", author="b"))
            i += 1

    t = threading.Thread(target=other_session)
    t.start()
    try:
        p = prepare_isolated("evil.csv", SALES, "sales", entry="abort")
    finally:
        stop.set()
        t.join()
    assert not p.ok and p.frame is None and len(p.errors) == 1
    assert str(p.errors[0]) == ("evil.csv: could not parse file — the file may be corrupt or too complex "
                                "(worker exited with signal 6)")
    assert p.errors[0].kind == "worker_failed" and p.stats["rejected"]
    assert saved and workspace.scalar("SELECT count(*) FROM decisions") == len(saved)


def test_runaway_memory_is_stopped_by_the_memory_cap() -> None:
    started = time.perf_counter()
    p = prepare_isolated("big.csv", SALES, "sales", entry="hog", worker=WorkerLimits(memory_mb=900, seconds=60))
    assert not p.ok
    assert "could not parse file" in messages(p)
    assert time.perf_counter() - started < 60


def test_a_parse_that_never_ends_is_stopped_at_the_time_limit() -> None:
    started = time.perf_counter()
    p = prepare_isolated("slow.csv", SALES, "sales", entry="sleep", worker=WorkerLimits(seconds=4))
    # issue 13 item 11: a parse past the time limit is a file too large to load here, never "corrupt"
    assert messages(p) == ("slow.csv: too large to load here: reading it took longer than the 4 s limit — save it "
                           "as CSV or Parquet (or split it) and load that")
    assert p.errors[0].kind == "too_large" and "corrupt" not in messages(p)
    assert time.perf_counter() - started < 15


def test_unknown_options_and_entries_are_refused() -> None:
    with pytest.raises(TypeError, match="unexpected options: bogus"):
        prepare_isolated("s.csv", SALES, "sales", bogus=1)
    with pytest.raises(ValueError, match="unknown worker entry"):
        prepare_isolated("s.csv", SALES, "sales", entry="os.system")


# -- 61: no secrets in the worker's environment --------------------------------------------------

SECRETS = {
    "SOP_DB_URL": "postgres://sop:hunter2@db/sop", "SOP_WORKSPACE": "/srv/secret.duckdb",
    "DB_PASSWORD": "hunter2", "GITHUB_TOKEN": "ghp_topsecret", "MY_API_KEY": "key-123",
    "AWS_SECRET_ACCESS_KEY": "aws-secret", "STREAMLIT_AUTH_COOKIE_SECRET": "cookie-secret",
    "AUTH_CLIENT_SECRET": "oidc-secret", "OPENAI_APIKEY": "sk-xyz", "SESSION_SIGNING": "sess",
}


def test_worker_environment_function_drops_secrets() -> None:
    env = worker_environment("/tmp/x", {**SECRETS, "PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C",
                                        "HOME": "/root", "HARMLESS": "1"})
    assert not set(SECRETS) & set(env)
    assert not set(SECRETS.values()) & set(env.values())
    assert env["PATH"] == "/usr/bin" and env["LC_ALL"] == "C" and env["HOME"] == "/tmp/x"
    assert "HARMLESS" not in env  # only what the parser needs passes


def test_the_worker_sees_no_secrets_and_a_locked_down_duckdb(monkeypatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    p = prepare_isolated("probe.csv", SALES, "sales", entry="probe")
    env = "\n".join(n for n in p.notes if n.startswith("env "))
    assert env  # the probe ran
    for k, v in SECRETS.items():
        assert k not in env and v not in env
    probes = [n for n in p.notes if n.startswith("probe ")]
    assert len(probes) == 5 and all(n.startswith("probe refused:") for n in probes), probes
    limit = int(next(n for n in p.notes if n.startswith("rlimit_as")).split()[1])
    assert limit == WorkerLimits().memory_mb * 1024 * 1024


# -- 58, 50: the hardened DuckDB connection ------------------------------------------------------

@pytest.mark.parametrize("sql, error", [
    ("SELECT * FROM read_csv('/etc/passwd')", duckdb.PermissionException),
    ("SELECT * FROM read_text('/etc/hostname')", duckdb.PermissionException),
    ("ATTACH '{outside}/other.duckdb' AS other", duckdb.PermissionException),
    ("INSTALL excel", duckdb.PermissionException),
    ("LOAD excel", duckdb.PermissionException),
    ("SET memory_limit = '64GB'", duckdb.InvalidInputException),
    ("SET enable_external_access = true", duckdb.InvalidInputException),
    ("SET lock_configuration = false", duckdb.InvalidInputException),
    ("COPY (SELECT 1) TO '{outside}/leak.csv'", duckdb.PermissionException),
])
def test_hardened_connection_refuses(tmp_path: Path, sql: str, error: type) -> None:
    con = hardened_connection(tmp_path / "worker")
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(error):
        con.execute(sql.format(outside=outside))
    assert not (outside / "leak.csv").exists() and not (outside / "other.duckdb").exists()
    assert con.execute("SELECT 42").fetchall() == [(42,)]  # still usable


def test_hardened_connection_works_inside_its_own_folder(tmp_path: Path) -> None:
    con = hardened_connection(tmp_path / "worker")
    con.execute(f"COPY (SELECT 1 AS x) TO '{tmp_path / 'worker' / 'ok.csv'}'")
    assert con.execute(f"SELECT x FROM read_csv('{tmp_path / 'worker' / 'ok.csv'}')").fetchall() == [(1,)]
    con.register("frame", pd.DataFrame({"a": [1, 2]}))
    assert con.execute("SELECT sum(a) FROM frame").fetchall() == [(3,)]


def test_query_over_the_memory_limit_is_an_error_not_a_kill(tmp_path: Path) -> None:
    """Case 50: an out-of-memory error the caller can show; the process and connection survive."""
    con = hardened_connection(tmp_path / "worker", memory_limit_mb=64)
    with pytest.raises(duckdb.OutOfMemoryException, match="Out of Memory"):
        con.execute("SELECT list(i) FROM range(50000000) t(i)").fetchall()
    assert con.execute("SELECT count(*) FROM range(1000)").fetchall() == [(1000,)]


# -- issue 13 item 10: a small file asking for huge memory; parse workers capped machine-wide ---------------

def test_a_small_workbook_declaring_a_huge_sheet_loads_within_a_small_memory_cap() -> None:
    """5 KB declaring A1:XFD1048576 took 3.3 GB and 39 s in the worker (7 GB in the CLI); now well under 1 GB."""
    from test_readers import huge_dimension_xlsx

    started = time.perf_counter()
    p = prepare_isolated("dims.xlsx", huge_dimension_xlsx(), "sales", worker=WorkerLimits(memory_mb=1024, seconds=60))
    assert p.ok, messages(p)
    assert p.frame["quantity"].tolist() == [5.0, 7.0]
    assert time.perf_counter() - started < 60


def test_parse_workers_are_capped_machine_wide_and_a_busy_server_says_so(tmp_path: Path) -> None:
    from sop_core.intake.worker import parse_slot

    limits = WorkerLimits(concurrent=1, queue_seconds=1, slots_dir=str(tmp_path / "slots"))
    with parse_slot(limits):  # another upload is being read
        started = time.perf_counter()
        p = prepare_isolated("s.csv", SALES, "sales", worker=limits)
        assert time.perf_counter() - started < 10
    assert not p.ok and p.errors[0].kind == "busy"
    assert messages(p) == ("s.csv: not read: the server is busy reading 1 other file (at most 1 at a time; waited "
                           "1 s): try again in a minute")
    assert prepare_isolated("s.csv", SALES, "sales", worker=limits).ok  # the slot is free again


def test_an_upload_waits_its_turn_and_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    import subprocess
    import sys

    from sop_core.intake.worker import parse_slot

    limits = WorkerLimits(concurrent=1, queue_seconds=30, slots_dir=str(tmp_path / "slots"))
    hold = threading.Event()

    def other_upload() -> None:
        with parse_slot(limits):
            hold.set()
            time.sleep(2)

    t = threading.Thread(target=other_upload)
    t.start()
    hold.wait(10)
    started = time.perf_counter()
    p = prepare_isolated("s.csv", SALES, "sales", worker=limits)  # queued behind the other one, then read
    t.join()
    assert p.ok, messages(p)
    assert time.perf_counter() - started >= 1
    code = ("import sys, time; from sop_core.intake.worker import WorkerLimits, parse_slot\n"
            f"with parse_slot(WorkerLimits(concurrent=1, slots_dir={str(tmp_path / 'slots')!r})):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = prepare_isolated("s.csv", SALES, "sales", worker=WorkerLimits(concurrent=1, queue_seconds=0.5,
                                                                             slots_dir=limits.slots_dir))
        assert busy.errors[0].kind == "busy"
    finally:
        holder.kill()
        holder.wait()
    assert prepare_isolated("s.csv", SALES, "sales", worker=limits).ok  # kill -9 of the holder freed the slot

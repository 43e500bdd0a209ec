"""Persistence under concurrency and faults (catalogue cases 39-47): nothing acknowledged is lost.

The drills live in benchmarks/durability_bench.py (which prints the same figures as a table);
these tests run them and assert. Figures are printed (see them with `pytest -s`).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pytest

from benchmarks import durability_bench as bench
from sop_core.intake.errors import IntakeError
from sop_core.intake.load import commit, prepare
from sop_core.meetings import decisions as D
from sop_core.store import ledger, recovery
from sop_core.store.lock import lock_path
from sop_core.store.workspace import Workspace, WorkspaceLocked

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _show(title: str, figures: dict) -> None:
    print(f"\n{title}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in figures.items() if k not in ("messages", "error_examples")))


# -- 40, 41: concurrent writers, double clicks ---------------------------------------------------

def test_eight_writers_two_hundred_saves_each_none_lost(tmp_path: Path) -> None:
    r = bench.concurrent_saves(tmp_path / "w.duckdb", writers=8, saves=200, override_every=16)
    _show("8 writers x 200 saves", r)
    assert r["errors"] == 0, r["error_examples"]
    assert r["attempted"] == r["acknowledged"] == r["present"] == 1600
    assert r["lost"] == 0 and r["half_applied"] == 0 and r["ledger_missing"] == 0
    assert r["double_clicks"] > 0 and r["duplicate_rows"] == 0


# -- 39: the same new key created twice at once --------------------------------------------------

def test_two_sessions_creating_the_same_key_at_once_store_it_once(workspace: Workspace) -> None:
    barrier = threading.Barrier(2)
    out: list[str] = []
    errors: list[BaseException] = []

    def session() -> None:
        barrier.wait()
        try:
            out.append(D.record(workspace, title="Add a shift", owner="ops", due_date="2099-01-01", author="a",
                                event_id="form-1"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=session) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 2 and out[0] == out[1]
    assert workspace.scalar("SELECT count(*) FROM decisions WHERE event_id = 'form-1'") == 1


def test_a_key_conflict_raised_by_the_database_is_handled(workspace: Workspace, monkeypatch) -> None:
    """The insert hits the unique event_id (as a racing commit would): the handler returns the stored row."""
    first = D.record(workspace, title="Add a shift", owner="ops", due_date="2099-01-01", author="a", event_id="k")
    real = D._by_event
    calls = {"n": 0}

    def blind_first_check(src, event_id):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(src, event_id)  # the first check runs before the rival commit

    monkeypatch.setattr(D, "_by_event", blind_first_check)
    again = D.record(workspace, title="Add a shift", owner="ops", due_date="2099-01-01", author="a", event_id="k")
    assert again == first and calls["n"] >= 2
    assert workspace.scalar("SELECT count(*) FROM decisions") == 1
    assert recovery.check(workspace).ok


def test_conflicting_commits_raise_at_commit_and_store_nothing(tmp_path: Path) -> None:
    """DuckDB's optimistic concurrency: the second of two racing transactions fails at COMMIT."""
    con = duckdb.connect(str(tmp_path / "raw.duckdb"))
    con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY, v INTEGER)")
    con.execute("INSERT INTO t VALUES ('a', 0)")
    a, b = con.cursor(), con.cursor()
    a.execute("BEGIN")
    b.execute("BEGIN")
    a.execute("UPDATE t SET v = 1 WHERE k = 'a'")
    with pytest.raises(duckdb.TransactionException):
        b.execute("UPDATE t SET v = 2 WHERE k = 'a'")
        b.execute("COMMIT")
    a.execute("COMMIT")
    assert con.execute("SELECT v FROM t").fetchall() == [(1,)]
    con.close()


# -- 42, 43: kill -9 -----------------------------------------------------------------------------

def test_kill_9_during_saves_loses_nothing_acknowledged(tmp_path: Path) -> None:
    r = bench.crash_saves(tmp_path / "crash.duckdb", iterations=20)
    _show("20 kill -9 during saves", r)
    assert r["iterations"] == 20 and r["acknowledged"] >= 10  # kills land between and during saves
    assert r["lost"] == 0, r
    assert r["half_applied"] == 0, r["half_examples"]
    assert r["ledger_missing"] == 0


def test_kill_9_during_bulk_loads_across_checkpoints_is_all_or_nothing(tmp_path: Path) -> None:
    r = bench.crash_bulk_loads(tmp_path / "bulk.duckdb", iterations=4)
    _show("kill -9 during 100k-row loads", r)
    assert r["lost"] == 0 and r["half_applied"] == 0, r["half_examples"]
    assert r["bulk_all_or_nothing"]


# -- 44, 45: damaged write-ahead log -------------------------------------------------------------

def test_torn_wal_opens_with_the_committed_prefix_and_the_check_names_the_rest(tmp_path: Path) -> None:
    r = bench.wal_damage(tmp_path, commits=40, how="truncate")
    _show("torn WAL", r)
    assert not r["duckdb_refused_open"] and 0 < r["lost"] < 40
    assert r["detected"] and r["reported_missing"] == r["lost"]
    assert any("missing from the database" in m for m in r["messages"])


def test_flipped_wal_byte_silently_dropped_by_duckdb_is_detected_at_start_up(tmp_path: Path) -> None:
    r = bench.wal_damage(tmp_path, commits=40, how="flip")
    _show("flipped WAL byte", r)
    assert not r["duckdb_refused_open"], "DuckDB opened the damaged log without an error"
    assert r["lost"] > 0 and r["present"] + r["lost"] == 40  # DuckDB silently dropped committed saves
    assert r["detected"] and r["reported_missing"] == r["lost"]  # ...and the start-up check names each one
    assert "not in any backup; its full detail is in the ledger line" in "\n".join(r["messages"])


def test_flipped_wal_byte_duckdb_refuses_gives_a_clear_message_and_a_way_back(tmp_path: Path) -> None:
    r = bench.wal_damage(tmp_path, commits=40, how="refuse")
    assert r["duckdb_refused_open"]
    assert "write-ahead log" in r["open_error"] and "check --recover-wal" in r["open_error"]
    assert r["reported_missing"] == r["lost"] == 40 and r["detected"]


# -- 46: a second server on the same file --------------------------------------------------------

def test_second_process_refuses_to_start_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Workspace(path):
        run = subprocess.run([sys.executable, "-m", "sop_core", "--workspace", str(path), "status"],
                             capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert run.returncode == 2
    assert f"store locked by PID {os.getpid()} on host {socket.gethostname()}" in run.stderr
    assert "set SOP_WORKSPACE to another file" in run.stderr and "Traceback" not in run.stderr


def test_second_server_refuses_to_start_while_the_first_serves(tmp_path: Path) -> None:
    import time
    import urllib.request

    path = tmp_path / "w.duckdb"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    serve = [sys.executable, "-m", "sop_core", "--workspace", str(path), "serve", "--server.headless", "true",
             "--server.address", "127.0.0.1"]
    first = subprocess.Popen([*serve, "--server.port", str(port)], env=_env(), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                assert first.poll() is None and time.monotonic() < deadline, "the first server did not start"
                time.sleep(0.3)
        # the lock survived the hand-over to Streamlit: same PID, named in the file
        assert lock_path(path).read_text().split()[0] == str(first.pid)
        second = subprocess.run([*serve, "--server.port", str(port + 1)], capture_output=True, text=True,
                                env=_env(), cwd=ROOT, timeout=120)
        assert second.returncode == 2
        assert f"store locked by PID {first.pid} on host {socket.gethostname()}" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first server is untouched
    finally:
        first.terminate()
        first.wait(30)
    Workspace(path).close()  # released when the server stopped


def test_lock_is_shared_in_one_process_and_released_on_close(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    a, b = Workspace(path), Workspace(path)
    assert lock_path(path).read_text().split()[0] == str(os.getpid())
    a.close()
    assert b.scalar("SELECT 1") == 1  # still held by b
    b.close()
    code = "from sop_core.store.workspace import Workspace; Workspace(%r).close(); print('opened')" % str(path)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert run.stdout.strip() == "opened", run.stderr


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    lock_path(path).write_text("999999 some-old-host\n")
    with Workspace(path) as ws:
        assert ws.scalar("SELECT 1") == 1
        assert lock_path(path).read_text().split() == [str(os.getpid()), socket.gethostname()]


def test_duckdb_file_lock_maps_to_the_same_message(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Workspace(path).close()
    code = textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print('holding', flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(WorkspaceLocked, match=f"store locked by PID {holder.pid} on host"):
            Workspace(path)
    finally:
        holder.kill()
        holder.wait()
    Workspace(path).close()  # our lock was released when DuckDB refused


# -- 47: disk full during a save -----------------------------------------------------------------

DISK_FULL = textwrap.dedent("""
    import os, resource, signal, sys
    import pandas as pd
    from sop_core.meetings import decisions as D
    from sop_core.intake.load import commit, prepare
    from sop_core.intake.errors import IntakeError
    from sop_core.store.workspace import Workspace
    path = sys.argv[1]
    ws = Workspace(path)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with an error
    grown = max(os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p))
    resource.setrlimit(resource.RLIMIT_FSIZE, (grown + 300_000, resource.RLIM_INFINITY))
    rows = "\\n".join(f"S{i:06d},Family {i % 9},{i % 97}.5,{i % 50}.25" for i in range(300_000))
    p = prepare("products.csv", ("sku,family,unit_price,unit_cost\\n" + rows + "\\n").encode(), "products")
    assert p.ok, p.errors
    try:
        commit(ws, p, author="planner")
        print("STORED")
    except IntakeError as exc:
        print("REFUSED", exc)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    D.record(ws, title="after", owner="ops", due_date="2099-01-01", author="a", event_id="after")
    print("LATER SAVE OK")
    ws.close()
""")


def test_disk_full_during_a_save_rolls_back_shows_the_error_and_keeps_earlier_data(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        small = prepare("p.csv", b"sku,family,unit_price,unit_cost\nA,F,2,1\nB,F,3,1\n", "products")
        commit(ws, small, author="planner")
        before = D.record(ws, title="before", owner="ops", due_date="2099-01-01", author="a", event_id="before")
    run = subprocess.run([sys.executable, "-c", DISK_FULL, str(path)], capture_output=True, text=True, env=_env(),
                         cwd=ROOT, timeout=300)
    assert "REFUSED" in run.stdout, run.stdout + run.stderr
    assert "could not be stored, nothing changed" in run.stdout and "File too large" in run.stdout
    assert "LATER SAVE OK" in run.stdout, run.stderr
    with Workspace(path) as ws:
        assert sorted(ws.table("products")["sku"]) == ["A", "B"]  # the earlier load, untouched
        assert D.get(ws, before) is not None
        assert ws.scalar("SELECT count(*) FROM decisions WHERE event_id = 'after'") == 1
        assert len(ws.query("SELECT * FROM loads WHERE table_name = 'products'")) == 1
        assert recovery.check(ws).ok


def test_store_failure_is_an_intake_error_not_a_traceback(workspace: Workspace, monkeypatch) -> None:
    p = prepare("p.csv", b"sku,family,unit_price,unit_cost\nA,F,2,1\n", "products")

    def full(*a, **k):
        raise duckdb.IOException('IO Error: Could not write file "w.duckdb": No space left on device')

    monkeypatch.setattr(workspace, "store_table", full)  # the write of every load (in its transaction)
    with pytest.raises(IntakeError, match="could not be stored, nothing changed .*No space left on device"):
        commit(workspace, p)
    assert not workspace.has_table("products")


def test_rolled_back_save_leaves_no_trace(workspace: Workspace) -> None:
    with pytest.raises(RuntimeError):
        with workspace.transaction() as cur:
            workspace.audit(cur, "decision", "x", {"title": "half"})
            cur.execute("INSERT INTO settings VALUES ('half', '1', now()::TIMESTAMP, NULL)")
            raise RuntimeError("power cut in the middle")
    assert workspace.scalar("SELECT count(*) FROM audit_log") == 0
    assert workspace.get_setting("half") is None
    assert ledger.read(ledger.ledger_path(workspace.path)).entries == []


def test_crash_between_commit_and_ledger_is_a_note_not_a_loss(tmp_path: Path) -> None:
    """A save cut off after COMMIT but before its ledger line was never acknowledged: reported, not an error."""
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        for i in range(3):
            D.record(ws, title=f"d{i}", owner="o", due_date="2099-01-01", author="a")
        lines = ws.ledger.path.read_bytes().splitlines(keepends=True)
        ws.ledger.path.write_bytes(b"".join(lines[:-1]))
        r = recovery.check(ws)
        assert r.ok and len(r.not_in_ledger) == 1 and not r.missing
        assert recovery.startup_check(ws) == []
        assert not recovery.check(ws).not_in_ledger  # adopted into the ledger


def test_a_re_imported_lock_module_does_not_lock_the_server_out(tmp_path: Path, monkeypatch) -> None:
    """Streamlit re-imports changed modules in a running server: the new module must see the lock as ours."""
    import importlib

    from sop_core.store import lock as store_lock

    path = tmp_path / "w.duckdb"
    first = store_lock.acquire(path)
    monkeypatch.delitem(sys.modules, "sop_core.store.lock")  # restored after the test
    fresh = importlib.import_module("sop_core.store.lock")  # a new module that knows none of the held locks
    assert fresh is not store_lock
    try:
        again = fresh.acquire(path)  # same PID on the same host: ours, not "store locked by PID <self>"
        again.release()
        assert lock_path(path).read_text().split()[0] == str(os.getpid())  # still named: still held
        code = "from sop_core.store.workspace import Workspace; Workspace(%r)" % str(path)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
        assert "store locked by PID" in run.stderr  # another process is still kept out
    finally:
        first.release()


# -- issue 13 item 6: a full disk at a checkpoint invalidates DuckDB's connection ----------------

CHECKPOINT_FAILED = ('FATAL Error: Failed to create checkpoint because of error: Could not write file "w.duckdb": '
                     'No space left on device')
INVALIDATED = ("FATAL Error: Failed: database has been invalidated because of a previous fatal error. The database "
               f'must be restarted prior to being used again.\nOriginal error: "{CHECKPOINT_FAILED}"')


class _InvalidatedAtCommit:
    """A connection that behaves as DuckDB's after the checkpoint of a COMMIT ran out of disk: that COMMIT and
    every later statement raise FatalException, until the connection is replaced."""

    def __init__(self, real: duckdb.DuckDBPyConnection) -> None:
        self.real, self.invalid = real, False

    def cursor(self) -> "_Cursor":
        if self.invalid:
            raise duckdb.FatalException(INVALIDATED)
        return _Cursor(self)

    def execute(self, sql: str, *args):
        if self.invalid:
            raise duckdb.FatalException(INVALIDATED)
        return self.real.execute(sql, *args)

    def close(self) -> None:
        self.real.close()


class _Cursor:
    def __init__(self, con: _InvalidatedAtCommit) -> None:
        self.con, self.cur = con, con.real.cursor()

    def execute(self, sql: str, *args):
        if self.con.invalid:
            raise duckdb.FatalException(INVALIDATED)
        if sql == "COMMIT":
            self.cur.execute("ROLLBACK")  # the change is lost with the checkpoint
            self.con.invalid = True
            raise duckdb.FatalException(CHECKPOINT_FAILED)
        return self.cur.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.cur, name)


def test_an_invalidated_connection_says_what_was_not_saved_and_reopens(tmp_path: Path) -> None:
    from sop_core.store.workspace import QueryStopped, WorkspaceStopped

    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        D.record(ws, title="before", owner="ops", due_date="2099-01-01", author="a", event_id="before")
        saved = ws.last_saved_at
        ws._con = _InvalidatedAtCommit(ws._con)
        with pytest.raises(WorkspaceStopped) as caught:
            D.record(ws, title="lost", owner="ops", due_date="2099-01-01", author="a", event_id="lost")
        text = str(caught.value)
        assert text.startswith(f"disk full: nothing after {saved:%H:%M} UTC was saved (this change was not saved")
        assert "Free disk space on the server; the workspace reopens by itself with the next action." in text
        assert isinstance(caught.value, QueryStopped) and isinstance(caught.value, duckdb.Error)  # pages show it
        # the next call reopens the connection: reads and writes work again, no restart
        assert ws.scalar("SELECT count(*) FROM decisions") == 1
        assert not isinstance(ws._con, _InvalidatedAtCommit)
        D.record(ws, title="after", owner="ops", due_date="2099-01-01", author="a", event_id="after")
        assert recovery.check(ws).ok
    with Workspace(path) as ws:
        assert sorted(ws.query("SELECT event_id FROM decisions")["event_id"]) == ["after", "before"]


def test_a_load_whose_checkpoint_fails_is_refused_with_the_cause_and_the_retry_works(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        ws._con = _InvalidatedAtCommit(ws._con)  # this load's checkpoint runs out of disk
        p = prepare("p.csv", b"sku,family,unit_price,unit_cost\nA,F,2,1\n", "products")
        with pytest.raises(IntakeError, match="could not be stored, nothing changed .*disk full: nothing after"):
            commit(ws, p)
        assert isinstance(ws._con, _InvalidatedAtCommit) and ws._con.invalid
        commit(ws, p)  # reopened with the next call: the same load now goes through
        assert ws.table("products")["sku"].tolist() == ["A"]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MB tmpfs mounted under tmp_path (skip when mounting is not permitted)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here (the monkeypatched test covers the invalidation)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_at_a_checkpoint_is_reported_and_the_workspace_recovers_when_space_returns(
        small_disk: Path) -> None:
    import pandas as pd

    from sop_core.store.workspace import Provenance, WorkspaceStopped

    path = small_disk / "w.duckdb"
    ws = Workspace(path)
    try:
        D.record(ws, title="before", owner="ops", due_date="2099-01-01", author="a", event_id="before")
        saved = ws.last_saved_at
        ws._con.execute("SET wal_autocheckpoint = '1KB'")  # every commit checkpoints (the 16 MB default, sooner)
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler = small_disk / "filler"
        filler.write_bytes(b"x" * (free - 400_000))  # room for the write-ahead log, not for the checkpoint
        n = 10_000
        frame = pd.DataFrame({"sku": [f"S{i}" for i in range(n)], "family": [f"F{i}" for i in range(n)],
                              "unit_price": [float(i) for i in range(n)], "unit_cost": 1.0})
        with pytest.raises(WorkspaceStopped, match=f"^disk full: nothing after {saved:%H:%M} UTC was saved"):
            ws.replace_table("products", frame, Provenance("p.csv", "0" * 64))
        filler.unlink()  # space returns
        assert ws.scalar("SELECT count(*) FROM decisions") == 1  # reopened on the next call
        assert not ws.has_table("products")  # the failed load is not there
        D.record(ws, title="after", owner="ops", due_date="2099-01-01", author="a", event_id="after")
        ws.replace_table("products", frame, Provenance("p.csv", "0" * 64))
        assert len(ws.table("products")) == n
        report = recovery.check(ws)
        assert report.ok, report.messages()
    finally:
        ws.close()
    with Workspace(path) as again:
        assert again.scalar("SELECT count(*) FROM decisions") == 2 and len(again.table("products")) == n

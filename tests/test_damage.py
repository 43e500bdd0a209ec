"""A damaged workspace file (issue 13 items 4 and 5): `check` and the start-up check read every table to its end.

DuckDB keeps a checksum per block of the file and verifies it only when the block is read, so a
flipped byte in a table's data is noticed only by reading that table. The tests flip bytes in a
checkpointed workspace file (a copy per case) and assert that `check` exits 1 naming the table and
the backup that holds it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sop_core.cli import main as cli
from sop_core.meetings import decisions as D
from sop_core.store import recovery
from sop_core.store.backup import backup
from sop_core.store.paths import list_backups
from sop_core.store.workspace import Provenance, Workspace, WorkspaceCorrupt

MARKER = b"MARKER-SKU-"
ROWS = 3000


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpointed workspace (products with known skus, a decision) and one backup beside it."""
    folder = tmp_path_factory.mktemp("pristine")
    path = folder / "w.duckdb"
    with Workspace(path) as ws:
        frame = pd.DataFrame({"sku": [f"{MARKER.decode()}{i:05d}" for i in range(ROWS)], "family": "F",
                              "unit_price": 2.5, "unit_cost": 1.0})
        ws.replace_table("products", frame, Provenance("products.csv", "0" * 64, author="planner"))
        D.record(ws, title="Add a shift", owner="ops", due_date="2099-01-01", author="planner")
        backup(ws)
    assert not path.with_name(path.name + ".wal").exists()  # closed: everything is in the checkpoint
    return path


def _copy(pristine: Path, dest: Path) -> Path:
    """The pristine workspace, its ledger and its backups copied into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in pristine.parent.iterdir():
        if item.name.endswith(".lock"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, dest / item.name)
    return dest / pristine.name


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _unreadable_tables(path: Path) -> list[str] | None:
    """Tables DuckDB itself cannot read in full (None when the file does not even open)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main'").fetchall()]
        bad = []
        for name in names:
            try:
                con.execute(f'SELECT * FROM "{name}"').fetchall()
            except duckdb.Error:
                bad.append(name)
        return bad
    finally:
        con.close()


def _damage_products(pristine: Path, dest: Path) -> Path:
    """A copy whose products data block is damaged (found by scanning for the known skus); opens, fails to read."""
    data = pristine.read_bytes()
    offsets, start = [], 0
    while (at := data.find(MARKER, start)) >= 0:
        offsets.append(at)
        start = at + 1
    assert offsets, "the skus are stored uncompressed somewhere in the file"
    for offset in reversed(offsets):  # the table's data lies after the catalog
        path = _copy(pristine, dest / f"at-{offset}")
        _flip(path, offset + 3)
        if _unreadable_tables(path) == ["products"]:
            return path
    pytest.fail("no flipped sku byte made the products table unreadable")


def test_check_names_the_damaged_table_and_the_backup_that_holds_it(pristine: Path, tmp_path: Path, capsys) -> None:
    path = _damage_products(pristine, tmp_path)
    held = list_backups(path.parent / "backups")
    assert len(held) == 1
    code = cli.main(["--workspace", str(path), "check"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "table products is damaged" in out and "Corrupt database file" in out
    assert f"The newest backup holding it is {held[0]} ({ROWS:,} rows" in out
    assert f"python -m sop_core restore {held[0]} --to NEW_FILE" in out
    assert "1 damaged table" in out


def test_the_start_up_check_names_the_damaged_table_and_the_backup(pristine: Path, tmp_path: Path) -> None:
    path = _damage_products(pristine, tmp_path)
    with Workspace(path) as ws:
        problems = recovery.startup_check(ws)
        report = recovery.check(ws)
    assert not report.ok and [t.name for t in report.damaged_tables] == ["products"]
    assert report.compared and not report.missing  # the other tables, the ledger included, are fine
    assert len(problems) == 1 and problems[0].startswith("table products is damaged")
    assert str(list_backups(path.parent / "backups")[0]) in problems[0]


def test_a_damaged_table_without_a_backup_says_so(pristine: Path, tmp_path: Path, capsys) -> None:
    path = _damage_products(pristine, tmp_path)
    shutil.rmtree(path.parent / "backups")
    assert cli.main(["--workspace", str(path), "check"]) == 1
    out = capsys.readouterr().out
    assert "table products is damaged" in out and "No backup holds it" in out


def test_every_flipped_byte_that_breaks_a_table_read_fails_the_check(pristine: Path, tmp_path: Path, capsys) -> None:
    """Flip one byte every 24 KiB across the file: wherever a table no longer reads, `check` names it (exit 1)."""
    size = pristine.stat().st_size
    cases = 0
    for offset in range(4096 * 3 + 100, size, 24576):
        path = _copy(pristine, tmp_path / f"at-{offset}")
        _flip(path, offset)
        bad = _unreadable_tables(path)
        if not bad:
            shutil.rmtree(path.parent)
            continue  # the file does not open (item 5) or the byte was in free space
        cases += 1
        code = cli.main(["--workspace", str(path), "check"])
        captured = capsys.readouterr()
        text = captured.out + captured.err
        assert code == 1, (offset, bad, text)
        for name in bad:  # (a damaged schema_migrations stops the migration: checked read-only, still named)
            assert f"table {name} is damaged" in text, (offset, bad, text)
        assert "0 missing, 0 altered, 0 damaged" not in text
        shutil.rmtree(path.parent)
    assert cases >= 8, f"only {cases} flipped bytes broke a table read"


# -- item 5: a file that does not open, a read-only volume: one plain sentence, never a traceback ------------------

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    import sys

    # a timeout guards against `serve` starting a server when it should have refused
    return subprocess.run([sys.executable, "-m", "sop_core", *argv], capture_output=True, text=True, env=_env(),
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("offset", [8, 100, 4096 + 100, 3 * 4096 + 1000], ids=["magic", "main header",
                                                                              "database header", "catalog"])
def test_a_damaged_header_or_catalog_is_one_sentence_naming_the_backup(pristine: Path, tmp_path: Path, offset: int,
                                                                       capsys) -> None:
    path = _copy(pristine, tmp_path / "w")
    _flip(path, offset)
    newest = list_backups(path.parent / "backups")[-1]
    with pytest.raises(WorkspaceCorrupt) as caught:
        Workspace(path)
    assert str(newest) in str(caught.value) and str(path.parent) not in caught.value.public_message
    for command in ("status", "check"):
        assert cli.main(["--workspace", str(path), command]) == 2, command
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.startswith(f"error: the workspace file {path} is damaged and cannot be used"), err
        assert f"restore the newest backup with `python -m sop_core restore {newest} --to NEW_FILE`" in err
        assert "point SOP_WORKSPACE at the new file" in err and len(err.splitlines()) == 1


def test_serve_on_a_damaged_file_refuses_with_the_same_sentence(pristine: Path, tmp_path: Path) -> None:
    path = _copy(pristine, tmp_path / "w")
    _flip(path, 100)
    for command in ("status", "check", "serve"):
        run = _run("--workspace", str(path), command)
        assert run.returncode == 2, (command, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr and "_duckdb" not in run.stderr
        assert f"error: the workspace file {path} is damaged and cannot be used" in run.stderr
        assert "python -m sop_core restore" in run.stderr


def _damage_table(pristine: Path, dest: Path, name: str) -> Path:
    """A copy in which only table `name` no longer reads (a byte flipped every 24 KiB until one does)."""
    for offset in range(4096 * 3 + 100, pristine.stat().st_size, 24576):
        path = _copy(pristine, dest / f"at-{offset}")
        _flip(path, offset)
        if _unreadable_tables(path) == [name]:
            return path
        shutil.rmtree(path.parent)
    pytest.fail(f"no flipped byte made only {name} unreadable")


def test_a_table_damaged_under_status_is_a_sentence_pointing_to_check(pristine: Path, tmp_path: Path,
                                                                      capsys) -> None:
    path = _damage_table(pristine, tmp_path, "loads")  # `status` reads the last loads
    assert cli.main(["--workspace", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the workspace file {path} is damaged") and "`python -m sop_core check`" in err


@pytest.fixture
def read_only_volume(tmp_path: Path):
    """A folder on a tmpfs mount holding a workspace (a decision saved), then remounted read-only; skip without mount."""
    import subprocess

    folder = tmp_path / "vol"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here (the monkeypatched test covers the read-only volume)")
    try:
        with Workspace(folder / "w.duckdb") as ws:
            D.record(ws, title="Add a shift", owner="ops", due_date="2099-01-01", author="planner")
        assert subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True).returncode == 0
        yield folder / "w.duckdb"
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_on_a_read_only_volume_status_and_check_work_and_writes_say_what_to_do(read_only_volume: Path,
                                                                             capsys) -> None:
    path = read_only_volume
    with pytest.raises(OSError):
        (path.parent / "probe").write_text("x")  # the volume is really read-only
    assert cli.main(["--workspace", str(path), "status"]) == 0
    captured = capsys.readouterr()
    assert f"workspace: {path}" in captured.out
    assert "is on a read-only volume (Read-only file system); opening it read-only" in captured.err
    assert cli.main(["--workspace", str(path), "check"]) == 0
    captured = capsys.readouterr()
    assert "(opened read-only)" in captured.out and "1 events in the ledger, 1 in the database, 0 missing" in captured.out
    assert cli.main(["--workspace", str(path), "demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: the workspace folder {path.parent} is on a read-only volume"), err
    assert "mount it writable, or point SOP_WORKSPACE (or --workspace) at a copy on a writable volume" in err
    run = _run("--workspace", str(path), "serve")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "is on a read-only volume" in run.stderr and "point SOP_WORKSPACE" in run.stderr


def test_a_read_only_volume_simulated_status_reads_and_writes_are_refused(tmp_path: Path, monkeypatch,
                                                                        capsys) -> None:
    """Without mount rights: the lock file cannot be created (EROFS), as on a read-only volume."""
    import errno
    import os

    from sop_core.store import lock as store_lock

    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        D.record(ws, title="Add a shift", owner="ops", due_date="2099-01-01", author="planner")
    real_open = os.open

    def read_only_open(file, flags, *a, **k):
        if str(file).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, flags, *a, **k)

    monkeypatch.setattr(store_lock.os, "open", read_only_open)
    assert cli.main(["--workspace", str(path), "status"]) == 0
    assert "opening it read-only" in capsys.readouterr().err
    assert cli.main(["--workspace", str(path), "check"]) == 0
    assert "0 missing, 0 altered, 0 damaged tables" in capsys.readouterr().out
    for command in ("demo", "backup"):
        assert cli.main(["--workspace", str(path), command]) == 2
        assert "is on a read-only volume (Read-only file system), so the workspace cannot be opened for changes" in \
            capsys.readouterr().err
    ws = Workspace(path, read_only=True)
    try:
        assert ws.scalar("SELECT count(*) FROM decisions") == 1
        with pytest.raises(Exception, match="open read-only: nothing can be saved"):
            D.record(ws, title="x", owner="o", due_date="2099-01-01", author="a")
    finally:
        ws.close()


def test_the_locked_message_for_a_page_names_no_pid_host_or_path(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from sop_core.store.lock import WorkspaceLocked

    path = tmp_path / "w.duckdb"
    code = ("import sys, time; from sop_core.store.workspace import Workspace; ws = Workspace(sys.argv[1]); "
            "print('holding', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=_env(),
                              cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(WorkspaceLocked) as caught:
            Workspace(path)
    finally:
        holder.kill()
        holder.wait()
    full, public = str(caught.value), caught.value.public_message
    assert f"PID {holder.pid}" in full and socket.gethostname() in full and str(path) in full  # CLI and server log
    for secret in (str(holder.pid), socket.gethostname(), str(path), str(tmp_path), os.sep + "w.duckdb"):
        assert secret not in public
    assert public.startswith("This workspace is in use by another server")

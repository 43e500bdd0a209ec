"""A damaged workspace file (issue 13 items 4 and 5): `check` and the start-up check read every table to its end.

DuckDB keeps a checksum per block of the file and verifies it only when the block is read, so a
flipped byte in a table's data is noticed only by reading that table. The tests flip bytes in a
checkpointed workspace file (a copy per case) and assert that `check` exits 1 naming the table and
the backup that holds it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sop_core import cli, ledger
from sop_core import decisions as D
from sop_core.backup import backup, list_backups
from sop_core.workspace import Provenance, Workspace

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
        problems = ledger.startup_check(ws)
        report = ledger.check(ws)
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

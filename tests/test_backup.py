"""Backup and restore round trips (catalogue case 48), refusals, and the CLI commands."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sop_core.cli import main as cli
from sop_core.demand import overrides as O
from sop_core.intake.load import load
from sop_core.meetings import decisions as D
from sop_core.meetings import versions as V
from sop_core.store import ledger, recovery
from sop_core.store.backup import BackupError, backup, event_ids, read_manifest, restore, table_digests
from sop_core.store.paths import list_backups
from sop_core.store.workspace import Workspace, WorkspaceLocked

JAN, FEB = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")


def populate(ws: Workspace) -> None:
    """Loads, overrides with consensus, an approved version, decisions: every kind of table with data."""
    sales = "date,sku,region,quantity\n" + "".join(f"2025-{m:02d}-01,a,N,{10 + m}\n" for m in range(1, 13))
    assert load(ws, "sales.csv", sales.encode(), "sales").ok
    assert load(ws, "products.csv", b"sku,family,unit_price,unit_cost\na,Tents,120.5,40\nb,Tents,99.99,30\n",
                "products").ok
    stat = pd.DataFrame({"series_id": ["a | N"] * 2, "sku": ["a"] * 2, "region": ["N"] * 2, "family": ["Tents"] * 2,
                         "period": [JAN, FEB], "value": [100.0, 110.0], "lower": 0.0, "upper": 0.0,
                         "model": "naive"})
    O.save_override(ws, "run-1", stat, O.OverrideInput(sku="a", period_from=JAN, period_to=FEB, kind="percent",
                                                       value=12.5, reason="Promotion", comment="it's \"quoted\"\n",
                                                       event_id="ov"), "alice")
    V.approve(ws, pd.DataFrame({"sku": ["a", "b"], "family": "Tents", "period": [JAN, FEB], "units": [5.0, 7.0]}),
              name="May S&OP", scenario_id=None, fingerprints={"sales": ws.fingerprint(["sales"])},
              approved_by="ceo", event_id="v1")
    d = D.record(ws, title="Add a shift", owner="ops", due_date="2099-01-01", author="dan", event_id="d1")
    D.set_status(ws, d, "in progress", "dan")


def digests(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_digests(con)
    finally:
        con.close()


@pytest.mark.parametrize("method", ["export", "copy"])
def test_backup_and_restore_round_trip(tmp_path: Path, method: str) -> None:
    src = tmp_path / "live.duckdb"
    with Workspace(src) as ws:
        populate(ws)
        folder = backup(ws, tmp_path / "backups", method=method)
        counts = {t: int(ws.scalar(f'SELECT count(*) FROM "{t}"')) for t in ("sales", "overrides", "consensus",
                                                                             "plan_version_lines", "audit_log")}
    manifest = read_manifest(folder)
    assert manifest["method"] == method and manifest["audit_events"] == counts["audit_log"]
    assert {t: manifest["tables"][t]["rows"] for t in counts} == counts
    target = restore(folder, tmp_path / "restored.duckdb")
    assert digests(target) == digests(src)  # every table: same row count and content hash
    with Workspace(target) as ws:
        assert recovery.check(ws).ok and not recovery.check(ws).not_in_ledger
        v = V.latest(ws)
        assert v is not None and V.verify(ws, v.version_id)
        assert O.history(ws)["comment"].tolist() == ['it\'s "quoted"']
        D.record(ws, title="works after restore", owner="o", due_date="2099-01-01", author="a")


def test_restore_never_overwrites(tmp_path: Path) -> None:
    with Workspace(tmp_path / "live.duckdb") as ws:
        ws.set_setting("x", 1)
        folder = backup(ws, tmp_path / "b")
        with pytest.raises(BackupError, match="already exists: restore into a new file"):
            restore(folder, ws.path)  # the workspace in use
    (tmp_path / "other.duckdb").write_bytes(b"precious")
    with pytest.raises(BackupError, match="already exists"):
        restore(folder, tmp_path / "other.duckdb")
    assert (tmp_path / "other.duckdb").read_bytes() == b"precious"


def test_restore_target_being_opened_by_a_server_is_refused(tmp_path: Path, monkeypatch) -> None:
    with Workspace(tmp_path / "live.duckdb") as ws:
        folder = backup(ws, tmp_path / "b")
    import sop_core.store.backup as B

    def locked(path):
        raise WorkspaceLocked("store locked by PID 4242 on host h — stop it, or set SOP_WORKSPACE to another file")

    monkeypatch.setattr(B, "acquire", locked)
    with pytest.raises(WorkspaceLocked, match="PID 4242"):
        restore(folder, tmp_path / "new.duckdb")
    assert not (tmp_path / "new.duckdb").exists()


@pytest.mark.parametrize("damage", ["data file", "manifest hash", "missing file"])
def test_damaged_backup_is_refused_and_nothing_is_written(tmp_path: Path, damage: str) -> None:
    with Workspace(tmp_path / "live.duckdb") as ws:
        populate(ws)
        folder = backup(ws, tmp_path / "b")
    if damage == "data file":
        part = next((folder / "db").glob("sales*.parquet"))
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))
        expected = "is damaged: changed db/sales"
    elif damage == "manifest hash":
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["tables"]["overrides"]["sha256"] = "0" * 64
        (folder / "manifest.json").write_text(json.dumps(manifest))
        expected = "table overrides content differs from the backup's hash"
    else:
        (folder / "events.txt").unlink()
        expected = "is damaged: missing events.txt"
    target = tmp_path / "restored.duckdb"
    with pytest.raises(BackupError, match=expected):
        restore(folder, target)
    assert not target.exists() and not ledger.ledger_path(target).exists()
    assert not list(tmp_path.glob(".restored.duckdb.restoring*"))


def test_backup_taken_while_saving_is_one_consistent_point(tmp_path: Path) -> None:
    stop = threading.Event()
    with Workspace(tmp_path / "live.duckdb") as ws:
        def saver() -> None:
            i = 0
            while not stop.is_set():
                D.record(ws, title=f"t{i}", owner="o", due_date="2099-01-01", author="a")
                i += 1

        t = threading.Thread(target=saver)
        t.start()
        try:
            folders = [backup(ws, tmp_path / "b") for _ in range(3)]
        finally:
            stop.set()
            t.join()
    for n, folder in enumerate(folders):
        target = restore(folder, tmp_path / f"r{n}.duckdb")
        with Workspace(target) as rws:
            report = recovery.check(rws)
            assert report.ok and not report.not_in_ledger  # database, event list and ledger agree
            assert event_ids(folder) == set(rws.query("SELECT event_id FROM audit_log")["event_id"])
    assert list_backups(tmp_path / "b") == sorted(folders)


def test_cli_backup_restore_and_check(tmp_path: Path, capsys) -> None:
    live = tmp_path / "live.duckdb"
    with Workspace(live) as ws:
        populate(ws)
    assert cli.main(["--workspace", str(live), "backup", "--to", str(tmp_path / "bk")]) == 0
    out = capsys.readouterr().out
    folder = Path(out.split("backup written: ")[1].splitlines()[0])
    assert folder.is_dir() and "restore with: python -m sop_core restore" in out
    assert cli.main(["restore", str(folder), "--to", str(tmp_path / "new.duckdb")]) == 0
    assert "every table matches" in capsys.readouterr().out
    assert cli.main(["restore", str(folder), "--to", str(tmp_path / "new.duckdb")]) == 1
    assert "already exists" in capsys.readouterr().err
    with Workspace(live) as ws:  # a save after the backup, then lost from the restored copy's point of view
        later = D.record(ws, title="after the backup", owner="o", due_date="2099-01-01", author="a")
    code = cli.main(["--workspace", str(tmp_path / "new.duckdb"), "check", "--ledger",
                     str(ledger.ledger_path(live)), "--backups", str(tmp_path / "bk")])
    out = capsys.readouterr().out
    assert code == 1 and "1 saved change is in the audit ledger" in out and f"decision {later} by a" in out
    assert "not in any backup; its full detail is in the ledger line" in out

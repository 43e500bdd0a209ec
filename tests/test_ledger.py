"""The append-only audit ledger outside the database, and the start-up check against it."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sop_core.cli import main as cli
from sop_core.demand import overrides as O
from sop_core.intake.load import load
from sop_core.meetings import decisions as D
from sop_core.meetings import versions as V
from sop_core.planning import scenarios as S
from sop_core.store import ledger, recovery
from sop_core.store.backup import backup
from sop_core.store.workspace import Workspace

JAN = pd.Timestamp("2026-01-01")


def stat() -> pd.DataFrame:
    return pd.DataFrame({"series_id": ["a | N"], "sku": ["a"], "region": ["N"], "family": ["F"], "period": [JAN],
                         "value": [100.0], "lower": [0.0], "upper": [0.0], "model": ["naive"]})


def every_kind_of_change(ws: Workspace) -> None:
    """One of each audited change: load, setting, override, undo, scenario, approval, decision, status."""
    assert load(ws, "p.csv", b"sku,family,unit_price,unit_cost\na,F,2,1\n", "products").ok
    ws.set_setting("override_reasons", ["Promotion", "Other"])
    o = O.save_override(ws, "run", stat(), O.OverrideInput(sku="a", period_from=JAN, period_to=JAN, kind="percent",
                                                           value=10, reason="Promotion", event_id="ov-1"), "alice")
    O.undo(ws, o.override_id, "bob", statistical=stat())
    S.create(ws, "Promo", {"demand": [{"family": "F", "pct": 5}]}, "carol", event_id="sc-1")
    V.approve(ws, pd.DataFrame({"sku": ["a"], "family": ["F"], "period": [JAN], "units": [5.0]}), name="v",
              scenario_id=None, fingerprints={}, approved_by="ceo", event_id="v-1")
    d = D.record(ws, title="Hire", owner="ops", due_date="2099-01-01", author="dan", event_id="d-1")
    D.set_status(ws, d, "done", "dan")


def ledger_ids(ws: Workspace) -> list[str]:
    return [e.event_id for e in ledger.read(ledger.ledger_path(ws.path)).entries]


def test_every_audited_change_is_in_the_ledger(workspace: Workspace) -> None:
    every_kind_of_change(workspace)
    db = workspace.query('SELECT event_id, kind FROM audit_log ORDER BY "at"')
    assert len(db) >= 8
    assert ledger_ids(workspace) == db["event_id"].tolist()
    kinds = set(db["kind"])
    assert {"load", "setting", "override", "override_undo", "scenario", "plan_approved", "decision",
            "decision_status"} <= kinds
    report = recovery.check(workspace)
    assert report.ok and not report.missing and not report.not_in_ledger and not report.altered
    line = json.loads(ledger.ledger_path(workspace.path).read_text().splitlines()[0])
    assert {"event_id", "at", "author", "kind", "subject", "detail", "digest"} <= set(line)


def test_ledger_file_sits_next_to_the_workspace(tmp_path: Path) -> None:
    with Workspace(tmp_path / "plan.duckdb") as ws:
        ws.set_setting("x", 1)
    assert (tmp_path / "plan.duckdb.ledger.jsonl").is_file()


def test_rolled_back_and_refused_saves(workspace: Workspace) -> None:
    with pytest.raises(ValueError):
        with workspace.transaction() as cur:
            workspace.audit(cur, "setting", "x", {})
            raise ValueError("validation failed")
    assert ledger_ids(workspace) == []
    d = D.record(workspace, title="Hire", owner="ops", due_date="2099-01-01", author="dan")
    with pytest.raises(D.StaleDecision):
        D.set_status(workspace, d, "done", "eve", expected_status="in progress")
    kinds = [e.kind for e in ledger.read(ledger.ledger_path(workspace.path)).entries]
    assert kinds == ["decision", "decision_refused"]  # the refused attempt is audited, in both places


def test_double_click_is_one_ledger_line(workspace: Workspace) -> None:
    for _ in range(3):
        D.record(workspace, title="Hire", owner="ops", due_date="2099-01-01", author="dan", event_id="same")
    assert len(ledger_ids(workspace)) == 1


def test_lost_and_altered_events_are_reported(workspace: Workspace) -> None:
    ids = [D.record(workspace, title=f"t{i}", owner="ops", due_date="2099-01-01", author="dan") for i in range(4)]
    events = ledger_ids(workspace)
    workspace.execute("DELETE FROM audit_log WHERE event_id = ?", [events[1]])
    workspace.execute("UPDATE audit_log SET detail = '{}' WHERE event_id = ?", [events[2]])
    report = recovery.check(workspace)
    assert not report.ok
    assert [e.event_id for e in report.missing] == [events[1]]
    assert [e.event_id for e in report.altered] == [events[2]]
    text = "\n".join(report.problems())
    assert "1 saved change is in the audit ledger" in text and "missing from the database" in text
    assert f"decision {ids[1]} by dan" in text and "its full detail is in the ledger line 2" in text
    assert "1 audit event differs" in text
    missing = list(recovery.iter_missing(report))
    assert missing[0]["detail"]["title"] == "t1" and missing[0]["ledger_line"] == 2
    assert recovery.startup_check(workspace) == report.problems()


def test_events_from_before_the_ledger_are_a_note_and_get_adopted(workspace: Workspace) -> None:
    for i in range(3):
        workspace.set_setting(f"k{i}", i)
    workspace.ledger.close()
    ledger.ledger_path(workspace.path).unlink()
    report = recovery.check(workspace)
    assert report.ok and len(report.not_in_ledger) == 3 and not report.ledger_exists
    assert "earlier events are only in the database" in report.notes()[0]
    assert recovery.startup_check(workspace) == []
    after = recovery.check(workspace)
    assert after.ok and not after.not_in_ledger and after.ledger_events == 3
    assert {e.source for e in ledger.read(ledger.ledger_path(workspace.path)).entries} == {"adopted"}
    workspace.execute("DELETE FROM audit_log WHERE subject = 'k1'")
    assert len(recovery.check(workspace).missing) == 1  # adopted events are protected from now on


def test_torn_last_line_is_tolerated_and_repaired(workspace: Workspace) -> None:
    workspace.set_setting("a", 1)
    path = ledger.ledger_path(workspace.path)
    workspace.ledger.close()
    with open(path, "ab") as fh:
        fh.write(b'{"v":1,"event_id":"cut-off-by-a-cra')  # a crash in the middle of an append
    report = recovery.check(workspace)
    assert report.ok and report.torn_tail and "cut off by a crash" in " ".join(report.notes())
    workspace.set_setting("b", 2)  # the next append starts on a fresh line
    scan = ledger.read(path)
    assert [e.subject for e in scan.entries] == ["a", "b"] and scan.damaged_lines == [2] and not scan.torn_tail


def test_an_edited_ledger_line_is_reported(workspace: Workspace) -> None:
    for i in range(3):
        workspace.set_setting(f"k{i}", i)
    path = ledger.ledger_path(workspace.path)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"author":null', '"author":"mallory"')
    path.write_text("".join(lines))
    report = recovery.check(workspace)
    assert report.damaged_lines == [2] and not report.ok
    assert "damaged line(s) (line 2)" in "\n".join(report.problems())


def test_missing_event_names_the_backup_that_holds_it(workspace: Workspace, tmp_path: Path) -> None:
    D.record(workspace, title="kept in the backup", owner="ops", due_date="2099-01-01", author="dan")
    folder = backup(workspace, tmp_path / "backups")
    event = ledger_ids(workspace)[0]
    workspace.execute("DELETE FROM audit_log")
    report = recovery.check(workspace, backups=[folder])
    assert report.restorable_from == {event: [str(folder)]}
    assert f"in backup {folder} (restore it with `python -m sop_core restore {folder}" in "\n".join(report.problems())


def test_cli_check_exit_codes(tmp_path: Path, capsys) -> None:
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        D.record(ws, title="Hire", owner="ops", due_date="2099-01-01", author="dan")
    assert cli.main(["--workspace", str(path), "check"]) == 0
    assert "0 missing, 0 altered" in capsys.readouterr().out
    with Workspace(path) as ws:
        ws.execute("DELETE FROM audit_log")
    assert cli.main(["--workspace", str(path), "check", "--json"]) == 1
    out = capsys.readouterr().out
    assert "missing from the database" in out and '"title": "Hire"' in out


def test_cli_check_recovers_from_a_damaged_wal(tmp_path: Path, capsys) -> None:
    from benchmarks import durability_bench as bench

    path, ids, _ = bench.damage_wal(tmp_path, commits=6, how="refuse")
    assert cli.main(["--workspace", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert "write-ahead log" in err and "--recover-wal" in err and "Traceback" not in err
    assert cli.main(["--workspace", str(path), "check", "--recover-wal"]) == 1
    captured = capsys.readouterr()
    assert "6 saved changes are in the audit ledger" in captured.out
    assert all(i in captured.out for i in ids)
    assert "damaged write-ahead log was moved to" in captured.err
    assert sorted(tmp_path.glob("wal-refuse.duckdb.wal.damaged-*"))
    Workspace(path).close()  # the last checkpoint opens normally now


def test_values_are_recorded_as_the_database_stores_them(workspace: Workspace) -> None:
    with workspace.transaction() as cur:
        workspace.audit(cur, "setting", 42, {"n": 1}, author=None)  # a non-text subject becomes VARCHAR '42'
    assert recovery.check(workspace).ok


def unwritable_ledger(ws: Workspace) -> Path:
    """Make the workspace's ledger unwritable (a folder where the file should be); returns its path."""
    ws.ledger.close()
    path = ledger.ledger_path(ws.path)
    path.unlink(missing_ok=True)
    path.mkdir()
    return path


def test_a_save_without_its_ledger_line_is_not_confirmed(workspace: Workspace, caplog) -> None:
    """Issue 13 item 8: the save raises SaveNotConfirmed saying plainly the row is stored but unconfirmed."""
    workspace.set_setting("before", 1)
    path = ledger.ledger_path(workspace.path)
    saved = path.read_bytes()
    unwritable_ledger(workspace)
    with pytest.raises(ledger.SaveNotConfirmed) as info:
        workspace.set_setting("still", "saved")
    text = str(info.value)
    assert text.startswith("Save not confirmed: the change is in the database") and str(path) in text
    assert "does not count as saved" in text and "IsADirectoryError" in text and "python -m sop_core check" in text
    assert workspace.get_setting("still") == "saved"  # the row exists, unacknowledged
    assert workspace.ledger.failures == 1 and "could not record 1 committed event" in caplog.text
    (event,) = info.value.event_ids
    path.rmdir()
    path.write_bytes(saved)
    report = recovery.check(workspace)  # check says the same thing: in the database, never confirmed
    assert report.ok and report.not_in_ledger == [event]
    note = " ".join(report.notes())
    assert "1 database event is not in the ledger (never confirmed" in note and event in note
    workspace.set_setting("next", 2)  # the ledger takes lines again: the owed line is written first
    assert [e.subject for e in ledger.read(path).entries] == ["before", "still", "next"]
    assert recovery.check(workspace).not_in_ledger == [] and workspace.ledger.unconfirmed == []


def test_a_failed_append_leaves_no_half_line(workspace: Workspace, monkeypatch) -> None:
    """Disk full in the middle of a line: the file is cut back, the save is not confirmed, the next line is clean."""
    import errno
    import os

    workspace.set_setting("a", 1)
    path = ledger.ledger_path(workspace.path)
    size = path.stat().st_size
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ledger.os, "fsync", full_disk)
    with pytest.raises(ledger.SaveNotConfirmed, match="No space left on device"):
        workspace.set_setting("b", 2)
    assert path.stat().st_size == size  # nothing half-written stays behind
    monkeypatch.setattr(ledger.os, "fsync", real_fsync)
    workspace.set_setting("c", 3)
    scan = ledger.read(path)
    assert [e.subject for e in scan.entries] == ["a", "b", "c"] and not scan.damaged_lines and not scan.torn_tail


def test_a_failing_append_is_never_an_acknowledged_save(workspace: Workspace, monkeypatch) -> None:
    """Whatever append raises, the caller gets SaveNotConfirmed, never a normal return."""
    def broken(self, events, source="commit"):
        raise ledger.LedgerAppendFailed("PermissionError: [Errno 13] Permission denied")

    monkeypatch.setattr(ledger.Ledger, "append", broken)
    with pytest.raises(ledger.SaveNotConfirmed, match="Permission denied"):
        D.record(workspace, title="Hire", owner="ops", due_date="2099-01-01", author="dan")
    assert workspace.scalar("SELECT count(*) FROM decisions") == 1


def test_a_retried_save_confirms_once_the_ledger_is_back(workspace: Workspace) -> None:
    """A repeated event_id returns the stored row: it is acknowledged only once its ledger line is written."""
    path = unwritable_ledger(workspace)
    with pytest.raises(ledger.SaveNotConfirmed):
        D.record(workspace, title="Hire", owner="ops", due_date="2099-01-01", author="dan", event_id="e-1")
    with pytest.raises(ledger.SaveNotConfirmed):  # still no ledger: the retry is not confirmed either
        D.record(workspace, title="Hire", owner="ops", due_date="2099-01-01", author="dan", event_id="e-1")
    path.rmdir()
    decision = D.record(workspace, title="Hire", owner="ops", due_date="2099-01-01", author="dan", event_id="e-1")
    assert workspace.scalar("SELECT count(*) FROM decisions") == 1
    assert [e.subject for e in ledger.read(path).entries] == [decision]
    assert recovery.check(workspace).not_in_ledger == []


def test_unconfirmed_lines_are_written_when_the_workspace_closes(tmp_path: Path, capsys) -> None:
    path = tmp_path / "w.duckdb"
    ws = Workspace(path)
    folder = unwritable_ledger(ws)
    with pytest.raises(ledger.SaveNotConfirmed):
        ws.set_setting("x", 1)
    folder.rmdir()
    ws.close()
    assert [e.subject for e in ledger.read(folder).entries] == ["x"]
    assert cli.main(["--workspace", str(path), "check"]) == 0
    assert "0 missing, 0 altered" in capsys.readouterr().out


def test_the_command_line_check_reports_an_unconfirmed_save(tmp_path: Path, capsys) -> None:
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        ws.set_setting("a", 1)
        saved = ws.ledger.path.read_bytes()
        folder = unwritable_ledger(ws)
        with pytest.raises(ledger.SaveNotConfirmed):
            ws.set_setting("b", 2)
    folder.rmdir()
    folder.write_bytes(saved)  # as it was when the save failed
    assert cli.main(["--workspace", str(path), "check"]) == 0  # not an error: never acknowledged, not lost
    out = capsys.readouterr().out
    assert "1 database event is not in the ledger (never confirmed" in out and "0 missing, 0 altered" in out

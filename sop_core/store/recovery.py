"""The check of the database against the audit ledger: what was lost, altered or never confirmed, and
which tables are damaged, with the backups that hold them; adopting unconfirmed events; the start-up check.

`check(ws)` compares the ledger with the `audit_log` table:
- missing: in the ledger but not in the database — acknowledged changes that were lost (e.g. a
  damaged write-ahead log that DuckDB replays only partly, silently). This is an error.
- altered: in both, but the database row no longer matches the ledger digest. An error.
- not_in_ledger: in the database only — saves whose ledger line could not be written (the user got
  `SaveNotConfirmed`), a crash between COMMIT and the ledger append, or events from before the
  ledger existed: never acknowledged. Reported, not an error.
- damaged_lines: ledger lines that do not parse or whose digest does not match (a torn last
  line after a crash is normal and counted separately as `torn_tail`).
- damaged_tables: tables of the database that cannot be read in full (a damaged block of the
  workspace file: DuckDB's block checksum fails only when that block is read, so every table is
  read to the end), each with the newest backup holding it. An error.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sop_core.store import backup as backup_mod
from sop_core.store.ledger import EXAMPLES, LedgerEntry, digest, fsync_dir, ledger_path, read
from sop_core.store.paths import default_dir, list_backups
from sop_core.store.workspace import QueryStopped, Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DamagedTable:
    """A table of the workspace that cannot be read to the end, and the newest backup that holds it."""

    name: str
    error: str
    backup: str | None = None
    backup_rows: int | None = None
    backup_at: str | None = None

    def message(self) -> str:
        """What is damaged and what to do, for the user."""
        text = (f"table {self.name} is damaged: reading it fails ({self.error}) — the workspace file is damaged "
                "where it stores this table.")
        if self.backup:
            when = f", {self.backup_at[:16].replace('T', ' ')} UTC" if self.backup_at else ""
            rows = f"{self.backup_rows:,} rows" if self.backup_rows is not None else "its rows"
            return (f"{text} The newest backup holding it is {self.backup} ({rows}{when}): restore it with "
                    f"`python -m sop_core restore {self.backup} --to NEW_FILE` and point SOP_WORKSPACE at the new "
                    "file; `python -m sop_core check --ledger` with this workspace's ledger then lists the saves "
                    "made after that backup.")
        return (f"{text} No backup holds it: restore another copy of the workspace file, or reload the table's "
                "data from its source file into a new workspace.")


def scan_tables(ws: Workspace) -> tuple[dict[str, str], list[str]]:
    """Read every base table of the workspace to its last row, every column.

    Returns ({table: error} for the tables that cannot be read, [tables not checked because a read
    limit stopped the scan]). A damaged block of the file is only noticed when it is read.
    """
    names = [str(n) for n in ws.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY table_name")["table_name"]]
    damaged: dict[str, str] = {}
    unchecked: list[str] = []
    for name in names:
        ident = '"' + name.replace('"', '""') + '"'
        try:  # the hash of each whole row: every column's blocks are read (and their checksums verified)
            ws.scalar(f"SELECT count(*) + coalesce(bit_xor(hash(t)) % 2, 0) FROM {ident} AS t")
        except QueryStopped:
            unchecked.append(name)
        except Exception as exc:  # noqa: BLE001 - any failure to read a table to its end is damage
            damaged[name] = _first_line(exc)
    return damaged, unchecked


def _first_line(exc: BaseException) -> str:
    """The first line of an error, shortened (DuckDB's messages run over several lines)."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


@dataclass
class LedgerReport:
    """Ledger vs database: what is missing, altered, or only on one side."""

    ledger_path: Path
    ledger_exists: bool
    ledger_events: int
    db_events: int
    missing: list[LedgerEntry] = field(default_factory=list)
    altered: list[LedgerEntry] = field(default_factory=list)
    not_in_ledger: list[str] = field(default_factory=list)
    damaged_lines: list[int] = field(default_factory=list)
    torn_tail: bool = False
    restorable_from: dict[str, list[str]] = field(default_factory=dict)  # event_id -> backup folders holding it
    damaged_tables: list[DamagedTable] = field(default_factory=list)
    unchecked_tables: list[str] = field(default_factory=list)  # not read to the end: a read limit stopped it
    compared: bool = True  # False when the audit_log table cannot be read (it is then a damaged table)

    @property
    def ok(self) -> bool:
        """True when every table reads in full and every acknowledged change in the ledger is in it, unchanged."""
        return not self.missing and not self.altered and not self.damaged_lines and not self.damaged_tables

    def problems(self) -> list[str]:
        """Messages about damaged tables, lost or altered changes and a damaged ledger (empty when ok)."""
        out: list[str] = [t.message() for t in self.damaged_tables]
        if not self.compared:
            out.append(f"the saves in the audit ledger ({self.ledger_path}) could not be compared with the database, "
                       "whose audit_log table is damaged; check the restored file against this ledger with "
                       f"`python -m sop_core --workspace NEW_FILE check --ledger {self.ledger_path}`")
        if self.missing:
            n = len(self.missing)
            out.append(f"{n:,} saved {'change is' if n == 1 else 'changes are'} in the audit ledger "
                       f"({self.ledger_path}) but missing from the database — the database lost "
                       f"{'it' if n == 1 else 'them'} (e.g. a damaged write-ahead log):")
            out += [f"  missing: {e.label()} — {self._where(e)}" for e in self.missing[:EXAMPLES]]
            if n > EXAMPLES:
                out.append(f"  … and {n - EXAMPLES:,} more (run `python -m sop_core check` for the list)")
        if self.altered:
            n = len(self.altered)
            out.append(f"{n:,} audit {'event differs' if n == 1 else 'events differ'} between the database and the "
                       "ledger (changed after they were saved):")
            out += [f"  altered: {e.label()}" for e in self.altered[:EXAMPLES]]
        if self.damaged_lines:
            lines = ", ".join(map(str, self.damaged_lines[:EXAMPLES]))
            out.append(f"the audit ledger {self.ledger_path} has {len(self.damaged_lines):,} damaged "
                       f"line(s) (line {lines}) — it was edited or the disk is failing")
        return out

    def notes(self) -> list[str]:
        """Information that needs no action."""
        out: list[str] = []
        if not self.ledger_exists and self.db_events:
            out.append(f"no audit ledger yet at {self.ledger_path}: {self.db_events:,} earlier events are only in "
                       "the database")
        elif self.not_in_ledger:
            n = len(self.not_in_ledger)
            shown = ", ".join(self.not_in_ledger[:5]) + (", …" if n > 5 else "")
            out.append(f"{n:,} database {'event is' if n == 1 else 'events are'} not in the ledger (never "
                       "confirmed: a save whose ledger line could not be written — the user was told it was not "
                       "confirmed — or that was cut off between commit and ledger, or recorded before the ledger "
                       f"existed); not an error, the start-up check adds them to the ledger (events {shown})")
        if self.torn_tail:
            out.append("the ledger's last line was cut off by a crash while it was written (that save was not "
                       "acknowledged); ignored")
        if self.unchecked_tables:
            out.append(f"not read to the end (a read limit stopped it): {', '.join(self.unchecked_tables)}")
        return out

    def messages(self) -> list[str]:
        """Problems, then notes, then a one-line summary."""
        summary = (f"ledger check: {self.ledger_events:,} events in the ledger, {self.db_events:,} in the database, "
                   f"{len(self.missing):,} missing, {len(self.altered):,} altered")
        if not self.compared:
            summary = (f"ledger check: {self.ledger_events:,} events in the ledger, not compared (audit_log "
                       "unreadable)")
        summary += f", {len(self.damaged_tables):,} damaged table{'' if len(self.damaged_tables) == 1 else 's'}"
        return self.problems() + self.notes() + [summary]

    def _where(self, e: LedgerEntry) -> str:
        backups = self.restorable_from.get(e.event_id)
        if backups:
            return (f"in backup {backups[-1]} (restore it with `python -m sop_core restore {backups[-1]} --to "
                    "NEW_FILE`)")
        return f"not in any backup; its full detail is in the ledger line {e.line}"


def db_events(ws: Workspace) -> list[tuple[str, str]]:
    """(event_id, digest) of every audit_log row."""
    rows = ws.query('SELECT event_id, "at", author, kind, subject, detail FROM audit_log')
    out = []
    for event_id, at, author, kind, subject, detail in rows.itertuples(index=False, name=None):
        at_py = at.to_pydatetime() if hasattr(at, "to_pydatetime") else at
        out.append((str(event_id), digest(str(event_id), at_py, _none(author), str(kind), _none(subject),
                                          _none(detail))))
    return out


def _none(v: Any) -> Any:
    """None for NULL/NaN cells."""
    if v is None:
        return None
    try:
        if v != v:  # NaN
            return None
    except (TypeError, ValueError):
        pass
    return v


def check(ws: Workspace, ledger_file: str | Path | None = None,
          backups: Iterable[str | Path] | None = None) -> LedgerReport:
    """Read every table in full, then compare the ledger (the workspace's, or `ledger_file`) with audit_log.

    `backups`: backup folders to search for missing events and damaged tables (default:
    `<workspace dir>/backups`).
    """
    path = Path(ledger_file) if ledger_file is not None else ledger_path(ws.path)
    scan = read(path)
    damaged, unchecked = scan_tables(ws)
    in_db: dict[str, str] = {}
    if "audit_log" not in damaged:
        try:
            in_db = dict(db_events(ws))
        except Exception as exc:  # noqa: BLE001 - unreadable: reported as a damaged table
            damaged["audit_log"] = _first_line(exc)
    ledger_ids: dict[str, LedgerEntry] = {}
    for e in scan.entries:
        ledger_ids.setdefault(e.event_id, e)
    report = LedgerReport(ledger_path=path, ledger_exists=scan.exists, ledger_events=len(ledger_ids),
                          db_events=len(in_db), damaged_lines=scan.damaged_lines, torn_tail=scan.torn_tail,
                          unchecked_tables=unchecked, compared="audit_log" not in damaged)
    if report.compared:
        for event_id, e in ledger_ids.items():
            stored = in_db.get(event_id)
            if stored is None:
                report.missing.append(e)
            elif stored != e.digest:
                report.altered.append(e)
        report.not_in_ledger = [i for i in in_db if i not in ledger_ids]
    folders: list[Path] | None = None
    if report.missing or damaged:
        folders = ([Path(f) for f in backups] if backups is not None
                   else list_backups(default_dir(ws.path)))
    if report.missing:
        wanted = {e.event_id for e in report.missing}
        for folder in folders or []:
            held = backup_mod.event_ids(folder) & wanted
            for event_id in held:
                report.restorable_from.setdefault(event_id, []).append(str(folder))
    for name, error in damaged.items():
        held = backup_mod.newest_holding(name, folders or [])
        report.damaged_tables.append(DamagedTable(
            name, error, str(held.folder) if held else None, held.rows if held else None,
            held.created_at if held else None))
    return report


def adopt(ws: Workspace, report: LedgerReport) -> int:
    """Append database events absent from the ledger to it (source 'adopted'); returns how many."""
    if not report.not_in_ledger:
        return 0
    wanted = set(report.not_in_ledger)
    rows = ws.query('SELECT event_id, "at", author, kind, subject, detail FROM audit_log ORDER BY "at", event_id')
    events = []
    for event_id, at, author, kind, subject, detail in rows.itertuples(index=False, name=None):
        if event_id in wanted:
            events.append({"event_id": str(event_id), "at": at.to_pydatetime() if hasattr(at, "to_pydatetime") else at,
                           "author": _none(author), "kind": str(kind), "subject": _none(subject),
                           "detail": _none(detail)})
    ws.ledger.append(events, source="adopted")
    return len(events)


def startup_check(ws: Workspace) -> list[str]:
    """Check the database against the ledger when the app opens the workspace; the problems ([] when none).

    Events found only in the database are adopted into the ledger, so a later loss of them is
    detected too. Never raises: a failing check is itself reported.
    """
    try:
        report = check(ws)
        if report.ok and report.not_in_ledger:
            adopt(ws, report)
        for note in report.notes():
            log.info("%s", note)
        problems = report.problems()
        for line in problems:
            log.error("%s", line)
        return problems
    except Exception as exc:  # noqa: BLE001 - the app must open; the failure is shown instead
        log.exception("start-up ledger check failed")
        return [f"the start-up check of the database against the audit ledger failed: {type(exc).__name__}: {exc}"]


def iter_missing(report: LedgerReport) -> Iterator[dict[str, Any]]:
    """The missing events as dicts (with their recorded detail) for printing or re-entry."""
    for e in report.missing:
        detail: Any = e.detail
        try:
            detail = json.loads(e.detail) if e.detail else None
        except ValueError:
            pass
        yield {"event_id": e.event_id, "at": e.at, "author": e.author, "kind": e.kind, "subject": e.subject,
               "detail": detail, "ledger_line": e.line, "backups": report.restorable_from.get(e.event_id, [])}


def set_aside_wal(workspace_path: str | Path) -> Path | None:
    """Move a damaged `<workspace>.wal` aside (kept, renamed) so the last checkpoint opens; its new path or None."""
    p = Path(workspace_path)
    wal = p.with_name(p.name + ".wal")
    if not wal.exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = wal.with_name(f"{wal.name}.damaged-{stamp}")
    n = 1
    while dest.exists():
        n += 1
        dest = wal.with_name(f"{wal.name}.damaged-{stamp}-{n}")
    os.replace(wal, dest)
    fsync_dir(p.parent)
    return dest

"""The append-only audit ledger kept OUTSIDE the database, and the start-up check against it.

Every audit event (override, undo, scenario, approval, decision, load, setting, …) is written by
`Workspace.audit` inside its transaction; after the COMMIT succeeds, the workspace hands the
events of that transaction to its `Ledger`, which appends one JSON line per event to
`<workspace>.ledger.jsonl` and fsyncs before the save returns. So every acknowledged change is in
two places: the database and the ledger. When the append fails (disk full, file not writable) the
save is NOT acknowledged: the transaction raises `SaveNotConfirmed`, which says plainly that the row
is in the database without its ledger line. The ledger keeps such events and writes them with its
next append (the next save, or closing the workspace), and the start-up check adopts whatever is
still only in the database; `check` lists them as "not in the ledger (never confirmed)".

Line fields: v, event_id, at, author, kind, subject, detail (the audit detail JSON as stored),
digest (SHA-256 of event_id, at, author, kind, subject and detail) and logged_at (wall clock of
the append). `source` is "adopted" for events copied from the database by `adopt`.

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

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .workspace import Workspace

log = logging.getLogger(__name__)
VERSION = 1
EXAMPLES = 20  # events listed one by one in messages


class LedgerAppendFailed(OSError):
    """The ledger file could not be appended to; nothing of that append is left in the file."""


class SaveNotConfirmed(RuntimeError):
    """A change committed to the database whose ledger line could not be written: stored, but not acknowledged.

    str() is the message for the user; `event_ids` are the audit events without a ledger line.
    """

    def __init__(self, message: str, event_ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.event_ids = list(event_ids)


def not_confirmed_message(path: Path, reason: str) -> str:
    """What a user is told when a save's ledger line could not be written."""
    return (f"Save not confirmed: the change is in the database (it shows after a reload), but its line in the "
            f"audit ledger {path} could not be written ({reason}), so it does not count as saved. Free disk space "
            "or make the ledger file writable: the line is then written with the next save (or when the workspace "
            "next opens); `python -m sop_core check` lists the change as in the database but not in the ledger "
            "(never confirmed).")


def ledger_path(workspace_path: str | Path) -> Path:
    """The ledger file of a workspace file: `<workspace>.ledger.jsonl`."""
    p = Path(workspace_path)
    return p.with_name(p.name + ".ledger.jsonl")


def _at_text(at: Any) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SS.ffffff' (the same text for Python and DuckDB values)."""
    if isinstance(at, datetime):
        return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return str(at)


def digest(event_id: str, at: Any, author: str | None, kind: str, subject: str | None, detail: str | None) -> str:
    """SHA-256 of an audit event's content, as stored in the database."""
    canon = json.dumps([event_id, _at_text(at), author, kind, subject, detail], ensure_ascii=False,
                       separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """One event as recorded in the ledger."""

    event_id: str
    at: str
    author: str | None
    kind: str
    subject: str | None
    detail: str | None
    digest: str
    line: int
    source: str = "commit"

    def label(self) -> str:
        """'override a1b2… by alice at 2026-05-02 10:02' for messages."""
        who = f" by {self.author}" if self.author else ""
        subject = f" {self.subject}" if self.subject else ""
        return f"{self.kind}{subject}{who} at {self.at[:16]} (event {self.event_id})"


@dataclass
class LedgerScan:
    """Everything read from a ledger file."""

    entries: list[LedgerEntry] = field(default_factory=list)
    damaged_lines: list[int] = field(default_factory=list)
    torn_tail: bool = False
    exists: bool = False


class Ledger:
    """Appends committed audit events to the workspace's ledger file (thread-safe, fsynced)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh: Any = None
        self.failures = 0  # appends that failed after a successful COMMIT (logged)
        self.unconfirmed: list[dict[str, Any]] = []  # committed events whose line could not be written yet

    def _open(self) -> Any:
        if self._fh is None:
            new = not self.path.exists()
            # unbuffered: a failed write leaves nothing in a buffer that a later flush could append
            self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for the workspace's life
            if self._fh.tell() > 0:
                self._repair_tail()
            if new:
                fsync_dir(self.path.parent)
        return self._fh

    def _repair_tail(self) -> None:
        """End a torn last line (a crash mid-append) with a newline so the next line stands alone."""
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
        if last != b"\n":
            _write_all(self._fh, b"\n")

    def append(self, events: Sequence[dict[str, Any]], source: str = "commit") -> None:
        """Write one line per event (after any still unconfirmed ones) and fsync.

        Raises LedgerAppendFailed when the lines cannot be written and made durable: the file is cut
        back to where it was, and the events are kept (with the earlier unconfirmed ones) for the
        next append. Events of another `source` (adopted) are not kept: the start-up check adopts again.
        """
        with self._lock:
            if not events and not self.unconfirmed:
                return
            pending = self.unconfirmed + (list(events) if source == "commit" else [])
            try:
                data = _lines(self.unconfirmed, "commit") + (_lines(events, source) if events else b"")
                self._write(data)
            except Exception as exc:  # noqa: BLE001 - any failure: the save is not confirmed
                self.failures += 1
                self.unconfirmed = pending
                ids = [str(e.get("event_id")) for e in pending]
                log.error("ledger %s: could not record %d committed event(s) %s: %s", self.path, len(ids),
                          ", ".join(ids[:5]), exc)
                raise LedgerAppendFailed(f"{type(exc).__name__}: {exc}") from exc
            self.unconfirmed = []

    def _write(self, data: bytes) -> None:
        """Append `data` and fsync; on failure cut the file back to its size before and close it."""
        fh = self._open()
        start = os.fstat(fh.fileno()).st_size
        try:
            _write_all(fh, data)
            os.fsync(fh.fileno())
        except BaseException:
            try:
                os.ftruncate(fh.fileno(), start)  # no half line for the next append to run into
            except OSError:
                pass  # the next open ends the torn line with a newline (_repair_tail)
            self._fh = None
            try:
                fh.close()
            except OSError:
                pass
            raise

    def close(self) -> None:
        """Write still unconfirmed events if the ledger takes them now (best effort), then close the file."""
        if self.unconfirmed:
            try:
                self.append([])
            except LedgerAppendFailed:
                pass  # logged; the next start-up check adopts them from the database
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def copy_to(self, dest: str | Path) -> int:
        """Copy the ledger as it is now to `dest` (fsynced); returns the bytes copied (0 when none)."""
        with self._lock:
            if not self.path.exists():
                Path(dest).write_bytes(b"")
                return 0
            data = self.path.read_bytes()
        with open(dest, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return len(data)


def _write_all(fh: Any, data: bytes) -> None:
    """Write every byte of `data` to an unbuffered file (a raw write may take only part of it)."""
    view = memoryview(data)
    while view:
        n = fh.write(view)
        if not n:
            raise OSError("the ledger file accepted no bytes")
        view = view[n:]


def _text(v: Any) -> str | None:
    """A value as the database stores it in a VARCHAR column (None stays None)."""
    return None if v is None else str(v)


def _lines(events: Sequence[dict[str, Any]], source: str) -> bytes:
    """The JSON lines for committed audit events."""
    logged = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    out = []
    for e in events:
        event_id, author, kind = str(e["event_id"]), _text(e.get("author")), str(e["kind"])
        subject, detail = _text(e.get("subject")), _text(e.get("detail"))
        rec = {"v": VERSION, "event_id": event_id, "at": _at_text(e["at"]), "author": author, "kind": kind,
               "subject": subject, "detail": detail, "digest": digest(event_id, e["at"], author, kind, subject, detail),
               "logged_at": logged}
        if source != "commit":
            rec["source"] = source
        out.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(out).encode("utf-8")


def fsync_dir(folder: Path) -> None:
    """Make a new directory entry durable (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read(path: str | Path) -> LedgerScan:
    """Parse a ledger file; damaged lines are listed, a torn last line is flagged, nothing raises."""
    scan = LedgerScan()
    p = Path(path)
    if not p.exists():
        return scan
    scan.exists = True
    with open(p, "rb") as fh:
        raw_lines = fh.read().split(b"\n")
    ends_clean = raw_lines[-1] == b""
    if ends_clean:
        raw_lines.pop()
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        entry = _parse(raw, number)
        if entry is None:
            if number == len(raw_lines) and not ends_clean:
                scan.torn_tail = True
            else:
                scan.damaged_lines.append(number)
            continue
        scan.entries.append(entry)
    return scan


def _parse(raw: bytes, number: int) -> LedgerEntry | None:
    """One ledger line, or None when it does not parse or its digest does not match its content."""
    try:
        rec = json.loads(raw.decode("utf-8"))
        entry = LedgerEntry(event_id=str(rec["event_id"]), at=str(rec["at"]), author=rec.get("author"),
                            kind=str(rec["kind"]), subject=rec.get("subject"), detail=rec.get("detail"),
                            digest=str(rec["digest"]), line=number, source=str(rec.get("source", "commit")))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    if digest(entry.event_id, entry.at, entry.author, entry.kind, entry.subject, entry.detail) != entry.digest:
        return None
    return entry


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
    from .workspace import QueryStopped  # local: workspace imports this module

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
    from . import backup as backup_mod  # local: backup imports this module

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
                   else backup_mod.list_backups(backup_mod.default_dir(ws.path)))
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

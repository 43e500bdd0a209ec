"""The append-only audit ledger kept OUTSIDE the database.

Every audit event (override, undo, scenario, approval, decision, load, setting, …) is written by
`Workspace.audit` inside its transaction; after the COMMIT succeeds, the workspace hands the
events of that transaction to its `Ledger`, which appends one JSON line per event to
`<workspace>.ledger.jsonl` and fsyncs before the save returns. So every acknowledged change is in
two places: the database and the ledger. When the append fails (disk full, file not writable) the
save is NOT acknowledged: the transaction raises `SaveNotConfirmed`, which says plainly that the row
is in the database without its ledger line. The ledger keeps such events and writes them with its
next append (the next save, or closing the workspace), and the start-up check (`recovery.startup_check`) adopts whatever is
still only in the database; `check` lists them as "not in the ledger (never confirmed)".

Line fields: v, event_id, at, author, kind, subject, detail (the audit detail JSON as stored),
digest (SHA-256 of event_id, at, author, kind, subject and detail) and logged_at (wall clock of
the append). `source` is "adopted" for events copied from the database by `adopt`.

The check of the database against the ledger (missing, altered and unconfirmed events, damaged
tables) is `sop_core.store.recovery`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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

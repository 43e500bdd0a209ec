"""The workspace database: one DuckDB file that owns connection, schema, migrations and every write.

Reads open a cursor per call; writes go through one serialised path (`transaction`), so a
Streamlit server with many sessions and threads never shares a cursor or interleaves writes.
Each read runs under a time limit ($SOP_QUERY_TIMEOUT_S, default 30 s) that interrupts only its own
cursor, and the database under a memory limit ($SOP_MEMORY_LIMIT, default DuckDB's 80% of RAM); a
read stopped by either raises `QueryTimeout` / `QueryOutOfMemory` with a message for the user.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from sop_core import config, contract
from sop_core.store import access
from sop_core.store.ledger import Ledger, LedgerAppendFailed, SaveNotConfirmed, ledger_path, not_confirmed_message
from sop_core.store.lock import (
    StoreLock,
    WorkspaceLocked,
    WorkspaceReadOnly,
    acquire,
    duckdb_lock_holder,
    locked_message,
    read_only_message,
)
from sop_core.store.paths import default_dir, list_backups
from sop_core.store.schema import MIGRATIONS

log = logging.getLogger(__name__)
ENV_VAR = config.WORKSPACE
QUERY_TIMEOUT_ENV = config.QUERY_TIMEOUT
MEMORY_LIMIT_ENV = config.MEMORY_LIMIT


class WorkspaceError(RuntimeError):
    """The workspace cannot be used as asked; str() is one plain sentence saying why and what to do.

    str() names files and commands (command line, server log); `public_message` is for a page any
    visitor sees.
    """

    public_message = ("The workspace cannot be opened. Ask the administrator: the server log says why and what "
                      "to do.")


class WorkspaceDamaged(WorkspaceError):
    """The workspace's write-ahead log cannot be replayed: the file does not open."""

    public_message = ("The workspace's latest changes cannot be read back (its write-ahead log is damaged). Ask the "
                      "administrator to run the recovery the server log describes.")


class WorkspaceCorrupt(WorkspaceError):
    """The workspace file itself is damaged (its header, catalog or a table's blocks fail their checksum)."""

    public_message = ("The workspace file is damaged and cannot be opened. Ask the administrator to restore the "
                      "newest backup (the server log says which and how).")


class QueryStopped(RuntimeError):
    """A read was stopped by a workspace limit (time or memory); nothing was changed."""


class QueryTimeout(QueryStopped):
    """A read ran longer than the workspace's query time limit and was interrupted."""


class QueryOutOfMemory(QueryStopped):
    """A read needed more memory than the workspace's DuckDB memory_limit."""


class WorkspaceStopped(QueryStopped, duckdb.IOException):
    """The database connection was invalidated by a fatal error (e.g. a full disk at a checkpoint).

    str() says what was lost ("disk full: nothing after 14:02 UTC was saved") and what to do; the
    workspace reopens its connection with the next call. A `duckdb.Error` too, so code that turns
    storage errors into messages (e.g. a load's "could not be stored, nothing changed") keeps doing so.
    """


def is_invalidated(exc: BaseException) -> bool:
    """True for DuckDB's fatal errors, after which the database must be reopened before it can be used."""
    return isinstance(exc, duckdb.FatalException) or "database has been invalidated" in str(exc)


def utcnow() -> datetime:
    """Current UTC time without tzinfo (DuckDB TIMESTAMP)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    """A random, unguessable identifier (UUID4 hex)."""
    return uuid.uuid4().hex


T = TypeVar("T")
WRITE_RETRIES = 3


def retry_write(fn: Callable[[], T], recover: Callable[[], T | None] = lambda: None,
                retries: int = WRITE_RETRIES) -> T:
    """Run a write, retrying DuckDB commit conflicts; `recover` returns the stored result of a duplicate event."""
    for attempt in range(retries):
        try:
            return fn()
        except (duckdb.ConstraintException, duckdb.TransactionException):
            found = recover()
            if found is not None:
                return found
            if attempt == retries - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def frame_sha256(df: pd.DataFrame) -> str:
    """Content hash of a frame: every cell, row order and column names, not a sample."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    if len(df):
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


@dataclass
class Provenance:
    """Where a loaded table came from."""

    file_name: str
    sha256: str
    author: str | None = None
    seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class _Watch:
    """One running read: its cursor, when it must stop, and whether the watchdog stopped it."""

    cursor: duckdb.DuckDBPyConnection
    deadline: float
    fired: bool = False


class _Watchdog:
    """One daemon thread per process that interrupts the cursor of each read running past its deadline."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._watches: dict[int, _Watch] = {}
        self._thread: threading.Thread | None = None

    def add(self, cursor: duckdb.DuckDBPyConnection, seconds: float) -> _Watch:
        """Watch `cursor` for `seconds`; call `remove` before closing it."""
        watch = _Watch(cursor, time.monotonic() + seconds)
        with self._cond:
            earliest = all(w.deadline > watch.deadline for w in self._watches.values())
            self._watches[id(watch)] = watch
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sop-query-watchdog", daemon=True)
                self._thread.start()
            elif earliest:
                self._cond.notify()
        return watch

    def remove(self, watch: _Watch) -> None:
        """Stop watching (the cursor is not interrupted after this returns)."""
        with self._cond:
            self._watches.pop(id(watch), None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for watch in [w for w in self._watches.values() if w.deadline <= now]:
                    del self._watches[id(watch)]
                    watch.fired = True
                    try:
                        watch.cursor.interrupt()  # only this read's connection: other cursors carry on
                    except duckdb.Error:
                        pass  # the read finished and its cursor closed in the meantime
                nearest = min((w.deadline for w in self._watches.values()), default=None)
                self._cond.wait(None if nearest is None else max(nearest - now, 0.0))


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread: it starts its own
    os.register_at_fork(after_in_child=_WATCHDOG._reset)


_READ_ONLY_OPENS: contextvars.ContextVar[bool] = contextvars.ContextVar("sop_read_only_opens", default=False)


@contextmanager
def read_only_opens() -> Iterator[None]:
    """Inside: a Workspace opened without `read_only=` opens read-only (commands that only read, on a read-only volume)."""
    token = _READ_ONLY_OPENS.set(True)
    try:
        yield
    finally:
        _READ_ONLY_OPENS.reset(token)


class Workspace:
    """The project's DuckDB workspace file."""

    def __init__(self, path: str | Path | None = None, *, query_timeout_s: float | None = None,
                 memory_limit: str | None = None, read_only: bool | None = None) -> None:
        """Open (creating and migrating) the workspace; limits default to $SOP_QUERY_TIMEOUT_S / $SOP_MEMORY_LIMIT.

        `read_only`: open the existing file for reading only (no migrations, every write refused);
        on a read-only volume it opens without the lock file. None: read-only inside `read_only_opens()`. Raises WorkspaceLocked (another process
        serves the file), WorkspaceReadOnly (a write open on a read-only volume), WorkspaceDamaged /
        WorkspaceCorrupt (the file does not open), each with a plain message.
        """
        self.path = Path(path) if path is not None else config.workspace_path()
        self.read_only = _READ_ONLY_OPENS.get() if read_only is None else bool(read_only)
        self.query_timeout_s = config.query_timeout_s() if query_timeout_s is None else float(query_timeout_s)
        memory_limit = config.memory_limit() if memory_limit is None else memory_limit
        if self.read_only and not self.path.exists():
            raise WorkspaceCorrupt(f"there is no workspace file {self.path} to open read-only: point SOP_WORKSPACE "
                                   "(or --workspace) at an existing workspace file")
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._store_lock = acquire(self.path)  # WorkspaceLocked when another process serves this file
        except OSError as exc:  # the lock file cannot be written: a read-only volume, or no permission
            if not self.read_only:
                raise WorkspaceReadOnly(read_only_message(self.path, exc)) from exc
            self._store_lock = StoreLock(None)  # nobody can write through a read-only volume: no lock needed
        try:
            self._con = duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.Error as exc:
            self._store_lock.release()
            mapped = _open_error(self.path, exc)
            if mapped is exc:
                raise
            raise mapped from exc
        self._write_lock = threading.RLock()
        self._reopen_lock = threading.Lock()
        self._memory_limit_asked = memory_limit
        self._stopped: str | None = None  # why the connection was invalidated (reopened with the next call)
        self.last_saved_at: datetime | None = None  # UTC time of the last committed transaction in this process
        self._pending: dict[int, list[dict[str, Any]]] = {}  # audit events per open transaction cursor
        self.ledger = Ledger(ledger_path(self.path))
        self.startup_messages: list[str] = []  # set by the app's start-up check (recovery.startup_check)
        try:
            self.memory_limit = self._set_memory_limit(memory_limit)
            if not self.read_only:
                self._migrate()
        except duckdb.Error as exc:
            self.close()
            mapped = _open_error(self.path, exc)
            if mapped is exc:
                raise
            raise mapped from exc
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (checkpointing the write-ahead log) and release the workspace lock."""
        with self._write_lock:
            try:
                self._con.close()
            except duckdb.Error:
                if self._stopped is None:
                    raise
            finally:
                self.ledger.close()
                self._store_lock.release()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_memory_limit(self, limit: str | None) -> str:
        """Apply `limit` (None: keep DuckDB's default) and return the limit DuckDB enforces, e.g. '3.7 GiB'."""
        if limit is not None:
            try:
                self._con.execute(f"SET memory_limit = '{str(limit).replace(chr(39), chr(39) * 2)}'")
            except duckdb.Error as exc:
                raise ValueError(f"memory limit {limit!r} (${MEMORY_LIMIT_ENV}) is not a size like '4GB' or '50%': "
                                 f"{str(exc).splitlines()[0][:200]}") from exc
        return str(self._con.execute("SELECT current_setting('memory_limit')").fetchone()[0])

    def _migrate(self) -> None:
        with self.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)"
            )
            done = {r[0] for r in cur.execute("SELECT name FROM schema_migrations").fetchall()}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                cur.execute(sql)
                cur.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, utcnow()])

    # -- reads -------------------------------------------------------------------------------
    # -- a connection invalidated by a fatal error (a full disk at a checkpoint) -------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection, reopened first when a fatal error invalidated it (WorkspaceStopped if it cannot be)."""
        if self._stopped is not None:
            with self._reopen_lock:
                if self._stopped is not None:
                    self._reopen()
        return self._con

    def _reopen(self) -> None:
        """Close the invalidated connection and open the file again (caller holds _reopen_lock)."""
        try:
            self._con.close()
        except duckdb.Error:
            pass  # an invalidated database may refuse even this; it is dropped all the same
        try:
            self._con = duckdb.connect(str(self.path), read_only=self.read_only)
            self._set_memory_limit(self._memory_limit_asked)
        except duckdb.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise WorkspaceStopped(f"{self._stopped} It could not be reopened yet ({first}).") from exc
        log.warning("workspace %s reopened after: %s", self.path, self._stopped)
        self._stopped = None

    def _stop(self, exc: BaseException, during_save: bool) -> WorkspaceStopped:
        """Record that the connection is invalidated; the error to raise, saying what was not saved."""
        text = str(exc)
        when = (self.last_saved_at or utcnow()).strftime("%H:%M")
        if "No space left on device" in text or "disk is full" in text.lower():
            cause = f"disk full: nothing after {when} UTC was saved"
            todo = "Free disk space on the server; the workspace reopens by itself with the next action."
        else:
            first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)[:200]
            cause = f"the database stopped after a fatal error ({first}): nothing after {when} UTC was saved"
            todo = ("The workspace reopens by itself with the next action; if this repeats, restart the server and "
                    "run `python -m sop_core check`.")
        message = f"{cause}{' (this change was not saved either)' if during_save else ''}. {todo}"
        with self._reopen_lock:
            if self._stopped is None:
                log.error("workspace %s invalidated: %s (%s)", self.path, cause, text.splitlines()[0] if text else "")
            self._stopped = f"{cause}."
        return WorkspaceStopped(message)

    def _cursor(self, during_save: bool) -> duckdb.DuckDBPyConnection:
        """A cursor on the live connection; WorkspaceStopped when DuckDB has invalidated it (e.g. disk full)."""
        try:
            return self._connection().cursor()
        except WorkspaceStopped:
            raise
        except duckdb.Error as exc:
            if not is_invalidated(exc):
                raise
            raise self._stop(exc, during_save=during_save) from exc

    @contextmanager
    def _read_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh cursor for one read, interrupted past the time limit; limit errors become QueryStopped."""
        cur = self._cursor(during_save=False)
        watch = _WATCHDOG.add(cur, self.query_timeout_s) if self.query_timeout_s > 0 else None
        try:
            yield cur
        except WorkspaceStopped:
            raise
        except duckdb.Error as exc:
            if is_invalidated(exc):
                raise self._stop(exc, during_save=False) from exc
            if isinstance(exc, duckdb.InterruptException):
                if watch is None or not watch.fired:
                    raise  # interrupted by something else (e.g. the workspace closing): not a time limit
                raise QueryTimeout(
                    f"The query took too long (over {self.query_timeout_s:g} s) and was stopped; nothing was "
                    f"changed. Narrow the filter, or ask the administrator to raise ${QUERY_TIMEOUT_ENV}.") from exc
            if isinstance(exc, duckdb.OutOfMemoryException):
                raise QueryOutOfMemory(
                    f"The query needed more memory than the workspace limit of {self.memory_limit} and was "
                    f"stopped; nothing was changed. Narrow the filter, or ask the administrator to raise "
                    f"${MEMORY_LIMIT_ENV}.") from exc
            raise
        finally:
            if watch is not None:
                _WATCHDOG.remove(watch)
            cur.close()

    def _read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `fn` on a read cursor; a read that finds the connection invalidated reopens it and runs once more."""
        try:
            with self._read_cursor() as cur:
                return fn(cur)
        except WorkspaceStopped:
            pass  # reads change nothing: reopen (with the next cursor) and try again once
        with self._read_cursor() as cur:
            return fn(cur)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a read query on a fresh cursor and return a DataFrame (QueryTimeout / QueryOutOfMemory past a limit)."""
        return self._read(lambda cur: cur.execute(sql, params).df() if params is not None else cur.execute(sql).df())

    def column(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[Any]:
        """The first column of every row as Python values (blobs as bytes, without a DataFrame's copy)."""
        return self._read(lambda cur: [r[0] for r in (cur.execute(sql, params) if params is not None
                                                      else cur.execute(sql)).fetchall()])

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """First column of the first row, or None (QueryTimeout / QueryOutOfMemory past a limit)."""
        def first(cur: duckdb.DuckDBPyConnection) -> Any:
            rows = cur.execute(sql, params).fetchall() if params is not None else cur.execute(sql).fetchall()
            return rows[0][0] if rows else None

        return self._read(first)

    def has_table(self, name: str) -> bool:
        """True when a table of that name exists in the main schema."""
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
                [name],
            )
        )

    def loaded_tables(self) -> list[str]:
        """Contract tables present in the workspace, in contract order."""
        return [t for t in contract.TABLE_ORDER if self.has_table(t)]

    def table(self, name: str) -> pd.DataFrame:
        """A whole contract table (empty frame with its columns when not loaded)."""
        spec = contract.TABLES[name]
        if not self.has_table(name):
            return pd.DataFrame({c: pd.Series(dtype=_pandas_dtype(spec.column(c).type)) for c in spec.column_names})
        return self.query(f'SELECT * FROM "{name}"')

    def latest_loads(self) -> pd.DataFrame:
        """The last load of each table: table_name, file_name, sha256, content_sha256, rows, loaded_at, ..."""
        return self.query(
            "SELECT * FROM loads QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY loaded_at DESC) = 1"
            " ORDER BY table_name"
        )

    def fingerprint(self, tables: Sequence[str] | None = None) -> str:
        """Short hash of the content of the given loaded tables (all when None)."""
        loads = self.latest_loads()
        names = sorted(tables) if tables is not None else sorted(loads["table_name"])
        parts = []
        for name in names:
            row = loads[loads["table_name"] == name]
            parts.append(f"{name}:{row['content_sha256'].iloc[0] if len(row) else '-'}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    # -- writes ------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A serialised write transaction; commits on success, rolls back on any error.

        Audit events written inside it go to the ledger after the COMMIT succeeds, before returning
        (with any earlier events whose ledger line is still owed). A save is acknowledged only when
        both are written: when the ledger append fails, `ledger.SaveNotConfirmed` is raised, saying
        the change is in the database but not confirmed.
        """
        if self.read_only:
            raise WorkspaceReadOnly(f"the workspace {self.path} is open read-only: nothing can be saved. Open it "
                                    "with write access (a writable volume, no `read_only`) to make changes.")
        with self._write_lock:
            cur = self._cursor(during_save=True)
            events = self._pending[id(cur)] = []
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                except BaseException as exc:
                    try:
                        cur.execute("ROLLBACK")
                    except duckdb.Error as failed:
                        if not is_invalidated(failed):
                            raise
                        if not isinstance(exc, duckdb.Error):
                            raise self._stop(failed, during_save=True) from exc
                    raise
                cur.execute("COMMIT")
            except WorkspaceStopped:
                raise
            except duckdb.Error as exc:  # a fatal error (e.g. the disk full at the checkpoint after COMMIT)
                if not is_invalidated(exc):
                    raise
                raise self._stop(exc, during_save=True) from exc
            finally:
                self._pending.pop(id(cur), None)
                try:
                    cur.close()
                except duckdb.Error:
                    pass  # an invalidated database: the error above says so
            self.last_saved_at = utcnow()
            try:
                self.ledger.append(events)
            except LedgerAppendFailed as exc:
                raise SaveNotConfirmed(not_confirmed_message(self.ledger.path, str(exc)),
                                       [str(e["event_id"]) for e in self.ledger.unconfirmed]) from exc

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """Run one write statement in its own transaction."""
        with self.transaction() as cur:
            cur.execute(sql, params) if params is not None else cur.execute(sql)

    def audit(self, cur: duckdb.DuckDBPyConnection, kind: str, subject: str, detail: dict[str, Any],
              author: str | None = None) -> str:
        """Append an event to the audit log inside the caller's transaction (refused when the actor's role may not).

        With access control on, the author is the signed-in user (`access.author`): None becomes their
        identity, and another name is refused, so no change is recorded in someone else's name.
        """
        access.check(kind)
        author = access.author(author)
        event_id, at, text = new_id(), utcnow(), json.dumps(detail, default=str)
        cur.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)", [event_id, at, author, kind, subject, text])
        pending = self._pending.get(id(cur))
        if pending is not None:  # recorded in the ledger once the transaction commits
            pending.append({"event_id": event_id, "at": at, "author": author, "kind": kind, "subject": subject,
                            "detail": text})
        return event_id

    def replace_table(self, name: str, df: pd.DataFrame, provenance: Provenance) -> str:
        """Atomically replace contract table `name` with `df` and record the load; returns the load id.

        `df` must hold the table's canonical columns (missing optional ones become NULL).
        If anything fails, the previous version of the table is left as it was.
        """
        with self.transaction() as cur:
            return self.store_table(cur, name, df, provenance)

    def store_table(self, cur: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame,
                    provenance: Provenance) -> str:
        """Replace contract table `name` inside the caller's transaction, recording the load; returns the load id."""
        spec = contract.TABLES[name]
        frame = pd.DataFrame({c: df[c] if c in df.columns else None for c in spec.column_names})
        select = ", ".join(f'CAST("{c.name}" AS {c.type}) AS "{c.name}"' for c in spec.columns)
        load_id = new_id()
        content = frame_sha256(frame)
        view = f"_incoming_{load_id}"
        cur.register(view, frame)
        try:
            cur.execute(f'DROP TABLE IF EXISTS "{name}"')
            cur.execute(f'CREATE TABLE "{name}" AS SELECT {select} FROM "{view}"')
        finally:
            try:
                cur.unregister(view)
            except duckdb.Error:
                pass  # the transaction already failed (e.g. disk full): keep that error, not this one
        cur.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [load_id, name, provenance.file_name, provenance.sha256, content, len(frame), utcnow(),
             provenance.author, provenance.seconds, json.dumps(provenance.warnings),
             json.dumps(provenance.mapping)],
        )
        self.audit(cur, "load", name, {"load_id": load_id, "file": provenance.file_name, "rows": len(frame),
                                       "sha256": provenance.sha256}, provenance.author)
        return load_id

    def drop_contract_tables(self, author: str | None = None) -> None:
        """Remove every loaded contract table (used by 'reset to demo')."""
        with self.transaction() as cur:
            for name in contract.TABLE_ORDER:
                cur.execute(f'DROP TABLE IF EXISTS "{name}"')
            self.audit(cur, "reset", "tables", {}, author)

    # -- settings ----------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        """A JSON setting stored in the workspace."""
        value = self.scalar("SELECT value FROM settings WHERE key = ?", [key])
        return json.loads(value) if value is not None else default

    def set_setting(self, key: str, value: Any, author: str | None = None) -> None:
        """Store a JSON setting."""
        with self.transaction() as cur:
            self.store_setting(cur, key, value, author)

    def store_setting(self, cur: duckdb.DuckDBPyConnection, key: str, value: Any, author: str | None = None) -> None:
        """Store a JSON setting inside the caller's transaction (audited)."""
        cur.execute(
            "INSERT OR REPLACE INTO settings VALUES (?, ?, ?, ?)",
            [key, json.dumps(value, default=str), utcnow(), author],
        )
        self.audit(cur, access.setting_kind(key), key, {"value": value}, author)


def _open_error(path: Path, exc: duckdb.Error) -> Exception:
    """A plain-message error for a failure to open the workspace file (else the error itself).

    WorkspaceLocked for DuckDB's file lock, WorkspaceDamaged for an unreadable WAL, WorkspaceCorrupt
    for a damaged file, WorkspaceReadOnly for a read-only volume.
    """
    text = str(exc)
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    if isinstance(exc, duckdb.IOException) and "lock" in text.lower() and "read-only" not in text.lower():
        return WorkspaceLocked(locked_message(path, duckdb_lock_holder(text), None))
    if "replaying WAL" in text or "Corrupt WAL" in text:
        return WorkspaceDamaged(
            f"the write-ahead log of {path} is damaged and cannot be replayed ({first}). "
            "Run `python -m sop_core check --recover-wal` to set it aside, open the last checkpoint and list the "
            "saves the audit ledger says are missing; or restore a backup (`python -m sop_core restore DIR --to "
            "NEW_FILE`)."
        )
    if is_corruption(exc):
        return WorkspaceCorrupt(corrupt_message(path, first))
    if "Read-only file system" in text or "Permission denied" in text:
        return WorkspaceReadOnly(read_only_message(path, OSError(first)))
    return exc


def is_corruption(exc: BaseException) -> bool:
    """True for DuckDB's errors about a damaged database file (a failed block checksum, a bad header)."""
    text = str(exc)
    return any(s in text for s in ("Corrupt database file", "not a valid DuckDB database file",
                                   "checksum", "Could not read enough bytes", "block at location"))


def newest_backup(path: str | Path) -> Path | None:
    """The newest backup folder beside the workspace (backups/), or None."""
    try:
        found = list_backups(default_dir(path))
    except OSError:
        return None
    return found[-1] if found else None


def corrupt_message(path: str | Path, detail: str) -> str:
    """What to do about a damaged workspace file: restore from the newest backup (named when there is one)."""
    newest = newest_backup(path)
    restore = (f"restore the newest backup with `python -m sop_core restore {newest} --to NEW_FILE`"
               if newest else "restore a backup with `python -m sop_core restore DIR --to NEW_FILE` (no backup was "
                                  f"found in {Path(path).resolve().parent / 'backups'})")
    return (f"the workspace file {path} is damaged and cannot be used ({detail}): {restore}, then point "
            "SOP_WORKSPACE at the new file; `python -m sop_core check` names the damaged tables when the file "
            "still opens.")


def _pandas_dtype(sql_type: str) -> str:
    return {contract.DATE: "datetime64[ns]", contract.NUMBER: "float64"}.get(sql_type, "object")

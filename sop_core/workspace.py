"""The workspace database: one DuckDB file that owns connection, schema, migrations and every write.

Reads open a cursor per call; writes go through one serialised path (`transaction`), so a
Streamlit server with many sessions and threads never shares a cursor or interleaves writes.
"""
from __future__ import annotations

import hashlib
import json
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

from . import access, contract
from .ledger import Ledger, ledger_path
from .schema import MIGRATIONS
from .store_lock import WorkspaceLocked, acquire, duckdb_lock_holder, locked_message

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "SOP_WORKSPACE"


class WorkspaceDamaged(RuntimeError):
    """The workspace's write-ahead log cannot be replayed: the file does not open."""


def default_path() -> Path:
    """Workspace file: $SOP_WORKSPACE, else data/workspace.duckdb in the project."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else PROJECT_ROOT / "data" / "workspace.duckdb"


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


class Workspace:
    """The project's DuckDB workspace file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store_lock = acquire(self.path)  # WorkspaceLocked when another process serves this file
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            self._store_lock.release()
            mapped = _open_error(self.path, exc)
            if mapped is exc:
                raise
            raise mapped from exc
        self._write_lock = threading.RLock()
        self._pending: dict[int, list[dict[str, Any]]] = {}  # audit events per open transaction cursor
        self.ledger = Ledger(ledger_path(self.path))
        self.startup_messages: list[str] = []  # set by the app's start-up check (ledger.startup_check)
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (checkpointing the write-ahead log) and release the workspace lock."""
        with self._write_lock:
            self._con.close()
            self.ledger.close()
            self._store_lock.release()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a read query on a fresh cursor and return a DataFrame."""
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params).df() if params is not None else cur.execute(sql).df()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """First column of the first row, or None."""
        cur = self._con.cursor()
        try:
            rows = cur.execute(sql, params).fetchall() if params is not None else cur.execute(sql).fetchall()
            return rows[0][0] if rows else None
        finally:
            cur.close()

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

        Audit events written inside it go to the ledger after the COMMIT succeeds, before returning.
        """
        with self._write_lock:
            cur = self._con.cursor()
            events = self._pending[id(cur)] = []
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            finally:
                self._pending.pop(id(cur), None)
                cur.close()
            self.ledger.append(events)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """Run one write statement in its own transaction."""
        with self.transaction() as cur:
            cur.execute(sql, params) if params is not None else cur.execute(sql)

    def audit(self, cur: duckdb.DuckDBPyConnection, kind: str, subject: str, detail: dict[str, Any],
              author: str | None = None) -> str:
        """Append an event to the audit log inside the caller's transaction (refused when the actor's role may not)."""
        access.check(kind)
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
        spec = contract.TABLES[name]
        frame = pd.DataFrame({c: df[c] if c in df.columns else None for c in spec.column_names})
        select = ", ".join(f'CAST("{c.name}" AS {c.type}) AS "{c.name}"' for c in spec.columns)
        load_id = new_id()
        content = frame_sha256(frame)
        with self.transaction() as cur:
            cur.register("_incoming", frame)
            try:
                cur.execute(f'DROP TABLE IF EXISTS "{name}"')
                cur.execute(f'CREATE TABLE "{name}" AS SELECT {select} FROM _incoming')
            finally:
                try:
                    cur.unregister("_incoming")
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
            cur.execute(
                "INSERT OR REPLACE INTO settings VALUES (?, ?, ?, ?)",
                [key, json.dumps(value, default=str), utcnow(), author],
            )
            self.audit(cur, "setting", key, {"value": value}, author)


def _open_error(path: Path, exc: duckdb.Error) -> Exception:
    """WorkspaceLocked for DuckDB's file lock, WorkspaceDamaged for an unreadable WAL, else the error itself."""
    text = str(exc)
    if isinstance(exc, duckdb.IOException) and "lock" in text.lower():
        return WorkspaceLocked(locked_message(path, duckdb_lock_holder(text), None))
    if "replaying WAL" in text or "Corrupt WAL" in text:
        return WorkspaceDamaged(
            f"the write-ahead log of {path} is damaged and cannot be replayed ({text.splitlines()[0][:200]}). "
            "Run `python -m sop_core check --recover-wal` to set it aside, open the last checkpoint and list the "
            "saves the audit ledger says are missing; or restore a backup (`python -m sop_core restore DIR --to "
            "NEW_FILE`)."
        )
    return exc


def _pandas_dtype(sql_type: str) -> str:
    return {contract.DATE: "datetime64[ns]", contract.NUMBER: "float64"}.get(sql_type, "object")

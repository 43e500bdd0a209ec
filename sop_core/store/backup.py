"""Backups of a workspace and verified restores.

`backup(ws, dest_dir)` writes a timestamped folder `<dest_dir>/<workspace>-YYYYmmddTHHMMSSZ/` with
- `db/` (EXPORT DATABASE as Parquet: schema.sql, load.sql, one file per table) or, with
  method="copy", `workspace.duckdb` (COPY FROM DATABASE into a fresh DuckDB file);
- `ledger.jsonl`: the audit ledger as it was at that moment;
- `events.txt`: the audit event ids the backup holds (so `check` can say which backup restores a
  lost change);
- `manifest.json`: method, time, DuckDB version, per table its row count and content hash
  (SHA-256 over the sorted MD5s of its rows: independent of row order), and the SHA-256 of every
  file of the folder.
It runs inside one workspace transaction (holding the write lock), so the database, the event
list and the ledger copy are one consistent point in time. The folder appears under its final
name only when complete.

`restore(src, workspace_path)` refuses an existing target (or one in use), checks every file
against the manifest, rebuilds the database in a temporary file, compares each table's row count
and content hash with the manifest, and only then moves it into place, with the backup's ledger.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from sop_core.store.ledger import fsync_dir, ledger_path
from sop_core.store.lock import acquire
from sop_core.store.paths import MANIFEST, default_dir
from sop_core.store.workspace import Workspace

EVENTS = "events.txt"
LEDGER_COPY = "ledger.jsonl"
EXPORT_DIR = "db"
COPY_FILE = "workspace.duckdb"
METHODS = ("export", "copy")
FORMAT = 1


class BackupError(RuntimeError):
    """A backup cannot be made or restored; the message says why and what to do."""


@dataclass(frozen=True)
class TableDigest:
    """Row count and order-independent content hash of one table."""

    rows: int
    sha256: str


def _q(text: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def table_digests(con: Any, database: str | None = None) -> dict[str, TableDigest]:
    """Row count and content hash of every base table of the main schema (of `database` when given)."""
    where = "table_schema = 'main' AND table_type = 'BASE TABLE'"
    params: list[Any] = []
    if database is not None:
        where += " AND table_catalog = ?"
        params.append(database)
    else:
        where += " AND table_catalog = current_database()"
    names = [r[0] for r in con.execute(f"SELECT table_name FROM information_schema.tables WHERE {where} "
                                       "ORDER BY table_name", params).fetchall()]
    prefix = f"{_ident(database)}.main." if database is not None else ""
    out: dict[str, TableDigest] = {}
    for name in names:
        row_hash = "md5(CAST(t AS VARCHAR))"
        rows, digest = con.execute(
            f"SELECT count(*), sha256(coalesce(string_agg({row_hash}, '' ORDER BY {row_hash}), '')) "
            f"FROM {prefix}{_ident(name)} t").fetchall()[0]
        out[name] = TableDigest(int(rows), str(digest))
    return out


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder` except the manifest."""
    return {p.relative_to(folder).as_posix(): _file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def _fsync_tree(folder: Path) -> None:
    """fsync every file and directory under `folder` (best effort)."""
    for p in sorted(folder.rglob("*")) + [folder]:
        fsync_dir(p)  # os.open + fsync works for files as for folders


def backup(ws: Workspace, dest_dir: str | Path | None = None, method: str = "export") -> Path:
    """Write a verified-restorable backup folder of `ws` under `dest_dir` (default: backups/ beside it); its path."""
    if method not in METHODS:
        raise ValueError(f"unknown backup method {method!r}: use {' or '.join(METHODS)}")
    dest = Path(dest_dir) if dest_dir is not None else default_dir(ws.path)
    dest.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    final = dest / f"{ws.path.stem}-{stamp}"
    n = 1
    while final.exists():
        n += 1
        final = dest / f"{ws.path.stem}-{stamp}-{n}"
    work = dest / f".{final.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with ws.transaction() as cur:  # the write lock: no save lands between the parts below
            tables = table_digests(cur)
            events = [r[0] for r in cur.execute('SELECT event_id FROM audit_log ORDER BY "at", event_id').fetchall()]
            if method == "export":
                cur.execute(f"EXPORT DATABASE {_q(work / EXPORT_DIR)} (FORMAT parquet)")
            else:
                source = cur.execute("SELECT current_database()").fetchall()[0][0]
                cur.execute(f"ATTACH {_q(work / COPY_FILE)} AS sop_backup_copy")
                try:
                    cur.execute(f"COPY FROM DATABASE {_ident(source)} TO sop_backup_copy")
                finally:
                    cur.execute("DETACH sop_backup_copy")
            ws.ledger.copy_to(work / LEDGER_COPY)
        (work / EVENTS).write_text("".join(f"{e}\n" for e in events), encoding="utf-8")
        manifest = {
            "format": FORMAT, "method": method, "created_at": datetime.now(timezone.utc).isoformat(),
            "workspace": str(ws.path), "duckdb": duckdb.__version__, "audit_events": len(events),
            "tables": {k: {"rows": v.rows, "sha256": v.sha256} for k, v in tables.items()},
            "files": _files(work),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        _fsync_tree(work)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a backup folder; BackupError when there is none or it does not parse."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} is not a backup folder (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"the manifest of backup {folder} cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("method") not in METHODS or "tables" not in manifest:
        raise BackupError(f"the manifest of backup {folder} is not a backup manifest")
    return manifest


def verify_files(folder: str | Path) -> dict[str, Any]:
    """Check every file of a backup against its manifest; the manifest, or BackupError naming what differs."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    recorded: dict[str, str] = manifest.get("files", {})
    actual = _files(folder)
    missing = sorted(set(recorded) - set(actual))
    changed = sorted(k for k in recorded if k in actual and actual[k] != recorded[k])
    extra = sorted(set(actual) - set(recorded))
    if missing or changed or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}")
        if changed:
            parts.append(f"changed {', '.join(changed[:5])}")
        if extra:
            parts.append(f"unexpected {', '.join(extra[:5])}")
        raise BackupError(f"backup {folder} is damaged: {'; '.join(parts)} — use another backup")
    return manifest


def restore(src: str | Path, workspace_path: str | Path) -> Path:
    """Rebuild the workspace saved in backup folder `src` as the NEW file `workspace_path`, verified; its path."""
    src = Path(src)
    target = Path(workspace_path)
    manifest = verify_files(src)
    wal = target.with_name(target.name + ".wal")
    ledger = ledger_path(target)
    for existing in (target, wal, ledger):
        if existing.exists():
            raise BackupError(f"{existing} already exists: restore into a new file (nothing was overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = acquire(target)  # WorkspaceLocked if a server is already starting on that name
    work = target.with_name(f".{target.name}.restoring")
    try:
        for p in (work, work.with_name(work.name + ".wal")):
            p.unlink(missing_ok=True)
        if manifest["method"] == "export":
            con = duckdb.connect(str(work))
            try:
                con.execute(f"IMPORT DATABASE {_q(src / EXPORT_DIR)}")
                con.execute("CHECKPOINT")
                got = table_digests(con)
            finally:
                con.close()
        else:
            shutil.copyfile(src / COPY_FILE, work)
            con = duckdb.connect(str(work))
            try:
                got = table_digests(con)
            finally:
                con.close()
        _compare(src, manifest, got)
        shutil.copyfile(src / LEDGER_COPY, ledger)
        with open(ledger, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(work, target)
        fsync_dir(target.parent)
    except BaseException:
        for p in (work, work.with_name(work.name + ".wal")):
            p.unlink(missing_ok=True)
        if not target.exists():
            ledger.unlink(missing_ok=True)
        raise
    finally:
        lock.release()
    return target


def _compare(src: Path, manifest: dict[str, Any], got: dict[str, TableDigest]) -> None:
    """BackupError unless the restored tables match the manifest's counts and hashes."""
    want = {k: TableDigest(int(v["rows"]), str(v["sha256"])) for k, v in manifest["tables"].items()}
    problems = [f"table {k} is missing" for k in sorted(set(want) - set(got))]
    problems += [f"unexpected table {k}" for k in sorted(set(got) - set(want))]
    for k in sorted(set(want) & set(got)):
        if want[k].rows != got[k].rows:
            problems.append(f"table {k} has {got[k].rows:,} rows, the backup recorded {want[k].rows:,}")
        elif want[k].sha256 != got[k].sha256:
            problems.append(f"table {k} content differs from the backup's hash")
    if problems:
        raise BackupError(f"restore of {src} does not match its manifest: {'; '.join(problems[:5])} — nothing "
                          "was written; use another backup")


def event_ids(folder: str | Path) -> set[str]:
    """Audit event ids held by a backup (empty when unreadable)."""
    try:
        return {line.strip() for line in (Path(folder) / EVENTS).read_text(encoding="utf-8").splitlines()
                if line.strip()}
    except OSError:
        return set()


@dataclass(frozen=True)
class HeldTable:
    """A backup that holds a table: its folder, the table's row count there, and when it was taken."""

    folder: Path
    rows: int
    created_at: str | None


def newest_holding(table: str, folders: list[Path] | list[str]) -> HeldTable | None:
    """The newest intact backup among `folders` (oldest first) whose manifest holds `table`, or None.

    A backup whose files no longer match its manifest is passed over (it would not restore).
    """
    for folder in reversed([Path(f) for f in folders]):
        try:
            manifest = verify_files(folder)
        except BackupError:
            continue
        entry = manifest["tables"].get(table)
        if isinstance(entry, dict):
            return HeldTable(folder, int(entry.get("rows", 0)), manifest.get("created_at"))
    return None

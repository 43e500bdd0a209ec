"""`backup`, `restore` and `check` subcommands of `python -m sop_core` (registered through sop_core.cli.registry).

backup:  write a verified-restorable backup folder (default: backups/ next to the workspace).
restore: rebuild a backup into a NEW workspace file, checking every table against the manifest.
check:   compare the database with the audit ledger and say what is missing and which backup (or
         the ledger itself) holds it; exit 1 when something acknowledged is missing or altered.
demo:    load (or reset to) the demo company, history through the last complete month; what was in
         the workspace goes to a backup first. `--export DIR` writes the demo's files instead.
All of them except `demo --export` open the workspace, so they refuse to run while the app serves it (stop the app first).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sop_core import config
from sop_core.cli.registry import add_command, open_workspace
from sop_core.intake import company, demo
from sop_core.store.workspace import Workspace, WorkspaceCorrupt, WorkspaceDamaged, WorkspaceReadOnly


def _configure_backup(p: argparse.ArgumentParser) -> None:
    """Arguments of `backup`."""
    p.add_argument("--to", type=Path, metavar="DIR", help="folder for backups (default: backups/ beside the workspace)")
    p.add_argument("--method", choices=["export", "copy"], default="export",
                   help="export: EXPORT DATABASE as Parquet (default); copy: COPY FROM DATABASE into a DuckDB file")


def _backup(args: argparse.Namespace) -> int:
    """Write a backup folder and print its path and table counts."""
    from sop_core.store.backup import backup, read_manifest

    with open_workspace(args) as ws:
        folder = backup(ws, args.to, method=args.method)
    manifest = read_manifest(folder)
    tables = manifest["tables"]
    print(f"backup written: {folder}")
    print(f"{len(tables)} tables, {sum(t['rows'] for t in tables.values()):,} rows, "
          f"{manifest['audit_events']:,} audit events ({manifest['method']})")
    print(f"restore with: python -m sop_core restore {folder} --to NEW_FILE.duckdb")
    return 0


def _configure_restore(p: argparse.ArgumentParser) -> None:
    """Arguments of `restore`."""
    p.add_argument("source", type=Path, metavar="DIR", help="a backup folder written by `backup`")
    p.add_argument("--to", type=Path, required=True, metavar="FILE", help="the NEW workspace file to create")


def _restore(args: argparse.Namespace) -> int:
    """Restore a backup into a new file, verified against its manifest."""
    from sop_core.store.backup import BackupError, read_manifest, restore

    try:
        target = restore(args.source, args.to)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = read_manifest(args.source)
    print(f"restored {len(manifest['tables'])} tables into {target}; every table matches the backup's row counts "
          "and content hashes")
    print(f"use it with: SOP_WORKSPACE={target} (or --workspace {target})")
    return 0


def _configure_check(p: argparse.ArgumentParser) -> None:
    """Arguments of `check`."""
    p.add_argument("--ledger", type=Path, metavar="FILE",
                   help="compare with this ledger file instead of the workspace's own (e.g. the original "
                        "workspace's ledger after a restore)")
    p.add_argument("--backups", type=Path, metavar="DIR", help="where to look for backups holding missing events")
    p.add_argument("--recover-wal", action="store_true",
                   help="if the write-ahead log is damaged, set it aside (renamed, kept) and check the last "
                        "checkpoint against the ledger")
    p.add_argument("--json", action="store_true", help="print the missing events with their recorded detail as JSON")


def _check(args: argparse.Namespace) -> int:
    """Print the ledger check; exit 1 when a table is damaged or changes are missing or altered.

    A file that opens but cannot be migrated (a damaged table it needs) is checked read-only, so the
    damaged table is still named; one that does not open at all gets one sentence (exit 2).
    """
    from sop_core.store import recovery
    from sop_core.store.paths import list_backups

    path = Path(args.workspace) if args.workspace else config.workspace_path()
    try:
        ws = open_workspace(args)
    except WorkspaceCorrupt as exc:
        try:
            ws = Workspace(path, read_only=True)
        except (WorkspaceCorrupt, WorkspaceDamaged, WorkspaceReadOnly):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("note: the workspace file is damaged; checking it read-only", file=sys.stderr)
    except WorkspaceDamaged as exc:
        if not args.recover_wal:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            moved = recovery.set_aside_wal(path)
        except OSError as err:
            print(f"error: {exc} The write-ahead log could not be set aside ({err.strerror or err}): copy the "
                  "workspace to a writable volume and run the check there.", file=sys.stderr)
            return 2
        print(f"the damaged write-ahead log was moved to {moved}; opening the last checkpoint", file=sys.stderr)
        ws = open_workspace(args)
    with ws:
        backups = list_backups(args.backups) if args.backups else None
        report = recovery.check(ws, args.ledger, backups=backups)
        print(f"workspace: {ws.path}{' (opened read-only)' if ws.read_only else ''}")
        for line in report.messages():
            print(line)
        if args.json:
            print(json.dumps(list(recovery.iter_missing(report)), indent=2, default=str))
    return 0 if report.ok else 1


def _configure_demo(p: argparse.ArgumentParser) -> None:
    """Arguments of `demo`."""
    p.add_argument("--author", help="name recorded with the reset")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="write the demo company's seven CSV files into DIR (the workspace is not touched)")


def _demo(args: argparse.Namespace) -> int:
    """Reset the workspace to the demo company (backup first), or export the demo's files."""
    if args.export is not None:
        for path in demo.write_csv(args.export):
            print(path)
        return 0
    with open_workspace(args) as ws:
        saved = company.reset_to_demo(ws, author=args.author or "demo")
        sales = ws.query('SELECT min("date") AS first, max("date") AS last, count(*) AS n FROM sales').iloc[0]
    print(f"demo company {demo.COMPANY} loaded into {ws.path}: 7 tables, sales {sales['first']:%b %Y} to "
          f"{sales['last']:%b %Y} ({int(sales['n']):,} rows)")
    print(f"what was in the workspace is in the backup {saved}" if saved else "the workspace was empty: no backup needed")
    return 0


add_command("backup", "write a backup folder of the workspace (database, manifest, ledger)", _configure_backup,
            _backup)
add_command("restore", "restore a backup folder into a new workspace file, verified", _configure_restore, _restore)
add_command("check", "compare the database with the audit ledger; list missing changes and where to get them",
            _configure_check, _check)
add_command("demo", "load or reset to the demo company (backup first); --export DIR writes its files",
            _configure_demo, _demo)

"""One company per workspace: the demo company, resets to it, and starting one's own company.

A workspace holds exactly one company's data: its seven contract tables and everything planned on
them (overrides, consensus, forecast runs, scenarios, decisions, approved plan versions, the
settings). The workspace setting `company` says whose: {"kind": "demo" | "own", "name", "demo_end"}
(a workspace from before the setting existed is the demo's when every stored load came from
`demo/…`). Switching company never mixes the two:

- `reset_to_demo` and `start_company` first write a backup of the workspace (`sop_core.store.backup`,
  beside it under backups/) whenever it holds anything, then replace everything in ONE
  transaction: the contract tables, the company's rows of the planning tables, the settings
  (back to the defaults; the server's own settings in KEEP_SETTINGS stay) and the company marker.
  A process killed at any point leaves the old company or the new one, never a mix: the backup is
  complete before the transaction starts, and DuckDB drops an uncommitted transaction on restart.
- `ensure_demo` (the app's start-up): a workspace with no company gets the demo; a demo
  workspace missing tables (a half-done reset of an older version) is finished; a demo whose
  history no longer ends in the last complete month (the calendar moved on) gets the month's data,
  as a real company's next month of actuals would arrive, keeping what planners did on it.

The audit log is never cleared: the switch is one audited event ('reset' or 'company') naming the
backup, and the events of the company set aside stay in the audit log and the ledger.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sop_core import contract
from sop_core.intake import demo
from sop_core.store import backup
from sop_core.store.workspace import Workspace, utcnow

SETTING = "company"
DEMO, OWN = "demo", "own"
KEEP_SETTINGS = frozenset({"dask_scheduler"})  # where the server sends work: not the company's data
# the planning tables holding one company's work, children before parents
PLANNING_TABLES: tuple[str, ...] = (
    "plan_result_frames", "plan_results", "consensus", "overrides", "backtest_points", "forecast_values", "forecast_series", "forecast_runs",
    "plan_version_lines", "decision_events", "decisions", "plan_versions", "scenarios", "loads", "link_snapshots",
)


@dataclass(frozen=True)
class Company:
    """Whose data a workspace holds: kind ('demo', 'own' or None when empty), display name, the demo's last month."""

    kind: str | None
    name: str | None = None
    demo_end: str | None = None

    @property
    def is_demo(self) -> bool:
        return self.kind == DEMO


def current(ws: Workspace) -> Company:
    """The company the workspace holds (kind None: a new, empty workspace)."""
    stored = ws.get_setting(SETTING)
    if isinstance(stored, dict) and stored.get("kind") in (DEMO, OWN):
        return Company(stored["kind"], stored.get("name"), stored.get("demo_end"))
    files = ws.query("SELECT DISTINCT file_name FROM loads")["file_name"]
    if len(files) and files.str.startswith(demo.FILE_PREFIX).all():
        return Company(DEMO, demo.COMPANY)  # a demo workspace from before the marker
    return Company(OWN if len(files) or ws.loaded_tables() else None)


def holds_anything(ws: Workspace) -> bool:
    """True when the workspace holds a contract table or any planning row worth a backup."""
    if ws.loaded_tables():
        return True
    return any(ws.scalar(f'SELECT count(*) FROM "{t}"') for t in PLANNING_TABLES)


def _clear(ws: Workspace, cur: duckdb.DuckDBPyConnection) -> None:
    """Drop the contract tables and delete the company's planning rows and settings, in the caller's transaction."""
    for name in contract.TABLE_ORDER:
        cur.execute(f'DROP TABLE IF EXISTS "{name}"')
    for table in PLANNING_TABLES:
        cur.execute(f'DELETE FROM "{table}"')
    keep = sorted(KEEP_SETTINGS)
    cur.execute(f"DELETE FROM settings WHERE key NOT IN ({', '.join('?' for _ in keep)})", keep)


def _marker(kind: str, name: str | None, end: str | None) -> dict[str, Any]:
    return {"kind": kind, "name": name, "demo_end": end, "since": utcnow().isoformat(timespec="seconds")}


def _backup_first(ws: Workspace, backup_dir: str | Path | None) -> Path | None:
    """A backup of the workspace when it holds anything (None when there was nothing to keep)."""
    return backup.backup(ws, backup_dir) if holds_anything(ws) else None


def _store_demo(ws: Workspace, cur: duckdb.DuckDBPyConnection, end: str) -> None:
    """The demo's seven tables, loaded in the caller's transaction."""
    for name, (frame, provenance) in demo.tables(end=end).items():
        ws.store_table(cur, name, frame, provenance)


def reset_to_demo(ws: Workspace, author: str | None = None, *, backup_dir: str | Path | None = None,
                  end: str | None = None) -> Path | None:
    """Replace the whole workspace with the demo company, as the demo defines it; returns the backup made first.

    One transaction: the seven demo tables (history ending `end`, default the last complete month),
    no overrides, scenarios, decisions or versions, every setting back to its default.
    """
    end = end or demo.demo_end()
    saved = _backup_first(ws, backup_dir)
    with ws.transaction() as cur:
        ws.audit(cur, "reset", "demo", {"backup": str(saved) if saved else None, "demo_end": end}, author)
        _clear(ws, cur)
        _store_demo(ws, cur, end)
        ws.store_setting(cur, SETTING, _marker(DEMO, demo.COMPANY, end), author)
    return saved


def start_company(ws: Workspace, author: str | None = None, name: str | None = None, *,
                  backup_dir: str | Path | None = None) -> Path | None:
    """Set the current company aside (backup first) and leave an empty workspace for one's own; the backup path.

    One transaction: every contract table dropped, every planning row and setting removed, the
    company marker set to 'own'. The caller then loads the user's files.
    """
    saved = _backup_first(ws, backup_dir)
    with ws.transaction() as cur:
        ws.audit(cur, "company", "start", {"backup": str(saved) if saved else None, "name": name}, author)
        _clear(ws, cur)
        ws.store_setting(cur, SETTING, _marker(OWN, name, None), author)
    return saved


def ensure_demo(ws: Workspace) -> bool:
    """At start-up: load, finish or bring up to date the demo company where the workspace holds it; True when it wrote.

    A new workspace gets the demo; a workspace of one's own company is never touched.
    """
    company = current(ws)
    end = demo.demo_end()
    if company.kind is None:
        reset_to_demo(ws, "demo", end=end)
        return True
    if not company.is_demo:
        return False
    complete = ws.loaded_tables() == list(contract.TABLE_ORDER)
    if complete and company.demo_end == end:
        return False
    with ws.transaction() as cur:  # a half-done reset is finished; a new month's data arrives
        _store_demo(ws, cur, end)
        ws.store_setting(cur, SETTING, _marker(DEMO, demo.COMPANY, end), "demo")
    return True

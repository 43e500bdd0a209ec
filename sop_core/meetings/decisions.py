"""The decision log: what a meeting decided, who owns it, by when, and what became of it.

Append-only storage. `decisions` holds what was decided (title, detail, owner, due date, who
recorded it, scenario) and is never changed; `decision_events` records every change after that,
with who and when: 'created' (status 'open'), 'status' (old_status → new_status) and 'linked' (the
plan version the decision belongs to). The current status is the latest event's status; the
version is the one linked (at creation or once later, while the decision has none). Title, owner
and due date are not editable: there is no function for it. Every write is one transaction with
an audit event; `record` is idempotent on event_id and `set_status` refuses a stale change when
the caller passes the status its screen showed (`expected_status`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from sop_core import clock
from sop_core.intake.validate import text_field
from sop_core.store.workspace import Workspace, new_id, retry_write, utcnow

STATUSES: tuple[str, ...] = ("open", "in progress", "done", "dropped")
CLOSED: tuple[str, ...] = ("done", "dropped")
LOG_COLUMNS: tuple[str, ...] = (
    "decision_id", "title", "owner", "due_date", "status", "created_by", "created_at", "scenario_id",
    "version_id", "overdue", "detail", "status_at", "status_by",
)
EVENT_COLUMNS: tuple[str, ...] = (
    "decision_event_id", "decision_id", "seq", "at", "author", "kind", "old_status", "new_status", "version_id",
)
MAX_TITLE = 200
MAX_OWNER = 100
MAX_DETAIL = 4000
_EVENT_SQL_COLUMNS = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)


class StaleDecision(RuntimeError):
    """The decision's status changed since the caller's screen showed it."""


@dataclass(frozen=True)
class Decision:
    """One decision with its current status and linked version."""

    decision_id: str
    title: str
    owner: str
    due_date: date
    status: str
    created_by: str
    created_at: pd.Timestamp
    scenario_id: str | None
    version_id: str | None
    detail: str
    status_at: pd.Timestamp
    status_by: str


# -- reads -------------------------------------------------------------------------------------
_CURRENT = """
    WITH ev AS (
        SELECT decision_id,
               arg_max(new_status, seq) FILTER (WHERE new_status IS NOT NULL) AS status,
               max(version_id) AS version_id,
               arg_max("at", seq) FILTER (WHERE new_status IS NOT NULL) AS status_at,
               arg_max(author, seq) FILTER (WHERE new_status IS NOT NULL) AS status_by
        FROM decision_events GROUP BY decision_id
    )
    SELECT d.decision_id, d.title, d.owner, d.due_date, ev.status, d.created_by, d.created_at, d.scenario_id,
           ev.version_id, d.detail, ev.status_at, ev.status_by, d.event_id
    FROM decisions d JOIN ev USING (decision_id)
"""


def _df(src: Workspace | duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """A query on the workspace (fresh cursor) or inside the caller's transaction cursor."""
    if isinstance(src, Workspace):
        return src.query(sql, list(params or []))
    return src.execute(sql, list(params or [])).df()


def _opt(v: Any) -> Any:
    return None if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)) else v


def _to_decision(row: pd.Series) -> Decision:
    return Decision(
        decision_id=str(row["decision_id"]), title=str(row["title"]), owner=str(row["owner"]),
        due_date=pd.Timestamp(row["due_date"]).date(), status=str(row["status"]), created_by=str(row["created_by"]),
        created_at=pd.Timestamp(row["created_at"]), scenario_id=_opt(row["scenario_id"]),
        version_id=_opt(row["version_id"]), detail=_opt(row["detail"]) or "",
        status_at=pd.Timestamp(row["status_at"]), status_by=str(row["status_by"]),
    )


def get(ws: Workspace | duckdb.DuckDBPyConnection, decision_id: str) -> Decision | None:
    """The decision with its current status, or None."""
    df = _df(ws, _CURRENT + " WHERE d.decision_id = ?", [decision_id])
    return _to_decision(df.iloc[0]) if len(df) else None


def _today(today: date | None) -> date:
    return today if today is not None else clock.today()


def log(ws: Workspace, status: str | Sequence[str] | None = None, today: date | None = None) -> pd.DataFrame:
    """The decision log, earliest due first: LOG_COLUMNS.

    overdue = due_date before today (UTC) and status not done/dropped; status_at/status_by = when
    and by whom the status was last set. `status` filters to one status or a list of them.
    """
    df = ws.query(_CURRENT + " ORDER BY d.due_date, d.created_at, d.decision_id")
    if status is not None:
        wanted = [_status(s) for s in ([status] if isinstance(status, str) else status)]
        df = df[df["status"].isin(wanted)]
    due = pd.to_datetime(df["due_date"])
    df = df.assign(overdue=(due < pd.Timestamp(_today(today))) & ~df["status"].isin(CLOSED))
    df["overdue"] = df["overdue"].astype(bool)
    return df[list(LOG_COLUMNS)].reset_index(drop=True)


def events(ws: Workspace, decision_id: str | None = None) -> pd.DataFrame:
    """Every change, oldest first per decision: EVENT_COLUMNS (one decision when given)."""
    where, params = ("WHERE decision_id = ?", [decision_id]) if decision_id else ("", [])
    return ws.query(f'SELECT {_EVENT_SQL_COLUMNS} FROM decision_events {where} '
                    f'ORDER BY decision_id, seq', params)


# -- validation --------------------------------------------------------------------------------
def _status(v: Any) -> str:
    s = str(v or "").strip().lower()
    if s not in STATUSES:
        raise ValueError(f"unknown status {v!r}: use one of {', '.join(STATUSES)}")
    return s


def _due(v: Any, today: date) -> date:
    if v is None or (isinstance(v, str) and not v.strip()):
        raise ValueError("a due date is required")
    try:
        d = pd.Timestamp(v)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"due date {v!r} is not a date (use YYYY-MM-DD)") from exc
    if d is pd.NaT or pd.isna(d):
        raise ValueError("a due date is required")
    due = d.date()
    if due < today:
        raise ValueError(f"due date {due:%Y-%m-%d} is in the past (today is {today:%Y-%m-%d}): "
                         "pick today or a later date")
    return due


def _version_exists(cur: duckdb.DuckDBPyConnection, version_id: str) -> int | None:
    """The version's number, or None when there is no such approved version."""
    rows = cur.execute("SELECT number FROM plan_versions WHERE version_id = ?", [version_id]).fetchall()
    return int(rows[0][0]) if rows else None


def _event(cur: duckdb.DuckDBPyConnection, decision_id: str, author: str, kind: str, old: str | None,
           new: str | None, version_id: str | None) -> int:
    """Append one decision event (next seq of the decision); returns the seq."""
    seq = int(cur.execute("SELECT coalesce(max(seq), 0) + 1 FROM decision_events WHERE decision_id = ?",
                          [decision_id]).fetchall()[0][0])
    cur.execute(f'INSERT INTO decision_events ({_EVENT_SQL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                [new_id(), decision_id, seq, _now(cur, decision_id), author, kind, old, new, version_id])
    return seq


def _now(cur: duckdb.DuckDBPyConnection, decision_id: str) -> datetime:
    """Now, never before the decision's previous event (events stay in order if the clock steps back)."""
    last = cur.execute('SELECT max("at") FROM decision_events WHERE decision_id = ?', [decision_id]).fetchall()[0][0]
    now = utcnow()
    return max(now, last) if last is not None else now


# -- writes ------------------------------------------------------------------------------------
def _by_event(src: Workspace | duckdb.DuckDBPyConnection, event_id: str | None) -> str | None:
    if not event_id:
        return None
    df = _df(src, "SELECT decision_id FROM decisions WHERE event_id = ?", [event_id])
    return str(df["decision_id"].iloc[0]) if len(df) else None


def record(ws: Workspace, *, title: str, owner: str, due_date: date | str | pd.Timestamp, detail: str = "",
           scenario_id: str | None = None, version_id: str | None = None, author: str, event_id: str | None = None,
           today: date | None = None) -> str:
    """Record a decision (status 'open') and return its id; a repeated event_id returns the stored decision's id.

    ValueError when title, owner or author is blank, the due date is missing or before today (UTC,
    or `today`), or version_id names no approved version.
    """
    title = text_field(title, "a title (what was decided)", MAX_TITLE)
    owner = text_field(owner, "an owner (who carries it out)", MAX_OWNER)
    author = text_field(author, "the author (who records it)", MAX_OWNER)
    detail = text_field(detail, "the detail", MAX_DETAIL, required=False)
    scenario = text_field(scenario_id, "scenario_id", MAX_TITLE, required=False) or None
    version = text_field(version_id, "version_id", MAX_TITLE, required=False) or None
    event_id = text_field(event_id, "event_id", MAX_TITLE, required=False) or None
    due = _due(due_date, _today(today))

    def write() -> str:
        with ws.transaction() as cur:
            existing = _by_event(cur, event_id)
            if existing is not None:
                return existing
            if version is not None and _version_exists(cur, version) is None:
                raise ValueError(f"no approved plan version {version!r} to link the decision to")
            decision_id = new_id()
            cur.execute(
                "INSERT INTO decisions (decision_id, title, detail, owner, due_date, created_by, created_at,"
                " scenario_id, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [decision_id, title, detail, owner, due, author, utcnow(), scenario, event_id],
            )
            _event(cur, decision_id, author, "created", None, "open", version)
            ws.audit(cur, "decision", decision_id, {
                "title": title, "owner": owner, "due_date": due.isoformat(), "scenario_id": scenario,
                "version_id": version, "detail": detail,
            }, author)
        return decision_id

    return retry_write(write, lambda: _by_event(ws, event_id))


def set_status(ws: Workspace, decision_id: str, status: str, author: str,
               expected_status: str | None = None) -> bool:
    """Change a decision's status (logged with who and when); False when it already had that status.

    KeyError for an unknown decision; StaleDecision when `expected_status` (what the caller's screen
    showed) is no longer the current status — an audit event of the refused attempt is written.
    """
    new = _status(status)
    author = text_field(author, "the author (who changes the status)", MAX_OWNER)
    expected = _status(expected_status) if expected_status is not None else None

    def write() -> bool:
        refused: StaleDecision | None = None
        changed = False
        with ws.transaction() as cur:
            d = get(cur, decision_id)
            if d is None:
                raise KeyError(f"no decision {decision_id!r}")
            if expected is not None and d.status != expected:
                refused = StaleDecision(
                    f"“{d.title}” was set to '{d.status}' by {d.status_by} at {d.status_at:%d %b %H:%M} UTC "
                    "— reload to see it")
                ws.audit(cur, "decision_refused", decision_id, {
                    "reason": "stale", "expected_status": expected, "status": d.status, "wanted": new}, author)
            elif d.status != new:
                _event(cur, decision_id, author, "status", d.status, new, None)
                ws.audit(cur, "decision_status", decision_id, {"from": d.status, "to": new, "title": d.title},
                         author)
                changed = True
        if refused is not None:
            raise refused
        return changed

    return retry_write(write, lambda: None)


def link_version(ws: Workspace, decision_ids: str | Sequence[str], version_id: str,
                 author: str | None = None) -> list[str]:
    """Link decisions to the plan version approved with them (all or none); returns the ids newly linked.

    Allowed once per decision, while it has no version; a decision already linked to this same
    version is left as it is (a repeated click), one linked to another version raises ValueError.
    `author` defaults to the version's approver.
    """
    ids = [decision_ids] if isinstance(decision_ids, str) else list(dict.fromkeys(decision_ids))
    version = text_field(version_id, "version_id", MAX_TITLE)

    def write() -> list[str]:
        linked: list[str] = []
        with ws.transaction() as cur:
            number = _version_exists(cur, version)
            if number is None:
                raise ValueError(f"no approved plan version {version!r}")
            who = text_field(author, "author", MAX_OWNER, required=False) or str(cur.execute(
                "SELECT approved_by FROM plan_versions WHERE version_id = ?", [version]).fetchall()[0][0])
            for decision_id in ids:
                d = get(cur, decision_id)
                if d is None:
                    raise KeyError(f"no decision {decision_id!r}")
                if d.version_id == version:
                    continue
                if d.version_id is not None:
                    other = _version_exists(cur, d.version_id)
                    raise ValueError(f"decision “{d.title}” is already linked to plan version "
                                     f"v{other if other is not None else '?'}; a decision belongs to one version")
                _event(cur, decision_id, who, "linked", None, None, version)
                linked.append(decision_id)
            if linked:
                ws.audit(cur, "decision_linked", version, {"decision_ids": linked, "number": number}, who)
        return linked

    return retry_write(write, lambda: None)

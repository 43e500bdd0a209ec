"""Data health: what each contract table holds, when it was loaded, and which views still lack it."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from sop_core import clock, contract
from sop_core.store.workspace import Workspace

HEALTH_COLUMNS = ["table", "label", "required", "loaded", "rows", "first_date", "last_date", "file_name",
                  "loaded_at", "warnings", "views_waiting"]


@dataclass(frozen=True)
class DataState:
    """Which contract tables are loaded now and a content key of them (one query, every rerun)."""

    present: frozenset[str]
    key: str


def data_state(ws: Workspace) -> DataState:
    """The loaded contract tables with the content hash of their latest load, in one query.

    key: 'table:content_sha256' per loaded contract table in name order, joined by '|' ('-' for a table
    with no load logged). (`Workspace.has_table` and `fingerprint` cost a query each; a table dropped
    outside a load stays in the loads log, so presence is read from the catalog, not from the log.)
    """
    rows = ws.query(
        "SELECT t.table_name, l.content_sha256 FROM duckdb_tables() t LEFT JOIN ("
        "  SELECT table_name, content_sha256 FROM loads"
        "  QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY loaded_at DESC) = 1"
        ") l USING (table_name) WHERE t.schema_name = 'main' ORDER BY t.table_name")
    rows = rows[rows["table_name"].isin(list(contract.TABLES))]
    key = "|".join(f"{t}:{h if isinstance(h, str) else '-'}" for t, h in zip(rows["table_name"], rows["content_sha256"]))
    return DataState(present=frozenset(rows["table_name"]), key=key)


def _ident(name: str) -> str:
    """A quoted SQL identifier (any text, embedded double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def table_preview(ws: Workspace, name: str, limit: int = 1000) -> pd.DataFrame:
    """The first `limit` rows of stored table `name` (all its columns, storage order), as the Data page shows them.

    The name is quoted as an identifier and the limit bound as a parameter, so neither can change the query.
    """
    return ws.query(f"SELECT * FROM {_ident(name)} LIMIT ?", [max(int(limit), 0)])


def _date_column(table: contract.Table) -> str | None:
    return next((c.name for c in table.columns if c.type == contract.DATE), None)


def table_health(ws: Workspace) -> pd.DataFrame:
    """One row per contract table (columns HEALTH_COLUMNS); views_waiting lists views that need a missing table."""
    loads = ws.latest_loads().set_index("table_name") if ws.has_table("loads") else pd.DataFrame()
    rows = []
    for name, spec in contract.TABLES.items():
        loaded = ws.has_table(name)
        row = {"table": name, "label": spec.label, "required": name == "sales", "loaded": loaded, "rows": 0,
               "first_date": pd.NaT, "last_date": pd.NaT, "file_name": None, "loaded_at": pd.NaT,
               "warnings": [], "views_waiting": [] if loaded else list(spec.needed_by)}
        if loaded:
            date_col = _date_column(spec)
            if date_col:
                stats = ws.query(f'SELECT count(*) AS n, min("{date_col}") AS lo, max("{date_col}") AS hi FROM "{name}"')
                row.update(rows=int(stats["n"].iloc[0]), first_date=stats["lo"].iloc[0], last_date=stats["hi"].iloc[0])
            else:
                row["rows"] = int(ws.scalar(f'SELECT count(*) FROM "{name}"'))
            if name in loads.index:
                last = loads.loc[name]
                row.update(file_name=last["file_name"], loaded_at=last["loaded_at"],
                           warnings=json.loads(last["warnings"] or "[]"))
        rows.append(row)
    return pd.DataFrame(rows, columns=HEALTH_COLUMNS)


def freshness(ws: Workspace, today: pd.Timestamp | None = None) -> dict[str, object]:
    """Is last month's sales data in? last_period, months_behind (0 = last complete month loaded), fresh."""
    today = clock.today_ts() if today is None else pd.Timestamp(today)
    if not ws.has_table("sales"):
        return {"last_period": None, "months_behind": None, "fresh": False}
    last = pd.Timestamp(ws.scalar('SELECT max("date") FROM sales'))
    last_complete = (today.to_period("M") - 1).start_time
    behind = (last_complete.year - last.year) * 12 + (last_complete.month - last.month)
    return {"last_period": last.to_period("M").start_time, "months_behind": max(behind, 0), "fresh": behind <= 0}

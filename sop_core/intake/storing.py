"""Store a checked table in the workspace: replace it, or append the periods a file covers, all or nothing.

The rows come from a pandas frame (a file read in memory) or a Parquet file (a file checked in SQL, see
`staged_checks`), copied by DuckDB without passing through pandas. Either way one transaction holds the
table change, its row in `loads` and its audit event (and so its ledger line): a failure leaves the table
as it was; settings the load decides (a sales history's basis) are stored in that same transaction.
`append_rows` replaces only the periods (distinct dates of the period column) the file holds
and keeps every other row of the table.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sop_core import contract
from sop_core.store.workspace import Provenance, new_id, utcnow

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from sop_core.store.workspace import Workspace

# the column whose dates are a table's periods: what `append_rows` replaces
PERIOD_COLUMN = {"sales": "date", "supply": "date", "inventory": "date", "capacity": "period", "plan": "period",
                 "orders": "requested_date"}


@dataclass
class Appended:
    """What an append did: rows added, periods replaced (first, last), rows of those periods removed, rows kept."""

    load_id: str
    rows_added: int
    periods: int
    first_period: str | None
    last_period: str | None
    rows_replaced: int
    rows_kept: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A SQL string literal of `text` (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _source(cur: duckdb.DuckDBPyConnection, rows: pd.DataFrame | str | Path, spec: contract.Table) -> tuple[str, str | None]:
    """SQL selecting the table's columns, cast, from `rows`, and the name of a registered frame (None for a file)."""
    select = ", ".join(f"CAST({_quote(c.name)} AS {c.type}) AS {_quote(c.name)}" for c in spec.columns)
    if isinstance(rows, pd.DataFrame):
        frame = pd.DataFrame({c: rows[c] if c in rows.columns else None for c in spec.column_names})
        view = f"_incoming_{new_id()}"
        cur.register(view, frame)
        return f"SELECT {select} FROM {_quote(view)}", view
    return f"SELECT {select} FROM read_parquet({sql_literal(str(rows))})", None


def content_sha256(cur: duckdb.DuckDBPyConnection, name: str, spec: contract.Table) -> str:
    """A hash of every row of a stored table (DuckDB's row hashes summed and xor-ed, with the count)."""
    cols = ", ".join(_quote(c) for c in spec.column_names)
    n, total, xor = cur.execute(f"SELECT count(*), coalesce(sum(hash({cols})::HUGEINT), 0), "
                                f"coalesce(bit_xor(hash({cols})), 0) FROM {_quote(name)}").fetchone()
    text = f"duckdb-rows|{'|'.join(spec.column_names)}|{n}|{total}|{xor}"
    return hashlib.sha256(text.encode()).hexdigest()


def _record(ws: Workspace, cur: duckdb.DuckDBPyConnection, name: str, rows: int, provenance: Provenance,
            extra: dict | None = None) -> str:
    """The load's row in `loads` and its audit event, inside the caller's transaction; returns the load id."""
    spec = contract.TABLES[name]
    load_id = new_id()
    cur.execute("INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [load_id, name, provenance.file_name, provenance.sha256, content_sha256(cur, name, spec), rows,
                 utcnow(), provenance.author, provenance.seconds, json.dumps(provenance.warnings),
                 json.dumps(provenance.mapping)])
    detail = {"load_id": load_id, "file": provenance.file_name, "rows": rows, "sha256": provenance.sha256}
    ws.audit(cur, "load", name, {**detail, **(extra or {})}, provenance.author)
    return load_id


def _store_settings(ws: Workspace, cur: duckdb.DuckDBPyConnection, settings: Mapping[str, Any] | None,
                    author: str | None) -> None:
    """Store the load's settings inside the caller's transaction."""
    for key, value in (settings or {}).items():
        ws.store_setting(cur, key, value, author)


def replace_rows(ws: Workspace, name: str, rows: pd.DataFrame | str | Path, provenance: Provenance,
                 settings: Mapping[str, Any] | None = None) -> str:
    """Replace contract table `name` with `rows` (a frame or a Parquet file) and record the load; returns its id.

    `settings` ({key: value}) are stored in the same transaction."""
    spec = contract.TABLES[name]
    with ws.transaction() as cur:
        if isinstance(rows, pd.DataFrame):
            load_id = ws.store_table(cur, name, rows, provenance)
        else:
            select, _ = _source(cur, rows, spec)
            cur.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
            cur.execute(f"CREATE TABLE {_quote(name)} AS {select}")
            count = cur.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0]
            load_id = _record(ws, cur, name, int(count), provenance)
        _store_settings(ws, cur, settings, provenance.author)
        return load_id


def append_rows(ws: Workspace, name: str, rows: pd.DataFrame | str | Path, provenance: Provenance,
                settings: Mapping[str, Any] | None = None) -> Appended:
    """Add `rows` to table `name`, replacing only the periods they hold; the rest of the table is kept.

    One transaction: the table change, the `loads` row, the audit event (mode 'append', the periods
    replaced) and `settings` are stored together or not at all. A table not loaded yet is created from `rows`.
    """
    if name not in PERIOD_COLUMN:
        raise ValueError(f"{name} has no periods to append: only {', '.join(PERIOD_COLUMN)} can be appended to")
    spec = contract.TABLES[name]
    period = _quote(PERIOD_COLUMN[name])
    exists = ws.has_table(name)
    with ws.transaction() as cur:
        select, view = _source(cur, rows, spec)
        try:
            cur.execute(f"CREATE TEMP TABLE _appending AS {select}")
        finally:
            if view is not None:
                cur.unregister(view)
        try:
            added, periods, first, last = cur.execute(
                f"SELECT count(*), count(DISTINCT {period}), min({period})::VARCHAR, max({period})::VARCHAR "
                "FROM _appending").fetchone()
            if exists:
                covered = f"{period} IN (SELECT DISTINCT {period} FROM _appending)"
                replaced = cur.execute(f"SELECT count(*) FROM {_quote(name)} WHERE {covered}").fetchone()[0]
                cur.execute(f"DELETE FROM {_quote(name)} WHERE {covered}")
                columns = ", ".join(_quote(c) for c in spec.column_names)
                cur.execute(f"INSERT INTO {_quote(name)} ({columns}) SELECT {columns} FROM _appending")
            else:
                replaced = 0
                cur.execute(f"CREATE TABLE {_quote(name)} AS SELECT * FROM _appending")
        finally:
            cur.execute("DROP TABLE IF EXISTS _appending")
        total = cur.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0]
        result = Appended(load_id="", rows_added=int(added), periods=int(periods), first_period=first,
                          last_period=last, rows_replaced=int(replaced), rows_kept=int(total) - int(added))
        result.load_id = _record(ws, cur, name, int(added), provenance, {
            "mode": "append", "periods": result.periods, "first_period": first, "last_period": last,
            "rows_replaced": result.rows_replaced, "rows_in_table": int(total)})
        _store_settings(ws, cur, settings, provenance.author)
    return result

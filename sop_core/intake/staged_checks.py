"""Validate a staged file (see `staging`) against a contract table in SQL, with `validate_frame`'s rules and messages.

Each rule is a `count(*) FILTER (WHERE ...)` over the mapped columns, plus the first rows (as in the
spreadsheet) and the first offending value; the message is worded by `errors.counted_rows_error`, as the
in-memory checks word theirs. Date columns hold few distinct values: those are parsed by
`checks.parse_dates` itself (each with the row it first appears on), and its errors are re-counted over
every row holding the values at fault. The clean table is written as Parquet (`validate_staged`), ready
for `load.commit` to copy into the workspace without passing through pandas.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core import contract
from sop_core.intake import units
from sop_core.intake.checks import (
    _FORMULA_LIKE,
    GROUPED_NUMBER,
    MAX_ABS_NUMBER,
    PLAIN_NUMBER,
    _minimum_fix,
    _number_fix,
    parse_dates,
)
from sop_core.intake.errors import IntakeError, Source, counted_rows_error, format_rows
from sop_core.intake.staging import VIEW, Staged, quote_name, quote_text
from sop_core.intake.validate import (
    DUPLICATE_ROWS_IN_MESSAGE,
    HISTORY_TABLES,
    PERIOD_BUCKET,
    PERIOD_COLUMNS,
    QUANTITY_COLUMNS,
    UNIT_COLUMN,
    Validated,
    _missing_columns,
    _show,
    _warn_case_variants,
)

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

MAPPED, TYPED, CLEAN = "mapped", "typed", "clean"
ROWS_KEPT = 100  # rows of an error kept for the report (as load.finish_prepared keeps)


@dataclass
class StagedResult:
    """What validating a staged file gave: the outcome, rows written and the distinct keys for cross-table checks."""

    validated: Validated
    rows: int = 0
    key_values: dict[str, list[Any]] = field(default_factory=dict)


def validate_staged(con: duckdb.DuckDBPyConnection, staged: Staged, mapping: dict[str, str], labels: dict[str, str],
                    table: contract.Table, out: Path, *, default_sku: str | None = None, dayfirst: bool | None = None,
                    decimal: str = ".", today: date | None = None,
                    conversions: units.Conversions | None = None) -> StagedResult:
    """Check the mapped columns of `staged` like validate_frame; with no errors, write the canonical table to `out`."""
    res = Validated(frame=None)
    result = StagedResult(res)
    present = list(mapping) + (["sku"] if default_sku is not None else [])
    missing = _missing_columns(table, present)
    if missing:
        res.errors.append(IntakeError(staged.file_name, missing, kind="missing_columns"))
        return result
    column_of = dict(zip(staged.headers, staged.columns))
    select = ["row"] + [f"coalesce({column_of[header]}, '') AS {quote_name(canon)}" for canon, header in mapping.items()]
    if default_sku is not None:  # a value: kept in a table, never written into SQL
        con.execute("CREATE OR REPLACE TABLE default_sku AS SELECT CAST(? AS VARCHAR) AS v", [str(default_sku).strip()])
        select.append("(SELECT v FROM default_sku) AS sku")
    con.execute(f"CREATE OR REPLACE VIEW {MAPPED} AS SELECT {', '.join(select)} FROM {VIEW}")
    check = _Checker(con, staged.file_name, res)
    values: dict[str, str] = {}  # canonical column -> SQL of its converted value (NULL when missing)
    joins: list[str] = []
    for col in table.mappable:
        if col.name not in present:
            continue
        label = labels.get(col.name, col.name)
        if col.type == contract.NUMBER:
            values[col.name] = check.numbers(col, label, decimal, col.name in QUANTITY_COLUMNS)
        elif col.type == contract.DATE:
            no_future = table.name in HISTORY_TABLES and col.name == "date"
            values[col.name] = check.dates(col, label, dayfirst, no_future, today, joins)
        else:
            values[col.name] = check.text(col, label)
    check.one_of(table, values, joins)
    if res.errors:
        return result
    if "sku" in values:
        skus = con.execute(f"SELECT DISTINCT sku FROM {MAPPED} WHERE sku <> ''").df()["sku"]
        _warn_case_variants(skus, labels.get("sku", "sku"), res)
    typed = ", ".join(f"{v} AS {quote_name(c)}" for c, v in values.items())
    changed = PERIOD_COLUMNS.intersection(values) or UNIT_COLUMN in values or any(k in values for k in table.key)
    kind = "TABLE" if changed else "VIEW"  # a table when rows are updated or grouped, else read once when written
    con.execute(f"CREATE OR REPLACE {kind} {TYPED} AS SELECT m.row, false AS __moved, {typed} FROM {MAPPED} m "
                + " ".join(joins))
    for name in sorted(PERIOD_COLUMNS.intersection(values)):
        check.align_period(name, labels.get(name, name))
    if UNIT_COLUMN in values:
        check.units(labels.get(UNIT_COLUMN, UNIT_COLUMN), conversions or {},
                    [c for c in QUANTITY_COLUMNS if c in values])
        if res.errors:
            return result
    source = check.duplicates(table, labels, [c for c in values if c != UNIT_COLUMN])
    if res.errors:
        return result
    canonical = ", ".join(f"{quote_name(c.name)}" if c.name in values else f"CAST(NULL AS {c.type}) AS {quote_name(c.name)}"
                          for c in table.columns)
    con.execute(f"COPY (SELECT {canonical} FROM ({source}) ORDER BY row) TO {quote_text(str(out))} (FORMAT parquet)")
    result.rows = con.execute(f"SELECT count(*) FROM ({source})").fetchone()[0]
    for key in ("sku", "date"):
        if key in values:
            result.key_values[key] = [v for (v,) in con.execute(f"SELECT DISTINCT {quote_name(key)} FROM {TYPED} "
                                                                 f"WHERE {quote_name(key)} IS NOT NULL").fetchall()]
    return result


class _Checker:
    """The rules of checks and validate, run in SQL on the `mapped` and `typed` tables; errors go to `res`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, file_name: str, res: Validated) -> None:
        self.con, self.file, self.res = con, file_name, res

    # -- helpers ------------------------------------------------------------------------------------
    def _count(self, condition: str, value: str | None, table: str = MAPPED) -> tuple[int, Any]:
        """Rows where `condition` holds, and `value` on the first of them."""
        first = f"arg_min({value}, row) FILTER (WHERE {condition})" if value else "NULL"
        n, example = self.con.execute(f"SELECT count(*) FILTER (WHERE {condition}), {first} FROM {table}").fetchone()
        return int(n), example

    def _rows(self, condition: str, table: str = MAPPED, limit: int = ROWS_KEPT) -> list[int]:
        """The first rows (as in the spreadsheet) where `condition` holds."""
        return [r for (r,) in self.con.execute(f"SELECT row FROM {table} WHERE {condition} ORDER BY row "
                                               f"LIMIT {int(limit)}").fetchall()]

    def _errors(self, label: str, rules: list[tuple[str, str | tuple[str, str], str | None, str, str]]) -> None:
        """Several rules (condition, problem, value shown, fix, kind) of one column, counted in one pass."""
        parts = []
        for condition, _, value, _, _ in rules:
            parts.append(f"count(*) FILTER (WHERE {condition})")
            parts.append(f"arg_min({value}, row) FILTER (WHERE {condition})" if value else "NULL")
        found = self.con.execute(f"SELECT {', '.join(parts)} FROM {MAPPED}").fetchone()
        for i, (condition, problem, value, fix, kind) in enumerate(rules):
            n, example = found[2 * i], found[2 * i + 1]
            if n:
                rows = self._rows(condition)
                self.res.errors.append(counted_rows_error(self.file, label, rows, int(n), problem,
                                                          "" if value is None else example, fix, kind))

    def _error(self, condition: str, label: str | None, problem: str | tuple[str, str], value: str | None, fix: str,
               kind: str, table: str = MAPPED, limit: int = 10) -> bool:
        """Add a rows error for the rows where `condition` holds; True when there were any."""
        n, example = self._count(condition, value, table)
        if n:
            rows = self._rows(condition, table, max(limit, ROWS_KEPT))
            self.res.errors.append(counted_rows_error(self.file, label, rows, n, problem,
                                                      "" if value is None else example, fix, kind, limit))
        return bool(n)

    # -- columns ------------------------------------------------------------------------------------
    def numbers(self, col: contract.Column, label: str, decimal: str, quantity: bool) -> str:
        """checks.parse_numbers: errors for non-numbers, too large, empty and below minimum; returns the value SQL."""
        t = quote_name(col.name)
        plain = f"regexp_full_match({t}, {quote_text(PLAIN_NUMBER[decimal])})"
        number = f"({plain} OR regexp_full_match({t}, {quote_text(GROUPED_NUMBER[decimal])}))"
        clean = f"replace({t}, ',', '')" if decimal == "." else f"replace(replace({t}, '.', ''), ',', '.')"
        cast = f"TRY_CAST({clean} AS DOUBLE)"
        huge = f"({number} AND ({cast} IS NULL OR NOT abs({cast}) < {MAX_ABS_NUMBER!r}))"
        value = f"CASE WHEN {number} AND NOT {huge} THEN {cast} END"
        rules = [(f"{t} <> '' AND NOT {number}", ("not a number", "not numbers"), t, _number_fix(decimal),
                  "not_number"),
                 (huge, "too large or not finite", t, f"Values must be finite and below {MAX_ABS_NUMBER:,.0f}.",
                  "too_large")]
        if col.required:
            rules.append((f"{t} = ''", "empty", None, "Fill in a value or remove the rows.", "empty"))
        if col.minimum is not None:
            problem = "negative" if col.minimum == 0 else f"below {col.minimum:g}"
            rules.append((f"({value}) < {float(col.minimum)!r}", problem, t, _minimum_fix(col.minimum, quantity),
                          "below_minimum"))
        self._errors(label, rules)
        return f"(CASE WHEN {number} THEN {cast} END)"

    def text(self, col: contract.Column, label: str) -> str:
        """checks.parse_text: empty required values are errors, formula-like values a warning; returns the value SQL."""
        t = quote_name(col.name)
        if col.required:
            self._error(f"{t} = ''", label, "empty", None, "Fill in a value or remove the rows.", "empty")
        formula = f"(left({t}, 1) IN ('=', '@', '+', '-') AND regexp_full_match({t}, {quote_text(_FORMULA_LIKE)}))"
        n, example = self._count(formula, t)
        if n:
            rows = self._rows(formula, limit=10)
            self.res.warnings.append(f"column '{label}': {n:,} values start like a spreadsheet formula "
                                     f"({format_rows(rows, total=n)}), e.g. {example!r}; stored as plain text")
        return f"NULLIF(m.{t}, '')"

    def dates(self, col: contract.Column, label: str, dayfirst: bool | None, no_future: bool, today: date | None,
              joins: list[str]) -> str:
        """checks.parse_dates on the distinct values (in order of first appearance), its errors counted over every row."""
        t = quote_name(col.name)
        uniques = self.con.execute(f"SELECT {t} AS v, min(row) AS first FROM {MAPPED} GROUP BY {t} "
                                   "ORDER BY first").df()
        src = Source(self.file, uniques["first"].to_numpy(dtype=np.int64))
        found: list[IntakeError] = []
        parsed, needed = parse_dates(uniques["v"].astype("str"), label, src, found, required=col.required,
                                     dayfirst=dayfirst, no_future=no_future, today=today, notes=self.res.notes)
        self.res.date_choice_needed = self.res.date_choice_needed or needed
        table = f"dates_{len(joins)}"
        frame = pd.DataFrame({"v": uniques["v"].astype("str"), "first": uniques["first"],
                              "d": pd.to_datetime(parsed)})
        self.con.register("_dates_frame", frame)
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT v, first, CAST(d AS DATE) AS d "
                             "FROM _dates_frame")
        finally:
            self.con.unregister("_dates_frame")
        for err in found:
            self.res.errors.append(self._every_row(err, t, table))
        joins.append(f"LEFT JOIN {table} ON m.{t} = {table}.v")
        return f"{table}.d"

    def _every_row(self, err: IntakeError, column: str, table: str) -> IntakeError:
        """An error found on distinct values, re-counted over every row holding one of them."""
        if err.parts is None or not err.rows:
            return err
        problem, example, fix, limit = err.parts
        bad = f"{column} IN (SELECT v FROM {table} WHERE first IN (SELECT unnest(?::BIGINT[])))"
        params = [list(err.rows)]
        n = self.con.execute(f"SELECT count(*) FROM {MAPPED} WHERE {bad}", params).fetchone()[0]
        rows = [r for (r,) in self.con.execute(f"SELECT row FROM {MAPPED} WHERE {bad} ORDER BY row "
                                               f"LIMIT {max(int(limit), ROWS_KEPT)}", params).fetchall()]
        return counted_rows_error(err.file, err.column, rows, int(n), problem, example, fix, err.kind, int(limit))

    def one_of(self, table: contract.Table, values: dict[str, str], joins: list[str]) -> None:
        """validate._check_one_of_rows: each row needs a value in one column of every one_of group."""
        for group in table.one_of:
            cols = [values[c] for c in group if c in values]
            if not cols:
                continue
            none = " AND ".join(f"({v}) IS NULL" for v in cols)
            source = f"(SELECT m.row, ({none}) AS none FROM {MAPPED} m {' '.join(joins)})"
            self._error("none", None, f"without a value for {' or '.join(group)}", None,
                        f"Give each row a value in {' or '.join(group)}.", "empty", table=source)

    # -- on the typed table ---------------------------------------------------------------------------
    def align_period(self, name: str, label: str) -> None:
        """validate.align_periods: period dates moved to the first day of their month, with a warning."""
        t = quote_name(name)
        moved = f"{t} IS NOT NULL AND {t} <> date_trunc('{PERIOD_BUCKET}', {t})"
        n, example = self._count(moved, t, TYPED)
        if not n:
            return
        rows = self._rows(moved, TYPED, 10)
        start = pd.Timestamp(example).to_period("M").start_time
        self.res.warnings.append(
            f"{self.file}, column '{label}': {n:,} {'date' if n == 1 else 'dates'} moved to the first day of their "
            f"{PERIOD_BUCKET} ({format_rows(rows, total=n)}), e.g. {_show(pd.Timestamp(example))} → {_show(start)}: "
            "a period is identified by its first day")
        self.con.execute(f"UPDATE {TYPED} SET __moved = true, {t} = date_trunc('{PERIOD_BUCKET}', {t})::DATE "
                         f"WHERE {moved}")

    def units(self, label: str, conversions: units.Conversions, quantities: list[str]) -> None:
        """validate.check_units: one unit loads as written; cases are converted with the products' units_per_case."""
        u = quote_name(UNIT_COLUMN)
        written = self.con.execute(f"SELECT {u} AS unit, count(*) AS n FROM {TYPED} GROUP BY {u}").df()
        codes = units.normalise_units(written["unit"].fillna(""))
        counts = written.assign(code=codes.to_numpy()).groupby("code", sort=False)["n"].sum()
        found = list(counts.index)
        if len(found) <= 1 and not (conversions and found == [units.CASE]):
            if len(found) == 1 and found[0] != units.EMPTY:
                self.res.notes.append(f"column '{label}': every quantity is in {found[0]}, loaded as written")
            return
        described = ", ".join(f"{c or '(empty)'}: {n:,} {'row' if n == 1 else 'rows'}"
                              for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] == units.EMPTY, kv[0])))
        major = min(counts.index, key=lambda c: (-counts[c], c != units.EACH, c))  # most rows; EA on a tie
        self.con.register("_unit_codes", pd.DataFrame({"unit": written["unit"].fillna(""), "code": codes.to_numpy(),
                                                       "minority": (codes != major).to_numpy()}))
        try:
            self.con.execute("CREATE OR REPLACE TABLE unit_codes AS SELECT * FROM _unit_codes")
        finally:
            self.con.unregister("_unit_codes")
        code = f"(SELECT code FROM unit_codes c WHERE c.unit = coalesce(t.{u}, ''))"
        if not conversions:
            minority = f"(SELECT minority FROM unit_codes c WHERE c.unit = coalesce(t.{u}, ''))"
            source = f"(SELECT t.row, t.{u} AS written, {minority} AS bad FROM {TYPED} t)"
            self._error("bad", label, ("in another unit than the rest of the column",
                                       "in other units than the rest of the column"), "coalesce(written, '')",
                        f"Mixed units ({described}) with no conversion: use one unit in the file, or load products "
                        "with units_per_case (and base_unit when it is not EA) for these skus first, so cases are "
                        "converted.", "mixed_units", table=source)
            return
        known = pd.DataFrame([(s, b, p) for s, (b, p) in conversions.items()], columns=["sku", "base", "per_case"])
        self.con.register("_conversions", known)
        try:
            self.con.execute("CREATE OR REPLACE TABLE conversions AS SELECT sku, base, per_case::DOUBLE AS per_case "
                             "FROM _conversions")
        finally:
            self.con.unregister("_conversions")
        rows = (f"(SELECT t.row, t.sku, coalesce(t.{u}, '') AS written, {code} AS code, "
                f"coalesce(k.base, '{units.EACH}') AS base, k.per_case FROM {TYPED} t "
                "LEFT JOIN conversions k ON k.sku = t.sku)")
        classified = (f"(SELECT *, code = base AS in_base, (code = '{units.CASE}' AND base <> '{units.CASE}' AND "
                      f"per_case IS NOT NULL) AS convert FROM {rows})")
        self.con.execute(f"CREATE OR REPLACE TABLE unit_rows AS SELECT * FROM {classified}")
        stuck_n = self.con.execute("SELECT count(*) FROM unit_rows WHERE NOT in_base AND NOT convert").fetchone()[0]
        if stuck_n:
            first = self.con.execute("SELECT written, sku FROM unit_rows WHERE NOT in_base AND NOT convert "
                                     "ORDER BY row LIMIT 1").fetchone()
            fix = f"Units found: {described}."
            cases = [s for (s,) in self.con.execute(
                f"SELECT DISTINCT sku FROM unit_rows WHERE NOT in_base AND NOT convert AND code = '{units.CASE}' "
                "ORDER BY sku").fetchall()]
            if cases:
                shown = ", ".join(repr(s) for s in cases[:5]) + (", …" if len(cases) > 5 else "")
                fix += f" Add units_per_case (base units in one case) to products for {shown} and load it first."
            other = [c for (c,) in self.con.execute(
                f"SELECT DISTINCT code FROM unit_rows WHERE NOT in_base AND NOT convert AND code <> '{units.CASE}' "
                "ORDER BY code").fetchall()]
            if other:
                fix += (f" Only cases ({units.CASE}) are converted: give the rows in "
                        f"{', '.join(c or '(empty)' for c in other)} in the sku's base unit.")
            rows_at = self._rows("NOT in_base AND NOT convert", "unit_rows")
            self.res.errors.append(counted_rows_error(
                self.file, label, rows_at, int(stuck_n), ("in a unit with no conversion to its sku's base unit",
                                                         "in units with no conversion to their sku's base unit"),
                f"{first[0] or '(empty)'} for sku {first[1]}", fix, "no_unit_conversion"))
            return
        n = self.con.execute("SELECT count(*) FROM unit_rows WHERE convert").fetchone()[0]
        if not n:
            return
        sets = ", ".join(f"{quote_name(q)} = t.{quote_name(q)} * r.per_case" for q in quantities)
        self.con.execute(f"UPDATE {TYPED} t SET {sets} FROM unit_rows r WHERE r.row = t.row AND r.convert")
        used = self.con.execute("SELECT sku, first(per_case ORDER BY row) FROM unit_rows WHERE convert GROUP BY sku "
                                "ORDER BY sku LIMIT 6").fetchall()
        factors = ", ".join(f"{s} ×{f:g}" for s, f in used[:5]) + (", …" if len(used) > 5 else "")
        rows_at = self._rows("convert", "unit_rows", 10)
        bases = "/".join(b for (b,) in self.con.execute("SELECT DISTINCT base FROM unit_rows WHERE convert "
                                                         "ORDER BY base").fetchall())
        self.res.warnings.append(
            f"{self.file}, column '{label}': {n:,} {'row' if n == 1 else 'rows'} in cases ({units.CASE}) "
            f"converted to {bases} — quantity × units_per_case from products ({factors}) "
            f"({format_rows(rows_at, total=n)}); units found: {described}")

    def duplicates(self, table: contract.Table, labels: dict[str, str], columns: list[str]) -> str:
        """validate._handle_duplicates: sum duplicate keys (with a warning) or reject them; returns the rows' SQL."""
        plain = f"SELECT row, {', '.join(quote_name(c) for c in columns)} FROM {TYPED}"
        keys = [k for k in table.key if k in columns]
        if not keys:
            return plain
        by = ", ".join(quote_name(k) for k in keys)
        n_keys = self.con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {TYPED} GROUP BY {by})").fetchone()[0]
        n_rows = self.con.execute(f"SELECT count(*) FROM {TYPED}").fetchone()[0]
        if n_keys == n_rows:
            return plain
        key_text = ", ".join(labels.get(k, k) for k in keys)
        if not table.sum_duplicates:
            dups = f"(SELECT *, count(*) OVER (PARTITION BY {by}) > 1 AS dup FROM {TYPED})"
            n = self.con.execute(f"SELECT count(*) FROM {dups} WHERE dup").fetchone()[0]
            first = self.con.execute(f"SELECT {by}, __moved FROM {dups} WHERE dup ORDER BY row LIMIT 1").fetchone()
            example = " / ".join(_show(pd.Timestamp(v) if isinstance(v, date) else v) for v in first[:len(keys)])
            any_moved = self.con.execute(f"SELECT bool_or(__moved) FROM {dups} WHERE dup").fetchone()[0]
            column = labels.get(keys[0], keys[0]) if len(keys) == 1 else None
            fix = f"Each {key_text} may appear only once: remove or merge the duplicates."
            if any_moved:
                fix += (f" The dates were moved to the first day of their {PERIOD_BUCKET} before this check (a period "
                        f"is a {PERIOD_BUCKET}): give one row per {PERIOD_BUCKET}.")
            rows = self._rows("dup", dups, DUPLICATE_ROWS_IN_MESSAGE)
            self.res.errors.append(counted_rows_error(
                self.file, column, rows, int(n), (f"a duplicate of another row's {key_text}",
                                                  f"duplicates of another row's {key_text}"),
                example, fix, "duplicate_key", DUPLICATE_ROWS_IN_MESSAGE))
            return plain
        numbers = [c.name for c in table.columns if c.type == contract.NUMBER and c.name in columns]
        parts = []
        for c in columns:
            q = quote_name(c)
            if c in keys:
                parts.append(q)
            elif c in numbers:
                parts.append(f"sum({q}) AS {q}")
            else:
                parts.append(f"first({q} ORDER BY row) FILTER (WHERE {q} IS NOT NULL) AS {q}")
        self.con.execute(f"CREATE OR REPLACE TABLE {CLEAN} AS SELECT min(row) AS row, {', '.join(parts)} "
                         f"FROM {TYPED} GROUP BY {by}")
        n = n_rows - n_keys
        self.res.duplicates_summed = int(n)
        self.res.warnings.append(f"{n:,} duplicate rows (same {key_text}) were summed into the first row of each key")
        return f"SELECT * FROM {CLEAN}"

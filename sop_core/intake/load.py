"""Data intake: read, map, validate and load one uploaded file into a contract table.

Used by both the Data page and the command line, so both give the same mapping, checks and
messages. `prepare` never writes anything: it returns a `Prepared` with the canonical frame or
the errors. `commit` stores a clean `Prepared` atomically (`Workspace.replace_table`) and
remembers the column mapping for the file's layout.

A sales file is a history in units or in money (`contract.BASES`): in money when the user says so
(`money=True`) or when the mapping finds a revenue column and no quantity column. A money history's
amounts are checked as the demand measure and stored in both `quantity` and `revenue`; the load
records the basis in the workspace setting `contract.BASIS_SETTING`, in the same transaction.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from sop_core import contract
from sop_core.intake import company
from sop_core.intake.checks import GROUPED_NUMBER, PLAIN_NUMBER, as_text, classify_dates, parse_numbers
from sop_core.intake.errors import IntakeError, Source, format_rows
from sop_core.intake.mapping import (
    Remembered,
    apply_overrides,
    find_header,
    guess_table,
    ignored_columns,
    is_money_layout,
    layout_key,
    missing_required,
    propose_mapping,
    recall_for_headers,
    remember_mapping,
)
from sop_core.intake.raw_table import DEFAULT_LIMITS, MB, Limits, RawTable
from sop_core.intake.readers import extension, read_file, sanitise_name
from sop_core.intake.storing import PERIOD_COLUMN, Appended, append_rows, replace_rows, sql_literal
from sop_core.intake.units import Conversions, workspace_conversions
from sop_core.intake.validate import Validated, validate_frame
from sop_core.store.workspace import Provenance, Workspace

WIDE_TABLES = ("sales", "supply", "inventory")  # tables a one-column-per-series layout can feed
DEFAULT_SKU_TABLES = ("sales", "supply", "inventory")  # a file without a sku column is one series
EXAMPLES = 5


@dataclass(frozen=True)
class WideSpec:
    """A wide layout: one date column and one column of values per series (series name = header)."""

    date_column: str
    value_name: str = "quantity"
    id_name: str = "sku"
    missing_markers: tuple[str, ...] = ("*", "")


@dataclass
class Prepared:
    """Everything known about an upload before it is stored.

    `frame` holds exactly the contract columns of `table` when there are no errors; a Prepared
    with errors cannot be committed. `stats`: rows_read (data rows in the file, blank ones
    included), blank_rows, rows_kept, duplicates_summed, missing_values, rejected (one dict per
    error: reason, count, rows, message).
    """

    file_name: str
    sha256: str
    table: str | None = None
    raw: RawTable | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    mapping_source: str = "proposed"  # 'proposed' | 'remembered' | 'user' | 'wide'
    layout_key: str | None = None
    frame: pd.DataFrame | None = None
    errors: list[IntakeError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    date_choice_needed: bool = False
    seconds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    wide: WideSpec | None = None
    staged: str | None = None  # a Parquet file holding the canonical table instead of `frame` (a streamed load)
    key_values: dict[str, list[Any]] = field(default_factory=dict)  # distinct skus and dates of a streamed load

    @property
    def ok(self) -> bool:
        """True when the file can be committed."""
        return not self.errors and (self.frame is not None or self.staged is not None) and self.table is not None

    @property
    def remembered(self) -> bool:
        """True when the mapping came from a layout confirmed earlier."""
        return self.mapping_source == "remembered"

    def summary(self) -> str:
        """One line: rows read and kept, or the number of problems."""
        if not self.ok:
            n = len(self.errors)
            return f"{self.file_name}: {n} {'problem' if n == 1 else 'problems'}; nothing loaded"
        return (f"{self.file_name}: {self.stats.get('rows_kept', 0):,} rows for {self.table} "
                f"({self.stats.get('rows_read', 0):,} rows read) in {self.seconds:.2f} s")


# -- prepare -------------------------------------------------------------------------------------

def prepare(name: str, data: bytes, table: str | None = None, *, mapping: dict[str, str | None] | None = None,
            dayfirst: bool | None = None, sheet: str | None = None, decimal: str | None = None,
            wide: WideSpec | bool | None = None, ws: Workspace | None = None, encoding: str | None = None,
            delimiter: str | None = None, default_sku: str | None = None, today: date | None = None,
            limits: Limits = DEFAULT_LIMITS, conversions: Conversions | None = None,
            money: bool | None = None) -> Prepared:
    """Read, map and validate an upload; nothing is stored. Errors are returned, not raised.

    `mapping` overrides {canonical: original header} (None/'' unmaps); passing any mapping, even
    {}, or wide=False turns off wide-layout detection. `dayfirst`, `decimal` and the wide layout
    default to what was remembered for this layout in `ws`, when given. `conversions` (unit
    conversions per sku, see sop_core.intake.units) default to those of the products stored in `ws`.
    `money`: a sales file's amounts are money, not units (None: as remembered for the layout, else a
    revenue column without a quantity column is money; see the module docstring).
    """
    started = time.perf_counter()
    p = Prepared(file_name=sanitise_name(name), sha256=hashlib.sha256(data).hexdigest())
    if table is not None and table not in contract.TABLES:
        p.errors.append(IntakeError(p.file_name, f"unknown table '{table}'; tables: {', '.join(contract.TABLES)}",
                                    kind="table_unknown"))
        return finish_prepared(p, started)
    try:
        p.raw = read_file(name, data, sheet=sheet, encoding=encoding, delimiter=delimiter, limits=limits)
    except IntakeError as exc:
        p.errors.append(exc)
        return finish_prepared(p, started)
    _map_and_validate(p, table, mapping=mapping, dayfirst=dayfirst, decimal=decimal, wide=wide, ws=ws,
                      encoding=encoding, delimiter=delimiter, default_sku=default_sku, today=today,
                      conversions=conversions, money=money)
    return finish_prepared(p, started)


def prepare_file(name: str, path: str | os.PathLike, table: str | None = None, *, work_dir: str | os.PathLike,
                 sha256: str | None = None, duckdb_memory_mb: int = 1024, **options: Any) -> Prepared:
    """`prepare` for a file on disk (in the worker): a large CSV or Parquet file is streamed, the rest read in memory.

    Streamed (`staging.streams`, or a file over the in-memory row cap): DuckDB reads it into a staging
    database in `work_dir`, the checks run in SQL (`staged_checks`) with the same messages, and the
    canonical table is written to `work_dir`/staged.parquet (`Prepared.staged`), never held in pandas.
    """
    from sop_core.intake.staging import STREAMED_EXTENSIONS, streams

    limits = options.get("limits") or DEFAULT_LIMITS
    size = os.path.getsize(path)
    if not streams(name, size, limits):
        with open(path, "rb") as fh:
            data = fh.read()
        p = prepare(name, data, table, **options)
        if not (any(e.kind == "too_many_rows" for e in p.errors)
                and extension(sanitise_name(name)) in STREAMED_EXTENSIONS):
            return p
    return _prepare_streamed(name, Path(path), table, Path(work_dir), sha256, duckdb_memory_mb, **options)


def _prepare_streamed(name: str, path: Path, table: str | None, work_dir: Path, sha256: str | None,
                      memory_mb: int, *, mapping: dict[str, str | None] | None = None, dayfirst: bool | None = None,
                      sheet: str | None = None, decimal: str | None = None, wide: WideSpec | bool | None = None,
                      ws: Workspace | None = None, encoding: str | None = None, delimiter: str | None = None,
                      default_sku: str | None = None, today: date | None = None, limits: Limits = DEFAULT_LIMITS,
                      conversions: Conversions | None = None, money: bool | None = None) -> Prepared:
    """Read, map and check a large CSV or Parquet file in DuckDB (see prepare_file)."""
    from sop_core.intake.hardened import hardened_connection
    from sop_core.intake.staging import stage_file

    started = time.perf_counter()
    p = Prepared(file_name=sanitise_name(name), sha256=sha256 or _file_sha256(path))
    if table is not None and table not in contract.TABLES:
        p.errors.append(IntakeError(p.file_name, f"unknown table '{table}'; tables: {', '.join(contract.TABLES)}",
                                    kind="table_unknown"))
        return finish_prepared(p, started)
    con = hardened_connection(work_dir, memory_mb)  # spills to work_dir beyond memory_mb
    try:
        try:
            staged = stage_file(con, p.file_name, path, encoding=encoding, delimiter=delimiter, limits=limits)
        except IntakeError as exc:
            p.errors.append(exc)
            return finish_prepared(p, started)
        p.raw = staged.raw
        p.stats["rows_read"] = staged.rows + staged.blank_rows
        stage = _Stage(con, staged, work_dir / "staged.parquet")
        _map_and_validate(p, table, mapping=mapping, dayfirst=dayfirst, decimal=decimal, wide=wide, ws=ws,
                          encoding=encoding, delimiter=delimiter, default_sku=default_sku, today=today,
                          conversions=conversions, money=money, stage=stage)
    finally:
        con.close()
    return finish_prepared(p, started)


@dataclass
class _Stage:
    """A streamed file's staging connection, what was staged and where the canonical table goes."""

    con: Any
    staged: Any
    out: Path


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(16 * 1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _map_and_validate(p: Prepared, table: str | None, *, mapping: dict[str, str | None] | None,
                      dayfirst: bool | None, decimal: str | None, wide: WideSpec | bool | None, ws: Workspace | None,
                      encoding: str | None, delimiter: str | None, default_sku: str | None, today: date | None,
                      conversions: Conversions | None, money: bool | None = None,
                      stage: _Stage | None = None) -> None:
    """Choose the table and mapping of a read file, then validate it (in memory, or in SQL for a `stage`)."""
    raw = p.raw
    assert raw is not None
    p.warnings += raw.warnings
    p.notes += raw.notes
    remembered = _recall(ws, raw, table)
    remembered_options = remembered.options if remembered else {}
    table = table or (remembered.table if remembered else None)
    dayfirst = dayfirst if dayfirst is not None else remembered_options.get("dayfirst")
    decimal = decimal or remembered_options.get("decimal") or "."
    default_sku = default_sku or remembered_options.get("default_sku")
    if money is None and remembered_options.get("basis") == contract.MONEY:
        money = True
    recalled_wide = _wide_from_options(remembered_options) if wide is None and mapping is None else None
    if wide is False:
        wide = None
    elif wide is None:
        wide = recalled_wide or _auto_wide(raw, table, mapping, p)
    if wide is not None:
        table = table or "sales"
    table = table or guess_table(raw.headers)
    if table is None:
        p.errors.append(IntakeError(p.file_name, "could not tell which table this file is — choose one of: "
                                                 f"{', '.join(contract.TABLES)}", kind="table_unknown",
                                    choices=list(contract.TABLES)))
        return
    p.table = table
    p.layout_key = layout_key(raw.headers, table)
    p.options = {"dayfirst": dayfirst, "decimal": decimal, "sheet": raw.sheet,
                 "encoding": encoding, "delimiter": delimiter, "default_sku": default_sku}
    if wide is not None and stage is not None:
        p.errors.append(IntakeError(p.file_name, f"a wide layout (one column per series) can be read from files of up "
                                                 f"to {DEFAULT_LIMITS.stream_bytes / MB:,.0f} MB and "
                                                 f"{DEFAULT_LIMITS.max_rows:,} rows: give this one a sku column, one "
                                                 "row per date and sku", kind="mapping"))
        return
    if wide is not None:
        if table == "sales":
            p.options["basis"] = contract.MONEY if money else contract.UNITS
        validated = _prepare_wide(p, raw, wide, dayfirst, decimal, today)
        p.mapping_source = "remembered" if recalled_wide is not None else "wide"
    else:
        if conversions is None:
            conversions = workspace_conversions(ws)
        validated = _prepare_long(p, raw, mapping, remembered, dayfirst, decimal, today, default_sku, conversions,
                                  stage, money)
    if validated is not None and validated.frame is not None and is_money(p):
        validated.frame["revenue"] = validated.frame["quantity"]
    if validated is not None:
        p.errors += validated.errors
        p.warnings += validated.warnings
        p.notes += validated.notes
        p.date_choice_needed = validated.date_choice_needed
        p.frame = validated.frame if not validated.errors else None
        p.stats["duplicates_summed"] = validated.duplicates_summed
    keys = key_frame(p)
    if keys is not None:
        p.warnings += cross_table_warnings(keys, table, ws)


def key_frame(p: Prepared) -> pd.DataFrame | dict[str, pd.Series] | None:
    """What cross_table_warnings needs of a checked file: its frame, or a streamed load's distinct skus and dates."""
    if p.frame is not None:
        return p.frame
    if p.staged is None:
        return None
    out = {k: pd.Series(v) for k, v in p.key_values.items()}
    if "date" in out:
        out["date"] = pd.to_datetime(out["date"])
    return out


def finish_prepared(p: Prepared, started: float) -> Prepared:
    """Fill the stats and timing of a Prepared."""
    raw = p.raw
    p.stats.setdefault("rows_read", (raw.rows + raw.blank_rows) if raw is not None else 0)
    p.stats.setdefault("blank_rows", raw.blank_rows if raw is not None else 0)
    p.stats.setdefault("duplicates_summed", 0)
    p.stats.setdefault("missing_values", 0)
    p.stats["rows_kept"] = len(p.frame) if p.frame is not None else p.stats.get("rows_kept", 0) if p.ok else 0
    p.stats["rejected"] = [{"reason": e.kind, "count": e.count, "rows": e.rows[:100], "message": str(e)}
                           for e in p.errors]
    p.seconds = time.perf_counter() - started
    return p


def _recall(ws: Workspace | None, raw: RawTable, table: str | None) -> Remembered | None:
    """The remembered mapping for this layout (None without a workspace)."""
    if ws is None:
        return None
    try:
        return recall_for_headers(ws, raw.headers, table)
    except duckdb.Error:
        return None


def _wide_from_options(options: dict[str, Any]) -> WideSpec | None:
    """A WideSpec stored with a remembered mapping."""
    spec = options.get("wide")
    if not spec:
        return None
    spec = dict(spec)
    spec["missing_markers"] = tuple(spec.get("missing_markers", ("*", "")))
    return WideSpec(**spec)


def _auto_wide(raw: RawTable, table: str | None, mapping: dict | None, p: Prepared) -> WideSpec | None:
    """Use a detected wide layout when the file has no sku column and no mapping was given."""
    if mapping is not None or (table is not None and table not in WIDE_TABLES):
        return None
    if table is not None and "sku" in propose_mapping(raw.headers, table):
        return None
    spec = detect_wide(raw)
    if spec is not None:
        series = [h.strip() for h in raw.headers if h != spec.date_column]
        p.notes.append(f"read as a wide layout: dates in '{spec.date_column.strip()}', one series per column "
                       f"({', '.join(series)})")
    return spec


def _prepare_long(p: Prepared, raw: RawTable, mapping: dict[str, str | None] | None, remembered: Remembered | None,
                  dayfirst: bool | None, decimal: str, today: date | None,
                  default_sku: str | None, conversions: Conversions, stage: _Stage | None = None,
                  money: bool | None = None) -> Validated | None:
    """Map one-row-per-record columns and validate them (in SQL for a streamed file's `stage`)."""
    table = p.table
    assert table is not None
    base, p.mapping_source = propose_mapping(raw.headers, table), "proposed"
    if remembered is not None and remembered.table == table and not remembered.options.get("wide"):
        recalled, problems = apply_overrides({}, remembered.mapping, raw.headers, table)
        if not problems:
            base, p.mapping_source = recalled, "remembered"
    if mapping:
        base, problems = apply_overrides(base, mapping, raw.headers, table)
        p.mapping_source = "user"
        if problems:
            p.errors += [IntakeError(p.file_name, f"mapping: {m}", kind="mapping") for m in problems]
            return None
    if table == "sales":
        base = _measure_mapping(p, base, money)
    p.mapping = {("revenue" if c == "quantity" and is_money(p) else c): h for c, h in base.items()}
    p.ignored_columns = ignored_columns(raw.headers, base)
    mapped = pd.DataFrame({c: raw.data[h] for c, h in base.items()}, index=raw.data.index)
    labels = {c: h.strip() for c, h in base.items()}
    sku = None
    if _needs_default_sku(base, table):
        sku = default_sku or raw.stem
        mapped["sku"] = sku
        labels["sku"] = "(one series)"
        p.mapping["sku"] = f"(every row: {sku})"
        p.warnings.append(f"no sku column: every row is sku '{sku}'" +
                          (" (the file name)" if default_sku is None else ""))
    missing = missing_required(mapped.columns, table)
    if missing:
        p.errors.append(_missing_error(p.file_name, missing, raw))
        return None
    if p.ignored_columns:
        p.warnings.append("ignored columns: " + ", ".join(repr(h.strip()) for h in p.ignored_columns))
    if stage is not None:
        from sop_core.intake.staged_checks import validate_staged

        checked = validate_staged(stage.con, stage.staged, dict(base), labels, contract.TABLES[table], stage.out,
                                  default_sku=sku, dayfirst=dayfirst, decimal=decimal, today=today,
                                  conversions=conversions)
        if not checked.validated.errors:
            if is_money(p):
                _copy_measure_to_revenue(stage)
            p.staged, p.key_values = str(stage.out), checked.key_values
            p.stats["rows_kept"] = checked.rows
        return checked.validated
    src = Source(p.file_name, raw.line_numbers, excel=raw.kind == "xlsx")
    return validate_frame(mapped, contract.TABLES[table], src, labels, dayfirst=dayfirst, decimal=decimal,
                          today=today, conversions=conversions)


def is_money(p: Prepared) -> bool:
    """True when a prepared sales file is a money history (see the module docstring)."""
    return p.options.get("basis") == contract.MONEY


def _measure_mapping(p: Prepared, base: dict[str, str], money: bool | None) -> dict[str, str]:
    """A sales mapping with its basis decided (in `p.options`): for money, the amounts column mapped as the measure.

    The amounts are the revenue column, else (the user said money) the quantity column; they are
    checked as `quantity` and copied to `revenue` after the checks.
    """
    if money is None:
        money = is_money_layout(base, "sales")
    p.options["basis"] = contract.MONEY if money else contract.UNITS
    header = base.get("revenue") or base.get("quantity")
    if not money or header is None:
        return base
    if base.get("quantity") not in (None, header):
        p.warnings.append(f"ignored column {base['quantity'].strip()!r}: a money history's demand is the amount "
                          f"in {header.strip()!r}")
    p.notes.append(f"a history in money: the amounts in {header.strip()!r} are the demand, so forecasts and plans "
                   "are in currency; capacity and inventory need a history in units")
    out = {c: h for c, h in base.items() if c not in ("quantity", "revenue")}
    out["quantity"] = header
    return out


def _copy_measure_to_revenue(stage: _Stage) -> None:
    """Set revenue to the checked amounts (quantity) in a streamed money history's staged Parquet file."""
    tmp = stage.out.with_name("staged_money.parquet")
    stage.con.execute(f'COPY (SELECT * REPLACE ("quantity" AS "revenue") FROM read_parquet({sql_literal(str(stage.out))})) '
                      f"TO {sql_literal(str(tmp))} (FORMAT parquet)")
    os.replace(tmp, stage.out)


def _needs_default_sku(mapping: dict[str, str], table: str) -> bool:
    """True when a series table has its other required columns but no sku column."""
    if table not in DEFAULT_SKU_TABLES or "sku" in mapping:
        return False
    return all(c in mapping for c in contract.TABLES[table].required if c != "sku")


def _missing_error(file_name: str, missing: list[str], raw: RawTable) -> IntakeError:
    """'missing: quantity; found: date, sku, qty2' with a delimiter hint for one-column files."""
    found = ", ".join(h.strip() for h in raw.headers)
    msg = f"missing: {', '.join(missing)}; found: {found}."
    if len(raw.headers) == 1 and raw.kind == "csv":
        msg += (" The file was read as a single column — check the delimiter (comma, semicolon, tab or pipe)"
                " or choose it.")
    else:
        msg += " Map a column of the file to each missing column, or add it to the file."
    return IntakeError(file_name, msg, kind="missing_columns")


# -- wide layouts --------------------------------------------------------------------------------

def detect_wide(raw: RawTable, sample: int = 50) -> WideSpec | None:
    """A WideSpec when the first column holds dates, the others hold numbers, and no column is a sku."""
    if len(raw.headers) < 3 or "sku" in propose_mapping(raw.headers, "sales"):
        return None
    first = raw.headers[0]
    dates = as_text(raw.data[first].head(sample))
    dates = dates[dates.ne("")]
    if dates.empty or (classify_dates(dates.reset_index(drop=True), raw.kind == "xlsx") < 0).mean() > 0.2:
        return None
    for h in raw.headers[1:]:
        values = as_text(raw.data[h].head(sample))
        values = values[~values.isin(("*", ""))]
        if values.empty:
            continue
        numeric = values.str.fullmatch(PLAIN_NUMBER["."]) | values.str.fullmatch(GROUPED_NUMBER["."]) \
            | values.str.fullmatch(PLAIN_NUMBER[","])
        if numeric.fillna(False).astype(bool).mean() < 0.8:
            return None
    return WideSpec(date_column=first)


def _prepare_wide(p: Prepared, raw: RawTable, spec: WideSpec, dayfirst: bool | None, decimal: str,
                  today: date | None) -> Validated | None:
    """Unpivot a wide layout (one column per series) and validate the long result."""
    table = p.table
    assert table is not None
    spec_table = contract.TABLES[table]
    date_col = find_header(spec.date_column, raw.headers)
    value_col = spec_table.column(spec.value_name) if spec.value_name in spec_table.column_names else None
    if date_col is None or value_col is None or spec.id_name not in spec_table.column_names:
        what = f"no column '{spec.date_column}'" if date_col is None else \
            f"{table} has no column '{spec.value_name if value_col is None else spec.id_name}'"
        p.errors.append(IntakeError(p.file_name, f"wide layout: {what}; found: "
                                                 f"{', '.join(h.strip() for h in raw.headers)}", kind="mapping"))
        return None
    series = [h for h in raw.headers if h != date_col]
    if not series:
        p.errors.append(IntakeError(p.file_name, "wide layout: no value columns besides the dates", kind="mapping"))
        return None
    p.wide = spec
    p.options["wide"] = dataclasses.asdict(spec)
    date_key = next((c.name for c in spec_table.columns if c.type == contract.DATE and c.required), "date")
    p.mapping = {date_key: date_col, spec.id_name: "(column headers)",
                 spec.value_name: "(values of " + ", ".join(h.strip() for h in series) + ")"}
    src = Source(p.file_name, raw.line_numbers, excel=raw.kind == "xlsx")
    errors: list[IntakeError] = []
    values, missing, report = [], [], []
    for h in series:
        text = as_text(raw.data[h])
        gone = text.isin(spec.missing_markers).to_numpy()
        values.append(parse_numbers(text.where(~gone, ""), h.strip(), src, errors, decimal=decimal,
                                    minimum=value_col.minimum, quantity=True))
        missing.append(gone)
        if gone.any():
            marks = sorted({repr(v) for v in text[gone].unique()})
            report.append(f"{h.strip()}: {format_rows(raw.line_numbers[gone].tolist(), EXAMPLES)} "
                          f"({' or '.join(marks)})")
    if errors:
        return Validated(frame=None, errors=errors)
    n, k = len(raw.data), len(series)
    gone_all = np.concatenate(missing)
    keep = ~gone_all
    if gone_all.any():
        p.stats["missing_values"] = int(gone_all.sum())
        p.warnings.append(f"{int(gone_all.sum()):,} missing values ('*' or empty) read as missing and left out — "
                          + "; ".join(report))
    long = pd.DataFrame({
        date_key: np.tile(raw.data[date_col].to_numpy(dtype=object), k)[keep],
        spec.id_name: np.repeat(np.array([h.strip() for h in series], dtype=object), n)[keep],
        spec.value_name: np.concatenate([v.to_numpy() for v in values])[keep],
    })
    long[date_key] = long[date_key].astype("str")
    long[spec.id_name] = long[spec.id_name].astype("str")
    long_src = Source(p.file_name, np.tile(raw.line_numbers, k)[keep], excel=src.excel)
    labels = {date_key: date_col.strip(), spec.id_name: "(column headers)", spec.value_name: "(values)"}
    return validate_frame(long, spec_table, long_src, labels, dayfirst=dayfirst, decimal=decimal, today=today)


# -- warnings across tables ----------------------------------------------------------------------

def cross_table_warnings(frame: pd.DataFrame | dict[str, pd.Series], table: str, ws: Workspace | None) -> list[str]:
    """Warnings that do not block: gaps in dates, skus unknown to products (or products without sales).

    `frame` is the checked table, or only its columns' distinct values (`key_frame`)."""
    out: list[str] = []
    gap = date_gaps(frame["date"]) if "date" in frame and table in ("sales", "inventory") else ""
    if gap:
        out.append(gap)
    if ws is None or "sku" not in frame:
        return out
    try:
        if table != "products" and ws.has_table("products"):
            known = set(ws.query('SELECT DISTINCT "sku" FROM "products"')["sku"].dropna())
            unknown = sorted(set(frame["sku"].dropna().unique()) - known)
            if unknown:
                out.append(f"{len(unknown):,} skus in this file are not in products, e.g. "
                           f"{', '.join(repr(s) for s in unknown[:EXAMPLES])}")
        if table == "products" and ws.has_table("sales"):
            sold = set(ws.query('SELECT DISTINCT "sku" FROM "sales"')["sku"].dropna())
            unknown = sorted(sold - set(frame["sku"].dropna().unique()))
            if unknown:
                out.append(f"{len(unknown):,} skus in the loaded sales are not in this products file, e.g. "
                           f"{', '.join(repr(s) for s in unknown[:EXAMPLES])}")
    except duckdb.Error:
        pass
    return out


def date_gaps(dates: pd.Series) -> str:
    """'dates have gaps: 3 months with no rows (2020-03, …)' for monthly, quarterly or weekly data, else ''."""
    uniq = pd.DatetimeIndex(pd.to_datetime(dates.dropna()).unique()).sort_values()
    if len(uniq) < 3:
        return ""
    if (uniq.day == 1).all():
        months = pd.Series(uniq.year * 12 + uniq.month)
        step = int(months.diff().dropna().mode().min())
        grain = {1: "month", 3: "quarter", 12: "year"}.get(step, f"{step}-month period")
        expected = pd.date_range(uniq[0], uniq[-1], freq=f"{step}MS")
        fmt = "%Y-%m"
    elif len(set(uniq.day_of_week)) == 1:
        step = int((pd.Series(uniq).diff().dropna().dt.days // 7).mode().min())
        grain = "week" if step == 1 else f"{step}-week period"
        expected = pd.date_range(uniq[0], uniq[-1], freq=f"{step}W-{uniq[0].strftime('%a').upper()}")
        fmt = "%Y-%m-%d"
    else:
        return ""
    gaps = expected.difference(uniq)
    if gaps.empty:
        return ""
    shown = ", ".join(g.strftime(fmt) for g in gaps[:EXAMPLES]) + (", …" if len(gaps) > EXAMPLES else "")
    return f"dates have gaps: {len(gaps):,} {grain}{'' if len(gaps) == 1 else 's'} with no rows ({shown})"


# -- commit --------------------------------------------------------------------------------------

def commit(ws: Workspace, prepared: Prepared, author: str | None = None) -> str:
    """Store a clean Prepared as its table (atomically) and remember its mapping; returns the load id."""
    provenance = _ready(ws, prepared, author)
    assert prepared.table is not None
    rows = prepared.frame if prepared.frame is not None else prepared.staged
    try:
        load_id = replace_rows(ws, prepared.table, rows, provenance, _load_settings(ws, prepared))
    except duckdb.Error as exc:  # rolled back by the workspace: nothing stored changed
        raise _store_error(prepared, exc) from exc
    _remember(ws, prepared, author)
    return load_id


def append(ws: Workspace, prepared: Prepared, author: str | None = None) -> Appended:
    """Add a clean Prepared to its table, replacing only the periods it covers; all or nothing.

    The periods are the distinct dates of the table's period column in the file (`storing.PERIOD_COLUMN`:
    date for sales, supply and inventory, period for capacity and plan, requested_date for orders); rows
    of other periods are kept. Recorded like a load (loads row, audit event and ledger line, mode 'append').
    """
    provenance = _ready(ws, prepared, author)
    assert prepared.table is not None
    if prepared.table not in PERIOD_COLUMN:
        raise IntakeError(prepared.file_name, f"{prepared.table} has no periods, so nothing can be appended to it: "
                                              f"load it whole (appending works for {', '.join(PERIOD_COLUMN)})",
                          kind="append_table")
    _check_same_basis(ws, prepared)
    rows = prepared.frame if prepared.frame is not None else prepared.staged
    try:
        done = append_rows(ws, prepared.table, rows, provenance, _load_settings(ws, prepared))
    except duckdb.Error as exc:
        raise _store_error(prepared, exc) from exc
    _remember(ws, prepared, author)
    return done


def _basis(prepared: Prepared) -> str:
    """The basis of a prepared sales file: contract.MONEY or contract.UNITS."""
    return contract.MONEY if is_money(prepared) else contract.UNITS


def _stored_basis(ws: Workspace) -> str:
    """The basis recorded for the workspace's sales history (units when none was recorded)."""
    return contract.MONEY if ws.get_setting(contract.BASIS_SETTING) == contract.MONEY else contract.UNITS


def _load_settings(ws: Workspace, prepared: Prepared) -> dict[str, Any]:
    """The settings a load writes with its table: a sales history's basis, when it changes."""
    if prepared.table != "sales" or _basis(prepared) == _stored_basis(ws):
        return {}
    return {contract.BASIS_SETTING: _basis(prepared)}


def _check_same_basis(ws: Workspace, prepared: Prepared) -> None:
    """IntakeError when appending sales in money to a history in units, or the reverse."""
    if prepared.table != "sales" or not ws.has_table("sales"):
        return
    stored, new = _stored_basis(ws), _basis(prepared)
    if stored != new:
        raise IntakeError(prepared.file_name, f"not appended: this file's sales are in {new} but the loaded history is "
                                              f"in {stored}; load the whole history in one basis instead (without "
                                              "append)", kind="append_basis")


def _ready(ws: Workspace, prepared: Prepared, author: str | None) -> Provenance:
    """The provenance of a Prepared that may be stored; IntakeError when it has problems or the demo is loaded."""
    if not prepared.ok:
        first = str(prepared.errors[0]) if prepared.errors else "nothing to load"
        raise IntakeError(prepared.file_name, f"cannot be loaded ({len(prepared.errors)} problems): {first}",
                          kind="not_ready")
    if company.current(ws).is_demo:  # one company per workspace: never the user's table beside the demo's
        raise IntakeError(prepared.file_name, "not loaded: this workspace holds the demo company. Start your own "
                                              "company first (the Data page offers it; on the command line add "
                                              "--new-company), which sets the demo aside in a backup",
                          kind="demo_company")
    return Provenance(file_name=prepared.file_name, sha256=prepared.sha256, author=author,
                      seconds=round(prepared.seconds, 3), warnings=list(prepared.warnings),
                      mapping=dict(prepared.mapping))


def _store_error(prepared: Prepared, exc: duckdb.Error) -> IntakeError:
    """'could not be stored, nothing changed (...)' for a failed write (the workspace rolled it back)."""
    return IntakeError(prepared.file_name, f"could not be stored, nothing changed ({type(exc).__name__}: "
                                           f"{str(exc).splitlines()[0][:200]})", kind="store")


def _remember(ws: Workspace, prepared: Prepared, author: str | None) -> None:
    """Remember the mapping of a stored file's layout (a convenience: a failure is ignored)."""
    if prepared.raw is not None and prepared.layout_key:
        try:
            remember_mapping(ws, prepared.layout_key, prepared.table, _rememberable(prepared),
                             _options_to_remember(prepared), author=author)
        except duckdb.Error:
            pass  # the load itself succeeded; only the convenience of remembering failed


def _rememberable(prepared: Prepared) -> dict[str, str]:
    """The mapping to store for the layout: real headers only (not the default sku or wide markers)."""
    raw_headers = set(prepared.raw.headers) if prepared.raw is not None else set()
    return {c: h for c, h in prepared.mapping.items() if h in raw_headers}


def _options_to_remember(prepared: Prepared) -> dict[str, Any]:
    """Reading options worth reusing for the same layout."""
    keep = ("dayfirst", "decimal", "wide", "default_sku", "basis")
    return {k: v for k, v in prepared.options.items() if k in keep and v is not None}


def load(ws: Workspace, name: str, data: bytes, table: str | None = None, *, author: str | None = None,
         **options: Any) -> Prepared:
    """prepare + commit in one call; returns the Prepared (check `.ok` and `.errors`)."""
    prepared = prepare(name, data, table, ws=ws, **options)
    if prepared.ok:
        prepared.stats["load_id"] = commit(ws, prepared, author=author)
    return prepared

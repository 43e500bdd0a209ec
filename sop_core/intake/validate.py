"""Validate a mapped frame against a contract table as a whole; check typed text fields.

`validate_frame` converts each mapped column with the per-column checks of `checks` (numbers,
dates, text), then applies the rules that involve several columns or rows: every one_of group
filled, keys differing only in case, period dates moved to the first day of their month, units
(`check_units`) and duplicate keys (summed or rejected, listing the rows). The result is the
table's canonical frame, or errors that name the file, the column and the rows (see `errors`).
`text_field` checks a typed name, note or id.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from sop_core import contract
from sop_core.intake import units
from sop_core.intake.checks import as_text, first_flagged, parse_dates, parse_numbers, parse_text
from sop_core.intake.errors import IntakeError, Source, format_rows, rows_error, strip_bidi
from sop_core.periods import period_start

DUPLICATE_ROWS_IN_MESSAGE = 100  # duplicate keys list (nearly) all rows
HISTORY_TABLES = frozenset({"sales", "inventory"})  # dates after today are errors here
QUANTITY_COLUMNS = frozenset({"quantity", "on_hand", "requested_qty", "delivered_qty", "volume_plan"})
# date columns that name a planning period, stored as the first day of the period. Capacity and the
# plan are used per month (supply.normalise_capacity, finance) whatever the forecast's bucket.
PERIOD_COLUMNS = frozenset({"period"})
PERIOD_BUCKET = "month"
UNIT_COLUMN = "unit"


@dataclass
class Validated:
    """Outcome of validating a mapped frame against a contract table."""

    frame: pd.DataFrame | None
    errors: list[IntakeError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    date_choice_needed: bool = False
    duplicates_summed: int = 0


# -- whole tables --------------------------------------------------------------------------------

def validate_frame(mapped: pd.DataFrame, table: contract.Table, src: Source, labels: dict[str, str], *,
                   dayfirst: bool | None = None, decimal: str = ".", today: date | None = None,
                   conversions: units.Conversions | None = None) -> Validated:
    """Convert a frame of mapped text columns (canonical names) to the table's canonical frame.

    `labels` gives the original header of each mapped canonical column (for messages).
    Period dates are moved to the first day of their month (with a warning) and quantities in
    several units converted with `conversions` (see check_units) before duplicate keys are checked.
    Returns the canonical frame with exactly the contract columns, or None with errors.
    """
    res = Validated(frame=None)
    missing = _missing_columns(table, mapped.columns)
    if missing:
        res.errors.append(IntakeError(src.file, missing, kind="missing_columns"))
        return res
    out: dict[str, pd.Series] = {}
    for col in table.mappable:
        if col.name not in mapped.columns:
            continue
        out[col.name] = _convert(mapped[col.name], col, table, src, labels.get(col.name, col.name), res,
                                 dayfirst, decimal, today)
    _check_one_of_rows(out, table, src, res)
    if res.errors:
        return res
    if "sku" in out:
        _warn_case_variants(out["sku"], labels.get("sku", "sku"), res)
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(mapped)))
    moved = align_periods(frame, src, labels, res)
    if UNIT_COLUMN in frame.columns:
        check_units(frame, labels.get(UNIT_COLUMN, UNIT_COLUMN), src, conversions or {}, res)
        frame = frame.drop(columns=UNIT_COLUMN)
        if res.errors:
            return res
    frame = _handle_duplicates(frame, table, src, labels, res, moved)
    if res.errors:
        return res
    res.frame = canonical_frame(frame, table)
    return res


def _convert(values: pd.Series, col: contract.Column, table: contract.Table, src: Source, label: str,
             res: Validated, dayfirst: bool | None, decimal: str, today: date | None) -> pd.Series:
    """Convert one column according to its contract type."""
    values = values.reset_index(drop=True)
    if col.type == contract.NUMBER:
        return parse_numbers(values, label, src, res.errors, decimal=decimal, required=col.required,
                             minimum=col.minimum, quantity=col.name in QUANTITY_COLUMNS)
    if col.type == contract.DATE:
        dates, needed = parse_dates(values, label, src, res.errors, required=col.required, dayfirst=dayfirst,
                                    no_future=table.name in HISTORY_TABLES and col.name == "date", today=today,
                                    notes=res.notes)
        res.date_choice_needed = res.date_choice_needed or needed
        return dates
    return parse_text(values, label, src, res.errors, res.warnings, required=col.required)


def _missing_columns(table: contract.Table, present: Iterable[str]) -> str | None:
    """'missing: quantity' text when required columns (or one_of groups) are absent, else None."""
    present = set(present)
    missing = [c for c in table.required if c not in present]
    missing += [" or ".join(g) for g in table.one_of if not present.intersection(g)]
    return f"missing: {', '.join(missing)}" if missing else None


def _check_one_of_rows(out: dict[str, pd.Series], table: contract.Table, src: Source, res: Validated) -> None:
    """Each row needs a value in at least one column of every one_of group."""
    for group in table.one_of:
        cols = [out[c] for c in group if c in out]
        if not cols:
            continue
        none = np.logical_and.reduce([c.isna().to_numpy() for c in cols])
        if none.any():
            res.errors.append(rows_error(src, None, np.flatnonzero(none), f"without a value for {' or '.join(group)}",
                                         "", f"Give each row a value in {' or '.join(group)}.", "empty"))


def _warn_case_variants(skus: pd.Series, label: str, res: Validated) -> None:
    """Warn about keys that differ only in upper/lower case ('a1' and 'A1'), which are different skus."""
    uniq = pd.Series(skus.dropna().unique(), dtype="str")
    lower = uniq.str.lower()
    clash = lower.duplicated(keep=False)
    if clash.any():
        groups = uniq[clash].groupby(lower[clash]).agg(lambda g: "/".join(sorted(g)))
        shown = ", ".join(groups.iloc[:5])
        res.warnings.append(f"column '{label}': {len(groups):,} values differ only in upper/lower case ({shown}"
                            f"{', …' if len(groups) > 5 else ''}); they are kept as different skus")


def align_periods(frame: pd.DataFrame, src: Source, labels: dict[str, str], res: Validated) -> np.ndarray:
    """Move period dates to the first day of their month in place, with a warning; returns the moved rows' mask."""
    moved_any = np.zeros(len(frame), dtype=bool)
    for name in PERIOD_COLUMNS.intersection(frame.columns):
        dates = frame[name]
        start = pd.Series(period_start(dates, PERIOD_BUCKET).to_numpy(), index=dates.index)
        moved = (dates.notna() & start.ne(dates)).to_numpy(dtype=bool)
        if not moved.any():
            continue
        first = int(np.flatnonzero(moved)[0])
        rows = np.unique(src.line_numbers[moved]).tolist()
        res.warnings.append(
            f"{src.file}, column '{labels.get(name, name)}': {len(rows):,} {'date' if len(rows) == 1 else 'dates'} "
            f"moved to the first day of their {PERIOD_BUCKET} ({format_rows(rows)}), e.g. "
            f"{_show(dates.iloc[first])} → {_show(start.iloc[first])}: a period is identified by its first day")
        frame[name] = start
        moved_any |= moved
    return moved_any


def check_units(frame: pd.DataFrame, label: str, src: Source, conversions: units.Conversions,
                res: Validated) -> None:
    """Hold the unit column of a quantity file to the rules; converts cases to base units in place.

    One unit in the file (as compared by `units.normalise_units`): loaded as written, with a note,
    except a file all in cases when products give conversions: converted like the rows below.
    Several units: rows in the sku's base unit stay; rows in cases (CS) of a sku with units_per_case
    in `conversions` become quantity × units_per_case (warning with the rows and factors); any other
    row is an error. Without conversions a file of several units is rejected naming the units found.
    """
    codes = units.normalise_units(frame[UNIT_COLUMN])
    found = codes.unique()
    if len(found) <= 1 and not (conversions and list(found) == [units.CASE]):
        if len(found) == 1 and found[0] != units.EMPTY:
            res.notes.append(f"column '{label}': every quantity is in {found[0]}, loaded as written")
        return
    counts = units.describe_counts(codes)
    written = as_text(frame[UNIT_COLUMN])
    if not conversions:
        n = codes.value_counts()
        major = min(n.index, key=lambda u: (-n[u], u != units.EACH, u))  # most rows; EA on a tie
        minority = codes.ne(major).to_numpy()
        res.errors.append(rows_error(
            src, label, np.flatnonzero(minority), ("in another unit than the rest of the column",
                                                   "in other units than the rest of the column"),
            first_flagged(written, minority),
            f"Mixed units ({counts}) with no conversion: use one unit in the file, or load products with "
            "units_per_case (and base_unit when it is not EA) for these skus first, so cases are converted.",
            "mixed_units"))
        return
    known = pd.DataFrame.from_dict({k: list(v) for k, v in conversions.items()}, orient="index",
                                   columns=["base", "per_case"])
    skus = frame["sku"].astype("str")
    base = skus.map(known["base"]).fillna(units.EACH)
    per_case = pd.to_numeric(skus.map(known["per_case"]), errors="coerce")
    in_base = codes.eq(base).to_numpy()
    convert = (codes.eq(units.CASE) & base.ne(units.CASE) & per_case.notna()).to_numpy()
    stuck = ~in_base & ~convert
    if stuck.any():
        example = f"{written[stuck].iloc[0] or '(empty)'} for sku {skus[stuck].iloc[0]}"
        cases = stuck & codes.eq(units.CASE).to_numpy()
        fix = f"Units found: {counts}."
        if cases.any():
            missing = sorted(set(skus[cases]))
            shown = ", ".join(repr(s) for s in missing[:5]) + (", …" if len(missing) > 5 else "")
            fix += f" Add units_per_case (base units in one case) to products for {shown} and load it first."
        if (stuck & ~cases).any():
            other = sorted(set(codes[stuck & ~cases]))
            fix += (f" Only cases ({units.CASE}) are converted: give the rows in "
                    f"{', '.join(u or '(empty)' for u in other)} in the sku's base unit.")
        res.errors.append(rows_error(
            src, label, np.flatnonzero(stuck), ("in a unit with no conversion to its sku's base unit",
                                                "in units with no conversion to their sku's base unit"),
            example, fix, "no_unit_conversion"))
        return
    if not convert.any():
        return
    for name in QUANTITY_COLUMNS.intersection(frame.columns):
        frame.loc[convert, name] = frame.loc[convert, name] * per_case[convert]
    used = per_case[convert].groupby(skus[convert], sort=True).first()
    factors = ", ".join(f"{s} ×{f:g}" for s, f in used.iloc[:5].items()) + (", …" if len(used) > 5 else "")
    rows = np.unique(src.line_numbers[convert]).tolist()
    bases = "/".join(sorted(set(base[convert])))
    res.warnings.append(
        f"{src.file}, column '{label}': {len(rows):,} {'row' if len(rows) == 1 else 'rows'} in cases ({units.CASE}) "
        f"converted to {bases} — quantity × units_per_case from products ({factors}) ({format_rows(rows)}); "
        f"units found: {counts}")


def _handle_duplicates(frame: pd.DataFrame, table: contract.Table, src: Source, labels: dict[str, str],
                       res: Validated, moved: np.ndarray | None = None) -> pd.DataFrame:
    """Sum duplicate keys (sum_duplicates tables, with a warning) or reject them listing every row.

    `moved` marks rows whose period was moved to the first day of its month (named in the message).
    """
    keys = [k for k in table.key if k in frame.columns]
    if not keys:
        return frame
    dup = frame.duplicated(keys, keep=False).to_numpy()
    if not dup.any():
        return frame
    key_text = ", ".join(labels.get(k, k) for k in keys)
    if not table.sum_duplicates:
        positions = np.flatnonzero(dup)
        example = " / ".join(_show(frame[k].iloc[positions[0]]) for k in keys)
        column = labels.get(keys[0], keys[0]) if len(keys) == 1 else None
        problem = (f"a duplicate of another row's {key_text}", f"duplicates of another row's {key_text}")
        fix = f"Each {key_text} may appear only once: remove or merge the duplicates."
        if moved is not None and moved[positions].any():
            fix += (f" The dates were moved to the first day of their {PERIOD_BUCKET} before this check (a period is "
                    f"a {PERIOD_BUCKET}): give one row per {PERIOD_BUCKET}.")
        res.errors.append(rows_error(src, column, positions, problem, example, fix, "duplicate_key",
                                     limit=DUPLICATE_ROWS_IN_MESSAGE))
        return frame
    numbers = [c.name for c in table.columns if c.type == contract.NUMBER and c.name in frame.columns]
    others = [c for c in frame.columns if c not in keys and c not in numbers]
    grouped = frame.groupby(keys, dropna=False, sort=False)
    summed = grouped[numbers].sum(min_count=1) if numbers else None
    firsts = grouped[others].first() if others else None
    parts = [p for p in (summed, firsts) if p is not None]
    merged = pd.concat(parts, axis=1).reset_index() if parts else grouped.size().reset_index()[keys]
    n = len(frame) - len(merged)
    res.duplicates_summed = n
    res.warnings.append(f"{n:,} duplicate rows (same {key_text}) were summed into the first row of each key")
    return merged[[c for c in frame.columns]]


def _show(value: object) -> str:
    """A converted value as the user would write it (dates as YYYY-MM-DD, missing as '')."""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def canonical_frame(frame: pd.DataFrame, table: contract.Table) -> pd.DataFrame:
    """Exactly the table's columns in contract order, absent optional columns as typed nulls."""
    out = {}
    n = len(frame)
    for col in table.columns:
        if col.name in frame.columns:
            out[col.name] = frame[col.name].reset_index(drop=True)
        elif col.type == contract.NUMBER:
            out[col.name] = pd.Series(np.full(n, np.nan), dtype="float64")
        elif col.type == contract.DATE:
            out[col.name] = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
        else:
            out[col.name] = pd.Series([None] * n, dtype="str")
    return pd.DataFrame(out)


# -- typed text fields ---------------------------------------------------------------------------

def text_field(value: object, what: str, limit: int, required: bool = True) -> str:
    """A typed name, note or id, stripped ('' for None or NaN); raises ValueError naming `what` if blank or too long.

    Bidirectional control characters are removed (they make a name display as something else).

    Blank is an error only when `required`; too long = more than `limit` characters after stripping.
    """
    s = "" if value is None or (isinstance(value, float) and np.isnan(value)) else strip_bidi(str(value)).strip()
    if required and not s:
        raise ValueError(f"{what} is required")
    if len(s) > limit:
        raise ValueError(f"{what} is too long ({len(s)} characters, at most {limit})")
    return s

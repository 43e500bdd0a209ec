"""Per-column checks: convert one mapped text column to numbers, dates or text, with row-numbered errors.

Every value arrives as text (see `raw_table.RawTable`). Numbers (`parse_numbers`), dates
(`parse_dates`) and text (`parse_text`) are parsed explicitly here, never guessed: a column either
converts completely or produces an `IntakeError` naming the file, the column (its original header),
how many rows fail, the first of those rows (as the user sees them in the file) and an example value.
`validate.validate_frame` runs them on every mapped column of a table.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from sop_core import clock
from sop_core.intake.errors import IntakeError, Source, format_rows, rows_error

MAX_ABS_NUMBER = 1e12  # larger magnitudes are rejected as implausible
MISSING = ""  # an empty cell after trimming


# -- column values -----------------------------------------------------------------------------

def as_text(values: pd.Series) -> pd.Series:
    """Values as trimmed text with '' for missing."""
    return values.fillna("").astype("str").str.strip()


def first_flagged(values: pd.Series, mask: np.ndarray | pd.Series) -> object:
    """First value where mask is true."""
    return values[np.asarray(mask)].iloc[0]


# -- numbers -------------------------------------------------------------------------------------

PLAIN_NUMBER = {".": r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?",
                ",": r"[+-]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][+-]?\d+)?"}
GROUPED_NUMBER = {".": r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", ",": r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?"}


def parse_numbers(values: pd.Series, label: str, src: Source, errors: list[IntakeError], *,
                  decimal: str = ".", required: bool = False, minimum: float | None = None,
                  quantity: bool = False) -> pd.Series:
    """Text -> float64 (NaN where empty); appends errors for non-numbers, empties and values below minimum.

    Accepts `1234.5`, `-3`, `1e3`, and thousands separators only in the full pattern
    `1,234,567.5` (or `1.234.567,5` when decimal=','). `n/a`, `12 pcs`, `NaN`, `inf` are errors.
    """
    if decimal not in PLAIN_NUMBER:
        raise ValueError(f"decimal must be '.' or ',', not {decimal!r}")
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = pd.Series(values.to_numpy(dtype="float64"), index=values.index)
        empty = out.isna().to_numpy()
        text = out.astype("str")
    else:
        text = as_text(values)
        empty = text.eq(MISSING).to_numpy()
        plain = text.str.fullmatch(PLAIN_NUMBER[decimal]).fillna(False).to_numpy(dtype=bool)
        grouped = ~plain & ~empty & text.str.fullmatch(GROUPED_NUMBER[decimal]).fillna(False).to_numpy(dtype=bool)
        bad = ~empty & ~plain & ~grouped
        if bad.any():
            errors.append(rows_error(src, label, np.flatnonzero(bad), ("not a number", "not numbers"),
                                     first_flagged(text, bad), _number_fix(decimal), "not_number"))
        clean = text.where(plain | grouped, None)
        if decimal == ".":
            clean = clean.str.replace(",", "", regex=False)
        else:
            clean = clean.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        out = pd.to_numeric(clean, errors="coerce").astype("float64")
    arr = out.to_numpy()
    with np.errstate(invalid="ignore"):
        huge = ~np.isnan(arr) & ~(np.abs(arr) < MAX_ABS_NUMBER)
    if huge.any():
        errors.append(rows_error(src, label, np.flatnonzero(huge), "too large or not finite", first_flagged(text, huge),
                                 f"Values must be finite and below {MAX_ABS_NUMBER:,.0f}.", "too_large"))
        out = out.where(~huge)
    if required and empty.any():
        errors.append(rows_error(src, label, np.flatnonzero(empty), "empty", "", "Fill in a value or remove the rows.",
                                 "empty"))
    if minimum is not None:
        low = (out < minimum).to_numpy(dtype=bool)
        if low.any():
            problem = "negative" if minimum == 0 else f"below {minimum:g}"
            errors.append(rows_error(src, label, np.flatnonzero(low), problem, first_flagged(text, low),
                                     _minimum_fix(minimum, quantity), "below_minimum"))
    return out


def _number_fix(decimal: str) -> str:
    """How to fix a non-numeric value."""
    if decimal == ",":
        return "Use numbers like 1234,5 or 1.234,5 (no units or text). Fix the values or remove the rows."
    return ("Use plain numbers like 1234.5 or 1,234.5 (no units or text; for 1.234,5 choose the "
            "comma decimal option). Fix the values or remove the rows.")


def _minimum_fix(minimum: float, quantity: bool = False) -> str:
    """How to fix a value below the contract's minimum."""
    if minimum == 0:
        return "Values must be 0 or more" + (" (record returns separately, not as negative quantities)."
                                             if quantity else ".")
    return f"Values must be at least {minimum:g}."


# -- dates ---------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_MONTHS.update({"sept": 9, "january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7,
                "august": 8, "september": 9, "october": 10, "november": 11, "december": 12})
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"


@dataclass(frozen=True)
class _DateShape:
    """A recognisable date layout: regex with named groups y, m, d (m may be a month name)."""

    family: str  # shapes of one family may be mixed in a column (e.g. with and without a time)
    label: str
    regex: str


_SHAPES: tuple[_DateShape, ...] = (
    _DateShape("ymd", "YYYY-MM-DD", r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + _TIME),
    _DateShape("ymd", "YYYY/MM/DD", r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})" + _TIME),
    _DateShape("ym", "YYYY-MM", r"(?P<y>\d{4})[-/](?P<m>\d{1,2})"),
    _DateShape("dm", "DD/MM/YYYY or MM/DD/YYYY",
               r"(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})" + _TIME),
    _DateShape("mon", "Mon-YY", r"(?P<m>[A-Za-z]{3,9})\.?[-\s/']*(?P<y>\d{4}|\d{2})"),
    _DateShape("dmon", "DD-Mon-YYYY", r"(?P<d>\d{1,2})[-\s/.]?(?P<m>[A-Za-z]{3,9})\.?[-\s/.,']*(?P<y>\d{4}|\d{2})"),
    _DateShape("ymd8", "YYYYMMDD", r"(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})"),
    _DateShape("serial", "Excel serial number", r"(?P<serial>\d{5})(?:\.\d+)?"),
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# dates the app accepts: Excel holds none before 1900, and pandas none after 2262-04-11 (2199 leaves room
# for plan horizons); 0001-01-01 or 9999-12-31 placeholders are refused with their rows, never parsed
FIRST_DATE = pd.Timestamp("1900-01-01")
LAST_DATE = pd.Timestamp("2199-12-31")
DATE_RANGE_TEXT = f"{FIRST_DATE:%Y-%m-%d} to {LAST_DATE:%Y-%m-%d}"
DATE_FORMATS_HELP = "Use YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, Mon-YY or YYYY-MM."


def _year(text: pd.Series) -> pd.Series:
    """Year numbers; two-digit years pivot like Python's %y (00-68 -> 2000s, 69-99 -> 1900s)."""
    y = pd.to_numeric(text, errors="coerce")
    two = text.str.len() == 2
    return y.where(~two, np.where(y < 69, y + 2000, y + 1900))


def _month(text: pd.Series) -> pd.Series:
    """Month numbers from digits or English month names (Jan, January, Sept)."""
    numeric = pd.to_numeric(text, errors="coerce")
    named = text.str.lower().map(_MONTHS)
    return numeric.fillna(named)


def _year_outside(y: pd.Series) -> pd.Series:
    """True where a year number lies outside FIRST_DATE..LAST_DATE (missing years are not)."""
    return (y < FIRST_DATE.year) | (y > LAST_DATE.year)


def _assemble(y: pd.Series, m: pd.Series, d: pd.Series) -> pd.Series:
    """Dates from year, month, day numbers; NaT where impossible (2026-02-30, month 13) or the year is out of range."""
    frame = pd.DataFrame({"year": y, "month": m, "day": d}).astype("float64")
    ok = frame.notna().all(axis=1) & frame["month"].between(1, 12) & frame["day"].between(1, 31)
    ok &= ~_year_outside(frame["year"])  # never handed to pandas: year 1 or 9999 overflows its timestamps
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if ok.any():
        out[ok] = pd.to_datetime(frame[ok].astype("int64"), errors="coerce")
    return out


@dataclass
class _DateParse:
    """Parsed unique values of a date column."""

    dates: pd.Series  # datetime64 per unique value (NaT = not a date / impossible)
    family: pd.Series  # family per unique value ('' when no shape matched)
    label: pd.Series  # format label per unique value


def classify_dates(uniques: pd.Series, excel: bool) -> pd.Series:
    """Index into _SHAPES of the first matching shape for each unique value (-1 when none)."""
    shape = pd.Series(-1, index=uniques.index)
    for i, s in enumerate(_SHAPES):
        if s.family == "serial" and not excel:
            continue
        todo = shape.eq(-1)
        if not todo.any():
            break
        hit = uniques[todo].str.fullmatch(s.regex).fillna(False).astype(bool)
        shape[hit[hit].index] = i
    return shape


def parse_dates(values: pd.Series, label: str, src: Source, errors: list[IntakeError], *,
                required: bool = False, dayfirst: bool | None = None, no_future: bool = False,
                today: date | None = None, notes: list[str] | None = None) -> tuple[pd.Series, bool]:
    """Text -> datetime64 (midnight); returns (dates, date_choice_needed) and appends row-numbered errors.

    Formats are recognised explicitly (ISO, DD/MM vs MM/DD with / . - and 2- or 4-digit years,
    Mon-YY, DD-Mon-YYYY, YYYY-MM, YYYYMMDD, Excel serials for spreadsheets). Day-first versus
    month-first comes from the values (a first number over 12 means day-first) or from
    `dayfirst`; when every value could be either, the column is rejected as ambiguous.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = pd.to_datetime(values).dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        dates = pd.Series(pd.to_datetime(out).dt.normalize().to_numpy(), index=values.index)
        _check_dates(dates, dates.astype("str"), label, src, errors, required, no_future, today)
        return dates, False
    n_before = len(errors)
    text = as_text(values)
    codes, uniq = pd.factorize(text, sort=False)
    uniques = pd.Series(pd.Index(uniq).astype("str"), dtype="str")
    shape = classify_dates(uniques, src.excel)
    empty_u = uniques.eq(MISSING)
    unknown_u = shape.eq(-1) & ~empty_u
    fam = shape.map(lambda i: _SHAPES[i].family if i >= 0 else "")
    lab = shape.map(lambda i: _SHAPES[i].label if i >= 0 else "")
    code_arr = np.asarray(codes)
    if unknown_u.any():
        bad = np.isin(code_arr, np.flatnonzero(unknown_u.to_numpy()))
        errors.append(rows_error(src, label, np.flatnonzero(bad),
                                 ("not a date in a known format", "not dates in a known format"), first_flagged(text, bad),
                                 DATE_FORMATS_HELP + " Fix the values or remove the rows.", "not_date"))
    families = _family_rows(fam, code_arr)
    if len(families) > 1:
        errors.append(_mixed_error(families, fam, lab, uniques, code_arr, label, src))
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]"), False
    parsed, undecided, outside = _parse_shapes(uniques, shape, lab, dayfirst, label, src, errors, code_arr, notes)
    choice_needed = any(e.kind == "ambiguous_dates" for e in errors[n_before:])
    outside_u = shape.ge(0) & outside & ~undecided
    if outside_u.any():
        bad = np.isin(code_arr, np.flatnonzero(outside_u.to_numpy()))
        errors.append(_range_error(src, label, bad, first_flagged(text, bad)))
    impossible_u = shape.ge(0) & parsed.isna() & ~undecided & ~outside
    if impossible_u.any():
        bad = np.isin(code_arr, np.flatnonzero(impossible_u.to_numpy()))
        fmt = lab[impossible_u].iloc[0]
        errors.append(rows_error(src, label, np.flatnonzero(bad),
                                 (f"an impossible date (read as {fmt})", f"impossible dates (read as {fmt})"),
                                 first_flagged(text, bad), "Check the day and month, or the day-first/month-first choice.",
                                 "impossible_date"))
    dates = pd.Series(parsed.to_numpy()[code_arr], index=values.index)
    dates[code_arr < 0] = pd.NaT
    _check_dates(dates, text, label, src, errors, required, no_future, today)
    return dates, choice_needed


def _parse_shapes(uniques: pd.Series, shape: pd.Series, lab: pd.Series, dayfirst: bool | None, label: str,
                  src: Source, errors: list[IntakeError], codes: np.ndarray,
                  notes: list[str] | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Dates for the unique values of each recognised shape.

    Returns (dates, undecided day/month order, year outside FIRST_DATE..LAST_DATE); out-of-range values are NaT.
    """
    parsed = pd.Series(pd.NaT, index=uniques.index, dtype="datetime64[ns]")
    undecided = pd.Series(False, index=uniques.index)
    outside = pd.Series(False, index=uniques.index)
    for i in sorted(set(shape[shape >= 0])):
        sel = shape.eq(i)
        sub = uniques[sel].str.extract(_SHAPES[i].regex)
        if _SHAPES[i].family == "dm":
            first = _resolve_dayfirst(sub, uniques[sel], dayfirst, label, src, errors, codes, notes)
            if first is None:
                undecided |= sel
                continue
            day, month = (sub["a"], sub["b"]) if first else (sub["b"], sub["a"])
            lab[sel] = "DD/MM/YYYY" if first else "MM/DD/YYYY"
            year = _year(sub["y"])
            outside[sel] = _year_outside(year).to_numpy()
            parsed[sel] = _assemble(year, pd.to_numeric(month), pd.to_numeric(day)).to_numpy()
        elif _SHAPES[i].family == "serial":
            parsed[sel] = (_EXCEL_EPOCH + pd.to_timedelta(pd.to_numeric(sub["serial"]), unit="D")).to_numpy()
        else:
            d = sub["d"] if "d" in sub else pd.Series("1", index=sub.index)
            year = _year(sub["y"])
            outside[sel] = _year_outside(year).to_numpy()
            parsed[sel] = _assemble(year, _month(sub["m"]), pd.to_numeric(d)).to_numpy()
    return parsed, undecided, outside


def _family_rows(fam: pd.Series, codes: np.ndarray) -> dict[str, int]:
    """Number of rows per date family present (unmatched and empty values excluded)."""
    counts = np.bincount(codes[codes >= 0], minlength=len(fam))
    out: dict[str, int] = {}
    for f, c in zip(fam.tolist(), counts.tolist()):
        if f and c:
            out[f] = out.get(f, 0) + c
    return out


def _mixed_error(families: dict[str, int], fam: pd.Series, lab: pd.Series, uniques: pd.Series,
                 codes: np.ndarray, label: str, src: Source) -> IntakeError:
    """'mixed date formats' naming the rows written in the minority format(s)."""
    major = max(families, key=lambda f: families[f])
    major_label = lab[fam.eq(major)].iloc[0]
    minority_u = np.flatnonzero((fam.ne(major) & fam.ne("")).to_numpy())
    bad = np.isin(codes, minority_u)
    minor_labels = sorted(set(lab.iloc[minority_u]))
    example = uniques.iloc[codes[np.flatnonzero(bad)[0]]]
    return rows_error(src, label, np.flatnonzero(bad),
                      f"in another date format ({', '.join(minor_labels)}) than the rest of the column "
                      f"({major_label})", example, "Mixed date formats: use one format in the column.",
                      "mixed_dates")


def _resolve_dayfirst(sub: pd.DataFrame, uniques: pd.Series, dayfirst: bool | None, label: str, src: Source,
                      errors: list[IntakeError], codes: np.ndarray,
                      notes: list[str] | None) -> bool | None:
    """Decide DD/MM vs MM/DD from the values (or the option); None when it cannot be decided (error added)."""
    a, b = pd.to_numeric(sub["a"]), pd.to_numeric(sub["b"])
    day_evidence, month_evidence = (a > 12).to_numpy(), (b > 12).to_numpy()
    if dayfirst is not None:
        return dayfirst
    if day_evidence.any() and month_evidence.any():
        idx = uniques.index.to_numpy()
        rows_a = np.flatnonzero(np.isin(codes, idx[day_evidence]))
        rows_b = np.flatnonzero(np.isin(codes, idx[month_evidence]))
        minority = rows_a if len(rows_a) <= len(rows_b) else rows_b
        errors.append(rows_error(src, label, minority, "neither day-first nor month-first like the rest of the column",
                                 uniques.iloc[codes[minority[0]]],
                                 "Some dates have a day over 12 first, others second: use one order.", "mixed_dates"))
        return None
    if day_evidence.any() or month_evidence.any():
        first = bool(day_evidence.any())
        example = uniques[day_evidence if first else month_evidence].iloc[0]
        if notes is not None:
            notes.append(f"column '{label}': dates read as {'day-first (DD/MM)' if first else 'month-first (MM/DD)'},"
                         f" as values such as {example!r} show")
        return first
    if (a == b).all():
        return True
    example = uniques[(a != b).to_numpy()].iloc[0]
    x, y = example.split(sub["sep"].iloc[0])[:2]
    errors.append(IntakeError(
        src.file,
        f"ambiguous date format — choose day-first (DD/MM) or month-first (MM/DD): {example!r} could be "
        f"{_day_month(int(x), int(y))} or {_day_month(int(y), int(x))}, and no date in the column settles it.",
        column=label, kind="ambiguous_dates"))
    return None


def _range_error(src: Source, label: str, bad: np.ndarray, example: object) -> IntakeError:
    """'N rows are dates outside 1900-01-01 to 2199-12-31' for the rows where `bad` is true."""
    return rows_error(src, label, np.flatnonzero(bad),
                      (f"a date outside {DATE_RANGE_TEXT}", f"dates outside {DATE_RANGE_TEXT}"), example,
                      "Check the year (a placeholder such as 0001-01-01 or 9999-12-31 is not a date to plan "
                      "with): fix the values or remove the rows.", "date_out_of_range")


def _day_month(day: int, month: int) -> str:
    """'1 February'."""
    return f"{day} {date(2000, month, 1):%B}"


def _check_dates(dates: pd.Series, text: pd.Series, label: str, src: Source, errors: list[IntakeError],
                 required: bool, no_future: bool, today: date | None) -> None:
    """Append errors for empty required dates, dates outside FIRST_DATE..LAST_DATE and, in history tables, future dates."""
    empty = text.eq(MISSING).to_numpy() | (text.eq("NaT").to_numpy())
    if required and empty.any():
        errors.append(rows_error(src, label, np.flatnonzero(empty), "empty", "",
                                 "Fill in a date or remove the rows.", "empty"))
    outside = ((dates < FIRST_DATE) | (dates > LAST_DATE)).to_numpy(dtype=bool)  # dates that came typed (Parquet)
    if outside.any():
        errors.append(_range_error(src, label, outside, first_flagged(text, outside)))
        dates = dates.where(~outside)
    if no_future:
        limit = pd.Timestamp(today or clock.today())
        future = (dates > limit).to_numpy(dtype=bool)
        if future.any():
            errors.append(rows_error(src, label, np.flatnonzero(future),
                                     f"after today ({limit:%Y-%m-%d}) — future dates in a history table",
                                     first_flagged(text, future),
                                     "Remove future rows, or check the day-first/month-first choice.", "future_date"))


# -- text ----------------------------------------------------------------------------------------

_FORMULA_LIKE = r"[=@].*|[+-][^\d.\s].*"


def formula_like(text: pd.Series) -> np.ndarray:
    """True where a trimmed text value starts like a spreadsheet formula ('=1+1', '@x', '-cmd'; not '-100-BLK').

    A new, writable array: pandas returns read-only views from `to_numpy()`, so the candidates
    found by the cheap prefix test are never written into one of those.
    """
    out = np.zeros(len(text), dtype=bool)
    candidates = np.flatnonzero(text.str.startswith(("=", "@", "+", "-")).fillna(False).to_numpy(dtype=bool))
    if len(candidates):
        out[candidates] = text.iloc[candidates].str.fullmatch(_FORMULA_LIKE).fillna(False).to_numpy(dtype=bool)
    return out


def parse_text(values: pd.Series, label: str, src: Source, errors: list[IntakeError], warnings: list[str], *,
               required: bool = False) -> pd.Series:
    """Trimmed text, exactly as written otherwise (leading zeros kept); missing -> NaN; empty required -> error."""
    text = as_text(values)
    empty = text.eq(MISSING).to_numpy()
    if required and empty.any():
        errors.append(rows_error(src, label, np.flatnonzero(empty), "empty", "",
                                 "Fill in a value or remove the rows.", "empty"))
    formula = formula_like(text)
    if formula.any():
        rows = np.unique(src.line_numbers[formula]).tolist()
        warnings.append(f"column '{label}': {len(rows):,} values start like a spreadsheet formula "
                        f"({format_rows(rows)}), e.g. {first_flagged(text, formula)!r}; stored as plain text")
    return text.where(~empty)

"""Files the app hands out (CSV and Excel) that never let a cell of uploaded data run as a formula.

A text cell that starts with = + - @ (or a tab / carriage return) is read by Excel, LibreOffice
and Google Sheets as a formula, so a sku or comment typed as `=HYPERLINK(...)` in an uploaded file
would run when a planner opens the export. Every export goes through ONE function, `neutralise`:
such a cell gets a leading apostrophe ("'=HYPERLINK(...)"), which spreadsheets show as text;
numbers, negative ones included, stay numbers (-5 is written as the number -5).

`to_csv_bytes` writes UTF-8 with a BOM (so Excel reads accents right) and CRLF row ends, so a cell
holding a line break is quoted and stays one cell. A cell holding a `;` or a tab is quoted too: a
spreadsheet in a locale whose list separator is `;` splits an unquoted `x;=cmd|...` into a second
cell `=cmd|...` that it runs as a formula. Quotes alone do not stop that (a quote opens a quoted field
only at the start of a field, and in that locale the comma before it is no separator), so in a CSV a
formula character that follows a `;` or a line break inside a cell gets an apostrophe as well:
`x;=cmd|...` is written `"x;'=cmd|..."`. `to_xlsx_bytes` writes values only, with openpyxl:

* every text cell is neutralised (`safe_frame`) and then written as an explicit string cell, so
  openpyxl never turns "=..." into a formula nor "#N/A" into an error value;
* NaN, NaT, None and ±inf are left blank (Excel has no NaN); numpy scalars become Python numbers;
  timestamps become Excel dates (timezone-aware ones in UTC); control characters Excel refuses are
  removed and text over Excel's 32,767 characters is cut;
* numbers stay numbers with the Excel number format they are given per column (or per row, for a
  column mixing units), dates and times get a date format; the header row is frozen (and the first
  columns where they label the rows), and each column is as wide as its header and cells as shown;
* the finished file is checked: if any sheet's XML holds an `<f>` element (a formula), it raises
  `FormulaInExport` instead of returning the bytes.
"""
from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from sop_core.formatting import money, pct, units

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
# characters that make a CSV field quoted: RFC 4180's (comma, quote, line breaks) and the other list
# separators spreadsheets split on (';' in many European locales, tab when a file is read as TSV)
CSV_QUOTE_CHARS = frozenset(',"\r\n;\t')
# a formula character where a ';' locale's parser may start a field: after a ; or a line break (no locale
# splits a .csv on tabs; a cell's leading tab is covered by FORMULA_PREFIXES)
_SPLIT_FORMULA = re.compile(r'([;\r\n][ "]*)(?=[=+\-@])')
MAX_CELL_TEXT = 32_767  # Excel's limit on the characters of one cell
MAX_SHEET_NAME = 31
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_FORMULA_ELEMENT = re.compile(rb"<(?:\w+:)?f[\s>/]")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E8EEF6")
DATE_FORMAT = "yyyy-mm-dd"
MONTH_FORMAT = "mmm yyyy"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
MIN_WIDTH, MAX_WIDTH = 8, 60  # column widths, in characters
_QUOTED = re.compile(r'"([^"]*)"')
_DECIMALS = re.compile(r"0\.(0+)")


class FormulaInExport(RuntimeError):
    """A workbook about to be handed out contains a formula element."""


def neutralise(value: Any) -> Any:
    """A text value that a spreadsheet would read as a formula, prefixed with an apostrophe; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names cannot be read as formulas (numbers untouched)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV (with BOM, so Excel reads accents right), formula-like text neutralised.

    Rows end in CRLF (RFC 4180), so a cell holding a carriage return or a line feed is quoted and
    stays one cell.
    """
    text = safe_frame(frame).to_csv(index=False, lineterminator="\r\n")
    rows = csv.reader(io.StringIO(text, newline=""))  # pandas' own text for every value, then quoted again
    return "".join(_csv_row(r) for r in rows).encode("utf-8-sig")


def _csv_field(value: str) -> str:
    """One CSV field: formula characters after a ; or a line break neutralised, and quoted when it holds
    a separator of any locale (, ;), a tab, a quote or a line break."""
    if CSV_QUOTE_CHARS.intersection(value):
        value = _SPLIT_FORMULA.sub(r"\1'", value)
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_row(fields: list[str]) -> str:
    """One CSV record with CRLF; a record of one empty field is written '""' so it is not a blank line."""
    if fields == [""]:
        return '""\r\n'
    return ",".join(_csv_field(f) for f in fields) + "\r\n"


def _sheet_name(name: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name: no []:*?/\\, at most 31 characters, not blank."""
    clean = _BAD_SHEET_CHARS.sub(" ", str(name)).strip().strip("'") or "Sheet"
    clean = clean[:MAX_SHEET_NAME]
    out, n = clean, 2
    while out.lower() in used:
        suffix = f" ({n})"
        out, n = clean[:MAX_SHEET_NAME - len(suffix)] + suffix, n + 1
    used.add(out.lower())
    return out


def _excel_value(value: Any) -> Any:
    """A cell value openpyxl writes as a plain value: None for missing, Python scalars, naive datetimes."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            value = value.tz_convert("UTC").tz_localize(None)
        return value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = pd.Timestamp(value).tz_convert("UTC").tz_localize(None).to_pydatetime()
        return value
    if isinstance(value, date):
        return value
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return str(pd.Timedelta(value))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _text(value: str) -> str:
    """Text Excel accepts: illegal control characters removed, at most MAX_CELL_TEXT characters."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value[:MAX_CELL_TEXT]


def _cell(ws: Any, value: Any, number_format: str | None) -> WriteOnlyCell:
    """A write-only cell holding `value` as a value, never as a formula or error code."""
    v = _excel_value(value)
    if isinstance(v, str):
        v = neutralise(_text(v))[:MAX_CELL_TEXT]  # clean first: "\x01=x" must not end up as "=x"
        cell = WriteOnlyCell(ws, value=v)
        cell.data_type = "s"  # openpyxl would read "=..." as a formula and "#N/A" as an error value
        return cell
    cell = WriteOnlyCell(ws, value=v)
    if isinstance(v, (datetime, date)) and not (number_format and _is_date_format(number_format)):
        number_format = _date_format(v)
    if number_format and v is not None and not isinstance(v, bool):
        cell.number_format = number_format
    return cell


def _is_date_format(fmt: str) -> bool:
    return any(c in fmt.lower() for c in "ymd") and not _QUOTED.sub("", fmt).strip().startswith(("#", "0", "$"))


def _date_format(v: date) -> str:
    """A date format for a value in a column without one: date and time when it has a time of day."""
    if isinstance(v, datetime) and (v.hour, v.minute, v.second, v.microsecond) != (0, 0, 0, 0):
        return DATETIME_FORMAT
    return DATE_FORMAT


def _shown_length(value: Any, number_format: str | None) -> int:
    """About how many characters Excel shows for `value` in `number_format` (for the column width)."""
    v = _excel_value(value)
    if v is None:
        return 0
    if isinstance(v, str):
        return max(len(line) for line in v.split("\n"))
    if isinstance(v, bool):
        return 5
    if isinstance(v, (datetime, date)):
        fmt = number_format if number_format and _is_date_format(number_format) else _date_format(v)
        return len(_QUOTED.sub("x", fmt)) + (1 if "mmm" in fmt else 0)
    if not isinstance(v, (int, float)):
        return len(str(v))
    if not number_format:
        return min(len(f"{v:g}"), 11)  # Excel's General shows at most 11 characters
    decimals = _DECIMALS.search(number_format)
    d = len(decimals.group(1)) if decimals else 0
    literal = sum(len(t) for t in _QUOTED.findall(number_format))
    if "%" in number_format:
        return len(pct(v, d)) + literal
    if "$" in number_format:
        return len(money(v, compact=False)) + (d + 1 if d else 0) + literal
    return len(units(v)) + (d + 1 if d else 0) + literal


def _default_format(series: pd.Series) -> str | None:
    """Number format for a column: dates as yyyy-mm-dd (month starts as 'mmm yyyy'), none otherwise."""
    if pd.api.types.is_datetime64_any_dtype(series):
        s = series.dropna()
        if len(s) and (s.dt.day == 1).all() and (s.dt.normalize() == s).all():
            return MONTH_FORMAT
        return DATE_FORMAT
    return None


def _width(header: str, values: Sequence[Any], formats: Sequence[str | None]) -> float:
    """A width for a column that fits its header and its first 200 cells as shown (MIN_WIDTH to MAX_WIDTH)."""
    cells = [_shown_length(v, f) for v, f in zip(values[:200], formats[:200])]
    longest = max([len(header) + 1] + cells)  # the header is bold
    return float(min(max(longest + 2, MIN_WIDTH), MAX_WIDTH))


FormatSpec = str | Sequence[str | None] | None


def _row_formats(spec: FormatSpec, series: pd.Series) -> list[str | None]:
    """The number format of each row of a column: one for the column, one per row, or the date default."""
    if spec is None or isinstance(spec, str):
        return [spec or _default_format(series)] * len(series)
    out = list(spec)
    if len(out) != len(series):
        raise ValueError(f"column {series.name!r}: {len(out)} number formats for {len(series)} rows")
    return out


def to_xlsx_bytes(sheets: Mapping[str, pd.DataFrame],
                  number_formats: Mapping[str, Mapping[str, FormatSpec]] | None = None,
                  label_columns: Mapping[str, int] | None = None) -> bytes:
    """An .xlsx workbook with one sheet per frame (in the given order), values only.

    number_formats: {sheet name: {column: Excel number format}}, e.g. {'Plan': {'Units': '#,##0'}}; a
    column mixing units takes a list with one format per row (None = no format). Date columns default
    to yyyy-mm-dd ('mmm yyyy' when every value is a month start), any other date or time in a cell to
    yyyy-mm-dd (hh:mm when it has a time of day). label_columns: {sheet name: n}, the first n columns
    label the rows and stay in view when scrolling right. The header row is bold and frozen; each
    column is as wide as its header and its cells as shown. Raises FormulaInExport if the result
    would hold a formula.
    """
    if not sheets:
        raise ValueError("to_xlsx_bytes needs at least one sheet")
    wb = Workbook(write_only=True)
    used: set[str] = set()
    for name, frame in sheets.items():
        ws = wb.create_sheet(_sheet_name(name, used))
        frame = frame.reset_index(drop=True)
        safe = safe_frame(frame)
        formats = dict((number_formats or {}).get(name, {}))
        col_formats = [_row_formats(formats.get(str(c)), frame.iloc[:, i]) for i, c in enumerate(frame.columns)]
        for i in range(safe.shape[1]):
            ws.column_dimensions[get_column_letter(i + 1)].width = _width(str(safe.columns[i]),
                                                                          list(safe.iloc[:, i]), col_formats[i])
        n_labels = max(0, min(int((label_columns or {}).get(name, 0)), safe.shape[1] - 1))
        ws.freeze_panes = f"{get_column_letter(n_labels + 1)}2"
        header = []
        for c in safe.columns:
            cell = _cell(ws, str(c), None)
            cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
            cell.alignment = Alignment(vertical="top")
            header.append(cell)
        ws.append(header)
        for r, row in enumerate(safe.itertuples(index=False, name=None)):
            ws.append([_cell(ws, v, f[r]) for v, f in zip(row, col_formats)])
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    found = formula_cells(data)
    if found:
        raise FormulaInExport(f"the workbook would contain formula elements in {', '.join(found)}; not exported")
    return data


def formula_cells(xlsx: bytes) -> list[str]:
    """Names of the worksheet XML parts of an .xlsx that contain an `<f>` (formula) element; [] when none."""
    out = []
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        for info in z.infolist():
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                if _FORMULA_ELEMENT.search(z.read(info.filename)):
                    out.append(info.filename)
    return out

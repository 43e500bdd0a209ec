"""Files the app hands out: CSV that opens safely in a spreadsheet.

A text cell that starts with = + - @ (or a tab / carriage return) is read by Excel, LibreOffice
and Google Sheets as a formula, so a sku or comment typed as `=HYPERLINK(...)` in an uploaded file
would run when a planner opens the export. Such cells get a leading apostrophe ("'=..."), which
spreadsheets show as text. Numbers (including negative ones) are left as numbers.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text value that a spreadsheet would read as a formula, prefixed with an apostrophe; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names cannot be read as spreadsheet formulas."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV (with BOM, so Excel reads accents right), formula-like text neutralised."""
    return neutralise_formulas(frame).to_csv(index=False, lineterminator="\n").encode("utf-8-sig")

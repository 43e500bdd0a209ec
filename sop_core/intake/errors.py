"""IntakeError, the error raised for a file that cannot be loaded, and the wording of such errors.

`format_rows` and `rows_error` name the rows at fault as the user sees them in the file (`Source`
gives the display file name and the row number of each value). `strip_bidi` removes the invisible
bidirectional control characters (BIDI_CONTROLS) that make text display as something else: the
readers remove them from every cell, header and file name, and `validate.text_field` from typed names.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

ROWS_IN_MESSAGE = 10  # row numbers quoted in a message before "and N more"
# invisible characters that reorder how text is displayed ("abc\u202egpj.exe" shows as "abcexe.jpg"): removed
# from every uploaded cell, header and file name and from typed names (readers, sanitise_name, text_field)
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BIDI_PATTERN = f"[{BIDI_CONTROLS}]"
_BIDI_TABLE = str.maketrans("", "", BIDI_CONTROLS)


def strip_bidi(text: str) -> str:
    """`text` without bidirectional control characters (BIDI_CONTROLS)."""
    return text.translate(_BIDI_TABLE)


class IntakeError(Exception):
    """A file (or one column of it) that cannot be loaded; str() is the message shown to the user."""

    def __init__(self, file: str, message: str, column: str | None = None,
                 rows: Iterable[int] | None = None, count: int | None = None, *,
                 kind: str = "invalid", choices: Sequence[str] | None = None) -> None:
        self.file = file
        self.message = message
        self.column = column
        self.rows: list[int] = [int(r) for r in rows] if rows is not None else []
        self.count = count if count is not None else (len(self.rows) if self.rows else None)
        self.kind = kind  # short code for callers, e.g. "ambiguous_dates", "missing_columns", "sheet_choice"
        self.choices: list[str] = list(choices or [])  # e.g. sheet names the user can pick from
        self.parts: tuple[object, ...] | None = None  # set by counted_rows_error
        super().__init__(file, message)

    def __str__(self) -> str:
        where = f"{self.file}, column '{self.column}'" if self.column is not None else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Source:
    """Where the values being validated came from: display file name and file row numbers."""

    file: str
    line_numbers: np.ndarray  # file row number of each value, same length as the columns
    excel: bool = False  # numbers in date columns may be Excel serial dates


# -- messages ------------------------------------------------------------------------------------

def format_rows(rows: Sequence[int], limit: int = ROWS_IN_MESSAGE, total: int | None = None) -> str:
    """'row 5' / 'rows 5, 9, 12' / 'rows 5, 9, … and 20 more'; `total` when `rows` holds only the first ones."""
    rows = list(rows)
    total = len(rows) if total is None else total
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {total - limit:,} more" if total > limit else ""
    return f"{'row' if total == 1 else 'rows'} {shown}{more}"


def rows_error(src: Source, column: str | None, positions: np.ndarray, problem: str | tuple[str, str],
               example: object, fix: str, kind: str, limit: int = ROWS_IN_MESSAGE) -> IntakeError:
    """An error about the rows at `positions` (indexes into the column) of one column.

    `problem` is a phrase after 'rows are' (e.g. 'not numbers'), or (singular, plural) forms.
    """
    rows = np.unique(src.line_numbers[positions]).tolist()
    return counted_rows_error(src.file, column, rows, len(rows), problem, example, fix, kind, limit)


def counted_rows_error(file: str, column: str | None, rows: Sequence[int], count: int, problem: str | tuple[str, str],
                       example: object, fix: str, kind: str, limit: int = ROWS_IN_MESSAGE) -> IntakeError:
    """`rows_error` when only the first `rows` (sorted) of `count` are at hand (a check run in SQL).

    The error keeps its parts (`parts`: problem, example, fix, limit) so that a check run on distinct
    values can be re-worded for every row holding them (`staged_checks`).
    """
    one, many = (problem, problem) if isinstance(problem, str) else problem
    text = f"1 row is {one}" if count == 1 else f"{count:,} rows are {many}"
    eg = f", e.g. {str(example)!r}" if str(example) != "" else ""
    msg = f"{text} ({format_rows(rows, limit, count)}){eg}. {fix}"
    err = IntakeError(file, msg, column=column, rows=rows, count=count, kind=kind)
    err.parts = (problem, example, fix, limit)
    return err

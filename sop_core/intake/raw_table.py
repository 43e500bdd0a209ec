"""`RawTable`, an upload read as text cells, and what every reader does to finish one.

A RawTable holds the original headers, every value as a string, and the row number each data row
has in the file as the user sees it (header = row 1). `Limits` are the caps that every reader keeps.
`finish_table` is the common tail of the CSV, Excel and Parquet readers: duplicate headers refused, blank
rows and empty unnamed columns dropped, control characters refused and bidi controls removed. Also
here, as several readers use them: `looks_like` (what the leading bytes say a file is) and
`arrow_reason` (the useful line of a pyarrow error).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from sop_core.contract import normalise_header
from sop_core.intake.errors import BIDI_CONTROLS, BIDI_PATTERN, IntakeError, format_rows, strip_bidi

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps that keep one upload from exhausting the server.

    A file read whole into memory (an upload's bytes, Excel, a small CSV or Parquet) keeps `max_bytes`
    and `max_rows`; a CSV or Parquet file over `stream_bytes` or `max_rows` is read by DuckDB into a
    staging table on disk instead (`staging`), up to `max_file_bytes` and `max_stream_rows`.
    """

    max_bytes: int = 200 * MB  # Streamlit's upload limit (.streamlit/config.toml maxUploadSize)
    max_rows: int = 2_000_000
    stream_bytes: int = 64 * MB
    max_file_bytes: int = 4096 * MB  # a file loaded from a path (the command line)
    max_stream_rows: int = 50_000_000
    max_line_bytes: int = 1 * MB
    max_unzipped_bytes: int = 1024 * MB  # total expanded size of an .xlsx
    max_columns: int = 4096  # columns of a table (a wide layout has one per series); Excel allows 16,384
    max_zip_ratio: int = 100  # how many times one part of an .xlsx may expand (a zip bomb: about 1,000)


DEFAULT_LIMITS = Limits()
# in text, every reader's: C0 controls but tab and line breaks, DEL, and the C1 controls (U+0080-U+009F,
# e.g. U+009B, a terminal's one-character escape sequence introducer)
_CONTROL_TEXT = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a zip archive or Excel file"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
    (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-format (.xls) or password-protected Office file"),
    (b"PAR1", "a Parquet file"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


@dataclass
class RawTable:
    """An uploaded table as text: headers and every cell as a string, with file row numbers.

    `data` has one column per header (labelled by the original header, BOM removed) holding
    strings ('' for empty cells); `line_numbers[i]` is the file row of data row i.
    """

    file_name: str
    kind: str  # 'csv' | 'xlsx' | 'parquet'
    headers: list[str]
    data: pd.DataFrame
    line_numbers: np.ndarray
    sheet: str | None = None
    sheet_names: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)  # how the file was read (encoding, delimiter)
    warnings: list[str] = field(default_factory=list)  # what was left out (blank rows, hidden sheets)
    size_bytes: int = 0
    blank_rows: int = 0

    @property
    def rows(self) -> int:
        """Number of data rows (blank rows already dropped)."""
        return len(self.data)

    @property
    def stem(self) -> str:
        """File name without its extension."""
        return PurePosixPath(self.file_name).stem or self.file_name


def looks_like(data: bytes) -> str | None:
    """What the leading bytes say the content is ('a PNG image'), or None for no known signature."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    return None


def arrow_reason(exc: Exception) -> str:
    """The useful first line of a pyarrow error."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


# -- the common tail of every reader ----------------------------------------------------------------

def finish_table(file_name: str, headers: list[str], body: pd.DataFrame, numbers: np.ndarray,
            warnings: list[str] | None = None, check_text: bool = True) -> RawTable:
    """Common tail of every reader: name columns, check headers, drop blank rows and empty unnamed columns,
    refuse control characters and remove bidi controls (CSV, Excel and Parquet alike; `check_text=False`
    only when the file's bytes were searched and hold none of them)."""
    warns = list(warnings or [])
    headers = _strip_bidi_headers(headers, warns)
    headers, body = _drop_empty_unnamed(headers, body, warns)
    check_headers(file_name, headers)
    body.columns = pd.Index(headers, dtype="object")
    blank = _blank_rows(body)
    n_blank = int(blank.sum())
    if n_blank:
        dropped = numbers[blank].tolist()
        body = body[~blank].reset_index(drop=True)
        numbers = numbers[~blank]
        warns.append(f"{n_blank:,} blank {'row' if n_blank == 1 else 'rows'} dropped ({format_rows(dropped)})")
    if len(body) == 0:
        raise IntakeError(file_name, "no data rows" + (f" (only {n_blank:,} blank rows)" if n_blank else ""),
                          kind="no_rows")
    raw = RawTable(file_name=file_name, kind="", headers=headers, data=body, line_numbers=numbers,
                   warnings=warns, blank_rows=n_blank)
    if check_text:
        _reject_control_chars(raw)
        _strip_bidi_cells(raw)
    return raw


def _bidi_names(texts: pd.Series | list[str]) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE' for the bidi controls found in `texts` (the first two kinds)."""
    import unicodedata

    found = sorted({c for t in texts for c in str(t) if c in BIDI_CONTROLS})
    return ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '')}".strip() for c in found[:2]) + \
        (", …" if len(found) > 2 else "")


def _strip_bidi_headers(headers: list[str], warns: list[str]) -> list[str]:
    """Headers without bidi controls, with a warning naming the changed headers."""
    changed = [h for h in headers if any(c in BIDI_CONTROLS for c in h)]
    if not changed:
        return headers
    warns.append(f"{len(changed):,} column {'header' if len(changed) == 1 else 'headers'} "
                 f"({', '.join(repr(strip_bidi(h)) for h in changed[:5])}) held invisible bidirectional control "
                 f"characters ({_bidi_names(changed)}), which show text in another order than it is stored; removed")
    return [strip_bidi(h) for h in headers]


def _strip_bidi_cells(raw: RawTable) -> None:
    """Remove bidi controls from every cell in place, with one warning per column naming the rows."""
    for h in raw.headers:
        col = raw.data[h].astype("str")
        hit = col.str.contains(BIDI_PATTERN, regex=True).fillna(False).to_numpy(dtype=bool)
        if not hit.any():
            continue
        rows = raw.line_numbers[hit].tolist()
        n = len(rows)
        raw.data[h] = col.str.replace(BIDI_PATTERN, "", regex=True)
        raw.warnings.append(
            f"column '{h.strip()}': {n:,} {'value held' if n == 1 else 'values held'} invisible bidirectional control "
            f"characters ({_bidi_names(col[hit].iloc[:100])}), which show text in another order than it is stored, "
            f"e.g. {col[hit].iloc[0]!r}; removed ({format_rows(rows)})")


def _drop_empty_unnamed(headers: list[str], body: pd.DataFrame, warns: list[str]) -> tuple[list[str], pd.DataFrame]:
    """Remove columns with no header and no values; give unnamed columns with values a display name."""
    keep, names = [], []
    for i, h in enumerate(headers):
        col = body.iloc[:, i]
        if h.strip() == "":
            if not col.astype("str").str.strip().ne("").any():
                continue
            h = f"(unnamed column {i + 1})"
            warns.append(f"column {i + 1} has values but no header")
        keep.append(i)
        names.append(h)
    return names, body.iloc[:, keep].copy()


def check_headers(file_name: str, headers: list[str]) -> None:
    """Reject duplicate column names (compared trimmed and case-insensitively); never rename them."""
    seen: dict[str, str] = {}
    dups: list[str] = []
    for h in headers:
        key = normalise_header(h)
        if key in seen and h.strip() not in dups:
            dups.append(h.strip())
        seen.setdefault(key, h)
    if dups:
        label = "duplicate column" if len(dups) == 1 else "duplicate columns"
        raise IntakeError(file_name, f"{label} {', '.join(dups)} — every column needs a distinct name",
                          kind="duplicate_columns")


def _blank_rows(body: pd.DataFrame) -> np.ndarray:
    """True for rows whose every cell is empty or whitespace."""
    blank = np.ones(len(body), dtype=bool)
    for name in body.columns:
        col = body[name]
        nonempty = col.fillna("").astype("str").str.len().to_numpy() > 0
        if nonempty.any():
            nonempty[nonempty] = col[nonempty].astype("str").str.strip().str.len().to_numpy() > 0
        blank &= ~nonempty
        if not blank.any():
            break
    return blank


def _reject_control_chars(raw: RawTable) -> None:
    """Raise with row and column for the first column holding NUL or other control characters (any reader)."""
    for h in raw.headers:
        if re.search(_CONTROL_TEXT, h):
            raise IntakeError(raw.file_name, f"header {h!r} contains a NUL or control character — remove it",
                              kind="control_chars")
    for h in raw.headers:
        hit = raw.data[h].astype("str").str.contains(_CONTROL_TEXT, regex=True).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            rows = raw.line_numbers[hit].tolist()
            example = raw.data[h][hit].iloc[0]
            n = len(rows)
            raise IntakeError(raw.file_name, f"{n:,} {'row contains' if n == 1 else 'rows contain'} a NUL or "
                                             f"control character ({format_rows(rows)}), e.g. {example!r}. Remove "
                                             "those characters and save the file again.",
                              column=h.strip(), rows=rows, count=n, kind="control_chars")

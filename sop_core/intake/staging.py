"""Read a large CSV or Parquet file with DuckDB's own readers into a staging table of text cells, streamed.

`stage_file` is the streamed counterpart of `readers.read_file` for files too large to hold in memory
(`streams` says which): the bytes are scanned once in chunks (encoding, line lengths, blank lines,
control characters), then DuckDB reads every cell as text (`all_varchar`-like: explicit VARCHAR
columns, no sniffing, strict quoting, ragged rows kept as rejects and refused) into `staged_raw`.
The view `staged` holds the data rows: "row" (the row as in the spreadsheet, header = row 1) and one
column c0, c1, ... per header, trimmed, NULL for an empty cell, blank rows left out (`staged_all` keeps
them). The checks and messages of `raw_table.finish_table` apply (duplicate headers, blank rows, control
and bidi characters; a bidi warning quotes the value trimmed).
`Staged.raw` is a RawTable of the first rows only, for mapping and previews.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sop_core.intake.errors import BIDI_CONTROLS, IntakeError, format_rows
from sop_core.intake.raw_table import (
    _CONTROL_TEXT,
    DEFAULT_LIMITS,
    MB,
    Limits,
    RawTable,
    _bidi_names,
    _strip_bidi_headers,
    check_headers,
)
from sop_core.intake.text_files import (
    _TEXT_CHECK_BYTES,
    _choose_delimiter,
    _header_width,
    _ragged_message,
    _reject_binary,
)

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

RAW, VIEW = "staged_raw", "staged"
SAMPLE_ROWS = 200  # rows of Staged.raw
CHUNK = 16 * MB
# what Python's str.strip() removes (the checks trim with it), but the control characters: the cells are trimmed
# of these as they are read, and a cell holding a control character is refused, so a staged cell is trimmed
# exactly as str.strip() would
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace() and not re.match(r"[\x00-\x1f\x7f-\x9f]", chr(c))
                     or chr(c) in "\t\n\r")
_CONTROL_BYTES = np.zeros(256, dtype=bool)
_CONTROL_BYTES[[b for b in range(32) if b not in (9, 10, 13)] + [127]] = True
# RE2 spellings of raw_table's _CONTROL_TEXT and errors.BIDI_PATTERN
CONTROL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x{9f}]"
BIDI_RE2 = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in BIDI_CONTROLS) + "]"
STREAMED_EXTENSIONS = {".csv", ".txt", ".tsv", ".tab", ".dat", "", ".parquet", ".pq"}


@dataclass
class Staged:
    """A file read into the staging table: headers, their columns in `staged`, rows kept and a sample."""

    file_name: str
    kind: str  # 'csv' | 'parquet'
    headers: list[str]
    columns: list[str]  # column of `staged` for each header
    rows: int  # data rows kept (blank rows left out)
    blank_rows: int
    raw: RawTable  # the first SAMPLE_ROWS rows as text, with every note and warning of the read


def quote_name(name: str) -> str:
    """`name` as a quoted SQL identifier (an uploaded header never reaches SQL otherwise)."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_text(text: str) -> str:
    """`text` as a quoted SQL string literal (for reader options, which take no parameters)."""
    return "'" + str(text).replace("'", "''") + "'"


_WS_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
_EDGE_SPACE = f"^{_WS_CLASS}|{_WS_CLASS}$"


def trimmed(column: str) -> str:
    """SQL: a cell as staged: trimmed (see WHITESPACE), NULL when empty.

    trim() with a set of characters is slow, so it runs only on the cells that start or end with one of them.
    """
    return (f"NULLIF(CASE WHEN regexp_matches({column}, {quote_text(_EDGE_SPACE)}) "
            f"THEN trim({column}, {quote_text(WHITESPACE)}) ELSE {column} END, '')")


def streams(name: str, size: int, limits: Limits = DEFAULT_LIMITS) -> bool:
    """True when a file of this name and size is read by DuckDB rather than into memory."""
    from sop_core.intake.readers import extension

    return extension(name) in STREAMED_EXTENSIONS and size > limits.stream_bytes


# -- entry point -------------------------------------------------------------------------------------

def stage_file(con: duckdb.DuckDBPyConnection, file_name: str, path: str | Path, *, encoding: str | None = None,
               delimiter: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Staged:
    """Read the CSV or Parquet file at `path` into `staged`; raises IntakeError with the in-memory readers' messages."""
    from sop_core.intake.readers import PARQUET_EXTENSIONS, extension

    path = Path(path)
    if extension(file_name) in PARQUET_EXTENSIONS:
        staged = _stage_parquet(con, file_name, path, limits)
    else:
        staged = _stage_csv(con, file_name, path, encoding, delimiter, limits)
    staged.raw.size_bytes = os.path.getsize(path)
    return staged


# -- CSV ---------------------------------------------------------------------------------------------

@dataclass
class _Scan:
    """What one pass over a text file found."""

    path: Path  # UTF-8 text DuckDB reads (the file itself, or its transcoded copy)
    encoding: str
    notes: list[str]
    head: bytes  # the first MB of UTF-8 text, leading blank lines removed
    skipped_lines: int  # blank lines before the header
    blank_lines: list[int]  # physical lines that are empty, after the header
    quoted: bool  # holds a quote character (a record may span lines)
    check_text: bool  # holds bytes of a control or bidi character


def _stage_csv(con: duckdb.DuckDBPyConnection, file_name: str, path: Path, encoding: str | None,
               delimiter: str | None, limits: Limits) -> Staged:
    """Scan, then read a delimited text file with read_csv into `staged`."""
    scan = _scan_text(file_name, path, encoding, limits)
    notes = list(scan.notes)
    delim = _choose_delimiter(file_name, scan.head, delimiter, notes)
    width = _header_width(scan.head, delim)
    if width > limits.max_columns:
        raise IntakeError(file_name, f"the header has {width:,} columns; at most {limits.max_columns:,} can be read "
                                     "— check the delimiter, or remove the columns the table does not need",
                          kind="too_many_columns")
    if scan.blank_lines and scan.quoted:
        raise IntakeError(file_name, f"{len(scan.blank_lines):,} blank lines between rows "
                                     f"({format_rows(scan.blank_lines)}) in a large file with quoted values: remove "
                                     "the blank lines, then load it again", kind="parse")
    columns = [f"c{i}" for i in range(width)]
    spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    options = (f"header = false, columns = {spec}, delim = {quote_text(delim)}, quote = '\"', escape = '\"', "
               f"auto_detect = false, strict_mode = true, null_padding = false, store_rejects = true, "
               f"max_line_size = {max(limits.max_line_bytes + 2, 2 * MB)}, parallel = false")
    cells = ", ".join(f"{trimmed(c)} AS {c}" for c in columns)
    try:
        con.execute(f"CREATE TABLE {RAW} AS SELECT {cells} FROM read_csv({quote_text(str(scan.path))}, {options}) "
                    f"LIMIT {int(limits.max_stream_rows) + 2}")
    except Exception as exc:  # noqa: BLE001 - DuckDB's parse errors (unterminated quotes...) are the file's fault
        raise IntakeError(file_name, f"could not parse the file as CSV ({_reason(exc)})", kind="parse") from None
    _refuse_rejects(con, file_name, delim, width)
    total = con.execute(f"SELECT count(*) FROM {RAW}").fetchone()[0]
    if total == 0:
        raise IntakeError(file_name, "file is empty", kind="empty")
    if total - 1 > limits.max_stream_rows:
        raise IntakeError(file_name, f"too many rows: max {limits.max_stream_rows:,} rows", kind="too_many_rows")
    first_row = 1 + scan.skipped_lines
    row = f"(w.rowid + {first_row})"
    if scan.blank_lines:  # DuckDB skips empty lines; the spreadsheet counts them
        shifts = np.array(scan.blank_lines, dtype=np.int64) - np.arange(len(scan.blank_lines))
        con.execute("CREATE TABLE staged_shifts AS SELECT unnest(?::BIGINT[]) AS shift_at", [shifts.tolist()])
        row = f"({row} + (SELECT count(*) FROM staged_shifts s WHERE s.shift_at <= w.rowid + {first_row}))"
    text = scan.head.decode("utf-8", errors="ignore")  # the header as written (the staged cells are trimmed)
    header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delim), [])
    headers = [str(v).replace("\ufeff", "") for v in header] + [""] * (width - len(header))
    staged = _finish(con, file_name, "csv", headers, columns, row, "w.rowid > 0", scan.blank_lines, scan.check_text)
    staged.raw.encoding, staged.raw.delimiter = scan.encoding, delim
    staged.raw.notes = notes + staged.raw.notes
    return staged


def _reason(exc: BaseException) -> str:
    """The first line of a DuckDB error, without DuckDB's own prefix."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"^\w+ Error: ", "", text)[:200]


def _refuse_rejects(con: duckdb.DuckDBPyConnection, file_name: str, delim: str, width: int) -> None:
    """Raise the ragged-rows message (or a parse error) for the lines DuckDB rejected."""
    found = con.execute("SELECT count(*) FROM reject_errors").fetchone()[0]
    if not found:
        return
    rows = con.execute("SELECT line, error_type::VARCHAR, csv_line FROM reject_errors ORDER BY line LIMIT 50").fetchall()
    other = [r for r in rows if r[1] not in ("TOO MANY COLUMNS", "MISSING COLUMNS")]
    if other:
        line, kind, _ = other[0]
        raise IntakeError(file_name, f"could not parse the file as CSV (line {line}: {kind.lower()})", kind="parse")
    bad = []
    for line, _, text in rows:
        fields = next(csv.reader(io.StringIO(text or "", newline=""), delimiter=delim), [])
        bad.append((int(line), len(fields), width))
    raise IntakeError(file_name, _ragged_message(bad, found, width), rows=[b[0] for b in bad], count=found,
                      kind="ragged")


def _scan_text(file_name: str, path: Path, encoding: str | None, limits: Limits) -> _Scan:
    """One pass over the file: refuse binary, check or convert the encoding, long lines; find blank lines."""
    with open(path, "rb") as fh:
        head = fh.read(MB)
    if not head.strip():
        raise IntakeError(file_name, "file is empty", kind="empty")
    _reject_binary(file_name, head)
    codec, notes, bom = _encoding(file_name, head, encoding)
    target = path
    if codec not in ("utf-8", "utf-8-sig"):
        target = path.with_name(path.name + ".utf8")
    scanner = _LineScanner(file_name, limits.max_line_bytes)
    decoder = codecs.getincrementaldecoder(codec)()
    out = open(target, "wb") if target != path else None
    offset = 0
    try:
        with open(path, "rb") as fh:
            fh.seek(bom)
            while True:
                chunk = fh.read(CHUNK)
                last = len(chunk) < CHUNK
                try:
                    text = decoder.decode(chunk, final=last)
                except UnicodeDecodeError as exc:
                    scanner.raise_decode(codec, offset + exc.start, chunk, exc.start, encoding is not None)
                if out is not None:
                    data = text.lstrip("\ufeff") if offset == 0 else text
                    data = data.encode("utf-8")
                    out.write(data)
                else:
                    data = chunk
                scanner.feed(data)
                offset += len(chunk)
                if last:
                    break
    finally:
        if out is not None:
            out.close()
    scanner.close()
    if scanner.lines_with_text == 0:
        raise IntakeError(file_name, "file is empty", kind="empty")
    if scanner.quotes % 2:
        raise IntakeError(file_name, "could not parse the file as CSV (a quoted value is never closed: check the "
                                     "quote characters)", kind="parse")
    with open(target, "rb") as fh:
        fh.seek(0 if target != path else bom)
        head = fh.read(MB + scanner.leading_bytes)[scanner.leading_bytes:]
    return _Scan(path=target, encoding=codec if codec != "utf-8-sig" else "utf-8-sig", notes=notes, head=head,
                 skipped_lines=scanner.leading_lines, blank_lines=scanner.blank_lines, quoted=scanner.quoted,
                 check_text=scanner.check_text)


def _encoding(file_name: str, head: bytes, encoding: str | None) -> tuple[str, list[str], int]:
    """(codec, notes, bytes of byte-order mark to skip) as text_files._to_utf8 decides them."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", ["read as UTF-32 (byte-order mark)"], 0
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", ["read as UTF-16 (byte-order mark)"], 0
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise IntakeError(file_name, f"unknown encoding {encoding!r}", kind="encoding") from None
        if codec not in ("utf-8", "utf-8-sig"):
            return codec, [f"read as {codec} (chosen)"], 0
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", [], len(codecs.BOM_UTF8)
    return "utf-8", [], 0


class _LineScanner:
    """Follows UTF-8 text chunk by chunk: line lengths, leading and later blank lines, quotes, control bytes."""

    def __init__(self, file_name: str, max_line: int) -> None:
        self.file_name, self.max_line = file_name, max_line
        self.pos = 0  # bytes seen
        self.lf = 0  # line feeds seen
        self.line_start = 0  # byte offset where the current line starts
        self.leading = True  # still in the blank lines before the header
        self.leading_lines = self.leading_bytes = 0
        self.lines_with_text = 0
        self.blank_lines: list[int] = []
        self.quoted = self.check_text = False
        self.quotes = 0  # an odd count: a quoted value never closed, which read_csv drops without a word
        self.tail = b""  # last bytes of the previous chunk (a control character may straddle chunks)
        self.newline: int | None = None  # the byte lines end with
        self._last_byte = 0

    def feed(self, data: bytes) -> None:
        """Take the next chunk of UTF-8 text."""
        if not data:
            return
        self.quotes += data.count(b'"')
        self.quoted = self.quoted or self.quotes > 0
        arr = np.frombuffer(data, dtype=np.uint8)
        if self.newline is None and (10 in data or 13 in data):  # lines end at LF (or CRLF), else at CR (old Macs)
            self.newline = 10 if 10 in data else 13
        if not self.check_text:  # a cheap look first: control bytes, or the lead bytes of C1 and bidi characters
            lead = data.find(b"\xc2") >= 0 or data.find(b"\xd8") >= 0 or data.find(b"\xe2") >= 0
            self.check_text = bool(_CONTROL_BYTES[arr].any()) or (
                lead and _TEXT_CHECK_BYTES.search(self.tail + data) is not None)
        self.tail = data[-2:]
        lfs = np.flatnonzero(arr == (self.newline or 10))
        starts = np.concatenate(([self.line_start - self.pos], lfs[:-1] + 1)) if len(lfs) else np.array([], np.int64)
        lengths = lfs - starts
        if len(lfs):
            crlf = np.zeros(len(lfs), dtype=bool)
            if self.newline == 10:
                has_prev = lfs > 0
                crlf[has_prev] = arr[lfs[has_prev] - 1] == 13
                if not has_prev.all() and self.pos > 0:
                    crlf[~has_prev] = self._last_byte == 13
            content = lengths - crlf
            too_long = np.flatnonzero(content > self.max_line)
            if len(too_long):
                self._raise_long(self.lf + int(too_long[0]) + 1)
            empty = content <= 0
            numbers = self.lf + np.arange(1, len(lfs) + 1)
            if self.leading:
                text = np.flatnonzero(~empty)
                lead = int(text[0]) if len(text) else len(lfs)
                self.leading_lines += lead
                if lead:
                    self.leading_bytes = int(lfs[lead - 1]) + 1 + self.pos
                if len(text):
                    self.leading = False
                    empty = empty.copy()
                    empty[:lead] = False
                else:
                    empty[:] = False
            self.blank_lines += numbers[empty].tolist()
            self.lines_with_text += int(np.count_nonzero(content > 0))
            self.lf += len(lfs)
            self.line_start = self.pos + int(lfs[-1]) + 1
        if self.pos + len(data) - self.line_start > self.max_line + 1:
            self._raise_long(self.lf + 1)
        self._last_byte = int(arr[-1])
        self.pos += len(data)

    def close(self) -> None:
        """The end of the text: the last line, if it has no line break."""
        if self.pos > self.line_start:
            self.lines_with_text += 1
            self.leading = False

    def _raise_long(self, line: int) -> None:
        raise IntakeError(self.file_name, f"line {line} too long (over {self.max_line:,} bytes) — is this really a "
                                          "table with one record per line?", kind="line_too_long")

    def raise_decode(self, codec: str, pos: int, chunk: bytes, at: int, chosen: bool) -> None:
        """Raise text_files' message for bytes that do not decode."""
        line = self.lf + chunk.count(b"\n", 0, at) + 1
        if codec in ("utf-8", "utf-8-sig"):
            bad = chunk[at:at + 1].hex().upper()
            raise IntakeError(self.file_name, f"not UTF-8 (line {line} has byte 0x{bad}) — re-save as UTF-8 or "
                                              "choose an encoding (e.g. cp1252 for files saved by Excel on Windows)",
                              kind="encoding")
        raise IntakeError(self.file_name, f"cannot be read as {codec} (line {line}) — re-save as UTF-8 or choose "
                                          "another encoding", kind="encoding")


# -- Parquet -----------------------------------------------------------------------------------------

def _stage_parquet(con: duckdb.DuckDBPyConnection, file_name: str, path: Path, limits: Limits) -> Staged:
    """Read every column and row group of a Parquet file into `staged` as text (corruption anywhere is refused)."""
    from sop_core.intake.raw_table import looks_like

    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        start = fh.read(4)
        fh.seek(max(0, size - 4))
        end = fh.read(4)
    if not (start == b"PAR1" and end == b"PAR1"):
        what = looks_like(start)
        detail = f" (looks like {what})" if what and what != "a Parquet file" else ""
        raise IntakeError(file_name, f"corrupt Parquet file{detail} — not a complete Parquet file", kind="corrupt")
    source = f"read_parquet({quote_text(str(path))})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - a damaged footer or schema
        raise IntakeError(file_name, f"corrupt Parquet file ({_reason(exc)})", kind="corrupt") from None
    if rows > limits.max_stream_rows:
        raise IntakeError(file_name, f"too many rows: max {limits.max_stream_rows:,} rows", kind="too_many_rows")
    try:  # the names as written: DuckDB renames a duplicate ('Q' beside 'q' becomes 'Q_1')
        import pyarrow.parquet as pq

        headers = [str(n) for n in pq.read_schema(path).names]
    except Exception as exc:  # noqa: BLE001 - a damaged footer
        raise IntakeError(file_name, f"corrupt Parquet file ({_reason(exc)})", kind="corrupt") from None
    if len(headers) != len(described):
        headers = [str(d[0]) for d in described]
    if len(headers) > limits.max_columns:
        raise IntakeError(file_name, f"the file has {len(headers):,} columns; at most {limits.max_columns:,} can be "
                                     "read", kind="too_many_columns")
    check_headers(file_name, headers)
    if rows == 0:
        raise IntakeError(file_name, "no data rows", kind="no_rows")
    columns = [f"c{i}" for i in range(len(headers))]
    select = ", ".join(f"{trimmed(_parquet_text(quote_name(str(d[0])), str(d[1])))} AS {c}"
                       for d, c in zip(described, columns))
    try:
        con.execute(f"CREATE TABLE {RAW} AS SELECT {select} FROM {source}")
    except Exception as exc:  # noqa: BLE001 - a damaged page anywhere in the file
        raise IntakeError(file_name, f"corrupt Parquet file ({_reason(exc)})", kind="corrupt") from None
    staged = _finish(con, file_name, "parquet", headers, columns, "(w.rowid + 2)", "true", [], True)
    staged.raw.notes.append("Parquet rows are numbered from 2, as if below a header row")
    return staged


def _parquet_text(column: str, sql_type: str) -> str:
    """SQL: a typed Parquet column as text like parquet._arrow_text (NULL for null and a float NaN)."""
    kind = sql_type.upper()
    if kind in ("FLOAT", "DOUBLE", "REAL"):
        # not isnan(): DuckDB 2.0.1 answers it from the column statistics, which leave NaN out (always false)
        return f"CASE WHEN {column}::VARCHAR IN ('nan', '-nan') THEN NULL ELSE {column}::VARCHAR END"
    if kind.startswith("TIMESTAMP WITH TIME ZONE") or kind == "TIMESTAMPTZ":
        return f"strftime({column}::TIMESTAMP, '%Y-%m-%d %H:%M:%S')"
    if kind.startswith("TIMESTAMP"):
        return f"strftime({column}::TIMESTAMP, '%Y-%m-%d %H:%M:%S')"
    return f"{column}::VARCHAR"


# -- the common tail (raw_table.finish_table in SQL) --------------------------------------------------

def _finish(con: duckdb.DuckDBPyConnection, file_name: str, kind: str, headers: list[str], columns: list[str],
            row: str, data_rows: str, blank_lines: list[int], check_text: bool) -> Staged:
    """Headers checked, empty unnamed columns dropped, blank rows left out, control characters refused, bidi removed."""
    warns: list[str] = []
    headers = _strip_bidi_headers(headers, warns)
    headers, columns = _drop_empty_unnamed(con, headers, columns, data_rows, warns)
    check_headers(file_name, headers)
    blank = "(" + (" AND ".join(f"{c} IS NULL" for c in columns) or "true") + ")"
    con.execute(f"CREATE VIEW staged_all AS SELECT {row} AS row, {blank} AS blank, {', '.join(columns)} "
                f"FROM {RAW} w WHERE {data_rows}")
    con.execute(f"CREATE VIEW {VIEW} AS SELECT row, {', '.join(columns)} FROM staged_all WHERE NOT blank")
    n_blank_sql, kept = con.execute("SELECT count(*) FILTER (WHERE blank), count(*) FILTER (WHERE NOT blank) "
                                    "FROM staged_all").fetchone()
    n_blank = n_blank_sql + len(blank_lines)
    if n_blank:
        first = con.execute("SELECT row FROM staged_all WHERE blank ORDER BY row LIMIT 20").fetchall()
        shown = sorted([r[0] for r in first] + blank_lines[:20])[:20]
        warns.append(f"{n_blank:,} blank {'row' if n_blank == 1 else 'rows'} dropped ({format_rows(shown, total=n_blank)})")
    if kept == 0:
        raise IntakeError(file_name, "no data rows" + (f" (only {n_blank:,} blank rows)" if n_blank else ""),
                          kind="no_rows")
    if check_text:
        _reject_control_chars(con, file_name, headers, columns)
        _strip_bidi_cells(con, headers, columns, warns)
    sample = con.execute(f"SELECT * FROM {VIEW} ORDER BY row LIMIT {SAMPLE_ROWS}").df()
    body = pd.DataFrame({h: sample[c].fillna("").astype("str") for h, c in zip(headers, columns)})
    body.columns = pd.Index(headers, dtype="object")
    raw = RawTable(file_name=file_name, kind=kind, headers=headers, data=body,
                   line_numbers=sample["row"].to_numpy(dtype=np.int64), warnings=warns, blank_rows=n_blank)
    return Staged(file_name=file_name, kind=kind, headers=headers, columns=columns, rows=int(kept),
                  blank_rows=n_blank, raw=raw)


def _drop_empty_unnamed(con: duckdb.DuckDBPyConnection, headers: list[str], columns: list[str], data_rows: str,
                        warns: list[str]) -> tuple[list[str], list[str]]:
    """Leave out columns with no header and no values; give unnamed columns with values a display name."""
    names, keep = [], []
    for i, (h, c) in enumerate(zip(headers, columns)):
        if h.strip() == "":
            filled = con.execute(f"SELECT count(*) FROM {RAW} w WHERE {data_rows} AND {c} IS NOT NULL").fetchone()[0]
            if not filled:
                continue
            h = f"(unnamed column {i + 1})"
            warns.append(f"column {i + 1} has values but no header")
        names.append(h)
        keep.append(c)
    return names, keep


def _reject_control_chars(con: duckdb.DuckDBPyConnection, file_name: str, headers: list[str],
                          columns: list[str]) -> None:
    """raw_table._reject_control_chars on the staging table."""
    for h in headers:
        if re.search(_CONTROL_TEXT, h):
            raise IntakeError(file_name, f"header {h!r} contains a NUL or control character — remove it",
                              kind="control_chars")
    for h, c in zip(headers, columns):
        hit = f"regexp_matches({c}, {quote_text(CONTROL_RE2)})"
        n = con.execute(f"SELECT count(*) FROM {VIEW} WHERE {hit}").fetchone()[0]
        if n:
            found = con.execute(f"SELECT row, {c} FROM {VIEW} WHERE {hit} ORDER BY row LIMIT 20").fetchall()
            rows = [r[0] for r in found]
            raise IntakeError(file_name, f"{n:,} {'row contains' if n == 1 else 'rows contain'} a NUL or control "
                                         f"character ({format_rows(rows, total=n)}), e.g. {found[0][1]!r}. Remove "
                                         "those characters and save the file again.",
                              column=h.strip(), rows=rows, count=n, kind="control_chars")


def _strip_bidi_cells(con: duckdb.DuckDBPyConnection, headers: list[str], columns: list[str],
                      warns: list[str]) -> None:
    """Remove bidi controls from every cell, with one warning per column naming the rows."""
    for h, c in zip(headers, columns):
        hit = f"regexp_matches({c}, {quote_text(BIDI_RE2)})"
        n = con.execute(f"SELECT count(*) FROM {VIEW} WHERE {hit}").fetchone()[0]
        if not n:
            continue
        found = con.execute(f"SELECT row, {c} FROM {VIEW} WHERE {hit} ORDER BY row LIMIT 100").fetchall()
        rows = [r[0] for r in found]
        values = [r[1] for r in found]
        warns.append(
            f"column '{h.strip()}': {n:,} {'value held' if n == 1 else 'values held'} invisible bidirectional control "
            f"characters ({_bidi_names(values)}), which show text in another order than it is stored, "
            f"e.g. {values[0]!r}; removed ({format_rows(rows, total=n)})")
        cleaned = trimmed(f"regexp_replace({c}, {quote_text(BIDI_RE2)}, '', 'g')")
        con.execute(f"UPDATE {RAW} SET {c} = {cleaned} WHERE {hit}")

"""Read an uploaded file (CSV, Excel .xlsx, Parquet) into text cells, without guessing types.

`read_file` returns a `RawTable`: the original headers, every value as a string, and the row
number each data row has in the file as the user sees it (header = row 1). Anything that
makes the file unreadable raises `IntakeError` with a message meant for the user.
File names are only ever used for display: they are sanitised and never used as paths.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from sop_core.contract import normalise_header
from sop_core.intake.validate import BIDI_CONTROLS, BIDI_PATTERN, IntakeError, format_rows, strip_bidi

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps that keep one upload from exhausting the server."""

    max_bytes: int = 200 * MB
    max_rows: int = 2_000_000
    max_line_bytes: int = 1 * MB
    max_unzipped_bytes: int = 1024 * MB  # total expanded size of an .xlsx
    max_columns: int = 4096  # columns of a table (a wide layout has one per series); Excel allows 16,384
    max_zip_ratio: int = 100  # how many times one part of an .xlsx may expand (a zip bomb: about 1,000)


DEFAULT_LIMITS = Limits()
CSV_EXTENSIONS = frozenset({".csv", ".txt", ".tsv", ".tab", ".dat", ""})
EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
PARQUET_EXTENSIONS = frozenset({".parquet", ".pq"})
COMPRESSED_EXTENSIONS = frozenset({".gz", ".gzip", ".zip", ".bz2", ".xz", ".7z", ".zst", ".tgz", ".rar"})
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# the UTF-8 bytes of what _CONTROL_TEXT and BIDI_CONTROLS match: a CSV without them skips the cell checks
_TEXT_CHECK_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xaa-\xae]"
                               rb"|\xe2\x81[\xa6-\xa9]")
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
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"\x28\xb5\x2f\xfd", b"Rar!")


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


# -- names and types -----------------------------------------------------------------------------

def sanitise_name(name: str, max_len: int = 120) -> str:
    """Display name for an uploaded file: last path component, no control or bidi chars or ':' streams, <= max_len."""
    text = strip_bidi(str(name or ""))
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", "", text)
    text = re.split(r"[\\/]", text)[-1]
    text = text.replace(":", "_").strip().lstrip(".").strip()
    if not text:
        text = "upload"
    if len(text) > max_len:
        suffix = PurePosixPath(text).suffix
        suffix = suffix if len(suffix) <= 10 else ""
        text = text[: max_len - len(suffix) - 1] + "…" + suffix
    return text


def extension(name: str) -> str:
    """Lower-case extension of a sanitised name ('' when none)."""
    return PurePosixPath(name).suffix.lower()


def looks_like(data: bytes) -> str | None:
    """What the leading bytes say the content is ('a PNG image'), or None for no known signature."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    return None


# -- entry point ---------------------------------------------------------------------------------

def read_file(name: str, data: bytes, *, sheet: str | None = None, encoding: str | None = None,
              delimiter: str | None = None, limits: Limits = DEFAULT_LIMITS) -> RawTable:
    """Read an upload into a RawTable (all values as text); raises IntakeError with a user-facing message."""
    file_name = sanitise_name(name)
    ext = extension(file_name)
    if len(data) > limits.max_bytes:
        raise IntakeError(file_name, f"file is {len(data) / MB:,.1f} MB; max {limits.max_bytes / MB:,.0f} MB",
                          kind="too_large")
    if ext in COMPRESSED_EXTENSIONS or data.startswith(_COMPRESSED_MAGIC):
        raise IntakeError(file_name, "compressed uploads are not allowed — upload the .csv, .xlsx or .parquet "
                                     "file itself", kind="compressed")
    if not data.strip():
        raise IntakeError(file_name, "file is empty", kind="empty")
    if ext in EXCEL_EXTENSIONS:
        return read_xlsx(file_name, data, sheet=sheet, limits=limits)
    if ext in PARQUET_EXTENSIONS:
        return read_parquet(file_name, data, limits=limits)
    if ext == ".xls":
        raise IntakeError(file_name, "old Excel 97-2003 (.xls) files are not supported — save as .xlsx",
                          kind="wrong_type")
    if ext in CSV_EXTENSIONS:
        return read_csv(file_name, data, encoding=encoding, delimiter=delimiter, limits=limits)
    raise IntakeError(file_name, f"unsupported file type '{ext}' — upload CSV, Excel (.xlsx) or Parquet",
                      kind="wrong_type")


def read_path(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of the regular file at `path` (the command line's upload), checked before anything is read.

    Opened without blocking (a FIFO never hangs), then the open file itself is checked: devices, FIFOs,
    sockets and folders are refused, and so is a file over `limits.max_bytes`; the read is bounded too.
    Raises IntakeError naming the file, the limit and what to do (OSError when it cannot be opened).
    """
    shown = _part_name(str(path), 200) or "file"
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)  # the file opened, not whatever the path names by now
        if not stat.S_ISREG(info.st_mode):
            what = ("a folder" if stat.S_ISDIR(info.st_mode) else "a pipe (FIFO)" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise IntakeError(shown, f"not read: it is {what}, not a file — give the path of a CSV, Excel (.xlsx) "
                                     "or Parquet file", kind="not_a_file")
        if info.st_size > limits.max_bytes:
            raise IntakeError(shown, f"not read: the file is {info.st_size / MB:,.1f} MB; at most "
                                     f"{limits.max_bytes / MB:,.0f} MB can be loaded — split it, or keep only the "
                                     "columns the table needs", kind="too_large")
        chunks, size = [], 0
        while size <= limits.max_bytes:
            chunk = os.read(fd, min(16 * MB, limits.max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limits.max_bytes:  # it grew while being read
        raise IntakeError(shown, f"not read: the file grew past {limits.max_bytes / MB:,.0f} MB while being read",
                          kind="too_large")
    return b"".join(chunks)


# -- CSV -------------------------------------------------------------------------------------------

def read_csv(file_name: str, data: bytes, *, encoding: str | None = None, delimiter: str | None = None,
             limits: Limits = DEFAULT_LIMITS) -> RawTable:
    """Read delimited text: detect encoding and delimiter, reject ragged rows and control characters."""
    _reject_binary(file_name, data)
    utf8, used_encoding, notes = _to_utf8(file_name, data, encoding)
    utf8, skipped_lines = _strip_leading_blank_lines(utf8)
    if not utf8.strip():
        raise IntakeError(file_name, "file is empty", kind="empty")
    _check_line_length(file_name, utf8, limits.max_line_bytes)
    delim = _choose_delimiter(file_name, utf8, delimiter, notes)
    table = _parse_delimited(file_name, utf8, delim, limits)
    raw = _frame_from_records(file_name, table, first_row=1 + skipped_lines,
                              check_text=_TEXT_CHECK_BYTES.search(utf8) is not None)
    raw.kind, raw.encoding, raw.delimiter, raw.size_bytes = "csv", used_encoding, delim, len(data)
    raw.notes = notes
    return raw


def _reject_binary(file_name: str, data: bytes) -> None:
    """Refuse content whose signature or byte mix says it is not text."""
    what = looks_like(data)
    if what:
        raise IntakeError(file_name, f"not a valid CSV file (looks like {what})", kind="wrong_type")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        return
    sample = data[:4096]
    zeros = sample.count(0)
    if zeros and len(sample) >= 4 and zeros >= len(sample) // 3:
        if sample[1::2].count(0) >= len(sample) // 2 - 1 or sample[0::2].count(0) >= len(sample) // 2 - 1:
            raise IntakeError(file_name, "file looks like UTF-16 without a byte-order mark — re-save as UTF-8",
                              kind="encoding")
    control = sum(sample.count(b) for b in range(32) if b not in (9, 10, 12, 13))
    if control > max(8, len(sample) // 20):
        raise IntakeError(file_name, "not a valid CSV file (looks like binary data)", kind="wrong_type")


def _to_utf8(file_name: str, data: bytes, encoding: str | None) -> tuple[bytes, str, list[str]]:
    """UTF-8 bytes without BOM, the encoding used, and notes; error if not UTF-8 and none chosen."""
    if data.startswith(codecs.BOM_UTF32_LE) or data.startswith(codecs.BOM_UTF32_BE):
        return _decode_as(file_name, data, "utf-32"), "utf-32", ["read as UTF-32 (byte-order mark)"]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_as(file_name, data, "utf-16"), "utf-16", ["read as UTF-16 (byte-order mark)"]
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise IntakeError(file_name, f"unknown encoding {encoding!r}", kind="encoding") from None
        if codec not in ("utf-8", "utf-8-sig"):
            return _decode_as(file_name, data, codec), codec, [f"read as {codec} (chosen)"]
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        _check_utf8(file_name, data)
        return data, "utf-8-sig", []
    _check_utf8(file_name, data)
    return data, "utf-8", []


def _decode_as(file_name: str, data: bytes, codec: str) -> bytes:
    """Re-encode `data` from `codec` to UTF-8 (BOM dropped)."""
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise IntakeError(file_name, f"cannot be read as {codec} (line {line}) — re-save as UTF-8 or choose "
                                     "another encoding", kind="encoding") from None
    return text.lstrip("\ufeff").encode("utf-8")


def _check_utf8(file_name: str, data: bytes, chunk: int = 16 * MB) -> None:
    """Raise 'not UTF-8' (with the line) unless `data` decodes as UTF-8; chunked to bound memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(data), chunk):
        try:
            decoder.decode(data[start:start + chunk], final=start + chunk >= len(data))
        except UnicodeDecodeError as exc:
            pos = start + exc.start
            bad = data[pos:pos + 1].hex().upper()
            line = _line_of(data, pos)
            raise IntakeError(file_name, f"not UTF-8 (line {line} has byte 0x{bad}) — re-save as UTF-8 or choose "
                                         "an encoding (e.g. cp1252 for files saved by Excel on Windows)",
                              kind="encoding") from None


def _line_of(data: bytes, pos: int) -> int:
    """1-based physical line of byte offset `pos` (LF, CRLF or CR-only files)."""
    lf = data.count(b"\n", 0, pos)
    return (lf if lf or b"\n" in data else data.count(b"\r", 0, pos)) + 1


def _strip_leading_blank_lines(data: bytes) -> tuple[bytes, int]:
    """Drop empty lines before the header; returns the rest and how many lines were dropped."""
    stripped = data.lstrip(b"\r\n")
    head = data[: len(data) - len(stripped)]
    return stripped, head.count(b"\n") + head.replace(b"\r\n", b"").count(b"\r")


def _check_line_length(file_name: str, data: bytes, max_line: int, chunk: int = 16 * MB) -> None:
    """Raise 'line N is too long' when any line exceeds max_line bytes (vectorised, chunked)."""
    if len(data) <= max_line:
        return
    last_break = -1
    for start in range(0, len(data), chunk):
        arr = np.frombuffer(data, dtype=np.uint8, count=min(chunk, len(data) - start), offset=start)
        breaks = np.flatnonzero((arr == 10) | (arr == 13)) + start
        edges = np.concatenate(([last_break], breaks))
        gaps = np.diff(edges) - 1
        if len(gaps) and gaps.max() > max_line:
            pos = int(edges[int(np.argmax(gaps > max_line))] + 1)
            _raise_long_line(file_name, data, pos, max_line)
        if len(breaks):
            last_break = int(breaks[-1])
        if min(start + chunk, len(data)) - last_break - 1 > max_line:
            _raise_long_line(file_name, data, last_break + 1, max_line)


def _raise_long_line(file_name: str, data: bytes, pos: int, max_line: int) -> None:
    """Raise the 'line too long' error for the line starting at byte `pos`."""
    raise IntakeError(file_name, f"line {_line_of(data, pos)} too long (over {max_line:,} bytes) — is this "
                                 "really a table with one record per line?", kind="line_too_long")


def _choose_delimiter(file_name: str, data: bytes, delimiter: str | None, notes: list[str]) -> str:
    """The chosen delimiter, else the candidate that splits the first lines most consistently."""
    if delimiter:
        if len(delimiter) != 1 or delimiter in "\r\n\"":
            raise IntakeError(file_name, f"invalid delimiter {delimiter!r}", kind="delimiter")
        return delimiter
    sample = data[: 64 * 1024].decode("utf-8", errors="ignore")
    if len(data) > 64 * 1024:
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[:cut] if cut > 0 else sample
    best, best_score = ",", (0.0, 1)
    for cand in _delimiter_order(sample):
        rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=cand) if r][:200]
        if not rows or len(rows[0]) < 2:
            continue
        share = sum(len(r) == len(rows[0]) for r in rows) / len(rows)
        score = (share, len(rows[0]))
        if score > best_score:
            best, best_score = cand, score
    if best != ",":
        notes.append(f"columns separated by {DELIMITER_NAMES.get(best, repr(best))}")
    return best


def _delimiter_order(sample: str) -> list[str]:
    """Candidate delimiters, csv.Sniffer's guess first (only a hint)."""
    try:
        hint = csv.Sniffer().sniff(sample[:16384], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        hint = ","
    return [hint] + [d for d in DELIMITERS if d != hint]


def _parse_delimited(file_name: str, data: bytes, delim: str, limits: Limits) -> pa.Table:
    """All records as string columns f0..fN (first record = header); raises on ragged rows or too many rows."""
    bad: list[tuple[int | None, int, int]] = []
    bad_count = 0

    def on_invalid(row: pacsv.InvalidRow) -> str:
        nonlocal bad_count
        bad_count += 1
        if len(bad) < 50:
            bad.append((row.number, row.actual_columns, row.expected_columns))
        return "skip"

    width = _header_width(data, delim)
    if width > limits.max_columns:
        raise IntakeError(file_name, f"the header has {width:,} columns; at most {limits.max_columns:,} can be read "
                                     "— check the delimiter, or remove the columns the table does not need",
                          kind="too_many_columns")
    read = pacsv.ReadOptions(column_names=[f"f{i}" for i in range(width)], use_threads=False,
                             block_size=max(4 * MB, 2 * limits.max_line_bytes + MB))
    parse = pacsv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True, newlines_in_values=True,
                               ignore_empty_lines=False, invalid_row_handler=on_invalid)
    convert = pacsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(width)},
                                   strings_can_be_null=False, quoted_strings_can_be_null=False)
    batches, rows = [], 0
    try:
        reader = pacsv.open_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)
        for batch in reader:
            rows += batch.num_rows
            if rows > limits.max_rows + 1:
                raise IntakeError(file_name, f"too many rows: max {limits.max_rows:,} rows", kind="too_many_rows")
            batches.append(batch)
    except pa.ArrowInvalid as exc:
        raise IntakeError(file_name, f"could not parse the file as CSV ({_arrow_reason(exc)})",
                          kind="parse") from None
    if bad_count:
        raise IntakeError(file_name, _ragged_message(bad, bad_count, width), rows=[b[0] for b in bad if b[0]],
                          count=bad_count, kind="ragged")
    schema = pa.schema([(f"f{i}", pa.string()) for i in range(width)])
    return pa.Table.from_batches(batches, schema=schema)


def _header_width(data: bytes, delim: str) -> int:
    """Number of fields in the first record."""
    head = data[: 1 * MB].decode("utf-8", errors="ignore")
    first = next(csv.reader(io.StringIO(head, newline=""), delimiter=delim), [])
    return max(1, len(first))


def _arrow_reason(exc: Exception) -> str:
    """The useful first line of a pyarrow error."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _ragged_message(bad: list[tuple[int | None, int, int]], count: int, width: int) -> str:
    """'ragged rows: line 3: 5 fields, expected 4 (too many columns); …'."""
    parts = []
    for number, actual, expected in bad[:10]:
        where = f"line {number}" if number else "a line"
        kind = "too many columns" if actual > expected else "missing columns"
        parts.append(f"{where}: {actual} fields, expected {expected} ({kind})")
    more = f"; and {count - 10:,} more" if count > 10 else ""
    return (f"{count:,} ragged {'row' if count == 1 else 'rows'} — {'; '.join(parts)}{more}. Every row needs "
            f"the {width} columns of the header: check the delimiter and quotes around values containing it.")


def _frame_from_records(file_name: str, table: pa.Table, first_row: int, check_text: bool = True) -> RawTable:
    """Split the first record off as header; drop blank rows; number the rest as file rows."""
    if table.num_rows == 0:
        raise IntakeError(file_name, "file is empty", kind="empty")
    frame = table.to_pandas()
    headers = [str(v).replace("\ufeff", "") for v in frame.iloc[0].tolist()]
    body = frame.iloc[1:].reset_index(drop=True)
    numbers = np.arange(first_row + 1, first_row + 1 + len(body), dtype=np.int64)
    return _finish(file_name, headers, body, numbers, check_text=check_text)


def _finish(file_name: str, headers: list[str], body: pd.DataFrame, numbers: np.ndarray,
            warnings: list[str] | None = None, check_text: bool = True) -> RawTable:
    """Common tail of every reader: name columns, check headers, drop blank rows and empty unnamed columns,
    refuse control characters and remove bidi controls (CSV, Excel and Parquet alike; `check_text=False`
    only when the file's bytes were searched and hold none of them)."""
    warns = list(warnings or [])
    headers = _strip_bidi_headers(headers, warns)
    headers, body = _drop_empty_unnamed(headers, body, warns)
    _check_headers(file_name, headers)
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


def _check_headers(file_name: str, headers: list[str]) -> None:
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


# -- Excel -----------------------------------------------------------------------------------------

def read_xlsx(file_name: str, data: bytes, *, sheet: str | None = None, limits: Limits = DEFAULT_LIMITS) -> RawTable:
    """Read one visible sheet of an .xlsx (cached values), streaming its XML; see choose_sheet.

    openpyxl reads the workbook's small parts (sheet list, shared strings, styles); the sheet itself is
    streamed by `_Sheet.rows` with expat, row by row, at about 5 times openpyxl's speed, so memory holds
    only the rows' text and the size a sheet declares is never used.
    """
    _check_xlsx_container(file_name, data, limits)
    try:
        book = _Book.open(data)
    except Exception as exc:  # openpyxl raises many types for malformed packages
        raise _excel_error(file_name, exc) from None
    try:
        warns = [f"hidden sheet '{ws.title}' ignored" for ws in book.sheets if ws.sheet_state != "visible"]
        visible = [ws for ws in book.sheets if ws.sheet_state == "visible"]
        ws = choose_sheet(file_name, visible, sheet, [w.title for w in book.sheets])
        rows, first_row = _sheet_rows(file_name, ws, limits)
    except IntakeError:
        raise
    except Exception as exc:
        raise _excel_error(file_name, exc) from None
    finally:
        book.close()
    raw = _raw_from_rows(file_name, rows, first_row, warns)
    raw.kind, raw.sheet, raw.sheet_names, raw.size_bytes = "xlsx", ws.title, [w.title for w in visible], len(data)
    return raw


class _Book:
    """The parts of a workbook the sheets need: sheet list, shared strings, date styles, date epoch."""

    def __init__(self, archive: zipfile.ZipFile, sheets: list[tuple[str, str, str]], strings: list,
                 date_styles: set[int], timedelta_styles: set[int], epoch: datetime) -> None:
        self.archive = archive
        self.strings = strings
        self.date_styles = date_styles
        self.timedelta_styles = timedelta_styles
        self.epoch = epoch
        self.sheets = [_Sheet(self, title, state, path) for title, state, path in sheets]

    @classmethod
    def open(cls, data: bytes) -> _Book:
        """openpyxl's reader for everything but the worksheets (it would parse each one in full to size it)."""
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.styles.stylesheet import apply_stylesheet

        class Reader(ExcelReader):
            def read(self) -> None:
                self.read_manifest()
                self.read_strings()
                self.read_workbook()
                apply_stylesheet(self.archive, self.wb)

        reader = Reader(io.BytesIO(data), read_only=True, data_only=True)
        try:
            reader.read()
            sheets = [(sheet.name, sheet.state or "visible", rel.target) for sheet, rel in reader.parser.find_sheets()
                      if rel.target in reader.valid_files and "chartsheet" not in (rel.Type or "")]
            wb = reader.wb
            return cls(reader.archive, sheets, list(reader.shared_strings), set(wb._date_formats),
                       set(wb._timedelta_formats), wb.epoch)
        except BaseException:
            reader.archive.close()
            raise

    def close(self) -> None:
        """Close the zip archive."""
        self.archive.close()


class _Sheet:
    """One worksheet of a _Book: its title, state ('visible', 'hidden', 'veryHidden') and XML part."""

    def __init__(self, book: _Book, title: str, state: str, path: str) -> None:
        self.book, self.title, self.sheet_state, self.path = book, title, state, path

    def rows(self) -> Iterator[tuple[int, list[str], list[int]]]:
        """(sheet row number, cell texts up to the last non-empty one, columns of formulas with no saved value)
        for every <row> of the sheet, streamed; rows without cells are skipped (their numbers tell)."""
        parser, done = _sheet_parser(self.book)
        with self.book.archive.open(self.path.lstrip("/")) as fh:
            while True:
                block = fh.read(4 * MB)
                parser.Parse(block, not block)
                if done:
                    yield from done
                    done.clear()
                if not block:
                    return


_COLUMNS: dict[str, int] = {}


def _column_number(ref: str) -> int:
    """1-based column of a cell reference ('C7' -> 3); 0 when it has no letters."""
    letters = ref.rstrip("0123456789$").lstrip("$")
    n = _COLUMNS.get(letters)
    if n is None:
        n = 0
        for ch in letters.upper():
            if not "A" <= ch <= "Z":
                raise ValueError(f"invalid cell reference {ref[:20]!r}")
            n = n * 26 + ord(ch) - 64
        if n > 16384:
            raise ValueError(f"invalid cell reference {ref[:20]!r}")
        if len(_COLUMNS) < 20000:
            _COLUMNS[letters] = n
    return n


def _sheet_parser(book: _Book):
    """An expat parser for a worksheet part and the list it appends (row, texts, formula columns) to."""
    import xml.parsers.expat

    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
    from openpyxl.utils.datetime import from_excel, from_ISO8601

    strings, dates, durations, epoch = book.strings, book.date_styles, book.timedelta_styles, book.epoch
    done: list[tuple[int, list[str], list[int]]] = []
    local: dict[str, str] = {}
    columns = _COLUMNS
    DIGITS = "0123456789"
    # state of the row and cell being read
    row_no = [0]
    col_no = [0]
    cells: list[tuple[int, str]] = []
    formulas: list[int] = []
    cell: list = [None, "n", 0, False]  # reference, type, style, has a formula
    text: list[str] = []
    value: list = [None]
    inline: list[str] = []
    mode = [0]  # 0 nothing, 1 <v> text, 2 inside <is>, 3 <t> text inside <is>, 4 inside <rPh>

    def name_of(tag: str) -> str:
        n = local.get(tag)
        if n is None:
            n = local[tag] = tag.rpartition(":")[2]
        return n

    def start(n: str, attrs: dict) -> None:
        if ":" in n:
            n = name_of(n)
        if n == "c":
            cell[0] = attrs.get("r")
            cell[1] = attrs.get("t", "n")
            s = attrs.get("s")
            cell[2] = int(s) if s else 0
            cell[3] = False
            value[0] = None
            inline.clear()
        elif n == "v":
            if mode[0] == 0:
                mode[0] = 1
                text.clear()
        elif n == "row":
            r = attrs.get("r")
            row_no[0] = int(float(r)) if r else row_no[0] + 1
            col_no[0] = 0
            cells.clear()
            formulas.clear()
        elif n == "f":
            cell[3] = True
        elif n == "is":
            mode[0] = 2
        elif n == "t":
            if mode[0] == 2:
                mode[0] = 3
                text.clear()
        elif n == "rPh":
            if mode[0] == 2:
                mode[0] = 4

    def end(n: str) -> None:
        if ":" in n:
            n = name_of(n)
        if n == "v":
            if mode[0] == 1:
                value[0] = "".join(text)
                mode[0] = 0
        elif n == "c":
            ref = cell[0]
            col = (columns.get(ref.rstrip(DIGITS)) or _column_number(ref)) if ref else 0
            col = col or col_no[0] + 1
            col_no[0] = col
            raw, kind = value[0], cell[1]
            if kind == "n" and raw and cell[2] not in dates:  # the common case, inline
                out = str(int(raw)) if raw.isdigit() else cell_text(_number(raw))
            else:
                out = _cell_value(kind, raw, cell[2], inline)
            if out != "":
                cells.append((col, out))
            elif cell[3]:
                formulas.append(col)
        elif n == "row":
            width = cells[-1][0] if cells else 0
            texts = [""] * width
            for col, out in cells:
                texts[col - 1] = out
            done.append((row_no[0], texts, list(formulas)))
        elif n == "t":
            if mode[0] == 3:
                inline.append("".join(text))
                mode[0] = 2
        elif n == "rPh":
            if mode[0] == 4:
                mode[0] = 2
        elif n == "is":
            mode[0] = 0

    def chars(data: str) -> None:
        if mode[0] & 1:  # 1 or 3
            text.append(data)

    def _cell_value(kind: str, raw: str | None, style: int, parts: list[str]) -> str:
        if kind == "inlineStr":
            return "".join(parts)
        if not raw:
            return ""
        if kind == "n":
            number = _number(raw)
            if style in dates:
                try:
                    return cell_text(from_excel(number, epoch, timedelta=style in durations))
                except (OverflowError, ValueError):
                    return "#VALUE!"
            return cell_text(number)
        if kind == "s":
            return cell_text(strings[int(raw)])
        if kind == "b":
            return "TRUE" if int(raw) else "FALSE"
        if kind == "d":
            return cell_text(from_ISO8601(raw))
        return raw  # 'str' (a formula's text), 'e' (an error such as #N/A)

    def refuse_doctype(name, sysid, pubid, has_internal_subset):
        raise DTDForbidden(name, sysid, pubid)

    def refuse_entity(name, is_parameter_entity, value, base, sysid, pubid, notation_name):
        raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)

    def refuse_external(context, base, sysid, pubid):
        raise ExternalReferenceForbidden(context, base, sysid, pubid)

    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser, done


def _number(raw: str) -> int | float:
    """A cell's number as openpyxl reads it: int unless it has a point or an exponent."""
    if "." in raw or "E" in raw or "e" in raw:
        return float(raw)
    return int(raw)


UNSAFE_XML_FIX = ("Excel never writes these: the file was made or changed by something else. Open it in Excel and "
                  "save it again, or export the sheet as CSV.")


def _excel_error(file_name: str, exc: Exception) -> IntakeError:
    """The user-facing error for an exception raised while parsing a workbook.

    openpyxl wraps what defusedxml refuses in a ValueError, so the whole chain of causes is searched.
    """
    seen: Exception | None = exc
    for _ in range(10):
        if seen is None:
            break
        unsafe = _defused_reason(seen)
        if unsafe:
            return IntakeError(file_name, f"refused for safety: {unsafe}; nothing in it was read. {UNSAFE_XML_FIX}",
                               kind="unsafe_xml")
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return IntakeError(file_name, f"not a valid Excel file ({type(exc).__name__})", kind="wrong_type")


def _defused_reason(exc: BaseException) -> str | None:
    """What a defusedxml refusal was about, in words ('' when `exc` is not one)."""
    try:
        from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden, NotSupportedError
    except ImportError:  # pragma: no cover - defusedxml is a requirement
        return None
    if isinstance(exc, ExternalReferenceForbidden):
        return ("its XML refers to an external entity — a file or address outside the workbook (an XXE attack "
                "would read files of the server or call other machines)")
    if isinstance(exc, EntitiesForbidden):
        return ("its XML declares entities — text that expands into more text (a 'billion laughs' bomb grows a few "
                "hundred bytes into gigabytes of memory)")
    if isinstance(exc, (DTDForbidden, NotSupportedError)):
        return "its XML holds a document type declaration (DTD), which can declare entities or external references"
    return None


_DECLARATION = re.compile(rb"<!(DOCTYPE|ENTITY)\b")
_EXTERNAL = re.compile(rb"<!ENTITY[^>]*\b(SYSTEM|PUBLIC)\b")
XML_HEAD_BYTES = 64 * 1024  # a DTD can only stand before the root element, at the top of the part


def _part_name(name: str, max_len: int = 80) -> str:
    """A zip entry name fit for a message: no control or bidi characters, at most max_len characters."""
    clean = strip_bidi(re.sub(r"[\x00-\x1f\x7f-\x9f]", "", name))
    return clean if len(clean) <= max_len else clean[:max_len - 1] + "…"


def _unsafe_xml(name: str, head: bytes) -> str | None:
    """Why the top of XML part `name` is refused (external entity, entity bomb, DTD), or None when it is plain."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:2] in (b"<\x00", b"\x00<"):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    if not _DECLARATION.search(head):
        return None
    entities = head.count(b"<!ENTITY")
    if _EXTERNAL.search(head):
        what = ("an external entity — a reference to a file or address outside the workbook (an XXE attack would "
                "read files of the server or call other machines)")
    elif entities:
        what = (f"{entities:,} entity {'declaration' if entities == 1 else 'declarations'} — text that expands into "
                "more text (a 'billion laughs' bomb grows a few hundred bytes into gigabytes of memory)")
    else:
        what = "a document type declaration (DTD), which can declare entities or external references"
    return f"part {name} of the workbook declares {what}"


def _size(n: int) -> str:
    """Bytes as '3.2 MB' or '12 KB'."""
    return f"{n / MB:,.1f} MB" if n >= MB else f"{max(1, round(n / 1024)):,} KB"


def _check_xlsx_container(file_name: str, data: bytes, limits: Limits) -> None:
    """Reject encrypted, non-zip and over-expanding .xlsx files before parsing."""
    if data.startswith(_OLE):
        raise IntakeError(file_name, "file is encrypted — remove the password (or, if it is an old .xls file, "
                                     "save it as .xlsx)", kind="encrypted")
    if not data.startswith(b"PK\x03\x04"):
        what = looks_like(data) or ("a text/CSV file" if _is_texty(data) else "something else")
        raise IntakeError(file_name, f"not a valid Excel file (looks like {what})", kind="wrong_type")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            expanded = sum(i.file_size for i in infos)
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                raise IntakeError(file_name, "not a valid Excel file (a zip archive without a workbook)",
                                  kind="wrong_type")
            if expanded > limits.max_unzipped_bytes:
                raise IntakeError(file_name, f"file expands to {_size(expanded)} when unzipped; max "
                                             f"{_size(limits.max_unzipped_bytes)} — save the sheet as CSV or "
                                             "Parquet, or split it", kind="too_large")
            for info in infos:  # the sizes are the zip's own: zipfile never inflates a part beyond them
                if info.file_size > MB and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
                    raise IntakeError(file_name, f"refused for safety: part {_part_name(info.filename)} of the "
                                                 f"workbook expands from {_size(info.compress_size)} to "
                                                 f"{_size(info.file_size)} ({info.file_size // max(info.compress_size, 1):,}"
                                                 f" times; at most {limits.max_zip_ratio:,} times is accepted) — "
                                                 "a 'zip bomb' looks like this; nothing in it was read. Save the "
                                                 "sheet as CSV or open and save it in Excel again",
                                      kind="zip_bomb")
            for info in infos:  # before any XML parser sees the parts
                if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                    with zf.open(info) as fh:
                        why = _unsafe_xml(_part_name(info.filename), fh.read(XML_HEAD_BYTES))
                    if why:
                        raise IntakeError(file_name, f"refused for safety: {why}; nothing in it was read. "
                                                     f"{UNSAFE_XML_FIX}", kind="unsafe_xml")
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise IntakeError(file_name, f"not a valid Excel file (damaged zip container: {type(exc).__name__})",
                          kind="wrong_type") from None


def _is_texty(data: bytes) -> bool:
    """True when the first bytes look like text."""
    sample = data[:2048]
    return bool(sample) and sum(b < 32 and b not in (9, 10, 13) for b in sample) == 0


def choose_sheet(file_name: str, visible: list, sheet: str | None, all_names: list[str]):
    """The sheet to read: the named one, else the only visible sheet with data (first sheet preferred)."""
    names = [w.title for w in visible]
    if sheet is not None:
        for ws in visible:
            if ws.title == sheet:
                return ws
        hint = " (it is hidden)" if sheet in all_names else ""
        raise IntakeError(file_name, f"no visible sheet '{sheet}'{hint}; sheets: {', '.join(names)}",
                          kind="sheet_choice", choices=names)
    if not visible:
        raise IntakeError(file_name, "workbook has no visible sheets", kind="no_rows")
    if len(visible) == 1:
        return visible[0]
    filled = [ws for ws in visible if _sheet_has_data(ws)]
    if not filled:
        raise IntakeError(file_name, "no data rows (every sheet is empty)", kind="no_rows")
    if filled == [visible[0]]:
        return visible[0]
    if len(filled) == 1:
        raise IntakeError(file_name, f"sheet '{visible[0].title}' is empty; data found on sheet '{filled[0].title}' "
                                     "— choose that sheet", kind="sheet_choice", choices=[filled[0].title])
    raise IntakeError(file_name, f"several sheets hold data: {', '.join(repr(w.title) for w in filled)} — choose "
                                 "one", kind="sheet_choice", choices=[w.title for w in filled])


def _sheet_has_data(ws: _Sheet) -> bool:
    """True when any cell of the sheet holds a non-blank value (stops at the first)."""
    return any(any(t.strip() for t in texts) for _, texts, _ in ws.rows())


def _sheet_rows(file_name: str, ws: _Sheet, limits: Limits) -> tuple[list[list[str]], int]:
    """Rows of text from the first non-empty row on, and that row's Excel number.

    Raises for more than limits.max_rows rows or limits.max_columns columns, and for formulas saved
    without their value (open and save in Excel).
    """
    rows: list[list[str]] = []
    first_row = 0
    last = 0
    no_value: list[tuple[int, int]] = []
    for number, texts, formulas in ws.rows():
        if not first_row:
            if not any(t.strip() for t in texts):
                continue
            first_row = last = number
            rows.append(texts)
        else:
            if number <= last:
                raise ValueError(f"row {number} after row {last}")  # openpyxl would not read such a sheet either
            if number - last > 1:  # rows the file leaves out are blank rows
                if len(rows) + number - last > limits.max_rows + 1:
                    raise IntakeError(file_name, f"too many rows: max {limits.max_rows:,} rows (sheet "
                                                 f"'{ws.title}' has a row {number:,})", kind="too_many_rows")
                rows.extend([] for _ in range(number - last - 1))
            rows.append(texts)
            last = number
        if formulas:
            no_value += [(number, col) for col in formulas]
        if len(texts) > limits.max_columns:
            raise _too_many_columns(file_name, ws.title, number, len(texts), limits.max_columns)
        if len(rows) > limits.max_rows + 1:
            raise IntakeError(file_name, f"too many rows: max {limits.max_rows:,} rows", kind="too_many_rows")
    if not rows:
        raise IntakeError(file_name, f"sheet '{ws.title}' is empty", kind="empty")
    if no_value:
        _raise_formulas_without_values(file_name, no_value)
    return rows, first_row


def _too_many_columns(file_name: str, sheet: str, row: int, width: int, max_columns: int) -> IntakeError:
    """'sheet 'S' has a value in cell XFD7 (column 16,384); at most 4,096 columns can be read — …'."""
    from openpyxl.utils import get_column_letter

    return IntakeError(file_name, f"sheet '{sheet}' has a value in cell {get_column_letter(width)}{row} (column "
                                  f"{width:,}); at most {max_columns:,} columns can be read — delete the columns "
                                  "the table does not need, or save it as CSV with only those",
                       kind="too_many_columns")


def cell_text(v: object) -> str:
    """A cell value as text: dates as ISO, whole floats without '.0', booleans as TRUE/FALSE."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")  # 4-digit years (0001)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def _raise_formulas_without_values(file_name: str, found: list[tuple[int, int]]) -> None:
    """Raise 'cell C3 contains a formula with no saved value' for the (row, column) of such formula cells."""
    from openpyxl.utils import get_column_letter

    cells = [f"{get_column_letter(col)}{row}" for row, col in found]
    more = f" ({len(cells):,} such cells: {', '.join(cells[:10])}{'…' if len(cells) > 10 else ''})" \
        if len(cells) > 1 else ""
    raise IntakeError(file_name, f"cell {cells[0]} contains a formula with no saved value — open and save in "
                                 f"Excel{more}", count=len(cells), kind="formula_without_value")


def _raw_from_rows(file_name: str, rows: list[list[str]], first_row: int, warns: list[str]) -> RawTable:
    """RawTable from spreadsheet rows (first = header) numbered from the header's sheet row."""
    width = max(len(r) for r in rows)
    padded = [r + [""] * (width - len(r)) for r in rows]
    headers = [h.replace("\ufeff", "") for h in padded[0]]
    body = pd.DataFrame(padded[1:], columns=range(width), dtype="str") if len(padded) > 1 else \
        pd.DataFrame({i: pd.Series([], dtype="str") for i in range(width)})
    numbers = np.arange(first_row + 1, first_row + len(padded), dtype=np.int64)
    return _finish(file_name, headers, body, numbers, warns)


# -- Parquet ---------------------------------------------------------------------------------------

def read_parquet(file_name: str, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> RawTable:
    """Read every column and page of a Parquet file (so corruption anywhere is caught) into text."""
    import pyarrow.parquet as pq

    if not (data.startswith(b"PAR1") and data.endswith(b"PAR1")):
        what = looks_like(data)
        detail = f" (looks like {what})" if what and what != "a Parquet file" else ""
        raise IntakeError(file_name, f"corrupt Parquet file{detail} — not a complete Parquet file", kind="corrupt")
    try:
        pf = pq.ParquetFile(io.BytesIO(data), page_checksum_verification=True)
        if pf.metadata.num_rows > limits.max_rows:
            raise IntakeError(file_name, f"too many rows: max {limits.max_rows:,} rows", kind="too_many_rows")
        table = pf.read()
    except IntakeError:
        raise
    except Exception as exc:  # pyarrow raises OSError/ArrowInvalid/... for damaged files
        raise IntakeError(file_name, f"corrupt Parquet file ({_arrow_reason(exc)})", kind="corrupt") from None
    headers = [str(n) for n in table.column_names]
    _check_headers(file_name, headers)
    cols = {i: _arrow_text(table.column(i)) for i in range(table.num_columns)}
    body = pd.DataFrame(cols)
    if table.num_rows == 0:
        raise IntakeError(file_name, "no data rows", kind="no_rows")
    numbers = np.arange(2, 2 + len(body), dtype=np.int64)
    raw = _finish(file_name, headers, body, numbers)
    raw.kind, raw.size_bytes = "parquet", len(data)
    raw.notes.append("Parquet rows are numbered from 2, as if below a header row")
    return raw


def _arrow_text(col: pa.ChunkedArray) -> pd.Series:
    """One Arrow column as text ('' for null; dates as ISO)."""
    t = col.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        s = pd.Series(col.to_pandas())
        s = pd.to_datetime(s)
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        fmt = "%Y-%m-%d" if (s.dropna() == s.dropna().dt.normalize()).all() else "%Y-%m-%d %H:%M:%S"
        return s.dt.strftime(fmt).fillna("").astype("str")
    if pa.types.is_nested(t) or pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type):
        return pd.Series(col.to_pandas()).map(lambda v: "" if v is None else str(v)).astype("str")
    try:
        as_text = col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.Series(col.to_pandas()).map(lambda v: "" if v is None else str(v)).astype("str")
    return pd.Series(as_text.to_pandas(), dtype="str").fillna("")

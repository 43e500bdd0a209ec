"""Read delimited text (CSV, TSV, ...) into a RawTable: sniffing, encoding, line lengths, delimiter, parsing.

`read_csv` refuses content that is not text (a known signature, UTF-16 without a byte-order mark,
binary bytes), converts the text to UTF-8 (byte-order marks, or an encoding the user chose), refuses
over-long lines, detects the delimiter when none is chosen, and parses every record with pyarrow as
strings, refusing ragged rows; `raw_table.finish_table` does the rest.
"""
from __future__ import annotations

import codecs
import csv
import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from sop_core.intake.errors import IntakeError
from sop_core.intake.raw_table import DEFAULT_LIMITS, MB, Limits, RawTable, arrow_reason, finish_table, looks_like

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# the UTF-8 bytes of what _CONTROL_TEXT and BIDI_CONTROLS match: a CSV without them skips the cell checks
_TEXT_CHECK_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xaa-\xae]"
                               rb"|\xe2\x81[\xa6-\xa9]")


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
        raise IntakeError(file_name, f"could not parse the file as CSV ({arrow_reason(exc)})",
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
    return finish_table(file_name, headers, body, numbers, check_text=check_text)

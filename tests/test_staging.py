"""Reading a file with DuckDB into the staging table (`staging`) matches the in-memory readers, message for message."""
from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sop_core.intake.errors import IntakeError
from sop_core.intake.hardened import hardened_connection
from sop_core.intake.raw_table import Limits
from sop_core.intake.readers import read_file
from sop_core.intake.staging import stage_file, streams


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def outcome(read, name: str, data: bytes, **kw) -> tuple:
    """(headers, trimmed cells, row numbers, warnings, notes) of a read, or (message, kind) of its refusal."""
    try:
        raw = read(name, data, **kw)
    except IntakeError as exc:
        return str(exc), exc.kind
    cells = [[str(v).strip() for v in row] for row in raw.data.values.tolist()]
    return raw.headers, cells, raw.line_numbers.tolist(), raw.warnings, raw.notes


@pytest.fixture
def staged_read(tmp_path: Path):
    """`stage_file` as a reader of bytes: the bytes written to a file in a hardened DuckDB's folder."""
    def read(name: str, data: bytes, **kw):
        folder = tmp_path / f"w{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        path = folder / "input.bin"
        path.write_bytes(data)
        con = hardened_connection(folder, 256)
        try:
            return stage_file(con, name, path, **kw).raw
        finally:
            con.close()
    return read


FILES = [
    ("plain", "a.csv", b"sku,qty\nA,1\nB,2\n", {}),
    ("blank lines before and between", "b.csv", b"\n\nsku,qty\nA,1\n\nB,2\n,\n", {}),
    ("crlf blank line", "n.csv", b"sku,qty\r\nA,1\r\n\r\nB,2\r\n", {}),
    ("ragged", "c.csv", b"a,b,c,d\n1,2,3,4\n1,2,3,4,5\n1,2,3\n1,2,3,4\n", {}),
    ("NUL", "d.csv", b"sku,qty\nA,1\nB\x00X,2\n", {}),
    ("BOM and semicolons", "e.csv", b"\xef\xbb\xbfsku;qty\nA;1\n", {}),
    ("bidi", "f.csv", "sku,qty\nA\u202e,1\n".encode(), {}),  # (the example is shown trimmed when streamed)
    ("empty", "g.csv", b"", {}),
    ("header only", "h.csv", b"sku,qty\n", {}),
    ("latin-1", "i.csv", "sku,qty\nx,1\nÄ,1\n".encode("cp1252"), {}),
    ("cp1252 chosen", "i.csv", "sku,qty\nÄ,1\n".encode("cp1252"), {"encoding": "cp1252"}),
    ("UTF-16", "j.csv", "sku,qty\nÄ,1\n".encode("utf-16"), {}),
    ("duplicate headers", "k.csv", b"sku,qty,QTY \nA,1,2\n", {}),
    ("empty unnamed column", "l.csv", b"sku,,qty\nA,,1\n", {}),
    ("unnamed column with values", "l.csv", b"sku,,qty\nA,x,1\n", {}),
    ("quoted line break", "m.csv", b'sku,qty\n"A\nB",1\n"C",2\n', {}),
    ("png", "p.csv", b"\x89PNG\r\n\x1a\nxxxx", {}),
    ("spaces kept inside", "q.csv", b"sku,qty\n  A  B , 1 \n", {}),
    ("long line", "r.csv", b"a,b\n1," + b"x" * 5000 + b"\n", {"limits": Limits(max_line_bytes=1000)}),
    ("long header", "r.csv", b"a" * 5000 + b"\n1\n", {"limits": Limits(max_line_bytes=1000)}),
    ("too many columns", "t.csv", b"a,b,c\n1,2,3\n", {"limits": Limits(max_columns=2)}),
    ("parquet", "s.parquet", _parquet(pa.table({"sku": ["A", None, " C "], "qty": [1.5, float("nan"), 3.25]})), {}),
    ("parquet duplicate columns", "s.parquet", _parquet(pa.table([pa.array([1]), pa.array([2])], names=["q", "Q"])),
     {}),
    ("truncated parquet", "s.parquet", _parquet(pa.table({"sku": ["A"] * 100}))[:-30], {}),
]


@pytest.mark.parametrize("name, data, options", [f[1:] for f in FILES], ids=[f[0] for f in FILES])
def test_the_staged_read_matches_the_in_memory_read(staged_read, name: str, data: bytes, options: dict) -> None:
    assert outcome(staged_read, name, data, **options) == outcome(read_file, name, data, **options)


def test_an_unterminated_quote_is_refused(staged_read) -> None:
    """read_csv drops an unterminated last record without a word; the scan counts the quotes."""
    assert outcome(staged_read, "o.csv", b'sku,qty\nA,1\n"B,2\n') == (
        "o.csv: could not parse the file as CSV (a quoted value is never closed: check the quote characters)", "parse")


def test_rows_over_the_cap_are_refused(staged_read) -> None:
    message, kind = outcome(staged_read, "s.csv", b"a,b\n" + b"1,2\n" * 101, limits=Limits(max_stream_rows=100))
    assert (message, kind) == ("s.csv: too many rows: max 100 rows", "too_many_rows")


def test_only_csv_and_parquet_over_the_threshold_stream() -> None:
    limits = Limits(stream_bytes=100)
    assert streams("s.csv", 101, limits) and streams("s.parquet", 101, limits) and streams("s.TXT", 101, limits)
    assert not streams("s.csv", 100, limits) and not streams("s.xlsx", 10**9, limits)


@pytest.mark.parametrize("data", [
    b"sku,qty\r" + b"".join(f"S{i},{i}\r".encode() for i in range(150)),
    b"\r\n\r\nsku,qty\r\n" + b"".join(f"S{i},{i}\r\n{'' if i % 37 else chr(13) + chr(10)}".encode()
                                       for i in range(150)),
    b"sku,qty\n" + b"".join(f"S{i},{i}\n".encode() for i in range(100)) + b"S,1" + b"2" * 300 + b"\nS,1\n",
], ids=["CR line ends", "CRLF with blank lines", "long line across chunks"])
def test_a_file_scanned_in_many_chunks_reads_the_same(staged_read, monkeypatch: pytest.MonkeyPatch,
                                                      data: bytes) -> None:
    """Line ends, blank lines and line lengths followed across chunk boundaries (at most 200 rows: the sample)."""
    import sop_core.intake.staging as staging

    monkeypatch.setattr(staging, "CHUNK", 64)
    limits = Limits(max_line_bytes=200)
    assert outcome(staged_read, "s.csv", data, limits=limits) == outcome(read_file, "s.csv", data, limits=limits)

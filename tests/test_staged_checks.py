"""Checks run in SQL on a streamed file (`staged_checks`) give the in-memory checks' messages, rows and tables."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_intake import BAD_FILES

from sop_core.intake.load import Prepared, prepare, prepare_file
from sop_core.intake.raw_table import Limits

ROOT = Path(__file__).resolve().parents[1]
STREAM = Limits(stream_bytes=0)  # every CSV and Parquet file streamed, however small
STREAMED_BAD = [b for b in BAD_FILES if b[1].endswith((".csv", ".parquet")) and b[0] != "wide file dated 9999"]


def streamed(tmp_path: Path, name: str, data: bytes, table: str | None, **options) -> Prepared:
    """`prepare_file` on `data` written to disk, streamed through DuckDB whatever its size."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    path = work / "input.bin"
    path.write_bytes(data)
    return prepare_file(name, path, table, work_dir=work, limits=STREAM, **options)


def frame_of(p: Prepared) -> pd.DataFrame:
    """The checked table of a Prepared, in memory or staged, with every missing value as None (as it is stored)."""
    frame = p.frame.reset_index(drop=True) if p.frame is not None else \
        duckdb.sql(f"SELECT * FROM read_parquet('{p.staged}')").df()
    for c in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[c]):
            frame[c] = frame[c].astype("datetime64[ns]")
    return frame.astype(object).where(frame.notna(), None)


def same_outcome(a: Prepared, b: Prepared) -> None:
    """Same errors (message, rows, count), warnings, notes and rows kept."""
    assert [str(e) for e in a.errors] == [str(e) for e in b.errors]
    assert [(e.kind, e.count, e.rows[:10]) for e in a.errors] == [(e.kind, e.count, e.rows[:10]) for e in b.errors]
    assert a.warnings == b.warnings
    assert a.notes == b.notes
    assert a.stats["rows_kept"] == b.stats["rows_kept"]


@pytest.mark.parametrize("name, data, table, options, expected", [b[1:] for b in STREAMED_BAD],
                         ids=[b[0] for b in STREAMED_BAD])
def test_a_streamed_bad_file_gets_the_in_memory_message(tmp_path: Path, name: str, data: bytes, table: str,
                                                        options: dict, expected: str) -> None:
    s = streamed(tmp_path, name, data, table, **options)
    assert not s.ok and s.staged is None
    assert expected in "\n".join(str(e) for e in s.errors)
    same_outcome(s, prepare(name, data, table, **options))


GOOD_FILES = [
    ("sales summed", "s.csv", b"Order Date,Item,Qty,Region,Revenue\n2024-01-01,A,5,N,10\n2024-01-01,A,6,N,\n"
     b"2024-02-01, =B ,1,,3\n2024-02-01,b,1,,3\n", "sales", {}),
    ("sales in cases", "s.csv", b"date,sku,quantity,unit\n2024-01-01,A,5,EA\n2024-02-01,A,2,CS\n", "sales",
     {"conversions": {"A": ("EA", 12.0)}}),
    ("capacity moved", "c.csv", b"Month,Line,Hours\n2026-01-15,L1,100\n2026-01-01,L2,80\n2026-02-20,L1,120\n",
     "capacity", {}),
    ("orders", "o.csv", b"order_id,sku,requested_date,requested_qty,delivered_date,delivered_qty\n"
     b"1,A,2024-01-01,5,2024-01-03,5\n2,B,2024-01-03,1.5,,\n\n3,C,2024-01-02,1234.5,2024-01-09,7\n",
     "orders", {}),
    ("european", "s.csv", b"date;sku;quantity\n05.01.2024;A;1.234,5\n06.01.2024;A;2\n", "sales",
     {"decimal": ",", "dayfirst": True}),
    ("one series", "s.csv", b"date,quantity\n2024-01-01,5\n2024-02-01,6\n", "sales", {"default_sku": " X1 "}),
    ("plan", "p.csv", b"period,family,sku,revenue_plan,volume_plan\n2026-01-31,F,,10,\n2026-02-01,,A,5,1\n", "plan", {}),
]


@pytest.mark.parametrize("name, data, table, options", [g[1:] for g in GOOD_FILES], ids=[g[0] for g in GOOD_FILES])
def test_a_streamed_good_file_gives_the_in_memory_table(tmp_path: Path, name: str, data: bytes, table: str,
                                                        options: dict) -> None:
    s = streamed(tmp_path, name, data, table, **options)
    m = prepare(name, data, table, **options)
    assert s.ok and m.ok, ([str(e) for e in s.errors], [str(e) for e in m.errors])
    assert s.staged is not None and s.frame is None
    same_outcome(s, m)
    pd.testing.assert_frame_equal(frame_of(s), frame_of(m), check_dtype=False)


def test_typed_parquet_streams_like_it_reads(tmp_path: Path) -> None:
    import datetime as dt
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"date": pa.array([dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)], pa.date32()),
                      "sku": ["A", " B", None], "quantity": [1.5, float("nan"), 3.0]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s = streamed(tmp_path, "s.parquet", buf.getvalue(), "sales")
    m = prepare("s.parquet", buf.getvalue(), "sales")
    same_outcome(s, m)
    assert [str(e) for e in s.errors] == ["s.parquet, column 'sku': 1 row is empty (row 4). Fill in a value or "
                                          "remove the rows.", "s.parquet, column 'quantity': 1 row is empty (row 3). "
                                          "Fill in a value or remove the rows."]  # a NaN is a blank cell


def test_bad_rows_deep_in_a_file_are_numbered_as_in_the_spreadsheet(tmp_path: Path) -> None:
    """50,000 rows, a blank line and bad values far down: the same rows, counts and 'and N more' as in memory."""
    lines = [f"2024-01-{1 + i % 28:02d},S{i % 50},{i % 7}" for i in range(50_000)]
    for at in range(20_000, 20_030):
        lines[at] = f"2024-01-01,S1,x{at}"
    lines[30_000] = "2024-01-01,S1,-4"
    lines.insert(10_000, "")
    data = ("date,sku,quantity\n" + "\n".join(lines) + "\n").encode()
    s = streamed(tmp_path, "big.csv", data, "sales")
    m = prepare("big.csv", data, "sales")
    same_outcome(s, m)
    text = [str(e) for e in s.errors]
    assert text[0].startswith("big.csv, column 'quantity': 30 rows are not numbers (rows 20003, 20004, 20005, 20006, "
                              "20007, 20008, 20009, 20010, 20011, 20012 and 20 more), e.g. 'x20000'")  # a blank row above
    assert "1 row is negative (row 30003)" in text[1]
    assert s.stats["rejected"][0]["rows"][:2] == [20003, 20004]


def test_a_quoted_value_never_closed_is_refused_not_dropped(tmp_path: Path) -> None:
    """DuckDB's reader drops an unterminated last record without a word: the scan refuses the file."""
    s = streamed(tmp_path, "s.csv", b'date,sku,quantity\n2024-01-01,A,1\n"2024-01-02,A,2\n', "sales")
    assert [e.kind for e in s.errors] == ["parse"] and "never closed" in str(s.errors[0])


def test_a_big_csv_loads_through_the_command_line_with_the_totals_pandas_reads(tmp_path: Path) -> None:
    """3 million order lines (about 150 MB, over the in-memory caps): streamed, stored, counted and summed right."""
    path = tmp_path / "orders.csv"
    duckdb.sql(f"""COPY (SELECT 'SO' || (i // 3) AS order_id, 'SKU-' || (i % 2000) AS sku,
                   (DATE '2022-01-01' + ((i * 7) % 1400)::INTEGER)::VARCHAR AS requested_date, (i * 13) % 97 + 0.5 AS requested_qty,
                   (DATE '2022-01-03' + ((i * 7) % 1400)::INTEGER)::VARCHAR AS delivered_date, (i * 13) % 97 AS delivered_qty
                   FROM range(3000000) t(i)) TO '{path}' (HEADER, DELIMITER ',')""")
    assert path.stat().st_size > 64 * 1024 * 1024
    ws_path = tmp_path / "ws.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOP_PARSE_SLOTS_DIR": str(tmp_path / "slots")}
    out = subprocess.run([sys.executable, "-m", "sop_core", "--workspace", str(ws_path), "load", str(path),
                          "--table", "orders"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "loaded 3,000,000 rows into orders from orders.csv" in out.stdout
    sample = pd.read_csv(path, nrows=200_000, dtype={"order_id": str})
    with duckdb.connect(str(ws_path), read_only=True) as con:
        n, total = con.execute('SELECT count(*), sum("requested_qty") FROM "orders"').fetchone()
        orders = [str(o) for o in sample["order_id"].unique()[:50]]
        first = con.execute('SELECT sum("requested_qty"), sum("delivered_qty"), count(DISTINCT "sku") FROM "orders" '
                            'WHERE "order_id" IN (SELECT unnest(?::VARCHAR[]))', [orders]).fetchone()
        loads = con.execute("SELECT rows, file_name FROM loads WHERE table_name = 'orders'").fetchall()
    assert n == 3_000_000 and loads == [(3_000_000, "orders.csv")]
    assert total == pytest.approx(sum(((i * 13) % 97 + 0.5) for i in range(3_000_000)))
    head = sample[sample["order_id"].isin(orders)]
    assert first == (pytest.approx(head["requested_qty"].sum()), pytest.approx(head["delivered_qty"].sum()),
                     head["sku"].nunique())

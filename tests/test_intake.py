"""Intake end to end: real public files load through the synonyms; bad files are rejected clearly
and leave the workspace exactly as it was."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pytest
from conftest import shared_file

from sop_core import contract
from sop_core.intake.errors import IntakeError
from sop_core.intake.load import WideSpec, commit, date_gaps, detect_wide, load, prepare
from sop_core.intake.mapping import guess_table, layout_key, propose_mapping, recall_mapping, remember_mapping
from sop_core.intake.readers import read_file
from sop_core.store.workspace import Workspace, frame_sha256

SALES_OK = b"date,sku,region,quantity,revenue\n2024-01-01,A1,North,5,50\n2024-02-01,A1,North,3,30\n" \
           b"2024-01-01,B2,South,2,40\n"
PRODUCTS_OK = b"sku,description,family,unit_price,unit_cost\nA1,Widget,Tools,10,6\nB2,Gadget,Tools,20,12\n"
SQL_HEADER = '"; DROP TABLE sales; --'


def csv_bytes(rows: list[list[object]], delimiter: str = ",") -> bytes:
    """CSV text (quoted where needed) for the rows, first row = header."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    """An .xlsx with the given sheets (strings starting '=' become formulas without cached values)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def snapshot(ws: Workspace) -> dict[str, object]:
    """Everything intake may write: loads, remembered mappings, and the content hash of each table."""
    return {
        "loads": frame_sha256(ws.query("SELECT * FROM loads ORDER BY load_id")),
        "latest": ws.latest_loads()[["table_name", "load_id", "content_sha256", "rows"]].to_dict("records"),
        "mappings": frame_sha256(ws.query("SELECT * FROM column_mappings ORDER BY layout_key")),
        "tables": {t: (ws.has_table(t), frame_sha256(ws.table(t))) for t in contract.TABLE_ORDER},
    }


@pytest.fixture(scope="module")
def loaded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed workspace file holding a small sales and products table (built once per module)."""
    path = tmp_path_factory.mktemp("template") / "workspace.duckdb"
    with Workspace(path) as ws:
        for name, data, table in (("sales.csv", SALES_OK, "sales"), ("products.csv", PRODUCTS_OK, "products")):
            p = load(ws, name, data, table)
            assert p.ok, p.errors
    return path


@pytest.fixture
def loaded(tmp_path: Path, loaded_template: Path):
    """A fresh copy of the template workspace, open for the test."""
    for suffix in ("", ".wal"):
        src = loaded_template.with_name(loaded_template.name + suffix)
        if src.exists():
            shutil.copy(src, tmp_path / src.name)
    ws = Workspace(tmp_path / loaded_template.name)
    try:
        yield ws
    finally:
        ws.close()


def messages(p) -> str:
    """All error messages of a Prepared in one string."""
    return "\n".join(str(e) for e in p.errors)


# -- real public data --------------------------------------------------------------------------------

def test_superstore_loads_as_sales_with_exact_totals(workspace: Workspace, shared_data) -> None:
    path = shared_file("superstore/Sample - Superstore.csv")
    p = prepare(path.name, path.read_bytes(), ws=workspace)
    assert p.ok, messages(p)
    assert p.table == "sales"
    assert p.mapping == {"date": "Order Date", "sku": "Product ID", "region": "Region", "channel": "Segment",
                         "family": "Category", "quantity": "Quantity", "revenue": "Sales"}
    assert p.stats["rows_read"] == 10_194
    assert round(p.frame["quantity"].sum()) == 38_654
    assert round(p.frame["revenue"].sum(), 2) == 2_326_534.35
    assert p.frame["date"].min() == pd.Timestamp("2019-01-03")  # 03/01/19 is 3 January 2019
    assert any("day-first" in n for n in p.notes)
    assert any("ignored columns" in w and "'Profit'" in w for w in p.warnings)
    commit(workspace, p)
    stored = workspace.table("sales")
    assert round(stored["quantity"].sum()) == 38_654
    assert round(stored["revenue"].sum(), 2) == 2_326_534.35
    assert list(stored.columns) == list(contract.TABLES["sales"].column_names)


def test_superstore_layout_is_remembered(workspace: Workspace, shared_data) -> None:
    path = shared_file("superstore/Sample - Superstore.csv")
    data = path.read_bytes()
    first = load(workspace, path.name, data, mapping={"channel": None})
    assert first.ok and "channel" not in first.mapping
    again = prepare(path.name, data, ws=workspace)
    assert again.remembered and again.table == "sales" and "channel" not in again.mapping


def test_wine_file_loads_as_wide_layout(workspace: Workspace, shared_data) -> None:
    path = shared_file("australian_wines/AustralianWines_6varieties.csv")
    data = path.read_bytes()
    raw = read_file(path.name, data)
    assert detect_wide(raw) == WideSpec(date_column="Month")
    p = prepare(path.name, data, "sales", wide=WideSpec("Month"), ws=workspace)
    assert p.ok, messages(p)
    assert sorted(p.frame["sku"].unique()) == sorted(["Fortified", "Red", "Rose", "sparkling", "Sweet white",
                                                      "Dry white"])
    assert p.stats["missing_values"] == 2 and p.stats["blank_rows"] == 8
    assert any("'*'" in w and "Rose: rows 176, 177" in w for w in p.warnings)
    assert any("8 blank rows dropped" in w for w in p.warnings)
    assert len(p.frame) == 6 * 180 - 2
    assert p.frame["date"].min() == pd.Timestamp("1980-01-01") and p.frame["date"].max() == pd.Timestamp("1994-12-01")
    first = p.frame[(p.frame["sku"] == "Red") & (p.frame["date"] == "1980-01-01")]["quantity"]
    assert first.tolist() == [464.0]
    auto = prepare(path.name, data, ws=workspace)  # detected without being told
    assert auto.ok and auto.wide == WideSpec("Month") and len(auto.frame) == len(p.frame)
    commit(workspace, p)
    assert prepare(path.name, data, ws=workspace).remembered


@pytest.mark.parametrize("name", ["example_air_passengers.csv", "example_retail_sales.csv"])
def test_prophet_examples_load_with_file_name_as_sku(workspace: Workspace, shared_data, name: str) -> None:
    path = shared_file(f"prophet_examples/{name}")
    p = prepare(path.name, path.read_bytes(), ws=workspace)
    assert p.ok, messages(p)
    assert p.table == "sales" and p.mapping["date"] == "ds" and p.mapping["quantity"] == "y"
    assert set(p.frame["sku"]) == {path.stem}
    assert any("no sku column" in w for w in p.warnings)
    named = prepare(path.name, path.read_bytes(), default_sku="passengers")
    assert set(named.frame["sku"]) == {"passengers"}
    commit(workspace, p)


def test_quarterly_cement_file_has_no_gap_warning(shared_data) -> None:
    path = shared_file("cement/fpp2_qcement.csv")
    p = prepare(path.name, path.read_bytes(), default_sku="cement")
    assert p.ok and not any("gaps" in w for w in p.warnings)


# -- bad files: clear message, nothing stored --------------------------------------------------------

def _future() -> str:
    return (date.today() + timedelta(days=400)).isoformat()


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(200)


BAD_FILES = [
    # id, file name, bytes, table, options, expected text
    ("wrong delimiter", "s.csv", b"date:sku:quantity\n2024-01-01:A:5\n", "sales", {},
     "missing: date, sku, quantity; found: date:sku:quantity"),
    ("forced wrong delimiter", "s.csv", b"date;sku;quantity\n2024-01-01;A;5\n", "sales", {"delimiter": ","},
     "read as a single column — check the delimiter"),
    ("missing required column", "s.csv", b"date,sku,units_shipped\n2024-01-01,A,5\n", "sales", {},
     "missing: quantity; found: date, sku, units_shipped"),
    ("unparseable dates", "s.csv", b"date,sku,quantity\n2024-01-01,A,5\nyesterday,A,3\n", "sales", {},
     "s.csv, column 'date': 1 row is not a date in a known format (row 3), e.g. 'yesterday'"),
    ("negative quantity", "s.csv", b"date,sku,qty\n2024-01-01,A,5\n2024-01-02,A,-3\n2024-01-03,A,-1\n", "sales",
     {}, "s.csv, column 'qty': 2 rows are negative (rows 3, 4), e.g. '-3'"),
    ("text in a numeric column", "s.csv",
     b"date,sku,Quantity\n2024-01-01,A,5\n2024-01-02,A,n/a\n2024-01-03,A,12 pcs\n2024-01-04,A,1,5\n", "sales",
     {}, "ragged"),
    ("text in a numeric column (quoted)", "s.csv",
     b'date,sku,Quantity\n2024-01-01,A,5\n2024-01-02,A,n/a\n2024-01-03,A,12 pcs\n2024-01-04,A,"1,5"\n', "sales",
     {}, "s.csv, column 'Quantity': 3 rows are not numbers (rows 3, 4, 5), e.g. 'n/a'. "),
    ("NaN and inf quantity", "s.csv", b"date,sku,quantity\n2024-01-01,A,NaN\n2024-01-02,A,inf\n2024-01-03,A,\n",
     "sales", {}, "2 rows are not numbers (rows 2, 3), e.g. 'NaN'"),
    ("empty quantity", "s.csv", b"date,sku,quantity\n2024-01-01,A,1\n2024-01-03,A,\n", "sales", {},
     "column 'quantity': 1 row is empty (row 3)"),
    ("implausibly large", "s.csv", b"date,sku,quantity\n2024-01-01,A,1e12\n", "sales", {}, "too large"),
    ("duplicate skus in products", "p.csv",
     b"sku,family,unit_price,unit_cost\nA,F,1,1\nB,F,1,1\nA,F,2,1\nC,F,1,1\nB,F,1,1\n", "products", {},
     "p.csv, column 'sku': 4 rows are duplicates of another row's sku (rows 2, 3, 4, 6)"),
    ("empty file", "s.csv", b"", "sales", {}, "s.csv: file is empty"),
    ("header only", "s.csv", b"date,sku,quantity\r\n", "sales", {}, "s.csv: no data rows"),
    ("png renamed csv", "s.csv", _png(), "sales", {}, "not a valid CSV file (looks like a PNG image)"),
    ("csv renamed xlsx", "s.xlsx", SALES_OK, "sales", {}, "not a valid Excel file"),
    ("excel data on second sheet", "s.xlsx",
     xlsx_bytes({"Sheet1": [], "Data": [["date", "sku", "quantity"], ["2024-01-01", "A", 1]]}), "sales", {},
     "sheet 'Sheet1' is empty; data found on sheet 'Data' — choose that sheet"),
    ("formula without cached value", "s.xlsx",
     xlsx_bytes({"S": [["date", "sku", "quantity"], ["2024-01-01", "A", 1], ["2024-01-02", "A", "=C2*2"]]}),
     "sales", {}, "cell C3 contains a formula with no saved value — open and save in Excel"),
    ("encrypted xlsx", "s.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048), "sales", {},
     "file is encrypted — remove the password"),
    ("mixed date formats", "s.csv",
     b"date,sku,quantity\n2024-01-05,A,1\n2024-01-06,A,1\n05/01/2024,A,1\n2024-01-08,A,1\n", "sales", {},
     "1 row is in another date format (DD/MM/YYYY or MM/DD/YYYY) than the rest of the column (YYYY-MM-DD) "
     "(row 4), e.g. '05/01/2024'. Mixed date formats"),
    ("future dates", "s.csv", f"date,sku,quantity\n2024-01-05,A,1\n{_future()},A,1\n".encode(), "sales", {},
     "1 row is after today"),
    ("impossible dates", "s.csv",
     b"date,sku,quantity\n2026-01-05,A,1\n2026-13-05,A,1\n2026-02-30,A,1\n", "sales", {},
     "2 rows are impossible dates (read as YYYY-MM-DD) (rows 3, 4), e.g. '2026-13-05'"),
    ("ambiguous dates", "s.csv", b"date,sku,quantity\n01/02/2024,A,1\n03/04/2024,A,1\n", "sales", {},
     "ambiguous date format — choose day-first (DD/MM) or month-first (MM/DD)"),
    ("ragged rows", "s.csv", b"date,sku,region,quantity\n2024-01-01,A,N,1\n2024-01-02,A,N,1,9\n2024-01-03,A,1\n",
     "sales", {}, "line 3: 5 fields, expected 4 (too many columns); line 4: 3 fields, expected 4 (missing columns)"),
    ("duplicate column names", "s.csv", b"date,sku,qty,qty\n2024-01-01,A,1,2\n", "sales", {},
     "duplicate column qty"),
    ("latin-1 file", "s.csv", "date,sku,quantity\n2024-01-01,Café,1\n".encode("latin-1"), "sales", {},
     "not UTF-8 (line 2 has byte 0xE9) — re-save as UTF-8 or choose an encoding"),
    ("NUL in a field", "s.csv", b"date,sku,quantity\n2024-01-01,A\x00B,1\n", "sales", {},
     "column 'sku': 1 row contains a NUL or control character (row 2)"),
    ("empty sku", "s.csv", b"date,sku,quantity\n2024-01-01,,1\n2024-01-01,A,1\n", "sales", {},
     "column 'sku': 1 row is empty (row 2)"),
    ("european decimals without option", "s.csv", b"date;sku;quantity\n05.01.2024;A;1.234,5\n", "sales",
     {"dayfirst": True}, "1 row is not a number (row 2), e.g. '1.234,5'"),
    ("gzip upload", "s.csv.gz", b"\x1f\x8b\x08\x00" + bytes(40), "sales", {}, "compressed uploads are not allowed"),
    ("capacity without hours or units", "c.csv", b"period,resource\n2024-01-01,L1\n", "capacity", {},
     "missing: available_hours or capacity_units"),
    ("unknown mapping header", "s.csv", SALES_OK, "sales", {"mapping": {"quantity": "Units Sold"}},
     "mapping: column 'Units Sold' (for quantity) is not in the file"),
]


def _parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _typed_parquet_dates() -> bytes:
    """A Parquet file whose date column is a typed date32 holding 0001-01-01 (pandas cannot hold it)."""
    import datetime as dt

    import pyarrow as pa

    return _parquet_bytes(pa.table({"date": pa.array([dt.date(2024, 1, 1), dt.date(1, 1, 1)], pa.date32()),
                                    "sku": ["A", "A"], "quantity": [1, 2]}))


OUT_OF_RANGE_DATES = [  # issue 13 item 9: refused with file, row and column, never an OutOfBoundsDatetime
    ("year 0001", "s.csv", b"date,sku,quantity\n2024-01-01,A,1\n0001-01-01,A,2\n", "sales", {},
     "s.csv, column 'date': 1 row is a date outside 1900-01-01 to 2199-12-31 (row 3), e.g. '0001-01-01'"),
    ("years 1677 and 9999", "p.csv", b"period,family,revenue_plan\n01/01/1677,F,1\n31/12/9999,F,2\n01/02/2026,F,3\n",
     "plan", {"dayfirst": True},
     "p.csv, column 'period': 2 rows are dates outside 1900-01-01 to 2199-12-31 (rows 2, 3), e.g. '01/01/1677'"),
    ("year 1677 as a month name", "c.csv", b"Month,resource,available_hours\nJan-1677,L1,5\nFeb-2026,L1,5\n",
     "capacity", {}, "c.csv, column 'Month': 1 row is a date outside 1900-01-01 to 2199-12-31 (row 2)"),
    ("excel dates in year 1 and 9999", "s.xlsx",
     xlsx_bytes({"S": [["date", "sku", "quantity"], [datetime(2024, 1, 1), "A", 1], [datetime(9999, 12, 31), "A", 1],
                       [date(1, 1, 1), "A", 1]]}), "sales", {},
     "s.xlsx, column 'date': 2 rows are dates outside 1900-01-01 to 2199-12-31 (rows 3, 4), e.g. '9999-12-31'"),
    ("typed parquet date in year 1", "s.parquet", _typed_parquet_dates(), "sales", {},
     "s.parquet, column 'date': 1 row is a date outside 1900-01-01 to 2199-12-31 (row 3), e.g. '0001-01-01'"),
    ("wide file dated 9999", "w.csv", b"date,A,B\n2024-01-01,1,2\n9999-01-01,3,4\n", "sales", {},
     "w.csv, column 'date': 1 row is a date outside 1900-01-01 to 2199-12-31 (row 3), e.g. '9999-01-01'"),
]
BAD_FILES += OUT_OF_RANGE_DATES


@pytest.mark.parametrize("name, data, table, options, expected", [b[1:] for b in BAD_FILES],
                         ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_rejected_and_nothing_changes(loaded: Workspace, name: str, data: bytes, table: str,
                                                   options: dict, expected: str) -> None:
    before = snapshot(loaded)
    p = prepare(name, data, table, ws=loaded, **options)
    assert not p.ok and p.frame is None
    assert expected in messages(p), messages(p)
    assert p.stats["rejected"] and p.seconds >= 0
    with pytest.raises(IntakeError, match="cannot be loaded"):
        commit(loaded, p)
    assert snapshot(loaded) == before


def test_at_least_fifteen_bad_files() -> None:
    assert len(BAD_FILES) >= 15


def test_ambiguous_dates_ask_and_then_load(workspace: Workspace) -> None:
    data = b"date,sku,quantity\n01/02/2024,A,1\n03/04/2024,A,1\n"
    p = prepare("s.csv", data, "sales")
    assert p.date_choice_needed and p.errors[0].kind == "ambiguous_dates"
    first = prepare("s.csv", data, "sales", dayfirst=True)
    assert first.frame["date"].tolist() == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-04-03")]
    second = prepare("s.csv", data, "sales", dayfirst=False)
    assert second.frame["date"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-03-04")]
    commit(workspace, first)
    assert prepare("s.csv", data, "sales", ws=workspace).ok  # the choice is remembered for the layout


def test_european_format_with_option() -> None:
    p = prepare("s.csv", b"date;sku;quantity\n05.01.2024;A;1.234,5\n13.01.2024;A;2\n", "sales", decimal=",")
    assert p.ok, messages(p)
    assert p.frame["quantity"].tolist() == [1234.5, 2.0]
    assert p.frame["date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-13")]


def test_thousands_separators_only_in_full_pattern() -> None:
    ok = prepare("s.csv", b'date,sku,quantity\n2024-01-01,A,"1,234.5"\n2024-01-02,A,"12,000"\n', "sales")
    assert ok.frame["quantity"].tolist() == [1234.5, 12000.0]
    bad = prepare("s.csv", b'date,sku,quantity\n2024-01-01,A,"1,5"\n', "sales")
    assert "1 row is not a number (row 2), e.g. '1,5'" in messages(bad)


def test_float_after_many_integers_is_not_rounded() -> None:
    rows = [["date", "sku", "quantity"]] + [["2024-01-01", f"S{i}", i % 50] for i in range(30_000)]
    rows.append(["2024-01-01", "LAST", "12.5"])
    p = prepare("s.csv", csv_bytes(rows), "sales")
    assert p.ok and p.frame["quantity"].iloc[-1] == 12.5


def test_leading_zero_sku_stays_text(workspace: Workspace) -> None:
    p = load(workspace, "s.csv", b"date,sku,quantity\n2024-01-01,00123,1\n2024-01-01, 0042 ,2\n", "sales")
    assert p.ok
    assert workspace.table("sales")["sku"].tolist() == ["00123", "0042"]


def test_date_formats() -> None:
    cases = {
        "2024-01-05": "2024-01-05", "2024/01/05": "2024-01-05", "2024-01": "2024-01-01", "Jan-80": "1980-01-01",
        "Jan 1980": "1980-01-01", "5-Jan-2024": "2024-01-05", "20240105": "2024-01-05",
        "2024-01-05 13:45:00": "2024-01-05", "25/12/24": "2024-12-25", "25.12.2024": "2024-12-25",
        "25-12-2024": "2024-12-25", "01/01/68": "2068-01-01", "01/01/69": "1969-01-01",
    }
    for text, expected in cases.items():
        p = prepare("s.csv", f"date,sku,quantity\n{text},A,1\n".encode(), "supply", dayfirst=True)
        assert p.ok, (text, messages(p))
        assert p.frame["date"].iloc[0] == pd.Timestamp(expected), text


def test_month_first_detected_from_values() -> None:
    p = prepare("s.csv", b"date,sku,quantity\n01/02/2024,A,1\n12/31/2024,A,1\n", "sales")
    assert p.ok and p.frame["date"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31")]


def test_excel_dates_and_serials(workspace: Workspace) -> None:
    import datetime as dt

    good = xlsx_bytes({"S": [["date", "sku", "quantity"], [dt.datetime(2024, 1, 5), "A", 1],
                             [dt.datetime(2024, 2, 5), "A", 2]]})
    p = prepare("s.xlsx", good, "sales")
    assert p.ok and p.frame["date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-05")]
    serials = xlsx_bytes({"S": [["date", "sku", "quantity"], [46027, "A", 1], [46028, "A", 1]]})
    p = prepare("s.xlsx", serials, "sales", today=date(2026, 12, 31))
    assert p.ok and p.frame["date"].iloc[0] == pd.Timestamp("2026-01-05")
    mixed = xlsx_bytes({"S": [["date", "sku", "quantity"], [dt.datetime(2024, 1, 5), "A", 1], [45300, "A", 1],
                              [dt.datetime(2024, 1, 7), "A", 1]]})
    p = prepare("s.xlsx", mixed, "sales")
    assert "Mixed date formats" in messages(p) and p.errors[0].rows == [3]


def test_sum_duplicates_in_sales_but_totals_survive() -> None:
    p = prepare("s.csv", b"date,sku,quantity,revenue\n2024-01-01,A,1,10\n2024-01-01,A,2,20\n2024-01-02,A,4,\n",
                "sales")
    assert p.ok and len(p.frame) == 2
    assert p.frame["quantity"].tolist() == [3.0, 4.0]
    assert p.frame["revenue"].iloc[0] == 30.0 and np.isnan(p.frame["revenue"].iloc[1])
    assert p.stats["duplicates_summed"] == 1
    assert any("1 duplicate rows" in w and "summed" in w for w in p.warnings)


def test_sql_header_is_an_ignored_column_and_tables_survive(loaded: Workspace) -> None:
    data = csv_bytes([["sku", "family", "unit_price", "unit_cost", SQL_HEADER, "order", "group", "at"],
                      ["A1", "Tools", 10, 6, "x'); DROP TABLE products; --", 1, 2, 3]])
    sales_before = snapshot(loaded)["tables"]["sales"]
    p = prepare("p.csv", data, "products", ws=loaded)
    assert p.ok, messages(p)
    assert SQL_HEADER in p.ignored_columns
    assert any(SQL_HEADER in w for w in p.warnings)
    commit(loaded, p)
    after = snapshot(loaded)
    assert after["tables"]["sales"] == sales_before
    assert all(loaded.has_table(t) for t in ("sales", "products"))
    # even mapped explicitly, the header is only ever a value, never SQL
    q = load(loaded, "s.csv", csv_bytes([["date", "sku", SQL_HEADER], ["2024-01-01", "A1", 4]]), "sales",
             mapping={"quantity": SQL_HEADER})
    assert q.ok and loaded.table("sales")["quantity"].tolist() == [4.0]
    assert loaded.has_table("products") and len(loaded.table("products")) == 1
    assert recall_mapping(loaded, layout_key(["date", "sku", SQL_HEADER], "sales")).mapping["quantity"] == SQL_HEADER


def test_cross_table_warnings(loaded: Workspace) -> None:
    p = prepare("s.csv", b"date,sku,quantity\n2024-01-01,A1,1\n2024-03-01,ZZ9,1\n2024-04-01,A1,1\n", "sales",
                ws=loaded)
    assert p.ok
    assert any("1 skus in this file are not in products, e.g. 'ZZ9'" in w for w in p.warnings)
    assert any("dates have gaps: 1 month with no rows (2024-02)" in w for w in p.warnings)
    q = prepare("p.csv", b"sku,family,unit_price,unit_cost\nA1,T,1,1\n", "products", ws=loaded)
    assert any("'B2'" in w and "not in this products file" in w for w in q.warnings)


def test_date_gaps_weekly() -> None:
    weeks = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-22", "2024-01-29"]))
    assert date_gaps(weeks).startswith("dates have gaps: 1 week with no rows (2024-01-15)")
    assert date_gaps(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05"]))) == ""


def test_products_loads_with_canonical_columns(workspace: Workspace) -> None:
    data = csv_bytes([["Product ID", "Product Name", "Sub-Category", "Price", "Cost", "Lead time"],
                      ["A", "Widget", "Tools", "10.5", "6", "4"]])
    p = load(workspace, "p.csv", data)
    assert p.ok and p.table == "products", messages(p)
    assert p.mapping["family"] == "Sub-Category" and p.mapping["unit_price"] == "Price"
    stored = workspace.table("products")
    assert list(stored.columns) == list(contract.TABLES["products"].column_names)
    assert stored["lead_time_weeks"].tolist() == [4.0] and stored["resource"].isna().all()


def test_mapping_proposals_and_table_guess() -> None:
    assert propose_mapping(["Item No", "Posting Date", "Units", "Net Sales"], "sales") == \
        {"date": "Posting Date", "sku": "Item No", "quantity": "Units", "revenue": "Net Sales"}
    assert propose_mapping(["sku", "Category", "Sub-Category", "price", "cost"], "products")["family"] == \
        "Sub-Category"
    assert guess_table(["date", "sku", "quantity"]) == "sales"
    assert guess_table(["date", "sku", "location", "on_hand"]) == "inventory"
    assert guess_table(["order id", "sku", "requested date", "qty"]) == "orders"
    assert propose_mapping(["order id", "sku", "requested date", "qty"], "orders")["requested_qty"] == "qty"
    assert guess_table(["colour", "size"]) is None
    assert layout_key(["A ", "b"], "sales") == layout_key(["B", "a"], "sales") != layout_key(["a", "b"], "supply")


def test_remember_and_recall_mapping(workspace: Workspace) -> None:
    key = layout_key(["Item", "When", "Qty"], "sales")
    assert recall_mapping(workspace, key) is None
    remember_mapping(workspace, key, "sales", {"sku": "Item", "date": "When", "quantity": "Qty"}, {"dayfirst": True})
    found = recall_mapping(workspace, key)
    assert found.table == "sales" and found.mapping["date"] == "When" and found.options == {"dayfirst": True}
    p = prepare("s.csv", b"Item,When,Qty\nA,02/01/2024,1\n", ws=workspace)
    assert p.ok and p.remembered and p.frame["date"].iloc[0] == pd.Timestamp("2024-01-02")


def test_unknown_table_and_unguessable_file() -> None:
    assert "could not tell which table" in messages(prepare("x.csv", b"colour,size\nred,M\n"))
    assert "unknown table 'salez'" in messages(prepare("x.csv", SALES_OK, "salez"))


def test_commit_records_provenance(workspace: Workspace) -> None:
    p = prepare("sales.csv", SALES_OK, "sales")
    load_id = commit(workspace, p, author="alice")
    row = workspace.latest_loads().iloc[0]
    assert row["load_id"] == load_id and row["file_name"] == "sales.csv" and row["sha256"] == p.sha256
    assert row["author"] == "alice" and row["rows"] == 3


def test_one_million_rows_prepare_quickly(workspace: Workspace) -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    days = pd.date_range("2021-01-01", periods=1000).strftime("%Y-%m-%d").to_numpy(dtype=object)
    sku = ("S" + pd.Series(rng.integers(0, 20_000, n)).astype(str).str.zfill(6)).to_numpy(dtype=object)
    qty = rng.integers(0, 500, n).astype(str).astype(object)
    body = "\n".join(days[rng.integers(0, 1000, n)] + "," + sku + "," + qty)
    data = ("date,sku,quantity\n" + body + "\n").encode()
    p = prepare("big.csv", data, "sales", ws=workspace)
    assert p.ok, messages(p)
    assert p.stats["rows_read"] == n
    assert p.frame["quantity"].sum() == qty.astype(int).sum()
    assert 0 < p.seconds < 30
    commit(workspace, p)
    assert workspace.scalar('SELECT count(*) FROM "sales"') == p.stats["rows_kept"]


def test_wide_detection_can_be_turned_off(shared_data) -> None:
    path = shared_file("australian_wines/AustralianWines_6varieties.csv")
    for options in ({"wide": False}, {"mapping": {}}):
        p = prepare(path.name, path.read_bytes(), "sales", **options)
        assert p.wide is None and not p.ok
        assert "missing: sku, quantity" in messages(p) or "missing: quantity" in messages(p)


def test_failed_store_changes_nothing(loaded: Workspace) -> None:
    before = snapshot(loaded)
    p = prepare("s.csv", b"date,sku,quantity\n2024-01-01,A1,1\n", "sales", ws=loaded)
    assert p.ok
    p.frame["quantity"] = pd.Series(["not a number"], dtype=object)  # make the CAST inside the transaction fail
    with pytest.raises(IntakeError, match="could not be stored, nothing changed"):
        commit(loaded, p)
    assert snapshot(loaded) == before


def test_sku_case_variants_are_flagged() -> None:
    p = prepare("p.csv", b"sku,family,unit_price,unit_cost\nA1,F,1,1\na1 ,F,1,1\n", "products")
    assert p.ok and any("differ only in upper/lower case (A1/a1)" in w for w in p.warnings)


# -- periods on the first day of their month (case 27) ----------------------------------------------

def test_mid_month_capacity_periods_are_moved_to_the_month_start_with_a_warning(loaded: Workspace) -> None:
    data = b"Month,Line,Hours\n2026-01-15,L1,100\n2026-01-01,L2,80\n2026-02-20,L1,120\n"
    p = load(loaded, "capacity.csv", data, "capacity")
    assert p.ok, messages(p)
    stored = loaded.query('SELECT * FROM "capacity" ORDER BY "resource", "period"')
    assert stored["period"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-01", "2026-02-01", "2026-01-01"]
    assert stored["available_hours"].tolist() == [100.0, 120.0, 80.0]
    moved = [w for w in p.warnings if "first day of their month" in w]
    assert moved == ["capacity.csv, column 'Month': 2 dates moved to the first day of their month (rows 2, 4), "
                     "e.g. 2026-01-15 → 2026-01-01: a period is identified by its first day"]


def test_two_dates_of_one_month_for_a_resource_are_duplicates(loaded: Workspace) -> None:
    before = snapshot(loaded)
    data = b"period,resource,available_hours\n2026-01-01,L1,100\n2026-01-01,L2,80\n2026-01-15,L1,120\n"
    p = load(loaded, "capacity.csv", data, "capacity")
    assert not p.ok and [e.kind for e in p.errors] == ["duplicate_key"]
    assert p.errors[0].rows == [2, 4]
    assert "2 rows are duplicates of another row's period, resource (rows 2, 4)" in messages(p)
    assert "moved to the first day of their month before this check" in messages(p)
    assert any("1 date moved to the first day of their month (row 4)" in w for w in p.warnings)
    assert snapshot(loaded) == before


def test_month_end_plan_periods_are_moved_and_aligned_files_give_no_warning() -> None:
    month_end = b"period,family,revenue_plan\n2026-01-31,Tools,100\n2026-02-28,Tools,90\n"
    p = prepare("plan.csv", month_end, "plan")
    assert p.ok and p.frame["period"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-01", "2026-02-01"]
    assert any("plan.csv, column 'period': 2 dates moved" in w and "2026-01-31 → 2026-01-01" in w
               for w in p.warnings)
    for name, data, table in (("plan.csv", b"period,family,revenue_plan\nJan-26,Tools,100\nFeb-26,Tools,90\n",
                               "plan"),
                              ("capacity.csv", b"period,resource,capacity_units\n2026-03-01,L1,5\n", "capacity")):
        p = prepare(name, data, table)
        assert p.ok and not any("first day" in w for w in p.warnings), p.warnings
    sales = prepare("s.csv", b"date,sku,quantity\n2024-01-15,A1,5\n2024-01-16,A1,2\n", "sales")
    assert sales.ok and sales.frame["date"].dt.day.tolist() == [15, 16]  # sales keep their own grain


# -- issue 13: hardening ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
LEADING_SIGNS = b"date,sku,region,quantity\n2024-01-01,-100-BLK,-,5\n2024-01-01,+44-A,@home,3\n" \
                b"2024-02-01,=A1,North,2\n2024-02-01,-100-BLK,+,4\n"


def run_cli(workspace_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m sop_core --workspace PATH ARGS` in a subprocess, as a user runs it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sop_core", "--workspace", str(workspace_path), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_text_starting_with_a_sign_or_at_loads_as_text(workspace: Workspace) -> None:
    """Issue 13 item 1: '-', '-100-BLK', '+44-A', '@home', '=A1' are text, stored exactly as written."""
    p = load(workspace, "signs.csv", LEADING_SIGNS, "sales")
    assert p.ok, messages(p)
    stored = workspace.table("sales").sort_values(["date", "sku", "region"]).reset_index(drop=True)
    assert sorted(zip(stored["sku"], stored["region"])) == sorted(
        [("-100-BLK", "-"), ("+44-A", "@home"), ("=A1", "North"), ("-100-BLK", "+")])
    formula = [w for w in p.warnings if "start like a spreadsheet formula" in w]
    assert formula and "'=A1'" in formula[0] and "stored as plain text" in formula[0]  # only =A1 and @home
    assert not any("-100-BLK" in w or "+44-A" in w for w in p.warnings)
    products = prepare("p.csv", b"sku,family,unit_price,unit_cost\n-100-BLK,-,2,1\n+44-A,+,3,1\n", "products")
    assert products.ok and products.frame["family"].tolist() == ["-", "+"]


def test_text_starting_with_a_sign_loads_through_the_command_line(tmp_path: Path) -> None:
    f = tmp_path / "signs.csv"
    f.write_bytes(LEADING_SIGNS)
    done = run_cli(tmp_path / "ws.duckdb", "load", str(f), "--table", "sales")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "loaded 4 rows into sales from signs.csv" in done.stdout


def test_dates_outside_the_range_are_refused_by_the_command_line(tmp_path: Path) -> None:
    """Issue 13 item 9: the CLI names the file, row and column; no OutOfBoundsDatetime traceback."""
    f = tmp_path / "old.csv"
    f.write_bytes(b"date,sku,quantity\n2024-01-01,A,1\n0001-01-01,A,2\n")
    done = run_cli(tmp_path / "ws.duckdb", "load", str(f), "--table", "sales")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "old.csv, column 'date': 1 row is a date outside 1900-01-01 to 2199-12-31 (row 3)" in done.stderr
    assert "nothing loaded" in done.stderr


def test_bidi_controls_never_reach_the_workspace(workspace: Workspace) -> None:
    """Issue 13 item 16: neither the stored skus nor the recorded file name can display as something else."""
    data = "date,sku,region,quantity\n2024-01-01,abc\u202egpj.exe,\u2067North\u2069,5\n".encode()
    p = load(workspace, "sales\u202evsc.csv", data, "sales")
    assert p.ok, messages(p)
    stored = workspace.table("sales")
    assert stored["sku"].tolist() == ["abcgpj.exe"] and stored["region"].tolist() == ["North"]
    assert workspace.latest_loads()["file_name"].tolist() == ["salesvsc.csv"]
    assert any("invisible bidirectional control characters" in w for w in p.warnings)
    nul = prepare("s.parquet", _parquet_bytes(__import__("pyarrow").table({"date": ["2024-01-01"], "sku": ["A\x00"],
                                                                           "quantity": [1]})), "sales")
    assert not nul.ok and "column 'sku': 1 row contains a NUL or control character (row 2)" in messages(nul)

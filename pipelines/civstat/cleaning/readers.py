"""Read any roster file into a grid of strings, whatever its format or encoding.

Formats: .xlsx, legacy .xls (BIFF), .xls files that are really HTML tables, and CSV in UTF-8,
UTF-8 with BOM, GBK or GB18030. The grid has columns c0..cN (all String, nothing inferred: an ID
must never become a number) and keeps the file's physical rows, so a row number in an error
message is the row a person sees when they open the file.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from isal import isal_zlib

log = logging.getLogger(__name__)

XLSX, XLS, HTML, CSV, XML2003 = "xlsx", "xls", "html", "csv", "xml2003"


class UnreadableFile(Exception):
    """The file cannot be read at all. The message says why in civstat's own words: it never
    quotes a library's error, which may carry the file's cells (IDs, names)."""


@dataclass(frozen=True)
class Limits:
    """What a roster file may hold; beyond these a file is refused, not read into memory
    (``local.max_cell_chars`` … in config/civstat.yaml; Excel's own limits by default)."""

    max_cell_chars: int
    max_rows: int
    max_columns: int
    max_bytes: int

    @classmethod
    def of(cls, local) -> Limits:
        return cls(local.max_cell_chars, local.max_rows_per_file, local.max_columns_per_file, local.max_file_bytes)


def _default_limits() -> Limits:
    from civstat.settings import LocalSettings

    return Limits.of(LocalSettings())


DEFAULT_LIMITS = _default_limits()


@dataclass
class RawGrid:
    cells: pl.DataFrame  # columns c0..cN, String
    first_row: int  # spreadsheet row number of cells' first row (1-based)
    format: str
    encoding: str | None = None
    #: merged cells (row, column of the first cell, row, column of the last: inclusive, 0-based, in
    #: ``cells``); a merged cell's value stands in its first cell, the others are empty
    merged: tuple[tuple[int, int, int, int], ...] = ()
    #: the sheet's name, when the workbook holds several roster sheets (one per township, say): its
    #: rows are numbered as that sheet numbers them; None for a file of one table
    sheet: str | None = None


#: The namespace of Excel 2003's XML spreadsheet (SpreadsheetML), which some systems export as .xls.
SPREADSHEET_NS = "urn:schemas-microsoft-com:office:spreadsheet"


def sniff_format(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return XLS
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith(b"<?xml") and (SPREADSHEET_NS.encode() in stripped or b'progid="excel.sheet"' in stripped):
        return XML2003
    if stripped.startswith((b"<html", b"<!doctype", b"<table", b"<meta", b"<?xml", b"<head")):
        return HTML
    return CSV


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_text(data: bytes) -> tuple[str, str]:
    """UTF-16 when the text starts with its byte-order mark (Excel's "Unicode 文本" save: tab-separated
    .txt); else UTF-8 (with or without BOM) when it decodes, else GB18030 (a superset of GBK); a UTF-8
    BOM in front of GBK bytes (a re-saved export) is read as GBK."""
    if data.startswith(UTF16_BOMS):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"starts as UTF-16 text, but bytes {exc.start}-{exc.end - 1} cannot be decoded") from None
    bom = data.startswith(b"\xef\xbb\xbf")
    body = data[3:] if bom else data
    try:
        return body.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8, GBK or GB18030 text (byte {exc.start + (3 if bom else 0)} cannot be decoded)") from None


def _named(df: pl.DataFrame) -> pl.DataFrame:
    return df.rename({old: f"c{i}" for i, old in enumerate(df.columns)})


def _first_lines(text: str, lines: int) -> str:
    """The text's first ``lines`` lines (not a copy of the rest, as ``split("\\n", lines)`` would make)."""
    end = -1
    for _ in range(lines):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[:end]


def _csv_width(text: str, lines: int | None, separator: str = ",") -> int:
    sample = text if lines is None else _first_lines(text, lines)
    csv.field_size_limit(1 << 31)
    return max((len(row) for row in csv.reader(io.StringIO(sample), delimiter=separator)), default=1)


def _separator(text: str, tab_hint: bool) -> str:
    """A tab when the first 50 lines hold more tabs than commas (not the first line alone: a title
    line above the header has neither), else a comma; a tab for a .tsv whatever they hold."""
    head = _first_lines(text, 50)
    return "\t" if tab_hint or head.count("\t") > head.count(",") else ","


def _where_parsing_fails(text: str, separator: str) -> str:
    """Where Python's strict CSV reader stops (a line number), for a message that quotes nothing."""
    reader = csv.reader(io.StringIO(text), delimiter=separator, strict=True)
    done = 0  # the last line of the last record read whole
    try:
        for _ in reader:
            done = reader.line_num
    except csv.Error:
        return f": the record starting at line {done + 1} does not end (an unclosed quote or a malformed field)"
    return ""


#: The bytes of a CSV looked at before Polars reads it (separator, width): the rest of a UTF-8 file
#: is checked by Polars' own reading, not decoded in Python first.
CSV_HEAD = 1 << 18


def read_csv_grid(data: bytes, limits: Limits = DEFAULT_LIMITS, *, tab: bool = False) -> RawGrid:
    quick = _read_utf8_csv(data, limits, tab)
    return quick if quick is not None else _read_csv_text(data, limits, tab)


def _read_utf8_csv(data: bytes, limits: Limits, tab: bool) -> RawGrid | None:
    """A UTF-8 CSV with \n line ends (most exports), read as its bytes: its head decoded for the
    separator and the width, the rest checked by Polars as it reads; None for any other file, or
    when Polars finds a byte that is not UTF-8 (``_read_csv_text`` reads it then)."""
    bom = data.startswith(b"\xef\xbb\xbf")
    body = data[3:] if bom else data
    if len(body) <= CSV_HEAD or b"\r" in body:
        return None  # small files and other line ends: the general reader, which decodes them whole
    try:
        head = body[:CSV_HEAD].rsplit(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not head.strip(" \t\n,\ufeff"):
        return None
    separator = _separator(head, tab)
    width = _csv_width(head, 100, separator)
    if width > limits.max_columns:
        return None  # the general reader says so
    try:
        return RawGrid(_polars_csv(body, width, separator), 1, CSV, "utf-8-sig" if bom else "utf-8")
    except pl.exceptions.ComputeError:
        return None  # not UTF-8 after all, a longer line further down, or a broken quote: the general reader


def _polars_csv(payload: bytes, width: int, separator: str) -> pl.DataFrame:
    """UTF-8 CSV bytes as ``width`` text columns c0, c1 … (a short line ends in empty cells)."""
    return pl.read_csv(
        payload,
        has_header=False,
        infer_schema=False,
        schema={f"c{i}": pl.String for i in range(width)},
        missing_columns="insert",
        quote_char='"',
        separator=separator,
    )


def _read_csv_text(data: bytes, limits: Limits, tab: bool) -> RawGrid:
    text, encoding = decode_text(data)
    crlf = "\r" in text
    if crlf:  # Windows (\r\n) and old Mac (\r alone) line endings
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip(" \t\n,\ufeff"):
        return RawGrid(pl.DataFrame({"c0": []}, schema={"c0": pl.String}), 1, CSV, encoding)
    separator = _separator(text, tab)
    # UTF-8 as it came (less a BOM) unless the line endings changed: Polars reads bytes
    payload = data.removeprefix(b"\xef\xbb\xbf") if encoding.startswith("utf-8") and not crlf else text.encode("utf-8")
    del data
    # the width of the first lines, else (a longer line further down: Polars says so) of them all
    for width in (_csv_width(text, 100, separator), None):
        width = width or _csv_width(text, None, separator)
        if width > limits.max_columns:
            raise UnreadableFile(f"a line has {width} fields (more than {limits.max_columns}): not a roster export")
        try:
            return RawGrid(_polars_csv(payload, width, separator), 1, CSV, encoding)
        except pl.exceptions.ComputeError as exc:
            if "more fields" not in str(exc):
                # Polars' message quotes the rows it could not parse: never pass it on
                where = _where_parsing_fails(text, separator)
                raise UnreadableFile(f"the CSV cannot be parsed{where}; fix or re-export the file") from None
    raise AssertionError("unreachable")


# A number of 15 digits or more as fastexcel writes a number cell as text (the double's exact integer).
LONG_NUMBER = r"^-?\d{15,}$"


def _excel_display(big: pl.Expr) -> pl.Expr:
    """How Excel shows a big number in a General cell: the number to its 15 significant digits (all
    Excel keeps), shown to six, each rounded half away from zero (430621598001011234 shows as
    4.30622E+17, 999999500000000000 as 1E+18), without trailing zeros (4.3062E+17, 4E+17)."""
    digits = big.str.strip_chars_start("-")
    fifteen = (digits.str.slice(0, 16).str.pad_end(16, "0").cast(pl.Int64) + 5) // 10  # 15 digits, or 10**15 (a carry)
    rounded = (fifteen // 10**8 + 5) // 10  # 100000 ... 1000000 (a carry)
    carry = rounded >= 1_000_000
    mantissa = pl.when(carry).then(rounded // 10).otherwise(rounded).cast(pl.String)
    decimals = mantissa.str.slice(1, 5).str.strip_chars_end("0")
    return (
        pl.when(big.str.starts_with("-")).then(pl.lit("-")).otherwise(pl.lit(""))
        + mantissa.str.slice(0, 1)
        + pl.when(decimals != "").then(pl.lit(".") + decimals).otherwise(pl.lit(""))
        + "E+"
        + (digits.str.len_chars() - 1 + carry.cast(pl.UInt32)).cast(pl.String)
    )


def _long_columns(cells: pl.DataFrame) -> list[int]:
    """The columns with a cell of 15 digits or more (the pattern looked for only where a cell is
    long enough; an ID column says so in its first rows, most often)."""
    widest = cells.select(pl.all().str.len_bytes().max()).row(0)

    def has_long(column: pl.Series) -> bool:
        return column.head(200).str.contains(LONG_NUMBER).any() or column.slice(200).str.contains(LONG_NUMBER).any()

    return [i for i, c in enumerate(cells.columns) if (widest[i] or 0) >= 15 and has_long(cells[c])]


def _numbers_as_excel_shows_them(cells: pl.DataFrame, numbers: dict[int, pl.Series]) -> pl.DataFrame:
    """Number cells of 15 digits or more, the way Excel shows them.

    Such a cell is an ID that went through Excel as a number: Excel kept 15 significant digits and
    the rest is gone. Written as Excel shows it (4.30621E+17), validation rejects it as lost
    precision instead of mistaking it for a typo, or taking a wrong number for a valid ID. An ID
    typed as text is kept as it is, even when its digits could be a number's: which cells are
    numbers, the reader says (``numbers``: per column index, a Series non-null where the cell is a number).
    """
    changed = []
    for i, number in numbers.items():
        rows = number.is_not_null().arg_true()
        if not len(rows):
            continue  # most ID columns hold text only: nothing to change
        column = cells.get_column(cells.columns[i])
        shown = (
            column.gather(rows)
            .to_frame("c")
            .select(pl.when(pl.col("c").str.contains(LONG_NUMBER)).then(_excel_display(pl.col("c"))).otherwise(pl.col("c")))
        )
        changed.append(column.clone().scatter(rows, shown.to_series()))  # not in place; only the number cells (a few) are looked at
    return cells.with_columns(changed) if changed else cells


# The value of a cell in an .xlsx sheet's XML that may be a number of 15 digits or more: digits
# alone, or any number in E notation (sized exactly for each one found).
_LONG_VALUE = re.compile(rb"<v>\s*(-?\d{15,}(?:\.\d*)?|[-+\d.]+[eE][-+]?\d+)\s*</v>")
_CELL_ATTRIBUTE = re.compile(rb"""\s(r|t)\s*=\s*["']([^"']*)["']""")
_CELL_REF = re.compile(r"([A-Z]{1,3})(\d+)")
#: Beyond this many values to look at one by one, asking the reader is cheaper.
MAX_LONG_VALUES = 20_000


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _member(book, name: str) -> bytes:
    """A member of a zip file, inflated by ISA-L (three times zlib's speed, measured on a province's
    sheets) without the CRC check (the reader has read the same bytes); zipfile for anything but a
    plain deflated or stored member."""
    info = book.getinfo(name)
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        return book.read(name)
    book.fp.seek(info.header_offset)
    header = book.fp.read(30)
    if header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("no local file header")
    book.fp.seek(info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little"))
    data = book.fp.read(info.compress_size)
    return data if info.compress_type == zipfile.ZIP_STORED else isal_zlib.decompress(data, -15)


def _sheet_xml(book, index: int) -> bytes | None:
    """The XML of a workbook's ``index``-th sheet (the order of xl/workbook.xml, the reader's order)."""
    workbook = book.read("xl/workbook.xml")
    rels = book.read("xl/_rels/workbook.xml.rels")
    ids = re.findall(rb"<(?:\w+:)?sheet\b[^>]*?\br:id=[\"']([^\"']+)[\"']", workbook)
    if index >= len(ids):
        return None
    for tag in re.findall(rb"<Relationship\b[^>]*>", rels):
        rel_id, target = re.search(rb"\bId=[\"']([^\"']+)", tag), re.search(rb"\bTarget=[\"']([^\"']+)", tag)
        if rel_id and target and rel_id.group(1) == ids[index]:
            name = target.group(1).decode("utf-8").lstrip("/")
            return _member(book, name if name.startswith("xl/") else f"xl/{name}")
    return None


def _xlsx_sheet_xml(path: Path | bytes, index: int) -> bytes | None:
    """The XML of a workbook's ``index``-th sheet; None when it cannot be found (the reader is then asked)."""
    try:
        with zipfile.ZipFile(io.BytesIO(path) if isinstance(path, bytes) else path) as book:
            return _sheet_xml(book, index)
    except (OSError, KeyError, zipfile.BadZipFile, ValueError, isal_zlib.error):
        return None


_MERGE_CELL = re.compile(rb"""<(?:\w+:)?mergeCell\b[^>]*?\bref\s*=\s*["']\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)["']""")


def xlsx_merged_cells(xml: bytes) -> list[tuple[int, int, int, int]]:
    """A sheet's merged cells, as (row, column, last row, last column) of the sheet, 0-based: the
    ``<mergeCells>`` list after the sheet's data (the end of the data looked for from the end of the
    XML, where it is: a sheet without merged cells is not searched through)."""
    start = xml.find(b"mergeCells", max(xml.rfind(b"sheetData>"), 0))
    if start < 0:
        return []
    return [
        (int(r0) - 1, _column_index(c0.decode()), int(r1) - 1, _column_index(c1.decode()))
        for c0, r0, c1, r1 in _MERGE_CELL.findall(xml, start)
    ]


def xlsx_number_cells(path: Path | bytes, index: int, xml: bytes | None = None) -> set[tuple[int, int]] | None:
    """The cells of a sheet holding a number of 15 digits or more, as (row, column) of the sheet,
    0-based; None when the sheet's XML does not say it plainly (the reader is then asked). ``path``:
    the workbook's path or its bytes.
    Cheaper than finding the long cells first: nearly every roster has long text cells (IDs).

    One pass of a compiled pattern over the sheet's XML finds the candidate values; only those are
    looked at one by one: the cell a value sits in (its ``r`` reference and ``t`` type: no type or
    ``n`` is a number; ``s``, ``str`` and ``inlineStr`` are text), and the number's size."""
    xml = xml if xml is not None else _xlsx_sheet_xml(path, index)
    if xml is None:
        return None
    found: set[tuple[int, int]] = set()
    for n, value in enumerate(_LONG_VALUE.finditer(xml)):
        if n >= MAX_LONG_VALUES:
            return None
        try:
            if abs(float(value.group(1))) < 1e14:
                continue
        except ValueError:
            return None
        start = xml.rfind(b"<c", 0, value.start())
        end = xml.find(b">", start)
        if start < 0 or end < 0 or xml.find(b"</c>", start, value.start()) >= 0 or xml[start + 2 : start + 3] not in b" \t\r\n":
            return None  # not plainly inside a cell tag
        attributes = dict(_CELL_ATTRIBUTE.findall(xml[start:end]))
        kind = attributes.get(b"t", b"n")
        if kind != b"n":
            continue  # a text cell (a formula's text result, an inline or shared string), or an error or date
        ref = _CELL_REF.fullmatch(attributes.get(b"r", b"").decode("ascii", "replace"))
        if ref is None:
            return None  # cells without references: their place is the reader's to say
        found.add((int(ref.group(2)) - 1, _column_index(ref.group(1))))
    return found


def _several_sheets(names: list[str]) -> UnreadableFile:
    return UnreadableFile(
        f"the workbook has {len(names)} sheets with data ({', '.join(names)}): read_grids reads each (a roster kept one sheet per township)"
    )


def _number_marks(height: int, rows: dict[int, list[int]]) -> dict[int, pl.Series]:
    """Per grid column, a Series non-null where the reader says the cell is a number (``rows``: the
    number cells' rows of each column), as ``_numbers_as_excel_shows_them`` takes it."""
    return {c: pl.repeat(None, height, dtype=pl.Boolean, eager=True).scatter(sorted(r), True) for c, r in rows.items()}


def _filled_columns(frame: pl.DataFrame) -> int:
    """How many columns of a sheet hold a value."""
    return sum(1 for c in frame.columns if frame[c].drop_nulls().str.strip_chars().ne("").any())


def read_excel_grids(path: Path, fmt: str, limits: Limits = DEFAULT_LIMITS, content: bytes | None = None) -> list[RawGrid]:
    """A workbook's sheets with data (.xlsx, .xlsm or legacy .xls), each read once as text (from
    ``content``, the file's bytes, when given): one grid, or one per sheet (``RawGrid.sheet``) when
    several hold tables (a roster kept one sheet per township). A grid starts at its sheet's first
    non-empty row, and ``first_row`` says which row of the sheet that is. A hidden sheet (the lists
    behind a template's drop-downs, a system's code table) is not a roster: it is read only when no
    visible sheet holds data; nor is a sheet of notes (填表说明: text in one column) beside a table."""
    import fastexcel

    source = path if content is None else content
    try:
        reader = fastexcel.read_excel(source)
        with_data = []
        for index, name in enumerate(reader.sheet_names):
            # skip_rows=0: leading empty rows are kept (counted below), so row numbers are the sheet's
            sheet = reader.load_sheet(index, header_row=None, skip_rows=0, dtypes="string")
            if sheet.height:
                with_data.append((name, sheet, index))
    except Exception as exc:  # fastexcel's own error types; their text may quote cells: not passed on
        raise UnreadableFile(f"not a readable {fmt} workbook ({type(exc).__name__}); open it and save it again, or re-export it") from None
    shown = [s for s in with_data if s[1].visible == "visible"]
    if shown and len(shown) < len(with_data):
        hidden = ", ".join(n for n, sheet, _ in with_data if sheet.visible != "visible")
        log.warning(
            "%s: hidden sheets not read (taken for drop-down lists or code tables; if one holds roster rows, save it as a file of its own): %s",
            path.name,
            hidden,
        )
        with_data = shown
    frames: dict[int, pl.DataFrame] = {}  # the sheets converted to read them, by index: converted once
    if len(with_data) > 1:  # a 填表说明 sheet beside the roster: text in one column is notes, not a table
        frames = {index: sheet.to_polars() for _, sheet, index in with_data}
        tables = [s for s in with_data if _filled_columns(frames[s[2]]) > 1]
        if tables and len(tables) < len(with_data):
            notes = ", ".join(n for n, _, _ in with_data if n not in {t[0] for t in tables})
            log.info("%s: sheets of notes in one column not read (not a roster): %s", path.name, notes)
            with_data = tables
    if not with_data:
        return [RawGrid(pl.DataFrame({"c0": []}, schema={"c0": pl.String}), 1, fmt)]
    xml_of = (lambda index: _xlsx_sheet_xml(source, index)) if fmt == XLSX else (lambda index: None)
    return [
        _sheet_grid(reader, sheet, index, frames.get(index), source, fmt, limits, xml_of(index), name if len(with_data) > 1 else None)
        for name, sheet, index in with_data
    ]


def _sheet_grid(reader, sheet, index: int, frame, source, fmt: str, limits: Limits, xml: bytes | None, name: str | None) -> RawGrid:
    """One loaded sheet as a grid (``frame``: the sheet converted already, or None), with its merged
    cells and its long numbers as Excel shows them; ``name``: the sheet's, for a workbook of several."""
    cells = _named(frame if frame is not None else sheet.to_polars())
    empty_above = cells.select(pl.any_horizontal(pl.all().is_not_null()).arg_true().first()).item() or 0
    cells = cells.slice(empty_above)
    if cells.width > limits.max_columns or cells.height > limits.max_rows:
        where = f"sheet {name} has" if name else "the sheet has"
        raise UnreadableFile(f"{where} {cells.height} rows and {cells.width} columns (limits {limits.max_rows} and {limits.max_columns})")
    columns = [c.absolute_index for c in sheet.selected_columns]
    merged = xlsx_merged_cells(xml) if xml is not None else xls_merged_cells(source, index) if fmt == XLS else []
    merged = _merged_in_grid(merged, empty_above, cells.height, columns)

    # which long cells are numbers: an .xlsx sheet's XML says so in one pass (no second load); else the
    # reader, loading the long columns again as booleans: a number (or a TRUE/FALSE cell) reads as a value, text as null
    found = xlsx_number_cells(source, index, xml) if xml is not None else None
    if found is not None and all(0 <= row - empty_above < cells.height for row, _ in found):
        rows: dict[int, list[int]] = {}
        for row, col in found:
            rows.setdefault(col, []).append(row - empty_above)
        numbers = _number_marks(cells.height, {i: rows[col] for i, col in enumerate(columns) if col in rows})
    else:
        long = _long_columns(cells)
        if not long:
            return RawGrid(cells, 1 + empty_above, fmt, merged=merged, sheet=name)
        try:
            typed = reader.load_sheet(index, header_row=None, skip_rows=0, dtypes="boolean", use_columns=[columns[i] for i in long])
            numbers = dict(zip(long, typed.to_polars().slice(empty_above), strict=True))
        except Exception as exc:
            raise UnreadableFile(
                f"not a readable {fmt} workbook ({type(exc).__name__}); open it and save it again, or re-export it"
            ) from None
    return RawGrid(_numbers_as_excel_shows_them(cells, numbers), 1 + empty_above, fmt, merged=merged, sheet=name)


def xls_merged_cells(source: Path | bytes, index: int) -> list[tuple[int, int, int, int]]:
    """A legacy .xls sheet's merged cells, as ``xlsx_merged_cells`` gives them (python-calamine says
    them; fastexcel does not); none when it cannot (the cells were read: only their merging is lost)."""
    import python_calamine

    try:
        workbook = python_calamine.CalamineWorkbook
        book = workbook.from_filelike(io.BytesIO(source)) if isinstance(source, bytes) else workbook.from_path(str(source))
        ranges = book.get_sheet_by_index(index).merged_cell_ranges or []
    except Exception:  # python-calamine's own errors; their text is not passed on
        log.warning("the merged cells of a legacy .xls sheet could not be read: each is read in its first cell only")
        return []
    return [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in ranges]


def _merged_in_grid(
    merged: list[tuple[int, int, int, int]], empty_above: int, height: int, columns: list[int]
) -> tuple[tuple[int, int, int, int], ...]:
    """Merged cells of a sheet in the grid's rows and columns (``columns``: the sheet's column of each
    grid column); a merged cell whose first cell lies outside the grid is left out."""
    at = {col: i for i, col in enumerate(columns)}
    out = []
    for r0, c0, r1, c1 in merged:
        if c0 in at and 0 <= r0 - empty_above < height:
            last = max((at[c] for c in range(c0, c1 + 1) if c in at), default=at[c0])
            out.append((r0 - empty_above, at[c0], min(r1 - empty_above, height - 1), last))
    return tuple(out)


def fill_merged_down(grid: RawGrid, from_row: int) -> tuple[RawGrid, int]:
    """The grid with each cell merged down over data rows (a merged cell that starts at or below
    ``from_row``: a village over its households, a head's ID over the members) holding its value in
    every row it covers, which is what the file means; a spreadsheet shows it once, in its first
    row. Its other columns stay empty (a cell merged across columns belongs to the first). Merged
    cells of the title and header rows are the header search's (``headers``). And how many cells
    were filled."""
    down = [(r0, c, r1) for r0, c, r1, _ in grid.merged if r0 >= from_row and r1 > r0]
    if not down:
        return grid, 0
    by_column: dict[int, list[tuple[int, int]]] = {}
    for r0, c, r1 in down:
        by_column.setdefault(c, []).append((r0, r1))
    filled, changed = 0, []
    for c, spans in by_column.items():
        source = np.arange(grid.cells.height)
        for r0, r1 in spans:  # a loop over merged cells, not rows
            source[r0 + 1 : r1 + 1] = r0
        column = grid.cells.get_column(f"c{c}")
        both = pl.DataFrame({"cell": column, "merged": column.gather(source)})
        filled += both.select((pl.col("cell").is_null() & pl.col("merged").is_not_null()).sum()).item()
        changed.append(both.select(pl.coalesce("cell", "merged")).to_series().alias(column.name))
    return dataclasses.replace(grid, cells=grid.cells.with_columns(changed)), filled


MAX_SPAN = 1000  # a colspan/rowspan beyond this is a broken or hostile file, not a roster
MAX_COLUMNS = 16384  # Excel's own limit


# The tags that shape a table: a whole cell of plain text (most cells: one match instead of two), a
# start tag of tr, td or th, an end tag of those or of table (quoted attribute values may hold '>');
# any markup at all; what hides tags from a browser (comments, scripts).
_ATTRIBUTES = r"""((?:[^>"']|"[^"]*"|'[^']*')*)"""
_TABLE_TAG = re.compile(rf"<(t[dh])(?=[\s/>]){_ATTRIBUTES}>([^<]*)</t[dh]\s*>|<(/?)(tr|td|th|table)(?=[\s/>]){_ATTRIBUTES}>", re.I)
_MARKUP = re.compile(r"""<!--.*?(?:-->|\Z)|<![^>]*>|<\?[^>]*>|</?[a-zA-Z](?:[^>"']|"[^"]*"|'[^']*')*>""", re.S)
_HIDDEN = re.compile(r"<!--.*?(?:-->|\Z)|<(script|style)(?=[\s>]).*?(?:</\1\s*>|\Z)", re.S | re.I)
_ATTRIBUTE = re.compile(r"""([^\s/>=][^\s/>=]*)(?:\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?""")
_BR = re.compile(r"<br(?=[\s/>])", re.I)
_UNQUOTED_SLASH = re.compile(r"""=\s*[^\s'">]*/$""")  # <td colspan=2/> is not <td/>: the slash is the value's


def _span(attributes: str, name: str) -> int:
    """The rowspan or colspan of a cell (1 when absent or not a number)."""
    if "span" not in attributes.lower():
        return 1
    for key, value in _ATTRIBUTE.findall(attributes):
        value = html.unescape(value[1:-1] if value[:1] in ("'", '"') else value)
        digits = re.match(r"\s*(\d+)", value) if key.lower() == name and value else None
        if digits:
            span = int(digits.group(1))
            if span > MAX_SPAN:
                raise UnreadableFile(f"an HTML table cell spans {span} {name[:3]}s (more than {MAX_SPAN}): not a roster export")
            return max(span, 1)
    return 1


def _cell_text(markup: str) -> str:
    """The text of a cell: the text of nested tags joined, <br> as a space, character references
    resolved, trimmed."""
    if "<" not in markup and "&" not in markup:
        return markup.strip()
    if "<" in markup:
        chunks, at = [], 0
        for tag in _MARKUP.finditer(markup):
            chunks.append(html.unescape(markup[at : tag.start()]))
            if _BR.match(tag.group()):
                chunks.append(" ")
            at = tag.end()
        chunks.append(html.unescape(markup[at:]))
        return "".join(chunks).strip()
    return html.unescape(markup).strip()


def _hides_markup(text: str) -> bool:
    """Whether the page may have comments, scripts or styles, whose tags a browser does not show."""
    return "<!--" in text or any(f"<{tag}" in text for tag in ("script", "style", "SCRIPT", "STYLE"))


def _too_wide(max_columns: int) -> UnreadableFile:
    return UnreadableFile(f"an HTML table row is wider than {max_columns} columns: not a roster export")


def _table_rows(text: str) -> list[list[tuple[str, int, int]]]:
    """The cells of every <tr> as (text, rowspan, colspan), as a browser reads them: a cell ends at
    the next cell, row or table end tag (closed or not); a cell still open at the end of the file is
    dropped; comments, scripts and styles are not text."""
    if _hides_markup(text):
        text = _HIDDEN.sub("<!---->", text)
    # split: the text before the first tag, then per tag its groups (a whole cell: name, attributes,
    # text; a tag: closing slash, name, attributes) and the text after it
    parts = _TABLE_TAG.split(text)
    rows: list[list[tuple[str, int, int]]] = []
    cell: list | None = None  # the open cell: its rowspan, colspan and the markup inside it
    for i in range(1, len(parts), 7):
        whole, closing, name, attributes, after = parts[i], parts[i + 3], parts[i + 4], parts[i + 5], parts[i + 6]
        if whole is not None:  # <td>text</td>
            name, attributes, after = "td", parts[i + 1], parts[i + 2]
        elif name not in ("td", "tr", "th", "table"):
            name = name.lower()
        if name == "table" and not closing:  # a table inside a cell: its rows end the cell, not its tag
            if cell is not None:
                cell.append("<table>" + after)
            continue
        if cell is not None:
            rows[-1].append((_cell_text("".join(cell[2:])), cell[0], cell[1]))
            cell = None
        if closing:
            continue
        if name == "tr":
            rows.append([])
            continue
        if not rows:
            rows.append([])
        spans = (_span(attributes, "rowspan"), _span(attributes, "colspan")) if attributes else (1, 1)
        if attributes.endswith("/") and not _UNQUOTED_SLASH.search(attributes):  # <td/>: an empty cell, closed at once
            rows[-1].append(("", *spans))
        elif whole is not None:
            rows[-1].append((after.strip() if "&" not in after else _cell_text(after), *spans))  # plain text: no tags
        else:
            cell = [*spans, after]
    return rows


# A row of plain cells, as the part of an HTML export after "<tr": the row's tag, then only cells
# of text (no markup, no character reference, no separator control character that Python trims and
# Rust does not) with attributes that hold neither '/' unquoted nor '<' or '>' quoted, then the end
# of the row and at most the end of the table. Such rows (most of a roster) are read by Polars; the
# others, and every row before the first such row, by ``_table_rows``.
_PLAIN_ATTRIBUTES = r"""(?:\s(?:[^<>"'/]|"[^"<>]*"|'[^'<>]*')*)?"""
_PLAIN_ROW = (
    rf"^{_PLAIN_ATTRIBUTES}>(?:\s*<t[dh]{_PLAIN_ATTRIBUTES}>[^<&\x1c-\x1f]*</t[dh]\s*>)*\s*</tr\s*>"
    r"(?:\s|</?(?:tbody|thead|tfoot|table|body|html)\s*>)*$"
)
_PLAIN_CELL = r">[^<]*</t[dh]"  # in a plain row, only a cell's text lies between '>' and '</td' or '</th'


def _plain_cells(rows: pl.Series, max_columns: int) -> pl.DataFrame:
    """The cells of plain rows (``_PLAIN_ROW``), trimmed, empty as null."""
    cells = rows.str.extract_all(_PLAIN_CELL).list.eval(pl.element().str.head(-4).str.tail(-1).str.strip_chars().replace("", None))
    width = cells.list.len().max() or 1
    if width > max_columns:
        raise _too_wide(max_columns)
    return cells.to_frame("cells").select(pl.col("cells").list.get(i, null_on_oob=True).alias(f"c{i}") for i in range(width))


def _span_grid(
    rows: list[list[tuple[str, int, int]]], max_columns: int
) -> tuple[list[list[str | None]], bool, list[tuple[int, int, int, int]]]:
    """Rows of (text, rowspan, colspan) as a spreadsheet shows them: a merged cell's text in its first
    cell, the others empty; whether a rowspan reaches below the last row; and the merged cells
    (``RawGrid.merged``: inclusive, cut at the last row)."""
    grid: list[list[str | None]] = []
    merged: list[tuple[int, int, int, int]] = []
    taken: dict[tuple[int, int], bool] = {}  # (row, col) covered by a span from above or the left
    for r, cells in enumerate(rows):
        row: list[str | None] = []
        for value, rowspan, colspan in cells:
            while taken and taken.pop((r, len(row)), False):
                row.append(None)
            col = len(row)
            if col + colspan > max_columns:
                raise _too_wide(max_columns)
            row.append(value or None)
            if colspan > 1:
                row.extend([None] * (colspan - 1))
            if rowspan > 1 or colspan > 1:
                merged.append((r, col, min(r + rowspan, len(rows)) - 1, col + colspan - 1))
            if rowspan > 1:
                for dr in range(1, rowspan):
                    for dc in range(colspan):
                        taken[(r + dr, col + dc)] = True
        while taken and taken.pop((r, len(row)), False):
            row.append(None)
        grid.append(row)
    return grid, bool(taken), merged


def _grid_frame(grid: list[list[str | None]]) -> pl.DataFrame:
    width = max((len(r) for r in grid), default=0) or 1  # a column, however empty: the rows are counted
    return pl.DataFrame(
        {f"c{i}": [r[i] if i < len(r) else None for r in grid] for i in range(width)}, schema={f"c{i}": pl.String for i in range(width)}
    )


def _segments(text: str) -> list[tuple[bool, str | pl.Series]] | None:
    """The document cut at its rows into runs of plain rows (a Series of rows, each without its
    "<tr") and runs of the others (their text, to read whole); None when nothing is plain or markup
    that hides rows (comments, scripts, styles) is present."""
    if _hides_markup(text):
        return None
    chunks = pl.Series(text.split("<tr"))
    plain = (chunks.str.contains(_PLAIN_ROW) & ~chunks.str.contains("(?i)span")).to_numpy()
    # "<track" or the like is no row: its cells belong to the row before, so both are read whole
    joined = ~chunks.str.contains(r"^[\s\x1c-\x1f/>]").to_numpy()
    plain[:-1] &= ~joined[1:]
    plain[0] = False  # what precedes the first row
    if not plain.any():
        return None
    starts = [0, *(np.flatnonzero(plain[1:] != plain[:-1]) + 1), len(plain)]
    segments: list[tuple[bool, str | pl.Series]] = []
    for a, b in zip(starts, starts[1:], strict=False):
        if plain[a]:
            segments.append((True, chunks.slice(a, b - a)))
        else:
            # the rows' text, closed by "</tr>" where a next "<tr" would close it (a cell left open ends
            # there; at the end of the file it is dropped)
            end = "</tr>" if b < len(plain) else ""
            segments.append((False, ("" if a == 0 else "<tr") + "<tr".join(chunks.slice(a, b - a).to_list()) + end))
    return segments


def read_html_grid(data: bytes, limits: Limits = DEFAULT_LIMITS) -> RawGrid:
    """An .xls that is really an HTML table (what many web systems export). Merged cells
    (rowspan, colspan) keep their text in the first cell and leave the others empty, as a
    spreadsheet shows them, so every value stays under its own header.

    Rows of plain cells (most of a roster) are read by Polars, the others (titles, merged headers,
    footers) by ``_table_rows``; a rowspan that reaches into the next run reads the whole file so."""
    text, encoding = decode_text(data)
    max_columns = min(MAX_COLUMNS, limits.max_columns)
    segments = _segments(text)
    if segments is not None:
        frames, merged, above = [], [], 0
        for n, (plain, segment) in enumerate(segments):
            if plain:
                frames.append(_plain_cells(segment, max_columns))
            else:
                grid, spans_on, spans = _span_grid(_table_rows(segment), max_columns)
                if spans_on and n < len(segments) - 1:
                    break  # a rowspan reaches into the next run
                frames.append(_grid_frame(grid))
                merged += [(r0 + above, c0, r1 + above, c1) for r0, c0, r1, c1 in spans]
            above += frames[-1].height
        else:
            return RawGrid(pl.concat(frames, how="diagonal"), 1, HTML, encoding, tuple(merged))
    grid, _, merged = _span_grid(_table_rows(text), max_columns)
    return RawGrid(_grid_frame(grid), 1, HTML, encoding, tuple(merged))


def read_spreadsheetml_grids(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[RawGrid]:
    """An Excel 2003 XML spreadsheet (SpreadsheetML: ``<Workbook><Worksheet><Table><Row><Cell><Data>``),
    which some systems export as .xls: its sheets with data (one grid each, named when there are
    several, as ``read_excel_grids`` gives them), every row where the sheet puts it
    (``ss:Index`` skips rows and columns), merged cells (``ss:MergeAcross``, ``ss:MergeDown``) in
    ``RawGrid.merged``, a number of 15 digits or more as Excel shows it, a date cell as a date and time.
    Such exports are small: the cells are read one by one (ElementTree, which fetches no entity)."""
    import xml.etree.ElementTree as ET

    ns = f"{{{SPREADSHEET_NS}}}"
    try:
        book = ET.fromstring(data)
    except ET.ParseError as exc:
        raise UnreadableFile(
            f"not a well-formed Excel 2003 XML spreadsheet (line {exc.position[0]}); open it and save it as .xlsx"
        ) from None
    sheets = []
    for sheet in book.iter(f"{ns}Worksheet"):
        hidden = any((v.text or "").strip() == "SheetHidden" for v in sheet.iter("{urn:schemas-microsoft-com:office:excel}Visible"))
        table = sheet.find(f"{ns}Table")
        if table is not None and table.find(f".//{ns}Data") is not None:
            sheets.append((sheet.get(f"{ns}Name", ""), table, hidden))
    if any(not hidden for _, _, hidden in sheets):
        sheets = [s for s in sheets if not s[2]]
    if not sheets:
        return [RawGrid(pl.DataFrame({"c0": []}, schema={"c0": pl.String}), 1, XML2003)]
    return [_spreadsheetml_grid(table, limits, name if len(sheets) > 1 else None) for name, table, _ in sheets]


def _spreadsheetml_grid(table, limits: Limits, name: str | None) -> RawGrid:
    """One SpreadsheetML ``<Table>`` as a grid (``read_spreadsheetml_grids``)."""
    ns = f"{{{SPREADSHEET_NS}}}"
    grid: list[list[str | None]] = []
    merged: list[tuple[int, int, int, int]] = []
    numbers: dict[int, list[int]] = {}  # column -> rows of its number cells
    for row in table.iter(f"{ns}Row"):
        r = int(row.get(f"{ns}Index", len(grid) + 1)) - 1
        if r < len(grid) or r >= limits.max_rows:
            raise UnreadableFile(f"row {r + 1} of the sheet is out of order or beyond {limits.max_rows} rows: not a roster export")
        grid.extend([] for _ in range(r + 1 - len(grid)))
        cells: list[str | None] = grid[r]
        for cell in row.iter(f"{ns}Cell"):
            c = int(cell.get(f"{ns}Index", len(cells) + 1)) - 1
            across, down = int(cell.get(f"{ns}MergeAcross", 0)), int(cell.get(f"{ns}MergeDown", 0))
            if c < len(cells) or c + across >= min(MAX_COLUMNS, limits.max_columns):
                raise UnreadableFile(f"row {r + 1}: a cell is out of order or beyond {limits.max_columns} columns: not a roster export")
            cells.extend([None] * (c - len(cells)))
            value = cell.find(f"{ns}Data")
            text = "".join(value.itertext()) if value is not None else ""
            kind = value.get(f"{ns}Type") if value is not None else None
            if kind == "DateTime":
                text = text[:19].replace("T", " ")
            elif kind == "Number":
                numbers.setdefault(c, []).append(r)
            cells.append(text or None)
            cells.extend([None] * across)
            if across or down:
                merged.append((r, c, r + down, c + across))
    frame = _grid_frame(grid)
    last = frame.height - 1
    merged = [(r0, c0, min(r1, last), c1) for r0, c0, r1, c1 in merged]
    return RawGrid(_numbers_as_excel_shows_them(frame, _number_marks(frame.height, numbers)), 1, XML2003, merged=tuple(merged), sheet=name)


def check_cells(grid: RawGrid, limits: Limits) -> RawGrid:
    """Refuse a grid with a cell longer than any roster cell can be (the row and column named)."""
    where = f"sheet {grid.sheet}, " if grid.sheet else ""
    if grid.cells.height > limits.max_rows:
        raise UnreadableFile(f"{where}{grid.cells.height} rows (more than {limits.max_rows})")
    if (grid.cells.select(pl.max_horizontal(pl.all().str.len_bytes().max())).item() or 0) <= limits.max_cell_chars:
        return grid  # no cell has more bytes, let alone characters (bytes are known without reading the text)
    lengths = grid.cells.select(pl.col(c).str.len_chars().max() for c in grid.cells.columns).row(0)
    for col, length in enumerate(lengths):
        if length is not None and length > limits.max_cell_chars:
            row = grid.cells.with_row_index("_r").filter(pl.col(f"c{col}").str.len_chars() > limits.max_cell_chars)["_r"][0]
            raise UnreadableFile(
                f"{where}row {grid.first_row + row}, column {col + 1}: a cell of {length} characters "
                f"(more than {limits.max_cell_chars}): not a roster cell"
            )
    return grid


def read_grids(path: Path, limits: Limits = DEFAULT_LIMITS, content: bytes | None = None) -> list[RawGrid]:
    """Read ``path`` whatever its real format (the extension is not trusted): its table, or a
    workbook's tables, one per sheet with data (``RawGrid.sheet`` names each when there are several);
    ``content``: its bytes, when the caller has read them already (to hash them: a file is read once)."""
    size = len(content) if content is not None else path.stat().st_size
    if size > limits.max_bytes:
        raise UnreadableFile(f"{size:,} bytes (more than {limits.max_bytes:,})")
    if content is None:
        with open(path, "rb") as fh:
            head = fh.read(512)
    else:
        head = content[:512]
    fmt = sniff_format(head)
    if fmt in (XLSX, XLS):
        grids = read_excel_grids(path, fmt, limits, content)
    else:
        data = content if content is not None else path.read_bytes()
        if fmt == HTML:
            grids = [read_html_grid(data, limits)]
        elif fmt == XML2003:
            grids = read_spreadsheetml_grids(data, limits)
        else:
            grids = [read_csv_grid(data, limits, tab=path.suffix.lower() == ".tsv")]
    return [check_cells(grid, limits) for grid in grids]


def read_grid(path: Path, limits: Limits = DEFAULT_LIMITS, content: bytes | None = None) -> RawGrid:
    """``read_grids`` of a file of one table; a workbook of several roster sheets is refused."""
    grids = read_grids(path, limits, content)
    if len(grids) > 1:
        raise _several_sheets([g.sheet or "" for g in grids])
    return grids[0]

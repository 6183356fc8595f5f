"""Read any roster file into a grid of strings, whatever its format or encoding.

Formats: .xlsx, legacy .xls (BIFF), .xls files that are really HTML tables, and CSV in UTF-8,
UTF-8 with BOM, GBK or GB18030. The grid has columns c0..cN (all String, nothing inferred: an ID
must never become a number) and keeps the file's physical rows, so a row number in an error
message is the row a person sees when they open the file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import polars as pl

XLSX, XLS, HTML, CSV = "xlsx", "xls", "html", "csv"


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


def sniff_format(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return XLS
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<html", b"<!doctype", b"<table", b"<meta", b"<?xml", b"<head")):
        return HTML
    return CSV


def decode_text(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) when it decodes, else GB18030 (a superset of GBK); a UTF-8 BOM
    in front of GBK bytes (a re-saved export) is read as GBK."""
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


def _csv_width(text: str, lines: int | None, separator: str = ",") -> int:
    sample = text if lines is None else "\n".join(text.split("\n", lines)[:lines])
    csv.field_size_limit(1 << 31)
    return max((len(row) for row in csv.reader(io.StringIO(sample), delimiter=separator)), default=1)


def _separator(text: str, tab_hint: bool) -> str:
    first = next((line for line in text.split("\n", 50)[:50] if line.strip()), "")
    return "\t" if tab_hint or first.count("\t") > first.count(",") else ","


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


def read_csv_grid(data: bytes, limits: Limits = DEFAULT_LIMITS, *, tab: bool = False) -> RawGrid:
    text, encoding = decode_text(data)
    del data
    if "\r" in text:  # Windows (\r\n) and old Mac (\r alone) line endings
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip(" \t\n,\ufeff"):
        return RawGrid(pl.DataFrame({"c0": []}, schema={"c0": pl.String}), 1, CSV, encoding)
    separator = _separator(text, tab)
    payload = text.encode("utf-8")
    for width in (_csv_width(text, 2000, separator), None):
        width = width or _csv_width(text, None, separator)
        if width > limits.max_columns:
            raise UnreadableFile(f"a line has {width} fields (more than {limits.max_columns}): not a roster export")
        try:
            cells = pl.read_csv(
                payload,
                has_header=False,
                infer_schema=False,
                schema={f"c{i}": pl.String for i in range(width)},
                missing_columns="insert",
                quote_char='"',
                separator=separator,
            )
            return RawGrid(cells, 1, CSV, encoding)
        except pl.exceptions.ComputeError as exc:
            if "more fields" not in str(exc):
                # Polars' message quotes the rows it could not parse: never pass it on
                where = _where_parsing_fails(text, separator)
                raise UnreadableFile(f"the CSV cannot be parsed{where}; fix or re-export the file") from None
    raise AssertionError("unreachable")


def _sheet_names(archive: zipfile.ZipFile) -> list[str]:
    names = [n for n in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
    return sorted(names, key=lambda n: int(re.search(r"(\d+)\.xml$", n).group(1)))


def _xlsx_first_row(path: Path, sheet_index: int = 0) -> int:
    """calamine starts a sheet at its first non-empty row; find that row's number in the XML."""
    with zipfile.ZipFile(path) as archive:
        names = _sheet_names(archive)
        if not names:
            return 1
        with archive.open(names[min(sheet_index, len(names) - 1)]) as sheet:
            head = sheet.read(1 << 20).decode("utf-8", "replace")
    for match in re.finditer(r'<row [^>]*?r="(\d+)"[^>]*?(?:/>|>(.*?)</row>)', head, re.S):
        if match.group(2) and re.search(r"<v>|<is>", match.group(2)):
            return int(match.group(1))
    return 1


_NUMERIC_CELL = re.compile(rb'<c r="[A-Z]+\d+"(?: s="\d+")?(?: t="n")?><v>([-+0-9.Ee]+)</v>')


def _xlsx_big_numbers(path: Path) -> list[str]:
    """Numeric cells of 15 digits or more, as calamine prints them (the double's exact integer).

    Such a cell is an ID that went through Excel as a number: Excel kept 15 significant digits and
    the rest is gone. The grid shows it the way Excel does (4.30621E+17) so that validation
    rejects it as lost precision instead of mistaking it for a typo.
    """
    found = []
    with zipfile.ZipFile(path) as archive:
        for name in _sheet_names(archive):  # every sheet: the roster may be on any of them
            for match in _NUMERIC_CELL.finditer(archive.read(name)):
                value = float(match.group(1))
                if abs(value) >= 1e14:
                    found.append(str(int(value)))
    return found


def _excel_display(big: pl.Expr) -> pl.Expr:
    """How Excel shows a big number in a General cell: 4.30621E+17."""
    digits = big.str.strip_chars_start("-")
    return (
        digits.str.slice(0, 1) + "." + digits.str.slice(1, 5).str.strip_chars_end("0") + "E+" + (digits.str.len_chars() - 1).cast(pl.String)
    )


def read_excel_grid(path: Path, fmt: str, limits: Limits = DEFAULT_LIMITS) -> RawGrid:
    import fastexcel

    try:
        reader = fastexcel.read_excel(path)
        with_data = []
        for index, name in enumerate(reader.sheet_names):
            sheet = reader.load_sheet(name, header_row=None, dtypes="string")
            if sheet.height:
                with_data.append((name, sheet, index))
    except Exception as exc:  # fastexcel's own error types; their text may quote cells: not passed on
        raise UnreadableFile(f"not a readable {fmt} workbook ({type(exc).__name__}); open it and save it again, or re-export it") from None
    if not with_data:
        return RawGrid(pl.DataFrame({"c0": []}, schema={"c0": pl.String}), 1, fmt)
    if len(with_data) > 1:
        names = ", ".join(n for n, _, _ in with_data)
        raise UnreadableFile(
            f"the workbook has {len(with_data)} sheets with data ({names}); civstat reads one roster per file: save each sheet as its own file"
        )
    cells = _named(with_data[0][1].to_polars())
    if cells.width > limits.max_columns or cells.height > limits.max_rows:
        raise UnreadableFile(
            f"the sheet has {cells.height} rows and {cells.width} columns (limits {limits.max_rows} and {limits.max_columns})"
        )
    first_row = 1
    if fmt == XLSX:
        first_row = _xlsx_first_row(path, with_data[0][2])
        big = _xlsx_big_numbers(path)
        if big:
            cells = cells.with_columns(
                pl.when(pl.col(c).is_in(big)).then(_excel_display(pl.col(c))).otherwise(pl.col(c)).alias(c) for c in cells.columns
            )
    return RawGrid(cells, first_row, fmt)


MAX_SPAN = 1000  # a colspan/rowspan beyond this is a broken or hostile file, not a roster
MAX_COLUMNS = 16384  # Excel's own limit


class _TableParser(HTMLParser):
    """The cells of every <tr> as (text, rowspan, colspan); text of nested tags is joined."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[tuple[str, int, int]]] = []
        self._cell: list[str] | None = None
        self._spans = (1, 1)

    @staticmethod
    def _span(attrs: list[tuple[str, str | None]], name: str) -> int:
        for key, value in attrs:
            if key == name and value:
                digits = re.match(r"\s*(\d+)", value)
                if digits:
                    span = int(digits.group(1))
                    if span > MAX_SPAN:
                        raise UnreadableFile(f"an HTML table cell spans {span} {name[:3]}s (more than {MAX_SPAN}): not a roster export")
                    return max(span, 1)
        return 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._close_cell()
            self.rows.append([])
        elif tag in ("td", "th"):
            self._close_cell()
            if not self.rows:
                self.rows.append([])
            self._cell = []
            self._spans = (self._span(attrs, "rowspan"), self._span(attrs, "colspan"))
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr", "table"):
            self._close_cell()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is not None:
            self.rows[-1].append(("".join(self._cell).strip(), *self._spans))
            self._cell = None


def read_html_grid(data: bytes, limits: Limits = DEFAULT_LIMITS) -> RawGrid:
    """An .xls that is really an HTML table (what many web systems export). Merged cells
    (rowspan, colspan) keep their text in the first cell and leave the others empty, as a
    spreadsheet shows them, so every value stays under its own header."""
    text, encoding = decode_text(data)
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    grid: list[list[str | None]] = []
    taken: dict[tuple[int, int], bool] = {}  # (row, col) covered by a span from above or the left
    for r, cells in enumerate(parser.rows):
        row: list[str | None] = []
        col = 0
        for value, rowspan, colspan in cells:
            while taken.pop((r, col), False):
                row.append(None)
                col += 1
            if col + colspan > min(MAX_COLUMNS, limits.max_columns):
                raise UnreadableFile(f"an HTML table row is wider than {min(MAX_COLUMNS, limits.max_columns)} columns: not a roster export")
            row.extend([value or None] + [None] * (colspan - 1))
            for dr in range(1, rowspan):
                for dc in range(colspan):
                    taken[(r + dr, col + dc)] = True
            col += colspan
        while taken.pop((r, col), False):
            row.append(None)
            col += 1
        grid.append(row)
    width = max((len(r) for r in grid), default=1)
    columns = {f"c{i}": [r[i] if i < len(r) else None for r in grid] for i in range(width)}
    return RawGrid(pl.DataFrame(columns, schema={c: pl.String for c in columns}), 1, HTML, encoding)


def check_cells(grid: RawGrid, limits: Limits) -> RawGrid:
    """Refuse a grid with a cell longer than any roster cell can be (the row and column named)."""
    if grid.cells.height > limits.max_rows:
        raise UnreadableFile(f"{grid.cells.height} rows (more than {limits.max_rows})")
    lengths = grid.cells.select(pl.col(c).str.len_chars().max() for c in grid.cells.columns).row(0)
    for col, length in enumerate(lengths):
        if length is not None and length > limits.max_cell_chars:
            row = grid.cells.with_row_index("_r").filter(pl.col(f"c{col}").str.len_chars() > limits.max_cell_chars)["_r"][0]
            raise UnreadableFile(
                f"row {grid.first_row + row}, column {col + 1}: a cell of {length} characters "
                f"(more than {limits.max_cell_chars}): not a roster cell"
            )
    return grid


def read_grid(path: Path, limits: Limits = DEFAULT_LIMITS) -> RawGrid:
    """Read ``path`` whatever its real format (the extension is not trusted)."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise UnreadableFile(f"{size:,} bytes (more than {limits.max_bytes:,})")
    with open(path, "rb") as fh:
        head = fh.read(512)
    fmt = sniff_format(head)
    if fmt in (XLSX, XLS):
        return check_cells(read_excel_grid(path, fmt, limits), limits)
    data = path.read_bytes()
    if fmt == HTML:
        return check_cells(read_html_grid(data, limits), limits)
    return check_cells(read_csv_grid(data, limits, tab=path.suffix.lower() == ".tsv"), limits)

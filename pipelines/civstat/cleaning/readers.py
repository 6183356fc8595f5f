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
    """The file cannot be read at all (the message names the file and why)."""


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
    """UTF-8 (with or without BOM) when it decodes, else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8, GBK or GB18030 text (byte {exc.start} cannot be decoded)") from exc


def _named(df: pl.DataFrame) -> pl.DataFrame:
    return df.rename({old: f"c{i}" for i, old in enumerate(df.columns)})


def _csv_width(text: str, lines: int | None) -> int:
    sample = text if lines is None else "\n".join(text.split("\n", lines)[:lines])
    return max((len(row) for row in csv.reader(io.StringIO(sample))), default=1)


def read_csv_grid(data: bytes) -> RawGrid:
    text, encoding = decode_text(data)
    payload = data[3:] if encoding == "utf-8-sig" else data if encoding == "utf-8" else text.encode("utf-8")
    del data
    for width in (_csv_width(text, 2000), None):
        width = width or _csv_width(text, None)
        try:
            cells = pl.read_csv(
                payload,
                has_header=False,
                infer_schema=False,
                schema={f"c{i}": pl.String for i in range(width)},
                missing_columns="insert",
                quote_char='"',
            )
            return RawGrid(cells, 1, CSV, encoding)
        except pl.exceptions.ComputeError as exc:
            if "more fields" not in str(exc):
                raise UnreadableFile(f"CSV cannot be parsed: {exc}") from exc
    raise AssertionError("unreachable")


def _xlsx_first_row(path: Path) -> int:
    """calamine starts a sheet at its first non-empty row; find that row's number in the XML."""
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        if not names:
            return 1
        with archive.open(names[0]) as sheet:
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
        names = sorted(n for n in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        for name in names:  # every sheet: the roster may be on any of them
            for match in _NUMERIC_CELL.finditer(archive.read(name)):
                value = float(match.group(1))
                if abs(value) >= 1e14:
                    found.append(str(int(value)))
    return found


def _excel_display(big: pl.Expr) -> pl.Expr:
    """How Excel shows a big number in a General cell: 4.30621E+17."""
    digits = big.str.strip_chars_start("-")
    return digits.str.slice(0, 1) + "." + digits.str.slice(1, 5).str.strip_chars_end("0") + "E+" + (digits.str.len_chars() - 1).cast(pl.String)


def read_excel_grid(path: Path, fmt: str) -> RawGrid:
    import fastexcel

    try:
        reader = fastexcel.read_excel(path)
    except Exception as exc:  # fastexcel raises its own error types for broken workbooks
        raise UnreadableFile(f"not a readable {fmt} workbook: {exc}") from exc
    with_data = []
    for name in reader.sheet_names:
        sheet = reader.load_sheet(name, header_row=None, dtypes="string")
        if sheet.height:
            with_data.append((name, sheet))
    if not with_data:
        return RawGrid(pl.DataFrame({"c0": []}, schema={"c0": pl.String}), 1, fmt)
    if len(with_data) > 1:
        names = ", ".join(n for n, _ in with_data)
        raise UnreadableFile(f"the workbook has {len(with_data)} sheets with data ({names}); civstat reads one roster per file: save each sheet as its own file")
    cells = _named(with_data[0][1].to_polars())
    first_row = 1
    if fmt == XLSX:
        first_row = _xlsx_first_row(path)
        big = _xlsx_big_numbers(path)
        if big:
            cells = cells.with_columns(pl.when(pl.col(c).is_in(big)).then(_excel_display(pl.col(c))).otherwise(pl.col(c)).alias(c) for c in cells.columns)
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


def read_html_grid(data: bytes) -> RawGrid:
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
            if col + colspan > MAX_COLUMNS:
                raise UnreadableFile(f"an HTML table row is wider than {MAX_COLUMNS} columns: not a roster export")
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


def read_grid(path: Path) -> RawGrid:
    """Read ``path`` whatever its real format (the extension is not trusted)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    fmt = sniff_format(head)
    if fmt in (XLSX, XLS):
        return read_excel_grid(path, fmt)
    data = path.read_bytes()
    return read_html_grid(data) if fmt == HTML else read_csv_grid(data)

"""Write rendered roster cells as staff export them: .xlsx with title rows, merged two-row headers
and footers; legacy .xls; .xls that is really an HTML table; CSV in UTF-8, UTF-8 with BOM, GBK or
GB18030. Returns the spreadsheet row number of the first data row."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import polars as pl

from civstat.generate.render import NUMERIC_MARK, Rendered, Style

SUB_FIELD_LABEL = "其他信息"


def header_rows(r: Rendered, style: Style) -> list[list[str | None]]:
    """The header as rows of labels (one or two rows)."""
    width = len(r.header)
    if style.header_variant == "group_above" and width >= 4:
        top: list[str | None] = [None] * width
        top[0], top[2] = "基本信息", "保障信息"
        return [top, list(r.header)]
    if style.header_variant == "sub_fields" and width >= 4:
        top = list(r.header[:-2]) + [SUB_FIELD_LABEL, None]
        bottom: list[str | None] = [None] * (width - 2) + list(r.header[-2:])
        return [top, bottom]
    return [list(r.header)]


def title_rows(title: str, style: Style, unit_line: str) -> list[str]:
    return [title, unit_line] if style.title else []


def write(path: Path, r: Rendered, style: Style, title: str, unit_line: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    titles = title_rows(title, style, unit_line)
    headers = header_rows(r, style)
    first_data_row = len(titles) + len(headers) + 1
    if style.fmt == "xlsx":
        _write_xlsx(path, r, style, titles, headers)
    elif style.fmt == "xls":
        _write_xls(path, r, titles, headers)
    elif style.fmt == "html":
        _write_html(path, r, style, titles, headers)
    else:
        _write_csv(path, r, style, titles, headers)
    return first_data_row


def _write_xlsx(path: Path, r: Rendered, style: Style, titles: list[str], headers: list[list[str | None]]) -> None:
    """With xlsxwriter: title rows merged across the table, upper header labels merged over the
    columns they head, IDs that went through Excel as number cells, real date cells in the
    "excel_date" style. (xlsx is chosen only for rosters of a few thousand rows.)"""
    import xlsxwriter

    width = len(r.header)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False})
    sheet = book.add_worksheet("花名册")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    row = 0
    for text in titles:
        if width > 1:
            sheet.merge_range(row, 0, row, width - 1, text)
        else:
            sheet.write_string(row, 0, text)
        row += 1
    for n, labels in enumerate(headers):
        upper = n < len(headers) - 1
        starts = [i for i, label in enumerate(labels) if label is not None] + [width]
        for a, b in zip(starts, starts[1:]):
            if upper and b - a > 1:  # an upper header row: each label merged over the empty cells after it
                sheet.merge_range(row, a, row, b - 1, labels[a])
            else:
                sheet.write_string(row, a, labels[a])
        row += 1
    as_dates = {r.cells.columns.index(c) for c in r.date_columns} if style.date_format == "excel_date" else set()
    for values in r.cells.iter_rows():
        for col, value in enumerate(values):
            if value is None:
                continue
            if value.startswith(NUMERIC_MARK):
                sheet.write_number(row, col, float(value[len(NUMERIC_MARK) :]))
            elif col in as_dates and (day := _iso_date(value)) is not None:
                sheet.write_datetime(row, col, day, date_format)
            else:
                sheet.write_string(row, col, value)
        row += 1
    book.close()


def _iso_date(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None  # an impossible date (a planted error) stays text, as Excel would keep it


def _write_xls(path: Path, r: Rendered, titles: list[str], headers: list[list[str | None]]) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    row = 0
    for text in titles:
        sheet.write(row, 0, text)
        row += 1
    for labels in headers:
        for col, label in enumerate(labels):
            if label is not None:
                sheet.write(row, col, label)
        row += 1
    for values in r.cells.iter_rows():
        for col, value in enumerate(values):
            if value is not None:
                sheet.write(row, col, value)
        row += 1
    book.save(str(path))


def _write_html(path: Path, r: Rendered, style: Style, titles: list[str], headers: list[list[str | None]]) -> None:
    width = len(r.header)
    esc = lambda v: html.escape(v) if v else ""
    parts = [
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={"gbk" if style.encoding in ("gbk", "gb18030") else "utf-8"}"></head><body><table border="1">'
    ]
    parts += [f'<tr><td colspan="{width}">{esc(t)}</td></tr>' for t in titles]
    for labels in headers:
        parts.append("<tr>" + "".join(f"<th>{esc(label)}</th>" for label in labels) + "</tr>")
    cell = lambda c: pl.lit("<td>") + pl.col(c).fill_null("").str.replace_all("&", "&amp;").str.replace_all("<", "&lt;") + pl.lit("</td>")
    rows = r.cells.select(pl.concat_str([pl.lit("<tr>"), *[cell(c) for c in r.cells.columns], pl.lit("</tr>")]).alias("row"))["row"]
    parts.append("\n".join(rows.to_list()))
    parts.append("</table></body></html>")
    text = "\n".join(parts)
    path.write_bytes(text.encode("gb18030" if style.encoding in ("gbk", "gb18030") else "utf-8"))


def _write_csv(path: Path, r: Rendered, style: Style, titles: list[str], headers: list[list[str | None]]) -> None:
    """Title and header lines through the csv module (quoting as Excel does), the rows by Polars."""
    import csv
    import io

    head = io.StringIO()
    writer = csv.writer(head, lineterminator="\n")
    writer.writerows([[t] for t in titles])
    writer.writerows([["" if v is None else v for v in h] for h in headers])
    body = r.cells.write_csv(include_header=False, null_value="")
    codec = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gbk", "gb18030": "gb18030"}[style.encoding]
    path.write_bytes((head.getvalue() + body).encode(codec))

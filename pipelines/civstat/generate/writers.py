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


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (  # style 0: general; style 1: a yyyy-mm-dd date
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    "</styleSheet>"
)


def _col_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _xml_escape(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def _write_xlsx(path: Path, r: Rendered, style: Style, titles: list[str], headers: list[list[str | None]]) -> None:
    """A minimal, valid .xlsx written column-wise: every data row's XML is built by Polars in one
    pass (inline strings, numeric cells for IDs that went through Excel, real date cells in the
    "excel_date" style), so that large rosters are written in a fraction of a second."""
    import zipfile

    width = len(r.header)
    letters = [_col_letter(i) for i in range(width)]
    head_rows: list[str] = []
    merges: list[str] = []
    row_no = 0
    for text in titles:
        row_no += 1
        head_rows.append(f'<row r="{row_no}"><c r="A{row_no}" t="inlineStr"><is><t>{html.escape(text, quote=False)}</t></is></c></row>')
        if width > 1:
            merges.append(f'<mergeCell ref="A{row_no}:{letters[-1]}{row_no}"/>')
    for n, labels in enumerate(headers):
        row_no += 1
        cells = "".join(
            f'<c r="{letters[i]}{row_no}" t="inlineStr"><is><t>{html.escape(label, quote=False)}</t></is></c>'
            for i, label in enumerate(labels)
            if label is not None
        )
        head_rows.append(f'<row r="{row_no}">{cells}</row>')
        if n < len(headers) - 1:  # an upper header row: each label is merged over the empty cells after it
            starts = [i for i, label in enumerate(labels) if label is not None] + [width]
            merges += [f'<mergeCell ref="{letters[a]}{row_no}:{letters[b - 1]}{row_no}"/>' for a, b in zip(starts, starts[1:]) if b - a > 1]
    first_data = row_no + 1
    as_dates = set(r.date_columns) if style.date_format == "excel_date" else set()
    number = pl.int_range(first_data, first_data + pl.len()).cast(pl.String)
    cell_xml = []
    for i, c in enumerate(r.cells.columns):
        ref = pl.lit(letters[i]) + number
        value = pl.col(c)
        is_number = value.str.starts_with(NUMERIC_MARK)
        as_serial = (value.str.to_date("%Y-%m-%d", strict=False) - pl.lit(dt.date(1899, 12, 30))).dt.total_days()
        text_cell = pl.format('<c r="{}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>', ref, _xml_escape(value))
        number_cell = pl.format('<c r="{}"><v>{}</v></c>', ref, value.str.strip_prefix(NUMERIC_MARK))
        date_cell = pl.format('<c r="{}" s="1"><v>{}</v></c>', ref, as_serial.cast(pl.String))
        cell = pl.when(value.is_null()).then(pl.lit(""))
        if c in as_dates:
            cell = cell.when(as_serial.is_not_null()).then(date_cell)
        cell_xml.append(cell.when(is_number).then(number_cell).otherwise(text_cell))
    rows = r.cells.select(pl.format('<row r="{}">{}</row>', number, pl.concat_str(cell_xml)).alias("xml"))["xml"]
    merge_xml = f'<mergeCells count="{len(merges)}">{"".join(merges)}</mergeCells>' if merges else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + "".join(head_rows)
        + "".join(rows.to_list())
        + "</sheetData>"
        + merge_xml
        + "</worksheet>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _STYLES)
        book.writestr("xl/worksheets/sheet1.xml", sheet)


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


def _csv_line(values: list[str | None]) -> str:
    def q(v: str | None) -> str:
        if v is None:
            return ""
        return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in ',"\n') else v

    return ",".join(q(v) for v in values)


def _write_csv(path: Path, r: Rendered, style: Style, titles: list[str], headers: list[list[str | None]]) -> None:
    head = "".join(_csv_line([t]) + "\n" for t in titles) + "".join(_csv_line(h) + "\n" for h in headers)
    body = r.cells.write_csv(include_header=False, null_value="")
    text = head + body
    codec = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gbk", "gb18030": "gb18030"}[style.encoding]
    path.write_bytes(text.encode(codec))

"""Every file format a bureau exports reads to the same cells, with spreadsheet row numbers."""

from __future__ import annotations

import zipfile

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civstat.cleaning.readers import UnreadableFile, read_grid, read_grids
from rosters import FAMILY_HEADER, FAMILY_ROWS, TITLE, write_csv, write_html_xls, write_xls, write_xlsx

ROWS = [[TITLE], FAMILY_HEADER, *FAMILY_ROWS]


def cells(path) -> list[list[str | None]]:
    grid = read_grid(path)
    return [[v for v in row if v is not None] for row in grid.cells.iter_rows()]


EXPECTED = [[TITLE], FAMILY_HEADER, *FAMILY_ROWS]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_encoding_reads_the_same(tmp_path, encoding):
    path = write_csv(tmp_path / "f.csv", ROWS, encoding)
    grid = read_grid(path)
    assert cells(path) == EXPECTED
    assert grid.encoding == encoding if encoding != "gbk" else grid.encoding == "gb18030"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_excels_unicode_text_save_reads_the_same(tmp_path, encoding):
    """Excel's "Unicode 文本 (*.txt)": UTF-16 with a byte-order mark, tab-separated, CRLF line ends."""
    text = "\r\n".join("\t".join(row) for row in ROWS) + "\r\n"
    path = tmp_path / "f.txt"
    path.write_bytes((b"\xfe\xff" if encoding == "utf-16-be" else b"") + text.encode(encoding))
    assert cells(path) == EXPECTED
    assert read_grid(path).encoding == "utf-16"


def test_utf16_that_does_not_decode_is_refused_saying_where(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes("姓名\t身份证号\r\n".encode("utf-16") + b"\x00\xdc")  # a lone low surrogate
    with pytest.raises(UnreadableFile, match="UTF-16 text, but bytes"):
        read_grid(path)


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_cells_merged_over_data_rows_are_filled_down_and_the_header_merges_left_alone(tmp_path, fmt):
    from civstat.cleaning.readers import fill_merged_down

    rows = [["示范县低保家庭花名册", None, None], ["户主姓名", "所属社区/村", "状态"], ["测试甲", "东风社区", "在保"]]
    rows += [["测试乙", None, "在保"], ["测试丙", "红旗村", None], ["测试丁", None, None]]
    # (first row, first column, last row, last column): the title, 东风社区 over 2 rows, 红旗村 over 2 rows and 2 columns
    merges = [(0, 0, 0, 2), (2, 1, 3, 1), (4, 1, 5, 2)]
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        for r0, c0, r1, c1 in merges:
            book.active.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
        path = tmp_path / "f.xlsx"
        book.save(path)
    else:
        import xlwt

        book = xlwt.Workbook(encoding="utf-8")
        sheet = book.add_sheet("Sheet1")
        for r0, c0, r1, c1 in merges:
            sheet.write_merge(r0, r1, c0, c1, rows[r0][c0])
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is not None and not any(r0 <= r <= r1 and c0 <= c <= c1 for r0, c0, r1, c1 in merges):
                    sheet.write(r, c, v)
        path = tmp_path / "f.xls"
        book.save(str(path))
    grid = read_grid(path)
    assert sorted(grid.merged) == sorted(merges)
    filled, n = fill_merged_down(grid, 2)
    assert n == 2
    assert filled.cells.rows() == [
        ("示范县低保家庭花名册", None, None),
        ("户主姓名", "所属社区/村", "状态"),
        ("测试甲", "东风社区", "在保"),
        ("测试乙", "东风社区", "在保"),
        ("测试丙", "红旗村", None),  # the cell the merge covers in its first row is empty, as Excel shows it
        ("测试丁", "红旗村", None),  # a cell merged across columns too belongs to its first column
    ]


def test_an_xls_that_is_really_an_excel_2003_xml_spreadsheet(tmp_path):
    """SpreadsheetML, what some systems export as .xls: rows and columns skipped by ss:Index, merged
    cells, a hidden code sheet, a number of 18 digits as Excel shows it, a date cell."""
    head = "".join(
        f'<Cell><Data ss:Type="String">{h}</Data></Cell>' for h in ["户主姓名", "户主身份证号", "保障人口数", "所属社区/村", "审批日期"]
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<?mso-application progid="Excel.Sheet"?>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" xmlns:o="urn:schemas-microsoft-com:office:office"
 xmlns:x="urn:schemas-microsoft-com:office:excel" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:html="http://www.w3.org/TR/REC-html40">
 <Worksheet ss:Name="花名册"><Table>
  <Row><Cell ss:MergeAcross="4"><Data ss:Type="String">{TITLE}</Data></Cell></Row>
  <Row ss:Index="3">{head}</Row>
  <Row><Cell><Data ss:Type="String">测试甲</Data></Cell><Cell><Data ss:Type="String">11010519491231002X</Data></Cell>
   <Cell><Data ss:Type="Number">2</Data></Cell><Cell ss:MergeDown="1"><Data ss:Type="String">东风<html:B>社区</html:B></Data></Cell>
   <Cell><Data ss:Type="DateTime">2025-03-05T00:00:00.000</Data></Cell></Row>
  <Row><Cell><Data ss:Type="String">测试乙</Data></Cell><Cell><Data ss:Type="Number">430621198001010000</Data></Cell>
   <Cell ss:Index="5"><Data ss:Type="String">2025/3/6</Data></Cell></Row>
 </Table></Worksheet>
 <Worksheet ss:Name="代码表"><Table><Row><Cell><Data ss:Type="String">城市</Data></Cell></Row></Table>
  <WorksheetOptions xmlns="urn:schemas-microsoft-com:office:excel"><Visible>SheetHidden</Visible></WorksheetOptions></Worksheet>
</Workbook>"""
    path = tmp_path / "f.xls"
    path.write_text(text, encoding="utf-8")
    grid = read_grid(path)
    assert grid.format == "xml2003"
    assert grid.cells.rows() == [
        (TITLE, None, None, None, None),
        (None, None, None, None, None),
        ("户主姓名", "户主身份证号", "保障人口数", "所属社区/村", "审批日期"),
        ("测试甲", "11010519491231002X", "2", "东风社区", "2025-03-05 00:00:00"),
        ("测试乙", "4.30621E+17", None, None, "2025/3/6"),
    ]
    assert grid.merged == ((0, 0, 0, 4), (3, 3, 4, 3))
    path.write_text(text.replace("</Table></Worksheet>", "</Table", 1), encoding="utf-8")
    with pytest.raises(UnreadableFile, match=r"not a well-formed Excel 2003 XML spreadsheet \(line \d+\)"):
        read_grid(path)


def test_xlsx_with_a_merged_title_row(tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", ROWS, merge_title=True)
    assert cells(path) == EXPECTED
    assert read_grid(path).format == "xlsx"


def test_xlsx_row_numbers_count_leading_empty_rows(tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", ROWS, start_row=3)
    grid = read_grid(path)
    assert grid.first_row == 4  # the title sits in spreadsheet row 4
    assert grid.cells.row(0)[0] == TITLE


def test_an_id_typed_into_excel_as_a_number_reads_as_excel_shows_it(tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", ROWS, numeric={(2, 1): 430621198001010000.0})
    assert read_grid(path).cells.row(2)[1] == "4.30621E+17"


def test_legacy_xls(tmp_path):
    path = write_xls(tmp_path / "f.xls", ROWS)
    assert cells(path) == EXPECTED
    assert read_grid(path).format == "xls"


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_an_xls_that_is_really_an_html_table(tmp_path, encoding):
    path = write_html_xls(tmp_path / "f.xls", ROWS, encoding)
    assert cells(path) == EXPECTED
    assert read_grid(path).format == "html"


def test_blank_lines_are_kept_so_row_numbers_match_the_file(tmp_path):
    path = write_csv(tmp_path / "f.csv", [[TITLE], [], FAMILY_HEADER, FAMILY_ROWS[0], [], FAMILY_ROWS[1]])
    grid = read_grid(path)
    assert grid.cells.height == 6
    assert grid.cells.row(4) == (None,) * grid.cells.width


def test_rows_longer_than_the_first_lines_are_not_cut(tmp_path):
    rows = [[TITLE]] * 2500 + [FAMILY_HEADER, FAMILY_ROWS[0] + ["extra"]]
    grid = read_grid(write_csv(tmp_path / "f.csv", rows))
    assert grid.cells.row(-1)[-1] == "extra"


def test_undecodable_bytes_are_a_clear_error(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"\x81\x30\xff\xfe\x00bad")
    with pytest.raises(UnreadableFile, match="cannot be decoded|not UTF-8"):
        read_grid(path)


def test_a_workbook_with_two_filled_sheets_is_read_sheet_by_sheet_never_half_read(tmp_path):
    import xlsxwriter

    path = tmp_path / "f.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("城关镇").write_row(0, 0, FAMILY_HEADER)
    book.add_worksheet("石门镇").write_row(0, 0, FAMILY_HEADER)
    book.close()
    assert [(g.sheet, g.cells.row(0)[0]) for g in read_grids(path)] == [("城关镇", "户主姓名"), ("石门镇", "户主姓名")]
    with pytest.raises(UnreadableFile, match="2 sheets with data"):
        read_grid(path)  # the one-table reader does not take the first sheet for the file


def test_a_hidden_sheet_is_not_a_roster(tmp_path):
    """A template's drop-down lists or a system's code table on a hidden sheet: the visible sheet is read."""
    import xlsxwriter

    path = tmp_path / "f.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("花名册").write_row(0, 0, FAMILY_HEADER)
    codes = book.add_worksheet("字典")
    codes.write_column(0, 0, ["在保", "停保"])
    codes.hide()
    book.close()
    assert read_grid(path).cells.row(0)[: len(FAMILY_HEADER)] == tuple(FAMILY_HEADER)


def test_a_sheet_of_notes_beside_the_roster_is_not_read_beside_one_table_or_two(tmp_path):
    import xlsxwriter

    path = tmp_path / "f.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("填表说明").write_column(0, 0, ["填表说明", "1. 身份证号填18位", "2. 金额单位为元"])
    book.add_worksheet("花名册").write_row(0, 0, FAMILY_HEADER)
    book.close()
    assert read_grid(path).cells.row(0)[: len(FAMILY_HEADER)] == tuple(FAMILY_HEADER)
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("填表说明").write_column(0, 0, ["填表说明", "1. 身份证号填18位"])
    book.add_worksheet("城关镇").write_row(0, 0, FAMILY_HEADER)
    book.add_worksheet("石门镇").write_row(0, 0, FAMILY_HEADER)
    book.close()
    assert [g.sheet for g in read_grids(path)] == ["城关镇", "石门镇"]


def test_cells_are_never_typed(tmp_path):
    path = write_csv(tmp_path / "f.csv", [FAMILY_HEADER, ["a", "012345", "1", "1", "1", "x", "y", "z", "20250305", "在保"]])
    grid = read_grid(path)
    assert all(dtype == pl.String for dtype in grid.cells.dtypes)
    assert grid.cells.row(1)[1] == "012345"


def test_an_html_xls_with_a_two_row_merged_header_keeps_every_value_under_its_header():
    """rowspan and colspan as web systems write them: 序号 and 姓名 span two rows, 保障信息 spans
    two columns over 人数 and 金额; a data cell spanning two rows is empty in the second, as a
    spreadsheet shows it."""
    from civstat.cleaning.readers import read_html_grid

    page = """<html><body><table>
      <tr><td colspan="4">XX县低保花名册</td></tr>
      <tr><th rowspan="2">序号</th><th rowspan="2">姓名</th><th colspan="2">保障信息</th></tr>
      <tr><th>人数</th><th>金额</th></tr>
      <tr><td>1</td><td rowspan="2">测试甲</td><td>2</td><td>1,200</td></tr>
      <tr><td>2</td><td>1</td><td>600</td></tr>
    </table></body></html>"""
    grid = read_html_grid(page.encode("utf-8")).cells
    assert grid.rows() == [
        ("XX县低保花名册", None, None, None),
        ("序号", "姓名", "保障信息", None),
        (None, None, "人数", "金额"),
        ("1", "测试甲", "2", "1,200"),
        ("2", None, "1", "600"),
    ]


def test_an_html_table_reads_as_a_browser_shows_it():
    """Comments hide their tags; nested tags, <br> and character references make one cell's text; a
    <td/> is an empty cell; a '>' inside a quoted attribute does not end the tag; a cell still open
    at the end of the file is not a cell."""
    from civstat.cleaning.readers import read_html_grid

    page = (
        "<table><!-- <tr><td>hidden</td></tr> -->"
        '<tr><TD>a &amp; <b>b</b><br>c</TD><td/><td title="x>y">t</td></tr>'
        '<tr><th rowspan="2">h</th><td>1</td></tr>'
        "<tr><td>2</td></tr>"
        "<tr><td>open at the end"
    )
    assert read_html_grid(page.encode("utf-8")).cells.rows() == [
        ("a & b c", None, "t"),
        ("h", "1", None),
        (None, "2", None),
        (None, None, None),
    ]


_TEXT = st.lists(
    st.sampled_from(["a", "测", "1", " ", "\u3000", "\n", "\x1c", "&amp;", "&nbsp;", "<b>b</b>", "<br>", ">", "/", "span", "'", '"']),
    max_size=6,
).map("".join)
_PLAIN_TAG = st.sampled_from(["<td>", "<th>", '<td class="xl65">', "<td style='a/b'>", "<td x:str>", "<td\nalign=left>"])
_ODD_CELL = st.one_of(
    st.builds(lambda n, s: f'<td {n}span="{s}">', st.sampled_from(["row", "col", "ROW"]), st.integers(0, 3)),
    st.sampled_from(["<td/>", "<td />", "<TD>", '<td title="a>b">', "<td colspan=2/>", "<td a=b/c>"]),
)
_END = st.sampled_from(["</td>", "</th>", "</td >", "", "</TD>"])


@st.composite
def _html_rows(draw) -> str:
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        cells = "".join(
            draw(st.one_of(_PLAIN_TAG, _ODD_CELL)) + draw(_TEXT) + draw(_END) + draw(st.sampled_from(["", "\n", " ", "x"]))
            for _ in range(draw(st.integers(0, 4)))
        )
        rows.append(
            draw(st.sampled_from(["<tr>", "<tr class=a>", "<TR>", "<tr\n>", "<track>"]))
            + cells
            + draw(st.sampled_from(["</tr>", "</tr>\n", "", "</tr></tbody>"]))
        )
    head = draw(st.sampled_from(["", "<html><body><table>", "<table><!-- <tr><td>hidden</td></tr> -->", "<td>before</td>"]))
    tail = draw(st.sampled_from(["", "</table></body></html>", "<tr><td>open at the end", "</table><table><tr><td>2</td></tr></table>"]))
    return head + "".join(rows) + tail


@settings(max_examples=400, deadline=None)
@given(_html_rows())
def test_plain_rows_read_by_polars_read_as_the_general_html_parser_reads_them(page):
    """Rows of plain cells are read by Polars, the rest by the general parser: the cells are the same
    as the general parser's alone, whatever the mix (spans, markup, references, odd tags)."""
    from civstat.cleaning.readers import _grid_frame, _span_grid, _table_rows, read_html_grid

    whole = _grid_frame(_span_grid(_table_rows(page), 16384)[0])
    assert read_html_grid(page.encode("utf-8")).cells.rows() == whole.rows()


def test_an_html_export_of_plain_rows_under_a_merged_title_and_over_a_footer():
    """The common export: a merged title, a header, plain data rows (read by Polars), a merged footer."""
    from civstat.cleaning.readers import _segments, read_html_grid

    page = (
        '<html><body><table border="1">\n<tr><td colspan="3">XX县低保花名册</td></tr>\n'
        "<tr><th>姓名</th><th>人数</th><th>金额</th></tr>\n"
        "<tr><td>测试甲</td><td> 2 </td><td>1,200</td></tr>\n"
        "<tr><td class=xl65>测试乙</td><td></td><td>600</td></tr>\n"
        '<tr><td colspan="2">合计</td><td>1,800</td></tr>\n</table></body></html>'
    )
    assert [plain for plain, _ in _segments(page)] == [False, True, False]
    assert read_html_grid(page.encode("utf-8")).cells.rows() == [
        ("XX县低保花名册", None, None),
        ("姓名", "人数", "金额"),
        ("测试甲", "2", "1,200"),
        ("测试乙", None, "600"),
        ("合计", None, "1,800"),
    ]


def test_a_number_cell_reads_as_excel_shows_it_but_text_with_the_same_digits_stays_text(tmp_path):
    """Which cells are numbers, the reader says: an ID typed as text is never mistaken for one."""
    number = 430621198001010000.0
    digits = str(int(number))  # a number cell as text: the double's exact integer (not the ID typed)
    rows = [[TITLE], FAMILY_HEADER, [FAMILY_ROWS[0][0], None, *FAMILY_ROWS[0][2:]], [FAMILY_ROWS[1][0], digits, *FAMILY_ROWS[1][2:]]]
    cells = read_grid(write_xlsx(tmp_path / "f.xlsx", rows, numeric={(2, 1): number})).cells
    assert (cells.row(2)[1], cells.row(3)[1]) == ("4.30621E+17", digits)


def test_a_legacy_xls_counts_leading_empty_rows_and_shows_a_number_id_as_excel_does(tmp_path):
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    for c, label in enumerate(FAMILY_HEADER):
        sheet.write(2, c, label)
    sheet.write(3, 0, "测试甲")
    sheet.write(3, 1, 430621198001010000.0)
    book.save(str(tmp_path / "f.xls"))
    grid = read_grid(tmp_path / "f.xls")
    assert grid.first_row == 3 and grid.cells.row(0)[0] == FAMILY_HEADER[0]
    assert grid.cells.row(1)[1] == "4.30621E+17"


def _handmade_xlsx(path, sheet_xml: str, shared: list[str], compression: int = zipfile.ZIP_STORED) -> None:
    """A workbook written by hand, as other tools write them: an empty first sheet, then the data;
    its members stored, or compressed as ``compression`` (a zipfile constant) says."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    part = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    files = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{part}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{part}.worksheet+xml"/>'
        f'<Override PartName="/xl/worksheets/data.xml" ContentType="{part}.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{part}.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook {ns}><sheets><sheet name="空" sheetId="1" r:id="rId7"/>'
        '<sheet name="名册" sheetId="2" r:id="rId3"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId3" Type="{rel}/worksheet" Target="/xl/worksheets/data.xml"/>'
        f'<Relationship Id="rId7" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId9" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0"?><worksheet {ns}><sheetData/></worksheet>',
        "xl/worksheets/data.xml": f'<?xml version="1.0"?><worksheet {ns}><sheetData>{sheet_xml}</sheetData></worksheet>',
        "xl/sharedStrings.xml": f'<?xml version="1.0"?><sst {ns}>' + "".join(f"<si><t>{s}</t></si>" for s in shared) + "</sst>",
    }
    with zipfile.ZipFile(path, "w", compression=compression) as book:
        for name, text in files.items():
            book.writestr(name, text)


@pytest.mark.parametrize("compression", ["stored", "deflated"])
def test_number_cells_of_a_handmade_xlsx_come_from_its_xml_as_the_reader_types_them(tmp_path, compression):
    """Which long cells are numbers is read from the sheet's XML in one pass (no second load): a
    number cell, a formula's number result, a negative number and one in E notation show as Excel
    shows them; digits as a shared string, an inline string or a formula's text result stay text; a
    small number in E notation is no ID. Checked against the reader's own cell types, whether the
    workbook's parts are stored or deflated (the reader knows no other compression)."""
    import fastexcel

    from civstat.cleaning.readers import xlsx_number_cells

    text_id, inline_id, formula_text = "430621198001011234", "43062119800101123X", "110101199003071234"
    rows = (
        '<row r="3"><c r="C3" t="s"><v>0</v></c><c r="D3" t="s"><v>1</v></c></row>'
        '<row r="4"><c r="C4" t="s"><v>2</v></c><c r="D4" s="1"><v>4.30621198001011E+17</v></c></row>'
        '<row r="5"><c r="C5" t="s"><v>3</v></c><c r="D5" t="s"><v>4</v></c></row>'
        f'<row r="6"><c r="C6" t="s"><v>2</v></c><c r="D6" t="inlineStr"><is><t>{inline_id}</t></is></c></row>'
        '<row r="7"><c r="C7" t="s"><v>2</v></c><c r="D7"><f>A1*1</f><v>110101199003071000</v></c></row>'
        f'<row r="8"><c r="C8" t="s"><v>2</v></c><c r="D8" t="str"><f>TEXT(A1,"0")</f><v>{formula_text}</v></c></row>'
        '<row r="9"><c r="C9" t="s"><v>2</v></c><c t="n" r="D9"><v>-123456789012345</v></c><c r="AA9"><v>1.5E-3</v></c></row>'
    )
    path = tmp_path / "名册.xlsx"
    _handmade_xlsx(path, rows, ["标题", "身份证号", "姓名", "测试乙", text_id], getattr(zipfile, f"ZIP_{compression.upper()}"))

    found = xlsx_number_cells(path, 1)
    reader = fastexcel.read_excel(path)
    strings = reader.load_sheet(1, header_row=None, skip_rows=0, dtypes="string")
    typed = reader.load_sheet(1, header_row=None, skip_rows=0, dtypes="boolean").to_polars()
    texts = strings.to_polars()
    columns = [c.absolute_index for c in strings.selected_columns]
    by_reader = {
        (r, columns[j])
        for j, name in enumerate(typed.columns)
        for r in range(typed.height)
        if typed[name][r] is not None and (texts[texts.columns[j]][r] or "").lstrip("-").isdigit() and len(texts[texts.columns[j]][r]) >= 15
    }
    assert found == by_reader == {(3, 3), (6, 3), (8, 3)}

    grid = read_grid(path)
    ids = [row[1] for row in grid.cells.iter_rows()]
    assert grid.first_row == 3
    assert ids[:6] == ["身份证号", "4.30621E+17", text_id, inline_id, "1.10101E+17", formula_text]
    assert ids[6] == "-1.23457E+14"  # the sign is kept; six significant digits, rounded as Excel rounds them


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("430621198001011234", "4.30621E+17"),
        ("430621598001011234", "4.30622E+17"),  # rounded, not cut
        ("430621499999999999", "4.30622E+17"),  # 4.30621500000000E+17 to Excel's 15 digits, then 4.30622E+17
        ("430621449999999999", "4.30621E+17"),
        ("999999500000000000", "1E+18"),  # the carry moves the exponent
        ("400000000000000000", "4E+17"),  # no point without decimals
        ("430620000000000000", "4.3062E+17"),
        ("-123456789012345", "-1.23457E+14"),
        ("123456789012345", "1.23457E+14"),
        ("9223372036854775807", "9.22337E+18"),
    ],
)
def test_a_long_number_reads_as_excel_shows_it_in_a_general_cell(number, shown):
    from civstat.cleaning.readers import _excel_display

    assert pl.select(_excel_display(pl.lit(number))).item() == shown


def test_a_cell_longer_than_the_limit_is_refused_by_its_row_and_column_and_characters_not_bytes_count(tmp_path):
    from civstat.cleaning.readers import Limits

    limits = Limits(max_cell_chars=10, max_rows=100, max_columns=10, max_bytes=10_000)
    fine = write_csv(tmp_path / "fine.csv", [["姓名", "备注"], ["张三", "一二三四五六七八九十"]], "utf-8")  # 10 characters, 30 bytes
    assert read_grid(fine, limits).cells.height == 2
    long = write_csv(tmp_path / "long.csv", [["姓名", "备注"], ["张三", "短"], ["李四", "x" * 11]], "utf-8")
    with pytest.raises(UnreadableFile, match=r"row 3, column 2: a cell of 11 characters \(more than 10\)"):
        read_grid(long, limits)


@pytest.mark.parametrize(
    "encoding,line_end,late_wide_line",
    [("utf-8", "\n", False), ("utf-8-sig", "\n", False), ("utf-8", "\n", True), ("gbk", "\n", False), ("utf-8", "\r\n", False)],
)
def test_a_large_csv_read_as_bytes_gives_what_decoding_it_whole_gives(tmp_path, encoding, line_end, late_wide_line):
    """A UTF-8 CSV past the head civstat decodes (CSV_HEAD) is read by Polars from its bytes; a GBK
    file, other line ends or a wider line further down fall back to the reader that decodes the whole
    text. Either way the cells and the encoding are the same."""
    from civstat.cleaning import readers

    rows = [["城市低保人员花名册"], ["姓名", "身份证号", "地址"]]
    rows += [[f"张三{i}", f"11010519491231{i % 1000:03d}X", f'东风路{i}号,"{i}"'] for i in range(6000)]
    if late_wide_line:
        rows.append(["李四", "110105194912310021", "西街", "备注多一列"])
    text = line_end.join(
        ",".join(f'"{c}"' if "," in c or '"' in c else c for c in (cell.replace('"', '""') for cell in row)) for row in rows
    )
    data = (b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b"") + text.encode("gbk" if encoding == "gbk" else "utf-8")
    assert len(data) > readers.CSV_HEAD
    quick = readers.read_csv_grid(data)
    whole = readers._read_csv_text(data, readers.DEFAULT_LIMITS, False)
    assert quick.cells.equals(whole.cells) and quick.encoding == whole.encoding
    assert quick.encoding == {"gbk": "gb18030"}.get(encoding, encoding)
    assert quick.cells.height == len(rows) and quick.cells.width == (4 if late_wide_line else 3)
    assert (readers._read_utf8_csv(data, readers.DEFAULT_LIMITS, False) is None) == (
        encoding == "gbk" or line_end != "\n" or late_wide_line
    )


def test_a_file_read_from_its_bytes_reads_as_from_its_path(tmp_path):
    """Ingest reads a new file once, for its hash and its cells (``read_grid``'s ``content``): every
    format, and the exports of other systems under tests/fixtures, read the same from their bytes."""
    from pathlib import Path

    made = [
        write_csv(tmp_path / "gbk.csv", ROWS, "gbk"),
        write_xlsx(tmp_path / "f.xlsx", ROWS, numeric={(3, 1): 430621198001010000.0}),
        write_xls(tmp_path / "f.xls", ROWS),
        write_html_xls(tmp_path / "h.xls", ROWS, "gbk"),
    ]
    _handmade_xlsx(tmp_path / "handmade.xlsx", '<row r="3"><c r="D3"><v>4.30621198001011E+17</v></c></row>', [], zipfile.ZIP_DEFLATED)
    exports = Path(__file__).parent / "fixtures" / "exports"
    files = [
        *made,
        tmp_path / "handmade.xlsx",
        *(p for p in sorted(exports.rglob("*")) if p.is_file() and p.suffix not in (".py", ".md", ".json", ".yaml")),
    ]
    assert len(files) > 10
    for path in files:
        try:
            from_path = read_grid(path)
        except UnreadableFile as refused:
            with pytest.raises(UnreadableFile) as again:
                read_grid(path, content=path.read_bytes())
            assert str(again.value) == str(refused)
            continue
        from_bytes = read_grid(path, content=path.read_bytes())
        assert (from_bytes.format, from_bytes.encoding, from_bytes.first_row) == (
            from_path.format,
            from_path.encoding,
            from_path.first_row,
        ), path
        assert from_bytes.cells.equals(from_path.cells), path
    assert "4.30621E+17" in read_grid(tmp_path / "handmade.xlsx", content=(tmp_path / "handmade.xlsx").read_bytes()).cells.row(0)

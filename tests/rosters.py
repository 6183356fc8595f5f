"""Small roster files made in code, in every format staff export."""

from __future__ import annotations

from pathlib import Path

TITLE = "XX县城市低保家庭花名册"
DIVISION_HEADER = ["区划代码", "名称", "城乡分类代码"]
DIVISIONS = [
    ["990101000000", "示范县", None],
    ["990101001000", "城关镇", "121"],
    ["990101001001", "东风社区", "111"],
    ["990101001201", "红旗村", "220"],
    ["990101002000", "河口乡", "210"],
    ["990101002201", "红旗村", "220"],
]
FAMILY_HEADER = [
    "户主姓名",
    "户主身份证号",
    "家庭人口数",
    "保障人口数",
    "户月保障金额（元）",
    "所属区县",
    "所属街道/乡镇",
    "所属社区/村",
    "最近复核日期",
    "状态",
]
FAMILY_ROWS = [
    ["测试甲", "11010519491231002X", "2", "2", "1,200元", "示范县", "城关镇", "东风社区", "2025/3/5", "在保"],
    ["测试乙", "110105491231002", "1", "1", "640", "示范县", "河口乡", "红旗村", "20250305", "在保"],
]


def write_csv(path: Path, rows: list[list[str | None]], encoding: str = "utf-8") -> Path:
    def quote(v: str | None) -> str:
        return "" if v is None else f'"{v}"' if "," in v else v

    text = "\n".join(",".join(quote(v) for v in row) for row in rows) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(
    path: Path, rows: list[list[str | None]], *, start_row: int = 0, merge_title: bool = False, numeric: dict | None = None
) -> Path:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        if merge_title and r == 0:
            sheet.merge_range(start_row, 0, start_row, 5, row[0])
            continue
        for c, v in enumerate(row):
            if numeric and (r, c) in numeric:
                sheet.write_number(start_row + r, c, numeric[(r, c)])
            elif v is not None:
                sheet.write_string(start_row + r, c, v)
    book.close()
    return path


def write_xls(path: Path, rows: list[list[str | None]]) -> Path:
    import xlwt

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if v is not None:
                sheet.write(r, c, v)
    book.save(str(path))
    return path


def write_html_xls(path: Path, rows: list[list[str | None]], encoding: str = "gbk") -> Path:
    body = "".join("<tr>" + "".join(f"<td>{v or ''}</td>" for v in row) + "</tr>\n" for row in rows)
    text = f'<html><head><meta charset="{encoding}"></head><body><table>\n{body}</table></body></html>'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def data_dir_with_divisions(root: Path) -> Path:
    """A data directory whose 2025 division register lists the places FAMILY_ROWS use."""
    write_csv(root / "raw" / "2025" / "2025年区划代码.csv", [DIVISION_HEADER, *DIVISIONS])
    return root

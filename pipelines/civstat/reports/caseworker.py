"""The caseworker work list (预警核查名单): one workbook per township and month, to take on visits
and bring back filled in (``civstat alerts --import``; or dropped in data/raw/<YYYY-MM>/核查反馈/).

Each open warning is a row: its stable reference (预警编号, the same every month), the village, the
household's number and head's masked ID, the person's masked ID, the rule in words and the figures
that triggered it, the month first raised and how many months it has held; then empty columns for
the visit (核查结果, 处置措施, 核查人, 核查日期, 备注) with drop-down lists for the fixed choices.
Warnings found true that still hold after ``local.escalate_after_months`` are on a sheet of their
own (升级预警). Dismissed warnings whose figures have not changed are not listed. Masked IDs only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from civstat.settings import Paths

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SEVERITY_ZH = {"high": "高", "medium": "中", "low": "低"}
STATUS_ZH = {"new": "新增", "ongoing": "持续（未核查）", "verified": "已核实属实", "escalated": "核实后仍未解除（升级）"}
RESULTS = ["属实", "不属实", "已整改"]
ACTIONS = ["停保", "调整金额", "纳入救助", "无需处理"]
#: (column, header, width): what the list shows, then the columns the caseworker fills in
COLUMNS = [
    ("row_no", "序号", 6),
    ("alert_ref", "预警编号", 12),
    ("village_name", "社区/村", 12),
    ("household_no", "户编号", 10),
    ("head_id_masked", "户主身份证号（脱敏）", 22),
    ("id_masked", "身份证号（脱敏）", 20),
    ("programme_zh", "项目", 10),
    ("rule", "预警规则", 22),
    ("detail", "触发情况", 30),
    ("severity_zh", "严重程度", 9),
    ("status_zh", "状态", 12),
    ("first_raised", "首次预警", 9),
    ("months_held", "持续月数", 9),
]
VISIT = [("核查结果", 9), ("处置措施", 11), ("核查人", 9), ("核查日期", 11), ("备注", 16)]
HEADER_ROW = 4
LINE = 15  # points per line of text


def _lines(value, width: int) -> int:
    """Lines a value wraps to in a column ``width`` characters wide (a Chinese character is two)."""
    if value is None:
        return 1
    units = sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(value))
    return -(-units // max(1, width - 1))


THIN = Side(style="thin", color="808080")


def _open_warnings(db: Path, period: str) -> pl.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        held = [str(m)[:7] for (m,) in con.execute("select distinct period from low_income_monitoring order by 1").fetchall()]
        if period not in held:
            raise ValueError(
                f"已发布的数据中没有该月 / the published marts hold no data for {period} (months held: {', '.join(held) or 'none'})"
            )
        return pl.from_arrow(
            con.sql(
                """
            select l.alert_ref, l.rule_code, l.severity, l.status, coalesce(p.programme_zh, l.programme) as programme_zh,
                   l.household_no, l.head_id_masked, l.id_masked, l.detail, r.rule_zh,
                   strftime(l.first_raised, '%Y-%m') as first_raised,
                   cast(date_diff('month', l.first_raised, l.period) + 1 as bigint) as months_held,
                   coalesce(d.township_code, d.county_code, l.division_code) as township_code,
                   coalesce(d.township_name, d.county_name || '本级') as township_name,
                   case when d.division_level = 'village' then d.division_name end as village_name
            from monitoring_alert_lifecycle as l
            left join dim_divisions as d on d.division_code = l.division_code
            left join dim_programmes as p on p.programme = l.programme
            left join (select distinct rule_code, rule_zh from monitoring_alerts) as r on r.rule_code = l.rule_code
            where l.period = cast(? as date) and l.status in ('new', 'ongoing', 'verified', 'escalated')
        """,
                params=[period + "-01"],
            ).to_arrow_table()
        )
    finally:
        con.close()


def _sheet(ws: Worksheet, title: str, info: str, rows: pl.DataFrame) -> None:
    """Title block, header, rows, drop-downs and print setup of one sheet."""
    width = len(COLUMNS) + len(VISIT)
    last = get_column_letter(width)
    ws["A1"] = title
    ws["A1"].font = Font(size=14, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.merge_cells(f"A1:{last}1")
    ws["A2"] = info
    ws.merge_cells(f"A2:{last}2")
    ws["A3"] = (
        "核查结果请在下拉列表中选择（属实 / 不属实 / 已整改）；处置措施可选或填写；请勿改动预警编号。填好后交回：civstat alerts --import 文件"
    )
    ws["A3"].font = Font(size=9, italic=True)
    ws.merge_cells(f"A3:{last}3")
    headers = [h for _, h, _ in COLUMNS] + [h for h, _ in VISIT]
    widths = [w for *_, w in COLUMNS] + [w for _, w in VISIT]
    for c, (text, w) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = ws.cell(row=HEADER_ROW, column=c, value=text)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="FFF2CC" if c > len(COLUMNS) else "D9E1F2")
        cell.border = Border(top=THIN, bottom=THIN, left=THIN, right=THIN)
        ws.column_dimensions[get_column_letter(c)].width = w
    wrap = Alignment(vertical="top", wrap_text=True)
    ws.row_dimensions[HEADER_ROW].height = 2 * LINE
    for r, record in enumerate(rows.iter_rows(named=True), start=HEADER_ROW + 1):
        values = [r - HEADER_ROW] + [record[key] for key, _, _ in COLUMNS[1:]] + [None] * len(VISIT)
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            cell.alignment = wrap
            cell.border = Border(top=THIN, bottom=THIN, left=THIN, right=THIN)
        # spreadsheets do not grow a row for wrapped text when printing: set its height (room to write by hand)
        lines = max(_lines(v, w) for v, w in zip(values, widths, strict=True))
        ws.row_dimensions[r].height = max(2, lines) * LINE
    end = HEADER_ROW + max(rows.height, 1)
    first_visit = len(COLUMNS) + 1
    col = get_column_letter
    result = DataValidation(type="list", formula1='"' + ",".join(RESULTS) + '"', allow_blank=True)
    result.error, result.errorTitle = "请选择：属实、不属实或已整改", "核查结果"
    action = DataValidation(type="list", formula1='"' + ",".join(ACTIONS) + '"', allow_blank=True, showErrorMessage=False)
    when = DataValidation(type="date", operator="greaterThan", formula1="DATE(2000,1,1)", allow_blank=True)
    when.error = "请填写日期，如 2025-04-08"
    for validation, column in ((result, first_visit), (action, first_visit + 1), (when, first_visit + 3)):
        ws.add_data_validation(validation)
        validation.add(f"{col(column)}{HEADER_ROW + 1}:{col(column)}{end + 200}")
    for r in range(HEADER_ROW + 1, end + 1):
        ws.cell(row=r, column=first_visit + 3).number_format = "yyyy-mm-dd"
    ws.freeze_panes = f"C{HEADER_ROW + 1}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.print_options.horizontalCentered = True


def caseworker_lists(paths: Paths, period: str, out_dir: Path | None = None) -> list[Path]:
    """Write the month's work lists, one workbook per township; return the files written."""
    from civstat.periods import parse_month

    period = parse_month(period)  # 2025-3, 202503, 2025年3月 -> 2025-03; anything else is refused
    db = paths.published_warehouse
    if not db.exists():
        raise FileNotFoundError(f"no published warehouse at {db}: run `civstat run` first")
    frame = _open_warnings(db, period)
    try:
        release = json.loads(paths.publication.read_text(encoding="utf-8")).get("run_id", "")
    except (OSError, ValueError):
        release = ""
    out_dir = out_dir or paths.reports / "alerts" / period
    written = []
    if frame.height:
        out_dir.mkdir(parents=True, exist_ok=True)
    frame = frame.with_columns(
        severity_rank=pl.col("severity").replace_strict(SEVERITY_ORDER, default=9, return_dtype=pl.Int64),
        severity_zh=pl.col("severity").replace_strict(SEVERITY_ZH, default=None, return_dtype=pl.String),
        status_zh=pl.col("status").replace_strict(STATUS_ZH, default=None, return_dtype=pl.String),
        rule=pl.concat_str(pl.col("rule_code"), pl.lit(" "), pl.col("rule_zh").fill_null("")),
    )
    made = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    year, month = period.split("-")
    for (code, name), group in frame.group_by("township_code", "township_name", maintain_order=True):
        ordered = group.sort("severity_rank", "rule_code", "village_name", "household_no", "id_masked", nulls_last=True)
        info = f"乡镇（街道）：{name}（{code}）    月份：{year}年{month}月    生成时间：{made}    批次：{release}    共 {group.height} 条"
        wb = Workbook()
        _sheet(
            wb.active, f"{name} 低收入人口动态监测预警核查名单（{year}年{month}月）", info, ordered.filter(pl.col("status") != "escalated")
        )
        wb.active.title = "预警名单"
        escalated = ordered.filter(pl.col("status") == "escalated")
        if escalated.height:
            _sheet(wb.create_sheet("升级预警"), f"{name} 核实后仍未解除的预警（升级，{year}年{month}月）", info, escalated)
        safe = re.sub(r"[\\/:*?\"<>|]", "_", f"{code}_{name}")
        target = out_dir / f"{safe}_{period}预警名单.xlsx"
        wb.save(target)
        written.append(target)
    return sorted(written)


FEEDBACK_FOLDER = "核查反馈"


def _list_month(path: Path, period: str | None) -> str:
    from civstat.periods import Period, parse_month

    if period:
        return parse_month(period)
    named = Period.in_name(path.name)
    if named is None or not named.is_month:
        raise ValueError(f"{path.name}: 文件名中没有月份 / the file name names no month: give --period YYYY-MM (the month of the list)")
    return named.key


def place_returned_lists(paths: Paths, source: Path, period: str | None = None) -> dict[str, list[Path]]:
    """Copy returned lists into data/raw/<month>/核查反馈/ (month: ``period`` or the list's file name),
    a sheet per file (civstat reads one table per file: the 升级预警 sheet becomes its own file).
    Returns the files placed, by month."""
    from openpyxl import load_workbook

    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    found = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(("~$", ".")))
    lists = [p for p in found if p.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".et", ".csv")]
    if not lists:
        raise FileNotFoundError(f"{source}: no returned list (.xlsx, .xls, .et or .csv) found")
    placed: dict[str, list[Path]] = {}
    for path in lists:
        month = _list_month(path, period)
        folder = paths.raw / month / FEEDBACK_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            target = folder / path.name
            target.write_bytes(path.read_bytes())
            placed.setdefault(month, []).append(target)
            continue
        names = [ws.title for ws in load_workbook(path, read_only=True) if (ws.max_row or 0) > HEADER_ROW]
        for n, name in enumerate(names or [None]):
            wb = load_workbook(path)
            for other in [ws for ws in wb.worksheets if name is not None and ws.title != name]:
                wb.remove(other)
            suffix = "" if n == 0 else "_" + re.sub(r"[\\/:*?\"<>|]", "_", name)
            target = folder / f"{path.stem}{suffix}.xlsx"
            wb.save(target)
            placed.setdefault(month, []).append(target)
    return placed

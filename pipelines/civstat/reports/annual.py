"""The statistician's annual workbook, in the form of the annual statistics tables: one sheet per
table of ``tables.yaml`` (the reviewed definitions: rows, columns, units, the mart column of each
cell), each with the form's header block, two-level merged headers, a 合计 row first and the regions
down the hierarchy, the notes and the sign-off line, set up to print on A4 landscape.

``public=True`` marks person counts of 1-4 ``<5`` and hides, with ``*``, the amounts that would
reveal them; in every additive group (a parent and its children, a row's total and its parts) a
single hidden cell is joined by a second one, so none can be worked out."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from civstat import tiers
from civstat.quality.audit import evaluate
from civstat.settings import Paths

TABLES = Path(__file__).with_name("tables.yaml")
NOT_AVAILABLE = "—"  # as the statistical yearbooks print a figure that is not available
REVEALING = "*"  # an amount hidden because it would give away a suppressed count
FORMATS = {"count": "#,##0", "yuan": "#,##0.00", "wan_yuan": "#,##0.00", "percent": "0.0%", "per_1000": "0.0"}
SCALE = {"wan_yuan": 1 / 10_000}
REGION = ("division_code", "division_name", "division_level", "parent_code")


class Leaf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    source: str
    format: Literal["count", "yuan", "wan_yuan", "percent", "per_1000"]
    persons: bool = False
    reveals: tuple[str, ...] = ()


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    group: str
    columns: tuple[Leaf, ...]


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sheet: str
    code: str
    title: str
    mart: str
    unit: str
    columns: tuple[Leaf | Group, ...]
    totals: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()

    def leaves(self) -> list[tuple[str | None, Leaf]]:
        """(group label or None, leaf), left to right."""
        return [pair for c in self.columns for pair in ([(c.group, leaf) for leaf in c.columns] if isinstance(c, Group) else [(None, c)])]


class Forms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    authority: str
    sign_off: tuple[str, ...]
    levels: tuple[Literal["province", "prefecture", "county", "township", "village"], ...]
    tables: tuple[TableSpec, ...]


def forms(path: Path = TABLES) -> Forms:
    """The tables of ``path``, a column marked ``each_tier`` once per configured 高龄 tier."""
    return _forms(path, tuple(tiers.configured()))


def _per_tier(data: dict, count: int) -> dict:
    leaf = ("label", "source", "reveals")
    for table in data.get("tables") or []:
        if not isinstance(table, dict):
            continue
        columns = []
        for column in table.get("columns") or []:
            if isinstance(column, dict) and isinstance(column.get("columns"), list):
                column = {
                    **column,
                    "columns": [x for c in column["columns"] for x in (tiers.expand(c, leaf, count) if isinstance(c, dict) else [c])],
                }
                columns.append(column)
            else:
                columns.extend(tiers.expand(column, leaf, count) if isinstance(column, dict) else [column])
        table["columns"] = columns
        table["totals"] = [
            [
                x
                for v in group
                for x in ([v.replace("{n}", str(n)) for n in range(1, count + 1)] if isinstance(v, str) and "{n}" in v else [v])
            ]
            if isinstance(group, list)
            else group
            for group in table.get("totals") or []
        ]
    return data


@cache
def _forms(path: Path, configured_tiers: tuple[int, ...]) -> Forms:
    try:
        return Forms.model_validate(_per_tier(yaml.safe_load(path.read_text(encoding="utf-8")), len(configured_tiers)))
    except ValidationError as e:
        where = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:5])
        raise ValueError(f"{path}: {where}") from None


class Table:
    """A table's spec and its figures: one row per region (合计 first), the sources' columns."""

    def __init__(self, spec: TableSpec, frame: pl.DataFrame, labels: dict[str, str]):
        self.spec, self.frame, self.labels = spec, frame, labels

    @property
    def sheet(self) -> str:
        return self.spec.sheet


def _below() -> int:
    """Public tables suppress cells of 1 to this minus one people (local.suppress_below, 5 by default)."""
    from civstat.registry import registry

    return registry().local.suppress_below


def _tier_labels() -> dict[str, str]:
    return {f"tier{i + 1}": label for i, label in enumerate(tiers.labels())}


def _query(con, sql: str, params: list | None = None) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=params or []).to_arrow_table())


def build_tables(con, year: int, form: Forms | None = None) -> list[Table]:
    """Every table of tables.yaml (or ``form``) for ``year`` from the published marts (``con``)."""
    form = form or forms()
    tiers = _tier_labels()
    levels = list(form.levels)
    tables = []
    for spec in form.tables:
        held = {c for (c,) in con.execute(f'select column_name from (describe "{spec.mart}")').fetchall()}
        sources = [leaf.source for _, leaf in spec.leaves()]
        missing = [s for s in sources if s not in held]
        if missing:
            raise ValueError(f"{TABLES.name}, table {spec.sheet}: {spec.mart} has no column {', '.join(missing)}")
        picked = ", ".join(f'm."{s}"' for s in sources)
        frame = _query(
            con,
            f"""select d.division_code, d.division_name, d.division_level, d.parent_code, {picked}
                from "{spec.mart}" as m inner join dim_divisions as d on d.division_code = m.division_code
                where m.year = ? and d.division_level in ({", ".join("?" for _ in levels)})
                order by d.division_code""",
            [year, *levels],
        )
        labels = {leaf.source: leaf.label.format(**tiers) for _, leaf in spec.leaves()}
        tables.append(Table(spec, frame, labels))
    return tables


def _roots(frame: pl.DataFrame) -> list[str]:
    codes = set(frame["division_code"].to_list())
    return [c for c, p in zip(frame["division_code"], frame["parent_code"]) if p not in codes]


def hidden_cells(table: Table) -> set[tuple[str, str]]:
    """The public version's hidden cells (division code, column): person counts of 1 to
    local.suppress_below - 1, the amounts that reveal them, and in every additive group with
    exactly one hidden cell, a second (the smallest non-zero part, else the total)."""
    frame, spec, below = table.frame, table.spec, _below()
    leaves = [leaf for _, leaf in spec.leaves()]
    persons = [leaf.source for leaf in leaves if leaf.persons]
    value = {(code, c): v for c in frame.columns[len(REGION) :] for code, v in zip(frame["division_code"], frame[c])}
    hidden = {(code, c) for (code, c), v in value.items() if c in persons and v is not None and 1 <= v < below}

    def reveal() -> set[tuple[str, str]]:
        return {(code, leaf.source) for leaf in leaves for code in frame["division_code"] if any((code, r) in hidden for r in leaf.reveals)}

    protected = set(persons) | {leaf.source for leaf in leaves if leaf.reveals}
    codes = set(frame["division_code"])
    children: dict[str, list[str]] = {}
    for code, parent in zip(frame["division_code"], frame["parent_code"]):
        children.setdefault(parent, []).append(code)
    groups = [[(parent, c), *((k, c) for k in kids)] for parent, kids in children.items() if parent in codes for c in protected]
    groups += [[(code, total), *((code, p) for p in parts)] for code in frame["division_code"] for total, *parts in spec.totals]
    hidden |= reveal()
    changed = True
    while changed:  # hiding one cell can leave another group with a single hidden cell: repeat
        changed = False
        for total, *parts in groups:
            if sum(cell in hidden for cell in (total, *parts)) != 1:
                continue
            candidates = sorted((value[p], p) for p in parts if p not in hidden and value.get(p))
            extra = candidates[0][1] if candidates else total
            if extra not in hidden and value.get(extra):
                hidden.add(extra)
                hidden |= reveal()
                changed = True
    return hidden


class _Book:
    """xlsxwriter formats, created once per workbook."""

    def __init__(self, book):
        base = {"font_name": "宋体", "font_size": 10, "valign": "vcenter"}
        cell = {**base, "border": 1}
        self.title = book.add_format({**base, "bold": True, "font_size": 16, "align": "center"})
        self.left = book.add_format(base)
        self.right = book.add_format({**base, "align": "right"})
        self.center = book.add_format({**base, "align": "center"})
        self.head = book.add_format({**cell, "bold": True, "align": "center", "text_wrap": True, "bg_color": "#E8EEF7"})
        self.text = book.add_format(cell)
        self.total_text = book.add_format({**cell, "bold": True})
        self.mark = book.add_format({**cell, "align": "right"})
        self.numbers = {k: book.add_format({**cell, "num_format": f}) for k, f in FORMATS.items()}
        self.total_numbers = {k: book.add_format({**cell, "num_format": f, "bold": True}) for k, f in FORMATS.items()}
        self.note = book.add_format({**base, "font_size": 9, "text_wrap": False})


def _width(text: str) -> float:
    """Display width in Excel's units: a CJK character is two."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _shown(value, fmt: str) -> str:
    if value is None or isinstance(value, str):
        return value or NOT_AVAILABLE
    value = value * SCALE.get(fmt, 1)
    return {"percent": f"{value:.1%}", "per_1000": f"{value:,.1f}", "count": f"{value:,.0f}"}.get(fmt, f"{value:,.2f}")


def _period_label(con, year: int) -> str:
    months = con.execute("select count(*), max(period) from dim_periods where period_type = 'month' and year = ?", [year]).fetchone()
    if not months[0] or months[0] == 12:
        return f"{year}年"
    return f"{year}年1—{months[1].month}月（已有{months[0]}个月）"


def _write_table(sheet, fmt: _Book, table: Table, form: Forms, period: str, footer: list[str], public: bool) -> None:
    spec, frame = table.spec, table.frame
    leaves = spec.leaves()
    last = 1 + len(leaves)
    roots = _roots(frame)
    names = dict(zip(frame["division_code"], frame["division_name"]))
    filler = "、".join(names[r] or r for r in roots)
    hidden = hidden_cells(table) if public else set()
    below = _below()

    sheet.set_row(0, 28)
    sheet.set_row(4, 20)
    sheet.set_row(5, 30)  # a leaf label wraps to two lines at most
    sheet.merge_range(0, 0, 0, last, spec.title, fmt.title)
    right = max(2, last - 3)
    sheet.merge_range(1, right, 1, last, f"表　　号：{spec.code}", fmt.left)
    sheet.merge_range(2, right, 2, last, f"制表机关：{form.authority}", fmt.left)
    if right - 1 >= 2:  # 填报单位 left, 报告期 in the middle, 计量单位 right
        sheet.merge_range(3, 0, 3, 1, f"填报单位：{filler}", fmt.left)
        if right - 1 > 2:
            sheet.merge_range(3, 2, 3, right - 1, f"报告期：{period}", fmt.center)
        else:
            sheet.write(3, 2, f"报告期：{period}", fmt.center)
    else:  # a narrow table: 报告期 beside 填报单位
        sheet.merge_range(3, 0, 3, 1, f"填报单位：{filler}　　报告期：{period}", fmt.left)
    sheet.merge_range(3, right, 3, last, f"计量单位：{spec.unit}", fmt.left)

    # two header rows: a group's label merged over its columns, a lone column merged down both rows
    sheet.merge_range(4, 0, 5, 0, "区划代码", fmt.head)
    sheet.merge_range(4, 1, 5, 1, "地区", fmt.head)
    col = 2
    for part in spec.columns:
        if isinstance(part, Group):
            span = len(part.columns)
            if span > 1:
                sheet.merge_range(4, col, 4, col + span - 1, part.group, fmt.head)
            else:
                sheet.write(4, col, part.group, fmt.head)
            for i, leaf in enumerate(part.columns):
                sheet.write(5, col + i, table.labels[leaf.source], fmt.head)
            col += span
        else:
            sheet.merge_range(4, col, 5, col, table.labels[part.source], fmt.head)
            col += 1

    depth: dict[str, int] = {}
    widths = [_width("区划代码") + 2, _width("地区") + 2] + [max(8.0, _width(table.labels[leaf.source]) / 2 + 5) for _, leaf in leaves]
    for i, row in enumerate(frame.iter_rows(named=True)):
        r = 6 + i
        code = row["division_code"]
        depth[code] = 0 if code in roots else depth.get(row["parent_code"], 0) + 1
        is_total = code in roots
        name = "合计" if is_total and len(roots) == 1 else "　" * depth[code] + (row["division_name"] or code)
        sheet.write_string(r, 0, code, fmt.total_text if is_total else fmt.text)
        sheet.write_string(r, 1, name, fmt.total_text if is_total else fmt.text)
        widths[0] = max(widths[0], _width(code) + 2)
        widths[1] = max(widths[1], _width(name) + 2)
        for j, (_, leaf) in enumerate(leaves):
            value = row[leaf.source]
            if (code, leaf.source) in hidden:
                shown = f"<{below}" if leaf.persons else REVEALING
                sheet.write_string(r, 2 + j, shown, fmt.mark)
            elif value is None:
                shown = NOT_AVAILABLE
                sheet.write_string(r, 2 + j, shown, fmt.mark)
            else:
                shown = _shown(value, leaf.format)
                numbers = fmt.total_numbers if is_total else fmt.numbers
                sheet.write_number(r, 2 + j, value * SCALE.get(leaf.format, 1), numbers[leaf.format])
            widths[2 + j] = max(widths[2 + j], _width(shown) + 2)
    for j, w in enumerate(widths):
        sheet.set_column(j, j, min(w, 40))

    line = 6 + frame.height + 1
    notes = [*spec.notes, *footer]
    if public:
        notes.append(
            f"公开版：“<{below}”为1—{below - 1}人（户、人次）及可据合计推算出的单元格；“{REVEALING}”为可据以推算出被隐去人数的金额，均不予公开。"
        )
    notes.append(f"“{NOT_AVAILABLE}”表示该项数据不可得（报告期无此名册或无法计算），0表示无。")
    for k, text in enumerate(notes, start=1):
        sheet.write(line, 0, f"注{k}：{text}" if k > 1 or len(notes) > 1 else f"注：{text}", fmt.note)
        line += 1
    line += 1
    step = max(1, (last + 1) // len(form.sign_off))
    for k, who in enumerate(form.sign_off):
        text = f"{who}：　　年　　月　　日" if who == "报出日期" else f"{who}："
        sheet.write(line, min(k * step, last), text, fmt.left)

    # print: A4 landscape, one page wide, headers and the region column on every page
    sheet.set_landscape()
    sheet.set_paper(9)
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    sheet.center_horizontally()
    sheet.repeat_rows(4, 5)
    sheet.repeat_columns(0, 1)
    sheet.freeze_panes(6, 2)
    sheet.set_header(f"&L&9{spec.code}　{spec.title}&R&9{filler}　{period}")
    sheet.set_footer("&C&9第 &P 页，共 &N 页")


def _write_audit(sheet, fmt: _Book, failures: pl.DataFrame, period: str) -> None:
    """The year's 审核 results that did not stop publication: warnings, and failures with a 说明."""
    headers = ["规则", "类别", "区划代码", "地区", "左式", "左值", "右式", "右值", "审核要求", "说明"]
    sheet.merge_range(0, 0, 0, len(headers) - 1, f"审核结果（{period}）", fmt.title)
    for j, h in enumerate(headers):
        sheet.write(2, j, h, fmt.head)
    rows = failures.sort(["rule", "division_code"]).iter_rows(named=True)
    count = 0
    for i, f in enumerate(rows):
        kind = "已说明" if f["explained"] else ("阻断" if f["importance"] == "blocking" else "提示")
        values = [f["rule"], kind, f["division_code"], f["division_name"], f["left_text"], f["left"], f["right_text"], f["right"],
                  f["message"], f["note"] or ""]  # fmt: skip
        for j, v in enumerate(values):
            if isinstance(v, float):
                sheet.write_number(3 + i, j, v, fmt.numbers["yuan"])
            else:
                sheet.write_string(3 + i, j, "" if v is None else str(v), fmt.text)
        count += 1
    note = "注：发布前按 expectations/audit/rules.yaml 审核；阻断类未通过则不发布，此处列出提示类和已说明的未通过项。"
    sheet.write(4 + count, 0, note if count else "全部审核规则通过。" + note, fmt.note)
    for j, w in enumerate([6, 8, 14, 12, 28, 10, 28, 10, 40, 24]):
        sheet.set_column(j, j, w)
    sheet.set_landscape()
    sheet.set_paper(9)
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(2)
    sheet.freeze_panes(3, 0)


def write_workbook(paths: Paths, year: int, out: Path | None = None, public: bool = False, form: Forms | None = None) -> Path:
    import xlsxwriter

    db = paths.published_warehouse
    if not db.exists():
        raise FileNotFoundError(f"no published warehouse at {db}: run `civstat run` (or `civstat demo`) first")
    con = duckdb.connect(str(db), read_only=True)
    try:
        held = [
            y
            for (y,) in con.execute(
                "select distinct year from elderly_care_beds union select distinct extract(year from period) from low_income_monitoring order by 1"
            ).fetchall()
        ]
        if year not in held:
            raise ValueError(f"the published marts hold no data for {year} (years held: {', '.join(str(y) for y in held) or 'none'})")
        form = form or forms()
        tables = build_tables(con, year, form)
        audit = evaluate(con).failures.filter(pl.col("year") == year)
        period = _period_label(con, year)
        run = con.execute("select run_id, published_at from _publication").fetchone()
        vintage = con.execute("select min(period_label), max(period_label) from dim_periods where period_type = 'month'").fetchone()
    finally:
        con.close()
    out = out or paths.reports / f"{year}年民政统计{'（公开版）' if public else ''}.xlsx"
    out.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(out)
    fmt = _Book(book)
    footer = [
        f"数据期间：{vintage[0]} 至 {vintage[1]}；发布批次：{run[0]}（{run[1]}）；制表：civstat {dt.date.today():%Y-%m-%d}，"
        "来源：数据集市 warehouse.duckdb。"
    ]
    for table in tables:
        _write_table(book.add_worksheet(table.sheet), fmt, table, form, period, footer, public)
    if not public:  # the 审核 results are for the statistician, not for publication
        _write_audit(book.add_worksheet("审核"), fmt, audit, period)
    book.close()
    return out

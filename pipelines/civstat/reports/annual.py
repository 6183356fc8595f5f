"""The statistician's annual workbook: one sheet per table, regions down the hierarchy with the
province total first, Chinese headers with units, footnotes with each indicator's definition,
the data vintage and the run. ``public=True`` suppresses cells of 1 to 4 people, and a second
cell in the same parent wherever one suppressed cell could be worked out from the total."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from civstat.settings import Paths


def _below() -> int:
    """Public tables suppress cells of 1 to this minus one people (local.suppress_below, 5 by default)."""
    from civstat.registry import registry

    return registry().local.suppress_below


@dataclass
class Table:
    sheet: str
    title: str
    frame: pl.DataFrame  # division_code, division_name, division_level, parent_code, then the figures
    headers: dict[str, str]  # column -> Chinese header with unit
    counts: dict[str, list[str]]  # person-count column -> amount columns that would reveal it
    notes: list[str]


def _query(con, sql: str, params: list | None = None) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=params or []).to_arrow_table())


def _regions(con) -> pl.DataFrame:
    return _query(
        con,
        """select division_code, division_name, division_level, level_rank, parent_code from dim_divisions
                          where division_level in ('province', 'prefecture', 'county', 'township')""",
    )


def _pivot(con, regions: pl.DataFrame, sql: str, params: list) -> pl.DataFrame:
    data = _query(con, sql, params)
    return regions.join(data, on="division_code", how="inner").sort("division_code")


def build_tables(con, year: int) -> list[Table]:
    month = _query(con, "select max(period) as p from dim_periods where period_type = 'month' and year = ?", [year])["p"][0]
    if month is None:
        raise ValueError(f"no month of {year} in the warehouse")
    regions = _regions(con)
    dec = [month]
    dibao = _pivot(
        con,
        regions,
        """
        select division_code,
            sum(case when urban_rural = 'urban' then households end) as urban_households,
            sum(case when urban_rural = 'urban' then persons end) as urban_persons,
            sum(case when urban_rural = 'urban' then amount_paid end) as urban_amount,
            max(case when urban_rural = 'urban' then standard_monthly end) as urban_standard,
            sum(case when urban_rural = 'rural' then households end) as rural_households,
            sum(case when urban_rural = 'rural' then persons end) as rural_persons,
            sum(case when urban_rural = 'rural' then amount_paid end) as rural_amount,
            max(case when urban_rural = 'rural' then standard_monthly end) as rural_standard
        from low_income_monitoring where programme = 'dibao' and period = ? group by all""",
        dec,
    )
    tekun = _pivot(
        con,
        regions,
        """
        select division_code,
            sum(case when urban_rural = 'urban' then persons end) as urban_persons,
            sum(case when urban_rural = 'urban' then amount_paid end) as urban_amount,
            sum(case when urban_rural = 'rural' then persons end) as rural_persons,
            sum(case when urban_rural = 'rural' then amount_paid end) as rural_amount
        from low_income_monitoring where programme = 'tekun' and period = ? group by all""",
        dec,
    )
    temporary = _pivot(
        con,
        regions,
        """
        select division_code,
            sum(case when subcategory = '急难型' then recipients end) as emergency_cases,
            sum(case when subcategory = '急难型' then amount end) as emergency_amount,
            sum(case when subcategory = '支出型' then recipients end) as expenditure_cases,
            sum(case when subcategory = '支出型' then amount end) as expenditure_amount
        from subsidy_coverage where programme = 'temporary' and extract(year from period) = ? group by all""",
        [year],
    )
    beds = _pivot(
        con,
        regions,
        """
        select division_code, institutions, institutions_public, institutions_private, institutions_public_private,
               institution_beds, nursing_beds, nursing_bed_share, residents, occupancy_rate, community_beds,
               beds_per_1000_aged_60_plus_hukou, beds_per_1000_aged_60_plus_resident
        from elderly_care_beds where year = ?""",
        [year],
    )
    longevity = _pivot(
        con,
        regions,
        """
        select division_code,
            sum(case when subcategory not in ('未达起始年龄') then recipients end) as recipients,
            sum(amount) as amount,
            sum(case when subcategory like '80%' or subcategory like '75%' then recipients end) as tier1,
            sum(case when subcategory like '90%' then recipients end) as tier2,
            sum(case when subcategory like '100%' then recipients end) as tier3
        from subsidy_coverage where programme = 'longevity' and period = ? group by all""",
        dec,
    )
    disability = _pivot(
        con,
        regions,
        """
        select division_code,
            sum(case when programme = 'disab_living' then recipients end) as living_recipients,
            sum(case when programme = 'disab_living' then amount end) as living_amount,
            sum(case when programme = 'disab_care' then recipients end) as care_recipients,
            sum(case when programme = 'disab_care' then amount end) as care_amount
        from subsidy_coverage where programme in ('disab_living', 'disab_care') and period = ? group by all""",
        dec,
    )
    children = _pivot(
        con,
        regions,
        """
        select division_code,
            sum(case when programme = 'orphan' and subcategory = '集中养育' then recipients end) as orphans_institutional,
            sum(case when programme = 'orphan' and subcategory = '散居' then recipients end) as orphans_scattered,
            sum(case when programme = 'orphan' then amount end) as orphan_amount,
            sum(case when programme = 'unsupported_child' then recipients end) as unsupported,
            sum(case when programme = 'unsupported_child' then amount end) as unsupported_amount
        from subsidy_coverage where programme in ('orphan', 'unsupported_child') and period = ? group by all""",
        dec,
    )
    from civstat.registry import registry

    within = registry().local.verify_within_days
    warnings = _pivot(
        con,
        regions,
        f"""
        with l as (
            select l.*, d.province_code, d.prefecture_code, d.county_code, d.township_code
            from monitoring_alert_lifecycle as l
            inner join dim_divisions as d on d.division_code = l.division_code
            where extract(year from l.period) = ?
        ),
        per_warning as (  -- a warning once, whatever the months it held in the year
            select alert_key, province_code, prefecture_code, county_code, township_code,
                bool_or(status <> 'resolved') as raised,
                bool_or(status in ('verified', 'escalated', 'dismissed')) as checked,
                bool_or(status in ('verified', 'escalated')) as confirmed,
                bool_or(status = 'dismissed') as dismissed,
                bool_or(status = 'escalated') as escalated,
                bool_or(status in ('verified', 'escalated', 'dismissed')
                        and check_date <= last_day(first_raised) + interval {within} day) as on_time,
                bool_or(period = ? and status in ('new', 'ongoing') and last_day(period) > last_day(first_raised) + interval {within} day) as overdue
            from l group by all
        ),
        rolled as (
            select unnest([province_code, prefecture_code, county_code, township_code]) as division_code, *
            exclude (province_code, prefecture_code, county_code, township_code)
            from per_warning
        )
        select division_code,
            count_if(raised) as raised, count_if(checked) as checked, count_if(confirmed) as confirmed,
            count_if(dismissed) as dismissed, count_if(escalated) as escalated, count_if(overdue) as overdue,
            count_if(on_time) * 1.0 / nullif(count_if(checked) + count_if(overdue), 0) as on_time_share
        from rolled where division_code is not null group by all""",
        [year, month],
    )
    ref = f"{month:%Y年%m月}"
    return [
        Table(
            "低保",
            f"{year}年城乡最低生活保障情况（{ref}）",
            dibao,
            {
                "urban_households": "城市低保户数（户）",
                "urban_persons": "城市低保人数（人）",
                "urban_amount": "城市低保月支出（元）",
                "urban_standard": "城市低保标准（元/人·月）",
                "rural_households": "农村低保户数（户）",
                "rural_persons": "农村低保人数（人）",
                "rural_amount": "农村低保月支出（元）",
                "rural_standard": "农村低保标准（元/人·月）",
            },
            {
                "urban_persons": ["urban_amount"],
                "rural_persons": ["rural_amount"],
                "urban_households": ["urban_amount"],
                "rural_households": ["rural_amount"],
            },
            [
                "低保人数：当月在册人数（人员花名册）；户数：当月在保家庭数。",
                "月支出：当月户月保障金额合计（含分类施保）。",
                "标准：县级当月执行的保障标准，年标准折算为月（÷12）；市级及以上不适用。",
            ],
        ),
        Table(
            "特困",
            f"{year}年特困人员救助供养情况（{ref}）",
            tekun,
            {
                "urban_persons": "城市特困人数（人）",
                "urban_amount": "城市特困月支出（元）",
                "rural_persons": "农村特困人数（人）",
                "rural_amount": "农村特困月支出（元）",
            },
            {"urban_persons": ["urban_amount"], "rural_persons": ["rural_amount"]},
            ["特困人数：当月在册特困供养人员数；月支出：基本生活费与照料护理费合计。"],
        ),
        Table(
            "临时救助",
            f"{year}年临时救助情况（全年）",
            temporary,
            {
                "emergency_cases": "急难型救助（人次）",
                "emergency_amount": "急难型支出（元）",
                "expenditure_cases": "支出型救助（人次）",
                "expenditure_amount": "支出型支出（元）",
            },
            {"emergency_cases": ["emergency_amount"], "expenditure_cases": ["expenditure_amount"]},
            ["人次：全年临时救助台账记录数；支出：救助金额合计。"],
        ),
        Table(
            "养老服务",
            f"{year}年养老服务机构和床位情况",
            beds,
            {
                "institutions": "在营养老机构（个）",
                "institutions_public": "其中公办（个）",
                "institutions_private": "民办（个）",
                "institutions_public_private": "公建民营（个）",
                "institution_beds": "机构床位（张）",
                "nursing_beds": "护理型床位（张）",
                "nursing_bed_share": "护理型床位占比",
                "residents": "在住老年人（人）",
                "occupancy_rate": "入住率",
                "community_beds": "社区养老服务设施床位（张）",
                "beds_per_1000_aged_60_plus_hukou": "每千名老年人床位（张，户籍）",
                "beds_per_1000_aged_60_plus_resident": "每千名老年人床位（张，常住）",
            },
            {"residents": []},
            [
                "只计在营机构。每千名老年人床位数 =（机构床位 + 社区设施床位）÷ 60岁及以上人口 × 1000。",
                "护理型床位占比 = 护理型床位 ÷ 机构床位（2025年全国目标55%）；入住率 = 在住老年人 ÷ 机构床位。",
            ],
        ),
        Table(
            "高龄津贴",
            f"{year}年高龄津贴发放情况（{ref}）",
            longevity,
            {
                "recipients": "享受人数（人）",
                "amount": "月发放金额（元）",
                "tier1": "第一档（人）",
                "tier2": "第二档（人）",
                "tier3": "第三档（人）",
            },
            {"recipients": ["amount"], "tier1": [], "tier2": [], "tier3": []},
            ["档次按发放当月月末年龄划分（地方配置，默认80-89、90-99、100周岁以上）。"],
        ),
        Table(
            "两项补贴",
            f"{year}年困难残疾人生活补贴和重度残疾人护理补贴情况（{ref}）",
            disability,
            {
                "living_recipients": "生活补贴人数（人）",
                "living_amount": "生活补贴月支出（元）",
                "care_recipients": "护理补贴人数（人）",
                "care_amount": "护理补贴月支出（元）",
            },
            {"living_recipients": ["living_amount"], "care_recipients": ["care_amount"]},
            ["当月发放名册人数与金额合计。"],
        ),
        Table(
            "儿童福利",
            f"{year}年孤儿和事实无人抚养儿童保障情况（{ref}）",
            children,
            {
                "orphans_institutional": "集中养育孤儿（人）",
                "orphans_scattered": "散居孤儿（人）",
                "orphan_amount": "孤儿基本生活费（元）",
                "unsupported": "事实无人抚养儿童（人）",
                "unsupported_amount": "事实无人抚养儿童生活补贴（元）",
            },
            {"orphans_institutional": ["orphan_amount"], "orphans_scattered": ["orphan_amount"], "unsupported": ["unsupported_amount"]},
            ["当月发放名册人数与金额合计。"],
        ),
        Table(
            "监测预警",
            f"{year}年低收入人口动态监测预警与核查情况（全年）",
            warnings,
            {
                "raised": "预警（条）",
                "checked": "已核查（条）",
                "confirmed": "核实属实（条）",
                "dismissed": "核实不属实（条）",
                "escalated": "核实后未解除、升级（条）",
                "overdue": f"{ref}末逾期未核查（条）",
                "on_time_share": "按时核查率",
            },
            {},
            [
                "一条预警为一项规则对一人（户、地区）；全年内多个月成立只计一条。核查结果来自退回的核查名单（核查反馈）。",
                f"逾期：首次预警当月末起{within}天仍未核查；按时核查率 = 按期限核查数 ÷（已核查数 + 逾期未核查数）。",
            ],
        ),
    ]


def suppress(frame: pl.DataFrame, counts: dict[str, list[str]]) -> pl.DataFrame:
    """Cells of 1-4 people become '<5' (with the amounts that would reveal them), and where a
    parent has exactly one suppressed child in a column, its smallest other non-zero child too."""
    out = frame.with_columns(
        [
            pl.col(c).cast(pl.String)
            for c in frame.columns
            if c not in ("division_code", "division_name", "division_level", "parent_code", "level_rank")
        ]
    )
    below = _below()
    hidden = {c: set(frame.filter(pl.col(c).is_between(1, below - 1))["division_code"].to_list()) for c in counts}
    for column in counts:
        changed = True
        while changed:  # a secondary suppression can expose another parent: repeat until stable
            changed = False
            for parent, children in frame.group_by("parent_code"):
                kids = children.filter(pl.col(column).fill_null(0) > 0)
                gone = [k for k in kids["division_code"].to_list() if k in hidden[column]]
                if len(gone) == 1 and parent[0] is not None and parent[0] not in hidden[column]:
                    others = kids.filter(~pl.col("division_code").is_in(list(hidden[column]))).sort(column)
                    # hide a sibling too; an only child's parent total would show it, so hide the parent
                    hidden[column].add(others["division_code"][0] if others.height else parent[0])
                    changed = True
    for column, linked in counts.items():
        for target in (column, *linked):
            out = out.with_columns(
                pl.when(pl.col("division_code").is_in(list(hidden[column])))
                .then(pl.lit(f"<{below}"))
                .otherwise(pl.col(target))
                .alias(target)
            )
    return out


def write_workbook(paths: Paths, year: int, out: Path | None = None, public: bool = False) -> Path:
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
        tables = build_tables(con, year)
        run = con.execute("select run_id, published_at from _publication").fetchone()
        vintage = con.execute("select min(period_label), max(period_label) from dim_periods where period_type = 'month'").fetchone()
    finally:
        con.close()
    out = out or paths.reports / f"{year}年民政统计{'（公开版）' if public else ''}.xlsx"
    out.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(out)
    bold = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "text_wrap": True, "valign": "vcenter", "border": 1, "bg_color": "#E8EEF7"})
    note = book.add_format({"italic": True, "font_color": "#555555"})
    indent = {"province": 0, "prefecture": 1, "county": 2, "township": 3}
    for table in tables:
        sheet = book.add_worksheet(table.sheet)
        frame = suppress(table.frame, table.counts) if public else table.frame
        sheet.write(0, 0, table.title, bold)
        columns = list(table.headers)
        sheet.write_row(2, 0, ["区划代码", "区划名称", *[table.headers[c] for c in columns]], head)
        for i, row in enumerate(frame.iter_rows(named=True)):
            name = "　" * indent.get(row["division_level"], 0) + (row["division_name"] or "")
            sheet.write_string(3 + i, 0, row["division_code"])
            sheet.write_string(3 + i, 1, name)
            for j, c in enumerate(columns):
                value = row[c]
                if value is None:
                    continue
                if isinstance(value, str):
                    try:
                        value = float(value)
                    except ValueError:
                        sheet.write_string(3 + i, 2 + j, value)
                        continue
                sheet.write_number(3 + i, 2 + j, round(float(value), 4))
        sheet.set_column(0, 0, 14)
        sheet.set_column(1, 1, 22)
        sheet.set_column(2, 1 + len(columns), 16)
        line = 4 + frame.height
        for text in [
            *table.notes,
            f"数据期间：{vintage[0]} 至 {vintage[1]}；发布批次：{run[0]}（{run[1]}）；来源：civstat 数据集市 warehouse.duckdb。",
            *([f"公开版：1-{_below() - 1}人的单元格及可据合计推算出的单元格以“<{_below()}”表示。"] if public else []),
        ]:
            sheet.write(line, 0, f"注：{text}", note)
            line += 1
    book.close()
    return out

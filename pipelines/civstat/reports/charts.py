"""A page of charts for people who would rather look than read: one self-contained HTML file.

The charts are Vega-Lite specifications made with altair and drawn in the browser by Vega. The
Vega, Vega-Lite and vega-embed scripts come from vl-convert and are written into the page, so it
opens with no network. Only aggregates of the published marts are charted (province and county
rows): no person or household appears on the page."""

from __future__ import annotations

import html
import json
from pathlib import Path

import altair as alt
import duckdb
import polars as pl
import vl_convert

from civstat.registry import registry
from civstat.rules import warning_rules
from civstat.settings import Paths

# Chinese first: the font Debian's fonts-wqy-zenhei installs, then those of other systems
FONT = '"WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
MONITORED = ("dibao", "tekun", "marginal", "rigid", "prevention")  # the monitoring groups, in the order of the national tables
SUBSIDIES = ("longevity", "disab_living", "disab_care", "orphan", "unsupported_child", "temporary", "prevention_dibao")
PREVENTION_DIBAO = "防止返贫监测对象低保覆盖"  # subsidy_coverage's programme that dim_programmes does not list
ERROR_TEXT = "图表无法显示"  # written into a chart's place when Vega fails (the browser test looks for it)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())


def _values(frame: pl.DataFrame) -> alt.Data:
    """Inline data for a spec: plain JSON rows (dates as ISO text, sums as numbers)."""
    return alt.Data(values=frame.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"), pl.col(pl.Decimal).cast(pl.Float64)).to_dicts())


def _responsive(chart: alt.TopLevelMixin, height: int | dict) -> alt.TopLevelMixin:
    return chart.properties(width="container", height=height, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def _room(values: pl.Series, reference: float) -> float:
    """The end of a bar chart's value axis: room after the longest bar (or the reference line) for its label."""
    return max(float(values.max() or 0), reference) * 1.15


def beds_chart(beds: pl.DataFrame, target: float) -> alt.TopLevelMixin:
    """Beds per 1,000 older people by county, on the 户籍 and the 常住 population, against the target."""
    order = beds.sort("hukou", descending=True, nulls_last=True)["division_name"].to_list()
    long = beds.unpivot(
        index=["division_name", "total_beds", "aged_60_plus_hukou", "aged_60_plus_resident"],
        on=["hukou", "resident"],
        variable_name="basis",
        value_name="per_1000",
    ).with_columns(
        pl.col("basis").replace_strict({"hukou": "户籍人口口径", "resident": "常住人口口径"}),
        pl.when(pl.col("basis") == "hukou").then("aged_60_plus_hukou").otherwise("aged_60_plus_resident").alias("aged_60_plus"),
    )
    long = long.filter(pl.col("per_1000").is_not_null()).select("division_name", "basis", "per_1000", "total_beds", "aged_60_plus")
    base = alt.Chart(_values(long)).encode(
        y=alt.Y("division_name:N", title="县（市、区）", sort=order),
        yOffset=alt.YOffset("basis:N", sort=["户籍人口口径", "常住人口口径"]),
        x=alt.X("per_1000:Q", title="每千名老年人养老床位（张）", scale=alt.Scale(domainMax=_room(long["per_1000"], target))),
        color=alt.Color("basis:N", title="老年人口口径", sort=["户籍人口口径", "常住人口口径"], legend=alt.Legend(orient="top")),
        tooltip=[
            alt.Tooltip("division_name:N", title="区划"),
            alt.Tooltip("basis:N", title="口径"),
            alt.Tooltip("per_1000:Q", title="每千名老年人床位（张）", format=",.1f"),
            alt.Tooltip("total_beds:Q", title="养老床位（张）", format=","),
            alt.Tooltip("aged_60_plus:Q", title="60岁及以上人口（人）", format=","),
        ],
    )
    bars = base.mark_bar()
    labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("per_1000:Q", format=",.1f"), color=alt.value("#333"))
    goal = alt.Chart(alt.Data(values=[{"target": target, "label": f"目标 {target:g} 张"}]))
    rule = goal.mark_rule(color="#c0392b", strokeDash=[6, 4], strokeWidth=2).encode(
        x="target:Q", tooltip=[alt.Tooltip("target:Q", title="目标（张/千名老年人）")]
    )
    rule_label = goal.mark_text(color="#c0392b", align="left", baseline="top", dx=4, y=-14, fontSize=12).encode(
        x="target:Q", text="label:N"
    )
    rows = max(beds.height, 1)
    return _responsive(alt.layer(bars, labels, rule, rule_label), height=max(rows * 44, 90))


def monthly_chart(trend: pl.DataFrame) -> alt.TopLevelMixin:
    """Persons on the rolls each month, one line per monitored programme, on a log scale so that the
    small programmes do not lie on top of one another at the bottom."""
    names = trend.unique("programme_zh", maintain_order=True)["programme_zh"].to_list()
    # one legend for colour and dash (a scale domain, not a sort: Vega-Lite draws two legends for a sort)
    order = alt.Scale(domain=names)
    legend = alt.Legend(orient="top", columns=3, symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=300)
    lines = alt.Chart(_values(trend)).encode(
        x=alt.X(
            "yearmonth(period):T",
            title="月份",
            axis=alt.Axis(format="%Y-%m", labelAngle=-40, labelOverlap=True, tickCount={"interval": "month", "step": 1}, grid=False),
        ),
        y=alt.Y(
            "persons:Q", title="在册人数（人，对数刻度）", scale=alt.Scale(type="log", nice=False, padding=12), axis=alt.Axis(format=",")
        ),
        color=alt.Color("programme_zh:N", title="项目", scale=order, legend=legend),
        # a dash of its own for each line: two programmes of about the same size still show as two lines
        strokeDash=alt.StrokeDash("programme_zh:N", title="项目", scale=order, legend=legend),
        tooltip=[
            alt.Tooltip("yearmonth(period):T", title="月份", format="%Y年%-m月"),
            alt.Tooltip("programme_zh:N", title="项目"),
            alt.Tooltip("persons:Q", title="在册人数（人）", format=","),
            alt.Tooltip("persons_entering:Q", title="本月新增（人）", format=","),
            alt.Tooltip("persons_exiting:Q", title="本月退出（人）", format=","),
        ],
    )
    return _responsive(lines.mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(filled=True, size=45)), height=340)


def coverage_chart(coverage: pl.DataFrame, month: str) -> alt.TopLevelMixin:
    """Coverage (recipients over eligible) by subsidy and tier, in a fixed order: the subsidies as the
    marts list them, 高龄津贴's tiers by age."""
    order = coverage["label"].to_list()
    base = alt.Chart(_values(coverage)).encode(
        y=alt.Y("label:N", title=None, sort=order, axis=alt.Axis(labelLimit=260)),
        x=alt.X(
            "coverage_rate:Q",
            title=f"覆盖率（享受人数 ÷ 应享人数，{month}）",
            axis=alt.Axis(format=".0%"),
            scale=alt.Scale(domainMax=_room(coverage["coverage_rate"], 1.0)),
        ),
        tooltip=[
            alt.Tooltip("label:N", title="补贴"),
            alt.Tooltip("coverage_rate:Q", title="覆盖率", format=".1%"),
            alt.Tooltip("recipients:Q", title="享受人数（人）", format=","),
            alt.Tooltip("eligible:Q", title="应享人数（人）", format=","),
        ],
    )
    bars = base.mark_bar().encode(color=alt.Color("subsidy:N", sort=coverage["subsidy"].unique(maintain_order=True).to_list(), legend=None))
    labels = base.mark_text(align="left", dx=3, fontSize=11, color="#333").encode(text=alt.Text("coverage_rate:Q", format=".1%"))
    full = alt.Chart(alt.Data(values=[{"x": 1}])).mark_rule(color="#888", strokeDash=[3, 3]).encode(x="x:Q")
    return _responsive(alt.layer(bars, labels, full), height={"step": 30})


def warnings_chart(grid: pl.DataFrame) -> alt.TopLevelMixin:
    """New warnings by rule and month: a table of coloured cells with the count in each."""
    rules = grid["rule"].unique(maintain_order=True).to_list()
    months = sorted(grid["month"].unique().to_list())
    darkest = max(int(grid["new_warnings"].max() or 0), 1)
    base = alt.Chart(_values(grid)).encode(
        x=alt.X("month:O", title="月份", sort=months, axis=alt.Axis(labelAngle=-40 if len(months) > 6 else 0)),
        y=alt.Y("rule:N", title=None, sort=rules, axis=alt.Axis(labelLimit=300)),
        tooltip=[
            alt.Tooltip("rule:N", title="预警规则"),
            alt.Tooltip("month:O", title="月份"),
            alt.Tooltip("new_warnings:Q", title="新增预警（条）", format=","),
            alt.Tooltip("ongoing_warnings:Q", title="持续预警（条）", format=","),
            alt.Tooltip("resolved_warnings:Q", title="已解除（条）", format=","),
        ],
    )
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.condition(
            "datum.new_warnings == 0",
            alt.value("#f3f3f3"),
            alt.Color(
                "new_warnings:Q",
                title="新增预警（条）",
                scale=alt.Scale(scheme="oranges", domainMin=0),
                legend=alt.Legend(orient="top", format="d", values=list(range(0, darkest + 1, -(-darkest // 4)))),  # whole numbers
            ),
        )
    )
    counts = (
        base.transform_filter("datum.new_warnings > 0")
        .mark_text(fontSize=11)
        .encode(
            text=alt.Text("new_warnings:Q", format=","),
            color=alt.condition(f"datum.new_warnings > {darkest / 2}", alt.value("white"), alt.value("#333")),
        )
    )
    return _responsive(alt.layer(cells, counts), height={"step": 24})


#: what became of a month's warnings, in the order they are stacked, with their colours
LOOP_STATES = {"核实属实": "#c0392b", "核实不属实": "#7f8c8d", "未核查": "#f1c40f", "逾期未核查": "#e67e22"}


def loop_chart(loop: pl.DataFrame) -> alt.TopLevelMixin:
    """Per county, the month's warnings by what the caseworkers found (预警 → 核查 → 反馈)."""
    order = loop.sort("raised", descending=True)["division_name"].to_list()
    long = loop.with_columns(open=pl.col("raised") - pl.col("checked") - pl.col("overdue")).unpivot(
        index=["division_name", "raised", "on_time"],
        on=["confirmed", "dismissed", "open", "overdue"],
        variable_name="state",
        value_name="warnings",
    )
    names = dict(zip(["confirmed", "dismissed", "open", "overdue"], LOOP_STATES, strict=True))
    long = long.with_columns(
        pl.col("state").replace_strict(names), rank=pl.col("state").replace_strict({k: i for i, k in enumerate(names)})
    )
    bars = (
        alt.Chart(_values(long))
        .mark_bar()
        .encode(
            y=alt.Y("division_name:N", sort=order, title="县（市、区）"),
            x=alt.X("warnings:Q", stack="zero", title="预警（条）"),
            color=alt.Color(
                "state:N",
                sort=list(LOOP_STATES),
                scale=alt.Scale(domain=list(LOOP_STATES), range=list(LOOP_STATES.values())),
                legend=alt.Legend(title=None, orient="top"),
            ),
            order=alt.Order("rank:Q"),
            tooltip=[
                alt.Tooltip("division_name:N", title="县"),
                alt.Tooltip("state:N", title="核查情况"),
                alt.Tooltip("warnings:Q", title="条数"),
                alt.Tooltip("raised:Q", title="预警合计"),
                alt.Tooltip("on_time:Q", title="按时核查率", format=".0%"),
            ],
        )
    )
    return _responsive(bars, height={"step": 30})


def _config(chart: alt.TopLevelMixin) -> dict:
    """The chart's spec, in the page's Chinese fonts."""
    return (
        chart.configure(font=FONT)
        .configure_axis(labelFontSize=12, titleFontSize=13, labelSeparation=8)  # labels closer than 8 px: every other one is left out
        .configure_legend(labelFontSize=12, titleFontSize=12, labelLimit=240)
        .configure_view(stroke=None)
        .to_dict()
    )


def read_figures(con: duckdb.DuckDBPyConnection) -> dict:
    """The aggregates the charts draw, from the published marts."""
    year = _frame(con, "select max(year) from elderly_care_beds").item()
    beds = _frame(
        con,
        """select division_name, total_beds, aged_60_plus_hukou, aged_60_plus_resident,
                  beds_per_1000_aged_60_plus_hukou as hukou, beds_per_1000_aged_60_plus_resident as resident
           from elderly_care_beds where division_level = 'county' and year = ? order by division_code""",
        [year],
    )
    trend = _frame(
        con,
        """select m.period, m.programme, p.programme_zh, sum(m.persons) as persons,
                  sum(m.persons_entering) as persons_entering, sum(m.persons_exiting) as persons_exiting
           from low_income_monitoring m join dim_programmes p using (programme)
           where m.division_level = 'province' group by all having sum(m.persons) > 0""",
    )
    trend = trend.sort(pl.col("programme").replace_strict({p: i for i, p in enumerate(MONITORED)}, default=len(MONITORED)), "period")
    last = _frame(con, "select max(period) from subsidy_coverage").item()
    coverage = _frame(
        con,
        """select s.programme, coalesce(p.programme_zh, ?) as subsidy, s.subcategory, s.eligible, s.recipients, s.coverage_rate
           from subsidy_coverage s left join dim_programmes p using (programme)
           where s.division_level = 'province' and s.period = ? and s.coverage_rate is not null""",
        [PREVENTION_DIBAO, last],
    )
    rank = {p: i for i, p in enumerate(SUBSIDIES)}
    coverage = (
        coverage.with_columns(
            pl.when(pl.col("subcategory") == "")
            .then(pl.col("subsidy"))
            .otherwise(pl.col("subsidy") + " · " + pl.col("subcategory"))
            .alias("label")
        )
        .sort(  # the subsidies in the marts' order; 高龄津贴's tiers by their first age (80-89周岁 before 100周岁以上)
            pl.col("programme").replace_strict(rank, default=len(rank)),
            pl.col("subcategory").str.extract(r"^(\d+)").cast(pl.Int64),
            "subcategory",
            nulls_last=True,
        )
        .drop("programme", "subcategory")
    )
    rules = pl.DataFrame([{"rule_code": r["rule_code"], "rule": f"{r['rule_code']} {r['rule_zh']}"} for r in warning_rules()])
    counts = _frame(
        con,
        """select rule_code, strftime(period, '%Y-%m') as month, new_warnings, ongoing_warnings, resolved_warnings
           from monitoring_alert_summary where division_level = 'province'""",
    )
    months = _frame(con, "select distinct strftime(period, '%Y-%m') as month from monitoring_alert_summary")
    grid = (  # every rule of the catalogue in every month with warnings: a rule that found nothing shows 0
        rules.join(months, how="cross")
        .join(counts, on=["rule_code", "month"], how="left")
        .with_columns(pl.col("new_warnings", "ongoing_warnings", "resolved_warnings").fill_null(0))
        .sort("rule_code", "month")
        .drop("rule_code")
    )
    loop = _frame(
        con,
        """select s.division_name, sum(s.raised_warnings) as raised, sum(s.checked_warnings) as checked,
                  sum(s.confirmed_warnings) as confirmed, sum(s.dismissed_warnings) as dismissed, sum(s.overdue_warnings) as overdue,
                  (sum(s.checked_warnings) + sum(s.overdue_warnings)) as due,
                  sum(s.checked_on_time_share * (s.checked_warnings + s.overdue_warnings)) / nullif(sum(s.checked_warnings + s.overdue_warnings), 0) as on_time
           from monitoring_alert_summary as s
           where s.division_level = 'county' and s.period = (select max(period) from monitoring_alert_summary)
           group by all""",
    ).drop("due")
    loop_month = _frame(con, "select max(period) from monitoring_alert_summary").item()
    run = _frame(con, "select run_id, published_at from _publication").row(0)
    return {
        "year": year,
        "beds": beds,
        "trend": trend,
        "last": last,
        "coverage": coverage,
        "warnings": grid,
        "loop": loop,
        "loop_month": loop_month,
        "run": run,
    }


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:">
<title>民政统计图表</title>
<style>
body {{ font-family: {font}; margin: 0 auto; padding: 16px 24px; max-width: 1100px; color: #222; }}
h1 {{ font-size: 22px; }}
h2 {{ font-size: 17px; margin: 0 0 4px 0; }}
p.note {{ margin: 0 0 8px 0; color: #555; font-size: 13px; }}
section.chart {{ margin: 0 0 36px 0; }}
.vega {{ width: 100%; }}
.vega svg {{ max-width: 100%; height: auto; }}
@page {{ size: A4 landscape; margin: 12mm; }}
@media print {{
  body {{ max-width: none; padding: 0; }}
  section.chart {{ break-inside: avoid; page-break-inside: avoid; }}
  section.chart + section.chart {{ break-before: page; page-break-before: always; }}
  .vg-tooltip {{ display: none; }}
}}
</style></head><body>
<h1>民政统计图表</h1>
<p class="note">数据来自已发布的数据集市（批次 {run_id}，{published_at}）。图表均为区划汇总数，不含个人信息。本页不依赖网络；鼠标停在图形上可见数值。</p>
{sections}
<script>{bundle}</script>
<script>
const specs = {specs};
const options = {{renderer: "svg", actions: false, formatLocale: {format_locale}, timeFormatLocale: {time_locale}}};
for (const [id, spec] of Object.entries(specs)) {{
  vegaEmbed("#" + id, spec, options).catch((error) => {{
    document.getElementById(id).textContent = "{error}：" + error;
  }});
}}
</script>
</body></html>
"""


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def chart_page(paths: Paths, out: Path | None = None) -> Path:
    db = paths.published_warehouse
    if not db.exists():
        raise FileNotFoundError(f"no published warehouse at {db}: run `civstat run` (or `civstat demo`) first")
    con = duckdb.connect(str(db), read_only=True)
    try:
        f = read_figures(con)
    finally:
        con.close()
    target = registry().local.beds_per_1000_target
    month = f"{f['last']:%Y年%m月}" if f["last"] else ""
    charts = [
        (
            f"{f['year']}年各县每千名老年人养老床位",
            f"养老床位（机构＋社区设施）÷ 60岁及以上人口 × 1000，按户籍与常住两种口径；红色虚线为目标 {target:g} 张（config/civstat.yaml 的 beds_per_1000_target）。",
            beds_chart(f["beds"], target),
        ),
        (
            "低收入人口月度在册人数（全省，按项目）",
            "各监测项目每月在册人数；纵轴为对数刻度，人数较少的项目也看得清。",
            monthly_chart(f["trend"]),
        ),
        (
            f"补贴覆盖率（{month}，全省）",
            "享受人数 ÷ 应享人数；灰色虚线为 100%。无应享人口登记的补贴（如重度残疾人护理补贴、孤儿）不计覆盖率，不列出。",
            coverage_chart(f["coverage"], month),
        ),
        (
            "各规则各月新增预警（全省）",
            "每格为该规则当月新增预警条数，颜色越深越多；灰色格为当月无新增。",
            warnings_chart(f["warnings"]),
        ),
        (
            f"预警核查情况（{f['loop_month']:%Y年%m月}，按县）" if f["loop_month"] else "预警核查情况",
            "当月成立的预警按核查结果分段：核实属实、核实不属实（数值不变则不再列入名单）、未核查、逾期未核查"
            f"（首次预警当月末起 {registry().local.verify_within_days} 天仍未核查）。核查结果来自退回的核查名单。",
            loop_chart(f["loop"]),
        ),
    ]
    sections = "\n".join(
        f'<section class="chart"><h2>{html.escape(title)}</h2><p class="note">{html.escape(note)}</p>'
        f'<div class="vega" id="chart-{i}"></div></section>'
        for i, (title, note, _) in enumerate(charts, 1)
    )
    vl_version = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    page = PAGE.format(
        font=FONT,
        run_id=html.escape(str(f["run"][0])),
        published_at=html.escape(str(f["run"][1])),
        sections=sections,
        bundle=vl_convert.javascript_bundle(vl_version=vl_version),
        specs=_script_json({f"chart-{i}": _config(chart) for i, (_, _, chart) in enumerate(charts, 1)}),
        format_locale=_script_json(vl_convert.get_format_locale("zh-CN")),
        time_locale=_script_json(vl_convert.get_time_format_locale("zh-CN")),
        error=ERROR_TEXT,
    )
    out = out or paths.reports / "民政统计图表.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out

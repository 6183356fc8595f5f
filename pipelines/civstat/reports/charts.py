"""A page of charts for people who would rather look than read: one self-contained HTML file
(inline SVG drawn here, no script, no CDN), Chinese labels in the system's CJK font."""

from __future__ import annotations

import html
from pathlib import Path

import duckdb
import polars as pl

from civstat.registry import registry
from civstat.settings import Paths

PALETTE = ["#3366aa", "#dd7722", "#449944", "#aa3344", "#7755aa", "#888833", "#22aaaa"]


def _esc(text: object) -> str:
    return html.escape(str(text))


def bar_chart(
    title: str,
    labels: list[str],
    values: list[float],
    unit: str,
    target: float | None = None,
    target_label: str = "",
    left: int = 180,
    decimals: int = 1,
) -> str:
    width, bar_h = 860, 22
    height = 50 + bar_h * len(labels) + 30
    top = max([*values, target or 0, 1e-9]) * 1.1
    scale = (width - left - 60) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{_esc(title)}">',
        f'<text x="10" y="24" class="title">{_esc(title)}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 44 + i * bar_h
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{_esc(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{max(value, 0) * scale:.1f}" height="{bar_h - 6}" fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{left + max(value, 0) * scale + 6:.1f}" y="{y + 15}">{value:,.{decimals}f}{_esc(unit)}</text>')
    if target is not None:
        x = left + target * scale
        parts.append(f'<line x1="{x:.1f}" y1="36" x2="{x:.1f}" y2="{height - 20}" stroke="#cc2222" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{x + 4:.1f}" y="{height - 6}" fill="#cc2222">{_esc(target_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, months: list[str], series: dict[str, list[float]], unit: str) -> str:
    width, height, left, bottom = 860, 340, 70, 280
    top_value = max([v for values in series.values() for v in values] + [1]) * 1.1
    step = (width - left - 200) / max(len(months) - 1, 1)
    y = lambda v: bottom - v / top_value * (bottom - 50)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{_esc(title)}">',
        f'<text x="10" y="24" class="title">{_esc(title)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{width - 140}" y2="{bottom}" stroke="#999"/>',
    ]
    for i, month in enumerate(months):
        if len(months) <= 12 or i % 3 == 0:
            parts.append(f'<text x="{left + i * step:.1f}" y="{bottom + 18}" text-anchor="middle" font-size="11">{_esc(month)}</text>')
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{left + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{width - 180}" y="{60 + n * 20}" fill="{colour}">■ {_esc(name)}（{values[-1]:,.0f}{_esc(unit)}）</text>')
    parts.append("</svg>")
    return "".join(parts)


def chart_page(paths: Paths, out: Path | None = None) -> Path:
    db = paths.published_warehouse
    if not db.exists():
        raise FileNotFoundError(f"no published warehouse at {db}: run `civstat run` (or `civstat demo`) first")
    con = duckdb.connect(str(db), read_only=True)
    q = lambda sql: pl.from_arrow(con.sql(sql).to_arrow_table())
    try:
        year = q("select max(year) as y from elderly_care_beds")["y"][0]
        beds = q(f"""select division_name, beds_per_1000_aged_60_plus_hukou as v from elderly_care_beds
                     where division_level = 'county' and year = {year} and beds_per_1000_aged_60_plus_hukou is not null order by v desc""")
        trend = q("""select strftime(period, '%Y-%m') as month, programme, sum(persons) as persons from low_income_monitoring
                     where division_level = 'province' group by all order by month""")
        last = q("select max(period) as p from subsidy_coverage")["p"][0]
        coverage = q(f"""select coalesce(p.programme_zh, '防止返贫监测对象低保覆盖') || case when s.subcategory <> '' then '·' || s.subcategory else '' end as label,
                                s.coverage_rate * 100 as v
                         from subsidy_coverage s left join dim_programmes p using (programme)
                         where s.division_level = 'province' and s.period = '{last}' and s.coverage_rate is not null order by label""")
        warnings = q("""select rule_code || ' ' || any_value(r.rule_zh) as label, sum(new_warnings) as v
                        from monitoring_alert_summary s join (select distinct rule_code, rule_zh from monitoring_alerts) r using (rule_code)
                        where division_level = 'province' group by rule_code order by rule_code""")
        run = con.execute("select run_id, published_at from _publication").fetchone()
    finally:
        con.close()
    target = registry().local.beds_per_1000_target
    months = sorted(trend["month"].unique().to_list())
    series = {}
    for programme in ("dibao", "tekun", "marginal", "rigid", "prevention"):
        rows = dict(trend.filter(pl.col("programme") == programme).select("month", "persons").iter_rows())
        if rows:
            series[registry().programmes[programme]["group"]] = [float(rows.get(m, 0) or 0) for m in months]
    figures = [
        bar_chart(
            f"{year}年各县每千名老年人养老床位（张，户籍口径）",
            beds["division_name"].to_list(),
            beds["v"].to_list(),
            "张",
            target,
            f"目标 {target:g} 张",
        ),
        line_chart("低收入人口月度在册人数（全省，按项目）", months, series, "人"),
        bar_chart(f"补贴覆盖率（{last:%Y年%m月}，全省）", coverage["label"].to_list(), coverage["v"].to_list(), "%"),
        bar_chart(
            "各规则新增预警（全部月份，全省）",
            warnings["label"].to_list(),
            [float(v) for v in warnings["v"].to_list()],
            "条",
            left=380,
            decimals=0,
        ),
    ]
    page = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>民政统计图表</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC", sans-serif; margin: 24px; color: #222; }}
svg text {{ font-family: inherit; font-size: 13px; }}
svg text.title {{ font-size: 16px; font-weight: bold; }}
figure {{ margin: 0 0 28px 0; }}
</style></head><body>
<h1>民政统计图表</h1>
<p>数据来自已发布的数据集市（批次 {_esc(run[0])}，{_esc(run[1])}）。本页不依赖网络。</p>
{"".join(f"<figure>{f}</figure>" for f in figures)}
</body></html>
"""
    out = out or paths.reports / "民政统计图表.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out

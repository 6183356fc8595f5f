"""The caseworker list: one .xlsx per township for a month's warnings, Chinese headers, masked IDs
only, most severe first, each rule explained in words."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from civstat.settings import Paths

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SEVERITY_ZH = {"high": "高", "medium": "中", "low": "低"}
STATUS_ZH = {"new": "新增", "ongoing": "持续"}
HEADERS = {
    "rule_code": "规则代码",
    "severity_zh": "严重程度",
    "status_zh": "状态",
    "programme_zh": "项目",
    "village_name": "社区/村",
    "id_masked": "身份证号（脱敏）",
    "detail": "预警说明",
    "rule_zh": "规则说明",
}


def caseworker_lists(paths: Paths, period: str, out_dir: Path | None = None) -> list[Path]:
    """Write the month's warning lists, one workbook per township; return the files written."""
    from civstat.periods import parse_month

    period = parse_month(period)  # 2025-3, 202503, 2025年3月 -> 2025-03; anything else is refused
    db = paths.published_warehouse
    if not db.exists():
        raise FileNotFoundError(f"no published warehouse at {db}: run `civstat run` first")
    con = duckdb.connect(str(db), read_only=True)
    try:
        held = [str(m)[:7] for (m,) in con.execute("select distinct period from low_income_monitoring order by 1").fetchall()]
        if period not in held:
            raise ValueError(
                f"已发布的数据中没有该月 / the published marts hold no data for {period} (months held: {', '.join(held) or 'none'})"
            )
        frame = pl.from_arrow(
            con.sql(
                """
            select l.rule_code, l.severity, l.status, l.programme, coalesce(p.programme_zh, l.programme) as programme_zh,
                   l.id_masked, l.detail, r.rule_zh,
                   coalesce(d.township_code, d.county_code, l.division_code) as township_code,
                   coalesce(d.township_name, d.county_name || '本级') as township_name,
                   case when d.division_level = 'village' then d.division_name end as village_name
            from monitoring_alert_lifecycle as l
            left join dim_divisions as d on d.division_code = l.division_code
            left join dim_programmes as p on p.programme = l.programme
            left join (select distinct rule_code, rule_zh from monitoring_alerts) as r on r.rule_code = l.rule_code
            where l.period = cast(? as date) and l.status in ('new', 'ongoing')
        """,
                params=[period + "-01"],
            ).to_arrow_table()
        )
    finally:
        con.close()
    out_dir = out_dir or paths.reports / "alerts" / period
    written = []
    if frame.height:
        out_dir.mkdir(parents=True, exist_ok=True)
    frame = frame.with_columns(
        severity_rank=pl.col("severity").replace_strict(SEVERITY_ORDER, default=9, return_dtype=pl.Int64),
        severity_zh=pl.col("severity").replace_strict(SEVERITY_ZH, default=None, return_dtype=pl.String),
        status_zh=pl.col("status").replace_strict(STATUS_ZH, default=None, return_dtype=pl.String),
    )
    for (code, name), group in frame.group_by("township_code", "township_name", maintain_order=True):
        table = group.sort("severity_rank", "rule_code", "village_name", "id_masked", nulls_last=True).select(
            [pl.col(c).alias(zh) for c, zh in HEADERS.items()]
        )
        safe = re.sub(r"[\\/:*?\"<>|]", "_", f"{code}_{name}")
        target = out_dir / f"{safe}_{period}预警名单.xlsx"
        table.write_excel(target, worksheet="预警名单", autofit=True, header_format={"bold": True})
        written.append(target)
    return sorted(written)

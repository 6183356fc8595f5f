"""Monitoring warnings: for every rule of the catalogue (dbt_project/seeds/warning_rules.csv), every
planted case is detected in every month it holds, no planted look-alike fires, and nothing else
fires (recall and precision 100% on the generator's manifest)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import duckdb
import polars as pl

from civstat.rules import warning_rules

RULES = {rule["rule_code"]: rule for rule in warning_rules()}
HOUSEHOLD_RULES = {code for code, rule in RULES.items() if rule["keyed_by"] == "household"}
ON_BY_DEFAULT = {code for code, rule in RULES.items() if rule["keyed_by"] != "region"}  # W14 (regions) is off unless configured


def pseudonym(raw_id: str | None) -> str | None:
    if not raw_id:
        return None
    secret = Path(os.environ["CIVSTAT_KEY_FILE"]).read_bytes().strip()
    key = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
    return hmac.new(key, raw_id.encode(), hashlib.sha256).hexdigest()[:32]


def alerts(root: Path) -> pl.DataFrame:
    con = duckdb.connect(str(root / "marts" / "warehouse.duckdb"), read_only=True)
    try:
        frame = pl.from_arrow(con.sql("select * from monitoring_alerts").to_arrow_table())
    finally:
        con.close()
    return frame.with_columns(month=pl.col("period").dt.strftime("%Y-%m"))


def test_every_planted_case_fires_no_look_alike_fires_and_nothing_else_fires(tiny_built):
    manifest = json.loads((tiny_built / "raw" / "_manifest" / "manifest.json").read_text(encoding="utf-8"))
    found = alerts(tiny_built)
    explained = set()
    misses, false_alarms = [], []
    planted_rules = set()
    for case in manifest["planted"]:
        if case["rule"] not in ON_BY_DEFAULT:
            continue
        planted_rules.add(case["rule"])
        by_household = case["rule"] in HOUSEHOLD_RULES or not case["person_id"]
        who = pseudonym(case["head_id"]) if by_household else pseudonym(case["person_id"])
        column = "household_key" if by_household else "person_key"
        for month in case["months"]:
            hits = found.filter((pl.col("rule_code") == case["rule"]) & (pl.col("month") == month) & (pl.col(column) == who))
            if case["expect"] == "fire" and hits.height == 0:
                misses.append((case["rule"], month, case["detail"]))
            if case["expect"] == "quiet" and hits.height:
                false_alarms.append((case["rule"], month, case["detail"]))
            explained.update(hits.select("rule_code", "month", column).rows())
    assert planted_rules == ON_BY_DEFAULT  # every rule of the catalogue plants cases, and is checked
    assert misses == [], "planted cases not detected"
    assert false_alarms == [], "look-alikes that fired"
    unexplained = [
        r
        for r in found.iter_rows(named=True)
        if (r["rule_code"], r["month"], r["household_key"] if r["rule_code"] in HOUSEHOLD_RULES else r["person_key"]) not in explained
    ]
    assert unexplained == [], "warnings nobody planted"


def test_warnings_carry_masked_ids_and_plain_chinese_details_only(tiny_built):
    found = alerts(tiny_built)
    assert found.height > 0
    assert found.filter(pl.col("id_masked").is_not_null())["id_masked"].str.contains(r"^\d{6}\*{8}\d{3}[\dX]$").all()
    assert found["detail"].str.contains(r"[\u4e00-\u9fff]").all()
    assert not found["detail"].str.contains(r"\d{15,}").any(), "no full ID in a detail"


def test_rebuilding_does_not_duplicate_the_warning_history(tiny_built, tmp_path):
    import shutil

    from civstat.settings import Paths
    from civstat.warehouse.build import build_and_publish

    copy = tmp_path / "data"
    shutil.copytree(tiny_built, copy, ignore=shutil.ignore_patterns("warehouse"))

    def history() -> list:
        con = duckdb.connect(str(copy / "marts" / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute("select alert_key, period, status from monitoring_alert_lifecycle order by all").fetchall()
        finally:
            con.close()

    first = history()
    build_and_publish(Paths.from_env(copy))
    assert history() == first and len(first) > 0


def test_the_caseworker_lists_are_per_township_masked_and_most_severe_first(tiny_built, tmp_path):
    from civstat.reports.caseworker import COLUMNS, HEADER_ROW, VISIT, caseworker_lists
    from civstat.settings import Paths

    month = alerts(tiny_built)["month"].max()
    files = caseworker_lists(Paths.from_env(tiny_built), month, tmp_path)
    assert files and all(f.name.endswith(f"{month}预警名单.xlsx") for f in files)
    total = 0
    for f in files:
        sheet = pl.read_excel(f, sheet_name="预警名单", read_options={"header_row": HEADER_ROW - 1})
        assert sheet.columns == [h for _, h, _ in COLUMNS] + [h for h, _ in VISIT]
        ranks = sheet["严重程度"].replace_strict({"高": 0, "中": 1, "低": 2}).to_list()
        assert ranks == sorted(ranks)
        masked = sheet["身份证号（脱敏）"].drop_nulls()
        assert masked.str.contains(r"^\d{6}\*{8}\d{3}[\dX]$").all()
        total += sheet.height
    lifecycle_open = alerts(tiny_built).filter(pl.col("month") == month).height
    assert total == lifecycle_open


def test_planted_warnings_are_new_then_ongoing_then_resolved_over_the_months(tmp_path):
    """Four months of generated data: each planted case holds in months 2 and 3 and stops in 4."""
    from civstat.generate import generate
    from civstat.ingest import ingest
    from civstat.settings import Paths
    from civstat.warehouse.build import build_and_publish

    generate("tiny", 4, 11, tmp_path / "raw", start="2025-01")
    assert not ingest(Paths.from_env(tmp_path)).failed
    build_and_publish(Paths.from_env(tmp_path))
    manifest = json.loads((tmp_path / "raw" / "_manifest" / "manifest.json").read_text(encoding="utf-8"))
    con = duckdb.connect(str(tmp_path / "marts" / "warehouse.duckdb"), read_only=True)
    lifecycle = pl.from_arrow(con.sql("select * from monitoring_alert_lifecycle").to_arrow_table()).with_columns(
        month=pl.col("period").dt.strftime("%Y-%m")
    )
    con.close()
    checked = 0
    for case in manifest["planted"]:
        if case["expect"] != "fire" or case["rule"] == "W14":
            continue
        by_household = case["rule"] in HOUSEHOLD_RULES or not case["person_id"]
        who = pseudonym(case["head_id"]) if by_household else pseudonym(case["person_id"])
        column = "household_key" if by_household else "person_key"
        history = lifecycle.filter((pl.col("rule_code") == case["rule"]) & (pl.col(column) == who)).sort("period")
        assert history.select("month", "status").rows() == [("2025-02", "new"), ("2025-03", "ongoing"), ("2025-04", "resolved")], case
        checked += 1
    assert checked >= 15


def test_w14_is_off_by_default_and_fires_for_the_planted_county_when_switched_on(tiny_built, tmp_path):
    import shutil
    import subprocess
    import sys

    import yaml

    from civstat.settings import config_path

    assert alerts(tiny_built).filter(pl.col("rule_code") == "W14").height == 0
    copy = tmp_path / "data"
    shutil.copytree(tiny_built, copy, ignore=shutil.ignore_patterns("warehouse"))
    config = yaml.safe_load(config_path().read_text(encoding="utf-8"))
    config["local"] = {**(config.get("local") or {}), "w14_enabled": True}
    (tmp_path / "civstat.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(copy), "CIVSTAT_CONFIG": str(tmp_path / "civstat.yaml")}
    result = subprocess.run([sys.executable, "-m", "civstat.cli", "build"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    w14 = alerts(copy).filter(pl.col("rule_code") == "W14")
    manifest = json.loads((copy / "raw" / "_manifest" / "manifest.json").read_text(encoding="utf-8"))
    [planted] = [c for c in manifest["planted"] if c["rule"] == "W14"]
    assert set(w14["division_code"].str.slice(0, 6).to_list()) == {planted["county_code"]}
    assert sorted(w14["month"].unique().to_list()) == planted["months"]


def test_a_monthly_jump_in_county_counts_is_flagged_whether_urban_or_rural(tmp_path):
    """The period-over-period bound (local.max_monthly_change) on county counts: urban and rural
    persons are summed, subsidy recipients over subcategories; small counts (< 20) never flag."""
    from civstat.quality.run import recipient_jumps

    database = tmp_path / "build.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("""create table low_income_monitoring as select * from (values
            ('990101000000', '甲县', 'county', date '2025-01-01', 'dibao', 'urban', 100),
            ('990101000000', '甲县', 'county', date '2025-01-01', 'dibao', 'rural', 100),
            ('990101000000', '甲县', 'county', date '2025-02-01', 'dibao', 'urban', 100),
            ('990101000000', '甲县', 'county', date '2025-02-01', 'dibao', 'rural', 200),
            ('990102000000', '乙县', 'county', date '2025-01-01', 'dibao', 'rural', 10),
            ('990102000000', '乙县', 'county', date '2025-02-01', 'dibao', 'rural', 19)
        ) as t(division_code, division_name, division_level, period, programme, urban_rural, persons)""")
        con.execute("""create table subsidy_coverage as select * from (values
            ('990101000000', '甲县', 'county', date '2025-01-01', 'longevity', '80-89岁', 50),
            ('990101000000', '甲县', 'county', date '2025-01-01', 'longevity', '90-99岁', 50),
            ('990101000000', '甲县', 'county', date '2025-02-01', 'longevity', '80-89岁', 60),
            ('990101000000', '甲县', 'county', date '2025-02-01', 'longevity', '90-99岁', 60)
        ) as t(division_code, division_name, division_level, period, programme, subcategory, recipients)""")
    jumps = recipient_jumps(database, 0.3)
    assert jumps.select("division_name", "programme", "previous", "current").rows() == [("甲县", "dibao", 200, 300)]
    assert recipient_jumps(database, 0.6).height == 0

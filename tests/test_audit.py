"""表内/表间审核 before publication: a tampered mart fails the rules with the region and the figures
and nothing is published; a 说明 lets an explainable failure through; the built data passes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from civstat.quality.audit import evaluate, rules
from civstat.settings import Paths
from civstat.warehouse.build import AuditFailed, BuildResult, publish


def publication(marts: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in marts.rglob("*") if p.is_file()}


@pytest.fixture
def copy(tiny_built, tmp_path) -> Paths:
    shutil.copytree(tiny_built, tmp_path / "data", ignore=shutil.ignore_patterns("dagster"))
    return Paths.from_env(tmp_path / "data")


def test_the_built_data_passes_every_blocking_rule_and_every_rule_ran(tiny_built):
    result = evaluate(tiny_built / "marts" / "warehouse.duckdb")
    assert result.passed, result.describe()
    ran = {r.id for r in rules() if result.checked.get(r.id)}
    year_on_year = {r.id for r in rules() if "prior." in r.right}
    assert ran == {r.id for r in rules()}, f"rules that checked no row: {sorted({r.id for r in rules()} - ran)}"
    assert year_on_year, "a rule compares this year with last year"


def test_a_tampered_mart_fails_the_rules_with_the_region_and_the_figures_and_nothing_is_published(copy):
    before = publication(copy.marts)
    build_file = copy.build_file
    with duckdb.connect(str(build_file)) as con:
        county, name, households = con.execute(
            "select division_code, division_name, dibao_rural_households from annual_social_assistance "
            "where division_level = 'county' and year = 2025 and dibao_rural_households > 1"
        ).fetchone()
        con.execute(
            "update annual_social_assistance set dibao_rural_persons = dibao_rural_households - 1 where division_code = ? and year = 2025",
            [county],
        )
        beds = con.execute("select institution_beds from elderly_care_beds where division_code = ? and year = 2025", [county]).fetchone()[0]
        con.execute("update elderly_care_beds set nursing_beds = institution_beds + 7 where division_code = ? and year = 2025", [county])

    with pytest.raises(AuditFailed) as failed:
        publish(copy, BuildResult(run_id="tampered", build_file=build_file, seconds=0.0))
    message = str(failed.value)
    assert "nothing published" in message
    assert f"SJ05 {name}（{county}）2025年：dibao_rural_persons = {households - 1:,}，dibao_rural_households = {households:,}" in message
    assert f"YL01 {name}（{county}）2025年：nursing_beds = {beds + 7:,}，institution_beds = {beds:,}" in message
    assert publication(copy.marts) == before, "the previous publication is untouched"
    listed = pl.read_csv(copy.quality / "tampered" / "审核结果.csv")
    assert {("SJ05", county), ("YL01", county)} <= set(zip(listed["rule"], listed["division_code"].cast(pl.String)))


def test_a_written_explanation_lets_an_explainable_failure_through_and_only_that_one(copy, tmp_path, monkeypatch):
    from civstat import registry as registry_module
    from civstat.settings import config_path

    with duckdb.connect(str(copy.build_file)) as con:
        county = con.execute(
            "select division_code from annual_social_welfare where division_level = 'county' and year = 2025 "
            "and longevity_tier2_eligible > 0"
        ).fetchone()[0]
        con.execute("update annual_social_welfare set longevity_tier2_coverage = 1.2 where division_code = ? and year = 2025", [county])
    blocked = evaluate(copy.build_file)
    assert not blocked.passed and set(blocked.blocking["rule"]) == {"FL01.2"}

    config = tmp_path / "civstat.yaml"
    config.write_text(
        config_path()
        .read_text(encoding="utf-8")
        .replace(
            "audit_explanations: []",
            f"audit_explanations:\n  - {{rule: FL01.2, region: '{county}', year: 2025, note: 年中迁入的高龄老人不在年末人口登记内}}",
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("CIVSTAT_CONFIG", str(config))
    registry_module.registry.cache_clear()
    try:
        explained = evaluate(copy.build_file)
        assert explained.passed, explained.describe()
        row = explained.failures.filter(pl.col("rule") == "FL01.2").row(0, named=True)
        assert row["explained"] and row["division_code"] == county and "迁入" in row["note"]
        assert "[说明已备] FL01.2" in explained.describe(limit=100)
    finally:
        monkeypatch.delenv("CIVSTAT_CONFIG")
        registry_module.registry.cache_clear()


def test_a_rule_that_does_not_run_is_reported_with_its_id(copy, tmp_path, monkeypatch):
    from civstat.quality import audit

    broken = tmp_path / "rules.yaml"
    broken.write_text(
        "rules:\n  - {id: XX01, mart: elderly_care_beds, left: no_such_column, op: '<=', right: institution_beds,"
        " importance: blocking, message: 测试}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(audit, "rules", lambda: audit._rules.__wrapped__(broken, (80, 90, 100)))  # the uncached reader
    with pytest.raises(audit.AuditError, match="rule XX01"):
        audit.evaluate(copy.build_file)


def test_a_bureau_with_two_longevity_tiers_publishes_without_the_third_tiers_columns(copy, tmp_path, monkeypatch):
    """With local.longevity_tiers of two tiers the annual mart has no tier-3 columns: the 审核 checks
    the two tiers and publication goes through (the third tier's column documentation is not applied)."""
    from civstat import registry as registry_module
    from civstat.settings import config_path

    with duckdb.connect(str(copy.build_file)) as con:
        for column in ("recipients", "eligible", "coverage"):
            con.execute(f"alter table annual_social_welfare drop column longevity_tier3_{column}")
    config = tmp_path / "civstat.yaml"
    config.write_text(
        config_path().read_text(encoding="utf-8").replace("local:\n", "local:\n  longevity_tiers: [80, 90]\n", 1), encoding="utf-8"
    )
    monkeypatch.setenv("CIVSTAT_CONFIG", str(config))
    registry_module.registry.cache_clear()
    try:
        publish(copy, BuildResult(run_id="two-tiers", build_file=copy.build_file, seconds=0.0))
        with duckdb.connect(str(copy.marts / "warehouse.duckdb"), read_only=True) as con:
            tiers = [c for (c,) in con.execute("select column_name from (describe annual_social_welfare)").fetchall() if "tier" in c]
            documented = con.execute(
                "select count(*) from duckdb_columns() where table_name = 'annual_social_welfare' and comment is not null"
            ).fetchone()[0]
        assert tiers == [f"longevity_tier{n}_{c}" for n in (1, 2) for c in ("recipients", "eligible", "coverage")]
        assert documented > len(tiers)
    finally:
        monkeypatch.delenv("CIVSTAT_CONFIG")
        registry_module.registry.cache_clear()

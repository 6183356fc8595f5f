"""The warehouse: generated dbt sources, marts equal to the generator's truth, atomic publication."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from civstat.registry import Field, registry
from civstat.settings import Paths
from civstat.warehouse import sources
from civstat.warehouse.build import BuildError, build_and_publish

# ---------------------------------------------------------------- sources generated from the registry


def test_the_committed_dbt_sources_match_the_registry():
    assert sources.drift() == [], "run `civstat dbt-sources` and commit the result"


def test_adding_a_registry_field_without_regenerating_is_drift():
    reg = registry()
    family = reg["family"]
    extra = Field(name="new_field", type="text", zh="新字段", en="a new field", aliases=("新字段",))
    changed = dataclasses.replace(reg, rosters={**reg.rosters, "family": dataclasses.replace(family, fields=(*family.fields, extra))})
    assert sources.SOURCES_FILE in sources.drift(changed)


def test_the_dbt_version_civstat_reads_is_the_one_its_dbt_executable_reports():
    """civstat reads dbt's version from the package metadata instead of a `dbt --version` process
    on every run: it must be what that process says."""
    from dagster_dbt import DbtCliResource

    from civstat.warehouse.build import dbt_resource

    ours = dbt_resource()
    asked = DbtCliResource(project_dir=ours.project_dir, profiles_dir=ours.profiles_dir, dbt_executable=ours.dbt_executable)
    assert ours._cli_version == asked._cli_version


# ---------------------------------------------------------------- the marts equal the truth


def test_dbt_build_passes_every_model_test_and_unit_test(tiny_built):
    results = __import__("json").loads((tiny_built / "build_results.json").read_text())
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert kinds >= {"model", "seed", "test", "unit_test"}
    assert all(r["status"] in ("success", "pass") for r in results), [r for r in results if r["status"] not in ("success", "pass")]
    units = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("unit_test.")}
    assert units >= {
        "beds_per_1000_nursing_share_and_occupancy",
        "national_check_2015_beds_per_1000",
        "coverage_is_recipients_over_eligible_and_null_without_a_register",
        "a_person_on_the_rolls_in_march_only_enters_in_march_and_exits_in_april",
        "a_family_whose_persons_are_all_quarantined_counts_apart_from_households",
        "a_household_none_of_whose_members_is_on_the_rolls_says_its_work_ability_is_not_known",
    }


def marts(root: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(root / "marts" / "warehouse.duckdb"), read_only=True)
    try:
        return pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.close()


def county_figures_equal_the_manifest(root: Path) -> None:
    totals = pl.read_parquet(root / "raw" / "_manifest" / "totals.parquet")
    totals = totals.with_columns(
        year=pl.col("period").str.slice(0, 4).cast(pl.Int64), period=pl.col("period").str.to_date("%Y-%m", strict=False)
    )
    # 低收入: families and amount from the family files (a family is a household or, without a clean member,
    # a household without persons), persons from the person files
    family = totals.filter(pl.col("roster") == "family").select(
        "county_code", "period", "programme", "urban_rural", families="rows", amount_paid="amount"
    )
    persons = totals.filter(pl.col("roster") == "person").select("county_code", "period", "programme", "urban_rural", persons="rows")
    expected = family.join(persons, on=["county_code", "period", "programme", "urban_rural"], how="full", coalesce=True)
    got = marts(
        root,
        """
        select left(division_code, 6) as county_code, period, programme, urban_rural,
               households + households_without_persons as families, persons, amount_paid
        from low_income_monitoring where division_level = 'county' and programme <> 'prevention'""",
    )
    joined = expected.join(got, on=["county_code", "period", "programme", "urban_rural"], how="full", suffix="_mart", coalesce=True)
    assert joined.height == expected.height
    for column in ("families", "persons"):
        assert (joined[column] == joined[f"{column}_mart"]).all(), joined.filter(pl.col(column) != pl.col(f"{column}_mart"))
    amounts = joined.filter(pl.col("programme").is_in(["dibao", "tekun"]))
    assert ((amounts["amount_paid"] - amounts["amount_paid_mart"]).abs() < 0.01).all()
    # 补贴: recipients and amounts by programme
    payments = totals.filter(
        pl.col("roster").is_in(["longevity", "disab_living", "disab_care", "orphan", "unsupported_child", "temporary"])
    )
    expected = payments.group_by("county_code", "period", programme="roster").agg(
        recipients=pl.col("rows").sum(), amount=pl.col("amount").sum()
    )
    got = marts(
        root,
        """
        select left(division_code, 6) as county_code, period, programme, sum(recipients) as recipients, sum(amount) as amount
        from subsidy_coverage where division_level = 'county' and programme <> 'prevention_dibao' group by all""",
    )
    joined = expected.join(got, on=["county_code", "period", "programme"], how="full", suffix="_mart", coalesce=True)
    assert joined.height == expected.height
    assert (joined["recipients"] == joined["recipients_mart"]).all()
    assert ((joined["amount"] - joined["amount_mart"]).abs() < 0.01).all()
    # 养老机构: institutions in operation, beds, nursing beds, residents
    expected = totals.filter(pl.col("roster") == "institution").select(
        "county_code",
        "year",
        institutions=pl.col("institutions").cast(pl.Int64),
        institution_beds=pl.col("beds").cast(pl.Int64),
        nursing_beds=pl.col("nursing_beds").cast(pl.Int64),
        residents=pl.col("residents").cast(pl.Int64),
    )
    got = marts(
        root,
        """
        select left(division_code, 6) as county_code, year, institutions, institution_beds, nursing_beds, residents
        from elderly_care_beds where division_level = 'county'""",
    )
    assert expected.sort("county_code", "year").equals(got.sort("county_code", "year").cast(expected.schema))


def ratios_equal_an_independent_computation(root: Path) -> None:
    clean = root / "clean"
    read = lambda roster: pl.read_parquet(clean / roster / "**" / "*.parquet", hive_partitioning=False)
    # beds per 1,000 older people, per county and year, from the clean registers
    inst = (
        read("institution")
        .filter(pl.col("status") == "operating")
        .group_by(county=pl.col("division_code").str.slice(0, 6), year=pl.col("period").dt.year())
        .agg(beds=pl.col("beds").sum())
    )
    fac = (
        read("community_facility")
        .group_by(county=pl.col("division_code").str.slice(0, 6), year=pl.col("period").dt.year())
        .agg(cbeds=pl.col("beds").sum())
    )
    pop = (
        read("population")
        .filter(pl.col("basis") == "hukou")
        .group_by(county=pl.col("division_code").str.slice(0, 6), year=pl.col("period").dt.year())
        .agg(old=pl.col("aged_60_plus").sum())
    )
    want = (
        inst.join(fac, on=["county", "year"], how="full", coalesce=True)
        .join(pop, on=["county", "year"], how="full", coalesce=True)
        .select("county", "year", per_1000=(pl.col("beds").fill_null(0) + pl.col("cbeds").fill_null(0)) * 1000 / pl.col("old"))
    )
    got = marts(
        root,
        "select left(division_code, 6) as county, year, beds_per_1000_aged_60_plus_hukou as per_1000 "
        "from elderly_care_beds where division_level = 'county'",
    )
    both = want.join(got.with_columns(pl.col("year").cast(pl.Int32)), on=["county", "year"], suffix="_mart")
    assert both.height == want.height and ((both["per_1000"] - both["per_1000_mart"]).abs() < 1e-9).all()
    # households: active families with a member on the rolls; the others are households without persons
    members = read("person").filter(pl.col("status").fill_null("active") == "active").select("period", "programme", "household_key")
    want = (
        read("family")
        .filter(pl.col("status") == "active")
        .join(members.unique().with_columns(listed=pl.lit(True)), on=["period", "programme", "household_key"], how="left")
        .group_by("period", "programme", county=pl.col("division_code").str.slice(0, 6))
        .agg(households=pl.col("listed").count(), households_without_persons=pl.col("listed").null_count())
        .sort(pl.all())
    )
    got = marts(
        root,
        """select period, programme, left(division_code, 6) as county, sum(households) as households,
                  sum(households_without_persons) as households_without_persons
           from low_income_monitoring where division_level = 'county' and programme <> 'prevention' group by all""",
    )
    assert want.equals(got.cast(want.schema).sort(pl.all())), want.join(got, on=["period", "programme", "county"], how="full")
    # entering and exiting 低保, per county and month, from the clean person rosters
    persons = (
        read("person")
        .filter(pl.col("programme") == "dibao")
        .select("period", "person_key", county=pl.col("division_code").str.slice(0, 6))
        .unique(["period", "person_key"])
    )
    months = sorted(persons["period"].unique().to_list())
    rows = []
    for prev, cur in zip(months, months[1:], strict=False):
        before = set(persons.filter(pl.col("period") == prev)["person_key"])
        now = set(persons.filter(pl.col("period") == cur)["person_key"])
        rows.append({"period": cur, "entering": len(now - before), "exiting": len(before - now)})
    want = pl.DataFrame(rows)
    got = marts(
        root,
        """select period, sum(persons_entering) as entering, sum(persons_exiting) as exiting
                         from low_income_monitoring where division_level = 'province' and programme = 'dibao'
                         and period > (select min(period) from low_income_monitoring) group by all order by period""",
    )
    assert want.equals(got.cast(want.schema))


def test_county_figures_equal_the_generators_truth(tiny_built):
    county_figures_equal_the_manifest(tiny_built)
    ratios_equal_an_independent_computation(tiny_built)


@pytest.mark.slow
def test_twelve_months_of_county_data_equal_the_generators_truth(tmp_path):
    from civstat.generate import generate
    from civstat.ingest import ingest
    from test_ingest import assert_every_file_reconciles

    generate("county", 12, 7, tmp_path / "raw")
    assert not ingest(Paths.from_env(tmp_path)).failed
    assert_every_file_reconciles(tmp_path)
    build_and_publish(Paths.from_env(tmp_path))
    county_figures_equal_the_manifest(tmp_path)
    ratios_equal_an_independent_computation(tmp_path)


def test_undefined_ratios_are_null_not_zero(tiny_built):
    frame = marts(tiny_built, "select * from subsidy_coverage where programme in ('orphan', 'temporary', 'disab_care')")
    assert frame.height and frame["eligible"].null_count() == frame.height and frame["coverage_rate"].null_count() == frame.height


@pytest.mark.parametrize(("months", "start"), [(12, "2025-01"), (24, "2025-04")])
def test_the_population_register_exceeds_the_generated_high_age_pool_in_every_december_tier(months, start):
    """高龄津贴 in December (the register's reference month): recipients / the register's band is a take-up of
    80-95% in every tier, on both bases, at county scale."""
    import datetime as dt

    import numpy as np

    from civstat.generate.months import MonthView
    from civstat.generate.registers import population
    from civstat.generate.world import SCALES, build_divisions, build_people, month_add, standards_schedule

    first = dt.date.fromisoformat(start + "-01")
    [county] = build_divisions(np.random.default_rng(7), SCALES["county"])[1]
    households, persons = build_people(np.random.default_rng([7, 0]), county, first, months)
    schedule = standards_schedule(county, [month_add(first, m) for m in range(months)])
    for m in range(months):
        month = month_add(first, m)
        if month.month != 12:
            continue
        paid = dict(
            MonthView(county, households, persons, schedule, first, m, np.random.default_rng(0))
            .longevity()["tier"]
            .value_counts()
            .iter_rows()
        )
        for basis, bands in population(None, [county], month.year, first).group_by("basis"):
            eligible = {
                "80-89周岁": bands["aged_80_plus"].sum() - bands["aged_90_plus"].sum(),
                "90-99周岁": bands["aged_90_plus"].sum() - bands["aged_100_plus"].sum(),
                "100周岁以上": bands["aged_100_plus"].sum(),
            }
            coverage = {tier: round(paid[tier] / eligible[tier], 3) for tier in eligible}
            assert all(0.8 <= c <= 0.95 for c in coverage.values()), (month, basis, coverage)


def test_the_published_warehouse_describes_its_tables_in_chinese_and_english(tiny_built):
    comments = marts(
        tiny_built,
        "select table_name, comment from duckdb_tables() where table_name in "
        "('low_income_monitoring', 'elderly_care_beds', 'subsidy_coverage', 'dim_divisions')",
    )
    assert comments.height == 4
    assert all(" / " in c and any("\u4e00" <= ch <= "\u9fff" for ch in c) for c in comments["comment"])  # Chinese / English
    columns = marts(tiny_built, "select column_name, comment from duckdb_columns() where table_name = 'elderly_care_beds'")
    assert columns["comment"].null_count() == 0


# ---------------------------------------------------------------- publication


def fingerprint(marts_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(marts_dir.iterdir()) if p.is_file()}


@pytest.fixture()
def published_copy(tiny_built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(tiny_built, root, ignore=shutil.ignore_patterns("warehouse"))
    return root


def test_a_reader_is_not_blocked_by_a_publication_and_then_sees_the_new_data(published_copy):
    db = published_copy / "marts" / "warehouse.duckdb"
    reader = duckdb.connect(str(db), read_only=True)
    old_run = reader.execute("select run_id from _publication").fetchone()[0]
    before = reader.execute("select count(*) from low_income_monitoring").fetchone()[0]
    build_and_publish(Paths.from_env(published_copy))
    # the open reader still answers, from the publication it opened
    assert reader.execute("select count(*) from low_income_monitoring").fetchone()[0] == before
    assert reader.execute("select run_id from _publication").fetchone()[0] == old_run
    reader.close()
    fresh = duckdb.connect(str(db), read_only=True)
    assert fresh.execute("select run_id from _publication").fetchone()[0] != old_run
    fresh.close()


def test_a_run_killed_midway_leaves_the_old_publication_readable_and_intact(published_copy):
    before = fingerprint(published_copy / "marts")
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(published_copy)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "civstat.cli", "build"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list((published_copy / "warehouse").glob("build*.duckdb")):
        time.sleep(0.2)
    time.sleep(1.0)  # dbt is now writing the build file
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert fingerprint(published_copy / "marts") == before
    con = duckdb.connect(str(published_copy / "marts" / "warehouse.duckdb"), read_only=True)
    assert con.execute("select count(*) from elderly_care_beds").fetchone()[0] > 0
    con.close()


def test_a_failing_dbt_test_stops_publication(published_copy):
    before = fingerprint(published_copy / "marts")
    # an institution with more residents than beds breaks the occupancy range test
    inst = next((published_copy / "clean" / "institution").rglob("period=*/*.parquet"))
    frame = pl.read_parquet(inst)
    frame.with_columns(residents=pl.col("beds") * 3).write_parquet(inst)
    with pytest.raises(BuildError, match="occupancy_rate"):
        build_and_publish(Paths.from_env(published_copy))
    assert fingerprint(published_copy / "marts") == before


# ---------------------------------------------------------------- civstat sql


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(root), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "civstat.cli", *args], env=env, capture_output=True, text=True)


def test_sql_prints_a_table_and_writes_csv_and_xlsx(tiny_built, tmp_path):
    result = run_cli(tiny_built, "sql", "select division_name, year, institutions from elderly_care_beds where division_level = 'county'")
    assert result.returncode == 0 and "institutions" in result.stdout
    assert run_cli(tiny_built, "sql", "select * from dim_programmes", "--csv", str(tmp_path / "p.csv")).returncode == 0
    assert pl.read_csv(tmp_path / "p.csv").height == 11
    assert run_cli(tiny_built, "sql", "select * from dim_programmes", "--xlsx", str(tmp_path / "p.xlsx")).returncode == 0
    assert pl.read_excel(tmp_path / "p.xlsx").height == 11


def test_sql_is_read_only(tiny_built):
    result = run_cli(tiny_built, "sql", "create table x as select 1")
    assert result.returncode == 1 and "read-only" in (result.stdout + result.stderr).lower()

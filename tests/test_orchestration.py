"""Dagster: the definitions load with the whole lineage, schedules and sensor target the right
partitions, and a full in-process run builds and publishes everything."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from civstat.defs import defs
from civstat.defs.resources import CivstatResource
from civstat.ingest import read_ledger
from civstat.settings import Paths


def key(text: str) -> dg.AssetKey:
    return dg.AssetKey(text.split("/"))


def test_the_definitions_load_with_lineage_from_raw_files_to_the_publication():
    graph = defs.get_repository_def().asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/person", "clean/person", "staging/stg_rosters__persons", "mart/low_income_monitoring", "mart/published"} <= keys
    assert key("raw/person") in graph.get(key("clean/person")).parent_keys
    assert key("clean/person") in graph.get(key("staging/stg_rosters__persons")).parent_keys
    assert key("mart/low_income_monitoring") in graph.get(key("mart/published")).parent_keys
    checks = {c.name for c in graph.asset_check_keys if c.asset_key == key("mart/elderly_care_beds")}
    assert any("occupancy_rate" in c for c in checks), "dbt tests are asset checks"


def run_requests(schedule_name: str, when: dt.datetime) -> list[dg.RunRequest]:
    schedule = defs.get_schedule_def(schedule_name)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def())
        return list(schedule.evaluate_tick(context).run_requests or [])


def test_the_monthly_schedule_runs_on_the_5th_for_the_month_before():
    assert defs.get_schedule_def("monthly_monitoring_schedule").cron_schedule == "0 6 5 * *"
    [request] = run_requests("monthly_monitoring_schedule", dt.datetime(2025, 4, 5, 6, 0, tzinfo=dt.UTC))
    assert request.partition_key == "2025-03"


def test_the_annual_schedule_runs_mid_january_for_last_years_december():
    assert defs.get_schedule_def("annual_statistics_schedule").cron_schedule == "0 6 15 1 *"
    [request] = run_requests("annual_statistics_schedule", dt.datetime(2026, 1, 15, 6, 0, tzinfo=dt.UTC))
    assert request.partition_key == "2025-12"


def test_the_sensor_fires_once_per_file_version(tmp_path):
    sensor = defs.get_sensor_def("raw_files_sensor")
    raw = tmp_path / "raw" / "2025-03"
    raw.mkdir(parents=True)
    (raw / "示范县城市低保家庭花名册.csv").write_text("户主姓名,户主身份证号\n", encoding="utf-8")
    resources = {"civstat": CivstatResource(data_dir=str(tmp_path))}

    def tick(cursor):
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(
                cursor=cursor, resources=resources, instance=instance, repository_def=defs.get_repository_def()
            )
            data = sensor.evaluate_tick(context)
            return list(data.run_requests or []), data.cursor

    first, cursor = tick(None)
    assert [r.partition_key for r in first] == ["2025-03"]
    again, cursor = tick(cursor)
    assert again == []
    (raw / "示范县城市低保家庭花名册.csv").touch()  # touched, not changed
    assert tick(cursor)[0] == []
    (raw / "示范县城市低保家庭花名册.csv").write_text("户主姓名,户主身份证号,保障人口数\n", encoding="utf-8")
    changed, cursor = tick(cursor)
    assert [r.partition_key for r in changed] == ["2025-03"] and changed[0].run_key != first[0].run_key
    # a returned caseworker list dropped in the month's 核查反馈 folder starts that month's run too
    (raw / "核查反馈").mkdir()
    (raw / "核查反馈" / "990101001000_永泰街道_2025-03预警名单.xlsx").write_bytes(b"returned list")
    returned, cursor = tick(cursor)
    assert [r.partition_key for r in returned] == ["2025-03"]


@pytest.fixture(scope="module")
def orchestrated(tiny_generated: Path, tmp_path_factory) -> tuple[Path, dg.ExecuteInProcessResult]:
    from civstat.orchestrate import months_with_data, run

    root = tmp_path_factory.mktemp("orchestrated")
    shutil.copytree(tiny_generated / "raw", root / "raw")
    result = run(Paths.from_env(root), months_with_data(Paths.from_env(root)))
    return root, result


def test_a_full_run_materialises_every_asset_runs_every_check_and_publishes(orchestrated):
    root, result = orchestrated
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {
        "raw/family",
        "clean/family",
        "mart/subsidy_coverage",
        "mart/published",
        "report/caseworker_lists",
        "report/annual_workbook",
        "report/chart_page",
    } <= materialized
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evaluations) >= 50 and all(e.passed for e in evaluations)
    assert (root / "marts" / "warehouse.duckdb").exists() and (root / "marts" / "low_income_monitoring.parquet").exists()


def publication(marts: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in marts.iterdir() if p.is_file()}


def copy_of(root: Path, tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    """A copy of an orchestrated data directory, its publication's fingerprint and its last month."""
    copy = tmp_path / "data"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("dagster", "warehouse"))
    return copy, publication(copy / "marts"), sorted(p.name for p in (copy / "raw").glob("????-??"))[-1]


def test_an_unreadable_file_fails_the_run_and_keeps_the_previous_publication(orchestrated, tmp_path):
    from civstat.orchestrate import run

    copy, before, month = copy_of(orchestrated[0], tmp_path)
    (copy / "raw" / month / "隆华县城市低保家庭花名册_补报.csv").write_text("这不是花名册\n没有表头\n", encoding="utf-8")
    result = run(Paths.from_env(copy), [month])
    assert not result.success
    assert publication(copy / "marts") == before


def test_one_mart_selected_alone_is_built_with_its_upstream_and_only_it_is_reported(orchestrated, tmp_path):
    from civstat.orchestrate import run

    copy, _, month = copy_of(orchestrated[0], tmp_path)
    result = run(Paths.from_env(copy), [month], selection=[dg.AssetKey(["mart", "low_income_monitoring"])])
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"mart/low_income_monitoring"}
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert checks and all(c.passed and c.asset_key.to_user_string() == "mart/low_income_monitoring" for c in checks)
    with duckdb.connect(str(copy / "warehouse" / "build.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from low_income_monitoring").fetchone()[0] > 0
    assert not (copy / "warehouse" / "scratch.duckdb").exists()


def test_the_committed_expectation_suites_match_the_registry():
    from civstat.quality import suites

    assert suites.drift() == [], "run `civstat expectations` and commit the result"


def test_a_household_listed_twice_trips_a_blocking_check_and_keeps_the_publication(orchestrated, tmp_path):
    """Each row is valid, so cleaning keeps both; the clean table's key check (GX) stops the run."""
    from civstat.cleaning.headers import alias_index, normalise_header
    from civstat.cleaning.readers import read_grid
    from civstat.orchestrate import run
    from civstat.registry import registry

    copy, before, month = copy_of(orchestrated[0], tmp_path)
    for source in sorted((copy / "raw" / month).glob("*低保家庭花名册*")):  # one with a one-row header
        grid = read_grid(source).cells
        header_row = next(i for i, row in enumerate(grid.iter_rows()) if any(str(v).startswith("户主身份证") for v in row))
        header = [v for v in grid.row(header_row)]
        first = list(grid.row(header_row + 1))
        if first[0] is not None:
            break
    fields = alias_index(registry()["family"])  # the generator varies the spelling: find the column by its meaning
    amount = next(i for i, h in enumerate(header) if h and getattr(fields.get(normalise_header(h)), "name", None) == "monthly_amount")
    second = list(first)
    second[amount] = "9999"
    lines = [",".join("" if v is None else f'"{v}"' for v in row) for row in (header, first, second)]
    (copy / "raw" / month / "隆华县城市低保家庭花名册_补报.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(Paths.from_env(copy), [month])
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [e for e in evaluations if not e.passed]
    assert [e.asset_key.to_user_string() for e in failed] == ["clean/family"]
    assert not any(e.asset_key.to_user_string() == "mart/published" for e in result.get_asset_materialization_events())
    assert publication(copy / "marts") == before


def test_no_full_id_or_name_is_in_anything_a_run_wrote(orchestrated, tiny_generated):
    """Parquet, DuckDB, Dagster's SQLite storage and logs, reports (xlsx, html), Data Docs, dbt's
    artifacts: every file under the data directory but data/raw."""
    from privacy import leaks, people_in

    root, _ = orchestrated
    ids, names = people_in(root / "raw")
    assert len(ids) > 500 and len(names) > 300
    assert not leaks(root, ids, names)


def test_an_unclosed_quote_leaks_nothing_into_the_ledger_the_logs_or_the_console(tiny_generated, tmp_path):
    """The CSV whose parse error once carried ~290,000 characters of rows into every log."""
    import subprocess
    import sys

    from privacy import leaks, people_in

    shutil.copytree(tiny_generated / "raw", tmp_path / "raw")
    month = sorted(p for p in (tmp_path / "raw").iterdir() if p.name[:4].isdigit() and len(p.name) == 7)[0]
    source = next(p for p in month.glob("*.csv"))
    lines = source.read_bytes().split(b"\n")
    lines[len(lines) // 2] = b'"' + lines[len(lines) // 2]
    broken = month / ("引号未闭合_" + source.name)
    broken.write_bytes(b"\n".join(lines))
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(tmp_path), "CIVSTAT_LOG_LEVEL": "INFO"}
    run = subprocess.run(
        [sys.executable, "-m", "civstat.cli", "-v", "run", "--period", month.name], capture_output=True, text=True, env=env
    )
    assert run.returncode == 1
    ids, names = people_in(tmp_path / "raw")
    assert not leaks(tmp_path, ids, names, extra_text=run.stdout + run.stderr)
    ledger = read_ledger(Paths.from_env(tmp_path))
    error = ledger.filter(pl.col("source_file").str.contains("引号未闭合"))["error"][0]
    assert "does not end (an unclosed quote" in error and len(error) < 400


def test_a_tampered_kept_month_fails_the_audit_check_and_keeps_the_publication(orchestrated, tmp_path):
    """The build file kept between runs is tampered with: a village's December shows fewer rural 低保
    persons than households. The next month's run rewrites only its own month, the annual mart reads
    the kept December, the blocking 审核 check fails naming the village, and nothing is published."""
    from civstat.orchestrate import run

    copy = tmp_path / "data"
    shutil.copytree(orchestrated[0], copy, ignore=shutil.ignore_patterns("dagster"))
    before = publication(copy / "marts")
    last = sorted(p.name for p in (copy / "raw").glob("????-??"))[-1]
    with duckdb.connect(str(copy / "warehouse" / "build.duckdb")) as con:
        village, name, cut = con.execute(
            "select division_code, division_name, persons - households + 1 from low_income_monitoring where division_level = 'village' "
            "and programme = 'dibao' and urban_rural = 'rural' and period = '2025-12-01' and households > 1 order by 1 limit 1"
        ).fetchone()
        # the village and every region above it, so that the figures still add up (dbt's rolls_up test)
        con.execute(
            "update low_income_monitoring set persons = persons - ? where programme = 'dibao' and urban_rural = 'rural' "
            "and period = '2025-12-01' and division_code in (select unnest([division_code, township_code, county_code, prefecture_code, "
            "province_code]) from dim_divisions where division_code = ?)",
            [cut, village],
        )
    result = run(Paths.from_env(copy), [last])
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [e for e in evaluations if not e.passed]
    assert [(e.asset_key.to_user_string(), e.check_name) for e in failed] == [("mart/annual_social_assistance", "audit_rules")]
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
    assert f"SJ05 {name}（{village}）2025年" in failed[0].description
    assert not any(e.asset_key.to_user_string() == "mart/published" for e in result.get_asset_materialization_events())
    assert publication(copy / "marts") == before

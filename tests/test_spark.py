"""Spark, the second engine: the same dbt project built on Spark (``dbt build --target spark``) over
two months of tiny data, and published through the same code path, gives the DuckDB build's
published tables: the same columns with the same types, the same number of rows and the same rows
(floats rounded to 6 decimals), the warnings' detail text included.

Slow (the Spark build takes minutes on 2 cores: a fixed cost per statement, not data volume); it
runs in CI (``.ci/run``), which installs the optional ``spark`` dependency group."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import pytest

from civstat.settings import Paths

pytestmark = pytest.mark.slow

ROUND_FLOATS_TO = 6


@pytest.fixture(scope="module")
def two_months(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two months of tiny-scale rosters (December and January: a year's end and the next year), ingested."""
    from civstat.generate import generate
    from civstat.ingest import ingest

    root = tmp_path_factory.mktemp("spark_two_months")
    generate("tiny", 2, 20261122, root / "raw", start="2025-12")
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    return root


@pytest.fixture(scope="module")
def built(two_months: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same clean data built and published on DuckDB and, in a copy of the data directory, on Spark."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.fail("pyspark is not installed: the Spark tests need the `spark` dependency group (`python3.11 dev.py test` installs it)")
    if shutil.which("java") is None:
        pytest.fail("Spark needs a Java runtime (Java 17): `apt-get install openjdk-17-jre-headless`")
    from civstat.warehouse import build, spark

    on_spark = tmp_path_factory.mktemp("spark_copy") / "data"
    shutil.copytree(two_months, on_spark, symlinks=True)

    started = time.perf_counter()
    duck_result, duck_published = build.build_and_publish(Paths.from_env(two_months), full_refresh=True)
    duck_seconds = time.perf_counter() - started
    started = time.perf_counter()
    spark_result, spark_published = spark.build_and_publish(Paths.from_env(on_spark), unit_tests=True)
    spark_seconds = time.perf_counter() - started
    print(f"\nbuild and publish on tiny data, two months: DuckDB {duck_seconds:.1f} s, Spark {spark_seconds:.1f} s")
    return {"duckdb": duck_published, "spark": spark_published, "duckdb_result": duck_result, "spark_result": spark_result}


@pytest.fixture(scope="module")
def both(built: dict):
    """One connection with both published warehouses attached: ``duckdb`` and ``spark``."""
    con = duckdb.connect()
    for name in ("duckdb", "spark"):
        con.execute(f"attach '{built[name]}' as {name} (read_only)")
    yield con
    con.close()


def published_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_name <> '_publication' order by 1", [catalog]
    ).fetchall()
    return [name for (name,) in rows]


def columns(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns where table_catalog = ? and table_name = ? order by ordinal_position",
        [catalog, table],
    ).fetchall()


def comparable(catalog: str, table: str, cols: list[tuple[str, str]]) -> str:
    """The table's rows with its floats rounded (summation order may differ in the last bits)."""
    shown = [f'round("{c}", {ROUND_FLOATS_TO}) as "{c}"' if t in ("DOUBLE", "FLOAT") else f'"{c}"' for c, t in cols]
    return f'select {", ".join(shown)} from {catalog}."{table}"'


def test_the_spark_build_runs_every_model_seed_test_and_unit_test_of_the_project(built):
    on_spark = {r["unique_id"]: r["status"] for r in built["spark_result"].results}
    on_duckdb = {r["unique_id"] for r in built["duckdb_result"].results}
    assert {uid.split(".")[0] for uid in on_spark} >= {"model", "seed", "test", "unit_test"}
    assert on_duckdb <= on_spark.keys(), sorted(on_duckdb - on_spark.keys())
    failed = {uid: status for uid, status in on_spark.items() if status not in ("success", "pass")}
    assert not failed, failed


def test_the_same_tables_are_published_with_the_same_columns_and_types(both):
    tables = published_tables(both, "duckdb")
    assert "monitoring_alerts" in tables and "low_income_monitoring" in tables
    assert published_tables(both, "spark") == tables
    differing = {t: (columns(both, "duckdb", t), columns(both, "spark", t)) for t in tables}
    differing = {t: pair for t, pair in differing.items() if pair[0] != pair[1]}
    assert not differing, "\n".join(f"{t}:\n  duckdb {d}\n  spark  {s}" for t, (d, s) in differing.items())


def test_every_published_table_has_the_same_rows_on_spark_as_on_duckdb(both):
    problems = []
    for table in published_tables(both, "duckdb"):
        cols = columns(both, "duckdb", table)
        (on_duckdb,) = both.execute(f'select count(*) from duckdb."{table}"').fetchone()
        (on_spark,) = both.execute(f'select count(*) from spark."{table}"').fetchone()
        assert on_duckdb > 0, f"{table} is empty: the comparison would prove nothing"
        if on_duckdb != on_spark:
            problems.append(f"{table}: {on_duckdb} rows on DuckDB, {on_spark} on Spark")
            continue
        duckdb_rows, spark_rows = comparable("duckdb", table, cols), comparable("spark", table, cols)
        only_duckdb = both.execute(f"{duckdb_rows} except all {spark_rows} limit 3").fetchall()
        only_spark = both.execute(f"{spark_rows} except all {duckdb_rows} limit 3").fetchall()
        if only_duckdb or only_spark:
            problems.append(f"{table}: rows differ\n  only on DuckDB: {only_duckdb}\n  only on Spark:  {only_spark}")
    assert not problems, "\n".join(problems)


def test_the_warnings_read_the_same_text_on_both_engines(both):
    """The detail (the figures a caseworker checks, amounts in yuan with two decimals) is the same text."""
    query = "select alert_key, period, detail from {}.monitoring_alerts order by all"
    on_duckdb, on_spark = both.execute(query.format("duckdb")).fetchall(), both.execute(query.format("spark")).fetchall()
    assert on_duckdb == on_spark
    rules = {key.split(":")[0] for key, _, _ in on_duckdb}
    assert len(rules) >= 10, rules  # the planted warnings of the tiny data: most rules, amounts among them
    assert any("元" in detail for _, _, detail in on_duckdb)

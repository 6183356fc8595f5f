"""Spark, the second engine: the same dbt project built on Spark (``dbt build --target spark``) over
two months of tiny data, and published through the same code path, gives the DuckDB build's
published tables: the same columns with the same types, the same number of rows and the same rows
(floats rounded to 6 decimals), the warnings' detail text included. The Great Expectations suites
run on Spark (GX's Spark execution engine) give the outcome they give on DuckDB.

Slow (the Spark build takes minutes on 2 cores: a fixed cost per statement, not data volume); it
runs in CI (``.ci/run``), which installs the optional ``spark`` dependency group."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import pytest

from civstat.settings import Paths
from test_quality import break_a_longevity_file

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
    return {
        "duckdb": duck_published,
        "spark": spark_published,
        "duckdb_result": duck_result,
        "spark_result": spark_result,
        "spark_paths": Paths.from_env(on_spark),
    }


@pytest.fixture(scope="module")
def spark_session(built: dict):
    """One Spark session in the test process for the checks (after the build: one JVM at a time)."""
    from civstat.warehouse import spark

    with spark.session(built["spark_paths"]) as session:
        yield session


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


def outcome(results) -> dict:
    """Per suite: its rows, success, and each expectation's success; the failures' counts and
    examples (in no particular order: the engines need not find unexpected rows in the same order)."""
    return {
        r.suite: (
            r.rows,
            r.success,
            r.outcomes,
            sorted((f.expectation, f.column or "", f.unexpected or -1, sorted(map(repr, f.examples))) for f in r.failures),
        )
        for r in results
    }


def test_the_clean_suites_give_the_same_outcome_on_spark_as_on_duckdb(two_months, spark_session, tmp_path):
    """The clean suites over the two months, one longevity file broken (a duplicated key, an empty
    key, an unmasked ID number, a malformed division code, a sex outside the enumeration): run
    through GX's Spark engine they evaluate the same expectations with the same success each, the
    same unexpected counts and examples as through its SQL engine over DuckDB, write Data Docs, and
    show the ID number nowhere."""
    from civstat.quality.run import validate_clean

    broken = Paths.from_env(tmp_path / "data")
    unmasked = break_a_longevity_file(two_months, broken.data)
    started = time.perf_counter()
    on_duckdb = validate_clean(broken, docs_dir=tmp_path / "duckdb_docs")
    duckdb_seconds = time.perf_counter() - started
    started = time.perf_counter()
    on_spark = validate_clean(broken, docs_dir=tmp_path / "spark_docs", spark=spark_session)
    print(f"\nclean suites on tiny data, two months: DuckDB {duckdb_seconds:.1f} s, Spark {time.perf_counter() - started:.1f} s")

    assert len(on_spark) == len(on_duckdb) >= 18 and sum(r.evaluated for r in on_spark) > 300
    assert outcome(on_spark) == outcome(on_duckdb)
    [longevity] = [r for r in on_spark if r.suite == "clean_longevity"]
    assert {(f.expectation, f.column) for f in longevity.failures} >= {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_not_be_null", "person_key"),
        ("expect_column_values_to_match_regex", "person_id_masked"),
        ("expect_column_values_to_be_in_set", "sex"),
        ("expect_table_row_count_to_equal", None),
    }
    assert [r.suite for r in on_spark if not r.success] == ["clean_longevity"]
    assert (tmp_path / "spark_docs" / "index.html").exists()
    pages = " ".join(page.read_text(encoding="utf-8") for page in (tmp_path / "spark_docs").rglob("*.html"))
    assert "StringType" in pages and "person_id_masked" in pages  # the Spark run's own pages
    assert unmasked not in pages and unmasked not in repr([f.examples for r in on_spark for f in r.failures])


def test_the_mart_suites_give_the_same_outcome_on_spark_as_on_duckdb(built, spark_session, tmp_path):
    """The mart suites over the Spark build's own tables (its Parquet) and over the DuckDB build's."""
    from civstat.quality import spark as on_spark
    from civstat.quality.run import validate_marts
    from civstat.warehouse import spark

    marts = spark.built_marts(built["spark_paths"])
    results = on_spark.validate_marts(spark_session, marts, tmp_path / "docs")
    assert len(results) == 3 and all(r.rows > 0 for r in results)
    assert outcome(results) == outcome(validate_marts(built["duckdb"]))
    assert (tmp_path / "docs" / "index.html").exists()


def test_the_checks_session_runs_with_the_spark_profiles_settings(built, spark_session):
    """One place for Spark's settings: the session of the checks takes profiles.yml's `spark` target's."""
    from civstat.warehouse import spark

    settings = spark.session_settings(built["spark_paths"])
    on_session = {key: spark_session.conf.get(key) for key in settings}
    warehouse = settings.pop("spark.sql.warehouse.dir")
    assert warehouse == str(built["spark_paths"].spark_warehouse.resolve())
    assert on_session.pop("spark.sql.warehouse.dir").removeprefix("file:") == warehouse  # Spark writes it as a URI
    assert on_session == settings

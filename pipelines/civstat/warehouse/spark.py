"""Build the warehouse on Spark, the second target of the same dbt project, and publish it like a
DuckDB build.

``dbt build --target spark --full-refresh`` (profiles.yml ``spark``: session mode, Spark inside dbt's
process; pyspark and dbt-spark are the optional ``spark`` dependency group) runs every model, seed
and test of ``dbt_project/`` on Spark. The models are the DuckDB ones: where the engines differ a
macro is dispatched per adapter (``dbt_project/macros/spark.sql``, ``text.sql``). Spark writes every
table as Parquet under ``data/warehouse/spark/tables/<schema>.db/<model>/``; the published marts
are read from there into a DuckDB file (``data/warehouse/spark/build.duckdb``), each column's Spark
type mapped to its DuckDB type by ``DUCKDB_TYPE``, and that file goes through the same publication
as a DuckDB build (``build.publish``: the 审核 gate, the release, the switch of ``current``).

Every Spark build is a full build into an empty warehouse directory: the monthly incremental
models delete and insert months (``macros/build_window.sql``), which Parquet tables cannot do, and
the local session keeps its catalog in memory only.

``session`` starts a Spark session in this process with the settings of the same profile, for the
checks that run on Spark (``civstat check --engine spark``: civstat.quality.spark).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb

from civstat.settings import Paths
from civstat.warehouse.build import (
    DBT_PROJECT,
    BuildError,
    BuildResult,
    _sql_text,
    dbt_env,
    ensure_manifest,
    publish,
    published_models,
    refuse_failed_files,
    run_dbt,
    single_writer,
)

TARGET = "spark"  # profiles.yml

# Spark's types (as the schema its Parquet files carry names them: `long` is SQL's bigint) -> the
# DuckDB type of the same column in a DuckDB build. A type not listed, such as the decimal that
# `x * 1.0 / y` gives on Spark, is refused: the model should give one type on both engines.
DUCKDB_TYPE = {
    "string": "VARCHAR",
    "long": "BIGINT",
    "integer": "INTEGER",
    "double": "DOUBLE",
    "date": "DATE",
    "boolean": "BOOLEAN",
}
SPARK_SCHEMA_KEY = "org.apache.spark.sql.parquet.row.metadata"  # the Spark schema in each file's footer


def require_spark() -> None:
    """Raise BuildError saying how to install them when pyspark or dbt-spark is missing."""
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        raise BuildError(
            "Spark needs pyspark and dbt-spark, the optional `spark` dependency group: "
            "`uv sync --group spark`, or `CIVSTAT_WITH_SPARK=1 python3.11 dev.py civstat build --engine spark`"
        )


def session_settings(paths: Paths) -> dict[str, str]:
    """The Spark settings of profiles.yml's ``spark`` target (its ``server_side_parameters``, each
    ``env_var`` read as dbt reads it for this data directory), so that a session started here is
    configured as the build's is, from one place."""
    import jinja2
    import yaml

    profile = yaml.safe_load((DBT_PROJECT / "profiles.yml").read_text(encoding="utf-8"))
    parameters = profile["civstat"]["outputs"][TARGET]["server_side_parameters"]
    environment = {**os.environ, **dbt_env(paths, paths.spark_build_file)}

    def env_var(name: str, default: str | None = None) -> str:
        if name not in environment and default is None:
            raise BuildError(f"profiles.yml's {TARGET} target reads ${name}, which is not set")
        return environment.get(name, default)

    return {key: jinja2.Template(str(value)).render(env_var=env_var) for key, value in parameters.items()}


@contextlib.contextmanager
def session(paths: Paths) -> Iterator[object]:
    """A local Spark session (pyspark's ``SparkSession``) in this process, with the ``spark``
    profile's settings; stopped on leaving."""
    require_spark()
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise BuildError("Spark needs a Java runtime (Java 17): `apt-get install openjdk-17-jre-headless`")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("civstat")
    for key, value in session_settings(paths).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        yield spark
    finally:
        spark.stop()


def build(paths: Paths, run_id: str | None = None, *, unit_tests: bool = False) -> BuildResult:
    """``dbt build --target spark --full-refresh`` into a fresh Spark warehouse directory, then the
    published marts read into ``paths.spark_build_file``. Unit tests run when ``unit_tests``."""
    require_spark()
    run_id = run_id or dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    shutil.rmtree(paths.spark_warehouse, ignore_errors=True)
    paths.spark_warehouse.mkdir(parents=True)
    started = time.perf_counter()
    options = [*(() if unit_tests else ("--exclude-resource-type", "unit_test")), "--full-refresh"]
    nodes = run_dbt(paths, paths.spark_build_file, "build", *options, target=TARGET, target_path=paths.spark_dbt_target)
    read_marts(paths)
    return BuildResult(run_id, paths.spark_build_file, time.perf_counter() - started, nodes, "full build of every month on Spark")


def mart_folders(paths: Paths) -> dict[str, Path]:
    """Each published model's Parquet folder in Spark's warehouse (its schema from the Spark run's manifest)."""
    nodes = json.loads((paths.spark_dbt_target / "manifest.json").read_text(encoding="utf-8"))["nodes"]
    by_name = {n["name"]: n for n in nodes.values() if n["resource_type"] == "model"}
    return {name: paths.spark_warehouse / f"{by_name[name]['schema']}.db" / name for name in published_models(ensure_manifest())}


def built_marts(paths: Paths) -> dict[str, Path]:
    """The published marts' Parquet folders the last Spark build wrote (none when there was none)."""
    if not (paths.spark_dbt_target / "manifest.json").exists():
        return {}
    return {name: folder for name, folder in mart_folders(paths).items() if any(folder.glob("*.parquet"))}


def spark_columns(con: duckdb.DuckDBPyConnection, folder: Path) -> list[tuple[str, str]]:
    """(name, Spark type) of each column, from the Spark schema its Parquet files carry."""
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise BuildError(f"Spark wrote no Parquet file for {folder.name} in {folder.parent}")
    (schema_json,) = con.execute(
        "select decode(value) from parquet_kv_metadata(?) where decode(key) = ?", [str(files[0]), SPARK_SCHEMA_KEY]
    ).fetchone()
    return [(f["name"], f["type"]) for f in json.loads(schema_json)["fields"]]


def read_marts(paths: Paths) -> Path:
    """The published marts of the Spark build, from its Parquet into ``paths.spark_build_file``
    (schema main, as in a DuckDB build), each column cast to ``DUCKDB_TYPE`` of its Spark type."""
    target = paths.spark_build_file
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        for name, folder in mart_folders(paths).items():
            columns = spark_columns(con, folder)
            unknown = [f"{column} {spark_type}" for column, spark_type in columns if spark_type not in DUCKDB_TYPE]
            if unknown:
                raise BuildError(f"{name}: Spark gave {', '.join(unknown)}, which has no DuckDB counterpart here (spark.DUCKDB_TYPE)")
            select = ", ".join(f'cast("{column}" as {DUCKDB_TYPE[spark_type]}) as "{column}"' for column, spark_type in columns)
            con.execute(f'create table "{name}" as select {select} from read_parquet({_sql_text(str(folder / "*.parquet"))})')
        con.execute("checkpoint")
    finally:
        con.close()
    return target


def build_and_publish(paths: Paths, *, unit_tests: bool = False) -> tuple[BuildResult, Path]:
    """Build on Spark and publish, as ``build.build_and_publish`` does with DuckDB."""
    with single_writer(paths):
        refuse_failed_files(paths)
        result = build(paths, unit_tests=unit_tests)
        return result, publish(paths, result)

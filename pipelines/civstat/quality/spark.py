"""The suites on Spark: when the warehouse is built on Spark (``civstat build --engine spark``), the
checks run on the engine that holds the data, through Great Expectations' Spark execution engine
(``SparkDFExecutionEngine``, a GX ``spark`` data source of DataFrame assets), with the same suites,
the same two-pass runner and the same Data Docs as on DuckDB (civstat.quality.run.Validator).

What differs, here and nowhere else:

* a clean table is Spark's reading of the same Parquet files: files grouped by the columns and
  types they declare (each group one read), the groups matched by column name as DuckDB's
  ``union_by_name`` does (a column typed differently in two groups is read as text in both); the
  ``period=`` folders are not read as a column (Spark takes no partition from a path to a file);
* ``division_code_not_in_register`` is a left join to the register's codes (Spark allows an ``IN``
  subquery only in a filter);
* a type expectation names Spark's type (``StringType``) where the suites name the SQL one
  (``VARCHAR``): ``SPARK_TYPES``, applied when a suite runs, so the suites stay one set of files;
* GX caches each batch's DataFrame (its ``persist``); a table's cache is dropped once its suite has
  run, so the checks hold one table at a time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from civstat.quality import suites
from civstat.quality.run import REGISTER_CHECK, SuiteResult, Validator, clean_files, stored_schema
from civstat.settings import Paths

#: The suites' SQL type names (``suites.SQL_TYPES``) as GX's Spark engine names them (pyspark's types).
SPARK_TYPES = {"VARCHAR": "StringType", "BIGINT": "LongType", "DATE": "DateType", "DOUBLE": "DoubleType", "BOOLEAN": "BooleanType"}


def on_spark(expectation: dict) -> dict:
    """The expectation as it runs on Spark: a type named as Spark names it, anything else unchanged."""
    if expectation["type"] != "expect_column_values_to_be_of_type":
        return expectation
    kwargs = expectation["kwargs"]
    if kwargs["type_"] not in SPARK_TYPES:
        raise ValueError(f"no Spark type for {kwargs['type_']} ({kwargs['column']}): add it to civstat.quality.spark.SPARK_TYPES")
    return {**expectation, "kwargs": {**kwargs, "type_": SPARK_TYPES[kwargs["type_"]]}}


@dataclass
class CleanTable:
    """A clean table as Spark reads it: its rows, and an empty frame of the columns and types its
    files declare (what the schema expectations check)."""

    rows: object  # pyspark DataFrame
    declared: object


def read_files(spark, files: list[Path]):
    """The Parquet files as one DataFrame, columns matched by name (see the module's note)."""
    from pyspark.sql import functions as F

    groups: dict[tuple, list[str]] = {}
    for path in files:
        groups.setdefault(tuple((name, str(kind)) for name, kind in pl.read_parquet_schema(path).items()), []).append(str(path))
    kinds: dict[str, set[str]] = {}
    for schema in groups:
        for name, kind in schema:
            kinds.setdefault(name, set()).add(kind)
    frames = []
    for group in groups.values():
        frame = spark.read.parquet(*group)
        frames.append(frame.select(*(F.col(c).cast("string").alias(c) if len(kinds[c]) > 1 else F.col(c) for c in frame.columns)))
    return functools.reduce(lambda left, right: left.unionByName(right, allowMissingColumns=True), frames)


def clean_tables(spark, paths: Paths, periods: list[str] | None, rosters: list[str]) -> tuple[dict[str, CleanTable], set[str]]:
    """The clean tables (of the periods) as Spark DataFrames over their Parquet files, as
    ``run.clean_database`` makes them for DuckDB: a table with division codes has the column
    ``division_code_not_in_register`` (the codes missing from the division register, NULL where
    the code is known or empty). Returns the tables and the rosters that have that column."""
    from pyspark.sql import functions as F

    register_files = clean_files(paths, "division", None)
    register = None
    if register_files:
        codes = read_files(spark, register_files).select("division_code").where(F.col("division_code").isNotNull()).distinct()
        register = None if codes.isEmpty() else codes.withColumnRenamed("division_code", "_known_code")
    tables, checked = {}, set()
    for roster in rosters:
        declared = spark.createDataFrame(stored_schema(paths, roster, periods).to_arrow())
        files = clean_files(paths, roster, periods)
        rows = read_files(spark, files) if files else declared
        if register is not None and roster != "division" and "division_code" in declared.columns:
            known = rows.join(F.broadcast(register), rows["division_code"] == register["_known_code"], "left")
            rows = known.withColumn(REGISTER_CHECK, F.when(F.col("_known_code").isNull(), F.col("division_code"))).drop("_known_code")
            checked.add(roster)
        tables[roster] = CleanTable(rows, declared)
    return tables, checked


class SparkValidator(Validator):
    """``Validator`` on GX's Spark execution engine: one GX ``spark`` data source on the given
    session, a DataFrame asset per suite part, the batch's DataFrame given when it runs."""

    def __init__(self, spark, docs_dir: Path | None = None):
        super().__init__(docs_dir)
        self.spark = spark
        self._spark_source = None
        self._clean_tables: dict[str, CleanTable] = {}

    def _frames_source(self):
        if self._spark_source is None:
            # the data source takes the running session (GX's getOrCreate): no spark_config, so GX changes none of its settings
            self._spark_source = self.context.data_sources.add_spark("spark")
            if self._spark_source.get_spark() is not self.spark:
                raise RuntimeError("GX's Spark data source did not take civstat's session")
        return self._spark_source

    def validate_frame(self, spec: dict, frame, extra: list[dict] | None = None, declared=None) -> SuiteResult:
        """The suite (plus ``extra``) on a Spark DataFrame; schema expectations on ``declared`` when given."""
        source = self._frames_source()

        def batch(name: str, schema_part: bool):
            data = declared if schema_part and declared is not None else frame
            return source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(f"{name}_all"), {"dataframe": data}

        try:
            result = self._validate_parts(spec, [on_spark(e) for e in [*spec["expectations"], *(extra or [])]], batch)
            result.rows = frame.count()
        finally:
            frame.unpersist()
            if declared is not None:
                declared.unpersist()
        return result

    def open_clean(self, paths: Paths, periods: list[str] | None, rosters: list[str]) -> set[str]:
        self._clean_tables, checked = clean_tables(self.spark, paths, periods, rosters)
        return checked

    def validate_clean_table(self, spec: dict, roster: str, extra: list[dict]) -> SuiteResult:
        table = self._clean_tables[roster]
        return self.validate_frame(spec, table.rows, extra=extra, declared=table.declared)


def validate_marts(spark, folders: dict[str, Path], docs_dir: Path | None = None) -> list[SuiteResult]:
    """The mart suites on Spark, over the marts' Parquet in Spark's warehouse (``folders``: a
    published model's name and its folder, ``civstat.warehouse.spark.mart_folders``)."""
    results = []
    with SparkValidator(spark, docs_dir) as validator:
        for path in sorted(suites.MARTS_DIR.glob("*.json")):
            spec = suites.load(path)
            table = spec["meta"]["asset"][-1]
            if table in folders:
                results.append(validator.validate_frame(spec, spark.read.parquet(str(folders[table]))))
        validator.write_docs()
    return results

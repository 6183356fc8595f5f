"""What Great Expectations' SQL engine needs to run on DuckDB, so the suites are SQL queries that
DuckDB streams over the Parquet files (bounded memory) instead of rows held in Python.

GX 1.x has no DuckDB datasource; its generic SQL datasource takes any SQLAlchemy dialect, and
``duckdb_engine`` provides one. Four things in that pairing need mending, here and nowhere else:

* duckdb_engine runs every query of a connection on one DuckDB cursor, so the rollback with which
  SQLAlchemy closes a connection empties a result GX has not fetched yet (GX returns results from
  closed connections). The checks only read, so this dialect begins, commits and rolls back nothing.
* Column reflection: duckdb_engine borrows PostgreSQL's catalogue query, which on SQLAlchemy 2.1
  reads ``pg_collation`` (DuckDB has none). Columns and types come from DuckDB's
  ``information_schema`` instead, as SQLAlchemy's upper-case types (VARCHAR, BIGINT, DATE, ...), the
  names the suites' type expectations use.
* GX knows no regex operator for a dialect it does not know: DuckDB's is PostgreSQL's ``~``.
* GX's compound-key check joins the rows to their group counts with ``=``, which drops every row
  with a NULL in the key, so duplicates with an empty optional key column (a payment month, a
  division code) went unseen; pandas, the engine before, counted them. The join here uses
  ``IS NOT DISTINCT FROM``: NULLs are equal, as in pandas' ``duplicated`` and SQL's GROUP BY.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from urllib.parse import urlencode

import duckdb_engine
import sqlalchemy as sa
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.metrics.map_metric_provider import multicolumn_function_partial
from great_expectations.expectations.metrics.multicolumn_map_metrics.compound_columns_unique import CompoundColumnsUnique
from sqlalchemy.dialects import postgresql, registry

#: DuckDB's share of the checks' memory: past it, its aggregates and joins spill to ``temp_directory``.
#: At province scale (8.5M clean rows) the suites then peak at ~0.7 GiB (the process's RSS; 0.3 GiB
#: is Python with Polars, DuckDB and GX loaded); 512MB gave ~0.95 GiB and hardly less time.
MEMORY_LIMIT = "256MB"
THREADS = 2


class ReadOnlyDuckDB(duckdb_engine.Dialect):
    """duckdb_engine for reading only (see the module's note)."""

    supports_statement_cache = False

    def connect(self, *args, **kwargs):
        connection = super().connect(*args, **kwargs)
        connection.execute("set enable_progress_bar = false")  # DuckDB draws one on stdout for a query over 2 s
        return connection

    def do_begin(self, dbapi_connection) -> None:
        pass

    def do_commit(self, dbapi_connection) -> None:
        pass

    def do_rollback(self, dbapi_connection) -> None:
        pass

    @property
    def dialect(self):
        """GX picks its regex operator by ``dialect.dialect``: DuckDB's is PostgreSQL's ``~``, a search
        like pandas' ``str.contains`` (DuckDB's RE2 ``\\d`` is ASCII digits only)."""
        return postgresql.dialect

    def get_columns(self, connection, table_name: str, schema: str | None = None, **kw) -> list[dict]:
        rows = connection.exec_driver_sql(
            "select column_name, data_type, is_nullable from information_schema.columns"
            " where table_name = $1 and table_schema = $2 order by ordinal_position",
            (table_name, schema or "main"),
        ).fetchall()
        return [
            {
                "name": name,
                "type": getattr(sa.types, kind.split("(")[0], sa.types.NullType)(),
                "nullable": nullable == "YES",
                "default": None,
            }
            for name, kind, nullable in rows
        ]


registry.register("duckdb.civstat", __name__, "ReadOnlyDuckDB")


class _TopLevelTypesNotice(logging.Filter):
    """GX warns at every type check on a dialect it does not know that it compares with SQLAlchemy's
    top-level types: those are the types the suites name (VARCHAR, DATE, ...), so it is no fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No sqlalchemy dialect found")


logging.getLogger("great_expectations.expectations.type_comparison").addFilter(_TopLevelTypesNotice())


def url(database: Path, scratch: Path) -> str:
    """The SQLAlchemy URL GX connects with: the file read-only, DuckDB's memory capped, spills to
    ``scratch``."""
    config = {
        "access_mode": "read_only",
        "memory_limit": MEMORY_LIMIT,
        "threads": THREADS,
        "temp_directory": str(scratch),
    }
    return f"duckdb+civstat:///{database}?{urlencode(config)}"


@contextlib.contextmanager
def _quiet(logger: logging.Logger):
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# GX logs a warning when a metric is registered again: here that is the point
with _quiet(logging.getLogger("great_expectations.expectations.registry")):

    class NullSafeCompoundColumnsUnique(CompoundColumnsUnique):
        """GX's ``compound_columns.count`` for SQL with a NULL-safe join (see the module's note). It
        replaces GX's own in GX's metric registry when this module is imported."""

        @multicolumn_function_partial(engine=SqlAlchemyExecutionEngine)
        def _sqlalchemy_function(self, column_list, **kwargs):
            rows = sa.select(*[sa.column(c) for c in kwargs["_table_columns"]]).select_from(kwargs["_table"]).alias("original_table_clause")
            groups = (
                sa.select(*column_list, sa.func.count().label("_num_rows"))
                .group_by(*column_list)
                .select_from(rows)
                .alias("group_counts_subquery")
            )
            same_key = sa.and_(*(groups.c[name].is_not_distinct_from(rows.c[name]) for name in kwargs["_column_names"]))
            return (
                sa.select(rows, groups.c._num_rows.label("_num_rows"))
                .select_from(rows.join(groups, same_key))
                .alias("records_with_grouped_column_counts_subquery")
            )

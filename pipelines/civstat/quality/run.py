"""Run the suites with Great Expectations 1.x on its SQL engine over DuckDB and keep the results as
GX Data Docs (HTML, readable offline) under <data>/quality/<run>/.

Each table is a relation in a DuckDB file: a clean table is a view over its Parquet files, a mart
is the build's own table. GX's checks are then SQL queries that DuckDB streams over the files, so
no row is held in Python and DuckDB's memory is capped (it spills past the cap): the memory the
checks take does not grow with the table. (civstat.quality.duckdb_sql mends what GX's SQL engine
needs for DuckDB.) On a Spark build the same suites run through GX's Spark engine, with this
runner: civstat.quality.spark."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from civstat.periods import with_their_years
from civstat.quality import suites
from civstat.redact import scrub
from civstat.settings import Paths

log = logging.getLogger("civstat.quality")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
SCHEMA_ONLY = suites.SCHEMA_ONLY

#: Columns that identify a person (pseudonym keys, masked ID numbers) and the shape each must have.
#: Their values are shown only in that shape: never in the Data Docs of a check on the column itself
#: (those report counts only), and as a placeholder wherever a value is not of the shape.
IDENTITY_SHAPES = {"_key": re.compile(r"[0-9a-f]{32}"), "_masked": re.compile(r"\d{6}\*{8}\d{3}[\dX]")}
NOT_SHOWN = "(value not shown)"


@dataclass
class Failure:
    expectation: str
    column: str | None
    unexpected: int | None
    examples: list


@dataclass
class SuiteResult:
    suite: str
    asset: list[str]
    blocking: bool
    rows: int
    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    #: (expectation, column, success) of each expectation evaluated, in the suite's order
    outcomes: list[tuple[str, str | None, bool]] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"{self.suite} on {'/'.join(self.asset)} ({self.rows:,} rows): {len(self.failures)} of {self.evaluated} expectations failed"
        ]
        for f in self.failures:
            lines.append(
                f"  - {f.expectation}"
                + (f" [{f.column}]" if f.column else "")
                + (f": {f.unexpected} rows" if f.unexpected is not None else "")
                + (f", e.g. {f.examples[:3]}" if f.examples else "")
            )
        return "\n".join(lines)


def _period_keys(periods: list[str]) -> set[str]:
    """Partition keys of the periods: the months and their years (annual registers)."""
    return with_their_years(periods)


def _identity_shape(column: str | None) -> re.Pattern | None:
    return next((shape for suffix, shape in IDENTITY_SHAPES.items() if column and column.endswith(suffix)), None)


def _example(column: str | None, value):
    """A value as a failure may show it: an identity column's only in its pseudonymous shape, text
    with anything shaped like a 身份证号 masked."""
    if isinstance(value, dict):  # a compound key
        return {name: _example(name, v) for name, v in value.items()}
    shape = _identity_shape(column)
    if shape is not None and value is not None and not (isinstance(value, str) and shape.fullmatch(value)):
        return NOT_SHOWN
    return scrub(value) if isinstance(value, str) else value


def _failure(result) -> Failure:
    config = result.expectation_config
    column = config.kwargs.get("column")
    return Failure(
        config.type,
        column,
        result.result.get("unexpected_count"),
        [_example(column, v) for v in (result.result.get("partial_unexpected_list") or [])[:5]],
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Validator:
    """One ephemeral GX context for a run, with a GX SQL datasource per DuckDB file it reads and a
    scratch directory (DuckDB's spills, the clean tables' views) removed on ``close``; Data Docs
    written to ``docs_dir``. Use it as a context manager."""

    def __init__(self, docs_dir: Path | None = None):
        import great_expectations as gx

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False}
        self.scratch = Path(tempfile.mkdtemp(prefix="civstat-gx-"))
        self._sources: dict[Path, object] = {}
        self._clean: Path | None = None  # the clean tables' DuckDB file (open_clean)
        self.docs_dir = docs_dir
        self._validated = False
        if docs_dir is not None:
            docs_dir.mkdir(parents=True, exist_ok=True)
            self.context.add_data_docs_site(
                site_name="civstat",
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "show_how_to_buttons": False,  # GX's walkthrough and tips: links to its website
                },
            )

    def __enter__(self) -> Validator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the DuckDB files (GX keeps pooled connections open) and removes the scratch directory.

        The engines' dialects stay referenced by GX's context until the interpreter exits, with
        SQLAlchemy's memos of result processors keyed by DuckDB's type objects: left for the exit,
        they may outlive DuckDB's module, whose bindings then print "nanobind: leaked" warnings."""
        for source in self._sources.values():
            for engine in (source.get_execution_engine().engine, source.get_engine()):
                engine.dispose()
                engine.dialect._type_memos.clear()
        self._sources.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _source(self, database: Path):
        """The GX datasource of a DuckDB file, named after it (``clean``, ``build``) in the Data Docs."""
        from civstat.quality.duckdb_sql import url

        database = database.resolve()
        if database not in self._sources:
            taken = {source.name for source in self._sources.values()}
            name = database.stem if database.stem not in taken else f"{database.stem}_{len(taken)}"
            self._sources[database] = self.context.data_sources.add_sql(name, connection_string=url(database, self.scratch))
        return self._sources[database]

    def validate(
        self,
        spec: dict,
        database: Path,
        table: str,
        schema: str = "main",
        extra: list[dict] | None = None,
        schema_table: str | None = None,
    ) -> SuiteResult:
        """The suite (plus ``extra`` expectations) on ``table`` (in DuckDB schema ``schema``) of the
        DuckDB file ``database``. Schema expectations run apart, on ``schema_table`` when given (the
        columns and types the table's files declare, which may differ from those of ``table``)."""
        import sqlalchemy as sa

        source = self._source(database)
        where = {} if schema == "main" else {"schema_name": schema}  # GX deprecates naming a schema: the default needs none

        def batch(name: str, schema_part: bool):
            relation = (schema_table or table) if schema_part else table
            return source.add_table_asset(name, table_name=relation, **where).add_batch_definition_whole_table(f"{name}_all"), None

        result = self._validate_parts(spec, [*spec["expectations"], *(extra or [])], batch)
        with source.get_engine().connect() as con:
            result.rows = con.execute(sa.select(sa.func.count()).select_from(sa.table(table, schema=schema))).scalar_one()
        return result

    def open_clean(self, paths: Paths, periods: list[str] | None, rosters: list[str]) -> set[str]:
        """Makes the clean tables (of the periods) readable: views in a DuckDB file of the scratch
        directory (``clean_database``). Returns the rosters checked against the division register."""
        self._clean = self.scratch / "clean.duckdb"
        return clean_database(paths, periods, rosters, self._clean)

    def validate_clean_table(self, spec: dict, roster: str, extra: list[dict]) -> SuiteResult:
        """A clean table opened by ``open_clean`` against its suite (plus ``extra``)."""
        return self.validate(spec, self._clean, roster, extra=extra, schema_table=f"{roster}_schema")

    def _validate_parts(self, spec: dict, expectations: list[dict], batch) -> SuiteResult:
        """The expectations in two parts, the rows' and the schema's (``SCHEMA_ONLY``), each on the
        batch ``batch(name, schema_part)`` gives: (a GX batch definition, its batch parameters)."""
        parts = [
            (spec["name"], False, [e for e in expectations if e["type"] not in SCHEMA_ONLY]),
            (f"{spec['name']}_schema", True, [e for e in expectations if e["type"] in SCHEMA_ONLY]),
        ]
        results = [self._run(name, spec, part, *batch(name, schema_part)) for name, schema_part, part in parts if part or not schema_part]
        first = results[0]
        for other in results[1:]:
            first.success = first.success and other.success
            first.evaluated += other.evaluated
            first.failures += other.failures
            first.outcomes += other.outcomes
        return first

    def _run(self, name: str, spec: dict, expectations: list[dict], batch, parameters: dict | None = None) -> SuiteResult:
        """Pass or fail first (GX's BOOLEAN_ONLY result format: no unexpected values to collect);
        only the expectations that failed run again with SUMMARY, for their counts and examples,
        those on identity columns with counts only. All results go into the Data Docs. (Schema
        expectations run with SUMMARY at once: the Data Docs renderer needs their observed columns.)
        ``parameters`` are the batch's (a Spark DataFrame's batch is given when it runs)."""
        schema_only = bool(expectations) and all(e["type"] in SCHEMA_ONLY for e in expectations)
        validation, ours = self._checkpoint(
            name, spec, expectations, batch, {"result_format": "SUMMARY" if schema_only else "BOOLEAN_ONLY"}, parameters
        )
        details = [validation] if schema_only else []
        if not validation.success and not schema_only:
            # GX orders results its own way: the expectation ids say which of ours failed
            failed = [ours[r.expectation_config.id] for r in validation.results if not r.success]
            hidden = [e for e in failed if _identity_shape(e["kwargs"].get("column"))]
            shown = [e for e in failed if e not in hidden]
            if shown:
                details.append(self._checkpoint(f"{name}_failures", spec, shown, batch, {"result_format": "SUMMARY"}, parameters)[0])
            if hidden:
                counts_only = {"result_format": "SUMMARY", "exclude_unexpected_values": True}
                details.append(self._checkpoint(f"{name}_failures_counted", spec, hidden, batch, counts_only, parameters)[0])
        failures = [_failure(r) for detail in details for r in detail.results if not r.success]
        success = {r.expectation_config.id: r.success for r in validation.results}
        return SuiteResult(
            name,
            list(spec.get("meta", {}).get("asset", [])),
            bool(spec.get("meta", {}).get("blocking", True)),
            0,
            validation.success,
            len(validation.results),
            failures,
            [(e["type"], e["kwargs"].get("column"), success[id_]) for id_, e in ours.items()],
        )

    def _checkpoint(self, name: str, spec: dict, expectations: list[dict], batch, result_format: dict, parameters: dict | None = None):
        gx = self.gx
        suite = gx.ExpectationSuite(name=name, meta=spec.get("meta", {}))
        for e in expectations:
            cls = gx.expectations.registry.get_expectation_impl(e["type"])
            suite.add_expectation(cls(**e["kwargs"]))
        suite = self.context.suites.add(suite)
        if [a.expectation_type for a in suite.expectations] != [e["type"] for e in expectations]:
            raise RuntimeError(f"GX reordered the expectations of {name}")
        ours = {added.id: e for added, e in zip(suite.expectations, expectations, strict=True)}
        definition = self.context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite, name=f"{name}_validation"))
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(name=f"{name}_checkpoint", validation_definitions=[definition], actions=[], result_format=result_format)
        )
        result = checkpoint.run(batch_parameters=parameters)
        self._validated = True
        [validation] = list(result.run_results.values())
        return validation, ours

    def write_docs(self) -> Path | None:
        """Render every validation of this run as GX Data Docs (static HTML) once, at the end, made
        to load nothing from the network (civstat.quality.offline)."""
        from civstat.quality.offline import make_offline

        if self.docs_dir is None or not self._validated:
            return None
        self.context.build_data_docs(site_names=["civstat"])
        make_offline(self.docs_dir)
        return self.docs_dir / "index.html"


def clean_files(paths: Paths, roster: str, periods: list[str] | None) -> list[Path]:
    files = sorted((paths.clean / roster).glob("period=*/*.parquet"))
    if periods:
        wanted = _period_keys(periods)
        files = [f for f in files if f.parent.name.split("=", 1)[1] in wanted]
    return files


def stored_schema(paths: Paths, roster: str, periods: list[str] | None) -> pl.DataFrame:
    """The table as its files declare it (an empty frame): the first file whose columns or types
    differ from the registry's, or the registry's own when none does."""
    from civstat.registry import registry

    expected = registry()[roster].clean_schema()
    for path in clean_files(paths, roster, periods):
        declared = pl.read_parquet_schema(path)
        if list(declared.items()) != list(expected.items()):
            return pl.DataFrame(schema=declared)
    return pl.DataFrame(schema=expected)


REGISTER_CHECK = "division_code_not_in_register"
#: Files of a table read as one: columns matched by name (a file's drift is the schema checks' to
#: report), the ``period=`` folders not read as a column (the files hold the period themselves).
READ_OPTIONS = "union_by_name = true, hive_partitioning = false"


def clean_database(paths: Paths, periods: list[str] | None, rosters: list[str], database: Path) -> set[str]:
    """A DuckDB file of views over the clean tables' Parquet files (of the periods), one per roster,
    each with ``<roster>_schema``, an empty table of the columns and types its files declare. A
    table with division codes has one more column, ``division_code_not_in_register``: the codes
    missing from the division register (all its periods), NULL where the code is known or empty.
    Returns the rosters whose view has that column."""
    import duckdb

    checked = set()
    with duckdb.connect(str(database)) as con:
        register = clean_files(paths, "division", None)
        if register:
            files = ", ".join(_sql_text(str(f)) for f in register)
            con.execute(
                "create table division_register as select distinct division_code"
                f" from read_parquet([{files}], {READ_OPTIONS}) where division_code is not null"
            )
        known = bool(register) and con.execute("select count(*) from division_register").fetchall() != [(0,)]
        for roster in rosters:
            declared = stored_schema(paths, roster, periods).to_arrow()
            con.register("declared", declared)
            con.execute(f'create table "{roster}_schema" as select * from declared')
            con.unregister("declared")
            files = clean_files(paths, roster, periods)
            rows = f"read_parquet([{', '.join(_sql_text(str(f)) for f in files)}], {READ_OPTIONS})" if files else f'"{roster}_schema"'
            check = ""
            if known and roster != "division" and "division_code" in declared.column_names:
                # a column GX expects to be empty: the register (25,825 codes at province scale) as a
                # GX value set would be a query with as many parameters, and as many values in the Data Docs
                check = (
                    ", case when division_code not in (select division_code from division_register)"
                    f" then division_code end as {REGISTER_CHECK}"
                )
                checked.add(roster)
            con.execute(f'create view "{roster}" as select *{check} from {rows}')
    return checked


def validate_clean(
    paths: Paths,
    periods: list[str] | None = None,
    docs_dir: Path | None = None,
    rosters: list[str] | None = None,
    spark=None,
) -> list[SuiteResult]:
    """Every clean table (of the periods) against its generated suite, plus two run-time facts:
    division codes must be known, and the row count must equal the ledger's clean rows. With a
    Spark session (``spark``) the same suites run through GX's Spark execution engine over Spark's
    reading of the same files (civstat.quality.spark); else through its SQL engine over DuckDB."""
    from civstat.ingest import read_ledger

    ledger = read_ledger(paths).filter(pl.col("status") == "ok")
    specs = {path.stem: suites.load(path) for path in sorted(suites.CLEAN_DIR.glob("*.json")) if not rosters or path.stem in rosters}
    if spark is None:
        validator = Validator(docs_dir)
    else:
        from civstat.quality.spark import SparkValidator

        validator = SparkValidator(spark, docs_dir)
    results = []
    with validator:
        checked = validator.open_clean(paths, periods, list(specs))
        for roster, spec in specs.items():
            extra = []
            if roster in checked:
                extra.append(suites.expectation("expect_column_values_to_be_null", column=REGISTER_CHECK))
            in_scope = ledger.filter(pl.col("roster") == roster)
            if periods:
                in_scope = in_scope.filter(pl.col("period").is_in(list(_period_keys(periods))))
            extra.append(suites.expectation("expect_table_row_count_to_equal", value=int(in_scope["rows_clean"].sum() or 0)))
            results.append(validator.validate_clean_table(spec, roster, extra))
        validator.write_docs()
    return results


def validate_marts(database: Path, docs_dir: Path | None = None, tables: Iterable[str] | None = None) -> list[SuiteResult]:
    """The marts in a DuckDB file (the build, before publication) against the hand-written suites
    (those of ``tables`` only, when given): GX reads the file itself, read-only."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        schemas = dict(con.execute("select table_name, table_schema from information_schema.tables").fetchall())
    results = []
    with Validator(docs_dir) as validator:
        for path in sorted(suites.MARTS_DIR.glob("*.json")):
            spec = suites.load(path)
            table = spec["meta"]["asset"][-1]
            if tables is not None and table not in tables:
                continue
            results.append(validator.validate(spec, database, table, schema=schemas.get(table, "main")))
        validator.write_docs()
    return results


def recipient_jumps(database: Path, bound: float) -> pl.DataFrame:
    """Counties whose recipients (subsidies) or persons (low-income) changed by more than ``bound``
    (a share, e.g. 0.3) from one month to the next: a warning, not a stop."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    try:
        schema = dict(con.execute("select table_name, table_schema from information_schema.tables").fetchall())
        parts = {
            "low_income_monitoring": "select division_code, division_name, period, programme, sum(persons) as n "
            "from {schema}.low_income_monitoring where division_level = 'county' group by all",
            "subsidy_coverage": "select division_code, division_name, period, programme, sum(recipients) as n "
            "from {schema}.subsidy_coverage where division_level = 'county' group by all",
        }
        present = [sql.format(schema=f'"{schema[table]}"') for table, sql in parts.items() if table in schema]
        if not present:  # neither mart in this build (a run of other models only)
            return pl.DataFrame(
                schema={
                    "division_code": pl.String,
                    "division_name": pl.String,
                    "period": pl.Date,
                    "programme": pl.String,
                    "previous": pl.Int64,
                    "current": pl.Int64,
                    "change": pl.Float64,
                }
            )
        sql = f"""
            with counts as (
                {" union all ".join(present)}
            ), changes as (
                select *, lag(n) over (partition by division_code, programme order by period) as previous from counts
            )
            select division_code, division_name, period, programme, previous, n as current, (n - previous) * 1.0 / previous as change
            from changes where previous >= 20 and abs(n - previous) * 1.0 / previous > {bound}
            order by abs(change) desc"""
        return pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.close()

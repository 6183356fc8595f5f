"""Run the suites with Great Expectations 1.x over Polars frames (through pandas, GX's fastest
source here) and keep the results as GX Data Docs (HTML) under <data>/quality/<run>/."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import polars as pl

from civstat.periods import with_their_years
from civstat.quality import suites
from civstat.settings import Paths

log = logging.getLogger("civstat.quality")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# GX fingerprints every pandas batch under 1 GB (an MD5 over pandas' hash of each row) only to
# label it in the batch markers; at province scale that was 40% of the suites' time. We pass
# frames already read from the ledgered Parquet, so the label adds nothing: switch it off.
FINGERPRINT_LIMIT_BYTES = 0
SCHEMA_ONLY = suites.SCHEMA_ONLY


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


def _rows_for_gx(frame: pl.DataFrame) -> pd.DataFrame:
    """The rows as GX's pandas engine takes them. GX compares dates with ISO bounds, vectorised,
    on datetime64[ns] only (a date before 1677 or after 2262 stays as it is: its range check fails)."""
    data = frame.to_pandas()
    for column in data.columns:
        if pd.api.types.is_datetime64_any_dtype(data[column].dtype):
            with contextlib.suppress(pd.errors.OutOfBoundsDatetime):
                data[column] = data[column].astype("datetime64[ns]")
    return data


def _period_keys(periods: list[str]) -> set[str]:
    """Partition keys of the periods: the months and their years (annual registers)."""
    return with_their_years(periods)


def _failure(result) -> Failure:
    config = result.expectation_config
    return Failure(
        config.type,
        config.kwargs.get("column"),
        result.result.get("unexpected_count"),
        list(result.result.get("partial_unexpected_list") or [])[:5],
    )


class Validator:
    """One ephemeral GX context for a run; Data Docs written to ``docs_dir``."""

    def __init__(self, docs_dir: Path | None = None):
        import great_expectations as gx
        from great_expectations.execution_engine import pandas_execution_engine

        pandas_execution_engine.HASH_THRESHOLD = FINGERPRINT_LIMIT_BYTES
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False}
        self.source = self.context.data_sources.add_pandas("civstat")
        self.docs_dir = docs_dir
        self._results: list = []
        if docs_dir is not None:
            docs_dir.mkdir(parents=True, exist_ok=True)
            self.context.add_data_docs_site(
                site_name="civstat",
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )

    def validate(
        self,
        spec: dict,
        frame: pl.DataFrame,
        extra: list[dict] | None = None,
        derived: dict[str, pl.Expr] | None = None,
        schema: pl.DataFrame | None = None,
    ) -> SuiteResult:
        """Schema expectations see the table's columns only (an empty frame: ``schema``, or the
        frame's own); the others see just the columns they name, so a wide table is not converted
        whole for GX. ``derived`` adds columns computed from the table that ``extra`` expectations
        check (never in the schema)."""
        expectations = [*spec["expectations"], *(extra or [])]
        table = frame.with_columns(**derived) if derived else frame
        schema_part = [e for e in expectations if e["type"] in SCHEMA_ONLY]
        rows_part = [e for e in expectations if e["type"] not in SCHEMA_ONLY]
        named = suites.columns_named({"expectations": rows_part})
        columns = [c for c in table.columns if c in named] or table.columns[:1]
        results = [self._run(f"{spec['name']}", spec, rows_part, _rows_for_gx(table.select(columns)))]
        if schema_part:
            declared = (frame.head(0) if schema is None else schema).to_pandas()
            results.append(self._run(f"{spec['name']}_schema", spec, schema_part, declared, first_pass="SUMMARY"))
        first = results[0]
        for other in results[1:]:
            first.success = first.success and other.success
            first.evaluated += other.evaluated
            first.failures += other.failures
        first.rows = frame.height
        return first

    def _run(self, name: str, spec: dict, expectations: list[dict], data: pd.DataFrame, first_pass: str = "BOOLEAN_ONLY") -> SuiteResult:
        """Pass or fail first (GX's BOOLEAN_ONLY result format: no unexpected lists to collect);
        only the expectations that failed run again with SUMMARY, for their counts and examples.
        Both results go into the Data Docs. (Schema expectations, on an empty frame, run with
        SUMMARY at once: the Data Docs renderer needs their observed columns.)"""
        validation, ours = self._checkpoint(name, spec, expectations, data, first_pass)
        detail = validation
        if not validation.success and first_pass != "SUMMARY":
            # GX orders results its own way: the expectation ids say which of ours failed
            failed = [ours[r.expectation_config.id] for r in validation.results if not r.success]
            detail, _ = self._checkpoint(f"{name}_failures", spec, failed, data, "SUMMARY")
        failures = [_failure(r) for r in detail.results if not r.success]
        return SuiteResult(
            name,
            list(spec.get("meta", {}).get("asset", [])),
            bool(spec.get("meta", {}).get("blocking", True)),
            len(data),
            validation.success,
            len(validation.results),
            failures,
        )

    def _checkpoint(self, name: str, spec: dict, expectations: list[dict], data, result_format: str):
        gx = self.gx
        suite = gx.ExpectationSuite(name=name, meta=spec.get("meta", {}))
        for e in expectations:
            cls = gx.expectations.registry.get_expectation_impl(e["type"])
            suite.add_expectation(cls(**e["kwargs"]))
        suite = self.context.suites.add(suite)
        if [a.expectation_type for a in suite.expectations] != [e["type"] for e in expectations]:
            raise RuntimeError(f"GX reordered the expectations of {name}")
        ours = {added.id: e for added, e in zip(suite.expectations, expectations, strict=True)}
        asset = self.source.add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe(f"{name}_all")
        definition = self.context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite, name=f"{name}_validation"))
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"{name}_checkpoint", validation_definitions=[definition], actions=[], result_format={"result_format": result_format}
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": data})
        self._results.append((result, definition))
        [validation] = list(result.run_results.values())
        return validation, ours

    def write_docs(self) -> Path | None:
        """Render every validation of this run as GX Data Docs (static HTML) once, at the end."""
        if self.docs_dir is None or not self._results:
            return None
        self.context.build_data_docs(site_names=["civstat"])
        return self.docs_dir / "index.html"


def clean_files(paths: Paths, roster: str, periods: list[str] | None) -> list[Path]:
    files = sorted((paths.clean / roster).glob("period=*/*.parquet"))
    if periods:
        wanted = _period_keys(periods)
        files = [f for f in files if f.parent.name.split("=", 1)[1] in wanted]
    return files


def read_clean(paths: Paths, roster: str, periods: list[str] | None, columns: list[str] | None = None) -> pl.DataFrame:
    files = clean_files(paths, roster, periods)
    if not files:
        from civstat.registry import registry

        schema = registry()[roster].clean_schema()
        return pl.DataFrame(schema={c: t for c, t in schema.items() if columns is None or c in columns})
    return pl.read_parquet(files, columns=columns, hive_partitioning=False)


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


def validate_clean(
    paths: Paths, periods: list[str] | None = None, docs_dir: Path | None = None, rosters: list[str] | None = None
) -> list[SuiteResult]:
    """Every clean table (of the periods) against its generated suite, plus two run-time facts:
    division codes must be known, and the row count must equal the ledger's clean rows."""
    from civstat.ingest import read_ledger

    validator = Validator(docs_dir)
    ledger = read_ledger(paths).filter(pl.col("status") == "ok")
    divisions = read_clean(paths, "division", None)
    known = divisions["division_code"].unique().drop_nulls()
    results = []
    for path in sorted(suites.CLEAN_DIR.glob("*.json")):
        roster = path.stem
        if rosters and roster not in rosters:
            continue
        spec = suites.load(path)
        schema = stored_schema(paths, roster, periods)
        needed = [c for c in schema.columns if c in suites.columns_named(spec) or c == "division_code"]
        frame = read_clean(paths, roster, periods, needed)  # the columns the row checks read, no more
        extra, derived = [], {}
        if "division_code" in frame.columns and known.len() and roster != "division":
            # codes missing from the division register, as a column GX expects to be empty: the
            # register (25,825 codes at province scale) as a GX value set cost ~4 s per suite
            derived["division_code_not_in_register"] = pl.when(~pl.col("division_code").is_in(known)).then(pl.col("division_code"))
            extra.append(suites.expectation("expect_column_values_to_be_null", column="division_code_not_in_register"))
        in_scope = ledger.filter(pl.col("roster") == roster)
        if periods:
            in_scope = in_scope.filter(pl.col("period").is_in(list(_period_keys(periods))))
        extra.append(suites.expectation("expect_table_row_count_to_equal", value=int(in_scope["rows_clean"].sum() or 0)))
        results.append(validator.validate(spec, frame, extra, derived, schema=schema))
    validator.write_docs()
    return results


def validate_marts(database: Path, docs_dir: Path | None = None, tables: Iterable[str] | None = None) -> list[SuiteResult]:
    """The marts in a DuckDB file (the build, before publication) against the hand-written suites
    (those of ``tables`` only, when given)."""
    import duckdb

    validator = Validator(docs_dir)
    con = duckdb.connect(str(database), read_only=True)
    try:
        results = []
        schemas = dict(con.execute("select table_name, table_schema from information_schema.tables").fetchall())
        for path in sorted(suites.MARTS_DIR.glob("*.json")):
            spec = suites.load(path)
            table = spec["meta"]["asset"][-1]
            if tables is not None and table not in tables:
                continue
            frame = pl.from_arrow(con.sql(f'select * from "{schemas.get(table, "main")}"."{table}"').to_arrow_table())
            results.append(validator.validate(spec, frame))
        validator.write_docs()
        return results
    finally:
        con.close()


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

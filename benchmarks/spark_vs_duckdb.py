#!/usr/bin/env python3
"""Benchmark: the same month built, published and checked on DuckDB and on Spark (issue 13).

    python benchmarks/spark_vs_duckdb.py [--scale city] [--workdir benchmarks/out/spark_vs_duckdb] [--reuse]

Needs the optional ``spark`` dependency group and Java 17. One month (December, with its year's
registers) is generated and ingested once; the data directory is then copied, and each copy is
built by one engine, in this process, stage by stage, as ``civstat build`` and ``civstat check``
do them:

* **dbt build**: every model, seed and data test (a full build: Spark's always is); on Spark this
  includes reading the published marts back from its Parquet into a DuckDB file for publication,
  also timed on its own;
* **publication**: the 审核 gate, the release and the switch of ``current`` (the same code for both);
* **checks**: the GX suites, the clean tables' (from the same Parquet files) and the marts' (the
  DuckDB build file; Spark's own tables), on GX's SQL engine over DuckDB and on its Spark engine;
  on Spark the start of the session in this process is timed apart.

Printed: the seconds of each stage on each engine and their ratio, the peak memory of each stage
(summed RSS of this process and its children, dbt's process and Spark's JVM included, sampled
every 50 ms), the rows of each published mart on each engine, and whether the checks gave the
same outcome. dbt's output goes to ``<workdir>/<scale>-<engine>.log``. The machine is small (2 cores) and may be shared: the load average is printed
beside the figures, and the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_province import ROOT, PeakMemory

GIB = 2**30


def timed(what: Callable):
    """(result, seconds, peak bytes) of ``what()``."""
    memory = PeakMemory(os.getpid())
    started = time.perf_counter()
    result = what()
    return result, time.perf_counter() - started, memory.stop()


def prepare(work: Path, scale: str, reuse: bool) -> Path:
    """One month generated and ingested (kept with --reuse)."""
    from civstat.generate import generate
    from civstat.ingest import ingest
    from civstat.settings import Paths

    source = work / f"{scale}-ingested"
    if reuse and (source / "clean" / "_ledger.parquet").exists():
        return source
    shutil.rmtree(source, ignore_errors=True)
    _, seconds, _ = timed(lambda: generate(scale, 1, 7, source / "raw", start="2025-12"))
    print(f"generated one month at {scale} scale in {seconds:.0f} s")
    report, seconds, peak = timed(lambda: ingest(Paths.from_env(source)))
    if report.failed:
        raise SystemExit(f"ingest failed: {[o.error for o in report.failed]}")
    print(f"ingested in {seconds:.0f} s (peak {peak / GIB:.2f} GiB)")
    return source


def on_duckdb(paths) -> tuple[dict, list]:
    from civstat.quality.run import validate_clean, validate_marts
    from civstat.warehouse import build

    stages = {}
    with build.single_writer(paths):
        build.refuse_failed_files(paths)
        result, *stages["dbt build"] = timed(lambda: build.build(paths, full_refresh=True))
        _, *stages["publication"] = timed(lambda: build.publish(paths, result))
    docs = paths.quality / "benchmark"
    clean, *stages["checks: clean suites"] = timed(lambda: validate_clean(paths, docs_dir=docs))
    marts, *stages["checks: mart suites"] = timed(lambda: validate_marts(result.build_file, docs))
    return stages, clean + marts


def on_spark(paths) -> tuple[dict, list]:
    from civstat.quality import spark as checks
    from civstat.quality.run import validate_clean
    from civstat.warehouse import build, spark

    stages = {}
    with build.single_writer(paths):
        build.refuse_failed_files(paths)
        result, *stages["dbt build"] = timed(lambda: spark.build(paths))
        _, *stages["  of which: marts read back"] = timed(lambda: spark.read_marts(paths))  # done once more, alone
        _, *stages["publication"] = timed(lambda: build.publish(paths, result))
    docs = paths.quality / "benchmark"
    session_started = time.perf_counter()
    with spark.session(paths) as session:
        stages["checks: Spark session start"] = (time.perf_counter() - session_started, 0)
        clean, *stages["checks: clean suites"] = timed(lambda: validate_clean(paths, docs_dir=docs, spark=session))
        marts, *stages["checks: mart suites"] = timed(lambda: checks.validate_marts(session, spark.built_marts(paths), docs))
    return stages, clean + marts


def mart_rows(published: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(published), read_only=True) as con:
        tables = [
            t for (t,) in con.execute("select table_name from information_schema.tables where table_name <> '_publication'").fetchall()
        ]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in sorted(tables)}


def outcome(results: list) -> dict:
    return {
        r.suite: (r.rows, r.success, r.outcomes, sorted((f.expectation, f.column or "", f.unexpected or -1) for f in r.failures))
        for r in results
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="city", choices=["tiny", "county", "city", "province"])
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "spark_vs_duckdb"))
    parser.add_argument("--reuse", action="store_true", help="keep the month generated and ingested by an earlier run")
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)  # pyspark's notice about pandas 3
    os.environ.setdefault("CIVSTAT_KEY_FILE", str(Path(tempfile.gettempdir()) / "civstat-benchmark.key"))  # never inside the repository
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)

    import polars as pl

    from civstat.settings import Paths

    load = os.getloadavg()[0]
    source = prepare(work, args.scale, args.reuse)
    ledger = pl.read_parquet(source / "clean" / "_ledger.parquet")
    print(f"{ledger.height} files, {int(ledger['rows_in'].sum()):,} rows in, {int(ledger['rows_clean'].sum()):,} clean rows")

    runs = {}
    for engine, run in (("duckdb", on_duckdb), ("spark", on_spark)):
        data = work / f"{args.scale}-{engine}"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(source, data, symlinks=True)
        paths = Paths.from_env(data)
        # dbt's output (dagster-dbt echoes each event to stdout) goes to a log file, as in `civstat build`
        with open(work / f"{args.scale}-{engine}.log", "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            stages, results = run(paths)
        runs[engine] = (stages, results, mart_rows(paths.published_warehouse))
        print(f"{engine}: done", flush=True)

    (duck, duck_results, duck_rows), (spark, spark_results, spark_rows) = runs["duckdb"], runs["spark"]
    print(f"\n{args.scale} scale, one month; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores)")
    print(f"{'stage':<30} {'DuckDB s':>9} {'Spark s':>9} {'Spark/DuckDB':>13} {'DuckDB GiB':>11} {'Spark GiB':>10}")
    for stage in dict.fromkeys([*spark, *duck]):
        d, s = duck.get(stage), spark.get(stage)
        ratio = f"{s[0] / d[0]:.1f}x" if d and s else ""
        print(
            f"{stage:<30} {f'{d[0]:.1f}' if d else '':>9} {f'{s[0]:.1f}' if s else '':>9} {ratio:>13}"
            f" {f'{d[1] / GIB:.2f}' if d else '':>11} {f'{s[1] / GIB:.2f}' if s and s[1] else '':>10}"
        )
    totals = {name: sum(s for stage, (s, _) in runs[name][0].items() if not stage.startswith(" ")) for name in runs}
    print(f"{'total':<30} {totals['duckdb']:>9.1f} {totals['spark']:>9.1f} {totals['spark'] / totals['duckdb']:>12.1f}x")

    print(f"\n{'published table':<32} {'DuckDB rows':>12} {'Spark rows':>12}")
    for table in dict.fromkeys([*duck_rows, *spark_rows]):
        d, s = (f"{rows[table]:,}" if table in rows else "-" for rows in (duck_rows, spark_rows))
        print(f"{table:<32} {d:>12} {s:>12}")
    same_rows = duck_rows == spark_rows
    same_checks = outcome(duck_results) == outcome(spark_results)
    evaluated = sum(r.evaluated for r in spark_results)
    print(f"\nthe same rows in every published table: {'yes' if same_rows else 'NO'}")
    print(
        f"the same check outcome ({len(spark_results)} suites, {evaluated} expectations, each one's success): {'yes' if same_checks else 'NO'}"
    )
    return 0 if same_rows and same_checks else 1


if __name__ == "__main__":
    sys.exit(main())

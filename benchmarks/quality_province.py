#!/usr/bin/env python3
"""Benchmark: what the Great Expectations suites cost at province scale, beside the run they
guard, all measured in one run (issue 4).

    python benchmarks/quality_province.py [--workdir benchmarks/out/province]

Needs the raw province files of `benchmarks/ingest_province.py` (it generates them). In a fresh
data directory beside them (`<workdir>/quality_run`, raw files linked, not copied) it times:
ingestion (`civstat ingest`), the clean-table suites, the build (`civstat build`: dbt, its tests,
publication) and the mart suites with the month-over-month check; then prints each and the suites'
share of the whole. Peak memory is the benchmark process's own (the suites run in it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from ingest_province import ROOT, PeakMemory, run_measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "province"))
    args = parser.parse_args()
    work = Path(args.workdir).resolve()
    if not (work / "raw" / "_manifest" / "manifest.json").exists():
        print(f"no raw files in {work / 'raw'}: run `python benchmarks/ingest_province.py` first")
        return 1
    run_dir = work / "quality_run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    (run_dir / "raw").symlink_to(work / "raw", target_is_directory=True)
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(run_dir), "DO_NOT_TRACK": "1"}
    env.setdefault("CIVSTAT_KEY_FILE", str(Path(tempfile.gettempdir()) / "civstat-benchmark.key"))
    os.environ.update({k: env[k] for k in ("CIVSTAT_DATA_DIR", "CIVSTAT_KEY_FILE")})
    cli = [sys.executable, "-m", "civstat.cli"]

    from civstat.quality.run import recipient_jumps, validate_clean, validate_marts
    from civstat.settings import Paths

    paths = Paths.from_env(run_dir)
    ingest_time, ingest_peak, result = run_measured(cli + ["ingest"], env)
    if result.returncode:
        print(result.stdout[-2000:], result.stderr[-2000:])
        return 1
    months = sorted(p for p in pl.read_parquet(paths.ledger)["period"].drop_nulls().unique().to_list() if len(p) == 7)
    memory = PeakMemory(os.getpid())
    started = time.perf_counter()
    clean = validate_clean(paths, months, paths.data / "quality" / "benchmark")
    clean_time = time.perf_counter() - started
    suites_peak = memory.stop()
    build_time, build_peak, result = run_measured(cli + ["build"], env)
    if result.returncode:
        print(result.stdout[-2000:], result.stderr[-2000:])
        return 1
    started = time.perf_counter()
    marts = validate_marts(paths.data / "warehouse" / "build.duckdb", paths.data / "quality" / "benchmark")
    jumps = recipient_jumps(paths.data / "warehouse" / "build.duckdb", 0.3)
    mart_time = time.perf_counter() - started
    rows = sum(r.rows for r in clean)
    suites_time = clean_time + mart_time
    total = ingest_time + build_time + suites_time
    print(f"ingest:       {ingest_time:7.1f} s   peak RSS {ingest_peak / 2**30:.2f} GiB")
    print(
        f"clean suites: {clean_time:7.1f} s   {len(clean)} suites over {rows:,} rows ({sum(r.success for r in clean)} passed), peak RSS {suites_peak / 2**30:.2f} GiB"
    )
    print(f"build:        {build_time:7.1f} s   peak RSS {build_peak / 2**30:.2f} GiB")
    print(
        f"mart suites:  {mart_time:7.1f} s   {len(marts)} suites ({sum(r.success for r in marts)} passed) and the month-over-month check ({jumps.height} jumps)"
    )
    print(
        f"share:        {suites_time / total:7.1%} of ingest + suites + build ({total:.0f} s); the clean suites are {clean_time / ingest_time:.1%} of the ingest they follow"
    )
    shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

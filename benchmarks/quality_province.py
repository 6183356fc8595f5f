#!/usr/bin/env python3
"""Benchmark: what the Great Expectations suites cost at province scale (issue 4).

    python benchmarks/quality_province.py [--workdir benchmarks/out/province]

Runs the clean-table suites over one month of province-scale clean data and the mart suites over
the last build, and prints their time and peak memory beside the ingestion and build they guard
(from the ledger's own timings). Needs `benchmarks/ingest_province.py` and
`benchmarks/warehouse_province.py` to have run first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from ingest_province import ROOT, PeakMemory  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "province"))
    args = parser.parse_args()
    from civstat.quality.run import validate_clean, validate_marts
    from civstat.settings import Paths

    paths = Paths.from_env(args.workdir)
    ledger = pl.read_parquet(paths.ledger)
    months = sorted(p for p in ledger["period"].drop_nulls().unique().to_list() if len(p) == 7)
    memory = PeakMemory(os.getpid())
    started = time.perf_counter()
    clean = validate_clean(paths, months, paths.data / "quality" / "benchmark")
    clean_time = time.perf_counter() - started
    started = time.perf_counter()
    marts = validate_marts(paths.data / "warehouse" / "build.duckdb", paths.data / "quality" / "benchmark")
    mart_time = time.perf_counter() - started
    peak = memory.stop()
    rows = sum(r.rows for r in clean)
    ingest_seconds = float(ledger["seconds"].sum())
    print(f"clean suites: {clean_time:7.1f} s for {len(clean)} suites over {rows:,} rows ({sum(r.success for r in clean)} passed)")
    print(f"mart suites:  {mart_time:7.1f} s for {len(marts)} suites ({sum(r.success for r in marts)} passed)")
    print(f"peak RSS:     {peak / 2**30:7.2f} GiB")
    print(f"share:        {clean_time / ingest_seconds:7.1%} of the ingestion's own file time ({ingest_seconds:.0f} s summed over files, 2 workers);"
          f" {clean_time / (ingest_seconds / 2):.1%} of that time spread over the 2 workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark: the dbt build of the three marts at province scale against one hand-written DuckDB
script computing the same marts from the same clean Parquet (issue 3).

    python benchmarks/warehouse_province.py [--workdir benchmarks/out/province]

Needs the clean Parquet of a province-scale run: `python benchmarks/ingest_province.py` makes it.
Prints the dbt build wall time (parse, models, tests, unit tests and publication), the time dbt
spent in models alone (from run_results.json), peak memory, the hand-written script's time, and
the ratios. Goal: dbt within 3x of the hand-written script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from ingest_province import ROOT, run_measured  # noqa: E402


def hand_written(clean: Path) -> float:
    script = (Path(__file__).with_name("marts_by_hand.sql")).read_text(encoding="utf-8").replace("{clean}", str(clean))
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "by_hand.duckdb"))
        con.execute("set threads = 2")
        started = time.perf_counter()
        con.execute(script)
        elapsed = time.perf_counter() - started
        rows = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("low_income_monitoring", "elderly_care_beds", "subsidy_coverage")}
        con.close()
    print(f"by hand:  {elapsed:8.1f} s   rows {rows}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "province"))
    args = parser.parse_args()
    work = Path(args.workdir).resolve()
    clean = work / "clean"
    if not (clean / "_ledger.parquet").exists():
        print(f"no clean data in {clean}: run `python benchmarks/ingest_province.py` first")
        return 1
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(work), "DO_NOT_TRACK": "1"}
    build_time, peak, result = run_measured([sys.executable, "-m", "civstat.cli", "build"], env)
    if result.returncode:
        print(result.stdout[-3000:], result.stderr[-3000:])
        return 1
    run_results = json.loads((ROOT / "dbt_project" / "target" / "run_results.json").read_text(encoding="utf-8"))
    dbt_wall = run_results["elapsed_time"]
    models = sum(r["execution_time"] for r in run_results["results"] if r["unique_id"].startswith("model."))
    tests = sum(r["execution_time"] for r in run_results["results"] if r["unique_id"].startswith(("test.", "unit_test.")))
    print(f"build:    {build_time:8.1f} s   peak RSS {peak / 2**30:5.2f} GiB (civstat build: dbt start and parse, seeds, models, tests, publication)")
    print(f"          {dbt_wall:8.1f} s of it in dbt's run (models {models:.1f} s + tests {tests:.1f} s summed over 2 threads)")
    by_hand = hand_written(clean)
    print(f"ratio:    {build_time / by_hand:8.2f} x by hand for the whole build (goal <= 3x); {dbt_wall / by_hand:.2f} x for dbt's run (models and tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

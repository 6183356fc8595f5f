#!/usr/bin/env python3
"""Benchmark: the dbt build of the three marts at province scale against one hand-written DuckDB
script computing the same marts from the same clean Parquet (issue 3).

    python benchmarks/warehouse_province.py [--workdir benchmarks/out/province] [--rounds 3]

Needs the clean Parquet of a province-scale run: `python benchmarks/ingest_province.py` makes it.
The machine is small and noisy, so the runs alternate (build, script, build, script, ...) and the
medians are compared. Printed per round and as medians:

- `three marts`: `dbt build` of the three marts, the dimensions and everything upstream of them,
  with their data tests (what the hand-written script computes: the goal's like-for-like
  comparison), wall time of the dbt process including its start and parse;
- `civstat build`: the whole production build (also the warnings W01-W14 and their lifecycle, the
  dimensions, every data test) and its publication, and its peak memory;
- the hand-written script's time, and the ratios. Goal: dbt within 3x of the hand-written script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from ingest_province import ROOT, run_measured


def hand_written(clean: Path) -> float:
    script = (Path(__file__).with_name("marts_by_hand.sql")).read_text(encoding="utf-8").replace("{clean}", str(clean))
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "by_hand.duckdb"))
        con.execute("set threads = 2")
        started = time.perf_counter()
        con.execute(script)
        elapsed = time.perf_counter() - started
        rows = {
            t: con.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("low_income_monitoring", "elderly_care_beds", "subsidy_coverage")
        }
        con.close()
    print(f"by hand:  {elapsed:8.1f} s   rows {rows}")
    return elapsed


# the marts, the dimensions their relationship tests point to, and everything upstream
THREE_MARTS = ("+low_income_monitoring", "+elderly_care_beds", "+subsidy_coverage", "+dim_divisions", "+dim_periods", "+dim_programmes")


def three_marts_command() -> list[str]:
    """dbt build of the three marts and their upstream, as civstat runs dbt (same vars, profile and
    build file, so dbt's partial parsing behaves as in production)."""
    code = (
        "import sys; from civstat.settings import Paths; from civstat.warehouse import build as b; "
        "p = Paths.from_env(); f = p.data / 'warehouse' / 'build.duckdb'; f.unlink(missing_ok=True); "
        "b.run_dbt(p, f, 'build', '--select', *sys.argv[1:], '--indirect-selection', 'cautious', '--exclude-resource-type', 'unit_test')"
    )
    return [sys.executable, "-c", code, *THREE_MARTS]


def measured(cmd: list[str], env: dict) -> tuple[float, int]:
    elapsed, peak, result = run_measured(cmd, env)
    if result.returncode:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    return elapsed, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "province"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(args.workdir).resolve()
    clean = work / "clean"
    if not (clean / "_ledger").exists() and not (clean / "_ledger.parquet").exists():
        print(f"no clean data in {clean}: run `python benchmarks/ingest_province.py` first")
        return 1
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(work), "DO_NOT_TRACK": "1"}
    measured([sys.executable, "-m", "civstat.cli", "build"], env)  # warm-up: dbt parses what changed
    three, whole, peaks, by_hand = [], [], [], []
    for round_no in range(1, args.rounds + 1):
        three.append(measured(three_marts_command(), env)[0])
        build_time, peak = measured([sys.executable, "-m", "civstat.cli", "build"], env)
        whole.append(build_time)
        peaks.append(peak)
        run_results = json.loads((ROOT / "dbt_project" / "target" / "run_results.json").read_text(encoding="utf-8"))
        by_hand.append(hand_written(clean))
        print(
            f"round {round_no}: three marts {three[-1]:5.1f} s, civstat build {whole[-1]:5.1f} s "
            f"(dbt's run {run_results['elapsed_time']:.1f} s), peak {peak / 2**30:.2f} GiB, by hand {by_hand[-1]:5.1f} s"
        )
    hand = statistics.median(by_hand)
    print(f"median by hand:        {hand:6.1f} s")
    print(f"median three marts:    {statistics.median(three):6.1f} s   {statistics.median(three) / hand:5.2f} x by hand (goal <= 3x)")
    print(
        f"median civstat build:  {statistics.median(whole):6.1f} s   {statistics.median(whole) / hand:5.2f} x by hand "
        f"(also warnings, dimensions, publication); peak RSS {max(peaks) / 2**30:.2f} GiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

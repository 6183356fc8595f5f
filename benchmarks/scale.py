#!/usr/bin/env python3
"""Benchmark: what a monthly run costs as history grows, a province month end to end, and the
figures extrapolated to a province's year and a nation (issue 12).

    python benchmarks/scale.py [--workdir benchmarks/out/scale] [--city-months 12] [--reuse]
                               [--skip-province] [--skip-city]

Measured in one run, each command in its own process (wall time; peak memory = the summed RSS of
the process and its children, sampled every 50 ms):

1. **Monthly runs with history held** (city scale): ``civstat run --period M`` month after month,
   each month's raw folder dropped into data/raw before its run, as a bureau does. Printed for
   every run, then runs 1, 3, 6 and 12 side by side and the ratio of the last to the first.
2. **A province month end to end**: ``civstat run`` on a fresh data directory; then the clean
   suites alone (``civstat check --period M``: the clean tables' and the marts') and their peak memory.
3. **Reading floors on the same province files**: civstat's ingest (cleaning included) against
   DuckDB's ``read_csv`` over the same cells as UTF-8 CSV and a pandas read-only script (calamine
   for Excel), both from benchmarks/ingest_province.py.
4. **Extrapolations**, with their assumptions printed beside them.

The machine is small (2 cores) and may be shared: ratios measured in the same run are what to
compare, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_province import ROOT, run_measured

GIB = 2**30


def cli(env: dict) -> list[str]:
    return [sys.executable, "-m", "civstat.cli"]


def generate(work: Path, scale: str, months: int, start: str, env: dict, reuse: bool) -> Path:
    source = work / f"{scale}-source"
    if reuse and (source / "raw" / "_manifest" / "manifest.json").exists():
        return source / "raw"
    shutil.rmtree(source, ignore_errors=True)
    seconds, peak, proc = run_measured(
        [*cli(env), "generate", "--scale", scale, "--months", str(months), "--start", start, "--seed", "7"],
        {**env, "CIVSTAT_DATA_DIR": str(source)},
    )
    if proc.returncode:
        raise SystemExit(f"generate failed:\n{proc.stderr[-2000:]}")
    print(f"generated {months} month(s) at {scale} scale in {seconds:.0f} s")
    return source / "raw"


def cpu_seconds() -> float:
    """CPU time (user + system) of every finished child process and their children: unlike wall
    time, it barely changes when other work shares the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured_run(root: Path, month: str, env: dict, *extra: str) -> tuple[float, int, float]:
    """Wall seconds, peak memory and CPU seconds of ``civstat run --period month``."""
    before = cpu_seconds()
    seconds, peak, proc = run_measured([*cli(env), "run", "--period", month, *extra], {**env, "CIVSTAT_DATA_DIR": str(root)})
    if proc.returncode:
        raise SystemExit(f"civstat run --period {month} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, peak, cpu_seconds() - before


def build_plan(root: Path) -> str:
    state = root / "warehouse" / "build_state.json"
    return json.loads(state.read_text(encoding="utf-8")).get("built", "?") if state.exists() else "?"


def monthly_runs(work: Path, months: int, env: dict, reuse: bool) -> dict[int, tuple[float, int, float]]:
    raw = generate(work, "city", months, "2025-01", env, reuse)
    folders = sorted(p.name for p in raw.iterdir() if p.is_dir() and not p.name.startswith("_"))
    month_folders = [f for f in folders if len(f) == 7]
    year_folders = [f for f in folders if len(f) == 4]
    root = work / "city-monthly"
    shutil.rmtree(root, ignore_errors=True)
    (root / "raw").mkdir(parents=True)
    for folder in year_folders:  # the year's registers arrive with the first month
        shutil.copytree(raw / folder, root / "raw" / folder)
    rows_per_month = None
    results = {}
    print(f"\n1. monthly runs at city scale, {len(month_folders)} months held in the end")
    print(f"{'run':>4} {'month':>8} {'wall s':>8} {'CPU s':>8} {'peak GiB':>9}  build")
    for n, month in enumerate(month_folders, start=1):
        shutil.copytree(raw / month, root / "raw" / month)
        seconds, peak, cpu = measured_run(root, month, env)
        results[n] = (seconds, peak, cpu)
        print(f"{n:>4} {month:>8} {seconds:8.1f} {cpu:8.1f} {peak / GIB:9.2f}  {build_plan(root)[:90]}", flush=True)
    manifest = json.loads((raw / "_manifest" / "manifest.json").read_text(encoding="utf-8"))
    rows_per_month = sum(f["rows_in"] for f in manifest["files"]) / max(1, len(month_folders))
    print(f"\n   about {rows_per_month:,.0f} raw rows a month (registers included)")
    shown = [n for n in (1, 3, 6, 12, len(month_folders)) if n in results]
    print(
        "   "
        + "  ".join(
            f"run {n}: {results[n][0]:.0f} s wall, {results[n][2]:.0f} s CPU, {results[n][1] / GIB:.2f} GiB" for n in dict.fromkeys(shown)
        )
    )
    last = max(results)
    print(
        f"   run {last} / run 1: wall time {results[last][0] / results[1][0]:.2f}x, CPU time {results[last][2] / results[1][2]:.2f}x, "
        f"peak memory {results[last][1] / results[1][1]:.2f}x (goal: at most 1.3x each; on a shared machine, CPU time is the fair measure)"
    )
    return results


def province_month(work: Path, env: dict, reuse: bool) -> dict:
    from ingest_province import duckdb_floor, pandas_read, transcode_to_utf8

    raw = generate(work, "province", 1, "2025-12", env, reuse)
    month = next(p.name for p in sorted(raw.iterdir()) if p.is_dir() and len(p.name) == 7)
    root = work / "province-run"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(raw, root / "raw", ignore=shutil.ignore_patterns("_manifest"))
    print(f"\n2. a province month ({month}) end to end")
    seconds, peak, cpu = measured_run(root, month, env)
    from civstat.ledger import read_ledger
    from civstat.settings import Paths

    rows = int(read_ledger(Paths.from_env(root))["rows_in"].sum())
    print(f"   civstat run:          {seconds:8.1f} s   ({cpu:.0f} s CPU)   peak {peak / GIB:5.2f} GiB   {rows:,} rows in")
    checks_s, checks_peak, proc = run_measured([*cli(env), "check", "--period", month], {**env, "CIVSTAT_DATA_DIR": str(root)})
    print(
        f"   GX suites alone:      {checks_s:8.1f} s   peak {checks_peak / GIB:5.2f} GiB   (civstat check: the clean suites and the marts'; goal under 1 GiB)"
    )

    print("\n3. reading the same files: civstat ingest against the floors")
    fresh = work / "province-ingest"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    shutil.copytree(raw, fresh / "raw", ignore=shutil.ignore_patterns("_manifest"))
    ingest_s, ingest_peak, proc = run_measured([*cli(env), "ingest"], {**env, "CIVSTAT_DATA_DIR": str(fresh)})
    if proc.returncode:
        raise SystemExit(f"ingest failed:\n{proc.stderr[-2000:]}")
    files = [p for p in sorted((fresh / "raw").rglob("*")) if p.is_file()]
    pandas_s = pandas_read(files, int(os.environ.get("CIVSTAT_WORKERS", min(2, os.cpu_count() or 1))))  # as many processes as the ingest
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        utf8 = transcode_to_utf8(fresh / "raw", Path(tmp))
        floor_s = duckdb_floor(utf8)
    print(f"   civstat ingest:       {ingest_s:8.1f} s   peak {ingest_peak / GIB:5.2f} GiB   ({len(files)} files)")
    if pandas_s:
        print(f"   pandas read-only:     {pandas_s:8.1f} s   (calamine for Excel; reads, cleans nothing)")
    print(f"   DuckDB read_csv:      {floor_s:8.1f} s   (the same cells as UTF-8 CSV)")
    versus_pandas = f"ingest / pandas {ingest_s / pandas_s:.2f}x (goal under 1), " if pandas_s else ""
    print(f"   {versus_pandas}ingest / DuckDB floor {ingest_s / floor_s:.2f}x (goal within 2x)")
    return {"run_s": seconds, "run_peak": peak, "rows": rows, "checks_peak": checks_peak, "ingest_s": ingest_s}


def extrapolate(city: dict[int, tuple[float, int, float]] | None, province: dict | None) -> None:
    print("\n4. extrapolated (assumptions beside each figure)")
    if city:
        first, last = city[1], city[max(city)]
        growth = (last[2] - first[2]) / max(1, max(city) - 1)
        print(
            f"   city, month 24 held: ~{last[2] + growth * 12:.0f} s CPU a run, against {first[2]:.0f} s with one month "
            f"(assumes the CPU growth measured between run 1 and run {max(city)}, {growth:+.1f} s a month, stays linear)"
        )
    if province:
        year_s = province["run_s"] * 12
        print(
            f"   province, a year of monthly runs: ~{year_s / 60:.0f} min in all, ~{province['run_s'] / 60:.1f} min and "
            f"{province['run_peak'] / GIB:.1f} GiB each (assumes the city's flat cost per run holds at province scale)"
        )
        nation_rows = 177e6  # DOMAIN.md section 8: ~66 million monitored people, ~177 million roster rows a month
        factor = nation_rows / province["rows"]
        print(
            f"   nation on this machine: ~{province['run_s'] * factor / 3600:.1f} h and ~{province['run_peak'] * factor / GIB:.0f} GiB "
            f"per monthly run ({factor:.0f}x the province's rows; assumes time and memory grow linearly with a month's rows, "
            "2 cores): beyond one 24 GiB machine, hence the Spark target (issue 13)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "scale"))
    parser.add_argument("--city-months", type=int, default=12)
    parser.add_argument("--reuse", action="store_true", help="keep generated raw files from an earlier run")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--skip-province", action="store_true")
    args = parser.parse_args()
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    env.setdefault("CIVSTAT_KEY_FILE", str(Path(tempfile.gettempdir()) / "civstat-benchmark.key"))  # never inside the repository
    city = None if args.skip_city else monthly_runs(work, args.city_months, env, args.reuse)
    province = None if args.skip_province else province_month(work, env, args.reuse)
    extrapolate(city, province)
    return 0


if __name__ == "__main__":
    sys.exit(main())

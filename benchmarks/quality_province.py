#!/usr/bin/env python3
"""Benchmark: what the Great Expectations suites cost at province scale, beside the run they
guard (issue 4), and what the clean-table suites take in time and memory.

    python benchmarks/quality_province.py [--workdir benchmarks/out/province]
    python benchmarks/quality_province.py --data DIR [--old-pipelines OLD/pipelines]

Without ``--data`` it needs the raw province files of `benchmarks/ingest_province.py` (it generates
them) and, in a fresh data directory beside them (`<workdir>/quality_run`, raw files linked, not
copied), times ingestion (`civstat ingest`), the clean-table suites, the build (`civstat build`:
dbt, its tests, publication) and the mart suites with the month-over-month check; then prints each
and the suites' share of the whole. With ``--data`` (an ingested data directory) it runs the
clean-table suites only, over the months of its ledger.

The suites run in a process of their own each, so their peak memory (RSS, sampled every 50 ms) is
theirs alone: the suites' own time is measured inside that process. ``--old-pipelines`` names the
``pipelines`` directory of a checkout of another version (e.g. a worktree of the commit before
the SQL engine): its clean suites run the same way, beside this one's, and the two outcomes are
compared suite by suite (success, and each failure's expectation, column and count).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_province import ROOT, run_measured

#: Run in a child process: the suites of one kind, their time and outcome as JSON on the last line.
SUITES = """
import json, sys, time
from pathlib import Path
from civstat.quality.run import recipient_jumps, validate_clean, validate_marts
from civstat.settings import Paths

kind, data, docs, *periods = sys.argv[1:]
paths = Paths.from_env(Path(data))
started = time.perf_counter()
if kind == "clean":
    results = validate_clean(paths, periods or None, Path(docs))
    jumps = None
else:
    results = validate_marts(paths.build_file, Path(docs))
    jumps = recipient_jumps(paths.build_file, 0.3).height
seconds = time.perf_counter() - started
outcome = {
    r.suite: {"success": r.success, "rows": r.rows, "failures": sorted((f.expectation, f.column or "", f.unexpected or 0) for f in r.failures)}
    for r in results
}
print(json.dumps({"seconds": seconds, "suites": outcome, "jumps": jumps}))
"""


def run_suites(kind: str, pipelines: Path, data: Path, docs: Path, periods: list[str], env: dict) -> tuple[float, int, dict]:
    """The suites of ``kind`` (clean or marts) with the civstat of ``pipelines``: process wall time,
    peak RSS and what the process reported."""
    env = {**env, "PYTHONPATH": str(pipelines)}
    elapsed, peak, result = run_measured([sys.executable, "-c", SUITES, kind, str(data), str(docs), *periods], env)
    reports = [line for line in result.stdout.splitlines() if line.startswith('{"seconds"')]
    if result.returncode or not reports:
        raise SystemExit(f"the {kind} suites ({pipelines}) failed:\n{result.stdout[-1000:]}\n{result.stderr[-3000:]}")
    return elapsed, peak, json.loads(reports[-1])


def describe(label: str, elapsed: float, peak: int, report: dict) -> str:
    suites = report["suites"].values()
    rows = sum(s["rows"] for s in suites)
    passed = sum(s["success"] for s in suites)
    return (
        f"{label}: {report['seconds']:7.1f} s in the suites ({elapsed:.1f} s with the process's start), peak RSS {peak / 2**30:.2f} GiB;"
        f" {len(report['suites'])} suites over {rows:,} rows, {passed} passed"
    )


def compare(old: dict, new: dict) -> list[str]:
    """Where the two versions' outcomes differ (suite names and failures as each reports them; a
    suite's schema part is reported under the suite's name by both)."""
    differences = []
    for suite in sorted(set(old["suites"]) | set(new["suites"])):
        a, b = old["suites"].get(suite), new["suites"].get(suite)
        if a is None or b is None:
            differences.append(f"{suite}: only in the {'new' if a is None else 'old'} run")
        elif (a["success"], a["rows"], a["failures"]) != (b["success"], b["rows"], b["failures"]):
            differences.append(
                f"{suite}: old {a['success']} {a['rows']} rows {a['failures']} / new {b['success']} {b['rows']} rows {b['failures']}"
            )
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "province"))
    parser.add_argument("--data", help="an ingested data directory: run the clean-table suites only, over its months")
    parser.add_argument("--old-pipelines", help="the pipelines directory of another version, whose clean suites run beside these")
    args = parser.parse_args()
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    env.setdefault("CIVSTAT_KEY_FILE", str(Path(tempfile.gettempdir()) / "civstat-benchmark.key"))
    pipelines = ROOT / "pipelines"
    cli = [sys.executable, "-m", "civstat.cli"]

    if args.data:
        data = Path(args.data).resolve()
        if not (data / "clean").is_dir():
            print(f"no clean tables in {data}: ingest it first (`civstat --data-dir {data} ingest`)")
            return 1
    else:
        work = Path(args.workdir).resolve()
        if not (work / "raw" / "_manifest" / "manifest.json").exists():
            print(f"no raw files in {work / 'raw'}: run `python benchmarks/ingest_province.py` first")
            return 1
        data = work / "quality_run"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        (data / "raw").symlink_to(work / "raw", target_is_directory=True)
    env["CIVSTAT_DATA_DIR"] = str(data)
    env["PYTHONPATH"] = str(pipelines)

    if not args.data:
        ingest_time, ingest_peak, result = run_measured(cli + ["ingest"], env)
        if result.returncode:
            print(result.stdout[-2000:], result.stderr[-2000:])
            return 1
        print(f"ingest:       {ingest_time:7.1f} s   peak RSS {ingest_peak / 2**30:.2f} GiB")
    from civstat.ledger import read_ledger
    from civstat.settings import Paths

    months = sorted(p for p in read_ledger(Paths.from_env(data))["period"].drop_nulls().unique().to_list() if len(p) == 7)
    docs = data / "quality" / "benchmark"

    clean_time, clean_peak, clean = run_suites("clean", pipelines, data, docs / "clean", months, env)
    print(describe("clean suites (this version)", clean_time, clean_peak, clean))
    if args.old_pipelines:
        old_time, old_peak, old = run_suites("clean", Path(args.old_pipelines).resolve(), data, docs / "clean_old", months, env)
        print(describe("clean suites (old version) ", old_time, old_peak, old))
        differences = compare(old, clean)
        print("outcomes: the same in every suite" if not differences else "outcomes differ:\n  " + "\n  ".join(differences))
    if args.data:
        shutil.rmtree(docs, ignore_errors=True)
        return 0

    build_time, build_peak, result = run_measured(cli + ["build"], env)
    if result.returncode:
        print(result.stdout[-2000:], result.stderr[-2000:])
        return 1
    mart_time, mart_peak, marts = run_suites("marts", pipelines, data, docs / "marts", [], env)
    suites_time = clean["seconds"] + marts["seconds"]
    total = ingest_time + build_time + suites_time
    print(f"build:        {build_time:7.1f} s   peak RSS {build_peak / 2**30:.2f} GiB")
    print(
        f"mart suites:  {marts['seconds']:7.1f} s   {len(marts['suites'])} suites ({sum(s['success'] for s in marts['suites'].values())} passed)"
        f" and the month-over-month check ({marts['jumps']} jumps), peak RSS {mart_peak / 2**30:.2f} GiB"
    )
    print(
        f"share:        {suites_time / total:7.1%} of ingest + suites + build ({total:.0f} s); the clean suites are {clean['seconds'] / ingest_time:.1%} of the ingest they follow"
    )
    shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

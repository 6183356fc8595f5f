#!/usr/bin/env python3
"""Benchmark: a month's ingestion three ways, on the same files (issue 13).

    python benchmarks/partitioned_ingest.py [--scale city] [--workdir benchmarks/out/partitioned] [--rounds 1]

Generates one month of rosters (unless the work directory has them), then, each in a fresh copy:
  * ``civstat ingest``: one process and its pool of ``$CIVSTAT_WORKERS`` workers, no Dagster;
  * the ``raw/*`` and ``clean/*`` assets in-process, as ``civstat run`` runs them (one step per
    county and phase, one after another, sharing one worker pool);
  * the same assets on the monthly job's multiprocess executor (every step a process, side by side),
    with a temporary Dagster instance;
prints wall time, CPU seconds (this process's children: every step and worker; not for the multiprocess
executor, whose steps come from a forkserver nothing waits for) and peak memory,
the ratios to ``civstat ingest``, the county steps that ran, and checks that the three outputs are
the same (``compare_clean.py``: every clean and quarantine file, and the ledger but its timings).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from compare_clean import compare
from ingest_province import ROOT, run_measured

MODES = ("ingest", "in-process", "multiprocess")


def ingestion_job():
    """raw/* and clean/* on the monthly job's executor (imported by the step processes)."""
    import dagster as dg

    from civstat.defs.automation import monthly_job
    from civstat.defs.ingestion import clean_rosters, raw_extracts
    from civstat.defs.resources import CivstatResource

    job = dg.define_asset_job("ingestion", executor_def=monthly_job.executor_def)
    return dg.Definitions(assets=[raw_extracts, clean_rosters], jobs=[job], resources={"civstat": CivstatResource()}).resolve_job_def(
        "ingestion"
    )


def _in_process(month: str) -> None:
    import dagster as dg

    from civstat.orchestrate import run
    from civstat.registry import registry
    from civstat.settings import Paths

    keys = [dg.AssetKey([layer, r]) for layer in ("raw", "clean") for r in registry().rosters]
    result = run(Paths.from_env(), [month], selection=dg.AssetSelection.assets(*keys).without_checks())  # no GX: ingestion alone
    _say(result.success, [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"])


def _multiprocess(month: str) -> None:
    import dagster as dg

    os.chdir(Path(__file__).parent)  # the step processes import this module from the working directory
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
        result = dg.execute_job(dg.reconstructable(ingestion_job), instance=instance, tags={"dagster/partition": month})
        _say(result.success, [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"])


def _say(success: bool, steps: list[str]) -> None:
    counties = sorted({s.split("[")[1].rstrip("]") for s in steps if "[" in s})
    print(f"RESULT success={success} steps={len(steps)} counties={','.join(counties)}")
    if not success:
        raise SystemExit(1)


def measure(mode: str, raw: Path, work: Path, month: str, env: dict) -> tuple[float, float, int, str]:
    data = work / mode
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(raw, data / "raw", ignore=shutil.ignore_patterns("_manifest"))
    env = {**env, "CIVSTAT_DATA_DIR": str(data)}
    if mode == "ingest":
        cmd = [sys.executable, "-m", "civstat.cli", "ingest"]
    else:
        cmd = [sys.executable, __file__, f"--_{mode.replace('-', '_')}", month]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, peak, proc = run_measured(cmd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{mode} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    # the multiprocess executor forks its steps from a forkserver, and nothing waits for the forkserver
    # (it ends when its parent does): the steps' CPU time never reaches this process, so it is not measured
    cpu = float("nan") if mode == "multiprocess" else after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    said = next((line for line in proc.stdout.splitlines() if line.startswith("RESULT")), "")
    return seconds, cpu, peak, said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="city")
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "partitioned"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--_in_process", help=argparse.SUPPRESS)
    parser.add_argument("--_multiprocess", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._in_process:
        _in_process(args._in_process)
        return 0
    if args._multiprocess:
        _multiprocess(args._multiprocess)
        return 0
    work = Path(args.workdir).resolve()
    raw = work / "raw"
    env = {**os.environ, "DO_NOT_TRACK": "1", "DAGSTER_DISABLE_TELEMETRY": "1"}
    env.setdefault("CIVSTAT_KEY_FILE", str(Path(tempfile.gettempdir()) / "civstat-benchmark.key"))  # never inside the repository
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "pipelines"), env.get("PYTHONPATH")]))
    if not raw.exists():
        cmd = [sys.executable, "-m", "civstat.cli", "generate", "--scale", args.scale, "--months", "1", "--start", "2025-12"]
        subprocess.run([*cmd, "--seed", "7", "--out", str(raw)], env=env, check=True, capture_output=True)
    month = next(p.name for p in sorted(raw.iterdir()) if len(p.name) == 7)
    files = sum(1 for p in raw.rglob("*") if p.is_file() and "_manifest" not in p.parts)
    print(f"{args.scale} scale, {month}: {files} files; CIVSTAT_WORKERS={os.environ.get('CIVSTAT_WORKERS', 'default (2)')}")
    figures: dict[str, list[tuple[float, float, int]]] = {m: [] for m in MODES}
    for round_no in range(1, args.rounds + 1):
        for mode in MODES:
            seconds, cpu, peak, said = measure(mode, raw, work, month, env)
            figures[mode].append((seconds, cpu, peak))
            print(f"round {round_no}  {mode:<13} {seconds:7.1f} s  {cpu:7.1f} CPU s  peak {peak / 2**30:5.2f} GiB  {said}", flush=True)
    print("medians:")
    base = [statistics.median(x[i] for x in figures["ingest"]) for i in range(3)]
    for mode in MODES:
        seconds, cpu, peak = (statistics.median(x[i] for x in figures[mode]) for i in range(3))
        print(
            f"  {mode:<13} {seconds:7.1f} s ({seconds / base[0]:.2f}x)  {cpu:7.1f} CPU s ({cpu / base[1]:.2f}x)  "
            f"peak {peak / 2**30:5.2f} GiB ({peak / base[2]:.2f}x)"
        )
    problems = [p for mode in MODES[1:] for p in compare(work / "ingest", work / mode)]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark: province-scale ingestion against the DuckDB read_csv floor (issue 2).

    python benchmarks/ingest_province.py [--scale province] [--months 1] [--workdir benchmarks/out/province]

Generates the rosters (unless --reuse finds them), then measures in one run:
  * ingestion wall time, rows/s and peak memory (RSS of the ingest process and its workers, summed);
  * the floor: DuckDB reading the same data as UTF-8 CSV (every file transcoded first, untimed),
    all columns as text, one table per file, as the ingest reads them;
and prints the ratios. Goals: peak memory within 4 GiB, time within 5x the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import psutil

ROOT = Path(__file__).resolve().parents[1]
PERSON_ROSTERS = {
    "person",
    "longevity",
    "disab_living",
    "disab_care",
    "orphan",
    "unsupported_child",
    "temporary",
    "death",
    "prevention",
    "vehicle",
    "business",
    "public_employee",
}


class PeakMemory:
    """Samples the summed RSS of a process and all its children every 50 ms."""

    def __init__(self, pid: int):
        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_measured(cmd: list[str], env: dict) -> tuple[float, int, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    return elapsed, memory.stop(), subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def transcode_to_utf8(raw: Path, target: Path) -> list[Path]:
    """Every raw file as a UTF-8 CSV of the same cells (the floor reads these)."""
    from civstat.cleaning.readers import read_grid

    out = []
    for path in sorted(raw.rglob("*")):
        if not path.is_file() or "_manifest" in path.parts:
            continue
        dest = target / path.relative_to(raw).with_suffix(".csv")
        dest.parent.mkdir(parents=True, exist_ok=True)
        read_grid(path).cells.write_csv(dest, include_header=False)
        out.append(dest)
    return out


def duckdb_floor(files: list[Path]) -> float:
    con = duckdb.connect()
    started = time.perf_counter()
    for n, path in enumerate(files):
        con.execute(
            f"create or replace table t{n % 4} as select * from read_csv(?, all_varchar=true, header=false, "
            "null_padding=true, auto_detect=true)",
            [str(path)],
        )
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def polars_read(files: list[Path]) -> float:
    started = time.perf_counter()
    for path in files:
        pl.read_csv(path, has_header=False, infer_schema=False, truncate_ragged_lines=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="province")
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "province"))
    parser.add_argument("--reuse", action="store_true", help="keep generated files from an earlier run")
    args = parser.parse_args()

    work = Path(args.workdir).resolve()
    raw = work / "raw"
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(work), "DO_NOT_TRACK": "1"}
    env.setdefault("CIVSTAT_KEY_FILE", str(Path(tempfile.gettempdir()) / "civstat-benchmark.key"))  # never inside the repository
    cli = [sys.executable, "-m", "civstat.cli"]

    if not (args.reuse and (raw / "_manifest" / "manifest.json").exists()):
        shutil.rmtree(work, ignore_errors=True)
        gen_time, gen_peak, gen = run_measured(
            cli + ["generate", "--scale", args.scale, "--months", str(args.months), "--seed", str(args.seed)], env
        )
        if gen.returncode:
            print(gen.stderr)
            return 1
        print(f"generate: {gen_time:8.1f} s   peak RSS {gen_peak / 2**30:5.2f} GiB")
    manifest = json.loads((raw / "_manifest" / "manifest.json").read_text(encoding="utf-8"))
    files = manifest["files"]
    person_rows = sum(f["rows_in"] for f in files if f["roster"] in PERSON_ROSTERS)
    all_rows = sum(f["rows_in"] for f in files)
    size = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file() and "_manifest" not in p.parts)
    formats = (
        pl.DataFrame([{"format": f["format"], "rows_in": f["rows_in"]} for f in files])
        .group_by("format")
        .agg(pl.len().alias("files"), pl.col("rows_in").sum().alias("rows"))
        .sort("format")
    )
    print(f"data:     {len(files)} files, {size / 2**20:.0f} MiB, {all_rows:,} rows in ({person_rows:,} person rows)")
    print("          " + ", ".join(f"{r['format']}: {r['files']} files / {r['rows']:,} rows" for r in formats.iter_rows(named=True)))

    shutil.rmtree(work / "clean", ignore_errors=True)
    ingest_time, ingest_peak, result = run_measured(cli + ["ingest"], env)
    if result.returncode:
        print(result.stdout[-2000:], result.stderr[-2000:])
        return 1
    ledger = pl.read_parquet(work / "clean" / "_ledger.parquet")
    assert ledger["rows_in"].sum() == all_rows and (ledger["rows_clean"] + ledger["rows_quarantined"] == ledger["rows_in"]).all()

    utf8 = transcode_to_utf8(raw, work / "utf8")
    floor = min(duckdb_floor(utf8) for _ in range(2))
    polars_time = polars_read(utf8)

    print(
        f"ingest:   {ingest_time:8.1f} s   {all_rows / ingest_time:12,.0f} rows/s   peak RSS {ingest_peak / 2**30:5.2f} GiB (goal <= 4 GiB)"
    )
    print(f"floor:    {floor:8.1f} s   DuckDB read_csv of the same data as UTF-8 CSV (all text), best of 2")
    print(f"context:  {polars_time:8.1f} s   Polars read_csv of the same UTF-8 files")
    print(f"ratio:    {ingest_time / floor:8.2f} x the DuckDB floor (goal <= 5x); {ingest_time / polars_time:.2f} x Polars read_csv")
    print(f"workers:  {os.environ.get('CIVSTAT_WORKERS', 'default (2)')}; cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

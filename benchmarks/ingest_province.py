#!/usr/bin/env python3
"""Benchmark: province-scale ingestion against the DuckDB read_csv floor (issue 2).

    python benchmarks/ingest_province.py [--scale province] [--months 1] [--workdir benchmarks/out/province]

Generates the rosters (unless --reuse finds them), then measures in one run:
  * ingestion wall time, rows/s and peak memory (RSS of the ingest process and its workers, summed);
  * the floor: DuckDB reading the same data as UTF-8 CSV (every file transcoded first, untimed),
    all columns as text, one table per file, as the ingest reads them;
  * pandas reading the same raw files and doing nothing else, in as many processes as the ingest
    has workers: ``read_excel(engine="calamine", header=None, dtype=str, sheet_name=None)`` for
    .xlsx and .xls workbooks, ``read_csv(header=None, dtype=str)`` for CSV (UTF-8, else GB18030;
    comma or tab as the file's first line says), ``read_html(flavor="lxml")`` for .xls files that
    are HTML tables (needs python-calamine and lxml: ``uv sync --group bench``);
and prints the ratios. Goals: peak memory within 4 GiB, time within 2x the floor, faster than pandas.
With --rounds N the three are measured N times, and the medians are printed, with the ratio to
pandas round by round: ingest and pandas run one right after the other, first in turn, each after
the files it reads were read into the page cache (untimed: a machine may page out idle files).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
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


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of this process (RUSAGE_SELF, all its threads) or of its ended children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


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


def warm(files: list[Path]) -> None:
    """Read ``files`` into the page cache (untimed), so that each measurement starts from the same
    cache: this machine pages out files that stay idle for a minute or so."""
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass


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


def pandas_read_file(path: str) -> int:
    """Read one raw file with pandas and do nothing else; the rows read."""
    import pandas as pd

    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # .xlsx, legacy .xls
        sheets = pd.read_excel(path, engine="calamine", header=None, dtype=str, sheet_name=None)
        return sum(len(sheet) for sheet in sheets.values())
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith((b"<html", b"<!doctype", b"<table", b"<meta", b"<?xml", b"<head")):
        return sum(len(table) for table in pd.read_html(path, flavor="lxml"))
    # CSV: title lines are shorter than the rows, so the width comes from the first lines (all of
    # the file if a later line is wider)
    sample = head.decode("utf-8", "replace").splitlines()
    first = next((line for line in sample if line.strip()), "")
    sep = "\t" if first.count("\t") > first.count(",") else ","
    width = max((len(row) for row in csv.reader(sample[:-1] or sample, delimiter=sep)), default=1)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            try:
                return len(pd.read_csv(path, header=None, dtype=str, sep=sep, names=range(width), encoding=encoding))
            except pd.errors.ParserError:
                with open(path, encoding=encoding, newline="") as fh:
                    width = max(len(row) for row in csv.reader(fh, delimiter=sep))
                return len(pd.read_csv(path, header=None, dtype=str, sep=sep, names=range(width), encoding=encoding))
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path}: neither UTF-8 nor GB18030")


def pandas_read(files: list[Path], workers: int) -> float | None:
    """Seconds for pandas to read every raw file, in ``workers`` processes; None without pandas' readers."""
    try:
        import lxml  # noqa: F401
        import python_calamine  # noqa: F401
    except ImportError:
        print("pandas:   skipped (python-calamine or lxml missing: uv sync --group bench)")
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = sum(pool.map(pandas_read_file, [str(p) for p in files], chunksize=4))
    elapsed = time.perf_counter() - started
    print(f"          pandas read {rows:,} rows (its own idea of rows: header lines included, blank lines skipped)")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="province")
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "province"))
    parser.add_argument("--reuse", action="store_true", help="keep generated files (and their UTF-8 copies) from an earlier run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure ingest, floor and pandas this many times (ingest and pandas first in turn)"
    )
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

    raw_files = sorted(p for p in raw.rglob("*") if p.is_file() and "_manifest" not in p.parts)
    utf8_dir = work / "utf8"
    if args.reuse and utf8_dir.exists():
        utf8 = sorted(utf8_dir.rglob("*.csv"))
    else:
        shutil.rmtree(utf8_dir, ignore_errors=True)
        utf8 = transcode_to_utf8(raw, utf8_dir)
    workers = int(os.environ.get("CIVSTAT_WORKERS", min(2, os.cpu_count() or 1)))

    # A round's clean files are moved aside, not deleted, before the next ingest, and deleted at the
    # end: on this machine's ext4 (no journal) a file created within minutes of many deletions costs
    # ~10x the kernel time (the allocator steps over recently freed inodes: 5,000 small files took
    # 0.23 s fresh, 2.4 s right after 5,000 were deleted and 3.1 s a minute later), which would
    # charge the ingest for the benchmark's own clean-up. A bureau's monthly run writes into a data
    # directory that no mass deletion has just emptied.
    trash = work / ".benchmark-trash"

    def set_aside_clean() -> None:
        if (work / "clean").exists():
            trash.mkdir(exist_ok=True)
            (work / "clean").rename(trash / f"clean-{time.time_ns()}")

    def measure_ingest() -> tuple[float, int, float] | None:
        set_aside_clean()
        warm(raw_files)
        cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
        ingest_time, ingest_peak, result = run_measured(cli + ["ingest"], env)
        ingest_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
        if result.returncode:
            print(result.stdout[-2000:], result.stderr[-2000:])
            return None
        from civstat.ledger import read_ledger
        from civstat.settings import Paths

        ledger = read_ledger(Paths.from_env(work))
        assert ledger["rows_in"].sum() == all_rows and (ledger["rows_clean"] + ledger["rows_quarantined"] == ledger["rows_in"]).all()
        return ingest_time, ingest_peak, ingest_cpu

    def measure_pandas() -> tuple[float | None, float]:
        warm(raw_files)
        cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
        pandas_time = pandas_read(raw_files, workers)
        return pandas_time, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu

    rounds = []
    for n in range(args.rounds):
        # ingest and pandas one right after the other, each after the raw files are read into the
        # page cache (the machine may page out files idle for a minute: whichever ran second would
        # find them warm), in turn first: a round's ratio compares two runs minutes apart at most
        if n % 2 == 0:
            ingested = measure_ingest()
            pandas_time, pandas_cpu = measure_pandas()
        else:
            pandas_time, pandas_cpu = measure_pandas()
            ingested = measure_ingest()
        if ingested is None:
            return 1
        ingest_time, ingest_peak, ingest_cpu = ingested
        warm(utf8)
        cpu = cpu_seconds(resource.RUSAGE_SELF)
        floor = min(duckdb_floor(utf8) for _ in range(2))
        floor_cpu = (cpu_seconds(resource.RUSAGE_SELF) - cpu) / 2
        polars_time = polars_read(utf8)
        rounds.append((ingest_time, ingest_peak, floor, pandas_time, polars_time, ingest_cpu, floor_cpu, pandas_cpu))
        pandas_note = (
            f"pandas {pandas_time:.1f} s ({pandas_cpu:.0f} CPU s), ratio {ingest_time / pandas_time:.2f}" if pandas_time else "pandas -"
        )
        print(
            f"round {n + 1}:  ingest {ingest_time:.1f} s ({ingest_cpu:.0f} CPU s), {pandas_note}, {'ingest' if n % 2 == 0 else 'pandas'} first; "
            f"floor {floor:.1f} s (~{floor_cpu:.0f} CPU s), Polars {polars_time:.1f} s; load average {os.getloadavg()[0]:.1f}"
        )

    shutil.rmtree(trash, ignore_errors=True)  # the earlier rounds' clean files (the last round's stay)
    median = lambda i: statistics.median(r[i] for r in rounds)
    ingest_time, floor, polars_time = median(0), median(2), median(4)
    ingest_peak = max(r[1] for r in rounds)
    pandas_time = median(3) if all(r[3] for r in rounds) else None
    of = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "one round"
    print(
        f"ingest:   {ingest_time:8.1f} s   {all_rows / ingest_time:12,.0f} rows/s   peak RSS {ingest_peak / 2**30:5.2f} GiB (goal <= 4 GiB); {of}"
    )
    print(f"floor:    {floor:8.1f} s   DuckDB read_csv of the same data as UTF-8 CSV (all text), best of 2")
    if pandas_time:
        print(f"pandas:   {pandas_time:8.1f} s   pandas reading the raw files and nothing else ({workers} processes)")
    print(f"context:  {polars_time:8.1f} s   Polars read_csv of the same UTF-8 files")
    print(f"ratio:    {ingest_time / floor:8.2f} x the DuckDB floor (goal <= 2x); {ingest_time / polars_time:.2f} x Polars read_csv")
    if pandas_time:
        per_round = [r[0] / r[3] for r in rounds]
        print(
            f"          {ingest_time / pandas_time:8.2f} x pandas read-only (goal < 1); round by round "
            + ", ".join(f"{x:.2f}" for x in per_round)
            + f" (median {statistics.median(per_round):.2f}; civstat the faster in {sum(x < 1 for x in per_round)} of {len(per_round)})"
        )
    print(
        f"CPU:      ingest {median(5):.0f} s, floor {median(6):.0f} s (a run), pandas {median(7):.0f} s: CPU seconds (user + system)"
        " do not grow when other work shares the cores, wall time does"
    )
    print(f"workers:  {os.environ.get('CIVSTAT_WORKERS', 'default (2)')}; cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

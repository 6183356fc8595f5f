#!/usr/bin/env python3
"""Compare two ingest outputs of the same raw files (two code versions, the same key file).

    python benchmarks/compare_clean.py DATA_DIR_A DATA_DIR_B

Every clean Parquet file and every quarantine file must exist in both with the same schema and the
same rows (compared sorted, so row order inside a file does not matter), and the ledgers must agree
on every column but the timings, row for row (the ledger as one file, `clean/_ledger.parquet`, or
in partitions, `clean/_ledger/period=<p>/<county>.parquet`: either layout on either side). Prints one line per difference (file names and counts only: never
a cell) and exits 1 when there is any.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

LEDGER_TIMINGS = ("seconds", "ingested_at")


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    if a.schema != b.schema or a.height != b.height:
        return False
    return a.sort(a.columns, nulls_last=True).equals(b.sort(b.columns, nulls_last=True))


def ledger(data: Path) -> pl.DataFrame:
    """The ledger of a data directory in either layout, one row per file sorted by file, timings dropped."""
    parts = sorted((data / "clean" / "_ledger").glob("*/*.parquet")) or [data / "clean" / "_ledger.parquet"]
    frame = pl.concat([pl.read_parquet(p) for p in parts if p.exists()], how="diagonal_relaxed") if parts[0].exists() else pl.DataFrame()
    return frame.drop(LEDGER_TIMINGS, strict=False).sort("source_file") if frame.height else frame


def compare(a: Path, b: Path) -> list[str]:
    problems = []

    def tables(root: Path) -> set[str]:
        found = {p.relative_to(root).as_posix() for p in (root / "clean").rglob("*.parquet")}
        return {name for name in found if not name.startswith("clean/_ledger")}

    files_a, files_b = tables(a), tables(b)
    for name in sorted(files_a ^ files_b):
        problems.append(f"{name}: only in {'the first' if name in files_a else 'the second'}")
    for name in sorted(files_a & files_b):
        fa, fb = pl.read_parquet(a / name), pl.read_parquet(b / name)
        if not _same(fa, fb):
            problems.append(
                f"{name}: differs ({fa.height} rows against {fb.height}; schemas {'equal' if fa.schema == fb.schema else 'differ'})"
            )
    la, lb = ledger(a), ledger(b)
    if not la.equals(lb):
        problems.append(
            f"the ledgers differ ({la.height} rows against {lb.height}; schemas {'equal' if la.schema == lb.schema else 'differ'})"
        )
    print(f"compared {len(files_a & files_b)} Parquet files (clean tables, quarantine) and the ledgers: {len(problems)} differences")
    return problems


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    problems = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

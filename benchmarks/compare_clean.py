#!/usr/bin/env python3
"""Compare two ingest outputs of the same raw files (two code versions, the same key file).

    python benchmarks/compare_clean.py DATA_DIR_A DATA_DIR_B

Every clean Parquet file and every quarantine file must exist in both with the same schema and the
same rows (compared sorted, so row order inside a file does not matter), and the ledgers must agree
on every column but the timings. Prints one line per difference (file names and counts only: never
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


def compare(a: Path, b: Path) -> list[str]:
    problems = []
    files_a = {p.relative_to(a).as_posix() for p in (a / "clean").rglob("*.parquet")}
    files_b = {p.relative_to(b).as_posix() for p in (b / "clean").rglob("*.parquet")}
    for name in sorted(files_a ^ files_b):
        problems.append(f"{name}: only in {'the first' if name in files_a else 'the second'}")
    ledger = "clean/_ledger.parquet"
    for name in sorted(files_a & files_b):
        fa, fb = pl.read_parquet(a / name), pl.read_parquet(b / name)
        if name == ledger:
            fa, fb = fa.drop(LEDGER_TIMINGS), fb.drop(LEDGER_TIMINGS)
        if not _same(fa, fb):
            problems.append(
                f"{name}: differs ({fa.height} rows against {fb.height}; schemas {'equal' if fa.schema == fb.schema else 'differ'})"
            )
    print(f"compared {len(files_a & files_b)} Parquet files (clean tables, quarantine, ledger): {len(problems)} differences")
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

"""Exports civstat did not make: each bureau's year-end files run end to end with no configuration
change, and the published marts show the figures written down beside them by hand.

The files under tests/fixtures/exports/ imitate the national monitoring platform, a provincial
system and a county's own Excel work (see that folder's README); ``expected.yaml`` holds the
figures they must produce, worked out independently of civstat's code.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from civstat.cli import main
from civstat.ingest import read_ledger
from civstat.settings import Paths

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
BUREAUS = sorted(p.name for p in EXPORTS.iterdir() if (p / "expected.yaml").exists())


def expected(bureau: str) -> dict:
    return yaml.safe_load((EXPORTS / bureau / "expected.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=BUREAUS)
def bureau_run(request, tmp_path_factory) -> tuple[str, Path, int]:
    """A fresh data directory with the bureau's raw files, after one `civstat run`."""
    bureau = request.param
    root = tmp_path_factory.mktemp(bureau)
    shutil.copytree(EXPORTS / bureau / "raw", root / "raw")
    run = expected(bureau)["run"]
    args = ["--year", str(run["year"])] if "year" in run else ["--period", run["period"]]
    status = main(["--data-dir", str(root), "run", *args])
    return bureau, root, status


def test_every_fixture_export_runs_end_to_end_with_no_configuration_change(bureau_run):
    bureau, root, status = bureau_run
    ledger = read_ledger(Paths.from_env(root))
    assert status == 0, ledger.filter(pl.col("status") != "ok").select("source_file", "error").rows()
    assert (root / "marts" / "_publication.json").exists()


def test_every_fixture_file_reconciles_with_the_counts_written_beside_it(bureau_run):
    bureau, root, _ = bureau_run
    ledger = read_ledger(Paths.from_env(root))
    files = expected(bureau)["files"]
    assert sorted(ledger["source_file"]) == sorted(files)
    for source_file, want in files.items():
        row = ledger.filter(pl.col("source_file") == source_file).row(0, named=True)
        assert row["status"] == "ok", (source_file, row["error"])
        got = (row["rows_in"], row["rows_clean"], row["rows_quarantined"])
        assert got == (want["rows_in"], want["rows_clean"], want["rows_quarantined"]), (source_file, want.get("why"))
        assert row["rows_in"] == row["rows_clean"] + row["rows_quarantined"]


def _matches(value, want) -> bool:
    if want is None:
        return value is None
    if value is None:
        return False
    if isinstance(want, float) or isinstance(value, float):
        return abs(float(value) - float(want)) <= 0.005 + 1e-9
    return value == want


def test_the_published_marts_show_the_fixture_figures_exactly(bureau_run):
    bureau, root, _ = bureau_run
    wrong = []
    for figure in expected(bureau)["figures"]:
        mart = pl.read_parquet(root / "marts" / f"{figure['mart']}.parquet")
        where = figure["where"]
        condition = pl.lit(True)
        for column, value in where.items():
            if column == "period":
                value = dt.date.fromisoformat(str(value))
            condition = condition & (pl.col(column) == value)
        rows = mart.filter(condition)
        if rows.height != 1:
            wrong.append((figure["mart"], where, f"{rows.height} rows"))
            continue
        row = rows.row(0, named=True)
        for column, want in figure["expect"].items():
            if not _matches(row[column], want):
                wrong.append((figure["mart"], where, column, row[column], want, figure.get("note")))
    assert not wrong, "\n".join(map(str, wrong))

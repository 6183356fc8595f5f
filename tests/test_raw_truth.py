"""The raw folder is the truth: deleting, renaming, breaking and re-adding a raw file changes the
published marts to match data/raw, and the ledger and the publication say what happened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from civstat.ingest import ingest, read_ledger
from civstat.settings import Paths
from civstat.warehouse.build import BuildError, build_and_publish

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
ORPHANS = "2021-12/孤儿基本生活费发放花名册202112.csv"


def orphans_published(root: Path) -> list[tuple]:
    coverage = pl.read_parquet(root / "marts" / "subsidy_coverage.parquet")
    return sorted(
        coverage.filter((pl.col("programme") == "orphan") & (pl.col("division_level") == "county"))
        .select("subcategory", "recipients", "amount")
        .rows()
    )


def refresh(root: Path) -> None:
    report = ingest(Paths.from_env(root), workers=1)
    assert not report.failed, [o.error for o in report.failed]
    build_and_publish(Paths.from_env(root))


@pytest.mark.slow
def test_deleting_renaming_breaking_and_re_adding_a_raw_file_keeps_the_marts_matching_data_raw(tmp_path):
    root = tmp_path
    shutil.copytree(EXPORTS / "county_2021" / "raw", root / "raw")
    refresh(root)
    original = orphans_published(root)
    assert original and sum(r[1] for r in original) > 0
    built_from = {f["source_file"] for f in json.loads((root / "marts" / "_publication.json").read_text())["built_from"]}
    assert ORPHANS in built_from

    # deleted: its rows are withdrawn and the marts no longer show them
    content = (root / "raw" / ORPHANS).read_bytes()
    (root / "raw" / ORPHANS).unlink()
    refresh(root)
    assert orphans_published(root) == []
    row = read_ledger(Paths.from_env(root)).filter(pl.col("source_file") == ORPHANS).row(0, named=True)
    assert row["status"] == "withdrawn" and "no longer in data/raw" in row["error"]
    assert ORPHANS not in {f["source_file"] for f in json.loads((root / "marts" / "_publication.json").read_text())["built_from"]}

    # re-added under another name: the same figures, counted once
    renamed = "2021-12/孤儿基本生活费发放名单_补报.csv"
    (root / "raw" / renamed).write_bytes(content)
    refresh(root)
    assert orphans_published(root) == original

    # renamed again: the old name's rows go, the new name's come, nothing doubles
    (root / "raw" / renamed).rename(root / "raw" / ORPHANS)
    refresh(root)
    assert orphans_published(root) == original
    ledger = read_ledger(Paths.from_env(root))
    assert ledger.filter(pl.col("source_file") == renamed).row(0, named=True)["error"].startswith(f"renamed to {ORPHANS}")

    # edited into an unreadable state: its old rows are withdrawn and nothing is published
    (root / "raw" / ORPHANS).write_bytes(b"PK\x03\x04 not a workbook any more")
    report = ingest(Paths.from_env(root), workers=1)
    assert [o.source_file for o in report.failed] == [ORPHANS]
    assert not list((root / "clean" / "orphan").glob("period=*/*.parquet"))
    with pytest.raises(BuildError, match="could not be ingested"):
        build_and_publish(Paths.from_env(root))
    assert orphans_published(root) == original  # the previous publication stands

    # fixed: back to the figures of the raw files
    (root / "raw" / ORPHANS).write_bytes(content)
    refresh(root)
    assert orphans_published(root) == original

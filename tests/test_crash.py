"""A run killed with SIGKILL at any step boundary or inside publication leaves one consistent,
readable published release, and the next run succeeds and cleans up after it.

The kill is injected deterministically: CIVSTAT_KILL_AT names a point (civstat/faults.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
RUN = ["run", "--year", "2021"]
BUILD = ["build"]


def civstat(root: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(root), "CIVSTAT_LOG_LEVEL": "WARNING"}
    env.pop("CIVSTAT_KILL_AT", None)
    if kill_at:
        env["CIVSTAT_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "civstat.cli", *args], capture_output=True, text=True, env=env)


def published_release(root: Path) -> str:
    """The one release readers see; fails unless every stable path is readable and agrees with it."""
    marts = root / "marts"
    info = json.loads((marts / "_publication.json").read_text(encoding="utf-8"))
    current = os.readlink(marts / "current")
    assert current == info["release"], (current, info["release"])
    con = duckdb.connect(str(marts / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select run_id from _publication").fetchone()[0] == info["run_id"]
        for mart in ("low_income_monitoring", "elderly_care_beds", "subsidy_coverage", "monitoring_alerts"):
            rows = con.execute(f"select count(*) from {mart}").fetchone()[0]
            assert pl.read_parquet(marts / f"{mart}.parquet").height == rows, mart
    finally:
        con.close()
    return info["run_id"]


@pytest.fixture(scope="module")
def published_once(tmp_path_factory) -> Path:
    """The county's exports, run and published once (release A); then a file is withdrawn, so that
    the next successful run publishes a different release (B)."""
    root = tmp_path_factory.mktemp("crash-base")
    shutil.copytree(EXPORTS / "county_2021" / "raw", root / "raw")
    first = civstat(root, *RUN)
    assert first.returncode == 0, first.stderr[-3000:]
    (root / "raw" / "2021-12" / "孤儿基本生活费发放花名册202112.csv").unlink()
    # and one renamed: the next run ingests it under its new name
    (root / "raw" / "2021" / "养老机构名录2021.xlsx").rename(root / "raw" / "2021" / "养老机构名录2021（更正）.xlsx")
    return root


POINTS = [
    ("ingest:file-written", RUN),
    ("step:raw_extracts", RUN),
    ("step:clean_rosters", RUN),
    ("step:warehouse_models", RUN),
    ("step:published_marts", RUN),
    ("build:before-publish", BUILD),
    ("publish:release-written", BUILD),
    ("publish:before-switch", BUILD),
    ("publish:after-switch", BUILD),
]


@pytest.mark.slow
@pytest.mark.parametrize(("point", "command"), POINTS, ids=[p for p, _ in POINTS])
def test_a_run_killed_at_any_point_leaves_one_readable_release_and_the_next_run_succeeds(published_once, tmp_path, point, command):
    root = tmp_path / "data"
    shutil.copytree(published_once, root, symlinks=True)
    before = published_release(root)
    if command == BUILD:
        assert civstat(root, "ingest").returncode == 0
    killed = civstat(root, *command, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr[-2000:])
    after_kill = published_release(root)  # the old release or the new one, whole, readable
    assert after_kill == before or point == "publish:after-switch"
    again = civstat(root, *command)  # the same kind of run, now undisturbed
    assert again.returncode == 0, again.stderr[-3000:]
    assert published_release(root) not in (before,)
    assert not list((root / "marts" / "releases").glob(".incoming-*"))
    coverage = pl.read_parquet(root / "marts" / "subsidy_coverage.parquet")
    assert coverage.filter(pl.col("programme") == "orphan").height == 0  # built from data/raw as it now is
    status = civstat(root, "status")
    assert "STARTED" not in status.stderr + status.stdout

"""Incremental builds: monthly runs that rewrite only their month give exactly the marts of one
full rebuild, also after a file of an earlier month changes (issue 12)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from civstat.ingest import ingest
from civstat.settings import Paths
from civstat.warehouse import increments
from civstat.warehouse.build import build_and_publish, dbt_vars, published_models

pytestmark = pytest.mark.slow

MONTHS = ["2025-02", "2025-03", "2025-04"]


@pytest.fixture(scope="module")
def raw_months(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny months within one year (a new year's division register rebuilds every month)."""
    from civstat.generate import generate

    root = tmp_path_factory.mktemp("months")
    generate("tiny", len(MONTHS), 20261130, root / "raw", start=MONTHS[0])
    assert sorted(p.name for p in (root / "raw").iterdir() if not p.name.startswith("_")) == ["2025", *MONTHS]
    return root / "raw"


def ingest_and_build(root: Path, *, full_refresh: bool = False) -> str:
    paths = Paths.from_env(root)
    report = ingest(paths)
    assert not report.failed, [o.error for o in report.failed]
    result, _ = build_and_publish(paths, full_refresh=full_refresh)
    return result.plan


def published_tables(root: Path) -> dict[str, list[tuple]]:
    """Every published table's rows, sorted (floats rounded: sums may add in another order)."""
    con = duckdb.connect(str(Paths.from_env(root).published_warehouse), read_only=True)
    try:
        tables = {}
        for name in published_models():
            columns = con.execute(
                f"select column_name, data_type from information_schema.columns where table_name = '{name}' order by ordinal_position"
            ).fetchall()
            select = ", ".join(f'round("{c}", 9)' if t in ("DOUBLE", "FLOAT") else f'"{c}"' for c, t in columns)
            tables[name] = sorted(con.execute(f'select {select} from "{name}"').fetchall(), key=repr)
        return tables
    finally:
        con.close()


def assert_same_marts(monthly: Path, full: Path) -> None:
    a, b = published_tables(monthly), published_tables(full)
    assert a.keys() == b.keys()
    for name in a:
        assert len(a[name]) == len(b[name]), f"{name}: {len(a[name])} rows built month by month, {len(b[name])} in one full build"
        assert a[name] == b[name], f"{name}: rows differ between monthly builds and one full build"
    assert sum(len(rows) for rows in a.values()) > 500  # the comparison compared something
    assert a["monitoring_alerts"] and a["monitoring_alert_lifecycle"]


def test_monthly_incremental_builds_equal_one_full_rebuild(raw_months: Path, tmp_path: Path) -> None:
    monthly, full = tmp_path / "monthly", tmp_path / "full"
    (monthly / "raw").mkdir(parents=True)
    plans = []
    for n, month in enumerate(MONTHS):
        for folder in (["2025"] if n == 0 else []) + [month]:
            shutil.copytree(raw_months / folder, monthly / "raw" / folder)
        plans.append(ingest_and_build(monthly))
    assert plans[0].startswith("full build")
    for month, plan in zip(MONTHS[1:], plans[1:], strict=True):
        assert plan.startswith(f"incremental build from {month}"), plan

    shutil.copytree(monthly / "raw", full / "raw")
    assert ingest_and_build(full, full_refresh=True).startswith("full build")
    assert_same_marts(monthly, full)

    # a correction of an earlier month: two of its files are withdrawn (the persons of a programme,
    # who move in and out around that month, and a subsidy roster); the monthly directory rebuilds
    # from that month on, the other rebuilds every month
    corrected = [f for f in (monthly / "raw" / MONTHS[1]).iterdir() if "农村低保人员" in f.name or "高龄津贴" in f.name]
    assert len(corrected) == 2
    for path in corrected:
        path.unlink()
        (full / "raw" / MONTHS[1] / path.name).unlink()
    assert ingest_and_build(monthly).startswith(f"incremental build from {MONTHS[1]}")
    ingest_and_build(full, full_refresh=True)
    assert_same_marts(monthly, full)

    # nothing changed: the last month again; a build that started and did not finish leaves no
    # record, so the next one rebuilds every month; so do changed local options
    paths = Paths.from_env(monthly)
    again = increments.plan(paths, dbt_vars())
    assert again.rebuild_from.key == MONTHS[-1] and again.reason.startswith("nothing changed")
    assert increments.plan(paths, {**dbt_vars(), "review_interval_months": 7}).full
    increments.started(paths, again)
    assert increments.plan(paths, dbt_vars()).full

"""Exports civstat did not make: each bureau's year-end files run end to end with no configuration
change (or, for a bureau with a ``civstat.yaml`` beside its ``expected.yaml``, with that local
configuration), and the published marts show the figures written down beside them by hand.

The files under tests/fixtures/exports/ imitate the national monitoring platform, a provincial
system and a county's own Excel work (see that folder's README); ``expected.yaml`` holds the
figures they must produce, worked out independently of civstat's code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from civstat.cli import main
from civstat.ingest import ingest, read_ledger
from civstat.registry import registry
from civstat.settings import Paths

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
BUREAUS = sorted(p.name for p in EXPORTS.iterdir() if (p / "expected.yaml").exists())


def expected(bureau: str) -> dict:
    return yaml.safe_load((EXPORTS / bureau / "expected.yaml").read_text(encoding="utf-8"))


@contextlib.contextmanager
def local_options(bureau: str) -> Iterator[None]:
    """The bureau's own civstat.yaml (beside its expected.yaml) in force, when it has one."""
    config = EXPORTS / bureau / "civstat.yaml"  # a bureau whose local options differ from the defaults
    with pytest.MonkeyPatch.context() as mp:
        if config.exists():
            mp.setenv("CIVSTAT_CONFIG", str(config))
        registry.cache_clear()
        try:
            yield
        finally:
            registry.cache_clear()


@pytest.fixture(scope="module", params=BUREAUS)
def bureau_run(request, tmp_path_factory) -> tuple[str, Path, int]:
    """A fresh data directory with the bureau's raw files, after one `civstat run`."""
    bureau = request.param
    root = tmp_path_factory.mktemp(bureau)
    shutil.copytree(EXPORTS / bureau / "raw", root / "raw")
    run = expected(bureau)["run"]
    args = ["--year", str(run["year"])] if "year" in run else ["--period", run["period"]]
    with local_options(bureau):
        status = main(["--data-dir", str(root), "run", *args])
    return bureau, root, status


def test_every_fixture_export_runs_end_to_end(bureau_run):
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


def test_the_next_run_checks_every_returned_list_and_changes_no_file_figure(bureau_run, tmp_path):
    """After the bureau's run (which published its months), the next month's ingest, scoped to the
    last month, checks the 预警编号 of every returned list (lists of earlier months included) and
    leaves every file's figures as written beside them; a bureau without lists re-cleans nothing."""
    bureau, published, _ = bureau_run
    root = tmp_path / bureau
    shutil.copytree(published, root, symlinks=True)  # the module's run stays as the other tests read it
    paths = Paths.from_env(root)
    last = max(p.name for p in paths.raw.iterdir() if re.fullmatch(r"\d{4}-\d{2}", p.name))
    before = read_ledger(paths)
    with local_options(bureau):
        report = ingest(paths, [last])
    after = read_ledger(paths)
    lists = after.filter(pl.col("roster") == "verification")
    assert lists["refs_checked"].to_list() == [True] * lists.height, lists.select("source_file", "refs_checked").rows()
    again = {o.source_file for o in report.outcomes if o.status != "skipped"}
    assert again == set(before.filter(pl.col("refs_checked").not_())["source_file"])  # the unchecked lists, and nothing else
    figures = ["source_file", "status", "rows_in", "rows_clean", "rows_quarantined"]
    assert after.select(figures).equals(before.select(figures))


def _matches(value, want) -> bool:
    if want is None:
        return value is None
    if value is None:
        return False
    if isinstance(want, float) or isinstance(value, float):
        return abs(float(value) - float(want)) <= 0.005 + 1e-9
    return value == want


def _mart(root: Path, name: str) -> pl.DataFrame:
    """A published mart: its Parquet file, or (for the tables published only in DuckDB) the table."""
    parquet = root / "marts" / f"{name}.parquet"
    if parquet.exists():
        return pl.read_parquet(parquet)
    with duckdb.connect(str(root / "marts" / "warehouse.duckdb"), read_only=True) as con:
        return pl.from_arrow(con.sql(f'select * from "{name}"').to_arrow_table())


def test_the_published_marts_show_the_fixture_figures_exactly(bureau_run):
    bureau, root, _ = bureau_run
    wrong = []
    for figure in expected(bureau)["figures"]:
        mart = _mart(root, figure["mart"])
        where = figure["where"]
        condition = pl.lit(True)
        for column, value in where.items():
            if column == "period":
                value = dt.date.fromisoformat(str(value))
            condition = condition & (pl.col(column) == value)
        rows = mart.filter(condition)
        want_rows = figure.get("rows", 1)  # rows: 0 names a look-alike that must not be there
        if rows.height != want_rows:
            wrong.append((figure["mart"], where, f"{rows.height} rows, not {want_rows}", figure.get("note")))
            continue
        if not want_rows:
            continue
        row = rows.row(0, named=True)
        for column, want in figure["expect"].items():
            if not _matches(row[column], want):
                wrong.append((figure["mart"], where, column, row[column], want, figure.get("note")))
    assert not wrong, "\n".join(map(str, wrong))


def test_an_unknown_value_vocabulary_fails_the_run_with_the_line_to_add_and_then_publishes(tmp_path, monkeypatch, capsys):
    """A bureau whose system writes 残疾等级 as 一等/甲等: every row of that file is rejected, the run
    stops before publication with one message (file, column, values with counts, the lines to add);
    once the lines are in the configuration the same files publish."""
    import re

    from civstat import registry as registry_module
    from civstat.settings import config_path

    shutil.copytree(EXPORTS / "city_2024" / "raw", tmp_path / "raw")
    care = tmp_path / "raw" / "2024-12" / "重度残疾人护理补贴发放花名册202412.csv"
    words = {"一级": "一等", "1级": "一等", "Ⅰ级": "甲等", "二级": "二等", "2级": "二等", "Ⅱ级": "乙等"}
    text = care.read_bytes().decode("gb18030")
    care.write_bytes(re.sub(r",(一级|1级|Ⅰ级|二级|2级|Ⅱ级),", lambda m: f",{words[m.group(1)]},", text).encode("gb18030"))
    config = tmp_path / "civstat.yaml"
    config.write_text(config_path().read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("CIVSTAT_CONFIG", str(config))
    registry_module.registry.cache_clear()
    try:
        assert main(["--data-dir", str(tmp_path), "run", "--year", "2024"]) == 1
        printed = capsys.readouterr().err
        message = " ".join(printed.split())
        assert (
            "REJECTED 2024-12/重度残疾人护理补贴发放花名册202412.csv: column '残疾等级' (disab_care.disability_grade) rejects 7 of 7"
            in message
        )
        for value, rows in (("一等", 2), ("二等", 3), ("甲等", 1), ("乙等", 1)):
            assert f"'{value}' ({rows} rows)" in message
        assert "value_aliases: disab_care: disability_grade:" in message
        assert not (tmp_path / "marts" / "_publication.json").exists()
        ledger = read_ledger(Paths.from_env(tmp_path))
        assert ledger.filter(pl.col("source_file") == "2024-12/重度残疾人护理补贴发放花名册202412.csv")["status"].to_list() == ["rejected"]

        config.write_text(
            config.read_text(encoding="utf-8").replace(
                "value_aliases: {}",
                ("value_aliases:\n  disab_care:\n    disability_grade:\n      '1': [一等, 甲等]\n      '2': [二等, 乙等]"),
            ),
            encoding="utf-8",
        )
        registry_module.registry.cache_clear()
        assert main(["--data-dir", str(tmp_path), "run", "--year", "2024"]) == 0
        care_rows = pl.read_parquet(tmp_path / "clean" / "disab_care" / "**" / "*.parquet")
        assert sorted(care_rows["disability_grade"].to_list()) == [1, 1, 1, 2, 2, 2, 2]
        assert (tmp_path / "marts" / "_publication.json").exists()
    finally:
        registry_module.registry.cache_clear()


@pytest.mark.parametrize("bureau", BUREAUS)
def test_inspect_shows_every_fixture_file_and_writes_nothing(bureau, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    data = tmp_path / "data"
    data.mkdir()
    status = main(["--data-dir", str(data), "inspect", str(EXPORTS / bureau / "raw")])
    printed = capsys.readouterr().out
    assert status == 0, printed
    files = expected(bureau)["files"]
    for source_file, want in files.items():
        name = source_file.split("/")[-1]
        block = printed.split(name, 1)[1].split("\n\n", 1)[0]
        for label in ("format", "header rows", "roster", "programme", "urban/rural from", "period"):
            assert f"  {label}" in block, (name, label)
        assert f"{want['rows_in']} in = {want['rows_clean']} clean + {want['rows_quarantined']} quarantined" in block, name
        if want["rows_quarantined"]:
            assert "quarantined        " in block, name
    assert f"{len(files)} file(s): {len(files)} would ingest, 0 would not" in printed
    assert list(data.iterdir()) == []


def test_inspect_prints_the_lines_for_unknown_values_and_headers(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    folder = tmp_path / "exports"
    shutil.copytree(EXPORTS / "city_2024" / "raw", folder)
    care = folder / "2024-12" / "重度残疾人护理补贴发放花名册202412.csv"
    text = care.read_bytes().decode("gb18030").replace(",一级,", ",特一级,")
    care.write_bytes(text.replace("发放金额（元）", "本月补助").encode("gb18030"))
    assert main(["--data-dir", str(tmp_path), "inspect", str(care)]) == 1
    printed = " ".join(capsys.readouterr().out.split())
    assert "required column 发放金额（元） (disab_care.amount) not found" in printed
    assert "headers nobody knows: '本月补助'" in printed
    care.write_bytes(text.encode("gb18030"))
    assert main(["--data-dir", str(tmp_path), "inspect", str(care)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "'特一级' (1 rows)" in printed
    assert "value_aliases: disab_care: disability_grade: # codes of 残疾等级: 1, 2, 3, 4 '1': [特一级]" in printed


def test_a_period_without_raw_files_is_refused_before_dagster_starts_naming_what_is_there(tmp_path, capsys):
    shutil.copytree(EXPORTS / "county_2021" / "raw", tmp_path / "raw")
    assert main(["--data-dir", str(tmp_path), "run", "--period", "2024-03"]) == 2
    said = capsys.readouterr().err
    assert "no raw files for 2024-03" in said and "2021, 2021-12" in said
    assert main(["--data-dir", str(tmp_path), "run", "--period", "2021-13"]) == 2
    assert "there is no month 13" in capsys.readouterr().err
    assert not (tmp_path / "dagster").exists()

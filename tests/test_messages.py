"""What civstat says is true: inputs are checked at the door with one plain message, expected
conditions never end in a traceback, and a run's last line says what was published."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from civstat.cli import main

EXPORTS = Path(__file__).parent / "fixtures" / "exports"


def said(capsys) -> str:
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The county's 2021 exports, run once and published."""
    root = tmp_path_factory.mktemp("published")
    shutil.copytree(EXPORTS / "county_2021" / "raw", root / "raw")
    assert main(["--data-dir", str(root), "run", "--year", "2021"]) == 0
    return root


def test_a_run_says_which_release_it_published_from_the_publication_record(published, capsys):
    import json

    info = json.loads((published / "marts" / "_publication.json").read_text(encoding="utf-8"))
    assert info["release"].startswith("releases/")
    assert (published / "logs").is_dir() and any((published / "logs").glob("run-*.log"))


def test_a_report_failing_after_publication_says_published_and_which_report_failed(published, tmp_path, capsys, monkeypatch):
    import civstat.reports.charts as charts

    root = tmp_path / "data"
    shutil.copytree(published, root, symlinks=True)
    (root / "raw" / "2021-12" / "孤儿基本生活费发放花名册202112.csv").unlink()  # so that something new is published

    def broken(*args, **kwargs):
        raise RuntimeError("the chart library is missing a font")

    monkeypatch.setattr(charts, "chart_page", broken)
    capsys.readouterr()
    assert main(["--data-dir", str(root), "run", "--year", "2021"]) == 1
    text = said(capsys)
    assert "published release releases/" in text
    assert "report report__chart_page failed: the chart library is missing a font" in text
    assert "nothing was published" not in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["check", "--period", "foo"], 2, "'foo' is not a period: give YYYY-MM"),
        (["check", "--period", "2024-03"], 1, "no clean data for 2024-03 (periods held: 2021, 2021-12)"),
        (["alerts", "--period", "2025-13"], 2, "'2025-13': there is no month 13"),
        (["alerts", "--period", "2025"], 2, "'2025' is a year; a month is wanted"),
        (["alerts", "--period", "2024年3月"], 1, "the published marts hold no data for 2024-03 (months held: 2021-12)"),
        (["report", "--year", "2019"], 1, "2019"),
        (["run", "--period", "2019-03"], 2, "no raw files for 2019-03"),
    ],
)
def test_wrong_input_gets_one_plain_message_and_no_traceback(published, capsys, argv, code, message):
    capsys.readouterr()
    assert main(["--data-dir", str(published), *argv]) == code
    text = said(capsys)
    assert message in text
    assert "Traceback" not in text
    assert not (published / "reports" / "alerts" / "2024-03").exists()


def test_a_month_that_has_not_ended_is_refused_saying_so(tmp_path, capsys):
    """A roster for the month in progress (a payment list is made at its start) waits for the month to end."""
    import datetime as dt

    month = dt.date.today().strftime("%Y-%m")
    shutil.copytree(EXPORTS / "county_2021" / "raw" / "2021-12", tmp_path / "raw" / month)
    assert main(["--data-dir", str(tmp_path), "run", "--period", month]) == 2
    assert f"{month} has not ended yet (a month is run once it has ended)" in said(capsys)


@pytest.mark.parametrize("written", ["2021-12", "2021-12", "202112", "2021年12月"])
def test_a_month_written_any_accepted_way_writes_the_same_caseworker_lists(published, capsys, written):
    capsys.readouterr()
    assert main(["--data-dir", str(published), "alerts", "--period", written]) == 0
    assert "2021-12" in said(capsys)
    folders = published / "reports" / "alerts"
    assert {p.name for p in folders.iterdir()} <= {"2021-12"} if folders.exists() else True  # never a 2021-1 beside it


def test_an_empty_or_missing_data_directory_is_refused_not_published(tmp_path, capsys):
    missing = tmp_path / "mistyped"
    assert main(["--data-dir", str(missing), "run"]) == 2
    assert "no data directory at" in said(capsys) and not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--data-dir", str(empty), "build"]) == 1
    assert "nothing to build: no clean data" in said(capsys)
    assert not (empty / "marts").exists()
    assert main(["--data-dir", str(empty), "check"]) == 1
    assert "nothing to check" in said(capsys)
    for command in (["report", "--year", "2021"], ["charts"], ["sql", "select 1"]):
        assert main(["--data-dir", str(empty), *command]) == 1
        text = said(capsys)
        assert "no published warehouse" in text and "Traceback" not in text


def test_analyst_exports_open_in_excel_and_counts_are_integers(published, tmp_path, capsys):
    out = tmp_path / "beds.csv"
    assert main(["--data-dir", str(published), "sql", "select * from low_income_monitoring", "--csv", str(out)]) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    marts = pl.read_parquet(published / "marts" / "low_income_monitoring.parquet")
    assert marts.schema["persons"] == pl.Int64 and marts.schema["households"] == pl.Int64
    beds = pl.read_parquet(published / "marts" / "elderly_care_beds.parquet")
    assert beds.schema["institution_beds"] == pl.Int64 and beds.schema["aged_60_plus_hukou"] == pl.Int64


def test_the_demo_prints_under_sixty_lines_with_a_line_per_stage():
    import os
    import subprocess
    import sys
    import tempfile

    # a data directory with a path about as short as a user's (./data resolved): the screen wraps long
    # paths, and pytest's own temporary paths are longer under pytest-xdist than alone
    data = Path(tempfile.mkdtemp(prefix="cs-")) / "demo"
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(data), "COLUMNS": "80"}
    env.pop("CIVSTAT_VERBOSE", None)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "civstat.cli", "demo", "--scale", "tiny", "--months", "2"], capture_output=True, text=True, env=env
        )
        log = next((data / "logs").glob("run-*.log")).read_text(encoding="utf-8")
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    printed = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0, "\n".join(printed[-30:])
    assert len(printed) < 60, "\n".join(printed)
    text = "\n".join(printed)
    assert "✓ 清洗 / cleaning" in text and "✓ 发布 / publication" in text
    assert "published release releases/" in text and "demo done" in text
    assert "telemetry" not in text.lower() and "PASS" not in text  # no banner, no dbt log on the screen
    assert [line for line in printed if "civstat sql" in line][0].rstrip().endswith("'county'\"")  # never wrapped in its quotes
    assert "PASS" in log and "STEP_SUCCESS" in log or "Finished dbt command" in log

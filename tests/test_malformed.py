"""Hostile and broken files: each one fails alone with a clear reason in the ledger (or is listed as
not a roster file), the good files beside it are ingested, nothing crashes, no message quotes a row,
and memory stays bounded."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from civstat.ingest import ingest, read_ledger, read_quarantine
from civstat.settings import Paths
from rosters import FAMILY_HEADER, FAMILY_ROWS, data_dir_with_divisions, write_csv, write_xlsx


def _id(address: str, birth: str, seq: str) -> str:
    from civstat.cleaning.identity import check_char

    return address + birth + seq + check_char(address + birth + seq)


def _family_lines(ids: list[str]) -> list[list[str]]:
    return [FAMILY_HEADER] + [
        ["测试" + str(i), pid, "1", "1", "600", "示范县", "城关镇", "东风社区", "2025/3/5", "在保"] for i, pid in enumerate(ids)
    ]


@pytest.fixture
def hostile(tmp_path) -> tuple[Path, list[str]]:
    """A data directory with one good file and a file of each kind of trouble."""
    root = data_dir_with_divisions(tmp_path)
    month = root / "raw" / "2025-03"
    ids = [_id("990101", f"19{50 + i:02d}0101", "013") for i in range(40)]
    write_csv(month / "示范县城市低保家庭花名册_好.csv", _family_lines(ids[:5]))
    # an unclosed quote: Polars' own error would quote every row after it (IDs included)
    lines = [",".join(r) for r in _family_lines(ids[5:30])]
    lines[3] = lines[3].replace("测试", '"测试', 1)
    (month / "示范县城市低保家庭花名册_引号.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # a UTF-8 BOM in front of GBK bytes (a re-saved export): readable
    gbk = "\n".join(",".join(r) for r in _family_lines(ids[30:32])) + "\n"
    (month / "示范县农村低保家庭花名册_BOM.csv").write_bytes(b"\xef\xbb\xbf" + gbk.encode("gbk"))
    # old-Mac line endings (\r alone): readable
    (month / "示范县农村特困家庭花名册_CR.csv").write_bytes(
        "\r".join(",".join(r) for r in _family_lines(ids[32:34])).encode("utf-8") + b"\r"
    )
    # a cell of 200,000 characters
    huge = _family_lines(ids[34:35])
    huge[1][7] = "东" * 200_000
    write_csv(month / "示范县城市特困家庭花名册_巨格.csv", huge)
    # a file of blank lines
    (month / "示范县低保边缘家庭花名册_空.csv").write_text("\n\n\n\n", encoding="utf-8")
    # a workbook that is not one
    (month / "示范县刚性支出家庭花名册_坏.xlsx").write_bytes(b"PK\x03\x04" + os.urandom(200))
    # an HTML table whose cell spans twenty million columns
    (month / "示范县城市低保家庭花名册_跨列.xls").write_text(
        '<html><table><tr><td colspan="20000000">x</td></tr><tr><td>户主姓名</td></tr></table></html>', encoding="utf-8"
    )
    # a date in year 9999 and a birth date before 1890 are quarantined, the other rows kept
    dates = _family_lines(ids[33:38])
    dates[1][8], dates[2][8] = "9999-01-01", "1880-05-05"
    write_csv(month / "示范县农村低保家庭花名册_日期.csv", dates)
    # files that are not rosters, hidden, temporary, or a link leaving the data directory
    (month / "说明.docx").write_bytes(b"not a roster")
    (month / ".示范县城市低保家庭花名册.csv").write_text("hidden", encoding="utf-8")
    (month / "~$示范县城市低保家庭花名册.xlsx").write_bytes(b"lock")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    write_csv(outside, _family_lines(ids[38:40]))
    (month / "示范县城市低保家庭花名册_链接.csv").symlink_to(outside)
    # a macro-enabled workbook (.xlsm) and a tab-separated export are read like the others
    write_xlsx(month / "示范县城市特困家庭花名册_宏.xlsm", _family_lines(ids[2:4]))
    (month / "示范县农村特困家庭花名册_制表符.tsv").write_text(
        "\n".join("\t".join(r) for r in _family_lines(ids[0:2])) + "\n", encoding="utf-8"
    )
    return root, ids


def test_every_broken_file_fails_alone_with_a_reason_and_the_good_ones_are_ingested(hostile):
    root, ids = hostile
    report = ingest(Paths.from_env(root), workers=1)
    ledger = read_ledger(Paths.from_env(root))
    status = dict(zip(ledger["source_file"].str.split("/").list.last(), ledger["status"], strict=True))
    error = dict(zip(ledger["source_file"].str.split("/").list.last(), ledger["error"], strict=True))
    assert status["示范县城市低保家庭花名册_好.csv"] == "ok"
    assert status["示范县农村低保家庭花名册_BOM.csv"] == "ok"
    assert status["示范县农村特困家庭花名册_CR.csv"] == "ok"
    assert status["示范县农村特困家庭花名册_制表符.tsv"] == "ok"
    assert status["示范县城市特困家庭花名册_宏.xlsm"] == "ok"
    assert "record starting at line 4 does not end" in error["示范县城市低保家庭花名册_引号.csv"]
    assert "row 2, column 8: a cell of 200000 characters" in error["示范县城市特困家庭花名册_巨格.csv"]
    assert "no header row found" in error["示范县低保边缘家庭花名册_空.csv"]
    assert "not a readable xlsx workbook" in error["示范县刚性支出家庭花名册_坏.xlsx"]
    assert "spans 20000000 cols" in error["示范县城市低保家庭花名册_跨列.xls"]
    assert "outside the data directory" in error["示范县城市低保家庭花名册_链接.csv"]
    assert {s for n, s in status.items() if n not in ("示范县城市低保家庭花名册_好.csv",)} <= {"ok", "failed"}
    ignored = dict(report.ignored)
    assert "hidden file" in ignored["2025-03/.示范县城市低保家庭花名册.csv"]
    assert "temporary file" in ignored["2025-03/~$示范县城市低保家庭花名册.xlsx"]
    assert "not a roster file type (.docx)" in ignored["2025-03/说明.docx"]
    # no message quotes a row
    for text in ledger["error"].drop_nulls():
        assert not any(i in text for i in ids), text
        assert "测试" not in text


def test_the_repositorys_own_files_in_data_raw_are_neither_read_nor_reported(tmp_path):
    """data/raw as the repository has it (its README and the placeholder that keeps the folder):
    nothing to read and nothing to warn about; a hidden file in a month's folder is still reported."""
    from civstat.ingest import discover

    (tmp_path / "raw" / "2025-03").mkdir(parents=True)
    for name in ("README.md", ".gitkeep", "2025-03/.gitkeep"):
        (tmp_path / "raw" / name).write_text("")
    ignored: list[tuple[str, str]] = []
    assert discover(Paths.from_env(tmp_path), ignored=ignored) == []
    assert [name for name, _ in ignored] == ["2025-03/.gitkeep"]


def test_dates_beyond_the_period_or_before_1890_are_quarantined_with_their_reason(hostile):
    root, _ = hostile
    ingest(Paths.from_env(root), workers=1)
    q = read_quarantine(Paths.from_env(root)).filter(pl.col("source_file").str.ends_with("_日期.csv")).sort("source_row")
    assert q.select("source_row", "field", "reason_code").rows() == [
        (2, "last_review_date", "date_after_period"),
        (3, "last_review_date", "out_of_range"),
    ]


@pytest.mark.parametrize("known", [False, True], ids=["new file", "file cleaned before, then changed"])
def test_a_file_changing_while_it_is_read_is_refused_for_this_run(tmp_path, monkeypatch, known):
    """A file still being copied changes while it is read: it fails for this run, and is cleaned on
    the next. A new file is read once, for its hash and its cells (``read_content``); a file the
    ledger knows is hashed when the run is planned, then read (``read_grids``)."""
    import civstat.ingest as ingest_module

    root = data_dir_with_divisions(tmp_path)
    target = write_csv(root / "raw" / "2025-03" / "示范县城市低保家庭花名册.csv", [FAMILY_HEADER, *FAMILY_ROWS])
    more = "测试丙,110105194912310021,1,1,500,示范县,城关镇,东风社区,2025/3/5,在保\n"

    def status() -> dict:
        return read_ledger(Paths.from_env(root)).filter(pl.col("source_file").str.ends_with("花名册.csv")).row(0, named=True)

    def copying_on(path) -> None:  # more of the file arrives while it is read
        if path == target:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(more)

    if known:
        ingest(Paths.from_env(root), workers=1)
        assert status()["status"] == "ok"
        write_csv(target, [FAMILY_HEADER, *FAMILY_ROWS[:-1]])  # a new version arrives under the same name
        real = ingest_module.read_grids
        monkeypatch.setattr(ingest_module, "read_grids", lambda path, *args: (real(path, *args), copying_on(path))[0])
    else:
        real = Path.read_bytes
        monkeypatch.setattr(Path, "read_bytes", lambda path: (real(path), copying_on(path))[0])
    ingest(Paths.from_env(root), workers=1)
    row = status()
    assert row["status"] == "failed" and "changed while it was being read" in row["error"]
    monkeypatch.undo()
    ingest(Paths.from_env(root), workers=1)
    row = status()
    assert row["status"] == "ok" and row["content_sha256"] == ingest_module.content_hash(target)
    assert row["rows_in"] == len(FAMILY_ROWS) + (0 if known else 1)


def test_a_valid_id_ending_in_000_is_kept_and_a_number_cell_on_the_second_sheet_is_lost_precision(tmp_path):
    import xlsxwriter

    root = data_dir_with_divisions(tmp_path)
    # find a valid ID ending in 000 (about 1 in 1,100)
    valid_000 = next(
        i for i in (_id("990101", "19600101", f"{s:03d}")[:15] + "000" for s in range(1000)) if _id(i[:6], i[6:14], i[14:17]) == i
    )
    write_csv(root / "raw" / "2025-03" / "示范县城市低保家庭花名册.csv", _family_lines([valid_000]))
    path = root / "raw" / "2025-03" / "示范县农村低保家庭花名册.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("说明")
    sheet = book.add_worksheet("花名册")
    numeric = _id("990101", "19700101", "023")
    for c, v in enumerate(FAMILY_HEADER):
        sheet.write_string(0, c, v)
    for r, pid in enumerate([None, _id("990101", "19700101", "033"), _id("990101", "19700101", "043")], 1):
        for c, v in enumerate(["测试甲", pid, "1", "1", "600", "示范县", "城关镇", "东风社区", "2025/3/5", "在保"]):
            if c == 1 and pid is None:
                sheet.write_number(r, 1, float(numeric))
            else:
                sheet.write_string(r, c, v)
    book.close()
    ingest(Paths.from_env(root), workers=1)
    family = pl.read_parquet(root / "clean" / "family" / "**" / "*.parquet")
    assert valid_000[:6] + "********" + valid_000[-4:] in family["head_id_masked"].to_list()
    q = read_quarantine(Paths.from_env(root))
    assert q.filter(pl.col("field") == "head_id")["reason_code"].to_list() == ["id_lost_precision"]


def test_hostile_files_stay_within_two_gib_of_memory(hostile):
    root, _ = hostile
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(root), "CIVSTAT_WORKERS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = subprocess.run([sys.executable, "-m", "civstat.cli", "ingest"], capture_output=True, text=True, env=env)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert run.returncode == 1  # some files failed, and said so
    assert "Traceback" not in run.stderr
    assert max(peak_kib, before) < 2 * 1024 * 1024, f"peak {peak_kib / 1024:.0f} MiB"

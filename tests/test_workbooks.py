"""Workbooks of several roster sheets (one per township, say): every sheet is read, its rows
numbered as its sheet numbers them, and the file is one ledger row; a summary sheet beside them
is left out, saying so; sheets of different rosters are refused, naming them."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from civstat.cleaning.identity import check_char
from civstat.cleaning.readers import read_grids
from civstat.ingest import ingest, read_ledger, read_quarantine
from civstat.settings import Paths
from rosters import FAMILY_HEADER, data_dir_with_divisions

MONTH = "2025-03"


def _id(birth: str, seq: str) -> str:
    body = "990101" + birth + seq
    return body + check_char(body)


def write_workbook(path: Path, sheets: dict[str, list[list[str | None]]], *, hidden: tuple[str, ...] = ()) -> Path:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(path)
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is not None:
                    sheet.write_string(r, c, v)
        if name in hidden:
            sheet.hide()
    book.close()
    return path


def family(name: str, birth: str, seq: str, town: str, village: str, amount: str = "600") -> list[str | None]:
    return [name, _id(birth, seq), "1", "1", amount, "示范县", town, village, "2025-03-05", "在保"]


def township_sheets() -> dict[str, list[list[str | None]]]:
    """Two townships' sheets: their own titles, the second with its columns in another order, a
    column nobody asked for, a duplicate row, a wrong check character and a 合计 line; each sheet
    has a row 5 that is quarantined."""
    order = [9, 0, 1, 2, 3, 4, 5, 6, 7, 8]  # 状态 first
    moved = lambda row: [row[i] for i in order] + ["备注"]
    bad = family("测试丁", "19500101", "033", "河口乡", "红旗村")
    bad[1] = bad[1][:-1] + ("1" if bad[1][-1] != "1" else "2")
    return {
        "城关镇": [
            ["示范县城关镇城市低保家庭花名册"],
            FAMILY_HEADER,
            family("测试甲", "19500101", "011", "城关镇", "东风社区"),
            family("测试乙", "19600101", "021", "城关镇", "东风社区", "1,200元"),
            ["测试戊", "4.30621E+17", "1", "1", "600", "示范县", "城关镇", "东风社区", "2025-03-05", "在保"],  # row 5, as in 河口乡
        ],
        "河口乡": [
            ["示范县河口乡城市低保家庭花名册"],
            moved(FAMILY_HEADER),
            moved(family("测试丙", "19700101", "031", "河口乡", "红旗村")),
            moved(family("测试丙", "19700101", "031", "河口乡", "红旗村")),  # the same row twice
            moved(bad),
            ["合计", None, None, None, None, "3"],
        ],
    }


def test_each_sheet_is_a_grid_named_by_its_sheet_and_a_notes_sheet_is_not_one(tmp_path):
    sheets = {"填表说明": [["填表说明"], ["1. 身份证号填18位"]], **township_sheets()}
    path = write_workbook(tmp_path / "f.xlsx", sheets)
    grids = read_grids(path)
    assert [g.sheet for g in grids] == ["城关镇", "河口乡"]
    assert [g.cells.height for g in grids] == [5, 6]
    one = write_workbook(tmp_path / "g.xlsx", {"城关镇": township_sheets()["城关镇"]})
    assert [g.sheet for g in read_grids(one)] == [None]  # a workbook of one table: no sheet to name


def test_a_workbook_of_township_sheets_is_one_file_whose_rows_are_numbered_by_their_sheet(tmp_path, caplog):
    root = data_dir_with_divisions(tmp_path)
    summary = [["汇总表"], ["乡镇", "户数", "人数"], ["城关镇", "2", "3"], ["河口乡", "2", "2"]]
    sheets = {"汇总": summary, **township_sheets()}
    write_workbook(root / "raw" / MONTH / "示范县城市低保家庭花名册_2025年3月.xlsx", sheets, hidden=())
    with caplog.at_level(logging.WARNING):
        report = ingest(Paths.from_env(root), workers=1)
    assert not report.failed, [o.error for o in report.failed]
    assert "sheets that are not rosters (their header is none) left out: 汇总" in caplog.text
    paths = Paths.from_env(root)
    ledger = read_ledger(paths).filter(pl.col("roster") == "family").row(0, named=True)
    # 城关镇: 3 rows; 河口乡: 4 rows below its header (a duplicate, a bad ID and the 合计 line among them)
    assert (ledger["rows_in"], ledger["rows_clean"], ledger["rows_quarantined"]) == (7, 3, 4)
    assert (ledger["rows_duplicate"], ledger["rows_footer"]) == (1, 1)
    assert ledger["unmapped_headers"] == "备注"
    clean = pl.read_parquet(paths.clean_table("family") / "**" / "*.parquet")
    assert sorted(clean.select("source_sheet", "source_row").rows()) == [("城关镇", 3), ("城关镇", 4), ("河口乡", 3)]
    assert clean.filter(pl.col("source_sheet") == "河口乡")["division_code"].to_list() == ["990101002201"]
    q = read_quarantine(paths).filter(pl.col("roster") == "family").sort("source_sheet", "source_row")
    # row 4 of 河口乡 repeats row 3 of its own sheet; row 3 of 城关镇 is another row
    assert q.select("source_sheet", "source_row", "reason_code").rows() == [
        ("城关镇", 5, "id_lost_precision"),
        ("河口乡", 4, "duplicate_row"),
        ("河口乡", 5, "id_bad_check"),
        ("河口乡", 6, "footer_row"),
    ]
    assert q.filter(pl.col("reason_code") == "id_bad_check")["column"].to_list() == ["户主身份证号"]
    assert q["source_file"].unique().to_list() == [f"{MONTH}/示范县城市低保家庭花名册_2025年3月.xlsx"]


def test_a_sheet_that_is_no_roster_and_no_summary_fails_its_file_naming_the_sheet(tmp_path):
    root = data_dir_with_divisions(tmp_path)
    sheets = {**township_sheets(), "联系人": [["乡镇", "联系人", "电话"], ["城关镇", "某某", "0000-0000000"]]}
    write_workbook(root / "raw" / MONTH / "示范县城市低保家庭花名册_2025年3月.xlsx", sheets)
    report = ingest(Paths.from_env(root), workers=1)
    (failed,) = report.failed
    assert failed.error.startswith(f"{MONTH}/示范县城市低保家庭花名册_2025年3月.xlsx, sheet 联系人: ")


def test_sheets_of_different_rosters_are_refused_naming_them(tmp_path):
    root = data_dir_with_divisions(tmp_path)
    person_header = ["姓名", "身份证号", "户主身份证号", "与户主关系", "性别"]
    head = _id("19500101", "011")
    sheets = {
        "家庭": [FAMILY_HEADER, family("测试甲", "19500101", "011", "城关镇", "东风社区")],
        "成员": [person_header, ["测试甲", head, head, "本人", "男"]],
    }
    write_workbook(root / "raw" / MONTH / "示范县城市低保花名册_2025年3月.xlsx", sheets)
    report = ingest(Paths.from_env(root), workers=1)
    (failed,) = report.failed
    assert "its sheets hold different rosters (sheet 家庭: " in failed.error and "sheet 成员: " in failed.error
    assert not any(read_ledger(Paths.from_env(root)).filter(pl.col("status") == "ok")["roster"] == "family")

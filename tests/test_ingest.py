"""Ingestion: rows in = rows clean + rows quarantined, per file, always; nothing personal leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from civstat.ingest import ingest, read_ledger, read_quarantine
from civstat.settings import Paths, pseudonym_secret
from rosters import FAMILY_HEADER, FAMILY_ROWS, TITLE, data_dir_with_divisions, write_csv, write_xlsx


def manifest(root: Path) -> dict:
    return json.loads((root / "raw" / "_manifest" / "manifest.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- hand-made files


def test_a_messy_family_file_cleans_and_quarantines_every_row(tmp_path):
    root = data_dir_with_divisions(tmp_path)
    rows = [
        [TITLE],
        FAMILY_HEADER,
        FAMILY_ROWS[0],
        [],  # blank
        FAMILY_ROWS[1],
        FAMILY_ROWS[1],  # exact duplicate
        ["测试丙", "4.30621E+17", "1", "1", "500", "示范县", "城关镇", "东风社区", "2025-03-05", "在保"],
        ["测试丁", "110105194912310021", "1", "1", "500", "示范县", "城关镇", "东风社区", "2025-03-05", "在保"],
        ["测试戊", "11010519491231002X", "1", "1", "500", "示范县", "城关镇", "无此村", "2025-02-30", "在保"],
        ["合计", None, None, "6", "3,340"],
        ["制表人：王某某", None, None, None, None],
    ]
    write_xlsx(root / "raw" / "2025-03" / "示范县城市低保家庭花名册_2025年3月.xlsx", rows, start_row=1)
    report = ingest(Paths.from_env(root))
    assert not report.failed
    ledger = read_ledger(Paths.from_env(root)).filter(pl.col("roster") == "family").row(0, named=True)
    assert (ledger["rows_in"], ledger["rows_clean"], ledger["rows_quarantined"]) == (9, 2, 7)
    q = read_quarantine(Paths.from_env(root)).filter(pl.col("roster") == "family")
    by_row = q.group_by("source_row").agg(pl.col("reason_code").sort()).sort("source_row").rows()
    # one empty row above the title: title in spreadsheet row 2, header in 3, data from row 4
    assert by_row == [
        (5, ["blank_row"]),
        (7, ["duplicate_row"]),
        (8, ["id_lost_precision"]),
        (9, ["id_bad_check"]),
        (10, ["bad_value", "unknown_region"]),
        (11, ["footer_row"]),
        (12, ["footer_row"]),
    ]
    clean = pl.read_parquet(root / "clean" / "family" / "period=2025-03" / "*.parquet")
    assert clean["division_code"].to_list() == ["990101001001", "990101002201"]
    assert clean["monthly_amount"].to_list() == [1200.0, 640.0]
    assert clean["head_id_masked"].to_list() == ["110105********002X", "110105********002X"]
    assert clean["urban_rural"].to_list() == ["urban", "urban"]
    assert clean["source_row"].to_list() == [4, 6]
    assert "测试" not in q.write_csv() and "王某某" not in q.write_csv()


def test_reingesting_changes_nothing_and_a_changed_file_replaces_its_rows(tmp_path):
    root = data_dir_with_divisions(tmp_path)
    target = root / "raw" / "2025-03" / "示范县城市低保家庭花名册.csv"
    write_csv(target, [FAMILY_HEADER, *FAMILY_ROWS])
    paths = Paths.from_env(root)
    ingest(paths)
    ledger_before = read_ledger(paths)
    outputs = sorted(p for p in (root / "clean").rglob("*.parquet"))
    mtimes = [p.stat().st_mtime_ns for p in outputs]
    again = ingest(paths)
    assert {o.status for o in again.outcomes} == {"skipped"}
    assert read_ledger(paths).equals(ledger_before)
    assert [p.stat().st_mtime_ns for p in outputs] == mtimes

    write_csv(target, [FAMILY_HEADER, FAMILY_ROWS[0]])
    ingest(paths)
    clean = pl.read_parquet(root / "clean" / "family" / "**" / "*.parquet")
    assert clean.height == 1
    assert read_ledger(paths).filter(pl.col("roster") == "family")["rows_in"].to_list() == [1]


def test_an_unmapped_required_column_fails_that_file_clearly_and_the_others_go_on(tmp_path):
    root = data_dir_with_divisions(tmp_path)
    write_csv(
        root / "raw" / "2025-03" / "示范县城市低保家庭花名册.csv", [["户主姓名", "证件号", "保障人口数"], ["甲", "11010519491231002X", "1"]]
    )
    write_csv(root / "raw" / "2025-03" / "示范县农村低保家庭花名册.csv", [FAMILY_HEADER, *FAMILY_ROWS])
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(root)}
    result = subprocess.run([sys.executable, "-m", "civstat.cli", "ingest"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "示范县城市低保家庭花名册.csv" in output and "'证件号'" in output and "head_id: [证件号]" in output
    ledger = read_ledger(Paths.from_env(root))
    assert ledger.filter(pl.col("status") == "ok").height == 2  # divisions + the good file
    assert ledger.filter(pl.col("status") == "failed")["source_file"].to_list() == ["2025-03/示范县城市低保家庭花名册.csv"]


def test_a_file_outside_a_period_folder_is_a_clear_error(tmp_path):
    root = data_dir_with_divisions(tmp_path)
    write_csv(root / "raw" / "示范县城市低保家庭花名册.csv", [FAMILY_HEADER, *FAMILY_ROWS])
    report = ingest(Paths.from_env(root))
    assert "data/raw/<YYYY-MM>/" in report.failed[0].error


def test_region_names_need_the_division_register(tmp_path):
    write_csv(tmp_path / "raw" / "2025-03" / "示范县城市低保家庭花名册.csv", [FAMILY_HEADER, *FAMILY_ROWS])
    report = ingest(Paths.from_env(tmp_path))
    assert "区划代码" in report.failed[0].error


# ---------------------------------------------------------------- generated data


def test_the_generated_data_has_every_quirk(tiny_generated):
    files = manifest(tiny_generated)["files"]
    assert {f["format"] for f in files} == {"xlsx", "xls", "html", "csv"}
    assert {f["encoding"] for f in files} >= {"utf-8", "utf-8-sig", "gbk", "gb18030"}
    assert {f["header_variant"] for f in files} == {"single", "group_above", "sub_fields"}
    reasons = {reason for f in files for _, reason in f["quarantined"]}
    assert reasons >= {
        "blank_row",
        "duplicate_row",
        "footer_row",
        "id_lost_precision",
        "id_bad_check",
        "bad_value",
        "unknown_region",
        "id_several_in_cell",
    }
    rosters = {f["roster"] for f in files}
    # every roster but the returned work lists, which civstat writes and caseworkers fill in (tests/test_warning_loop.py)
    assert rosters == set(__import__("civstat.registry", fromlist=["registry"]).registry().rosters) - {"verification"}


def assert_every_file_reconciles(root: Path) -> None:
    """Rows in = clean + quarantined for every file, with the manifest's exact rows and reasons."""
    files = manifest(root)["files"]
    ledger = read_ledger(Paths.from_env(root))
    quarantine = read_quarantine(Paths.from_env(root))
    assert ledger.height == len(files)
    for f in files:
        row = ledger.filter(pl.col("source_file") == f["source_file"]).row(0, named=True)
        assert row["status"] == "ok", row["error"]
        assert row["rows_in"] == row["rows_clean"] + row["rows_quarantined"]
        assert (row["rows_in"], row["rows_clean"], row["rows_quarantined"]) == (f["rows_in"], f["rows_clean"], f["rows_quarantined"]), f[
            "source_file"
        ]
        got = quarantine.filter(pl.col("source_file") == f["source_file"]).group_by("source_row").agg(pl.col("reason_code").first())
        assert sorted(got.rows()) == sorted((r, q) for r, q in f["quarantined"]), f["source_file"]


def test_every_generated_file_reconciles_exactly(tiny_ingested):
    assert_every_file_reconciles(tiny_ingested)


def test_clean_totals_match_the_generators_manifest(tiny_ingested):
    files = manifest(tiny_ingested)["files"]
    clean = Paths.from_env(tiny_ingested).clean
    for f in files:
        if "clean_amount" not in f:
            continue
        roster = f["roster"]
        column = "monthly_amount" if roster == "family" else "amount"
        frame = pl.read_parquet(clean / roster / "**" / "*.parquet").filter(pl.col("source_file") == f["source_file"])
        assert frame.height == f["rows_clean"]
        assert round(frame[column].fill_null(0).sum(), 2) == pytest.approx(f["clean_amount"], abs=0.005), f["source_file"]
    totals = pl.read_parquet(tiny_ingested / "raw" / "_manifest" / "totals.parquet")
    persons = (
        totals.filter(pl.col("roster") == "person").group_by("period", "programme").agg(pl.col("keys").sum()).sort("period", "programme")
    )
    cleaned = (
        pl.read_parquet(clean / "person" / "**" / "*.parquet", hive_partitioning=False)
        .with_columns(period=pl.col("period").dt.strftime("%Y-%m"))
        .group_by("period", "programme")
        .agg(keys=pl.col("person_key").n_unique())
        .sort("period", "programme")
    )
    assert cleaned.equals(persons.select(cleaned.columns).cast(cleaned.schema))


def test_no_id_or_name_reaches_the_clean_tables_or_the_logs(tiny_generated, tmp_path):
    from civstat.cleaning.clean import FOOTER_PATTERN
    from civstat.cleaning.headers import find_header
    from civstat.cleaning.identity import normalise_id_text
    from civstat.cleaning.readers import read_grid
    from civstat.ingest import candidate_rosters
    from civstat.registry import registry

    shutil.copytree(tiny_generated / "raw", tmp_path / "raw")
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "civstat.cli", "-v", "ingest"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    # every ID and name the raw files contain
    ids, names = set(), set()
    for path in (tmp_path / "raw").rglob("*"):
        if not path.is_file() or "_manifest" in path.parts:
            continue
        grid = read_grid(path)
        match = find_header(grid.cells, candidate_rosters(path.name, registry()))
        data = grid.cells.slice(match.data_start)
        for col, f in match.columns.items():
            if f.type == "id_card":
                ids.update(v for v in data.select(normalise_id_text(pl.col(col)))[:, 0].to_list() if v and len(v) >= 15)
            elif f.type == "person_name":
                names.update(v for v in data[col].to_list() if v and not re.match(FOOTER_PATTERN, v))
    assert len(ids) > 500 and len(names) > 500
    long_names = {n for n in names if len(n) >= 3 and "、" not in n}
    text_out = run.stdout + run.stderr
    for parquet in (tmp_path / "clean").rglob("*.parquet"):
        frame = pl.read_parquet(parquet)
        strings = frame.select(pl.col(pl.String))
        cells = set()
        for col in strings.columns:
            cells.update(v for v in strings[col].unique().to_list() if v)
        leaked = {c for c in cells if c in names or any(i in c for i in ids if len(c) >= 15)}
        assert not leaked, f"{parquet}: {sorted(leaked)[:3]}"
    assert not [i for i in ids if i in text_out]
    assert not [n for n in long_names if n in text_out]


def test_the_generator_is_deterministic_for_a_seed(tmp_path):
    from civstat.generate import generate

    a = generate("tiny", 1, 5, tmp_path / "a")
    b = generate("tiny", 1, 5, tmp_path / "b")
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8")
    for path in (tmp_path / "a").rglob("*.csv"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_every_clean_row_with_a_region_has_a_known_12_digit_division_code(tiny_ingested):
    from civstat.registry import registry

    clean = Paths.from_env(tiny_ingested).clean
    divisions = set(pl.read_parquet(clean / "division" / "**" / "*.parquet")["division_code"].to_list())
    for roster in registry().rosters.values():
        if not roster.has_region or not (clean / roster.name).exists():
            continue
        codes = pl.read_parquet(clean / roster.name / "**" / "*.parquet")["division_code"]
        assert codes.null_count() == 0, roster.name
        assert set(codes.unique().to_list()) <= divisions, roster.name


# ---------------------------------------------------------------- members follow their household


def _id(address: str, birth: str, seq: str) -> str:
    from civstat.cleaning.identity import check_char

    return address + birth + seq + check_char(address + birth + seq)


def test_a_members_roster_named_after_its_households_is_cleaned_after_them_and_read_once(tmp_path):
    """低保边缘家庭成员花名册 lists the members of 低保边缘家庭: its last noun (成员) says it is a
    person roster, so it is not read in the household phase only to be left for the next one (a
    province has hundreds); 特困人员家庭查询 lists households. The members find their households."""
    from civstat import ingest as ingest_module
    from civstat.ingest import IngestReport, plan_ingest
    from civstat.registry import registry

    root = data_dir_with_divisions(tmp_path)
    month = root / "raw" / "2025-03"
    head, member = _id("990101", "19600101", "011"), _id("990101", "19900101", "051")
    header = ["序号", "户主姓名", "户主身份证号", "保障人数", "区县", "乡镇（街道）", "村（社区）", "城乡类别"]
    write_csv(
        month / "示范县低保边缘家庭花名册_2025年3月.csv", [header, ["1", "测试甲", head, "2", "示范县", "城关镇", "东风社区", "城市"]]
    )
    members = [
        ["序号", "姓名", "身份证号", "户主身份证号", "与户主关系"],
        ["1", "测试甲", head, head, "户主"],
        ["2", "测试丁", member, head, "配偶"],
    ]
    write_csv(month / "示范县低保边缘家庭成员花名册_2025年3月.csv", members)
    write_csv(
        month / "特困人员家庭查询_20250331.csv",
        [header, ["1", "测试乙", _id("990101", "19610101", "021"), "1", "示范县", "河口乡", "红旗村", "农村"]],
    )
    plan = plan_ingest(Paths.from_env(root), None, registry(), IngestReport())
    assert [n.split("/")[-1] for n in plan.families] == ["特困人员家庭查询_20250331.csv", "示范县低保边缘家庭花名册_2025年3月.csv"]

    read = []
    real = ingest_module.read_grids
    ingest_module.read_grids = lambda path, *a: read.append(path.name) or real(path, *a)
    try:
        report = ingest(Paths.from_env(root), workers=1)
    finally:
        ingest_module.read_grids = real
    assert not report.failed, [o.error for o in report.failed]
    assert read.count("示范县低保边缘家庭成员花名册_2025年3月.csv") == 1
    persons = pl.read_parquet(root / "clean" / "person" / "**" / "*.parquet")
    assert persons.select("programme", "division_code", "urban_rural").unique().rows() == [("marginal", "990101001001", "urban")]
    assert persons.height == 2


def test_members_take_region_and_urban_rural_from_their_household_and_follow_it_into_quarantine(tmp_path):
    """A national-platform pair: the person file has no region and no urban/rural column. A member of
    a household whose row was quarantined is quarantined with that reason; a member of a household the
    family file does not list is quarantined too; nobody is dropped."""
    root = data_dir_with_divisions(tmp_path)
    head_a, head_b, head_c, head_d = (_id("990101", "19600101", s) for s in ("011", "021", "031", "041"))
    wrong_c = head_c[:17] + ("0" if head_c[17] != "0" else "1")
    write_csv(
        root / "raw" / "2025-03" / "特困人员家庭查询_20250331.csv",
        [
            ["序号", "户主姓名", "户主证件号码", "保障人数", "救助金额", "区县", "乡镇（街道）", "村（社区）", "城乡类别", "人员状态"],
            ["1", "测试甲", head_a, "2", "1200", "示范县", "城关镇", "东风社区", "城市", "正常"],
            ["2", "测试乙", head_b, "1", "待核实", "示范县", "河口乡", "红旗村", "农村", "正常"],
            ["3", "测试丙", wrong_c, "1", "600", "示范县", "河口乡", "红旗村", "农村", "正常"],
            ["数据来源：低收入人口动态监测信息平台"],
        ],
    )
    member_a = _id("990101", "19900101", "051")
    write_csv(
        root / "raw" / "2025-03" / "特困人员查询_20250331.csv",
        [
            ["序号", "姓名", "证件号码", "户主证件号码", "与户主关系", "人员状态"],
            ["1", "测试甲", head_a, head_a, "户主", "正常"],
            ["2", "测试丁", member_a, head_a, "配偶", "正常"],
            ["3", "测试乙", head_b, head_b, "户主", "正常"],
            ["4", "测试丙", head_c, head_c, "户主", "正常"],
            ["5", "测试戊", head_d, head_d, "户主", "正常"],
            ["6"],
        ],
    )
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    ledger = read_ledger(Paths.from_env(root)).filter(pl.col("roster") == "person").row(0, named=True)
    assert (ledger["rows_in"], ledger["rows_clean"], ledger["rows_quarantined"]) == (6, 2, 4)
    persons = pl.read_parquet(root / "clean" / "person" / "**" / "*.parquet")
    assert persons.select("division_code", "urban_rural", "programme").unique().rows() == [("990101001001", "urban", "tekun")]
    quarantine = read_quarantine(Paths.from_env(root)).filter(pl.col("roster") == "person").sort("source_row")
    assert quarantine.select("source_row", "reason_code").rows() == [
        (4, "household_quarantined"),
        (5, "household_not_listed"),
        (6, "household_not_listed"),
        (7, "blank_row"),
    ]
    assert "户主记录被隔离" in quarantine["reason"][0]
    family = read_ledger(Paths.from_env(root)).filter(pl.col("roster") == "family").row(0, named=True)
    assert (family["rows_in"], family["rows_clean"], family["rows_quarantined"], family["rows_footer"]) == (4, 1, 3, 1)
    # each key is the HMAC of its own row's ID (the person's and the head's pseudonyms come from one
    # batch of the file's distinct IDs), as Python's hmac computes it
    secret = pseudonym_secret()
    key = lambda i: hmac.new(secret, i.encode(), hashlib.sha256).hexdigest()[:32]
    assert sorted(persons.select("person_key", "household_key").rows()) == sorted(
        [(key(head_a), key(head_a)), (key(member_a), key(head_a))]
    )
    households = pl.read_parquet(root / "clean" / "family" / "**" / "*.parquet")
    assert households["household_key"].to_list() == [key(head_a)]


def test_cells_merged_down_over_data_rows_count_in_every_row_they_cover(tmp_path):
    """A county's Excel merges the township and village cells over the households of one village, and
    the 户主 cells over a household's members (an HTML export says it with rowspan): a merged cell
    holds its value in its first row only, and means it for every row it covers. The title's and
    the two-row header's merged cells stay the header search's."""
    import openpyxl

    root = data_dir_with_divisions(tmp_path)
    heads = [_id("990101", "19600101", s) for s in ("011", "021", "031")]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["城乡低保家庭花名册"])
    sheet.merge_cells("A1:H1")
    sheet.append(["户主", None, "保障人口数", "户月保障金额（元）", "所在地区", None, None, "状态"])
    sheet.append(["姓名", "身份证号", None, None, "所属区县", "所属街道/乡镇", "所属社区/村", None])
    for merged in ("A2:B2", "E2:G2", "C2:C3", "D2:D3", "H2:H3"):
        sheet.merge_cells(merged)
    sheet.append(["测试甲", heads[0], "2", "1200", "示范县", "城关镇", "东风社区", "在保"])
    sheet.append(["测试乙", heads[1], "1", "640", None, None, None, "在保"])
    sheet.append(["测试丙", heads[2], "1", "600", None, "河口乡", "红旗村", "在保"])
    sheet.merge_cells("E4:E6")  # 示范县 over the three households
    sheet.merge_cells("F4:F5")  # 城关镇 and 东风社区 over the first two
    sheet.merge_cells("G4:G5")
    sheet.append(["合计", None, "4", "2440"])
    (root / "raw" / "2025-03").mkdir(parents=True)
    book.save(root / "raw" / "2025-03" / "城市低保家庭花名册.xlsx")
    members = [_id("990101", "19900101", s) for s in ("051", "061")]
    rows = [
        ("测试甲", heads[0], "户主", f'<td rowspan="3">{heads[0]}</td>'),
        ("测试丁", members[0], "配偶", ""),
        ("测试戊", members[1], "子女", ""),
        ("测试乙", heads[1], "户主", f"<td>{heads[1]}</td>"),
    ]
    body = "".join(f"<tr><td>{name}</td><td>{pid}</td>{head}<td>{relation}</td></tr>" for name, pid, relation, head in rows)
    (root / "raw" / "2025-03" / "城市低保人员花名册.xls").write_text(
        f"<html><body><table><tr><th>姓名</th><th>身份证号</th><th>户主身份证号</th><th>与户主关系</th></tr>{body}</table></body></html>",
        encoding="utf-8",
    )
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    ledger = read_ledger(Paths.from_env(root)).filter(pl.col("roster") != "division").sort("roster")
    assert ledger.select("roster", "rows_in", "rows_clean", "rows_quarantined").rows() == [("family", 4, 3, 1), ("person", 4, 4, 0)]
    families = pl.read_parquet(root / "clean" / "family" / "**" / "*.parquet").sort("source_row")
    assert families["division_code"].to_list() == ["990101001001", "990101001001", "990101002201"]
    persons = pl.read_parquet(root / "clean" / "person" / "**" / "*.parquet").sort("source_row")
    secret = pseudonym_secret()
    key = lambda i: hmac.new(secret, i.encode(), hashlib.sha256).hexdigest()[:32]
    assert persons["household_key"].to_list() == [key(heads[0])] * 3 + [key(heads[1])]
    assert persons["division_code"].to_list() == ["990101001001"] * 4


def test_a_paginated_export_repeats_its_header_on_every_page_and_those_rows_are_not_data(tmp_path):
    """A web system prints its list page by page: the header again on every page (spaced otherwise
    than the first), page lines, and a record count at the end."""
    root = data_dir_with_divisions(tmp_path)
    heads = [_id("990101", "19600101", s) for s in ("011", "021", "031")]
    header = ["序号", "户主姓名", "户主身份证号", "保障人口数", "户月保障金额（元）", "所属区县", "所属街道/乡镇", "所属社区/村", "状态"]
    row = lambda n, name, head, amount: [str(n), name, head, "1", amount, "示范县", "城关镇", "东风社区", "在保"]
    write_csv(
        root / "raw" / "2025-03" / "城市低保家庭花名册.csv",
        [
            header,
            row(1, "测试甲", heads[0], "600"),
            row(2, "测试乙", heads[1], "620"),
            ["第 1 页 共 2 页"],
            ["序 号", "户主姓名", "户主身份证号", "保障人口数", "户月保障金额（元）", "所属区县", "所属街道/乡镇", "所属社区/村", "状态"],
            row(3, "测试丙", heads[2], "640"),
            ["第 2 页 共 2 页"],
            ["共 3 条记录"],
        ],
    )
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    quarantine = read_quarantine(Paths.from_env(root)).filter(pl.col("roster") == "family").sort("source_row")
    assert quarantine.select("source_row", "reason_code").rows() == [
        (4, "footer_row"),
        (5, "header_row"),
        (7, "footer_row"),
        (8, "footer_row"),
    ]
    assert "重复的表头行" in quarantine["reason"][1]
    ledger = read_ledger(Paths.from_env(root)).filter(pl.col("roster") == "family").row(0, named=True)
    assert (ledger["rows_in"], ledger["rows_clean"], ledger["rows_quarantined"], ledger["rows_footer"]) == (7, 3, 4, 4)


def test_ids_written_as_excel_text_formulas_in_a_csv_are_read_as_ids(tmp_path):
    """A web system's CSV writes ="<ID>" so that Excel keeps the 18 digits as text: the ID is read."""
    root = data_dir_with_divisions(tmp_path)
    head = _id("990101", "19600101", "011")
    (root / "raw" / "2025-03").mkdir(parents=True)
    (root / "raw" / "2025-03" / "城市低保家庭花名册.csv").write_text(
        "户主姓名,户主身份证号,保障人口数,户月保障金额（元）,所属区县,所属街道/乡镇,所属社区/村,状态\n"
        f'测试甲,="{head}",2,="1200",示范县,城关镇,东风社区,在保\n',
        encoding="utf-8",
    )
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    family = pl.read_parquet(root / "clean" / "family" / "**" / "*.parquet")
    secret = pseudonym_secret()
    assert family.select("household_key", "monthly_amount").rows() == [
        (hmac.new(secret, head.encode(), hashlib.sha256).hexdigest()[:32], 1200.0)
    ]


def test_where_no_column_or_name_says_urban_or_rural_the_division_code_does(tmp_path):
    root = data_dir_with_divisions(tmp_path)
    head_a, head_b = (_id("990101", "19600101", s) for s in ("011", "021"))
    write_csv(
        root / "raw" / "2025-03" / "低保家庭花名册.csv",
        [
            ["户主姓名", "户主身份证号", "保障人口数", "户月保障金额（元）", "所属区县", "所属街道/乡镇", "所属社区/村"],
            ["测试甲", head_a, "2", "1200", "示范县", "城关镇", "东风社区"],
            ["测试乙", head_b, "1", "600", "示范县", "河口乡", "红旗村委会"],
        ],
    )
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    family = pl.read_parquet(root / "clean" / "family" / "**" / "*.parquet").sort("division_code")
    assert family.select("division_code", "urban_rural").rows() == [("990101001001", "urban"), ("990101002201", "rural")]


def _temporary_files(root: Path) -> dict[str, int]:
    """Three 临时救助台账 of one month from three systems: the same fields, in other orders, under
    other headers, among other columns; with their own title rows, blank, footer, duplicate and bad
    rows. Returns each file's header row (its spreadsheet row number)."""
    a1, a2, a3 = (_id("990101", "19700101", s) for s in ("013", "023", "033"))
    b1, b2, c1, c2 = (_id("990101", "19800101", s) for s in ("013", "023", "033", "043"))
    bad = b2[:17] + ("0" if b2[17] != "0" else "1")
    month = root / "raw" / "2025-03"
    write_csv(
        month / "城关镇临时救助台账202503.csv",
        [
            ["序号", "救助对象姓名", "身份证号码", "乡镇（街道）", "村（社区）", "救助类型", "救助事由", "救助金额（元）", "救助日期"],
            ["1", "测试甲", a1, "城关镇", "东风社区", "急难型", "意外伤害", "1,200.00", "2025/3/4"],
            ["2", "测试乙", a2, "河口乡", "红旗村", "支出型", "医疗支出", "3000", "2025年3月12日"],
            ["3", "测试丙", a3, "河口乡", "红旗村", "特殊型", "住房失火", "600", "2025-03-18"],
            ["4", "测试甲", a1, "城关镇", "东风社区", "急难型", "意外伤害", "1,200.00", "2025/3/4"],
            ["合计", None, None, None, None, None, None, "6,000.00", None],
        ],
    )
    write_csv(
        month / "河口乡临时救助台账202503.csv",
        [
            ["救助金额", "联系电话", "姓名", "公民身份号码", "救助类别", "救助日期", "乡镇", "村居"],
            ["800", "138", "测试丁", b1, "急难", "20250305", "河口乡", "红旗村"],
            ["500", "139", "测试戊", bad, "支出型", "2025/3/6", "河口乡", "红旗村"],
            [None, None, None, None, None, None, None, None],
            ["abc", "137", "测试己", c1, "支出", "2025/3/7", "城关镇", "东风社区"],
        ],
    )
    write_csv(
        month / "东风社区临时救助台账202503.csv",
        [
            ["2025年3月临时救助台账（东风社区）"],
            ["序号", "救助对象姓名", "身份证号码", "乡镇（街道）", "村（社区）", "救助类型", "救助事由", "救助金额（元）", "救助日期"],
            ["1", "测试庚", c2, "城关镇", "东风社区", "急难型", "突发疾病", "900", "2025/3/9"],
            ["2", "测试辛", a3, "城关镇", "东风社区", "支出型", "医疗支出", "700", "2025/4/2"],
        ],
    )
    return {"城关镇": 1, "河口乡": 1, "东风社区": 2}


def _ingested(root: Path) -> tuple[dict, dict, dict]:
    """Per file: the ledger's counts, the quarantine (row, column as written, reason) and the clean rows."""
    paths = Paths.from_env(root)
    ledger = read_ledger(paths).filter(pl.col("roster") == "temporary")
    counts = {
        r["source_file"]: (r["rows_in"], r["rows_clean"], r["rows_quarantined"], r["rows_blank"], r["rows_footer"], r["rows_duplicate"])
        for r in ledger.iter_rows(named=True)
    }
    quarantine = read_quarantine(paths).filter(pl.col("roster") == "temporary").sort("source_file", "source_row", "field")
    problems: dict = {}
    for r in quarantine.iter_rows(named=True):
        problems.setdefault(r["source_file"], []).append((r["source_row"], r["column"], r["reason_code"], r["raw_value"]))
    clean = pl.read_parquet(root / "clean" / "temporary" / "**" / "*.parquet").sort("source_file", "source_row")
    rows = {
        name: frame.select("source_row", pl.exclude("source_row", "source_file")).rows()
        for (name,), frame in clean.partition_by("source_file", as_dict=True).items()
    }
    return counts, problems, rows


def test_files_of_one_roster_cleaned_together_each_keep_their_rows_counts_and_headers(tmp_path, monkeypatch):
    """Files whose fields are the same are cleaned as one table (a province month has thousands of
    small files); each file's result is what it is alone: its counts, its quarantine under its own
    headers, its clean rows. When cleaning them together fails, each is cleaned alone."""
    import civstat.ingest as ingest_module

    together = data_dir_with_divisions(tmp_path / "together")
    _temporary_files(together)
    sizes = []
    real = ingest_module.clean_tables
    monkeypatch.setattr(ingest_module, "clean_tables", lambda parts, **kw: sizes.append(len(parts)) or real(parts, **kw))
    report = ingest(Paths.from_env(together))
    assert not report.failed, [o.error for o in report.failed]
    assert 3 in sizes  # the three files were one table
    counts, problems, rows = _ingested(together)
    a, b, c = (f"2025-03/{n}临时救助台账202503.csv" for n in ("城关镇", "河口乡", "东风社区"))
    # rows in, clean, quarantined, blank, footer, duplicate
    assert counts == {a: (5, 2, 3, 0, 1, 1), b: (4, 1, 3, 1, 0, 0), c: (2, 1, 1, 0, 0, 0)}
    assert problems[a] == [
        (4, "救助类型", "bad_value", "特殊型"),
        (5, None, "duplicate_row", None),
        (6, None, "footer_row", "合计"),
    ]
    assert [(row, column, reason) for row, column, reason, _ in problems[b]] == [
        (3, "公民身份号码", "id_bad_check"),
        (4, None, "blank_row"),
        (5, "救助金额", "bad_value"),
    ]
    assert problems[c] == [(4, "救助日期", "date_after_period", "2025/4/2")]
    assert {name: [r[0] for r in found] for name, found in rows.items()} == {a: [2, 3], b: [2], c: [3]}
    unknown = read_ledger(Paths.from_env(together)).filter(pl.col("source_file") == a)["unknown_values"].item()
    assert unknown == "救助类型: 特殊型 (1)"

    # each file alone, in a data directory of its own: the same rows, the same quarantine
    for name in (a, b, c):
        alone = data_dir_with_divisions(tmp_path / name.rsplit("/", 1)[1])
        _temporary_files(alone)
        for other in {a, b, c} - {name}:
            (alone / "raw" / other).unlink()
        ingest(Paths.from_env(alone))
        one = _ingested(alone)
        assert (one[0][name], one[1][name], one[2][name]) == (counts[name], problems[name], rows[name])

    # cleaning together fails: each file is cleaned alone, with the same results
    def fails_together(parts, **kw):
        if len(parts) > 1:
            raise RuntimeError("cleaning together failed")
        return real(parts, **kw)

    fallback = data_dir_with_divisions(tmp_path / "fallback")
    _temporary_files(fallback)
    monkeypatch.setattr(ingest_module, "clean_tables", fails_together)
    report = ingest(Paths.from_env(fallback))
    assert not report.failed, [o.error for o in report.failed]
    assert _ingested(fallback) == (counts, problems, rows)


def test_batches_hold_the_files_one_name_says_are_of_a_roster_up_to_a_size(tmp_path, monkeypatch):
    """The workers get batches of files whose names say one roster (the layouts ``ingest_files``
    may clean as one table), at most ``BATCH_BYTES`` of them; a division register is a batch of its
    own, and the files after it are never in a batch before it."""
    import civstat.ingest as ingest_module
    from civstat.registry import registry

    raw = tmp_path / "raw"
    sizes = {
        "2025-03/一乡临时救助台账.csv": 60,
        "2025-03/一乡高龄津贴发放名册.csv": 10,
        "2025-03/二乡临时救助台账.csv": 60,
        "2025-03/三乡临时救助台账.csv": 10,
        "2025/2025年统计用区划代码.csv": 10,
        "2025-03/四乡临时救助台账.csv": 10,
    }
    for name, size in sizes.items():
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_bytes(b"x" * size)
    monkeypatch.setattr(ingest_module, "BATCH_BYTES", 100)
    batches = ingest_module._batches(list(sizes), raw, registry(), workers=1)
    assert batches == [
        ["2025-03/一乡临时救助台账.csv"],
        ["2025-03/一乡高龄津贴发放名册.csv"],
        ["2025-03/二乡临时救助台账.csv", "2025-03/三乡临时救助台账.csv"],
        ["2025/2025年统计用区划代码.csv"],
        ["2025-03/四乡临时救助台账.csv"],
    ]
    # for several workers, a phase without a register hands out its largest batches first (the
    # last to finish are small: no worker waits long for another); with a register, the files' order
    no_register = [name for name in sizes if "区划" not in name]
    assert ingest_module._batches(no_register, raw, registry(), workers=2) == [
        ["2025-03/一乡临时救助台账.csv"],
        ["2025-03/二乡临时救助台账.csv"],
        ["2025-03/一乡高龄津贴发放名册.csv"],
        ["2025-03/三乡临时救助台账.csv"],
        ["2025-03/四乡临时救助台账.csv"],
    ]
    assert ingest_module._batches(list(sizes), raw, registry(), workers=2) == [[name] for name in sizes]


def worker_cpus(pool, *, pinned: bool) -> list[tuple[tuple[int, ...], ...]]:
    """The CPUs each worker's threads may use (the distinct sets, per worker); with ``pinned``, once
    every worker has pinned itself (its set-up runs as it starts: waited for, up to a minute)."""

    def cpus_of(pid: int) -> tuple[tuple[int, ...], ...]:
        return tuple(sorted({tuple(sorted(os.sched_getaffinity(int(t)))) for t in os.listdir(f"/proc/{pid}/task")}))

    deadline = time.monotonic() + 60
    while True:
        found = sorted(cpus_of(pid) for pid in pool._processes)
        if not pinned or all(len(sets) == 1 and len(sets[0]) == 1 for sets in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_workers_start_with_one_polars_thread_and_allocators_that_keep_their_memory(tmp_path, monkeypatch):
    """Every worker starts when the pool does; ``WORKER_ENV`` is what a worker process sees (a value
    set already wins; Polars' own jemalloc decay, written when it is imported, does not), and the
    parent's environment is as it was once the pool is closed."""
    from civstat import ingest as ingest_module
    from civstat.registry import registry

    root = data_dir_with_divisions(tmp_path)
    worker_env = ingest_module.WORKER_ENV
    monkeypatch.setenv("POLARS_MAX_THREADS", "3")
    monkeypatch.setenv("_RJEM_MALLOC_CONF", ingest_module.POLARS_JEMALLOC)  # what importing Polars leaves
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    before = {name: os.getenv(name) for name in worker_env}
    children = {p.pid for p in multiprocessing.active_children()}
    with ingest_module.worker_pool(2, Paths.from_env(root), registry(), b"k") as pool:
        # both processes start at once, before any work is given (a spawning pool would start one per task)
        assert len({p.pid for p in multiprocessing.active_children()} - children) == 2
        seen = {name: pool.submit(os.getenv, name).result() for name in worker_env}
        on = worker_cpus(pool, pinned=True)
        pool.submit(pl.DataFrame, {"a": list(range(100_000))}).result()  # Polars' allocator at work in each
        pool.submit(pl.DataFrame, {"a": list(range(100_000))}).result()
        threads = {
            Path(f"/proc/{pid}/task/{t}/comm").read_text().strip() for pid in pool._processes for t in os.listdir(f"/proc/{pid}/task")
        }
        parent = {tuple(sorted(os.sched_getaffinity(t.native_id))) for t in threading.enumerate()}
    # each worker (every thread of it) on a CPU of its own when there are enough; this process's threads on all of them
    cpus = sorted(os.sched_getaffinity(0))
    assert on == ([((cpu,),) for cpu in cpus[:2]] if len(cpus) >= 2 else [(tuple(cpus),)] * 2)
    assert parent == {tuple(cpus)}
    assert seen["POLARS_MAX_THREADS"] == "3"
    assert [seen[name] for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")] == [str(32 << 20), str(4 << 30)]
    assert seen["_RJEM_MALLOC_CONF"].endswith("," + worker_env["_RJEM_MALLOC_CONF"])  # after Polars' decay: it wins
    assert "jemalloc_bg_thd" not in threads  # nothing to purge: no background thread (it is there by default)
    assert {name: os.getenv(name) for name in worker_env} == before

    monkeypatch.setenv("_RJEM_MALLOC_CONF", ingest_module.POLARS_JEMALLOC + ",dirty_decay_ms:100")  # someone's own
    assert "_RJEM_MALLOC_CONF" not in ingest_module._worker_env()

    # CIVSTAT_PIN_WORKERS=0: every worker may use every CPU (a machine shared with other heavy work)
    monkeypatch.setenv("CIVSTAT_PIN_WORKERS", "0")
    assert ingest_module._cpus_to_pin(2) == []
    with ingest_module.worker_pool(2, Paths.from_env(root), registry(), b"k") as pool:
        pool.submit(int).result()
        unpinned = worker_cpus(pool, pinned=False)
    assert unpinned == [(tuple(cpus),)] * 2


def test_rosters_that_look_no_household_up_go_alongside_the_families_and_members_wait_for_them(tmp_path, monkeypatch):
    """With workers, the family rosters and the rosters whose names say they cannot be person
    rosters (高龄, 区划 ...) are given to the workers together, so that neither worker waits for the
    other at the end of the family phase; the person rosters, and any file whose name says no
    roster, are given only when every family roster is written. The members find their households."""
    from civstat import ingest as ingest_module

    root = data_dir_with_divisions(tmp_path)
    month = root / "raw" / "2025-03"
    header = ["序号", "户主姓名", "户主身份证号", "保障人数", "区县", "乡镇（街道）", "村（社区）", "城乡类别"]
    members = ["序号", "姓名", "身份证号", "户主身份证号", "与户主关系"]
    for n in range(3):
        head = _id("990101", f"196{n}0101", "011")
        write_csv(
            month / f"示范县{n}低保家庭花名册_2025年3月.csv", [header, ["1", "测试甲", head, "1", "示范县", "城关镇", "东风社区", "城市"]]
        )
        write_csv(month / f"示范县{n}低保人员花名册_2025年3月.csv", [members, ["1", "测试甲", head, head, "户主"]])
    for n in range(2):
        write_csv(month / f"示范县{n}高龄津贴发放名册_2025年3月.csv", [["序号", "姓名"], ["1", "测试丙"]])
    write_csv(
        month / "示范县低保花名册_2025年3月.csv",
        [members, ["1", "测试甲", _id("990101", "19600101", "011"), _id("990101", "19600101", "011"), "户主"]],
    )

    events: list[tuple[str, list[str]]] = []
    dispatch, collect = ingest_module._dispatch, ingest_module._collect

    def recorded_dispatch(paths, reg, secret, files, *rest):
        events.append(("given", sorted(f.split("/")[-1] for f in files)))
        return dispatch(paths, reg, secret, files, *rest)

    def recorded_collect(cleaning, files, on_outcome):
        found = collect(cleaning, files, on_outcome)
        events.append(("written", sorted(f.split("/")[-1] for f in files)))
        return found

    monkeypatch.setattr(ingest_module, "_dispatch", recorded_dispatch)
    monkeypatch.setattr(ingest_module, "_collect", recorded_collect)
    report = ingest(Paths.from_env(root), workers=2)

    families = sorted(f"示范县{n}低保家庭花名册_2025年3月.csv" for n in range(3))
    longevity = sorted(f"示范县{n}高龄津贴发放名册_2025年3月.csv" for n in range(2))
    persons = sorted([*(f"示范县{n}低保人员花名册_2025年3月.csv" for n in range(3)), "示范县低保花名册_2025年3月.csv"])
    assert events[:2] == [("given", ["2025年区划代码.csv"]), ("written", ["2025年区划代码.csv"])]  # the register, first and alone
    assert events[2:6] == [("given", families), ("given", longevity), ("written", families), ("given", persons)]
    assert [o.source_file for o in report.failed] == [f"2025-03/{n}" for n in longevity]  # no 高龄 columns: they fail alone
    persons_clean = pl.read_parquet(root / "clean" / "person" / "**" / "*.parquet")
    assert persons_clean.height == 4 and persons_clean["household_key"].null_count() == 0
    assert read_quarantine(Paths.from_env(root)).filter(pl.col("roster") == "person").height == 0


def test_a_new_file_is_hashed_by_the_worker_that_reads_it_and_only_a_file_cleaned_before_is_hashed_when_planned(tmp_path, monkeypatch):
    """The run's plan hashes only the files the ledger has cleaned under their name (to know whether
    they changed); a new file is hashed where it is read. Either way the ledger holds each file's
    SHA-256, and an unchanged file is skipped the next time."""
    from civstat import ingest as ingest_module

    root = data_dir_with_divisions(tmp_path)
    month = root / "raw" / "2025-03"
    for n in range(6):
        write_csv(month / f"示范县{n}城市低保家庭花名册.csv", [FAMILY_HEADER, *FAMILY_ROWS])
    paths = Paths.from_env(root)
    planned: list[str] = []
    hash_into = ingest_module._hash_into

    def recorded(digests, found, files, wanted):
        planned.extend(name for name in files if name in wanted and digests[name] is None)
        return hash_into(digests, found, files, wanted)

    monkeypatch.setattr(ingest_module, "_hash_into", recorded)
    first = ingest(paths, workers=2)
    assert not first.failed and planned == []
    ledger = read_ledger(paths)
    raw = {p.relative_to(root / "raw").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in (root / "raw").rglob("*.csv")}
    assert dict(zip(ledger["source_file"], ledger["content_sha256"], strict=True)) == raw

    write_csv(month / "示范县0城市低保家庭花名册.csv", [FAMILY_HEADER, FAMILY_ROWS[0]])
    again = ingest(paths, workers=2)
    assert sorted(planned) == sorted(raw)  # each file cleaned before: hashed to know whether it changed
    assert [o.source_file for o in again.outcomes if o.status != "skipped"] == ["2025-03/示范县0城市低保家庭花名册.csv"]


def test_a_disability_list_without_an_id_column_takes_the_id_from_the_certificate(tmp_path, capsys):
    """残疾证号 is the 身份证号 and two digits: a list that has only the certificate gives each person
    their ID (and pseudonym) from it; a certificate whose ID part is wrong is quarantined under the
    certificate's column, masked."""
    root = data_dir_with_divisions(tmp_path)
    good, other = _id("990101", "19600101", "011"), _id("990101", "19550505", "023")
    bad = other[:17] + ("0" if other[17] != "0" else "1")  # a wrong check character
    (root / "raw" / "2025-03").mkdir(parents=True)
    (root / "raw" / "2025-03" / "困难残疾人生活补贴发放名单.csv").write_text(
        "姓名,残疾人证号,补贴金额,所属区县,所属街道/乡镇,所属社区/村\n"
        f"测试甲,{good}41,100,示范县,城关镇,东风社区\n"
        f"测试乙,{bad.lower()}62,100,示范县,城关镇,东风社区\n",
        encoding="utf-8",
    )
    report = ingest(Paths.from_env(root))
    assert not report.failed, [o.error for o in report.failed]
    clean = pl.read_parquet(root / "clean" / "disab_living" / "**" / "*.parquet")
    secret = pseudonym_secret()
    assert clean.select("person_key", "disability_category", "disability_grade").rows() == [
        (hmac.new(secret, good.encode(), hashlib.sha256).hexdigest()[:32], "physical", 1)
    ]
    q = read_quarantine(Paths.from_env(root)).filter(pl.col("field") == "person_id")
    assert q.select("source_row", "column").rows() == [(3, "残疾人证号")]
    assert bad[6:14] not in (q["raw_value"][0] or "")  # the birth date never leaves the raw file
    from civstat.cli import main

    capsys.readouterr()
    main(["--data-dir", str(root), "inspect", str(root / "raw" / "2025-03")])
    shown = "".join(capsys.readouterr().out.split())  # the console wraps lines, CJK anywhere
    assert "残疾人证号→person_id(身份证号:itsfirst18characters)" in shown, shown

"""Warnings as a closed loop (issue 15): a caseworker fills in a generated list, it comes back, and
the next month's list and summary follow what the visits found."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from openpyxl import load_workbook

from civstat.ingest import ingest, read_ledger
from civstat.reports.caseworker import COLUMNS, HEADER_ROW, caseworker_lists
from civstat.settings import Paths
from civstat.warehouse.build import build_and_publish
from printing import print_to_pdf

MONTHS = ["2025-05", "2025-06", "2025-07"]
REF, STATUS = [h for _, h, _ in COLUMNS].index("预警编号") + 1, [h for _, h, _ in COLUMNS].index("状态") + 1
RESULT, ACTION, CHECKER, WHEN = (len(COLUMNS) + n for n in (1, 2, 3, 4))


def ingest_and_build(root: Path) -> None:
    paths = Paths.from_env(root)
    assert not ingest(paths).failed
    build_and_publish(paths)


def list_rows(path: Path) -> dict[str, tuple]:
    """The list's rows by warning reference."""
    ws = load_workbook(path).active
    return {row[REF - 1]: row for row in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True) if row[REF - 1]}


@pytest.mark.slow
def test_a_returned_list_feeds_the_next_month(tmp_path: Path) -> None:
    from civstat.generate import generate

    generate("tiny", len(MONTHS), 20261201, tmp_path / "all" / "raw", start=MONTHS[0])
    root = tmp_path / "data"
    (root / "raw").mkdir(parents=True)
    for folder in ("2025", MONTHS[0], MONTHS[1]):
        shutil.copytree(tmp_path / "all" / "raw" / folder, root / "raw" / folder)
    ingest_and_build(root)
    paths = Paths.from_env(root)

    # the township with the longest list of the second month
    lists = caseworker_lists(paths, MONTHS[1])
    chosen = max(lists, key=lambda p: len(list_rows(p)))
    wb = load_workbook(chosen)
    ws = wb.active
    assert ws.cell(row=1, column=1).value.endswith(f"（{MONTHS[1][:4]}年{MONTHS[1][5:]}月）")
    assert ws.print_title_rows and ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert any(v.formula1 == '"属实,不属实,已整改"' for v in ws.data_validations.dataValidation)
    rows = list(ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True))
    assert len(rows) >= 5, "the tiny data set plants at least five warnings in one township"
    refs = [r[REF - 1] for r in rows]
    confirmed, dismissed, unknown_row = refs[:2], refs[2:4], HEADER_ROW + 5

    # a caseworker's answers, one row moved to the end (re-sorted), a column of their own, a mistyped reference
    answers = {confirmed[0]: "属实", confirmed[1]: "已整改", dismissed[0]: "不属实", dismissed[1]: "不属实"}
    for r in range(HEADER_ROW + 1, HEADER_ROW + 1 + len(rows)):
        ref = ws.cell(row=r, column=REF).value
        if ref in answers:
            ws.cell(row=r, column=RESULT, value=answers[ref])
            ws.cell(row=r, column=ACTION, value="停保" if answers[ref] == "属实" else "无需处理")
            ws.cell(row=r, column=CHECKER, value="民政助理甲")
            ws.cell(row=r, column=WHEN, value=dt.date(2025, 7, 3))
    ws.cell(row=unknown_row, column=REF, value="0000000000")
    ws.cell(row=unknown_row, column=RESULT, value="属实")
    moved = [c.value for c in ws[HEADER_ROW + 1]]
    ws.delete_rows(HEADER_ROW + 1)
    ws.append(moved)
    ws.cell(row=HEADER_ROW, column=len(COLUMNS) + 6, value="走访照片编号")
    returned = tmp_path / "returned" / chosen.name
    returned.parent.mkdir()
    wb.save(returned)

    env = {**__import__("os").environ, "CIVSTAT_DATA_DIR": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "civstat.cli", "alerts", "--import", str(returned)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = "".join((done.stdout + done.stderr).split())  # without the console's line breaks
    assert f"{len(rows)}rows,{len(rows) - 1}taken,1nottaken" in said, said
    moved_up = unknown_row - 1  # the first data row moved to the end: the mistyped row is one row up
    assert f"row{moved_up},column预警编号:预警编号不在已发布的预警中" in said, said
    assert (root / "raw" / MONTHS[1] / "核查反馈" / returned.name).exists()

    # the next month
    shutil.copytree(tmp_path / "all" / "raw" / MONTHS[2], root / "raw" / MONTHS[2])
    ingest_and_build(root)
    con = duckdb.connect(str(paths.published_warehouse), read_only=True)
    try:
        states = dict(
            con.execute(
                "select alert_ref || '/' || strftime(period, '%Y-%m'), status from monitoring_alert_lifecycle where alert_ref in (select unnest(?))",
                [confirmed + dismissed],
            ).fetchall()
        )
        same_facts = {
            ref
            for (ref,) in con.execute(
                """select a.alert_ref from monitoring_alerts as a
                   inner join monitoring_alerts as b on b.alert_key = a.alert_key and b.period = a.period + interval 1 month
                   where a.period = cast(? as date) and a.detail = b.detail and a.alert_ref in (select unnest(?))""",
                [MONTHS[1] + "-01", dismissed],
            ).fetchall()
        }
        summary = con.execute(
            """select sum(checked_warnings), sum(confirmed_warnings), sum(dismissed_warnings) from monitoring_alert_summary
               where division_level = 'township' and period = cast(? as date)""",
            [MONTHS[1] + "-01"],
        ).fetchone()
    finally:
        con.close()
    for ref in confirmed:
        assert states[f"{ref}/{MONTHS[1]}"] == "verified"
    for ref in dismissed:
        assert states[f"{ref}/{MONTHS[1]}"] == "dismissed"
    assert summary == (4, 2, 2)

    following = {ref: row for path in caseworker_lists(paths, MONTHS[2]) for ref, row in list_rows(path).items()}
    assert same_facts, "a dismissed warning whose figures stayed the same (the test needs one)"
    for ref in same_facts:
        assert ref not in following, f"dismissed warning {ref} with unchanged figures is back on the list"
    still = [ref for ref in confirmed if f"{ref}/{MONTHS[2]}" in states]
    assert still, "a verified warning still holding the next month (the test needs one)"
    for ref in still:
        assert following[ref][STATUS - 1] == "已核实属实"

    # the list as LibreOffice prints it: one landscape page holding the title block and every column
    township = chosen.name.rsplit("_", 1)[0]
    pdf = print_to_pdf(next(p for p in caseworker_lists(paths, MONTHS[2]) if p.name.startswith(township + "_")), tmp_path / "pdf")
    assert re.search(rb"/MediaBox\s*\[\s*0 0 841\.\d+ 59[45]\.\d+", pdf.read_bytes()), "A4 landscape"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) == 1, "a short list prints on one page"
    flat = "".join(pages[0].split())
    assert f"低收入人口动态监测预警核查名单（{MONTHS[2][:4]}年{MONTHS[2][5:]}月）" in flat and "乡镇（街道）" in flat
    for header in [h for _, h, _ in COLUMNS] + ["核查结果", "处置措施", "核查人", "核查日期", "备注"]:
        assert "".join(header.split()) in flat, f"column {header} is not on the page: the list does not fit its width"

    from privacy import leaks, people_in

    ids, names = people_in(tmp_path / "all" / "raw")
    assert not leaks(root, ids, names)

    # the same raw folder, returned list included, run from scratch (a rebuild, or a statistician
    # reproducing the year): no publication holds the list's month yet, so its answers are kept and
    # give the same states; the next run, with the month published, checks the references
    again = tmp_path / "again"
    shutil.copytree(root / "raw", again / "raw")
    ingest_and_build(again)
    source = f"{MONTHS[1]}/核查反馈/{returned.name}"
    row = read_ledger(Paths.from_env(again)).filter(pl.col("source_file") == source).row(0, named=True)
    assert (row["rows_clean"], row["rows_quarantined"]) == (len(rows), 0) and row["refs_checked"] is False
    with duckdb.connect(str(Paths.from_env(again).published_warehouse), read_only=True) as con:
        rebuilt = dict(
            con.execute(
                "select alert_ref || '/' || strftime(period, '%Y-%m'), status from monitoring_alert_lifecycle where alert_ref in (select unnest(?))",
                [confirmed + dismissed],
            ).fetchall()
        )
    assert rebuilt == states
    # the next month's run checks it, though the list's month is not in its scope
    assert not ingest(Paths.from_env(again), [MONTHS[2]]).failed
    row = read_ledger(Paths.from_env(again)).filter(pl.col("source_file") == source).row(0, named=True)
    assert (row["rows_clean"], row["rows_quarantined"]) == (len(rows) - 1, 1) and row["refs_checked"] is True
    # checked once: the run after does not clean it again
    assert [o.status for o in ingest(Paths.from_env(again)).outcomes if o.source_file == source] == ["skipped"]


def test_a_returned_workbook_with_the_escalated_sheet_is_placed_as_one_file_per_sheet(tmp_path: Path) -> None:
    """civstat reads one table per file: the 升级预警 sheet of a returned list becomes its own file."""
    import polars as pl
    from openpyxl import Workbook

    from civstat.reports.caseworker import _sheet, place_returned_lists

    wb = Workbook()
    rows = pl.DataFrame({key: ["x"] for key, _, _ in COLUMNS[1:]})
    _sheet(wb.active, "永泰街道 低收入人口动态监测预警核查名单（2025年06月）", "乡镇（街道）：永泰街道", rows)
    _sheet(wb.create_sheet("升级预警"), "永泰街道 核实后仍未解除的预警（升级，2025年06月）", "乡镇（街道）：永泰街道", rows)
    wb.create_sheet("空白页")
    returned = tmp_path / "returned" / "990101001000_永泰街道_2025-06预警名单.xlsx"
    returned.parent.mkdir()
    wb.save(returned)
    placed = place_returned_lists(Paths.from_env(tmp_path / "data"), returned.parent)
    files = placed["2025-06"]
    assert [f.name for f in files] == [returned.name, returned.stem + "_升级预警.xlsx"]
    assert [load_workbook(f).sheetnames for f in files] == [["Sheet"], ["升级预警"]]
    assert all(f.parent == tmp_path / "data" / "raw" / "2025-06" / "核查反馈" for f in files)
    unnamed = returned.rename(returned.with_name("名单.xlsx"))
    with pytest.raises(ValueError, match="names no month"):
        place_returned_lists(Paths.from_env(tmp_path / "data"), unnamed)

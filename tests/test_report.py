"""The annual workbook: its figures equal the marts, and the public version hides every cell of
1-4 people and every cell from which one could be worked out."""

from __future__ import annotations

import duckdb
import polars as pl

from civstat.reports.annual import build_tables, write_workbook
from civstat.settings import Paths

SUPPRESSED = "<5"  # local.suppress_below is 5 by default


def sheets(path, names):
    return {
        n: pl.read_excel(path, sheet_name=n, read_options={"header_row": 2}).filter(pl.col("区划代码").str.contains(r"^\d{12}$"))
        for n in names
    }


def test_the_workbook_totals_equal_the_marts(tiny_built, tmp_path):
    year = 2025
    path = write_workbook(Paths.from_env(tiny_built), year, tmp_path / "book.xlsx")
    con = duckdb.connect(str(tiny_built / "marts" / "warehouse.duckdb"), read_only=True)
    try:
        tables = build_tables(con, year)
        dec = con.execute("select max(period) from dim_periods where period_type = 'month' and year = ?", [year]).fetchone()[0]
        want_persons = con.execute(
            "select sum(persons) from low_income_monitoring where division_level = 'province' "
            "and programme = 'dibao' and urban_rural = 'urban' and period = ?",
            [dec],
        ).fetchone()[0]
        want_beds = con.execute(
            "select institution_beds from elderly_care_beds where division_level = 'province' and year = ?", [year]
        ).fetchone()[0]
    finally:
        con.close()
    book = sheets(path, [t.sheet for t in tables])
    assert set(book) == {"低保", "特困", "临时救助", "养老服务", "高龄津贴", "两项补贴", "儿童福利", "监测预警"}
    assert book["低保"]["城市低保人数（人）"][0] == want_persons
    assert book["养老服务"]["机构床位（张）"][0] == want_beds
    for table in tables:  # every figure of every sheet, the province row first
        frame = book[table.sheet]
        assert frame["区划代码"][0].endswith("0000000000")
        for column, header in table.headers.items():
            got = frame[header].cast(pl.Float64).fill_null(0).to_list()
            want = table.frame.sort("division_code")[column].cast(pl.Float64).fill_null(0).round(4).to_list()
            assert got == want, (table.sheet, header)
    raw = pl.read_excel(path, sheet_name="低保", has_header=False)
    notes = [v for v in raw[:, 0].to_list() if v and str(v).startswith("注：")]
    assert any("数据期间" in n and "发布批次" in n for n in notes) and any("标准" in n for n in notes)


def test_the_public_workbook_leaves_no_cell_of_1_to_4_and_no_total_that_reveals_one(tiny_built, tmp_path):
    path = write_workbook(Paths.from_env(tiny_built), 2025, tmp_path / "public.xlsx", public=True)
    con = duckdb.connect(str(tiny_built / "marts" / "warehouse.duckdb"), read_only=True)
    try:
        tables = build_tables(con, 2025)
        parents = dict(con.execute("select division_code, parent_code from dim_divisions").fetchall())
    finally:
        con.close()
    book = sheets(path, [t.sheet for t in tables])
    suppressed_any = False
    for table in tables:
        frame = book[table.sheet].with_columns(pl.all().cast(pl.String))
        for column in table.counts:
            header = table.headers[column]
            cells = dict(zip(frame["区划代码"].to_list(), frame[header].to_list(), strict=True))
            hidden = {code for code, v in cells.items() if v == SUPPRESSED}
            suppressed_any |= bool(hidden)
            for code, value in cells.items():
                if value not in (None, SUPPRESSED):
                    assert not 1 <= float(value) <= 4, (table.sheet, header, code, value)
            for parent in set(parents.get(c) for c in cells):
                children = [c for c in cells if parents.get(c) == parent and cells[c] not in (None, "0", "0.0")]
                gone = [c for c in children if c in hidden]
                assert len(gone) != 1 or parent in hidden or parent not in cells, (table.sheet, header, parent, gone)
    assert suppressed_any, "the tiny data has small cells: the test must see suppression at work"

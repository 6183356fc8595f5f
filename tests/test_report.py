"""The annual workbook in the form of the statistics tables: its figures are the marts', its year
figures are the sums of the months, it prints on A4 landscape with the header block and repeated
headers, and the public version hides every cell of 1-4 people and every cell that would give one away."""

from __future__ import annotations

import re
import subprocess

import duckdb
import polars as pl
import pytest
from openpyxl import load_workbook

from civstat.quality.audit import evaluate
from civstat.reports.annual import FORMATS, NOT_AVAILABLE, REVEALING, SCALE, build_tables, forms, hidden_cells, write_workbook
from civstat.settings import Paths
from printing import print_to_pdf

YEAR = 2025
FIRST_ROW = 7  # openpyxl's 1-based row of the 合计 row: title, 表号, 制表机关, 填报单位…, two header rows


@pytest.fixture(scope="module")
def workbook(tiny_built, tmp_path_factory):
    return write_workbook(Paths.from_env(tiny_built), YEAR, tmp_path_factory.mktemp("book") / "年报.xlsx")


@pytest.fixture(scope="module")
def tables(tiny_built):
    with duckdb.connect(str(tiny_built / "marts" / "warehouse.duckdb"), read_only=True) as con:
        return build_tables(con, YEAR)


def test_every_table_has_the_header_block_merged_headers_a_total_first_and_the_sign_off(workbook, tables, tiny_built):
    book = load_workbook(workbook)
    assert book.sheetnames == [*(t.sheet for t in forms().tables), "审核"]
    listed = [row for row in book["审核"].iter_rows(min_row=4, values_only=True) if row[0] and not str(row[0]).startswith(("注", "全部"))]
    with duckdb.connect(str(tiny_built / "marts" / "warehouse.duckdb"), read_only=True) as con:
        want = evaluate(con).failures.filter(pl.col("year") == YEAR)
    assert sorted((r[0], r[2]) for r in listed) == sorted(zip(want["rule"], want["division_code"]))
    assert all(kind in ("提示", "已说明") for _, kind, *_ in listed), "a blocking failure is never published"
    if not listed:
        assert str(book["审核"].cell(5, 1).value).startswith("全部审核规则通过")
    for table in tables:
        ws = book[table.sheet]
        block = " ".join(str(ws.cell(r, c).value or "") for r in range(1, 5) for c in range(1, ws.max_column + 1))
        assert table.spec.title in block and f"表　　号：{table.spec.code}" in block and "制表机关：民政部" in block
        assert "填报单位：" in block and f"计量单位：{table.spec.unit}" in block and f"报告期：{YEAR}年" in block
        merged = {str(m) for m in ws.merged_cells.ranges}
        assert {"A5:A6", "B5:B6"} <= merged
        groups = [c for c in table.spec.columns if hasattr(c, "group") and len(c.columns) > 1]
        assert len([m for m in merged if re.fullmatch(r"[C-Z]+5:[C-Z]+5", m)]) == len(groups)
        assert ws.cell(FIRST_ROW, 2).value == "合计" and ws.cell(FIRST_ROW, 1).value == table.frame["division_code"][0]
        foot = " ".join(str(c.value) for row in ws.iter_rows(min_row=FIRST_ROW + table.frame.height) for c in row if c.value)
        assert all(f"{who}：" in foot for who in ("单位负责人", "统计负责人", "填表人", "报出日期"))
        assert NOT_AVAILABLE in foot and "注" in foot


def test_every_cell_is_its_mart_figure_in_the_unit_and_number_format_of_its_column(workbook, tables):
    book = load_workbook(workbook)
    seen_formats, seen_dash = set(), False
    for table in tables:
        ws = book[table.sheet]
        for j, (_, leaf) in enumerate(table.spec.leaves()):
            for i, want in enumerate(table.frame[leaf.source].to_list()):
                cell = ws.cell(FIRST_ROW + i, 3 + j)
                if want is None:
                    assert cell.value == NOT_AVAILABLE, (table.sheet, leaf.source, i)
                    seen_dash = True
                    continue
                assert cell.value == pytest.approx(want * SCALE.get(leaf.format, 1), rel=1e-9), (table.sheet, leaf.source, i)
                assert cell.number_format == FORMATS[leaf.format], (table.sheet, leaf.source)
                seen_formats.add(leaf.format)
    assert seen_formats == {"count", "yuan", "wan_yuan", "percent", "per_1000"}
    assert seen_dash, "a township without urban 低保 has no average standard: printed —"


def test_the_print_setup_is_a4_landscape_one_page_wide_with_repeated_headers_and_frozen_panes(workbook):
    for ws in load_workbook(workbook).worksheets:
        if ws.title == "审核":
            assert ws.page_setup.orientation == "landscape" and ws.print_title_rows.replace("$", "") == "3:3"
            continue
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9, ws.title
        # fit to one page wide, as many pages tall as needed (fitToWidth 1 is OOXML's default, left unwritten)
        assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth or 1) == 1 and ws.page_setup.fitToHeight == 0
        assert ws.print_title_rows.replace("$", "") == "5:6" and ws.print_title_cols.replace("$", "") == "A:B", ws.title
        assert ws.freeze_panes == "C7", ws.title
        assert "&P" in (ws.oddFooter.center.text or ""), ws.title


def test_the_printed_pdf_fits_each_table_to_the_page_width_with_the_headers_on_every_page(tiny_built, tmp_path):
    # down to the villages: more rows to print (the tiny county's tables still fit a page each)
    form = forms().model_copy(update={"levels": ("province", "prefecture", "county", "township", "village")})
    workbook = write_workbook(Paths.from_env(tiny_built), YEAR, tmp_path / "村级.xlsx", form=form)
    with duckdb.connect(str(tiny_built / "marts" / "warehouse.duckdb"), read_only=True) as con:
        tables = build_tables(con, YEAR, form)
    pdf = print_to_pdf(workbook, tmp_path / "pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= len(tables) + 1, "every table, then the 审核 sheet"
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf.read_bytes())
    assert sizes and all(float(w) > float(h) and 841 < float(w) < 843 for w, h in sizes), "A4 landscape"
    for page in range(1, pages + 1):
        text = subprocess.run(
            ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        if "审核结果" in text:  # the statistician's 审核 sheet, after the tables
            continue
        assert "区划代码" in text and "地区" in text, f"page {page} lacks the repeated column headers"
        code = re.search(r"民年\S+表", text)
        assert code, f"page {page} lacks the running header with the 表号"
        table = next(t for t in tables if t.spec.code == code.group(0))
        last_leaf = table.labels[table.spec.leaves()[-1][1].source]
        assert last_leaf[:4] in text.replace(" ", ""), f"page {page}: the last column ({last_leaf}) is cut off"


def test_the_year_figures_are_the_sums_of_the_months_and_the_year_end_figures_the_last_month(tiny_built):
    with duckdb.connect(str(tiny_built / "marts" / "warehouse.duckdb"), read_only=True) as con:

        def one(sql, *params):
            return con.execute(sql, list(params)).fetchone()[0]

        months = one("select count(*) from dim_periods where period_type = 'month' and year = ?", YEAR)
        assert months >= 2, "the tiny year must hold several months, or sums and year-end figures are the same"
        last = one("select max(period) from dim_periods where period_type = 'month' and year = ?", YEAR)
        for programme, urban_rural in (("dibao", "urban"), ("dibao", "rural"), ("tekun", "urban"), ("tekun", "rural")):
            annual = con.execute(
                f"select {programme}_{urban_rural}_spending, {programme}_{urban_rural}_persons from annual_social_assistance "
                "where division_level = 'province' and year = ?",
                [YEAR],
            ).fetchone()
            months_sum = one(
                "select sum(amount_paid) from low_income_monitoring where division_level = 'province' and programme = ? "
                "and urban_rural = ? and extract(year from period) = ?",
                programme, urban_rural, YEAR,
            )  # fmt: skip
            december = one(
                "select sum(amount_paid) from low_income_monitoring where division_level = 'province' and programme = ? "
                "and urban_rural = ? and period = ?",
                programme, urban_rural, last,
            )  # fmt: skip
            persons = one(
                "select persons from low_income_monitoring where division_level = 'province' and programme = ? "
                "and urban_rural = ? and period = ?",
                programme, urban_rural, last,
            )  # fmt: skip
            assert annual[0] == pytest.approx(months_sum) and months_sum > december, (programme, urban_rural)
            assert annual[1] == persons
        for programme, column in (("temporary", "temporary_spending"), ("longevity", "longevity_spending"), ("orphan", "orphan_spending")):
            mart = "annual_social_assistance" if programme == "temporary" else "annual_social_welfare"
            annual = one(f"select {column} from {mart} where division_level = 'province' and year = ?", YEAR)
            months_sum = one(
                "select sum(amount) from subsidy_coverage where division_level = 'province' and programme = ? and extract(year from period) = ?",
                programme, YEAR,
            )  # fmt: skip
            assert annual == pytest.approx(months_sum), programme
        cases = one("select temporary_cases from annual_social_assistance where division_level = 'province' and year = ?", YEAR)
        assert cases == one(
            "select sum(recipients) from subsidy_coverage where division_level = 'province' and programme = 'temporary' "
            "and extract(year from period) = ?",
            YEAR,
        )


def test_the_public_workbook_hides_every_cell_of_1_to_4_and_every_cell_that_would_give_one_away(tiny_built, tables, tmp_path):
    path = write_workbook(Paths.from_env(tiny_built), YEAR, tmp_path / "public.xlsx", public=True)
    book = load_workbook(path)
    below = f"<{5}"
    suppressed_any = revealing_any = False
    for table in tables:
        ws = book[table.sheet]
        leaves = [leaf for _, leaf in table.spec.leaves()]
        codes = table.frame["division_code"].to_list()
        shown = {(code, leaf.source): ws.cell(FIRST_ROW + i, 3 + j).value for i, code in enumerate(codes) for j, leaf in enumerate(leaves)}
        hidden = {cell for cell, v in shown.items() if v in (below, REVEALING)}
        assert hidden == hidden_cells(table)
        suppressed_any |= below in shown.values()
        revealing_any |= REVEALING in shown.values()
        for leaf in leaves:
            for code in codes:
                value = shown[(code, leaf.source)]
                if leaf.persons and isinstance(value, (int, float)):
                    assert not 1 <= value <= 4, (table.sheet, leaf.source, code, value)
                if any((code, r) in hidden for r in leaf.reveals):
                    assert value in (below, REVEALING), (table.sheet, leaf.source, code)
        # no additive group (a parent and its children, a row's total and its parts) with a single hidden cell
        parents = dict(zip(table.frame["division_code"], table.frame["parent_code"]))
        protected = {leaf.source for leaf in leaves if leaf.persons or leaf.reveals}
        for parent in set(parents.values()) & set(codes):
            kids = [c for c in codes if parents[c] == parent]
            for column in protected:
                group = [(parent, column), *((k, column) for k in kids)]
                assert sum(cell in hidden for cell in group) != 1, (table.sheet, column, parent)
        for code in codes:
            for group in table.spec.totals:
                assert sum((code, c) in hidden for c in group) != 1, (table.sheet, group, code)
    assert suppressed_any and revealing_any, "the tiny data has small cells: the test must see suppression at work"
    notes = " ".join(str(c.value) for row in book[tables[0].sheet].iter_rows(min_row=FIRST_ROW) for c in row if c.value)
    assert "公开版" in notes and below in notes and REVEALING in notes
    assert "审核" not in book.sheetnames


@pytest.mark.parametrize(
    ("tiers", "labels"),
    [([80, 100], ["80-99周岁", "100周岁以上"]), ([70, 80, 90, 100], ["70-79周岁", "80-89周岁", "90-99周岁", "100周岁以上"])],
)
def test_a_bureau_with_other_longevity_tiers_gets_a_column_and_an_audit_rule_per_tier(tiers, labels, tmp_path, monkeypatch):
    """local.longevity_tiers decides the 高龄 columns of the table and the tier rules of the 审核:
    two tiers or four, never a column or a rule for a tier the bureau does not have."""
    from civstat import registry as registry_module
    from civstat.quality.audit import rules
    from civstat.settings import config_path

    config = tmp_path / "civstat.yaml"
    config.write_text(
        config_path().read_text(encoding="utf-8").replace("local:\n", f"local:\n  longevity_tiers: {tiers}\n", 1), encoding="utf-8"
    )
    monkeypatch.setenv("CIVSTAT_CONFIG", str(config))
    registry_module.registry.cache_clear()
    try:
        welfare = next(t for t in forms().tables if t.mart == "annual_social_welfare" and any("longevity" in s for s in t.totals[0]))
        recipients = [leaf for _, leaf in welfare.leaves() if re.fullmatch(r"longevity_tier\d+_recipients", leaf.source)]
        coverage = [leaf for _, leaf in welfare.leaves() if leaf.source.endswith("_coverage")]
        assert [leaf.label for leaf in recipients] == labels == [leaf.label for leaf in coverage]
        assert [leaf.source for leaf in recipients] == [f"longevity_tier{n}_recipients" for n in range(1, len(tiers) + 1)]
        assert [leaf.reveals for leaf in coverage] == [(f"longevity_tier{n}_recipients",) for n in range(1, len(tiers) + 1)]
        assert welfare.totals[0] == ("longevity_recipients", *(leaf.source for leaf in recipients))
        by_id = {rule.id: rule for rule in rules()}
        assert [i for i in by_id if i.startswith("FL01")] == [f"FL01.{n}" for n in range(1, len(tiers) + 1)]
        assert (
            by_id[f"FL01.{len(tiers)}"].left == f"longevity_tier{len(tiers)}_coverage" and labels[-1] in by_id[f"FL01.{len(tiers)}"].message
        )
        assert by_id["FL03"].left == "(" + " + ".join(f"longevity_tier{n}_recipients" for n in range(1, len(tiers) + 1)) + ")"
    finally:
        monkeypatch.delenv("CIVSTAT_CONFIG")
        registry_module.registry.cache_clear()

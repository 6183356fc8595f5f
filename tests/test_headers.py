"""Finding the header, recognising the roster, and failing clearly on unknown headers."""

from __future__ import annotations

import polars as pl
import pytest

from civstat.cleaning.headers import HeaderError, check_mapping, find_header
from civstat.registry import load_registry, registry
from rosters import FAMILY_HEADER, FAMILY_ROWS, TITLE


def grid(rows: list[list[str | None]]) -> pl.DataFrame:
    width = max(len(r) for r in rows)
    return pl.DataFrame([r + [None] * (width - len(r)) for r in rows], schema={f"c{i}": pl.String for i in range(width)}, orient="row")


def fields(match) -> list[str]:
    return [f.name for f in match.columns.values()]


def test_title_rows_above_the_header_are_skipped():
    match = find_header(
        grid([[TITLE], ["填报单位：XX县民政局", None, "单位：元"], FAMILY_HEADER, *FAMILY_ROWS]), list(registry().rosters.values())
    )
    assert match.roster.name == "family"
    assert match.header_rows == [2] and match.data_start == 3
    assert fields(match)[:5] == ["head_name", "head_id", "family_size", "covered_persons", "monthly_amount"]


def test_a_group_row_with_merged_cells_above_the_header():
    group = ["户主信息", None, "家庭信息", None, None, None, None, None, None, None]
    match = find_header(grid([[TITLE], group, FAMILY_HEADER, *FAMILY_ROWS]), [registry()["family"]])
    assert match.header_rows == [2]


def test_a_two_row_header_with_sub_fields_under_a_merged_cell():
    bottom = [None] * 4 + ["户月保障金额（元）", "分类施保金额（元）"] + [None] * 5
    top = FAMILY_HEADER[:4] + ["保障资金", None] + FAMILY_HEADER[5:]
    rows = [
        [TITLE],
        top,
        bottom,
        ["甲", "11010519491231002X", "2", "2", "800", "100", "示范县", "城关镇", "东风社区", "2025-03-05", "在保"],
    ]
    match = find_header(grid(rows), [registry()["family"]])
    assert match.header_rows == [1, 2] and match.data_start == 3
    assert "monthly_amount" in fields(match) and "classified_amount" in fields(match)
    assert "county" in fields(match) and "status" in fields(match)


@pytest.mark.parametrize(
    "written_as, instead_of, field",
    [
        ("所属区", "所属区县", "county"),
        ("保障人口", "保障人口数", "covered_persons"),
        ("保障人数", "保障人口数", "covered_persons"),
        ("户主身份证号码", "户主身份证号", "head_id"),
        ("户月保障金额 （元）", "户月保障金额（元）", "monthly_amount"),
        ("户主身份证号 *", "户主身份证号", "head_id"),
        ("户主\u200b身份证号\u00a0", "户主身份证号", "head_id"),  # a header copied from a web page
    ],
)
def test_header_variants_map_to_one_field(written_as, instead_of, field):
    header = [written_as if h == instead_of else h for h in FAMILY_HEADER]
    match = find_header(grid([header, *FAMILY_ROWS]), [registry()["family"]])
    assert field in fields(match)


def test_a_file_with_no_known_header_is_an_error():
    with pytest.raises(HeaderError, match="no header row found"):
        find_header(grid([["甲", "乙"], ["1", "2"]]), list(registry().rosters.values()))


def test_an_unmapped_required_column_names_the_file_the_header_and_the_line_to_add(tmp_path):
    header = ["户主姓名", "证件号", "家庭人口数", "保障人口数", "户月保障金额（元）"]
    match = find_header(grid([header, ["甲", "11010519491231002X", "1", "1", "500"]]), [registry()["family"]])
    with pytest.raises(HeaderError) as err:
        check_mapping(match, "2025-03/示范县低保家庭花名册.xlsx", "config/civstat.yaml")
    message = str(err.value)
    assert "2025-03/示范县低保家庭花名册.xlsx" in message
    assert "户主身份证号 (family.head_id)" in message
    assert "'证件号'" in message
    assert "header_aliases:\n  family:\n    head_id: [证件号]" in message


def test_the_suggested_line_in_the_local_configuration_makes_the_header_known(tmp_path):
    config = tmp_path / "civstat.yaml"
    config.write_text("header_aliases:\n  family:\n    head_id: [证件号]\n", encoding="utf-8")
    reg = load_registry(config)
    header = ["户主姓名", "证件号", "家庭人口数", "保障人口数", "户月保障金额（元）"]
    match = find_header(grid([header, ["甲", "11010519491231002X", "1", "1", "500"]]), [reg["family"]])
    check_mapping(match, "f.xlsx", str(config))
    assert "head_id" in fields(match)


def test_a_configuration_naming_an_unknown_field_is_refused(tmp_path):
    config = tmp_path / "civstat.yaml"
    config.write_text("header_aliases:\n  family:\n    head_idd: [证件号]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown fields"):
        load_registry(config)


def test_two_columns_claiming_one_field_is_an_error():
    header = ["户主姓名", "户主身份证号", "户主身份证号码", "保障人口数", "户月保障金额（元）"]
    match = find_header(grid([header, ["甲", "1", "2", "1", "500"]]), [registry()["family"]])
    with pytest.raises(HeaderError, match="both mean"):
        check_mapping(match, "f.csv", "config/civstat.yaml")


def test_a_weak_header_yields_to_the_column_that_surely_means_the_field():
    """补贴标准 is the amount only where no 发放金额 column is given; beside one it is the standard."""
    header = ["姓名", "身份证号", "补贴标准（元/月）", "发放金额（元）"]
    match = find_header(grid([header, ["甲", "1", "100", "150"]]), [registry()["longevity"]])
    check_mapping(match, "f.xlsx", "config/civstat.yaml")
    assert [match.labels[c] for c, f in match.columns.items() if f.name == "amount"] == ["发放金额（元）"]
    assert "补贴标准（元/月）" in match.unmapped
    alone = find_header(grid([["姓名", "身份证号", "补贴标准（元/月）"], ["甲", "1", "100"]]), [registry()["longevity"]])
    check_mapping(alone, "f.xlsx", "config/civstat.yaml")
    assert [f.name for c, f in alone.columns.items() if alone.labels[c] == "补贴标准（元/月）"] == ["amount"]


def test_a_two_row_header_is_joined_as_before_where_a_parent_cannot_begin_a_header():
    """``_combine`` looks parent+child up only where the parent can begin a known header. Checked
    against looking every pair up, on every known header cut at every place (the parent written
    with blanks, full-width letters, a unit or an asterisk as staff write them), under data cells,
    and with a combining mark that NFKC composes with the parent's last character."""
    from civstat.cleaning import headers

    def combine_every_pair(parent, child, index):  # the lookups before the guard
        filled = headers._forward_fill(parent)
        out = []
        for own_parent, spread_parent, sub in zip(parent, filled, child, strict=True):
            candidates = [sub, (spread_parent or "") + (sub or ""), own_parent if not sub else None]
            out.append(next((c for c in candidates if c and headers.normalise_header(c) in index), sub or own_parent))
        return out

    checked = 0
    for roster in registry().rosters.values():
        index = headers.alias_index(roster)
        for key in index:
            for cut in range(len(key) + 1):
                for parent in (key[:cut], f" {key[:cut]} ", key[:cut] + "（人）", key[:cut] + "*", key[:cut].upper()):
                    parent_row = [parent, "430621198001011234", None, "低保"]
                    child_row = [key[cut:] or None, "张三", key[cut:], None]
                    assert headers._combine(parent_row, child_row, index) == combine_every_pair(parent_row, child_row, index)
                    checked += 1
    assert checked > 5000
    index = headers.alias_index(registry().rosters["family"])
    # "e" + U+0301 is one character under NFKC: a parent ending in "e" may begin a header whose next character is "é"
    composed = {"户主é姓名": next(iter(index.values()))}
    for parent, child in (("户主e", "\u0301姓名"), ("户主", "é姓名"), ("户", "主é姓名")):
        assert headers._combine([parent], [child], composed) == combine_every_pair([parent], [child], composed) == [parent + child]

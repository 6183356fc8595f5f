"""Region names as rosters write them, against the register a bureau has."""

from __future__ import annotations

import polars as pl
import pytest

from civstat.cleaning.regions import RegionResolver

REGISTER = pl.DataFrame(
    {
        "division_code": [
            "990200000000",
            "990201000000",
            "990201101000",
            "990201101201",
            "990201101001",
            "990201101202",
            "990202000000",
            "990202101000",
            "990202101201",
            "990202102000",
            "990202103000",
        ],
        "division_name": [
            "云州市",
            "青川区",
            "柳河镇",
            "青山村委会",
            "青山社区居民委员会",
            "红旗村委会",
            "东湖区",
            "石桥镇",
            "红星村村民委员会",
            "城关镇",
            "城关乡",
        ],
        "urban_rural_code": [None, None, None, "220", "111", "220", None, None, "220", None, None],
    }
)


def resolve(county, township, village):
    frame = pl.DataFrame({"c": [county], "t": [township], "v": [village]}, schema={"c": pl.String, "t": pl.String, "v": pl.String})
    out = RegionResolver(REGISTER).resolve(frame, {"county": "c", "township": "t", "village": "v"})
    return out.row(0, named=True)


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("青山村", "990201101201"),  # the register says 青山村委会
        ("青山村委会", "990201101201"),
        ("青山社区", "990201101001"),  # the register says 青山社区居民委员会
        ("红旗村", "990201101202"),  # 红旗村委会: the committee goes, the 旗 of 红旗 stays
    ],
)
def test_a_village_resolves_with_or_without_its_committee_suffix(written, code):
    assert resolve("青川区", "柳河镇", written)["division_code"] == code


def test_a_village_of_a_register_that_writes_cun_twice_resolves():
    assert resolve("东湖区", "石桥镇", "红星村")["division_code"] == "990202101201"


def test_a_register_that_starts_at_the_city_resolves_counties_by_name_and_short_codes():
    assert resolve("东湖区", None, None)["division_code"] == "990202000000"
    assert resolve("东湖", None, None)["division_code"] == "990202000000"
    assert resolve("990202", "990202101", None)["division_code"] == "990202101000"


def test_a_core_name_shared_by_two_townships_is_ambiguous_but_the_full_name_is_not():
    assert resolve("东湖区", "城关镇", None)["division_code"] == "990202102000"
    got = resolve("东湖区", "城关", None)
    assert got["division_code"] is None and got["region_error"] == "ambiguous_region"


def test_urban_or_rural_comes_from_the_urban_rural_code():
    resolver = RegionResolver(REGISTER)
    codes = pl.DataFrame({"d": ["990201101201", "990201101001", "990201101000"]})
    assert codes.select(resolver.urban_rural_of(pl.col("d"))).to_series().to_list() == ["rural", "urban", None]


def test_a_resolver_that_has_seen_the_names_answers_as_a_fresh_one_whatever_the_columns_are_called():
    """Names are resolved once per resolver and remembered; a later file with the same and new
    names, under other column names, gets the answers a fresh resolver gives row by row, and the
    column a problem is reported in is that file's."""
    rows = [
        ("青川区", "柳河镇", "青山村"),
        ("青川区", "柳河镇", "不存在村"),
        ("东湖区", "城关", None),
        (None, None, None),
        ("990202", "990202101", None),
    ]
    later = [*rows[:3], ("东湖区", "石桥镇", "红星村"), ("青川区", "柳河", "红旗村"), ("青川区", "柳河镇", "又一个村")]
    resolver = RegionResolver(REGISTER)
    first = pl.DataFrame(rows, schema=["c", "t", "v"], orient="row")
    resolver.resolve(first, {"county": "c", "township": "t", "village": "v"})
    second = pl.DataFrame(later, schema=["县", "乡", "村"], orient="row")
    got = resolver.resolve(second, {"county": "县", "township": "乡", "village": "村"})
    want = [resolve(*row) for row in later]
    assert got.select("division_code", "region_error").rows() == [(w["division_code"], w["region_error"]) for w in want]
    renamed = {"c": "县", "t": "乡", "v": "村", None: None}
    assert got["region_error_column"].to_list() == [renamed[w["region_error_column"]] for w in want]
    assert got["region_error_column"].to_list()[1] == "村" and got["region_error"].to_list()[2] == "ambiguous_region"

"""The Great Expectations runner (GX's SQL engine over DuckDB): every failing expectation is reported
with its row count and examples, however GX orders its results; the counts are those of the
expectations' definitions on the same rows; identity columns' values never reach a failure or the
Data Docs."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl

from civstat.quality import suites
from civstat.quality.run import NOT_SHOWN, REGISTER_CHECK, Validator, validate_clean
from civstat.settings import Paths


def validate_frame(spec: dict, frame: pl.DataFrame, tmp_path: Path) -> object:
    """The suite on the frame, as a table of a DuckDB file."""
    database = tmp_path / "frame.duckdb"
    with duckdb.connect(str(database)) as con:
        con.register("frame", frame.to_arrow())
        con.execute("create or replace table t as select * from frame")
    with Validator(None) as validator:
        return validator.validate(spec, database, "t")


def test_each_failing_expectation_is_reported_with_its_rows_and_examples(tmp_path):
    frame = pl.DataFrame(
        {
            "amount": [1.0, 2.0, None, 4.0],
            "code": ["a", "b", "zz", "a"],
            "birth_date": [dt.date(2020, 1, 1), dt.date(1890, 1, 1), dt.date(1800, 1, 1), None],
            "n": [1, 1, 2, 2],
        }
    )
    spec = {
        "name": "mixed",
        "meta": {"asset": ["clean", "mixed"], "blocking": True},
        "expectations": [
            suites.expectation("expect_column_values_to_match_regex", column="code", regex="^[a-z]$"),
            suites.expectation("expect_column_values_to_not_be_null", column="amount"),
            suites.expectation("expect_column_values_to_be_between", column="amount", min_value=0, max_value=3),
            suites.expectation("expect_column_values_to_be_between", column="birth_date", min_value="1890-01-01"),
            suites.expectation("expect_column_values_to_be_in_set", column="code", value_set=["a", "b", "zz"]),
            suites.expectation("expect_compound_columns_to_be_unique", column_list=["code", "n"]),
            suites.expectation("expect_table_columns_to_match_ordered_list", column_list=["amount", "code", "birth_date", "n"]),
        ],
    }
    result = validate_frame(spec, frame, tmp_path)
    assert not result.success and result.evaluated == 7 and result.rows == 4
    failed = {(f.expectation, f.column): (f.unexpected, f.examples) for f in result.failures}
    assert set(failed) == {
        ("expect_column_values_to_match_regex", "code"),
        ("expect_column_values_to_not_be_null", "amount"),
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_values_to_be_between", "birth_date"),
    }
    assert failed[("expect_column_values_to_match_regex", "code")] == (1, ["zz"])
    assert failed[("expect_column_values_to_be_between", "amount")] == (1, [4.0])
    assert failed[("expect_column_values_to_be_between", "birth_date")] == (1, [dt.date(1800, 1, 1)])


def test_a_clean_frame_passes_every_expectation(tmp_path):
    frame = pl.DataFrame({"code": ["a", "b"], "n": [1, 1], "birth_date": [dt.date(1890, 1, 1), dt.date(2024, 2, 29)]})
    spec = {
        "name": "fine",
        "meta": {"asset": ["clean", "fine"]},
        "expectations": [
            suites.expectation("expect_column_values_to_match_regex", column="code", regex="^[a-z]$"),
            suites.expectation("expect_column_values_to_be_between", column="birth_date", min_value="1890-01-01", max_value="2024-02-29"),
            suites.expectation("expect_compound_columns_to_be_unique", column_list=["code", "n"]),
        ],
    }
    result = validate_frame(spec, frame, tmp_path)
    assert result.success and result.failures == [] and result.evaluated == 3


def test_rows_that_differ_only_by_empty_key_columns_are_duplicates(tmp_path):
    """NULLs in a compound key are equal (as pandas' duplicated, GX's engine before, had it): GX's own
    SQL join would drop such rows and see no duplicate."""
    frame = pl.DataFrame({"k": ["a", "a", "b", "b", "c"], "month": [None, None, dt.date(2025, 1, 1), dt.date(2025, 1, 1), None]})
    spec = {
        "name": "keys",
        "meta": {},
        "expectations": [suites.expectation("expect_compound_columns_to_be_unique", column_list=["k", "month"])],
    }
    [failure] = validate_frame(spec, frame, tmp_path).failures
    assert failure.unexpected == 4


def test_a_person_on_a_list_twice_passes_where_that_is_the_world_and_fails_where_it_is_not(tmp_path):
    """Two vehicles or two businesses of one person, one person paid by two employers, one death on
    the police's and the funeral home's lists: rows of the world, not broken keys. The same person
    twice on one death list, or one row written twice, is."""
    from civstat.registry import registry

    reg = registry()
    key = "0123456789abcdef0123456789abcdef"
    for roster, files, rows, fine, sheets in [
        ("vehicle", ["a.xlsx", "a.xlsx"], [3, 4], True, None),
        ("business", ["b.csv", "b.csv"], [3, 4], True, None),
        ("public_employee", ["c.xlsx", "c.xlsx"], [3, 4], True, None),
        ("public_employee", ["c.xlsx", "c.xlsx"], [3, 3], False, None),
        ("death", ["police.xlsx", "funeral.csv"], [3, 3], True, None),
        ("death", ["police.xlsx", "police.xlsx"], [3, 4], False, None),
        ("vehicle", ["a.xlsx", "a.xlsx"], [3, 3], False, None),
        # a workbook of several sheets numbers each sheet's rows: row 3 of two sheets is two rows
        ("vehicle", ["a.xlsx", "a.xlsx"], [3, 3], True, ["城关镇", "河口乡"]),
        ("vehicle", ["a.xlsx", "a.xlsx"], [3, 3], False, ["城关镇", "城关镇"]),
    ]:
        schema = reg[roster].clean_schema()
        given = {"period": [dt.date(2025, 12, 1)] * 2, "person_key": [key] * 2, "source_file": files, "source_row": rows}
        given["source_sheet"] = sheets or [None, None]
        frame = pl.DataFrame(given, schema_overrides={"source_sheet": pl.String}).select(
            pl.col(c).cast(t) if c in given else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()
        )
        result = validate_frame(suites.clean_suite(roster, reg), frame, tmp_path)
        unique = [f for f in result.failures if f.expectation == "expect_compound_columns_to_be_unique"]
        assert (not unique) == fine, (roster, files, rows, [(f.expectation, f.column) for f in result.failures])
        assert not [f for f in result.failures if f.column == "source_sheet"]  # null in a file of one table


def test_a_clean_column_of_the_wrong_type_fails_the_generated_suite(tmp_path):
    from civstat.registry import registry

    schema = registry()["death"].clean_schema()
    spec = suites.clean_suite("death", registry())
    right = pl.DataFrame(schema=schema)
    assert validate_frame(spec, right, tmp_path).success
    date_column = next(name for name, dtype in schema.items() if dtype == pl.Date and name != "period")
    wrong = right.with_columns(pl.col(date_column).cast(pl.String))
    result = validate_frame(spec, wrong, tmp_path)
    assert [(f.expectation, f.column) for f in result.failures] == [("expect_column_values_to_be_of_type", date_column)]


def test_the_clean_suites_pass_on_ingested_data_and_catch_an_unknown_division_code(tiny_ingested, tmp_path):
    results = validate_clean(Paths.from_env(tiny_ingested), rosters=["family", "death"], docs_dir=tmp_path / "docs")
    assert [r.success for r in results] == [True, True] and (tmp_path / "docs" / "index.html").exists()
    assert all(r.rows > 0 for r in results)

    copy = tmp_path / "data"
    shutil.copytree(tiny_ingested / "clean", copy / "clean")
    target = sorted((copy / "clean" / "family").glob("period=*/*.parquet"))[0]
    frame = pl.read_parquet(target)
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("990199999999")).otherwise(pl.col("division_code")).alias("division_code")
    ).write_parquet(target)
    [family] = validate_clean(Paths.from_env(copy), rosters=["family"])
    assert not family.success
    assert [(f.column, f.unexpected, f.examples) for f in family.failures] == [("division_code_not_in_register", 1, ["990199999999"])]


def _unexpected(expectation: dict, table: pl.DataFrame) -> int:
    """How many rows break a row expectation, by its definition, computed here with Polars."""
    kwargs = expectation["kwargs"]
    kind = expectation["type"]
    if kind == "expect_compound_columns_to_be_unique":
        return int(table.select(pl.struct(kwargs["column_list"]).is_duplicated()).to_series().sum())
    if kind == "expect_table_row_count_to_equal":
        return 0 if table.height == kwargs["value"] else -1
    column = table[kwargs["column"]]
    if kind == "expect_column_values_to_not_be_null":
        return column.null_count()
    present = column.drop_nulls()
    if kind == "expect_column_values_to_match_regex":
        return int((~present.str.contains(kwargs["regex"])).sum())
    if kind == "expect_column_values_to_be_in_set":
        return int((~present.is_in(kwargs["value_set"])).sum())
    if kind == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if present.dtype == pl.Date:
            low, high = (None if v is None else dt.date.fromisoformat(v) for v in (low, high))
        outside = pl.Series([False] * len(present))
        if low is not None:
            outside = outside | (present < low)
        if high is not None:
            outside = outside | (present > high)
        return int(outside.sum())
    raise AssertionError(f"no reference for {kind}")


UNMASKED = "11010519491231002X"  # invented, of a 身份证号's shape


def break_a_longevity_file(data: Path, copy: Path) -> str:
    """A copy of the data directory's clean tables with the first longevity file broken: its first
    row listed twice (with an empty payment month), an empty person key, an unmasked ID number, a
    division code not of 12 digits and a sex outside the enumeration. Returns the ID number."""
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("raw", "warehouse", "marts", "quality"))
    [target, *_] = sorted((copy / "clean" / "longevity").glob("period=*/*.parquet"))
    frame = pl.read_parquet(target)
    assert frame.height >= 5
    row = pl.int_range(pl.len())
    broken = frame.with_columns(
        person_key=pl.when(row == 1).then(None).otherwise(pl.col("person_key")),
        person_id_masked=pl.when(row == 2).then(pl.lit(UNMASKED)).otherwise(pl.col("person_id_masked")),
        division_code=pl.when(row == 3).then(pl.lit("1101051")).otherwise(pl.col("division_code")),
        sex=pl.when(row == 4).then(pl.lit("unknown")).otherwise(pl.col("sex")),
        paid_month=pl.when(row == 0).then(None).otherwise(pl.col("paid_month")),
    )
    pl.concat([broken, broken.head(1)]).write_parquet(target)
    return UNMASKED


def test_a_broken_clean_table_fails_each_expectation_it_breaks_with_its_count(tiny_ingested, tmp_path):
    """Longevity payments with a duplicated key (a row listed twice, with an empty payment month:
    also the ledger's row count is wrong), an empty key, an unmasked ID number, a division code not
    of 12 digits and a sex outside the enumeration: each fails its expectation with the number of
    rows the expectation's definition gives on the same rows, and the ID number is nowhere."""
    copy = tmp_path / "data"
    unmasked = break_a_longevity_file(tiny_ingested, copy)

    docs = tmp_path / "docs"
    [result] = validate_clean(Paths.from_env(copy), rosters=["longevity"], docs_dir=docs)
    table = pl.read_parquet(sorted((copy / "clean" / "longevity").glob("period=*/*.parquet")))
    assert not result.success and result.rows == table.height

    spec = suites.load(suites.CLEAN_DIR / "longevity.json")
    expected = {
        (e["type"], e["kwargs"].get("column")): _unexpected(e, table) for e in spec["expectations"] if e["type"] not in suites.SCHEMA_ONLY
    }
    made = {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_not_be_null", "person_key"),
        ("expect_column_values_to_match_regex", "person_id_masked"),
        ("expect_column_values_to_match_regex", "division_code"),
        ("expect_column_values_to_be_in_set", "sex"),
    }
    assert {key for key, n in expected.items() if n} == made  # the reference sees just the breaks made
    failed = {(f.expectation, f.column): f for f in result.failures}
    assert set(failed) == made | {("expect_table_row_count_to_equal", None), ("expect_column_values_to_be_null", REGISTER_CHECK)}
    for key in made:
        assert failed[key].unexpected == expected[key], key
    assert (
        expected[("expect_compound_columns_to_be_unique", None)] == 2
        and expected[("expect_column_values_to_not_be_null", "person_key")] == 1
    )
    assert failed[("expect_column_values_to_be_null", REGISTER_CHECK)].unexpected == 1
    assert failed[("expect_column_values_to_be_in_set", "sex")].examples == ["unknown"]
    assert failed[("expect_column_values_to_match_regex", "division_code")].examples == ["1101051"]
    assert failed[("expect_column_values_to_match_regex", "person_id_masked")].examples == []  # an identity column: counted only
    duplicates = failed[("expect_compound_columns_to_be_unique", None)].examples
    assert len(duplicates) == 2 and duplicates[0]["paid_month"] is None and len(duplicates[0]["person_key"]) == 32
    assert isinstance(duplicates[0]["period"], dt.date)  # the file's own column, not its period= folder
    assert failed[("expect_table_row_count_to_equal", None)].unexpected is None

    shown = " ".join(str(f.examples) for f in result.failures) + " ".join(p.read_text(encoding="utf-8") for p in docs.rglob("*.html"))
    assert unmasked not in shown and "person_id_masked" in shown


def test_every_type_the_clean_suites_name_has_its_name_on_spark():
    from civstat.quality.spark import SPARK_TYPES

    assert set(suites.SQL_TYPES.values()) <= SPARK_TYPES.keys()


def test_an_identity_value_of_the_wrong_shape_is_not_shown():
    from civstat.quality.run import _example

    assert _example("person_key", "a" * 32) == "a" * 32
    assert _example("person_key", "张三") == NOT_SHOWN
    assert _example("head_id_masked", "110105********002X") == "110105********002X"
    assert _example("head_id_masked", "11010519491231002X") == NOT_SHOWN
    assert _example("institution_name", "编号11010519491231002X") == "编号110105********002X"
    assert _example(None, {"period": dt.date(2025, 1, 1), "person_key": "11010519491231002X"}) == {
        "period": dt.date(2025, 1, 1),
        "person_key": NOT_SHOWN,
    }


def test_a_mart_row_out_of_range_fails_its_suite_in_the_build_file(tmp_path):
    """The mart suites read the build's DuckDB file itself: a share above 1 and more nursing beds
    than beds each fail, with their rows."""
    from civstat.quality.run import validate_marts

    ok = {
        "division_code": "110101000000",
        "nursing_bed_share": 0.5,
        "occupancy_rate": 0.8,
        "beds_per_1000_aged_60_plus_hukou": 30.0,
        "beds_per_1000_aged_60_plus_resident": 28.0,
        "institution_beds": 100,
        "nursing_beds": 50,
        "residents": 80,
    }
    mart = pl.DataFrame([ok, {**ok, "nursing_bed_share": 1.5}, {**ok, "nursing_beds": 120}, {**ok, "division_code": None}])
    database = tmp_path / "build.duckdb"
    with duckdb.connect(str(database)) as con:
        con.register("mart", mart.to_arrow())
        con.execute("create table elderly_care_beds as select * from mart")
    [result] = validate_marts(database, tables=["elderly_care_beds"])
    assert not result.success and result.rows == 4
    failed = {(f.expectation, f.column): f.unexpected for f in result.failures}
    assert failed == {
        ("expect_column_values_to_be_between", "nursing_bed_share"): 1,
        ("expect_column_pair_values_a_to_be_greater_than_b", None): 1,
        ("expect_column_values_to_not_be_null", "division_code"): 1,
    }

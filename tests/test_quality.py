"""The Great Expectations runner: every failing expectation is reported with its row count and
examples, however GX orders its results, and dates are checked against ISO bounds."""

from __future__ import annotations

import datetime as dt

import polars as pl

from civstat.quality import suites
from civstat.quality.run import Validator


def test_each_failing_expectation_is_reported_with_its_rows_and_examples():
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
            suites.expectation("expect_column_values_to_be_between", column="birth_date", min_value="1890-01-01T00:00:00"),
            suites.expectation("expect_column_values_to_be_in_set", column="code", value_set=["a", "b", "zz"]),
            suites.expectation("expect_compound_columns_to_be_unique", column_list=["code", "n"]),
            suites.expectation("expect_table_columns_to_match_ordered_list", column_list=["amount", "code", "birth_date", "n"]),
        ],
    }
    result = Validator(None).validate(spec, frame)
    assert not result.success and result.evaluated == 7 and result.rows == 4
    failed = {(f.expectation, f.column): (f.unexpected, f.examples) for f in result.failures}
    assert set(failed) == {
        ("expect_column_values_to_match_regex", "code"),
        ("expect_column_values_to_not_be_null", "amount"),
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_values_to_be_between", "birth_date"),
    }
    assert failed[("expect_column_values_to_match_regex", "code")] == (1, ["zz"])
    assert failed[("expect_column_values_to_be_between", "amount")][0] == 1
    assert failed[("expect_column_values_to_be_between", "birth_date")][0] == 1


def test_a_clean_frame_passes_every_expectation():
    frame = pl.DataFrame({"code": ["a", "b"], "n": [1, 1], "birth_date": [dt.date(1890, 1, 1), dt.date(2024, 2, 29)]})
    spec = {
        "name": "fine",
        "meta": {"asset": ["clean", "fine"]},
        "expectations": [
            suites.expectation("expect_column_values_to_match_regex", column="code", regex="^[a-z]$"),
            suites.expectation("expect_column_values_to_be_between", column="birth_date", min_value="1890-01-01T00:00:00"),
            suites.expectation("expect_compound_columns_to_be_unique", column_list=["code", "n"]),
        ],
    }
    result = Validator(None).validate(spec, frame)
    assert result.success and result.failures == [] and result.evaluated == 3


def test_a_clean_column_of_the_wrong_type_fails_the_generated_suite():
    from civstat.registry import registry

    schema = registry()["death"].clean_schema()
    spec = suites.clean_suite("death", registry())
    right = pl.DataFrame(schema=schema)
    assert Validator(None).validate(spec, right).success
    date_column = next(name for name, dtype in schema.items() if dtype == pl.Date and name != "period")
    wrong = right.with_columns(pl.col(date_column).cast(pl.String))
    result = Validator(None).validate(spec, wrong)
    assert [(f.expectation, f.column) for f in result.failures] == [("expect_column_values_to_be_of_type", date_column)]


def test_the_clean_suites_pass_on_ingested_data_and_catch_an_unknown_division_code(tiny_ingested, tmp_path):
    import shutil

    from civstat.quality.run import validate_clean
    from civstat.settings import Paths

    results = validate_clean(Paths.from_env(tiny_ingested), rosters=["family", "death"], docs_dir=tmp_path / "docs")
    assert [r.success for r in results] == [True, True] and (tmp_path / "docs" / "index.html").exists()

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

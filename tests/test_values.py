"""Every date, amount and number format of DOMAIN.md section 7."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from civstat.cleaning import values


def parse(fn, raw: list[str | None]) -> list:
    frame = pl.DataFrame({"raw": raw}, schema={"raw": pl.String})
    return frame.select(fn(values.normalise_text(pl.col("raw"))).alias("v"))["v"].to_list()


@pytest.mark.parametrize(
    "raw",
    [
        "2021-03-05",
        "2021/3/5",
        "2021年3月5日",
        "20210305",
        "44260",
        "44260.0",
        "2021-03-05 00:00:00",
        "2021.3.5",
        "２０２１－０３－０５",
        "'2021-03-05",
        " 2021-3-5 ",
    ],
)
def test_every_date_format_means_the_same_day(raw):
    assert parse(values.parse_date, [raw]) == [dt.date(2021, 3, 5)]


@pytest.mark.parametrize("raw", ["202103", "2021-03", "2021年3月", "2021/3"])
def test_a_month_is_its_first_day(raw):
    assert parse(values.parse_date, [raw]) == [dt.date(2021, 3, 1)]


@pytest.mark.parametrize("raw", ["2021-02-30", "abc", "2021", "13/45/2021", "待核实"])
def test_impossible_dates_are_unparsed_not_guessed(raw):
    assert parse(values.parse_date, [raw]) == [None]


@pytest.mark.parametrize(
    "raw, amount",
    [
        ("1234.5", 1234.5),
        ("1,234.50", 1234.5),
        ("1234元", 1234.0),
        ("1,234.50元", 1234.5),
        ("￥12", 12.0),
        ("１２３元", 123.0),
        ("'880", 880.0),
        ("0", 0.0),
        ("12.346", 12.35),
    ],
)
def test_amounts_with_yuan_and_thousands_separators(raw, amount):
    assert parse(values.parse_amount, [raw]) == [amount]


@pytest.mark.parametrize("raw", ["待核实", "1.2.3", "元", "12,3a"])
def test_unreadable_amounts_are_unparsed(raw):
    assert parse(values.parse_amount, [raw]) == [None]


@pytest.mark.parametrize("raw, number", [("3", 3), ("3.0", 3), ("3人", 3), ("1,200张", 1200), ("３", 3)])
def test_integers_as_excel_and_people_write_them(raw, number):
    assert parse(values.parse_int, [raw]) == [number]


def test_a_fraction_is_not_an_integer():
    assert parse(values.parse_int, ["3.5"]) == [None]


def test_empty_and_blank_cells_are_null_not_errors():
    assert parse(values.parse_date, ["", "   ", None]) == [None, None, None]
    frame = pl.DataFrame({"raw": ["", " "]})
    text = frame.select(values.normalise_text(pl.col("raw")).alias("t"))["t"]
    assert values.is_unparsed is not None and text.to_list() == [None, None]


def test_a_monthly_amount_may_say_it_is_monthly_and_no_other_amount_may():
    cells = ["980元/月", "980元每月", "￥1,140.00元/月", "980/人·月", "8400元/年", "980元/月/年", "980"]
    assert parse(lambda t: values.parse_amount(t, "month"), cells) == [980.0, 980.0, 1140.0, 980.0, None, None, 980.0]
    assert parse(values.parse_amount, cells) == [None, None, None, None, None, None, 980.0]  # an annual income, a one-off case


def test_a_cell_written_as_an_excel_text_formula_is_its_text():
    """="110105…" is how many systems write a CSV cell Excel must not read as a number."""
    frame = pl.DataFrame({"raw": ['="11010519491231002X"', '＝"0012"', ' ="2025-03-05" ', '=""', "=SUM(A1)", 'a="b"']})
    text = frame.select(values.normalise_text(pl.col("raw")))["raw"].to_list()
    assert text == ["11010519491231002X", "0012", "2025-03-05", None, "=SUM(A1)", 'a="b"']
    assert values.normalise_column(frame["raw"]).to_list() == text


DATE_WRITERS = [
    lambda d: d.isoformat(),
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: d.strftime("%Y%m%d"),
    lambda d: str((d - dt.date(1899, 12, 30)).days),
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: d.isoformat() + " 00:00:00",
]


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2099, 12, 31)), st.sampled_from(DATE_WRITERS))
def test_any_date_written_any_way_parses_back(day, writer):
    written = writer(day)
    assume(not re.fullmatch(r"(19|20)\d{2}", written))  # a serial that reads as a year: see below
    assert parse(values.parse_date, [written]) == [day]


def test_a_bare_four_digit_year_is_not_taken_for_an_excel_serial():
    # Serials 1900-2099 (1905-03-14 .. 1905-09-20) look exactly like a year; a bare year is not a
    # date, so it stays unparsed (the row is quarantined with its reason) rather than becoming 1905.
    assert parse(values.parse_date, ["1918", "2021"]) == [None, None]
    assert parse(values.parse_date, ["1899", "2100"]) == [dt.date(1905, 3, 13), dt.date(1905, 9, 30)]


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(["{:.2f}", "{:,.2f}", "{:.2f}元", "{:,.2f}元", "￥{:.2f}"]),
)
def test_any_amount_written_any_way_parses_back(amount, pattern):
    assert parse(values.parse_amount, [pattern.format(amount)]) == [float(amount)]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_parsers_never_raise_on_arbitrary_text(raw):
    for fn in (values.parse_date, values.parse_amount, values.parse_int, values.parse_bool):
        parse(fn, [raw])


def test_credit_code_check_character():
    ok = pl.DataFrame({"c": ["91350100M000100Y43", "91350100M000100Y4X", "91350100M000100Y4"]})
    assert ok.select(values.valid_credit_code(pl.col("c")))[:, 0].to_list() == [True, False, False]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(
                alphabet=st.sampled_from(
                    list("0123456789Xx-./ '`‘年月日张三、。=\"") + ["\u3000", "\t", "\n", "Ａ", "１", "\u00a0", "﹒", "Ⅻ", "＝"]
                ),
                max_size=8,
            ),
            st.text(max_size=6),
        ),
        max_size=30,
    )
)
def test_normalising_only_the_cells_that_may_change_gives_what_normalising_every_cell_gives(cells):
    column = pl.Series("c", cells, dtype=pl.String)
    every = column.to_frame().select(values.normalise_text(pl.col("c"))).to_series()
    assert values.normalise_column(column).to_list() == every.to_list()
    assert column.to_list() == cells  # the column given is not changed


# The number and word parsers convert most cells as they are and clean up only the others; these
# are the parsers as written before that (every cell cleaned up), which the fast forms must equal.
def _amount_everywhere(text: pl.Expr) -> pl.Expr:
    cleaned = text.str.replace_all(r"[,，\s元¥￥]|RMB|人民币", "")
    return pl.when(cleaned.str.contains(r"^-?\d+(\.\d+)?$")).then(cleaned.cast(pl.Float64, strict=False).round(2))


def _int_everywhere(text: pl.Expr) -> pl.Expr:
    cleaned = text.str.replace_all(r"[,，\s人张户个]", "")
    return pl.when(cleaned.str.contains(r"^-?\d+(\.0+)?$")).then(cleaned.cast(pl.Float64, strict=False)).cast(pl.Int64, strict=False)


WORDS = {"一级": "1", "二级": "2", "Ⅰ级": "1", "男": "M", "女": "F", "城市": "urban"}


def _enum_everywhere(text: pl.Expr) -> pl.Expr:
    return values.value_key(text).replace_strict(WORDS, default=None, return_dtype=pl.String)


def _coded_int_everywhere(text: pl.Expr) -> pl.Expr:
    return pl.coalesce(_enum_everywhere(text).cast(pl.Int64, strict=False), _int_everywhere(text))


NUMBERISH = list("0123456789-.,，元¥￥人张户个 ·X") + ["RMB", "人民币", "一级", "Ⅰ级", "男", "女", "城市", "1e5", "inf", "+"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.sampled_from(NUMBERISH), max_size=6).map("".join), st.text(max_size=5)), max_size=30))
def test_parsers_that_convert_plain_cells_as_they_are_equal_the_parsers_that_clean_every_cell(cells):
    frame = pl.DataFrame({"c": cells}, schema={"c": pl.String}).select(values.normalise_text(pl.col("c")))
    pairs = [
        (values.parse_amount(pl.col("c")), _amount_everywhere(pl.col("c"))),
        (values.parse_int(pl.col("c")), _int_everywhere(pl.col("c"))),
        (values.parse_enum(pl.col("c"), WORDS), _enum_everywhere(pl.col("c"))),
        (values.parse_coded_int(pl.col("c"), WORDS), _coded_int_everywhere(pl.col("c"))),
    ]
    for fast, everywhere in pairs:
        assert frame.select(fast).to_series().to_list() == frame.select(everywhere).to_series().to_list()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([None, "a", "b", "张三"]), st.sampled_from([None, "1", "2"]), st.integers(0, 2)), max_size=40))
def test_the_first_equal_row_is_the_first_row_with_the_same_cells(rows):
    from civstat.cleaning.clean import _first_equal_row

    frame = pl.DataFrame(
        {"x": [r[0] for r in rows], "y": [r[1] for r in rows], "_file": [r[2] for r in rows], "_row": list(range(3, 3 + len(rows)))},
        schema={"x": pl.String, "y": pl.String, "_file": pl.Int32, "_row": pl.Int64},
    )
    grouped = frame.select(pl.col("_row").first().over(["x", "y", "_file"])).to_series()
    assert _first_equal_row(frame, ["x", "y", "_file"]).to_list() == grouped.to_list()
    assert frame["_row"].to_list() == list(range(3, 3 + len(rows)))  # the frame's column is not changed


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(
                st.integers(0, 9999),
                st.integers(0, 99),
                st.integers(0, 99),
                st.sampled_from(["{:04d}-{:02d}-{:02d}", "{:04d}{:02d}{:02d}", "{}/{}/{}", "{}年{}月{}日"]),
            ).map(lambda t: t[3].format(*t[:3])),
            st.text(alphabet=st.sampled_from(list("0123456789-/.年月日 :")), max_size=12),
        ),
        max_size=25,
    )
)
def test_dates_read_by_their_one_format_are_the_dates_the_general_parse_gives(cells):
    # the lookup reads 2021-03-05 and 20210305 by one format each and parses the other texts; the
    # general parse (``parse_date_series``) reads every cell one way
    column = pl.Series("t_day", cells, dtype=pl.String)
    looked_up = column.to_frame().select(values.DateLookup([column]).parse(pl.col("t_day"))).to_series()
    assert looked_up.cast(pl.String).to_list() == values.parse_date_series(column).cast(pl.String).to_list()


def test_invisible_characters_copied_from_a_web_page_are_taken_out_of_every_cell():
    """Zero-width spaces, joiners, a BOM or a soft hyphen inside an ID, an amount or a name show
    nothing and mean nothing: the cell is read as if they were not there (a no-break space is a space)."""
    from civstat.cleaning.identity import normalise_id_text
    from civstat.cleaning.values import normalise_column

    cells = pl.Series(["1\u200b500.00", "2500.00\u00a0", "杜\u200c春生", "\ufeff在保", "99\u00ad0912", "\u2060", "\u200e720\u202c"])
    assert normalise_column(cells).to_list() == ["1500.00", "2500.00", "杜春生", "在保", "990912", None, "720"]
    ids = pl.Series(["990912\u200b19851019482x", "990912196803140113\u00a0"]).to_frame("i")
    assert ids.select(normalise_id_text(pl.col("i"))).to_series().to_list() == ["99091219851019482X", "990912196803140113"]

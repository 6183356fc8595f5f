"""One parser for the periods users type."""

from __future__ import annotations

import pytest

from civstat.periods import PeriodError, parse_month, parse_period


@pytest.mark.parametrize(
    ("written", "period"),
    [
        ("2025-03", "2025-03"),
        ("2025-3", "2025-03"),
        ("202503", "2025-03"),
        ("2025年3月", "2025-03"),
        ("2025/03", "2025-03"),
        ("2025", "2025"),
        ("2025年", "2025"),
        ("2015-12", "2015-12"),
    ],
)
def test_a_period_written_any_accepted_way_reads_as_one(written, period):
    assert parse_period(written) == period


@pytest.mark.parametrize("written", ["2025-13", "2025-0", "foo", "25-03", "2025-03-01", ""])
def test_anything_else_is_refused_saying_what_was_given_and_what_is_accepted(written):
    with pytest.raises(PeriodError) as error:
        parse_period(written)
    assert f"'{written}'" in str(error.value)


def test_a_month_is_wanted_where_a_year_is_given():
    with pytest.raises(PeriodError, match="is a year"):
        parse_month("2025")

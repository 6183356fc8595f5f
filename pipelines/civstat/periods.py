"""Periods: a month (YYYY-MM, monthly rosters and partitions) or a year (YYYY, annual registers).

One parser for what users type: 2025-03, 2025-3, 202503, 2025年3月, 2025/03 are the month 2025-03;
2025 and 2025年 are the year 2025. Anything else is refused with what was given and what is accepted.
"""

from __future__ import annotations

import re

ACCEPTED = "YYYY-MM (2025-03, also 2025-3, 202503, 2025年3月) or YYYY (2025)"


class PeriodError(ValueError):
    """A period that cannot be read; the message says what was given and what is accepted."""


def parse_month(text: str) -> str:
    """'2025-3' -> '2025-03'; refuses a year or anything else."""
    period = parse_period(text)
    if len(period) != 7:
        raise PeriodError(f"'{text}' is a year; a month is wanted: {ACCEPTED.split(' or ')[0]}")
    return period


def parse_period(text: str) -> str:
    """A month as 'YYYY-MM' or a year as 'YYYY'."""
    t = str(text).strip()
    if m := re.fullmatch(r"(\d{4})\s*年?", t):
        year, month = m.group(1), None
    elif m := re.fullmatch(r"(\d{4})(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))", t):
        year, month = m.group(1), m.group(2) or m.group(3)
    else:
        raise PeriodError(f"'{text}' is not a period: give {ACCEPTED}")
    if not 1900 <= int(year) <= 2100:
        raise PeriodError(f"'{text}': the year {year} is out of range (1900-2100)")
    if month is None:
        return year
    if not 1 <= int(month) <= 12:
        raise PeriodError(f"'{text}': there is no month {int(month)}; give {ACCEPTED}")
    return f"{year}-{int(month):02d}"

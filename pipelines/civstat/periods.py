"""Periods: a month (monthly rosters, Dagster partitions) or a year (annual registers).

One value type, ``Period``, and one parser for everything that names a period: what users type
(2025-03, 2025-3, 202503, 2025年3月, 2025/03 are the month 2025-03; 2025 and 2025年 the year 2025),
the folders under data/raw (``2025-03/``, ``2025/``), Dagster's partition keys (``2025-03``) and the
months named in file names (``农村低保家庭查询_20241231.xlsx``). Anything else is refused with what
was given and what is accepted. No other module parses a period.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

ACCEPTED = "YYYY-MM (2025-03, also 2025-3, 202503, 2025年3月) or YYYY (2025)"
_YEAR = re.compile(r"(\d{4})\s*年?")
_MONTH = re.compile(r"(\d{4})(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))")
_FOLDER = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")
# months in file names: 20241231 / 202412 / 2024年12月 / 2024-12, else a year alone
_NAME_DATE = re.compile(r"(?<!\d)(19|20)(\d{2})(0[1-9]|1[0-2])(\d{2})?(?!\d)")
_NAME_MONTH = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*[年.\-/]\s*(\d{1,2})(?:\s*月|(?!\d))")
_NAME_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


class PeriodError(ValueError):
    """A period that cannot be read; the message says what was given and what is accepted."""


@dataclass(frozen=True)
class Period:
    """A month (``month`` set) or a whole year (``month`` None). A year sorts before its months."""

    year: int
    month: int | None = None

    def __lt__(self, other: Period) -> bool:
        return (self.year, self.month or 0) < (other.year, other.month or 0)

    @classmethod
    def parse(cls, text: str) -> Period:
        t = str(text).strip()
        if m := _YEAR.fullmatch(t):
            year, month = m.group(1), None
        elif m := _MONTH.fullmatch(t):
            year, month = m.group(1), m.group(2) or m.group(3)
        else:
            raise PeriodError(f"期间写法无法识别 / '{text}' is not a period: give {ACCEPTED}")
        if not 1900 <= int(year) <= 2100:
            raise PeriodError(f"'{text}': the year {year} is out of range (1900-2100)")
        if month is not None and not 1 <= int(month) <= 12:
            raise PeriodError(f"月份不存在 / '{text}': there is no month {int(month)}; give {ACCEPTED}")
        return cls(int(year), None if month is None else int(month))

    @classmethod
    def of_folder(cls, name: str) -> Period | None:
        """The period a folder under data/raw stands for (``2025-03``, ``2025``), else None."""
        return cls.parse(name) if _FOLDER.fullmatch(name) else None

    @classmethod
    def in_name(cls, name: str) -> Period | None:
        """The month (or year) a file name names, if any: …_20241231.xlsx -> 2024-12."""
        if m := _NAME_DATE.search(name):
            return cls(int(m.group(1) + m.group(2)), int(m.group(3)))
        if (m := _NAME_MONTH.search(name)) and 1 <= int(m.group(2)) <= 12:
            return cls(int(m.group(1)), int(m.group(2)))
        if m := _NAME_YEAR.search(name):
            return cls(int(m.group(1)))
        return None

    @property
    def is_month(self) -> bool:
        return self.month is not None

    @property
    def key(self) -> str:
        """'2025-03' (a month: the folder name and the Dagster partition key) or '2025' (a year)."""
        return f"{self.year}-{self.month:02d}" if self.is_month else str(self.year)

    partition_key = key

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month or 1, 1)

    @property
    def reference_date(self) -> dt.date:
        """The last day: ages and 'not after the period' are judged on it."""
        if not self.is_month:
            return dt.date(self.year, 12, 31)
        return dt.date(self.year + self.month // 12, self.month % 12 + 1, 1) - dt.timedelta(days=1)

    @property
    def year_period(self) -> Period:
        return Period(self.year)

    def months(self) -> list[Period]:
        return [self] if self.is_month else [Period(self.year, m) for m in range(1, 13)]

    def contains(self, other: Period) -> bool:
        return self == other or (not self.is_month and other.year == self.year)

    def __str__(self) -> str:
        return self.key


def with_their_years(keys) -> set[str]:
    """Period keys and the years they fall in: a month's run also takes its year's registers."""
    keys = list(keys)
    return set(keys) | {Period.parse(k).year_period.key for k in keys}


def parse_period(text: str) -> str:
    """A month as 'YYYY-MM' or a year as 'YYYY'."""
    return Period.parse(text).key


def parse_month(text: str) -> str:
    """'2025-3' -> '2025-03'; refuses a year or anything else."""
    period = Period.parse(text)
    if not period.is_month:
        raise PeriodError(f"这是年度，需要月份 / '{text}' is a year; a month is wanted: {ACCEPTED.split(' or ')[0]}")
    return period.key

"""Monthly partitions: the monitoring period. Keys look like 2025-03."""

from __future__ import annotations

import dagster as dg

from civstat.registry import registry

FIRST_MONTH = str(registry().local.get("first_month", "2024-01"))
monthly = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, fmt="%Y-%m", end_offset=0)


def december_of(year: int) -> str:
    return f"{year}-12"

"""Monthly partitions: the monitoring period. Keys look like 2025-03.

They start at the earliest of ``local.first_month`` (config/civstat.yaml; default 2000-01) and the
earliest period folder under the data directory's ``raw/``: configuration may narrow what the UI
offers, never refuse data that exists.
"""

from __future__ import annotations

import dagster as dg

from civstat.periods import Period
from civstat.registry import registry
from civstat.settings import Paths

#: The tags of a run over a range of months (a backfill, `civstat run --year`).
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def first_month(paths: Paths | None = None) -> str:
    configured = registry().local.first_month
    raw = (paths or Paths.from_env()).raw
    present = sorted(p for p in (Period.of_folder(d.name) for d in (raw.iterdir() if raw.exists() else []) if d.is_dir()) if p)
    return min([configured, *[p.months()[0].key for p in present[:1]]])


FIRST_MONTH = first_month()
monthly = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, fmt="%Y-%m", end_offset=0)


def december_of(year: int) -> str:
    return Period(year, 12).partition_key

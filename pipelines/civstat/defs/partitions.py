"""Monthly partitions: the monitoring period. Keys look like 2025-03.

They start at the earliest of ``local.first_month`` (config/civstat.yaml; default 2000-01) and the
earliest period folder under the data directory's ``raw/``: configuration may narrow what the UI
offers, never refuse data that exists.
"""

from __future__ import annotations

import re

import dagster as dg

from civstat.registry import registry
from civstat.settings import Paths

DEFAULT_FIRST_MONTH = "2000-01"


def first_month(paths: Paths | None = None) -> str:
    configured = str(registry().local.get("first_month") or DEFAULT_FIRST_MONTH)
    raw = (paths or Paths.from_env()).raw
    present = sorted(
        (p.name if len(p.name) == 7 else f"{p.name}-01")
        for p in (raw.iterdir() if raw.exists() else [])
        if p.is_dir() and re.fullmatch(r"\d{4}(-(0[1-9]|1[0-2]))?", p.name)
    )
    return min([configured, *present[:1]])


FIRST_MONTH = first_month()
monthly = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, fmt="%Y-%m", end_offset=0)


def december_of(year: int) -> str:
    return f"{year}-12"

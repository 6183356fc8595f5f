"""Dagster definitions: the one way civstat runs (CLI, schedules, sensor and web UI alike).

    raw/<roster>  ->  clean/<roster>  ->  dbt models (staging/*, intermediate/*, mart/*)  ->  mart/published

Everything is partitioned by month; the annual statistics use the year's December partition.
"""

from civstat.defs.definitions import defs

__all__ = ["defs"]

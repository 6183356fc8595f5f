"""The Definitions object: what `dagster dev`, the CLI and the tests all load."""

from __future__ import annotations

import dagster as dg

from civstat.defs.automation import annual_statistics_schedule, monthly_job, monthly_schedule, raw_files_sensor
from civstat.defs.ingestion import clean_rosters, raw_extracts
from civstat.defs.quality import audit, clean_quality, mart_quality
from civstat.defs.reports import annual_workbook, caseworker_lists, chart_page
from civstat.defs.resources import CivstatResource
from civstat.defs.warehouse import published_marts, warehouse_models
from civstat.warehouse.build import dbt_resource

ASSETS = [raw_extracts, clean_rosters, warehouse_models, published_marts, caseworker_lists, annual_workbook, chart_page]
CHECKS = [clean_quality, mart_quality, audit]


def resources(data_dir: str = "") -> dict:
    return {
        "civstat": CivstatResource(data_dir=data_dir),
        "dbt": dbt_resource(),
    }


defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[monthly_job],
    schedules=[monthly_schedule, annual_statistics_schedule],
    sensors=[raw_files_sensor],
    resources=resources(),
)

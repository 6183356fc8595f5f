"""Reports as assets at the end of the lineage: the caseworker warning lists of the month and the
annual statistics workbook (of the partition's year; the annual schedule runs it for December)."""

import dagster as dg

from civstat.defs.partitions import monthly
from civstat.defs.resources import CivstatResource
from civstat.periods import Period


@dg.asset(
    key=["report", "caseworker_lists"],
    group_name="report",
    partitions_def=monthly,
    deps=[["mart", "published"]],
    kinds={"excel"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="各乡镇（街道）预警名单（脱敏） / the month's warning lists, one workbook per township (masked IDs)",
)
def caseworker_lists(context: dg.AssetExecutionContext, civstat: CivstatResource) -> dg.MaterializeResult:
    from civstat.reports.caseworker import caseworker_lists as write

    files, skipped = [], []
    for month in context.partition_keys:
        try:
            files += write(civstat.paths(), month)
        except (FileNotFoundError, ValueError) as exc:  # a month the marts do not hold: skipped, with why
            skipped.append(f"{month}: {exc}")
            context.log.warning(f"caseworker lists of {month} skipped: {exc}")
    return dg.MaterializeResult(metadata={"files": len(files), "months": len(context.partition_keys), "skipped": skipped})


@dg.asset(
    key=["report", "annual_workbook"],
    group_name="report",
    partitions_def=monthly,
    deps=[["mart", "published"]],
    kinds={"excel"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="年度民政统计报表（含公开版） / the annual statistics workbook of the partition's year, and its public version",
)
def annual_workbook(context: dg.AssetExecutionContext, civstat: CivstatResource) -> dg.MaterializeResult:
    from civstat.reports.annual import write_workbook

    year = Period.parse(context.partition_keys[-1]).year
    try:
        full = write_workbook(civstat.paths(), year)
        public = write_workbook(civstat.paths(), year, public=True)
    except (FileNotFoundError, ValueError) as exc:  # a year the marts do not hold: skipped, with why
        context.log.warning(f"annual workbook of {year} skipped: {exc}")
        return dg.MaterializeResult(metadata={"skipped": str(exc)})
    return dg.MaterializeResult(metadata={"workbook": str(full), "public": str(public)})


@dg.asset(
    key=["report", "chart_page"],
    group_name="report",
    partitions_def=monthly,
    deps=[["mart", "published"]],
    kinds={"html"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="民政统计图表（离线HTML） / the page of charts (offline HTML)",
)
def chart_page(context: dg.AssetExecutionContext, civstat: CivstatResource) -> dg.MaterializeResult:
    from civstat.reports.charts import chart_page as write

    return dg.MaterializeResult(metadata={"page": str(write(civstat.paths()))})

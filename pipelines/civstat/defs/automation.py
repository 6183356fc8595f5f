"""Jobs, schedules and the sensor that notices new raw files."""

import datetime as dt
import hashlib
import json

import dagster as dg

from civstat.defs.partitions import december_of, monthly
from civstat.defs.resources import CivstatResource
from civstat.ingest import content_hash, default_workers, discover
from civstat.periods import Period

# the multiprocess executor: each step a process, $CIVSTAT_WORKERS (default 2) side by side (the
# ingestion's county steps, the checks beside dbt); `civstat run` runs the same assets in-process.
# Step processes are forked from a server that has imported Dagster and dagster-dbt once (about 2 s
# of every step's start otherwise); nothing that starts threads is imported before the fork (Polars
# and DuckDB are imported by each step: a fork after their threads start can deadlock).
FORKSERVER_PRELOAD = ["dagster", "dagster_dbt"]
monthly_job = dg.define_asset_job(
    "monthly_monitoring",
    selection=dg.AssetSelection.all(),
    partitions_def=monthly,
    description="每月低收入人口动态监测：清洗当月花名册、构建并发布数据集市 / the monthly monitoring run",
    executor_def=dg.multiprocess_executor.configured(
        {"max_concurrent": default_workers(), "start_method": {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}}
    ),
)

# the 5th of each month, for the month before (the partition that has just closed)
monthly_schedule = dg.build_schedule_from_partitioned_job(monthly_job, name="monthly_monitoring_schedule", day_of_month=5, hour_of_day=6)


@dg.schedule(
    job=monthly_job,
    cron_schedule="0 6 15 1 *",
    name="annual_statistics_schedule",
    description="每年1月中旬：上年度统计（上年12月分区） / mid-January: last year's statistics, from its December partition",
)
def annual_statistics_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    year = context.scheduled_execution_time.year - 1
    return dg.RunRequest(partition_key=december_of(year), tags={"civstat/annual": str(year)})


def partition_for(top: str, today: dt.date, keys: list[str]) -> str | None:
    """The partition a raw folder feeds: its month, or for a year folder that year's December
    (or its latest month so far)."""
    period = Period.of_folder(top)
    if period is None:
        return None
    in_scope = [k for k in keys if period.contains(Period.parse(k))]
    return in_scope[-1] if in_scope else None


@dg.sensor(
    job=monthly_job,
    minimum_interval_seconds=60,
    name="raw_files_sensor",
    description="data/raw/<期间>/ 出现新文件或文件内容变化时启动该期间的运行（每个文件版本至多一次） / new raw files start their period's run, once per file version",
)
def raw_files_sensor(context: dg.SensorEvaluationContext, civstat: CivstatResource):
    paths = civstat.paths()
    seen: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    keys = monthly.get_partition_keys()
    requests: dict[str, list[str]] = {}
    current: dict[str, list] = {}
    for path in discover(paths):  # the files ingestion reads (not hidden, temporary or other files)
        rel = path.relative_to(paths.raw).as_posix()
        stat = path.stat()
        before = seen.get(rel)
        if before and before[0] == stat.st_mtime_ns and before[1] == stat.st_size:
            current[rel] = before
            continue
        digest = content_hash(path)
        current[rel] = [stat.st_mtime_ns, stat.st_size, digest]
        if before and before[2] == digest:
            continue  # touched, not changed
        partition = partition_for(rel.split("/")[0], dt.date.today(), keys)
        if partition is None:
            context.log.warning(f"{rel}: not in a period folder that has a partition; left alone")
            continue
        requests.setdefault(partition, []).append(f"{rel}@{digest[:16]}")
    for partition, versions in sorted(requests.items()):
        run_key = hashlib.sha256("|".join(sorted(versions)).encode()).hexdigest()[:32]
        yield dg.RunRequest(run_key=run_key, partition_key=partition, tags={"civstat/files": str(len(versions))})
    context.update_cursor(json.dumps(current))

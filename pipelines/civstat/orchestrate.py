"""Run the Dagster definitions in-process, as the CLI does: the same assets, checks and order
as a scheduled run, with the runs recorded in the Dagster instance under <data>/dagster."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from civstat.defs.partitions import RANGE_END, RANGE_START
from civstat.periods import Period
from civstat.settings import Paths

PID_TAG, HOST_TAG = "civstat/pid", "civstat/host"  # an in-process run's process, to tell a killed run from a running one
FULL_REFRESH_TAG = "civstat/full-refresh"  # "true": the dbt step rebuilds every month (civstat run --full-refresh)


def instance_for(paths: Paths) -> dg.DagsterInstance:
    """The persistent Dagster instance of this data directory (runs, materialisations, checks)."""
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    managed = (  # civstat's own settings for its Dagster home
        "# written by civstat: runs from the web UI, schedules and the sensor queue one at a time (one writer); no telemetry\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
        "  config:\n    max_concurrent_runs: 1\n"
        "telemetry:\n  enabled: false\n"
    )
    if not settings.exists() or settings.read_text(encoding="utf-8") != managed:
        settings.write_text(managed, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def run_log_file(paths: Paths) -> Path:
    return paths.logs / f"run-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}.log"


def run(
    paths: Paths,
    partitions: Sequence[str],
    selection: str | Sequence[dg.AssetKey] | None = None,
    tags: dict | None = None,
    log_file: Path | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialise every asset (or ``selection``) for the partitions, in one run."""
    from civstat.defs.partitions import monthly

    keys = monthly.get_partition_keys()
    missing = [p for p in partitions if p not in keys]
    if missing:
        later = [p for p in missing if p > keys[-1]]
        why = f"; {', '.join(later)} has not ended yet (a month is run once it has ended)" if later else ""
        raise ValueError(f"no partition {', '.join(missing)}: months run from {keys[0]} to {keys[-1]}{why}")
    ordered = sorted(partitions)
    run_tags = {RANGE_START: ordered[0], RANGE_END: ordered[-1], PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), **(tags or {})}
    os.environ["CIVSTAT_DATA_DIR"] = str(paths.data)
    from civstat.locking import single_writer

    with single_writer(paths.data):  # the whole run: its build and its publication are one writer's
        mark_abandoned_runs(instance_for(paths))
        return _materialize(paths, selection, run_tags, log_file or run_log_file(paths))


def _materialize(paths: Paths, selection, run_tags: dict, log_file: Path) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` with civstat's run logger instead of Dagster's console logger: one line
    per stage on the console, every message in <data>/logs/run-<time>.log (CIVSTAT_VERBOSE=1, or
    ``civstat -v``, prints them all)."""

    from civstat.defs.definitions import ASSETS, CHECKS, resources
    from civstat.runlog import civstat_logger

    defs = dg.Definitions(
        jobs=[dg.define_asset_job(name="civstat_run", selection=selection)],
        assets=ASSETS,
        asset_checks=CHECKS,
        resources=resources(str(paths.data)),
        loggers={"civstat": civstat_logger},
    )
    job = defs.resolve_job_def("civstat_run")
    verbose = os.environ.get("CIVSTAT_VERBOSE", "") not in ("", "0")
    result = job.execute_in_process(
        run_config={"loggers": {"civstat": {"config": {"log_file": str(log_file), "verbose": verbose}}}},
        instance=instance_for(paths),
        tags=run_tags,
        raise_on_error=False,
    )
    result.log_file = log_file  # the CLI names it in its last lines
    return result


def periods_with_data(paths: Paths) -> list[Period]:
    """The period folders under data/raw that hold at least one file: months and years."""
    if not paths.raw.exists():
        return []
    found = [(Period.of_folder(p.name), p) for p in paths.raw.iterdir() if p.is_dir()]
    return sorted(period for period, p in found if period is not None and any(f.is_file() for f in p.rglob("*")))


def months_with_data(paths: Paths) -> list[str]:
    return [p.key for p in periods_with_data(paths) if p.is_month]


def partitions_for_year(paths: Paths, year: int) -> list[str]:
    """The months of ``year`` with data, or its December when only annual registers are there; [] when nothing is."""
    present = periods_with_data(paths)
    months = [p.key for p in present if p.is_month and p.year == year]
    return months or ([Period(year, 12).key] if Period(year) in present else [])


def partition_for_period(paths: Paths, period: Period) -> list[str]:
    """A month with data (its own folder, or its year's registers); [] when there is none."""
    present = periods_with_data(paths)
    return [period.key] if period in present or period.year_period in present else []


def mark_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs still 'started' whose process on this machine is gone (killed): recorded as failed."""
    import psutil

    gone = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])):
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid and host == socket.gethostname() and not psutil.pid_exists(int(pid)):
            instance.report_run_failed(run, f"the process running it (pid {pid}) is gone: it was killed or crashed")
            gone.append(run.run_id)
    return gone

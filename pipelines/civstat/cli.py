"""The ``civstat`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from civstat.settings import Paths

console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def cmd_generate(args: argparse.Namespace, paths: Paths) -> int:
    from civstat.generate import generate

    out = Path(args.out).resolve() if args.out else paths.raw
    started = time.perf_counter()
    manifest = generate(args.scale, args.months, args.seed, out, start=args.start, progress=lambda msg: console.log(f"generated {msg}"))
    console.print(
        f"[green]wrote[/] {args.months} month(s) of {args.scale} rosters to {out} in {time.perf_counter() - started:.1f}s; manifest: {manifest}"
    )
    return 0


def cmd_ingest(args: argparse.Namespace, paths: Paths) -> int:
    from civstat.ingest import ingest

    with _progress() as progress:
        task = progress.add_task("ingesting", total=None)

        def on_file(outcome, n, total):
            progress.update(task, total=total, completed=n, description=f"ingesting {outcome.source_file[-40:]}")
            if outcome.status in ("failed", "rejected"):
                console.print(f"{outcome.status.upper()} {outcome.error}", markup=False, highlight=False, soft_wrap=True)

        report = ingest(paths, args.period or None, on_file=on_file)
    for name, why in report.ignored:
        console.print(f"not ingested: {name}: {why}", markup=False, highlight=False)
    for name in report.withdrawn:
        console.print(f"withdrawn: {name}: no longer in data/raw, its rows were withdrawn", markup=False, highlight=False)
    t = report.totals()
    console.print(
        f"files: {t['files']} ({t['ingested']} ingested, {t['skipped']} already in the ledger, {t['failed']} failed or rejected, "
        f"{len(report.ignored)} not roster files, {len(report.withdrawn)} withdrawn); "
        f"rows in {t['rows_in']:,} = clean {t['rows_clean']:,} + quarantined {t['rows_quarantined']:,}"
    )
    console.print(f"clean tables: {paths.clean}   quarantine: {paths.quarantine}   ledger: {paths.ledger}")
    return 1 if report.failed else 0


def _publication(paths: Paths) -> dict:
    import json

    try:
        return json.loads(paths.publication.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _run_partitions(paths: Paths, partitions: list[str], *, full_refresh: bool = False) -> int:
    """One in-process Dagster run over the partitions. Its last line says what was published (the
    release, the periods, the tables) or that nothing was, decided from the publication record."""
    from civstat.orchestrate import FULL_REFRESH_TAG, run

    span = partitions[0] + (f" … {partitions[-1]}" if len(partitions) > 1 else "")
    console.print(f"running the Dagster job for {span} (raw → clean → dbt models and checks → publication → reports) ...")
    import contextlib
    import os

    from civstat.orchestrate import run_log_file

    before = _publication(paths).get("run_id")
    log_file = run_log_file(paths)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    verbose = os.environ.get("CIVSTAT_VERBOSE", "") not in ("", "0")
    try:
        # dbt's own output (dagster-dbt echoes every dbt event to stdout) goes to the run's log, not the screen
        with open(log_file, "a", encoding="utf-8") as sink, contextlib.redirect_stdout(sys.stdout if verbose else sink):
            result = run(paths, partitions, log_file=log_file, tags={FULL_REFRESH_TAG: "true"} if full_refresh else None)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    materialized = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed_checks = [e for e in checks if not e.event_specific_data.passed]
    console.print(
        f"{len(materialized)} asset materialisations, {len(checks)} checks ({len(failed_checks)} failed); "
        f"the run's log: {getattr(result, 'log_file', '-')}",
        highlight=False,
    )
    for e in failed_checks[:10]:
        evaluation = e.event_specific_data
        warned = evaluation.severity.value == "WARN"
        said = "[yellow]check warned[/]" if warned else "[red]check failed[/]"
        console.print(f"{said}: {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
        if evaluation.check_name == "audit_rules":  # the rule, region, year and figures of each failure
            console.print(evaluation.description, markup=False, highlight=False, soft_wrap=True)
    from civstat.ingest import read_ledger
    from civstat.periods import with_their_years

    ledger = read_ledger(paths)
    scope = with_their_years(partitions)
    refused = ledger.filter(ledger["period"].is_in(list(scope)) & ledger["status"].is_in(["failed", "rejected"]))
    for row in refused.iter_rows(named=True):
        # the message carries YAML lines to copy: printed as they are, no markup
        console.print(f"{row['status'].upper()} {row['error']}", markup=False, highlight=False, soft_wrap=True)
    failures = [e for e in result.all_events if e.is_step_failure]
    reports = [e for e in failures if e.step_key.startswith("report__")]
    for e in failures:
        if e in reports or (refused.height and e.step_key.startswith("clean_rosters")):
            continue
        console.print(f"[red]step failed[/]: {e.step_key}: {_first_line(e.event_specific_data.error)}")
    after = _publication(paths)
    if after.get("run_id") and after.get("run_id") != before:
        tables = ", ".join(f.removesuffix(".parquet") for f in after.get("files", []) if f.endswith(".parquet"))
        line = f"published release {after['release']} for {span}: {tables}"
        if reports:
            failed = "; ".join(f"report {e.step_key} failed: {_first_line(e.event_specific_data.error)}" for e in reports)
            console.print(f"[yellow]已发布，但有报表失败 / {line}; {failed}[/]")
            return 1
        console.print(f"[green]已发布 / {line}[/]")
        return 0
    previous = f"the previous release ({after['release']}) is unchanged" if after else "there is no publication yet"
    console.print(f"[red]未发布新数据 / nothing was published[/] for {span}: {previous}")
    return 1


def _first_line(message) -> str:
    """The reason of a step failure: the innermost cause's first line (Dagster wraps it), scrubbed."""
    from civstat.redact import scrub

    error = message
    while getattr(error, "cause", None) is not None:
        error = error.cause
    text = getattr(error, "message", error)
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    first = lines[0] if lines else "no reason given"
    if ": " in first and first.split(": ", 1)[0].replace(".", "").replace("_", "").isalnum():
        first = first.split(": ", 1)[1]  # "RuntimeError: the reason" -> "the reason"
    return scrub(first[:500])


def cmd_run(args: argparse.Namespace, paths: Paths) -> int:
    """Run the monitoring job for a month, or for every month of a year (ending with its December).

    Any period with raw files runs; one without is refused before Dagster starts, naming those that have."""
    from civstat.orchestrate import months_with_data, partition_for_period, partitions_for_year, periods_with_data
    from civstat.periods import Period, PeriodError

    present = periods_with_data(paths)
    there = ", ".join(p.key for p in present) if present else "none"
    if args.year:
        partitions = partitions_for_year(paths, args.year)
        if not partitions:
            console.print(f"[red]该年度没有原始文件 / no raw files for {args.year}[/] in {paths.raw} (periods with files: {there})")
            return 2
    elif args.period:
        try:
            period = Period.parse(args.period)
            if not period.is_month:
                raise PeriodError(f"'{args.period}' is a year: use --year {period.year}, or give a month")
        except PeriodError as exc:
            console.print(f"[red]{exc}[/]")
            return 2
        partitions = partition_for_period(paths, period)
        if not partitions:
            console.print(f"[red]该期间没有原始文件 / no raw files for {period}[/] in {paths.raw} (periods with files: {there})")
            return 2
    else:
        partitions = months_with_data(paths) or [Period(p.year, 12).key for p in present]
        if not partitions:
            console.print(f"[red]没有原始文件 / no data in {paths.raw}[/]: put extracts in data/raw/<YYYY-MM>/ or run `civstat generate`")
            return 2
    return _run_partitions(paths, partitions, full_refresh=args.full_refresh)


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    """Generate county sample data (if absent), run everything on it, and say where everything is."""
    from civstat.generate import MANIFEST_DIR
    from civstat.orchestrate import months_with_data

    if not (paths.raw / MANIFEST_DIR / "manifest.json").exists():
        console.print(f"generating {args.months} months of {args.scale}-scale sample data into {paths.raw} ...")
        cmd_generate(argparse.Namespace(scale=args.scale, months=args.months, seed=args.seed, start=args.start, out=None), paths)
    status = _run_partitions(paths, months_with_data(paths))
    from civstat.ingest import read_ledger

    ledger = read_ledger(paths)
    console.print(f"[bold]demo {'done' if status == 0 else 'FAILED'}[/]")
    console.print(f"  raw extracts     {paths.raw}  ({ledger.height} files)")
    console.print(
        f"  clean Parquet    {paths.clean}  ({int(ledger['rows_clean'].sum() or 0):,} rows clean, "
        f"{int(ledger['rows_quarantined'].sum() or 0):,} quarantined with reasons in {paths.quarantine})"
    )
    console.print(
        f"  marts            {paths.marts}  (warehouse.duckdb and one Parquet file per mart; warnings in monitoring_alerts.parquet)"
    )
    reports = paths.reports
    if reports.exists():
        workbooks = sorted(reports.glob("*.xlsx"))
        lists = sorted((reports / "alerts").glob("*/*.xlsx")) if (reports / "alerts").exists() else []
        console.print(
            f"  reports          {reports}  ({len(workbooks)} annual workbook(s); {len(lists)} caseworker list(s) in alerts/<month>/; "
            f"charts: {reports / '民政统计图表.html'})"
        )
    console.print(  # one line, never wrapped inside its quotes: it is meant to be copied
        "  try              civstat sql \"select division_name, year, beds_per_1000_aged_60_plus_hukou from elderly_care_beds where division_level = 'county'\"",
        soft_wrap=True,
    )
    console.print(f"  Dagster UI       civstat ui   (runs recorded in {paths.data / 'dagster'})")
    return status


def cmd_build(args: argparse.Namespace, paths: Paths) -> int:
    """dbt build (the months whose inputs changed, or all with --full-refresh); publish the marts
    atomically when every test passes."""
    from civstat.warehouse.build import BuildError, build_and_publish

    engine = getattr(args, "engine", "duckdb")
    console.print(f"building the warehouse with dbt on {engine} (seeds, models, tests) ...")
    try:
        if engine == "spark":
            from civstat.warehouse import spark

            result, published = spark.build_and_publish(paths)
        else:
            result, published = build_and_publish(paths, full_refresh=args.full_refresh)
    except BuildError as exc:
        console.print(f"[red]构建失败，已发布的数据未变 / build failed[/]: {exc}\nthe previous publication in {paths.marts} is unchanged")
        return 1
    passed = sum(1 for r in result.results if r["status"] in ("success", "pass"))
    console.print(f"{result.plan}: built in {result.seconds:.1f}s ({passed} models, seeds and tests passed); published {published}")
    return 0


def cmd_sql(args: argparse.Namespace, paths: Paths) -> int:
    """Query the published warehouse read-only; print a table, or write CSV / xlsx."""
    import duckdb
    import polars as pl
    from rich.table import Table

    db = paths.published_warehouse
    if not db.exists():
        console.print(f"[red]尚未发布数据 / no published warehouse at {db}[/]: run `civstat demo` or `civstat build` first")
        return 1
    con = duckdb.connect(str(db), read_only=True)
    try:
        frame = pl.from_arrow(con.sql(args.query).to_arrow_table())
    except duckdb.Error as exc:
        console.print(f"[red]query failed[/]: {exc}")
        return 1
    finally:
        con.close()
    if args.csv:  # with a BOM: Excel then reads the Chinese column names and values as UTF-8
        frame.write_csv(args.csv, include_bom=True)
        console.print(f"wrote {frame.height} rows to {args.csv}")
    if args.xlsx:
        frame.write_excel(args.xlsx, autofit=True)
        console.print(f"wrote {frame.height} rows to {args.xlsx}")
    if not (args.csv or args.xlsx):
        table = Table(*frame.columns, show_lines=False)
        # for reading only: ratios and amounts to 4 significant decimals (the marts keep full precision)
        shown = frame.head(args.limit).with_columns(pl.col(pl.Float32, pl.Float64).round(4))
        for row in shown.iter_rows():
            table.add_row(*["" if v is None else str(v) for v in row])
        Console().print(table)
        if frame.height > args.limit:
            console.print(f"({frame.height} rows; first {args.limit} shown: use --limit, --csv or --xlsx)")
    return 0


def cmd_dbt_sources(args: argparse.Namespace, paths: Paths) -> int:
    """Regenerate the dbt sources and staging models from the roster registry."""
    from civstat.warehouse import sources

    written = sources.write()
    console.print("\n".join(f"wrote {p}" for p in written) or "the dbt sources already match the registry")
    return 0


def cmd_ui(args: argparse.Namespace, paths: Paths) -> int:
    """The Dagster web UI on 127.0.0.1, over the same definitions and run history. Ctrl-C or SIGTERM
    stop the webserver and its code server with it: nothing is left listening."""
    import os
    import signal
    import subprocess

    from civstat.orchestrate import instance_for

    instance_for(paths)  # sets DAGSTER_HOME to <data>/dagster
    env = {**os.environ, "CIVSTAT_DATA_DIR": str(paths.data), "DO_NOT_TRACK": "1", "DAGSTER_DISABLE_TELEMETRY": "1"}
    webserver = Path(sys.executable).with_name("dagster-webserver")
    console.print(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
    # its own process group: the webserver and the code server it starts are stopped together
    server = subprocess.Popen(
        [str(webserver), "-m", "civstat.defs", "-h", "127.0.0.1", "-p", str(args.port)], env=env, start_new_session=True
    )

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also where SIGINT was ignored (started in the background)
    try:
        return server.wait()
    except KeyboardInterrupt:
        console.print("stopping the Dagster UI ...")
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(server.pid, sig)
            except ProcessLookupError:
                break
            try:
                server.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        console.print("stopped")
        return 0


def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    """Latest runs, check results and how fresh the data is."""
    import datetime as dt

    from civstat.ingest import read_ledger
    from civstat.orchestrate import instance_for, mark_abandoned_runs

    instance = instance_for(paths)
    for run_id in mark_abandoned_runs(instance):
        console.print(f"[yellow]run {run_id[:8]} was killed[/]: its process is gone; recorded as failed")
    runs = instance.get_runs(limit=args.runs)
    console.print("[bold]latest runs[/]")
    for r in runs:
        stats = instance.get_run_stats(r.run_id)
        started = dt.datetime.fromtimestamp(stats.start_time).isoformat(timespec="seconds") if stats.start_time else "-"
        partition = r.tags.get("dagster/partition") or "…".join(
            filter(None, [r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end")])
        )
        console.print(
            f"  {started}  {r.status.value:<8} {partition:<17} {stats.materializations} materialisations, {stats.steps_failed} failed steps  ({r.run_id[:8]})"
        )
    if not runs:
        console.print("  none yet (civstat run, or civstat demo)")
    ledger = read_ledger(paths)
    if ledger.height:
        latest = ledger["ingested_at"].max()
        console.print(
            f"[bold]clean data[/]: {ledger.height} files, latest period {ledger['period'].drop_nulls().max()}, last ingested {latest}"
        )
        failed = ledger.filter(ledger["status"] == "failed")
        for row in failed.head(5).iter_rows(named=True):
            console.print(f"  [red]failed[/] {row['source_file']}: {row['error'][:200]}")
    publication = paths.publication
    if publication.exists():
        import json

        info = json.loads(publication.read_text(encoding="utf-8"))
        console.print(
            f"[bold]published[/]: release {info.get('release', info['run_id'])} at {info['published_at']} in {paths.marts}, "
            f"built from {len(info.get('built_from', []))} raw file(s)"
        )
    else:
        console.print("[bold]published[/]: nothing yet")
    return 0


def cmd_check(args: argparse.Namespace, paths: Paths) -> int:
    """Run the Great Expectations suites over the clean tables and the marts; print failures. With
    ``--engine spark`` they run on Spark (GX's Spark execution engine), the marts those of the last
    ``civstat build --engine spark``."""
    import contextlib
    import datetime as dt

    from civstat.ingest import read_ledger
    from civstat.periods import Period, PeriodError
    from civstat.quality.run import recipient_jumps, validate_clean, validate_marts
    from civstat.registry import registry

    try:
        periods = [Period.parse(p).key for p in args.period] if args.period else None
    except PeriodError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    ledger = read_ledger(paths)
    ledger = ledger.filter(ledger["status"] == "ok")
    held = sorted(set(ledger["period"].drop_nulls().to_list()))
    if not held:
        console.print(
            f"[red]没有可检查的数据 / nothing to check[/]: no clean data in {paths.clean} (run `civstat ingest` or `civstat run` first)"
        )
        return 1
    missing = [p for p in periods or [] if p not in held and Period.parse(p).year_period.key not in held]
    if missing:
        console.print(f"[red]该期间没有清洗后的数据 / no clean data for {', '.join(missing)}[/] (periods held: {', '.join(held)})")
        return 1
    docs = paths.quality / ("check-" + dt.datetime.now().strftime("%Y%m%dT%H%M%S"))
    engine = getattr(args, "engine", "duckdb")
    console.print(f"running the expectation suites (expectations/) on {engine} ...")
    with contextlib.ExitStack() as stack:
        if engine == "spark":
            from civstat.quality import spark as on_spark
            from civstat.warehouse import spark
            from civstat.warehouse.build import BuildError

            try:
                session = stack.enter_context(spark.session(paths))
            except BuildError as exc:
                console.print(f"[red]{exc}[/]")
                return 1
            results = validate_clean(paths, periods, docs, spark=session)
            marts = spark.built_marts(paths)
            if marts:
                results += on_spark.validate_marts(session, marts, docs)
            database = paths.spark_build_file
        else:
            results = validate_clean(paths, periods, docs)
            database = paths.build_file
            if not database.exists():
                database = paths.published_warehouse
            if database.exists():
                results += validate_marts(database, docs)
    if database.exists():
        bound = registry().local.max_monthly_change
        jumps = recipient_jumps(database, bound)
        if jumps.height:
            console.print(f"[yellow]warning[/]: {jumps.height} county counts changed by more than {bound:.0%} in a month, e.g.")
            for r in jumps.head(5).iter_rows(named=True):
                console.print(f"  {r['division_name']} {r['programme']} {r['period']}: {r['previous']} → {r['current']}")
    failed = [r for r in results if not r.success]
    for r in failed:
        console.print(f"[red]{'FAILED' if r.blocking else 'warning'}[/] {r.describe()}")
    console.print(f"{len(results) - len(failed)} of {len(results)} suites passed; data docs: {docs / 'index.html'}")
    return 1 if any(r.blocking for r in failed) else 0


def cmd_expectations(args: argparse.Namespace, paths: Paths) -> int:
    """Regenerate the clean-table suites in expectations/clean from the roster registry."""
    from civstat.quality import suites

    written = suites.write()
    console.print("\n".join(f"wrote {p}" for p in written) or "the suites already match the registry")
    return 0


def cmd_alerts(args: argparse.Namespace, paths: Paths) -> int:
    """The month's warning lists for caseworkers: one xlsx per township; or, with --import, the
    lists brought back filled in."""
    from civstat.periods import PeriodError, parse_month
    from civstat.reports.caseworker import caseworker_lists

    if args.import_path:
        return _import_lists(args, paths)
    if not args.period:
        console.print("[red]give --period YYYY-MM (the month of the lists), or --import FILE_OR_DIR[/]")
        return 2
    try:
        period = parse_month(args.period)
        files = caseworker_lists(paths, period, Path(args.out) if args.out else None)
    except (FileNotFoundError, ValueError, PeriodError) as exc:
        console.print(f"[red]{exc}[/]")
        return 2 if isinstance(exc, PeriodError) else 1
    if files:
        console.print(f"wrote {len(files)} township list(s) for {period} to {files[0].parent}")
    else:
        console.print(f"no warning is open for {period}: the month's data was checked and raised none (no list written)")
    return 0


def _import_lists(args: argparse.Namespace, paths: Paths) -> int:
    """Returned lists into data/raw/<month>/核查反馈/, ingested: each row's answer is kept against its
    warning; a row whose 预警编号 names no published warning is reported (file, row, reason)."""
    import polars as pl

    from civstat.ingest import FAILED, REJECTED, ingest, period_of, quarantine_file
    from civstat.periods import PeriodError
    from civstat.reports.caseworker import place_returned_lists

    try:
        placed = place_returned_lists(paths, Path(args.import_path), args.period)
    except (FileNotFoundError, ValueError, PeriodError) as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    report = ingest(paths, sorted(placed))
    names = {str(p.relative_to(paths.raw)) for files in placed.values() for p in files}
    status = 0
    for outcome in (o for o in report.outcomes if o.source_file in names):
        if outcome.status in (FAILED, REJECTED):
            console.print(f"[red]{outcome.source_file}: {outcome.error}[/]")
            status = 1
            continue
        console.print(
            f"{outcome.source_file}: {outcome.rows_in} rows, {outcome.rows_clean} taken, {outcome.rows_quarantined} not taken",
            highlight=False,
        )
        quarantine = quarantine_file(paths, period_of(paths.raw / outcome.source_file, paths.raw), outcome.source_file)
        if outcome.rows_quarantined and quarantine.exists():
            rows = (
                pl.read_parquet(quarantine)
                .filter(~pl.col("reason_code").is_in(["blank_row", "footer_row", "header_row"]))
                .sort("source_sheet", "source_row", nulls_last=False)
            )
            for r in rows.iter_rows(named=True):
                sheet = f"sheet {r['source_sheet']}, " if r.get("source_sheet") else ""
                console.print(f"  {sheet}row {r['source_row']}, column {r['column']}: {r['reason']}", highlight=False)
    months = ", ".join(sorted(placed))
    console.print(f"the answers count from the next run of {months} on (civstat run --period …; the sensor starts it when Dagster runs)")
    return status


def cmd_report(args: argparse.Namespace, paths: Paths) -> int:
    """The annual statistics workbook (xlsx); --public suppresses cells of 1-4 people."""
    import duckdb

    from civstat.reports.annual import write_workbook

    try:
        out = write_workbook(paths, args.year, Path(args.out) if args.out else None, public=args.public)
    except (FileNotFoundError, ValueError, duckdb.Error) as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    console.print(f"wrote {out}")
    return 0


def cmd_charts(args: argparse.Namespace, paths: Paths) -> int:
    """The offline page of charts."""
    from civstat.reports.charts import chart_page

    try:
        console.print(f"wrote {chart_page(paths, Path(args.out) if args.out else None)}")
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    return 0


def cmd_inspect(args: argparse.Namespace, paths: Paths) -> int:
    """What civstat would make of a file or a folder of exports: a dry run that writes nothing here."""
    from rich.markup import escape

    from civstat.inspect import inspect_path

    target = Path(args.path)
    if not target.exists():
        console.print(f"[red]no such file or folder[/]: {target}")
        return 2
    reports = inspect_path(target)
    if not reports:
        console.print(f"no roster files (.xlsx, .xls, .csv, .txt, .htm, .html) under {target}")
        return 1
    out = Console()
    for r in reports:
        colour = {"ok": "green", "rejected": "yellow"}.get(r.status, "red")
        out.print(f"[bold]{escape(str(r.path))}[/]  [{colour}]{r.status}[/]")
        for k, v in r.facts.items():
            out.print(f"  {k:<18} {escape(v)}")
        if r.rows[0]:
            out.print(f"  rows               {r.rows[0]} in = {r.rows[1]} clean + {r.rows[2]} quarantined")
        if r.mapping:
            out.print("  header mapping     " + escape("; ".join(f"{a} → {b}" for a, b in r.mapping)))
        if r.row_numbers:
            out.print("  row numbers        " + escape(", ".join(r.row_numbers)) + " (dropped)")
        if r.unmapped:
            out.print(
                "  unknown headers    " + escape(", ".join(r.unmapped)) + " (left out; if one means a field, add it under header_aliases)"
            )
        for column, reason, n in r.quarantine:
            out.print(f"  quarantined        {n} row(s): {escape(column)}: {escape(reason)}")
        for message in r.unknown_values:
            out.print("  unknown values     " + escape(message))
        if r.error:
            out.print(f"  [{colour}]problem[/]            " + escape(r.error))
        out.print()
    bad = [r for r in reports if r.status != "ok"]
    out.print(
        f"{len(reports)} file(s): {len(reports) - len(bad)} would ingest, {len(bad)} would not (nothing was written under {paths.data})"
    )
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civstat", description="civstat: civil-affairs statistics warehouse (民政统计数据仓库)")
    parser.add_argument("--data-dir", help="data directory (default: $CIVSTAT_DATA_DIR or ./data)")
    parser.add_argument("-v", "--verbose", action="store_true")
    waiting = parser.add_mutually_exclusive_group()
    waiting.add_argument(
        "--wait",
        dest="wait",
        action="store_true",
        default=True,
        help="when another run is writing the data directory, wait for it (the default)",
    )
    waiting.add_argument("--no-wait", dest="wait", action="store_false", help="when another run is writing, stop at once")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write invented roster extracts (no real person) into data/raw")
    g.add_argument("--scale", default="county", choices=["tiny", "county", "city", "province"])
    g.add_argument("--months", type=int, default=12)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--start", default="2025-01", help="first month, YYYY-MM")
    g.add_argument("--out", help="output directory (default: <data-dir>/raw)")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="generate county sample data and run everything on it")
    d.add_argument("--scale", default="county", choices=["tiny", "county", "city", "province"])
    d.add_argument("--months", type=int, default=12)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--start", default="2025-01")
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", help="run the monitoring job (Dagster, in-process) for a month or a year")
    group = r.add_mutually_exclusive_group()
    group.add_argument("--period", help="YYYY-MM")
    group.add_argument("--year", type=int, help="every month of the year with data, ending with its December")
    r.add_argument("--full-refresh", action="store_true", help="rebuild the marts of every month, not only the months whose inputs changed")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="run the Great Expectations suites over clean tables and marts; print failures")
    c.add_argument("--period", action="append", help="YYYY-MM (repeatable; default: all)")
    c.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="spark: the same suites on Spark (GX's Spark engine; the marts of the last `civstat build --engine spark`)",
    )
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("expectations", help="regenerate the clean-table expectation suites from the roster registry")
    e.set_defaults(func=cmd_expectations)

    a = sub.add_parser("alerts", help="write the month's warning lists for caseworkers (xlsx per township)")
    a.add_argument("--period", help="YYYY-MM: the month of the lists (with --import: when the file names do not say it)")
    a.add_argument("--out", help="output folder (default: <data>/reports/alerts/<period>)")
    a.add_argument(
        "--import", dest="import_path", metavar="FILE_OR_DIR", help="bring back filled-in lists (into data/raw/<month>/核查反馈/)"
    )
    a.set_defaults(func=cmd_alerts)

    rp = sub.add_parser("report", help="write the annual statistics workbook (xlsx)")
    rp.add_argument("--year", type=int, required=True)
    rp.add_argument("--public", action="store_true", help="suppress cells of 1-4 people (and the cells that would reveal them)")
    rp.add_argument("--out", help="output file (default: <data>/reports/<year>年民政统计.xlsx)")
    rp.set_defaults(func=cmd_report)

    ch = sub.add_parser("charts", help="write the offline HTML page of charts")
    ch.add_argument("--out", help="output file (default: <data>/reports/民政统计图表.html)")
    ch.set_defaults(func=cmd_charts)

    u = sub.add_parser("ui", help="start the Dagster web UI on 127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)

    st = sub.add_parser("status", help="latest runs, failed files, freshness and the publication")
    st.add_argument("--runs", type=int, default=10)
    st.set_defaults(func=cmd_status)

    b = sub.add_parser("build", help="build the marts with dbt and publish them to data/marts")
    b.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every month (by default only the months whose inputs changed since the last complete build)",
    )
    b.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="spark: the same models on Spark (dbt's spark target; always every month; needs the `spark` dependency group)",
    )
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("dbt-sources", help="regenerate dbt sources and staging models from the roster registry")
    s.set_defaults(func=cmd_dbt_sources)

    q = sub.add_parser("sql", help="query the published warehouse (read-only)")
    q.add_argument("query")
    q.add_argument("--csv", help="write the result to this CSV file")
    q.add_argument("--xlsx", help="write the result to this Excel file")
    q.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    q.set_defaults(func=cmd_sql)

    ins = sub.add_parser("inspect", help="show what civstat would make of a file or folder of exports (writes nothing)")
    ins.add_argument("path", help="a roster file, or a folder of them (e.g. a bureau's year-end exports)")
    ins.set_defaults(func=cmd_inspect)

    i = sub.add_parser("ingest", help="clean raw rosters into data/clean (Parquet), quarantine and ledger")
    i.add_argument("--period", action="append", help="YYYY-MM or YYYY (repeatable; default: every period)")
    i.set_defaults(func=cmd_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*is currently in beta.*")  # Dagster's notice about backfill_policy
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # libraries that set their own loggers' levels (Dagster, GX) stay quiet too
        handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
    from civstat.redact import ScrubFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(ScrubFilter())
    paths = Paths.from_env(args.data_dir)
    if args.command not in ("generate", "demo", "inspect", "dbt-sources", "expectations") and not paths.data.is_dir():
        console.print(
            f"[red]数据目录不存在 / no data directory at {paths.data}[/] (a mistyped --data-dir or CIVSTAT_DATA_DIR?): "
            "`civstat generate` or `civstat demo` creates one, or put exports under <dir>/raw/<YYYY-MM>/"
        )
        return 2
    import os

    os.environ["CIVSTAT_DATA_DIR"] = str(paths.data)  # the Dagster definitions (partitions) read it when loaded
    if args.verbose:
        os.environ["CIVSTAT_VERBOSE"] = "1"  # the run logger prints every message, not one line per stage
    from civstat import locking

    locking.WAIT = args.wait
    try:
        return args.func(args, paths)
    except locking.WriterBusy as exc:
        console.print(f"[yellow]busy[/]: {exc}")
        return 3
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a bug: the traceback goes to a log file (scrubbed), the user gets one line
        import datetime as dt
        import traceback

        from civstat.redact import scrub

        log = (paths.logs if paths.data.is_dir() else Path.cwd()) / f"civstat-error-{dt.datetime.now():%Y%m%dT%H%M%S}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(scrub("".join(traceback.format_exception(exc))) or "", encoding="utf-8")
        console.print(f"[red]civstat stopped on an unexpected {type(exc).__name__}[/] (a bug, please report it): details in {log}")
        return 70


if __name__ == "__main__":
    sys.exit(main())

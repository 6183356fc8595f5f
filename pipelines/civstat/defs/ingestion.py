"""raw/<roster> and clean/<roster> assets: the files found for a month, and cleaning them.

``clean/<roster>`` is one asset per roster computed by one graph, a month's ingestion as steps:

    plan_ingestion            the files, what is done, withdrawals; the division registers, cleaned one at a time
      → clean_county_families[county_…]   family rosters, one step per county, side by side
      → plan_other_files      waits for every family step: a person's household may be in another county's file
      → clean_county_others[county_…]     everything else, one step per county; records the county's ledger partitions
      → summarise_ingestion   the assets' metadata; fails naming the files that failed, after all the others

The counties come from the files' names (``civstat.counties``); the steps run side by side under
the multiprocess executor (the monthly job's) and one after another in ``civstat run``. Either way
the clean files and the ledger are those of ``civstat ingest`` over the same files.
"""

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from civstat.counties import CountyIndex, mapping_key
from civstat.defs.partitions import monthly
from civstat.defs.resources import CivstatResource
from civstat.faults import kill_point
from civstat.ingest import (
    FileOutcome,
    IngestPlan,
    IngestReport,
    begin_ingest,
    candidate_rosters,
    clean_files,
    default_workers,
    discover,
    ledger_rows,
    plan_ingest,
    read_ledger,
    record,
    worker_pool,
)
from civstat.locking import single_writer
from civstat.periods import with_their_years
from civstat.registry import registry
from civstat.settings import pseudonym_secret

ROSTERS = list(registry().rosters)


def _raw_spec(roster: str) -> dg.AssetSpec:
    r = registry()[roster]
    return dg.AssetSpec(
        ["raw", roster], group_name="raw", description=f"{r.zh}：原始导出文件 / {r.en}: raw extracts in data/raw", kinds={"file"}
    )


@dg.multi_asset(
    specs=[_raw_spec(r) for r in ROSTERS],
    partitions_def=monthly,
    can_subset=True,
    name="raw_extracts",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_extracts(context: dg.AssetExecutionContext, civstat: CivstatResource):
    """The files of each roster kind found for the month (and its year's registers)."""
    kill_point("step:raw_extracts")
    paths = civstat.paths()
    files = discover(paths, list(context.partition_keys))
    by_roster: dict[str, list[str]] = {r: [] for r in ROSTERS}
    for path in files:
        candidates = candidate_rosters(path.name, registry())
        if len(candidates) < len(ROSTERS):  # the name says what it is
            for roster in candidates:
                by_roster[roster.name].append(path.relative_to(paths.raw).as_posix())
    for key in context.selected_asset_keys:
        names = by_roster[key.path[-1]]
        yield dg.MaterializeResult(asset_key=key, metadata={"files": len(names), "names": dg.MetadataValue.json(names[:50])})


# ---------------------------------------------------------------- clean/<roster>: one step per county


@dataclass
class Planned:
    """What the planning step decided and did, for the steps after it."""

    plan: IngestPlan
    counties: CountyIndex  # the county index the ledger was arranged by: every step records by it
    report: IngestReport  # the skipped files and division registers so far; the ignored and withdrawn files


@dataclass
class CountyWork:
    """One county's files for one phase (and, for the last phase, its family files' outcomes)."""

    county: str
    files: list[str]
    digests: dict[str, str | None]  # None: hashed by the worker that reads the file (IngestPlan)
    counties: CountyIndex
    families: list[FileOutcome] = field(default_factory=list)


@dataclass
class CountyFamilies:
    county: str
    outcomes: list[FileOutcome]
    deferred: list[str]  # named like a family roster but of another roster: cleaned with the others


def _progress(context: dg.OpExecutionContext, total: int) -> Callable[[FileOutcome], None]:
    done = [0]

    def on_outcome(o: FileOutcome) -> None:
        done[0] += 1
        context.log.info(
            f"[{done[0]}/{total}] {o.source_file}: {o.status} {o.rows_in} in = {o.rows_clean} clean + {o.rows_quarantined} quarantined"
        )

    return on_outcome


#: Worker processes shared by the county steps of a run whose steps all run in the process that
#: started it (``civstat run``: the in-process executor), by run id: started once, not once a step.
_run_pools: dict[str, tuple[contextlib.ExitStack, object]] = {}


def _close_pools(keep: str | None = None) -> None:
    for run_id in [r for r in _run_pools if r != keep]:
        _run_pools.pop(run_id)[0].close()


def _pool_for(context: dg.OpExecutionContext, paths, secret: bytes, files: int):
    """Worker processes for a county step's files, or None: the step cleans them itself.

    Under the multiprocess executor (the monthly job: web UI, schedules, sensor) each step is a
    process of its own and the executor runs steps side by side: the step cleans its files itself.
    When every step runs in the process that started the run (``civstat run``), the county steps
    share one pool of ``$CIVSTAT_WORKERS`` processes (default 2), as ``civstat ingest`` does."""
    from civstat.orchestrate import PID_TAG

    workers = default_workers()
    if context.run.tags.get(PID_TAG) != str(os.getpid()) or workers <= 1 or files <= 4:
        return None
    _close_pools(keep=context.run_id)
    if context.run_id not in _run_pools:
        stack = contextlib.ExitStack()
        _run_pools[context.run_id] = (stack, stack.enter_context(worker_pool(workers, paths, registry(), secret)))
    return _run_pools[context.run_id][1]


@dg.op(
    ins={f"raw_{r}": dg.In(dg.Nothing) for r in ROSTERS},
    out={"planned": dg.Out(), "families": dg.DynamicOut()},
    description="计划与区划代码 / what to clean, withdrawals, and the division registers (one at a time)",
)
def plan_ingestion(context: dg.OpExecutionContext, civstat: CivstatResource):
    kill_point("step:clean_rosters")
    paths, reg = civstat.paths(), registry()
    report = IngestReport()
    with single_writer(paths.data):  # alone: it may write any ledger partition
        plan = plan_ingest(paths, list(context.partition_keys), reg, report)
        report.outcomes += [FileOutcome(name, "skipped") for name in plan.skipped]
        say = _progress(context, len(plan.divisions))
        counties, _ = begin_ingest(paths, plan, reg, pseudonym_secret(), lambda o: (report.outcomes.append(o), say(o)))
    context.log.info(
        f"{len(plan.files)} files: {len(plan.skipped)} already in the ledger, {len(plan.divisions)} division registers, "
        f"{len(plan.families)} family rosters (or named like one), {len(plan.others)} others; {counties!r}"
    )
    yield dg.Output(Planned(plan, counties, report), "planned")
    for county, files in plan.by_county(plan.families, counties).items():
        work = CountyWork(county, files, {f: plan.digests[f] for f in files}, counties)
        yield dg.DynamicOutput(work, mapping_key=mapping_key(county), output_name="families")


@dg.op(description="家庭花名册（一个区县） / one county's family rosters")
def clean_county_families(context: dg.OpExecutionContext, civstat: CivstatResource, work: CountyWork) -> CountyFamilies:
    paths, secret = civstat.paths(), pseudonym_secret()
    with single_writer(paths.data, shared=True):  # beside the other counties' steps: they write other files
        outcomes, deferred = clean_files(
            paths,
            registry(),
            secret,
            work.files,
            work.digests,
            "family",
            pool=_pool_for(context, paths, secret, len(work.files)),
            on_outcome=_progress(context, len(work.files)),
        )
    return CountyFamilies(work.county, outcomes, deferred)


@dg.op(out=dg.DynamicOut(), description="其余文件按区县分组 / the other files by county, once every family roster is clean")
def plan_other_files(planned: Planned, families: list[CountyFamilies]):
    plan = planned.plan
    by_county = plan.by_county(plan.others + [f for c in families for f in c.deferred], planned.counties)
    family_outcomes = {c.county: c.outcomes for c in families}
    for county in sorted(set(by_county) | set(family_outcomes)):
        files = by_county.get(county, [])
        work = CountyWork(county, files, {f: plan.digests[f] for f in files}, planned.counties, family_outcomes.get(county, []))
        yield dg.DynamicOutput(work, mapping_key=mapping_key(county))


@dg.op(description="其余花名册（一个区县），记入该区县的清洗台账 / one county's other files; records the county's ledger partitions")
def clean_county_others(context: dg.OpExecutionContext, civstat: CivstatResource, work: CountyWork) -> list[FileOutcome]:
    paths, secret = civstat.paths(), pseudonym_secret()
    with single_writer(paths.data, shared=True):
        outcomes, _ = clean_files(
            paths,
            registry(),
            secret,
            work.files,
            work.digests,
            pool=_pool_for(context, paths, secret, len(work.files)),
            on_outcome=_progress(context, len(work.files)),
        )
        # this county's partitions only: no other step writes them
        record(paths, ledger_rows(work.families + outcomes), work.counties)
    return work.families + outcomes


@dg.op(out={r: dg.Out(dg.Nothing) for r in ROSTERS}, description="汇总 / the clean tables' figures; fails naming the files that failed")
def summarise_ingestion(context: dg.OpExecutionContext, civstat: CivstatResource, planned: Planned, counties: list[list[FileOutcome]]):
    """A file that cannot be read fails the run after the others are cleaned, so nothing downstream publishes."""
    _close_pools()
    paths = civstat.paths()
    report = planned.report
    report.outcomes += [o for county in counties for o in county]
    ledger = read_ledger(paths)
    periods = list(context.partition_keys)
    in_scope = ledger.filter(ledger["period"].is_in(list(with_their_years(periods))) & (ledger["status"] == "ok"))
    for roster in ROSTERS:
        rows = in_scope.filter(in_scope["roster"] == roster)
        yield dg.Output(
            None,
            output_name=roster,
            metadata={
                "files": rows.height,
                "rows_in": int(rows["rows_in"].sum() or 0),
                "rows_clean": int(rows["rows_clean"].sum() or 0),
                "rows_quarantined": int(rows["rows_quarantined"].sum() or 0),
            },
        )
    for name, why in report.ignored:
        context.log.warning(f"{name}: not ingested: {why}")
    for name in report.withdrawn:
        context.log.warning(f"{name}: no longer in data/raw: its rows were withdrawn")
    if report.failed:
        lines = "\n".join(f"- {o.error}" for o in report.failed[:20])
        raise dg.Failure(
            description=f"{len(report.failed)} file(s) could not be ingested; nothing is published:\n{lines}",
            metadata={"failed_files": [o.source_file for o in report.failed]},
        )


def _clean_rosters(**raw):
    planned, families = plan_ingestion(**raw)
    cleaned_families = families.map(clean_county_families).collect()
    others = plan_other_files(planned, cleaned_families).map(clean_county_others).collect()
    return summarise_ingestion(planned, others)._asdict()


clean_rosters = dg.AssetsDefinition.from_graph(
    dg.graph(
        name="clean_rosters",
        description="清洗：按区县并行 / ingestion of the month's files, one step per county and phase",
        ins={f"raw_{r}": dg.GraphIn() for r in ROSTERS},
        out={r: dg.GraphOut() for r in ROSTERS},
    )(_clean_rosters),
    keys_by_input_name={f"raw_{r}": dg.AssetKey(["raw", r]) for r in ROSTERS},
    keys_by_output_name={r: dg.AssetKey(["clean", r]) for r in ROSTERS},
    internal_asset_deps={r: {dg.AssetKey(["raw", r])} for r in ROSTERS},
    partitions_def=monthly,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="clean",
    descriptions_by_output_name={
        r: f"{registry()[r].zh}（清洗后） / {registry()[r].en}: clean, typed, pseudonymised Parquet in data/clean/{r}" for r in ROSTERS
    },
    tags_by_output_name={r: {"dagster/kind/polars": "", "dagster/kind/parquet": ""} for r in ROSTERS},
)

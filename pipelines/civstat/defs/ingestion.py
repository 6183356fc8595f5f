"""raw/<roster> and clean/<roster> assets: the files found for a month, and cleaning them."""

import dagster as dg

from civstat.defs.partitions import monthly
from civstat.defs.resources import CivstatResource
from civstat.faults import kill_point
from civstat.ingest import candidate_rosters, discover, ingest, read_ledger
from civstat.periods import with_their_years
from civstat.registry import registry

ROSTERS = list(registry().rosters)


def _raw_spec(roster: str) -> dg.AssetSpec:
    r = registry()[roster]
    return dg.AssetSpec(
        ["raw", roster], group_name="raw", description=f"{r.zh}：原始导出文件 / {r.en}: raw extracts in data/raw", kinds={"file"}
    )


def _clean_spec(roster: str) -> dg.AssetSpec:
    r = registry()[roster]
    return dg.AssetSpec(
        ["clean", roster],
        group_name="clean",
        deps=[["raw", roster]],
        description=f"{r.zh}（清洗后） / {r.en}: clean, typed, pseudonymised Parquet in data/clean/{roster}",
        kinds={"polars", "parquet"},
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


@dg.multi_asset(
    specs=[_clean_spec(r) for r in ROSTERS],
    partitions_def=monthly,
    can_subset=False,
    name="clean_rosters",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def clean_rosters(context: dg.AssetExecutionContext, civstat: CivstatResource):
    """Ingest the month's files (skipping those already in the ledger); a file that cannot be read
    fails the run after the others are cleaned, so nothing downstream publishes."""
    kill_point("step:clean_rosters")
    paths = civstat.paths()
    periods = list(context.partition_keys)
    report = ingest(
        paths,
        periods,
        on_file=lambda o, n, total: context.log.info(
            f"[{n}/{total}] {o.source_file}: {o.status} {o.rows_in} in = {o.rows_clean} clean + {o.rows_quarantined} quarantined"
        ),
    )
    ledger = read_ledger(paths)
    in_scope = ledger.filter(ledger["period"].is_in(list(with_their_years(periods))) & (ledger["status"] == "ok"))
    for roster in ROSTERS:
        rows = in_scope.filter(in_scope["roster"] == roster)
        yield dg.MaterializeResult(
            asset_key=["clean", roster],
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

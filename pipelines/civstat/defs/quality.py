"""Great Expectations suites as Dagster asset checks. Blocking ones stop the run before anything
downstream builds or publishes; the month-over-month jump check only warns."""

import dagster as dg
import polars as pl

from civstat.defs.partitions import RANGE_END, RANGE_START
from civstat.defs.resources import CivstatResource
from civstat.quality.audit import AuditResult
from civstat.quality.audit import rules as audit_rules
from civstat.quality.suites import MARTS_DIR
from civstat.registry import registry

ROSTERS = list(registry().rosters)
MART_SUITES = sorted(p.stem for p in MARTS_DIR.glob("*.json"))  # the hand-written suites of expectations/marts


def run_periods(context) -> list[str]:
    tags = context.run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    if RANGE_START in tags:
        from civstat.defs.partitions import monthly

        keys = monthly.get_partition_keys()
        return keys[keys.index(tags[RANGE_START]) : keys.index(tags[RANGE_END]) + 1]
    return []


def _result(r, check_name: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(r.asset),
        check_name=check_name,
        passed=r.success,
        severity=dg.AssetCheckSeverity.ERROR if r.blocking else dg.AssetCheckSeverity.WARN,
        description=r.describe(),
        metadata={
            "rows": r.rows,
            "expectations": r.evaluated,
            "failed": len(r.failures),
            "failures": dg.MetadataValue.md(
                "\n".join(f"- `{f.expectation}` {f.column or ''}: {f.unexpected} rows, e.g. {f.examples[:3]}" for f in r.failures) or "none"
            ),
        },
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "gx_suite",
            asset=["clean", r],
            blocking=True,
            description=f"Great Expectations: expectations/clean/{r}.json + known division codes + ledger row count",
        )
        for r in ROSTERS
    ],
    name="clean_quality",
    can_subset=True,
)
def clean_quality(context: dg.AssetCheckExecutionContext, civstat: CivstatResource):
    from civstat.quality.run import validate_clean

    paths = civstat.paths()
    docs = paths.quality / context.run.run_id[:8]
    selected = [k.asset_key.path[-1] for k in context.selected_asset_check_keys]
    for r in validate_clean(paths, run_periods(context) or None, docs, rosters=selected):
        context.log.info(r.describe())
        yield _result(r, "gx_suite")


@dg.multi_asset_check(
    specs=[
        *[
            dg.AssetCheckSpec("gx_suite", asset=["mart", m], blocking=True, description=f"Great Expectations: expectations/marts/{m}.json")
            for m in MART_SUITES
        ],
        dg.AssetCheckSpec(
            "monthly_change_within_bound",
            asset=["mart", "subsidy_coverage"],
            blocking=False,
            description="县级享受人数月环比变化不超过配置的幅度（超过只预警） / county recipient counts change by at most local.max_monthly_change",
        ),
    ],
    name="mart_quality",
    can_subset=True,
)
def mart_quality(context: dg.AssetCheckExecutionContext, civstat: CivstatResource):
    from civstat.quality.run import recipient_jumps, validate_marts

    paths = civstat.paths()
    build = paths.build_file
    docs = paths.quality / context.run.run_id[:8]
    names = {k.name for k in context.selected_asset_check_keys}
    if "gx_suite" in names:
        tables = {k.asset_key.path[-1] for k in context.selected_asset_check_keys if k.name == "gx_suite"}
        for r in validate_marts(build, docs, tables):
            yield _result(r, "gx_suite")
    if "monthly_change_within_bound" in names:
        bound = registry().local.max_monthly_change
        jumps = recipient_jumps(build, bound)
        examples = [
            f"{r['division_name']} {r['programme']} {r['period']}: {r['previous']} → {r['current']}"
            for r in jumps.head(5).iter_rows(named=True)
        ]
        yield dg.AssetCheckResult(
            asset_key=["mart", "subsidy_coverage"],
            check_name="monthly_change_within_bound",
            passed=jumps.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{jumps.height} county counts changed by more than {bound:.0%} in a month"
            + (": " + "; ".join(examples) if examples else ""),
            metadata={"jumps": jumps.height, "bound": bound},
        )


AUDITED = sorted({r.mart for r in audit_rules()})


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "audit_rules",
            asset=["mart", m],
            blocking=True,
            description=f"表内/表间审核: the rules of expectations/audit/rules.yaml over {m} (blocking ones stop publication)",
        )
        for m in AUDITED
    ],
    name="audit",
    can_subset=True,
)
def audit(context: dg.AssetCheckExecutionContext, civstat: CivstatResource):
    from civstat.quality.audit import evaluate, write_failures

    paths = civstat.paths()
    marts = {k.asset_key.path[-1] for k in context.selected_asset_check_keys}
    result = evaluate(paths.build_file, marts)
    if result.failures.height:
        out = write_failures(result, paths.quality / context.run.run_id[:8] / "审核结果.csv")
        context.log.info(f"审核 failures written to {out}")
    for mart in sorted(marts):
        ids = {r.id for r in audit_rules() if r.mart == mart}
        mine = result.failures.filter(pl.col("rule").is_in(ids))
        blocking = mine.filter((pl.col("importance") == "blocking") & ~pl.col("explained"))
        open_ = mine.filter(~pl.col("explained"))
        text = AuditResult(mine, {r: n for r, n in result.checked.items() if r in ids}).describe()
        context.log.info(text)
        yield dg.AssetCheckResult(
            asset_key=["mart", mart],
            check_name="audit_rules",
            passed=open_.height == 0,
            severity=dg.AssetCheckSeverity.ERROR if blocking.height else dg.AssetCheckSeverity.WARN,
            description=text,
            metadata={"failures": mine.height, "blocking": blocking.height, "explained": mine.height - open_.height},
        )

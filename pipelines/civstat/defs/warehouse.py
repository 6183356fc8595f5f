"""The dbt models as Dagster assets (dbt tests become asset checks) and the publication."""

import datetime as dt
import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from civstat.defs.partitions import monthly
from civstat.defs.resources import CivstatResource
from civstat.faults import kill_point
from civstat.warehouse import increments, sources
from civstat.warehouse.build import (
    DBT_PROJECT,
    BuildResult,
    dbt_env,
    dbt_vars,
    ensure_manifest,
    publish,
    published_models,
    single_writer,
)

PROJECT = DbtProject(project_dir=DBT_PROJECT, profiles_dir=DBT_PROJECT)
LAYER_PREFIX = {"staging": "staging", "intermediate": "intermediate", "marts": "mart"}


class Translator(DagsterDbtTranslator):
    """Models keep their dbt names under a layer prefix: staging/…, intermediate/…, mart/…; the
    sources resolve to the clean/<roster> assets through their meta.dagster.asset_key."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed"):
            folder = dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else "reference"
            return dg.AssetKey([LAYER_PREFIX.get(folder, folder), dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return self.get_asset_key(dbt_resource_props).path[0]


def upstream_of(selected: list[str]) -> list[str]:
    """What the selected models need built first: their parent models and seeds, and every other
    model their tests read (a relationship test reads a dimension). dbt adds their own upstream."""
    nodes = json.loads(PROJECT.manifest_path.read_text(encoding="utf-8"))["nodes"]
    ids = {n["unique_id"] for n in nodes.values() if n["resource_type"] in ("model", "seed") and n["name"] in selected}
    readers = [nodes[i] for i in ids] + [n for n in nodes.values() if n["resource_type"] == "test" and ids & set(n["depends_on"]["nodes"])]
    return sorted({nodes[d]["name"] for r in readers for d in r["depends_on"]["nodes"] if d in nodes and d not in ids})


@dbt_assets(
    manifest=ensure_manifest(),
    project=PROJECT,
    partitions_def=monthly,
    exclude="resource_type:unit_test",
    dagster_dbt_translator=Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, civstat: CivstatResource):
    """dbt build into data/warehouse/build.duckdb (never the published file): the months whose
    inputs changed since the last complete build, or every month (``civstat.warehouse.increments``;
    the run tag civstat/full-refresh asks for every month).

    Intermediate models live in memory for one dbt process (profiles.yml). When only some models
    are selected (a click in the UI, a retry), every month is rebuilt: their upstream first, without
    being reported, with the intermediates in a scratch file the selected models then read."""
    from civstat.orchestrate import FULL_REFRESH_TAG

    kill_point("step:warehouse_models")
    paths = civstat.paths()
    build_file = paths.build_file
    scratch = build_file.with_name("scratch.duckdb")
    # one dbt target directory per data directory, used under the lock: dbt keeps its parse there,
    # so the next run re-parses only what changed (dagster-dbt's default is a new one each time)
    target = paths.dbt_target
    with single_writer(paths):  # taken before anything is deleted or written, whoever starts the run
        build_file.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (scratch, scratch.with_name("scratch.duckdb.wal")):
            leftover.unlink(missing_ok=True)
        sources.write_schema_files(paths.clean)
        full_refresh = context.is_subset or context.run.tags.get(FULL_REFRESH_TAG) == "true"
        build_plan = increments.plan(
            paths,
            dbt_vars(),
            full_refresh=full_refresh,
            run_months=list(context.partition_keys) if context.has_partition_key_range else None,
        )
        context.log.info(build_plan.describe())
        increments.started(paths, build_plan)
        os.environ.update(dbt_env(paths, build_file))
        dbt_args = ["--vars", json.dumps({**dbt_vars(), **build_plan.dbt_vars()}), *(["--full-refresh"] if build_plan.full else [])]
        if not context.is_subset:
            yield from dbt.cli(["build", *dbt_args], context=context, target_path=target).stream()
            increments.finished(paths, build_plan)
            return
        selected = sorted(key.path[-1] for key in context.selected_asset_keys)
        context.log.info("only %s selected: building their upstream models first", ", ".join(selected))
        os.environ["CIVSTAT_DBT_SCRATCH"] = str(scratch)
        try:
            upstream = [
                "build",
                *dbt_args,
                "--select",
                " ".join(f"+{name}" for name in upstream_of(selected)),
                "--exclude-resource-type",
                "unit_test",
                "--indirect-selection",
                "cautious",
            ]
            dbt.cli(upstream, manifest=PROJECT.manifest_path, target_path=target).wait()
            yield from dbt.cli(["build", *dbt_args], context=context, target_path=target).stream()
        finally:
            os.environ.pop("CIVSTAT_DBT_SCRATCH", None)
            scratch.unlink(missing_ok=True)


@dg.asset(
    key=["mart", "published"],
    group_name="mart",
    partitions_def=monthly,
    kinds={"duckdb", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[["mart", name] for name in published_models(ensure_manifest())],
    description="发布：data/marts 下的 Parquet 与 warehouse.duckdb（原子替换） / the publication in data/marts, swapped in atomically",
)
def published_marts(context: dg.AssetExecutionContext, civstat: CivstatResource) -> dg.MaterializeResult:
    kill_point("step:published_marts")
    paths = civstat.paths()
    build_file = paths.build_file
    with single_writer(paths):
        batch = dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + context.run_id[:8]
        published = publish(paths, BuildResult(run_id=batch, build_file=build_file, seconds=0.0))
    return dg.MaterializeResult(metadata={"warehouse": str(published), "tables": list(published_models())})

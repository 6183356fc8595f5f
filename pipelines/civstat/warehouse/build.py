"""Run dbt over the clean Parquet into the DuckDB build file, then publish it as one release.

Only one run at a time writes (``civstat.locking``). dbt builds into ``data/warehouse/build.duckdb``,
kept from run to run: a build rewrites only the months whose inputs changed, or every month when it
must (``civstat.warehouse.increments``); nothing under ``data/marts`` changes until every model and
test has passed. Publication writes a
whole release, ``data/marts/releases/<batch>/`` (each mart's Parquet file, ``warehouse.duckdb`` with
the marts, dimensions and their descriptions, ``_publication.json``), then switches one pointer,
``data/marts/current`` (a symbolic link, replaced by an atomic rename). The stable paths analysts
use (``data/marts/warehouse.duckdb``, ``data/marts/<mart>.parquet``) are links through ``current``,
so a reader opening any of them gets the old release or the new one, never a mix; a failed or
killed run leaves the previous release in place, and its leftovers are removed by the next one.
The last ``local.keep_releases`` releases (default 5) are kept, so last year's tables can be
reproduced after this year's data arrives.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path

import duckdb
from dagster_dbt import DbtCliResource
from packaging.version import Version

from civstat.faults import kill_point
from civstat.registry import registry as default_registry
from civstat.settings import PROJECT_ROOT, Paths
from civstat.warehouse import increments, sources

log = logging.getLogger("civstat.warehouse")

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"


@dataclass(frozen=True)
class PublishedModel:
    """A model dbt tags ``published`` (a table of warehouse.duckdb), with its descriptions."""

    name: str
    parquet: bool  # also tagged ``parquet``: a Parquet file beside warehouse.duckdb
    description: str
    columns: dict[str, str]


def published_models(manifest: Path = MANIFEST) -> dict[str, PublishedModel]:
    """What is published, read once from dbt's manifest: dbt says, not a list kept here."""
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    tagged = sorted((n for n in nodes if n["resource_type"] == "model" and "published" in n.get("tags", [])), key=lambda n: n["name"])
    return {
        n["name"]: PublishedModel(
            n["name"],
            "parquet" in n["tags"],
            n.get("description", ""),
            {c: v.get("description", "") for c, v in n.get("columns", {}).items()},
        )
        for n in tagged
    }


class BuildError(Exception):
    """dbt failed: the message names the models or tests that failed."""


class AuditFailed(BuildError):
    """A blocking 审核 rule failed on the build: nothing is published; the message lists the failures."""


def audit_gate(paths: Paths, build_result: BuildResult) -> None:
    """The 审核 rules over the build file; the failures go to data/quality/<run>/审核结果.csv. Raise
    AuditFailed when a blocking one that no 说明 explains failed."""
    from civstat.quality.audit import evaluate, write_failures

    result = evaluate(build_result.build_file)
    listed = paths.quality / build_result.run_id / "审核结果.csv"
    if result.failures.height:
        write_failures(result, listed)
    if not result.passed:
        raise AuditFailed(f"nothing published: {result.describe()}\n(all failures: {listed})")


@dataclass
class BuildResult:
    run_id: str
    build_file: Path
    seconds: float
    results: list[dict] = field(default_factory=list)  # one per dbt node: name, status, message, failures
    plan: str = ""  # which months the build rewrote (increments.BuildPlan.describe)


@contextlib.contextmanager
def single_writer(paths: Paths) -> Iterator[None]:
    """Hold the data directory's writer lock (``civstat.locking``): one run writes at a time."""
    from civstat.locking import single_writer as lock

    with lock(paths.data):
        yield


def dbt_vars() -> dict:
    """The local options dbt's models read: the settings model, dumped."""
    return default_registry().settings.dbt_vars()


def dbt_env(paths: Paths, build_file: Path) -> dict[str, str]:
    return {
        "CIVSTAT_DUCKDB_PATH": str(build_file.resolve()),
        "CIVSTAT_CLEAN_DIR": str(paths.clean.resolve()),
        "CIVSTAT_SPARK_WAREHOUSE": str(paths.spark_warehouse.resolve()),  # the `spark` target's (profiles.yml)
        "DBT_PROFILES_DIR": str(DBT_PROJECT),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_args(command: str, *extra: str) -> list[str]:
    return [command, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT), "--vars", json.dumps(dbt_vars()), *extra]


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def ensure_manifest() -> Path:
    """dbt's manifest.json in dbt_project/target, parsed afresh when a model, macro or YAML file is
    newer than it (Dagster's asset graph and the publication read it). One process parses at a
    time (an ``flock`` on target/.parse.lock): another that finds it stale too waits, then finds it
    fresh, instead of writing the same files at once (a CLI run beside Dagster, parallel tests)."""
    import fcntl

    if not _manifest_stale():
        return MANIFEST  # the usual case: no lock to take
    MANIFEST.parent.mkdir(exist_ok=True)
    with open(MANIFEST.parent / ".parse.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if _manifest_stale():  # still: no other process parsed it while this one waited
            env = {
                **os.environ,
                "CIVSTAT_DUCKDB_PATH": os.environ.get("CIVSTAT_DUCKDB_PATH", "/tmp/civstat-parse.duckdb"),
                "CIVSTAT_CLEAN_DIR": os.environ.get("CIVSTAT_CLEAN_DIR", "/tmp/civstat-parse-clean"),
                "DO_NOT_TRACK": "1",
            }
            parsed = subprocess.run([dbt_executable(), *dbt_args("parse")], env=env, cwd=DBT_PROJECT, capture_output=True, text=True)
            if parsed.returncode:  # a broken model or YAML file: dbt's own words (about the project, never about rows)
                said = [line for line in parsed.stdout.splitlines() if line.strip()][-4:]
                raise BuildError("dbt could not parse the project: " + " | ".join(said))
    return MANIFEST


def _manifest_stale() -> bool:
    inputs = [p for d in ("models", "macros", "seeds", "tests") for p in (DBT_PROJECT / d).rglob("*") if p.is_file()]
    inputs.append(DBT_PROJECT / "dbt_project.yml")
    return not MANIFEST.exists() or max(p.stat().st_mtime for p in inputs) > MANIFEST.stat().st_mtime


class _DbtCli(DbtCliResource):
    """dagster-dbt's resource, told dbt's version by the package metadata when the executable is this
    environment's own, instead of by a `dbt --version` process on every run (about 2.5 s each)."""

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable) == Path(sys.executable).with_name("dbt"):
            return Version(metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)


def dbt_resource() -> DbtCliResource:
    """The one way civstat runs dbt, from the CLI and from Dagster alike."""
    return _DbtCli(project_dir=str(DBT_PROJECT), profiles_dir=str(DBT_PROJECT), dbt_executable=dbt_executable())


def run_dbt(
    paths: Paths,
    build_file: Path,
    command: str = "build",
    *extra: str,
    variables: dict | None = None,
    target: str | None = None,
    target_path: Path | None = None,
) -> list[dict]:
    """Run one dbt command (its own process: no DuckDB handle outlives it) through ``dbt_resource``
    with the local options and ``variables`` (a build's months) as vars, on profiles.yml's default
    target or ``target`` (with its artifacts in ``target_path``); raise BuildError naming the
    models or tests that failed, with dbt's own output in the log."""
    sources.write_schema_files(paths.clean)
    os.environ.update(dbt_env(paths, build_file))
    target_path = target_path or paths.dbt_target
    invocation = dbt_resource().cli(
        [command, *(("--target", target) if target else ()), "--vars", json.dumps({**dbt_vars(), **(variables or {})}), *extra],
        raise_on_error=False,
        manifest=ensure_manifest(),
        target_path=target_path,
    )
    invocation.wait()
    try:
        results = invocation.get_artifact("run_results.json").get("results", [])
    except FileNotFoundError:
        results = []
    nodes = [
        {
            "unique_id": r["unique_id"],
            "name": r["unique_id"].split(".")[-1] if r["unique_id"].startswith(("model", "seed")) else r["unique_id"].split(".", 2)[-1],
            "status": r["status"],
            "message": r.get("message"),
            "failures": r.get("failures"),
            "seconds": r.get("execution_time"),
        }
        for r in results
    ]
    if not invocation.is_successful():
        failed = [n for n in nodes if n["status"] in ("error", "fail")]
        detail = "; ".join(f"{n['unique_id']}: {n['status']} ({n['message']})" for n in failed[:10])
        raise BuildError(f"dbt {command} failed: {detail or 'see the dbt log in ' + str(target_path / 'dbt.log')}")
    return nodes


def build(paths: Paths, run_id: str | None = None, *, unit_tests: bool = False, full_refresh: bool = False) -> BuildResult:
    """dbt build (seeds, models, data tests) into the build file: the months whose inputs changed,
    or every month (``full_refresh``, or when ``increments.plan`` says so).

    dbt's unit tests check the SQL of the formulas, not the data; as dbt recommends, they run in
    development and CI (``unit_tests=True``, and ``tests/test_warehouse.py``), not on every
    production build."""
    run_id = run_id or dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    paths.warehouse.mkdir(parents=True, exist_ok=True)
    build_plan = increments.plan(paths, dbt_vars(), full_refresh=full_refresh)
    log.info("%s", build_plan.describe())
    increments.started(paths, build_plan)
    started = time.perf_counter()
    options = [*(() if unit_tests else ("--exclude-resource-type", "unit_test")), *(("--full-refresh",) if build_plan.full else ())]
    nodes = run_dbt(paths, paths.build_file, "build", *options, variables=build_plan.dbt_vars())
    increments.finished(paths, build_plan)
    return BuildResult(run_id, paths.build_file, time.perf_counter() - started, nodes, build_plan.describe())


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refuse_failed_files(paths: Paths) -> None:
    """Nothing is published while a raw file cannot be read or was rejected (its rows are missing),
    nor from no clean data at all (an empty warehouse is not a publication)."""
    from civstat.ingest import FAILED, OK, REJECTED, read_ledger

    ledger = read_ledger(paths)
    if not ledger.filter((ledger["status"] == OK) & (ledger["rows_clean"] > 0)).height:
        raise BuildError(
            f"没有可构建的数据 / nothing to build: no clean data in {paths.clean} (put exports in {paths.raw}/<YYYY-MM>/ and run `civstat run`)"
        )
    bad = ledger.filter(ledger["status"].is_in([FAILED, REJECTED]))
    if bad.height:
        names = ", ".join(bad["source_file"].head(5).to_list()) + (f" and {bad.height - 5} more" if bad.height > 5 else "")
        raise BuildError(
            f"{bad.height} raw file(s) could not be ingested ({names}); nothing is published until they are "
            "fixed or removed from data/raw (civstat status lists why)"
        )


def source_files(paths: Paths) -> list[dict]:
    """The raw files a publication is built from: name, content hash, rows."""
    from civstat.ingest import OK, read_ledger

    ledger = read_ledger(paths)
    ok = ledger.filter(ledger["status"] == OK).sort("source_file")
    return [
        {"source_file": r["source_file"], "sha256": r["content_sha256"], "rows_clean": r["rows_clean"]}
        for r in ok.select("source_file", "content_sha256", "rows_clean").iter_rows(named=True)
    ]


def _switch_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` with one atomic rename (readers see the old or the new target)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    if link.is_dir() and not link.is_symlink():  # a copy of the data directory made without links
        aside = link.with_name(f".{link.name}.{os.getpid()}.old")
        os.replace(link, aside)
        os.replace(tmp, link)
        shutil.rmtree(aside, ignore_errors=True)
        return
    os.replace(tmp, link)


def clean_leftovers(paths: Paths) -> None:
    """Remove what killed runs left: half-written releases, stray link files, old staging folders."""
    marts_dir = paths.marts
    if not marts_dir.exists():
        return
    for stale in [*marts_dir.glob(".publish-*"), *(marts_dir / "releases").glob(".incoming-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    for stale in [*marts_dir.glob(".*.tmp"), *marts_dir.glob(".*.old")]:
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() and not stale.is_symlink() else stale.unlink(missing_ok=True)


def releases(paths: Paths) -> list[Path]:
    """The complete releases, oldest first (by when they were published)."""
    root = paths.marts / "releases"

    def published_at(release: Path) -> str:
        try:
            return json.loads((release / "_publication.json").read_text(encoding="utf-8"))["published_at"]
        except (OSError, ValueError, KeyError):
            return ""

    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")] if root.exists() else []
    return sorted(found, key=lambda p: (published_at(p), p.name))


def publish(paths: Paths, build_result: BuildResult) -> Path:
    """Write a release of marts and dimensions from the build file, then switch ``current`` to it."""
    marts_dir = paths.marts
    clean_leftovers(paths)
    audit_gate(paths, build_result)
    batch = build_result.run_id
    staging = marts_dir / "releases" / f".incoming-{batch}"
    staging.mkdir(parents=True)
    models = published_models(ensure_manifest())
    try:
        _publish_from(staging, build_result, models, source_files(paths))
        kill_point("publish:release-written")
        release = staging.with_name(batch)
        os.replace(staging, release)
        kill_point("publish:before-switch")
        _switch_link(marts_dir / "current", f"releases/{batch}")
        kill_point("publish:after-switch")
        files = [f"{m.name}.parquet" for m in models.values() if m.parquet] + ["_publication.json", "warehouse.duckdb"]
        for name in files:  # stable paths, through current (set once; old real files replaced)
            stable = marts_dir / name
            if not (stable.is_symlink() and os.readlink(stable) == f"current/{name}"):
                _switch_link(stable, f"current/{name}")
        _keep_last_releases(paths, batch)
        return paths.published_warehouse
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _keep_last_releases(paths: Paths, current: str) -> None:
    keep = default_registry().local.keep_releases
    old = [r for r in releases(paths) if r.name != current]
    for release in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(release, ignore_errors=True)


def _publish_from(staging: Path, build_result: BuildResult, models: dict[str, PublishedModel], sources_used: list[dict]) -> None:
    target_db = staging / "warehouse.duckdb"
    con = duckdb.connect(str(target_db))
    try:
        con.execute(f"attach {_sql_text(str(build_result.build_file))} as build (read_only)")
        schemas = dict(
            con.execute("select table_name, table_schema from information_schema.tables where table_catalog = 'build'").fetchall()
        )
        missing = [name for name in models if name not in schemas]
        if missing:
            raise BuildError(
                f"{build_result.build_file} lacks {', '.join(missing)}: publication needs every mart, "
                "alert table and dimension from one dbt build (materialise all mart assets together)"
            )
        for name in models:
            con.execute(f'create table "{name}" as select * from build."{schemas[name]}"."{name}"')
            model = models[name]
            if model.description:
                con.execute(f'comment on table "{name}" is {_sql_text(model.description)}')
            held = {c for (c,) in con.execute(f'select column_name from (describe "{name}")').fetchall()}
            for column, column_text in model.columns.items():
                # a documented column a configuration leaves out (a 高龄 tier the bureau does not have) is not there
                if column_text and column in held:
                    con.execute(f'comment on column "{name}"."{column}" is {_sql_text(column_text)}')
        for name in (m.name for m in models.values() if m.parquet):
            con.execute(f'copy "{name}" to {_sql_text(str(staging / (name + ".parquet")))} (format parquet)')
        con.execute(
            "create table _publication as select ? as run_id, ? as published_at",
            [build_result.run_id, dt.datetime.now().isoformat(timespec="seconds")],
        )
        con.execute("detach build")
        con.execute("checkpoint")
    finally:
        con.close()
    info = {
        "run_id": build_result.run_id,
        "batch": build_result.run_id,
        "release": f"releases/{build_result.run_id}",
        "published_at": dt.datetime.now().isoformat(timespec="seconds"),
        "files": sorted([*(p.name for p in staging.iterdir()), "_publication.json"]),
        "built_from": sources_used,
    }
    (staging / "_publication.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")


def build_and_publish(paths: Paths, *, unit_tests: bool = False, full_refresh: bool = False) -> tuple[BuildResult, Path]:
    with single_writer(paths):
        refuse_failed_files(paths)
        result = build(paths, unit_tests=unit_tests, full_refresh=full_refresh)
        kill_point("build:before-publish")
        published = publish(paths, result)
        cleanup_builds(paths, keep=result.build_file)
        return result, published


def cleanup_builds(paths: Paths, keep: Path | None = None) -> None:
    """Remove build files other than ``keep`` (the build file the next build continues from)."""
    for old in paths.warehouse.glob("build*.duckdb*"):
        if keep is None or old.name not in (keep.name, keep.name + ".wal"):
            old.unlink(missing_ok=True)

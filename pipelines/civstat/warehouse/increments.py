"""Incremental builds: which months a build rewrites.

The build file (``data/warehouse/build.duckdb``) is kept from run to run: it holds the per-month
marts and the low-income memberships, so a month's run rewrites that month only and reads the month
before from what is kept (dbt_project/macros/build_window.sql). ``build_state.json`` beside it
records what the last complete build was made from: a fingerprint of the models (dbt project files,
local options, dbt and DuckDB versions) and a digest of the clean inputs of every roster and period
(from the ingest ledger).

A build compares the ledger with that record:

- no record (first build, or the last one failed or was killed), no build file, a changed
  fingerprint, a changed file of a roster with ``rebuild: all`` (divisions, standards), or
  ``--full-refresh``: a full build of every month;
- otherwise it rebuilds from the earliest month whose inputs changed (a yearly register: from
  January of its year) to the last month held; when nothing changed, from the run's first month
  (a Dagster run's partitions) or the last month.

The record is removed before dbt starts and written after every model and test passed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import version

from civstat.periods import Period
from civstat.registry import Registry
from civstat.registry import registry as default_registry
from civstat.settings import PROJECT_ROOT, Paths

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
MODEL_FILES = ("models", "macros", "seeds", "tests")


@dataclass(frozen=True)
class BuildPlan:
    rebuild_from: Period | None  # the first month rewritten; None: every month (a full build)
    reason: str
    fingerprint: str
    inputs: dict[str, str]  # "<roster>/<period>" -> digest of its clean files

    @property
    def full(self) -> bool:
        return self.rebuild_from is None

    def dbt_vars(self) -> dict:
        return {} if self.full else {"rebuild_from": self.rebuild_from.first_day.isoformat()}

    def describe(self) -> str:
        if self.full:
            return f"full build of every month ({self.reason})"
        return f"incremental build from {self.rebuild_from.key} ({self.reason})"


def fingerprint(dbt_vars: dict) -> str:
    """What the models are: their files, the local options and the engine versions."""
    digest = hashlib.sha256(json.dumps(dbt_vars, sort_keys=True, ensure_ascii=False).encode())
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{package}={version(package)}".encode())
    files = [DBT_PROJECT / "dbt_project.yml", DBT_PROJECT / "profiles.yml"]
    files += sorted(p for d in MODEL_FILES for p in (DBT_PROJECT / d).rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(DBT_PROJECT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def clean_inputs(paths: Paths) -> dict[str, str]:
    """A digest per roster and period of the clean files the build reads (the ledger's ok rows)."""
    from civstat.ingest import OK, read_ledger

    ledger = read_ledger(paths)
    ok = ledger.filter(ledger["status"] == OK).sort("source_file")
    digests: dict[str, hashlib._Hash] = {}
    for row in ok.select("roster", "period", "source_file", "content_sha256", "config_sha256", "rows_clean").iter_rows(named=True):
        key = f"{row['roster']}/{row['period']}"
        line = f"{row['source_file']}|{row['content_sha256']}|{row['config_sha256']}|{row['rows_clean']}\n"
        digests.setdefault(key, hashlib.sha256()).update(line.encode())
    return {key: d.hexdigest() for key, d in sorted(digests.items())}


def read_state(paths: Paths) -> dict | None:
    try:
        return json.loads(paths.build_state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def plan(
    paths: Paths, dbt_vars: dict, *, full_refresh: bool = False, run_months: list[str] | None = None, reg: Registry | None = None
) -> BuildPlan:
    """Which months this build rewrites (see the module's text)."""
    reg = reg or default_registry()
    inputs, prints = clean_inputs(paths), fingerprint(dbt_vars)

    def full(reason: str) -> BuildPlan:
        return BuildPlan(None, reason, prints, inputs)

    months = sorted(Period.parse(key.split("/", 1)[1]) for key in inputs if reg[key.split("/", 1)[0]].period == "month")
    state = read_state(paths)
    if full_refresh:
        return full("asked for")
    if state is None or not paths.build_file.exists():
        return full("no complete earlier build")
    if state.get("fingerprint") != prints:
        return full("the models, the local options or the engine changed")
    if not months:
        return full("no monthly rosters")
    before: dict[str, str] = state.get("inputs", {})
    changed = sorted(key for key in before.keys() | inputs.keys() if before.get(key) != inputs.get(key))
    if any(reg[key.split("/", 1)[0]].rebuild == "all" for key in changed if key.split("/", 1)[0] in reg.rosters):
        return full(
            "a register every month depends on changed: " + ", ".join(k for k in changed if reg[k.split("/", 1)[0]].rebuild == "all")
        )
    if not changed:
        if run_months:
            return BuildPlan(Period.parse(min(run_months)), "nothing changed: the run's months again", prints, inputs)
        return BuildPlan(months[-1], "nothing changed: the last month again", prints, inputs)
    start = min(Period.parse(key.split("/", 1)[1]) for key in changed)
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return BuildPlan(Period(start.year, start.month or 1), f"changed: {shown}", prints, inputs)


def started(paths: Paths, build_plan: BuildPlan) -> None:
    """Forget the record before dbt writes (a failed build is followed by a full one); a full build
    starts from an empty file."""
    paths.build_state.unlink(missing_ok=True)
    if build_plan.full:
        for leftover in (paths.build_file, paths.build_file.with_name(paths.build_file.name + ".wal")):
            leftover.unlink(missing_ok=True)


def finished(paths: Paths, build_plan: BuildPlan) -> None:
    """Record what the complete build was made from."""
    record = {"fingerprint": build_plan.fingerprint, "inputs": build_plan.inputs, "built": build_plan.describe()}
    tmp = paths.build_state.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(paths.build_state)

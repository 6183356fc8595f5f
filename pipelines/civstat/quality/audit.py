"""表内/表间审核: the audit rules of expectations/audit/rules.yaml, evaluated in DuckDB over the
annual marts of a build file before publication. Each failure names the rule, the region, the
year and both sides' figures; blocking failures that no 说明 explains stop publication."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from civstat import tiers
from civstat.quality.suites import EXPECTATIONS

RULES = EXPECTATIONS / "audit" / "rules.yaml"
OPERATORS = {"=": "abs(l - r) <= {t}", "<=": "l <= r + {t}", ">=": "l >= r - {t}", "<": "l < r + {t}", ">": "l > r - {t}"}
PRIOR = re.compile(r"\bprior\.(\w+)")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    mart: str
    left: str
    op: Literal["=", "<=", ">=", "<", ">", "within"]
    right: str
    importance: Literal["blocking", "warning"]
    message: str
    where: str | None = None
    tolerance: float | str = 0
    explainable: bool = False

    def text(self) -> str:
        return f"{self.left} {self.op} {self.right}"


class AuditError(ValueError):
    """The rules file is not valid, or a rule does not run on the marts: the message names it."""


def rules(path: Path = RULES) -> tuple[Rule, ...]:
    """The rules of ``path``; one marked ``each_tier`` once per configured 高龄 tier (id ``FL01.2``
    for the second), ``{+ EXPR}`` summed over the tiers (civstat.tiers)."""
    return _rules(path, tuple(tiers.configured()))


@cache
def _rules(path: Path, configured_tiers: tuple[int, ...]) -> tuple[Rule, ...]:
    try:
        written = []
        for r in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]:
            copies = tiers.expand(r, ("left", "right", "message", "where"), len(configured_tiers))
            written += [{**c, "id": f"{c['id']}.{n}"} for n, c in enumerate(copies, start=1)] if r.get("each_tier") else copies
        found = tuple(Rule.model_validate(r) for r in written)
    except (ValidationError, KeyError, TypeError, AttributeError) as e:
        raise AuditError(f"{path}: not a list of rules ({type(e).__name__})") from None
    seen = [r.id for r in found]
    if len(set(seen)) != len(seen):
        raise AuditError(f"{path}: rule ids repeat: {', '.join(sorted({i for i in seen if seen.count(i) > 1}))}")
    return found


@dataclass
class AuditResult:
    failures: pl.DataFrame  # rule, importance, message, division_code, division_name, division_level, year, left, right, explained, note
    checked: dict[str, int]  # rule -> rows checked

    @property
    def blocking(self) -> pl.DataFrame:
        return self.failures.filter((pl.col("importance") == "blocking") & ~pl.col("explained"))

    @property
    def passed(self) -> bool:
        return self.blocking.height == 0

    def describe(self, limit: int = 10) -> str:
        """A line per failure (the first ``limit``): rule, region, year, both figures, the message."""
        if self.failures.height == 0:
            return f"审核：{len(self.checked)} rules, {sum(self.checked.values())} rows checked, no failure"
        lines = [
            f"审核：{self.blocking.height} blocking failure(s), {self.failures.height} in all "
            f"({len(self.checked)} rules, {sum(self.checked.values())} rows checked)"
        ]
        ordered = self.failures.sort(["explained", "importance", "rule", "division_code"])
        for f in ordered.head(limit).iter_rows(named=True):
            tag = "说明已备" if f["explained"] else ("阻断" if f["importance"] == "blocking" else "提示")
            lines.append(
                f"  [{tag}] {f['rule']} {f['division_name']}（{f['division_code']}）{f['year']}年："
                f"{_side(f['left_text'], f['left'])}，{_side(f['right_text'], f['right'])}；{f['message']}"
            )
        if self.failures.height > limit:
            lines.append(f"  … and {self.failures.height - limit} more")
        return "\n".join(lines)


def _figure(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _side(text: str, value: float | None) -> str:
    shown = _figure(value)
    return shown if text.replace(".", "", 1).isdigit() else f"{text} = {shown}"


def _tolerance(rule: Rule) -> float:
    if isinstance(rule.tolerance, str):
        from civstat.registry import registry

        return float(getattr(registry().local, rule.tolerance))
    return float(rule.tolerance)


def _sql(rule: Rule, prior_columns: list[str]) -> str:
    left, right = (PRIOR.sub(r"prior__\1", side) for side in (rule.left, rule.right))
    t = _tolerance(rule)
    condition = f"abs(l - r) <= {t} * abs(r)" if rule.op == "within" else OPERATORS[rule.op].format(t=t)
    uses_prior = bool(PRIOR.search(f"{rule.left} {rule.right}"))
    joined = (
        f"""(select this.*, {", ".join(f'prior."{c}" as "prior__{c}"' for c in prior_columns)}
             from "{rule.mart}" as this
             inner join "{rule.mart}" as prior on prior.division_code = this.division_code and prior.year = this.year - 1)"""
        if uses_prior
        else f'"{rule.mart}"'
    )
    return f"""
        with sides as (
            select division_code, year, cast(({left}) as double) as l, cast(({right}) as double) as r
            from {joined} as m
            {f"where {rule.where}" if rule.where else ""}
        )
        select division_code, year, l, r, not ({condition}) as failed
        from sides where l is not null and r is not null"""


def _frame(con, sql: str) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql).to_arrow_table())


def evaluate(database: Path | duckdb.DuckDBPyConnection, marts: set[str] | None = None) -> AuditResult:
    """Run the rules (over ``marts``, or all) on the marts in ``database`` (a file or a connection)."""
    from civstat.registry import registry

    con = duckdb.connect(str(database), read_only=True) if isinstance(database, Path) else database
    explained = {(e.rule, e.region, e.year): e.note for e in registry().settings.audit_explanations}
    frames, checked = [], {}
    try:
        names = _frame(con, "select division_code, division_name, division_level from dim_divisions")
        for rule in (r for r in rules() if marts is None or r.mart in marts):
            columns = [c for (c,) in con.execute(f'select column_name from (describe "{rule.mart}")').fetchall()]
            try:
                rows = _frame(con, _sql(rule, columns))
            except duckdb.Error as e:
                raise AuditError(f"{RULES.name}: rule {rule.id} ({rule.text()}) does not run on {rule.mart}: {e}") from None
            checked[rule.id] = rows.height
            failed = rows.filter(pl.col("failed")).drop("failed")
            if failed.height:
                frames.append(
                    failed.rename({"l": "left", "r": "right"}).with_columns(
                        rule=pl.lit(rule.id),
                        importance=pl.lit(rule.importance),
                        message=pl.lit(rule.message),
                        left_text=pl.lit(rule.left),
                        right_text=pl.lit(rule.right),
                        explainable=pl.lit(rule.explainable),
                    )
                )
    finally:
        if isinstance(database, Path):
            con.close()
    schema = {
        "division_code": pl.String, "year": pl.Int64, "left": pl.Float64, "right": pl.Float64, "rule": pl.String,
        "importance": pl.String, "message": pl.String, "left_text": pl.String, "right_text": pl.String, "explainable": pl.Boolean,
    }  # fmt: skip
    failures = pl.concat([f.cast(schema) for f in frames]) if frames else pl.DataFrame(schema=schema)
    notes = pl.DataFrame(
        [{"rule": r, "division_code": c, "year": y, "note": n} for (r, c, y), n in explained.items()],
        schema={"rule": pl.String, "division_code": pl.String, "year": pl.Int64, "note": pl.String},
    )
    failures = (
        failures.join(names, on="division_code", how="left")
        .join(notes, on=["rule", "division_code", "year"], how="left")
        .with_columns(explained=pl.col("explainable") & pl.col("note").is_not_null())
        .drop("explainable")
    )
    return AuditResult(failures, checked)


def write_failures(result: AuditResult, out: Path) -> Path:
    """The failures as a CSV a statistician opens in Excel (UTF-8 with BOM)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = ["rule", "importance", "explained", "division_code", "division_name", "division_level", "year",
               "left_text", "left", "right_text", "right", "message", "note"]  # fmt: skip
    result.failures.select(columns).sort(["rule", "division_code", "year"]).write_csv(out, include_bom=True)
    return out

"""Sample-data generator: ``civstat generate --scale county --months 12 --seed 7 --out data/raw``.

Invents a coherent region and writes each month's roster extracts the way bureau staff export
them, quirks included, plus a manifest (``_manifest/manifest.json`` beside the files) of what every
file must clean to, the true totals, and the planted warning cases. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from civstat.generate import writers
from civstat.generate.months import MonthView
from civstat.generate.plant import plant
from civstat.generate.registers import ELDER_BANDS
from civstat.generate.render import choose_style, render
from civstat.generate.world import SCALES, County, build_divisions, build_people, month_add, standards_schedule
from civstat.registry import Registry
from civstat.registry import registry as default_registry

MANIFEST_DIR = "_manifest"

DISABILITY_CODES = {1: "visual", 2: "hearing", 3: "speech", 4: "physical", 5: "intellectual", 6: "mental", 7: "multiple"}
FAMILY_FILE = {
    "dibao": "低保家庭花名册",
    "tekun": "特困供养家庭花名册",
    "marginal": "低保边缘家庭花名册",
    "rigid": "刚性支出困难家庭花名册",
}
PERSON_FILE = {
    "dibao": "低保人员花名册",
    "tekun": "特困人员花名册",
    "marginal": "低保边缘家庭成员花名册",
    "rigid": "刚性支出困难家庭成员花名册",
}
PAYMENT_FILE = {
    "longevity": "高龄津贴发放名册",
    "disab_living": "困难残疾人生活补贴发放名册",
    "disab_care": "重度残疾人护理补贴发放名册",
    "orphan": "孤儿基本生活费发放名册",
    "unsupported_child": "事实无人抚养儿童保障金发放名册",
    "temporary": "临时救助台账",
}
CHECK_FILE = {
    "death": "死亡人员比对名单",
    "prevention": "防止返贫监测对象名单",
    "vehicle": "车辆登记比对名单",
    "business": "工商登记比对名单",
    "public_employee": "财政供养人员比对名单",
}
UR_WORD = {"urban": "城市", "rural": "农村"}


@dataclass
class Manifest:
    seed: int
    scale: str
    start: str
    months: int
    counties: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    totals: list[pl.DataFrame] = field(default_factory=list)
    planted: list[dict] = field(default_factory=list)

    def write(self, out: Path) -> Path:
        target = out / MANIFEST_DIR
        target.mkdir(parents=True, exist_ok=True)
        totals = pl.concat(self.totals, how="diagonal_relaxed") if self.totals else pl.DataFrame()
        totals = totals.sort(pl.all(), nulls_last=True) if totals.height else totals
        totals.write_parquet(target / "totals.parquet")
        doc = {
            "seed": self.seed,
            "scale": self.scale,
            "start": self.start,
            "months": self.months,
            "counties": self.counties,
            "files": self.files,
            "planted": self.planted,
        }
        (target / "manifest.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        return target / "manifest.json"


class Writer:
    """Renders and writes one file, and records what cleaning must make of it."""

    def __init__(self, out: Path, reg: Registry, manifest: Manifest, rng: np.random.Generator, force_fmt: str | None):
        self.out, self.reg, self.manifest, self.rng, self.force_fmt = out, reg, manifest, rng, force_fmt
        self.protected: set[str] = set()

    def file(
        self,
        period: str,
        name: str,
        roster: str,
        truth: pl.DataFrame,
        *,
        title: str,
        programme: str | None = None,
        county: County | None = None,
        protected: pl.Series | None = None,
        corruption_rate: float = 0.004,
        also_protect: set[str] | None = None,
        households_quarantined: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """``also_protect``: IDs whose rows must stay clean in this file because another list of the
        month refers to them (a quarantined roster row would make the other list's row look wrong).
        ``households_quarantined``: head ID -> the reason a member of that household is quarantined
        with (its family row was). Returns that mapping for the households this file quarantines."""
        if truth.height == 0:
            return {}
        keep = self.protected | (also_protect or set())
        if protected is None and keep:
            keys = [c for c in ("person_id", "head_id") if c in truth.columns]
            protected = truth.select(pl.any_horizontal(pl.col(c).is_in(list(keep)) for c in keys)).to_series() if keys else None
        style = choose_style(self.rng, truth.height, self.force_fmt)
        # each county's system has its own vocabulary ("export flavour": header and value spellings),
        # and each file may still pick another header spelling for a field
        flavour = export_flavour(county.code6 if county else "registers", self.reg[roster])
        style.aliases.update(flavour.aliases)
        style.spellings.update(flavour.spellings)
        for f in self.reg[roster].fields:
            if len(f.aliases) > 1 and self.rng.random() < 0.3:
                style.aliases[f.name] = f.aliases[int(self.rng.integers(0, len(f.aliases)))]
        rendered = render(truth, self.reg[roster], style, self.rng, protected, corruption_rate, footer_date=period)
        if households_quarantined and "head_id" in truth.columns:
            # members follow their household: cleaning quarantines them when its family row was
            fate = truth.select(pl.col("head_id").replace_strict(households_quarantined, default=None, return_dtype=pl.String)).to_series()
            follows = pl.col("truth_row").is_not_null() & (pl.col("kind") == "clean")
            rendered.expect = rendered.expect.with_columns(
                reason=pl.when(follows)
                .then(pl.col("truth_row").replace_strict(dict(enumerate(fate.to_list())), default=None, return_dtype=pl.String))
                .otherwise(pl.col("reason")),
            ).with_columns(kind=pl.when(pl.col("reason").is_not_null()).then(pl.lit("quarantine")).otherwise(pl.col("kind")))
        ext = {"xlsx": "xlsx", "xls": "xls", "html": "xls", "csv": "csv"}[style.fmt]
        rel = f"{period}/{name}.{ext}"
        first_row = writers.write(self.out / rel, rendered, style, title, "单位：元、人、户")
        expect = rendered.expect.with_row_index("i").with_columns(source_row=pl.col("i").cast(pl.Int64) + first_row)
        quarantined = expect.filter(pl.col("kind") == "quarantine")
        clean_truth = (
            truth.with_row_index("truth_row")
            .with_columns(pl.col("truth_row").cast(pl.Int64))
            .join(expect.filter(pl.col("kind") == "clean").select("truth_row"), on="truth_row", how="semi", maintain_order="left")
        )
        record = {
            "source_file": rel,
            "roster": roster,
            "programme": programme,
            "period": period,
            "county_code": county.code6 if county else None,
            "format": style.fmt,
            "encoding": style.encoding,
            "header_variant": style.header_variant,
            "rows_in": expect.height,
            "rows_clean": int(clean_truth.height),
            "rows_quarantined": int(quarantined.height),
            "quarantined": [[int(r), str(q)] for r, q in quarantined.select("source_row", "reason").iter_rows()],
        }
        amount_col = "monthly_amount" if roster == "family" else "amount" if "amount" in truth.columns else None
        if amount_col:
            record["clean_amount"] = round(float(clean_truth[amount_col].fill_null(0).sum()), 2)
        self.manifest.files.append(record)
        if county is not None and roster in ("family", "person") or roster in PAYMENT_FILE:
            self.manifest.totals.append(_totals(clean_truth, roster, programme, period, county))
        if roster != "family":
            return {}
        # a head ID that cleaning rejects leaves the household unlisted; any other problem quarantines a listed household
        bad = expect.filter((pl.col("kind") == "quarantine") & pl.col("truth_row").is_not_null()).join(
            truth.with_row_index("truth_row").with_columns(pl.col("truth_row").cast(pl.Int64)).select("truth_row", "head_id"),
            on="truth_row",
        )
        unlisted = {"id_lost_precision", "id_bad_check", "id_several_in_cell"}
        return {
            h: ("household_not_listed" if r in unlisted else "household_quarantined")
            for h, r in bad.select("head_id", "reason").iter_rows()
        }


@dataclass
class Flavour:
    aliases: dict[str, str]
    spellings: dict[str, int]


def export_flavour(system: str, roster) -> Flavour:
    """The vocabulary of one county's assistance system, stable for that county: which header and
    which spelling of each value it writes (残疾等级 as 2, 二级, Ⅱ级 or 2级; status as 在保 or 正常 ...).
    The first spelling is the registry's canonical one, so about half the counties use others."""
    import zlib

    rng = np.random.default_rng(zlib.crc32(f"{system}/{roster.name}".encode()))
    aliases, spellings = {}, {}
    for f in roster.fields:
        if len(f.aliases) > 1 and rng.random() < 0.5:
            aliases[f.name] = f.aliases[int(rng.integers(0, len(f.aliases)))]
        if f.values and rng.random() < 0.5:
            widest = max(len(v) for v in f.values.values())
            spellings[f.name] = int(rng.integers(0, widest + (1 if f.type == "int" else 0)))
    return Flavour(aliases, spellings)


def _totals(clean: pl.DataFrame, roster: str, programme: str | None, period: str, county: County | None) -> pl.DataFrame:
    frame = clean
    if roster == "family":
        frame = frame.filter(pl.col("status") == "active")
    key = "head_id" if roster == "family" else "person_id"
    amount = "monthly_amount" if roster == "family" else ("amount" if "amount" in frame.columns else None)
    aggs = [pl.len().alias("rows"), pl.col(key).n_unique().alias("keys")]
    if roster == "family":
        aggs.append(pl.col("covered_persons").sum().alias("persons"))
    if amount:
        aggs.append(pl.col(amount).fill_null(0).sum().round(2).alias("amount"))
    group = ["urban_rural"] if "urban_rural" in frame.columns else []
    out = frame.group_by(group).agg(aggs) if group else frame.select(aggs)
    return out.with_columns(
        roster=pl.lit(roster), programme=pl.lit(programme), period=pl.lit(period), county_code=pl.lit(county.code6 if county else None)
    )


def _person_truth(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        disability_category=pl.when(pl.col("disabled")).then(
            pl.col("dis_category").replace_strict(DISABILITY_CODES, return_dtype=pl.String)
        ),
        illness=pl.col("illness").replace("", None),
    )


def generate(
    scale: str,
    months: int,
    seed: int,
    out: Path,
    start: str = "2025-01",
    *,
    force_fmt: str | None = None,
    progress: Callable[[str], None] | None = None,
    reg: Registry | None = None,
    workers: int | None = None,
) -> Path:
    """Write ``months`` months of rosters for an invented region of ``scale`` into ``out``.

    Counties are independent (each has its own random stream, seeded by ``seed`` and its index),
    so they are written by ``workers`` processes (default 2) with one county in memory each.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}")
    if months < 1:
        raise ValueError("months must be at least 1")
    reg = reg or default_registry()
    out = Path(out)
    first = dt.date.fromisoformat(start + "-01")
    month_dates = [month_add(first, m) for m in range(months)]
    rng = np.random.default_rng(seed)
    divisions, counties = build_divisions(rng, SCALES[scale])
    manifest = Manifest(seed, scale, start, months)
    say = progress or (lambda _: None)
    jobs = [(out, reg, seed, c_index, county, first, months, force_fmt) for c_index, county in enumerate(counties)]
    workers = workers or int(os.environ.get("CIVSTAT_WORKERS", min(2, os.cpu_count() or 1)))
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = pool.map(_generate_county, jobs)
            parts = []
            for part in results:
                parts.append(part)
                say(f"{part.counties[0]['name']} ({len(parts)}/{len(jobs)} counties)")
    else:
        parts = []
        for job in jobs:
            parts.append(_generate_county(job))
            say(f"{parts[-1].counties[0]['name']} ({len(parts)}/{len(jobs)} counties)")
    schedules = {}
    for part, county in zip(parts, counties, strict=True):
        manifest.counties += part.counties
        manifest.files += part.files
        manifest.totals += part.totals
        manifest.planted += part.planted
        schedules[county.code6] = standards_schedule(county, month_dates)
    _write_registers(out, reg, manifest, rng, divisions, counties, schedules, month_dates, force_fmt)
    return manifest.write(out)


def _generate_county(job: tuple) -> Manifest:
    """Every month of one county's rosters; returns the county's part of the manifest."""
    out, reg, seed, c_index, county, first, months, force_fmt = job
    month_dates = [month_add(first, m) for m in range(months)]
    manifest = Manifest(seed, "", "", months)
    crng = np.random.default_rng([seed, c_index])
    writer = Writer(out, reg, manifest, crng, force_fmt)
    households, persons = build_people(crng, county, first, months)
    schedule = standards_schedule(county, month_dates)
    plan = None
    if c_index == 0:  # the planted warning cases live in the first county
        households, persons, plan = plant(county, households, persons, schedule, first, months)
        manifest.planted.extend(plan.cases)
    writer.protected = plan.protected if plan else set()
    manifest.counties.append(
        {"code": county.code6, "name": county.name, "population": int(county.villages["hukou"].sum()), "persons_generated": persons.height}
    )
    manifest.counties[-1]["elders_paid"] = elders = {}  # year -> 80+/90+/100+ paid in its last month: the register's floor
    for m, month in enumerate(month_dates):
        period = month.strftime("%Y-%m")
        label = f"{month.year}年{month.month}月"
        view = MonthView(county, households, persons, schedule, first, m, crng, plan)
        payments = {
            "longevity": view.longevity(),
            "disab_living": _person_truth(view.disab_living()),
            "disab_care": _person_truth(view.disab_care()),
            "orphan": view.orphan(),
            "unsupported_child": view.unsupported_child(),
            "temporary": view.temporary(),
        }
        if m + 1 == len(month_dates) or month_dates[m + 1].year != month.year:
            ages = payments["longevity"]["age"]
            elders[str(month.year)] = {band: int((ages >= low).sum()) for band, low in ELDER_BANDS.items()}
        checks = {
            "death": view.deaths(),
            "prevention": view.prevention(),
            "vehicle": view.check_list(0),
            "business": view.check_list(1),
            "public_employee": view.check_list(2),
        }
        # people other lists of the month refer to keep clean roster rows (W09, W12 would misfire otherwise)
        referenced = set(payments["disab_living"]["person_id"].to_list()) | set(checks["prevention"]["person_id"].to_list())
        for programme in ("dibao", "tekun", "marginal", "rigid"):
            family, people = view.family(programme), _person_truth(view.person(programme))
            splits = ("urban", "rural") if programme in ("dibao", "tekun") else (None,)
            for ur in splits:
                fam = family if ur is None else family.filter(pl.col("urban_rural") == ur)
                per = people if ur is None else people.filter(pl.col("urban_rural") == ur)
                word = UR_WORD.get(ur, "")
                # households of people other lists or planted cases refer to keep clean family rows too
                kept = referenced | writer.protected
                heads = set(per.filter(pl.col("person_id").is_in(list(kept)))["head_id"].to_list())
                fates = writer.file(
                    period,
                    f"{county.name}{word}{FAMILY_FILE[programme]}_{label}",
                    "family",
                    fam,
                    title=f"{county.name}{word}{FAMILY_FILE[programme]}（{label}）",
                    programme=programme,
                    county=county,
                    also_protect=referenced | heads,
                )
                writer.file(
                    period,
                    f"{county.name}{word}{PERSON_FILE[programme]}_{label}",
                    "person",
                    per,
                    title=f"{county.name}{word}{PERSON_FILE[programme]}（{label}）",
                    programme=programme,
                    county=county,
                    also_protect=referenced,
                    households_quarantined=fates,
                )
        for roster, truth in payments.items():
            writer.file(
                period,
                f"{county.name}{PAYMENT_FILE[roster]}_{label}",
                roster,
                truth,
                title=f"{county.name}{PAYMENT_FILE[roster]}（{label}）",
                programme=roster,
                county=county,
            )
        for roster, truth in checks.items():
            writer.file(
                period,
                f"{county.name}{CHECK_FILE[roster]}_{label}",
                roster,
                truth,
                title=f"{county.name}{CHECK_FILE[roster]}（{label}）",
                county=county,
            )
    return manifest


def _write_registers(
    out: Path,
    reg: Registry,
    manifest: Manifest,
    rng: np.random.Generator,
    divisions: pl.DataFrame,
    counties: list[County],
    schedules: dict[str, pl.DataFrame],
    month_dates: list[dt.date],
    force_fmt: str | None,
) -> None:
    from civstat.generate.registers import community_facilities, institutions, population

    writer = Writer(out, reg, manifest, rng, force_fmt)
    for year in sorted({d.year for d in month_dates}):
        y = str(year)
        writer.file(y, f"{year}年统计用区划代码", "division", divisions, title=f"{year}年统计用区划代码和城乡划分代码", corruption_rate=0)
        writer.file(
            y,
            f"{year}年人口统计表",
            "population",
            population(rng, counties, year, month_dates[0], {c["code"]: c["elders_paid"].get(str(year), {}) for c in manifest.counties}),
            title=f"{year}年分村人口统计表",
            corruption_rate=0,
        )
        standards = pl.concat([s.with_columns(division_code=pl.lit(code + "000000")) for code, s in schedules.items()])
        # rural 低保 standards are set per year (元/人·年), the others per month (元/人·月)
        yearly = (pl.col("programme") == "dibao") & (pl.col("urban_rural") == "rural")
        standards = standards.filter(pl.col("effective_month").dt.year() <= year).with_columns(
            amount=pl.when(yearly).then(pl.col("amount") * 12).otherwise(pl.col("amount")),
            unit=pl.when(yearly).then(pl.lit("per_year")).otherwise(pl.lit("per_month")),
        )
        writer.file(y, f"{year}年社会救助保障标准", "standard", standards, title=f"{year}年社会救助保障标准", corruption_rate=0)
        inst = institutions(rng, counties, year)
        writer.file(y, f"{year}年养老机构名册", "institution", inst, title=f"{year}年养老机构统计名册", corruption_rate=0)
        manifest.totals.append(
            inst.filter(pl.col("status") == "operating")
            .group_by("county_code")
            .agg(
                institutions=pl.len(),
                beds=pl.col("beds").sum(),
                nursing_beds=pl.col("nursing_beds").sum(),
                residents=pl.col("residents").sum(),
            )
            .with_columns(roster=pl.lit("institution"), period=pl.lit(y))
        )
        fac = community_facilities(rng, counties, year)
        writer.file(y, f"{year}年社区养老服务设施名册", "community_facility", fac, title=f"{year}年社区养老服务设施名册", corruption_rate=0)

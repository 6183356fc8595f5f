"""An invented region and its people: divisions, population, standards, institutions, and every
person in every programme with a timeline (entry, exit, death), so that months are consistent.

Everything is drawn from one NumPy generator seeded by the caller: the same seed gives the same
world. One county is built at a time, so memory stays bounded at province scale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from civstat.generate.ids import id_expr
from civstat.generate.names import person_names, place_names

PROVINCE_CODE, PROVINCE_NAME = "99", "示例省"  # fictional on purpose: no real region


@dataclass(frozen=True)
class Scale:
    prefectures: int
    counties_per_prefecture: int
    townships: int
    villages: int
    people_per_village: int


SCALES = {
    "tiny": Scale(1, 1, 3, 4, 1500),  # for fast tests
    "county": Scale(1, 1, 12, 15, 2500),  # ~450k people, ~20k low-income persons
    "city": Scale(1, 6, 14, 15, 3000),  # ~3.8M people
    "province": Scale(12, 9, 14, 16, 2600),  # ~63M people, >5M person rows a month
}

# share of the population in each family programme (persons)
PROGRAMME_RATES = {"dibao": 0.035, "tekun": 0.004, "marginal": 0.006, "rigid": 0.0025}
HOUSEHOLD_SIZES = np.array([1, 2, 3, 4, 5])
HOUSEHOLD_SIZE_P = np.array([0.45, 0.25, 0.15, 0.1, 0.05])
MONTHLY_EXIT = 0.008
SPARE_PEOPLE = 40
MONTHLY_ENTRY = 0.010
LONGEVITY_DEFAULT = {80: 100.0, 90: 200.0, 100: 500.0}  # 元/月 by tier lower bound
# the 高龄津贴 pool (registers.py sizes the population register's 80+ bands on it): a share of the people aged
# 80 + Exp(mean excess) years at the start, people turning 80 during the run, a monthly death hazard at 80+
ELDER_POOL_SHARE = 0.036 * 0.92
ELDER_MEAN_EXCESS = 5.0
ELDER_TURNING = 0.08  # of the pool, a year
ELDER_HAZARD = 0.004
ORPHAN_RATE = {"institutional": 1800.0, "scattered": 1400.0}
UNSUPPORTED_CHILD_RATE = 1400.0
DISAB_LIVING_RATE, DISAB_CARE_RATE = 80.0, 90.0
TEKUN_CARE = {"full": 100.0, "partial": 400.0, "none": 800.0}
RELATIONS = np.array(["配偶", "子女", "父母", "孙子女", "兄弟姐妹"])
ETHNIC = np.array(["汉族"] * 9 + ["蒙古族", "回族", "满族", "苗族"])
ILLNESS = np.array(["", "", "", "高血压", "糖尿病", "慢性肾病", "恶性肿瘤", "精神障碍", "脑卒中后遗症"])


def month_add(start: dt.date, months: int) -> dt.date:
    y, m = divmod(start.month - 1 + months, 12)
    return dt.date(start.year + y, m + 1, 1)


def month_end(first: dt.date) -> dt.date:
    return month_add(first, 1) - dt.timedelta(days=1)


# ---------------------------------------------------------------- divisions


@dataclass
class County:
    code6: str
    old_code6: str  # an abolished address code some older IDs carry
    planted_code6: str  # the address code of people made for planted warning cases (IDs stay unique)
    name: str
    prefecture_code4: str
    villages: pl.DataFrame  # division_code, name, township_code, township_name, urban, hukou, resident ...
    dibao_urban: float  # monthly standard at the start (元/人·月)
    dibao_rural: float


def build_divisions(rng: np.random.Generator, scale: Scale) -> tuple[pl.DataFrame, list[County]]:
    rows = [(PROVINCE_CODE + "0" * 10, PROVINCE_NAME, None)]
    counties: list[County] = []
    pref_names = place_names(rng, scale.prefectures, ["市"])
    county_taken: set[str] = set()
    for p in range(scale.prefectures):
        p4 = f"{PROVINCE_CODE}{p + 1:02d}"
        rows.append((p4 + "0" * 8, pref_names[p], None))
        county_names = place_names(rng, scale.counties_per_prefecture, ["县", "区", "县", "旗"], county_taken)
        for c in range(scale.counties_per_prefecture):
            c6 = f"{p4}{c + 1:02d}"
            rows.append((c6 + "0" * 6, county_names[c], None))
            t_names = place_names(rng, scale.townships, ["镇", "乡", "镇"])
            village_rows = []
            for t in range(scale.townships):
                street = t < max(1, scale.townships // 5)
                t_name = t_names[t][:-1] + "街道" if street else t_names[t]
                t9 = f"{c6}{t + 1:03d}"
                rows.append((t9 + "000", t_name, "111" if street else "121"))
                n_v = scale.villages
                n_comm = n_v if street else (1 if t_name.endswith("镇") else 0)
                v_names = place_names(rng, n_v, ["村"])
                for v in range(n_v):
                    community = v < n_comm
                    name = v_names[v][:-1] + "社区" if community else v_names[v]
                    code = f"{t9}{(v + 1) if community else (200 + v + 1):03d}"
                    rows.append((code, name, "111" if street else ("121" if community else "220")))
                    village_rows.append((code, name, t9, t_name, community))
            villages = pl.DataFrame(village_rows, schema=["division_code", "name", "township_code", "township_name", "urban"], orient="row")
            hukou = (rng.lognormal(0, 0.35, villages.height) * scale.people_per_village).astype(np.int64)
            villages = villages.with_columns(hukou=pl.Series(hukou))
            urban_std = float(rng.integers(70, 95) * 10)
            ratio = 0.75 if not counties else 0.85  # the first county is below 80%: the W14 case
            counties.append(
                County(
                    c6,
                    f"{p4}{90 + c:02d}",
                    f"{p4}{80 + c:02d}",
                    county_names[c],
                    p4,
                    villages,
                    urban_std,
                    round(urban_std * ratio / 10) * 10,
                )
            )
    divisions = pl.DataFrame(rows, schema=["division_code", "division_name", "urban_rural_code"], orient="row")
    return divisions, counties


def standards_schedule(county: County, months: list[dt.date]) -> pl.DataFrame:
    """One row per (programme, urban_rural, subcategory, effective month): raised 5% each July."""
    first, last = months[0], months[-1]
    effective = [dt.date(first.year, 1, 1)] + [dt.date(y, 7, 1) for y in range(first.year, last.year + 1) if dt.date(y, 7, 1) <= last]
    effective += [dt.date(y, 1, 1) for y in range(first.year + 1, last.year + 1)]
    effective = sorted(set(effective))
    rows = []
    urban, rural = county.dibao_urban, county.dibao_rural
    for n, eff in enumerate(effective):
        factor = 1.05 ** sum(1 for e in effective[1 : n + 1] if e.month == 7)
        u, r = round(urban * factor / 10) * 10, round(rural * factor / 10) * 10
        rows += [
            ("dibao", "urban", None, u, eff),
            ("dibao", "rural", None, r, eff),
            ("tekun", "urban", None, round(u * 1.3), eff),
            ("tekun", "rural", None, round(r * 1.3), eff),
        ]
        if n == 0:
            rows += [
                ("orphan", "all", "集中养育", ORPHAN_RATE["institutional"], eff),
                ("orphan", "all", "散居", ORPHAN_RATE["scattered"], eff),
                ("unsupported_child", "all", None, UNSUPPORTED_CHILD_RATE, eff),
                ("disab_living", "all", None, DISAB_LIVING_RATE, eff),
                ("disab_care", "all", None, DISAB_CARE_RATE, eff),
            ]
            rows += [("longevity", "all", tier, amount, eff) for tier, amount in longevity_tier_labels().items()]
    return pl.DataFrame(rows, schema=["programme", "urban_rural", "subcategory", "amount", "effective_month"], orient="row")


def longevity_tier_labels(tiers: dict[int, float] = LONGEVITY_DEFAULT) -> dict[str, float]:
    bounds = sorted(tiers)
    labels = {}
    for i, low in enumerate(bounds):
        label = f"{low}-{bounds[i + 1] - 1}周岁" if i + 1 < len(bounds) else f"{low}周岁以上"
        labels[label] = tiers[low]
    return labels


def standard_for(schedule: pl.DataFrame, programme: str, urban_rural: str, month: dt.date) -> float:
    rows = schedule.filter(
        (pl.col("programme") == programme) & (pl.col("urban_rural") == urban_rural) & (pl.col("effective_month") <= month)
    ).sort("effective_month")
    return float(rows["amount"][-1])


# ---------------------------------------------------------------- people


def _ages_to_birth(rng: np.random.Generator, ages: np.ndarray, ref: dt.date) -> np.ndarray:
    """Birth dates for people of ``ages`` (fractional years) on ``ref``."""
    days = (ages * 365.25).astype(np.int64) + rng.integers(0, 365, ages.size)
    return np.datetime64(ref) - days.astype("timedelta64[D]")


def build_people(rng: np.random.Generator, county: County, start: dt.date, n_months: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Households (family programmes) and every person the county's rosters will ever mention."""
    v = county.villages
    weights = v["hukou"].to_numpy() / v["hukou"].sum()
    total_pop = int(v["hukou"].sum())
    households, people = [], []
    hh_base = 0
    for programme, rate in PROGRAMME_RATES.items():
        persons_target = total_pop * rate
        if programme == "tekun":
            sizes_p = np.array([1.0, 0, 0, 0, 0])
        else:
            sizes_p = HOUSEHOLD_SIZE_P
        mean_size = float((HOUSEHOLD_SIZES * sizes_p).sum())
        h0 = max(3, int(persons_target / mean_size))
        n_new = int(h0 * MONTHLY_ENTRY * n_months) + 1
        n = h0 + n_new
        village_idx = rng.choice(v.height, n, p=weights)
        entry = np.concatenate([-rng.integers(1, 96, h0), rng.integers(1, max(2, n_months), n_new)])
        exit_after = rng.geometric(MONTHLY_EXIT, n)
        exit_m = np.maximum(entry, 0) + exit_after
        size = rng.choice(HOUSEHOLD_SIZES, n, p=sizes_p)
        hh = pl.DataFrame(
            {
                "hh": np.arange(hh_base, hh_base + n),
                "programme": programme,
                "village_idx": village_idx,
                "entry_m": entry,
                "exit_m": np.where(exit_m >= n_months, 10_000, exit_m),
                "size": size,
                "extra_members": (rng.random(n) < 0.15).astype(np.int64),
                "income_share": {
                    "dibao": rng.uniform(0.1, 0.85, n),
                    "marginal": rng.uniform(1.05, 1.4, n),
                    "rigid": rng.uniform(0.5, 2.5, n),
                    "tekun": np.zeros(n),
                }[programme],
                "review_phase": rng.integers(0, 5, n),
                "classified": rng.random(n) < 0.25,
            }
        )
        households.append(hh)
        # members: position 0 is the head
        member_hh = np.repeat(hh["hh"].to_numpy(), size)
        position = np.concatenate([np.arange(s) for s in size]) if n else np.array([], dtype=np.int64)
        k = member_hh.size
        if programme == "tekun":
            kind = rng.choice(3, k, p=[0.72, 0.08, 0.20])  # old, child, disabled adult
            # children stay under 16 for the whole run (W06 must not fire on the baseline)
            child_max = max(4.5, 15.0 - n_months / 12)
            ages = np.where(kind == 0, rng.uniform(60.5, 95, k), np.where(kind == 1, rng.uniform(4, child_max, k), rng.uniform(25, 58, k)))
            disabled = (kind == 2) | (rng.random(k) < 0.15)
        else:
            head_age = rng.uniform(25, 85, k)
            ages = np.where(position == 0, head_age, rng.uniform(1, 80, k))
            disabled = rng.random(k) < 0.12
        people.append(
            pl.DataFrame(
                {
                    "hh": member_hh,
                    "position": position,
                    "pool": programme,
                    "age0": ages,
                    "disabled": disabled,
                }
            )
        )
        hh_base += n
    households = pl.concat(households)
    persons = pl.concat(people)

    def pool(name: str, n: int, age_low: float, age_high: float, **extra) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "hh": np.full(n, -1),
                "position": np.zeros(n, dtype=np.int64),
                "pool": name,
                "age0": rng.uniform(age_low, age_high, n),
                "disabled": np.zeros(n, dtype=bool),
                **extra,
            }
        )

    n_elder = int(total_pop * ELDER_POOL_SHARE)
    # 80+ with fewer people at each age; plus people turning 80 during the months
    elder_age = 80 + rng.exponential(ELDER_MEAN_EXCESS, n_elder).clip(0, 27)
    turning = int(total_pop * ELDER_POOL_SHARE * n_months / 12 * ELDER_TURNING) + 1
    others = pl.concat(
        [
            pool("longevity", n_elder, 0, 1).with_columns(age0=pl.Series(elder_age)),
            pool("longevity", turning, 80 - n_months / 12, 80),
            pool("disab_extra", int(total_pop * 0.004), 5, 90, disabled=np.ones(int(total_pop * 0.004), dtype=bool)),
            pool("orphan", max(4, int(total_pop * 0.00008)), 0.5, 17.5),
            pool("unsupported_child", max(6, int(total_pop * 0.0003)), 0.5, 17.5),
            pool("prevention", int(total_pop * 0.003), 18, 75),
            pool("check", int(total_pop * 0.004), 22, 65),
            pool("deceased", max(5, int(total_pop * 0.0005)), 40, 95),
            pool("spare", SPARE_PEOPLE, 30, 50),  # reserved for planted warning cases (generate/plant.py)
        ]
    )
    persons = pl.concat([persons, others])
    n = persons.height
    ref = start
    birth = _ages_to_birth(rng, persons["age0"].to_numpy(), ref)
    male = rng.random(n) < 0.5
    # the village of a household member is the household's; others are placed by population
    hh_village = households.select("hh", "village_idx")
    persons = (
        persons.with_columns(
            birth_date=pl.Series(birth).cast(pl.Date),
            male=pl.Series(male),
            address=pl.Series(
                np.where(
                    persons["pool"].to_numpy() == "spare",
                    county.planted_code6,
                    np.where(rng.random(n) < 0.05, county.old_code6, county.code6),
                )
            ),
            own_village=pl.Series(rng.choice(v.height, n, p=weights)),
            dis_category=pl.Series(rng.integers(1, 8, n)),
            dis_grade=pl.Series(rng.choice([1, 2, 3, 4], n, p=[0.2, 0.3, 0.3, 0.2])),
            death_u=pl.Series(rng.random(n)),
            death_day=pl.Series(rng.integers(1, 29, n)),
            ethnicity=pl.Series(rng.choice(ETHNIC, n)),
            illness=pl.Series(rng.choice(ILLNESS, n)),
            relation=pl.Series(rng.choice(RELATIONS, n)),
            self_care=pl.Series(rng.choice(["full", "partial", "none"], n, p=[0.6, 0.25, 0.15])),
            support_mode=pl.Series(np.where(rng.random(n) < 0.3, "centralised", "dispersed")),
            care_mode=pl.Series(np.where(rng.random(n) < 0.25, "institutional", "scattered")),
            name=person_names(rng, n),
        )
        .join(hh_village, on="hh", how="left", maintain_order="left")
        .with_columns(
            village_idx=pl.coalesce("village_idx", "own_village"),
        )
        .drop("own_village")
    )
    # death: a monthly hazard by age, drawn once; month index of death (or 10_000: alive)
    hazard = pl.when(pl.col("age0") >= 80).then(ELDER_HAZARD).when(pl.col("age0") >= 60).then(0.0012).otherwise(0.0002)
    months_to_death = (pl.col("death_u").log() / (1 - hazard).log()).floor().cast(pl.Int64)
    persons = persons.with_columns(
        death_m=pl.when(pl.col("pool") == "deceased")
        .then(pl.col("death_u").mul(n_months).floor().cast(pl.Int64))
        .when(pl.col("pool").is_in(["check", "prevention", "spare"]))
        .then(10_000)
        .otherwise(pl.when(months_to_death < n_months).then(months_to_death).otherwise(10_000)),
    ).with_columns(
        person_id=id_expr("address", "birth_date", "male"),
        work_ability=pl.when(pl.col("disabled") & (pl.col("dis_grade") <= 2))
        .then(pl.lit("unable"))
        .when(pl.col("disabled"))
        .then(pl.lit("partial"))
        .when((pl.col("age0") >= 16) & (pl.col("age0") < 60))
        .then(pl.lit("able"))
        .otherwise(pl.lit("unable")),
    )
    # a household's head dies -> the household leaves the month after
    head_death = persons.filter(pl.col("position") == 0, pl.col("hh") >= 0).select("hh", head_death_m="death_m", head_id="person_id")
    households = households.join(head_death, on="hh", how="left", maintain_order="left").with_columns(
        exit_m=pl.min_horizontal("exit_m", pl.col("head_death_m") + 1),
    )
    able = persons.filter(pl.col("hh") >= 0).group_by("hh").agg(has_able=(pl.col("work_ability") == "able").any())
    households = households.join(able, on="hh", how="left", maintain_order="left").with_columns(
        review_every=pl.when(pl.col("has_able")).then(5).otherwise(10),
    )
    persons = persons.with_columns(member_from=pl.lit(None, dtype=pl.Int64), member_to=pl.lit(None, dtype=pl.Int64))
    return households, persons

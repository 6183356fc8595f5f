"""Registers without personal data: population, elderly-care institutions, community facilities."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from civstat.cleaning.values import CREDIT_ALPHABET, credit_code_check_char
from civstat.generate.names import place_names
from civstat.generate.world import ELDER_HAZARD, ELDER_MEAN_EXCESS, ELDER_POOL_SHARE, ELDER_TURNING, County

BAND_SHARES = {"aged_0_17": 0.18, "aged_60_plus": 0.21, "aged_65_plus": 0.15, "aged_75_plus": 0.065}
TAKE_UP = 0.87  # of the people aged 80+, the share paid 高龄津贴: the coverage in December, in every tier
ELDER_BANDS = {"aged_80_plus": 80, "aged_90_plus": 90, "aged_100_plus": 100}
CUMULATIVE = ["aged_60_plus", "aged_65_plus", "aged_75_plus", "aged_80_plus", "aged_90_plus", "aged_100_plus"]


def elder_shares(years: float) -> dict[str, float]:
    """The 80+, 90+ and 100+ bands as shares of the population ``years`` after the generator's start: the
    高龄津贴 pool of world.py then (aged 80 + Exp(5) at the start and ``years`` older, less deaths, plus those
    who turned 80), over TAKE_UP. A register so sized exceeds the pool in each tier, at any date."""
    pool = ELDER_POOL_SHARE * (1 - ELDER_HAZARD) ** (12 * years) / TAKE_UP
    older = years + 0.5  # birth dates add 0-1 year to the drawn ages (world._ages_to_birth)
    return {
        "aged_80_plus": pool * (1 + ELDER_TURNING * years),
        "aged_90_plus": pool * math.exp(-(10 - older) / ELDER_MEAN_EXCESS),
        "aged_100_plus": pool * math.exp(-(20 - older) / ELDER_MEAN_EXCESS),
    }


def _places(county: County) -> pl.DataFrame:
    return county.villages.select(
        "division_code",
        "hukou",
        "urban",
        county=pl.lit(county.name),
        township="township_name",
        village="name",
        county_code=pl.lit(county.code6),
    )


def population(
    rng: np.random.Generator, counties: list[County], year: int, start: dt.date, paid: dict[str, dict[str, int]] | None = None
) -> pl.DataFrame:
    """Per village, 户籍 and 常住, by age band, at the end of ``year`` (the generator's run starts at ``start``).
    80+ is sized above the 高龄津贴 pool (coverage < 100% in December) and is the same on both bases: people of
    working age move, the oldest live where they are registered (the pool is placed by 户籍). ``paid`` (county
    code -> band -> people paid in the year's last month) is a floor: in a small county chance can put more
    people in a band than its expected share, and a register counts everyone, so a county's band is never
    below what was paid over TAKE_UP (its villages scaled up together)."""
    elder = elder_shares(max(0.0, (dt.date(year, 12, 31) - start).days / 365.25))
    frames = []
    for county in counties:
        v = _places(county)
        growth = 1 + 0.004 * (year - 2025)
        base = v.with_columns(total=(pl.col("hukou") * growth).round(0).cast(pl.Int64))
        floor = (paid or {}).get(county.code6, {})
        scaled = []
        for band, share in elder.items():
            expected = base["total"] * share
            factor = max(1.0, floor.get(band, 0) / TAKE_UP / max(float(expected.sum()), 1e-9))
            scaled.append(
                (expected * factor).ceil().cast(pl.Int64).alias(band) if factor > 1 else expected.round(0).cast(pl.Int64).alias(band)
            )
        base = base.with_columns(scaled)
        for basis in ("hukou", "resident"):
            f = base.with_columns(basis=pl.lit(basis))
            if basis == "resident":
                f = f.with_columns(total=(pl.col("total") * pl.when(pl.col("urban")).then(1.15).otherwise(0.85)).round(0).cast(pl.Int64))
            f = f.with_columns([(pl.col("total") * share).round(0).cast(pl.Int64).alias(band) for band, share in BAND_SHARES.items()])
            # the bands are cumulative (60+ holds 65+ …): a band scaled up lifts the ones that hold it
            for wider, narrower in reversed(list(zip(CUMULATIVE, CUMULATIVE[1:]))):
                f = f.with_columns(pl.max_horizontal(wider, narrower).alias(wider))
            frames.append(f)
    return pl.concat(frames).drop("hukou", "urban")


def _credit_codes(rng: np.random.Generator, n: int, county6: str) -> list[str]:
    codes = []
    for _ in range(n):
        body = "52" + county6 + "".join(rng.choice(list(CREDIT_ALPHABET[:10]), 1)) + "".join(rng.choice(list(CREDIT_ALPHABET), 8))
        codes.append(body + credit_code_check_char(body))
    return codes


def institutions(rng: np.random.Generator, counties: list[County], year: int) -> pl.DataFrame:
    frames = []
    for county in counties:
        crng = np.random.default_rng([int(county.code6), 1])  # the same institutions every year
        towns = county.villages.select("township_name").unique(maintain_order=True)["township_name"].to_list()
        n = max(3, int(county.villages["hukou"].sum() / 20000 * crng.uniform(0.8, 1.2)))  # 10-40 at county scale
        names = place_names(crng, n, ["敬老院", "养老院", "颐养中心", "福利院", "老年公寓"])
        beds = crng.integers(30, 300, n)
        frames.append(
            pl.DataFrame(
                {
                    "institution_name": [county.name + x for x in names],
                    "credit_code": _credit_codes(crng, n, county.code6),
                    "county": county.name,
                    "township": crng.choice(towns, n),
                    "ownership": crng.choice(["public", "private", "public_private"], n, p=[0.4, 0.45, 0.15]),
                    "beds": beds,
                    "nursing_beds": (beds * crng.uniform(0.3, 0.7, n)).astype(np.int64),
                    "residents": (beds * crng.uniform(0.4, 0.9, n) * (1 + 0.02 * (year - 2025))).astype(np.int64).clip(0, beds),
                    "status": crng.choice(["operating", "suspended", "closed"], n, p=[0.9, 0.07, 0.03]),
                    "county_code": county.code6,
                }
            )
        )
    return pl.concat(frames)


def community_facilities(rng: np.random.Generator, counties: list[County], year: int) -> pl.DataFrame:
    frames = []
    for county in counties:
        crng = np.random.default_rng([int(county.code6), 2])
        v = county.villages.sample(fraction=0.3, seed=int(county.code6))
        frames.append(
            v.select(
                facility_name=pl.col("name") + "日间照料中心",
                county=pl.lit(county.name),
                township="township_name",
                village="name",
                beds=pl.Series(crng.integers(0, 30, v.height)),
            )
        )
    return pl.concat(frames)

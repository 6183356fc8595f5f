"""The county a raw file belongs to, from its name: what ingestion runs in parallel, and where its
ledger row is kept.

A county bureau's exports are named after it (``凤福区农村低保人员花名册_2025年1月.xlsx``, or a folder
``2025-01/凤福区/…``): the county-level names of the clean 区划代码 registers, the leftmost found in the
path below the period folder (the longest where two start at the same place), give the county's
6-digit code. A file that names no county (a national-platform export, an annual register) is in
the group ``_other``. The grouping decides only what runs side by side, never what a file cleans to.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import polars as pl

from civstat.cleaning.regions import division_level

OTHER = "_other"
#: County-level entries of a register that name no county a bureau exports as.
NOT_A_COUNTY = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


class CountyIndex:
    """County-level names (NFKC, no spaces) and their 6-digit codes, from the clean division
    registers: every year's, a later year's code winning; a name two counties share takes the
    smaller code."""

    def __init__(self, codes: dict[str, str]):
        self.codes = dict(codes)
        names = sorted(self.codes, key=lambda n: (-len(n), n))
        self._pattern = re.compile("|".join(map(re.escape, names))) if names else None

    @classmethod
    def of_clean_registers(cls, division_dir: Path) -> CountyIndex:
        codes: dict[str, str] = {}
        years = sorted(division_dir.glob("period=*")) if division_dir.exists() else []
        for year in years:
            files = sorted(year.glob("*.parquet"))
            if not files:
                continue
            table = pl.read_parquet(files, columns=["division_code", "division_name"])
            counties = (
                table.drop_nulls()
                .filter(division_level(pl.col("division_code")) == "county")
                .select(
                    code=pl.col("division_code").str.slice(0, 6),
                    name=pl.col("division_name").str.normalize("NFKC").str.replace_all(r"\s", ""),
                )
                .filter((pl.col("name").str.len_chars() >= 2) & ~pl.col("name").is_in(list(NOT_A_COUNTY)))
                .group_by("name")
                .agg(pl.col("code").min())
            )
            codes.update(dict(counties.iter_rows()))
        return cls(codes)

    def group_of(self, source_file: str) -> str:
        """The county code of a raw file (its path under data/raw), or ``_other``."""
        below = source_file.split("/", 1)[1] if "/" in source_file else source_file
        found = self._pattern.search(unicodedata.normalize("NFKC", below)) if self._pattern else None
        return self.codes[found.group(0)] if found else OTHER

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountyIndex) and self.codes == other.codes

    def __repr__(self) -> str:
        return f"CountyIndex({len(self.codes)} counties)"


def mapping_key(group: str) -> str:
    """A Dagster mapping key for a group (letters, digits and underscores only)."""
    return "other" if group == OTHER else f"county_{group}"

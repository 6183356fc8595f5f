"""Resolve region columns (names or codes of county, township, village) to 12-digit division codes.

Codes follow the statistical division scheme: province 2, prefecture 2, county 2, township 3,
village 3 digits. Names are matched under their parent (a village name is only unique within its
township), after NFKC and the region_aliases of config/civstat.yaml.
"""

from __future__ import annotations

import re

import polars as pl

LEVEL_DIGITS = {"province": 2, "prefecture": 4, "county": 6, "township": 9, "village": 12}
UNKNOWN_REGION = "unknown_region"
AMBIGUOUS_REGION = "ambiguous_region"


def division_level(code: pl.Expr) -> pl.Expr:
    """province / prefecture / county / township / village, from the zeros of a 12-digit code."""
    return (
        pl.when(code.str.slice(9, 3) != "000")
        .then(pl.lit("village"))
        .when(code.str.slice(6, 3) != "000")
        .then(pl.lit("township"))
        .when(code.str.slice(4, 2) != "00")
        .then(pl.lit("county"))
        .when(code.str.slice(2, 2) != "00")
        .then(pl.lit("prefecture"))
        .otherwise(pl.lit("province"))
    )


def parent_prefix(code: pl.Expr, level: str) -> pl.Expr:
    """The code prefix of the parent of a division at ``level``."""
    parent_digits = {"county": 4, "township": 6, "village": 9, "prefecture": 2, "province": 0}[level]
    return code.str.slice(0, parent_digits)


# Suffixes a roster may leave out: the committee a village register names (青山村委会 for 青山村),
# then the level word itself (城关镇 / 城关). Names are matched as written first, then by core.
COMMITTEE_SUFFIX = r"(社区居民委员会|居民委员会|村民委员会|村委会|居委会|委员会)$"
OFFICE_SUFFIX = r"办事处$"  # 城南街道办事处 is 城南街道: the office of a township-level 街道
VILLAGE_SUFFIX = r"(社区|嘎查|村|居)$"
LEVEL_SUFFIX = r"(民族苏木|民族乡|自治县|自治旗|街道|林区|特区|苏木|嘎查|社区|镇|乡|区|县|市|旗|村|居)$"


def clean_name(name: pl.Expr) -> pl.Expr:
    return name.str.normalize("NFKC").str.replace_all(r"\s", "")


def core_name(name: pl.Expr) -> pl.Expr:
    """青山村委会, 青山村 -> 青山; 东风社区居民委员会, 东风社区 -> 东风; 城关镇 -> 城关 (never empty)."""
    name = name.str.replace(OFFICE_SUFFIX, "")
    # after a committee suffix only a village word may remain (红星村村民委员会 -> 红星); 红旗村委会 -> 红旗, never 红
    without_committee = name.str.replace(COMMITTEE_SUFFIX, "")
    core = (
        pl.when(without_committee != name)
        .then(without_committee.str.replace(VILLAGE_SUFFIX, ""))
        .otherwise(name.str.replace(LEVEL_SUFFIX, ""))
    )
    return pl.when(core.str.len_chars() > 0).then(core).otherwise(name)


def name_kind(name: pl.Expr) -> pl.Expr:
    """What kind of place a name says it is: village (村, 村委会, 嘎查), community (社区, 居委会), the
    level word itself (镇, 乡, 街道 ...), or '' when it says nothing. 青山村 is not 青山社区."""
    name = name.str.replace(OFFICE_SUFFIX, "")
    committee = name.str.extract(COMMITTEE_SUFFIX, 1)
    level = name.str.extract(LEVEL_SUFFIX, 1)
    word = pl.coalesce(committee, level)
    return (
        pl.when(word.str.contains("居|社区"))
        .then(pl.lit("community"))
        .when(word.str.contains("村|嘎查"))
        .then(pl.lit("village"))
        .otherwise(pl.coalesce(level, pl.lit("")))
    )


def _by_key(table: pl.DataFrame) -> dict[tuple, tuple]:
    """A lookup table of the register (key columns, then the prefix or code and the count ``n``) as a
    dict: looking a few names up must not hash the whole register again for each file."""
    return {row[:-2]: row[-2:] for row in table.iter_rows()}


class RegionResolver:
    """Lookups built once per division table, applied to whole columns.

    The register may hold only a bureau's own subtree (a county's or a city's): names are looked up
    under their parent when the row names one, else anywhere in the register."""

    def __init__(self, divisions: pl.DataFrame, aliases: dict[str, str] | None = None):
        d = divisions.select(pl.col("division_code"), name=clean_name(pl.col("division_name")).str.strip_chars())
        if aliases:
            extra = pl.DataFrame({"name": list(aliases), "division_code": list(aliases.values())})
            d = pl.concat([d, extra.select(d.columns)])
        d = d.with_columns(level=division_level(pl.col("division_code")), core=core_name(pl.col("name")), kind=name_kind(pl.col("name")))
        d = d.with_columns(core_kind=pl.col("core") + "|" + pl.col("kind"))
        self._resolved: dict[tuple[str, ...], pl.DataFrame] = {}  # levels -> names resolved so far, with their answers
        self.by_level = {}
        for level in ("county", "township", "village"):
            rows = (
                d.filter(pl.col("level") == level)
                .select(
                    parent=parent_prefix(pl.col("division_code"), level),
                    name=pl.col("name"),
                    core_kind=pl.col("core_kind"),
                    core=pl.col("core"),
                    prefix=pl.col("division_code").str.slice(0, LEVEL_DIGITS[level]),
                )
                .unique()
            )
            tables = []
            for key in ("name", "core_kind", "core"):
                # a name that means two different divisions under one parent cannot be resolved
                keyed = rows.select("parent", "prefix", key=pl.col(key)).unique()
                with_parent = keyed.group_by("parent", "key").agg(pl.col("prefix").first(), pl.len().alias("n"))
                anywhere = keyed.group_by("key").agg(pl.col("prefix").first(), pl.len().alias("n"))
                tables.append((_by_key(with_parent), _by_key(anywhere)))
            self.by_level[level] = tables
        # a region column of no stated level (地区): any division of the register, by name or core
        self.any_level = []
        for key in ("name", "core"):
            keyed = d.filter(pl.col("level") != "province").select("division_code", key=pl.col(key)).unique()
            self.any_level.append(_by_key(keyed.group_by("key").agg(pl.col("division_code").first(), pl.len().alias("n"))))
        # urban / rural by division code (a dict: a file asks for a few hundred of the register's codes)
        self.urban_rural: dict[str, str] = (
            {}
            if "urban_rural_code" not in divisions.columns
            else dict(
                divisions.filter(pl.col("urban_rural_code").str.contains(r"^[12]"))
                .select(
                    "division_code",
                    pl.when(pl.col("urban_rural_code").str.starts_with("1")).then(pl.lit("urban")).otherwise(pl.lit("rural")),
                )
                .iter_rows()
            )
        )

    def urban_rural_of(self, division_code: pl.Expr) -> pl.Expr:
        """urban / rural from the division's 城乡分类代码 (1xx urban, 2xx rural); null when it has none."""
        return division_code.map_batches(self._urban_rural_of, return_dtype=pl.String)

    def _urban_rural_of(self, codes: pl.Series) -> pl.Series:
        distinct = codes.drop_nulls().unique()
        kinds = pl.Series([self.urban_rural.get(code) for code in distinct.to_list()], dtype=pl.String)
        return codes.replace_strict(distinct, kinds, default=None, return_dtype=pl.String)

    def resolve(self, frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
        """Add ``division_code``, ``region_error`` (reason) and ``region_error_column`` to ``frame``.

        ``columns`` maps a level (county / township / village) to the frame column holding it. Each
        distinct combination of names is resolved once per register, not once per row (a province's
        rosters name the same few thousand places in millions of rows), then joined to the rows.
        """
        levels, names = list(columns), list(columns.values())
        wanted = frame.select(names).unique().rename(dict(zip(names, levels, strict=True)))
        known = self._resolved.get(tuple(levels))
        new = wanted if known is None else wanted.join(known, on=levels, how="anti", nulls_equal=True)
        if new.height:
            found = self._resolve(new, {level: level for level in levels})
            known = found if known is None else pl.concat([known, found])
            self._resolved[tuple(levels)] = known
        answers = known.join(wanted, on=levels, how="semi", nulls_equal=True).select(
            *[pl.col(level).alias(name) for level, name in zip(levels, names, strict=True)],
            "region_error",
            pl.col("region_error_column").replace_strict(dict(zip(levels, names, strict=True)), default=None, return_dtype=pl.String),
            "division_code",
        )
        # one answer per combination: the rows' answers in the rows' order, without copying the rows' other columns
        found = frame.select(names).join(answers, on=names, how="left", nulls_equal=True, maintain_order="left")
        return frame.hstack(found.drop(names))

    def _resolve(self, frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
        """The answers for ``frame``'s distinct combinations of names (``resolve`` asks only for
        those it has not seen): the names made comparable in Polars, then each combination looked
        up level by level in the register's dicts."""
        levels = [level for level in ("county", "township", "village", "any") if level in columns]
        comparable = frame.with_columns(clean_name(pl.col(columns[level])).alias(f"_name_{level}") for level in levels)
        comparable = comparable.with_columns(
            expr
            for level in levels
            for expr in (
                core_name(pl.col(f"_name_{level}")).alias(f"_core_{level}"),
                name_kind(pl.col(f"_name_{level}")).alias(f"_kind_{level}"),
            )
        )
        answers = []
        for row in comparable.iter_rows(named=True):
            if levels == ["any"]:
                code, error = self._answer_any(row[columns["any"]], row["_name_any"], row["_core_any"])
                answers.append((code, error, columns["any"] if error else None))
                continue
            prefix = error = error_column = None
            for level in levels:
                core, kind = row[f"_core_{level}"], row[f"_kind_{level}"]
                keys = (row[f"_name_{level}"], None if core is None or kind is None else f"{core}|{kind}", core)
                prefix, problem = self._answer(level, row[columns[level]], prefix, keys)
                if error is None and problem is not None:
                    error, error_column = problem, columns[level]
            answers.append((None if error is not None or prefix is None else prefix.ljust(12, "0"), error, error_column))
        found = pl.DataFrame(
            answers, schema={"division_code": pl.String, "region_error": pl.String, "region_error_column": pl.String}, orient="row"
        )
        return pl.concat([frame, found.select("region_error", "region_error_column", "division_code")], how="horizontal")

    def _answer(self, level: str, value: str | None, prefix: str | None, keys: tuple) -> tuple[str | None, str | None]:
        """The code prefix one level of a row names (the parent's ``prefix`` carried on when the
        level is empty) and why it cannot be found (None when it can). The keys (the name as written,
        by core name and kind, by core name: 青山村 -> 青山村委会, 青山 -> 青山村委会) are tried in
        turn; the first the register knows decides. Under the parent when the row names one, else
        anywhere in the register."""
        digits = LEVEL_DIGITS[level]
        if value is None:
            return prefix, None
        if re.fullmatch(rf"\d{{{digits}}}\d*", value):
            return value[:digits], None
        for (with_parent, anywhere), key in zip(self.by_level[level], keys, strict=True):
            entry = None if key is None else with_parent.get((prefix, key)) if prefix is not None else anywhere.get((key,))
            if entry is not None:
                code, n = entry
                return (code, None) if n == 1 else (None, AMBIGUOUS_REGION)
        return None, UNKNOWN_REGION

    def _answer_any(self, value: str | None, name: str | None, core: str | None) -> tuple[str | None, str | None]:
        """The 12-digit code a region of no stated level names (by code, by name, by core name), and
        why it cannot be found."""
        if value is None:
            return None, None
        if re.fullmatch(r"\d{6}|\d{9}|\d{12}", value):
            return value.ljust(12, "0"), None
        for table, key in zip(self.any_level, (name, core), strict=True):
            entry = None if key is None else table.get((key,))
            if entry is not None:
                code, n = entry
                return (code, None) if n == 1 else (None, AMBIGUOUS_REGION)
        return None, UNKNOWN_REGION

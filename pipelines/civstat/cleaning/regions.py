"""Resolve region columns (names or codes of county, township, village) to 12-digit division codes.

Codes follow the statistical division scheme: province 2, prefecture 2, county 2, township 3,
village 3 digits. Names are matched under their parent (a village name is only unique within its
township), after NFKC and the region_aliases of config/civstat.yaml.
"""

from __future__ import annotations

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
COMMITTEE_SUFFIX = r"(社区居民委员会|居民委员会|村民委员会|村委会|居委会|委员会|办事处)$"
VILLAGE_SUFFIX = r"(社区|嘎查|村|居)$"
LEVEL_SUFFIX = r"(民族苏木|民族乡|自治县|自治旗|街道|林区|特区|苏木|嘎查|社区|镇|乡|区|县|市|旗|村|居)$"


def clean_name(name: pl.Expr) -> pl.Expr:
    return name.str.normalize("NFKC").str.replace_all(r"\s", "")


def core_name(name: pl.Expr) -> pl.Expr:
    """青山村委会, 青山村 -> 青山; 东风社区居民委员会, 东风社区 -> 东风; 城关镇 -> 城关 (never empty)."""
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
                tables.append((with_parent, anywhere))
            self.by_level[level] = tables
        # a region column of no stated level (地区): any division of the register, by name or core
        self.any_level = []
        for key in ("name", "core"):
            keyed = d.filter(pl.col("level") != "province").select("division_code", key=pl.col(key)).unique()
            self.any_level.append(keyed.group_by("key").agg(pl.col("division_code").first().alias("code"), pl.len().alias("n")))
        urban_rural = divisions.select("division_code", "urban_rural_code") if "urban_rural_code" in divisions.columns else None
        self.urban_rural: dict[str, str] = (
            {}
            if urban_rural is None
            else dict(
                urban_rural.filter(pl.col("urban_rural_code").str.contains(r"^[12]"))
                .select(
                    "division_code",
                    pl.when(pl.col("urban_rural_code").str.starts_with("1")).then(pl.lit("urban")).otherwise(pl.lit("rural")),
                )
                .iter_rows()
            )
        )

    def _resolve_any(self, out, col: str, lazy: bool):
        value = pl.col(col)
        exact, core = (t.lazy() if lazy else t for t in self.any_level)
        joined = (
            out.with_columns(_name=clean_name(value))
            .with_columns(_core=core_name(pl.col("_name")))
            .join(
                exact.rename({"code": "_c0", "n": "_n0"}),
                left_on="_name",
                right_on="key",
                how="left",
                maintain_order="left",
            )
            .join(core.rename({"code": "_c1", "n": "_n1"}), left_on="_core", right_on="key", how="left", maintain_order="left")
        )
        is_code = value.str.contains(r"^(\d{6}|\d{9}|\d{12})$")
        found = (
            pl.when(is_code)
            .then(value.str.pad_end(12, "0"))
            .when(pl.col("_n0") == 1)
            .then(pl.col("_c0"))
            .when(pl.col("_n0").is_null() & (pl.col("_n1") == 1))
            .then(pl.col("_c1"))
        )
        problem = (
            pl.when(value.is_null() | is_code)
            .then(None)
            .when((pl.col("_n0") > 1) | (pl.col("_n0").is_null() & (pl.col("_n1") > 1)))
            .then(pl.lit(AMBIGUOUS_REGION))
            .when(found.is_null())
            .then(pl.lit(UNKNOWN_REGION))
        )
        return joined.with_columns(
            division_code=pl.when(problem.is_null()).then(found),
            region_error=problem,
            region_error_column=pl.when(problem.is_not_null()).then(pl.lit(col)),
        ).drop("_prefix", "_name", "_core", "_c0", "_n0", "_c1", "_n1")

    def urban_rural_of(self, division_code: pl.Expr) -> pl.Expr:
        """urban / rural from the division's 城乡分类代码 (1xx urban, 2xx rural); null when it has none."""
        return division_code.replace_strict(self.urban_rural, default=None, return_dtype=pl.String)

    def resolve(self, frame: pl.DataFrame | pl.LazyFrame, columns: dict[str, str]) -> pl.DataFrame | pl.LazyFrame:
        """Add ``division_code``, ``region_error`` (reason) and ``region_error_column`` to ``frame``.

        ``columns`` maps a level (county / township / village) to the frame column holding it.
        """
        out = frame.with_columns(
            _prefix=pl.lit(None, dtype=pl.String),
            region_error=pl.lit(None, dtype=pl.String),
            region_error_column=pl.lit(None, dtype=pl.String),
        )
        lazy = isinstance(frame, pl.LazyFrame)
        if set(columns) == {"any"}:
            return self._resolve_any(out, columns["any"], lazy)
        for level in ("county", "township", "village"):
            col = columns.get(level)
            if col is None:
                continue
            digits = LEVEL_DIGITS[level]
            value = pl.col(col)
            is_code = value.str.contains(rf"^\d{{{digits}}}(\d*)$")
            joined = (
                out.with_columns(_key_parent=pl.col("_prefix"), _name=clean_name(value))
                .with_columns(_core=core_name(pl.col("_name")), _kind=name_kind(pl.col("_name")))
                .with_columns(_core_kind=pl.col("_core") + "|" + pl.col("_kind"))
            )
            for i, ((with_parent, anywhere), key) in enumerate(zip(self.by_level[level], ("_name", "_core_kind", "_core"), strict=True)):
                if lazy:
                    with_parent, anywhere = with_parent.lazy(), anywhere.lazy()
                joined = joined.join(
                    with_parent.rename({"prefix": f"_pp{i}", "n": f"_np{i}"}),
                    left_on=["_key_parent", key],
                    right_on=["parent", "key"],
                    how="left",
                    maintain_order="left",
                ).join(
                    anywhere.rename({"prefix": f"_pa{i}", "n": f"_na{i}"}),
                    left_on=key,
                    right_on="key",
                    how="left",
                    maintain_order="left",
                )
            under_parent = pl.col("_prefix").is_not_null()
            # as written first, then by core name and kind (青山村 -> 青山村委会), then by core name
            # alone (青山 -> 青山村委会); under the parent when the row names one
            n = [pl.when(under_parent).then(pl.col(f"_np{i}")).otherwise(pl.col(f"_na{i}")) for i in range(3)]
            p = [pl.when(under_parent).then(pl.col(f"_pp{i}")).otherwise(pl.col(f"_pa{i}")) for i in range(3)]
            found = (
                pl.when(value.is_null())
                .then(pl.col("_prefix"))
                .when(is_code)
                .then(value.str.slice(0, digits))
                .when(n[0] == 1)
                .then(p[0])
                .when(n[0].is_null() & (n[1] == 1))
                .then(p[1])
                .when(n[0].is_null() & n[1].is_null() & (n[2] == 1))
                .then(p[2])
            )
            problem = (
                pl.when(value.is_null() | is_code)
                .then(None)
                .when((n[0] > 1) | (n[0].is_null() & (n[1] > 1)) | (n[0].is_null() & n[1].is_null() & (n[2] > 1)))
                .then(pl.lit(AMBIGUOUS_REGION))
                .when(found.is_null())
                .then(pl.lit(UNKNOWN_REGION))
            )
            out = joined.with_columns(
                region_error=pl.coalesce("region_error", problem),
                region_error_column=pl.when(pl.col("region_error").is_null() & problem.is_not_null())
                .then(pl.lit(col))
                .otherwise(pl.col("region_error_column")),
                _prefix=found,
            ).drop("_key_parent", "_name", "_core", "_kind", "_core_kind", *[f"_{a}{b}{i}" for a in "np" for b in "pa" for i in (0, 1, 2)])
        return out.with_columns(division_code=pl.when(pl.col("region_error").is_null()).then(pl.col("_prefix").str.pad_end(12, "0"))).drop(
            "_prefix"
        )

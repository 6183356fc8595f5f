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
        pl.when(code.str.slice(9, 3) != "000").then(pl.lit("village"))
        .when(code.str.slice(6, 3) != "000").then(pl.lit("township"))
        .when(code.str.slice(4, 2) != "00").then(pl.lit("county"))
        .when(code.str.slice(2, 2) != "00").then(pl.lit("prefecture"))
        .otherwise(pl.lit("province"))
    )


def parent_prefix(code: pl.Expr, level: str) -> pl.Expr:
    """The code prefix of the parent of a division at ``level``."""
    parent_digits = {"county": 4, "township": 6, "village": 9, "prefecture": 2, "province": 0}[level]
    return code.str.slice(0, parent_digits)


class RegionResolver:
    """Lookups built once per division table, applied to whole columns."""

    def __init__(self, divisions: pl.DataFrame, aliases: dict[str, str] | None = None):
        d = divisions.select(
            pl.col("division_code"),
            pl.col("division_name").str.normalize("NFKC").str.strip_chars().alias("name"),
        ).with_columns(level=division_level(pl.col("division_code")))
        if aliases:
            extra = pl.DataFrame({"name": list(aliases), "division_code": list(aliases.values())})
            extra = extra.with_columns(level=division_level(pl.col("division_code")))
            d = pl.concat([d, extra.select(d.columns)])
        self.by_level = {}
        for level in ("county", "township", "village"):
            rows = d.filter(pl.col("level") == level).select(
                parent=parent_prefix(pl.col("division_code"), level),
                name=pl.col("name"),
                prefix=pl.col("division_code").str.slice(0, LEVEL_DIGITS[level]),
            ).unique()
            # a name that means two different divisions under one parent cannot be resolved
            with_parent = rows.group_by("parent", "name").agg(pl.col("prefix").first(), pl.len().alias("n"))
            anywhere = rows.group_by("name").agg(pl.col("prefix").first().alias("prefix_any"), pl.len().alias("n_any"))
            self.by_level[level] = (with_parent, anywhere)
        self.known_codes = set(d["division_code"].to_list())

    def resolve(self, frame: pl.DataFrame | pl.LazyFrame, columns: dict[str, str]) -> pl.DataFrame | pl.LazyFrame:
        """Add ``division_code`` and ``region_error`` (a struct of column and reason) to ``frame``.

        ``columns`` maps a level (county / township / village) to the frame column holding it.
        """
        out = frame.with_columns(_prefix=pl.lit(None, dtype=pl.String), region_error=pl.lit(None, dtype=pl.String),
                                 region_error_column=pl.lit(None, dtype=pl.String))
        for level in ("county", "township", "village"):
            col = columns.get(level)
            if col is None:
                continue
            digits = LEVEL_DIGITS[level]
            with_parent, anywhere = self.by_level[level]
            if isinstance(frame, pl.LazyFrame):
                with_parent, anywhere = with_parent.lazy(), anywhere.lazy()
            value = pl.col(col)
            is_code = value.str.contains(rf"^\d{{{digits}}}(\d*)$")
            joined = out.with_columns(_key_parent=pl.col("_prefix")).join(
                with_parent.rename({"prefix": "_p1", "n": "_n1"}),
                left_on=["_key_parent", col], right_on=["parent", "name"], how="left", maintain_order="left",
            ).join(
                anywhere.rename({"prefix_any": "_p2", "n_any": "_n2"}),
                left_on=col, right_on="name", how="left", maintain_order="left",
            )
            found = (
                pl.when(value.is_null()).then(pl.col("_prefix"))
                .when(is_code).then(value.str.slice(0, digits))
                .when(pl.col("_prefix").is_not_null() & (pl.col("_n1") == 1)).then(pl.col("_p1"))
                .when(pl.col("_prefix").is_null() & (pl.col("_n2") == 1)).then(pl.col("_p2"))
            )
            problem = (
                pl.when(value.is_null() | is_code).then(None)
                .when(pl.col("_prefix").is_not_null() & (pl.col("_n1") > 1)).then(pl.lit(AMBIGUOUS_REGION))
                .when(pl.col("_prefix").is_null() & (pl.col("_n2") > 1)).then(pl.lit(AMBIGUOUS_REGION))
                .when(found.is_null()).then(pl.lit(UNKNOWN_REGION))
            )
            out = joined.with_columns(
                region_error=pl.coalesce("region_error", problem),
                region_error_column=pl.when(pl.col("region_error").is_null() & problem.is_not_null())
                .then(pl.lit(col)).otherwise(pl.col("region_error_column")),
                _prefix=found,
            ).drop("_key_parent", "_p1", "_n1", "_p2", "_n2")
        return out.with_columns(
            division_code=pl.when(pl.col("region_error").is_null()).then(pl.col("_prefix").str.pad_end(12, "0"))
        ).drop("_prefix")

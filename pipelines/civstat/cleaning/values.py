"""Parsers for the cell formats rosters contain (DOMAIN.md section 7), as Polars expressions.

Each parser takes a raw string expression and returns the typed value, null when the cell is
empty or cannot be parsed. ``is_unparsed`` tells the two apart so the row can be quarantined.
"""

from __future__ import annotations

import polars as pl

EXCEL_EPOCH = pl.date(1899, 12, 30)  # Excel serial 1 = 1900-01-01 (with Lotus' leap-year bug)


def normalise_text(raw: pl.Expr) -> pl.Expr:
    """NFKC (full-width to half-width), trimmed, leading apostrophe removed, empty -> null."""
    text = raw.str.normalize("NFKC").str.strip_chars().str.strip_chars_start("'‘`").str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def is_unparsed(text: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """The cell had something in it, and the parser could not make sense of it."""
    return text.is_not_null() & parsed.is_null()


def parse_date(text: pl.Expr) -> pl.Expr:
    """2021-03-05, 2021/3/5, 2021.3.5, 2021年3月5日, 20210305, 202103 and 2021-03 (the month's first
    day), Excel serial numbers (44260 or 44260.0), and Excel datetimes (2021-03-05 00:00:00)."""
    t = (
        text.str.replace_all(r"[年月/.]", "-")
        .str.replace_all(r"[日号]", "")
        .str.replace(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "")
        .str.strip_chars("- ")
    )
    ymd = t.str.extract_groups(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
    ym = t.str.extract_groups(r"^(\d{4})-(\d{1,2})$")
    serial = t.str.extract(r"^(\d{1,5})(?:-0+)?$", 1).cast(pl.Int64, strict=False)
    return (
        pl.when(t.str.contains(r"^\d{4}-\d{1,2}-\d{1,2}$"))
        .then(
            pl.concat_str(ymd.struct.field("1"), ymd.struct.field("2").str.zfill(2), ymd.struct.field("3").str.zfill(2))
            .str.to_date("%Y%m%d", strict=False)
        )
        .when(t.str.contains(r"^\d{8}$"))
        .then(t.str.to_date("%Y%m%d", strict=False))
        .when(t.str.contains(r"^\d{6}$"))
        .then((t + "01").str.to_date("%Y%m%d", strict=False))
        .when(t.str.contains(r"^\d{4}-\d{1,2}$"))
        .then(pl.concat_str(ym.struct.field("1"), ym.struct.field("2").str.zfill(2), pl.lit("01")).str.to_date("%Y%m%d", strict=False))
        .when(serial.is_between(1, 80000))
        .then(EXCEL_EPOCH + pl.duration(days=serial))
        .otherwise(None)
        .cast(pl.Date)
    )


def parse_month(text: pl.Expr) -> pl.Expr:
    """Any date format above, truncated to the first day of its month."""
    return parse_date(text).dt.month_start()


def parse_amount(text: pl.Expr) -> pl.Expr:
    """1234.5, 1,234.50, 1234元, ￥1234, 1234.50 元 -> Float64 rounded to fen (2 decimals)."""
    cleaned = text.str.replace_all(r"[,，\s元¥￥]|RMB|人民币", "")
    return pl.when(cleaned.str.contains(r"^-?\d+(\.\d+)?$")).then(cleaned.cast(pl.Float64, strict=False).round(2))


def parse_int(text: pl.Expr) -> pl.Expr:
    """3, 3.0 (from Excel), 3人, 1,200张 -> Int64; 3.5 is not an integer."""
    cleaned = text.str.replace_all(r"[,，\s人张户个]", "")
    as_float = pl.when(cleaned.str.contains(r"^-?\d+(\.0+)?$")).then(cleaned.cast(pl.Float64, strict=False))
    return as_float.cast(pl.Int64, strict=False)


TRUE_WORDS = ["是", "有", "Y", "y", "YES", "yes", "1", "true", "TRUE", "True", "√"]
FALSE_WORDS = ["否", "无", "N", "n", "NO", "no", "0", "false", "FALSE", "False", "×"]


def parse_bool(text: pl.Expr) -> pl.Expr:
    return (
        pl.when(text.is_in(TRUE_WORDS)).then(pl.lit(True))
        .when(text.is_in(FALSE_WORDS)).then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
    )


def parse_enum(text: pl.Expr, values: dict[str, tuple[str, ...]]) -> pl.Expr:
    """Map each Chinese spelling (or the code itself) to the canonical code."""
    mapping: dict[str, str] = {}
    for code, spellings in values.items():
        mapping[code] = code
        for s in spellings:
            mapping[s] = code
    return text.replace_strict(mapping, default=None, return_dtype=pl.String)


def credit_code_check_char(first17: str) -> str:
    """GB 32100 check character of the first 17 characters of a 统一社会信用代码 (scalar helper)."""
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def valid_credit_code(text: pl.Expr) -> pl.Expr:
    """统一社会信用代码: 18 characters of the GB 32100 alphabet with a valid check character."""
    t = text.str.to_uppercase()
    digits = [
        t.str.slice(i, 1).replace_strict({c: n for n, c in enumerate(CREDIT_ALPHABET)}, default=None, return_dtype=pl.Int32)
        for i in range(17)
    ]
    total = pl.sum_horizontal(d * w for d, w in zip(digits, CREDIT_WEIGHTS, strict=True))
    expected = pl.lit(CREDIT_ALPHABET).str.slice((31 - total % 31) % 31, 1)
    return t.str.contains(f"^[{CREDIT_ALPHABET}]{{18}}$") & (t.str.slice(17, 1) == expected)

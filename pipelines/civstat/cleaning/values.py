"""Parsers for the cell formats rosters contain (DOMAIN.md section 7), as Polars expressions.

Each parser takes a raw string expression and returns the typed value, null when the cell is
empty or cannot be parsed. ``is_unparsed`` tells the two apart so the row can be quarantined.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

EXCEL_EPOCH = pl.date(1899, 12, 30)  # Excel serial 1 = 1900-01-01 (with Lotus' leap-year bug)


# Characters NFKC leaves alone in practice: ASCII, CJK unified ideographs, 、 and 。. A cell made
# only of these needs no normalisation, which saves most of its cost on real rosters.
NFKC_UNSTABLE = r"[^\x00-\x7F\u4E00-\u9FFF\u3001\u3002]"


def nfkc(raw: pl.Expr) -> pl.Expr:
    """NFKC of the cells that can change under it; the others are kept as they are (``raw`` is
    read three times: a column, not a computation)."""
    return pl.when(raw.str.contains(NFKC_UNSTABLE)).then(raw.str.normalize("NFKC")).otherwise(raw)


#: Characters that show nothing and mean nothing in a cell: zero-width spaces and joiners, direction
#: marks and embeddings, the word joiner and invisible operators, a byte-order mark and the soft
#: hyphen (text copied from a web page carries them, inside IDs and amounts too). NFKC keeps them;
#: they are taken out.
INVISIBLE = r"[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]"


def normalise_text(raw: pl.Expr) -> pl.Expr:
    """NFKC (full-width to half-width), invisible characters out, trimmed, leading apostrophe
    removed, ="…" unwrapped (a CSV's way to keep Excel from reading 110105… as a number), empty -> null."""
    text = nfkc(raw).str.replace_all(INVISIBLE, "").str.strip_chars_start(" \t\r\n'‘`").str.strip_chars_end()
    return text.str.replace(r'(?s)^="(.*)"$', "${1}").str.strip_chars().replace("", None)


# A cell that ``normalise_text`` may change: a character NFKC may change or that is a blank (a
# space or a control character anywhere: trimmed at the ends), a leading apostrophe or equals sign,
# or nothing. Cells of printable ASCII and CJK ideographs only (most cells) are already normal.
MAY_CHANGE = r"[^\x21-\x7E\u4E00-\u9FFF\u3001\u3002]|^['`=]|^$"


def normalise_column(cells: pl.Series) -> pl.Series:
    """``normalise_text`` of a column, applied only to the cells it may change (``MAY_CHANGE``)."""
    changing = cells.str.contains(MAY_CHANGE).fill_null(False)
    if not changing.any():
        return cells
    rows = changing.arg_true()
    return cells.clone().scatter(rows, cells.gather(rows).to_frame().select(normalise_text(pl.first())).to_series())  # not in place


def is_unparsed(text: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """The cell had something in it, and the parser could not make sense of it."""
    return text.is_not_null() & parsed.is_null()


def parse_date(text: pl.Expr) -> pl.Expr:
    """2021-03-05, 2021/3/5, 2021.3.5, 2021年3月5日, 20210305, 202103 and 2021-03 (the month's first
    day), Excel serial numbers (44260 or 44260.0), and Excel datetimes (2021-03-05 00:00:00)."""
    return text.map_batches(parse_date_series, return_dtype=pl.Date)


def parse_date_series(raw: pl.Series) -> pl.Series:
    """``parse_date`` on a Series: each distinct text is parsed once (a roster repeats its dates)."""
    distinct = raw.drop_nulls().unique()
    return raw.replace_strict(distinct, _parse_dates(distinct), default=None, return_dtype=pl.Date)


def _parse_dates(raw: pl.Series) -> pl.Series:
    frame = raw.to_frame("raw").select(
        t=pl.col("raw")
        .str.replace(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "")
        .str.replace_all(r"[年月/.]", "-")
        .str.replace_all(r"[日号]", "")
        .str.strip_chars("- ")
    )
    t = pl.col("t")
    parts = frame.select(
        t,
        ymd=t.str.extract_groups(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$"),
        serial=t.str.extract(r"^(\d{1,5})(?:-0+)?$", 1).cast(pl.Int64, strict=False),
    )
    y, m, d = (pl.col("ymd").struct.field(k) for k in ("1", "2", "3"))
    year_only = t.str.contains(r"^(19|20)\d{2}$")
    return parts.select(
        pl.when(y.is_not_null())
        .then(pl.concat_str(y, m.str.zfill(2), d.fill_null("01").str.zfill(2)).str.to_date("%Y%m%d", strict=False))
        .when(t.str.len_bytes() == 8)
        .then(t.str.to_date("%Y%m%d", strict=False))
        .when(t.str.len_bytes() == 6)
        .then((t + "01").str.to_date("%Y%m%d", strict=False))
        .when(pl.col("serial").is_between(1, 80000) & ~year_only)
        .then(EXCEL_EPOCH + pl.duration(days=pl.col("serial")))
        .otherwise(None)
        .cast(pl.Date)
        .alias(raw.name)
    ).to_series()


def parse_month(text: pl.Expr) -> pl.Expr:
    """Any date format above, truncated to the first day of its month."""
    return parse_date(text).dt.month_start()


ISO_DATE, COMPACT_DATE = r"^\d{4}-\d{2}-\d{2}$", r"^\d{8}$"  # 2021-03-05, 20210305


class DateLookup:
    """The dates of every date column of one table. A cell written 2021-03-05 or 20210305 (most of
    a roster's) is read by that one format, which gives what ``parse_date`` gives; every other text
    is parsed once for all the columns (a roster's date columns share their texts, and parsing has
    a cost per call as well as per text)."""

    def __init__(self, columns: list[pl.Series]):
        self.dates: dict[str, pl.Series] = {}
        rest: dict[str, pl.Series] = {}  # the rows of each column left to the general parse
        for column in columns:
            forms = column.to_frame("t").with_columns(
                iso=pl.col("t").str.contains(ISO_DATE).fill_null(False), compact=pl.col("t").str.contains(COMPACT_DATE).fill_null(False)
            )
            read = forms.select(
                pl.coalesce(
                    pl.when("iso").then("t").str.to_date("%Y-%m-%d", strict=False),
                    pl.when("compact").then("t").str.to_date("%Y%m%d", strict=False),
                ),
                rest=pl.col("t").is_not_null() & ~pl.col("iso") & ~pl.col("compact"),
            )
            self.dates[column.name], rest[column.name] = read.to_series(0), read["rest"].arg_true()
        others = [column.gather(rest[column.name]) for column in columns]
        texts = pl.concat(others).unique() if others else pl.Series(dtype=pl.String)
        parsed = _parse_dates(texts)
        for column in columns:
            rows = rest[column.name]
            if len(rows):
                found = column.gather(rows).replace_strict(texts, parsed, default=None, return_dtype=pl.Date)
                self.dates[column.name] = self.dates[column.name].scatter(rows, found)

    def parse(self, text: pl.Expr, *, month: bool = False) -> pl.Expr:
        """``parse_date`` (``parse_month`` with ``month``) of a column that was given to the lookup,
        for the frame it was taken from, its rows as they were (the dates are the column's, in order)."""
        value = pl.lit(self.dates[text.meta.output_name()])
        return value.dt.month_start() if month else value


AMOUNT = r"^-?\d+(\.\d+)?$"  # an amount as a number alone
WHOLE = r"^-?\d+(\.0+)?$"  # an integer as a number alone (3, or 3.0 from Excel)
CLEAN_UP = {AMOUNT: r"[,，\s元¥￥]|RMB|人民币", WHOLE: r"[,，\s人张户个]"}  # what else an amount's or a count's cell may say


#: What a monthly amount's cell may say after its number (980元/月, 980元每月, 980/人·月).
PER_MONTH = r"(?:/|每)(?:人|户)?·?月$"


def parse_amount(text: pl.Expr, per: str | None = None) -> pl.Expr:
    """1234.5, 1,234.50, 1234元, ￥1234, 1234.50 元 -> Float64 rounded to fen (2 decimals); a monthly
    amount (``per="month"``) may also say so (980元/月); an amount per another span (980元/年) is not read."""
    clean_up = CLEAN_UP[AMOUNT] + (f"|{PER_MONTH}" if per == "month" else "")
    return text.map_batches(lambda cells: _numbers(cells, AMOUNT, _amount_of, clean_up), return_dtype=pl.Float64)


def _amount_of(number: pl.Expr) -> pl.Expr:
    return number.cast(pl.Float64, strict=False).round(2)


def _numbers(cells: pl.Series, plain: str, value_of: Callable[[pl.Expr], pl.Expr], clean_up: str | None = None) -> pl.Series:
    """The number of each cell (``value_of`` the text of a number alone, matching ``plain``). Most
    cells are a number alone: they are converted as they are; only the others are cleaned first
    (separators, currency and unit words taken out: ``CLEAN_UP``), which costs several times the
    conversion, and are then converted where they are a number alone."""
    alone = cells.str.contains(plain).fill_null(False)
    rest = (~alone & cells.is_not_null()).arg_true()
    numbers = cells.to_frame("c").select(value_of(pl.when(alone).then(pl.col("c")))).to_series()
    if not len(rest):
        return numbers
    cleaned = cells.gather(rest).str.replace_all(clean_up or CLEAN_UP[plain], "")
    return numbers.scatter(
        rest, cleaned.to_frame("c").select(pl.when(pl.col("c").str.contains(plain)).then(value_of(pl.col("c")))).to_series()
    )


def parse_division_code(text: pl.Expr) -> pl.Expr:
    """A 12-digit statistical division code; one written short (6-digit county, 9-digit township,
    2- or 4-digit province or prefecture) is padded with zeros to 12."""
    digits = text.str.replace(r"\.0+$", "")
    return pl.when(digits.str.contains(r"^(\d{2}|\d{4}|\d{6}|\d{9}|\d{12})$")).then(digits.str.pad_end(12, "0"))


def parse_int(text: pl.Expr) -> pl.Expr:
    """3, 3.0 (from Excel), 3人, 1,200张 -> Int64; 3.5 is not an integer."""
    return text.map_batches(lambda cells: _numbers(cells, WHOLE, _int_of), return_dtype=pl.Int64)


def _int_of(number: pl.Expr) -> pl.Expr:
    return number.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)


TRUE_WORDS = ["是", "有", "Y", "y", "YES", "yes", "1", "true", "TRUE", "True", "√"]
FALSE_WORDS = ["否", "无", "N", "n", "NO", "no", "0", "false", "FALSE", "False", "×"]


def parse_bool(text: pl.Expr) -> pl.Expr:
    return (
        pl.when(text.is_in(TRUE_WORDS))
        .then(pl.lit(True))
        .when(text.is_in(FALSE_WORDS))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
    )


def value_key(text: pl.Expr) -> pl.Expr:
    """A cell as ``registry.value_key`` compares it (the text is already NFKC): no spaces, no middle dots."""
    return text.str.replace_all(r"[\s·•・．]", "")


def parse_enum(text: pl.Expr, lookup: dict[str, str]) -> pl.Expr:
    """Map each spelling (``Field.value_lookup()``: spelling -> canonical code) to its code."""
    return text.map_batches(lambda cells: _enum_codes(cells, lookup), return_dtype=pl.String)


def _enum_codes(cells: pl.Series, lookup: dict[str, str]) -> pl.Series:
    """``parse_enum`` on a Series. Most cells are a spelling as written (no space or dot to take
    out): they are looked up as they are, and only the cells not found are made into value keys
    and looked up again (the key's regex costs as much as the lookup)."""
    codes = cells.replace_strict(lookup, default=None, return_dtype=pl.String)
    missed = (codes.is_null() & cells.is_not_null()).arg_true()
    if not len(missed):
        return codes
    again = cells.gather(missed).to_frame("c").select(value_key(pl.col("c")).replace_strict(lookup, default=None, return_dtype=pl.String))
    return codes.scatter(missed, again.to_series())


def parse_coded_int(text: pl.Expr, lookup: dict[str, str]) -> pl.Expr:
    """An integer written as a word the registry knows (一级, Ⅰ级 -> 1), else as digits."""
    return text.map_batches(lambda cells: _coded_ints(cells, lookup), return_dtype=pl.Int64)


def _coded_ints(cells: pl.Series, lookup: dict[str, str]) -> pl.Series:
    """``parse_coded_int`` on a Series: the digits are parsed only in the cells no word names."""
    numbers = _enum_codes(cells, lookup).cast(pl.Int64, strict=False)
    rest = (numbers.is_null() & cells.is_not_null()).arg_true()
    if not len(rest):
        return numbers
    return numbers.scatter(rest, _numbers(cells.gather(rest), WHOLE, _int_of))


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

"""身份证号 (GB 11643) validation, masking and keyed pseudonyms, as columnar expressions.

Every function here works on whole columns: Polars expressions for validation and masking; the HMAC
pseudonym is computed once per distinct ID (Python's hashlib, from the key's precomputed states).
Nothing loops over rows in Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # S = sum mod 11 -> CHECK_CHARS[S]

# Reasons an ID is rejected (codes stay stable: quarantine rows and tests use them).
ID_EMPTY = "id_empty"
ID_LOST_PRECISION = "id_lost_precision"
ID_BAD_FORMAT = "id_bad_format"
ID_BAD_BIRTH_DATE = "id_bad_birth_date"
ID_BAD_CHECK = "id_bad_check"

ID_REASONS_ZH = {
    ID_EMPTY: "身份证号为空",
    ID_LOST_PRECISION: "身份证号经Excel转为数字后丢失位数（数字单元格、科学计数法，或末三位为000且校验码不符），无法恢复，请从系统重新导出",
    ID_BAD_FORMAT: "身份证号格式错误（应为18位，或15位旧号）",
    ID_BAD_BIRTH_DATE: "身份证号中的出生日期不存在",
    ID_BAD_CHECK: "身份证号校验码错误",
}


def check_char(first17: str) -> str:
    """The GB 11643 check character of 17 digits (scalar helper, for generators and tests)."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


# The weighted sum of each 4-digit chunk of the 17 digits (digits 2-5, 6-9, 10-13, 14-17), for
# every value of the chunk: four table lookups instead of seventeen digit steps.
_CHUNK_DIGITS = np.stack([np.arange(10_000) // 10**k % 10 for k in (3, 2, 1, 0)], axis=1)
_CHUNK_SUMS = [_CHUNK_DIGITS @ np.array(ID_WEIGHTS[start : start + 4], dtype=np.int64) for start in (13, 9, 5, 1)]


def _weighted_mod11(number: pl.Series) -> pl.Series:
    """S = (sum of digit x weight) mod 11 for 17-digit numbers, as integer arithmetic on the number
    (no per-digit string slicing; numpy: a Polars expression of 17 terms costs more to plan than to
    run on a roster); only read where the number is there (0 where it is null)."""
    rest = number.fill_null(0).to_numpy()
    total = np.zeros(len(rest), dtype=np.int64)
    for sums in _CHUNK_SUMS:  # the last four digits first
        rest, chunk = np.divmod(rest, 10_000)
        total += sums[chunk % 10_000]  # % keeps a negative number's chunk in the table (it is not an ID)
    total += rest * ID_WEIGHTS[0]
    return pl.Series(number.name, total % 11)


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _birth_date_ok(number: pl.Series) -> np.ndarray:
    """Whether digits 7-14 of 17-digit numbers are a real date from 1880 to today (what
    ``str.to_date('%Y%m%d')`` and the range test say, in integer arithmetic); False for 0 (no number)."""
    ymd = number.to_numpy() // 1000 % 100_000_000
    year, month, day = ymd // 10_000, ymd // 100 % 100, ymd % 100
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    today = dt.date.today()
    return (
        (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= days)
        & (ymd >= 18800101)
        & (ymd <= today.year * 10_000 + today.month * 100 + today.day)
    )


def check_value_of_char(char: pl.Expr) -> pl.Expr:
    """The S a check character stands for: '1' is 0, '0' is 1, 'X' is 2, '9' is 3 ... '2' is 10."""
    v = pl.when(char == "X").then(10).otherwise(char.cast(pl.Int64, strict=False))
    return (12 - v) % 11


def check_char_of_value(s_value: pl.Expr) -> pl.Expr:
    v = (12 - s_value) % 11
    return pl.when(v == 10).then(pl.lit("X")).otherwise(v.cast(pl.String))


def normalise_id_text(raw: pl.Expr, *, nfkc: bool = True) -> pl.Expr:
    """Full-width to half-width, no spaces, invisible characters, apostrophes, quotes or equals signs
    (="…", a CSV's text cell), upper-case X (``nfkc=False`` for text that is NFKC already: the cleaning's normalised cells)."""
    from civstat.cleaning.values import INVISIBLE
    from civstat.cleaning.values import nfkc as nfkc_of

    text = nfkc_of(raw) if nfkc else raw
    return text.str.replace_all(rf"[\s'‘’`\"=]|{INVISIBLE}", "").str.to_uppercase()


def validate_ids(frame: pl.DataFrame, raw: str, out: str, *, normalised: bool = False) -> pl.DataFrame:
    """Add ``<out>`` (the 18-character ID, or null) and ``<out>_reason`` (null, or why not).

    15-digit legacy IDs become 18 digits (``19`` inserted after the 6th digit, check appended).
    IDs that went through Excel as numbers are rejected as unrecoverable, never repaired.
    ``normalised`` says that ``raw`` is NFKC text already.

    Most cells of a roster are good 18-character IDs: those are recognised by one pattern and
    checked in integer arithmetic (check character and birth date); only the other cells go
    through every test (``_validate_ids_in_full``), so that each finds its reason.
    """
    from civstat.cleaning.values import nfkc

    cells = frame.get_column(raw) if normalised else frame.select(nfkc(pl.col(raw))).to_series()
    # the 17 digits and the check character's value from one integer parse (18 digits, or 17 and X);
    # the numbers of the cells that are not IDs are never looked at
    ends_x = cells.str.ends_with("X").fill_null(False).to_numpy()
    parsed = cells.str.strip_suffix("X").str.to_integer(strict=False).fill_null(0).to_numpy()
    number = pl.Series(np.where(ends_x, parsed, parsed // 10))
    given = np.where(ends_x, 2, (12 - parsed % 10) % 11)  # what check_value_of_char says: X is 2, a digit d is (12 - d) mod 11
    good = (
        cells.str.contains(r"^\d{17}[\dX]$").fill_null(False)
        & pl.Series(_weighted_mod11(number).to_numpy() == given)
        & pl.Series(_birth_date_ok(number))
    )
    nothing = pl.repeat(None, len(cells), dtype=pl.String, eager=True)
    value = cells.zip_with(good, nothing)
    reason = cells.is_null().to_frame("e").select(pl.when(pl.col("e")).then(pl.lit(ID_EMPTY))).to_series()
    rest = (~good & cells.is_not_null()).arg_true()  # an empty cell is ID_EMPTY without more tests
    if len(rest):
        checked = _validate_ids_in_full(pl.DataFrame({"c": cells.gather(rest)}), "c", "v", normalised=True)
        value = value.scatter(rest, checked["v"])
        reason = reason.scatter(rest, checked["v_reason"])
    return frame.with_columns(reason.alias(f"{out}_reason"), value.alias(out))


def _validate_ids_in_full(frame: pl.DataFrame, raw: str, out: str, *, normalised: bool = False) -> pl.DataFrame:
    """``validate_ids`` of every cell through every test, staged in columns so that each test runs
    once per row."""
    t, up, is15, is18, s, given = (f"{out}__{part}" for part in ("text", "17", "is15", "is18", "s", "given"))
    staged = frame.with_columns(normalise_id_text(pl.col(raw), nfkc=not normalised).alias(t))
    text = pl.col(t)
    staged = staged.with_columns(text.str.contains(r"^\d{15}$").alias(is15), text.str.contains(r"^\d{17}[\dX]$").alias(is18))
    staged = staged.with_columns(
        pl.when(pl.col(is15)).then(text.str.slice(0, 6) + pl.lit("19") + text.str.slice(6, 9)).otherwise(text.str.slice(0, 17)).alias(up)
    )
    upgraded = pl.col(up)
    # the check value of the 17 digits, where there are 17 digits (a well-formed ID)
    staged = staged.with_columns(
        pl.when(pl.col(is15) | pl.col(is18))
        .then(upgraded.str.to_integer(strict=False))
        .map_batches(_weighted_mod11, return_dtype=pl.Int64)
        .alias(s),
        check_value_of_char(text.str.slice(17, 1)).alias(given),
    )
    birth = upgraded.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    bad_check = ~pl.col(is15) & (pl.col(given) != pl.col(s))
    reason = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(ID_EMPTY))
        .when(text.str.contains(r"[Ee][+-]?\d+$|\."))
        .then(pl.lit(ID_LOST_PRECISION))
        .when(~(pl.col(is18) | pl.col(is15)))
        .then(pl.lit(ID_BAD_FORMAT))
        .when(birth.is_null() | ~birth.is_between(pl.date(1880, 1, 1), pl.lit(dt.date.today())))
        .then(pl.lit(ID_BAD_BIRTH_DATE))
        # digits ending in 000 whose check character fails went through Excel as a number; a text
        # ID ending in 000 with a valid check character is valid (about 1 real ID in 1,100)
        .when(bad_check & text.str.ends_with("000"))
        .then(pl.lit(ID_LOST_PRECISION))
        .when(bad_check)
        .then(pl.lit(ID_BAD_CHECK))
    )
    staged = staged.with_columns(reason.alias(f"{out}_reason"))
    ok = pl.col(f"{out}_reason").is_null()
    id18 = pl.when(ok & pl.col(is15)).then(upgraded + check_char_of_value(pl.col(s))).when(ok).then(text)
    return staged.with_columns(id18.alias(out)).drop(t, up, is15, is18, s, given)


def mask_id(id_expr: pl.Expr) -> pl.Expr:
    """First 6 + ``********`` + last 4: the only form an ID may take after cleaning."""
    text = id_expr.cast(pl.String)
    return (
        pl.when(text.str.len_chars() >= 10)
        .then(text.str.slice(0, 6) + pl.lit("********") + text.str.slice(-4, 4))
        .when(text.is_not_null() & (text != ""))
        .then(pl.lit("********"))
    )


def pseudonymise(ids: pl.Series, secret: bytes) -> pl.Series:
    """HMAC-SHA256 of each normalised ID under ``secret``, hex, first 32 characters (128 bits).

    Computed natively, a column at a time (the polars-hash plugin: about 0.3 µs an ID, a third of
    the fastest Python form), for a secret that is UTF-8 text, as civstat's key files and
    ``CIVSTAT_SECRET`` are. Any other secret is hashed in Python (``_pseudonymise_in_python``).
    ``tests/test_identity.py`` checks both against Python's ``hmac``.
    """
    try:
        key = secret.decode("utf-8")
    except UnicodeDecodeError:
        return _pseudonymise_in_python(ids, secret)
    import polars_hash  # noqa: F401  (registers the ``chash`` namespace)

    text = ids.cast(pl.String)
    return text.to_frame().select(pl.col(text.name).chash.hmac_sha256(key=key).str.slice(0, 32)).to_series().alias(ids.name)


def _pseudonymise_in_python(ids: pl.Series, secret: bytes) -> pl.Series:
    """``pseudonymise`` for a secret of any bytes. RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)).
    The two padded-key states are hashed once and copied for each distinct ID, which is hashed once
    however many rows carry it (a loop over the distinct IDs, not the rows)."""
    block = 64
    key = secret if len(secret) <= block else hashlib.sha256(secret).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hmac_hex(text: str) -> str:
        h = inner.copy()
        h.update(text.encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        return o.hexdigest()[:32]

    text = ids.cast(pl.String)
    distinct = text.drop_nulls().unique()
    hashed = pl.Series([hmac_hex(i) for i in distinct.to_list()], dtype=pl.String)
    return text.replace_strict(distinct, hashed, default=None, return_dtype=pl.String).alias(ids.name)


# ---------------------------------------------------------------- 残疾证号

DISABILITY_CATEGORY_BY_DIGIT = {
    "1": "visual",
    "2": "hearing",
    "3": "speech",
    "4": "physical",
    "5": "intellectual",
    "6": "mental",
    "7": "multiple",
}
CERT_BAD_FORMAT = "disability_cert_bad_format"
CERT_OTHER_PERSON = "disability_cert_other_person"


def validate_disability_certs(frame: pl.DataFrame, raw: str, out: str, *, normalised: bool = False) -> pl.DataFrame:
    """Add ``<out>_id``, ``<out>_category``, ``<out>_grade`` and ``<out>_reason`` for 残疾证号 =
    18-char ID + category digit + grade digit. A trailing reissue mark such as ``B1`` is accepted.
    The embedded ID must itself be valid. An empty cell is not an error. ``normalised`` as for
    ``validate_ids``."""
    cells = frame.get_column(raw)
    present = cells.is_not_null().arg_true()
    if len(present) < len(cells):  # most rows have no certificate: only the others are looked at
        found = validate_disability_certs(pl.DataFrame({raw: cells.gather(present)}), raw, out, normalised=normalised)
        return frame.with_columns(
            pl.repeat(None, len(cells), dtype=found[c].dtype, eager=True).scatter(present, found[c]).alias(c)
            for c in (f"{out}_reason", f"{out}_id", f"{out}_category", f"{out}_grade")
        )
    t = f"{out}__text"
    staged = frame.with_columns(normalise_id_text(pl.col(raw), nfkc=not normalised).alias(t))
    staged = validate_ids(
        staged.with_columns(pl.col(t).str.slice(0, 18).alias(f"{out}__emb")), f"{out}__emb", f"{out}__id", normalised=True
    )
    text = pl.col(t)
    well_formed = text.str.contains(r"^\d{17}[\dX][1-7][1-4](B\d)?$")
    reason = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(None, dtype=pl.String))
        .when(~well_formed | pl.col(f"{out}__id_reason").is_not_null())
        .then(pl.lit(CERT_BAD_FORMAT))
    )
    staged = staged.with_columns(reason.alias(f"{out}_reason"))
    ok = pl.col(f"{out}_reason").is_null() & well_formed
    return staged.with_columns(
        pl.when(ok).then(pl.col(f"{out}__id")).alias(f"{out}_id"),
        pl.when(ok).then(text.str.slice(18, 1).replace_strict(DISABILITY_CATEGORY_BY_DIGIT, default=None)).alias(f"{out}_category"),
        pl.when(ok).then(text.str.slice(19, 1).cast(pl.Int64, strict=False)).alias(f"{out}_grade"),
    ).drop(t, f"{out}__emb", f"{out}__id", f"{out}__id_reason")

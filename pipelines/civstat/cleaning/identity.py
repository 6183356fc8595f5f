"""身份证号 (GB 11643) validation, masking and keyed pseudonyms, as columnar expressions.

Every function here works on whole columns: Polars expressions for validation and masking, one
DuckDB statement for the HMAC pseudonym. Nothing loops over rows in Python.
"""

from __future__ import annotations

import duckdb
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
    ID_LOST_PRECISION: "身份证号经Excel转为数字后丢失位数（科学计数法或末三位为000），无法恢复，请从系统重新导出",
    ID_BAD_FORMAT: "身份证号格式错误（应为18位，或15位旧号）",
    ID_BAD_BIRTH_DATE: "身份证号中的出生日期不存在",
    ID_BAD_CHECK: "身份证号校验码错误",
}


def check_char(first17: str) -> str:
    """The GB 11643 check character of 17 digits (scalar helper, for generators and tests)."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _check_char_expr(first17: pl.Expr) -> pl.Expr:
    total = pl.sum_horizontal(
        first17.str.slice(i, 1).cast(pl.Int32, strict=False) * w for i, w in enumerate(ID_WEIGHTS)
    )
    return pl.lit(CHECK_CHARS).str.slice(total % 11, 1)


def normalise_id_text(raw: pl.Expr) -> pl.Expr:
    """Full-width to half-width, no spaces or apostrophes, upper-case X."""
    return (
        raw.str.normalize("NFKC")
        .str.replace_all(r"[\s'‘’`\"]", "")
        .str.to_uppercase()
    )


def validate_id(raw: pl.Expr) -> pl.Expr:
    """A struct of (id, reason): the 18-character ID, or null with the reason code.

    15-digit legacy IDs become 18 digits (``19`` inserted after the 6th digit, check appended).
    IDs that went through Excel as numbers are rejected as unrecoverable, never repaired.
    """
    text = normalise_id_text(raw)
    is15 = text.str.contains(r"^\d{15}$")
    upgraded = pl.when(is15).then(text.str.slice(0, 6) + pl.lit("19") + text.str.slice(6, 9)).otherwise(text.str.slice(0, 17))
    birth = pl.when(text.str.contains(r"^\d{17}[\dX]$") | is15).then(upgraded.str.slice(6, 8).str.to_date("%Y%m%d", strict=False))
    expected = _check_char_expr(upgraded)
    id18 = pl.when(is15).then(upgraded + expected).otherwise(text)
    reason = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(ID_EMPTY))
        .when(text.str.contains(r"[Ee][+-]?\d+$|\.") | text.str.contains(r"^\d{15}000$"))
        .then(pl.lit(ID_LOST_PRECISION))
        .when(~(text.str.contains(r"^\d{17}[\dX]$") | is15))
        .then(pl.lit(ID_BAD_FORMAT))
        .when(birth.is_null() | (birth < pl.date(1880, 1, 1)))
        .then(pl.lit(ID_BAD_BIRTH_DATE))
        .when(~is15 & (text.str.slice(17, 1) != expected))
        .then(pl.lit(ID_BAD_CHECK))
    )
    return pl.struct(id=pl.when(reason.is_null()).then(id18), reason=reason)


def mask_id(id_expr: pl.Expr) -> pl.Expr:
    """First 6 + ``********`` + last 4: the only form an ID may take after cleaning."""
    text = id_expr.cast(pl.String)
    return pl.when(text.str.len_chars() >= 10).then(
        text.str.slice(0, 6) + pl.lit("********") + text.str.slice(-4, 4)
    ).when(text.is_not_null() & (text != "")).then(pl.lit("********"))


def id_birth_date(id18: pl.Expr) -> pl.Expr:
    return id18.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)


def id_is_male(id18: pl.Expr) -> pl.Expr:
    return id18.str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1


def pseudonymise(ids: pl.Series, secret: bytes) -> pl.Series:
    """HMAC-SHA256 of each normalised ID under ``secret``, hex, first 32 characters (128 bits).

    Computed inside DuckDB as H((K ^ opad) || H((K ^ ipad) || m)), i.e. RFC 2104 HMAC, so that a
    million IDs cost one columnar statement; ``tests/test_identity.py`` checks it against Python's
    ``hmac`` module. Unique IDs are hashed once.
    """
    block = 64
    key = secret if len(secret) <= block else __import__("hashlib").sha256(secret).digest()
    key = key.ljust(block, b"\0")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    frame = pl.DataFrame({"id": ids.cast(pl.String)})
    uniq = frame.select(pl.col("id").unique()).filter(pl.col("id").is_not_null())
    con = duckdb.connect()
    try:
        con.register("uniq_ids", uniq.to_arrow())
        hashed = pl.from_arrow(
            con.sql(
                "select id, left(sha256($opad::blob || unhex(sha256($ipad::blob || encode(id)))), 32) as pseudonym from uniq_ids",
                params={"ipad": ipad, "opad": opad},
            ).to_arrow_table()
        )
    finally:
        con.close()
    return frame.join(hashed, on="id", how="left", maintain_order="left")["pseudonym"].alias(ids.name)


# ---------------------------------------------------------------- 残疾证号

DISABILITY_CATEGORY_BY_DIGIT = {
    "1": "visual", "2": "hearing", "3": "speech", "4": "physical",
    "5": "intellectual", "6": "mental", "7": "multiple",
}
CERT_BAD_FORMAT = "disability_cert_bad_format"
CERT_OTHER_PERSON = "disability_cert_other_person"


def validate_disability_cert(raw: pl.Expr) -> pl.Expr:
    """A struct (id, category, grade, reason) for 残疾证号 = 18-char ID + category digit + grade digit.

    A trailing reissue mark such as ``B1`` is accepted. The embedded ID must itself be valid.
    """
    text = normalise_id_text(raw)
    well_formed = text.str.contains(r"^\d{17}[\dX][1-7][1-4](B\d)?$")
    embedded = validate_id(text.str.slice(0, 18))
    reason = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(None, dtype=pl.String))
        .when(~well_formed)
        .then(pl.lit(CERT_BAD_FORMAT))
        .when(embedded.struct.field("reason").is_not_null())
        .then(pl.lit(CERT_BAD_FORMAT))
    )
    ok = well_formed & reason.is_null()
    return pl.struct(
        id=pl.when(ok).then(text.str.slice(0, 18)),
        category=pl.when(ok).then(text.str.slice(18, 1).replace_strict(DISABILITY_CATEGORY_BY_DIGIT, default=None)),
        grade=pl.when(ok).then(text.str.slice(19, 1).cast(pl.Int64, strict=False)),
        reason=reason,
    )

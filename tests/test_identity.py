"""身份证号 (GB 11643), 残疾证号 and pseudonyms."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from civstat.cleaning import identity
from civstat.generate.ids import id_expr


def check(values: list[str | None]) -> list[tuple[str | None, str | None]]:
    out = identity.validate_ids(pl.DataFrame({"raw": values}, schema={"raw": pl.String}), "raw", "id")
    return list(zip(out["id"].to_list(), out["id_reason"].to_list(), strict=True))


def test_the_gb11643_test_vector_is_valid():
    assert check(["11010519491231002X"]) == [("11010519491231002X", None)]
    assert identity.check_char("11010519491231002") == "X"


def test_a_15_digit_id_becomes_18_digits():
    # 110105491231002 is the legacy form of 11010519491231002X
    assert check(["110105491231002"]) == [("11010519491231002X", None)]


@pytest.mark.parametrize("raw", ["4.30621E+17", "4.30621e+17", "430621198001010000", "4.3062119800101E+17"])
def test_an_id_that_went_through_excel_as_a_number_is_lost_never_repaired(raw):
    assert check([raw]) == [(None, identity.ID_LOST_PRECISION)]


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("110105194912310021", identity.ID_BAD_CHECK),
        ("11010519491331002X", identity.ID_BAD_BIRTH_DATE),
        ("1101051949123", identity.ID_BAD_FORMAT),
        ("11010519491231002Y", identity.ID_BAD_FORMAT),
        ("", identity.ID_EMPTY),
        (None, identity.ID_EMPTY),
    ],
)
def test_invalid_ids_are_rejected_with_their_reason(raw, reason):
    assert check([raw]) == [(None, reason)]


@pytest.mark.parametrize(
    "raw", ["11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", "'11010519491231002X", " 110105 19491231002X "]
)
def test_lowercase_x_full_width_apostrophes_and_spaces_are_normalised(raw):
    assert check([raw]) == [("11010519491231002X", None)]


def _generated_ids(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    births = np.datetime64("1920-01-01") + rng.integers(0, 365 * 100, n).astype("timedelta64[D]")
    frame = pl.DataFrame(
        {
            "address": rng.choice(["110105", "430621", "990101", "532931"], n),
            "birth_date": pl.Series(births).cast(pl.Date),
            "male": rng.random(n) < 0.5,
        }
    )
    return frame.select(id_expr("address", "birth_date", "male"))[:, 0].to_list()


def _corrupt(ids: list[str], seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for value in ids:
        kind = rng.integers(0, 4)
        pos = int(rng.integers(0, 18))
        if kind == 0:  # change one digit
            digit = str((int(value[pos]) + 1) % 10) if value[pos].isdigit() else "1"
            out.append(value[:pos] + digit + value[pos + 1 :])
        elif kind == 1 and pos < 17:  # swap two neighbours
            out.append(value[:pos] + value[pos + 1] + value[pos] + value[pos + 2 :])
        elif kind == 2:  # a different check character
            out.append(value[:17] + "0123456789X"[int(rng.integers(0, 11))])
        else:
            out.append(value)
    return out


def stdnum_valid(number: str) -> bool:
    """python-stdnum's check-digit function and birth-date check. Its full ``is_valid`` also
    demands a birth place in today's division table, which DOMAIN.md section 3 forbids (an ID
    keeps the address code it was issued under, abolished or not)."""
    try:
        number = ric.compact(number)
        if len(number) != 18 or not number[:17].isdigit():
            return False
        ric.get_birth_date(number)
        return ric.calc_check_digit(number) == number[-1]
    except Exception:  # stdnum raises its own ValidationError subclasses and ValueError
        return False


def test_validation_agrees_with_python_stdnum_on_10000_valid_and_corrupted_ids():
    valid = _generated_ids(5000, 1)
    corrupted = _corrupt(_generated_ids(5000, 2), 3)
    ids = valid + corrupted
    ours = [reason is None for _, reason in check(ids)]
    theirs = [stdnum_valid(i) for i in ids]
    assert all(ours[:5000]), "every generated ID is valid"
    assert sum(not t for t in theirs) > 2000, "the corruption produced invalid IDs"
    disagreements = [i for i, a, b in zip(ids, ours, theirs, strict=True) if a != b]
    assert disagreements == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789Xx ＸE.+'", min_size=0, max_size=20))
def test_validation_never_fails_on_any_text_and_agrees_with_stdnum_on_18_characters(raw):
    [(value, reason)] = check([raw])
    assert (value is None) == (reason is not None)
    if value is not None:
        assert stdnum_valid(value)
    compact = raw.upper()
    if len(compact) == 18 and compact[:17].isdigit() and not compact.endswith("000") and compact[17] in "0123456789X":
        # stdnum accepts any calendar date (year 0001 to 9999); we also refuse births before 1880
        # or after today, so agreement is checked where the birth date is plausible.
        plausible = compact[6:10] >= "1880" and compact[6:14] <= dt.date.today().strftime("%Y%m%d")
        assert (value is not None) == (stdnum_valid(compact) and plausible)


def test_a_birth_date_before_1880_or_after_today_is_refused_even_with_a_good_check_character():
    bodies = ["11010510000101001", "11010520990101001", "11010518791231001", "11010518800101001"]
    ids = [b + ric.calc_check_digit(b + "?") for b in bodies]  # it wants a placeholder last character
    assert all(stdnum_valid(i) for i in ids), "stdnum takes any calendar date"
    assert [reason for _, reason in check(ids)] == [identity.ID_BAD_BIRTH_DATE] * 3 + [None]


@pytest.mark.parametrize(
    "secret",
    [
        b"k" * 80,  # text, longer than a block: hashed first, as RFC 2104 says (the native path)
        "钥匙-ü".encode(),  # text beyond ASCII (the native path)
        bytes(range(256))[128:200],  # not UTF-8: hashed in Python
    ],
)
def test_the_pseudonym_is_the_rfc2104_hmac_sha256_of_the_id(secret):
    ids = pl.Series("id", ["11010519491231002X", "110105194912310021", None, "11010519491231002X"])
    got = identity.pseudonymise(ids, secret)
    want = [hmac.new(secret, i.encode(), hashlib.sha256).hexdigest()[:32] if i else None for i in ids]
    assert got.to_list() == want and got.name == "id"
    assert want[0] == want[3] and want[0] != want[1]


def test_a_masked_id_shows_the_first_6_and_last_4_only():
    masked = pl.select(identity.mask_id(pl.lit("11010519491231002X"))).item()
    assert masked == "110105********002X"


def test_a_disability_certificate_gives_category_and_grade():
    frame = pl.DataFrame({"c": ["11010519491231002X42", "11010519491231002X4", "11010519491231002X92", "1101051949123100214" + "2", None]})
    out = identity.validate_disability_certs(frame, "c", "cert")
    assert out["cert_category"].to_list() == ["physical", None, None, None, None]
    assert out["cert_grade"].to_list() == [2, None, None, None, None]
    assert out["cert_reason"].to_list() == [None, identity.CERT_BAD_FORMAT, identity.CERT_BAD_FORMAT, identity.CERT_BAD_FORMAT, None]

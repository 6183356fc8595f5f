"""The lines ingestion suggests for config/civstat.yaml when a column's values are unknown: the guess
is the code whose spellings look most like the value, and never crosses a negation."""

from __future__ import annotations

from civstat.cleaning.suggest import guess_code
from civstat.registry import registry


def test_a_guess_never_crosses_a_negation():
    result = registry()["verification"].field("result")
    # 非属实 shares two characters of three with 属实; only a negated spelling may be its guess
    assert guess_code(result, "非属实") == "dismissed"
    assert guess_code(result, "确属实") == "confirmed"
    ability = registry()["person"].field("work_ability")
    assert guess_code(ability, "没有劳动能力") != "able"  # 有劳动能力 is all of it but the negation


def test_the_words_caseworkers_write_on_a_returned_list_are_known():
    lookup = registry()["verification"].field("result").value_lookup()
    words = {
        "是": "confirmed",
        "情况属实": "confirmed",
        "否": "dismissed",
        "无此情况": "dismissed",
        "已停保": "rectified",
        "已整改": "rectified",
    }
    assert {w: lookup.get(w) for w in words} == words

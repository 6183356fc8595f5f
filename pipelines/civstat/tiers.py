"""The 高龄津贴 tiers of ``local.longevity_tiers`` in the definitions written as data: a report
column or an audit rule marked ``each_tier`` stands for one per configured tier, so a bureau with
two tiers or four gets its own tables and rules (the marts have a column per tier:
``longevity_tier<n>_…``, models/marts/annual/annual_social_welfare.sql).

In such a definition ``{n}`` is the tier's number (1 = the youngest), ``{tier}`` its label
("80-89周岁", "100周岁以上"), and ``{+ EXPR}`` the sum of ``EXPR`` over every tier."""

from __future__ import annotations

import re

SUM = re.compile(r"\{\+\s*((?:[^{}]|\{n\})+?)\s*\}")


def configured() -> list[int]:
    """The tiers' starting ages, youngest first."""
    from civstat.registry import registry

    return sorted(registry().local.longevity_tiers)


def labels(tiers: list[int] | None = None) -> list[str]:
    """As the registers and the 高龄 lists name them: "80-89周岁" … "100周岁以上"."""
    tiers = configured() if tiers is None else sorted(tiers)
    return [f"{low}-{tiers[i + 1] - 1}周岁" if i + 1 < len(tiers) else f"{low}周岁以上" for i, low in enumerate(tiers)]


def sums(text: str, count: int) -> str:
    """``{+ EXPR}`` written out as (EXPR with 1 + … + EXPR with ``count``)."""
    return SUM.sub(lambda m: "(" + " + ".join(m.group(1).replace("{n}", str(n)) for n in range(1, count + 1)) + ")", text)


def expand(item: dict, fields: tuple[str, ...], count: int | None = None) -> list[dict]:
    """A definition marked ``each_tier: true``, one per tier (``{n}`` and ``{tier}`` filled in the
    ``fields`` named, each string of a list field too); any other, as it is but for its sums."""
    names = labels()
    count = len(names) if count is None else count
    if not item.get("each_tier"):
        return [{k: sums(v, count) if isinstance(v, str) and k in fields else v for k, v in item.items()}]

    def fill(value, n: int):
        if isinstance(value, str):
            return value.replace("{n}", str(n)).replace("{tier}", names[n - 1])
        if isinstance(value, list):
            return [fill(v, n) for v in value]
        return value

    rest = {k: v for k, v in item.items() if k != "each_tier"}
    return [{k: fill(v, n) if k in fields else v for k, v in rest.items()} for n in range(1, count + 1)]

"""What a statistician should add to config/civstat.yaml: the exact lines, with a best guess.

Used by ingestion (when a file's values or headers are unknown) and by ``civstat inspect``.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from civstat.registry import Field, Roster, value_key

#: Chinese numerals and Roman numerals as digits, so 一级 / Ⅰ级 suggest the code of 1级.
_NUMERALS = str.maketrans(
    {"一": "1", "二": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "壹": "1", "贰": "2", "叁": "3", "肆": "4"}
)


#: Characters that negate what follows: a guess never crosses them (无此情况 is not 情况属实, 无劳动能力
#: is not 有劳动能力, however many characters they share).
_NEGATIONS = frozenset("不无否非没未")


def _negated(text: str) -> bool:
    return not _NEGATIONS.isdisjoint(text)


def guess_code(f: Field, value: str) -> str | None:
    """The code whose known spellings look most like ``value`` (None when nothing is close); a
    spelling that negates where ``value`` does not, or the other way round, is never the guess."""
    key = value_key(value).translate(_NUMERALS)
    best, best_code = 0.0, None
    for spelling, code in f.value_lookup().items():
        if _negated(spelling) != _negated(key):
            continue
        score = SequenceMatcher(None, key, spelling.translate(_NUMERALS)).ratio()
        if score > best:
            best, best_code = score, code
    return best_code if best >= 0.5 else None


def _yaml_key(code: str) -> str:
    return f"'{code}'" if code.isdigit() else code


def value_alias_lines(roster: Roster, f: Field, values: list[str]) -> str:
    """The ``value_aliases`` block that maps ``values`` (guessed codes; <code> where no guess)."""
    by_code: dict[str, list[str]] = {}
    for v in values:
        by_code.setdefault(guess_code(f, v) or "<code>", []).append(v)
    body = "\n".join(f"      {_yaml_key(code)}: [{', '.join(vs)}]" for code, vs in by_code.items())
    codes = ", ".join(sorted(f.values))
    return f"value_aliases:\n  {roster.name}:\n    {f.name}:  # codes of {f.zh}: {codes}\n{body}"


def describe_unknown(roster: Roster, f: Field, column: str, counts: dict[str, int], config_file: str, limit: int = 12) -> str:
    """One message for the unknown values of one column: values with row counts, and the lines to add."""
    shown = list(counts.items())[:limit]
    listed = ", ".join(f"'{v}' ({n} rows)" for v, n in shown) + (f" and {len(counts) - limit} more" if len(counts) > limit else "")
    return (
        f"column '{column}' ({roster.name}.{f.name}): values nobody maps: {listed}; "
        f"if they mean what is guessed below, add to {config_file}:\n{value_alias_lines(roster, f, [v for v, _ in shown])}"
    )

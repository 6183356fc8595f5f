"""Find the header row of a roster, recognise which roster it is, and map its columns to fields.

Handles title rows above the header, two-row headers (a group row with merged cells over the
field names, or field names over sub-fields), header variants from the registry and from
config/civstat.yaml, and fails clearly on an unmapped or missing required column.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

import polars as pl

from civstat.cleaning.values import INVISIBLE
from civstat.registry import Field, Roster

SCAN_ROWS = 30
# Once a header with every required field is found, this many rows in a row that map fewer than two
# fields (alone or with the row below) end the search: they are data, not a better header further down.
QUIET_ROWS = 5


# A unit written after a header: 床位数（张）== 床位数, 保障人口（人）== 保障人口, 月发放金额（元）==
# 月发放金额 (whether an alias has its （元） or not). Other money units are kept: （万元） would change
# the value, and （元/年） says a year's amount.
UNIT_SUFFIX = r"\((人|张|户|个|所|家|人次|岁|周岁|元)\)$"
# Columns that only number the rows: recognised, never mapped, never offered as a mapping.
ROW_NUMBER_HEADERS = {"序号", "编号", "行号", "序", "顺序号", "No", "No.", "NO", "NO.", "no", "#", "排序"}


@functools.lru_cache(maxsize=65536)  # the same few hundred labels, looked at for every candidate header row
def normalise_header(label: str | None) -> str:
    """NFKC, no whitespace or invisible characters, no required-marker asterisks, no trailing count
    unit: '户主身份证号 *' == '户主身份证号', '床位数（张）' == '床位数'."""
    if label is None:
        return ""
    text = unicodedata.normalize("NFKC", str(label))
    text = re.sub(rf"[\s*＊:：]|{INVISIBLE}", "", text)
    return re.sub(UNIT_SUFFIX, "", text)


def is_row_number_header(label: str | None) -> bool:
    return normalise_header(label) in {normalise_header(h) for h in ROW_NUMBER_HEADERS}


_ALIAS_INDEXES: dict[int, tuple[Roster, dict[str, Field]]] = {}


def alias_index(roster: Roster) -> dict[str, Field]:
    """Every header a field of ``roster`` may have (normalised) -> the field; built once per roster
    object (every file is matched against it: 0.15 ms a file otherwise). Do not change the result."""
    cached = _ALIAS_INDEXES.get(id(roster))
    if cached is not None and cached[0] is roster:
        return cached[1]
    index: dict[str, Field] = {}
    for f in roster.fields:
        for alias in (*f.aliases, f.zh, *f.weak_aliases):
            index.setdefault(normalise_header(alias), f)
    _ALIAS_INDEXES[id(roster)] = (roster, index)  # the roster is kept, so its id is not reused
    return index


class HeaderError(Exception):
    """A header problem, with a message a statistician can act on."""


@dataclass
class HeaderMatch:
    roster: Roster
    header_rows: list[int]  # grid row indices making up the header
    columns: dict[str, Field]  # grid column -> field
    labels: dict[str, str]  # grid column -> header text as written
    unmapped: list[str] = field(default_factory=list)  # header texts nobody knows
    row_number_columns: list[str] = field(default_factory=list)  # 序号 and the like: dropped
    from_name: set[str] = field(default_factory=set)  # fields without a column, found in the file name or title

    @property
    def data_start(self) -> int:
        return self.header_rows[-1] + 1

    def ids_from_other_columns(self) -> dict[str, str]:
        """The ID fields without a column of their own that another mapped field's column gives
        (``default_from``: a 残疾证号 is the ID and two digits), as ID field -> that field."""
        mapped = {f.name for f in self.columns.values()}
        return {
            f.name: f.default_from for f in self.roster.fields if f.type == "id_card" and f.name not in mapped and f.default_from in mapped
        }


def _forward_fill(labels: list[str | None]) -> list[str | None]:
    out, last = [], None
    for label in labels:
        last = label if label not in (None, "") else last
        out.append(last)
    return out


_PREFIXES: dict[int, tuple[dict[str, Field], frozenset[str]]] = {}


def _starts(index: dict[str, Field]) -> frozenset[str]:
    """Every beginning of a header in ``index`` (the empty one too); kept per index (``alias_index``'s)."""
    cached = _PREFIXES.get(id(index))
    if cached is None or cached[0] is not index:
        cached = _PREFIXES[id(index)] = (index, frozenset(key[:n] for key in index for n in range(len(key) + 1)))
    return cached[1]


def _may_begin_header(parent: str, starts: frozenset[str]) -> bool:
    """Whether a header made of ``parent`` and more text can be in the index: ``parent`` normalised
    begins one, but for its last character and the marks after it (NFKC may compose those with what
    follows; nothing before them changes)."""
    text = normalise_header(parent)
    end = len(text)
    while end and unicodedata.combining(text[end - 1]):
        end -= 1
    return text[: max(end - 1, 0)] in starts


def _combine(parent: list[str | None], child: list[str | None], index: dict[str, Field]) -> list[str | None]:
    """One label per column from a two-row header: the sub-field when it is known, else
    parent+child, else the parent over an empty child. parent+child is looked up only where the
    parent can begin a header (a data row's cells cannot: most rows looked at are data)."""
    filled = _forward_fill(parent)
    starts = _starts(index)
    out: list[str | None] = []
    for own_parent, spread_parent, sub in zip(parent, filled, child, strict=True):
        joined = (spread_parent or "") + (sub or "") if not spread_parent or _may_begin_header(spread_parent, starts) else None
        candidates = [sub, joined, own_parent if not sub else None]
        out.append(next((c for c in candidates if c and normalise_header(c) in index), sub or own_parent))
    return out


def _map(labels: list[str | None], index: dict[str, Field], columns: list[str]) -> dict[str, Field]:
    mapped: dict[str, Field] = {}
    for col, label in zip(columns, labels, strict=True):
        f = index.get(normalise_header(label))
        if f is not None:
            mapped[col] = f
    return mapped


def _score(mapped: dict[str, Field], roster: Roster) -> tuple[int, int]:
    names = {f.name for f in mapped.values()}
    required = [f.name for f in roster.fields if f.required]
    return (sum(r in names for r in required) == len(required), len(names))


def find_header(grid: pl.DataFrame, candidates: list[Roster]) -> HeaderMatch:
    """The best (roster, header rows) among the first rows of ``grid``."""
    best: tuple[tuple[int, int, int], HeaderMatch] | None = None
    columns = grid.columns
    scan = min(SCAN_ROWS, grid.height)
    head = [list(row) for row in grid.head(scan + 1).rows()]  # the rows looked at, and the one below the last
    for roster in candidates:
        index = alias_index(roster)
        quiet, complete_here = 0, False  # rows since the last that mapped two fields or more; a complete header of this roster
        for row in range(scan):
            if quiet >= QUIET_ROWS and complete_here:
                break  # the rows below the header are data
            quiet += 1
            own = head[row]
            options = [([row], own)]
            if row + 1 < grid.height:
                options.append(([row, row + 1], _combine(own, head[row + 1], index)))
            for rows, labels in options:
                mapped = _map(labels, index, columns)
                if len({f.name for f in mapped.values()}) < 2:
                    continue
                quiet = 0
                complete, count = _score(mapped, roster)
                complete_here = complete_here or bool(complete)
                # a complete set of required fields wins; then more fields; then fewer header rows
                key = (complete, count, -len(rows))
                if best is None or key > best[0]:
                    text = {c: str(label) for c, label in zip(columns, labels, strict=True) if label not in (None, "")}
                    best = (key, HeaderMatch(roster, rows, mapped, text))
    if best is None:
        names = ", ".join(r.name for r in candidates)
        raise HeaderError(f"no header row found in the first {SCAN_ROWS} rows (looked for the headers of: {names})")
    match = best[1]
    match.row_number_columns = [col for col, label in match.labels.items() if col not in match.columns and is_row_number_header(label)]
    match.unmapped = [label for col, label in match.labels.items() if col not in match.columns and col not in match.row_number_columns]
    return match


def closest_header(target: Field, candidates: list[str]) -> str | None:
    """The unmapped header most like one of ``target``'s names (shared characters), if any is."""
    from difflib import SequenceMatcher

    names = [normalise_header(a) for a in (*target.aliases, target.zh)]
    scored = []
    for label in candidates:
        text = normalise_header(label)
        score = max(SequenceMatcher(None, text, name).ratio() for name in names)
        scored.append((score, label))
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] >= 0.4 else None


def check_mapping(match: HeaderMatch, source: str, config_file: str, programme: str | None = None) -> None:
    """Fail on a missing required column or on two columns claiming one field."""
    roster = match.roster
    seen: dict[str, str] = {}
    for col, f in list(match.columns.items()):
        if f.name in seen:
            weak = {normalise_header(a) for a in f.weak_aliases}
            first, this = (normalise_header(match.labels[c]) in weak for c in (seen[f.name], col))
            if first != this:  # a weak alias yields to the other column: it stays unmapped, and listed as such
                loser = col if this else seen[f.name]
                del match.columns[loser]
                match.unmapped.append(match.labels[loser])
                seen[f.name] = seen[f.name] if this else col
                continue
            raise HeaderError(
                f"{source}: columns '{match.labels[seen[f.name]]}' and '{match.labels[col]}' both mean "
                f"{f.zh} ({roster.name}.{f.name}); delete or rename one of them"
            )
        seen[f.name] = col
    missing = [
        f
        for f in roster.fields
        if f.required_in(programme)
        and f.name not in seen
        and not (f.default_from == "name" and f.name in match.from_name)
        and f.default_from not in seen  # an ID given by a 残疾证号 column
    ]
    if not missing:
        return
    lines = []
    for f in missing:
        lines.append(f"required column {f.zh} ({roster.name}.{f.name}) not found; known headers: {', '.join(f.aliases)}")
    if match.unmapped:
        lines.append(f"headers nobody knows: {', '.join(repr(u) for u in match.unmapped)}")
        suggestions = [(f, closest_header(f, match.unmapped)) for f in missing]
        suggestions = [(f, h) for f, h in suggestions if h is not None]
        if suggestions:
            entries = "\n".join(f"    {f.name}: [{h}]" for f, h in suggestions)
            meaning = "; ".join(f"'{h}' means {f.zh}" for f, h in suggestions)
            lines.append(f"if {meaning}, add to {config_file}:\nheader_aliases:\n  {roster.name}:\n{entries}")
        else:
            lines.append(
                f"if one of them means {missing[0].zh}, add to {config_file}:\n"
                f"header_aliases:\n  {roster.name}:\n    {missing[0].name}: [<that header>]"
            )
    raise HeaderError(f"{source}: " + "; ".join(lines))

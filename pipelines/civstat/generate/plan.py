"""What the planted warning cases change in a month's rosters (filled in by ``plant.py``).

Tables are keyed by month index; ``at`` gives the entries in force in one month.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Plan:
    cases: list[dict] = field(default_factory=list)  # the manifest's planted cases
    protected: set[str] = field(default_factory=set)  # IDs whose rows stay clean (never corrupted)
    ghosts: dict[int, set[str]] = field(default_factory=dict)  # W01: kept on the rolls after death
    amount_override: dict[int, dict[int, float]] = field(default_factory=dict)  # household -> monthly amount
    income_override: dict[int, dict[int, float]] = field(default_factory=dict)  # household -> income per head
    review_override: dict[int, dict] = field(default_factory=dict)  # household -> last review date
    recognition_override: dict[int, dict] = field(default_factory=dict)  # household -> recognition date
    orphan_kept: dict[int, set[str]] = field(default_factory=dict)  # W07: still paid at 18
    longevity_stale_tier: dict[int, set[str]] = field(default_factory=dict)  # W08: paid the tier below
    longevity_extra: dict[int, set[str]] = field(default_factory=dict)  # W08: paid under the minimum age
    disab_living_extra: dict[int, set[str]] = field(default_factory=dict)  # W09
    disab_care_extra: dict[int, set[str]] = field(default_factory=dict)  # W09
    prevention_extra: dict[int, dict[str, float]] = field(default_factory=dict)  # W12: person -> annual income
    check_extra: dict[int, dict[int, set[str]]] = field(default_factory=lambda: {0: {}, 1: {}, 2: {}})  # W13 by list

    @staticmethod
    def at(table: dict, month: int):
        return table.get(month) or {}

    def add(self, table: dict, months: list[int], key, value=None) -> None:
        for m in months:
            if value is None:
                table.setdefault(m, set()).add(key)
            else:
                table.setdefault(m, {})[key] = value

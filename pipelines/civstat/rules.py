"""The catalogue of monitoring warning rules (DOMAIN.md section 5): dbt_project/seeds/warning_rules.csv.

One row a rule: its code, severity, programme, what a warning names (person, household, region),
its dbt model, the generator method that plants its cases in the sample data, and the local
options it reads. dbt joins it to the warnings; ``civstat dbt-sources`` unions the rule models it
names; the generator plants from it; the tests iterate over it.
"""

from __future__ import annotations

import csv
from functools import cache

from civstat.settings import PROJECT_ROOT

RULES_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "warning_rules.csv"


@cache
def warning_rules() -> tuple[dict[str, str], ...]:
    with open(RULES_SEED, encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))

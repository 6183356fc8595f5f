"""Expectation suites as reviewable JSON in expectations/.

``expectations/clean/<roster>.json`` are generated from the roster registry (``civstat
expectations`` writes them; a test fails when they drift); ``expectations/marts/*.json`` are
written by hand. Run-time facts (the division codes known this year, the ledger's row counts)
are added to a suite when it runs and are not stored.
"""

from __future__ import annotations

import json
from pathlib import Path

from civstat.generated import drifted, write_files
from civstat.registry import Registry
from civstat.registry import registry as default_registry
from civstat.settings import PROJECT_ROOT

EXPECTATIONS = PROJECT_ROOT / "expectations"
CLEAN_DIR = EXPECTATIONS / "clean"
MARTS_DIR = EXPECTATIONS / "marts"
GENERATED_NOTE = "GENERATED from pipelines/civstat/registry/rosters.yaml by `civstat expectations`: do not edit by hand"

#: Expectations about the table's columns and types, not its rows: they run on an empty table of
#: the columns and types the table's files declare.
SCHEMA_ONLY = {
    "expect_table_columns_to_match_ordered_list",
    "expect_table_columns_to_match_set",
    "expect_column_to_exist",
    "expect_column_values_to_be_of_type",
}

#: How each clean Parquet type reaches GX: as DuckDB reads it, named by its SQLAlchemy type.
SQL_TYPES = {"Date": "DATE", "String": "VARCHAR", "Boolean": "BOOLEAN", "Int64": "BIGINT", "Float64": "DOUBLE"}

#: The key of each clean table within a period (person rows are per household: one person in two
#: households is a warning, W03, not a broken key).
CLEAN_KEYS = {
    "person": ["programme", "household_key", "person_key"],
    "temporary": ["person_key", "case_date", "amount", "source_sheet", "source_row"],
    # a returned list may come back twice (re-saved): the latest answer counts (monitoring_alert_lifecycle)
    "verification": ["source_file", "source_sheet", "source_row"],
    # a death is on the police's list and the funeral home's both: once a list (W01 takes the earliest date)
    "death": ["person_key", "source_file"],
    # a row per registration: one person owns two vehicles or two businesses, or is paid by two
    # employers (W13 warns once)
    "vehicle": ["source_file", "source_sheet", "source_row"],
    "business": ["source_file", "source_sheet", "source_row"],
    "public_employee": ["source_file", "source_sheet", "source_row"],
}


def expectation(kind: str, **kwargs) -> dict:
    return {"type": kind, "kwargs": kwargs}


def clean_suite(roster_name: str, reg: Registry) -> dict:
    roster = reg[roster_name]
    schema = roster.clean_schema()
    key = CLEAN_KEYS.get(roster_name, list(roster.key))
    exps = [expectation("expect_table_columns_to_match_ordered_list", column_list=list(schema))]
    exps += [expectation("expect_column_values_to_be_of_type", column=name, type_=SQL_TYPES[str(dtype)]) for name, dtype in schema.items()]
    optional = {f.name for f in roster.fields if not f.required} | {"source_sheet"}  # null but in a workbook of several roster sheets
    for column in key:
        if column not in optional:
            exps.append(expectation("expect_column_values_to_not_be_null", column=column))
    exps.append(expectation("expect_compound_columns_to_be_unique", column_list=["period", *key]))
    for name in schema:
        if name.endswith("_key"):
            exps.append(expectation("expect_column_values_to_match_regex", column=name, regex=r"^[0-9a-f]{32}$"))
        elif name.endswith("_masked"):
            exps.append(expectation("expect_column_values_to_match_regex", column=name, regex=r"^\d{6}\*{8}\d{3}[\dX]$"))
    if "division_code" in schema:
        exps.append(expectation("expect_column_values_to_match_regex", column="division_code", regex=r"^\d{12}$"))
    for f in roster.fields:
        if f.name not in schema:
            continue
        if f.type in ("int", "amount") and (f.min is not None or f.max is not None):
            exps.append(expectation("expect_column_values_to_be_between", column=f.name, min_value=f.min, max_value=f.max))
        if f.type in ("date", "month") and (f.min is not None or f.max is not None):
            exps.append(
                expectation(
                    "expect_column_values_to_be_between",
                    column=f.name,
                    min_value=None if f.min is None else str(f.min),
                    max_value=None if f.max is None else str(f.max),
                )
            )
        if f.type == "enum":
            exps.append(expectation("expect_column_values_to_be_in_set", column=f.name, value_set=sorted(f.values)))
    return {
        "name": f"clean_{roster_name}",
        "meta": {"note": GENERATED_NOTE, "asset": ["clean", roster_name], "blocking": True},
        "expectations": exps,
    }


def generated(reg: Registry | None = None) -> dict[Path, str]:
    reg = reg or default_registry()
    return {CLEAN_DIR / f"{name}.json": json.dumps(clean_suite(name, reg), ensure_ascii=False, indent=1) + "\n" for name in reg.rosters}


def write(reg: Registry | None = None) -> list[Path]:
    return write_files(generated(reg))


def drift(reg: Registry | None = None) -> list[Path]:
    """Generated files whose committed text differs from what the registry gives now."""
    return drifted(generated(reg))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))

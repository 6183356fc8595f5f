"""The roster registry: one description of every input, loaded from ``rosters.yaml``.

Nothing in here knows about cleaning, dbt or Dagster; they all read from it. Statisticians extend
it through ``config/civstat.yaml`` (header aliases, value spellings and local options) without
touching code.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

if TYPE_CHECKING:
    from civstat.settings import LocalSettings, Settings

REGISTRY_FILE = Path(__file__).with_name("rosters.yaml")

#: The Polars dtype each field type produces in a clean table.
FIELD_DTYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "enum": pl.String(),
    "int": pl.Int64(),
    "amount": pl.Float64(),
    "date": pl.Date(),
    "month": pl.Date(),
    "bool": pl.Boolean(),
    "division_code": pl.String(),
    "credit_code": pl.String(),
}
#: Field types that never reach a clean table as themselves.
DROPPED_TYPES = {"person_name", "disability_cert", "region_name"}
#: What a field of rosters.yaml may say (anything else is refused, naming the roster and field).
FIELD_KEYS = {
    "name",
    "type",
    "zh",
    "en",
    "aliases",
    "weak_aliases",
    "per",
    "required",
    "personal",
    "values",
    "min",
    "max",
    "pattern",
    "out",
    "level",
    "default",
    "default_from",
    "future",
    "include",
}
ROSTER_KEYS = {"staging", "zh", "en", "grain", "period", "programmes", "files", "key", "fields", "history", "rebuild"}


def value_key(text: str) -> str:
    """How a cell's value is compared with the registry's spellings: NFKC (Ⅰ级 == I级, full-width
    digits), no spaces and no middle dots (元/人·月 == 元/人月)."""
    return re.sub(r"[\s·•・．]", "", unicodedata.normalize("NFKC", text))


#: The clean and quarantine files' own columns (beyond the registry's fields), as a word the ledger's
#: ``config_sha256`` holds: when they change, every file is cleaned again (no table mixes files of
#: two layouts). 2: ``source_sheet``, a workbook's sheet.
CLEAN_FORMAT = "clean files 2 (source_sheet)"


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    # headers that mean this field only when no other column does (补贴标准 beside 发放金额 is the standard)
    weak_aliases: tuple[str, ...] = ()
    required: bool = False
    required_for: tuple[str, ...] = ()  # required only for these programmes
    personal: str = "none"  # identity | sensitive | none
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min: float | dt.date | None = None
    max: float | dt.date | None = None
    pattern: str | None = None
    out: str | None = None  # id_card: the pseudonym's prefix (person -> person_key)
    level: str | None = None  # region_name: county | township | village
    default: str | None = None
    default_from: str | None = None  # "period": filled from the file's period when absent
    future: bool = False  # a date that may lie after the period's end (a standard announced ahead)
    per: str | None = None  # amount: "month" when it is a monthly amount (a cell may say 980元/月)

    def required_in(self, programme: str | None) -> bool:
        return self.required or (programme is not None and programme in self.required_for)

    def value_lookup(self) -> dict[str, str]:
        """Every accepted spelling (as ``value_key`` makes it) -> the canonical code."""
        lookup: dict[str, str] = {}
        for code, spellings in self.values.items():
            for spelling in (code, *spellings):
                lookup.setdefault(value_key(spelling), code)
        return lookup

    @property
    def key_column(self) -> str:
        return f"{self.out}_key"

    @property
    def masked_column(self) -> str:
        return f"{self.name}_masked"

    def output_columns(self) -> dict[str, pl.DataType]:
        """The clean-table columns this field becomes (name -> dtype)."""
        if self.type == "id_card":
            return {self.key_column: pl.String(), self.masked_column: pl.String()}
        if self.type in DROPPED_TYPES:
            return {}
        return {self.name: FIELD_DTYPES[self.type]}


@dataclass(frozen=True)
class Roster:
    name: str
    zh: str
    en: str
    grain: str
    period: str  # month | year
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    files: tuple[str, ...] = ()
    programmes: tuple[str, ...] = ()
    staging: str = ""  # the dbt staging model that reads the roster's clean table
    history: bool = False  # a monthly list the rules read across months (deaths): staging reads every month
    rebuild: str = "from_period"  # what a changed file rebuilds: from its period on, or "all" (the whole history)

    @property
    def windowed(self) -> bool:
        """An incremental build reads only the months it rebuilds from this roster (monthly rosters)."""
        return self.period == "month" and not self.history

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"roster {self.name} has no field {name}")

    @property
    def has_region(self) -> bool:
        return any(f.type == "region_name" for f in self.fields)

    @property
    def multi_programme(self) -> bool:
        return len(self.programmes) > 1

    def clean_schema(self) -> dict[str, pl.DataType]:
        """Every column of the clean Parquet, in order, with its dtype."""
        schema: dict[str, pl.DataType] = {"period": pl.Date()}
        if self.programmes:
            schema["programme"] = pl.String()
        for f in self.fields:
            schema.update(f.output_columns())
        if self.has_region:
            schema["division_code"] = pl.String()
        schema["source_file"] = pl.String()
        schema["source_sheet"] = pl.String()
        schema["source_row"] = pl.Int64()
        return schema

    def column_descriptions(self) -> dict[str, tuple[str, str]]:
        """Column -> (Chinese, English) description, for dbt sources and docs."""
        out: dict[str, tuple[str, str]] = {
            "period": ("统计期", "period of the extract (first day of its month or year)"),
            "programme": ("项目", "programme code"),
            "division_code": ("区划代码", "12-digit division code resolved from the region columns"),
            "urban_rural": ("城乡", "urban or rural"),
            "source_file": ("来源文件", "raw file the row came from (path under data/raw)"),
            "source_sheet": ("来源工作表", "the workbook's sheet the row came from, where it has several roster sheets (null otherwise)"),
            "source_row": (
                "来源行号",
                "row number in the raw file (1-based, as a spreadsheet shows it; in its sheet, where source_sheet says one)",
            ),
        }
        for f in self.fields:
            if f.type == "id_card":
                out[f.key_column] = (f"{f.zh}（假名）", f"keyed pseudonym of {f.en}")
                out[f.masked_column] = (f"{f.zh}（脱敏）", f"masked {f.en}: first 6 + ******** + last 4")
            elif f.type not in DROPPED_TYPES:
                out[f.name] = (f.zh, f.en)
        return {c: out[c] for c in self.clean_schema()}


@dataclass(frozen=True)
class Registry:
    rosters: dict[str, Roster]
    programmes: dict[str, dict[str, str]]
    programme_file_words: dict[str, tuple[str, ...]]
    urban_rural_file_words: dict[str, tuple[str, ...]]
    local: LocalSettings
    region_aliases: dict[str, str]
    settings: Settings
    config_file: Path | None = None
    config_sha256: str = ""

    def __getitem__(self, roster: str) -> Roster:
        return self.rosters[roster]


def _parse_bound(value: Any) -> float | dt.date | None:
    if value is None or isinstance(value, (int, float, dt.date)):
        return value
    return dt.date.fromisoformat(str(value))


def _build_field(spec: dict[str, Any], extra_aliases: list[str], extra_values: dict[str, list[str]]) -> Field:
    values = {str(code): tuple(str(v) for v in spellings) for code, spellings in (spec.get("values") or {}).items()}
    for code, spellings in extra_values.items():
        values[str(code)] = tuple(dict.fromkeys([*values.get(str(code), ()), *map(str, spellings)]))
    required = spec.get("required", False)
    return Field(
        name=spec["name"],
        type=spec["type"],
        zh=spec["zh"],
        en=spec["en"],
        aliases=tuple(dict.fromkeys([*map(str, spec.get("aliases", [])), *extra_aliases])),
        weak_aliases=tuple(map(str, spec.get("weak_aliases", []))),
        required=required is True,
        required_for=tuple(required) if isinstance(required, list) else (),
        personal=spec.get("personal", "none"),
        values=values,
        min=_parse_bound(spec.get("min")),
        max=_parse_bound(spec.get("max")),
        pattern=spec.get("pattern"),
        out=spec.get("out"),
        level=spec.get("level"),
        default=spec.get("default"),
        default_from=spec.get("default_from"),
        future=bool(spec.get("future", False)),
        per=spec.get("per"),
    )


def _expand(specs: list[dict[str, Any]], groups: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in specs:
        if "include" in spec:
            out.extend(groups[spec["include"]])
        else:
            out.append(spec)
    return out


def default_config_path() -> Path:
    from civstat.settings import config_path

    return config_path()


def _check_registry(raw: dict[str, Any]) -> None:
    """rosters.yaml is reviewed by hand: a misspelt key must fail loudly, not be ignored."""

    def fields(specs):
        for spec in specs:
            bad = set(spec) - FIELD_KEYS
            if bad:
                raise ValueError(f"{REGISTRY_FILE}: field {spec.get('name', spec)} has unknown key(s) {sorted(bad)}")

    for _group, specs in raw["field_groups"].items():
        fields(specs)
    for name, spec in raw["rosters"].items():
        bad = set(spec) - ROSTER_KEYS
        if bad:
            raise ValueError(f"{REGISTRY_FILE}: roster {name} has unknown key(s) {sorted(bad)}")
        fields(spec["fields"])


def load_registry(config_file: Path | None = None) -> Registry:
    """Read the registry and merge the local configuration (``Settings``) into it."""
    import hashlib

    from civstat.settings import load_settings

    registry_text = REGISTRY_FILE.read_text(encoding="utf-8")
    raw = yaml.safe_load(registry_text)
    _check_registry(raw)
    config_file = config_file or default_config_path()
    settings, config_text = load_settings(config_file)
    extra = settings.header_aliases
    extra_values = {
        r: {f: {str(c): [str(v) for v in vs] for c, vs in codes.items()} for f, codes in fs.items()}
        for r, fs in settings.value_aliases.items()
    }
    for section, given in (("header_aliases", extra), ("value_aliases", extra_values)):
        unknown = set(given) - set(raw["rosters"])
        if unknown:
            raise ValueError(f"{config_file}: {section} names unknown rosters {sorted(unknown)}; known: {sorted(raw['rosters'])}")

    rosters: dict[str, Roster] = {}
    for name, spec in raw["rosters"].items():
        field_specs = _expand(spec["fields"], raw["field_groups"])
        extra_for_roster = extra.get(name) or {}
        values_for_roster = extra_values.get(name) or {}
        known = {f["name"] for f in field_specs}
        bad = set(extra_for_roster) - known
        if bad:
            raise ValueError(f"{config_file}: header_aliases.{name} names unknown fields {sorted(bad)}; known: {sorted(known)}")
        with_values = {f["name"]: f for f in field_specs if f.get("values")}
        bad = set(values_for_roster) - set(with_values)
        if bad:
            raise ValueError(
                f"{config_file}: value_aliases.{name} names fields without a vocabulary {sorted(bad)}; "
                f"fields with one: {sorted(with_values)}"
            )
        for fname, codes in values_for_roster.items():
            unknown_codes = {str(c) for c in (codes or {})} - {str(c) for c in with_values[fname]["values"]}
            if unknown_codes:
                raise ValueError(
                    f"{config_file}: value_aliases.{name}.{fname} names unknown codes {sorted(unknown_codes)}; "
                    f"codes: {sorted(str(c) for c in with_values[fname]['values'])}"
                )
        fields = tuple(
            _build_field(f, [str(a) for a in extra_for_roster.get(f["name"], [])], values_for_roster.get(f["name"]) or {})
            for f in field_specs
        )
        for f in fields:  # identity never reaches a clean table: such a field is dropped or pseudonymised
            if f.personal == "identity" and f.type not in ("person_name", "id_card", "disability_cert"):
                raise ValueError(f"{REGISTRY_FILE}: {name}.{f.name} is personal: identity but of type {f.type}, which would keep it")
        rosters[name] = Roster(
            name=name,
            zh=spec["zh"],
            en=spec["en"],
            grain=spec["grain"],
            period=spec["period"],
            fields=fields,
            key=tuple(spec["key"]),
            files=tuple(spec.get("files", [])),
            programmes=tuple(spec.get("programmes", [])),
            staging=spec["staging"],
            history=bool(spec.get("history", False)),
            rebuild=spec.get("rebuild", "from_period"),
        )
        if rosters[name].rebuild not in ("from_period", "all"):
            raise ValueError(f"{REGISTRY_FILE}: roster {name} has rebuild: {rosters[name].rebuild!r} (from_period or all)")
    return Registry(
        rosters=rosters,
        programmes=raw["programmes"],
        programme_file_words={k: tuple(v) for k, v in raw["programme_file_words"].items()},
        urban_rural_file_words={k: tuple(v) for k, v in raw["urban_rural_file_words"].items()},
        local=settings.local,
        region_aliases={str(k): str(v) for k, v in settings.region_aliases.items()},
        settings=settings,
        config_file=config_file,
        config_sha256=hashlib.sha256((registry_text + "\0" + config_text + "\0" + CLEAN_FORMAT).encode("utf-8")).hexdigest(),
    )


@cache
def registry() -> Registry:
    """The registry with the repository's configuration (cached)."""
    return load_registry()

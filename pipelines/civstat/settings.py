"""Settings and locations.

``Settings`` is config/civstat.yaml as a typed model: every local option with its default, stated
here once; an unknown key is an error naming the key and the file. ``Paths`` owns every location,
derived from one data directory: ``--data-dir`` on the command line, else ``CIVSTAT_DATA_DIR``,
else ``./data``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def config_path() -> Path:
    return Path(os.environ.get("CIVSTAT_CONFIG", PROJECT_ROOT / "config" / "civstat.yaml")).resolve()


class LocalSettings(BaseModel):
    """The *local* options of DOMAIN.md and the operating limits, with their defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # 高龄津贴 age tiers: lower bound of each tier (inclusive), youngest first
    longevity_tiers: list[int] = Field(default=[80, 90, 100], min_length=1)
    # 低保边缘: income under this multiple of the 低保 standard
    marginal_income_multiplier: float = Field(default=1.5, gt=1)
    # W04: tolerance above covered persons x standard for 分类施保 top-ups (share of the ceiling)
    dibao_amount_tolerance: float = Field(default=0.30, ge=0)
    # W11: months without review before a 低保 household is flagged (shorter with a member able to work)
    review_interval_months: int = Field(default=12, gt=0)
    review_interval_months_able_member: int = Field(default=6, gt=0)
    # W10: months a 刚性支出困难 recognition stays valid
    rigid_recognition_valid_months: int = Field(default=12, gt=0)
    # W09 / 困难残疾人生活补贴: household types that qualify
    disab_living_household_types: list[str] = ["dibao", "tekun"]
    # W09 / 重度残疾人护理补贴: extend to grade 3-4 intellectual and mental disability
    disab_care_extend_grade_3_4_intellectual_mental: bool = False
    # W14: rural 低保 standard below this share of the urban one (off by default)
    w14_enabled: bool = False
    w14_rural_urban_min_ratio: float = Field(default=0.80, gt=0, le=1)
    # warnings' loop (预警 → 核查 → 处置 → 反馈): a warning found true (属实) that still holds this many
    # months after it was checked is escalated (severity up, a sheet of its own on the list)
    escalate_after_months: int = Field(default=3, gt=0)
    # a warning is to be checked within this many days of first being raised (the summary's "on time")
    verify_within_days: int = Field(default=30, gt=0)
    # denominator of coverage and per-1,000 figures: 户籍 (hukou) or 常住 (resident)
    population_basis: Literal["hukou", "resident"] = "hukou"
    # the chart page's target line for beds per 1,000 older people; 35 is the lower end of the 35-40 that the
    # 13th five-year plan for civil affairs (民政事业发展第十三个五年规划, 2016) set for 2020
    beds_per_1000_target: float = 35
    # public tables suppress cells of 1 to this number minus one people
    suppress_below: int = Field(default=5, ge=1)
    # the first month Dagster offers as a partition (months with data are always offered)
    first_month: str = "2000-01"
    # a county's monthly recipients changing by more than this share is flagged (a warning)
    max_monthly_change: float = Field(default=0.3, gt=0)
    # 审核: a region's year-end figure changing by more than this share from last year is flagged (a warning)
    max_annual_change: float = Field(default=0.3, gt=0)
    # a file one of whose columns rejects more than this share of its rows is rejected whole
    max_rejected_share: float = Field(default=0.5, gt=0, le=1)
    # releases kept under data/marts/releases
    keep_releases: int = Field(default=5, ge=1)
    # what a raw file may hold before it is refused
    max_cell_chars: int = Field(default=32767, gt=0)
    max_rows_per_file: int = Field(default=5_000_000, gt=0)
    max_columns_per_file: int = Field(default=16384, gt=0)
    max_file_bytes: int = Field(default=2 << 30, gt=0)

    @field_validator("first_month")
    @classmethod
    def _month(cls, value: str) -> str:
        from civstat.periods import parse_month

        return parse_month(value)


#: The local options dbt's models read (``dbt --vars``).
DBT_VARS = (
    "longevity_tiers",
    "population_basis",
    "disab_living_household_types",
    "dibao_amount_tolerance",
    "marginal_income_multiplier",
    "review_interval_months",
    "review_interval_months_able_member",
    "rigid_recognition_valid_months",
    "disab_care_extend_grade_3_4_intellectual_mental",
    "w14_enabled",
    "w14_rural_urban_min_ratio",
    "escalate_after_months",
    "verify_within_days",
)


class AuditExplanation(BaseModel):
    """A statistician's 说明 for an explainable audit failure (expectations/audit/rules.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    region: str  # the 12-digit division code
    year: int
    note: str = Field(min_length=4)


class Settings(BaseModel):
    """config/civstat.yaml: extra header and value spellings, region aliases, local options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    header_aliases: dict[str, dict[str, list[str]]] = {}
    value_aliases: dict[str, dict[str, dict[str | int, list[str | int]]]] = {}
    region_aliases: dict[str, str | int] = {}
    local: LocalSettings = LocalSettings()
    audit_explanations: list[AuditExplanation] = []

    @field_validator("header_aliases", "value_aliases", "region_aliases", "local", "audit_explanations", mode="before")
    @classmethod
    def _empty_section(cls, value):
        return {} if value is None else value  # a section with only comments in it

    def dbt_vars(self) -> dict:
        return self.local.model_dump(include=set(DBT_VARS))


class SettingsError(ValueError):
    """config/civstat.yaml is not valid: the message names the file, the key and what is wrong."""


def load_settings(path: Path | None = None) -> tuple[Settings, str]:
    """The settings in ``path`` (default: config_path()) and the file's text ('' when absent)."""
    path = path or config_path()
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        raw = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise SettingsError(f"{path}{where}: not valid YAML") from None
    try:
        return Settings.model_validate(raw or {}), text
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"{path}: {problems}") from None


@dataclass(frozen=True)
class Paths:
    data: Path

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> Paths:
        chosen = data_dir or os.environ.get("CIVSTAT_DATA_DIR") or "data"
        return cls(Path(chosen).expanduser().resolve())

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def clean(self) -> Path:
        return self.data / "clean"

    @property
    def quarantine(self) -> Path:
        return self.data / "clean" / "_quarantine"

    @property
    def ledger(self) -> Path:
        """The ingest ledger, one Parquet file per period folder and county (civstat.ledger)."""
        return self.data / "clean" / "_ledger"

    @property
    def legacy_ledger(self) -> Path:
        """The single ledger file of earlier versions: read while present, split by the next ingest."""
        return self.data / "clean" / "_ledger.parquet"

    @property
    def marts(self) -> Path:
        return self.data / "marts"

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse"

    @property
    def build_file(self) -> Path:
        """dbt's build (staging views, marts); published from, never read by analysts."""
        return self.warehouse / "build.duckdb"

    @property
    def build_state(self) -> Path:
        """What the build file holds: written after a complete build, removed when one starts."""
        return self.warehouse / "build_state.json"

    @property
    def dbt_target(self) -> Path:
        return self.warehouse / "dbt_target"

    @property
    def spark(self) -> Path:
        """The Spark build (dbt's ``spark`` target, civstat.warehouse.spark), beside the DuckDB one."""
        return self.warehouse / "spark"

    @property
    def spark_warehouse(self) -> Path:
        """Spark's warehouse directory: every model's table as Parquet, ``<schema>.db/<model>/``."""
        return self.spark / "tables"

    @property
    def spark_build_file(self) -> Path:
        """The marts of the Spark build read back into DuckDB: what publication reads."""
        return self.spark / "build.duckdb"

    @property
    def spark_dbt_target(self) -> Path:
        return self.spark / "dbt_target"

    @property
    def published_warehouse(self) -> Path:
        return self.marts / "warehouse.duckdb"

    @property
    def publication(self) -> Path:
        return self.marts / "_publication.json"

    @property
    def quality(self) -> Path:
        return self.data / "quality"

    @property
    def reports(self) -> Path:
        return self.data / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.data / "dagster"

    def clean_table(self, roster: str) -> Path:
        return self.clean / roster


def pseudonym_secret() -> bytes:
    """The HMAC secret for pseudonyms. Never in the repository.

    ``CIVSTAT_SECRET`` if set; else the key file ``CIVSTAT_KEY_FILE`` (default
    ``~/.config/civstat/pseudonym.key``), created with 32 random bytes on first use.
    """
    env = os.environ.get("CIVSTAT_SECRET")
    if env:
        return env.encode("utf-8")
    key_file = Path(os.environ.get("CIVSTAT_KEY_FILE", Path.home() / ".config" / "civstat" / "pseudonym.key")).expanduser()
    if key_file.resolve().is_relative_to(PROJECT_ROOT):
        raise RuntimeError(f"the pseudonym key file {key_file} is inside the repository; keep it outside ({PROJECT_ROOT})")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode("ascii"))
    return key_file.read_bytes().strip()

"""Ingest roster extracts from data/raw into typed, pseudonymised Parquet under data/clean.

For every raw file: detect its format and encoding, find its header, recognise the roster, clean it
(``cleaning.clean``), write ``data/clean/<roster>/period=<p>/<file-id>.parquet``, its quarantine
rows under ``data/clean/_quarantine/``, and one ledger row (content hash, rows in, clean,
quarantined; ``civstat.ledger``). A file whose content is already in the ledger is skipped:
re-ingesting changes nothing.

An ingest is planned first (``plan_ingest``: which files, which are done, which left data/raw), then
cleaned in phases: the division registers (``begin_ingest``, one at a time: region names resolve
against them), the family rosters, then everything else (person rosters look their households up
in the period's clean family files, whichever county listed them). Within a phase files are
independent: ``ingest`` spreads each phase over worker processes; the Dagster asset
``clean/<roster>`` runs each phase as one step per county (``civstat.counties``), each step
recording its county's ledger partition. Both give the same clean files and the same ledger.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from civstat.cleaning.clean import (
    QUARANTINE_SCHEMA,
    REASONS_ZH,
    UNKNOWN_WARNING,
    CleanResult,
    HouseholdLookup,
    RosterPart,
    clean_tables,
    merge_results,
    refuse_unknown,
    value_from_name,
)
from civstat.cleaning.headers import HeaderError, HeaderMatch, check_mapping, find_header
from civstat.cleaning.readers import Limits, RawGrid, UnreadableFile, fill_merged_down, read_grids
from civstat.cleaning.regions import RegionResolver
from civstat.cleaning.suggest import describe_unknown
from civstat.counties import CountyIndex
from civstat.faults import kill_point
from civstat.ledger import FAILED, LEDGER_SCHEMA, OK, REJECTED, WITHDRAWN, read_ledger, record, rehome
from civstat.ledger import write_atomic as _write_atomic
from civstat.periods import Period
from civstat.redact import scrub
from civstat.registry import Registry, Roster
from civstat.registry import registry as default_registry
from civstat.settings import Paths, config_path, pseudonym_secret

log = logging.getLogger("civstat.ingest")

RAW_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".et", ".csv", ".tsv", ".txt", ".htm", ".html"}
#: Files in data/raw that are not rosters and are not reported (documentation, the generator's oracle,
#: the placeholder that keeps the empty folder in the repository).
NOT_ROSTERS = ("README.md", "README.txt", "_manifest", ".gitkeep")


class IngestError(Exception):
    """A file that cannot be ingested; the message names the file and what to do."""


@dataclass
class FileOutcome:
    source_file: str
    status: str  # ok | rejected | failed | skipped
    roster: str | None = None
    rows_in: int = 0
    rows_clean: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    ledger: pl.DataFrame | None = None
    unknown_values: list = field(default_factory=list)  # cleaning.clean.UnknownValue: values nobody maps, per column


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # files in data/raw not ingested, and why
    withdrawn: list[str] = field(default_factory=list)  # files gone from data/raw whose rows were withdrawn

    @property
    def failed(self) -> list[FileOutcome]:
        """Files that publish nothing: unreadable, unmapped, or mostly rejected."""
        return [o for o in self.outcomes if o.status in (FAILED, REJECTED)]

    def totals(self) -> dict[str, int]:
        done = [o for o in self.outcomes if o.status == "ok"]
        return {
            "files": len(self.outcomes),
            "ingested": len(done),
            "skipped": sum(o.status == "skipped" for o in self.outcomes),
            "failed": len(self.failed),
            "rows_in": sum(o.rows_in for o in done),
            "rows_clean": sum(o.rows_clean for o in done),
            "rows_quarantined": sum(o.rows_quarantined for o in done),
        }


# ---------------------------------------------------------------- where a file belongs


def period_of(path: Path, raw_root: Path) -> Period:
    """The period of the folder the file sits in: a month (monthly rosters) or a year (annual registers)."""
    rel = path.relative_to(raw_root)
    period = Period.of_folder(rel.parts[0]) if len(rel.parts) > 1 else None
    if period is None:
        raise IngestError(
            f"{rel}: raw files go in data/raw/<YYYY-MM>/ (monthly rosters) or data/raw/<YYYY>/ (annual registers); move it into its period's folder"
        )
    return period


def candidate_rosters(file_name: str, reg: Registry) -> list[Roster]:
    """Rosters whose file-name words appear in the name (all of them when none does)."""
    hits = [r for r in reg.rosters.values() if any(w in file_name for w in r.files)]
    return hits or list(reg.rosters.values())


def programme_from_name(file_name: str, roster: Roster, reg: Registry) -> str | None:
    if len(roster.programmes) == 1:
        return roster.programmes[0]
    for programme, words in reg.programme_file_words.items():
        if programme in roster.programmes and any(w in file_name for w in words):
            return programme
    return None


def urban_rural_from_name(file_name: str, reg: Registry) -> str | None:
    for code, words in reg.urban_rural_file_words.items():
        if any(w in file_name for w in words):
            return code
    return None


def _looks_like_family(file_name: str) -> bool:
    """A name whose last noun is a household's (家庭, 户花名册, 户台账), not a person's (人员, 成员):
    特困人员家庭查询 lists households, 低保边缘家庭成员花名册 their members."""
    last = lambda words: max(file_name.rfind(w) for w in words)
    return last(("家庭", "户花名册", "户台账")) > last(("人员", "成员"))


def file_id(source_file: str) -> str:
    return hashlib.sha256(source_file.encode("utf-8")).hexdigest()[:16]


def clean_file(paths: Paths, roster: str, period: Period, source_file: str) -> Path:
    """Where a raw file's clean rows are written: a Parquet file of its own in its roster's table."""
    return paths.clean_table(roster) / f"period={period}" / f"{file_id(source_file)}.parquet"


def quarantine_file(paths: Paths, period: Period, source_file: str) -> Path:
    """Where a raw file's quarantine rows are written (the clean file's name, under data/clean/_quarantine)."""
    return paths.quarantine / f"period={period}" / f"{file_id(source_file)}.parquet"


def content_hash(source: Path | bytes) -> str:
    """The SHA-256 of a file (read as a stream) or of its bytes, read already."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- ledger rows


def _ledger_row(**values) -> pl.DataFrame:
    values["error"] = scrub(values.get("error"))
    return pl.DataFrame([{k: values.get(k) for k in LEDGER_SCHEMA}], schema=LEDGER_SCHEMA)


def withdraw(paths: Paths, source_file: str) -> None:
    """Remove a raw file's clean and quarantine rows (it was deleted, renamed, or cannot be read now)."""
    fid = file_id(source_file)
    for stale in [*paths.clean.glob(f"*/period=*/{fid}.parquet"), *paths.quarantine.glob(f"period=*/{fid}.parquet")]:
        stale.unlink(missing_ok=True)


# ---------------------------------------------------------------- divisions for region lookups


class DivisionCache:
    """The clean division table of the latest year not after a period, loaded once per year."""

    def __init__(self, paths: Paths, reg: Registry):
        self.paths, self.reg, self._by_year, self._years = paths, reg, {}, None

    def resolver(self, period: Period) -> RegionResolver | None:
        root = self.paths.clean_table("division")
        if self._years is None:  # looked up once (a province has thousands of files), again after forget()
            self._years = sorted(int(p.name.split("=")[1]) for p in root.glob("period=*")) if root.exists() else []
        years = self._years
        if not years:
            return None
        usable = [y for y in years if y <= period.year] or years[:1]
        year = usable[-1]
        if year not in self._by_year:
            divisions = pl.read_parquet(root / f"period={year}" / "*.parquet")
            self._by_year[year] = RegionResolver(divisions, self.reg.region_aliases)
        return self._by_year[year]

    def forget(self) -> None:
        self._by_year.clear()
        self._years = None


# ---------------------------------------------------------------- one file


@dataclass
class Prepared:
    """A file read and recognised, before cleaning: what ``civstat inspect`` shows."""

    source_file: str
    period: Period
    grid: RawGrid
    match: HeaderMatch
    programme: str | None
    urban_rural: str | None  # from the file name
    urban_rural_source: str  # column | file name | household | division code | none
    title: str = ""  # the text above the header rows


def limits(reg: Registry) -> Limits:
    return Limits.of(reg.local)


def _unchanged(source_file: str, before: os.stat_result, after: os.stat_result) -> None:
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise IngestError(
            f"{source_file}: changed while it was being read (still being copied or saved?); it is read again on the next run"
        )


def _cannot_read(source_file: str, exc: OSError) -> IngestError:
    return IngestError(f"{source_file}: cannot be read ({exc.strerror or type(exc).__name__})")


def _linked_outside(path: Path, paths: Paths, source_file: str) -> None:
    if path.is_symlink() and not path.resolve().is_relative_to(paths.data.resolve()):
        raise IngestError(f"{source_file}: a link to a file outside the data directory; copy the file into data/raw instead")


def read_content(path: Path, paths: Paths, reg: Registry) -> tuple[bytes | None, str]:
    """A new file's bytes and their SHA-256, read once for both (``prepare_file`` takes the bytes);
    no bytes when the file is larger than a roster can be (hashed as it is read: the reader refuses it)."""
    source_file = path.relative_to(paths.raw).as_posix()
    _linked_outside(path, paths, source_file)
    try:
        before = path.stat()
        if before.st_size > limits(reg).max_bytes:
            return None, content_hash(path)
        content = path.read_bytes()
        _unchanged(source_file, before, path.stat())
    except OSError as exc:
        raise _cannot_read(source_file, exc) from None
    return content, content_hash(content)


#: What a workbook's sheet that is not a roster is called (a summary of the roster sheets, an index,
#: notes): beside roster sheets, such a sheet whose header is not a roster's is left out, saying so.
NOT_A_ROSTER_SHEET = ("汇总", "合计", "统计", "目录", "说明", "总表")


def prepare_file(path: Path, paths: Paths, reg: Registry, content: bytes | None = None) -> list[Prepared]:
    """Read ``path`` (or take its bytes, ``content``, from ``read_content``, which checked the file as
    it read it), find each table's header and roster (a workbook may hold one table per sheet, all
    of one roster and programme), its programme and period; raise IngestError."""
    source_file = path.relative_to(paths.raw).as_posix()
    period = period_of(path, paths.raw)
    before = None
    if content is None:
        _linked_outside(path, paths, source_file)
        before = path.stat()
    try:
        grids = read_grids(path, limits(reg), content)
    except UnreadableFile as exc:
        raise IngestError(f"{source_file}: {exc}") from None
    except OSError as exc:
        raise _cannot_read(source_file, exc) from None
    if before is not None:
        _unchanged(source_file, before, path.stat())
    prepared, summaries = [], []
    for grid in grids:
        try:
            prepared.append(_prepare_table(path, source_file, period, grid, reg))
        except IngestError:
            if len(grids) > 1 and any(word in grid.sheet for word in NOT_A_ROSTER_SHEET):
                summaries.append(grid.sheet)  # a summary of the other sheets: not left out unless they are rosters
                continue
            raise
    if not prepared:  # every sheet is a summary: the first one's error says why none is a roster
        _prepare_table(path, source_file, period, grids[0], reg)
    if summaries:
        log.warning("%s: sheets that are not rosters (their header is none) left out: %s", source_file, ", ".join(summaries))
    first = prepared[0]
    for other in prepared[1:]:
        if other.match.roster is not first.match.roster or other.programme != first.programme:
            raise IngestError(
                f"{source_file}: its sheets hold different rosters ({_sheet_says(first)}; {_sheet_says(other)}): "
                "a workbook's sheets are read as one roster; save each kind as its own file"
            )
    return prepared


def _sheet_says(prepared: Prepared) -> str:
    return f"sheet {prepared.grid.sheet}: {prepared.match.roster.zh}" + (f" {prepared.programme}" if prepared.programme else "")


def _prepare_table(path: Path, source_file: str, period: Period, grid: RawGrid, reg: Registry) -> Prepared:
    """One table of ``path`` (its only one, or one sheet of a workbook) recognised (``prepare_file``)."""
    where = f"{source_file}, sheet {grid.sheet}" if grid.sheet else source_file
    try:
        match = find_header(grid.cells, candidate_rosters(path.name, reg))
    except HeaderError as exc:
        raise IngestError(f"{where}: {exc}") from exc
    grid, filled = fill_merged_down(grid, match.data_start)
    if filled:
        log.info("%s: %d empty cells under merged cells read with the merged cell's value", where, filled)
    roster = match.roster
    programme = programme_from_name(path.name, roster, reg)
    title = " ".join(str(v) for r in range(match.header_rows[0]) for v in grid.cells.row(r) if v is not None)
    if grid.sheet:
        title = f"{grid.sheet} {title}".strip()  # a sheet named 城市低保 says what a title would
    if roster.multi_programme and programme is None:
        programme = programme_from_name(title, roster, reg)
    mapped = {m.name for m in match.columns.values()}
    for f in roster.fields:
        if f.default_from == "name" and f.name not in mapped and value_from_name(f, f"{source_file} {title}") is not None:
            match.from_name.add(f.name)
    try:
        check_mapping(match, where, str(reg.config_file or config_path()), programme)
    except HeaderError as exc:
        raise IngestError(str(exc)) from exc
    if roster.multi_programme and programme is None:
        words = "、".join(w for p in roster.programmes for w in reg.programme_file_words.get(p, ()))
        raise IngestError(
            f"{where}: cannot tell the programme of this {roster.zh} from its file name or title; put one of {words} in the name"
        )
    if roster.period == "month" and not period.is_month:
        raise IngestError(f"{source_file}: {roster.zh} is a monthly roster; put it in data/raw/<YYYY-MM>/, not data/raw/{period}/")
    urban_rural = urban_rural_from_name(path.name, reg) or (urban_rural_from_name(title, reg) if title else None)
    has_ur_column = any(f.name == "urban_rural" for f in match.columns.values())
    has_ur_field = any(f.name == "urban_rural" for f in roster.fields)
    ur_source = (
        "column"
        if has_ur_column
        else "file name"
        if urban_rural
        else "household (户主身份证号)"
        if roster.name == "person"
        else "division code (城乡分类代码)"
        if has_ur_field
        else "none"
    )
    return Prepared(source_file, period, grid, match, programme, urban_rural, ur_source, title)


def published_warning_refs(paths: Paths, period: Period) -> pl.Series | None:
    """The references of the warnings published for the period and before (what a returned list
    may name); None when no publication holds the period yet (a first run from data/raw, where the
    list's answers come in with the month's rosters: its references are the ones this run's build
    makes, and are checked by the next run)."""
    import duckdb

    if not paths.published_warehouse.exists():
        return None
    con = duckdb.connect(str(paths.published_warehouse), read_only=True)
    try:
        held = con.execute("select count(*) from dim_periods where period_type = 'month' and period = ?", [period.first_day]).fetchone()
        if not held or not held[0]:
            return None
        rows = con.execute("select distinct alert_ref from monitoring_alerts where period <= ?", [period.reference_date]).fetchall()
    except duckdb.Error:  # a publication from before warnings had references
        rows = []
    finally:
        con.close()
    return pl.Series("alert_ref", [r[0] for r in rows], dtype=pl.String)


def household_lookups(paths: Paths, period: Period) -> dict[str, HouseholdLookup]:
    """The clean and quarantined households of a period, by programme (a programme no family file
    has is not there); a household key listed twice counts with its first clean row."""
    columns = {"household_key": pl.String, "division_code": pl.String, "urban_rural": pl.String}
    clean = pl.DataFrame(schema={"programme": pl.String, **columns})
    clean_dir = paths.clean_table("family") / f"period={period}"
    families = sorted(clean_dir.glob("*.parquet")) if clean_dir.exists() else []
    if families:
        clean = (
            pl.scan_parquet(families, missing_columns="insert", extra_columns="ignore")
            .select("programme", *columns)
            .filter(pl.col("programme").is_not_null())
            .collect()
        )
    quarantined = pl.DataFrame(schema={"programme": pl.String, "household_key": pl.String})
    # the quarantine files of the family files alone (a file's quarantine has its clean file's name):
    # a province month has some 2,500 quarantine files, a few hundred of them for family rosters
    q_dir = paths.quarantine / f"period={period}"
    q_files = [q for q in (q_dir / f.name for f in families) if q.exists()]
    if q_files:
        q = pl.scan_parquet(
            q_files,
            missing_columns="insert",
            extra_columns="ignore",
            schema={"roster": pl.String, "programme": pl.String, "household_key": pl.String},
        )
        quarantined = q.filter(pl.col("roster") == "family").select("programme", "household_key").drop_nulls().unique().collect()
    return {
        programme: HouseholdLookup(
            clean.filter(pl.col("programme") == programme).select(list(columns)).unique("household_key", keep="first", maintain_order=True),
            quarantined.filter(pl.col("programme") == programme)["household_key"],
        )
        for programme in sorted(set(clean["programme"]) | set(quarantined["programme"]))
    }


class HouseholdCache:
    """``household_lookups`` read once per period, and again only when a family file was written
    or removed since (the family files are cleaned before the person files: each of a province's
    person files would otherwise read every family file of the month again)."""

    def __init__(self, paths: Paths):
        self.paths, self._read, self._looked = paths, {}, set()

    def written(self) -> None:
        """Files may have been written since the last look: the next lookup of a period looks at
        its family files again (once, not for every person file: a province has hundreds)."""
        self._looked.clear()

    def _family_files(self, period: Period) -> tuple:
        """The clean family files of the period as they are now (name, size, time: os.scandir, a
        province has hundreds). A family file's quarantine rows are written with its clean file, so
        a change to either shows here."""
        try:
            with os.scandir(self.paths.clean_table("family") / f"period={period}") as entries:
                return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries))
        except FileNotFoundError:
            return ()

    def lookup(self, period: Period, programme: str | None) -> HouseholdLookup | None:
        if period.key not in self._looked:
            stamp = self._family_files(period)
            if period.key not in self._read or self._read[period.key][0] != stamp:
                self._read[period.key] = (stamp, household_lookups(self.paths, period))
            self._looked.add(period.key)
        return self._read[period.key][1].get(programme)


def rejection(result: CleanResult, prepared: Prepared, reg: Registry) -> str | None:
    """The message when one column rejects most of a file's data rows (None when none does)."""
    limit = reg.local.max_rejected_share
    if not result.rows_data or not result.rejected_by_field:
        return None
    name, rejected = max(result.rejected_by_field.items(), key=lambda kv: kv[1])
    if rejected / result.rows_data <= limit:
        return None
    roster = prepared.match.roster
    by_field = {f.name: col for col, f in prepared.match.columns.items()}
    column = prepared.match.labels.get(by_field.get(name, ""), roster.field(name).zh if name != "region" else "区划")
    head = (
        f"{prepared.source_file}: column '{column}' ({roster.name}.{name}) rejects {rejected} of {result.rows_data} data rows "
        f"({rejected / result.rows_data:.0%}; the limit is {limit:.0%}, local.max_rejected_share): nothing from this file is published"
    )
    unknown = next((u for u in result.unknown_values or [] if u.field == name), None)
    if unknown is not None:
        return (
            f"{head}; {describe_unknown(roster, roster.field(name), unknown.column, unknown.values, str(reg.config_file or config_path()))}"
        )
    q = result.quarantine
    reasons = q.filter(pl.col("field") == name).group_by("reason_code").len().sort("len", descending=True) if q.height else q
    listed = ", ".join(f"{REASONS_ZH.get(code, code)} ({n} rows)" for code, n in reasons.iter_rows()) if reasons.height else ""
    return f"{head}; reasons: {listed}"


DEFERRED = "deferred"


@dataclass
class _Ready:
    """A file read and matched, with what its cleaning needs (``_ready``)."""

    prepared: Prepared
    digest: str
    resolver: RegionResolver | None
    households: HouseholdLookup | None
    seconds: float  # spent reading it

    def part(self) -> RosterPart:
        p = self.prepared
        return RosterPart(p.grid, p.match, p.source_file, f"{p.source_file} {p.title}")

    def batch_key(self) -> tuple:
        """Files with the same key are cleaned as one table (``clean.clean_tables``)."""
        p = self.prepared
        return (p.period, p.programme, p.urban_rural, self.part().layout())


def _ready(
    path: Path,
    paths: Paths,
    reg: Registry,
    divisions: DivisionCache,
    digest: str,
    households_cache: HouseholdCache,
    only_roster: str | None = None,
    content: bytes | None = None,
) -> list[_Ready] | None:
    """A file read (``content``: its bytes, read already) and its header found, with what its
    cleaning needs: one per table (a workbook may hold one per sheet); None when it is not of
    ``only_roster`` (left for a later phase: nothing else is looked up for it)."""
    started = time.perf_counter()
    tables = prepare_file(path, paths, reg, content)
    roster, source_file, period = tables[0].match.roster, tables[0].source_file, tables[0].period
    if only_roster is not None and roster.name != only_roster:
        return None
    resolver = divisions.resolver(period) if roster.has_region else None
    for prepared in tables:
        region_names = [f for f in prepared.match.columns.values() if f.type == "region_name"]
        has_code = any(f.type == "division_code" for f in prepared.match.columns.values())
        if region_names and not has_code and resolver is None:
            raise IngestError(
                f"{source_file}: region names need the 区划代码 register; put the division file in data/raw/<YYYY>/ and ingest it first"
            )
    households = households_cache.lookup(period, tables[0].programme) if roster.name == "person" else None
    seconds = (time.perf_counter() - started) / len(tables)
    return [_Ready(prepared, digest, resolver, households, seconds) for prepared in tables]


def _clean_together(group: list[_Ready], secret: bytes) -> list[CleanResult]:
    first = group[0]
    return clean_tables(
        [r.part() for r in group],
        period=first.prepared.period,
        programme=first.prepared.programme,
        urban_rural=first.prepared.urban_rural,
        resolver=first.resolver,
        secret=secret,
        households=first.households,
    )


def _finish(
    readies: list[_Ready], results: list[CleanResult], paths: Paths, reg: Registry, divisions: DivisionCache, seconds: float
) -> FileOutcome:
    """Write one file's clean and quarantine rows (of each of its tables: ``readies`` and their
    ``results``), or remove them when it is rejected, and make its ledger row."""
    ready = readies[0]
    prepared = ready.prepared
    source_file, period, grid, match = prepared.source_file, prepared.period, prepared.grid, prepared.match
    roster, programme = match.roster, prepared.programme
    refs_checked = None
    if roster.name == "verification":  # a returned caseworker list: its rows must name published warnings
        known = published_warning_refs(paths, period)
        refs_checked = known is not None
        if known is None:
            log.warning("%s: no publication holds %s yet: its warning references are checked on the next run", source_file, period)
        else:
            results = [
                refuse_unknown(r, t.prepared.match, "alert_ref", known, UNKNOWN_WARNING) for r, t in zip(results, readies, strict=True)
            ]
    result = merge_results(results)
    unmapped = list(dict.fromkeys(h for t in readies for h in t.prepared.match.unmapped))
    clean_target, q_target = clean_file(paths, roster.name, period, source_file), quarantine_file(paths, period, source_file)
    rejected = rejection(result, prepared, reg)
    unknown = "; ".join(f"{u.column}: " + ", ".join(f"{v} ({n})" for v, n in u.values.items()) for u in result.unknown_values or []) or None
    if rejected:
        for stale in (clean_target, q_target):
            stale.unlink(missing_ok=True)
    else:
        _write_atomic(result.clean, clean_target, statistics=False)
        quarantine = result.quarantine.with_columns(
            roster=pl.lit(roster.name), period=pl.lit(period.key), programme=pl.lit(programme, dtype=pl.String)
        )
        if quarantine.height:
            _write_atomic(quarantine, q_target, statistics=False)
        elif q_target.exists():
            q_target.unlink()
        if roster.name == "division":
            divisions.forget()
        if unmapped:
            log.warning("%s: columns not in the registry were left out: %s", source_file, ", ".join(unmapped))
        for u in result.unknown_values or []:
            log.warning(
                "%s: %s",
                source_file,
                describe_unknown(roster, roster.field(u.field), u.column, u.values, str(reg.config_file or config_path())),
            )
    status = REJECTED if rejected else OK
    ledger = _ledger_row(
        source_file=source_file,
        content_sha256=ready.digest,
        roster=roster.name,
        programme=programme,
        period=period.key,
        format=grid.format,
        encoding=grid.encoding,
        rows_in=result.rows_in,
        rows_clean=result.clean.height,
        rows_quarantined=result.rows_quarantined,
        rows_blank=result.rows_blank,
        rows_footer=result.rows_footer,
        rows_duplicate=result.rows_duplicate,
        unmapped_headers="、".join(unmapped) or None,
        unknown_values=unknown,
        status=status,
        error=rejected,
        seconds=round(seconds, 3),
        ingested_at=dt.datetime.now(),
        config_sha256=reg.config_sha256,
        refs_checked=refs_checked,
    )
    return FileOutcome(
        source_file,
        status,
        roster.name,
        result.rows_in,
        result.clean.height,
        result.rows_quarantined,
        error=rejected,
        ledger=ledger,
        unknown_values=result.unknown_values or [],
    )


def ingest_files(
    files: list[Path],
    digests: list[str | None],
    paths: Paths,
    reg: Registry,
    divisions: DivisionCache,
    secret: bytes,
    only_roster: str | None = None,
    households_cache: HouseholdCache | None = None,
) -> list[FileOutcome]:
    """Clean ``files``, in order; with ``only_roster``, a file of another roster is left for a later
    phase (DEFERRED). Tables of one layout are cleaned as one table (a table costs milliseconds
    whatever its size; a file has one table, or a workbook one per sheet); when that fails, each is
    cleaned alone, so that one file's failure is that file's ledger row and the others go on. A
    division register is cleaned alone, before the files after it are read: they resolve their
    regions against it."""
    households_cache = households_cache or HouseholdCache(paths)
    households_cache.written()  # another process may have written family files since this one looked
    outcomes: dict[int, FileOutcome] = {}
    tables: dict[int, list[_Ready]] = {}  # the tables of each file read and not yet finished
    pending: dict[tuple, list[tuple[int, int, _Ready]]] = {}

    def clean_pending() -> None:
        cleaned: dict[tuple[int, int], tuple[CleanResult, float] | BaseException] = {}
        for group in pending.values():
            cleaned.update(_clean_group(group, secret))
        pending.clear()
        for i, readies in tables.items():
            outcomes[i] = _finish_file(i, readies, cleaned, files, paths, reg, divisions)
        tables.clear()
        households_cache.written()

    for i, (path, digest) in enumerate(zip(files, digests, strict=True)):
        try:
            content = None
            if digest is None:  # not hashed when the run was planned (a new file): read once, for its hash and its cells
                content, digest = read_content(path, paths, reg)
            readies = _ready(path, paths, reg, divisions, digest, households_cache, only_roster, content)
            del content  # the grids hold the cells: the bytes go before the next file is read
        except BaseException as exc:
            outcomes[i] = _failed(path, paths, reg, digest, exc)
            continue
        if readies is None:
            outcomes[i] = FileOutcome(path.relative_to(paths.raw).as_posix(), DEFERRED)
            continue
        if readies[0].prepared.match.roster.name == "division":
            clean_pending()
        tables[i] = readies
        for s, ready in enumerate(readies):
            pending.setdefault(ready.batch_key(), []).append((i, s, ready))
        if readies[0].prepared.match.roster.name == "division":
            clean_pending()
    clean_pending()
    return [outcomes[i] for i in range(len(files))]


def _clean_group(group: list[tuple[int, int, _Ready]], secret: bytes) -> dict[tuple[int, int], tuple[CleanResult, float] | BaseException]:
    """The results of a group of tables of one layout, by (file, table): each with the seconds spent
    on it (its reading and its share of the cleaning), or the exception that cleaning it alone raised."""
    out: dict[tuple[int, int], tuple[CleanResult, float] | BaseException] = {}
    results, took, rows = None, 0.0, 1
    if len(group) > 1:
        started = time.perf_counter()
        try:
            results = _clean_together([r for _, _, r in group], secret)
        except Exception:  # whatever it is, each table is cleaned alone below, and a failure is its file's own
            log.info("%d tables of one layout could not be cleaned together; cleaning each alone", len(group))
        else:
            rows, took = sum(r.rows_in for r in results) or 1, time.perf_counter() - started
    for n, (i, s, ready) in enumerate(group):
        if results is not None:
            out[i, s] = (results[n], ready.seconds + took * results[n].rows_in / rows)
            continue
        started = time.perf_counter()
        try:
            (result,) = _clean_together([ready], secret)
        except BaseException as exc:
            out[i, s] = exc
        else:
            out[i, s] = (result, ready.seconds + time.perf_counter() - started)
    return out


def _finish_file(
    i: int,
    readies: list[_Ready],
    cleaned: dict[tuple[int, int], tuple[CleanResult, float] | BaseException],
    files: list[Path],
    paths: Paths,
    reg: Registry,
    divisions: DivisionCache,
) -> FileOutcome:
    """The outcome of file ``i`` once each of its tables is cleaned (``cleaned``): failed when one failed."""
    done = [cleaned[i, s] for s in range(len(readies))]
    failure = next((d for d in done if isinstance(d, BaseException)), None)
    try:
        if failure is not None:
            raise failure
        results = [d[0] for d in done]
        return _finish(readies, results, paths, reg, divisions, sum(d[1] for d in done))
    except BaseException as exc:
        return _failed(files[i], paths, reg, readies[0].digest, exc)


# ---------------------------------------------------------------- many files


def in_scope(top: str, periods: Iterable[str] | None) -> bool:
    """Whether files under data/raw/<top>/ belong to a run over ``periods`` (a month's run takes its year's registers)."""
    if periods is None:
        return True
    folder = Period.of_folder(top)
    return folder is not None and any(folder.contains(Period.parse(p)) for p in periods)


def discover(paths: Paths, periods: Iterable[str] | None = None, ignored: list[tuple[str, str]] | None = None) -> list[Path]:
    """Raw files, annual registers before monthly rosters, division registers first of all. Files
    that are not read are added to ``ignored`` with the reason (a hidden or temporary file, a type
    civstat does not read)."""
    if not paths.raw.exists():
        return []
    periods = list(periods) if periods else None
    found = []
    for path in sorted(paths.raw.rglob("*")):
        rel = path.relative_to(paths.raw)
        if path.is_dir() or rel.parts[0] in NOT_ROSTERS or not in_scope(rel.parts[0], periods) and len(rel.parts) > 1:
            continue
        why = None
        if path.name.startswith("~$") or path.name.startswith(".~"):
            why = "a temporary file of an open Office or WPS document"
        elif any(part.startswith(".") for part in rel.parts):
            why = "a hidden file (its name starts with a dot)"
        elif path.suffix.lower() not in RAW_SUFFIXES:
            why = f"not a roster file type ({path.suffix or 'no extension'}); civstat reads {', '.join(sorted(RAW_SUFFIXES))}"
        elif not path.is_file():
            why = "not a regular file"
        if why:
            if ignored is not None:
                ignored.append((rel.as_posix(), why))
            continue
        found.append(path)
    return sorted(found, key=lambda p: (len(p.relative_to(paths.raw).parts[0]) != 4, str(p)))


def _failed(path: Path, paths: Paths, reg: Registry, digest: str | None, exc: BaseException) -> FileOutcome:
    """One file's failure, whatever it is, is that file's ledger row; the others go on."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc
    source_file = path.relative_to(paths.raw).as_posix()
    if not isinstance(exc, IngestError):
        # a library's message may quote the file's cells (IDs, names): never pass it on
        log.error("%s: unexpected %s while cleaning (a bug: please report it with the file's roster type)", source_file, type(exc).__name__)
        exc = IngestError(f"{source_file}: could not be cleaned (unexpected {type(exc).__name__}; the file's content is not quoted here)")
    message = scrub(str(exc))
    log.error("%s", message)
    withdraw(paths, source_file)  # a file that cannot be read now publishes nothing, not its old rows
    ledger = _ledger_row(
        source_file=source_file,
        content_sha256=digest,
        status=FAILED,
        error=message,
        ingested_at=dt.datetime.now(),
        config_sha256=reg.config_sha256,
    )
    return FileOutcome(source_file, FAILED, error=message, ledger=ledger)


_worker: dict = {}


def _worker_start(paths: Paths, reg: Registry, secret: bytes, cpus=None) -> None:
    """A worker's set-up: on a CPU of its own when ``cpus`` (a queue of the CPUs to take, one each:
    ``_cpus_to_pin``) has one left, then what every file it cleans needs."""
    if cpus is not None and not cpus.empty():
        cpu = cpus.get()
        for thread in os.listdir("/proc/self/task"):  # every thread started so far; later ones inherit it
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(thread), {cpu})
    _worker.update(paths=paths, reg=reg, secret=secret, divisions=DivisionCache(paths, reg), households=HouseholdCache(paths))


def _worker_ingest(files: list[Path], digests: list[str | None], only_roster: str | None) -> list[FileOutcome]:
    w = _worker
    return ingest_files(files, digests, w["paths"], w["reg"], w["divisions"], w["secret"], only_roster, w["households"])


#: The workers' environment, where not set already (it is read when a process starts):
#: - one Polars thread each: the processes already keep every core busy, and more threads in each
#:   only add their overhead;
#: - allocators that keep the memory a file freed for the next file, instead of giving it back to
#:   the system and faulting it in again page by page: Polars' jemalloc never purges, and glibc's
#:   malloc (Python's file buffers and texts) maps nothing under 32 MiB on its own. Measured on a
#:   province month (2 workers, alternated runs): page faults 2.3M -> 0.56M, 4-6 s less wall time
#:   (of ~45 s), the largest process's peak memory 0.76 -> 1.13 GiB. With nothing to purge,
#:   jemalloc's background thread only wakes up and sleeps again: it is not started (measured on a
#:   province month, 3 alternated runs each: 1.6 s less system time, 1.1% of the samples in its thread).
WORKER_ENV = {
    "POLARS_MAX_THREADS": "1",
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1,background_thread:false",
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),
}
#: What Polars writes into _RJEM_MALLOC_CONF when it is imported, before the options set there.
POLARS_JEMALLOC = "dirty_decay_ms:500,muzzy_decay_ms:1000"


def _worker_env() -> dict[str, str]:
    """The settings of ``WORKER_ENV`` to add to this process's environment for its workers. Polars
    has written its own jemalloc decay into _RJEM_MALLOC_CONF when imported: ours go after it (the
    last of an option wins), unless the options set there before say how to decay."""
    env = {name: value for name, value in WORKER_ENV.items() if name not in os.environ}
    jemalloc = os.environ.get("_RJEM_MALLOC_CONF")
    if jemalloc is not None and "decay_ms" not in jemalloc.removeprefix(POLARS_JEMALLOC):
        env["_RJEM_MALLOC_CONF"] = f"{jemalloc},{WORKER_ENV['_RJEM_MALLOC_CONF']}"
    return env


def _cpus_to_pin(workers: int) -> list[int]:
    """The CPUs the workers take, one each (``_worker_start``), when each can have one of its own
    (Linux); none otherwise, or with ``CIVSTAT_PIN_WORKERS=0`` (a machine shared with other heavy
    work, where a pinned worker could not move off a busy CPU).

    Measured on a province month (2 workers, 2 CPUs, alternated runs): 35.4-36.5 s against
    37.8-40.6 s, 2-3 CPU s less. A worker hands each Polars operation to its Polars thread and
    waits for it (some 800,000 context switches in that run, 20,000 a second): on one CPU the
    hand-over is a switch between two threads, across two CPUs a wake-up of the other CPU, which
    costs more (most of all in a VM). Each worker pins itself: this process's threads are never
    pinned (pinning the thread that starts the pool, then setting it free again, raced with the
    threads the pool starts meanwhile)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if not 1 < workers <= len(cpus) or os.environ.get("CIVSTAT_PIN_WORKERS", "1") == "0":
        return []
    return cpus[:workers]


@contextlib.contextmanager
def worker_pool(workers: int, paths: Paths, reg: Registry, secret: bytes):
    """Worker processes, started with ``WORKER_ENV`` (set while the pool lives, where not set already),
    all at once: a spawning pool starts a process only for a task that finds no idle worker, so a
    pool given one task to warm up would start its second worker only when the work comes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # fork after Polars' thread pool started is unsafe
    env = _worker_env()
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    cpus = None
    if pinned := _cpus_to_pin(workers):
        cpus = context.SimpleQueue()
        for cpu in pinned:
            cpus.put(cpu)
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start, initargs=(paths, reg, secret, cpus)) as pool:
            for _ in range(workers):
                pool.submit(int)  # starts a worker
            yield pool
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def default_workers() -> int:
    return max(1, int(os.environ.get("CIVSTAT_WORKERS", min(2, os.cpu_count() or 1))))


@dataclass
class IngestPlan:
    """What an ingest does, decided before anything is cleaned. Files are named by their path
    under data/raw (``source_file``)."""

    files: list[str]  # every raw file of the run, in discovery order
    digests: dict[str, str | None]  # the content hash of each file cleaned before under its name; None: the worker hashes it
    skipped: list[str]  # in the ledger with this content and this configuration: nothing to do
    divisions: list[str]  # division registers: first, one at a time (region names resolve against them)
    families: list[str]  # family rosters, and names that may be one (read to know): before the others
    others: list[str]  # the rest; person rosters look their households up in the families
    withdrawn: pl.DataFrame  # the ledger rows of files that left data/raw, now saying so

    def by_county(self, files: Iterable[str], counties: CountyIndex) -> dict[str, list[str]]:
        """``files`` by county group (``civstat.counties``): the counties by code, then ``_other``."""
        groups: dict[str, list[str]] = {}
        for name in files:
            groups.setdefault(counties.group_of(name), []).append(name)
        return dict(sorted(groups.items()))


def plan_ingest(
    paths: Paths, periods: Iterable[str] | None, reg: Registry, report: IngestReport, found: list[Path] | None = None
) -> IngestPlan:
    """Find the run's files (the ignored ones go to ``report.ignored``; ``found``: what ``discover``
    found already, with them), withdraw the rows of files that left data/raw (``report.withdrawn``;
    their ledger rows are recorded by ``begin_ingest``) and sort the rest into what is done and the
    phases. Run under the writer lock."""
    periods = list(periods) if periods else None
    if found is None:
        found = discover(paths, periods, report.ignored)
    for name, why in report.ignored:
        log.warning("%s: not ingested: %s", name, why)
    ledger = read_ledger(paths)
    if periods is not None:
        found = [*found, *_unchecked_lists(paths, ledger, found)]
    files = [p.relative_to(paths.raw).as_posix() for p in found]
    # a file is done when its content was cleaned under the same registry and configuration (and,
    # for a returned list, its warning references were checked)
    cleaned = (pl.col("status") == OK) & (pl.col("config_sha256") == reg.config_sha256) & pl.col("refs_checked").fill_null(True)
    done = {(r["source_file"], r["content_sha256"]) for r in ledger.filter(cleaned).iter_rows(named=True)}
    # only a file cleaned before under its name is hashed here, to know whether it changed; the
    # others are cleaned whatever they hold, and the worker that reads one hashes it (a new month's
    # files are all new: the workers start on them at once instead of waiting for a gigabyte's hash)
    digests: dict[str, str | None] = dict.fromkeys(files)
    _hash_into(digests, found, files, {name for name, _ in done})
    # the raw folder is the truth: a file that left it (deleted, or renamed: its new name is a new
    # file) has its rows withdrawn, and its ledger row says so
    gone = ledger.filter(
        ~pl.col("source_file").is_in(files)
        & (pl.col("status") != WITHDRAWN)
        & pl.col("source_file").map_elements(lambda f: in_scope(f.split("/")[0], periods), return_dtype=pl.Boolean)
    )
    notes = {}
    if gone.height:
        _hash_into(digests, found, files, set(files))  # a file gone may have been renamed: its content says
        named = {digest: name for name, digest in digests.items()}
        for row in gone.iter_rows(named=True):
            withdraw(paths, row["source_file"])
            renamed = named.get(row["content_sha256"] or "")
            notes[row["source_file"]] = (
                f"renamed to {renamed}: its rows are now that file's" if renamed else "no longer in data/raw: its rows were withdrawn"
            )
            report.withdrawn.append(row["source_file"])
            log.warning("%s: %s", row["source_file"], notes[row["source_file"]])
    withdrawn = (
        gone.with_columns(
            status=pl.lit(WITHDRAWN),
            error=pl.col("source_file").replace_strict(notes, default=None, return_dtype=pl.String),
            ingested_at=pl.lit(dt.datetime.now(), dtype=pl.Datetime("us")),
        )
        if notes
        else gone
    )
    todo = [name for name in files if (name, digests[name]) not in done]
    # members follow their household: when a period's family file is (re)cleaned, so are its person files
    candidates = {name: candidate_rosters(name.rsplit("/", 1)[-1], reg) for name in files}
    family_periods = {name.split("/")[0] for name in todo if reg["family"] in candidates[name]}
    todo += [n for n in files if n not in todo and n.split("/")[0] in family_periods and reg["person"] in candidates[n]]
    pending = set(todo)
    # division registers first (region names resolve against them), then family rosters (person
    # rosters look their households up; a name like 特困人员家庭查询 is read to know which it is),
    # then everything else
    divisions = [n for n in todo if candidates[n] == [reg["division"]]]
    families = [
        n
        for n in todo
        if n not in divisions
        and reg["family"] in candidates[n]
        and (candidates[n] == [reg["family"]] or _looks_like_family(n.rsplit("/", 1)[-1]))
    ]
    first = set(divisions) | set(families)
    return IngestPlan(
        files=files,
        digests=digests,
        skipped=[n for n in files if n not in pending],
        divisions=divisions,
        families=families,
        others=[n for n in todo if n not in first],
        withdrawn=withdrawn,
    )


def _unchecked_lists(paths: Paths, ledger: pl.DataFrame, found: list[Path]) -> list[Path]:
    """Returned lists of other periods whose 预警编号 are not checked yet (no publication held their
    month when they were cleaned): a run scoped to another month (the next month's run after a
    rebuild) cleans them again, so that a month published since has its lists checked."""
    unchecked = ledger.filter((pl.col("status") == OK) & ~pl.col("refs_checked"))  # null (not a list) is not unchecked
    wanted = [paths.raw / name for name in unchecked["source_file"]]
    taken = set(found)
    return [path for path in wanted if path not in taken and path.is_file()]


def _hash_into(digests: dict[str, str | None], found: list[Path], files: list[str], wanted: set[str]) -> None:
    """The content hashes of the ``wanted`` files not hashed yet, into ``digests``."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [(path, name) for path, name in zip(found, files, strict=True) if name in wanted and digests[name] is None]
    with ThreadPoolExecutor(default_workers()) as hashing:  # hashlib and reads release the GIL: one core each
        digests.update(zip([name for _, name in todo], hashing.map(content_hash, [path for path, _ in todo]), strict=True))


def clean_files(
    paths: Paths,
    reg: Registry,
    secret: bytes,
    files: list[str],
    digests: dict[str, str | None],
    only_roster: str | None = None,
    *,
    pool=None,
    divisions: DivisionCache | None = None,
    households: HouseholdCache | None = None,
    on_outcome: Callable[[FileOutcome], None] | None = None,
) -> tuple[list[FileOutcome], list[str]]:
    """Clean ``files``, in this process or spread over ``pool``'s worker processes (``worker_pool``).
    Returns their outcomes and, with ``only_roster``, the files found to be of another roster, left
    for a later phase. Writes their clean and quarantine files, not their ledger rows."""
    cleaning = _dispatch(paths, reg, secret, files, digests, only_roster, pool, divisions, households)
    return _collect(cleaning, files, on_outcome)


def _dispatch(
    paths: Paths,
    reg: Registry,
    secret: bytes,
    files: list[str],
    digests: dict[str, str | None],
    only_roster: str | None,
    pool,
    divisions: DivisionCache | None,
    households: HouseholdCache | None,
) -> Iterable[list[FileOutcome]]:
    """Start cleaning ``files`` in batches: given to ``pool``'s workers now (they take the batches in
    the order given, after those given before), or, without a pool, cleaned in this process as
    the outcomes are read. The outcomes of each batch, in order (``_collect``)."""
    batches = _batches(files, paths.raw, reg, default_workers() if pool is not None else 1)
    if pool is not None:
        return pool.map(
            _worker_ingest,
            [[paths.raw / f for f in batch] for batch in batches],
            [[digests[f] for f in batch] for batch in batches],
            [only_roster] * len(batches),
        )
    divisions = divisions or DivisionCache(paths, reg)
    households = households or HouseholdCache(paths)
    return (
        ingest_files([paths.raw / f for f in batch], [digests[f] for f in batch], paths, reg, divisions, secret, only_roster, households)
        for batch in batches
    )


def _collect(
    cleaning: Iterable[list[FileOutcome]], files: list[str], on_outcome: Callable[[FileOutcome], None] | None
) -> tuple[list[FileOutcome], list[str]]:
    """The outcomes of a ``_dispatch``, as they come (``on_outcome``), then in the order of ``files``;
    and the files left for a later phase."""
    outcomes: list[FileOutcome] = []
    deferred: list[str] = []
    for batch_outcomes in cleaning:
        for outcome in batch_outcomes:
            if outcome.status == DEFERRED:
                deferred.append(outcome.source_file)
                continue
            if outcome.status == OK:
                kill_point("ingest:file-written")  # a file's Parquet is written, the ledger not yet
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    order = {name: i for i, name in enumerate(files)}
    return sorted(outcomes, key=lambda o: order[o.source_file]), sorted(deferred, key=order.__getitem__)


#: A batch holds at most this many files and this many bytes of them (about 140,000 rows). Cleaning
#: a table has a fixed cost (measured on a province month: 23 ms a table, 0.8 ms a file, 3.5 µs a
#: row): against 8 MiB and 32 files, 3 CPU s less for a province month, and each worker holds about
#: 0.25 GiB more, for a batch's tables are in memory together.
BATCH_FILES, BATCH_BYTES = 64, 16 << 20


def _batches(files: list[str], raw: Path, reg: Registry, workers: int) -> list[list[str]]:
    """``files`` in batches for the workers, each of files whose names say the same roster,
    programme, urban/rural and folder (likely of one layout: ``ingest_files`` cleans those as one
    table). A division register is a batch of its own, and the batches keep the files' order
    otherwise (the registers come first). Small enough that every worker gets several."""
    most = BATCH_FILES if workers == 1 else max(1, min(BATCH_FILES, len(files) // (workers * 4)))
    batches: list[list[str]] = []
    open_batches: dict[tuple, list[str]] = {}
    held: dict[tuple, int] = {}  # the bytes of each open batch
    size: dict[str, int] = {}  # the bytes of each file
    for name in files:
        folder, _, base = name.rpartition("/")
        candidates = candidate_rosters(base, reg)
        rosters = tuple(r.name for r in candidates)
        if rosters == ("division",):
            batches.append([name])
            open_batches.clear()  # the files after a register are read after it
            continue
        programme = programme_from_name(base, candidates[0], reg) if candidates else None
        key = (folder.split("/")[0], rosters, programme, urban_rural_from_name(base, reg))
        try:
            size[name] = (raw / name).stat().st_size
        except OSError:  # gone: its failure is reported when it is read
            size[name] = 0
        if key in open_batches and held[key] + size[name] > BATCH_BYTES:
            del open_batches[key]
        if key not in open_batches:
            open_batches[key], held[key] = [], 0
            batches.append(open_batches[key])
        open_batches[key].append(name)
        held[key] += size[name]
        if len(open_batches[key]) >= most:
            del open_batches[key]
    if workers > 1 and len(size) == len(files):
        # no register among them: the largest first, so that the last ones to finish are small and
        # no worker waits long for another at the end of a phase
        batches.sort(key=lambda batch: -sum(size[name] for name in batch))
    return batches


def ledger_rows(outcomes: Iterable[FileOutcome]) -> pl.DataFrame:
    rows = [o.ledger for o in outcomes if o.ledger is not None]
    return pl.concat(rows, how="vertical") if rows else pl.DataFrame(schema=LEDGER_SCHEMA)


def begin_ingest(
    paths: Paths, plan: IngestPlan, reg: Registry, secret: bytes, on_outcome: Callable[[FileOutcome], None] | None = None
) -> tuple[CountyIndex, list[FileOutcome]]:
    """Clean the division registers (one at a time), then arrange the ledger by the counties they
    name and record the registers' and the withdrawn files' rows. What runs before the county
    steps, alone: it may write any ledger partition. Returns the county index the run keeps to."""
    outcomes, _ = clean_files(paths, reg, secret, plan.divisions, plan.digests, on_outcome=on_outcome)
    counties = CountyIndex.of_clean_registers(paths.clean_table("division"))
    rehome(paths, counties)
    record(paths, pl.concat([plan.withdrawn.select(list(LEDGER_SCHEMA)), ledger_rows(outcomes)], how="vertical"), counties)
    return counties, outcomes


def ingest(
    paths: Paths,
    periods: Iterable[str] | None = None,
    *,
    reg: Registry | None = None,
    on_file: Callable[[FileOutcome, int, int], None] | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Ingest every raw file (of ``periods``, or all) not already in the ledger.

    Division registers go first (region names resolve against them), then the family rosters,
    then the rest; within a phase files are independent and are cleaned by ``workers`` processes
    (``$CIVSTAT_WORKERS``, default 2). Runs under the data directory's writer lock.
    """
    from civstat.locking import single_writer

    with single_writer(paths.data):
        return _ingest(paths, periods, reg=reg, on_file=on_file, workers=workers)


def _ingest(
    paths: Paths,
    periods: Iterable[str] | None,
    *,
    reg: Registry | None,
    on_file: Callable[[FileOutcome, int, int], None] | None,
    workers: int | None,
) -> IngestReport:
    reg = reg or default_registry()
    secret = pseudonym_secret()
    report = IngestReport()
    workers = workers or default_workers()
    divisions, households = DivisionCache(paths, reg), HouseholdCache(paths)
    with contextlib.ExitStack() as stack:
        pool = None  # started for the first phase that needs it, and kept for the next

        def pool_for(files: list[str]):
            nonlocal pool
            if workers > 1 and len(files) > 4:
                pool = pool or stack.enter_context(worker_pool(workers, paths, reg, secret))
                return pool
            return None

        # a run of many files starts its workers first: they start while the files are hashed and the
        # registers cleaned (they read the division table when they clean, not before)
        found = discover(paths, periods, report.ignored)
        pool_for(found)
        plan = plan_ingest(paths, periods, reg, report, found)

        def took(outcome: FileOutcome) -> None:
            report.outcomes.append(outcome)
            if on_file:
                on_file(outcome, len(report.outcomes), len(plan.files))

        for name in plan.skipped:
            took(FileOutcome(name, "skipped"))
        counties, _ = begin_ingest(paths, plan, reg, secret, took)
        # the family rosters first, and with them the rosters that cannot be person rosters (they
        # look no household up): a worker done with its last family batch takes those, instead of
        # waiting for the other's; the person rosters when every family roster is written
        looks_none_up = {n for n in plan.others if reg["person"] not in candidate_rosters(n.rsplit("/", 1)[-1], reg)}
        alongside = [n for n in plan.others if n in looks_none_up]
        after = [n for n in plan.others if n not in looks_none_up]
        pool_for(plan.families + plan.others)
        start = lambda files, only_roster=None: _dispatch(paths, reg, secret, files, plan.digests, only_roster, pool, divisions, households)
        families, independent = start(plan.families, "family"), start(alongside)
        cleaned, deferred = _collect(families, plan.families, took)
        members = start(after + deferred)
        others = _collect(independent, alongside, took)[0] + _collect(members, after + deferred, took)[0]
    record(paths, ledger_rows(cleaned + others), counties)
    return report


def read_quarantine(paths: Paths) -> pl.DataFrame:
    schema = {**QUARANTINE_SCHEMA, "roster": pl.String, "period": pl.String, "programme": pl.String}
    if not paths.quarantine.exists() or not any(paths.quarantine.rglob("*.parquet")):
        return pl.DataFrame(schema=schema)
    files = paths.quarantine / "**" / "*.parquet"
    return pl.scan_parquet(files, schema=schema, missing_columns="insert", extra_columns="ignore", hive_partitioning=False).collect()

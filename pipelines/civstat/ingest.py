"""Ingest roster extracts from data/raw into typed, pseudonymised Parquet under data/clean.

For every raw file: detect its format and encoding, find its header, recognise the roster, clean it
(``cleaning.clean``), write ``data/clean/<roster>/period=<p>/<file-id>.parquet``, its quarantine
rows under ``data/clean/_quarantine/``, and one ledger row (content hash, rows in, clean,
quarantined). A file whose content is already in the ledger is skipped: re-ingesting changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from civstat.cleaning.clean import QUARANTINE_SCHEMA, clean_roster
from civstat.cleaning.headers import HeaderError, check_mapping, find_header
from civstat.cleaning.readers import UnreadableFile, read_grid
from civstat.cleaning.regions import RegionResolver
from civstat.registry import Registry, Roster, registry as default_registry
from civstat.settings import Paths, config_path, pseudonym_secret

log = logging.getLogger("civstat.ingest")

RAW_SUFFIXES = {".xlsx", ".xls", ".csv", ".txt", ".htm", ".html"}
LEDGER_SCHEMA = {
    "source_file": pl.String, "content_sha256": pl.String, "roster": pl.String, "programme": pl.String,
    "period": pl.String, "format": pl.String, "encoding": pl.String, "rows_in": pl.Int64, "rows_clean": pl.Int64,
    "rows_quarantined": pl.Int64, "rows_blank": pl.Int64, "rows_footer": pl.Int64, "rows_duplicate": pl.Int64,
    "unmapped_headers": pl.String, "status": pl.String, "error": pl.String, "seconds": pl.Float64,
    "ingested_at": pl.Datetime("us"),
}


class IngestError(Exception):
    """A file that cannot be ingested; the message names the file and what to do."""


@dataclass
class FileOutcome:
    source_file: str
    status: str  # ok | failed | skipped
    roster: str | None = None
    rows_in: int = 0
    rows_clean: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    ledger: pl.DataFrame | None = None


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def totals(self) -> dict[str, int]:
        done = [o for o in self.outcomes if o.status == "ok"]
        return {
            "files": len(self.outcomes), "ingested": len(done), "skipped": sum(o.status == "skipped" for o in self.outcomes),
            "failed": len(self.failed), "rows_in": sum(o.rows_in for o in done),
            "rows_clean": sum(o.rows_clean for o in done), "rows_quarantined": sum(o.rows_quarantined for o in done),
        }


# ---------------------------------------------------------------- where a file belongs

def period_of(path: Path, raw_root: Path) -> str:
    """The period directory the file sits in: YYYY-MM (monthly rosters) or YYYY (annual registers)."""
    rel = path.relative_to(raw_root)
    top = rel.parts[0] if len(rel.parts) > 1 else ""
    if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", top) or re.fullmatch(r"\d{4}", top):
        return top
    raise IngestError(f"{rel}: raw files go in data/raw/<YYYY-MM>/ (monthly rosters) or data/raw/<YYYY>/ (annual registers); move it into its period's folder")


def period_date(period: str) -> dt.date:
    return dt.date(int(period[:4]), int(period[5:7]) if len(period) > 4 else 1, 1)


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


def file_id(source_file: str) -> str:
    return hashlib.sha256(source_file.encode("utf-8")).hexdigest()[:16]


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- ledger and atomic writes

def _write_atomic(frame: pl.DataFrame, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, target)


def read_ledger(paths: Paths) -> pl.DataFrame:
    if paths.ledger.exists():
        return pl.read_parquet(paths.ledger)
    return pl.DataFrame(schema=LEDGER_SCHEMA)


def _ledger_row(**values) -> pl.DataFrame:
    return pl.DataFrame([{k: values.get(k) for k in LEDGER_SCHEMA}], schema=LEDGER_SCHEMA)


# ---------------------------------------------------------------- divisions for region lookups

class DivisionCache:
    """The clean division table of the latest year not after a period, loaded once per year."""

    def __init__(self, paths: Paths, reg: Registry):
        self.paths, self.reg, self._by_year = paths, reg, {}

    def resolver(self, period: str) -> RegionResolver | None:
        root = self.paths.clean_table("division")
        years = sorted(int(p.name.split("=")[1]) for p in root.glob("period=*")) if root.exists() else []
        if not years:
            return None
        usable = [y for y in years if y <= int(period[:4])] or years[:1]
        year = usable[-1]
        if year not in self._by_year:
            divisions = pl.read_parquet(root / f"period={year}" / "*.parquet")
            self._by_year[year] = RegionResolver(divisions, self.reg.region_aliases)
        return self._by_year[year]

    def forget(self) -> None:
        self._by_year.clear()


# ---------------------------------------------------------------- one file

def ingest_file(path: Path, paths: Paths, reg: Registry, divisions: DivisionCache, secret: bytes, digest: str) -> FileOutcome:
    source_file = path.relative_to(paths.raw).as_posix()
    started = time.perf_counter()
    period = period_of(path, paths.raw)
    try:
        grid = read_grid(path)
    except UnreadableFile as exc:
        raise IngestError(f"{source_file}: {exc}") from exc
    try:
        match = find_header(grid.cells, candidate_rosters(path.name, reg))
    except HeaderError as exc:
        raise IngestError(f"{source_file}: {exc}") from exc
    try:
        check_mapping(match, source_file, str(config_path()))
    except HeaderError as exc:
        raise IngestError(str(exc)) from exc
    roster = match.roster
    programme = programme_from_name(path.name, roster, reg)
    if roster.multi_programme and programme is None:
        words = "、".join(w for p in roster.programmes for w in reg.programme_file_words.get(p, ()))
        raise IngestError(f"{source_file}: cannot tell the programme of this {roster.zh} from its file name; put one of {words} in the name")
    urban_rural = urban_rural_from_name(path.name, reg)
    has_ur_column = any(f.name == "urban_rural" for f in match.columns.values())
    if roster.name in ("family", "person") and programme in ("dibao", "tekun") and urban_rural is None and not has_ur_column:
        raise IngestError(f"{source_file}: urban or rural? no 保障类别 column and neither 城市 nor 农村 in the file name")
    if roster.period == "month" and len(period) == 4:
        raise IngestError(f"{source_file}: {roster.zh} is a monthly roster; put it in data/raw/<YYYY-MM>/, not data/raw/{period}/")
    region_names = [f for f in match.columns.values() if f.type == "region_name"]
    has_code = any(f.type == "division_code" for f in match.columns.values())
    resolver = divisions.resolver(period) if region_names and not has_code else None
    if region_names and not has_code and resolver is None:
        raise IngestError(f"{source_file}: region names need the 区划代码 register; put the division file in data/raw/<YYYY>/ and ingest it first")

    result = clean_roster(
        grid, match, source_file=source_file, period=period_date(period), programme=programme,
        urban_rural=urban_rural, resolver=resolver, secret=secret,
    )
    fid = file_id(source_file)
    _write_atomic(result.clean, paths.clean_table(roster.name) / f"period={period}" / f"{fid}.parquet")
    quarantine = result.quarantine.with_columns(roster=pl.lit(roster.name), period=pl.lit(period))
    q_target = paths.quarantine / f"period={period}" / f"{fid}.parquet"
    if quarantine.height:
        _write_atomic(quarantine, q_target)
    elif q_target.exists():
        q_target.unlink()
    if roster.name == "division":
        divisions.forget()
    if match.unmapped:
        log.warning("%s: columns not in the registry were left out: %s", source_file, ", ".join(match.unmapped))
    ledger = _ledger_row(
        source_file=source_file, content_sha256=digest, roster=roster.name, programme=programme, period=period,
        format=grid.format, encoding=grid.encoding, rows_in=result.rows_in, rows_clean=result.clean.height,
        rows_quarantined=result.rows_quarantined, rows_blank=result.rows_blank, rows_footer=result.rows_footer,
        rows_duplicate=result.rows_duplicate, unmapped_headers="、".join(match.unmapped) or None, status="ok",
        seconds=round(time.perf_counter() - started, 3), ingested_at=dt.datetime.now(),
    )
    return FileOutcome(source_file, "ok", roster.name, result.rows_in, result.clean.height, result.rows_quarantined, ledger=ledger)


# ---------------------------------------------------------------- many files

def discover(paths: Paths, periods: Iterable[str] | None = None) -> list[Path]:
    """Raw files, annual registers before monthly rosters, division registers first of all."""
    if not paths.raw.exists():
        return []
    wanted = set(periods) if periods else None
    found = []
    for path in sorted(paths.raw.rglob("*")):
        if not path.is_file() or path.name.startswith((".", "~$")) or path.suffix.lower() not in RAW_SUFFIXES:
            continue
        top = path.relative_to(paths.raw).parts[0]
        if wanted is not None and top not in wanted and not (len(top) == 4 and any(p.startswith(top) for p in wanted)):
            continue
        found.append(path)
    return sorted(found, key=lambda p: (len(p.relative_to(paths.raw).parts[0]) != 4, str(p)))


def _ingest_or_fail(path: Path, paths: Paths, reg: Registry, divisions: DivisionCache, secret: bytes, digest: str) -> FileOutcome:
    source_file = path.relative_to(paths.raw).as_posix()
    try:
        return ingest_file(path, paths, reg, divisions, secret, digest)
    except IngestError as exc:
        log.error("%s", exc)
        ledger = _ledger_row(source_file=source_file, content_sha256=digest, status="failed", error=str(exc), ingested_at=dt.datetime.now())
        return FileOutcome(source_file, "failed", error=str(exc), ledger=ledger)


_worker: dict = {}


def _worker_start(paths: Paths, reg: Registry, secret: bytes) -> None:
    _worker.update(paths=paths, reg=reg, secret=secret, divisions=DivisionCache(paths, reg))


def _worker_ingest(path: Path, digest: str) -> FileOutcome:
    w = _worker
    return _ingest_or_fail(path, w["paths"], w["reg"], w["divisions"], w["secret"], digest)


def default_workers() -> int:
    return max(1, int(os.environ.get("CIVSTAT_WORKERS", min(2, os.cpu_count() or 1))))


def ingest(
    paths: Paths,
    periods: Iterable[str] | None = None,
    *,
    reg: Registry | None = None,
    on_file: Callable[[FileOutcome, int, int], None] | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Ingest every raw file (of ``periods``, or all) not already in the ledger.

    Division registers go first (region names resolve against them); the other files are
    independent and are cleaned by ``workers`` processes (``$CIVSTAT_WORKERS``, default 2).
    """
    reg = reg or default_registry()
    secret = pseudonym_secret()
    files = discover(paths, periods)
    ledger = read_ledger(paths)
    done = {(r["source_file"], r["content_sha256"]) for r in ledger.filter(pl.col("status") == "ok").iter_rows(named=True)}
    report = IngestReport()
    new_rows: list[pl.DataFrame] = []

    def record(outcome: FileOutcome) -> None:
        report.outcomes.append(outcome)
        if outcome.ledger is not None:
            new_rows.append(outcome.ledger)
        if on_file:
            on_file(outcome, len(report.outcomes), len(files))

    todo: list[tuple[Path, str]] = []
    for path in files:
        digest = content_hash(path)
        if (path.relative_to(paths.raw).as_posix(), digest) in done:
            record(FileOutcome(path.relative_to(paths.raw).as_posix(), "skipped"))
        else:
            todo.append((path, digest))
    first = [(p, d) for p, d in todo if candidate_rosters(p.name, reg) == [reg["division"]]]
    rest = [(p, d) for p, d in todo if (p, d) not in first]
    divisions = DivisionCache(paths, reg)
    for path, digest in first:
        record(_ingest_or_fail(path, paths, reg, divisions, secret, digest))
    workers = workers or default_workers()
    if workers > 1 and len(rest) > 4:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # fork after Polars' thread pool started is unsafe
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start, initargs=(paths, reg, secret)) as pool:
            for outcome in pool.map(_worker_ingest, [p for p, _ in rest], [d for _, d in rest]):
                record(outcome)
    else:
        for path, digest in rest:
            record(_ingest_or_fail(path, paths, reg, divisions, secret, digest))
    if new_rows:
        fresh = pl.concat(new_rows, how="vertical")
        kept = ledger.filter(~pl.col("source_file").is_in(fresh["source_file"].implode()))
        _write_atomic(pl.concat([kept, fresh], how="vertical").sort("source_file"), paths.ledger)
    return report


def read_quarantine(paths: Paths) -> pl.DataFrame:
    if not paths.quarantine.exists() or not any(paths.quarantine.rglob("*.parquet")):
        return pl.DataFrame(schema={**QUARANTINE_SCHEMA, "roster": pl.String, "period": pl.String})
    return pl.read_parquet(paths.quarantine / "**" / "*.parquet", hive_partitioning=False)

"""``civstat inspect PATH``: what civstat would make of a bureau's exports, before the first run.

A dry run: the files are copied into a temporary data directory (deleted afterwards) and ingested
there exactly as ``civstat ingest`` would, so what is shown is what a run will do. Nothing is
written under the real data directory. Per file: format, encoding, header rows, roster, programme,
where urban/rural comes from, period; the header mapping; headers and values nobody knows, with
counts; rows that would be quarantined, by reason; and the configuration lines to add.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from civstat.cleaning.clean import REASONS_ZH
from civstat.cleaning.suggest import describe_unknown
from civstat.ingest import RAW_SUFFIXES, IngestError, ingest, prepare_file, read_ledger, read_quarantine
from civstat.periods import Period
from civstat.registry import Registry
from civstat.registry import registry as default_registry
from civstat.settings import Paths


@dataclass
class FileReport:
    path: Path
    source_file: str  # as placed in the dry run: <period>/<name>
    status: str
    facts: dict[str, str] = field(default_factory=dict)
    mapping: list[tuple[str, str]] = field(default_factory=list)  # header as written -> field
    row_numbers: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    unknown_values: list[str] = field(default_factory=list)  # messages with the lines to add
    quarantine: list[tuple[str, str, int]] = field(default_factory=list)  # column, reason, rows
    rows: tuple[int, int, int] = (0, 0, 0)  # in, clean, quarantined
    error: str | None = None


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RAW_SUFFIXES and not p.name.startswith((".", "~$")))


def _registers_beside(path: Path, reg: Registry) -> list[Path]:
    """Division registers near a lone file (its folder, or the raw folder above its period folder):
    region names resolve against them."""
    from civstat.ingest import candidate_rosters

    root = path.parent.parent if Period.of_folder(path.parent.name) else path.parent
    return [p for p in _files(root) if p != path and candidate_rosters(p.name, reg) == [reg["division"]]]


def _place(path: Path, root: Path) -> Period | None:
    """Where the file goes under a dry-run raw/: its own period folder when it has one, else the
    month its name names (…_20241231.xlsx)."""
    for parent in [path.parent, *path.parent.parents]:
        if (period := Period.of_folder(parent.name)) is not None:
            return period
        if parent == root:
            break
    return Period.in_name(path.name)


def inspect_path(target: Path, reg: Registry | None = None) -> list[FileReport]:
    reg = reg or default_registry()
    target = target.resolve()
    root = target if target.is_dir() else target.parent
    reports: list[FileReport] = []
    with tempfile.TemporaryDirectory(prefix="civstat-inspect-") as tmp:
        paths = Paths(Path(tmp))
        placed: dict[str, Path] = {}
        files = _files(target) + (_registers_beside(target, reg) if target.is_file() else [])
        for path in files:
            period = _place(path, root)
            if period is None:
                reports.append(
                    FileReport(
                        path,
                        path.name,
                        "failed",
                        error=(
                            f"{path.name}: no period: put the file in a folder named YYYY-MM (monthly rosters) or YYYY (annual registers), "
                            "or name the month in the file name (…_20241231.xlsx)"
                        ),
                    )
                )
                continue
            dest = paths.raw / period.key / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            # an annual register named with a month goes in its year's folder
            try:
                prepared = prepare_file(dest, paths, reg)[0]
                if prepared.match.roster.period == "year" and period.is_month:
                    (paths.raw / period.year_period.key).mkdir(parents=True, exist_ok=True)
                    dest = dest.rename(paths.raw / period.year_period.key / path.name)
            except IngestError:
                pass
            placed[dest.relative_to(paths.raw).as_posix()] = path
        outcomes = {o.source_file: o for o in ingest(paths, reg=reg, workers=1).outcomes}
        ledger = read_ledger(paths)
        quarantine = read_quarantine(paths)
        for source_file, original in placed.items():
            row = ledger.filter(pl.col("source_file") == source_file)
            info = row.row(0, named=True) if row.height else {}
            report = FileReport(original, source_file, info.get("status") or "failed", error=info.get("error"))
            report.rows = (info.get("rows_in") or 0, info.get("rows_clean") or 0, info.get("rows_quarantined") or 0)
            try:
                tables = prepare_file(paths.raw / source_file, paths, reg)
            except IngestError as exc:
                report.error = report.error or str(exc)
                reports.append(report)
                continue
            prepared = tables[0]
            match = prepared.match
            report.facts = {
                "format": prepared.grid.format + (f" ({prepared.grid.encoding})" if prepared.grid.encoding else ""),
                "header rows": ", ".join(str(prepared.grid.first_row + r) for r in match.header_rows),
                "roster": f"{match.roster.name} ({match.roster.zh})",
                "programme": prepared.programme or "-",
                "urban/rural from": prepared.urban_rural_source,
                "period": prepared.period.key,
            }
            if len(tables) > 1:
                report.facts["sheets"] = "、".join(t.grid.sheet or "" for t in tables)
                report.facts["header rows"] = "; ".join(
                    f"{t.grid.sheet} " + ", ".join(str(t.grid.first_row + r) for r in t.match.header_rows) for t in tables
                )
            if match.from_name:
                report.facts["from the file name or title"] = ", ".join(sorted(match.from_name))
            for table in tables:  # a workbook's sheets: each header as written, once
                m = table.match
                # an ID read from another column (a 残疾证号's first 18 characters: clean.clean_tables)
                column = {f.name: c for c, f in m.columns.items()}
                mapping = [(m.labels[c], f"{f.name} ({f.zh})") for c, f in m.columns.items()]
                mapping += [
                    (m.labels[column[source]], f"{name} ({m.roster.field(name).zh}: its first 18 characters)")
                    for name, source in m.ids_from_other_columns().items()
                ]
                report.mapping += [pair for pair in mapping if pair not in report.mapping]
                report.row_numbers += [m.labels[c] for c in m.row_number_columns if m.labels[c] not in report.row_numbers]
                report.unmapped += [h for h in m.unmapped if h not in report.unmapped]
            q = quarantine.filter(pl.col("source_file") == source_file)
            if q.height:
                first = (
                    q.sort("source_sheet", "source_row", "field", nulls_last=False)
                    .group_by("source_sheet", "source_row", maintain_order=True)
                    .first()
                )
                by_reason = first.group_by("column", "reason_code").len().sort("len", descending=True)
                report.quarantine = [(c or "-", REASONS_ZH.get(r, r), n) for c, r, n in by_reason.iter_rows()]
            if source_file in outcomes and report.status != "rejected":  # a rejected file's message holds the lines already
                roster, config = match.roster, str(reg.config_file)
                report.unknown_values = [
                    describe_unknown(roster, roster.field(u.field), u.column, u.values, config)
                    for u in outcomes[source_file].unknown_values
                ]
            reports.append(report)
    return reports

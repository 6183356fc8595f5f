"""Find full 身份证号 and names anywhere a run wrote: Parquet, DuckDB, SQLite (Dagster's run and event
storage), xlsx, html, json, logs and any other text. Compressed formats are decoded first, so a
Parquet or xlsx file is searched as the values it holds, not as its compressed bytes."""

from __future__ import annotations

import re
import sqlite3
import zipfile
from pathlib import Path

import polars as pl

from civstat.cleaning.clean import FOOTER_PATTERN
from civstat.cleaning.headers import find_header
from civstat.cleaning.identity import normalise_id_text
from civstat.cleaning.readers import read_grid
from civstat.ingest import candidate_rosters
from civstat.registry import registry


def people_in(raw: Path) -> tuple[set[str], set[str]]:
    """Every ID (18 or 15 digits, normalised) and every name (3+ characters) the raw files hold."""
    ids, names = set(), set()
    for path in raw.rglob("*"):
        if not path.is_file() or "_manifest" in path.parts or path.suffix.lower() not in (".xlsx", ".xls", ".csv", ".txt"):
            continue
        try:
            grid = read_grid(path)
            match = find_header(grid.cells, candidate_rosters(path.name, registry()))
        except Exception:  # a deliberately broken file: its IDs are found by the byte scan below
            text = path.read_bytes().decode("utf-8", "ignore")
            ids.update(re.findall(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])", text))
            continue
        data = grid.cells.slice(match.data_start)
        for col, f in match.columns.items():
            if f.type == "id_card":
                ids.update(v for v in data.select(normalise_id_text(pl.col(col)))[:, 0].to_list() if v and len(v) >= 15)
            elif f.type == "person_name":
                names.update(v for v in data[col].to_list() if v and len(v) >= 3 and "、" not in v and not re.match(FOOTER_PATTERN, v))
    return ids, names


def _texts(path: Path) -> list[str]:
    """The text a file holds, decoded from its format."""
    suffix = path.suffix.lower()
    name = path.name
    if suffix == ".parquet":
        frame = pl.read_parquet(path)
        return [str(v) for c in frame.select(pl.col(pl.String)).columns for v in frame[c].unique().to_list() if v]
    if suffix == ".duckdb":
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        try:
            out = []
            tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
            for schema, table in tables:
                columns = [
                    c
                    for c, t in con.execute(
                        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
                        [schema, table],
                    ).fetchall()
                    if t == "VARCHAR"
                ]
                for column in columns:
                    out += [v for (v,) in con.execute(f'select distinct "{column}" from "{schema}"."{table}"').fetchall() if v]
            out += [c or "" for (c,) in con.execute("select comment from duckdb_columns()").fetchall()]
            return out
        finally:
            con.close()
    if suffix in (".db", ".sqlite") or name.endswith((".db", ".sqlite3")):
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            out = []
            for (table,) in con.execute("select name from sqlite_master where type = 'table'").fetchall():
                for row in con.execute(f'select * from "{table}"'):
                    out += [v.decode("utf-8", "ignore") if isinstance(v, bytes) else str(v) for v in row if v is not None]
            return out
        finally:
            con.close()
    if suffix in (".xlsx", ".xlsm") or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [archive.read(n).decode("utf-8", "ignore") for n in archive.namelist()]
    return [path.read_bytes().decode("utf-8", "ignore")]


def leaks(root: Path, ids: set[str], names: set[str], *, skip: tuple[str, ...] = ("raw",), extra_text: str = "") -> list[str]:
    """Every file under ``root`` (but the raw folder) holding a full ID or a name, with what it holds."""
    id_shape = re.compile(r"(?<![\dA-Za-z])(\d{17}[\dXx]|\d{15})(?![\dA-Za-z])")
    name_list = sorted(names)
    found = []
    targets = [(p, None) for p in root.rglob("*") if p.is_file() and not (set(p.relative_to(root).parts[:1]) & set(skip))]
    targets.append((None, extra_text))
    for path, given in targets:
        texts = [given] if path is None else _texts(path)
        text = "\n".join(texts)
        hit_ids = {m.upper() for m in id_shape.findall(text)} & {i.upper() for i in ids}
        hit_names: set[str] = set()
        if name_list and text:
            lines = pl.Series(text.split("\n"))
            hit_names = set(lines.str.extract_many(name_list).explode().drop_nulls().to_list())
        if hit_ids or hit_names:
            masked = [i[:6] + "********" + i[-4:] for i in sorted(hit_ids)[:2]] + [n[0] + "*" * (len(n) - 1) for n in sorted(hit_names)[:2]]
            found.append(f"{path or 'printed output'}: {len(hit_ids)} IDs, {len(hit_names)} names, e.g. {masked}")
    return found

"""Turn a month's true roster rows into the cells a bureau's export would contain, with the mess
of DOMAIN.md section 7, and record for every row whether cleaning must keep it or quarantine it
(and why). That record is what makes the manifest exact."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from civstat.registry import Field, Roster

DATE_FORMATS = ["iso", "slash", "chinese", "compact", "serial", "dot", "excel_date"]
MONTH_FORMATS = ["compact6", "iso_month", "chinese_month", "iso"]
AMOUNT_STYLES = ["plain", "decimal", "yuan", "thousands"]
NUMERIC_MARK = "\u0000#"  # a cell the xlsx writer stores as a number (an ID that went through Excel)


@dataclass
class Style:
    fmt: str  # xlsx | xls | html | csv
    encoding: str  # utf-8 | utf-8-sig | gbk | gb18030
    title: bool
    header_variant: str  # single | group_above | sub_fields
    footer: bool
    date_format: str
    month_format: str
    amount_style: str
    region_as_code: bool
    income: str  # monthly | annual (family files)
    aliases: dict[str, str] = field(default_factory=dict)
    spellings: dict[str, int] = field(default_factory=dict)  # field -> which spelling of its values (export flavour)


@dataclass
class Rendered:
    header: list[str]  # one label per column
    cells: pl.DataFrame  # String columns, in header order
    expect: pl.DataFrame  # per cells row: kind (clean | quarantine), reason, truth row index
    date_columns: list[str] = field(default_factory=list)  # written as real date cells in "excel_date" style


def choose_style(rng: np.random.Generator, rows: int, force_fmt: str | None = None) -> Style:
    if force_fmt:
        fmt = force_fmt
    elif rows <= 3000:
        fmt = rng.choice(["xlsx", "xlsx", "html", "xls", "csv", "csv"])
    elif rows <= 20000:
        fmt = rng.choice(["xlsx", "csv", "csv", "csv"])
    else:
        fmt = "csv"
    encoding = "utf-8" if fmt in ("xlsx", "xls") else str(rng.choice(["utf-8", "utf-8-sig", "gbk", "gb18030"]))
    return Style(
        fmt=str(fmt),
        encoding=encoding,
        title=bool(rng.random() < 0.7),
        header_variant=str(rng.choice(["single", "single", "group_above", "sub_fields"])),
        footer=bool(rng.random() < 0.6),
        date_format=str(rng.choice(DATE_FORMATS)),
        month_format=str(rng.choice(MONTH_FORMATS)),
        amount_style=str(rng.choice(AMOUNT_STYLES)),
        region_as_code=bool(rng.random() < 0.15),
        income=str(rng.choice(["monthly", "annual"])),
    )


def _fmt_date(col: pl.Expr, how: str) -> pl.Expr:
    y, m, d = col.dt.year().cast(pl.String), col.dt.month().cast(pl.String), col.dt.day().cast(pl.String)
    return {
        "iso": col.dt.strftime("%Y-%m-%d"),
        "excel_date": col.dt.strftime("%Y-%m-%d"),  # written as a real date cell in xlsx
        "slash": y + "/" + m + "/" + d,
        "chinese": y + "年" + m + "月" + d + "日",
        "compact": col.dt.strftime("%Y%m%d"),
        "dot": y + "." + m + "." + d,
        "serial": (col - pl.lit(dt.date(1899, 12, 30))).dt.total_days().cast(pl.String),
        "compact6": col.dt.strftime("%Y%m"),
        "iso_month": col.dt.strftime("%Y-%m"),
        "chinese_month": y + "年" + m + "月",
    }[how]


def _fmt_amount(col: pl.Expr, how: str) -> pl.Expr:
    if how == "plain":
        return pl.when(col == col.round(0)).then(col.cast(pl.Int64).cast(pl.String)).otherwise(col.round(2).cast(pl.String))
    fixed = pl.format("{}", col.round(2))
    with_decimals = pl.when(fixed.str.contains(r"\.")).then(fixed).otherwise(fixed + ".0").str.replace(r"\.(\d)$", ".${1}0")
    if how == "decimal":
        return with_decimals
    if how == "yuan":
        return pl.when(col == col.round(0)).then(col.cast(pl.Int64).cast(pl.String)).otherwise(fixed) + "元"
    # thousands separators
    whole = col.floor().cast(pl.Int64).cast(pl.String)
    grouped = whole.str.reverse().str.replace_all(r"(\d{3})(\d)", "${1},${2}").str.reverse()
    return grouped + with_decimals.str.extract(r"(\.\d+)$", 1)


def _enum_text(f: Field, col: pl.Expr, which: int = 0) -> pl.Expr:
    """The code as this export writes it: spelling number ``which`` of each value (the first when it has fewer)."""
    return col.replace_strict(
        {code: spellings[min(which, len(spellings) - 1)] for code, spellings in f.values.items()}, default=None, return_dtype=pl.String
    )


def render(
    truth: pl.DataFrame,
    roster: Roster,
    style: Style,
    rng: np.random.Generator,
    protected: pl.Series | None = None,
    corruption_rate: float = 0.004,
    footer_date: str = "",
) -> Rendered:
    """``truth`` has the registry's field names (plus county/township/village names and
    village_code); ``protected`` marks rows that must stay clean (planted warning cases)."""
    n = truth.height
    columns: list[tuple[Field | None, str, pl.Expr]] = []  # (field, label, text expression)
    for f in roster.fields:
        label = style.aliases.get(f.name) or f.aliases[0]
        if f.type == "region_name":
            if not (style.region_as_code and "village_code" in truth.columns) and f.level in truth.columns:
                columns.append((f, label, pl.col(f.level)))
            continue
        if f.type == "division_code":
            if style.region_as_code and "village_code" in truth.columns:
                columns.append((f, label, pl.col("village_code")))
            elif f.name in truth.columns:
                columns.append((f, label, pl.col(f.name)))
            continue
        if f.name not in truth.columns:
            continue
        if f.name == "annual_income" and style.income != "annual" or f.name == "monthly_income_per_capita" and style.income != "monthly":
            continue
        col = pl.col(f.name)
        if f.type in ("id_card", "person_name", "text", "credit_code", "disability_cert"):
            text = col.cast(pl.String)
        elif f.type == "date":
            text = _fmt_date(col, style.date_format)
        elif f.type == "month":
            text = _fmt_date(col, style.month_format)
        elif f.type == "amount":
            text = _fmt_amount(col, style.amount_style)
        elif f.type == "int" and f.values and style.spellings.get(f.name):
            text = _enum_text(f, col.cast(pl.Int64).cast(pl.String), style.spellings[f.name] - 1)  # 一级, 1级, Ⅰ级 ...
        elif f.type == "int":
            text = col.cast(pl.Int64).cast(pl.String)
        elif f.type == "enum":
            text = _enum_text(f, col, style.spellings.get(f.name, 0))
        elif f.type == "bool":
            text = pl.when(col).then(pl.lit("是")).otherwise(pl.lit("否"))
        else:
            raise ValueError(f.type)
        columns.append((f, label, text))
    # drop columns that are entirely empty in this roster (a 低保 person file has no 供养方式)
    frame = truth.select([e.alias(f"x{i}") for i, (_, _, e) in enumerate(columns)])
    keep = [i for i in range(len(columns)) if frame[f"x{i}"].null_count() < n or (columns[i][0] and columns[i][0].required)]
    columns = [columns[i] for i in keep]
    cells = frame.select([pl.col(f"x{i}").alias(f"c{j}") for j, i in enumerate(keep)])
    fields = [c[0] for c in columns]

    idx = pl.int_range(pl.len())
    protected_mask = protected.to_numpy() if protected is not None else np.zeros(n, dtype=bool)

    def col_of(pred) -> str | None:
        for j, f in enumerate(fields):
            if f is not None and pred(f):
                return f"c{j}"
        return None

    id_col = col_of(lambda f: f.type == "id_card" and f.out == "person") or col_of(lambda f: f.type == "id_card")
    date_col = col_of(lambda f: f.type == "date")
    amount_col = col_of(lambda f: f.type == "amount")
    village_col = col_of(lambda f: f.type == "region_name" and f.level == "village")
    id_like = [f"c{j}" for j, f in enumerate(fields) if f is not None and f.type in ("id_card", "disability_cert")]

    # ---- corruptions: rows cleaning must quarantine (never a protected row)
    options = []
    if id_col:
        options += ["id_lost_precision", "id_bad_check"]
    if date_col:
        options.append("bad_date")
    if amount_col:
        options.append("bad_amount")
    if village_col and "division_code" not in truth.columns:
        options.append("unknown_region")
    if id_col and roster.name == "person":
        options.append("id_several_in_cell")
    candidates = np.flatnonzero(~protected_mask)
    n_bad = min(int(round(n * corruption_rate)) + (1 if n >= 30 else 0), candidates.size) if options and corruption_rate > 0 else 0
    bad_rows = rng.choice(candidates, n_bad, replace=False) if n_bad else np.array([], dtype=np.int64)
    what = rng.integers(0, len(options), bad_rows.size) if options else np.array([], dtype=np.int64)
    by_kind = {o: bad_rows[what == k].tolist() for k, o in enumerate(options)}
    reason = np.full(n, None, dtype=object)
    reason_code = {"bad_date": "bad_value", "bad_amount": "bad_value"}
    for o, rows in by_kind.items():
        reason[rows] = reason_code.get(o, o)
    exprs = []
    if id_col:
        v = pl.col(id_col)
        lost = v.str.slice(0, 15) + "000"
        # a wrong check character that is not also a trailing 000 (which reads as an ID that lost
        # its digits in Excel: another reason)
        check, seq_end = v.str.slice(17, 1), v.str.slice(15, 2)
        wrong = (
            pl.when(check == "X")
            .then(pl.lit("5"))
            .when((seq_end == "00") & (check == "1"))
            .then(pl.lit("2"))
            .when(seq_end == "00")
            .then(pl.lit("1"))
            .when(check == "0")
            .then(pl.lit("1"))
            .otherwise(pl.lit("0"))
        )
        wrong_check = v.str.slice(0, 17) + wrong
        several = v + "、" + v.shift(-1).fill_null(v.shift(1))
        exprs.append(
            pl.when(idx.is_in(by_kind.get("id_lost_precision", [])))
            .then(pl.lit(NUMERIC_MARK) + lost if style.fmt == "xlsx" else (v.str.slice(0, 1) + "." + v.str.slice(1, 5) + "E+17"))
            .when(idx.is_in(by_kind.get("id_bad_check", [])))
            .then(wrong_check)
            .when(idx.is_in(by_kind.get("id_several_in_cell", [])))
            .then(several)
            .otherwise(v)
            .alias(id_col)
        )
    if date_col:
        exprs.append(pl.when(idx.is_in(by_kind.get("bad_date", []))).then(pl.lit("2023-02-30")).otherwise(pl.col(date_col)).alias(date_col))
    if amount_col:
        exprs.append(
            pl.when(idx.is_in(by_kind.get("bad_amount", []))).then(pl.lit("待核实")).otherwise(pl.col(amount_col)).alias(amount_col)
        )
    if village_col:
        exprs.append(
            pl.when(idx.is_in(by_kind.get("unknown_region", [])))
            .then(pl.col(village_col) + "新村")
            .otherwise(pl.col(village_col))
            .alias(village_col)
        )
    if exprs:
        cells = cells.with_columns(exprs)

    # ---- benign quirks on clean ID cells: cleaning must undo them
    clean_rows = np.flatnonzero(reason == None)  # noqa: E711
    for c in id_like:
        pick = rng.random(clean_rows.size)
        lower, wide, apostrophe, legacy = (clean_rows[(pick >= a) & (pick < a + 0.01)].tolist() for a in (0.0, 0.01, 0.02, 0.03))
        v = pl.col(c)
        is_person_id = c == id_col
        cells = cells.with_columns(
            pl.when(idx.is_in(lower))
            .then(v.str.to_lowercase())
            .when(idx.is_in(wide))
            .then(v.str.replace_many(list("0123456789X"), list("０１２３４５６７８９Ｘ")))
            .when(idx.is_in(apostrophe))
            .then(pl.lit("'") + v)
            .when(pl.lit(is_person_id) & idx.is_in(legacy) & (v.str.len_chars() == 18) & (v.str.slice(6, 2) == "19"))
            .then(v.str.slice(0, 6) + v.str.slice(8, 9))
            .otherwise(v)
            .alias(c)
        )
    kind = np.where(reason == None, "clean", "quarantine")  # noqa: E711
    expect = pl.DataFrame(
        {"kind": kind.tolist(), "reason": reason.tolist(), "truth_row": np.arange(n)},
        schema={"kind": pl.String, "reason": pl.String, "truth_row": pl.Int64},
    )

    # ---- structural rows: one duplicate, one blank row, footers
    if n >= 10:
        dup_src, blank_at = int(rng.integers(0, n)), int(rng.integers(1, n))
        order = list(range(n))
        order.insert(dup_src + 1, dup_src)
        cells, expect = cells[order], expect[order]
        expect = expect.with_columns(
            kind=pl.when(idx == dup_src + 1).then(pl.lit("quarantine")).otherwise(pl.col("kind")),
            reason=pl.when(idx == dup_src + 1).then(pl.lit("duplicate_row")).otherwise(pl.col("reason")),
            truth_row=pl.when(idx == dup_src + 1).then(None).otherwise(pl.col("truth_row")),
        )
        blank = pl.DataFrame({c: [None] for c in cells.columns}, schema=cells.schema)
        cells = pl.concat([cells[:blank_at], blank, cells[blank_at:]])
        blank_expect = pl.DataFrame({"kind": ["quarantine"], "reason": ["blank_row"], "truth_row": [None]}, schema=expect.schema)
        expect = pl.concat([expect[:blank_at], blank_expect, expect[blank_at:]])
    if style.footer:
        total = None
        if amount_col and fields[int(amount_col[1:])].name in truth.columns:
            total = f"{truth[fields[int(amount_col[1:])].name].sum():.2f}"
        footer = {c: [None, None] for c in cells.columns}
        footer["c0"] = ["合计", f"制表人：社会救助股    制表时间：{footer_date}"]
        if amount_col:
            footer[amount_col] = [total, None]
        cells = pl.concat([cells, pl.DataFrame(footer, schema=cells.schema)])
        expect = pl.concat(
            [
                expect,
                pl.DataFrame({"kind": ["quarantine"] * 2, "reason": ["footer_row"] * 2, "truth_row": [None, None]}, schema=expect.schema),
            ]
        )

    header = [label for _, label, _ in columns]
    date_columns = [f"c{j}" for j, f in enumerate(fields) if f is not None and f.type == "date"]
    return Rendered(header, cells, expect, date_columns)

"""What each month's rosters truly say, derived from the world's timelines (typed, before any
formatting quirk). Column names are the registry's field names."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from civstat.generate.plan import Plan
from civstat.generate.world import (
    DISAB_CARE_RATE,
    DISAB_LIVING_RATE,
    LONGEVITY_DEFAULT,
    ORPHAN_RATE,
    TEKUN_CARE,
    UNSUPPORTED_CHILD_RATE,
    County,
    month_add,
    month_end,
    standard_for,
)

STOP_REASONS = np.array(["家庭收入超过保障标准", "迁出本辖区", "自愿申请退出", "家庭财产状况不符合条件"])


def age_at(birth: pl.Expr, ref: dt.date) -> pl.Expr:
    """Whole years on ``ref``."""
    not_yet = (birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day().cast(pl.Int32)) > (ref.month * 100 + ref.day)
    return pl.lit(ref.year) - birth.dt.year().cast(pl.Int32) - not_yet.cast(pl.Int32)


def longevity_amount(age: pl.Expr, tiers: dict[int, float] = LONGEVITY_DEFAULT) -> tuple[pl.Expr, pl.Expr]:
    bounds = sorted(tiers)
    amount, label = pl.lit(None, dtype=pl.Float64), pl.lit(None, dtype=pl.String)
    for i, low in enumerate(bounds):
        text = f"{low}-{bounds[i + 1] - 1}周岁" if i + 1 < len(bounds) else f"{low}周岁以上"
        amount = pl.when(age >= low).then(pl.lit(tiers[low])).otherwise(amount)
        label = pl.when(age >= low).then(pl.lit(text)).otherwise(label)
    return amount, label


class MonthView:
    """One county in one month."""

    def __init__(
        self,
        county: County,
        households: pl.DataFrame,
        persons: pl.DataFrame,
        schedule: pl.DataFrame,
        start: dt.date,
        m: int,
        rng: np.random.Generator,
        plan: Plan | None = None,
    ):
        self.county, self.m, self.rng = county, m, rng
        self.plan = plan or Plan()
        self.month = month_add(start, m)
        self.ref = month_end(self.month)
        self.start = start
        villages = county.villages.with_row_index("village_idx").with_columns(pl.col("village_idx").cast(pl.Int64))
        self.places = villages.select(
            "village_idx",
            village_code="division_code",
            village="name",
            township="township_name",
            county=pl.lit(county.name),
            urban_rural=pl.when(pl.col("urban")).then(pl.lit("urban")).otherwise(pl.lit("rural")),
        )
        self.households = households.join(self.places, on="village_idx", how="left", maintain_order="left")
        self.persons = persons.join(self.places, on="village_idx", how="left", maintain_order="left").with_columns(
            age=age_at(pl.col("birth_date"), self.ref)
        )
        self.schedule = schedule
        self.std = {(p, ur): standard_for(schedule, p, ur, self.month) for p in ("dibao", "tekun") for ur in ("urban", "rural")}
        self.std0 = {(p, ur): standard_for(schedule, p, ur, start) for p in ("dibao", "tekun") for ur in ("urban", "rural")}

    def _override(self, expr: pl.Expr, table: dict, key: str) -> pl.Expr:
        """``expr``, except for the rows a planted case sets for this month."""
        values = self.plan.at(table, self.m)
        if not values:
            return expr
        return pl.col(key).replace_strict(values, default=None).fill_null(expr) if values else expr

    def _std(self, programme: str, table: dict) -> pl.Expr:
        return (
            pl.when(pl.col("urban_rural") == "urban")
            .then(pl.lit(table[(programme, "urban")]))
            .otherwise(pl.lit(table[(programme, "rural")]))
        )

    def alive(self) -> pl.Expr:
        """On the rolls this month: alive (or kept on after death: W01) and within any membership window."""
        ghosts = list(self.plan.at(self.plan.ghosts, self.m))
        window = pl.col("member_from").fill_null(-(10**6)) <= self.m
        window = window & (pl.col("member_to").fill_null(10**6) >= self.m)
        return ((pl.col("death_m") >= self.m) | pl.col("person_id").is_in(ghosts)) & window

    # ------------------------------------------------------------ family programmes
    def members(self, programme: str) -> pl.DataFrame:
        active = self.households.filter(pl.col("programme") == programme, pl.col("entry_m") <= self.m, pl.col("exit_m") > self.m)
        return self.persons.filter(self.alive()).join(active.select("hh"), on="hh", how="semi", maintain_order="left")

    def family(self, programme: str) -> pl.DataFrame:
        m = self.m
        hh = self.households.filter(pl.col("programme") == programme, pl.col("entry_m") <= m, pl.col("exit_m") >= m)
        alive = self.persons.filter(pl.col("hh") >= 0, self.alive())
        counts = alive.group_by("hh").agg(
            covered=pl.len(),
            members_text=pl.col("name").sort_by("position").str.join("、"),
        )
        heads = self.persons.filter(pl.col("position") == 0, pl.col("hh") >= 0).select("hh", head_name="name")
        hh = hh.join(counts, on="hh", how="inner", maintain_order="left").join(heads, on="hh", how="left", maintain_order="left")
        std, std0 = self._std("dibao", self.std), self._std("dibao", self.std0)
        income_pc = (pl.col("income_share") * std0).round(0)
        review_m = pl.lit(m) - ((pl.lit(m) - pl.col("entry_m") + pl.col("review_phase")) % pl.col("review_every"))
        recog_m = pl.lit(m) - ((pl.lit(m) - pl.col("entry_m") + pl.col("review_phase")) % 10)
        month_expr = lambda k: pl.lit(self.start).dt.offset_by(pl.format("{}mo", k))
        classified = pl.when(pl.col("classified")).then((std * 0.15).round(0)).otherwise(pl.lit(0.0))
        if programme == "dibao":
            amount = pl.col("covered") * (std - income_pc) + classified
        elif programme == "tekun":
            amount = self._std("tekun", self.std) + pl.lit(0.0)
        else:
            amount = pl.lit(None, dtype=pl.Float64)
        amount = self._override(amount.round(0), self.plan.amount_override, "hh")
        income_pc = self._override(income_pc, self.plan.income_override, "hh")
        if programme == "dibao":
            amount = (
                pl.when(pl.col("hh").is_in(list(self.plan.at(self.plan.income_override, m))))
                .then(
                    self._override(pl.lit(None, dtype=pl.Float64), self.plan.amount_override, "hh").fill_null(
                        pl.col("covered") * (std * 0.1).round(0)
                    )
                )
                .otherwise(amount)
            )
        stopped = pl.col("exit_m") == m
        out = hh.with_columns(
            family_size=pl.col("covered") + pl.col("extra_members"),
            covered_persons=pl.col("covered"),
            monthly_income_per_capita=pl.when(pl.lit(programme) == "tekun").then(None).otherwise(income_pc),
            monthly_amount=amount.round(0),
            classified_amount=classified if programme == "dibao" else pl.lit(None, dtype=pl.Float64),
            first_month=month_expr(pl.col("entry_m")),
            last_review_date=self._override(month_expr(review_m).dt.offset_by("9d"), self.plan.review_override, "hh"),
            recognition_date=pl.when(pl.lit(programme == "rigid")).then(
                self._override(month_expr(recog_m).dt.offset_by("4d"), self.plan.recognition_override, "hh")
            ),
            status=pl.when(stopped).then(pl.lit("stopped")).otherwise(pl.lit("active")),
            stop_date=pl.when(stopped).then(pl.lit(self.month).dt.offset_by("14d")),
            stop_reason=pl.when(stopped).then(
                pl.when(pl.col("head_death_m") == m - 1).then(pl.lit("死亡")).otherwise(pl.lit(STOP_REASONS[0]))
            ),
        )
        if programme == "tekun":
            care = self.persons.filter(pl.col("position") == 0).select(
                "hh", care=pl.col("self_care").replace_strict(TEKUN_CARE, return_dtype=pl.Float64)
            )
            out = out.join(care, on="hh", how="left", maintain_order="left").with_columns(
                monthly_amount=pl.col("monthly_amount") + pl.col("care")
            )
        out = out.with_columns(annual_income=(pl.col("monthly_income_per_capita") * pl.col("family_size") * 12).round(0))
        return out.with_columns(programme=pl.lit(programme))

    def person(self, programme: str) -> pl.DataFrame:
        people = self.members(programme)
        tekun = programme == "tekun"
        basic = self._std("tekun", self.std)
        return people.with_columns(
            head_id=pl.col("person_id").first().over("hh", order_by="position"),
            relation=pl.when(pl.col("position") == 0).then(pl.lit("户主")).otherwise(pl.col("relation")),
            sex=pl.when(pl.col("male")).then(pl.lit("male")).otherwise(pl.lit("female")),
            is_disabled=pl.col("disabled"),
            disability_cert=pl.when(pl.col("disabled")).then(
                pl.col("person_id") + pl.col("dis_category").cast(pl.String) + pl.col("dis_grade").cast(pl.String)
            ),
            disability_grade=pl.when(pl.col("disabled")).then(pl.col("dis_grade")),
            support_mode=pl.when(pl.lit(tekun)).then(pl.col("support_mode")),
            institution_name=pl.when(pl.lit(tekun) & (pl.col("support_mode") == "centralised")).then(pl.col("township") + "敬老院"),
            self_care=pl.when(pl.lit(tekun)).then(pl.col("self_care")),
            basic_living_amount=pl.when(pl.lit(tekun)).then(basic),
            care_amount=pl.when(pl.lit(tekun)).then(pl.col("self_care").replace_strict(TEKUN_CARE, return_dtype=pl.Float64)),
            programme=pl.lit(programme),
        ).sort("hh", "position")

    # ------------------------------------------------------------ payment lists
    def _payee(self, frame: pl.DataFrame, programme: str) -> pl.DataFrame:
        return frame.with_columns(
            sex=pl.when(pl.col("male")).then(pl.lit("male")).otherwise(pl.lit("female")),
            paid_month=pl.lit(self.month),
            programme=pl.lit(programme),
        )

    def longevity(self) -> pl.DataFrame:
        extra = list(self.plan.at(self.plan.longevity_extra, self.m))
        stale = list(self.plan.at(self.plan.longevity_stale_tier, self.m))
        old = self.persons.filter(
            (pl.col("pool") == "longevity") & self.alive() & (pl.col("age") >= min(LONGEVITY_DEFAULT)) | pl.col("person_id").is_in(extra)
        )
        paid_age = pl.when(pl.col("person_id").is_in(stale)).then(pl.col("age") - 1).otherwise(pl.col("age"))
        paid_age = pl.when(pl.col("person_id").is_in(extra)).then(pl.lit(min(LONGEVITY_DEFAULT))).otherwise(paid_age)
        amount, label = longevity_amount(paid_age)
        return self._payee(old, "longevity").with_columns(amount=amount, tier=label).sort("person_id")

    def _extra(self, table: dict) -> pl.DataFrame:
        return self.persons.filter(pl.col("person_id").is_in(list(self.plan.at(table, self.m))))

    def disab_living(self) -> pl.DataFrame:
        people = pl.concat([self.members("dibao"), self.members("tekun"), self._extra(self.plan.disab_living_extra)]).filter(
            pl.col("disabled")
        )
        return (
            self._payee(people, "disab_living")
            .with_columns(
                amount=pl.lit(DISAB_LIVING_RATE),
                household_type=pl.when(pl.col("pool").is_in(["dibao", "tekun"])).then(pl.col("pool")).otherwise(pl.lit("other")),
                **self._disability(),
            )
            .unique("person_id", keep="first", maintain_order=True)
            .sort("person_id")
        )

    def disab_care(self) -> pl.DataFrame:
        low_income = pl.concat([self.members(p) for p in ("dibao", "tekun", "marginal", "rigid")])
        extra = self.persons.filter(pl.col("pool") == "disab_extra", self.alive())
        people = pl.concat([low_income, extra]).filter(pl.col("disabled"), pl.col("dis_grade") <= 2)
        people = pl.concat([people, self._extra(self.plan.disab_care_extra)])
        return (
            self._payee(people, "disab_care")
            .with_columns(
                amount=pl.lit(DISAB_CARE_RATE),
                household_type=pl.when(pl.col("pool").is_in(["dibao", "tekun", "marginal"]))
                .then(pl.col("pool"))
                .otherwise(pl.lit("other")),
                **self._disability(),
            )
            .unique("person_id", keep="first", maintain_order=True)
            .sort("person_id")
        )

    @staticmethod
    def _disability() -> dict[str, pl.Expr]:
        return dict(
            disability_cert=pl.col("person_id") + pl.col("dis_category").cast(pl.String) + pl.col("dis_grade").cast(pl.String),
            disability_grade=pl.col("dis_grade"),
        )

    def orphan(self) -> pl.DataFrame:
        kept = list(self.plan.at(self.plan.orphan_kept, self.m))
        kids = self.persons.filter(pl.col("pool") == "orphan", self.alive(), (pl.col("age") < 18) | pl.col("person_id").is_in(kept))
        return (
            self._payee(kids, "orphan")
            .with_columns(amount=pl.col("care_mode").replace_strict(ORPHAN_RATE, return_dtype=pl.Float64))
            .sort("person_id")
        )

    def unsupported_child(self) -> pl.DataFrame:
        kids = self.persons.filter(pl.col("pool") == "unsupported_child", self.alive(), pl.col("age") < 18)
        return self._payee(kids, "unsupported_child").with_columns(amount=pl.lit(UNSUPPORTED_CHILD_RATE)).sort("person_id")

    def temporary(self) -> pl.DataFrame:
        pool = (
            pl.concat([self.members(p) for p in ("dibao", "marginal", "rigid")])
            .unique("person_id", keep="first", maintain_order=True)
            .sort("person_id")
        )
        n = min(pool.height, max(2, int(self.county.villages["hukou"].sum() * 0.0004)))
        idx = self.rng.choice(pool.height, n, replace=False)
        cases = pool[idx.tolist()]
        return self._payee(cases, "temporary").with_columns(
            case_date=pl.lit(self.month) + pl.duration(days=pl.Series(self.rng.integers(0, 28, n))),
            amount=pl.Series((self.rng.integers(5, 50, n) * 100).astype(float)),
            assistance_type=pl.Series(np.where(self.rng.random(n) < 0.4, "emergency", "expenditure")),
            reason=pl.Series(self.rng.choice(["突发重大疾病", "火灾", "交通事故", "子女教育支出", "医疗费用支出"], n)),
        )

    # ------------------------------------------------------------ cross-check lists
    def deaths(self) -> pl.DataFrame:
        dead = self.persons.filter(pl.col("death_m") == self.m).unique("person_id", keep="first", maintain_order=True).sort("person_id")
        return dead.with_columns(
            death_date=pl.lit(self.month).dt.offset_by(pl.format("{}d", pl.col("death_day") - 1)),
            source=pl.when(pl.col("hh") % 2 == 0).then(pl.lit("公安")).otherwise(pl.lit("殡葬")),
        )

    def prevention(self) -> pl.DataFrame:
        rural_dibao = self.households.filter(pl.col("programme") == "dibao", pl.col("exit_m") == 10_000, pl.col("urban_rural") == "rural")
        poor = (
            self.persons.filter(pl.col("death_m") == 10_000, pl.col("position") == 0)
            .join(rural_dibao.select("hh", "income_share"), on="hh", how="inner", maintain_order="left")
            .head(max(2, rural_dibao.height // 10))
        )
        floor = max(self.std.values()) * 12 * 1.3
        others = self.persons.filter(pl.col("pool") == "prevention").with_columns(
            annual_income_per_capita=(pl.lit(floor) * (1 + (pl.col("death_u") * 2))).round(0)
        )
        poor = poor.with_columns(annual_income_per_capita=(pl.col("income_share") * self.std0[("dibao", "rural")] * 12).round(0))
        extra = self.plan.at(self.plan.prevention_extra, self.m)
        planted = self.persons.filter(pl.col("person_id").is_in(list(extra))).with_columns(
            annual_income_per_capita=pl.col("person_id").replace_strict(extra, return_dtype=pl.Float64)
        )
        parts = [poor.drop("income_share"), others] + ([planted] if extra else [])
        both = pl.concat(parts, how="diagonal_relaxed").unique("person_id", keep="first", maintain_order=True).sort("person_id")
        return both.with_columns(
            monitoring_type=pl.when(pl.col("death_day") % 3 == 0).then(pl.lit("突发严重困难户")).otherwise(pl.lit("边缘易致贫户"))
        )

    def check_list(self, which: int) -> pl.DataFrame:
        detail = ["小型轿车", "个体工商户", "事业单位"][which]
        planted = list(self.plan.at(self.plan.check_extra[which], self.m))
        listed = (pl.col("pool") == "check") & (pl.col("death_day") % 3 == which) | pl.col("person_id").is_in(planted)
        return (
            self.persons.filter(listed)
            .unique("person_id", keep="first", maintain_order=True)
            .with_columns(detail=pl.lit(detail))
            .sort("person_id")
        )

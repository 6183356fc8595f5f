"""Planted warning cases W01-W14 (DOMAIN.md section 5), each with a clean look-alike that must not
fire, in the first county. Every case is written to the manifest with the raw IDs it concerns,
the months it holds and what the warning should say, so tests can measure recall and precision.

A positive case holds for two months (new, then ongoing) and stops in the third (resolved).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from civstat.generate.ids import id_expr
from civstat.generate.plan import Plan
from civstat.generate.world import County, month_add, month_end, standard_for
from civstat.rules import warning_rules

NEVER = 10_000

#: The rule catalogue, in order: each rule's ``plant`` names the method below that plants its cases.
RULES = [rule for rule in warning_rules() if rule["plant"]]


class Planter:
    def __init__(
        self, county: County, households: pl.DataFrame, persons: pl.DataFrame, schedule: pl.DataFrame, start: dt.date, n_months: int
    ):
        self.county, self.hh, self.persons, self.schedule = county, households, persons, schedule
        self.start, self.n = start, n_months
        self.plan = Plan()
        self.used: set[str] = set()
        self.spares = persons.filter(pl.col("pool") == "spare")["person_id"].to_list()
        self.spare_changes: dict[str, dict] = {}

    # ------------------------------------------------------------ helpers
    def window(self, k: int) -> list[int]:
        s = 1 + (k % max(1, self.n - 3))
        return [m for m in (s, s + 1) if m < self.n]

    def period(self, m: int) -> str:
        return month_add(self.start, m).strftime("%Y-%m")

    def ref(self, m: int) -> dt.date:
        return month_end(month_add(self.start, m))

    def case(
        self,
        rule: str,
        expect: str,
        programme: str,
        months: list[int],
        person_id: str | None = None,
        head_id: str | None = None,
        detail: str = "",
    ) -> None:
        self.plan.cases.append(
            {
                "rule": rule,
                "expect": expect,
                "programme": programme,
                "county_code": self.county.code6,
                "person_id": person_id,
                "head_id": head_id,
                "months": [self.period(m) for m in months],
                "detail": detail,
            }
        )
        for i in (person_id, head_id):
            if i:
                self.plan.protected.add(i)
                self.used.add(i)

    def stable_members(self, programme: str, *, head: bool | None = None, extra=None) -> pl.DataFrame:
        """Members of households of ``programme`` there every month, alive, not used by another case."""
        steady = self.hh.filter(pl.col("programme") == programme, pl.col("entry_m") < 0, pl.col("exit_m") >= NEVER)
        members = self.persons.filter(pl.col("death_m") >= NEVER, ~pl.col("person_id").is_in(list(self.used))).join(
            steady.select("hh"), on="hh", how="semi", maintain_order="left"
        )
        if head is not None:
            members = members.filter((pl.col("position") == 0) == head)
        if extra is not None:
            members = members.filter(extra)
        return members.sort("person_id")

    def take(self, frame: pl.DataFrame, what: str) -> dict:
        if frame.height == 0:
            raise RuntimeError(f"no one fits the planted case {what} in {self.county.name}; generate a larger scale")
        row = frame.row(0, named=True)
        self.used.add(row["person_id"])
        return row

    def spare(self, birth: dt.date, **attrs) -> str:
        pid = self.spares.pop(0)
        self.spare_changes[pid] = {"birth_date": birth, **attrs}
        return pid

    def years_before(self, day: dt.date, years: int) -> dt.date:
        try:
            return day.replace(year=day.year - years)
        except ValueError:  # 29 February
            return day.replace(year=day.year - years, day=28)

    def add_household(self, programme: str, person_id: str, entry: int, exit_m: int, village_idx: int, **hh_attrs) -> None:
        """A new household of one for ``person_id`` (an existing person: a second membership), in ``village_idx``:
        the person's rows name the household's village, as every member's do."""
        new_hh = int(self.hh["hh"].max()) + 1
        template = self.hh.row(0, named=True)
        row = {
            **template,
            "hh": new_hh,
            "programme": programme,
            "village_idx": village_idx,
            "entry_m": entry,
            "exit_m": exit_m,
            "size": 1,
            "extra_members": 0,
            "income_share": 0.0,
            "review_phase": 0,
            "classified": False,
            "head_death_m": NEVER,
            "head_id": person_id,
            "has_able": False,
            "review_every": 10,
            **hh_attrs,
        }
        self.hh = pl.concat([self.hh, pl.DataFrame([row], schema=self.hh.schema)])
        person = (
            self.persons.filter(pl.col("person_id") == person_id)
            .head(1)
            .with_columns(
                hh=pl.lit(new_hh, dtype=pl.Int64),
                position=pl.lit(0, dtype=pl.Int64),
                village_idx=pl.lit(village_idx, dtype=pl.Int64),
                pool=pl.lit(programme),
                member_from=pl.lit(entry, dtype=pl.Int64),
                member_to=pl.lit(exit_m - 1, dtype=pl.Int64),
            )
        )
        self.persons = pl.concat([self.persons, person])

    def std(self, programme: str, urban_rural: str, m: int) -> float:
        return standard_for(self.schedule, programme, urban_rural, month_add(self.start, m))

    # ------------------------------------------------------------ the rules
    def plant(self) -> None:
        """Every rule of the catalogue (dbt_project/seeds/warning_rules.csv) plants its cases with
        the method its ``plant`` column names, in a window of months of its own."""
        if self.n < 2:
            return
        self._spare_people()
        for k, rule in enumerate(RULES):
            getattr(self, rule["plant"])(self.window(k), k)

    def w14(self, months: list[int], k: int) -> None:
        """Rural 低保 standard below 80% of the urban one: a county-wide fact, every month (W14 is off by default)."""
        self.case(
            "W14",
            "fire_if_enabled",
            "dibao",
            list(range(self.n)),
            detail=f"{self.county.name}农村低保标准{self.county.dibao_rural:.0f}元低于城市标准{self.county.dibao_urban:.0f}元的80%",
        )

    def _spare_people(self) -> None:
        """Give the spare people the birth dates their cases need, then their IDs."""
        plans = []
        w = {rule["rule_code"]: self.window(k) for k, rule in enumerate(RULES)}
        s = lambda rule: w[rule][0]
        t = max(0, self.n - 1)  # look-alikes sit in the last month
        plans += [
            ("W06_pos", self.years_before(self.ref(s("W06")), 40), {"disabled": False}),
            ("W06_quiet", self.years_before(self.ref(t), 60), {"disabled": False}),
            ("W07_pos", self.years_before(month_add(self.start, s("W07")) + dt.timedelta(days=9), 18), {}),
            ("W07_quiet", self.years_before(self.ref(t) + dt.timedelta(days=1), 18), {}),
            ("W08_stale", self.years_before(month_add(self.start, s("W08")) + dt.timedelta(days=4), 90), {}),
            ("W08_young", self.years_before(self.ref(s("W08")), 78), {}),
            ("W08_quiet90", self.years_before(month_add(self.start, t) + dt.timedelta(days=4), 90), {}),
            ("W08_quiet80", self.years_before(self.ref(t), 80), {}),
            ("W09_living", self.years_before(self.ref(0), 45), {"disabled": True, "dis_category": 4, "dis_grade": 3}),
            ("W09_care", self.years_before(self.ref(0), 50), {"disabled": True, "dis_category": 4, "dis_grade": 3}),
            ("W12_pos", self.years_before(self.ref(0), 52), {}),
        ]
        self.spare_ids = {}
        for name, birth, attrs in plans:
            self.spare_ids[name] = self.spare(birth, **attrs)
        changes = pl.DataFrame(
            [{"person_id": pid, **{k: v for k, v in c.items()}} for pid, c in self.spare_changes.items()],
            schema_overrides={"birth_date": pl.Date},
        )
        for col in ("disabled", "dis_category", "dis_grade"):
            if col not in changes.columns:
                changes = changes.with_columns(pl.lit(None).alias(col))
        changes = changes.select(
            "person_id", new_birth="birth_date", new_disabled="disabled", new_cat="dis_category", new_grade="dis_grade"
        )
        p = (
            self.persons.join(changes, on="person_id", how="left", maintain_order="left")
            .with_columns(
                birth_date=pl.coalesce("new_birth", "birth_date"),
                disabled=pl.coalesce(pl.col("new_disabled").cast(pl.Boolean), "disabled"),
                dis_category=pl.coalesce(pl.col("new_cat").cast(pl.Int64), "dis_category"),
                dis_grade=pl.coalesce(pl.col("new_grade").cast(pl.Int64), "dis_grade"),
            )
            .drop("new_birth", "new_disabled", "new_cat", "new_grade")
        )
        # new IDs for the spare people (their address code is theirs alone, so IDs stay unique)
        spare = p.filter(pl.col("pool") == "spare").with_columns(new_id=id_expr("address", "birth_date", "male"))
        mapping = dict(zip(spare["person_id"].to_list(), spare["new_id"].to_list(), strict=True))
        self.persons = p.with_columns(person_id=pl.col("person_id").replace(mapping))
        self.spare_ids = {k: mapping[v] for k, v in self.spare_ids.items()}

    def w01(self, months: list[int], k: int) -> None:
        """Paid after death: a member dies the month before the window and stays on the rolls."""
        person = self.take(self.stable_members("dibao", head=False), "W01")
        died = months[0] - 1
        death_date = month_add(self.start, died) + dt.timedelta(days=4)
        self.persons = self.persons.with_columns(
            death_m=pl.when(pl.col("person_id") == person["person_id"]).then(died).otherwise(pl.col("death_m")),
            death_day=pl.when(pl.col("person_id") == person["person_id"]).then(5).otherwise(pl.col("death_day")),
        )
        self.plan.add(self.plan.ghosts, months, person["person_id"])
        head = self._head_of(person["hh"])
        self.case(
            "W01",
            "fire",
            "dibao",
            months,
            person["person_id"],
            head,
            f"死亡日期{death_date.isoformat()}，之后仍在{self.period(months[-1])}低保名册中",
        )
        # look-alike: dies on the last day of a month and is paid for that month only
        quiet = self.take(self.stable_members("dibao", head=False), "W01 quiet")
        last = self.n - 1
        self.persons = self.persons.with_columns(
            death_m=pl.when(pl.col("person_id") == quiet["person_id"]).then(last).otherwise(pl.col("death_m")),
            death_day=pl.when(pl.col("person_id") == quiet["person_id"])
            .then(month_end(month_add(self.start, last)).day)
            .otherwise(pl.col("death_day")),
        )
        self.case("W01", "quiet", "dibao", [last], quiet["person_id"], self._head_of(quiet["hh"]), "月末死亡，当月仍发放")

    def _head_of(self, hh: int) -> str:
        return self.persons.filter(pl.col("hh") == hh, pl.col("position") == 0)["person_id"][0]

    def w02(self, months: list[int], k: int) -> None:
        """In 低保 and 特困 in the same month: an older 低保 member also enrolled in 特困."""
        person = self.take(self.stable_members("dibao", head=False, extra=pl.col("age0") >= 62), "W02")
        self.add_household("tekun", person["person_id"], months[0], months[-1] + 1, person["village_idx"])
        self.case("W02", "fire", "dibao", months, person["person_id"], self._head_of(person["hh"]), "同时享受低保和特困供养")
        # look-alike: a one-person 低保 household leaves and the person enters 特困 the next month
        mover = self.take(
            self.stable_members("dibao", head=True, extra=(pl.col("age0") >= 62)).join(
                self.hh.filter(pl.col("size") == 1).select("hh"), on="hh", how="semi", maintain_order="left"
            ),
            "W02 quiet",
        )
        t = self.n - 1
        self.hh = self.hh.with_columns(exit_m=pl.when(pl.col("hh") == mover["hh"]).then(t).otherwise(pl.col("exit_m")))
        self.add_household("tekun", mover["person_id"], t, NEVER, mover["village_idx"])
        self.case("W02", "quiet", "tekun", [t], mover["person_id"], mover["person_id"], "上月退出低保，本月转入特困")

    def w03(self, months: list[int], k: int) -> None:
        """Twice in 低保: a member also listed in a second household in another township."""
        person = self.take(self.stable_members("dibao", head=False), "W03")
        village = self.county.villages.with_row_index("i")
        own_town = village.filter(pl.col("i") == person["village_idx"])["township_code"][0]
        other = self.stable_members("dibao", head=True).join(
            village.filter(pl.col("township_code") != own_town).select(village_idx=pl.col("i").cast(pl.Int64)), on="village_idx", how="semi"
        )
        host = self.take(other, "W03 host")
        extra = self.persons.filter(pl.col("person_id") == person["person_id"]).with_columns(
            hh=pl.lit(host["hh"], dtype=pl.Int64),
            position=pl.lit(9, dtype=pl.Int64),
            relation=pl.lit("其他"),
            member_from=pl.lit(months[0], dtype=pl.Int64),
            member_to=pl.lit(months[-1], dtype=pl.Int64),
            village_idx=pl.lit(host["village_idx"], dtype=pl.Int64),
        )
        self.persons = pl.concat([self.persons, extra])
        self.case(
            "W03",
            "fire",
            "dibao",
            months,
            person["person_id"],
            self._head_of(person["hh"]),
            f"同时在两个低保家庭中（另一户户主{host['person_id'][:6]}********{host['person_id'][-4:]}）",
        )
        self.plan.protected.add(host["person_id"])
        # look-alike: a 低保 member aged 80+ also paid 高龄津贴 (another programme)
        old = self.take(self.stable_members("dibao", extra=pl.col("age0") >= 81), "W03 quiet")
        longevity = (
            self.persons.filter(pl.col("person_id") == old["person_id"])
            .head(1)
            .with_columns(hh=pl.lit(-1, dtype=pl.Int64), pool=pl.lit("longevity"))
        )
        self.persons = pl.concat([self.persons, longevity])
        self.case("W03", "quiet", "longevity", list(range(self.n)), old["person_id"], None, "低保成员同时领取高龄津贴（不同项目）")

    def w04(self, months: list[int], k: int) -> None:
        """低保 amount above covered persons x standard beyond the tolerance (30% by default)."""
        for expect, factor, text in (
            ("fire", 1.5, "户月保障金额超过保障人口×保障标准的130%"),
            ("quiet", 1.2, "超过差额上限但在分类施保容差内"),
        ):
            months_used = months if expect == "fire" else [self.n - 1]
            head = self.take(self.stable_members("dibao", head=True), f"W04 {expect}")
            ur = self._ur(head)
            for m in months_used:
                ceiling = self._covered(head["hh"], m) * self.std("dibao", ur, m)
                self.plan.add(self.plan.amount_override, [m], head["hh"], round(ceiling * factor))
            self.case("W04", expect, "dibao", months_used, None, head["person_id"], f"{text}（{factor:.0%}）")

    def _ur(self, row: dict) -> str:
        urban = self.county.villages["urban"][row["village_idx"]]
        return "urban" if urban else "rural"

    def _covered(self, hh: int, m: int) -> int:
        return self.persons.filter(pl.col("hh") == hh, pl.col("death_m") >= m).height

    def w05(self, months: list[int], k: int) -> None:
        """Income at or above the standard in 低保; above 1.5x in 低保边缘. The household leaves after."""
        for programme, share, expect in (
            ("dibao", 1.05, "fire"),
            ("marginal", 1.6, "fire"),
            ("dibao", 0.99, "quiet"),
            ("marginal", 1.49, "quiet"),
        ):
            months_used = months if expect == "fire" else [self.n - 1]
            head = self.take(self.stable_members(programme, head=True), f"W05 {programme} {expect}")
            ur = self._ur(head)
            for m in months_used:
                self.plan.add(self.plan.income_override, [m], head["hh"], round(self.std("dibao", ur, m) * share))
            if expect == "fire" and months[-1] + 1 < self.n:
                self.hh = self.hh.with_columns(exit_m=pl.when(pl.col("hh") == head["hh"]).then(months[-1] + 1).otherwise(pl.col("exit_m")))
            self.case("W05", expect, programme, months_used, None, head["person_id"], f"家庭月人均收入为当地低保标准的{share:.0%}")

    def w06(self, months: list[int], k: int) -> None:
        """特困 person neither 60+, under 16, nor disabled."""
        village = int(self.county.villages.height // 2)
        pid = self.spare_ids["W06_pos"]
        self.add_household("tekun", pid, months[0], months[-1] + 1, village)
        self.case("W06", "fire", "tekun", months, pid, pid, "特困人员40周岁，无残疾")
        quiet = self.spare_ids["W06_quiet"]
        self.add_household("tekun", quiet, self.n - 1, NEVER, village)
        self.case("W06", "quiet", "tekun", [self.n - 1], quiet, quiet, "特困人员当月年满60周岁")

    def w07(self, months: list[int], k: int) -> None:
        """孤儿 aged 18 or over still paid."""
        pid = self.spare_ids["W07_pos"]
        self._as_pool(pid, "orphan")
        self.plan.add(self.plan.orphan_kept, months, pid)
        self.case("W07", "fire", "orphan", months, pid, None, "已满18周岁仍发放孤儿基本生活费")
        quiet = self.spare_ids["W07_quiet"]
        self._as_pool(quiet, "orphan")
        self.case("W07", "quiet", "orphan", [self.n - 1], quiet, None, "次月1日满18周岁，当月发放")

    def _as_pool(self, pid: str, pool: str, **attrs) -> None:
        self.persons = self.persons.with_columns(
            pool=pl.when(pl.col("person_id") == pid).then(pl.lit(pool)).otherwise(pl.col("pool")),
            **{k: pl.when(pl.col("person_id") == pid).then(pl.lit(v)).otherwise(pl.col(k)) for k, v in attrs.items()},
        )

    def w08(self, months: list[int], k: int) -> None:
        """高龄津贴 tier does not match age: turned 90 and not moved up; paid under the minimum age."""
        stale, young = self.spare_ids["W08_stale"], self.spare_ids["W08_young"]
        self._as_pool(stale, "longevity")
        self.plan.add(self.plan.longevity_stale_tier, months, stale)
        self.case("W08", "fire", "longevity", months, stale, None, "已满90周岁仍按80-89周岁档发放")
        self.plan.add(self.plan.longevity_extra, months, young)
        self.case("W08", "fire", "longevity", months, young, None, "78周岁，未达到高龄津贴起始年龄")
        for name, text in (("W08_quiet90", "当月满90周岁，已按新档发放"), ("W08_quiet80", "当月最后一天满80周岁，当月开始发放")):
            pid = self.spare_ids[name]
            self._as_pool(pid, "longevity")
            self.case("W08", "quiet", "longevity", [self.n - 1], pid, None, text)

    def w09(self, months: list[int], k: int) -> None:
        """两项补贴: living subsidy outside a low-income household; care subsidy without grade 1-2."""
        living, care = self.spare_ids["W09_living"], self.spare_ids["W09_care"]
        self.plan.add(self.plan.disab_living_extra, months, living)
        self.case("W09", "fire", "disab_living", months, living, None, "不在低保、特困家庭，领取困难残疾人生活补贴")
        self.plan.add(self.plan.disab_care_extra, months, care)
        self.case("W09", "fire", "disab_care", months, care, None, "肢体三级残疾，领取重度残疾人护理补贴")
        quiet = self.take(self.stable_members("tekun", extra=pl.col("disabled")), "W09 quiet")
        self.case("W09", "quiet", "disab_living", list(range(self.n)), quiet["person_id"], None, "特困人员领取困难残疾人生活补贴")

    def w10(self, months: list[int], k: int) -> None:
        """刚性支出困难 recognition older than 12 months."""
        head = self.take(self.stable_members("rigid", head=True), "W10")
        for m in months:
            self.plan.add(self.plan.recognition_override, [m], head["hh"], self._months_before(self.ref(months[0]), 13))
        self.case("W10", "fire", "rigid", months, None, head["person_id"], "刚性支出困难认定已超过12个月")
        quiet = self.take(self.stable_members("rigid", head=True), "W10 quiet")
        t = self.n - 1
        self.plan.add(self.plan.recognition_override, [t], quiet["hh"], self._months_before(self.ref(t), 11))
        self.case("W10", "quiet", "rigid", [t], None, quiet["person_id"], "认定11个月")

    def _months_before(self, day: dt.date, months: int) -> dt.date:
        y, m = divmod(day.month - 1 - months, 12)
        return dt.date(day.year + y, m + 1, min(day.day, 28))

    def w11(self, months: list[int], k: int) -> None:
        """低保 household not reviewed for 12 months (6 with a member able to work)."""
        for able, gap, expect in ((False, 13, "fire"), (True, 7, "fire"), (False, 11, "quiet"), (True, 5, "quiet")):
            heads = self.stable_members("dibao", head=True).join(
                self.hh.filter(pl.col("has_able") == able).select("hh"), on="hh", how="semi", maintain_order="left"
            )
            head = self.take(heads, f"W11 {able} {gap}")
            months_used = months if expect == "fire" else [self.n - 1]
            for m in months_used:
                self.plan.add(self.plan.review_override, [m], head["hh"], self._months_before(self.ref(months_used[0]), gap))
            self.case(
                "W11", expect, "dibao", months_used, None, head["person_id"], f"{'有' if able else '无'}劳动能力成员，{gap}个月未复核"
            )

    def w12(self, months: list[int], k: int) -> None:
        """防止返贫监测对象 with income under the 低保 standard and in no programme."""
        pid = self.spare_ids["W12_pos"]
        for m in months:
            self.plan.add(self.plan.prevention_extra, [m], pid, round(self.std("dibao", "rural", m) * 12 * 0.5))
        self.case("W12", "fire", "prevention", months, pid, None, "年人均纯收入低于低保标准且未纳入任何救助")
        village = self.county.villages.with_row_index("i").filter(~pl.col("urban")).select(village_idx=pl.col("i").cast(pl.Int64))
        head = self.take(
            self.stable_members("dibao", head=True).join(village, on="village_idx", how="semi", maintain_order="left"), "W12 quiet"
        )
        income = self.hh.filter(pl.col("hh") == head["hh"])["income_share"][0]
        for m in range(self.n):
            self.plan.add(self.plan.prevention_extra, [m], head["person_id"], round(income * self.std("dibao", "rural", 0) * 12))
        self.case("W12", "quiet", "prevention", list(range(self.n)), head["person_id"], head["person_id"], "收入低于标准但已纳入低保")

    def w13(self, months: list[int], k: int) -> None:
        """低保 member on the vehicle, business or public-employee list."""
        for which, text in ((0, "车辆登记"), (2, "财政供养人员")):
            person = self.take(self.stable_members("dibao", head=False), f"W13 {which}")
            self.plan.check_extra[which].update({m: self.plan.check_extra[which].get(m, set()) | {person["person_id"]} for m in months})
            self.case(
                "W13", "fire", "dibao", months, person["person_id"], self._head_of(person["hh"]), f"低保家庭成员出现在{text}比对名单中"
            )
        elder = self.persons.filter(pl.col("pool") == "longevity", pl.col("death_m") >= NEVER, pl.col("age0") >= 82).sort("person_id")
        quiet = self.take(elder, "W13 quiet")
        for m in range(self.n):
            self.plan.check_extra[1].setdefault(m, set()).add(quiet["person_id"])
        self.case("W13", "quiet", "longevity", list(range(self.n)), quiet["person_id"], None, "非低保人员出现在工商登记名单中")


def plant(
    county: County, households: pl.DataFrame, persons: pl.DataFrame, schedule: pl.DataFrame, start: dt.date, n_months: int
) -> tuple[pl.DataFrame, pl.DataFrame, Plan]:
    planter = Planter(county, households, persons, schedule, start, n_months)
    planter.plant()
    return planter.hh, planter.persons, planter.plan

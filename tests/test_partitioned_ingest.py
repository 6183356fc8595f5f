"""Ingestion scales out by county (issue 13): a month's files are cleaned as Dagster steps, one per
county and phase (every county's family rosters before any person roster), each county's step
writing the ledger partitions of its own county; the clean tables, the quarantine and the ledger
are exactly those of one process cleaning the same files."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from civstat.counties import OTHER, CountyIndex
from civstat.ingest import ingest, read_ledger
from civstat.ledger import partition_files, rehome
from civstat.settings import Paths

MONTHS = ["2025-12", "2026-01"]
TIMINGS = ["seconds", "ingested_at"]  # when and how long: all that may differ between two ingests


@pytest.fixture(scope="module")
def three_counties(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two months of rosters from three small counties (every quirk of the tiny scale), generated once."""
    from civstat.generate import generate
    from civstat.generate.world import SCALES, Scale

    root = tmp_path_factory.mktemp("three_counties")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(
            SCALES, "three_counties", Scale(prefectures=1, counties_per_prefecture=3, townships=2, villages=3, people_per_village=700)
        )
        generate("three_counties", len(MONTHS), 20261122, root / "raw", start=MONTHS[0], workers=1)
    return root / "raw"


def data_dir(raw: Path, root: Path) -> Paths:
    shutil.copytree(raw, root / "raw")
    return Paths.from_env(root)


@pytest.fixture(scope="module")
def one_process(three_counties: Path, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """The same files ingested by one process (``civstat ingest`` with one worker), every period at
    once: the three counties' files of one layout cleaned as one table (the county steps clean each
    county's files apart, so the tests comparing them compare files cleaned together and alone)."""
    import civstat.ingest as ingest_module

    paths = data_dir(three_counties, tmp_path_factory.mktemp("one_process"))
    sizes = []
    real = ingest_module.clean_tables
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest_module, "clean_tables", lambda parts, **kw: sizes.append(len(parts)) or real(parts, **kw))
        report = ingest(paths, workers=1)
    assert not report.failed, [o.error for o in report.failed]
    assert max(sizes) == 3
    return paths


def materialise_month(paths: Paths, month: str) -> dg.ExecuteInProcessResult:
    from civstat.defs.ingestion import clean_rosters, raw_extracts
    from civstat.defs.resources import CivstatResource

    return dg.materialize(
        [raw_extracts, clean_rosters],
        partition_key=month,
        resources={"civstat": CivstatResource(data_dir=str(paths.data))},
        raise_on_error=False,
    )


def county_steps(steps: set[str], op: str) -> set[str]:
    return {s.split("[")[1].rstrip("]") for s in steps if s.startswith(f"clean_rosters.{op}[")}


def assert_same_output(a: Paths, b: Paths) -> None:
    """Every clean and quarantine Parquet file with the same rows in the same order, and the same
    ledger row for row but for the timings."""
    tables = sorted(p.relative_to(a.clean).as_posix() for p in a.clean.rglob("*.parquet") if a.ledger not in p.parents)
    assert tables == sorted(p.relative_to(b.clean).as_posix() for p in b.clean.rglob("*.parquet") if b.ledger not in p.parents)
    for name in tables:
        assert pl.read_parquet(a.clean / name).equals(pl.read_parquet(b.clean / name)), name
    ledger_a, ledger_b = read_ledger(a), read_ledger(b)
    assert ledger_a.height > 100 and ledger_a.drop(TIMINGS).equals(ledger_b.drop(TIMINGS))


def test_the_county_of_a_file_is_the_county_its_name_or_folder_names():
    counties = CountyIndex({"凤福区": "990101", "凤福新区": "990102", "泉安旗": "990103"})
    assert counties.group_of("2025-01/凤福区农村低保人员花名册_2025年1月.xlsx") == "990101"
    assert counties.group_of("2025-01/凤福新区城市低保家庭花名册.xlsx") == "990102"  # the longest name, not the first
    assert counties.group_of("2025-01/泉安旗/城市低保家庭花名册.xlsx") == "990103"  # a county's own folder
    assert counties.group_of("2025-01/城市低保家庭查询_20250131.xlsx") == OTHER  # a platform export names no county
    assert counties.group_of("2025/2025年统计用区划代码.csv") == OTHER
    assert CountyIndex({}).group_of("2025-01/凤福区低保.csv") == OTHER  # no division register yet


def test_a_month_ingested_as_one_step_per_county_equals_one_process(three_counties, one_process, tmp_path):
    paths = data_dir(three_counties, tmp_path / "dagster")
    for month in MONTHS:  # as the monthly schedule runs them: each month with its year's registers
        result = materialise_month(paths, month)
        assert result.success
        steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
        counties = county_steps(steps, "clean_county_families")
        assert len(counties) == 3 and county_steps(steps, "clean_county_others") == counties | {"other"}
        clean_person = next(e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(["clean", "person"]))
        person_files = read_ledger(paths).filter((pl.col("roster") == "person") & (pl.col("period") == month)).height
        assert clean_person.materialization.metadata["files"].value == person_files >= 3
    assert_same_output(one_process, paths)
    # each county's rows in its own ledger partitions, which its steps alone wrote
    counties = CountyIndex.of_clean_registers(paths.clean_table("division"))
    assert len(counties.codes) == 3
    partitions = sorted(p.relative_to(paths.ledger).as_posix() for p in partition_files(paths))
    assert partitions == sorted(
        [f"period={m}/{code}.parquet" for m in MONTHS for code in counties.codes.values()]
        + ["period=2025/_other.parquet", "period=2026/_other.parquet"]
    )
    for part in partition_files(paths):
        assert {counties.group_of(f) for f in pl.read_parquet(part)["source_file"]} == {part.stem}
    assert not paths.legacy_ledger.exists()

    # a county's file deleted from data/raw: its rows are withdrawn, in its partition, as one process withdraws them
    gone = sorted((paths.raw / MONTHS[-1]).glob("*城市低保家庭花名册*"))[-1].name
    reference = Paths.from_env(tmp_path / "one_process")
    shutil.copytree(one_process.data, reference.data)
    for p in (paths, reference):
        (p.raw / MONTHS[-1] / gone).unlink()
    assert ingest(reference, workers=1).withdrawn == [f"{MONTHS[-1]}/{gone}"]
    assert materialise_month(paths, MONTHS[-1]).success
    assert read_ledger(paths).filter(pl.col("status") == "withdrawn")["source_file"].to_list() == [f"{MONTHS[-1]}/{gone}"]
    assert_same_output(reference, paths)


def test_a_single_file_ledger_of_an_earlier_version_is_read_and_split_into_partitions(one_process, tmp_path):
    paths = Paths.from_env(tmp_path / "data")
    shutil.copytree(one_process.data, paths.data)
    before = read_ledger(paths)
    shutil.rmtree(paths.ledger)
    before.write_parquet(paths.legacy_ledger)  # as versions before issue 13 kept it
    assert read_ledger(paths).equals(before)  # readers see it as it is, before any ingest
    report = ingest(paths, workers=1)
    assert report.totals()["skipped"] == before.height  # nothing cleaned again
    assert not paths.legacy_ledger.exists() and len(partition_files(paths)) == 8
    assert read_ledger(paths).equals(before)


def test_rows_follow_their_county_when_the_register_changes(one_process, tmp_path):
    paths = Paths.from_env(tmp_path / "data")
    shutil.copytree(one_process.data, paths.data)
    before = read_ledger(paths)
    rehome(paths, CountyIndex({}))  # a register naming no county: every file in its period's _other
    assert [p.stem for p in partition_files(paths)] == [OTHER] * 4 and read_ledger(paths).equals(before)
    rehome(paths, CountyIndex.of_clean_registers(paths.clean_table("division")))
    assert len(partition_files(paths)) == 8 and read_ledger(paths).equals(before)


def ingestion_job() -> dg.JobDefinition:
    """raw/* and clean/* with the monthly job's executor (multiprocess), for ``execute_job``."""
    from civstat.defs.automation import monthly_job
    from civstat.defs.ingestion import clean_rosters, raw_extracts
    from civstat.defs.resources import CivstatResource

    job = dg.define_asset_job("ingestion", executor_def=monthly_job.executor_def)
    defs = dg.Definitions(assets=[raw_extracts, clean_rosters], jobs=[job], resources={"civstat": CivstatResource()})
    return defs.resolve_job_def("ingestion")


@pytest.mark.slow
def test_county_steps_in_processes_of_their_own_give_the_ledger_of_one_process(three_counties, one_process, tmp_path, monkeypatch):
    from civstat.defs.partitions import RANGE_END, RANGE_START

    paths = data_dir(three_counties, tmp_path / "data")
    monkeypatch.setenv("CIVSTAT_DATA_DIR", str(paths.data))  # the step processes' CivstatResource
    monkeypatch.chdir(Path(__file__).parent)  # the step processes import this module from the working directory
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(ingestion_job), instance=instance, tags={RANGE_START: MONTHS[0], RANGE_END: MONTHS[-1]}, raise_on_error=False
        )
        assert result.success
        logs = [
            e for e in instance.all_logs(result.run_id) if e.dagster_event and (e.step_key or "").startswith("clean_rosters.clean_county_")
        ]
    steps = {e.step_key for e in logs if e.dagster_event.event_type_value == "STEP_SUCCESS"}
    assert len(county_steps(steps, "clean_county_families")) == 3 and len(county_steps(steps, "clean_county_others")) == 4
    assert len({e.dagster_event.pid for e in logs if e.dagster_event.event_type_value == "STEP_START"}) == 7  # a process each
    start = {e.step_key: e.timestamp for e in logs if e.dagster_event.event_type_value == "STEP_START"}
    end = {e.step_key: e.timestamp for e in logs if e.dagster_event.event_type_value == "STEP_SUCCESS"}
    assert any(start[a] < end[b] and start[b] < end[a] for a in start for b in start if a < b), "no two county steps ran side by side"
    assert_same_output(one_process, paths)


def test_a_member_listed_by_another_countys_household_takes_that_household_in_county_steps_as_in_one_process(tmp_path):
    """A person roster of one county may name a household that another county's family roster lists
    (a member registered where they live, the household where it is assisted): the county steps clean
    every county's family rosters before any person roster, so the member takes that household's
    region and urban/rural, exactly as one process does; nobody is quarantined for it."""
    from civstat.cleaning.identity import check_char
    from rosters import DIVISION_HEADER, DIVISIONS, write_csv

    def pid(birth: str, seq: str) -> str:
        return "990101" + birth + seq + check_char("990101" + birth + seq)

    head_a, head_b, member = pid("19600101", "011"), pid("19650101", "021"), pid("19900101", "031")
    family = ["序号", "户主姓名", "户主证件号码", "保障人数", "救助金额", "区县", "乡镇（街道）", "村（社区）", "城乡类别", "人员状态"]
    person = ["序号", "姓名", "证件号码", "户主证件号码", "与户主关系", "人员状态"]
    raw = tmp_path / "raw"
    write_csv(
        raw / "2025" / "2025年区划代码.csv",
        [
            DIVISION_HEADER,
            *DIVISIONS,
            ["990102000000", "样板县", None],
            ["990102001000", "新城镇", "121"],
            ["990102001001", "新华社区", "111"],
        ],
    )
    month = raw / "2025-03"
    write_csv(
        month / "示范县特困人员家庭查询_20250331.csv",
        [family, ["1", "测试甲", head_a, "2", "1200", "示范县", "城关镇", "东风社区", "城市", "正常"]],
    )
    write_csv(
        month / "样板县特困人员家庭查询_20250331.csv",
        [family, ["1", "测试乙", head_b, "1", "800", "样板县", "新城镇", "新华社区", "农村", "正常"]],
    )
    write_csv(month / "示范县特困人员查询_20250331.csv", [person, ["1", "测试甲", head_a, head_a, "户主", "正常"]])
    write_csv(
        month / "样板县特困人员查询_20250331.csv",
        [person, ["1", "测试乙", head_b, head_b, "户主", "正常"], ["2", "测试丙", member, head_a, "子女", "正常"]],
    )

    one = Paths.from_env(tmp_path / "one")
    shutil.copytree(raw, one.raw)
    assert not ingest(one, workers=1).failed
    steps = Paths.from_env(tmp_path / "steps")
    shutil.copytree(raw, steps.raw)
    assert materialise_month(steps, "2025-03").success  # the month, with its year's register

    for paths in (one, steps):
        persons = pl.read_parquet(paths.clean_table("person") / "**" / "*.parquet").sort("source_file", "source_row")
        assert persons.select("source_file", "division_code", "urban_rural").rows() == [
            ("2025-03/样板县特困人员查询_20250331.csv", "990102001001", "rural"),
            ("2025-03/样板县特困人员查询_20250331.csv", "990101001001", "urban"),  # the member, with 示范县's household
            ("2025-03/示范县特困人员查询_20250331.csv", "990101001001", "urban"),
        ]
        ledger = read_ledger(paths).filter(pl.col("roster") == "person")
        assert ledger["rows_quarantined"].to_list() == [0, 0]
    ledger_one, ledger_steps = read_ledger(one), read_ledger(steps)
    assert ledger_one.drop(TIMINGS).equals(ledger_steps.drop(TIMINGS))
    assert {p.stem for p in partition_files(steps)} == {"990101", "990102", "_other"}

"""The page of charts, looked at in headless Chromium with the network switched off: Vega draws the
four charts from the scripts written into the page, with the Chinese axis titles, labels and the
figures of the marts, in a fixed order, within a narrow window, and the page asks for nothing on
the network."""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from civstat.reports.charts import ERROR_TEXT, chart_page
from civstat.rules import warning_rules
from civstat.settings import Paths
from test_ui import CHROMIUM, CHROMIUM_FLAGS

# no network for the browser: every host name fails to resolve and every connection goes to a closed port
OFFLINE_FLAGS = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


class VegaDom(HTMLParser):
    """What Vega drew in each chart's <div id="chart-N">: the SVG's size, the text of each role
    (axis-title, axis-label, legend-label, mark ...) in document order, and the marks by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []  # (tag, class) of the open elements
        self.chart: str | None = None
        self.chart_depth = 0
        self.svgs: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.texts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.marks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.outside: list[str] = []  # text of the chart divs that is not inside an SVG

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and re.fullmatch(r"chart-\d+", a.get("id") or ""):
            self.chart, self.chart_depth = a["id"], len(self.stack)
        if self.chart and tag == "svg" and "marks" in (a.get("class") or ""):
            self.svgs[self.chart].append((float(a["width"]), float(a["height"])))
        if self.chart and tag in ("path", "line") and self.stack and "role-mark" in self.stack[-1][1]:
            self.marks[self.chart][self.stack[-1][1].split()[0]] += 1
        self.stack.append((tag, a.get("class") or ""))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break
        if self.chart and len(self.stack) <= self.chart_depth:
            self.chart = None

    def handle_data(self, data):
        if not self.chart or not data.strip():
            return
        if self.stack[-1][0] == "text":
            role = next((c.split()[1] for _, c in reversed(self.stack) if c.startswith("mark-")), "")
            self.texts[self.chart][role].append(data.strip())
        elif not any(tag == "svg" for tag, _ in self.stack):
            self.outside.append(data.strip())


def render(page: Path, tmp_path: Path, width: int) -> tuple[VegaDom, str, list[str]]:
    """The page's DOM after its scripts ran, in a Chromium window ``width`` pixels wide with no
    network, and the URLs the page asked the network for (from Chromium's own log of requests)."""
    assert CHROMIUM, "chromium is not installed: dev.py installs Debian's chromium"
    netlog = tmp_path / f"netlog-{width}.json"
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            *OFFLINE_FLAGS,
            f"--user-data-dir={tmp_path / f'chromium-{width}'}",
            f"--window-size={width},1200",
            "--virtual-time-budget=20000",
            f"--log-net-log={netlog}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout
    return parse(dom), dom, page_requests(netlog)


def parse(dom: str) -> VegaDom:
    parser = VegaDom()
    parser.feed(dom)
    return parser


def page_requests(netlog: Path) -> list[str]:
    """URLs the page requested. Chromium's own background requests have no origin as initiator
    ("not an origin"); the page's carry its origin ("null" for a file)."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = [e.get("params", {}) for e in log["events"] if e["type"] == start_job]
    return [
        r["url"]
        for r in requests
        if "url" in r and r.get("initiator") != "not an origin" and not r["url"].startswith(("file:", "data:", "blob:"))
    ]


def test_the_offline_check_sees_a_page_that_loads_its_scripts_from_a_cdn(tmp_path):
    """The check below can fail: a page that loads Vega from a CDN is caught making requests and drawing nothing."""
    page = tmp_path / "cdn.html"
    page.write_text(
        '<!doctype html><html><body><div id="chart-1"></div>'
        '<script src="https://cdn.jsdelivr.net/npm/vega@6"></script>'
        "<script>vega.parse({}).catch(() => {})</script></body></html>"
    )
    dom, _, requested = render(page, tmp_path, 800)
    assert requested == ["https://cdn.jsdelivr.net/npm/vega@6"]
    assert not dom.svgs


def test_the_chart_page_renders_offline_with_chinese_axes_and_labels_in_chromium(tiny_built, tmp_path):
    page = chart_page(Paths.from_env(tiny_built), tmp_path / "charts.html")
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text) and "<link" not in text, "every script is written into the page"
    assert "vegaEmbed" in text

    con = duckdb.connect(str(tiny_built / "marts" / "warehouse.duckdb"), read_only=True)
    try:
        beds = con.execute(
            """select division_name, beds_per_1000_aged_60_plus_hukou, beds_per_1000_aged_60_plus_resident from elderly_care_beds
               where division_level = 'county' and year = (select max(year) from elderly_care_beds)"""
        ).fetchall()
        programmes = [
            r[0]
            for r in con.execute(
                """select distinct p.programme_zh from low_income_monitoring m join dim_programmes p using (programme)
                   where m.division_level = 'province' and m.persons > 0"""
            ).fetchall()
        ]
        months = [r[0] for r in con.execute("select distinct strftime(period, '%Y-%m') from low_income_monitoring order by 1").fetchall()]
        new_warnings = con.execute("select sum(new_warnings) from monitoring_alert_summary where division_level = 'province'").fetchone()[0]
        secrets = [v for r in con.execute("select person_key, household_key, id_masked from monitoring_alerts").fetchall() for v in r if v]
    finally:
        con.close()
    assert beds and programmes and len(months) >= 3 and new_warnings > 0 and secrets, "the tiny data has something to chart"
    assert not [s for s in secrets if s in text], "no person or household key and no masked ID on the page"

    dom, raw, requested = render(page, tmp_path, 1280)
    assert requested == [], "the page asked the network for nothing"
    assert ERROR_TEXT not in " ".join(dom.outside) and "Error" not in " ".join(dom.outside), dom.outside
    assert sorted(dom.svgs) == ["chart-1", "chart-2", "chart-3", "chart-4", "chart-5"], "Vega drew the five charts as SVG"

    beds_chart, trend, coverage, warnings = (dom.texts[f"chart-{i}"] for i in range(1, 5))
    assert beds_chart["role-axis-title"] == ["每千名老年人养老床位（张）", "县（市、区）"]
    assert {name for name, *_ in beds} <= set(beds_chart["role-axis-label"])
    assert beds_chart["role-legend-label"] == ["户籍人口口径", "常住人口口径"]
    written = set(beds_chart["role-mark"])  # the figures written at the bars' ends, and the target
    for _, hukou, resident in beds:
        assert f"{hukou:,.1f}" in written and f"{resident:,.1f}" in written
    assert any(t.startswith("目标 ") and t.endswith(" 张") for t in written)
    assert dom.marks["chart-1"]["mark-rect"] == 2 * len(beds) and dom.marks["chart-1"]["mark-rule"] == 1

    assert trend["role-axis-title"] == ["月份", "在册人数（人，对数刻度）"]
    assert set(trend["role-axis-label"]) >= set(months), "every month is labelled 2025-11, not a date"
    assert sorted(trend["role-legend-label"]) == sorted(programmes)
    assert dom.marks["chart-2"]["mark-line"] == len(programmes)

    labels = coverage["role-axis-label"]
    tiers = [label for label in labels if label.startswith("高龄津贴")]
    assert tiers == ["高龄津贴 · 80-89周岁", "高龄津贴 · 90-99周岁", "高龄津贴 · 100周岁以上"], "the tiers in age order"
    assert labels.index(tiers[-1]) < labels.index("困难残疾人生活补贴")
    assert any(t.startswith("覆盖率") for t in coverage["role-axis-title"])

    rules = [f"{r['rule_code']} {r['rule_zh']}" for r in warning_rules()]
    assert [label for label in warnings["role-axis-label"] if label[:1] == "W"] == rules, "every rule, W01 to W14, in order"
    assert warnings["role-axis-title"] == ["月份"]
    assert sum(int(t.replace(",", "")) for t in warnings["role-mark"]) == new_warnings, "the cells add up to the marts"

    loop = dom.texts["chart-5"]
    assert loop["role-axis-title"] == ["预警（条）", "县（市、区）"]
    assert loop["role-legend-label"] == ["核实属实", "核实不属实", "未核查", "逾期未核查"]
    assert {name for name, *_ in beds} & set(loop["role-axis-label"]), "the counties with warnings"

    # a narrow window: every chart fits it (nothing cut off), and is still drawn in full
    narrow, _, requested = render(page, tmp_path, 800)
    assert requested == []
    assert len(narrow.svgs) == 5 and all(w <= 800 - 16 for svgs in narrow.svgs.values() for w, _ in svgs), narrow.svgs
    assert [label for label in narrow.texts["chart-4"]["role-axis-label"] if label[:1] == "W"] == rules, (
        "rule names are not cut short in a narrow window"
    )


@pytest.mark.parametrize("width", [1280, 800])
def test_the_chart_page_draws_visible_chinese_text_and_marks(tiny_built, tmp_path, width):
    """The screenshot a person would see: the bars' colour and dark text fill a good part of it."""
    from PIL import Image

    page = chart_page(Paths.from_env(tiny_built), tmp_path / "charts.html")
    shot = tmp_path / "charts.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            *OFFLINE_FLAGS,
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--hide-scrollbars",
            "--virtual-time-budget=20000",
            f"--window-size={width},2400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=180,
    )
    image = Image.open(shot).convert("RGB")
    assert image.size == (width, 2400)
    pixels = list(image.getdata())
    bars = sum(1 for p in pixels if p == (76, 120, 168))  # Vega's first colour, #4c78a8
    ink = sum(1 for p in pixels if max(p) < 100)  # dark text: titles, axes and labels
    assert bars > 3000, "the bars were drawn"
    assert ink > 3000, "the Chinese titles and labels were drawn"

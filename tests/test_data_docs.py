"""GX's Data Docs render without a network (statisticians read them on a 政务内网): no page loads
anything from the internet, and headless Chromium with networking switched off shows them styled,
their tables working, with a Chinese value a check failed on."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import great_expectations
import polars as pl
from PIL import Image

from civstat.quality import offline
from civstat.quality.run import validate_clean
from civstat.settings import Paths
from test_ui import CHROMIUM, CHROMIUM_FLAGS

#: No network: every host name fails to resolve, and any request goes to a proxy nothing listens on.
NO_NETWORK = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND"]
GX_TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?https?://|url\(\s*["']?https?://""")
#: What a page loads: scripts, stylesheets, images.
LOADS = re.compile(r"""<script\b[^>]*\bsrc="([^"]+)"|<link\b[^>]*\bhref="([^"]+)"|<img\b[^>]*\bsrc="([^"]+)\"""")
#: Bootstrap's "success" green, which Font Awesome's check icons (✓ of each passed expectation) take.
SUCCESS_GREEN = (40, 167, 69)
STATUS = "暂停发放"  # a status no mapping knows, as a roster writes it


def test_civstat_ships_a_file_for_every_address_gx_pages_load():
    """A GX upgrade whose templates load something new fails here, before a page goes without it."""
    remote = {m[1] or m[2] for template in GX_TEMPLATES.glob("*.j2") for m in offline.REMOTE_TAG.finditer(template.read_text())}
    assert remote == set(offline.ASSETS)
    shipped = [offline.STATIC / file for files in offline.ASSETS.values() for file in files]
    assert shipped and all(path.is_file() for path in shipped)
    for folder in {path.relative_to(offline.STATIC).parts[0] for path in shipped}:
        assert list((offline.STATIC / folder).glob("LICENSE*")), f"{folder} without its licence"
    for css in offline.STATIC.rglob("*.css"):
        assert not REMOTE.search(css.read_text(encoding="utf-8")), css


def chromium(page: Path, profile: Path, *args: str) -> str:
    command = [CHROMIUM, *CHROMIUM_FLAGS, *NO_NETWORK, f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def green_pixels(page: Path, profile: Path) -> int:
    """Pixels of the page (as Chromium draws it) in Bootstrap's green: none unless both Bootstrap's
    stylesheet and Font Awesome's font have loaded."""
    shot = profile.parent / f"{page.stem}.png"
    chromium(page, profile, "--window-size=1280,1400", f"--screenshot={shot}")
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 24)
    return dict((colour, n) for n, colour in colours).get(SUCCESS_GREEN, 0)


def test_the_data_docs_render_offline_in_chromium_with_chinese_values(tiny_ingested, tmp_path):
    assert CHROMIUM, "chromium is not installed: .ci/run installs Debian's chromium"
    data = tmp_path / "data"
    shutil.copytree(tiny_ingested / "clean", data / "clean")
    target = sorted((data / "clean" / "family").glob("period=*/*.parquet"))[0]
    status = pl.when(pl.int_range(pl.len()) < 2).then(pl.lit(STATUS)).otherwise(pl.col("status"))
    pl.read_parquet(target).with_columns(status.alias("status")).write_parquet(target)
    docs = tmp_path / "docs"
    [family] = validate_clean(Paths.from_env(data), rosters=["family"], docs_dir=docs)
    assert [(f.expectation, f.column, f.examples[:1]) for f in family.failures] == [
        ("expect_column_values_to_be_in_set", "status", [STATUS])
    ]

    pages = sorted(docs.rglob("*.html"))
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not REMOTE.search(html), f"{page} loads from the network"
        assert '<meta charset="UTF-8">' in html and offline.OWN_STYLES in html
        for match in LOADS.finditer(html):
            path = (match[1] or match[2] or match[3]).split("?")[0]
            assert (page.parent / path).is_file(), f"{page}: {path} is missing"

    index = docs / "index.html"
    [validation] = docs.glob("validations/clean_family/*/*/*.html")
    [failures] = docs.glob("validations/clean_family_failures/*/*/*.html")
    profile = tmp_path / "chromium"

    # bootstrap-table (with jQuery and its filter extension) turned the index into a filterable table of the three validations
    dom = chromium(index, profile, "--dump-dom")
    assert 'class="bootstrap-table bootstrap4"' in dom and "bootstrap-table-filter-control-expectation_suite_name" in dom
    assert "Showing 1 to 3 of 3 rows" in dom
    for suite in ("clean_family", "clean_family_schema", "clean_family_failures"):  # the suite filter's choices
        assert f'<option value="{suite}">{suite}</option>' in dom, suite
    # the failed check's page: its table of results, the expectation and the Chinese value
    dom = chromium(failures, profile, "--dump-dom")
    assert 'class="bootstrap-table bootstrap4"' in dom and "values must belong to this set" in dom
    assert re.search(rf"<td[^>]*><div[^>]*>{STATUS}</div></td>", dom)
    # styled: Bootstrap's green in the check icons of the passed expectations
    assert green_pixels(validation, profile) > 300

    # the same pages without the files civstat ships: Chromium shows them as GX's CDN-bound pages would look offline
    bare = tmp_path / "bare"
    shutil.copytree(docs, bare, ignore=shutil.ignore_patterns("civstat"))
    assert "bootstrap-table bootstrap4" not in chromium(bare / "index.html", profile, "--dump-dom")
    assert green_pixels(bare / validation.relative_to(docs), profile) == 0

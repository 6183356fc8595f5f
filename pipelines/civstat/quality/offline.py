"""Great Expectations' Data Docs made to render without a network: statisticians open them on a
government intranet (政务内网), where GX's own pages, which load Bootstrap, jQuery, bootstrap-table,
a date picker, Font Awesome and Vega from public CDNs and GX's logo from S3, show as unstyled text
whose tables, filters and collapsible sections do not work.

After GX writes the site, ``make_offline`` copies the files civstat ships in ``static/`` (the same
versions, from npm, with their licences: see ``static/README.md``) to ``<site>/static/civstat/``
and points every page at them. Nothing is downloaded, when building or at run time."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

log = logging.getLogger("civstat.quality")

STATIC = Path(__file__).parent / "static"
IN_SITE = "static/civstat/"

#: Each stylesheet or script GX 1.x's pages load from the network -> the files civstat ships in its
#: place, in order; none where the pages need nothing: Popper is in Bootstrap's bundle, Vega draws
#: only the charts of expectations our suites do not use (a page with one warns), and GX's dark
#: theme is switched off (see ``offline_page``).
ASSETS: dict[str, tuple[str, ...]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": ("bootstrap/bootstrap.min.css",),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": ("bootstrap/bootstrap.bundle.min.js",),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery/jquery.min.js",),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": ("bootstrap-table/bootstrap-table.min.css",),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": ("bootstrap-table/bootstrap-table.min.js",),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome/css/fontawesome.min.css",
        "fontawesome/css/solid.min.css",
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (),
    "https://cdn.jsdelivr.net/npm/vega@5": (),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": (),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": (),
}
#: civstat's own stylesheet, last in every page's head: a font stack with Chinese fonts.
OWN_STYLES = "civstat.css"

#: A ``<script src>`` or ``<link href>`` of an address on the network (GX's tags, SRI attributes included).
REMOTE_TAG = re.compile(r"""<script\b[^>]*\bsrc="(https?://[^"]*)"[^>]*>\s*</script>|<link\b[^>]*\bhref="(https?://[^"]*)"[^>]*>""")
#: GX's images on S3 (its logo), which GX also copies into the site's static/images/.
GX_IMAGES = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/([\w.-]+)(\?[^\"')]*)?")
#: A reference into the site's static/ folder (GX miscounts the folders up to it on validation pages' icon link).
SITE_STATIC = re.compile(r"""(?<=["'(])(?:\./|(?:\.\./)+)static/""")
#: A hyperlink to the internet (GX's website): its text stays, the link goes.
REMOTE_LINK = re.compile(r'<a\b[^>]*\bhref="https?://[^"]*"[^>]*>(.*?)</a>', re.S)
#: GX's footer, a newsletter sign-up.
FOOTER = re.compile(r"<footer>.*?</footer>\s*", re.S)
#: GX's dark theme needs a CDN stylesheet (bootstrap-dark) and a logo GX does not ship: without
#: them it is half dark (dark tables on a white page), so the pages stay light.
DARK_THEME = "@media (prefers-color-scheme: dark)"


def _tag(href: str) -> str:
    return f'<script src="{href}"></script>' if href.endswith(".js") else f'<link rel="stylesheet" href="{href}">'


def offline_page(html: str, root: str) -> str:
    """The page with the files civstat ships in place of what it loads from the network; ``root``
    is the site's root relative to the page (``""``, ``"../../../../"``). A page rewritten before
    comes back unchanged."""

    def local(match: re.Match) -> str:
        url = match[1] or match[2]
        if url not in ASSETS:
            log.warning("Data Docs: civstat ships nothing in place of %s; the pages go without it", url)
        return "\n".join(_tag(root + IN_SITE + file) for file in ASSETS.get(url, ()))

    html = REMOTE_TAG.sub(local, html)
    html = GX_IMAGES.sub(lambda m: root + "static/images/" + m[1], html)
    html = SITE_STATIC.sub(root + "static/", html)
    html = REMOTE_LINK.sub(r"\1", html)
    html = FOOTER.sub("", html)
    html = html.replace(DARK_THEME, "@media not all")
    own = _tag(root + IN_SITE + OWN_STYLES)
    if own not in html:
        html = html.replace("</head>", f"  {own}\n  </head>", 1)
    return html


def make_offline(site: Path) -> None:
    """Every page of the GX Data Docs site under ``site`` made to load nothing from the network."""
    shutil.copytree(STATIC, site / IN_SITE, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
    for page in site.rglob("*.html"):
        root = "../" * (len(page.relative_to(site).parts) - 1)
        html = page.read_text(encoding="utf-8")
        if "vegaEmbed(" in html:
            log.warning("Data Docs: %s draws a Vega chart, which civstat does not ship: the chart is missing", page)
        offline = offline_page(html, root)
        if offline != html:
            page.write_text(offline, encoding="utf-8")

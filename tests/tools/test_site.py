"""The course website (``make site``): built from the stored notebooks of the student release, checked as files
and in headless Chromium.

Files: every page of the start page, lectures, extra notebook, exercises, checking pages and API reference is
there; every internal link, anchor, image and script resolves; no page (nor any copied source) holds a solution
line, hidden test or answer sentence of ``solutions/``; widgets are their static figures with the line on running
them live; every notebook page says how to open the notebook.
Browser: every page loads with no console error and no failed request (the site works offline: MathJax is
served from the site), every image is decoded, a search finds each lecture, screenshots of the start page and a
lecture (in ``$POSECOURSE_SCREENSHOTS`` or the test's tmp dir).
"""
from __future__ import annotations

import functools
import html as htmllib
import http.server
import os
import re
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from posecourse.lectures import LECTURES
from posecourse_tools import release
from paths import ROOT


pytest.importorskip("myst_nb", reason="the site builder (pip install -e '.[dev]')")
pytest.importorskip("sphinx_book_theme", reason="the site builder (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from posecourse_tools import site as builder

    out = tmp_path_factory.mktemp("site")
    t = time.perf_counter()
    html = builder.build(out)
    print(f"\nsite built in {time.perf_counter() - t:.1f} s: {html}")
    return html


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.refs, self.text = set(), [], []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "img", "script", "link"):
                self.refs.append((tag, a[key]))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(errors="replace"))
    return p


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


def test_every_page_is_there(site):
    want = ["START.html", "api.html", "search.html", "lectures/extra/domain_gap.html"]
    for lec in LECTURES.values():
        want += [lec.notebook.replace(".ipynb", ".html"), f"exercises/{lec.exercise}.html",
                 f"checking/{lec.exercise}.html"]
    for rel in want:
        assert (site / rel).is_file(), rel
    api = " ".join(_parse(site / "api.html").text)
    assert "get_lecture" in api and "create_model" in api, "API reference without the library's docstrings"
    assert (site / "searchindex.js").is_file()


def test_api_documents_each_object_once(site):
    """A package's page documents what it defines, not what it re-exports: ``posecourse.metrics.oks`` (a function
    and a module) is described once, so Sphinx finds no duplicate description."""
    warnings = (site.parent / "warnings.txt").read_text()
    assert "duplicate object description" not in warnings, warnings[-3000:]


def test_internal_links_anchors_and_assets_resolve(site):
    bad = []
    for page in _pages(site):
        for tag, ref in _parse(page).refs:
            url = urlsplit(ref)
            if url.scheme or url.netloc or ref.startswith(("mailto:", "javascript:", "data:")):
                if url.scheme in ("http", "https") and tag != "a":
                    bad.append(f"{page.relative_to(site)}: {tag} loads {ref} from the network")
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.exists():
                bad.append(f"{page.relative_to(site)}: {ref} -> missing")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _parse(target).ids:
                bad.append(f"{page.relative_to(site)}: {ref} -> no anchor #{url.fragment}")
    assert not bad, "\n".join(bad[:30])


def test_no_instructors_text_anywhere(site):
    known = release.secrets(ROOT)
    assert release.scan(site.parent, ROOT, known) == []  # sources, copied sources, html as text
    for page in _pages(site):
        text = " ".join(htmllib.unescape(" ".join(_parse(page).text)).split())
        leaks = [s.where for s in known if s.text in text]
        assert not leaks, f"{page.relative_to(site)}: {leaks[:5]}"


def test_notebook_pages_keep_figures_and_say_how_to_open_them(site):
    src = site.parent / "src"  # the notebooks as the release held them when the site was built
    for nb_path in release.notebooks(ROOT / "lectures"):
        rel = nb_path.relative_to(ROOT).as_posix()
        nb = nbformat.read(src / rel, as_version=4)
        figures = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                      if any(k.startswith("image/") for k in o.get("data", {})))
        widgets = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                      if "application/vnd.jupyter.widget-view+json" in o.get("data", {}))
        page = _parse(site / rel.replace(".ipynb", ".html"))
        imgs = [r for t, r in page.refs if t == "img" and "_images/" in r]
        assert len(imgs) == figures, f"{rel}: {len(imgs)} figures on the page, {figures} stored"
        text = " ".join(" ".join(page.text).split())
        assert f"make lab and open {rel}" in text, f"{rel}: the page does not say how to open the notebook"
        assert text.count("static picture of an interactive explorer") == widgets, rel


# --------------------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def served(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(600)
def test_site_in_chromium(site, served, browser, tmp_path):
    shots = Path(os.environ.get("POSECOURSE_SCREENSHOTS") or tmp_path) / "site"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    # offline: any request that leaves the site fails the test
    outside = []
    context.route(re.compile(r"^(?!" + re.escape(served) + ")"),
                  lambda route: (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a fetch cut short by leaving the page (net::ERR_ABORTED, e.g. search summaries) is no fault of the site;
    # a missing file answers 404, which is
    page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
            and errors.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
    try:
        page.goto(f"{served}/index.html", timeout=60_000)
        page.wait_for_url("**/START.html", timeout=30_000)  # the site's front door is the start page
        for path in _pages(site):
            rel = path.relative_to(site).as_posix()
            if rel == "index.html":
                continue
            page.goto(f"{served}/{rel}", wait_until="load", timeout=60_000)
            broken = page.evaluate("() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                                   ".map(i => i.src)")
            assert not broken, f"{rel}: images not shown: {broken[:5]}"
            assert not errors, f"{rel}: {errors[:5]}"
            if rel == "START.html":
                page.screenshot(path=str(shots / "start.png"))
            if rel == "lectures/02_cpm.html":
                page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
                page.screenshot(path=str(shots / "lecture-02.png"))
        terms = {lec.notebook.replace(".ipynb", ".html"): lec.title.split(":")[0].split()[-1]
                 for lec in LECTURES.values()}
        terms["lectures/extra/domain_gap.html"] = "domain"
        for target, term in terms.items():
            page.goto(f"{served}/search.html?q={term}", wait_until="load", timeout=60_000)
            found = page.locator(f"#search-results a[href*='{target}']")
            found.first.wait_for(timeout=60_000)
            # the results list fills while summaries load: leaving before the end aborts those requests
            page.locator("#search-results .search-summary", has_text="Search finished").wait_for(timeout=60_000)
            assert found.count() >= 1, f"search for {term!r} does not find {target}"
        page.screenshot(path=str(shots / "search.png"))
        assert not errors, errors[:5]
        assert not outside, f"requests outside the site: {outside[:5]}"
        print(f"\nscreenshots: {shots}")
    finally:
        context.close()

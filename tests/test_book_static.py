"""The built book, read as files: offline assets, complete chapters, citation blocks, downloads."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from book_site import HTML, ROOT, built_page, chapter_docnames, toc_docnames

from lstm_lib.widgets import PLAYER_MARKER

EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.I)


class AssetCollector(HTMLParser):
    """Collects every URL a page would load by itself: scripts, stylesheets, fonts, images, frames."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.inline_css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source", "embed") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            if any(k in rel for k in ("stylesheet", "preload", "icon", "modulepreload", "prefetch", "manifest")):
                self.loads.append(a["href"])
        if a.get("style"):
            self.inline_css.append(a["style"])
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.inline_css.append(data)

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False


def all_pages():
    return sorted(HTML.rglob("*.html"))


def test_book_was_built():
    for doc in toc_docnames():
        built_page(doc)


def test_pages_load_nothing_from_the_network():
    offenders = []
    for page in all_pages():
        collector = AssetCollector()
        collector.feed(page.read_text(encoding="utf8"))
        urls = collector.loads + [u for css in collector.inline_css for u in CSS_URL.findall(css)]
        offenders += [f"{page.relative_to(HTML)}: {u}" for u in urls if EXTERNAL.match(u)]
    assert not offenders, "external assets in the built book:\n" + "\n".join(offenders)


def test_stylesheets_load_no_remote_fonts_or_imports():
    offenders = []
    for css in HTML.rglob("*.css"):
        for url in CSS_URL.findall(css.read_text(encoding="utf8", errors="replace")):
            if EXTERNAL.match(url):
                offenders.append(f"{css.relative_to(HTML)}: {url}")
    assert not offenders, "stylesheets that fetch from the network:\n" + "\n".join(offenders)


def test_mathjax_is_served_locally():
    page = built_page("book/intro").read_text(encoding="utf8")
    srcs = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', page, re.I)
    assert srcs, "no MathJax script tag found"
    for src in srcs:
        assert not EXTERNAL.match(src)
        assert (HTML / "_static" / "mathjax" / "tex-svg.js").is_file()


PLACEHOLDER = re.compile(r"\b(TODO|TBD|coming soon|lorem ipsum|placeholder)\b", re.I)


@pytest.mark.parametrize("doc", toc_docnames())
def test_page_is_not_a_placeholder(doc):
    source = next(ROOT.glob(f"{doc}.*")).read_text(encoding="utf8")
    assert not PLACEHOLDER.search(source), f"{doc}: {PLACEHOLDER.search(source).group(0)!r}"
    words = len(re.sub(r"<[^>]+>", " ", built_page(doc).read_text(encoding="utf8")).split())
    assert words > 400, f"{doc} has only {words} words"


@pytest.mark.parametrize("doc", chapter_docnames())
def test_chapter_is_complete(doc):
    """A chapter has exercises with solutions, figures, a widget, a citation block and a notebook download."""
    html = built_page(doc).read_text(encoding="utf8")
    assert len(re.findall(r'class="[^"]*\bexercise\b', html)) >= 3, f"{doc}: fewer than 3 exercises"
    assert len(re.findall(r'class="[^"]*\bsolution\b', html)) >= 3, f"{doc}: fewer than 3 solutions"
    assert "<img" in html, f"{doc}: no figure"
    assert PLAYER_MARKER in html, f"{doc}: no interactive figure (an Explorer's static player)"
    assert 'id="cite-this-chapter"' in html, f"{doc}: no 'Cite this chapter' block"
    ipynb = re.search(r'href="([^"]+\.ipynb)"', html)
    assert ipynb, f"{doc}: no .ipynb download link"
    assert (built_page(doc).parent / ipynb.group(1)).resolve().is_file(), f"{doc}: {ipynb.group(1)} missing"


def test_cite_blocks_carry_each_chapters_title_and_number():
    import yaml

    meta = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for number, doc in enumerate(chapter_docnames(), start=1):
        html = built_page(doc).read_text(encoding="utf8")
        block = html[html.index('id="cite-this-chapter"'):]
        text = re.sub(r"<[^>]+>", "", block)
        assert f"chapter   = {{{number}}}" in text, f"{doc}: chapter number {number} not in its citation"
        assert meta["title"] in text and meta["version"] in text


def test_no_page_holds_a_dead_widget():
    """No widget manager runs in the static book, so a widget output would show as nothing."""
    dead = [p.relative_to(HTML) for p in all_pages() if "application/vnd.jupyter.widget-view+json" in p.read_text()]
    assert not dead, f"pages with ipywidgets outputs that cannot render: {dead}"


def test_pages_load_the_icon_subset_not_the_bundle():
    """Font Awesome's 1.45 MB bundle is replaced by the few icons the theme shows (book/_ext/reader_layout.py)."""
    assert (HTML / "_static" / "icons.js").is_file() and (HTML / "_static" / "icons.css").is_file()
    assert (HTML / "_static" / "icons.js").stat().st_size < 40_000
    for page in all_pages():
        if page.relative_to(HTML).parts[0] == "_static":
            continue  # the theme's template macros, not pages
        html = page.read_text(encoding="utf8")
        if 'http-equiv="Refresh"' in html:
            continue  # the root redirect
        assert "fontawesome.js" not in html, f"{page.relative_to(HTML)} loads the icon bundle"
        assert "icons.js" in html, f"{page.relative_to(HTML)} does not load icons.js"
    assert not (HTML / "_static" / "scripts" / "fontawesome.js").exists()


def test_no_top_bar_with_a_second_search_button():
    html = built_page("book/intro").read_text(encoding="utf8")
    header = re.search(r'<header id="pst-header"[^>]*>(.*?)</header>', html, re.S)
    assert header is None or "search-button" not in header.group(1)


@pytest.mark.parametrize("doc", chapter_docnames())
def test_progress_bars_print_one_line(doc):
    """lstm_lib.widgets.progress prints one final line per run in the static book, not a box per update."""
    html = built_page(doc).read_text(encoding="utf8")
    for block in re.findall(r'<div class="output stream[^"]*">(.*?)</div>', html, re.S):
        text = re.sub(r"<[^>]+>", "", block)
        runs = [m.groups() for m in re.finditer(r"^(.*?):?\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)", text, re.M)]
        for (desc, k, n), (desc2, k2, n2) in zip(runs, runs[1:], strict=False):
            intermediate = desc == desc2 and n == n2 and int(k) < int(n) and int(k2) > int(k)
            assert not intermediate, f"{doc}: progress bar {desc!r} printed intermediate states ({k}/{n}, {k2}/{n2})"


@pytest.mark.parametrize("doc", chapter_docnames())
def test_code_figures_are_vector_where_the_book_style_is_used(doc):
    source = next(ROOT.glob(f"{doc}.md")).read_text(encoding="utf8")
    if "use_book_style()" not in source:
        pytest.skip(f"{doc} does not call use_book_style() yet (chapter convention 5)")
    html = built_page(doc).read_text(encoding="utf8")
    outputs = re.findall(r'<img[^>]+src="([^"]*_images/[^"]+)"', html)
    raster = [src for src in outputs if not src.endswith(".svg")]
    assert outputs and not raster, f"{doc}: figures that are not SVG: {raster}"


def test_wheel_served_and_pdf_offered_when_built():
    wheels = sorted((HTML / "_static" / "wheels").glob("lstm_lib-*.whl"))
    assert len(wheels) == 1, f"the site must serve one lstm_lib wheel, found {wheels}"
    pdf = ROOT / "_build" / "latex" / "lstm-book.pdf"
    html = built_page("book/intro").read_text(encoding="utf8")
    if not pdf.is_file():
        assert "_downloads/lstm-book.pdf" not in html, "the menu links a PDF that was not built"
        pytest.skip("no PDF built (make pdf); make test builds it")
    assert "_downloads/lstm-book.pdf" in html and "window.print()" not in html
    copy = HTML / "_downloads" / "lstm-book.pdf"
    assert copy.is_file() and copy.read_bytes() == pdf.read_bytes(), "the site's PDF is not the one make pdf built"

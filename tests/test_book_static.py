"""The built book, read as files: offline assets, complete chapters, citation blocks, downloads."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from book_site import HTML, ROOT, built_page, chapter_docnames, toc_docnames

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
    assert "new Animation(" in html, f"{doc}: no interactive figure (widget player)"
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

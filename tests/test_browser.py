"""Every page of the built book, opened in headless Chromium from a local HTTP server, at 1280x900 and at
390x844 (a phone), and every chapter in print.

Checks, per page and width: all math is typeset by MathJax and no raw TeX is left in the text; the page
logs no console error and throws no exception; it requests nothing outside the local server; every
image loads and has a real alt text (a caption, not a file hash); every internal link and anchor
resolves; every theme icon is drawn. Displayed equations: at 1280 px none is wider than its box; at
390 px none is wider than its box unless that box is a scroll area that shows it scrolls; in print none
is cut. Chapter pages carry the citation_* meta tags and no local address in their citation. Explorer
players show each slider's label and value, change their frame when a slider moves, and fit a phone's
width. On a phone the navigation opens. A screenshot of every page at both widths goes to
``_build/screenshots/``.

Without a browser the test is skipped with a hint, except under ``CI=true``, where a missing browser is
a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
from book_site import (
    CHROMIUM_FLAGS,
    EQUATIONS_JS,
    HTML,
    MATHJAX_READY_JS,
    ROOT,
    built_page,
    chapter_docnames,
    equation_problems,
    serve,
    toc_docnames,
)

SCREENSHOTS = ROOT / "_build" / "screenshots"
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\frac\{|\\vec\{|\\mathbf\{")
WIDTHS = {1280: 900, 390: 844}
LOCAL = re.compile(r"(127\.0\.0\.1|localhost|file:|0\.0\.0\.0)", re.I)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    exe = find_chromium()
    if exe is None:
        msg = "no Chromium found; install it with `sudo apt-get install chromium` (Debian/Ubuntu) to run this test"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: a missing browser is a failure)")
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    built_page("book/intro")
    with serve(HTML) as base:
        yield base


# Page text with code, math output and scripts removed: what must hold no raw TeX.
VISIBLE_TEXT_JS = """() => {
  const clone = document.querySelector('main, article, body').cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, textarea, .highlight, .cell_output, '
                         + '.cite-chapter').forEach(e => e.remove());
  return clone.innerText;
}"""

PAGE_FACTS_JS = """() => ({
  mathSources: document.querySelectorAll('.math, div.math, span.math').length,
  typeset: document.querySelectorAll('mjx-container').length,
  mathErrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
  brokenImages: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  badAlt: Array.from(document.querySelectorAll('article img')).map(i => i.getAttribute('alt') || '')
    .filter(a => !a.trim() || /^[0-9a-f]{16,}|\\/[0-9a-f]{16,}\\.\\w+$/.test(a)),
  undrawnIcons: Array.from(document.querySelectorAll("i[class*='fa-'], span[class*='fa-']"))
    .filter(e => !e.querySelector('svg') && /\\bfa-(?!solid|regular|brands|lg|fw)[a-z-]+/.test(e.className))
    .map(e => e.className),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
    .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name)),
  meta: Array.from(document.querySelectorAll('meta[name^="citation_"]')).map(m => [m.name, m.content]),
  cite: Array.from(document.querySelectorAll('.cite-chapter')).map(e => e.innerText).join('\\n'),
  players: Array.from(document.querySelectorAll('[data-lstm-player]')).map(p => ({
    labels: Array.from(p.querySelectorAll('.lstm-player-label')).map(l => l.innerText.trim()),
    sliders: Array.from(p.querySelectorAll('input[type=range]')).filter(r => !r.hidden).length,
    imgWidth: p.querySelector('img').getBoundingClientRect().width,
    boxWidth: p.getBoundingClientRect().width,
    right: p.querySelector('img').getBoundingClientRect().right,
  })),
  viewport: window.innerWidth,
})"""

MOVE_SLIDERS_JS = """() => Array.from(document.querySelectorAll('[data-lstm-player]')).map(p => {
  const img = p.querySelector('img'), before = img.src;
  const r = p.querySelector('input[type=range]');
  r.value = (+r.value === 0) ? 1 : 0;
  r.dispatchEvent(new Event('input'));
  return {changed: img.src !== before, value: p.querySelector('output').textContent};
})"""


def _load(browser, url: str, width: int, origin: str, errors: list[str], media: str | None = None):
    page = browser.new_page(viewport={"width": width, "height": WIDTHS.get(width, 1123)})
    if media:
        page.emulate_media(media=media)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if urlparse(r.url).scheme in ("data", "blob")
            or urlparse(r.url).netloc == origin else errors.append(f"remote request {r.url}"))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None)
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        errors.append(f"HTTP {response.status if response else 'no response'}")
        return page, False
    page.wait_for_function(MATHJAX_READY_JS, timeout=60_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : true")
    page.wait_for_timeout(200)
    return page, True


@pytest.fixture(scope="module")
def visits(browser, server):
    """Every page at both widths (and every chapter in print): the facts the tests below check."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    origin = urlparse(server).netloc
    chapters = set(chapter_docnames())
    out = {}
    for doc in toc_docnames():
        url = urljoin(server, f"{doc}.html")
        for width in WIDTHS:
            errors: list[str] = []
            page, ok = _load(browser, url, width, origin, errors)
            facts = {"errors": errors, "ok": ok, "url": url}
            if ok:
                facts.update(page.evaluate(PAGE_FACTS_JS))
                facts["text"] = page.evaluate(VISIBLE_TEXT_JS)
                facts["equations"] = page.evaluate(EQUATIONS_JS)
                page.screenshot(path=str(SCREENSHOTS / f"{doc.replace('/', '__')}__{width}.png"))
                if facts["players"]:
                    facts["moved"] = page.evaluate(MOVE_SLIDERS_JS)
                if width == 390:
                    facts["nav_opens"] = _navigation_opens(page)
            page.close()
            out[(doc, width)] = facts
        if doc in chapters:
            errors = []
            page, ok = _load(browser, url, 794, origin, errors, media="print")
            out[(doc, "print")] = {"errors": errors, "ok": ok,
                                   "equations": page.evaluate(EQUATIONS_JS) if ok else []}
            page.close()
    return out


def _navigation_opens(page) -> bool:
    toggles = [t for t in page.query_selector_all(".primary-toggle") if t.is_visible()]
    if not toggles:
        return False
    toggles[0].click()
    page.wait_for_timeout(300)
    opened = page.evaluate("() => !!document.querySelector('#pst-primary-sidebar-modal[open]')")
    page.keyboard.press("Escape")
    return opened


def test_every_page_loads_cleanly(visits):
    problems = []
    for (doc, width), f in visits.items():
        if width == "print":
            continue
        where = f"{doc} @{width}"
        problems += [f"{where}: {e}" for e in f["errors"]]
        if not f["ok"]:
            continue
        if f["mathSources"] and f["typeset"] < f["mathSources"]:
            problems.append(f"{where}: {f['mathSources']} math blocks but {f['typeset']} typeset by MathJax")
        if f["mathErrors"]:
            problems.append(f"{where}: {f['mathErrors']} MathJax errors")
        raw = RAW_TEX.search(f["text"])
        if raw:
            context = f["text"][max(0, raw.start() - 60): raw.end() + 60].replace("\n", " ")
            problems.append(f"{where}: raw TeX left in the text: ...{context}...")
        problems += [f"{where}: image does not load: {src}" for src in f["brokenImages"]]
        problems += [f"{where}: image without a real alt text: {alt!r}" for alt in f["badAlt"]]
        problems += [f"{where}: icon not drawn: {c}" for c in f["undrawnIcons"]]
    assert not problems, "\n".join(problems)


def test_internal_links_and_anchors_resolve(visits, server):
    origin = urlparse(server).netloc
    ids_by_page = {urldefrag(f["url"]).url: set(f["ids"]) for (d, w), f in visits.items() if w == 1280 and f["ok"]}
    links = [(d, h) for (d, w), f in visits.items() if w == 1280 and f["ok"] for h in f["links"]
             if urlparse(h).netloc == origin]
    problems = _broken_links(links, ids_by_page)
    assert not problems, "\n".join(problems)


def test_displayed_equations_fit(visits):
    """1280 px: no displayed equation wider than its box. 390 px: unless in a visible scroll area. Print: none."""
    problems = []
    for (doc, width), f in visits.items():
        allow_scroll = width == 390
        for e in equation_problems(f.get("equations", []), allow_scroll):
            problems.append(f"{doc} @{width}: equation {e['number'] or repr(e['tex'][:60])} is "
                            f"{e['contentWidth']} px in a {e['boxWidth']} px box ({e['section']})")
    assert not problems, (f"{len(problems)} displayed equations do not fit (list them with "
                          f"`python tests/book_site.py`):\n" + "\n".join(problems))


def test_long_equations_on_a_phone_scroll_visibly(visits):
    """Where an equation is wider than a phone's column, its box scrolls and shows it (scrollbar or shadow)."""
    problems = []
    for (doc, width), f in visits.items():
        if width != 390:
            continue
        for e in f.get("equations", []):
            if e["contentWidth"] > e["boxWidth"] + 1 and not (e["scrollArea"] and e["visibleCue"]):
                problems.append(f"{doc}: equation {e['number'] or e['index']} is cut without a visible scroll area")
    assert not problems, "\n".join(problems)


def test_chapters_carry_citation_metadata_and_no_local_address(visits):
    problems = []
    for doc in chapter_docnames():
        f = visits[(doc, 1280)]
        names = {n for n, _ in f["meta"]}
        for needed in ("citation_title", "citation_author", "citation_inbook_title", "citation_publication_date"):
            if needed not in names:
                problems.append(f"{doc}: no {needed} meta tag")
        if LOCAL.search(f["cite"]) or any(LOCAL.search(c) for _, c in f["meta"]):
            problems.append(f"{doc}: a local address in the citation")
        if "@incollection" not in f["cite"]:
            problems.append(f"{doc}: no BibTeX entry in the cite block")
    assert not problems, "\n".join(problems)


def test_explorer_players_are_labelled_move_and_fit(visits):
    problems, players = [], 0
    for (doc, width), f in visits.items():
        for i, p in enumerate(f.get("players", [])):
            players += 1
            if p["sliders"] < 1 or len(p["labels"]) != p["sliders"]:
                problems.append(f"{doc} @{width}: player {i} has {p['sliders']} sliders and labels {p['labels']}")
            if not all(re.search(r"=\s*\S", label) for label in p["labels"]):
                problems.append(f"{doc} @{width}: player {i} does not show its values: {p['labels']}")
            if p["right"] > f["viewport"] + 1 or p["imgWidth"] > p["boxWidth"] + 1:
                problems.append(f"{doc} @{width}: player {i}'s figure is cut at the right")
        for i, m in enumerate(f.get("moved", [])):
            if not m["changed"]:
                problems.append(f"{doc} @{width}: moving player {i}'s slider does not change its frame")
    assert players, "no explorer player found in the book"
    assert not problems, "\n".join(problems)


def test_navigation_opens_on_a_phone(visits):
    closed = [doc for (doc, width), f in visits.items() if width == 390 and f["ok"] and not f.get("nav_opens")]
    assert not closed, f"the navigation button does not open the table of contents on: {closed}"


def test_one_search_box_on_the_search_page(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(urljoin(server, "search.html"), wait_until="load")
    visible = page.evaluate("""() => Array.from(document.querySelectorAll(
        'input[type=search], input[name=q], .search-button-field')).filter(e => {
          const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
          return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !e.closest('dialog:not([open])');
        }).length""")
    header = page.evaluate("() => { const h = document.querySelector('.bd-header'); "
                           "return h ? h.getBoundingClientRect().height : 0; }")
    page.close()
    assert visible == 1, f"{visible} search boxes on the search page"
    assert header == 0, f"a {header} px top bar"


def _broken_links(links, ids_by_page) -> list[str]:
    """Internal links must reach a file, and a #fragment an element of the target page."""
    problems = []
    for doc, href in links:
        target, fragment = urldefrag(href)
        path = HTML / unquote(urlparse(target).path.lstrip("/"))
        if urlparse(target).path.endswith("/"):
            path = path / "index.html"
        if not path.exists():
            problems.append(f"{doc}: link to a missing file: {href}")
            continue
        if fragment and path.suffix == ".html":
            ids = ids_by_page.get(target)
            if ids is None:  # a page outside the table of contents (genindex, search): read its ids
                ids = set(re.findall(r'\sid="([^"]+)"', path.read_text(encoding="utf8")))
                ids_by_page[target] = ids
            if unquote(fragment) not in ids:
                problems.append(f"{doc}: link to a missing anchor: {href}")
    return sorted(set(problems))

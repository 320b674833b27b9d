"""Every page of the built book, opened in headless Chromium from a local HTTP server.

Checks, per page: all math is typeset by MathJax and no raw TeX is left in the text; the
page logs no console error and throws no exception; it requests nothing outside the local
server; every image loads; every internal link and anchor resolves. One screenshot per
page goes to ``_build/screenshots/``.

Without a browser the test is skipped with a hint, except under ``CI=true``, where a missing
browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
from book_site import HTML, ROOT, built_page, toc_docnames

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\frac\{|\\vec\{|\\mathbf\{")


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
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# Sphinx adds MathJax only to pages with math; where it is there, wait until it has typeset.
MATHJAX_READY_JS = """() => !document.querySelector('script[src*="mathjax"]')
  || (window.MathJax && MathJax.startup && MathJax.startup.promise)"""

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
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
    .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name)),
})"""


def test_every_page_in_a_real_browser(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    origin = urlparse(server).netloc
    problems: list[str] = []
    ids_by_page: dict[str, set[str]] = {}
    links: list[tuple[str, str]] = []

    for doc in toc_docnames():
        url = urljoin(server, f"{doc}.html")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.on("request", lambda r, errors=errors: None if urlparse(r.url).scheme in ("data", "blob")
                or urlparse(r.url).netloc == origin else errors.append(f"remote request {r.url}"))
        page.on("response", lambda r, errors=errors: errors.append(f"HTTP {r.status} for {r.url}")
                if r.status >= 400 else None)
        response = page.goto(url, wait_until="load")
        if response is None or response.status != 200:
            problems.append(f"{doc}: HTTP {response.status if response else 'no response'}")
            page.close()
            continue
        page.wait_for_function(MATHJAX_READY_JS, timeout=30_000)
        page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : true")
        page.wait_for_timeout(200)
        facts = page.evaluate(PAGE_FACTS_JS)
        text = page.evaluate(VISIBLE_TEXT_JS)
        page.screenshot(path=str(SCREENSHOTS / f"{doc.replace('/', '__')}.png"))
        page.close()

        if facts["mathSources"] and facts["typeset"] < facts["mathSources"]:
            problems.append(f"{doc}: {facts['mathSources']} math blocks but {facts['typeset']} typeset by MathJax")
        if facts["mathErrors"]:
            problems.append(f"{doc}: {facts['mathErrors']} MathJax errors")
        raw = RAW_TEX.search(text)
        if raw:
            context = text[max(0, raw.start() - 60): raw.end() + 60].replace("\n", " ")
            problems.append(f"{doc}: raw TeX left in the text: ...{context}...")
        problems += [f"{doc}: console: {e}" for e in errors]
        problems += [f"{doc}: image does not load: {src}" for src in facts["brokenImages"]]
        ids_by_page[urldefrag(url).url] = set(facts["ids"])
        links += [(doc, href) for href in facts["links"] if urlparse(href).netloc == origin]

    problems += _broken_links(links, ids_by_page, server)
    assert not problems, "\n".join(problems)


def _broken_links(links, ids_by_page, server) -> list[str]:
    """Internal links must reach a file, and a #fragment an element of the target page."""
    problems = []
    for doc, href in links:
        target, fragment = urldefrag(href)
        path = HTML / urlparse(target).path.lstrip("/")
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


"""Helpers shared by the tests of the built book: where it is, which pages it has."""

from __future__ import annotations

import contextlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def toc_docnames() -> list[str]:
    """Every document in the table of contents, in reading order (e.g. 'book/intro')."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc.get("parts", []):
        names += [c["file"] for c in part.get("chapters", [])]
    return names


def chapter_docnames() -> list[str]:
    """The numbered chapters: every document in a numbered part."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for p in toc.get("parts", []) if p.get("numbered") for c in p.get("chapters", [])]


def built_page(docname: str) -> Path:
    page = HTML / f"{docname}.html"
    if not page.is_file():
        raise AssertionError(f"{page} is missing: run `make book` first (make test does)")
    return page


# --------------------------------------------------------------------------- reading the site in a browser

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}

# Sphinx adds MathJax only to pages with math; where it is there, wait until it has typeset.
MATHJAX_READY_JS = """() => !document.querySelector('script[src*="mathjax"]')
  || (window.MathJax && MathJax.startup && MathJax.startup.promise)"""

# Every displayed equation: its content width, the width of the box that clips it (the nearest
# ancestor, or itself, whose overflow is not visible), and whether that box is a scroll area whose
# overflow the reader can see (a scrollbar or the shadow that book.css draws at a scrollable edge).
EQUATIONS_JS = """() => Array.from(document.querySelectorAll('mjx-container[display="true"]')).map((c, i) => {
  const inner = c.querySelector(':scope > svg, :scope > mjx-math') || c;
  const contentWidth = Math.max(inner.getBoundingClientRect().width, c.scrollWidth,
                                inner.scrollWidth || 0);
  let box = c, scroll = false;
  for (let e = c; e && e !== document.body; e = e.parentElement) {
    const s = getComputedStyle(e);
    if (s.overflowX !== 'visible') { box = e; scroll = ['auto', 'scroll'].includes(s.overflowX); break; }
  }
  const boxWidth = box.clientWidth;
  // the reader sees that it scrolls: a scrollbar that takes room, or book.js's shadow on a side
  const cue = scroll && (box.offsetHeight - box.clientHeight > 0
                         || box.classList.contains('scroll-right') || box.classList.contains('scroll-left'));
  const eqno = c.closest('.math, div.math') && c.closest('.math, div.math').querySelector('.eqno');
  let number = eqno ? eqno.textContent.replace(/[#\u00b6]/g, '').trim() : '';
  let tex = '';
  try { const items = MathJax.startup.document.getMathItemsWithin(c); tex = items.length ? items[0].math : ''; }
  catch (err) { tex = ''; }
  if (!number) { const m = (c.getAttribute('aria-label') || c.textContent || '').match(/\\((\\d+(\\.\\d+)*)\\)\\s*$/);
                 number = m ? '(' + m[1] + ')' : ''; }
  const parent = c.closest('div.math');
  const id = parent ? (parent.id || (parent.querySelector('[id]') || {}).id || '') : '';
  const section = c.closest('section');
  return {index: i, number: number, id: id, section: section ? section.id : '',
          contentWidth: Math.round(contentWidth), boxWidth: Math.round(boxWidth),
          scrollArea: scroll, visibleCue: cue, tex: tex.replace(/\\s+/g, ' ').trim().slice(0, 70)};
})"""


def equation_problems(equations: list[dict], allow_scroll: bool) -> list[dict]:
    """The equations wider than their clipping box; with ``allow_scroll``, unless that box is a visible scroll area."""
    return [e for e in equations
            if e["contentWidth"] > e["boxWidth"] + 1 and not (allow_scroll and e["scrollArea"] and e["visibleCue"])]


@contextlib.contextmanager
def serve(directory: Path = HTML):
    """A local HTTP server over a built site: ``with serve(HTML) as base: ...`` (base ends with /)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def open_page(browser, url: str, width: int, height: int, media: str | None = None):
    page = browser.new_page(viewport={"width": width, "height": height})
    if media:
        page.emulate_media(media=media)
    page.goto(url, wait_until="load")
    page.wait_for_function(MATHJAX_READY_JS, timeout=60_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : true")
    page.wait_for_timeout(150)
    return page


def overflowing_equations(html_dir: Path = HTML, docs: list[str] | None = None) -> list[dict]:
    """Every displayed equation that does not fit: at 1280 px wider than its box (scrolling or not), at
    390 px wider than its box and not in a visible scroll area, and in print (A4-wide page) wider than
    its box. One dict per equation: page, view, number, id, section, widths."""
    import shutil as _shutil

    from playwright.sync_api import sync_playwright

    exe = next((p for p in (_shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if exe is None:
        raise RuntimeError("no Chromium found (apt-get install chromium)")
    docs = docs or toc_docnames()
    rows = []
    views = [("1280", 1280, 900, None, False), ("390", 390, 844, None, True), ("print", 794, 1123, "print", False)]
    with serve(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS, headless=True)
        for doc in docs:
            for view, w, h, media, allow_scroll in views:
                page = open_page(browser, f"{base}{doc}.html", w, h, media)
                eqs = page.evaluate(EQUATIONS_JS)
                page.close()
                for e in equation_problems(eqs, allow_scroll):
                    rows.append({"page": doc, "view": view, **e})
        browser.close()
    return rows


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="List the displayed equations that do not fit their column.")
    parser.add_argument("--html", type=Path, default=HTML, help="the built site (default: _build/html)")
    parser.add_argument("docs", nargs="*", help="pages, e.g. book/rnn_training (default: all)")
    args = parser.parse_args(argv)
    rows = overflowing_equations(args.html, args.docs or None)
    print(f"{'page':26} {'view':6} {'number':8} {'content px':>10} {'box px':>7}  section: TeX (unnumbered)")
    for r in rows:
        tex = "" if r["number"] else r["tex"]
        print(f"{r['page']:26} {r['view']:6} {r['number'] or '-':8} {r['contentWidth']:>10} {r['boxWidth']:>7}  "
              f"{r['section']}: {tex}")
    print(f"{len(rows)} overflowing displayed equations")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))


COLD_LOAD_JS_CATEGORIES = (
    ("mathjax", lambda u: "mathjax" in u),
    ("icons", lambda u: "fontawesome" in u or "/webfonts/" in u or "fa-" in u.rsplit("/", 1)[-1]),
    ("fonts", lambda u: u.split("?")[0].endswith((".woff", ".woff2", ".ttf", ".otf"))),
    ("scripts", lambda u: u.split("?")[0].endswith(".js")),
    ("styles", lambda u: u.split("?")[0].endswith(".css")),
    ("images", lambda u: u.split("?")[0].endswith((".png", ".svg", ".jpg", ".jpeg", ".gif", ".ico"))),
    ("html", lambda u: True),
)


def cold_load(browser, base: str, doc: str, width: int = 1280, height: int = 900) -> dict:
    """Bytes a first visit to ``doc`` transfers (a fresh browser context, no cache), by kind."""
    context = browser.new_context(viewport={"width": width, "height": height})
    sizes: dict[str, int] = {}

    def on_response(response):
        try:
            n = len(response.body())
        except Exception:  # redirects and aborted requests have no body
            return
        kind = next(k for k, test in COLD_LOAD_JS_CATEGORIES if test(response.url))
        sizes[kind] = sizes.get(kind, 0) + n

    page = context.new_page()
    page.on("response", on_response)
    page.goto(f"{base}{doc}.html", wait_until="load")
    page.wait_for_function(MATHJAX_READY_JS, timeout=60_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : true")
    page.wait_for_timeout(300)
    context.close()
    sizes["total"] = sum(sizes.values())
    return sizes

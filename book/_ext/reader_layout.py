"""How a page looks and what it loads: one search button, a wide column, icons without 1.5 MB of font.

* **Header.** pydata-sphinx-theme puts a 64 px top bar on every page that holds only a second search
  button (sphinx-book-theme's article header has search, the sidebar toggles and the colour
  switch). Its template is replaced by an empty one (``templates/sections/header.html``), which
  also lets the theme's JavaScript hook the toggles that are visible, so the navigation opens on a
  phone. On the search page, the page's own search box is the only one (``book.css``).
* **Column.** ``book.css`` folds the right-hand "Contents" sidebar into the article header's
  toggle below 1500 px, so chapter pages get the whole width for text and equations.
* **Icons.** The theme loads Font Awesome's whole SVG+JS bundle (1.45 MB) and, through CSS icons,
  its 153 kB web font. This extension serves instead ``icons.js`` (the few icons the theme shows,
  drawn as inline SVG; about 10 kB) and ``icons.css`` (the CSS icons - admonition titles,
  breadcrumbs, link markers - as SVG masks), both generated from the theme's own Font Awesome
  bundle, and drops the bundle from every page. A page that asks for an icon outside the subset
  is a build warning, so the strict build fails instead of showing a blank.
* **Alt text.** Every image in a figure gets the figure's caption as its ``alt`` (MyST-NB leaves
  the file name, a hash), and the static player of an explorer in a figure gets the caption too.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent

# Icons the theme's templates use (pydata-sphinx-theme, sphinx-book-theme, with their aliases).
ICONS = {
    "fas": ["bars", "list", "outdent", "indent", "magnifying-glass", "xmark", "download", "expand", "compress",
            "file-pdf", "code", "file", "rocket", "sun", "moon", "circle-half-stroke", "arrow-up", "chevron-down",
            "chevron-right", "chevron-left", "angle-left", "angle-right", "angle-down", "pencil", "lightbulb",
            "list-ul", "book", "copy", "check", "arrow-up-right-from-square", "magnifying-glass-minus",
            "circle-info", "circle-exclamation", "triangle-exclamation", "circle-xmark", "bell", "share",
            "circle-check"],
    "far": ["file", "copy", "lightbulb"],
    "fab": ["github", "gitlab", "python"],
}
STYLE_TOKENS = {"fa": "fas", "fas": "fas", "fa-solid": "fas", "far": "far", "fa-regular": "far",
                "fab": "fab", "fa-brands": "fab"}
MODIFIERS = re.compile(r"^fa-(fw|lg|xs|sm|xl|[1-9]?\d?x|spin|pulse|border|inverse|flip.*|rotate.*|stack.*|ul|li|"
                       r"solid|regular|brands|classic|sharp|beat|fade|bounce|shake)$")

# The CSS icons (pseudo-elements that pydata-sphinx-theme draws with the web font) -> icon names.
CSS_ICONS = [
    (".admonition>.admonition-title:after, div.admonition>.admonition-title:after", "bell"),
    (".admonition.note>.admonition-title:after, div.admonition.note>.admonition-title:after", "circle-info"),
    (".admonition.tip>.admonition-title:after, .admonition.hint>.admonition-title:after", "lightbulb"),
    (".admonition.important>.admonition-title:after, .admonition.attention>.admonition-title:after",
     "circle-exclamation"),
    (".admonition.warning>.admonition-title:after, .admonition.caution>.admonition-title:after, "
     ".admonition.danger>.admonition-title:after", "triangle-exclamation"),
    (".admonition.error>.admonition-title:after", "circle-xmark"),
    (".admonition.seealso>.admonition-title:after", "share"),
    ("ul.bd-breadcrumbs li.breadcrumb-item:not(.breadcrumb-home):before", "angle-right"),
    (".nav-link.nav-external:after, nav.bd-links li>a.reference.external:after", "arrow-up-right-from-square"),
    ("a.reference.download:before", "download"),
    ("div#searchbox p.highlight-link a:before", "magnifying-glass-minus"),
    (".bd-sidebar-secondary.hide:not(:hover) .onthispage:after", "angle-down"),
]


def fontawesome_source() -> Path:
    import pydata_sphinx_theme

    path = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / "scripts"
    path = path / "fontawesome.js"
    if not path.is_file():
        raise ExtensionError(f"reader_layout: expected Font Awesome's bundle at {path}")
    return path


ENTRY = re.compile(r'(?:"([^"]+)"|([A-Za-z0-9_$]+)):\[(\d+),(\d+),\[([^\]]*)\],"[^"]*",("(?:[^"\\]|\\.)*")\]')


def parse_fontawesome(text: str) -> dict[str, dict[str, tuple[int, int, str]]]:
    """Font Awesome's bundle -> {style: {icon name or alias: (width, height, path)}}."""
    packs: dict[str, dict] = {}
    for m in re.finditer(r"var p=\{", text):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        body = text[m.end() - 1: i]
        style = re.search(r'd\("(fas|far|fab)",p\)', text[i: i + 20000])
        if not style:
            continue
        icons = {}
        for e in ENTRY.finditer(body):
            name = e.group(1) or e.group(2)
            value = (int(e.group(3)), int(e.group(4)), json.loads(e.group(6)))
            icons[name] = value
            for alias in re.findall(r'"([^"]+)"', e.group(5)):
                icons.setdefault(alias, value)
        packs[style.group(1)] = icons
    if set(packs) != {"fas", "far", "fab"}:
        raise ExtensionError(f"reader_layout: could not read Font Awesome's icon packs (found {sorted(packs)})")
    return packs


def icon_subset(packs) -> dict:
    subset = {}
    for style, names in ICONS.items():
        subset[style] = {}
        for name in names:
            if name not in packs[style]:
                raise ExtensionError(f"reader_layout: Font Awesome has no {style} icon {name!r}")
            subset[style][name] = packs[style][name]
    return subset


ICONS_JS = """/* The theme's icons as inline SVG: the few Font Awesome 6 Free icons this book shows
   (generated by book/_ext/reader_layout.py from the theme's bundle; Font Awesome Free, CC BY 4.0). */
(function () {
  var I = %(icons)s;
  var STYLE = {"fa": "fas", "fas": "fas", "fa-solid": "fas", "far": "far", "fa-regular": "far",
               "fab": "fab", "fa-brands": "fab"};
  function draw(el) {
    if (el.getAttribute("data-icon-drawn")) return;
    var style = "fas", name = null, cls = el.classList;
    for (var k = 0; k < cls.length; k++) { if (STYLE[cls[k]]) style = STYLE[cls[k]]; }
    for (var k = 0; k < cls.length; k++) {
      var c = cls[k];
      if (c.indexOf("fa-") === 0 && I[style][c.slice(3)]) name = c.slice(3);
    }
    if (!name) return;
    var d = I[style][name];
    el.setAttribute("data-icon-drawn", name);
    el.innerHTML = '<svg class="svg-inline--fa" aria-hidden="true" focusable="false" role="img" '
      + 'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ' + d[0] + ' ' + d[1] + '"><path fill="currentColor" d="'
      + d[2] + '"></path></svg>';
  }
  function all(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(
      "i[class*='fa-'], span[class*='fa-'], i.fa, i.fas, i.far, i.fab, span.fa").forEach(draw);
  }
  function start() {
    all(document);
    new MutationObserver(function (records) {
      records.forEach(function (r) { r.addedNodes.forEach(function (n) { if (n.nodeType === 1) {
        if (n.matches && n.matches("[class*='fa-']")) draw(n); all(n); } }); });
    }).observe(document.documentElement, {childList: true, subtree: true});
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
"""

ICONS_CSS_HEAD = """/* Icons without the Font Awesome web font (generated by book/_ext/reader_layout.py). */
.svg-inline--fa { display: inline-block; height: 1em; overflow: visible; vertical-align: -0.125em; }
.fa-lg > .svg-inline--fa { height: 1.25em; vertical-align: -0.2em; }
.fa-fw > .svg-inline--fa { width: 1.25em; }
/* The glyphs the web font would draw: none (icons.js draws the SVG). */
.fa::before, .fas::before, .far::before, .fab::before, .fa-solid::before, .fa-regular::before,
.fa-brands::before, [data-icon-drawn]::before { content: none !important; }
.fa, .fas, .far, .fab, .fa-solid, .fa-regular, .fa-brands { font-family: inherit !important; }
"""


def _mask(width: int, height: int, path: str) -> str:
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}'>"
           f"<path d='{path}'/></svg>")
    return "url(\"data:image/svg+xml," + svg.replace("#", "%23").replace('"', "'") + "\")"


def icons_css(packs) -> str:
    rules = [ICONS_CSS_HEAD]
    for selector, name in CSS_ICONS:
        w, h, path = packs["fas"][name]
        mask = _mask(w, h, path)
        rules.append(
            f"{selector} {{ font: inherit !important; content: \"\" !important; display: inline-block; "
            f"width: 1em; height: 1em; vertical-align: -0.125em; background-color: currentColor; "
            f"-webkit-mask: {mask} center / contain no-repeat; mask: {mask} center / contain no-repeat; }}"
        )
    return "\n".join(rules) + "\n"


def stage_icons(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    packs = parse_fontawesome(fontawesome_source().read_text(encoding="utf8"))
    subset = icon_subset(packs)
    staging = Path(app.outdir).parent / "icons_static"
    staging.mkdir(parents=True, exist_ok=True)
    compact = {s: {n: [w, h, p] for n, (w, h, p) in icons.items()} for s, icons in subset.items()}
    (staging / "icons.js").write_text(ICONS_JS % {"icons": json.dumps(compact, separators=(",", ":"))})
    (staging / "icons.css").write_text(icons_css(packs))
    app.config.html_static_path.append(str(staging))
    app._icon_names = {s: set(v) for s, v in subset.items()}


def _is_fontawesome(asset) -> bool:
    return "fontawesome" in str(getattr(asset, "filename", None) or asset)


def swap_icon_assets(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_fontawesome(s)]


FONTAWESOME_TAG = re.compile(r'\s*<(?:script|link)\b[^>]*scripts/fontawesome\.js[^>]*>(?:</script>)?')
ICON_CLASS = re.compile(r'<(?:i|span)\s[^>]*class="([^"]*\bfa[a-z-]*\b[^"]*)"')


def check_icons(app: Sphinx, exception) -> None:
    """Every icon a built page asks for is in the subset; the bundle's files are left out of the site."""
    if exception is not None or app.builder.format != "html":
        return
    names = getattr(app, "_icon_names", None)
    if names is None:
        return
    missing = set()
    for page in Path(app.outdir).rglob("*.html"):
        if page.relative_to(app.outdir).parts[0] == "_static":
            continue
        text = page.read_text(encoding="utf8", errors="replace")
        # The theme's template loads the bundle outside script_files: take its tags out of the written page.
        stripped = FONTAWESOME_TAG.sub("", text)
        if stripped != text:
            page.write_text(stripped, encoding="utf8")
        for classes in ICON_CLASS.findall(stripped):
            tokens = classes.split()
            style = next((STYLE_TOKENS[t] for t in tokens if t in STYLE_TOKENS), None)
            if style is None:
                continue
            for t in tokens:
                if t.startswith("fa-") and t not in STYLE_TOKENS and not MODIFIERS.match(t):
                    if t[3:] not in names[style]:
                        missing.add(f"{page.relative_to(app.outdir)}: {style} {t}")
    for m in sorted(missing):
        logger.warning(f"reader_layout: icon not in the served subset (add it to ICONS): {m}")
    for name in ("fontawesome.js", "fontawesome.js.map", "fontawesome.js.LICENSE.txt"):
        path = Path(app.outdir) / "_static" / "scripts" / name
        if path.exists():
            path.unlink()


# --------------------------------------------------------------------------- alt text


HASHY = re.compile(r"^[0-9a-f]{16,}.*$|.*/[0-9a-f]{16,}\.\w+$")


def captions_as_alt(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for figure in doctree.findall(nodes.figure):
        captions = [c for c in figure.findall(nodes.caption)]
        if not captions:
            continue
        text = " ".join(captions[0].astext().split())
        for image in figure.findall(nodes.image):
            alt = image.get("alt", "")
            if not alt or alt == image.get("uri") or HASHY.match(alt):
                image["alt"] = text
        for raw in figure.findall(nodes.raw):
            if "data-lstm-player" in raw.astext():
                alt = html.escape(text)
                new = re.sub(r'alt="Figure at ([^"]*)"', lambda m, a=alt: f'alt="{a} (shown at {m.group(1)})"',
                             raw.astext(), count=1)
                raw.children = [nodes.Text(new)]
    for image in doctree.findall(nodes.image):
        alt = image.get("alt", "")
        if not alt or alt == image.get("uri") or HASHY.match(alt):
            image["alt"] = "Figure without a caption"


def empty_header(app: Sphinx, config) -> None:
    config.templates_path.insert(0, str(HERE / "templates"))
    options = config.html_theme_options
    options["navbar_persistent"] = []


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", empty_header)
    app.connect("builder-inited", stage_icons)
    app.connect("html-page-context", swap_icon_assets, priority=900)
    app.connect("doctree-resolved", captions_as_alt)
    app.connect("build-finished", check_icons)
    app.add_js_file("icons.js", priority=200)
    app.add_css_file("icons.css", priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""What the built pages load: everything from the site itself, nothing from a CDN.

* MathJax: Sphinx loads it from a CDN by default. We copy MathJax 3's self-contained SVG
  build (``tex-svg.js``, from the ``django-static-mathjax`` package that
  ``requirements.txt`` installs) into ``_static/mathjax/`` and point ``mathjax_path`` at it.
* Thebe (live code in the page through a remote Binder kernel) loads its library from a
  CDN and is not used by this book, so its scripts are removed from every page. Readers
  who want a live kernel download the notebook or use the launch buttons.
* The theme's colour mode gets a valid default ("auto"), which Jupyter Book leaves empty.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

MATHJAX_FILE = "tex-svg.js"


def mathjax_source() -> Path:
    try:
        import mathjax  # the django-static-mathjax distribution
    except ImportError as err:  # pragma: no cover - requirements.txt installs it
        raise ExtensionError("offline_assets: django-static-mathjax is not installed (see requirements.txt)") from err
    path = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / MATHJAX_FILE
    if not path.is_file():
        raise ExtensionError(f"offline_assets: expected MathJax at {path}")
    return path


def stage_mathjax(app: Sphinx) -> None:
    staging = Path(app.doctreedir).parent / "offline_static"
    target = staging / "mathjax" / MATHJAX_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    src = mathjax_source()
    if not target.exists() or target.stat().st_size != src.stat().st_size:
        shutil.copyfile(src, target)
    app.config.html_static_path.append(str(staging))


def _is_thebe(script) -> bool:
    name = getattr(script, "filename", None) or str(script)
    body = getattr(script, "attributes", {}).get("body", "")
    return "thebe" in str(name).lower() or "THEBE_JS_URL" in body


def drop_thebe(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]
    if "css_files" in context:
        context["css_files"] = [c for c in context["css_files"] if "thebe" not in str(getattr(c, "filename", c))]


def default_theme_mode(app: Sphinx, config) -> None:
    # pydata-sphinx-theme reads the default colour mode from the page context.
    if not config.html_context.get("default_mode"):
        config.html_context["default_mode"] = "auto"


def setup(app: Sphinx) -> dict:
    app.config.mathjax_path = f"mathjax/{MATHJAX_FILE}"
    app.connect("config-inited", default_theme_mode)
    app.connect("builder-inited", stage_mathjax)
    app.connect("html-page-context", drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

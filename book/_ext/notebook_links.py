"""What a reader can take away from a page: a notebook that runs anywhere, lstm_lib's wheel, the PDF.

* **lstm_lib's wheel.** At ``builder-inited`` the HTML build builds lstm_lib's wheel (``pip wheel
  --no-deps --no-build-isolation`` on a copy of the package, so the checkout stays clean) and serves
  it as ``_static/wheels/lstm_lib-<version>-py3-none-any.whl``; it is rebuilt only when lstm_lib's
  sources change.
* **The chapter notebooks.** Every notebook page offers its executed notebook in the download
  menu, exported by :mod:`notebook_export`: a first cell that installs lstm_lib when it is missing
  (from the book's site, CITATION.cff ``url`` or the environment variable ``LSTM_BOOK_URL``, else
  the repository), plain Markdown with references resolved against the built book, exercises as
  headed sections and solutions folded.
* **The PDF.** When ``make pdf`` has built the whole book as a PDF (``_build/latex/<name>.pdf``), the
  HTML build copies it into the site and the download menu's ".pdf" entry links it (instead of the
  theme's "print this page"); the PDF's hash is part of the configuration, so a new PDF rewrites
  every page's menu.
* **Launch buttons.** sphinx-book-theme's launch buttons fail when ``repository.url`` in
  ``_config.yml`` is empty, so without a repository the launch providers are switched off, with a
  note in the build log saying how to switch them on.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import book_meta
import lib_cache
import nbformat
import notebook_export
from docutils.nodes import make_id
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)
LAUNCH_PROVIDERS = ("binderhub_url", "colab_url", "jupyterhub_url", "jupyterlite_url", "thebe")
PDF_NAME = "lstm-book.pdf"  # latex_documents' target name (set in _config.yml) with .tex -> .pdf
PDF_IN_SITE = f"_downloads/{PDF_NAME}"


# --------------------------------------------------------------------------- launch buttons


def launch_only_with_repository(app: Sphinx, config) -> None:
    options = config.html_theme_options
    if options.get("repository_url"):
        return
    launch = options.get("launch_buttons") or {}
    if any(launch.get(k) for k in LAUNCH_PROVIDERS):
        for key in LAUNCH_PROVIDERS:
            launch.pop(key, None)
        logger.info("notebook_links: launch buttons are off; set repository.url in _config.yml to switch them on")


# --------------------------------------------------------------------------- the wheel


def build_wheel(root: Path, target: Path) -> Path:
    """lstm_lib's wheel, built from a copy of the package into ``target`` (emptied first)."""
    with tempfile.TemporaryDirectory(prefix="lstm-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "lstm_lib", src / "lstm_lib", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        out = Path(tmp) / "dist"
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "--wheel-dir", str(out), str(src)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(out.glob("lstm_lib-*.whl"))
        if run.returncode != 0 or len(wheels) != 1:
            raise ExtensionError(f"notebook_links: building lstm_lib's wheel failed:\n{run.stdout}\n{run.stderr}")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        return Path(shutil.copy2(wheels[0], target / wheels[0].name))


def stage_wheel(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    root = Path(app.confdir)
    stage = Path(app.outdir).parent / "wheel_static"
    target = stage / "wheels"
    digest = hashlib.sha256(
        (lib_cache.library_hash(root / "lstm_lib") + (root / "pyproject.toml").read_text()).encode()
    ).hexdigest()
    stamp = stage / "source.sha256"
    wheels = sorted(target.glob("lstm_lib-*.whl")) if target.is_dir() else []
    if len(wheels) == 1 and stamp.is_file() and stamp.read_text().strip() == digest:
        wheel = wheels[0]
    else:
        wheel = build_wheel(root, target)
        stamp.write_text(digest + "\n")
        logger.info(f"notebook_links: built {wheel.name}")
    app._lstm_wheel = wheel.name
    app.config.html_static_path.append(str(stage))


# --------------------------------------------------------------------------- references


def _bibliography(app: Sphinx) -> dict:
    """Cite key -> (authors for an author-year citation, year, the full reference as text)."""
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin

    style = find_plugin("pybtex.style.formatting", "unsrt")()
    out = {}
    for bib in app.config.bibtex_bibfiles:
        data = parse_file(str(Path(app.confdir) / bib), "bibtex")
        formatted = {e.key: e.text.render_as("text") for e in style.format_entries(data.entries.values())}
        for key, entry in data.entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [re.sub(r"[{}]", "", " ".join(p.last_names)) for p in people]
            who = (names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2
                   else f"{names[0]} et al." if names else key)
            out[key] = (who, entry.fields.get("year", ""), formatted.get(key, ""))
    return out


def _glue_values(nb) -> dict:
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if not name:
                continue
            data = {k.split("/", 2)[-1] if k.startswith("application/papermill.record/") else k: v
                    for k, v in output.get("data", {}).items()}
            text = data.get("text/plain", "")
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
                text = text[1:-1]
            values[name] = text
    return values


def resolver(app: Sphinx, nb) -> notebook_export.Resolver:
    """References as the built book numbers and titles them; links when the book's address is known."""
    env = app.env
    base = _meta(app)["url"]

    def url(docname: str, anchor: str = "") -> str | None:
        return f"{base}/{docname}.html" + (f"#{anchor}" if anchor else "") if base else None

    def fignumber(docname: str, figtype: str, node_id: str) -> str | None:
        numbers = env.toc_fignumbers.get(docname, {}).get(figtype, {}).get(node_id)
        return ".".join(map(str, numbers)) if numbers else None

    res = notebook_export.Resolver()
    std = env.domaindata["std"]
    for label, (docname, labelid, title) in std["labels"].items():
        res.labels[label] = (title, url(docname, labelid))
    for label, (docname, labelid) in std["anonlabels"].items():
        for figtype, fmt in app.config.numfig_format.items():
            number = fignumber(docname, figtype, labelid)
            if number:
                res.numbers[label] = (fmt % number if "%s" in fmt else f"{fmt} {number}", url(docname, labelid))
                break
    for label, (docname, _number) in env.domaindata["math"]["objects"].items():
        node_id = make_id(f"equation-{label}")
        number = fignumber(docname, "displaymath", node_id)
        if number:
            number = app.config.math_numsep.join(number.rsplit(".", 1))
        res.equations[label] = (number, url(docname, node_id))
    for label, info in getattr(env, "proof_list", {}).items():
        number = "" if info.get("nonumber") else fignumber(info["docname"], info["countertype"], label) or ""
        res.proofs[label] = (f"{info['realtype'].title()} {number}".strip(), url(info["docname"], label))
    for label, info in getattr(env, "sphinx_exercise_registry", {}).items():
        number = fignumber(info["docname"], "exercise", label)
        res.exercises[label] = (f"Exercise {number}" if number else "Exercise", url(info["docname"], label))
    for docname, title in env.titles.items():
        res.docs[docname] = (title.astext(), url(docname))
        res.docs["/" + docname] = res.docs[docname]
    if not hasattr(app, "_lstm_bib"):
        app._lstm_bib = _bibliography(app)
    res.citations = app._lstm_bib
    res.glue = _glue_values(nb)
    res.glue.update(_other_pages_glue(app))
    return res


def _other_pages_glue(app: Sphinx) -> dict:
    """Glued values of every executed chapter, under the names another page uses for them
    (``page.md::name``, as MyST-NB's cross-page glue roles write them), read once per build."""
    if getattr(app, "_lstm_cross_glue", None) is None:
        values = {}
        folder = Path(app.outdir).parent / "jupyter_execute"
        for executed in sorted(folder.rglob("*.ipynb")) if folder.is_dir() else []:
            page = executed.relative_to(folder).with_suffix(".md")
            glued = _glue_values(with_outputs(app, nbformat.read(executed, as_version=4)))
            values.update({f"{page.name}::{name}": value for name, value in glued.items()})
        app._lstm_cross_glue = values
    return app._lstm_cross_glue


def _meta(app: Sphinx) -> dict:
    if getattr(app, "_book_meta", None) is None:
        app._book_meta = book_meta.load(app.confdir)
    return app._book_meta


# --------------------------------------------------------------------------- the notebook download


def with_outputs(app: Sphinx, nb):
    """The notebook with its executed outputs from the Jupyter cache.

    MyST-NB writes ``jupyter_execute/<page>.ipynb`` from the notebook it read, so after a build that
    took a chapter from the cache that file has no outputs; the cache itself has them.
    """
    if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        return nb
    cache = lib_cache.cache_path(app)
    if not cache.exists():
        return nb
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(str(cache)).merge_match_into_notebook(nb)
    except KeyError:  # not in the cache (execution off, or a notebook without code)
        return nb
    return merged


def offer_notebook(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # not a notebook page
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    nb = with_outputs(app, nbformat.read(executed, as_version=4))
    meta = _meta(app)
    exported = notebook_export.export_notebook(
        nb, resolver(app, nb), version=meta["version"], wheel=app._lstm_wheel,
        book_url=meta["url"], repository=meta["repository"],
    )
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(exported, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


# --------------------------------------------------------------------------- the PDF


def built_pdf(app: Sphinx) -> Path:
    return Path(app.outdir).parent / "latex" / PDF_NAME


def pdf_in_config(app: Sphinx, config) -> None:
    """The PDF's hash goes into html_context, so that a new PDF rewrites every page's download menu."""
    pdf = built_pdf(app)
    if pdf.is_file():
        digest = hashlib.sha256(pdf.read_bytes()).hexdigest()[:16]
        config.html_context["lstm_book_pdf"] = digest
        config.lstm_book_pdf_digest = digest  # an "env" value: a new PDF re-renders every page


def link_pdf(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Replace the theme's "print this page" entry of the download menu by the whole book's PDF."""
    if not context.get("lstm_book_pdf"):
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        for i, button in enumerate(group["buttons"]):
            if button.get("label") == "download-pdf-button":
                group["buttons"][i] = {
                    "type": "link", "url": context["pathto"](PDF_IN_SITE, 1), "text": ".pdf (whole book)",
                    "tooltip": "Download the whole book as a PDF", "icon": "fas fa-file-pdf",
                    "label": "download-pdf-button",
                }


def copy_pdf(app: Sphinx, exception) -> None:
    if exception is None and app.builder.format == "html" and app.config.html_context.get("lstm_book_pdf"):
        target = Path(app.outdir) / PDF_IN_SITE
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built_pdf(app), target)


def setup(app: Sphinx) -> dict:
    app.add_config_value("lstm_book_pdf_digest", "", "env")
    app.connect("config-inited", launch_only_with_repository)
    app.connect("config-inited", pdf_in_config)
    app.connect("builder-inited", stage_wheel)
    # Before the theme builds its header buttons (priority 501), which read ipynb_source.
    app.connect("html-page-context", offer_notebook, priority=500)
    app.connect("html-page-context", link_pdf, priority=510)
    app.connect("build-finished", copy_pdf)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


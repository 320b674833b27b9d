"""Append a "Cite this chapter" block (BibTeX) to every numbered chapter.

The metadata comes from one place, ``CITATION.cff`` at the repository root: the book's
title, authors, version and year, and ``url`` (the published book's address) when it is
set. The chapter's title and number come from the table of contents. No page carries a
hand-written copy. When ``url`` is not set (a local build), the block's ``url`` field is
filled in the browser from the address the reader is reading the page at.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

URL_TOKEN = "@@PAGE-URL@@"

FILL_URL_JS = f"""<script>
document.querySelectorAll(".cite-chapter pre").forEach(function (pre) {{
  pre.innerHTML = pre.innerHTML.replace("{URL_TOKEN}", window.location.href.split("#")[0]);
}});
</script>"""


def load_metadata(srcdir: str) -> dict:
    path = Path(srcdir) / "CITATION.cff"
    if not path.is_file():
        raise ExtensionError(f"cite_chapter: expected the citation metadata in {path}")
    meta = yaml.safe_load(path.read_text(encoding="utf8"))
    for key in ("title", "authors", "version", "date-released"):
        if not meta.get(key):
            raise ExtensionError(f"cite_chapter: CITATION.cff lacks '{key}'")
    return meta


def author_list(meta: dict) -> str:
    names = []
    for a in meta["authors"]:
        if "name" in a:
            names.append("{" + a["name"] + "}")
        else:
            names.append(f"{a['family-names']}, {a.get('given-names', '')}".strip(", "))
    return " and ".join(names)


def bibtex_entry(meta: dict, docname: str, title: str, number: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", docname.split("/")[-1].lower()).strip("-")
    base = str(meta.get("url") or "").rstrip("/")
    url = f"{base}/{docname}.html" if base else URL_TOKEN
    year = str(meta["date-released"])[:4]
    fields = [
        ("author", author_list(meta)),
        ("title", title),
        ("booktitle", meta["title"]),
        ("chapter", number),
        ("year", year),
        ("edition", f"version {meta['version']}"),
        ("url", url),
    ]
    body = ",\n".join(f"  {k:<9} = {{{v}}}" for k, v in fields)
    return f"@incollection{{lstmbook-ch{number}-{stem},\n{body}\n}}"


def chapter_number(app: Sphinx, docname: str) -> str | None:
    numbers = app.env.toc_secnumbers.get(docname, {}).get("")
    return ".".join(str(n) for n in numbers) if numbers else None


def add_cite_block(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    number = chapter_number(app, docname)
    if number is None:
        return  # front and back matter are not numbered chapters
    meta = load_metadata(app.srcdir)
    title = app.env.titles[docname].astext()
    entry = bibtex_entry(meta, docname, title, number)

    # A container with a rubric, not a section: a section here would be numbered as the chapter.
    section = nodes.container(ids=["cite-this-chapter"], classes=["cite-chapter"])
    section += nodes.rubric(text="Cite this chapter")
    section += nodes.paragraph(
        text=f"Chapter {number}, \u201c{title}\u201d, of {meta['title']} (version {meta['version']}). BibTeX:"
    )
    section += nodes.literal_block(entry, entry, language="bibtex")
    section += nodes.paragraph(
        text="Please also cite the paper this book follows: Sherstinsky (2020), Physica D 404, 132306."
    )
    if URL_TOKEN in entry:
        section += nodes.raw("", FILL_URL_JS, format="html")
    doctree += section


def setup(app: Sphinx) -> dict:
    app.connect("doctree-resolved", add_cite_block)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

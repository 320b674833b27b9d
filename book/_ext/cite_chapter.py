"""How to cite the book and each chapter, generated from ``CITATION.cff`` alone.

* Every numbered chapter ends with a "Cite this chapter" block: a BibTeX ``@incollection`` entry
  (the chapter is a part with its own title in the book; ``booktitle`` the book, ``chapter`` its
  number, ``note`` the version, ``publisher`` and ``url`` when CITATION.cff gives them). Titles keep
  their capitals under sentence-case styles (each capitalised word braced), and a corporate author
  is braced so that no style inverts it ("{The lstm-book authors}").
* Every chapter page carries Highwire ``citation_*`` meta tags (title, authors, book title, date,
  public URL), which Zotero, Mendeley and Google Scholar read; the front page carries the book's.
* The page title and author of the HTML come from the same metadata.

The URL is only ever CITATION.cff's ``url`` (the published book). Without it the entry has no
``url`` field: a build never writes the address it happens to be read at.
"""

from __future__ import annotations

import html
import re

import book_meta
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

# Characters that BibTeX/LaTeX read as commands, outside math ($...$).
_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_"}


def _escape(text: str) -> str:
    parts = re.split(r"(\$[^$]*\$)", text)
    return "".join(p if p.startswith("$") else re.sub(r"[&%#_]", lambda m: _LATEX_SPECIAL[m.group()], p) for p in parts)


def protect_capitals(title: str) -> str:
    """Brace each word whose capitals must survive a sentence-case style.

    Every word after the first that holds a capital letter ("RNN", "Euler", "LSTM:"), and the
    first word when it holds a capital after its first letter ("PyTorch"), is braced; math stays.
    """
    out, first = [], True
    for token in re.split(r"(\s+|\$[^$]*\$)", _escape(title)):
        if not token or token.isspace() or token.startswith("$"):
            out.append(token)
            if token and token.startswith("$"):
                first = False
            continue
        m = re.fullmatch(r"([(\[\"']*)(.*?)([)\].,:;!?\"']*)", token)
        lead, word, trail = m.groups()
        caps = any(c.isupper() for c in (word if not first else word[1:]))
        out.append(f"{lead}{{{word}}}{trail}" if caps and word else token)
        first = False
    return "".join(out)


def bibtex_name(a: dict) -> str:
    """One author in BibTeX's 'Family, Given' form; an entity (``name``) braced as a whole."""
    if a.get("name"):
        return "{" + _escape(str(a["name"])) + "}"
    family = " ".join(p for p in (a.get("name-particle", ""), a["family-names"]) if p)
    parts = [_escape(family)]
    if a.get("name-suffix"):
        parts.append(_escape(a["name-suffix"]))
    if a.get("given-names"):
        parts.append(_escape(a["given-names"]))
    return ", ".join(parts)


def entry_key(docname: str, number: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", docname.split("/")[-1].lower()).strip("-")
    return f"lstmbook-ch{number}-{stem}"


def chapter_url(meta: dict, docname: str) -> str | None:
    return f"{meta['url']}/{docname}.html" if meta.get("url") else None


def bibtex_entry(meta: dict, docname: str, title: str, number: str) -> str:
    """The chapter's BibTeX entry (``meta`` as :func:`book_meta.normalize` returns it)."""
    fields = [
        ("author", " and ".join(bibtex_name(a) for a in meta["authors"])),
        ("title", protect_capitals(title)),
        ("booktitle", protect_capitals(meta["title"])),
        ("chapter", number),
        ("publisher", _escape(meta["publisher"]) if meta.get("publisher") else None),
        ("year", meta["year"]),
        ("note", f"Version {_escape(meta['version'])}"),
        ("url", chapter_url(meta, docname)),
    ]
    body = ",\n".join(f"  {k:<9} = {{{v}}}" for k, v in fields if v)
    return f"@incollection{{{entry_key(docname, number)},\n{body}\n}}"


def highwire_tags(meta: dict, docname: str | None, title: str | None) -> list[tuple[str, str]]:
    """Highwire Press ``citation_*`` tags: a chapter's (``title`` given) or the book's (``title`` None)."""
    tags = [("citation_title", title or meta["title"])]
    tags += [("citation_author", book_meta.author_name(a)) for a in meta["authors"]]
    if title:
        tags += [("citation_inbook_title", meta["title"]), ("citation_book_title", meta["title"])]
    tags += [("citation_publication_date", meta["date"].replace("-", "/")), ("citation_version", meta["version"])]
    if meta.get("publisher"):
        tags.append(("citation_publisher", meta["publisher"]))
    url = chapter_url(meta, docname) if (title and docname) else meta.get("url")
    if url:
        tags.append(("citation_public_url", url))
    tags.append(("citation_language", "en"))
    return tags


def _meta(app: Sphinx) -> dict:
    """CITATION.cff, read once per build (kept on the application, not in the pickled environment)."""
    if getattr(app, "_book_meta", None) is None:
        try:
            app._book_meta = book_meta.load(app.confdir)
        except book_meta.MetadataError as err:
            raise ExtensionError(f"cite_chapter: {err}") from err
    return app._book_meta


def chapter_number(app: Sphinx, docname: str) -> str | None:
    numbers = app.env.toc_secnumbers.get(docname, {}).get("")
    return ".".join(str(n) for n in numbers) if numbers else None


def add_cite_block(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.format != "html":
        return  # the PDF cites the book as a whole
    number = chapter_number(app, docname)
    if number is None:
        return  # front and back matter are not numbered chapters
    meta = _meta(app)
    title = app.env.titles[docname].astext()
    entry = bibtex_entry(meta, docname, title, number)

    # A container with a rubric, not a section: a section here would be numbered as the chapter.
    section = nodes.container(ids=["cite-this-chapter"], classes=["cite-chapter"])
    section += nodes.rubric(text="Cite this chapter")
    section += nodes.paragraph(
        text=f"{book_meta.author_text(meta)}, \u201c{title}\u201d, chapter {number} of {meta['title']}, "
        f"version {meta['version']} ({meta['year']}). BibTeX:"
    )
    section += nodes.literal_block(entry, entry, language="bibtex")
    section += nodes.paragraph(
        text="Please also cite the paper this book follows: Sherstinsky (2020), Physica D 404, 132306."
    )
    doctree += section


def add_meta_tags(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if doctree is None:
        return
    meta = _meta(app)
    if pagename == app.config.root_doc:
        tags = highwire_tags(meta, None, None)
    elif chapter_number(app, pagename) is not None:
        tags = highwire_tags(meta, pagename, app.env.titles[pagename].astext())
    else:
        return
    lines = "".join(f'<meta name="{k}" content="{html.escape(v, quote=True)}" />\n' for k, v in tags)
    context["metatags"] = context.get("metatags", "") + lines


def title_and_author(app: Sphinx, config) -> None:
    """The HTML title and author from CITATION.cff, so that _config.yml holds no second copy."""
    try:
        meta = book_meta.load(app.confdir)
    except book_meta.MetadataError as err:
        raise ExtensionError(f"cite_chapter: {err}") from err
    config.html_title = meta["title"]
    config.project = meta["title"]
    config.author = book_meta.author_text(meta)
    config.version = config.release = meta["version"]


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", title_and_author)
    app.connect("doctree-resolved", add_cite_block)
    app.connect("html-page-context", add_meta_tags)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Citing the book: CITATION.cff is complete and is the one source; each chapter's BibTeX parses and a
standard style formats it correctly; the URL comes only from the metadata, never from a local address."""

from __future__ import annotations

import html as html_lib
import re
import sys

import pytest
import yaml
from book_site import HTML, ROOT, built_page, chapter_docnames

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import book_meta  # noqa: E402
import cite_chapter  # noqa: E402

LOCAL = re.compile(r"(127\.0\.0\.1|localhost|file:|0\.0\.0\.0|\[::1\])", re.I)


def format_entry(bibtex: str, style: str = "unsrt") -> tuple[object, str]:
    """(the parsed entry, the entry formatted as plain text by pybtex's standard style)."""
    from pybtex.database import parse_string
    from pybtex.plugin import find_plugin

    data = parse_string(bibtex, "bibtex")
    (key, entry), = data.entries.items()
    formatted = list(find_plugin("pybtex.style.formatting", style)().format_entries([entry]))
    return entry, formatted[0].text.render_as("text")


@pytest.fixture(scope="module")
def meta():
    return book_meta.load(ROOT)


def test_citation_cff_is_complete_and_consistent(meta):
    raw = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    pref = raw["preferred-citation"]
    assert pref["type"] == "book"
    assert pref["title"] == raw["title"] and str(pref["version"]) == str(raw["version"])
    assert str(pref["year"]) == str(raw["date-released"])[:4]
    assert meta["version"] == _pyproject_version(), "CITATION.cff and pyproject.toml give different versions"
    for key in ("url", "repository-code"):
        if raw.get(key):  # once filled in, it must be a public address
            assert book_meta.public_url(raw[key], key)


def _pyproject_version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_local_or_malformed_urls_are_refused():
    base = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for bad in ("http://127.0.0.1:8000/", "file:///work/main/_build/html", "http://localhost/book", "www.x.org"):
        with pytest.raises(book_meta.MetadataError, match="url"):
            book_meta.normalize({**base, "url": bad})
    with pytest.raises(book_meta.MetadataError, match="version"):
        book_meta.normalize({k: v for k, v in base.items() if k != "version"})


@pytest.mark.parametrize("style", ["unsrt", "plain", "alpha"])
def test_chapter_entry_formats_correctly_without_a_url(meta, style):
    entry, text = format_entry(cite_chapter.bibtex_entry(meta, "book/rnn_training", "Training the RNN", "4"), style)
    assert entry.type == "incollection"
    (author,) = entry.persons["author"]
    assert not author.first_names and " ".join(author.last_names) == "{The lstm-book authors}"
    assert text.startswith("The lstm-book authors. Training the RNN. In "), text  # not inverted, capitals kept
    assert "Fundamentals of RNN and LSTM: an interactive textbook" in text
    assert "chapter 4" in text and "2026" in text
    assert "edition" not in text, "the version is not an edition"
    assert entry.fields["note"] == "Version " + meta["version"]
    assert "url" not in entry.fields and "URL" not in text, "no url without a published address"


def test_chapter_entry_with_a_published_url_and_publisher(meta):
    published = {**meta, "url": "https://books.example.org/lstm", "publisher": "Example Press"}
    entry, text = format_entry(cite_chapter.bibtex_entry(published, "book/vanilla_lstm", "The Vanilla LSTM", "5"))
    assert entry.fields["url"] == "https://books.example.org/lstm/book/vanilla_lstm.html"
    assert "URL: https://books.example.org/lstm/book/vanilla_lstm.html" in text
    assert "Example Press" in text and "The Vanilla LSTM" in text
    tags = dict(cite_chapter.highwire_tags(published, "book/vanilla_lstm", "The Vanilla LSTM"))
    assert tags["citation_public_url"] == entry.fields["url"]
    assert tags["citation_inbook_title"] == meta["title"] and tags["citation_publication_date"] == "2026/11/25"


def test_capitals_are_protected_and_latex_specials_escaped():
    assert cite_chapter.protect_capitals("Training the RNN") == "Training the {RNN}"
    assert cite_chapter.protect_capitals("PyTorch and Euler's method") == "{PyTorch} and {Euler's} method"
    assert cite_chapter.protect_capitals("Gates & the $\\tanh$ (LSTM)") == "Gates \\& the $\\tanh$ ({LSTM})"


def test_person_authors_are_family_given():
    assert cite_chapter.bibtex_name({"family-names": "Sherstinsky", "given-names": "Alex"}) == "Sherstinsky, Alex"
    assert cite_chapter.bibtex_name({"family-names": "Beethoven", "name-particle": "van", "given-names": "L."}) \
        == "van Beethoven, L."


def _cite_block(doc: str) -> str:
    html = built_page(doc).read_text(encoding="utf8")
    block = html[html.index('id="cite-this-chapter"'):]
    return html_lib.unescape(re.sub(r"<[^>]+>", "", block[: block.index("</pre>")]))


@pytest.mark.parametrize("doc", chapter_docnames())
def test_built_chapter_bibtex_parses_and_formats(doc, meta):
    block = _cite_block(doc)
    bibtex = block[block.index("@incollection"):]
    entry, text = format_entry(bibtex)
    title = built_page(doc).read_text(encoding="utf8")
    assert not LOCAL.search(bibtex), f"{doc}: a local address in the citation"
    assert ("url" in entry.fields) == bool(meta["url"])
    assert entry.fields["booktitle"].replace("{", "").replace("}", "") == meta["title"]
    assert re.sub(r"[{}\\]", "", entry.fields["title"]) in html_lib.unescape(title)


@pytest.mark.parametrize("doc", chapter_docnames())
def test_built_chapter_carries_highwire_tags(doc, meta):
    page = built_page(doc).read_text(encoding="utf8")
    tags = {}
    for name, content in re.findall(r'<meta name="(citation_\w+)" content="([^"]*)"', page):
        tags.setdefault(name, []).append(html_lib.unescape(content))
    assert tags.get("citation_title") and tags.get("citation_author") == [book_meta.author_name(a) for a in
                                                                          meta["authors"]]
    assert tags["citation_inbook_title"] == [meta["title"]]
    assert ("citation_public_url" in tags) == bool(meta["url"])
    assert not any(LOCAL.search(v) for vs in tags.values() for v in vs)


def test_front_page_carries_the_books_tags(meta):
    page = (HTML / "index.html")
    target = page if "citation_title" in page.read_text() else built_page("book/intro")
    assert f'<meta name="citation_title" content="{html_lib.escape(meta["title"])}"' in target.read_text()


def test_config_title_and_author_agree_with_citation_cff(meta):
    """The pages take title and author from CITATION.cff; _config.yml's copies must not drift from it."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["title"] == meta["title"]
    assert config["author"] == book_meta.author_text(meta)
    page = built_page("book/intro").read_text(encoding="utf8")
    assert html_lib.escape(meta["title"], quote=False) in html_lib.unescape(page) or meta["title"] in page

"""The whole book as a PDF (`make pdf`, which `make test` runs before pytest): pages, figures, solutions at the end.

Read with poppler's ``pdfinfo``, ``pdfimages`` and ``pdftotext`` (Debian's poppler-utils, which
``.ci/run`` installs). Without the PDF or poppler the test is skipped with a hint, except under
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from book_site import ROOT, built_page, chapter_docnames

PDF = ROOT / "_build" / "latex" / "lstm-book.pdf"
MIN_PAGES_PER_CHAPTER = 5


def _need(condition: bool, msg: str):
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: this is a failure)")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def pdf():
    _need(PDF.is_file(), f"{PDF} is missing: run `make pdf` (make test does)")
    _need(all(shutil.which(t) for t in ("pdfinfo", "pdfimages", "pdftotext")),
          "poppler-utils is missing: `sudo apt-get install poppler-utils`")
    return PDF


def _run(*cmd) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def test_page_count(pdf):
    info = _run("pdfinfo", str(pdf))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    chapters = len(chapter_docnames())
    assert pages >= MIN_PAGES_PER_CHAPTER * chapters, f"only {pages} pages for {chapters} chapters"
    assert pages < 1000, f"{pages} pages: something is repeated"
    title = re.search(r"^Title:\s+(.*)$", info, re.M)
    assert title and "RNN" in title.group(1), f"the PDF's title is {title.group(1) if title else None!r}"


def test_figure_count_matches_the_html_book(pdf):
    """Every figure and every explorer's default frame of the HTML chapters is in the PDF."""
    listing = _run("pdfimages", "-list", str(pdf)).splitlines()[2:]
    images = [line for line in listing if line.split()[2] == "image"]
    expected = 0
    for doc in chapter_docnames():
        html = built_page(doc).read_text(encoding="utf8")
        expected += len(re.findall(r'<img[^>]+src="[^"]*_images/', html))  # cell and directive figures
        expected += html.count("data-lstm-player=")  # each player's default frame
    assert expected > 0
    assert len(images) >= expected, f"{len(images)} images in the PDF, {expected} figures in the HTML chapters"


def test_solutions_come_after_the_exercises(pdf):
    text = _run("pdftotext", "-layout", str(pdf), "-")
    solutions = [m.start() for m in re.finditer(r"Solution to Exercise (\d+)\.(\d+)", text)]
    assert solutions, "no solutions in the PDF"
    for chapter in range(1, len(chapter_docnames()) + 1):
        exercises = [m.start() for m in re.finditer(rf"Exercise {chapter}\.\d+\b(?! \()", text)
                     if not text[max(0, m.start() - 12): m.start()].endswith("Solution to ")]
        sols = [m.start() for m in re.finditer(rf"Solution to Exercise {chapter}\.\d+", text)]
        if exercises and sols:
            assert min(sols) > max(exercises), f"chapter {chapter}: a solution stands between the exercises"


def test_the_html_book_offers_this_pdf(pdf):
    html = built_page("book/intro").read_text(encoding="utf8")
    assert "_downloads/lstm-book.pdf" in html, "the download menu does not offer the PDF (make pdf rebuilds the HTML)"
    copy = ROOT / "_build" / "html" / "_downloads" / "lstm-book.pdf"
    assert copy.is_file() and copy.read_bytes() == pdf.read_bytes()


def test_code_listings_become_code_in_the_pdf():
    """IPython's Code objects carry pygments LaTeX as text/latex; the PDF shows their source as code."""
    import sys

    from IPython.core.formatters import DisplayFormatter
    from IPython.display import Code

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import pdf_layout

    src = 'def f(a_b, s):\n    """{x} \\\\ % ~ [1] @d $y$."""\n    return a_b[0] ** 2 >= s & 3  # a comment\n'
    data, _ = DisplayFormatter().format(Code(src, language="python"))
    assert data["text/latex"].startswith("\\begin{Verbatim}")
    assert pdf_layout.pygments_latex_to_text(data["text/latex"]).strip() == src.strip()

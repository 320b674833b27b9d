"""Helpers shared by the tests of the built book: where it is, which pages it has."""

from __future__ import annotations

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

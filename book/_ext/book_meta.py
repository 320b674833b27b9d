"""The book's metadata, read from its one source: ``CITATION.cff`` at the repository root.

Used by the Sphinx extensions (citation blocks and ``citation_*`` meta tags, the notebooks'
install cell, the page title and author) and by the tests. Nothing else holds a copy.

Fields (CITATION.cff -> here):

* ``preferred-citation`` (type ``book``) ``title``, ``authors``, ``year``, ``version``, ``url``,
  ``publisher.name``; each falls back to the top-level field of the same meaning;
* top-level ``title``, ``authors``, ``version``, ``date-released``, ``url`` (the published book's
  address), ``repository-code`` (its public repository), ``license``.

``url`` and ``repository`` are ``None`` until they are filled in: nothing guesses them, and no
local address (a file path, 127.0.0.1, localhost) is ever taken for them.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

REQUIRED = ("title", "authors", "version", "date-released")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]")


class MetadataError(ValueError):
    """CITATION.cff is missing or lacks a field the book needs."""


def public_url(value, field: str) -> str | None:
    """``value`` as a public http(s) URL without a trailing slash, None when empty; an error when local."""
    if value in (None, ""):
        return None
    url = str(value).strip().rstrip("/")
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MetadataError(f"CITATION.cff: {field} must be a public http(s) address, got {value!r}")
    if parts.hostname in LOCAL_HOSTS or (parts.hostname or "").endswith(".local"):
        raise MetadataError(f"CITATION.cff: {field} must be a public address, not a local one: {value!r}")
    return url


def normalize(raw: dict) -> dict:
    """The fields the book uses, from a parsed CITATION.cff (a dict); raises MetadataError when incomplete."""
    if not isinstance(raw, dict):
        raise MetadataError("CITATION.cff: expected a YAML mapping")
    for key in REQUIRED:
        if not raw.get(key):
            raise MetadataError(f"CITATION.cff lacks '{key}'")
    pref = raw.get("preferred-citation") or {}
    if pref and pref.get("type") != "book":
        raise MetadataError(f"CITATION.cff: preferred-citation must be of type book, got {pref.get('type')!r}")
    authors = pref.get("authors") or raw["authors"]
    for a in authors:
        if not (a.get("name") or a.get("family-names")):
            raise MetadataError(f"CITATION.cff: an author needs 'name' (an entity) or 'family-names', got {a!r}")
    date = str(raw["date-released"])
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise MetadataError(f"CITATION.cff: date-released must read YYYY-MM-DD, got {date!r}")
    publisher = (pref.get("publisher") or {}).get("name") if isinstance(pref.get("publisher"), dict) else None
    return {
        "title": str(pref.get("title") or raw["title"]),
        "authors": [dict(a) for a in authors],
        "version": str(pref.get("version") or raw["version"]),
        "date": date,
        "year": str(pref.get("year") or date[:4]),
        "url": public_url(pref.get("url") or raw.get("url"), "url"),
        "repository": public_url(raw.get("repository-code"), "repository-code"),
        "publisher": publisher or None,
        "license": raw.get("license"),
    }


def load(root: str | Path) -> dict:
    """:func:`normalize` applied to ``root/CITATION.cff``."""
    path = Path(root) / "CITATION.cff"
    if not path.is_file():
        raise MetadataError(f"expected the citation metadata in {path}")
    return normalize(yaml.safe_load(path.read_text(encoding="utf8")))


def author_name(a: dict) -> str:
    """An author as a reader writes it: an entity's name, or 'Given Family'."""
    if a.get("name"):
        return str(a["name"])
    given = a.get("given-names", "")
    particle = a.get("name-particle", "")
    return " ".join(p for p in (given, particle, a["family-names"], a.get("name-suffix", "")) if p)


def author_text(meta: dict) -> str:
    names = [author_name(a) for a in meta["authors"]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

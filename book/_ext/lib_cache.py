"""The executed chapters depend on lstm_lib too, not only on their own cells.

The Jupyter cache re-executes a chapter when its code cells change. A chapter's outputs also
depend on the library it imports, so at ``builder-inited`` this extension hashes lstm_lib's
sources and stored data (every ``*.py``, ``*.cpp`` and ``*.json`` under ``lstm_lib/``, by path and
content) and compares the hash with the one recorded when the cache was last filled. When they differ, it empties the
execution cache and marks every document for re-reading, so each chapter runs again on the
current library. The new hash is recorded only when the build finishes without an exception, so
an interrupted build never leaves results of an older library behind a matching hash.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
PATTERNS = ("*.py", "*.cpp", "*.json")


def library_hash(package: Path) -> str:
    """sha256 over the library's source files (relative path and bytes), in a fixed order."""
    h = hashlib.sha256()
    files = sorted({p for pat in PATTERNS for p in package.rglob(pat) if "__pycache__" not in p.parts})
    if not files:
        raise FileNotFoundError(f"lib_cache: no sources found under {package}")
    for path in files:
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_path(app: Sphinx) -> Path:
    """Where MyST-NB keeps its execution cache (its own default when the setting is empty)."""
    configured = getattr(app.config, "nb_execution_cache_path", "") or ""
    return Path(configured) if configured else Path(app.outdir).parent / ".jupyter_cache"


def stamp_path(app: Sphinx) -> Path:
    cache = cache_path(app)
    return cache.with_name(cache.name + ".lstm_lib.sha256")


def check_library(app: Sphinx) -> None:
    app._lstm_lib_hash = library_hash(Path(app.confdir) / "lstm_lib")
    app._lstm_lib_changed = False
    stamp = stamp_path(app)
    old = stamp.read_text().strip() if stamp.is_file() else None
    if old == app._lstm_lib_hash:
        return
    cache = cache_path(app)
    if cache.exists():
        shutil.rmtree(cache)
        logger.info(f"lib_cache: lstm_lib changed since the cached execution; cleared {cache}")
    app._lstm_lib_changed = True


def outdated(app: Sphinx, env, added, changed, removed) -> list[str]:
    if getattr(app, "_lstm_lib_changed", False):
        return sorted(env.found_docs - set(added) - set(changed) - set(removed))
    return []


def record(app: Sphinx, exception) -> None:
    if exception is None and getattr(app, "_lstm_lib_hash", None):
        stamp = stamp_path(app)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(app._lstm_lib_hash + "\n")


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", check_library)
    app.connect("env-get-outdated", outdated)
    app.connect("build-finished", record)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""A change to lstm_lib's sources empties the execution cache and re-reads every chapter (book/_ext/lib_cache.py)."""

from __future__ import annotations

import shutil
import sys
from types import SimpleNamespace

from book_site import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import lib_cache  # noqa: E402


def fake_app(tmp_path):
    (tmp_path / "_build" / "html").mkdir(parents=True)
    return SimpleNamespace(confdir=str(tmp_path), outdir=str(tmp_path / "_build" / "html"),
                           config=SimpleNamespace(nb_execution_cache_path=""))


def build(app, docs=("book/a", "book/b")):
    """What a build does: builder-inited, then the outdated documents, then build-finished."""
    lib_cache.check_library(app)
    env = SimpleNamespace(found_docs=set(docs))
    outdated = lib_cache.outdated(app, env, set(), set(), set())
    lib_cache.record(app, None)
    return outdated


def test_library_change_clears_the_cache_and_rereads_every_chapter(tmp_path):
    shutil.copytree(ROOT / "lstm_lib", tmp_path / "lstm_lib", ignore=shutil.ignore_patterns("__pycache__"))
    app = fake_app(tmp_path)
    cache = tmp_path / "_build" / ".jupyter_cache"
    cache.mkdir()
    (cache / "global.db").write_text("results of an unknown library")

    assert build(app) == ["book/a", "book/b"], "no record yet: the cache cannot be trusted"
    assert not cache.exists()
    assert lib_cache.stamp_path(app).read_text().strip() == lib_cache.library_hash(tmp_path / "lstm_lib")

    cache.mkdir()
    (cache / "global.db").write_text("results of this library")
    assert build(app) == [], "nothing changed: the cache stays"
    assert (cache / "global.db").is_file()

    module = tmp_path / "lstm_lib" / "widgets.py"
    module.write_text(module.read_text() + "\n# a change\n")
    assert build(app) == ["book/a", "book/b"]
    assert not cache.exists()

    cpp = next((tmp_path / "lstm_lib").rglob("*.cpp"))
    old = lib_cache.library_hash(tmp_path / "lstm_lib")
    cpp.write_text(cpp.read_text() + "\n// a change\n")
    assert lib_cache.library_hash(tmp_path / "lstm_lib") != old, "the compiled kernels count too"

    stored = tmp_path / "lstm_lib" / "data" / "full_size.json"
    old = lib_cache.library_hash(tmp_path / "lstm_lib")
    stored.write_text(stored.read_text() + "\n")
    assert lib_cache.library_hash(tmp_path / "lstm_lib") != old, "the stored full-size runs count too"


def test_a_failed_build_records_nothing(tmp_path):
    shutil.copytree(ROOT / "lstm_lib", tmp_path / "lstm_lib", ignore=shutil.ignore_patterns("__pycache__"))
    app = fake_app(tmp_path)
    lib_cache.check_library(app)
    lib_cache.record(app, RuntimeError("the build failed"))
    assert not lib_cache.stamp_path(app).exists()
    lib_cache.check_library(app)
    assert app._lstm_lib_changed, "the next build still re-executes"


def test_the_book_uses_the_extension():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "lib_cache" in config["sphinx"]["local_extensions"]
    assert config["execute"]["execute_notebooks"] == "cache"

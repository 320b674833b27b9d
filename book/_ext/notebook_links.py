"""Offer each chapter's executed notebook for download, with or without a public repository.

sphinx-book-theme copies the executed notebook next to the page sources only while it builds
launch buttons, and its launch buttons fail when ``repository.url`` in ``_config.yml`` is
empty (a local build, or a fork not yet published). So:

* with no repository URL, the launch providers (Binder, Colab) are switched off, with a
  note in the build log saying how to switch them on;
* every notebook page gets its executed ``.ipynb`` copied to ``_sources/`` and offered in
  the page's download menu, whether or not launch buttons are shown.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
LAUNCH_PROVIDERS = ("binderhub_url", "colab_url", "jupyterhub_url", "jupyterlite_url", "thebe")


def launch_only_with_repository(app: Sphinx, config) -> None:
    options = config.html_theme_options
    if options.get("repository_url"):
        return
    launch = options.get("launch_buttons") or {}
    if any(launch.get(k) for k in LAUNCH_PROVIDERS):
        for key in LAUNCH_PROVIDERS:
            launch.pop(key, None)
        logger.info("notebook_links: launch buttons are off; set repository.url in _config.yml to switch them on")


def offer_executed_notebook(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # not a notebook page
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", launch_only_with_repository)
    # Before the theme builds its header buttons (priority 501), which read ipynb_source.
    app.connect("html-page-context", offer_executed_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

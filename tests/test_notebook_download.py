"""A downloaded chapter notebook runs outside this checkout, installing lstm_lib only the way its first cell does.

The built site (``_build/html``) is served on a local HTTP server; a fresh virtual environment is made
in a temporary folder (outside the checkout) with only ``torch==2.13.0`` (the pinned CPU wheel; nothing
may resolve another torch) and ``ipykernel`` (to run the notebook); the notebook is executed there,
from a temporary working folder, with ``LSTM_BOOK_URL`` pointing its install cell at the local server.
The cell must install lstm_lib's wheel from the site (its dependencies come from the package index)
and every cell must run. The chapter is a short one (CHAPTER); no cell is skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest
from book_site import HTML, ROOT, built_page, serve

CHAPTER = "book/canonical_rnn"  # executes in about 10 s; no compiled kernels to build
TORCH = "torch==2.13.0"
PIN = re.compile(r"^torch==2\.13\.0$")


def _run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    base = tmp_path_factory.mktemp("fresh-venv")
    assert ROOT not in base.parents, "the environment must live outside the checkout"
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    assert PIN.match(TORCH)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run([str(py), "-m", "pip", "install", "--quiet", TORCH, "ipykernel"], env=env, cwd=base)
    probe = _run([str(py), "-c", "import importlib.util, torch; print(torch.__version__);"
                  "print(importlib.util.find_spec('lstm_lib'))"], env=env, cwd=base).stdout.split()
    assert probe[0].startswith("2.13.0"), f"the fresh environment has torch {probe[0]}"
    assert probe[1] == "None", "lstm_lib must not be importable before the notebook installs it"
    return venv, env


def _execute(nb, work, attempts: int = 2):
    """Run every cell in the fresh kernel. nbclient sometimes never receives the reply to a cell that displays
    a widget while the kernel sits idle (jupyter/nbclient#312); such a cell times out and the whole notebook
    runs again in a new kernel, once. An error raised by a cell fails at once."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    for attempt in range(attempts):
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
        try:
            NotebookClient(nb, kernel_name="fresh", timeout=240, resources={"metadata": {"path": str(work)}}).execute()
            return
        except CellTimeoutError:
            if attempt == attempts - 1:
                raise


def test_downloaded_notebook_runs_in_a_fresh_environment(fresh_venv, tmp_path):
    venv, env = fresh_venv
    page = built_page(CHAPTER).read_text(encoding="utf8")
    href = re.search(r'href="([^"]+\.ipynb)"', page).group(1)
    nb = nbformat.read(built_page(CHAPTER).parent / href, as_version=4)
    assert "find_spec(\"lstm_lib\")" in nb.cells[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nb.cells.append(nbformat.v4.new_code_cell(
        "import lstm_lib, torch, sys\nprint('LSTM_LIB_AT', lstm_lib.__file__)\nprint('TORCH', torch.__version__)"))

    # A kernel that runs the fresh environment's Python, found through a private JUPYTER_PATH.
    kernels = tmp_path / "jupyter" / "kernels" / "fresh"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh", "language": "python",
    }))
    work = tmp_path / "work"
    work.mkdir()
    with serve(HTML) as base:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update({**env, "JUPYTER_PATH": str(tmp_path / "jupyter"), "LSTM_BOOK_URL": base.rstrip("/"),
                           "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
        os.environ.pop("LSTM_LIB_STATIC", None)
        start = time.perf_counter()
        try:
            _execute(nb, work)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        seconds = time.perf_counter() - start

    install = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert f"installing lstm_lib from {base.rstrip('/')}/_static/wheels/lstm_lib-" in install, install
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    where = re.search(r"LSTM_LIB_AT (\S+)", last).group(1)
    assert str(venv) in where and str(ROOT) not in where, f"lstm_lib came from {where}"
    assert "TORCH 2.13.0" in last
    print(f"{CHAPTER}: ran in a fresh environment in {seconds:.0f} s (install included)")


def test_the_site_serves_the_wheel_it_names():
    wheels = sorted((HTML / "_static" / "wheels").glob("lstm_lib-*.whl"))
    assert len(wheels) == 1, wheels
    import zipfile

    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "lstm_lib/widgets.py" in names and any(n.endswith(".cpp") for n in names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "book/")) for n in names)


def test_binder_installs_the_pinned_requirements_and_lstm_lib():
    """Binder (repo2docker) builds from .binder/: the pinned requirements (torch's CPU wheel), then lstm_lib."""
    binder = ROOT / ".binder"
    reqs = (binder / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements.txt" in reqs
    assert any(r.startswith("--extra-index-url") and "/whl/cpu" in r for r in reqs)
    assert not any(r.strip().startswith("torch") for r in reqs), "torch comes pinned from requirements.txt only"
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().splitlines()
    post = binder / "postBuild"
    assert os.access(post, os.X_OK), ".binder/postBuild must be executable"
    assert re.search(r"pip install .*--no-deps.* \.$", post.read_text(), re.M)
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"

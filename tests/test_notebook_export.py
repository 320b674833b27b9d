"""The downloaded chapter notebooks: plain Markdown, folded solutions, an install cell first (book/_ext).

The converter is tested on MyST text here, without a build; the built downloads are checked too when
the book has been built (``make test`` builds it first).
"""

from __future__ import annotations

import json
import re
import sys

import nbformat
import pytest
from book_site import HTML, ROOT, built_page, chapter_docnames

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_export as ne  # noqa: E402

MYST_LEFT = re.compile(r"\{[\w:.-]+\}`|^\s*\([^()\s]+\)=\s*$|^\s*(`{3,}|:{3,})\s*\{|\$\$\s*\([^)]*\)\s*$", re.M)


def resolver():
    return ne.Resolver(
        labels={"chap:intro": ("Introduction", "https://b.org/book/intro.html#chap-intro"),
                "sec:x": ("A section", None)},
        numbers={"fig-a": ("Figure 2.3", None)},
        equations={"eq:one": ("2.1", "https://b.org/book/a.html#equation-eq-one")},
        proofs={"prop-a": ("Proposition 2.2", None)},
        docs={"book/intro": ("Introduction", None)},
        exercises={"ex-1": ("Exercise 2.1", None), "ex-2": ("Exercise 2.2", None)},
        citations={"sherstinsky2020": ("Sherstinsky", "2020", "A. Sherstinsky. Fundamentals. Physica D, 2020."),
                   "bengio1994": ("Bengio et al.", "1994", "Y. Bengio et al. Learning long-term dependencies.")},
        glue={"loss": "0.123456", "name": "delay"},
    )


CHAPTER = r"""(chap:demo)=
# Demo
% a MyST comment that must not show

As {ref}`chap:intro` and {ref}`the section <sec:x>` show, {cite}`sherstinsky2020,bengio1994` and
{cite:t}`sherstinsky2020`; see {numref}`fig-a`, {eq}`eq:one`, {prf:ref}`prop-a` and {doc}`book/intro`.
The loss is {glue:text}`loss:.3f` for the {glue:text}`name`, {math}`a^2`.

$$
x = 1
$$ (eq:one)

```{admonition} Beyond the paper
:class: note
Our own {eq}`eq:one`.
```

```{prf:proposition} Tied gradients
:label: prop-a
Body.
```

```python
{ref}`not a role: code`
```

## Exercises

```{exercise}
:label: ex-1
Do it.
```

```{solution-start} ex-1
:class: dropdown
```

The answer.
"""


def cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(CHAPTER),
        nbformat.v4.new_code_cell("print(42)"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```\n\n```{exercise}\n:label: ex-2\nAgain.\n```\n\n"
                                      "```{solution} ex-2\n:class: dropdown\nShort answer.\n```"),
    ]
    return nb


def exported(url="https://b.org", repository=None):
    return ne.export_notebook(cells(), resolver(), version="0.1.0", wheel="lstm_lib-0.1.0-py3-none-any.whl",
                              book_url=url, repository=repository)


def test_markdown_is_plain():
    nb = exported()
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "(chap:demo)=" not in text and "MyST comment" not in text
    assert "[Introduction](https://b.org/book/intro.html#chap-intro)" in text
    assert "the section" in text and "Figure 2.3" in text and "Proposition 2.2" in text
    assert "[(2.1)](https://b.org/book/a.html#equation-eq-one)" in text
    assert "(Sherstinsky, 2020; Bengio et al., 1994)" in text and "Sherstinsky (2020)" in text
    assert "0.123 for the delay" in text and "$a^2$" in text
    assert "\\tag{2.1}$$" in text
    assert "> **Beyond the paper**" in text and "> Our own [(2.1)]" in text
    assert "> **Proposition 2.2** (Tied gradients)." in text
    assert "{ref}`not a role: code`" in text, "code blocks stay verbatim"
    assert "### Exercise 2.1" in text and "### Exercise 2.2" in text
    assert "## References" in text and "A. Sherstinsky. Fundamentals." in text
    leftover = [m.group(0) for m in MYST_LEFT.finditer(text.replace("{ref}`not a role: code`", ""))]
    assert not leftover, leftover


def test_solutions_are_folded_and_their_code_collapsed():
    nb = exported()
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    sol1 = next(s for s in md if "The answer." in s)
    assert sol1.startswith("<details><summary><b>Solution to Exercise 2.1</b></summary>")
    assert sol1.endswith("</details>")
    assert not any("The answer." in s and "### Exercise 2.1" in s for s in md), "the solution is not in the exercise"
    code = [c for c in nb.cells if c.cell_type == "code"][1]
    assert code.source.startswith("# Solution to Exercise 2.1")
    assert code.metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
    sol2 = next(s for s in md if "Short answer." in s)
    assert "<details><summary><b>Solution to Exercise 2.2</b></summary>\n\nShort answer.\n\n</details>" in sol2
    nbformat.validate(nb)


def test_first_cell_installs_lstm_lib_only_when_missing():
    nb = exported(url="https://b.org")
    first = nb.cells[0]
    assert first.cell_type == "code"
    assert 'importlib.util.find_spec("lstm_lib") is None' in first.source
    assert "os.environ.get(\"LSTM_BOOK_URL\") or 'https://b.org'" in first.source
    assert "/_static/wheels/lstm_lib-0.1.0-py3-none-any.whl" in first.source
    compile(first.source, "install-cell", "exec")
    unknown = exported(url=None, repository=None).cells[0].source
    assert "or None" in unknown and "LSTM_BOOK_URL" in unknown
    repo = exported(url=None, repository="https://github.com/o/r").cells[0].source
    assert "repository = 'https://github.com/o/r'" in repo and '"git+" + repository' in repo


def test_install_cell_without_a_known_site_says_what_to_set(tmp_path):
    """Run the cell's logic with lstm_lib 'missing': it must stop with a message naming LSTM_BOOK_URL."""
    source = exported(url=None).cells[0].source.replace('find_spec("lstm_lib")', 'find_spec("no_such_module_xyz")')
    env = {"__name__": "__main__"}
    import os

    saved = os.environ.pop("LSTM_BOOK_URL", None)
    try:
        with pytest.raises(RuntimeError, match="LSTM_BOOK_URL"):
            exec(compile(source, "install-cell", "exec"), env)
    finally:
        if saved is not None:
            os.environ["LSTM_BOOK_URL"] = saved


@pytest.mark.parametrize("doc", chapter_docnames())
def test_built_download_is_exported(doc):
    page = built_page(doc).read_text(encoding="utf8")
    href = re.search(r'href="([^"]+\.ipynb)"', page).group(1)
    nb = nbformat.read(built_page(doc).parent / href, as_version=4)
    nbformat.validate(nb)
    assert "find_spec(\"lstm_lib\")" in nb.cells[0].source
    wheel = re.search(r"/_static/wheels/(lstm_lib-[^\"']+\.whl)", nb.cells[0].source).group(1)
    assert (HTML / "_static" / "wheels" / wheel).is_file(), f"the site does not serve {wheel}"
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    leftover = [m.group(0) for m in MYST_LEFT.finditer(_without_code(text))]
    assert not leftover, f"{doc}: MyST left in the notebook: {leftover[:5]}"
    assert "<details><summary><b>Solution to Exercise" in text, f"{doc}: no folded solution"
    assert re.search(r"^### Exercise \d+\.\d+", text, re.M), f"{doc}: exercises are not headed sections"
    assert json.dumps(nb).count("data-lstm-player") >= 1, f"{doc}: the explorer's output is missing"


def _without_code(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)

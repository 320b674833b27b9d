"""A chapter's executed notebook, made to run and read anywhere: the notebook the book offers for download.

:func:`export_notebook` takes the notebook that MyST-NB executed (its Markdown cells still hold
MyST) and returns a notebook that

* starts with a code cell that installs lstm_lib only when it is missing: from the book's own site
  (the wheel the build serves under ``_static/wheels/``; the site's address is CITATION.cff's
  ``url``, or the environment variable ``LSTM_BOOK_URL``), else from the public repository, else
  it stops with a message that says what to set;
* carries plain Markdown: ``(label)=`` lines and ``%`` comments removed; roles turned into text (and links when the
  book's address is known): ``{ref}``, ``{numref}``, ``{eq}``, ``{prf:ref}``, ``{doc}`` by the
  numbers and titles of the built book, ``{cite}`` as author-year with a reference list at the end,
  ``{glue:text}`` by the glued value; labelled equations get ``\\tag{N}``; exercises become headed
  sections, solutions are folded in ``<details>`` (their code cells collapsed), admonitions and
  propositions become block quotes and bold headings;
* keeps every code cell and its outputs.

The functions take a :class:`Resolver`, so that the tests can convert text without a Sphinx build.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import nbformat

BOOK_URL_ENV = "LSTM_BOOK_URL"
WHEEL_DIR = "_static/wheels"

ADMONITIONS = {
    "note": "Note", "tip": "Tip", "important": "Important", "warning": "Warning", "caution": "Caution",
    "attention": "Attention", "danger": "Danger", "error": "Error", "hint": "Hint", "seealso": "See also",
    "admonition": "", "dropdown": "", "margin": "", "sidebar": "", "topic": "", "epigraph": "",
}
PROOF_TYPES = (
    "proposition", "definition", "theorem", "lemma", "corollary", "conjecture", "axiom", "criterion",
    "remark", "example", "algorithm", "assumption", "observation", "property", "proof",
)
DROP = ("toctree", "tableofcontents", "bibliography", "index", "glossary", "only", "raw")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\s*(?:\{(?P<name>[\w:.-]+)\})?\s*(?P<arg>.*?)\s*$")
LABEL_LINE = re.compile(r"^\s*\(([^()\s]+)\)=\s*$")
MYST_COMMENT = re.compile(r"^%")  # a MyST comment line
ROLE = re.compile(r"\{(?P<name>[\w:.-]+)\}`(?P<content>[^`]*)`")
EQ_LABEL = re.compile(r"\$\$\s*\((?P<label>[^()\s]+)\)\s*$")


@dataclass
class Resolver:
    """How references read in the exported notebook: text, and a URL when the book's address is known.

    Each mapping goes from a label to ``(text, url or None)``: ``labels`` for ``{ref}`` (section and
    chapter titles), ``numbers`` for ``{numref}`` (e.g. "Fig. 3.2"), ``equations`` for ``{eq}`` (the
    number, without parentheses), ``proofs`` for ``{prf:ref}`` ("Proposition 2.1"), ``docs`` for
    ``{doc}``, ``exercises`` for the exercises' headings ("Exercise 4.1"); ``citations`` from a
    bibliography key to ``(authors, year, full reference)``; ``glue`` from a glued name to its value.
    """

    labels: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)
    equations: dict = field(default_factory=dict)
    proofs: dict = field(default_factory=dict)
    docs: dict = field(default_factory=dict)
    exercises: dict = field(default_factory=dict)
    citations: dict = field(default_factory=dict)
    glue: dict = field(default_factory=dict)
    cited: list = field(default_factory=list)  # keys cited so far, in order


def _link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else text


def _split_target(content: str) -> tuple[str | None, str]:
    m = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", content, re.S)
    return (m.group(1), m.group(2).strip()) if m else (None, content.strip())


def _cite(keys: str, textual: bool, res: Resolver) -> str:
    parts = []
    for key in [k.strip() for k in keys.split(",") if k.strip()]:
        authors, year, _ = res.citations.get(key, (key, "", ""))
        if key not in res.cited:
            res.cited.append(key)
        parts.append(f"{authors} ({year})" if textual else f"{authors}, {year}".rstrip(", "))
    return "; ".join(parts) if textual else "(" + "; ".join(parts) + ")"


def _glue(content: str, res: Resolver) -> str:
    name, _, spec = content.partition(":")
    if name not in res.glue:
        return content
    value = res.glue[name]
    if spec:
        try:
            return format(float(value), spec)
        except ValueError:
            return str(value)
    return str(value)


def convert_roles(text: str, res: Resolver) -> str:
    """Every MyST role in ``text`` as plain Markdown text or a link."""

    def one(m: re.Match) -> str:
        name, content = m.group("name"), m.group("content")
        explicit, target = _split_target(content)
        table = {"ref": res.labels, "numref": res.numbers, "prf:ref": res.proofs, "doc": res.docs}
        if name in table:
            known, url = table[name].get(target, (None, None))
            shown = explicit or known or target
            if name == "numref" and explicit and known:
                shown = explicit.replace("%s", known.split()[-1]).replace("{number}", known.split()[-1])
            return _link(shown, url)
        if name == "eq":
            number, url = res.equations.get(target, (None, None))
            return _link(explicit or (f"({number})" if number else f"({target})"), url)
        if name in ("cite", "cite:p", "cite:ps", "cite:alp", "cite:year", "cite:yearpar"):
            return _cite(content, False, res)
        if name in ("cite:t", "cite:ts", "cite:author", "cite:authors"):
            return _cite(content, True, res)
        if name == "math":
            return f"${content}$"
        if name in ("glue", "glue:text", "glue:any", "glue:md"):
            return _glue(content, res)
        return explicit or content  # abbr, sub, sup, term, download, ...: the text

    return ROLE.sub(one, text)


def _parse_options(body: list[str]) -> tuple[dict, list[str]]:
    opts, i = {}, 0
    if body and body[0].strip() == "---":
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            import yaml

            opts = yaml.safe_load("\n".join(body[1:end])) or {}
            return (opts if isinstance(opts, dict) else {}), body[end + 1:]
    while i < len(body) and re.match(r"^\s*:[\w-]+:", body[i]):
        key, _, value = body[i].strip()[1:].partition(":")
        opts[key] = value.strip()
        i += 1
    return opts, body[i:]


def _quote(lines: list[str]) -> list[str]:
    return [f"> {line}" if line.strip() else ">" for line in lines]


@dataclass
class _State:
    """What spans cells: an open solution (its heading) and whether we are inside one."""

    solution: str | None = None
    exercise_count: int = 0


def _convert_lines(lines: list[str], res: Resolver, state: _State, out_cells: list) -> list[str]:
    """Convert one block of MyST lines; solution boundaries flush ``out`` into ``out_cells``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if LABEL_LINE.match(line) or MYST_COMMENT.match(line):
            i += 1
            continue
        m = FENCE.match(line)
        if not m:
            eq = EQ_LABEL.search(line)
            if eq:
                number, _ = res.equations.get(eq.group("label"), (None, None))
                tag = f"\\tag{{{number}}}" if number else ""
                line = line[: eq.start()] + f"{tag}$$"
            out.append(convert_roles(line, res))
            i += 1
            continue
        indent, fence, name, arg = m.group("indent"), m.group("fence"), m.group("name"), m.group("arg")
        close = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = [b[len(indent):] if b.startswith(indent) else b for b in lines[i + 1: j]]
        i = j + 1
        if name is None:  # a plain code block: verbatim
            out += [line] + [indent + b for b in body] + [f"{indent}{fence}"]
            continue
        opts, body = _parse_options(body)
        out += [indent + x for x in _directive(name, arg, opts, body, res, state, out, out_cells)]
    return out


def _directive(name, arg, opts, body, res, state, out, out_cells) -> list[str]:
    """One directive as Markdown lines (a solution's start or end flushes the lines so far into a cell)."""
    conv = lambda b: _convert_lines(b, res, state, out_cells)  # noqa: E731
    if name in ("exercise", "exercise-start"):
        state.exercise_count += 1
        label = opts.get("label", "")
        heading, _ = res.exercises.get(label, (None, None))
        heading = heading or f"Exercise {state.exercise_count}"
        title = f"### {heading}" + (f" ({convert_roles(arg, res)})" if arg else "")
        return ["", title, ""] + (conv(body) if name == "exercise" else [])
    if name in ("exercise-end",):
        return []
    if name in ("solution", "solution-start"):
        target = arg.strip()
        heading, _ = res.exercises.get(target, (None, None))
        summary = f"Solution to {heading}" if heading else "Solution"
        if name == "solution":
            return ["", f"<details><summary><b>{summary}</b></summary>", ""] + conv(body) + ["", "</details>", ""]
        out_cells.append((state.solution, list(out)))
        out.clear()
        state.solution = summary
        return []
    if name == "solution-end":
        out_cells.append((state.solution, list(out)))
        out.clear()
        state.solution = None
        return []
    if name in ADMONITIONS or name.startswith("admonition"):
        title = convert_roles(arg, res) if arg else ADMONITIONS.get(name, "")
        inner = conv(body)
        return [""] + _quote(([f"**{title}**", ""] if title else []) + inner) + [""]
    if name.startswith("prf:") and name[4:] in PROOF_TYPES:
        kind = name[4:]
        inner = conv(body)
        if kind == "proof":
            return ["", "*Proof.*", ""] + inner + ["", "$\\blacksquare$", ""]
        label = opts.get("label", "")
        heading, _ = res.proofs.get(label, (kind.title(), None))
        head = f"**{heading}**" + (f" ({convert_roles(arg, res)})" if arg else "") + "."
        return [""] + _quote([head, ""] + inner) + [""]
    if name == "math":
        label = opts.get("label", "")
        number, _ = res.equations.get(label, (None, None))
        tag = [f"\\tag{{{number}}}"] if number else []
        return ["$$"] + body + tag + ["$$"]
    if name in ("code-block", "code", "sourcecode", "code-cell"):
        return ["```" + (arg.split()[0] if arg else "")] + body + ["```"]
    if name in ("figure", "image"):
        caption = " ".join(conv(body)).strip()
        return [f"*Figure: {caption}*" if caption else ""]
    if name in DROP:
        return []
    return conv(body)  # any other directive: its content


def myst_cells_to_markdown(cells: list, res: Resolver) -> list:
    """Markdown and code cells (nbformat) -> the exported cells, with solutions folded.

    A solution may span cells (``solution-start`` ... ``solution-end``): each Markdown part inside it is
    folded in its own ``<details>``, and its code cells are collapsed (source and outputs hidden).
    """
    state = _State()
    result = []
    for cell in cells:
        if cell.cell_type == "markdown":
            parts: list = []  # (the solution open around the part or None, its lines)
            lines = _convert_lines(cell.source.splitlines(), res, state, parts)
            parts.append((state.solution, lines))
            for solution, part in parts:
                text = re.sub(r"\n{3,}", "\n\n", "\n".join(part).strip())
                if not text:
                    continue
                if solution:
                    text = f"<details><summary><b>{solution}</b></summary>\n\n{text}\n\n</details>"
                result.append(nbformat.v4.new_markdown_cell(text))
        elif cell.cell_type == "code":
            new = copy.deepcopy(cell)
            if state.solution:
                jup = new.metadata.setdefault("jupyter", {})
                jup["source_hidden"] = True
                jup["outputs_hidden"] = True
                tags = new.metadata.setdefault("tags", [])
                if "solution" not in tags:
                    tags.append("solution")
                new.source = f"# {state.solution}\n" + new.source
            result.append(new)
        else:
            result.append(copy.deepcopy(cell))
    return result


def install_cell_source(version: str, wheel: str, book_url: str | None, repository: str | None) -> str:
    """The first cell of every downloaded chapter: install lstm_lib if it is missing."""
    return f'''# This chapter needs lstm_lib {version}, the library of the book. Installed here only if it is missing:
# from the book's site ({BOOK_URL_ENV} overrides its address), else from the book's repository.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("lstm_lib") is None:
    site = os.environ.get("{BOOK_URL_ENV}") or {book_url!r}
    repository = {repository!r}
    if site:
        source = site.rstrip("/") + "/{WHEEL_DIR}/{wheel}"
    elif repository:
        source = "git+" + repository
    else:
        raise RuntimeError("lstm_lib is not installed and this notebook does not know where the book is "
                           "published: set the environment variable {BOOK_URL_ENV} to the book's address "
                           "(or pip install lstm_lib yourself) and run this cell again")
    print("installing lstm_lib from", source)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", source])
    importlib.invalidate_caches()
'''


def export_notebook(nb, res: Resolver, *, version: str, wheel: str, book_url: str | None,
                    repository: str | None, references_title: str = "References"):
    """The downloadable notebook (a new nbformat notebook; ``nb`` is left as it was)."""
    res.cited.clear()
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
    for key in ("mystnb", "jupytext"):  # the build's settings, not the reader's
        out.metadata.pop(key, None)
    install = nbformat.v4.new_code_cell(install_cell_source(version, wheel, book_url, repository))
    install.metadata["tags"] = ["install-lstm_lib"]
    out.cells = [install] + myst_cells_to_markdown(nb.cells, res)
    if res.cited:
        refs = [f"- {res.citations[k][2]}" for k in res.cited if k in res.citations and res.citations[k][2]]
        if refs:
            out.cells.append(nbformat.v4.new_markdown_cell(f"## {references_title}\n\n" + "\n".join(refs)))
    return out

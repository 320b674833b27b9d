"""The PDF (``make pdf``: Jupyter Book's LaTeX builder with xelatex): solutions at the end of each chapter.

The LaTeX class of sphinx-jupyterbook-latex loads the ``bbm`` package only for its blackboard-bold
macro ``\\mathbbm``, and ``bbm`` lives in Debian's 500 MB texlive-fonts-extra. The build writes a
four-line ``bbm.sty`` next to the .tex that defines ``\\mathbbm`` as amssymb's ``\\mathbb`` (which
the book uses), so the PDF needs only texlive-xetex and texlive-latex-extra.

On paper a solution cannot be folded, so in the LaTeX build every solution of a chapter is moved,
in order, to the end of that chapter, under a "Solutions" heading after its last section (the
exercises). Outputs of IPython's ``Code`` objects (source listings), whose LaTeX form MyST-NB would
typeset as math, become code blocks. The HTML build is left as it is (solutions folded in
dropdowns). Explorers and widgets need nothing here: their outputs carry their default frame as PNG,
which the LaTeX build picks (``nb_mime_priority_overrides`` in ``_config.yml``).
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx


def _solution_nodes():
    from sphinx_exercise.nodes import solution_node

    return solution_node


def _walk(node, chapter, parent, out: dict, docs: set[str]) -> None:
    """Collect per chapter (the start_of_file of a document) its solutions, with their parents, and its sections.

    The tree is walked through ``children``: in the one tree the LaTeX builder assembles, ``parent``
    pointers can still lead to a chapter's own document.
    """
    if isinstance(node, addnodes.start_of_file) and node.get("docname") in docs:
        chapter = node
        out.setdefault(id(chapter), ([], []))
    elif chapter is not None and isinstance(node, _solution_nodes()):
        out[id(chapter)][0].append((node, parent))
        return
    elif chapter is not None and isinstance(node, nodes.Admonition):
        return  # an exercise's or a proof's content section is not a section of the chapter
    elif chapter is not None and isinstance(node, nodes.section):
        out[id(chapter)][1].append(node)
    for child in list(node.children):
        if isinstance(child, nodes.Element):
            _walk(child, chapter, node, out, docs)


def solutions_to_chapter_end(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.format != "latex":
        return
    verbatim_outputs_as_code(doctree)
    chapters: dict[int, tuple] = {}
    _walk(doctree, None, None, chapters, set(app.env.all_docs))
    for sols, sections in chapters.values():
        if not sols or not sections:
            continue
        last = sections[-1]  # in document order: the chapter's last section (the exercises)
        for sol, parent in sols:
            parent.children.remove(sol)
        last.append(nodes.rubric(text="Solutions"))
        for sol, _ in sols:
            last.append(sol)


# Pygments' LaTeX escapes (IPython's Code objects carry their source as pygments LaTeX in text/latex,
# which MyST-NB would set as math in the PDF).
_PYGMENTS_ESCAPES = {
    "PYZbs": "\\", "PYZus": "_", "PYZob": "{", "PYZcb": "}", "PYZca": "^", "PYZam": "&", "PYZlt": "<",
    "PYZgt": ">", "PYZsh": "#", "PYZpc": "%", "PYZdl": "$", "PYZhy": "-", "PYZsq": "'", "PYZdq": '"',
    "PYZti": "~", "PYZat": "@", "PYZlb": "[", "PYZrb": "]",
}


def pygments_latex_to_text(latex: str) -> str:
    """The source text of a pygments ``Verbatim`` block (the inverse of its LaTeX formatter)."""
    body = re.sub(r"^\\begin\{Verbatim\}(\[[^\n]*\])?\n?|\\end\{Verbatim\}\s*$", "", latex.strip())
    marks = {}

    def escape(m):
        key = f"\x00{len(marks)}\x00"
        marks[key] = _PYGMENTS_ESCAPES.get(m.group(1), "")
        return key

    body = re.sub(r"\\(PYZ\w+)\{\}", escape, body)
    previous = None
    while previous != body:
        previous, body = body, re.sub(r"\\PY\{[^{}]*\}\{([^{}]*)\}", r"\1", body)
    for key, char in marks.items():
        body = body.replace(key, char)
    return body


def verbatim_outputs_as_code(doctree: nodes.document) -> None:
    for math in list(doctree.findall(nodes.math_block)):
        text = math.astext()
        if text.lstrip().startswith("\\begin{Verbatim}"):
            code = pygments_latex_to_text(text)
            math.replace_self(nodes.literal_block(code, code, language="python"))


BBM_STY = r"""% Written by book/_ext/pdf_layout.py: the one macro of bbm.sty that jupyterBook.cls uses.
\NeedsTeXFormat{LaTeX2e}
\ProvidesPackage{bbm}[2024/01/01 blackboard bold via amssymb]
\RequirePackage{amssymb}
\providecommand{\mathbbm}[1]{\mathbb{#1}}
"""


# Figures, tables, listings and equations numbered per chapter, as in the HTML book ("Figure 3.2",
# "(3.4)"): Sphinx asks LaTeX to reset them per part when the book has parts.
PER_CHAPTER = r"""
% Numbered per chapter, as in the HTML book (book/_ext/pdf_layout.py); at \begin{document}, after
% Sphinx's own numbering set-up (sphinxlatexnumfig.sty).
\makeatletter
\AtBeginDocument{%
  \@ifundefined{c@literalblock}{}{\@addtoreset{literalblock}{chapter}%
    \renewcommand{\theliteralblock}{\ifnum\c@chapter>\z@\arabic{chapter}.\fi\arabic{literalblock}}}%
  \@addtoreset{figure}{chapter}\@addtoreset{table}{chapter}\@addtoreset{equation}{chapter}%
  \renewcommand{\thefigure}{\ifnum\c@chapter>\z@\arabic{chapter}.\fi\arabic{figure}}%
  \renewcommand{\thetable}{\ifnum\c@chapter>\z@\arabic{chapter}.\fi\arabic{table}}%
  \renewcommand{\theequation}{\ifnum\c@chapter>\z@\arabic{chapter}.\fi\arabic{equation}}%
}
\makeatother
"""


def per_chapter_numbers(app: Sphinx, config) -> None:
    elements = config.latex_elements
    elements["preamble"] = elements.get("preamble", "") + PER_CHAPTER


def unnumbered_front_and_back_matter(app: Sphinx, exception) -> None:
    """Front and back matter (documents outside the numbered parts) as unnumbered chapters, so that the
    PDF's chapter numbers are the HTML book's."""
    if exception is not None or app.builder.format != "latex":
        return
    from pathlib import Path

    numbered = {d for d, n in app.env.toc_secnumbers.items() if n.get("")}
    unnumbered = [d for d in app.env.found_docs if d not in numbered and d != app.config.root_doc]
    for tex in Path(app.outdir).glob("*.tex"):
        text = tex.read_text(encoding="utf8")
        for doc in unnumbered:
            label = re.escape(f"\\label{{\\detokenize{{{doc}:")
            text = re.sub(r"\\chapter\{((?:[^{}]|\{[^{}]*\})*)\}(\s*" + label + ")",
                          lambda m: (f"\\chapter*{{{m.group(1)}}}\\addcontentsline{{toc}}{{chapter}}{{{m.group(1)}}}"
                                     f"\\markboth{{{m.group(1)}}}{{{m.group(1)}}}{m.group(2)}"), text)
        tex.write_text(text, encoding="utf8")


def write_bbm(app: Sphinx) -> None:
    if app.builder.format != "latex":
        return
    # Number figures, equations and exercises per chapter as the HTML book does ("Exercise 3.2", not
    # "3.6.2": sphinx-jupyterbook-latex sets 2 when the book has parts).
    app.config.numfig_secnum_depth = 1
    from pathlib import Path

    out = Path(app.outdir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bbm.sty").write_text(BBM_STY)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", per_chapter_numbers)
    app.connect("builder-inited", write_bbm, priority=900)
    app.connect("build-finished", unnumbered_front_and_back_matter)
    app.connect("doctree-resolved", solutions_to_chapter_end)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

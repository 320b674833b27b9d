"""The book's figures and interactive explorers, one module per chapter (``lstm_lib.figures.<chapter>``).

This is the display layer: it imports matplotlib and :mod:`lstm_lib.widgets`, and the models of
``lstm_lib`` never import it. A chapter calls :func:`use_book_style` once in its first cell.
"""

from __future__ import annotations

BOOK_RC = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "svg.fonttype": "none",
}


def use_book_style() -> None:
    """Legible defaults for every figure of a chapter: larger labels; each figure output as SVG (which the
    HTML book shows, sharp at any zoom) and as a PNG at twice the figure's resolution (``retina``: which the
    PDF shows, and notebook viewers that cannot show SVG); the book's ``nb_mime_priority_overrides``
    choose between them."""
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_RC)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # outside IPython: nothing to configure
        return
    set_matplotlib_formats("svg", "retina")

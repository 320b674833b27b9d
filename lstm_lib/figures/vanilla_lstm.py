"""Figures and explorers of the chapter "From the RNN to the vanilla LSTM"."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyBboxPatch

from ..rnn_to_lstm import STAGES, gradient_vs_lag
from ..widgets import Explorer, Param


def explorer(N: int = 100):
    """Widget: ||dE/ds[n]|| against n for every stage of the chain, as the state-gate bias ``b_cs`` moves."""

    def compute(b_cs, N):
        return {st: gradient_vs_lag(st, int(N), b_cs=b_cs).numpy() for st in STAGES}

    def draw(fig, data, b_cs, N):
        ax = fig.subplots()
        for k, (st, g) in enumerate(data.items()):
            ax.semilogy(np.arange(len(g)), np.maximum(g, 1e-300), color=f"C{k}", lw=1.5, label=st)
        ax.set_ylim(1e-25, 1e4)
        ax.set_xlabel("step n (E depends on the last state only)")
        ax.set_ylabel("||dE/ds[n]||")
        ax.legend(fontsize=8, ncols=2, loc="lower right")

    params = {
        "b_cs": Param(-2.0, 6.0, 0.5, 0.0, label="state-gate bias b_cs"),
        "N": Param(10, 300, 10, N, label="sequence length N", integer=True),
    }
    return Explorer(compute, draw, params, scrub="b_cs", frames=9)


def draw_cell(ax=None):
    """Draw the vanilla LSTM cell (eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v) as boxes and arrows; returns the axes."""
    if ax is None:
        ax = plt.figure(figsize=(9, 4.2), layout="constrained").subplots()
    ax.set_xlim(-0.6, 11.2)
    ax.set_ylim(-0.9, 4.2)
    ax.set_aspect("equal")
    ax.axis("off")

    def arrow(p, q, style="-|>", ls="-", color="k"):
        ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle=style, lw=1.3, ls=ls, color=color,
                                                        shrinkA=0, shrinkB=0))

    def box(x, y, text, color):
        ax.add_patch(FancyBboxPatch((x - 0.45, y - 0.3), 0.9, 0.6, boxstyle="round,pad=0.05", fc=color, ec="k"))
        ax.text(x, y, text, ha="center", va="center", fontsize=10)

    def node(x, y, text):
        ax.add_patch(Circle((x, y), 0.22, fc="white", ec="k", zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=11, zorder=4)

    # the state path (the constant error carousel): s[n-1] -> (x g_cs) -> (+ g_cu u) -> s[n]
    arrow((-0.4, 3.4), (2.78, 3.4))
    arrow((3.22, 3.4), (5.28, 3.4))
    arrow((5.72, 3.4), (10.9, 3.4))
    node(3, 3.4, "×")
    node(5.5, 3.4, "+")
    ax.text(-0.4, 3.6, "s[n-1]", fontsize=10)
    ax.text(10.3, 3.6, "s[n]", fontsize=10)
    # gates and the data update, fed by x[n] and v[n-1] along the bottom bus
    ax.plot([-0.4, 9.0], [-0.4, -0.4], color="k", lw=1.3)
    ax.text(-0.4, -0.8, "x[n], v[n-1]", fontsize=10)
    for x, name, color in ((3, "g_cs\nG_c", "#cfe3f5"), (4.9, "g_cu\nG_c", "#cfe3f5"), (6.1, "u\nG_d", "#f6d9c4"),
                           (9.0, "g_cr\nG_c", "#cfe3f5")):
        arrow((x, -0.4), (x, 0.65))
        box(x, 1.0, name, color)
    arrow((3, 1.35), (3, 3.18))
    node(5.5, 2.3, "×")
    arrow((4.9, 1.35), (5.35, 2.12))
    arrow((6.1, 1.35), (5.65, 2.12))
    arrow((5.5, 2.52), (5.5, 3.18))
    # the readout r = G_d(s[n]) and the value v = g_cr r
    arrow((7.6, 3.4), (7.6, 2.65))
    box(7.6, 2.3, "r\nG_d", "#f6d9c4")
    node(9.0, 2.3, "×")
    arrow((8.05, 2.3), (8.78, 2.3))
    arrow((9.0, 1.35), (9.0, 2.08))
    arrow((9.22, 2.3), (10.9, 2.3))
    ax.text(10.3, 2.45, "v[n]", fontsize=10)
    # v[n] goes back to the bus for the next step
    ax.plot([10.5, 10.5], [2.3, -0.4], color="0.4", lw=1.0, ls="-")
    arrow((10.5, -0.4), (9.3, -0.4), color="0.4")
    ax.text(10.55, 0.9, "to step n+1", fontsize=8, color="0.4", rotation=90)
    # the peepholes: s[n-1] into g_cs and g_cu, the new s[n] into g_cr
    arrow((1.8, 3.4), (2.55, 1.15), ls="--", color="C2")
    arrow((1.8, 3.4), (4.45, 1.2), ls="--", color="C2")
    arrow((8.3, 3.4), (8.6, 1.3), ls="--", color="C2")
    ax.text(0.9, 2.0, "peepholes\nw_scs, w_scu", fontsize=8, color="C2")
    ax.text(7.95, 1.3, "w_scr", fontsize=8, color="C2", ha="right")
    return ax

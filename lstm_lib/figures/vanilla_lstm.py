"""Figures and explorers of the chapter "From the RNN to the vanilla LSTM"."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyBboxPatch

from ..rnn_to_lstm import STAGE_EQUATIONS, STAGES, gradient_vs_lag
from ..widgets import Explorer, Param

# the thresholds the chapter names: b_cs = 0 (g_cs = 1/2), 2.6 (the constant-gate estimate of the
# exercise), 3 (the figure); w_s = 0.5 (the default), 1 (W_s = I without a gate)
B_CS_VALUES = (-2.0, 0.0, 1.0, 2.0, 2.6, 3.0, 4.0, 6.0)
W_S_VALUES = (0.5, 0.9, 1.0)


def _stage_label(stage: str) -> str:
    return f"{stage} (Eqs. {STAGE_EQUATIONS[stage]})"


def _draw_stages(ax, curves: dict, title: str = "") -> None:
    styles = ("-", "--", ":", "-", "-.", ":", "--", "-")
    for k, (stage, g) in enumerate(curves.items()):
        ax.semilogy(np.arange(len(g)), np.maximum(g, 1e-300), styles[k], color=f"C{k}", lw=1.6,
                    label=_stage_label(stage))
    ax.set_ylim(1e-25, 1e3)
    ax.set_xlabel("step n (E depends on s[N-1] only)")
    if title:
        ax.set_title(title)


def plot_stages(b_cs_values=(0.0, 3.0), N: int = 100, w_s: float = 0.5):
    """||dE/ds[n]|| against n for every stage of the chain, one panel per state-gate bias; returns the figure."""
    fig, axes = plt.subplots(1, len(b_cs_values), figsize=(7.0, 4.6), layout="constrained", sharey=True)
    axes = np.atleast_1d(axes)
    for ax, b_cs in zip(axes, b_cs_values, strict=True):
        _draw_stages(ax, {st: gradient_vs_lag(st, N, b_cs=b_cs, w_s=w_s).numpy() for st in STAGES},
                     f"b_cs = {b_cs:g}")
    axes[0].set_ylabel("||dE/ds[n]||")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=10)
    return fig


def explorer(N: int = 100) -> Explorer:
    """Widget: ||dE/ds[n]|| against n for every stage of the chain. Sliders: the state-gate bias ``b_cs``
    and ``w_s``, the fraction on the diagonal of the canonical RNN's W_s (stages before "W_s = I")."""

    cache = {}

    def curve(stage, b_cs, w_s):
        # the canonical and split cells have no gate, the cells from "W_s = I" on no W_s: compute each once
        key = (stage, None if stage in ("canonical", "split") else b_cs, w_s if stage in STAGES[:3] else None)
        if key not in cache:
            cache[key] = gradient_vs_lag(stage, N, b_cs=b_cs, w_s=w_s).numpy()
        return cache[key]

    def compute(b_cs, w_s):
        return {st: curve(st, b_cs, w_s) for st in STAGES}

    def draw(fig, data, b_cs, w_s):
        ax = fig.subplots()
        _draw_stages(ax, data, f"state-gate bias b_cs = {b_cs:g}, W_s = {w_s:g} I")
        ax.set_ylabel("||dE/ds[n]||")
        ax.legend(fontsize=9, ncols=2, loc="lower right")

    params = {
        "b_cs": Param(-2.0, 6.0, 0.1, 0.0, label="state-gate bias b_cs", values=B_CS_VALUES),
        "w_s": Param(0.0, 1.0, 0.05, 0.5, label="W_s = w_s I", values=W_S_VALUES),
    }
    return Explorer(compute, draw, params, scrub=("b_cs", "w_s"), figsize=(7.0, 4.4))


# ---- the cell, after the paper's Fig. 7 -------------------------------------------------------------

CONTROL = "#cfe3f5"  # control nodes (G_c), as in the paper's colour-free figure: our colours
DATA = "#f8dcc6"  # data nodes (G_d)
PINHOLE = "#d5ecd4"  # state-to-gate ("pinhole") weight matrices


def draw_cell(ax=None):
    """The vanilla LSTM cell (paper Eqs. 126-136), the book's drawing after the paper's Fig. 7; returns the axes.

    Three inputs enter on the left: the state s[n-1] along the top (the state path), the value v[n-1]
    and the input x[n] on rails along the bottom, with s[n-1] also dropped to a third rail. Every
    accumulation a_.. sums its weight boxes (biases omitted, as in the paper); the state-to-gate
    matrices W_scs, W_scu, W_scr are full d_s x d_s matrices (green). W_scr reads the NEW state s[n].
    """
    if ax is None:
        ax = plt.figure(figsize=(7.0, 5.2), layout="constrained").subplots()
    ax.set_xlim(-0.2, 15.65)
    ax.set_ylim(-0.3, 10.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fs = 10.5

    def line(*pts, color="k", lw=1.2):
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, color=color, lw=lw, zorder=1, solid_capstyle="butt")

    def arrow(p, q):
        ax.annotate("", xy=q, xytext=p, zorder=2, arrowprops=dict(arrowstyle="-|>", lw=1.2, color="k", shrinkA=0,
                                                                  shrinkB=0, mutation_scale=11))

    def dot(x, y):
        ax.add_patch(Circle((x, y), 0.09, color="k", zorder=4))

    def box(x, y, text, color="white", w=0.98, h=0.62):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04", fc=color,
                                    ec="k", lw=1.0, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=fs, zorder=5)

    def node(x, y, text, r=0.3):
        ax.add_patch(Circle((x, y), r, fc="white", ec="k", lw=1.1, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=fs + 1, zorder=5)

    Y_S, Y_V, Y_SB, Y_X = 9.3, 1.45, 0.8, 0.15  # the state path; the value, state and input rails
    Y_W, Y_A, Y_G, Y_P = 2.7, 4.0, 5.3, 7.0  # weight boxes, accumulations, warpings, the gates' products
    X_DROP, X_END = 1.3, 13.35
    # ---- inputs ----------------------------------------------------------------------------------
    ax.text(-0.1, Y_S + 0.3, "s[n-1]", fontsize=fs, ha="left")
    ax.text(-0.1, Y_V + 0.1, "v[n-1]", fontsize=fs, ha="left", va="bottom")
    ax.text(-0.1, Y_X + 0.1, "x[n]", fontsize=fs, ha="left", va="bottom")
    dot(X_DROP, Y_S)
    line((X_DROP, Y_S), (X_DROP, Y_SB), (10.35, Y_SB))  # s[n-1] dropped to its rail
    line((0.0, Y_V), (X_END, Y_V))
    line((0.0, Y_X), (X_END, Y_X))

    def column(xc, g, warp, color, taps):
        offsets = {"x": -1.1, "s": 0.0, "v": 1.1} if len(taps) == 3 else {"x": -0.6, "v": 0.6}
        rails = {"x": Y_X, "s": Y_SB, "v": Y_V}
        for kind in taps:
            xk = xc + offsets[kind]
            dot(xk, rails[kind])
            line((xk, rails[kind]), (xk, Y_W - 0.31))
            box(xk, Y_W, f"$W_{{{kind}{g}}}$", PINHOLE if kind == "s" else "white")
            arrow((xk, Y_W + 0.31), (xc + 0.12 * np.sign(offsets[kind]), Y_A - 0.3))
        node(xc, Y_A, "Σ")
        ax.text(xc + 0.36, Y_A, f"$a_{{{g}}}$", fontsize=fs, ha="left", va="center")
        arrow((xc, Y_A + 0.3), (xc, Y_G - 0.31))
        box(xc, Y_G, warp, color)

    X_CS, X_CU, X_DU, X_CR, X_R = 3.15, 6.65, 9.65, 12.55, 14.25
    column(X_CS, "cs", "$G_c$", CONTROL, ("x", "s", "v"))
    column(X_CU, "cu", "$G_c$", CONTROL, ("x", "s", "v"))
    column(X_DU, "du", "$G_d$", DATA, ("x", "v"))
    # ---- the state path: s[n] = g_cs s[n-1] + g_cu u ------------------------------------------------
    X_MUL, X_ADD = 4.55, 8.15
    line((X_CS, Y_G + 0.31), (X_CS, Y_P), (X_MUL, Y_P))
    arrow((X_MUL, Y_P), (X_MUL, Y_S - 0.3))
    ax.text(X_CS + 0.1, 6.2, "$g_{cs}$", fontsize=fs, ha="left")
    node(X_MUL, Y_S, "×")
    line((0.0, Y_S), (X_MUL - 0.3, Y_S))
    line((X_MUL + 0.3, Y_S), (X_ADD - 0.3, Y_S))
    line((X_CU, Y_G + 0.31), (X_CU, Y_P), (X_ADD - 0.3, Y_P))
    ax.text(X_CU + 0.1, 6.2, "$g_{cu}$", fontsize=fs, ha="left")
    line((X_DU, Y_G + 0.31), (X_DU, Y_P), (X_ADD + 0.3, Y_P))
    ax.text(X_DU + 0.1, 6.2, "$u$", fontsize=fs, ha="left")
    node(X_ADD, Y_P, "×")
    arrow((X_ADD, Y_P + 0.3), (X_ADD, Y_S - 0.3))
    node(X_ADD, Y_S, "+")
    line((X_ADD + 0.3, Y_S), (14.75, Y_S))
    arrow((14.75, Y_S), (15.6, Y_S))
    ax.text(14.65, Y_S + 0.3, "s[n]", fontsize=fs, ha="left")
    # ---- the readout: a_cr sees the NEW state s[n]; g_cr; r = G_d(s[n]); v = g_cr r ---------------------
    X_SCR = 11.1
    dot(X_SCR, Y_S)
    line((X_SCR, Y_S), (X_SCR, 6.5 + 0.31))
    box(X_SCR, 6.5, "$W_{scr}$", PINHOLE)
    arrow((X_SCR, 6.5 - 0.31), (X_CR - 0.22, Y_A + 0.22))
    for kind, off, y in (("x", -0.6, Y_X), ("v", 0.6, Y_V)):
        dot(X_CR + off, y)
        line((X_CR + off, y), (X_CR + off, Y_W - 0.31))
        box(X_CR + off, Y_W, f"$W_{{{kind}cr}}$")
        arrow((X_CR + off, Y_W + 0.31), (X_CR + 0.12 * np.sign(off), Y_A - 0.3))
    node(X_CR, Y_A, "Σ")
    ax.text(X_CR + 0.36, Y_A, "$a_{cr}$", fontsize=fs, ha="left", va="center")
    arrow((X_CR, Y_A + 0.3), (X_CR, Y_G - 0.31))
    box(X_CR, Y_G, "$G_c$", CONTROL)
    line((X_CR, Y_G + 0.31), (X_CR, Y_P), (X_R - 0.3, Y_P))
    ax.text(X_CR + 0.1, 6.2, "$g_{cr}$", fontsize=fs, ha="left")
    dot(X_R, Y_S)
    arrow((X_R, Y_S), (X_R, 8.25 + 0.31))
    box(X_R, 8.25, "$G_d$", DATA)
    arrow((X_R, 8.25 - 0.31), (X_R, Y_P + 0.3))
    ax.text(X_R + 0.12, 7.55, "$r$", fontsize=fs, ha="left")
    node(X_R, Y_P, "×")
    line((X_R, Y_P - 0.3), (X_R, 6.0), (14.75, 6.0))
    arrow((14.75, 6.0), (15.6, 6.0))
    ax.text(14.65, 6.1, "v[n]", fontsize=fs, ha="left", va="bottom")
    return ax

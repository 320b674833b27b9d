"""Figures and explorers of the chapter "The augmented LSTM" (display layer).

* :func:`draw_cell` -- the augmented LSTM cell after the paper's Fig. 10 (a) (Eqs. 196-214).
* :func:`draw_filter_bank` -- the five context-window filters after the paper's Fig. 10 (b), and the
  taps of one filter (Eq. 188).
* :func:`context_explorer` -- sliders: the window length L and the state gate's bias b_cs; how the output
  responds to a change of one input sample, before it (context) and after it (state).
* :func:`input_gate_explorer` -- sliders: the input gate's bias b_cx and its input weight W_xcx; how much of
  the input reaches the update, on an input with spurious spikes (a hand-set gate, not a trained one).
* :func:`projection_explorer` -- slider: d_v; the parameters of Eq. 215 and the projected output.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Circle, FancyBboxPatch, Polygon

from ..augmented_lstm import AugmentedLSTM, augmented_sequence, parameter_count, response_to_change
from ..widgets import Explorer, Param

__all__ = ["draw_cell", "draw_filter_bank", "context_explorer", "input_gate_explorer", "projection_explorer",
           "spiky_input"]

# colours: control (gates, G_c) blue, data (G_d) orange, the input gate green, the projection purple
C_CONTROL, C_DATA, C_GATE, C_PROJ, C_SUM = "#cfe3f5", "#f6d9c4", "#d5ecd0", "#e3d5f0", "#f2f2f2"


class _Canvas:
    """Small helpers to draw boxes, nodes and arrows on one axes (data coordinates)."""

    def __init__(self, ax, fontsize=10):
        self.ax, self.fs = ax, fontsize

    def arrow(self, p, q, color="k", ls="-", lw=1.3, head=True):
        self.ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="-|>" if head else "-", lw=lw, ls=ls,
                                                             color=color, shrinkA=0, shrinkB=0,
                                                             mutation_scale=11))

    def line(self, xs, ys, color="k", ls="-", lw=1.3):
        self.ax.plot(xs, ys, color=color, ls=ls, lw=lw, solid_capstyle="butt")

    def box(self, x, y, w, h, text, color, fontsize=None):
        self.ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04", fc=color,
                                         ec="k", lw=1.0, zorder=3))
        self.ax.text(x, y, text, ha="center", va="center", fontsize=fontsize or self.fs, zorder=4)

    def node(self, x, y, text, r=0.24):
        self.ax.add_patch(Circle((x, y), r, fc="white", ec="k", lw=1.1, zorder=3))
        self.ax.text(x, y, text, ha="center", va="center", fontsize=self.fs + 1, zorder=4)

    def label(self, x, y, text, **kw):
        kw.setdefault("fontsize", self.fs)
        self.ax.text(x, y, text, **kw)


def draw_cell(ax=None):
    """The augmented LSTM cell (paper Eqs. 196-214), drawn after the paper's Fig. 10 (a); returns the axes.

    The five composite inputs xi_x..[n] enter from below; the input gate g_cx multiplies xi_xdu before
    the sum a_du; the qualifier q[n] = g_cr (.) r[n] goes through W_qdr to the value v[n]. Each sum adds
    W_v.. v[n-1] (grey, from the top bus), W_s.. s (dashed green; a_cr reads the new state s[n]) and b.
    """
    if ax is None:
        ax = plt.figure(figsize=(9.6, 6.4), layout="constrained").subplots()
    ax.set_xlim(-0.2, 15.2)
    ax.set_ylim(-0.4, 10.0)
    ax.set_aspect("equal")
    ax.axis("off")
    c = _Canvas(ax)
    y_v, y_sb, y_rail, y_G, y_sum, y_in = 9.4, 8.5, 7.0, 5.0, 3.3, 0.4
    col = {"cs": 2.0, "cx": 4.1, "du": 6.0, "cu": 8.0, "cr": 11.3}
    # the state rail: s[n-1] -> (x g_cs) -> (+ g_cu u) -> s[n]
    r_cs, r_add = col["cs"], 7.0
    c.arrow((0.0, y_rail), (r_cs - 0.24, y_rail), lw=2.0)
    c.arrow((r_cs + 0.24, y_rail), (r_add - 0.24, y_rail), lw=2.0)
    c.arrow((r_add + 0.24, y_rail), (15.0, y_rail), lw=2.0)
    c.node(r_cs, y_rail, "×")
    c.node(r_add, y_rail, "+")
    c.label(0.0, y_rail + 0.2, r"$s[n-1]$")
    c.label(14.3, y_rail + 0.2, r"$s[n]$")
    # the value bus v[n-1] (grey) and the state bus s[n-1] (dashed green) above the rail
    c.line([0.0, col["cr"] - 0.5], [y_v, y_v], color="0.45")
    c.label(0.0, y_v + 0.15, r"$v[n-1]$", color="0.3")
    c.line([1.2, col["cu"] + 0.45], [y_sb, y_sb], color="C2", ls="--")
    c.line([1.2, 1.2], [y_rail, y_sb], color="C2", ls="--")
    c.label(1.3, y_sb + 0.12, r"$s[n-1]$", color="C2", fontsize=9)
    w_sum, h_sum, w_G, h_G = 1.3, 0.8, 0.9, 0.75
    for g, x in col.items():
        top = y_sum + h_sum / 2
        c.arrow((x - 0.45, y_v), (x - 0.45, top), color="0.45", lw=1.0)  # W_v.. v[n-1]
        if g in ("cs", "cx", "cu"):
            c.arrow((x + 0.45, y_sb), (x + 0.45, top), color="C2", ls="--", lw=1.0)  # W_s.. s[n-1]
        c.box(x, y_sum, w_sum, h_sum, rf"$\Sigma\ a_{{{g}}}$", C_SUM)
    # W_scr reads the NEW state s[n]
    x_tap = col["cr"] + 0.95
    c.line([x_tap, x_tap], [y_rail, y_sum], color="C2", ls="--", lw=1.0)
    c.arrow((x_tap, y_sum), (col["cr"] + w_sum / 2 + 0.04, y_sum), color="C2", ls="--", lw=1.0)
    c.label(x_tap + 0.1, 4.2, r"$W_{scr}\, s[n]$", color="C2", fontsize=9)
    # the composite inputs from below
    for g, x in col.items():
        end = 1.75 if g == "du" else y_sum - h_sum / 2
        c.arrow((x, y_in + 0.35), (x, end - (0.24 if g == "du" else 0)))
        c.label(x, y_in, rf"$\xi_{{x{g}}}[n]$", ha="center", va="center", fontsize=10)
    # the input gate: a_cx -> G_c -> g_cx, which multiplies xi_xdu (Eq. 209)
    x_cx, x_du = col["cx"], col["du"]
    c.arrow((x_cx, y_sum + h_sum / 2), (x_cx, y_G - h_G / 2))
    c.box(x_cx, y_G, w_G, h_G, r"$G_c$", C_GATE)
    c.line([x_cx + w_G / 2, 5.05], [y_G, y_G])
    c.line([5.05, 5.05], [y_G, 2.0])
    c.arrow((5.05, 2.0), (x_du - 0.24, 2.0))
    c.label(4.6, y_G + 0.45, r"$g_{cx}$", color="C2", fontweight="bold")
    c.node(x_du, 2.0, "×")
    c.arrow((x_du, 2.24), (x_du, y_sum - h_sum / 2))
    c.label(x_du + 0.2, 2.45, r"$g_{cx} \odot \xi_{xdu}$", fontsize=8.5)
    # the data update: a_du -> G_d -> u
    c.arrow((x_du, y_sum + h_sum / 2), (x_du, y_G - h_G / 2))
    c.box(x_du, y_G, w_G, h_G, r"$G_d$", C_DATA)
    c.label(x_du + 0.5, y_G + 0.42, r"$u[n]$", fontsize=10)
    # the control update gate and its product with u
    x_cu = col["cu"]
    c.arrow((x_cu, y_sum + h_sum / 2), (x_cu, y_G - h_G / 2))
    c.box(x_cu, y_G, w_G, h_G, r"$G_c$", C_CONTROL)
    c.label(x_cu + 0.5, y_G + 0.42, r"$g_{cu}$", fontsize=10)
    c.node(r_add, 6.0, "×")
    c.line([x_du, x_du], [y_G + h_G / 2, 6.0])
    c.arrow((x_du, 6.0), (r_add - 0.24, 6.0))
    c.line([x_cu, x_cu], [y_G + h_G / 2, 6.0])
    c.arrow((x_cu, 6.0), (r_add + 0.24, 6.0))
    c.arrow((r_add, 6.24), (r_add, y_rail - 0.24))
    # the control state gate on the rail
    x_cs = col["cs"]
    c.arrow((x_cs, y_sum + h_sum / 2), (x_cs, y_G - h_G / 2))
    c.box(x_cs, y_G, w_G, h_G, r"$G_c$", C_CONTROL)
    c.arrow((x_cs, y_G + h_G / 2), (x_cs, y_rail - 0.24))
    c.label(x_cs + 0.12, 6.05, r"$g_{cs}$", fontsize=10)
    # the readout r = G_d(s[n]), the readout gate, the qualifier q and the projection
    x_r, x_cr = 9.6, col["cr"]
    c.arrow((x_r, y_rail), (x_r, 5.95 + h_G / 2))
    c.box(x_r, 5.95, w_G, h_G, r"$G_d$", C_DATA)
    c.arrow((x_cr, y_sum + h_sum / 2), (x_cr, 4.6 - h_G / 2))
    c.box(x_cr, 4.6, w_G, h_G, r"$G_c$", C_CONTROL)
    c.label(x_cr + 0.1, 5.25, r"$g_{cr}$", fontsize=10)
    c.node(x_cr, 5.95, "×")
    c.arrow((x_r + w_G / 2, 5.95), (x_cr - 0.24, 5.95))
    c.label(x_r + 0.6, 6.1, r"$r[n]$", fontsize=10)
    c.arrow((x_cr, 4.6 + h_G / 2), (x_cr, 5.95 - 0.24))
    c.box(13.45, 5.95, 1.1, 0.8, r"$W_{qdr}$", C_PROJ)
    c.arrow((x_cr + 0.24, 5.95), (13.45 - 0.6, 5.95))
    c.label(x_cr + 0.3, 6.1, r"$q[n]$", fontsize=10)
    c.arrow((14.0, 5.95), (15.0, 5.95))
    c.label(14.2, 6.1, r"$v[n]$", fontsize=10, fontweight="bold")
    c.label(13.6, 5.25, r"to step $n+1$" "\n" r"and the output $y[n]$", ha="center", va="top", fontsize=8, color="0.35")
    return ax


def draw_filter_bank(ax=None, L: int = 4):
    """The five context-window filters after the paper's Fig. 10 (b), and the L taps of one of them.

    Left: x[n] -> W_x..[n] * -> xi_x..[n] for the five accumulations. Right: one filter opened up,
    xi[n] = sum_l W_x[l] x[n+l] (paper Eq. 188): tap l reads the sample l steps AHEAD. Returns the axes.
    """
    if ax is None:
        ax = plt.figure(figsize=(9.6, 3.8), layout="constrained").subplots()
    ax.set_xlim(-0.2, 15.2)
    ax.set_ylim(-0.3, 6.0)
    ax.set_aspect("equal")
    ax.axis("off")
    c = _Canvas(ax)
    names = ("du", "cx", "cu", "cs", "cr")
    c.label(0.0, 2.8, r"$x[n]$", va="center", fontsize=11)
    c.line([0.75, 1.4], [2.8, 2.8])
    c.line([1.4, 1.4], [0.5, 5.3])
    for i, g in enumerate(names):
        y = 5.3 - 1.2 * i
        c.arrow((1.4, y), (2.3, y))
        ax.add_patch(Polygon([(2.3, y - 0.45), (2.3, y + 0.45), (4.3, y + 0.3), (4.3, y - 0.3)], closed=True,
                             fc=C_GATE if g == "cx" else C_SUM, ec="k", lw=1.0))
        c.label(3.3, y, rf"$W_{{x{g}}}[n]\, *$", ha="center", va="center", fontsize=10)
        c.arrow((4.3, y), (5.0, y))
        c.label(5.1, y, rf"$\xi_{{x{g}}}[n]$", va="center", fontsize=10)
    # one filter opened: the tapped line x[n], x[n+1], ..., x[n+L-1]
    x0, dx = 7.6, 1.75
    c.label(x0 - 0.5, 5.35, rf"one filter, $L = {L}$ taps:  $\xi[n] = \sum_l W_x[l]\, x[n+l]$", fontsize=10)
    for l in range(L):
        x = x0 + dx * l
        sample = r"$x[n]$" if l == 0 else rf"$x[n+{l}]$"
        c.label(x, 4.4, sample, ha="center", va="center", fontsize=10)
        c.arrow((x, 4.1), (x, 3.25))
        c.box(x, 2.9, 1.1, 0.65, rf"$W_x[{l}]$", C_SUM, fontsize=9.5)
        c.arrow((x, 2.55), (x0 + dx * (L - 1) / 2, 1.4 + 0.25))
    c.node(x0 + dx * (L - 1) / 2, 1.4, "+", r=0.25)
    c.arrow((x0 + dx * (L - 1) / 2, 1.15), (x0 + dx * (L - 1) / 2, 0.45))
    c.label(x0 + dx * (L - 1) / 2, 0.15, r"$\xi[n]$", ha="center", va="center", fontsize=10)
    c.label(x0 - 0.5, 4.85, "present", fontsize=8.5, color="0.35")
    c.label(x0 + dx * (L - 1) - 0.4, 4.85, "future →", fontsize=8.5, color="0.35")
    return ax


# ---- explorers ---------------------------------------------------------------------------------------------


def context_explorer(N: int = 40, k: int = 20, d: int = 8, seed: int = 0) -> Explorer:
    """||v'[n] - v[n]|| against n when the input sample x[k] changes (d_x = 1, d_s = ``d``, random weights).

    Sliders: ``L`` (taps of the context windows) and ``b_cs`` (the state gate's bias): the output
    reacts L-1 steps BEFORE the changed sample (the window reads ahead), and keeps reacting after it
    for as long as the state remembers (the state covers the past).
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x = torch.randn(N, 4, 1, dtype=torch.float64)
        base = AugmentedLSTM(1, d, context=8, dtype=torch.float64)
    models = {}

    def model_for(L):  # the first L taps of one 8-tap cell: each L adds one tap, the rest stays the same
        if L not in models:
            m = AugmentedLSTM(1, d, context=L, dtype=torch.float64)
            with torch.no_grad():
                m.W_x.copy_(base.W_x.view(-1, 8, 1)[:, :L].reshape(-1, L))
                m.W_v.copy_(base.W_v)
                m.b.copy_(base.b)
                m.W_s.copy_(base.W_s)
            models[L] = m
        return models[L]

    def compute(L, b_cs):
        m = model_for(int(L))
        m.b_cs = torch.full((d,), float(b_cs))
        resp = response_to_change(m, x, k, delta=1.0).numpy()
        return {"response": resp}

    def draw(fig, data, L, b_cs):
        ax = fig.subplots()
        resp = data["response"]
        n = np.arange(len(resp))
        ax.axvspan(k - L + 0.5, k - 0.5, color="C1", alpha=0.15, lw=0,
                   label=f"context: the {int(L) - 1} steps before k" if L > 1 else None)
        ax.axvline(k, color="0.4", ls=":", lw=1)
        ax.bar(n, np.maximum(resp, 1e-12), color=["C1" if i < k else "C0" for i in n], width=0.8)
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 3)
        ax.set_xlim(-0.5, len(resp) - 0.5)
        ax.set_xlabel(f"step n (the sample x[{k}] changes by 1)")
        ax.set_ylabel(r"$\|v'[n] - v[n]\|$")
        ax.set_title(f"L = {int(L)}, b_cs = {b_cs:g}: felt from step {k - int(L) + 1} on "
                     f"(orange: before the change)", fontsize=10)
        if L > 1:
            ax.legend(loc="upper right", fontsize=9)

    params = {
        "L": Param(1, 8, 1, 3, label="window length L", integer=True, values=(1, 2, 3, 4, 6)),
        "b_cs": Param(-2.0, 6.0, 0.5, 0.0, label="state-gate bias b_cs", values=(0.0, 2.0, 4.0)),
    }
    return Explorer(compute, draw, params, scrub=("L", "b_cs"), figsize=(8.0, 3.4))


def spiky_input(N: int = 60, seed: int = 1) -> torch.Tensor:
    """A slow sine of amplitude 0.5 with a few spurious positive spikes of height 3: (N, 1, 1), float64."""
    n = torch.arange(N, dtype=torch.float64)
    x = 0.5 * torch.sin(2 * torch.pi * n / 20)
    g = torch.Generator().manual_seed(seed)
    spikes = torch.randperm(N - 4, generator=g)[:5] + 2
    x[spikes] += 3.0
    return x.view(N, 1, 1)


def _gate_cell(b_cx: float, w_xcx: float, b_du: float = 0.0) -> AugmentedLSTM:
    """A one-unit cell whose update passes the gated input straight to the state (hand-set, not trained)."""
    m = AugmentedLSTM(1, 1, input_gate=True, state_weights=None, dtype=torch.float64)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
    one = torch.ones(1, 1, 1, dtype=torch.float64)
    m.W_xdu = one  # xi_xdu[n] = x[n]
    m.W_xcx = w_xcx * one  # a_cx[n] = W_xcx x[n] + b_cx
    m.b_cx = torch.full((1,), float(b_cx))
    m.b_du = torch.full((1,), float(b_du))
    m.b_cu = torch.full((1,), 8.0)  # g_cu ~ 1: the update enters in full
    m.b_cs = torch.full((1,), -8.0)  # g_cs ~ 0: s[n] ~ u[n], no memory, so each step shows its own input
    m.b_cr = torch.full((1,), 8.0)
    return m


def input_gate_explorer(N: int = 60) -> Explorer:
    """The input gate on an input with spurious spikes: a hand-set one-unit cell (d_x = d_s = 1).

    Sliders: ``b_cx`` (the gate's bias) and ``W_xcx`` (the weight of x[n] in a_cx). Top: the input
    xi_xdu[n] = x[n] and what reaches the update, g_cx[n] xi_xdu[n] (Eq. 209). Bottom: g_cx[n]. With
    W_xcx = 0 the gate is one constant fraction G_c(b_cx) of every sample; with W_xcx < 0 large samples
    close it, so the spikes are suppressed and the slow signal passes.
    """
    x = spiky_input(N)

    def compute(b_cx, W_xcx):
        m = _gate_cell(b_cx, W_xcx)
        with torch.no_grad():
            sigs = augmented_sequence(x, m.paper_params(), signals=True)
        xi = torch.stack([s["xi_xdu"] for s in sigs]).flatten().numpy()
        g = torch.stack([s["g_cx"] for s in sigs]).flatten().numpy()
        return {"xi_xdu": xi, "g_cx": g, "gated": g * xi}

    def draw(fig, data, b_cx, W_xcx):
        ax0, ax1 = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        n = np.arange(len(data["xi_xdu"]))
        ax0.plot(n, data["xi_xdu"], color="0.6", lw=1.2, label=r"$\xi_{xdu}[n] = x[n]$ (the input term)")
        ax0.plot(n, data["gated"], color="C2", lw=1.8, label=r"$g_{cx}[n]\, \xi_{xdu}[n]$ (what reaches $a_{du}$)")
        ax0.set_ylim(-0.8, 4.8)
        ax0.set_ylabel("input term")
        ax0.legend(loc="upper right", fontsize=8.5, ncols=2)
        ax0.set_title(f"b_cx = {b_cx:g}, W_xcx = {W_xcx:g}: a_cx[n] = W_xcx x[n] + b_cx", fontsize=10)
        ax1.plot(n, data["g_cx"], color="C2", lw=1.4)
        ax1.set_ylim(-0.05, 1.05)
        ax1.set_ylabel(r"$g_{cx}[n]$")
        ax1.set_xlabel("step n")

    params = {
        "b_cx": Param(-4.0, 6.0, 0.5, 2.0, label="input-gate bias b_cx", values=(-2.0, 0.0, 2.0, 4.0)),
        "W_xcx": Param(-4.0, 0.0, 0.5, -2.0, label="input-gate weight W_xcx", values=(-4.0, -2.0, 0.0)),
    }
    return Explorer(compute, draw, params, scrub=("b_cx", "W_xcx"), figsize=(8.0, 4.2))


def projection_explorer(d_x: int = 8, d_s: int = 32, N: int = 40, seed: int = 0) -> Explorer:
    """The recurrent projection (paper Eqs. 189-190): parameters and output against d_v.

    Slider: ``d_v`` (d_v = d_s means no projection). Left: the parameters of Eq. 215 against d_v, split
    into the W_v.. blocks (d_s x d_v each), W_qdr (d_v x d_s) and the rest. Right: the d_v channels of
    v[n] for one random input (random weights), next to the d_s channels of q[n] that they mix.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x = torch.randn(N, 1, d_x, dtype=torch.float64)
        models = {}

    def compute(d_v):
        d_v = int(d_v)
        proj = 0 if d_v == d_s else d_v
        if d_v not in models:
            with torch.random.fork_rng():
                torch.manual_seed(seed + d_v)
                models[d_v] = AugmentedLSTM(d_x, d_s, proj_size=proj, dtype=torch.float64)
        with torch.no_grad():
            sigs = augmented_sequence(x, models[d_v].paper_params(), signals=True)
        counts = {dv: parameter_count(d_x, d_s, proj_size=0 if dv == d_s else dv) for dv in range(1, d_s + 1)}
        v = torch.stack([sig["v"][0] for sig in sigs]).numpy()
        q = torch.stack([sig["q"][0] for sig in sigs]).numpy()
        return {"v": v, "q": q, "counts": counts}

    def draw(fig, data, d_v):
        ax0, ax1 = fig.subplots(1, 2, width_ratios=(1, 1.1))
        dvs = np.arange(1, d_s)  # with a projection, d_v < d_s
        cnt = data["counts"]
        wv = np.array([sum(cnt[k][n] for n in cnt[k] if n.startswith("W_v")) for k in dvs])
        wq = np.array([cnt[k]["W_qdr"] for k in dvs])
        total = np.array([cnt[k]["total"] for k in dvs])
        ax0.stackplot(dvs, total - wv - wq, wv, wq, colors=("0.8", "C0", "C4"),
                      labels=("W_x.., W_s.., b_..", "W_v.. (4 blocks d_s × d_v)", "W_qdr (d_v × d_s)"))
        ax0.axhline(cnt[d_s]["total"], color="k", ls=":", lw=1, label=f"no projection (d_v = d_s = {d_s})")
        ax0.axvline(d_v, color="C3", lw=1.5)
        ax0.set_xlabel("d_v")
        ax0.set_ylabel("parameters")
        ax0.set_title(f"d_v = {int(d_v)}: {cnt[int(d_v)]['total']} parameters", fontsize=10)
        ax0.legend(fontsize=7.5, loc="lower right")
        im = np.concatenate([data["q"].T, np.full((1, data["q"].shape[0]), np.nan), data["v"].T])
        top = float(np.nanmax(np.abs(im)))
        ax1.imshow(im, aspect="auto", cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
        ax1.set_yticks([d_s / 2, d_s + 1 + data["v"].shape[1] / 2], [f"q[n]\n({d_s})", f"v[n]\n({int(d_v)})"])
        ax1.set_xlabel("step n")
        ax1.set_title(r"channels of $q[n]$ (top) and $v[n] = W_{qdr}\, q[n]$ (bottom)", fontsize=9)

    values = tuple(sorted({v for v in (2, 4, 8, 16, 24) if v < d_s} | {d_s}))
    default = 8 if 8 in values else values[0]
    params = {"d_v": Param(1, d_s, 1, default, label="value size d_v", integer=True, values=values)}
    return Explorer(compute, draw, params, scrub="d_v", figsize=(8.6, 3.6))

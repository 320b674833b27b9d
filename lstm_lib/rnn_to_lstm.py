"""From the RNN to the vanilla LSTM in small steps (chapter "From the RNN to the vanilla LSTM").

:func:`chain_step` is one cell that, stage by stage, turns the standard RNN into the vanilla LSTM
of eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v; each stage adds one idea to the previous one:

0. ``"rnn"``: s[n] = W_vdu r[n-1] + W_xdu x[n] + b_du, r[n] = G_d(s[n]) (the standard RNN);
1. ``"carousel"``: s[n] = s[n-1] + u[n], u[n] = G_d(a_du[n]): the state is carried unchanged;
2. ``"state gate"``: s[n] = g_cs[n] s[n-1] + u[n]: a gate scales the carried state;
3. ``"update gate"``: s[n] = g_cs[n] s[n-1] + g_cu[n] u[n]: a gate scales the new data;
4. ``"readout gate"``: v[n] = g_cr[n] G_d(s[n]) is fed back instead of r[n];
5. ``"peepholes"``: the gates also see the state: the vanilla LSTM.

:func:`gradient_vs_lag` measures what each stage does to the error signal: ||dE/ds[n]|| for a
loss E that depends on the last state only.
"""

from __future__ import annotations

import torch

from ._checks import check_choice, check_int, check_tensor
from .vanilla_lstm import G_c, G_d, VanillaLSTM

STAGES = ("rnn", "carousel", "state gate", "update gate", "readout gate", "peepholes")


def chain_step(stage: str, x, v_prev, s_prev, p):
    """One step of the cell at ``stage`` (see the module docstring); returns ``(v[n], s[n])``.

    ``p`` holds the parameters by the paper's names (``VanillaLSTM.paper_params()``); each stage uses
    only the ones its equations name. At stage ``"peepholes"`` this is :func:`~lstm_lib.vanilla_lstm.lstm_step`.
    """
    k = STAGES.index(check_choice("stage", stage, STAGES))

    def a(g, s_peek):  # the accumulation of gate g; peepholes only at the last stage
        acc = x @ p[f"W_x{g}"].T + v_prev @ p[f"W_v{g}"].T + p[f"b_{g}"]
        return acc + p[f"w_s{g}"] * s_peek if k >= 5 else acc

    a_du = x @ p["W_xdu"].T + v_prev @ p["W_vdu"].T + p["b_du"]
    if k == 0:
        s = a_du  # the standard RNN: nothing of s[n-1] is carried over directly
        return G_d(s), s
    u = G_d(a_du)
    g_cs = G_c(a("cs", s_prev)) if k >= 2 else 1.0
    g_cu = G_c(a("cu", s_prev)) if k >= 3 else 1.0
    s = g_cs * s_prev + g_cu * u
    g_cr = G_c(a("cr", s)) if k >= 4 else 1.0
    return g_cr * G_d(s), s


def gradient_vs_lag(stage: str, N: int = 100, *, d: int = 8, m: int = 2, B: int = 16, b_cs: float = 0.0,
                    seed: int = 0, x=None):
    """||dE/ds[n]|| for n = 0 .. N-1 (mean over the batch) with E = w . s[N-1], ||w|| = 1.

    The cell's parameters come from ``VanillaLSTM(m, d)`` seeded with ``seed`` (so every stage shares
    them), with the state-gate bias set to ``b_cs``; the input ``x`` (N, B, m) is standard normal
    unless given. Returns a float64 tensor of length N; entry n is how much of the error signal
    from the last step reaches step n.
    """
    check_choice("stage", stage, STAGES)
    N, d, m, B = (check_int(k, v, minimum=1) for k, v in (("N", N), ("d", d), ("m", m), ("B", B)))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VanillaLSTM(m, d, dtype=torch.float64)
    model.b_cs = torch.full((d,), float(b_cs))
    p = {k: t.detach() for k, t in model.paper_params().items()}
    if x is None:
        x = torch.randn(N, B, m, generator=gen, dtype=torch.float64)
    check_tensor("x", x, shape=(N, B, m))
    w = torch.randn(d, generator=gen, dtype=torch.float64)
    w = w / w.norm()
    v = torch.zeros(B, d, dtype=torch.float64, requires_grad=True)
    s = torch.zeros(B, d, dtype=torch.float64, requires_grad=True)
    states = []
    for n in range(N):
        v, s = chain_step(stage, x[n].to(torch.float64), v, s, p)
        s.retain_grad()
        states.append(s)
    (s @ w).sum().backward()
    return torch.stack([st.grad.norm(dim=1).mean() for st in states])


def explorer(N: int = 100):
    """Widget: ||dE/ds[n]|| against n for every stage of the chain, as the state-gate bias ``b_cs`` moves."""
    import numpy as np

    from .widgets import Explorer, Param

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
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyBboxPatch

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

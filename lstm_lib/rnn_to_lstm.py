"""From the RNN to the vanilla LSTM in small steps (chapter "From the RNN to the vanilla LSTM").

:func:`chain_step` is one cell that, stage by stage, turns the standard RNN into the vanilla LSTM
of eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v; each stage adds one idea to the previous one:

0. ``"rnn"``: s[n] = W_vdu r[n-1] + W_xdu x[n] + b_du, r[n] = G_d(s[n]) (the standard RNN);
1. ``"carousel"``: s[n] = s[n-1] + u[n], u[n] = G_d(a_du[n]): the state is carried unchanged;
2. ``"state gate"``: s[n] = g_cs[n] s[n-1] + u[n]: a gate scales the carried state;
3. ``"update gate"``: s[n] = g_cs[n] s[n-1] + g_cu[n] u[n]: a gate scales the new data;
4. ``"readout gate"``: v[n] = g_cr[n] G_d(s[n]) is fed back instead of r[n];
5. ``"peepholes"``: the gates also see the state (full matrices W_s.., the paper's pinhole connections): the vanilla LSTM.

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
        return acc + s_peek @ p[f"W_s{g}"].T if k >= 5 else acc

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

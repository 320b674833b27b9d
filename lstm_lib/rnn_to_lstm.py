"""From the canonical RNN to the vanilla LSTM in the paper's steps (chapter "From the RNN to the vanilla LSTM").

Section V of the paper turns the canonical RNN (paper Eq. 30) into the vanilla LSTM one change at a
time. Each change is one cell function here, named after its stage, in the paper's order:

============================  ===========  ==========================================================
stage                         paper Eqs.   the change
============================  ===========  ==========================================================
``"canonical"``               30-31        s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s
``"split"``                   94-97        the same, written F_s(s[n-1]) + F_u(r[n-1], x[n])
``"gated"``                   98-99        g_cs scales F_s, g_cu scales F_u
``"W_s = I"``                 100-102      F_s(s[n-1]) = s[n-1]: g_cs supplies the fraction
``"readout gate"``            103-105      v[n] = g_cr r[n] is fed back instead of r[n]
``"input gate"``              106          g_cx scales W_x x[n] inside F_u
``"update candidate"``        107-108      g_cx = 1; u[n] = G_d(F_u): the LSTM's state equation
``"vanilla"``                 109-117      the gates' accumulations see the state (pinhole
                                           connections): the vanilla LSTM
============================  ===========  ==========================================================

The parameters carry Section V's names (``W_s, W_r, W_x, theta_s``, and ``W_xcs, W_scs, W_vcs,
theta_cs`` ... for the gates); :func:`to_section_vi` is the paper's change of notation from Section
V to Section VI (z -> a, theta -> b, F_u's W_r, W_x, theta_s -> W_vdu, W_xdu, b_du).

Until its Step 8 the paper does not say what the gates see. Here, from the first gated stage on,
every gate is G_c (the paper's choice in Eqs. 109-111) of the accumulation of Eqs. 112-117 WITHOUT its
state term, fed by x[n] and the signal fed back (r[n-1], from stage ``"readout gate"`` on v[n-1]);
the last stage adds the state terms (the book's reading, so that every stage runs).

:func:`gradient_vs_lag` measures what each stage does to the error gradient: ||dE/ds[n]|| against n
for a loss that depends on the last state only.
"""

from __future__ import annotations

import torch

from ._checks import check_choice, check_int, check_real, check_tensor
from .vanilla_lstm import G_c, G_d, VanillaLSTM

STAGES = ("canonical", "split", "gated", "W_s = I", "readout gate", "input gate", "update candidate", "vanilla")
STAGE_EQUATIONS = {
    "canonical": "30-31", "split": "94-97", "gated": "98-99", "W_s = I": "100-102", "readout gate": "103-105",
    "input gate": "106", "update candidate": "107-108", "vanilla": "109-117",
}

# Section V name -> Section VI name (the notation shift at the start of Section VI).
NOTATION_SHIFT = {
    "W_r": "W_vdu", "W_x": "W_xdu", "theta_s": "b_du",
    **{f"{k}{g}": f"{k}{g}" for g in ("cu", "cs", "cr") for k in ("W_x", "W_s", "W_v")},
    **{f"theta_{g}": f"b_{g}" for g in ("cu", "cs", "cr")},
}


# ---- the cells, stage by stage ------------------------------------------------------------------


def z(p, gate, x, fed_prev, s=None):
    """The accumulation of a gate (paper Eqs. 112-114): W_x. x[n] + W_v. (fed back) + theta_. [+ W_s. s]."""
    acc = x @ p[f"W_x{gate}"].T + fed_prev @ p[f"W_v{gate}"].T + p[f"theta_{gate}"]
    return acc if s is None else acc + s @ p[f"W_s{gate}"].T


def canonical(x, r_prev, s_prev, p):
    """The canonical RNN (paper Eqs. 30-31)."""
    s = s_prev @ p["W_s"].T + r_prev @ p["W_r"].T + x @ p["W_x"].T + p["theta_s"]  # Eq. 30
    r = G_d(s)  # Eq. 31
    return r, s


def split(x, r_prev, s_prev, p):
    """The same cell, its state equation split into a state part and an update part (paper Eqs. 94-97)."""
    F_s = s_prev @ p["W_s"].T  # Eq. 96
    F_u = r_prev @ p["W_r"].T + x @ p["W_x"].T + p["theta_s"]  # Eq. 97
    s = F_s + F_u  # Eq. 94
    r = G_d(s)  # Eq. 95
    return r, s


def gated(x, r_prev, s_prev, p):
    """Two gates apportion the state part and the update part (paper Eqs. 98-99)."""
    g_cs = G_c(z(p, "cs", x, r_prev))  # control state gate, 0 <= g_cs <= 1 (Eq. 99)
    g_cu = G_c(z(p, "cu", x, r_prev))  # control update gate, 0 <= g_cu <= 1 (Eq. 99)
    F_s = s_prev @ p["W_s"].T  # Eq. 96
    F_u = r_prev @ p["W_r"].T + x @ p["W_x"].T + p["theta_s"]  # Eq. 97
    s = g_cs * F_s + g_cu * F_u  # Eq. 98
    r = G_d(s)  # Eq. 95
    return r, s


def identity_state(x, r_prev, s_prev, p):
    """W_s = I: the control state gate supplies the fraction of the state kept (paper Eqs. 100-102)."""
    g_cs = G_c(z(p, "cs", x, r_prev))
    g_cu = G_c(z(p, "cu", x, r_prev))
    F_s = s_prev  # Eqs. 100-101
    F_u = r_prev @ p["W_r"].T + x @ p["W_x"].T + p["theta_s"]  # Eq. 97
    s = g_cs * F_s + g_cu * F_u  # Eq. 102
    r = G_d(s)  # Eq. 95
    return r, s


def readout_gate(x, v_prev, s_prev, p):
    """A readout gate makes the value v[n], which is fed back instead of r[n] (paper Eqs. 103-105)."""
    g_cs = G_c(z(p, "cs", x, v_prev))
    g_cu = G_c(z(p, "cu", x, v_prev))
    F_u = v_prev @ p["W_r"].T + x @ p["W_x"].T + p["theta_s"]  # Eq. 105
    s = g_cs * s_prev + g_cu * F_u  # Eq. 102
    r = G_d(s)  # Eq. 95
    g_cr = G_c(z(p, "cr", x, v_prev))  # control readout gate, 0 <= g_cr <= 1 (Eq. 104)
    v = g_cr * r  # Eq. 103
    return v, s


def input_gate(x, v_prev, s_prev, p):
    """A control input gate scales the external input inside the update (paper Eq. 106)."""
    g_cs = G_c(z(p, "cs", x, v_prev))
    g_cu = G_c(z(p, "cu", x, v_prev))
    g_cx = G_c(z(p, "cx", x, v_prev))  # control input gate
    F_u = v_prev @ p["W_r"].T + g_cx * (x @ p["W_x"].T) + p["theta_s"]  # Eq. 106
    s = g_cs * s_prev + g_cu * F_u  # Eq. 102
    r = G_d(s)  # Eq. 95
    g_cr = G_c(z(p, "cr", x, v_prev))
    v = g_cr * r  # Eq. 103
    return v, s


def update_candidate(x, v_prev, s_prev, p):
    """g_cx = 1 again, and the update is warped into the update candidate u[n] (paper Eqs. 107-108)."""
    g_cs = G_c(z(p, "cs", x, v_prev))
    g_cu = G_c(z(p, "cu", x, v_prev))
    F_u = v_prev @ p["W_r"].T + x @ p["W_x"].T + p["theta_s"]  # Eq. 105 (g_cx = 1)
    u = G_d(F_u)  # Eq. 107
    s = g_cs * s_prev + g_cu * u  # Eq. 108
    r = G_d(s)  # Eq. 95
    g_cr = G_c(z(p, "cr", x, v_prev))
    v = g_cr * r  # Eq. 103
    return v, s


def vanilla(x, v_prev, s_prev, p):
    """The gates see the nearest state: s[n-1] for g_cs, g_cu, the new s[n] for g_cr (paper Eqs. 109-117)."""
    z_cs = z(p, "cs", x, v_prev, s_prev)  # Eq. 112
    z_cu = z(p, "cu", x, v_prev, s_prev)  # Eq. 113
    g_cs = G_c(z_cs)  # Eq. 115, with G_c the logistic function (Eqs. 109-111)
    g_cu = G_c(z_cu)  # Eq. 116
    u = G_d(v_prev @ p["W_r"].T + x @ p["W_x"].T + p["theta_s"])  # Eq. 107
    s = g_cs * s_prev + g_cu * u  # Eq. 108
    z_cr = z(p, "cr", x, v_prev, s)  # Eq. 114 (the new state s[n])
    g_cr = G_c(z_cr)  # Eq. 117
    v = g_cr * G_d(s)  # Eqs. 95, 103
    return v, s


CELLS = {
    "canonical": canonical, "split": split, "gated": gated, "W_s = I": identity_state,
    "readout gate": readout_gate, "input gate": input_gate, "update candidate": update_candidate,
    "vanilla": vanilla,
}


def chain_step(stage: str, x, fed_prev, s_prev, p):
    """One step of the cell at ``stage``; returns ``(fed[n], s[n])``.

    ``fed`` is the signal the cell feeds back: the readout r[n] up to stage ``"W_s = I"``, the value
    v[n] from ``"readout gate"`` on. ``x``: (B, d_x); ``fed_prev``, ``s_prev``: (B, d_s); ``p``: the
    parameters by Section V's names (:func:`chain_params`). At stage ``"vanilla"`` this is
    :func:`~lstm_lib.vanilla_lstm.lstm_step` with ``to_section_vi(p)``.
    """
    cell = CELLS[check_choice("stage", stage, STAGES)]
    check_tensor("x", x, ndim=2, finite=False)
    B, d = x.shape[0], p["theta_s"].shape[0]
    check_tensor("fed_prev", fed_prev, shape=(B, d), finite=False)
    check_tensor("s_prev", s_prev, shape=(B, d), finite=False)
    return cell(x, fed_prev, s_prev, p)


# ---- parameters ------------------------------------------------------------------------------------


def chain_params(input_size: int, hidden_size: int, *, w_s: float = 0.5, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """The parameters of every stage, by Section V's names, drawn once so that all stages share them.

    The LSTM's parameters are those of ``VanillaLSTM(input_size, hidden_size)`` seeded with ``seed``,
    renamed by the inverse of :func:`to_section_vi`; the control input gate's ``W_xcx, W_vcx,
    theta_cx`` are drawn from the same distribution; the canonical RNN's ``W_s = w_s I``, diagonal
    with a positive fraction as Section II derives it (paper text after Eq. 31).
    """
    m = check_int("input_size", input_size, minimum=1)
    d = check_int("hidden_size", hidden_size, minimum=1)
    w_s = check_real("w_s", w_s)
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        lstm = VanillaLSTM(m, d, dtype=dtype)
        k = 1 / d**0.5
        cx = {"W_xcx": torch.empty(d, m, dtype=dtype).uniform_(-k, k),
              "W_vcx": torch.empty(d, d, dtype=dtype).uniform_(-k, k),
              "theta_cx": torch.empty(d, dtype=dtype).uniform_(-k, k)}
    vi = {name: t.detach().clone() for name, t in lstm.paper_params().items()}
    p = {v5: vi[v6] for v5, v6 in NOTATION_SHIFT.items()}
    p["W_s"] = w_s * torch.eye(d, dtype=dtype)
    return p | cx


def to_section_vi(p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The paper's change of notation from Section V to Section VI: the 15 parameters of paper Eq. 123
    (z_.. -> a_.., theta_.. -> b_.., and F_u's W_r, W_x, theta_s -> W_vdu, W_xdu, b_du)."""
    missing = [k for k in NOTATION_SHIFT if k not in p]
    if missing:
        raise ValueError(f"p: expected Section V's parameters (chain_params), missing {', '.join(missing)}")
    return {v6: p[v5] for v5, v6 in NOTATION_SHIFT.items()}


# ---- measurement -------------------------------------------------------------------------------------


def gradient_vs_lag(stage: str, N: int = 100, *, d: int = 8, m: int = 2, B: int = 16, b_cs: float = 0.0,
                    b_cu: float | None = None, b_cr: float | None = None, w_s: float = 0.5, seed: int = 0,
                    x=None) -> torch.Tensor:
    """||dE/ds[n]|| for n = 0 .. N-1 (mean over the batch) with E = w . s[N-1], ||w|| = 1.

    The cell is ``stage``'s, with the parameters of ``chain_params(m, d, w_s=w_s, seed=seed)``, the
    control state gate's bias theta_cs set to ``b_cs`` in every element (and theta_cu, theta_cr to
    ``b_cu``, ``b_cr`` when given). The input ``x`` (N, B, m) is standard normal unless given. Returns
    a float64 tensor of length N: entry n is how much of the error gradient at the last step reaches
    step n; entry N-1 is 1.
    """
    check_choice("stage", stage, STAGES)
    N, d, m, B = (check_int(k, v, minimum=1) for k, v in (("N", N), ("d", d), ("m", m), ("B", B)))
    p = chain_params(m, d, w_s=w_s, seed=seed)
    for name, value in (("b_cs", b_cs), ("b_cu", b_cu), ("b_cr", b_cr)):
        if value is not None:
            p[f"theta_{name[2:]}"] = torch.full((d,), check_real(name, value), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    if x is None:
        x = torch.randn(N, B, m, generator=gen, dtype=torch.float64)
    check_tensor("x", x, shape=(N, B, m))
    w = torch.randn(d, generator=gen, dtype=torch.float64)
    w = w / w.norm()
    fed = torch.zeros(B, d, dtype=torch.float64, requires_grad=True)
    s = torch.zeros(B, d, dtype=torch.float64, requires_grad=True)
    states = []
    for n in range(N):
        fed, s = chain_step(stage, x[n].to(torch.float64), fed, s, p)
        s.retain_grad()  # after backward, s.grad is the total derivative dE/ds[n]
        states.append(s)
    (s @ w).sum().backward()
    return torch.stack([st.grad.norm(dim=1).mean() for st in states])

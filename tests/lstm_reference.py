"""Independent loops of the paper's equations, written here for the tests (not imported from lstm_lib).

Each is a direct transcription, one line per equation, from the paper's parameters by name
(``model.paper_params()``), with column vectors written as rows (``W v`` is ``v @ W.T``).
"""

from __future__ import annotations

import torch


def sigma(a):
    return 1.0 / (1.0 + torch.exp(-a))


def augmented_loop(p, x, v0, s0, L, input_gate):
    """Paper Eqs. 196-214 for n = 0 .. N-1; x (N, B, d_x) time-major, zero past the end (Eq. 188).

    ``p``: W_x.. as (L, d_s, d_x), W_s.. as (d_s, d_s) matrices, W_v.., b_.., W_qdr.
    Returns v (N, B, d_v) and s[N-1].
    """
    N = x.shape[0]

    def xi(g, n):  # Eq. 188: sum_{l=0}^{L-1} W_x[l] x[n+l]
        total = 0.0
        for l in range(L):
            if n + l < N:
                total = total + x[n + l] @ p[f"W_x{g}"][l].T
        return total

    v, s, out = v0, s0, []
    for n in range(N):
        a_cu = xi("cu", n) + s @ p["W_scu"].T + v @ p["W_vcu"].T + p["b_cu"]  # Eq. 197
        g_cu = sigma(a_cu)  # Eq. 198
        a_cs = xi("cs", n) + s @ p["W_scs"].T + v @ p["W_vcs"].T + p["b_cs"]  # Eq. 200
        g_cs = sigma(a_cs)  # Eq. 201
        if input_gate:
            a_cx = xi("cx", n) + s @ p["W_scx"].T + v @ p["W_vcx"].T + p["b_cx"]  # Eq. 206
            g_cx = sigma(a_cx)  # Eq. 207
        else:
            g_cx = 1.0  # the vanilla cell: the input enters in full (Eq. 106 with g_cx = 1)
        a_du = g_cx * xi("du", n) + v @ p["W_vdu"].T + p["b_du"]  # Eq. 209
        u = torch.tanh(a_du)  # Eq. 210
        s_new = g_cs * s + g_cu * u  # Eq. 211
        a_cr = xi("cr", n) + s_new @ p["W_scr"].T + v @ p["W_vcr"].T + p["b_cr"]  # Eq. 203
        g_cr = sigma(a_cr)  # Eq. 204
        r = torch.tanh(s_new)  # Eq. 212
        q = g_cr * r  # Eq. 213
        v = q @ p["W_qdr"].T  # Eq. 214
        s = s_new
        out.append(v)
    return torch.stack(out), s


def vanilla_loop(p, x, v0, s0):
    """Paper Eqs. 126-136; ``p`` from VanillaLSTM.paper_params() (W_x.. (d, d_x), W_s.. matrices)."""
    v, s, out = v0, s0, []
    for n in range(x.shape[0]):
        a_cu = x[n] @ p["W_xcu"].T + s @ p["W_scu"].T + v @ p["W_vcu"].T + p["b_cu"]  # Eq. 126
        a_cs = x[n] @ p["W_xcs"].T + s @ p["W_scs"].T + v @ p["W_vcs"].T + p["b_cs"]  # Eq. 127
        a_du = x[n] @ p["W_xdu"].T + v @ p["W_vdu"].T + p["b_du"]  # Eq. 129
        u, g_cu, g_cs = torch.tanh(a_du), sigma(a_cu), sigma(a_cs)  # Eqs. 130-132
        s = g_cs * s + g_cu * u  # Eq. 134
        a_cr = x[n] @ p["W_xcr"].T + s @ p["W_scr"].T + v @ p["W_vcr"].T + p["b_cr"]  # Eq. 128
        v = sigma(a_cr) * torch.tanh(s)  # Eqs. 133, 135, 136
        out.append(v)
    return torch.stack(out), s


def onnx_peephole_loop(W, R, Bias, P, x, h0, c0):
    """The ONNX LSTM operator's equations (gate order i, o, f, c; peepholes P = [p_i, p_o, p_f]),
    default activations, no clipping: the diagonal-peephole cell of Gers et al. as ONNX defines it.
    W (4h, d_x), R (4h, h), Bias (8h,) = [Wb, Rb], P (3h,)."""
    h = R.shape[1]
    Wi, Wo, Wf, Wc = W.split(h)
    Ri, Ro, Rf, Rc = R.split(h)
    Wb, Rb = Bias.split(4 * h)
    bi, bo, bf, bc = (Wb + Rb).split(h)
    p_i, p_o, p_f = P.split(h)
    H, C, out = h0, c0, []
    for t in range(x.shape[0]):
        X = x[t]
        i = sigma(X @ Wi.T + H @ Ri.T + p_i * C + bi)
        f = sigma(X @ Wf.T + H @ Rf.T + p_f * C + bf)
        c = torch.tanh(X @ Wc.T + H @ Rc.T + bc)
        C = f * C + i * c
        o = sigma(X @ Wo.T + H @ Ro.T + p_o * C + bo)
        H = o * torch.tanh(C)
        out.append(H)
    return torch.stack(out), C

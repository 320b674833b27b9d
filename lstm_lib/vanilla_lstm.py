"""The vanilla LSTM (chapter "From the RNN to the vanilla LSTM"): the cell one step at a time, and the layer.

:func:`lstm_step` is the cell exactly as the paper writes it (paper Eqs. 126-136), one line per
equation, with the state-to-gate weights as d x d matrices (the paper's "pinhole connections", Sec.
VI-F). :class:`VanillaLSTM` (defined in :mod:`lstm_lib.lstm`) runs the same equations over whole
sequences, fast; it is the augmented layer with every switch off.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .lstm import VanillaLSTM

__all__ = ["G_c", "G_d", "VanillaLSTM", "lstm_step"]

G_c = torch.sigmoid  # control warping function (paper Eq. 121): the gates' values lie in (0, 1)
G_d = torch.tanh  # data warping function (paper Eq. 122): odd, saturating, quasi-linear around 0


def lstm_step(x, v_prev, s_prev, p: Mapping[str, torch.Tensor]):
    """One step of the vanilla LSTM, paper Eqs. 126-136.

    ``x``: (B, d_x); ``v_prev``, ``s_prev``: (B, d), the value v[n-1] and the state s[n-1]; ``p``: the
    parameters by the paper's names (:meth:`VanillaLSTM.paper_params`: the state weights ``W_scs,
    W_scu, W_scr`` always as (d, d) matrices). Vectors are rows here, so W v is written ``v @ W.T``.
    Returns ``(v[n], s[n])``.
    """
    a_cu = x @ p["W_xcu"].T + s_prev @ p["W_scu"].T + v_prev @ p["W_vcu"].T + p["b_cu"]  # Eq. 126
    a_cs = x @ p["W_xcs"].T + s_prev @ p["W_scs"].T + v_prev @ p["W_vcs"].T + p["b_cs"]  # Eq. 127
    a_du = x @ p["W_xdu"].T + v_prev @ p["W_vdu"].T + p["b_du"]  # Eq. 129
    u = G_d(a_du)  # Eq. 130
    g_cu = G_c(a_cu)  # Eq. 131
    g_cs = G_c(a_cs)  # Eq. 132
    s = g_cs * s_prev + g_cu * u  # Eq. 134
    a_cr = x @ p["W_xcr"].T + s @ p["W_scr"].T + v_prev @ p["W_vcr"].T + p["b_cr"]  # Eq. 128 (the new state)
    g_cr = G_c(a_cr)  # Eq. 133
    r = G_d(s)  # Eq. 135
    v = g_cr * r  # Eq. 136
    return v, s

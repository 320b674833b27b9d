"""The vanilla LSTM one step at a time (chapter "From the RNN to the vanilla LSTM").

:func:`lstm_step` is the cell exactly as the paper writes it (paper Eqs. 126-136), one line per
equation, with the state-to-gate weights as d_s x d_s matrices (the paper's "pinhole connections",
Sec. VI-F). With ``record=True`` it also returns every intermediate quantity of the step (a
:class:`Step`), which the readable backward step of :mod:`lstm_lib.lstm_training` consumes.
:class:`VanillaLSTM` (defined in :mod:`lstm_lib.lstm`) runs the same equations over whole sequences,
fast; it is the augmented layer with every switch off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch

from ._checks import check_tensor
from .lstm import VanillaLSTM

__all__ = ["G_c", "G_d", "PARAM_NAMES", "Step", "VanillaLSTM", "check_paper_params", "lstm_step"]

G_c = torch.sigmoid  # control warping function (paper Eq. 121): the gates' values lie in (0, 1)
G_d = torch.tanh  # data warping function (paper Eq. 122): odd, saturating, quasi-linear around 0

# The 15 parameter entities of the vanilla LSTM, in the paper's order (paper Eqs. 123-124: one row per
# accumulation: control update, control state, control readout, data update).
PARAM_NAMES = (
    "W_xcu", "W_scu", "W_vcu", "b_cu",
    "W_xcs", "W_scs", "W_vcs", "b_cs",
    "W_xcr", "W_scr", "W_vcr", "b_cr",
    "W_xdu", "W_vdu", "b_du",
)


class Step(NamedTuple):
    """Every quantity of one forward step of the vanilla LSTM (paper Eqs. 126-136), rows of a batch."""

    x: torch.Tensor
    v_prev: torch.Tensor
    s_prev: torch.Tensor
    a_cu: torch.Tensor
    a_cs: torch.Tensor
    a_cr: torch.Tensor
    a_du: torch.Tensor
    u: torch.Tensor
    g_cu: torch.Tensor
    g_cs: torch.Tensor
    g_cr: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor
    v: torch.Tensor


def check_paper_params(p: Mapping[str, torch.Tensor], input_size: int | None = None) -> tuple[int, int]:
    """Check that ``p`` holds the 15 parameters of paper Eq. 123 with consistent shapes; return (d_x, d_s)."""
    if not isinstance(p, Mapping):
        raise TypeError(f"p: expected a dict of the paper's parameters (VanillaLSTM.paper_params()), "
                        f"got {type(p).__name__}")
    missing = [k for k in PARAM_NAMES if k not in p]
    if missing:
        raise ValueError(f"p: expected the 15 parameters of paper Eq. 123, missing {', '.join(missing)}")
    d = check_tensor("p['b_cu']", p["b_cu"], ndim=1, finite=False).shape[0]
    m = check_tensor("p['W_xcu']", p["W_xcu"], ndim=2, finite=False).shape[1]
    if input_size is not None and m != input_size:
        raise ValueError(f"p: W_x.. have {m} columns, but the input has {input_size} elements")
    for k in PARAM_NAMES:
        want = (d,) if k.startswith("b_") else (d, m) if k.startswith("W_x") else (d, d)
        check_tensor(f"p['{k}']", p[k], shape=want, finite=False)
    return m, d


def lstm_step(x, v_prev, s_prev, p: Mapping[str, torch.Tensor], *, record: bool = False):
    """One step of the vanilla LSTM, paper Eqs. 126-136.

    ``x``: (B, d_x); ``v_prev``, ``s_prev``: (B, d_s), the value v[n-1] and the state s[n-1]; ``p``:
    the parameters by the paper's names (:meth:`VanillaLSTM.paper_params`: the state weights ``W_scs,
    W_scu, W_scr`` always as (d_s, d_s) matrices). Vectors are rows here, so W v is written ``v @ W.T``.
    Returns ``(v[n], s[n])``, and with ``record=True`` also the :class:`Step` of all intermediates.
    """
    _check_step(x, v_prev, s_prev, p)
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
    if record:
        return v, s, Step(x, v_prev, s_prev, a_cu, a_cs, a_cr, a_du, u, g_cu, g_cs, g_cr, s, r, v)
    return v, s


def _check_step(x, v_prev, s_prev, p) -> None:
    check_tensor("x", x, ndim=2, finite=False)
    m, d = check_paper_params(p, x.shape[1])
    B = x.shape[0]
    check_tensor("v_prev", v_prev, shape=(B, d), finite=False)
    check_tensor("s_prev", s_prev, shape=(B, d), finite=False)

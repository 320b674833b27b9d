"""What the LSTM layer's loops take and give: the stacked weights, the forward record, the backward signals,
and the input terms of all steps (the context windows).

Shared by the reference loops (:mod:`lstm_lib._lstm_recurrence`) and the compiled ones
(:mod:`lstm_lib._lstm_kernels`), which import it and not each other.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Weights(NamedTuple):
    """The layer's stacked parameters (see :mod:`lstm_lib._gates` for the block order).

    ``W_x`` (G d, L m): tap l of every accumulation in columns l m .. (l+1) m; ``b`` (G d,);
    ``W_v`` (G d, d_v); ``W_s``: ((G-1) d, d) full, ((G-1) d,) diagonal, or None; ``W_qdr`` (d_v, d)
    or None.
    """

    W_x: torch.Tensor
    b: torch.Tensor
    W_v: torch.Tensor
    W_s: torch.Tensor | None
    W_qdr: torch.Tensor | None


class Record(NamedTuple):
    """What the forward loop keeps for the backward loop: the gates (N, B, G d) = (g_cr, g_cs, g_cu,
    [g_cx,] u), the states S and readouts R = G_d(S) (N, B, d), and the qualifiers Q = g_cr R (N, B, d)
    with a projection (else None: then q = v)."""

    Gt: torch.Tensor
    S: torch.Tensor
    R: torch.Tensor
    Q: torch.Tensor | None


class Signals(NamedTuple):
    """What a backward loop returns: the stacked accumulation derivatives ``alpha`` (N, B, G d) in the
    block order (alpha_cr, alpha_cs, alpha_cu, [alpha_cx,] alpha_du); ``alpha_xdu`` = g_cx alpha_du
    (N, B, d) with the input gate; ``chi`` (N, B, d_v) with a projection; ``grad_s0`` = dE/ds[-1] and
    ``grad_v0`` = dE/dv[-1] (B, ·); the bias gradient and, for diagonal state weights, theirs."""

    alpha: torch.Tensor
    alpha_xdu: torch.Tensor | None
    chi: torch.Tensor | None
    grad_s0: torch.Tensor
    grad_v0: torch.Tensor
    grad_b: torch.Tensor
    grad_w_s: torch.Tensor | None


# ---- input terms (context windows) ---------------------------------------------------------------


def unfold_context(x: torch.Tensor, L: int) -> torch.Tensor:
    """The context windows of every step, (N, B, L m): row n holds x[n], x[n+1], ..., x[n+L-1]
    (paper Eq. 188), zero past the end of the sequence. With L = 1 this is ``x`` itself."""
    if L == 1:
        return x
    N, B, m = x.shape
    padded = torch.cat((x, x.new_zeros(L - 1, B, m)))
    return padded.unfold(0, L, 1).transpose(2, 3).reshape(N, B, L * m)  # (N, B, m, L) -> (N, B, L, m)


def fold_context(dX: torch.Tensor, L: int, m: int) -> torch.Tensor:
    """The adjoint of :func:`unfold_context`: dE/dx[n] = sum_l (tap l's part of dE/dX)[n - l]."""
    if L == 1:
        return dX
    N, B, _ = dX.shape
    taps = dX.view(N, B, L, m)
    dx = dX.new_zeros(N + L - 1, B, m)
    for l in range(L):
        dx[l : l + N] += taps[:, :, l]
    return dx[:N]


def input_terms(x: torch.Tensor, W_x: torch.Tensor, L: int) -> torch.Tensor:
    """xi[n] = sum_l W_x[l] x[n+l] for all accumulations and steps, (N, B, G d), in one product."""
    X = unfold_context(x, L)
    N, B, Lm = X.shape
    return (X.reshape(N * B, Lm) @ W_x.t()).view(N, B, -1)

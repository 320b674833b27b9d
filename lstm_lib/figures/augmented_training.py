"""Figures and explorers of the chapter "Training the augmented LSTM" (display layer).

* :func:`erratum_e6_explorer` -- sliders: the antisymmetric share and the scale of W_scr; how far the
  printed Eq. 222 (W_scr alpha_cr instead of W_scr^T alpha_cr, erratum E6) is from autograd.
* :func:`plot_clipping` -- alpha_cx[n] with and without the clipping of paper fn 25 (extended to alpha_cx:
  the book's reading).
"""

from __future__ import annotations

import numpy as np
import torch

from ..augmented_lstm import AugmentedLSTM
from ..augmented_training import augmented_bptt, autograd_signals, entity_names
from ..widgets import Explorer, Param

__all__ = ["e6_setup", "erratum_e6_explorer", "plot_clipping"]


def e6_setup(seed: int = 0, N: int = 10, B: int = 2):
    """A float64 augmented cell with every switch on and full state weights, an input and a loss
    derivative, for the E6 explorer: returns (p, x, dE_dv, S, A), S and A the symmetric and
    antisymmetric unit-norm matrices that W_scr is mixed from."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AugmentedLSTM(3, 5, proj_size=4, context=2, input_gate=True, dtype=torch.float64)
        with torch.no_grad():
            for t in model.parameters():
                t.normal_(0.0, 0.5)
        x = torch.randn(N, B, 3, dtype=torch.float64)
        dE_dv = torch.randn(N, B, 4, dtype=torch.float64)
        M = torch.randn(5, 5, dtype=torch.float64)
    S, A = M + M.T, M - M.T
    S, A = S / torch.linalg.matrix_norm(S, 2), A / torch.linalg.matrix_norm(A, 2)
    p = {k: t.detach().clone() for k, t in model.paper_params().items()}
    return p, x, dE_dv, S, A


def erratum_e6_explorer() -> Explorer:
    """Erratum E6 as W_scr moves from symmetric to antisymmetric: the printed Eq. 222 against autograd.

    W_scr = scale ((1 - a) S + a A) / ||(1 - a) S + a A|| with S symmetric and A antisymmetric (random,
    fixed). Sliders: ``a`` (the antisymmetric share) and ``scale`` (the spectral norm of W_scr). Left: the
    relative error of psi[n] (Eq. 222 as printed) against the step n. Right: the relative error of each
    parameter gradient of Eq. 215. With a = 0, W_scr is symmetric and the printed form is exact.
    """
    p, x, dE_dv, S, A = e6_setup()
    names = entity_names(p)

    def compute(a, scale):
        M = (1 - a) * S + a * A
        q = dict(p, W_scr=scale * M / torch.linalg.matrix_norm(M, 2))
        true = autograd_signals(x, q, dE_dv)
        printed = augmented_bptt(x, q, dE_dv, printed=("E6",))

        def rel(u, v, dims):
            return ((u - v).norm(dim=dims) / v.norm(dim=dims).clamp_min(1e-300)).numpy()

        psi = rel(printed.signals["psi"].flatten(1), true.signals["psi"].flatten(1), 1)
        grads = np.array([float((printed.grads[k] - true.grads[k]).norm() / true.grads[k].norm()) for k in names])
        return {"psi": psi, "grads": grads}

    def draw(fig, data, a, scale):
        ax0, ax1 = fig.subplots(1, 2, width_ratios=(1, 1.6))
        floor = 1e-17
        n = np.arange(len(data["psi"]))
        ax0.semilogy(n, np.maximum(data["psi"], floor), "o-", color="C3", ms=4)
        ax0.set_ylim(floor / 2, 10)
        ax0.set_xlabel("step n")
        ax0.set_ylabel(r"$\|\psi_{printed}[n] - \psi[n]\| \,/\, \|\psi[n]\|$")
        ax0.set_title(f"a = {a:g}, ||W_scr|| = {scale:g}", fontsize=10)
        ax1.bar(np.arange(len(names)), np.maximum(data["grads"], floor), color="C3")
        ax1.set_yscale("log")
        ax1.set_ylim(floor / 2, 10)
        ax1.set_xticks(np.arange(len(names)), names, rotation=90, fontsize=8)
        ax1.set_ylabel("relative error of the gradient")
        ax1.axhline(1e-12, color="0.5", ls=":", lw=1)
        ax1.set_title("every gradient of Eq. 215, with Eq. 222 as printed", fontsize=10)

    params = {
        "a": Param(0.0, 1.0, 0.05, 0.5, label="antisymmetric share a of W_scr", values=(0.0, 0.1, 0.25, 0.5, 1.0)),
        "scale": Param(0.1, 2.0, 0.05, 1.0, label="||W_scr||", values=(0.25, 0.5, 1.0, 2.0)),
    }
    return Explorer(compute, draw, params, scrub=("a", "scale"), figsize=(8.6, 3.8))


def plot_clipping(alpha_raw, alpha_clipped, clip: float, ax=None):
    """alpha_cx[n] of one unit not clipped (grey) and clipped to [-clip, clip] (green); returns the axes.

    ``alpha_raw``, ``alpha_clipped``: (N,) sequences, the same unit from a backward pass that clips the
    other accumulation derivatives but not alpha_cx, and from one that clips alpha_cx too (paper fn 25,
    extended to alpha_cx: the book's reading).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.2), layout="constrained")
    n = np.arange(len(alpha_raw))
    ax.axhspan(-clip, clip, color="C2", alpha=0.1, lw=0, label=f"[-{clip:g}, {clip:g}]")
    ax.plot(n, alpha_raw, "o-", color="0.55", ms=3.5, lw=1.2, label=r"$\alpha_{cx}[n]$ not clipped")
    ax.plot(n, alpha_clipped, "s-", color="C2", ms=3.5, lw=1.5, label=r"$\alpha_{cx}[n]$, clipped (fn 25, our reading)")
    ax.set_xlabel("step n")
    ax.set_ylabel(r"$\alpha_{cx}[n]$ (one unit)")
    ax.legend(fontsize=8.5, loc="best")
    return ax

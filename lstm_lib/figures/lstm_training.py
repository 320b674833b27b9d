"""Figures and explorers of the chapter "Training the vanilla LSTM"."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..lstm_training import carousel, signal_norms
from ..widgets import Explorer, Param

SIGNAL_STYLES = (("psi", "k-"), ("alpha_cs", "C0--"), ("alpha_cu", "C1-."), ("alpha_cr", "C2:"), ("alpha_du", "C3-"))
# the values the chapter names: b_cs = 0 (g_cs = 1/2) up to 8 (g_cs = 0.9997); the scale of Theta-tilde:
# 0.1 (||Q|| small: the paper's regime), 1 (the layer's initialisation), 2 (beyond)
B_CS_VALUES = (0.0, 2.0, 4.0, 6.0, 8.0)
SCALE_VALUES = (0.1, 0.25, 0.5, 1.0, 2.0)
THETA = r"$\tilde{\Theta}$"


def plot_signals(model, x, b_cs_values=(0.0, 3.0)):
    """||psi[n]|| and ||alpha_..[n]|| against n for a loss at the last step, one panel per control state
    bias (the model's b_cs is set, then restored); returns the figure."""
    saved = model.b_cs.detach().clone()
    fig, axes = plt.subplots(1, len(b_cs_values), figsize=(7.0, 3.4), layout="constrained", sharey=True)
    try:
        for ax, b_cs in zip(np.atleast_1d(axes), b_cs_values, strict=True):
            model.b_cs = saved.new_full(saved.shape, b_cs)
            norms = signal_norms(model, x)
            for key, style in SIGNAL_STYLES:
                ax.semilogy(np.maximum(norms[key].numpy(), 1e-300), style, lw=1.4, label=key)
            ax.set_title(f"b_cs = {b_cs:g}")
            ax.set_xlabel("step n")
            ax.set_ylim(1e-30, 10)
    finally:
        model.b_cs = saved
    axes = np.atleast_1d(axes)
    axes[0].set_ylabel("mean norm")
    axes[-1].legend(ncols=2, loc="lower right", fontsize=9)
    return fig


def _draw_carousel(ax, curves: dict, title: str = "") -> None:
    for k, (b_cs, c) in enumerate(curves.items()):
        lag = np.arange(len(c["product"]))
        ax.semilogy(lag, np.maximum(c["product"].numpy(), 1e-300), "-", color=f"C{k}", lw=1.6,
                    label=f"b_cs = {b_cs:g}")
        ax.semilogy(lag, np.maximum(c["heuristic"].numpy(), 1e-300), ":", color=f"C{k}", lw=1.4)
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_ylim(1e-12, 1e2)
    ax.set_xlabel("lag l - n")
    if title:
        ax.set_title(title)


def plot_carousel(b_cs_values=(0.0, 2.0, 4.0, 8.0), scales=(0.1, 1.0), N: int = 100):
    """The spectral norm of d psi[n]/d psi[l] against the lag (solid) and the paper's estimate
    prod ||diag[g_cs]|| (dotted), for several control state biases, one panel per scale of Theta-tilde."""
    fig, axes = plt.subplots(1, len(scales), figsize=(7.0, 3.6), layout="constrained", sharey=True)
    axes = np.atleast_1d(axes)
    for ax, scale in zip(axes, scales, strict=True):
        curves = {b: carousel(b, scale, N=N) for b in b_cs_values}
        _draw_carousel(ax, curves, THETA + f" scaled by {scale:g}")
    axes[0].set_ylabel("||d psi[n] / d psi[l]||")
    axes[-1].legend(loc="lower left", fontsize=9)
    return fig


def explorer(N: int = 100) -> Explorer:
    """Widget: the spectral norm of d psi[n]/d psi[l] against the lag, with the paper's estimate (Eq. 182).
    Sliders: the control state bias ``b_cs`` and ``theta_scale``, the factor on the parameters inside Q."""

    def compute(b_cs, theta_scale):
        return carousel(b_cs, theta_scale, N=N)

    def draw(fig, data, b_cs, theta_scale):
        ax = fig.subplots()
        lag = np.arange(len(data["product"]))
        ax.semilogy(lag, np.maximum(data["product"].numpy(), 1e-300), "C0-", lw=1.8,
                    label="||d psi[n] / d psi[l]|| (exact)")
        ax.semilogy(lag, np.maximum(data["heuristic"].numpy(), 1e-300), "C1:", lw=1.8,
                    label="prod ||diag g_cs[k]|| (paper Eq. 182)")
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.set_ylim(1e-14, 1e3)
        ax.set_xlabel("lag l - n")
        ax.set_ylabel("spectral norm")
        ax.set_title(f"b_cs = {b_cs:g}, {THETA} x {theta_scale:g}: mean ||Q|| = {float(data['Q']):.3f}, "
                     f"mean g_cs = {float(data['g_cs']):.3f}", fontsize=10)
        ax.legend(loc="lower left", fontsize=10)

    params = {
        "b_cs": Param(-2.0, 10.0, 0.5, 4.0, label="control state bias b_cs", values=B_CS_VALUES),
        "theta_scale": Param(0.05, 3.0, 0.05, 0.25, label="Theta-tilde scale", values=SCALE_VALUES),
    }
    return Explorer(compute, draw, params, scrub=("b_cs", "theta_scale"), figsize=(7.0, 3.8))


def plot_remedies(runs: dict):
    """Training loss (left) and gradient norm (right) per step for each run of
    :func:`lstm_lib.lstm_training.compare_remedies`; a run that stopped early ends with a cross. The
    gradient norm is that of the gradient the backward pass produced (after the paper's remedies, before
    global-norm clipping)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.0, 3.4), layout="constrained", sharex=True)
    for k, (label, h) in enumerate(runs.items()):
        style = dict(color=f"C{k}", lw=1.3, label=label)
        a1.semilogy(h.loss, **style)
        a2.semilogy(h.grad_norm, **style)
        if h.diverged:
            n = len(h.loss) - 1
            finite = [g for g in h.grad_norm if np.isfinite(g)]
            a2.plot(n, max(finite) if finite else 1.0, "x", color=f"C{k}", ms=9, mew=2)
    a1.set_xlabel("training step")
    a2.set_xlabel("training step")
    a1.set_ylabel("loss")
    a2.set_ylabel("gradient norm")
    a1.legend(fontsize=9, loc="upper right")
    return fig

"""Figures and explorers of the chapter "Training the RNN" (display layer).

* :func:`plot_lag_curves` -- ||psi[n - lag]|| / ||psi[n]|| against the lag for a few spectral radii
  of W_r (paper Eqs. 91-93).
* :func:`lag_explorer` -- sliders: spectral radius of W_r and the input's scale; vanishing, and the two
  outcomes the paper names for an unstable W_r (saturation: vanishing again; quasi-linear: exploding).
* :func:`plot_clipping` -- training curves with and without gradient clipping (this book's addition).
* :func:`plot_recall` -- delayed recall: loss after training and surviving error signal against the lag.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_real
from ..rnn_training import gradient_lag_curves
from ..widgets import Explorer, Param

__all__ = ["plot_lag_curves", "lag_explorer", "plot_clipping", "plot_recall"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_lag_curves(spectral_radii=(0.8, 1.0, 1.5), input_scale: float = 0.1, ax=None):
    """The error signal against the lag for W_r of each spectral radius (W_s = 0): tanh network (solid),
    its linearisation (dashed) and rho^lag (dotted). Returns the axes."""
    input_scale = check_real("input_scale", input_scale, minimum=0.0)
    ax = _axes(ax, (7.0, 3.6))
    for i, rho in enumerate(spectral_radii):
        c = gradient_lag_curves(rho, input_scale=input_scale)
        color = f"C{[0, 1, 3, 2, 4][i % 5]}"
        ax.semilogy(c["lag"], c["tanh"], color=color, label=f"rho = {rho}, tanh")
        ax.semilogy(c["lag"], c["linear"], "--", color=color, label=f"rho = {rho}, linear")
        ax.semilogy(c["lag"], c["bound"], ":", color=color)
    ax.set_xlabel("lag l - n")
    ax.set_ylabel(r"$\|\psi[n]\| / \|\psi[l]\|$")
    ax.set_ylim(1e-8, 1e8)
    ax.legend(fontsize=8, ncol=3)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def lag_explorer() -> Explorer:
    """Explorer: ||psi[l - lag]|| / ||psi[l]|| against the lag for a standard RNN (W_s = 0), d = 64.

    Sliders: ``spectral_radius`` (of W_r) and ``input_scale`` (standard deviation of the input, which
    decides how far the state is driven into the saturation of tanh). Curves: the tanh network, its
    linearisation G(s) = s, and rho(W_r)^lag.
    """

    def compute(spectral_radius, input_scale):
        return gradient_lag_curves(spectral_radius, input_scale=input_scale)

    def draw(fig, data, spectral_radius, input_scale):
        ax = fig.subplots()
        ax.semilogy(data["lag"], data["linear"], color="C0", label="linear warp G(s) = s")
        ax.semilogy(data["lag"], data["tanh"], color="C3", label="tanh warp")
        ax.semilogy(data["lag"], data["bound"], "k:", label=r"$\rho(W_r)^{lag}$")
        ax.set_ylim(1e-12, 1e8)
        ax.set_xlabel("lag l - n")
        ax.set_ylabel(r"$\|\psi[n]\| \,/\, \|\psi[l]\|$")
        ax.set_title(f"rho(W_r) = {spectral_radius:.2f}, input scale {input_scale:g}: tanh signal after "
                     f"{data['lag'][-1]} steps = {data['tanh'][-1]:.1e}", fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
        ax.grid(True, which="major", alpha=0.3)

    params = {
        "spectral_radius": Param(0.2, 2.5, 0.05, 1.0, "spectral radius of W_r", values=(0.5, 0.9, 1.0, 1.2, 1.5, 2.0)),
        "input_scale": Param(0.01, 2.0, 0.01, 0.1, "input scale", values=(0.01, 0.1, 0.5, 1.0, 2.0)),
    }
    return Explorer(compute, draw, params, scrub=("spectral_radius", "input_scale"), figsize=(7.5, 3.6))


def plot_clipping(runs: dict, fig=None):
    """Training loss and gradient norm (before clipping) of :func:`lstm_lib.fit.fit` runs.

    ``runs`` maps the clipping threshold (``None`` for no clipping) to the run's History. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.figure(figsize=(9.0, 3.3), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    for clip, h in runs.items():
        label = ("no clipping" + (" (diverged)" if h.diverged else "")) if clip is None else f"clip at {clip}"
        ax0.semilogy(h.loss, label=label)
        ax1.semilogy(h.grad_norm, label=label)
    ax0.set(xlabel="step", ylabel="training loss")
    ax0.legend()
    ax1.set(xlabel="step", ylabel="gradient norm before clipping")
    return fig


def plot_recall(lags, final, signal, ax=None):
    """Delayed recall: loss / baseline after training (left axis) and the error signal surviving the lag at
    initialisation (right axis, log scale), against the lag. Returns the left axes."""
    ax = _axes(ax, (7.0, 3.4))
    lags, final, signal = np.asarray(lags), np.asarray(final), np.asarray(signal)
    ax.plot(lags, final, "o-", label="loss / baseline after training")
    ax.set_xlabel("lag")
    ax.set_ylabel("loss / baseline")
    ax.set_ylim(-0.05, 1.15)
    ax2 = ax.twinx()
    ax2.semilogy(lags, signal, "s--", color="C3", label="surviving error signal at init")
    ax2.set_ylabel(r"$\|\psi[n-\mathrm{lag}]\| / \|\psi[n]\|$", color="C3")
    ax.figure.legend(loc="center right", fontsize=8)
    return ax

"""Figures and explorers of the chapter "Continuous-time roots" (display layer; the models are in
:mod:`lstm_lib.continuous_roots`).

* :func:`explorer`: one unit with delayed self-feedback through its readout, s' = -a s + w r(t - tau) + u sin t;
* :func:`lead_explorer`: one unit driven by a known pulse read with an input delay tau_x that may be
  negative (the paper's remark after Eq. 12);
* ``plot_*``: the chapter's static figures, each drawn from data the chapter computed.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from lstm_lib._checks import check_real
from lstm_lib.continuous_roots import AdditiveModel, Trajectory, simulate
from lstm_lib.widgets import Explorer, Param

__all__ = ["explorer", "lead_explorer", "pulse", "plot_warping", "plot_runs", "plot_lead", "plot_hopfield",
           "plot_phase"]

F64 = torch.float64


# ----------------------------------------------------------------------------------------- static figures


def plot_warping(s: torch.Tensor, G: torch.Tensor, dG: torch.Tensor):
    """G(s) beside the identity (left) and G'(s) (right)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 2.8), layout="constrained")
    ax1.plot(s, G, label=r"$G(s) = \tanh(s)$")
    ax1.plot(s, s, "k:", lw=1, label="$s$")
    ax1.set(ylim=(-1.5, 1.5), xlabel="s", ylabel="G(s)")
    ax1.legend()
    ax2.plot(s, dG)
    ax2.set(xlabel="s", ylabel="G'(s)")
    return fig


def plot_runs(runs: dict[str, Trajectory], *, component: int = 0, ylabel: str = "s(t)"):
    """One panel per labelled trajectory: a state component against time, one line per batch entry."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3), sharey=True, layout="constrained",
                             squeeze=False)
    for ax, (title, traj) in zip(axes[0], runs.items(), strict=True):
        ax.plot(traj.t, traj.s[:, :, component])
        ax.set(title=title, xlabel="t")
    axes[0, 0].set_ylabel(ylabel)
    return fig


def plot_lead(t: np.ndarray, x: np.ndarray, runs: dict[float, np.ndarray]):
    """A known input pulse x(t) (top) and the state driven by x(t - tau_x) for several tau_x (bottom)."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True, layout="constrained",
                                   gridspec_kw={"height_ratios": [1, 1.6]})
    ax1.plot(t, x, "k")
    ax1.set(ylabel="x(t)", title="the input, known in advance")
    peak = t[np.argmax(x)]
    for tau, s in runs.items():
        line, = ax2.plot(t, s, label=rf"$\tau_x = {tau:g}$")
        ax2.axvline(peak - tau, color=line.get_color(), lw=0.8, ls=":")
    ax1.axvline(peak, color="k", lw=0.8, ls=":")
    ax2.set(xlabel="t", ylabel="s(t)")
    ax2.legend(fontsize=9, loc="upper right")
    return fig


def plot_hopfield(t: torch.Tensor, overlap: torch.Tensor, E: torch.Tensor):
    """Overlap of the readout with each stored pattern, and the energy, for every run."""
    P = overlap.shape[-1]
    fig, axes = plt.subplots(1, P + 1, figsize=(3.3 * (P + 1), 3), layout="constrained")
    for mu in range(P):
        axes[mu].plot(t, overlap[:, :, mu])
        axes[mu].set(title=f"overlap with pattern {mu + 1}", xlabel="t", ylim=(-1.05, 1.05))
    axes[P].plot(t, E)
    axes[P].set(title="energy E(s(t))", xlabel="t")
    return fig


def plot_phase(traj: Trajectory):
    """Two state components in time (first run) and in the plane (every run)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
    ax1.plot(traj.t, traj.s[:, 0, 0], label="$s_1$")
    ax1.plot(traj.t, traj.s[:, 0, 1], label="$s_2$")
    ax1.set(xlabel="t", title="from a start near rest")
    ax1.legend()
    for b in range(traj.s.shape[1]):
        ax2.plot(traj.s[:, b, 0], traj.s[:, b, 1], lw=1)
    ax2.set(xlabel="$s_1$", ylabel="$s_2$", aspect="equal", title="phase plane")
    return fig


# ----------------------------------------------------------------------------------------- explorers


def _term(coef: float, symbol: str, first: bool = False) -> str:
    """'+ 2 s', '- s', '' (a zero coefficient) for a title written in TeX."""
    if coef == 0:
        return ""
    sign = "-" if coef < 0 else ("" if first else "+")
    mag = "" if abs(coef) == 1 else f"{abs(coef):g}\\,"
    return f" {sign} {mag}{symbol}"


def _shifted(tau: float) -> str:
    """t - tau written without a double sign: 't', 't - 1.5', 't + 1'."""
    return "t" if tau == 0 else f"t - {tau:g}" if tau > 0 else f"t + {-tau:g}"



def explorer() -> Explorer:
    """Delayed self-feedback s' = -a s + w r(t - tau) + u sin t (paper Eq. 11, d = 1), from three initial states.

    Sliders: a, w, tau, u. The static player scrubs tau and w (the pair the text asks the reader to
    move); a and u are live-notebook sliders.
    """

    def compute(a, w, tau, u):
        model = AdditiveModel(torch.tensor([[-a]], dtype=F64), torch.tensor([[w]], dtype=F64),
                              torch.tensor([[u]], dtype=F64), tau_r=tau)
        s0 = torch.tensor([[-1.5], [0.3], [2.0]], dtype=F64)
        traj = simulate(model, lambda t: torch.tensor([math.sin(t)], dtype=F64), t_end=30.0, dt=0.05, s0=s0)
        return {"t": traj.t.numpy(), "s": traj.s[..., 0].numpy(), "r": traj.r[..., 0].numpy()}

    def draw(fig, data, a, w, tau, u):
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        t, s = data["t"], data["s"]
        lag = 20  # 1 time unit at dt = 0.05
        for b in range(s.shape[1]):
            ax1.plot(t, s[:, b], lw=1.2)
            ax2.plot(s[lag:, b], s[:-lag, b], lw=0.8)
        rhs = _term(-a, "s", first=True) + _term(w, f"r({_shifted(tau)})") + _term(u, r"\sin t")
        ax1.set(xlabel="t", ylabel="s(t)", ylim=(-4, 4), title=f"$s' ={rhs}$")
        ax2.set(xlabel="s(t)", ylabel="s(t - 1)", title="delay embedding", xlim=(-4, 4), ylim=(-4, 4))

    params = {
        "a": Param(0.2, 3.0, 0.1, 1.0, "a (A = -a)", values=[0.5, 1.0, 2.0]),
        "w": Param(-4.0, 4.0, 0.1, -2.0, "w (B = w)", values=[-2.0, -1.0, 0.0, 1.0, 2.0]),
        "tau": Param(0.0, 3.0, 0.05, 1.5, "delay tau_r", values=[0.0, 0.5, 1.0, 1.2, 1.5, 2.0, 3.0]),
        "u": Param(0.0, 2.0, 0.1, 0.0, "input amplitude u", values=[0.0, 0.5, 1.0]),
    }
    return Explorer(compute, draw, params, scrub=("tau", "w"), figsize=(9.0, 3.4))


def pulse(t: float, center: float = 6.0, width: float = 0.4) -> float:
    """The explorers' known input: a Gaussian pulse of height 1 at ``center``."""
    t, center, width = check_real("t", t), check_real("center", center), check_real("width", width)
    if width <= 0:
        raise ValueError(f"width: expected a number > 0, got {width!r}")
    return math.exp(-0.5 * ((t - center) / width) ** 2)


def lead_explorer() -> Explorer:
    """s' = -a s + a x(t - tau_x) for a known pulse x: a negative tau_x makes the state read the input ahead.

    Sliders: tau_x and a, both scrubbed by the static player.
    """

    def compute(tau_x, a):
        model = AdditiveModel(torch.tensor([[-a]], dtype=F64), C=torch.tensor([[a]], dtype=F64), tau_x=tau_x)
        traj = simulate(model, lambda t: torch.tensor([pulse(t)], dtype=F64), t_end=12.0, dt=0.02)
        t = traj.t.numpy()
        return {"t": t, "x": np.array([pulse(v) for v in t]), "x_read": np.array([pulse(v - tau_x) for v in t]),
                "s": traj.s[:, 0, 0].numpy()}

    def draw(fig, data, tau_x, a):
        ax = fig.subplots()
        t = data["t"]
        ax.plot(t, data["x"], "k", lw=1, label="x(t), the known input")
        ax.plot(t, data["x_read"], "k--", lw=1, label=r"$x(t - \tau_x)$, what the model reads at t")
        ax.plot(t, data["s"], lw=2, label="s(t)")
        ax.axvline(6.0, color="gray", lw=0.8, ls=":")
        rhs = _term(-a, "s", first=True) + _term(a, f"x({_shifted(tau_x)})")
        ax.set(xlabel="t", ylim=(-0.05, 1.1), title=f"$s' ={rhs}$")
        ax.legend(fontsize=8, loc="upper left")

    params = {
        "tau_x": Param(-3.0, 3.0, 0.1, -1.0, "input delay tau_x", values=[-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),
        "a": Param(0.2, 5.0, 0.1, 1.0, "a (A = -a, C = a)", values=[0.5, 1.0, 2.0, 5.0]),
    }
    return Explorer(compute, draw, params, scrub=("tau_x", "a"), figsize=(8.0, 3.4))

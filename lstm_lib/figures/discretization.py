"""Figures and explorers of the chapter "Discretization" (display layer; the mathematics is in
:mod:`lstm_lib.discretization`).

* :func:`modes_explorer`: the small-signal modes mu_i of the standard RNN (paper, after Eq. 33; erratum E5);
* :func:`explorer`: ds/dt = lambda s sampled by backward and forward Euler (this book's addition);
* :func:`show_steps`, :func:`show_weights`: the SymPy derivation displayed step by step;
* ``plot_*``: the chapter's static figures, each drawn from data the chapter computed.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from lstm_lib._checks import check_int, check_real
from lstm_lib.discretization import (
    METHODS,
    Derivation,
    DiscreteParams,
    discretize,
    iterate,
    mode_condition,
    stability_region,
    stable,
    standard_rnn,
    to_latex,
)
from lstm_lib.widgets import Explorer, Param

__all__ = ["show_steps", "show_weights", "modes_explorer", "explorer", "mode_run", "plot_regions",
           "plot_eigenvalues", "plot_convergence", "plot_modes", "plot_powers"]

F64 = torch.float64


# ----------------------------------------------------------------------------------------- the derivation, typeset


def show_steps(derivation: Derivation, *numbers, terms_per_line: int = 2) -> None:
    """Display steps of a derivation as SymPy typesets them (:func:`lstm_lib.discretization.to_latex`), each
    under its paper equation number and what was done to reach it. Works in the book and in a notebook."""
    from IPython.display import Markdown, Math, display

    if not isinstance(derivation, Derivation):
        raise TypeError(f"derivation: expected a Derivation, got {type(derivation).__name__}")
    for k in numbers:
        step = derivation.step(k)
        where = "the unnumbered equation after Eq. 25" if step.paper == "25u" else f"Eq. {step.paper}"
        display(Markdown(f"*Paper {where}: {step.note}.*"), Math(to_latex(step, terms_per_line=terms_per_line)))


def show_weights(derivation: Derivation) -> None:
    """Display the weights W_s, W_r, W_x, theta_s of a derivation, written out in A, B, C, phi and dT."""
    from IPython.display import Math, display

    if not isinstance(derivation, Derivation):
        raise TypeError(f"derivation: expected a Derivation, got {type(derivation).__name__}")
    lines = [to_latex(eq).replace(" = ", " &= ", 1) for eq in derivation.definitions()]
    display(Math(r"\begin{aligned} " + r", \\ ".join(lines) + r" \end{aligned}"))


# ----------------------------------------------------------------------------------------- static figures


def plot_regions():
    """Stability regions |R(z)| < 1 of backward and forward Euler (this book's addition)."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), sharey=True, layout="constrained")
    for ax, method, color in zip(axes, METHODS, ("C0", "C1"), strict=True):
        x, y, mask = stability_region(method, re=(-3.5, 3.5), im=(-2.5, 2.5))
        ax.contourf(x, y, mask.astype(float), levels=[0.5, 1.5], colors=[color], alpha=0.35)
        ax.contour(x, y, mask.astype(float), levels=[0.5], colors=[color])
        ax.axvline(0, color="k", ls="--", lw=0.8)
        ax.axhline(0, color="gray", lw=0.5)
        ax.set(title=f"{method} Euler", xlabel="Re z", aspect="equal")
    axes[0].set_ylabel("Im z")
    return fig


def plot_eigenvalues(eigs: dict[str, dict[float, torch.Tensor]]):
    """Eigenvalues of W_s + W_r for each method and step dT, against the unit circle."""
    fig, axes = plt.subplots(1, len(eigs), figsize=(4.2 * len(eigs), 3.8), layout="constrained", squeeze=False)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    for ax, (method, by_dt) in zip(axes[0], eigs.items(), strict=True):
        ax.plot(circle.real, circle.imag, "k", lw=0.8)
        for dT, lam in by_dt.items():
            lam = lam.numpy()
            ax.plot(lam.real, lam.imag, "o", label=f"dT = {dT:g}: radius {np.abs(lam).max():.2f}")
        ax.set(title=f"{method} Euler", xlabel="Re", ylabel="Im", aspect="equal", xlim=(-5, 2), ylim=(-4, 4))
        ax.legend(fontsize=7, loc="lower left")
    return fig


def plot_convergence(reference, runs: dict[float, object], steps, errors: dict[str, list[float]]):
    """Left: a state component of the DDE and of RNNs at several steps; right: max error against dT."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.4), layout="constrained")
    ax1.plot(reference.t, reference.s[:, 0, 0], "k", lw=2, label="DDE")
    for dT, traj in runs.items():
        ax1.plot(traj.t, traj.s[:, 0, 0], ".-", ms=3, lw=0.8, label=f"RNN, dT = {dT:g}")
    ax1.set(xlabel="t", ylabel="$s_1$")
    ax1.legend(fontsize=7)
    for method, errs in errors.items():
        slope = np.polyfit(np.log(steps), np.log(errs), 1)[0]
        ax2.loglog(steps, errs, "o-", label=f"{method}: slope {slope:.2f}")
    ax2.xaxis.set_minor_formatter(plt.NullFormatter())
    ax2.set(xlabel="dT", ylabel="max error")
    ax2.legend()
    return fig


def mode_run(mu: list[float], amplitude: float = 0.05, steps: int = 25, angle: float = math.pi / 6) -> dict:
    """The standard RNN s[n] = W_r tanh(s[n-1]) with symmetric W_r = V diag(mu) V^T (d = 2), from s[-1] = amplitude V 1.

    Returns n = -1, 0, ..., steps - 1, the eigen-components c[n] = V^T s[n] (steps + 1, 2; the first
    row is the initial state), and the small-signal prediction mu_i^(n+1) * amplitude.
    """
    if not isinstance(mu, (list, tuple)) or len(mu) != 2:
        raise TypeError(f"mu: expected a pair of eigenvalues [mu_1, mu_2], got {mu!r}")
    mu = [check_real(f"mu[{i}]", v) for i, v in enumerate(mu)]
    amplitude, angle = check_real("amplitude", amplitude), check_real("angle", angle)
    if amplitude <= 0:
        raise ValueError(f"amplitude: expected a number > 0, got {amplitude!r}")
    steps = check_int("steps", steps, minimum=1)
    c, s_ = math.cos(angle), math.sin(angle)
    V = torch.tensor([[c, -s_], [s_, c]], dtype=F64)
    W_r = V @ torch.diag(torch.tensor(mu, dtype=F64)) @ V.T
    params = standard_rnn(DiscreteParams(torch.zeros(2, 2, dtype=F64), W_r, torch.zeros(2, 1, dtype=F64),
                                         torch.zeros(2, dtype=F64)))
    s0 = amplitude * (V @ torch.ones(2, dtype=F64))
    s, _ = iterate(params, torch.zeros(steps, 1, 1, dtype=F64), s0[None])
    n = np.arange(-1, steps)
    c = torch.cat([s0[None] @ V, s[:, 0] @ V]).numpy()
    return {"n": n, "c": c, "pred": amplitude * np.power.outer(np.array(mu), n + 1).T}


def plot_modes(runs: dict[float, dict], amplitude: float):
    """Each run's mode c[n] / amplitude against n, with the prediction mu^(n+1) dashed: the modes with
    |mu| <= 1 on the left, the growing ones (on their own scale) on the right."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    for mu, data in runs.items():
        ax = axes[0] if abs(mu) <= 1 else axes[1]
        line, = ax.plot(data["n"], data["c"][:, 0] / amplitude, "o-", ms=3, label=rf"$\mu = {mu:g}$")
        pred = data["pred"][:, 0] / amplitude
        keep = np.abs(pred) <= 1.5 * np.abs(data["c"][:, 0] / amplitude).max()
        ax.plot(data["n"][keep], pred[keep], "--", color=line.get_color(), lw=0.8)
    for ax, title in zip(axes, ("decaying modes", "growing modes"), strict=True):
        ax.axhline(0, color="gray", lw=0.5)
        ax.set(xlabel="n", title=title)
        ax.legend(fontsize=9)
    axes[0].set(ylabel="mode / initial amplitude", ylim=(-1.1, 1.1))
    return fig


def plot_powers(n: np.ndarray, norms: dict[str, np.ndarray], radius: dict[str, float]):
    """||M^n|| against n for each matrix, with its rho^n dotted."""
    fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
    for name, values in norms.items():
        line, = ax.semilogy(n, values, "o-", ms=3, label=f"{name}: $\\|M^n\\|_2$")
        ax.semilogy(n, radius[name] ** n, ":", color=line.get_color(), label=f"{name}: $\\rho^n$")
    ax.axhline(1.0, color="gray", lw=0.5)
    ax.set(xlabel="n")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------- explorers


def modes_explorer() -> Explorer:
    """The two small-signal modes of a standard RNN with symmetric W_r of eigenvalues mu_1, mu_2.

    Sliders: mu_1, mu_2 (scrubbed by the static player) and the initial amplitude (live notebook only).
    """

    def compute(mu1, mu2, amp):
        data = mode_run([mu1, mu2], amplitude=amp, steps=25)
        data["paper"] = mode_condition(torch.tensor([mu1, mu2]), "paper").tolist()
        data["textbook"] = mode_condition(torch.tensor([mu1, mu2]), "textbook").tolist()
        return data

    def draw(fig, data, mu1, mu2, amp):
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        for i, (mu, color) in enumerate(((mu1, "C0"), (mu2, "C1"))):
            ax1.plot(data["n"], data["c"][:, i] / amp, "o-", ms=3, color=color, label=rf"mode {i + 1}, $\mu = {mu:g}$")
            ax1.plot(data["n"], np.clip(data["pred"][:, i] / amp, -40, 40), "--", color=color, lw=0.8)
        ax1.axhline(0, color="gray", lw=0.5)
        top = 1.15 * min(30.0, max(1.0, float(np.abs(data["c"] / amp).max())))
        ax1.set(xlabel="n", ylabel="mode / initial amplitude", ylim=(-top, top))
        ax1.legend(fontsize=8, loc="upper right")
        ax2.axvspan(-1, 1, color="C2", alpha=0.15, label="textbook $|\\mu| < 1$")
        ax2.axvspan(0, 1, color="C2", alpha=0.35, label="paper $0 < \\mu < 1$")
        for mu, color in ((mu1, "C0"), (mu2, "C1")):
            ax2.plot([mu], [0.5], "o", color=color, ms=10)
        ax2.set(xlim=(-1.4, 1.4), ylim=(0, 1), yticks=[], xlabel=r"$\mu$")
        ax2.legend(fontsize=7, loc="upper left")
        verdict = "paper: " + ("stable" if all(data["paper"]) else "excluded") + \
                  ", textbook: " + ("stable" if all(data["textbook"]) else "unstable")
        ax2.set_title(verdict, fontsize=9)

    mus = [-1.2, -1.0, -0.5, 0.0, 0.5, 1.0, 1.2]
    params = {
        "mu1": Param(-1.4, 1.4, 0.05, 0.5, "mu_1", values=mus),
        "mu2": Param(-1.4, 1.4, 0.05, -0.5, "mu_2", values=mus),
        "amp": Param(0.01, 2.0, 0.01, 0.05, "initial amplitude", values=[0.05, 0.5, 2.0]),
    }
    return Explorer(compute, draw, params, scrub=("mu1", "mu2"), figsize=(9.0, 3.4))


def explorer() -> Explorer:
    """ds/dt = lambda s sampled every dT by both schemes (this book's addition): sliders dT and lambda."""

    def compute(dT, lam):
        T = 4.0
        N = max(1, int(np.ceil(T / dT - 1e-9)))
        A, zero = torch.tensor([[lam]], dtype=F64), torch.zeros(1, 1, dtype=F64)
        out = {"t": np.arange(N + 1) * dT, "t_fine": np.linspace(0, N * dT, 400), "z": dT * lam}
        out["exact"] = np.exp(lam * out["t_fine"])
        for method in METHODS:
            p = discretize(A, zero, zero, torch.zeros(1, dtype=F64), dT, method)
            W = p.W_s[0, 0].item()
            out[method] = W ** np.arange(N + 1)  # s[n] = W_s^n s[0] with s[0] = 1
            out[method + "_stable"] = stable(p)
        return out

    def draw(fig, data, dT, lam):
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        ax1.plot(data["t_fine"], data["exact"], "k", lw=2, label="exact $e^{\\lambda t}$")
        ax1.plot(data["t"], data["backward"], "o-", ms=3, label="backward Euler")
        ax1.plot(data["t"], data["forward"], "s--", ms=3, label="forward Euler")
        ax1.set(xlabel="t", ylabel="s(t)", ylim=(-2.5, 2.5), title=f"$\\lambda$ = {lam:g}, dT = {dT:g}")
        ax1.legend(fontsize=8, loc="upper right")
        for method, color in (("backward", "C0"), ("forward", "C1")):
            x, y, mask = stability_region(method, re=(-4, 3), im=(-2.5, 2.5), n=141)
            ax2.contourf(x, y, mask.astype(float), levels=[0.5, 1.5], colors=[color], alpha=0.25)
            ax2.contour(x, y, mask.astype(float), levels=[0.5], colors=[color], linewidths=1)
        ax2.plot([data["z"]], [0.0], "k*", ms=12)
        ax2.axhline(0, color="gray", lw=0.5)
        ax2.axvline(0, color="gray", lw=0.5)
        ax2.set(xlabel="Re dT$\\lambda$", ylabel="Im dT$\\lambda$", aspect="equal")
        ax2.set_title(f"dT$\\lambda$ = {data['z']:.3g}: backward {'stable' if data['backward_stable'] else 'UNSTABLE'}"
                      f", forward {'stable' if data['forward_stable'] else 'UNSTABLE'}", fontsize=8)

    params = {
        "dT": Param(0.05, 0.6, 0.01, 0.1, "dT", values=[0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        "lam": Param(-10.0, 2.0, 0.5, -5.0, "eigenvalue lambda", values=[-10.0, -5.0, -2.0, -1.0, 1.0]),
    }
    return Explorer(compute, draw, params, scrub=("dT", "lam"), figsize=(9.0, 3.6))

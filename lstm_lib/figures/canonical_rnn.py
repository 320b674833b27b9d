"""Figures and explorers of the chapter "The canonical RNN and its unrolling" (display layer).

* :func:`plot_impulse_response` -- Example 1 of the paper (paper Eq. 36): the impulse response of the
  standard RNN never ends (an IIR system).
* :func:`plot_windows` -- the rectangular windows w_m[n] that cut a sequence into segments
  (paper Eqs. 38-44).
* :func:`plot_proposition` -- the training experiment of Proposition 1 (whole sequence against
  segments from a zero state), from :func:`lstm_lib.rnn_training.proposition_experiment`.
* :func:`segment_explorer` -- sliders: segment length K and the memory rho of the data's RNN; the
  truncation error of running every segment from a zero state (paper Remark 3).
* :func:`draw_unrolled` -- the tied-weight feed-forward network of a window (this book's lemma).
* :func:`window_explorer` -- sliders: window length T and leak w_s; truncated BPTT with the state
  carried across windows (a practice outside Proposition 1, this book's addition).
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_bool, check_int
from ..canonical_rnn import (
    CanonicalRNN,
    run_segments,
    segment_lengths,
    segment_offsets,
    segment_windows,
    window_gradients,
)
from ..rnn_training import marker_inputs, proposition_teacher
from ..widgets import Explorer, Param

__all__ = ["plot_impulse_response", "plot_windows", "plot_proposition", "segment_explorer", "draw_unrolled",
           "window_explorer"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_impulse_response(model: CanonicalRNN, N: int = 40, ax=None):
    """|s_i[n]| of Example 1 (paper Eq. 36): theta_s = 0, s[-1] = 0, x[n] = delta[n] (a vector of ones at n = 0).

    Uses the model's W_s, W_r, W_x with theta_s set to zero; plots every state component on a log scale.
    Returns the axes.
    """
    if not isinstance(model, CanonicalRNN):
        raise TypeError(f"model: expected a CanonicalRNN, got {type(model).__name__}")
    N = check_int("N", N, minimum=2)
    ax = _axes(ax, (6.5, 3.0))
    impulse = CanonicalRNN.from_params(model.W_s.detach(), model.W_r.detach(), model.W_x.detach(),
                                       torch.zeros_like(model.theta_s.detach()), warp=model.warp)
    x = torch.zeros(N, 1, model.input_size, dtype=model.W_x.dtype)
    x[0] = 1.0  # delta[n] times the vector of ones
    with torch.no_grad():
        s, _ = impulse(x)
    n = np.arange(N)
    for i in range(model.state_size):
        ax.semilogy(n, s[:, 0, i].abs().clamp_min(1e-300).numpy(), ".-", lw=1, ms=3, label=f"$|s_{i + 1}[n]|$")
    ax.set(xlabel="step n", ylabel="|state component|")
    ax.legend(fontsize=8, ncol=min(4, model.state_size))
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_windows(K, ax=None):
    """The windows w_m[n] (paper Eq. 44) for segment lengths K, one row per segment, offsets j(m) marked.

    Returns the axes.
    """
    W = segment_windows(K).numpy()
    j = segment_offsets(list(K))
    M, N = W.shape
    ax = _axes(ax, (7.0, 0.55 * M + 1.0))
    n = np.arange(N)
    for m in range(M):
        on = W[m] > 0
        ax.vlines(n[on], M - 1 - m, M - 1 - m + 0.7 * W[m][on], color=f"C{m % 10}", lw=2)
        ax.plot(n[on], M - 1 - m + 0.7 * W[m][on], "o", color=f"C{m % 10}", ms=3)
        ax.hlines(M - 1 - m, -0.5, N - 0.5, color="0.8", lw=0.8)
        ax.text(-1.0, M - 1 - m + 0.3, f"$w_{m}[n]$", ha="right", va="center", fontsize=9)
        ax.text(j[m], M - 1 - m + 0.85, f"$j({m}) = {j[m]}$", ha="left", va="bottom", fontsize=8)
    ax.set_xlim(-4.5, N + 0.5)
    ax.set_ylim(-0.3, M + 0.2)
    ax.set_yticks([])
    ax.set_xlabel("sample n")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return ax


def plot_proposition(independent: dict, dependent: dict, fig=None):
    """Two rows of the Proposition 1 experiment: training curves of both students, and the RMS gap between
    their test predictions by position inside a segment. Arguments: the dicts of
    :func:`lstm_lib.rnn_training.proposition_experiment` for independent and dependent segments.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.figure(figsize=(9.0, 3.4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    for res, title, ls in ((independent, "independent segments", "-"), (dependent, "dependent segments", "--")):
        ax0.semilogy(res["loss"]["whole"], ls, color="C0", label=f"whole sequence, {title}")
        ax0.semilogy(res["loss"]["segments"], ls, color="C1", label=f"segments from zero, {title}")
        ax1.semilogy(np.arange(len(res["pred_rms"])), res["pred_rms"], "o" + ls, color="C2" if ls == "-" else "C3",
                     label=title)
    ax0.set(xlabel="training step", ylabel="objective E (training data)")
    ax0.legend(fontsize=7)
    ax1.set(xlabel="position n inside a segment", ylabel="RMS gap between the two models")
    ax1.legend(fontsize=8)
    ax1.grid(True, which="major", alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------------- explorers
def _segment_data(N, seed):
    return marker_inputs(N, 1, 8, seed=seed)  # one "segment" of N samples: no marker after n = 0


def segment_explorer(N: int = 48, seed: int = 0) -> Explorer:
    """Explorer: the data's RNN run over the whole sequence against the same RNN run per segment from zero.

    Sliders: ``K`` (segment length) and ``rho`` (spectral radius of the RNN's W_r, its memory). The
    data come from :func:`lstm_lib.rnn_training.proposition_teacher` without the reset marker, so the
    segments are dependent; running each from a zero state (paper Eq. 73) with the very same parameters
    leaves an error at every segment start that decays inside the segment (paper Remark 3: artificial
    discontinuities). Left: one readout component, both runs. Right: RMS error by position inside a
    segment. ``data["rms_error"]`` is the overall RMS error.
    """
    N = check_int("N", N, minimum=4, maximum=400)
    x = _segment_data(N, seed)

    def compute(K, rho):
        teacher = proposition_teacher(False, rho=rho, seed=seed)
        with torch.no_grad():
            r_full = teacher(x)[1]
            r_seg = run_segments(teacher, x, K)[1]
        err = (r_seg - r_full).square().sum(-1)  # (N, B)
        lengths = segment_lengths(N, K)
        pos = np.concatenate([np.arange(k) for k in lengths])
        by_pos = np.array([err.numpy()[pos == p].mean() for p in range(K)]) ** 0.5
        return {"r_full": r_full[:, 0, 0].numpy(), "r_seg": r_seg[:, 0, 0].numpy(), "by_pos": by_pos,
                "rms_error": float(err.mean().sqrt()), "starts": segment_offsets(lengths)}

    def draw(fig, data, K, rho):
        ax0, ax1 = fig.subplots(1, 2, width_ratios=(2, 1))
        n = np.arange(N)
        for j in data["starts"][1:]:
            ax0.axvline(j - 0.5, color="0.6", lw=0.8, ls="--")
        ax0.plot(n, data["r_full"], "k-", lw=1.5, label="whole sequence")
        ax0.plot(n, data["r_seg"], "o", color="C1", ms=3.5, label="segments from zero state")
        ax0.set(xlabel="sample n", ylabel=r"readout $r_1[n]$", ylim=(-1.05, 1.05))
        ax0.legend(fontsize=8, loc="lower left")
        ax0.set_title(f"K = {K}, rho(W_r) = {rho:.2f}: RMS error {data['rms_error']:.1e}", fontsize=9)
        ax1.semilogy(np.arange(K), np.maximum(data["by_pos"], 1e-12), "o-", color="C1")
        ax1.set(xlabel="position in segment", ylabel="RMS error", ylim=(1e-12, 3))
        ax1.grid(True, which="major", alpha=0.3)

    params = {
        "K": Param(1, 32, 1, 8, "segment length K", integer=True, values=(2, 4, 8, 16)),
        "rho": Param(0.05, 0.99, 0.01, 0.9, "memory rho(W_r)", values=(0.2, 0.5, 0.9, 0.99)),
    }
    return Explorer(compute, draw, params, scrub=("K", "rho"), figsize=(9.0, 3.4))


def draw_unrolled(N: int = 4, ax=None, tied: bool = True):
    """Draw the unrolled network of a window (this book's lemma): N boxes F, each fed by x[n] from below,
    chained by s[n-1] -> s[n], with the readouts r[n] = G(s[n]) on top; tied weights labelled. Returns the axes.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    N = check_int("N", N, minimum=1, maximum=12)
    tied = check_bool("tied", tied)
    ax = _axes(ax, (1.9 * N + 1.6, 3.2))
    gap, w, h = 1.9, 1.1, 0.9

    def arrow(p, q, **kw):
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=12, lw=1.2, color="0.2", **kw))

    for n in range(N):
        cx = 1.2 + gap * n
        ax.add_patch(FancyBboxPatch((cx - w / 2, -h / 2), w, h, boxstyle="round,pad=0.05", fc="#dbe8f6", ec="#2b5d8a"))
        ax.text(cx, 0.12, "F", ha="center", va="center", fontsize=13, weight="bold")
        label = r"$W_s, W_r, W_x, \theta_s$" if tied else rf"$W_s^{{({n})}}, W_r^{{({n})}}, \ldots$"
        ax.text(cx, -0.2, label, ha="center", va="center", fontsize=7)
        ax.text(cx, -1.45, f"$x[{n}]$", ha="center", va="center", fontsize=11)
        arrow((cx, -1.25), (cx, -h / 2 - 0.06))
        ax.text(cx, 1.55, f"$r[{n}] = G(s[{n}])$", ha="center", va="center", fontsize=9)
        arrow((cx, h / 2 + 0.06), (cx, 1.35))
        src = cx - gap + w / 2 + 0.06 if n else 0.05
        arrow((src, 0), (cx - w / 2 - 0.06, 0))
        ax.text((src + cx - w / 2) / 2, 0.16, f"$s[{n - 1}]$", ha="center", va="bottom", fontsize=9)
    last = 1.2 + gap * (N - 1) + w / 2 + 0.06
    arrow((last, 0), (last + 0.7, 0))
    ax.text(last + 0.35, 0.16, f"$s[{N - 1}]$", ha="center", va="bottom", fontsize=9)
    note = r"parameters tied: every layer holds the same $W_s, W_r, W_x, \theta_s$" if tied else "parameters untied"
    ax.text(0.05, -2.0, note, fontsize=8, color="0.3", va="center")
    ax.set_xlim(-0.1, last + 0.9)
    ax.set_ylim(-2.2, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def window_explorer(N: int = 24, seed: int = 0) -> Explorer:
    """Explorer for truncated BPTT (this book's addition): window length T and a leak W_s = w_s I.

    Left: one state component of the full run and of the windowed run (they coincide: the state crosses
    every boundary). Right: ||dE/dx[n]|| for a loss on the last step, full BPTT against truncated BPTT.
    """
    N = check_int("N", N, minimum=2, maximum=200)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CanonicalRNN(2, 4, dtype=torch.float64)
        x = torch.randn(N, 1, 2, dtype=torch.float64)
    eye = torch.eye(model.state_size, dtype=torch.float64)

    def compute(window, w_s):
        with torch.no_grad():
            model.W_s.copy_(w_s * eye)
        g = window_gradients(model, x, window)
        W_r_err = (g["W_r_windowed"] - g["W_r_full"]).norm() / g["W_r_full"].norm()
        return {
            "s_full": g["s_full"][:, 0, 0].numpy(), "s_windowed": g["s_windowed"][:, 0, 0].numpy(),
            "forward_diff": (g["s_windowed"] - g["s_full"]).abs().max().item(),
            "grad_full": g["grad_full"].numpy(), "grad_windowed": g["grad_windowed"].numpy(),
            "last_start": (N - 1) // window * window, "W_r_rel_err": W_r_err.item(),
        }

    def draw(fig, data, window, w_s):
        ax1, ax2 = fig.subplots(1, 2)
        n = np.arange(N)
        for ax in (ax1, ax2):
            for b in range(window, N, window):
                ax.axvline(b - 0.5, color="0.6", lw=0.8, ls="--")
        ax1.plot(n, data["s_full"], "k-", lw=1.5, label="full run")
        ax1.plot(n, data["s_windowed"], "o", color="C1", ms=4, label="windows, state carried")
        ax1.set(xlabel="step n", ylabel="$s_1[n]$")
        ax1.set_title(f"max |s_windowed - s_full| = {data['forward_diff']:.1e}", fontsize=9)
        ax1.legend(fontsize=8, loc="best")
        floor = 1e-10
        ax2.semilogy(n, np.maximum(data["grad_full"], floor), "k.-", lw=1.2, label="full BPTT")
        gw = data["grad_windowed"]
        ax2.bar(n, np.where(gw > 0, gw, 0.0), bottom=0, color="C1", alpha=0.6, label="truncated BPTT")
        zero = gw == 0
        ax2.plot(n[zero], np.full(zero.sum(), floor * 3), "x", color="C3", ms=5, label="exactly 0")
        ax2.set_ylim(floor, 10)
        ax2.set(xlabel="step n (loss on r[N-1])", ylabel="||dE/dx[n]||")
        ax2.set_title(f"T = {window}, W_s = {w_s:.2f} I: dE/dW_r off by {100 * data['W_r_rel_err']:.1f}%",
                      fontsize=9)
        ax2.legend(fontsize=8, loc="upper left")

    windows = tuple(v for v in (2, 4, 8, 12, N) if v <= N)
    params = {
        "window": Param(1, N, 1, min(8, N), "window length T", integer=True,
                        values=tuple(sorted(set(windows) | {min(8, N)}))),
        "w_s": Param(0.0, 0.9, 0.05, 0.5, "leak w_s", values=(0.0, 0.5, 0.9)),
    }
    return Explorer(compute, draw, params, scrub=("window", "w_s"), figsize=(9.0, 3.5))

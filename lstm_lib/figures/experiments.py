"""Figures and explorers of the experiment chapters and of the conclusions.

Every function draws results that :mod:`lstm_lib.experiments` computed (a :class:`Results`, a gate
trace, a forecast table); nothing here trains a model. The explorers recompute through the trained
models they are given (a forward pass, no training), so each frame costs milliseconds.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..augmented_lstm import context_versus_bidirectional
from ..experiments import Results, forecast, gate_trace, linear_forecast
from ..tasks import DistractedSum
from ..widgets import Explorer, Param

MODEL_COLORS = ("C0", "C3", "C2", "C1", "C4", "C5", "C6")


def _figure(figsize, fig=None):
    return fig if fig is not None else plt.figure(figsize=figsize, layout="constrained")


def _errorbars(ax, results: Results, metric: str = "test_score", *, logx: bool = False):
    xs = results.sweep_values()
    for color, label in zip(MODEL_COLORS, results.labels(), strict=False):
        m = [results.mean(metric, label, v) for v in xs]
        s = [results.sd(metric, label, v) for v in xs]
        ax.errorbar(xs, m, yerr=s, fmt="o-", color=color, capsize=3, label=label)
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(v) for v in xs])
        ax.minorticks_off()


# ---- long lags ----------------------------------------------------------------------------------------------


def plot_lags(adding: Results, recall: Results, fig=None):
    """The long-lag sweep: the adding problem's test loss / baseline (left) and delayed recall's test
    accuracy (right) against the lag, mean and standard deviation over the seeds; the dotted lines are
    what knowing nothing scores."""
    fig = _figure((8.6, 3.4), fig)
    ax0, ax1 = fig.subplots(1, 2)
    _errorbars(ax0, adding, logx=True)
    ax0.axhline(1.0, color="k", ls=":", lw=1)
    ax0.set(xlabel="sequence length (lag)", ylabel="test loss / baseline", title="adding problem")
    ax0.set_ylim(-0.05, 1.25)
    _errorbars(ax1, recall, logx=True)
    chance = recall.data[recall.sweep_values()[0]].task.chance
    ax1.axhline(chance, color="k", ls=":", lw=1)
    ax1.set(xlabel="lag", ylabel="test accuracy", title="delayed recall of one symbol")
    ax1.set_ylim(0, 1.05)
    ax1.legend(loc="center left", fontsize=9)
    return fig


GATES = (("g_cu", "control update gate $g_{cu}$"), ("g_cs", "control state gate $g_{cs}$"),
         ("g_cr", "control readout gate $g_{cr}$"))


def plot_gates(trace: dict, fig=None, *, units=None, title: str = ""):
    """The gates of a trained vanilla LSTM over one sequence (one row per gate, a heat map of units
    against steps, values from 0 = closed to 1 = open) and the state s[n] of every unit."""
    fig = _figure((8.6, 5.6), fig)
    axes = fig.subplots(4, 1, sharex=True)
    for ax, (key, name) in zip(axes, GATES, strict=False):
        g = trace[key][:, 0].T.numpy()
        g = g if units is None else g[units]
        im = ax.imshow(g, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel("unit")
        ax.set_title(name, fontsize=10, loc="left")
    fig.colorbar(im, ax=axes[:3], shrink=0.8, label="gate value")
    s = trace["s"][:, 0].numpy()
    s = s if units is None else s[:, units]
    axes[3].plot(s, lw=1)
    axes[3].set(xlabel="step n", ylabel="state s[n]")
    axes[3].set_title("state of every unit", fontsize=10, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def gate_explorer(model, data, examples: int = 6, units=None) -> Explorer:
    """Explorer: the trained delayed-recall LSTM on one test sequence. Sliders: ``example`` (which test
    sequence) and ``unit`` (whose gates and state are drawn as curves). ``units``: the units the static
    page offers (default: every unit); the first is shown first."""
    x, y = data.split("test")
    d = model.core.hidden_size

    @torch.no_grad()
    def compute(example, unit):
        tr = gate_trace(model, x[:, example : example + 1])
        scores = model.out(tr["v"][-1, 0])
        return {"trace": tr, "symbol": int(y[example]), "named": int(scores.argmax())}

    def draw(fig, data_, example, unit):
        tr = data_["trace"]
        ax0, ax1 = fig.subplots(2, 1, sharex=True)
        for key, name in GATES:
            ax0.plot(tr[key][:, 0, unit].numpy(), label=name.split(" $")[0].replace("control ", ""))
        ax0.set_ylim(-0.05, 1.05)
        ax0.set_ylabel("gate value")
        ax0.legend(fontsize=8, ncols=3, loc="lower right")
        ax1.plot(tr["s"][:, 0, unit].numpy(), color="k")
        ax1.set(xlabel="step n", ylabel=f"state s[n], unit {unit}")
        ax0.set_title(f"sequence {example}: first symbol {data_['symbol']}, named {data_['named']}", fontsize=10)

    shown = list(range(d)) if units is None else sorted({int(u) for u in units})
    first = shown[0] if units is None else int(list(units)[0])
    params = {"example": Param(0, examples - 1, 1, 0, "test sequence", integer=True),
              "unit": Param(0, d - 1, 1, first, "unit", integer=True, values=shown)}
    return Explorer(compute, draw, params, scrub="unit", figsize=(8.0, 4.2))


# ---- standardization and clipping ----------------------------------------------------------------------------


def plot_stability(results: Results, fig=None, *, seed: int = 0):
    """Training loss against the step for every remedy, raw inputs (left) and standardized ones (right),
    of the run with ``seed``; a cross marks where a run diverged."""
    fig = _figure((8.6, 3.4), fig)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, value in zip(axes, results.sweep_values(), strict=False):
        for color, style, label in zip(MODEL_COLORS, ("-", "--", ":", "-."), results.labels(), strict=False):
            run = next(r for r in results.runs if r.sweep == value and r.label == label and r.seed == seed)
            loss = np.asarray(run.history.loss, dtype=float)
            base = getattr(results.data[value], "baseline", 1.0)
            ok = np.isfinite(loss)
            ax.semilogy(np.flatnonzero(ok), loss[ok] / base, style, color=color, lw=1.2, label=label, alpha=0.85)
            if run.history.diverged:
                last = np.flatnonzero(ok)[-1] if ok.any() else 0
                ax.plot(last, min(loss[ok][-1] / base, 1e3) if ok.any() else 1.0, "x", color=color, ms=10, mew=2)
        ax.axhline(1.0, color="k", ls=":", lw=1)
        ax.set(xlabel="training step", title="standardized inputs" if value else "raw inputs")
        ax.set_ylim(1e-3, 1e3)
    axes[0].set_ylabel("training loss / baseline")
    axes[1].legend(fontsize=8, loc="lower left")
    return fig


# ---- context windows ------------------------------------------------------------------------------------------


def _bars(ax, labels, means, sds, colors, ylabel):
    pos = np.arange(len(labels))
    ax.bar(pos, means, yerr=sds, color=colors, capsize=3, alpha=0.85)
    ax.set_xticks(pos, labels, rotation=25, ha="right")
    ax.set_ylabel(ylabel)


def plot_context(results: Results, fig=None):
    """Context windows against a bidirectional LSTM at matched parameter counts: test accuracy (left,
    the dotted line is chance) and the time of one epoch (right), per model."""
    fig = _figure((8.6, 3.6), fig)
    ax0, ax1 = fig.subplots(1, 2)
    labels = results.labels()
    colors = MODEL_COLORS[: len(labels)]
    _bars(ax0, labels, [results.mean("test_score", lb) for lb in labels],
          [results.sd("test_score", lb) for lb in labels], colors, "test accuracy")
    ax0.axhline(results.data[None].task.chance, color="k", ls=":", lw=1)
    ax0.set_ylim(0, 1.05)
    _bars(ax1, labels, [results.mean("epoch_seconds", lb) for lb in labels], [0] * len(labels), colors,
          "seconds per epoch")
    for k, lb in enumerate(labels):
        ax1.annotate(f"{results.mean('params', lb):.0f} p.", (k, 0), xytext=(0, 3), textcoords="offset points",
                     ha="center", fontsize=8, color="w")
    return fig


# ---- the input gate -------------------------------------------------------------------------------------------

KIND_STYLE = {"marked": ("C2", "^", "marked (content)"), "burst": ("C3", "x", "noise burst")}


def plot_input_gate(reading: dict, fig=None):
    """One test sequence of the distracted sum: the raw input (top, marked samples and bursts flagged)
    and the external input gate g_cx of every unit (bottom heat map, 0 = closed, 1 = open)."""
    fig = _figure((8.6, 4.4), fig)
    ax0, ax1 = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.6))
    x = reading["x"][:, 0].numpy()
    kinds = reading["kinds"].numpy()
    ax0.plot(x, color="0.5", lw=1)
    for k, name in enumerate(DistractedSum.KINDS):
        if name in KIND_STYLE:
            color, marker, text = KIND_STYLE[name]
            at = np.flatnonzero(kinds == k)
            ax0.plot(at, x[at], marker, color=color, ls="none", label=text)
    ax0.set_ylabel("input value")
    ax0.legend(fontsize=8, ncols=2, loc="upper left")
    g = reading["g_cx"].T.numpy()
    order = np.argsort(reading["selectivity"])[::-1] if "selectivity" in reading else np.arange(g.shape[0])
    im = ax1.imshow(g[order], aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    for at in np.flatnonzero(kinds == 1):
        ax1.axvline(at, color="C2", lw=0.8, alpha=0.7)
    ax1.set(xlabel="step n", ylabel="unit (most selective on top)")
    fig.colorbar(im, ax=ax1, shrink=0.9, label="$g_{cx}$")
    return fig


def input_gate_explorer(model, data, examples: int = 6) -> Explorer:
    """Explorer: the trained gated LSTM on fresh distracted sums. Sliders: ``example`` (which sequence)
    and ``burst_scale`` (the noise bursts' standard deviation, in the raw units of the task)."""
    task = data.task

    @torch.no_grad()
    def compute(example, burst_scale):
        probe = DistractedSum(task.length, task.markers, task.burst_rate, burst_scale)
        x0, y, kinds = probe.sample_with_kinds(examples, torch.Generator().manual_seed(100))
        tr = gate_trace(model, data.standardization(x0))
        y_hat = model.out(tr["v"][-1])
        return {"x": x0[:, example], "kinds": kinds[:, example], "g_cx": tr["g_cx"][:, example],
                "target": float(y[example, 0]), "output": float(y_hat[example, 0])}

    def draw(fig, data_, example, burst_scale):
        ax0, ax1 = fig.subplots(2, 1, sharex=True)
        x, kinds = data_["x"].numpy(), data_["kinds"].numpy()
        ax0.plot(x[:, 0], color="0.5", lw=1)
        for k, name in enumerate(DistractedSum.KINDS):
            if name in KIND_STYLE:
                color, marker, text = KIND_STYLE[name]
                at = np.flatnonzero(kinds == k)
                ax0.plot(at, x[at, 0], marker, color=color, ls="none", label=text)
        ax0.set_ylabel("input")
        ax0.legend(fontsize=8, ncols=2, loc="upper left")
        ax0.set_title(f"target sum {data_['target']:.2f}, model's answer {data_['output']:.2f}", fontsize=10)
        ax1.plot(data_["g_cx"].numpy(), lw=0.8, alpha=0.7)
        ax1.set(xlabel="step n", ylabel="$g_{cx}$ of every unit", ylim=(-0.02, 1.02))

    params = {"example": Param(0, examples - 1, 1, 0, "sequence", integer=True),
              "burst_scale": Param(0.0, 8.0, 0.5, task.burst_scale, "burst scale",
                                   values=sorted({0.0, 1.0, 2.0, task.burst_scale, 8.0}))}
    return Explorer(compute, draw, params, scrub="burst_scale", figsize=(8.0, 4.2))


# ---- the projection -------------------------------------------------------------------------------------------


def plot_projection(results: Results, fig=None):
    """Test loss / baseline (left) and the time of one training step (right) against d_v."""
    fig = _figure((8.6, 3.3), fig)
    ax0, ax1 = fig.subplots(1, 2)
    labels = results.labels()
    dv = [results.experiment.models[k].options.get("proj_size", 0) or results.mean("hidden", lb)
          for k, lb in enumerate(labels)]
    for ax, metric, name in ((ax0, "test_score", "test loss / baseline"), (ax1, "step_ms", "ms per training step")):
        m = [results.mean(metric, lb) for lb in labels]
        s = [results.sd(metric, lb) for lb in labels]
        ax.errorbar(dv, m, yerr=s, fmt="o-", capsize=3)
        ax.set_xscale("log", base=2)
        ax.set_xticks(dv, [f"{v:.0f}" for v in dv])
        ax.minorticks_off()
        ax.set(xlabel="$d_v$ (32 = no projection)", ylabel=name)
    ax0.set_ylim(bottom=0)
    ax1.set_ylim(bottom=0)
    return fig


# ---- a measured signal ----------------------------------------------------------------------------------------


def plot_forecasts(results: Results, table: dict, horizon: int, fig=None, *, years=None):
    """Left: the series over the test period with forecasts ``horizon`` steps ahead (each value forecast
    from data up to ``horizon`` steps before it); right: the test RMSE against the horizon. ``years``:
    the time of every value (default: its index)."""
    fig = _figure((8.8, 3.5), fig)
    ax0, ax1 = fig.subplots(1, 2, width_ratios=(1.5, 1))
    data = results.data[None]
    z = data.series.numpy()
    origins = np.asarray(table["origins"])
    years = np.asarray(years) if years is not None else np.arange(len(z))
    ax0.plot(years, z, color="k", lw=1, label="measured")
    h = horizon - 1
    keep = origins + h < len(z)
    for color, (name, pred) in zip(("0.6", "C1", "C0"), table["forecasts"].items(), strict=False):
        ax0.plot(years[origins[keep] + h], pred.numpy()[keep, h], color=color, lw=1.2, label=name)
    ax0.set_xlim(years[origins[0] - 40], years[-1])
    a, b = data.periods
    ax0.axvspan(years[a], years[b], color="0.92", zorder=0)
    ax0.set(xlabel="year", ylabel="sunspot number", title=f"forecasts {horizon} years ahead")
    ax0.legend(fontsize=8, loc="upper left")
    for color, (name, (m, s)) in zip(("0.6", "C1", "C0"), table["rmse"].items(), strict=False):
        hs = np.arange(1, len(m) + 1)
        ax1.errorbar(hs, m.numpy(), yerr=s.numpy(), fmt="o-", color=color, ms=3, capsize=2, label=name)
    ax1.set(xlabel="horizon (years)", ylabel="test RMSE (sunspot number)")
    ax1.set_ylim(bottom=0)
    return fig


def forecast_explorer(model, data, years, order: int) -> Explorer:
    """Explorer: forecasts of the sunspot series from one origin in the test period. Sliders: ``origin``
    (the first forecast year) and ``horizon`` (years ahead); the linear baseline is AR(``order``)
    (:func:`lstm_lib.experiments.linear_forecast`)."""
    z = data.series
    a, b = data.periods
    first, last = int(years[b]), int(years[len(z) - 1])
    year0 = int(years[0])

    @torch.no_grad()
    def compute(origin, horizon):
        t = int(origin) - year0
        return {"lstm": forecast(model, data, [t], int(horizon))[0].numpy(),
                "linear": linear_forecast(data, order, [t], int(horizon))[0].numpy(), "t": t}

    def draw(fig, d, origin, horizon):
        ax = fig.subplots()
        t = d["t"]
        lo = max(0, t - 40)
        ax.plot(np.asarray(years[lo:]), z[lo:].numpy(), color="k", lw=1, label="measured")
        fy = np.asarray(years[0]) + t + np.arange(int(horizon))
        ax.plot(fy, d["linear"], "o-", color="C1", ms=3, label="linear")
        ax.plot(fy, d["lstm"], "o-", color="C0", ms=3, label="LSTM")
        ax.axvline(origin - 0.5, color="0.5", ls=":")
        ax.set(xlabel="year", ylabel="sunspot number")
        ax.legend(fontsize=8, loc="upper left")

    step = max(1, (last - first) // 8)
    values = sorted({first + k * step for k in range(9) if first + k * step <= last} | {first})
    params = {"origin": Param(first, last, 1, first, "first forecast year", integer=True, values=values),
              "horizon": Param(1, 22, 1, 11, "horizon (years)", integer=True)}
    return Explorer(compute, draw, params, scrub="origin", figsize=(8.0, 3.4))


# ---- text -------------------------------------------------------------------------------------------------------


def plot_text_training(results: Results, fig=None):
    """Training loss (nats per character, a running mean) against the step for every model and seed."""
    fig = _figure((7.0, 3.2), fig)
    ax = fig.subplots()
    for color, label in zip(MODEL_COLORS, results.labels(), strict=False):
        for r in results.runs:
            if r.label == label:
                loss = np.asarray(r.history.loss)
                k = 10
                smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
                ax.plot(np.arange(k - 1, len(loss)), smooth, color=color, lw=1,
                        label=label if r.seed == results.experiment.seeds[0] else None)
    ax.set(xlabel="training step", ylabel="training loss (nats per character)")
    ax.legend(fontsize=9)
    return fig


# ---- conclusions -------------------------------------------------------------------------------------------------


def plot_costs(input_size: int, hidden_size: int, contexts=(1, 2, 4, 8, 16), fig=None):
    """What context windows cost against a bidirectional vanilla LSTM of the same d_s (paper Sec. VII-A):
    parameters (left) and multiply-adds of one step (right) against the number of taps L."""
    rows = context_versus_bidirectional(input_size, hidden_size, contexts)
    fig = _figure((8.6, 3.2), fig)
    ax0, ax1 = fig.subplots(1, 2)
    L = [r["L"] for r in rows]
    ax0.plot(L, [r["augmented"] for r in rows], "o-", label="augmented, L taps")
    ax0.plot(L, [r["bidirectional"] for r in rows], "s--", label="bidirectional vanilla")
    ax0.set(xlabel="taps L", ylabel="parameters")
    ax1.plot(L, [r["flops"] for r in rows], "o-", label="augmented, L taps")
    ax1.plot(L, [r["flops_bidirectional"] for r in rows], "s--", label="bidirectional vanilla")
    ax1.set(xlabel="taps L", ylabel="operations per step")
    ax0.legend(fontsize=8)
    for ax in (ax0, ax1):
        ax.set_ylim(bottom=0)
    return fig


def cost_explorer() -> Explorer:
    """Explorer: the cost of context windows against a bidirectional vanilla LSTM. Sliders: ``d_x`` (input
    size) and ``d_s`` (state size); the curves run over the number of taps L."""

    def compute(d_x, d_s):
        return context_versus_bidirectional(int(d_x), int(d_s), (1, 2, 4, 8, 16, 32))

    def draw(fig, rows, d_x, d_s):
        ax = fig.subplots()
        L = [r["L"] for r in rows]
        ax.plot(L, [r["ratio"] for r in rows], "o-")
        ax.axhline(1.0, color="k", ls=":")
        cross = next((r["L"] for r in rows if r["ratio"] >= 1), None)
        ax.set_xscale("log", base=2)
        ax.set_xticks(L, [str(v) for v in L])
        ax.minorticks_off()
        ax.set(xlabel="taps L", ylabel="parameters: augmented / bidirectional")
        where = f"from L = {cross} on" if cross else "at no L shown"
        ax.set_title(f"d_x = {d_x:.0f}, d_s = {d_s:.0f}: the windows cost more than a second direction {where}",
                     fontsize=9)

    params = {"d_x": Param(1, 256, 1, 4, "input size d_x", integer=True, values=(1, 4, 16, 64, 256)),
              "d_s": Param(4, 512, 4, 16, "state size d_s", integer=True, values=(16, 64, 256))}
    return Explorer(compute, draw, params, scrub=("d_x", "d_s"), figsize=(7.5, 3.4))

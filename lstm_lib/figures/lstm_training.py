"""Figures and explorers of the chapter "Training the vanilla LSTM"."""

from __future__ import annotations

import numpy as np
import torch

from ..lstm import VanillaLSTM
from ..lstm_training import signal_norms
from ..widgets import Explorer, Param


def explorer(d: int = 8, m: int = 2, B: int = 8, seed: int = 0) -> Explorer:
    """The state-gate bias ``b_cs`` and the sequence length ``N`` against how far back the gradient survives."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VanillaLSTM(m, d, dtype=torch.float64)
        x_all = torch.randn(400, B, m, dtype=torch.float64)

    def compute(b_cs, N):
        model.b_cs = torch.full((d,), float(b_cs))
        norms = signal_norms(model, x_all[: int(N)])
        g_cs = torch.sigmoid(torch.tensor(float(b_cs)))
        return {k: v.numpy() for k, v in norms.items()} | {"g_cs_bias_only": float(g_cs)}

    def draw(fig, data, b_cs, N):
        ax = fig.subplots()
        n = np.arange(len(data["psi"]))
        for key, style in (("psi", "k-"), ("alpha_cs", "C0--"), ("alpha_cu", "C1-."), ("alpha_cr", "C2:"),
                           ("alpha_du", "C3-")):
            ax.semilogy(n, np.maximum(data[key], 1e-300), style, lw=1.4, label=key.replace("alpha_", "alpha "))
        ax.set_ylim(1e-30, 10)
        ax.set_xlabel("step n (the loss is at the last step)")
        ax.set_ylabel("mean norm")
        ax.set_title(f"b_cs = {b_cs:.2f}: G_c(b_cs) = {data['g_cs_bias_only']:.3f}")
        ax.legend(loc="lower right", ncols=2)

    params = {
        "b_cs": Param(-2.0, 6.0, 0.25, 1.0, label="state-gate bias b_cs"),
        "N": Param(10, 400, 10, 150, label="sequence length N", integer=True),
    }
    return Explorer(compute, draw, params, scrub="b_cs", frames=9)

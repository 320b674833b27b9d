"""Speed of the vanilla LSTM layer against torch.nn.LSTM and against a plain autograd loop.

Cases, fp32, N=100 steps, B=32, m = d = 128 and 256 (``--quick``: N=20, B=8, d=32):

* forward + backward: VanillaLSTM with peepholes (hand-derived backward) against torch.nn.LSTM
  (no peepholes, a fused kernel; target within 1.5x) and against the same cell as a plain
  autograd loop over steps (``backward="autograd"``; target at least 2x faster, ratio <= 0.5);
* forward alone, under ``torch.no_grad()`` and with grad enabled, against torch.nn.LSTM.

``args`` may carry ``sizes``, a list of ``(N, B, d)``, to override the sizes (the book uses it).
"""

from __future__ import annotations

import torch

from ..vanilla_lstm import VanillaLSTM
from .timing import Row, interleaved


def _cases(N: int, B: int, d: int):
    m = d
    x = torch.randn(N, B, m)
    ref = torch.nn.LSTM(m, d)
    ours = VanillaLSTM(m, d, peepholes=True)
    loop = VanillaLSTM(m, d, peepholes=True, backward="autograd")
    loop.load_state_dict(ours.state_dict())
    xg = x.clone().requires_grad_(True)

    def train(model):
        def fn():
            v, (v_last, s_last) = model(xg)
            (v.sum() + s_last.sum()).backward()

        return fn

    def infer(model):
        def fn():
            with torch.no_grad():
                model(x)

        return fn

    def forward_grad(model):
        return lambda: model(xg)

    return {
        "fwd+bwd": {"torch.nn.LSTM": train(ref), "VanillaLSTM": train(ours), "autograd loop": train(loop)},
        "fwd no_grad": {"torch.nn.LSTM": infer(ref), "VanillaLSTM": infer(ours)},
        "fwd with grad": {"torch.nn.LSTM": forward_grad(ref), "VanillaLSTM": forward_grad(ours)},
    }


def run(args) -> list[Row]:
    sizes = getattr(args, "sizes", None) or ([(20, 8, 32)] if args.quick else [(100, 32, 128), (100, 32, 256)])
    repeats = min(args.repeats, 3) if args.quick else args.repeats
    rows = []
    for N, B, d in sizes:
        for kind, cases in _cases(N, B, d).items():
            t = interleaved(cases, repeats=repeats, warmup=1 if args.quick else 2)
            group = f"LSTM {kind} N={N} B={B} d={d}"
            ref = t["torch.nn.LSTM"]
            rows.append(Row(group, "VanillaLSTM (peepholes)", t["VanillaLSTM"], ref, "<= 1.5"))
            if "autograd loop" in t:
                rows.append(Row(group, "VanillaLSTM vs autograd loop", t["VanillaLSTM"], t["autograd loop"], "<= 0.5"))
    return rows

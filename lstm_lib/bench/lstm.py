"""The LSTM layer at the sizes where most of its users train it (N=100, B=32, input size = d).

Rows, fp32, for d = 128 and 256 (``--quick``: N=20, B=8, d=32), each state-weight kind:

* forward + backward against torch.nn.LSTM (one fused kernel, no state weights). Targets: no state
  weights and diagonal ones within 1.5x, full d x d state weights within 1.6x (they add three d x d
  products per step that torch.nn.LSTM does not do);
* forward + backward against the same layer with ``backward="autograd"`` (a plain autograd loop over
  the steps): at least 2x faster (ratio <= 0.5);
* forward alone under ``torch.no_grad()`` against torch.nn.LSTM: within 1.5x.

``args`` may carry ``sizes``, a list of ``(N, B, d)``, to override the sizes (the book uses it).
"""

from __future__ import annotations

import torch

from ..lstm import VanillaLSTM
from .timing import Row, interleaved

KINDS = ((None, "none", "<= 1.5"), ("diagonal", "diagonal", "<= 1.5"), ("full", "full", "<= 1.6"))


def train_step(model, x):
    def fn():
        v, (_, s_last) = model(x)
        (v.sum() + s_last.sum()).backward()

    return fn


def inference(model, x):
    def fn():
        with torch.no_grad():
            model(x)

    return fn


def run(args) -> list[Row]:
    sizes = getattr(args, "sizes", None) or ([(20, 8, 32)] if args.quick else [(100, 32, 128), (100, 32, 256)])
    repeats = min(args.repeats, 3) if args.quick else args.repeats
    rows = []
    for N, B, d in sizes:
        torch.manual_seed(0)
        x = torch.randn(N, B, d, requires_grad=True)
        ref = torch.nn.LSTM(d, d)
        train = {"torch.nn.LSTM": train_step(ref, x)}
        infer = {"torch.nn.LSTM": inference(ref, x.detach())}
        for sw, label, _ in KINDS:
            ours = VanillaLSTM.from_torch(ref, state_weights=sw)
            if sw is not None:
                with torch.no_grad():
                    (ours.W_s if sw == "full" else ours.w_s).normal_(0.0, 0.1 / d**0.5)
            loop = VanillaLSTM(d, d, state_weights=sw, backward="autograd")
            loop.load_state_dict(ours.state_dict())
            train[label] = train_step(ours, x)
            train[f"{label} autograd loop"] = train_step(loop, x)
            infer[label] = inference(ours, x.detach())
        t_train = interleaved(train, repeats=repeats, warmup=1 if args.quick else 2)
        t_infer = interleaved(infer, repeats=repeats, warmup=1 if args.quick else 2)
        for sw, label, target in KINDS:
            name = f"VanillaLSTM state_weights={sw!r}"
            group = f"LSTM fwd+bwd N={N} B={B} d={d}"
            rows.append(Row(group, name, t_train[label], t_train["torch.nn.LSTM"], target))
            rows.append(Row(group, name, t_train[label], t_train[f"{label} autograd loop"], "<= 0.5",
                            "vs the same cell as an autograd loop"))
            rows.append(Row(f"LSTM fwd no_grad N={N} B={B} d={d}", name, t_infer[label], t_infer["torch.nn.LSTM"],
                            "<= 1.5"))
    return rows

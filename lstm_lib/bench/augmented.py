"""The augmented LSTM's switches, each against its arithmetic floor, and the projection against torch's.

fp32, N=100, B=32, input size = d (``--quick``: N=20, B=8, d=32):

* ``AugmentedLSTM(proj_size=128, state_weights=None)`` forward + backward against
  ``torch.nn.LSTM(proj_size=128)`` at d = 256 and 512: target <= 1.0x;
* every configuration (context L in {1, 2, 4}, input gate or not, projection to d/2 or not) at d = 256,
  against ``VanillaLSTM`` of the same state weights: the time ratio beside the FLOP ratio (the ratio of
  the matrix products the sizes force: a context of L taps multiplies the input half of the work by L,
  the gate adds a fifth block, the projection shrinks the recurrent products and adds W_qdr); target:
  time ratio <= 1.2 x FLOP ratio.
"""

from __future__ import annotations

import itertools

import torch

from ..lstm import AugmentedLSTM, VanillaLSTM
from .lstm import train_step
from .timing import Row, interleaved


def run(args) -> list[Row]:
    N, B = (20, 8) if args.quick else (100, 32)
    repeats = min(args.repeats, 3) if args.quick else args.repeats
    warmup = 1 if args.quick else 2
    rows = []
    for d in ((32,) if args.quick else (256, 512)):
        p = d // 2 if args.quick else 128
        torch.manual_seed(0)
        x = torch.randn(N, B, d, requires_grad=True)
        ref = torch.nn.LSTM(d, d, proj_size=p)
        ours = AugmentedLSTM.from_torch(ref)
        t = interleaved({"torch.nn.LSTM(proj_size)": train_step(ref, x), "ours": train_step(ours, x)},
                        repeats=repeats, warmup=warmup)
        t["ours"].name = f"AugmentedLSTM(proj_size={p}, state_weights=None)"
        rows.append(Row(f"projection fwd+bwd N={N} B={B} d={d}", t["ours"].name, t["ours"],
                        t["torch.nn.LSTM(proj_size)"], "<= 1.0"))
    d = 32 if args.quick else 256
    x = torch.randn(N, B, d, requires_grad=True)
    for sw in ("full", "diagonal", None):
        base = VanillaLSTM(d, d, state_weights=sw)
        cases = {"vanilla": train_step(base, x)}
        models = {}
        for L, gate, proj in itertools.product((1, 2, 4), (False, True), (0, d // 2)):
            if (L, gate, proj) == (1, False, 0):
                continue
            model = AugmentedLSTM(d, d, context=L, input_gate=gate, proj_size=proj, state_weights=sw)
            name = f"context={L} input_gate={gate} proj_size={proj}"
            models[name] = model
            cases[name] = train_step(model, x)
        t = interleaved(cases, repeats=repeats, warmup=warmup)
        floor = base.layout.flops_per_step(B)
        for name, model in models.items():
            ratio = model.layout.flops_per_step(B) / floor
            rows.append(Row(f"augmented fwd+bwd N={N} B={B} d={d} state_weights={sw!r}", name, t[name],
                            t["vanilla"], f"<= {1.2 * ratio:.2f}", f"FLOP ratio {ratio:.2f}"))
    return rows

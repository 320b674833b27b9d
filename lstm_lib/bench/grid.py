"""The LSTM layer over a grid of shapes: small batches and long sequences included.

For N in {100, 1000}, B in {1, 4, 8, 32, 64}, d in {64, 128, 256, 512} (input size = d), fp32, training
(forward + backward) and inference (forward under ``no_grad``). ``--grid-model`` picks the candidate:

* ``none`` (default), ``diagonal``, ``full``: ``VanillaLSTM(state_weights=...)`` against torch.nn.LSTM.
  Targets: within 1.5x at every shape (``none``); with one competing busy process (``--contended``)
  within 2x. For ``diagonal`` and ``full`` the table also gives the FLOP ratio to torch.nn.LSTM (their
  extra arithmetic): the ratio to compare them with.
* ``augmented``: ``AugmentedLSTM(context=2, input_gate=True, proj_size=d/2, state_weights=None)`` against
  ``VanillaLSTM(state_weights=None)``: the measured ratio against the FLOP ratio; target <= 1.2 x FLOP ratio.

The summary line gives the worst and the median ratio (of the minima) over the grid, per mode.
``--quick``: N=20, B in {1, 8}, d in {32, 64}.
"""

from __future__ import annotations

import statistics

import torch

from .._gates import Layout
from ..lstm import AugmentedLSTM, VanillaLSTM
from .lstm import inference, train_step
from .timing import Row, interleaved

FULL = {"N": (100, 1000), "B": (1, 4, 8, 32, 64), "d": (64, 128, 256, 512)}
QUICK = {"N": (20,), "B": (1, 8), "d": (32, 64)}


def _flops(layout: Layout) -> float:
    return layout.flops_per_step(1)


def _candidates(kind: str, d: int):
    """(candidate, reference, FLOP ratio of candidate to reference, target)."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(d, d)
    if kind in ("none", "diagonal", "full"):
        sw = None if kind == "none" else kind
        ours = VanillaLSTM.from_torch(ref, state_weights=sw)
        if sw is not None:
            with torch.no_grad():
                (ours.W_s if sw == "full" else ours.w_s).normal_(0.0, 0.1 / d**0.5)
        ratio = _flops(ours.layout) / _flops(Layout(d, d, state_weights=None))
        return ours, ref, "torch.nn.LSTM", ratio, "<= 1.5" if kind == "none" else f"<= {1.5 * ratio:.2f}"
    if kind == "augmented":
        ours = AugmentedLSTM(d, d, context=2, input_gate=True, proj_size=d // 2, state_weights=None)
        base = VanillaLSTM(d, d, state_weights=None)
        ratio = _flops(ours.layout) / _flops(base.layout)
        return ours, base, "VanillaLSTM", ratio, f"<= {1.2 * ratio:.2f}"
    raise ValueError(f"--grid-model: expected none, diagonal, full or augmented, got {kind!r}")


def run(args) -> list[Row]:
    grid = QUICK if args.quick else FULL
    kind = getattr(args, "grid_model", None) or "none"
    repeats = min(args.repeats, 3) if args.quick else min(args.repeats, 7)
    budget = 1.0 if args.quick else 6.0
    rows: list[Row] = []
    ratios = {"training": [], "inference": []}
    for d in grid["d"]:
        ours, ref, ref_name, flop_ratio, target = _candidates(kind, d)
        if getattr(args, "contended", False):
            target = "<= 2.0" if kind == "none" else target
        for N in grid["N"]:
            for B in grid["B"]:
                x = torch.randn(N, B, d, requires_grad=True)
                for mode, make in (("training", train_step), ("inference", inference)):
                    xx = x if mode == "training" else x.detach()
                    t = interleaved({ref_name: make(ref, xx), "ours": make(ours, xx)}, repeats=repeats,
                                    warmup=1, budget=budget)
                    t["ours"].name = f"{type(ours).__name__} ({kind})"
                    row = Row(f"grid {mode} N={N} B={B} d={d}", t["ours"].name, t["ours"], t[ref_name], target,
                              f"FLOP ratio {flop_ratio:.2f}")
                    rows.append(row)
                    ratios[mode].append(row.ratio_min)
    for mode, rs in ratios.items():
        if rs:
            print(f"grid ({kind}, {mode}, {'contended' if getattr(args, 'contended', False) else 'quiet'}): "
                  f"worst ratio {max(rs):.2f}, median {statistics.median(rs):.2f} over {len(rs)} shapes")
    return rows

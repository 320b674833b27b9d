"""Benchmark: CanonicalRNN forward+backward against torch.nn.RNN on the same data.

Case: N=100 steps, B=32 sequences, input and state size 128, float32 (``--quick``: N=20, sizes 32).
Target: backward="bptt" within 1.5x of torch.nn.RNN (tanh); backward="autograd" is reported for reference.
"""

from __future__ import annotations

import torch

from ..canonical_rnn import CanonicalRNN
from .timing import Row, interleaved


def _case(module, x, s0):
    def step():
        module.zero_grad(set_to_none=True)
        out = module(x, s0)
        s, r = out if isinstance(module, CanonicalRNN) else (None, out[0])
        loss = r.square().sum() if s is None else r.square().sum() + 1e-3 * s.sum()
        loss.backward()

    return step


def run(args) -> list[Row]:
    N, B, m, d = (20, 8, 32, 32) if args.quick else (100, 32, 128, 128)
    repeats = min(args.repeats, 3) if args.quick else args.repeats
    torch.manual_seed(0)
    x = torch.randn(N, B, m)
    s0 = torch.zeros(B, d)
    rnn = torch.nn.RNN(m, d, nonlinearity="tanh")
    bptt = CanonicalRNN(m, d, backward="bptt")
    with torch.no_grad():
        bptt.W_s.normal_(0.0, 0.3 / d**0.5)  # a full W_s: the canonical RNN does the work nn.RNN lacks
    auto = CanonicalRNN(m, d, backward="autograd")
    auto.load_state_dict(bptt.state_dict())
    cases = {
        "torch.nn.RNN": _case(rnn, x, s0.unsqueeze(0)),
        "CanonicalRNN bptt": _case(bptt, x, s0),
        "CanonicalRNN autograd": _case(auto, x, s0),
    }
    t = interleaved(cases, repeats=repeats)
    group = f"RNN fwd+bwd N={N} B={B} m=d={d} f32"
    ref = t["torch.nn.RNN"]
    return [
        Row(group, "torch.nn.RNN", ref),
        Row(group, "CanonicalRNN bptt", t["CanonicalRNN bptt"], ref, target="<= 1.5"),
        Row(group, "CanonicalRNN autograd", t["CanonicalRNN autograd"], ref, target="(reference)"),
    ]

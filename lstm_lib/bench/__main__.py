"""Run the benchmarks and print one table: ``python -m lstm_lib.bench [--quick] [--only SUITE] [--contended]``.

All rows of a suite come from one run, so the ratios compare code measured under the same load.
Suites: ``rnn`` (CanonicalRNN against torch.nn.RNN), ``lstm`` (the LSTM layer at B=32, each kind of state
weights, against torch.nn.LSTM and against an autograd loop), ``augmented`` (the switches against their
arithmetic floor, the projection against torch's), ``grid`` (40 shapes, small batches and long sequences,
training and inference). ``--contended`` runs everything beside a busy process.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform

import torch

from .timing import Competitor, format_table

SUITES = ("rnn", "lstm", "augmented", "grid")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_lib.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repeats, small sizes (a smoke test)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds per case (default 15)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", choices=SUITES, action="append", help="run only these suites")
    parser.add_argument("--grid-model", choices=("none", "diagonal", "full", "augmented"), default="none",
                        help="the candidate of the grid suite (default: VanillaLSTM without state weights)")
    parser.add_argument("--contended", action="store_true", help="time beside one competing busy process")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats: expected an int >= 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads: expected an int >= 1")
        torch.set_num_threads(args.threads)
    rows = []
    load = Competitor(1) if args.contended else contextlib.nullcontext()
    with load:
        for suite in args.only or SUITES:
            module = importlib.import_module(f"lstm_lib.bench.{suite}")
            rows.extend(module.run(args))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), repeats={args.repeats}"
          + (", beside one competing busy process" if args.contended else ""))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run every benchmark and print one table: ``python -m lstm_lib.bench [--quick]``.

All rows come from one run, so the ratios compare code measured under the same load.
"""

from __future__ import annotations

import argparse
import importlib

import torch

from .timing import format_table

SUITES = ("rnn", "lstm")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_lib.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repeats, small sizes (a smoke test)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds per case (default 15)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", choices=SUITES, action="append", help="run only these suites")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats: expected an int >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rows = []
    for suite in args.only or SUITES:
        module = importlib.import_module(f"lstm_lib.bench.{suite}")
        rows.extend(module.run(args))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, repeats={args.repeats}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

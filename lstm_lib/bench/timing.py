"""Interleaved timing: every candidate runs once per round, rounds repeat.

Timing the candidates round-robin, rather than one after another, exposes them all to the
same background load, so their ratios stay meaningful on a busy 2-core machine. We report
the minimum (the best the code can do) and the median (what a user typically sees).
:class:`Competitor` is the background load of ``--contended``: a busy process beside the timing.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    name: str
    seconds: list[float]

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def interleaved(cases: dict[str, Callable[[], object]], *, repeats: int = 15, warmup: int = 2,
                budget: float | None = None) -> dict[str, Timing]:
    """Time each zero-argument callable ``repeats`` times, interleaved; return their Timings.

    With ``budget`` (seconds), fewer rounds (at least 3) run when one round takes longer than
    budget / repeats, so that slow cases of a large grid stay affordable.
    """
    if repeats < 1:
        raise ValueError(f"repeats: expected an int >= 1, got {repeats}")
    t0 = time.perf_counter()
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    if budget is not None and warmup:
        per_round = (time.perf_counter() - t0) / warmup
        repeats = max(min(3, repeats), min(repeats, int(budget / max(per_round, 1e-9))))
    out = {name: Timing(name, []) for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            out[name].seconds.append(time.perf_counter() - t)
    return out


@dataclass
class Row:
    """One line of the benchmark table: a candidate against its reference."""

    group: str
    name: str
    timing: Timing
    reference: Timing | None = None
    target: str = ""
    note: str = ""

    @property
    def ratio_min(self) -> float | None:
        return None if self.reference is None else self.timing.min / self.reference.min

    @property
    def ratio_median(self) -> float | None:
        return None if self.reference is None else self.timing.median / self.reference.median


def format_table(rows: list[Row]) -> str:
    """A Markdown table of the rows: times in ms and ratios to each row's reference."""
    head = "| case | candidate | min ms | median ms | reference | ratio (min) | ratio (median) | target | note |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        ref = r.reference.name if r.reference else "-"
        rmin = f"{r.ratio_min:.2f}" if r.reference else "-"
        rmed = f"{r.ratio_median:.2f}" if r.reference else "-"
        lines.append(
            f"| {r.group} | {r.name} | {1e3 * r.timing.min:.2f} | {1e3 * r.timing.median:.2f} "
            f"| {ref} | {rmin} | {rmed} | {r.target} | {r.note} |"
        )
    return "\n".join(lines)


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


class Competitor:
    """A busy process (one core's worth of pure Python arithmetic) for the duration of a ``with`` block."""

    def __init__(self, processes: int = 1):
        self.processes = processes
        self._stop = None
        self._procs = []

    def __enter__(self):
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._procs = [ctx.Process(target=_spin, args=(self._stop,), daemon=True) for _ in range(self.processes)]
        for p in self._procs:
            p.start()
        time.sleep(0.5)  # let it start spinning
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        return False

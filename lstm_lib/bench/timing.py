"""Interleaved timing: every candidate runs once per round, rounds repeat.

Timing the candidates round-robin, rather than one after another, exposes them all to the
same background load, so their ratios stay meaningful on a busy 2-core machine. We report
the minimum (the best the code can do) and the median (what a user typically sees).
"""

from __future__ import annotations

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


def interleaved(cases: dict[str, Callable[[], object]], *, repeats: int = 15, warmup: int = 2) -> dict[str, Timing]:
    """Time each zero-argument callable ``repeats`` times, interleaved; return their Timings."""
    if repeats < 1:
        raise ValueError(f"repeats: expected an int >= 1, got {repeats}")
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    out = {name: Timing(name, []) for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            out[name].seconds.append(time.perf_counter() - t0)
    return out


@dataclass
class Row:
    """One line of the benchmark table: a candidate against its reference."""

    group: str
    name: str
    timing: Timing
    reference: Timing | None = None
    target: str = ""

    @property
    def ratio_min(self) -> float | None:
        return None if self.reference is None else self.timing.min / self.reference.min

    @property
    def ratio_median(self) -> float | None:
        return None if self.reference is None else self.timing.median / self.reference.median


def format_table(rows: list[Row]) -> str:
    """A Markdown table of the rows: times in ms and ratios to each row's reference."""
    head = "| case | candidate | min ms | median ms | reference | ratio (min) | ratio (median) | target |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        ref = r.reference.name if r.reference else "-"
        rmin = f"{r.ratio_min:.2f}" if r.reference else "-"
        rmed = f"{r.ratio_median:.2f}" if r.reference else "-"
        lines.append(
            f"| {r.group} | {r.name} | {1e3 * r.timing.min:.2f} | {1e3 * r.timing.median:.2f} "
            f"| {ref} | {rmin} | {rmed} | {r.target} |"
        )
    return "\n".join(lines)

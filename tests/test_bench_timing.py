"""The benchmark's timer and table (the benchmark itself runs with `make bench`, never in tests)."""

import pytest

from lstm_lib.bench.timing import Row, format_table, interleaved


def test_interleaved_runs_every_case_in_rounds():
    calls = []
    timings = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3
    assert len(timings["a"].seconds) == 3 and timings["a"].min <= timings["a"].median
    with pytest.raises(ValueError, match="repeats"):
        interleaved({"a": lambda: None}, repeats=0)


def test_table_reports_ratios_to_the_reference():
    t = interleaved({"fast": lambda: None, "slow": lambda: sum(range(20000))}, repeats=3, warmup=0)
    row = Row("demo", "slow", t["slow"], reference=t["fast"], target="< 1.5x")
    assert row.ratio_min == pytest.approx(t["slow"].min / t["fast"].min)
    table = format_table([row, Row("demo", "fast", t["fast"])])
    assert "| demo | slow |" in table and "< 1.5x" in table and table.count("\n") == 3

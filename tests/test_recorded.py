"""The stored full-size runs (lstm_lib.recorded) match the experiments' full-size specifications and read
back as the Results a fresh run returns."""

import json
import math

import pytest

from lstm_lib import experiments as E
from lstm_lib import recorded as R


@pytest.mark.parametrize("name", list(E.EXPERIMENTS))
def test_every_experiment_is_stored_at_its_full_size(name):
    res = R.recorded(name)
    exp = E.experiment(name, "full")
    assert res.experiment == exp
    sweep = exp.sweep[1] if exp.sweep is not None else (None,)
    assert len(res.runs) == len(sweep) * len(exp.models) * len(exp.seeds)
    for r in res.runs:
        assert r.params > 0 and r.hidden > 0
        assert {"test_score", "train_loss", "diverged"} <= set(r.metrics)
    # the Results methods the chapters call work on it, without data, models or histories
    label = res.labels()[-1]
    assert math.isfinite(res.mean("test_score", label, sweep[-1]))
    assert res.table(("params", "test_score")).count("\n") == 1 + len(sweep) * len(exp.models)


def test_the_jobs_are_the_stored_runs():
    stored = {(name, r.sweep, r.seed) for name in E.EXPERIMENTS for r in R.recorded(name).runs}
    assert set(R.jobs()) == stored
    assert len(R.jobs()) == len(stored)


def test_save_and_read_back(tmp_path):
    res = R.recorded("stability")
    res.runs[0].metrics["test_score"] = math.nan  # a diverged run: stored as null, read back as NaN
    path = tmp_path / "runs.json"
    R.save([res], path, processes=1)
    back = R.recorded("stability", path)
    assert math.isnan(back.runs[0].metrics["test_score"])
    assert [r.metrics for r in back.runs[1:]] == [r.metrics for r in res.runs[1:]]
    assert back.solved(back.labels()[0], True) == res.solved(res.labels()[0], True)
    assert R.meta(path)["processes"] == 1
    assert "measured once on" in R.provenance(path)
    assert back.score_name(True) == "loss / baseline"


def test_a_file_that_does_not_match_the_specification_is_refused(tmp_path):
    res = R.recorded("sunspots")
    res.runs.pop()
    path = tmp_path / "runs.json"
    R.save([res], path, processes=1)
    with pytest.raises(ValueError, match="do not match its full-size specification"):
        R.recorded("sunspots", path)
    with pytest.raises(KeyError, match="holds no runs of 'text'"):
        R.recorded("text", path)
    with pytest.raises(ValueError, match="name: expected one of"):
        R.recorded("no_such_experiment", path)
    with pytest.raises(FileNotFoundError, match="path"):
        R.recorded("sunspots", tmp_path / "missing.json")


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="name: expected"):
        R.recorded(3)
    with pytest.raises(TypeError, match="path: expected a file path"):
        R.recorded("sunspots", 3.5)
    with pytest.raises(TypeError, match="results: expected a list"):
        R.save(R.recorded("sunspots"), "/tmp/never-written.json")
    with pytest.raises(ValueError, match="processes"):
        R.measure(processes=0)


def test_the_stored_file_is_plain_json_with_its_provenance():
    data = json.loads(R.PATH.read_text())
    assert {"date", "lstm_lib", "torch", "machine", "processes"} <= set(data["meta"])
    assert set(data["experiments"]) == set(E.EXPERIMENTS)

"""Tests for lstm_lib.experiments: the specs run, the tables have their columns, the models are what
the specs say (matched sizes, the bidirectional model reads the future), and the readouts agree with
the layers."""

import math
from dataclasses import replace

import pytest
import torch

from lstm_lib import experiments as E
from lstm_lib.experiments import DataSpec, Experiment, ModelSpec, TrainSpec
from lstm_lib.lstm import AugmentedLSTM
from lstm_lib.tasks import DistractedSum, SequenceData, TextData


def tiny(exp: Experiment) -> Experiment:
    """The experiment with two training steps, one seed, a few sequences and at most two swept values."""
    data = exp.data
    if data.task == "python_topics":
        data = replace(data, chars=20_000, options={**data.options, "window": 16})
    elif data.task != "sunspots":
        data = replace(data, n_train=16, n_val=8, n_test=8)
    sweep = None if exp.sweep is None else (exp.sweep[0], tuple(exp.sweep[1][:2]))
    return replace(exp, data=data, sweep=sweep, seeds=(0,), train=replace(exp.train, steps=2, batch_size=4))


@pytest.mark.parametrize("name", sorted(E.EXPERIMENTS))
def test_every_experiment_runs_tiny_and_fills_its_table(name):
    exp = tiny(E.EXPERIMENTS[name])
    assert exp.question and exp.paper
    calls = []

    def progress(iterable, **kwargs):
        calls.append(kwargs["desc"])
        return iterable

    res = E.run(exp, progress=progress, keep_models=True)
    assert calls == [exp.name]  # one progress bar for the whole experiment
    values = res.sweep_values()
    assert len(res.runs) == len(values) * len(exp.models)
    timed = ("step_ms", "epoch_seconds") if exp.train.time_steps else ()
    cols = ("params", "hidden", "test_score", "ms_per_step") + timed
    table = res.table(cols, solved=0.5)
    lines = table.splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head[: 2 if exp.sweep else 1] == ([exp.sweep[0], "model"] if exp.sweep else ["model"])
    assert len(head) == (2 if exp.sweep else 1) + len(cols) + 1
    assert len(lines) == 2 + len(values) * len(exp.models)
    for r in res.runs:
        assert r.params > 0 and math.isfinite(r.metrics["test_score"]) and r.metrics["ms_per_step"] > 0
    assert set(res.models) == {(v, m.label, 0) for v in values for m in exp.models}


def test_full_size_changes_only_what_it_names(monkeypatch):
    exp = E.EXPERIMENTS["long_lags_adding"]
    full = exp.at("full")
    assert full.train.steps == exp.full["train.steps"] > exp.train.steps
    assert full.seeds == exp.full["seeds"] and full.sweep == exp.full["sweep"]
    assert full.models == exp.models and full.data == exp.data
    monkeypatch.setenv(E.SIZE_ENV, "full")
    assert E.book_size() == "full" and E.experiment("long_lags_adding") == full
    monkeypatch.setenv(E.SIZE_ENV, "")
    assert E.book_size() == "small" and E.experiment("long_lags_adding") == exp
    monkeypatch.setenv(E.SIZE_ENV, "huge")
    with pytest.raises(ValueError, match=E.SIZE_ENV):
        E.book_size()
    with pytest.raises(ValueError, match="^name"):
        E.experiment("nothing", "small")
    with pytest.raises(ValueError, match="^size"):
        exp.at("medium")
    opt = Experiment("x", "q", "p", DataSpec("adding", {"length": 5}), (ModelSpec("m", hidden=2),), TrainSpec(),
                     full={"data.options.length": 9, "data.n_train": 64})
    assert opt.at("full").data.options == {"length": 9} and opt.at("full").data.n_train == 64


def test_matched_parameter_counts_are_close():
    exp = E.EXPERIMENTS["context_windows"]
    data = E.make_data(tiny(exp).data)
    d_x, d_y = E._sizes(data)
    counts = {m.label: E.count_parameters(E.build_model(m, d_x, d_y)) for m in exp.models}
    target = exp.models[0].params
    for label, n in counts.items():
        assert abs(n - target) / target < 0.1, (label, n)
    specs = E._resolve_params(E.EXPERIMENTS["long_lags_recall"].models, 5, 4)
    rnn, lstm = (E.count_parameters(E.build_model(m, 5, 4)) for m in specs)
    assert abs(rnn - lstm) / lstm < 0.05  # the RNN matched to the LSTM's count
    with pytest.raises(ValueError, match="params"):
        E._resolve_params((ModelSpec("a", params="b"), ModelSpec("b", params="a")), 2, 1)


def test_bidirectional_model_reads_the_future_and_the_vanilla_one_does_not():
    x = torch.randn(12, 3, 4)
    moved = x.clone()
    moved[8] += 1.0
    for spec, sees_future in ((ModelSpec("b", "bidirectional", hidden=6), True), (ModelSpec("v", hidden=6), False),
                              (ModelSpec("c", "augmented", hidden=6, options={"context": 3}), True)):
        model = E.build_model(spec, 4, 2, seed=1)
        with torch.no_grad():
            change = (model(moved) - model(x)).abs().sum((1, 2))
        assert torch.all(change[8:] > 0)
        before = change[:8]
        if spec.layer == "augmented":  # a window of 3 taps reaches 2 steps ahead: steps 6, 7 see x[8]
            assert torch.all(before[6:] > 0) and torch.all(before[:6] == 0)
        else:
            assert bool(torch.all(before > 0)) is sees_future and bool(torch.all(before == 0)) is not sees_future


def test_state_bias_and_layers_are_built_as_specified():
    m = E.build_model(ModelSpec("m", "lstm", hidden=5, state_bias=3.0), 2, 1, seed=0)
    ref = E.build_model(ModelSpec("m", "lstm", hidden=5), 2, 1, seed=0)
    torch.testing.assert_close(m.core.b_cs, ref.core.b_cs + 3.0)
    torch.testing.assert_close(m.core.b_cu, ref.core.b_cu)
    bi = E.build_model(ModelSpec("b", "bidirectional", hidden=4, state_bias=1.0), 2, 1)
    assert bi.core.forward_layer.b_cs.min() > 0.4 and bi.core.backward_layer.b_cs.min() > 0.4
    with pytest.raises(ValueError, match="state_bias"):
        E.build_model(ModelSpec("r", "rnn", hidden=4, state_bias=1.0), 2, 1)
    with pytest.raises(ValueError, match="exactly one"):
        E.build_model(ModelSpec("r", hidden=4, params=100), 2, 1)
    with pytest.raises(ValueError, match="^layer"):
        E.build_model(ModelSpec("r", "gru", hidden=4), 2, 1)
    aug = E.build_model(ModelSpec("a", "augmented", hidden=8, options={"proj_size": 3, "input_gate": True}), 2, 1)
    assert isinstance(aug.core, AugmentedLSTM) and aug.core.value_size == 3 and aug.out.in_features == 3


def test_gate_trace_is_the_layer_read_step_by_step():
    for spec in (ModelSpec("v", hidden=5), ModelSpec("a", "augmented", hidden=6,
                                                    options={"input_gate": True, "context": 2, "proj_size": 3})):
        model = E.build_model(spec, 3, 2, seed=2)
        x = torch.randn(9, 4, 3)
        tr = E.gate_trace(model, x)
        v, _ = model.core(x)
        torch.testing.assert_close(tr["v"], v.detach(), atol=1e-5, rtol=1e-4)
        for k in ("g_cu", "g_cs", "g_cr") + (("g_cx",) if spec.layer == "augmented" else ()):
            assert tr[k].shape == (9, 4, spec.hidden) and 0 < tr[k].min() and tr[k].max() < 1
    with pytest.raises(TypeError, match="^model"):
        E.gate_trace(E.build_model(ModelSpec("r", "rnn", hidden=3), 2, 1), torch.randn(4, 1, 2))


def test_input_gate_reading_separates_the_kinds_of_steps():
    data = SequenceData.draw(DistractedSum(length=10, markers=2), 8, 4, 4, seed=0)
    model = E.build_model(ModelSpec("g", "augmented", hidden=4, options={"input_gate": True}), 2, 1)
    reading = E.input_gate_by_kind(model, data, batch_size=16)
    assert set(reading["mean"]) == set(DistractedSum.KINDS)
    assert all(0 < v < 1 for v in reading["mean"].values())
    assert reading["g_cx"].shape == (10, 4) and reading["kinds"].shape == (10,)
    with pytest.raises(ValueError, match="input gate"):
        E.input_gate_by_kind(E.build_model(ModelSpec("v", "augmented", hidden=4), 2, 1), data)


def test_forecasts_continue_the_windows_and_the_linear_baseline_is_least_squares():
    g = torch.Generator().manual_seed(0)
    z = torch.zeros(200, dtype=torch.float64)
    for t in range(1, 200):  # an AR(1) series: the linear baseline must find the coefficient 0.8
        z[t] = 0.8 * z[t - 1] + torch.randn(1, generator=g, dtype=torch.float64)
    data = SequenceData.forecast(z, 10, dtype=torch.float64)
    coef = E._ar_fit(data.standardization(z[:, None])[:, 0], data.periods[0], 1)
    assert abs(float(coef[0]) - 0.8) < 0.1
    model = E.build_model(ModelSpec("v", hidden=4, options={"dtype": torch.float64}), 1, 1, seed=0)
    t0 = data.periods[1]
    pred = E.forecast(model, data, [t0, t0 + 3], 4)
    assert pred.shape == (2, 4)
    x = data.standardization(z[t0 - 10 : t0, None])[:, None]
    with torch.no_grad():
        first = data.standardization.inverse(model(x)[-1])[0, 0]
    torch.testing.assert_close(pred[0, 0], first)
    exp = Experiment("f", "q", "p", DataSpec("sunspots", {"window": 12}), (ModelSpec("vanilla LSTM", hidden=4),),
                     TrainSpec(steps=2), seeds=(0, 1))
    table = E.forecast_table(E.run(exp, keep_models=True), 3, max_order=4)
    assert set(table["rmse"]) == {"naive (last value)", f"linear AR({table['order']})", "vanilla LSTM"}
    assert all(m.shape == (3,) and bool(torch.all(m > 0)) for m, _ in table["rmse"].values())
    res = E.run(exp, keep_models=True)
    data = res.data[None]
    lin = E.linear_forecast(data, table["order"], table["origins"], 3)
    torch.testing.assert_close(lin, table["forecasts"][f"linear AR({table['order']})"])
    with pytest.raises(ValueError, match="keep_models"):
        E.forecast_table(E.run(exp), 3)

    import matplotlib

    matplotlib.use("Agg")
    from lstm_lib.figures import experiments as figs
    from lstm_lib.tasks import sunspots

    years = sunspots().index
    ex = figs.forecast_explorer(res.models[(None, "vanilla LSTM", 0)], data, years, table["order"])
    shown = ex.set(origin=int(years[data.periods[1]]), horizon=5)
    assert shown["lstm"].shape == (5,) and shown["linear"].shape == (5,)


def test_sample_text_is_reproducible_and_uses_the_vocabulary():
    data = TextData("the cat sat on the mat. " * 60, window=8, min_count=1)
    model = E.build_model(ModelSpec("v", hidden=6), data.vocabulary, data.vocabulary, seed=0)
    a = E.sample_text(model, data, "the ", 30, temperature=0.8, seed=3)
    b = E.sample_text(model, data, "the ", 30, temperature=0.8, seed=3)
    assert a == b and len(a) == 30 and set(a) <= set(data.chars)
    assert E.sample_text(model, data, "the ", 30, temperature=0.8, seed=4) != a
    with pytest.raises(ValueError, match="^temperature"):
        E.sample_text(model, data, "the ", 5, temperature=0.0)
    with pytest.raises(ValueError, match="^prompt"):
        E.sample_text(model, data, "", 5)


def test_results_table_reports_mean_and_spread_over_the_seeds():
    exp = Experiment("t", "q", "p", DataSpec("adding", {"length": 6}, n_train=8, n_val=4, n_test=4),
                     (ModelSpec("m", hidden=3),), TrainSpec(steps=1), seeds=(0, 1, 2))
    res = E.run(exp)
    for r, v in zip(res.runs, (0.2, 0.4, 0.9), strict=True):
        r.metrics["test_score"] = v
    assert res.mean("test_score", "m") == pytest.approx(0.5)
    assert res.sd("test_score", "m") == pytest.approx(0.3605551, rel=1e-6)
    row = res.table(("test_score",), solved=0.5).splitlines()[2]
    assert "0.5 ± 0.36" in row and "2 of 3" in row
    res.runs[0].metrics["test_score"] = math.nan  # a diverged run is left out of the mean
    assert res.mean("test_score", "m") == pytest.approx(0.65)


def test_bad_specs_are_refused():
    ok = Experiment("t", "q", "p", DataSpec("adding", {"length": 6}), (ModelSpec("m", hidden=3),), TrainSpec())
    with pytest.raises(ValueError, match="labels"):
        E.run(replace(ok, models=(ModelSpec("m", hidden=3), ModelSpec("m", hidden=4))))
    with pytest.raises(ValueError, match="seed"):
        E.run(replace(ok, seeds=()))
    with pytest.raises(TypeError, match="^exp"):
        E.run("adding")
    with pytest.raises(ValueError, match="^task"):
        E.make_data(DataSpec("nothing"))


def test_the_figures_and_explorers_draw_from_trained_models():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lstm_lib.figures import experiments as figs

    rec = E.run(tiny(E.EXPERIMENTS["long_lags_recall"]), keep_models=True)
    add = E.run(tiny(E.EXPERIMENTS["long_lags_adding"]))
    plt.close(figs.plot_lags(add, rec))
    lag = rec.sweep_values()[0]
    model, data = rec.models[(lag, "vanilla LSTM", 0)], rec.data[lag]
    x, _ = data.split("test")
    plt.close(figs.plot_gates(E.gate_trace(model, x[:, :1])))
    ex = figs.gate_explorer(model, data, examples=2, units=(3, 0))
    assert ex.params["unit"].values == (0, 3) and ex.values["unit"] == 3
    assert ex.set(example=1, unit=0)["trace"]["g_cs"].shape[1] == 1

    gate = E.run(tiny(E.EXPERIMENTS["input_gate"]), keep_models=True)
    gated = gate.models[(None, "with input gate g_cx", 0)]
    ex = figs.input_gate_explorer(gated, gate.data[None], examples=2)
    quiet = ex.set(burst_scale=0.0)
    assert not bool((quiet["kinds"] == 2).any()) or float(quiet["x"][quiet["kinds"] == 2, 0].abs().max()) == 0.0
    plt.close(figs.plot_input_gate(E.input_gate_by_kind(gated, gate.data[None], batch_size=4)))

    rows = figs.cost_explorer().set(d_x=4, d_s=16)
    assert [r["L"] for r in rows][:2] == [1, 2] and rows[0]["ratio"] == pytest.approx(0.5)
    plt.close(figs.plot_costs(4, 16))

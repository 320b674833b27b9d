"""Tests for lstm_lib.tasks: shapes, targets as defined, baselines, errors."""

import pytest
import torch

from lstm_lib.tasks import AddingProblem, DelayedRecall


def test_delayed_recall_targets_are_shifted_inputs():
    task = DelayedRecall(3, length=10)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (10, 4, 1)
    torch.testing.assert_close(y[3:], x[:7])
    assert x.abs().max() <= 1
    assert task.loss(y, y) == 0
    assert abs(float(task.loss(torch.zeros_like(y), y)) - task.baseline) < 0.1  # zero guess ~ Var x = 1/3


def test_delayed_recall_is_reproducible_and_float64():
    task = DelayedRecall(2)
    a = task.sample(3, torch.Generator().manual_seed(1))[0]
    b = task.sample(3, torch.Generator().manual_seed(1))[0]
    torch.testing.assert_close(a, b)
    assert task.length == 12
    assert DelayedRecall(2, dtype=torch.float64).sample(2)[0].dtype == torch.float64


def test_adding_problem_target_is_sum_of_marked_values():
    task = AddingProblem(20)
    x, y = task.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (20, 64, 2) and y.shape == (64, 1)
    assert torch.all(x[:, :, 1].sum(0) == 2)
    assert torch.all(x[:10, :, 1].sum(0) == 1)  # one marker in each half
    torch.testing.assert_close(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(0))
    guess = torch.ones(20, 64, 1)
    assert abs(float(task.loss(guess, y)) - task.baseline) < 0.08


def test_bad_arguments():
    with pytest.raises(ValueError, match="lag"):
        DelayedRecall(-1)
    with pytest.raises(ValueError, match="length"):
        DelayedRecall(5, length=5)
    with pytest.raises(ValueError, match="batch_size"):
        DelayedRecall(1).sample(0)
    with pytest.raises(ValueError, match="length"):
        AddingProblem(1)
    with pytest.raises(ValueError, match="y_hat"):
        DelayedRecall(1, length=4).loss(torch.zeros(3, 1, 1), torch.zeros(4, 1, 1))


@pytest.mark.parametrize("make, exc, name", [
    (lambda: DelayedRecall(2.0), TypeError, "lag"),
    (lambda: DelayedRecall(2, length="10"), TypeError, "length"),
    (lambda: DelayedRecall(2, dtype=torch.int64), TypeError, "dtype"),  # was accepted; failed in torch.rand
    (lambda: DelayedRecall(2, dtype="float32"), TypeError, "dtype"),
    (lambda: DelayedRecall(2, device="nowhere"), ValueError, "device"),
    (lambda: AddingProblem(20.0), TypeError, "length"),
    (lambda: AddingProblem(20, dtype=torch.float16), TypeError, "dtype"),
    (lambda: DelayedRecall(2).sample(4, generator=0), TypeError, "generator"),
    (lambda: AddingProblem(8).sample(True), TypeError, "batch_size"),
    (lambda: DelayedRecall(1, length=4).loss(torch.zeros(4, 1, 1, dtype=torch.float64), torch.zeros(4, 1, 1)),
     TypeError, "y_hat"),
    (lambda: DelayedRecall(1, length=4).loss([0.0] * 4, torch.zeros(4, 1, 1)), TypeError, "y_hat"),
    (lambda: DelayedRecall(1, length=4).loss(torch.zeros(4, 1, 1), None), TypeError, "y"),
    (lambda: AddingProblem(8).loss(torch.zeros(8, 3, 1), torch.zeros(2, 1)), ValueError, "y_hat"),
    (lambda: AddingProblem(8).loss(torch.zeros(3, 1), torch.zeros(3, 1)), ValueError, "y_hat"),
])
def test_arguments_are_checked(make, exc, name):
    with pytest.raises(exc, match=f"^{name}"):
        make()


# ---- the tasks of the experiments ------------------------------------------------------------------------------

from lstm_lib.standardize import Standardization  # noqa: E402
from lstm_lib.tasks import (  # noqa: E402
    IGNORE,
    DistractedSum,
    Lookahead,
    Rescaled,
    SequenceData,
    SymbolRecall,
    TextData,
)


def test_symbol_recall_asks_for_the_first_symbol():
    task = SymbolRecall(6, symbols=3)
    x, y = task.sample(50, torch.Generator().manual_seed(0))
    assert x.shape == (7, 50, 4) and y.shape == (50,) and y.dtype == torch.int64
    torch.testing.assert_close(x[:, :, :3].sum(-1), torch.ones(7, 50))  # one symbol per step
    assert torch.equal(x[0, :, :3].argmax(-1), y)
    assert torch.all(x[0, :, 3] == 1) and torch.all(x[1:, :, 3] == 0)  # the marker: step 0 only
    perfect = torch.zeros(7, 50, 3)
    perfect[-1] = torch.nn.functional.one_hot(y, 3) * 10.0
    assert task.score(perfect, y) == 1.0 and float(task.loss(perfect, y)) < 1e-3
    assert task.chance == pytest.approx(1 / 3)
    x2, y2 = task.sample(50, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_lookahead_labels_are_the_symbols_shift_steps_later():
    task = Lookahead(3, symbols=4, length=12)
    x, y = task.sample(20, torch.Generator().manual_seed(1))
    assert x.shape == (12, 20, 4) and y.shape == (12, 20)
    sym = x.argmax(-1)
    assert torch.equal(y[:9], sym[3:]) and torch.all(y[9:] == IGNORE)
    scores = torch.nn.functional.one_hot(sym.roll(-3, 0), 4).float() * 10
    assert task.score(scores, y) == 1.0
    with pytest.raises(ValueError, match="^y_hat"):
        task.loss(torch.zeros(12, 20, 3), y)


def test_lookahead_label_is_independent_of_everything_a_causal_model_has_read():
    """The label of step n is symbol[n + shift], drawn independently of x[0..n]: whatever a causal model
    computes from x[0..n], the label's distribution given it is uniform. Check the contingency table of
    (symbol[n], symbol[n-1]) -> label: every row is flat within sampling error."""
    task = Lookahead(2, symbols=3, length=10)
    x, y = task.sample(4000, torch.Generator().manual_seed(2))
    sym = x.argmax(-1)
    ctx = (sym[1:8] * 3 + sym[:7]).reshape(-1)  # what a causal model has seen at steps 1..7 (in part)
    lab = y[1:8].reshape(-1)
    table = torch.zeros(9, 3)
    table.index_put_((ctx, lab), torch.ones_like(lab, dtype=torch.float32), accumulate=True)
    freq = table / table.sum(1, keepdim=True)
    assert (freq - 1 / 3).abs().max() < 0.03  # ~3000 samples per row: sd of a frequency ~ 0.009


def test_a_causal_model_stays_at_chance_and_a_lookahead_learns():
    from lstm_lib.experiments import ModelSpec, build_model
    from lstm_lib.fit import fit

    data = SequenceData.draw(Lookahead(2, symbols=2, length=10), 512, 64, 512, seed=0)
    causal = build_model(ModelSpec("vanilla", "lstm", hidden=8), 2, 2, seed=0)
    window = build_model(ModelSpec("context 3", "augmented", hidden=8, options={"context": 3}), 2, 2, seed=0)
    for model in (causal, window):
        fit(model, data, steps=150, lr=2e-2)
    x, y = data.split("test")
    with torch.no_grad():
        assert abs(data.score(causal(x), y) - 0.5) < 0.05  # chance, within ~5 standard errors
        assert data.score(window(x), y) > 0.9


def test_distracted_sum_target_kinds_and_baseline():
    task = DistractedSum(length=25, markers=3, burst_rate=0.4, burst_scale=5.0)
    x, y, kinds = task.sample_with_kinds(400, torch.Generator().manual_seed(0))
    x2, y2 = task.sample(400, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (25, 400, 2) and y.shape == (400, 1) and kinds.shape == (25, 400)
    assert torch.equal(x[:, :, 1] == 1, kinds == 1)
    assert torch.all((x[:, :, 1] == 1).sum(0) == 3)
    torch.testing.assert_close(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(0))
    marked = x[:, :, 0][kinds == 1]
    assert marked.min() >= 0 and marked.max() <= 1
    assert x[:, :, 0][kinds == 2].abs().max() > 5  # bursts are large
    assert abs((kinds[kinds != 1] == 2).float().mean() - 0.4) < 0.03
    assert abs(float(y.var()) - task.baseline) < 0.05
    assert task.score(y.expand(25, -1, -1).clone(), y) == 0.0


def test_rescaled_changes_the_units_of_the_inputs_only():
    base = AddingProblem(12)
    raw = Rescaled(base, offset=[50.0, -3.0], scale=[20.0, 2.0])
    x, y = base.sample(8, torch.Generator().manual_seed(3))
    x0, y0 = raw.sample(8, torch.Generator().manual_seed(3))
    torch.testing.assert_close(x0, torch.tensor([50.0, -3.0]) + torch.tensor([20.0, 2.0]) * x)
    assert torch.equal(y, y0) and raw.y_batch_dim == 0 and raw.baseline == base.baseline
    with pytest.raises(ValueError, match="^offset"):
        Rescaled(base, offset=float("nan"))
    with pytest.raises(TypeError, match="^task"):
        Rescaled("adding")


def test_sequence_data_splits_are_fixed_independent_and_reproducible():
    task = AddingProblem(15)
    a = SequenceData.draw(task, 64, 16, 32, seed=4)
    b = SequenceData.draw(task, 64, 16, 32, seed=4)
    c = SequenceData.draw(task, 64, 16, 32, seed=5)
    for name, n in (("train", 64), ("validation", 16), ("test", 32)):
        x, y = a.split(name)
        assert x.shape == (15, n, 2) and y.shape == (n, 1)
        assert torch.equal(x, b.split(name)[0]) and not torch.equal(a.raw(name), c.raw(name))
    assert not torch.equal(a.raw("train")[:, :16], a.raw("validation"))
    assert a.n_train == 64
    with pytest.raises(ValueError, match="^name"):
        a.split("dev")


def test_sequence_data_standardizes_with_the_training_statistics_only():
    task = Rescaled(DelayedRecall(2, length=12), offset=40.0, scale=7.0)
    data = SequenceData.draw(task, 128, 64, 64, seed=0)
    st = data.standardization
    raw_train = data.raw("train")
    ref = Standardization.fit(raw_train)  # Eqs. 118-120 from the training inputs alone
    torch.testing.assert_close(st.mu, ref.mu)
    torch.testing.assert_close(st.sigma, ref.sigma)
    x_train = data.split("train")[0].reshape(-1)
    assert abs(float(x_train.mean())) < 1e-4 and abs(float(x_train.std()) - 1) < 1e-4
    for name in ("validation", "test"):  # fn 23: the training mean and deviation, not their own
        torch.testing.assert_close(data.split(name)[0], (data.raw(name) - ref.mu) / ref.sigma)
        assert abs(float(data.split(name)[0].mean())) > 1e-4
    assert torch.equal(data.split("train")[1], task.sample(128, torch.Generator().manual_seed(0))[1])
    plain = SequenceData.draw(task, 128, 64, 64, seed=0, standardize=False)
    assert plain.standardization is None and torch.equal(plain.split("test")[0], data.raw("test"))


def test_sequence_data_samples_minibatches_from_the_training_split():
    data = SequenceData.draw(DelayedRecall(1, length=6), 20, 4, 4, seed=0)
    x, y = data.sample(50, torch.Generator().manual_seed(0))
    assert x.shape == (6, 50, 1) and y.shape == (6, 50, 1)
    xt, yt = data.split("train")
    for b in range(50):  # every sampled sequence is a training sequence, with its own target
        k = int((xt - x[:, b : b + 1]).abs().sum((0, 2)).argmin())
        assert torch.equal(xt[:, k], x[:, b]) and torch.equal(yt[:, k], y[:, b])
    a = SequenceData.draw(AddingProblem(8), 20, 4, 4, seed=0)
    xa, ya = a.sample(7, torch.Generator().manual_seed(1))
    assert xa.shape == (8, 7, 2) and ya.shape == (7, 1)  # the adding problem's targets are (B, 1)


def test_forecast_windows_split_in_time_without_leaking_targets():
    z = torch.arange(100, dtype=torch.float64) ** 0.5
    data = SequenceData.forecast(z, 8, fractions=(0.6, 0.2), dtype=torch.float64)
    a, b = data.periods
    assert (a, b) == (60, 80)
    st = data.standardization
    torch.testing.assert_close(st.mu, z[:a].mean()[None])  # the training period only
    torch.testing.assert_close(st.sigma, z[:a].std()[None])
    x, y = data.split("train")
    assert x.shape == (8, a - 8, 1)
    zs = (z - st.mu) / st.sigma
    torch.testing.assert_close(y[:-1], x[1:])  # the target of step n is the input of step n+1
    assert float(y.max()) <= float(zs[a - 1]) + 1e-12  # every training target lies in the training period
    for name, lo, hi in (("validation", a, b), ("test", b, 100)):
        x, y = data.split(name)
        assert x.shape[1] == hi - lo
        torch.testing.assert_close(y[-1, :, 0], zs[lo:hi])  # the last target of each window: its period
        assert torch.isnan(y[0, -1 if name == "test" else 0]).item() is (name == "validation") or True
        known = ~torch.isnan(y)
        assert float(y[known].min()) >= float(zs[lo]) - 1e-12  # increasing series: no earlier target is scored
    torch.testing.assert_close(data.raw("test"), data.split("test")[0] * st.sigma + st.mu)
    with pytest.raises(ValueError, match="^series"):
        SequenceData.forecast(z[:12], 8)
    with pytest.raises(ValueError, match="^fractions"):
        SequenceData.forecast(z, 8, fractions=(0.9, 0.2))


def test_text_data_one_hot_next_characters_and_rare_symbol():
    text = ("abcab" * 200) + "zz" + ("cabba" * 60)
    data = TextData(text, window=5, fractions=(0.7, 0.15), min_count=3)
    assert data.chars == ["a", "b", "c", TextData.RARE] and data.vocabulary == 4
    x, y = data.sample(6, torch.Generator().manual_seed(0))
    assert x.shape == (5, 6, 4) and y.shape == (5, 6)
    torch.testing.assert_close(x.sum(-1), torch.ones(5, 6))
    assert torch.equal(x.argmax(-1)[1:], y[:-1])  # the next character is the next input
    assert data.decode(data.codes("abz")) == "ab" + TextData.RARE
    xv, yv = data.split("validation")
    assert xv.shape[1] == (len(data.parts["validation"]) - 5 + 4) // 5
    st = TextData(text, window=5, fractions=(0.7, 0.15), min_count=3, standardize=True).standardization
    ref = Standardization.fit(torch.nn.functional.one_hot(data.parts["train"], 4).double())
    torch.testing.assert_close(st.mu.double(), ref.mu, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(st.sigma.double(), ref.sigma, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="^text"):
        TextData("short", window=5)


def test_shipped_data_name_their_origin_and_licence():
    from lstm_lib.tasks import python_topics, sunspots

    text = python_topics()
    assert len(text.values) > 100_000 and "PSF" in text.licence
    pytest.importorskip("statsmodels")
    sun = sunspots()
    assert sun.values.shape == (309,) and int(sun.index[0]) == 1700 and int(sun.index[-1]) == 2008
    assert "public domain" in sun.licence and "Geophysical" in sun.origin

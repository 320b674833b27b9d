"""Tests for lstm_lib.fit: training reduces the loss, clipping bounds the step, divergence stops the run,
the progress bar is injected (fit imports no display code), and every argument is checked."""

import math

import pytest
import torch

from lstm_lib.fit import History, evaluate, fit
from lstm_lib.rnn_training import RNNReadout
from lstm_lib.tasks import DelayedRecall


def test_fit_learns_short_recall():
    task = DelayedRecall(1, length=8)
    model = RNNReadout(1, 8, 1)
    before = evaluate(model, task)
    hist = fit(model, task, steps=120, lr=3e-2)
    assert len(hist.loss) == len(hist.grad_norm) == 120 and not hist.diverged
    after = evaluate(model, task)
    assert after < 0.2 * before and after < 0.2 * task.baseline
    assert hist.final < hist.loss[0]


def test_clipping_bounds_the_sgd_step():
    task = DelayedRecall(1, length=6)
    model = RNNReadout(1, 4, 1)
    start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    hist = fit(model, task, steps=1, lr=1.0, optimizer="sgd", clip=1e-3)
    step = torch.cat([p.detach().flatten() for p in model.parameters()]) - start
    assert hist.grad_norm[0] > 1e-3  # the raw gradient was larger than the clip ...
    assert float(step.norm()) <= 1e-3 * (1 + 1e-4)  # ... the step was not


def test_divergence_stops_the_run():
    task = DelayedRecall(1, length=6)
    model = RNNReadout(1, 4, 1)

    def bad_loss(y_hat, y):
        return (y_hat - y).square().mean() * float("inf")

    hist = fit(model, task, steps=50, loss=bad_loss)
    assert hist.diverged and len(hist.loss) == 1 and not math.isfinite(hist.loss[0])


def test_same_seed_same_run_and_standard_model_trains_only_theta():
    task = DelayedRecall(2, length=8)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = RNNReadout(1, 4, 1, standard=True)
        losses.append(fit(model, task, steps=5).loss)
    assert losses[0] == losses[1]
    assert model.rnn.W_s.abs().max() == 0  # the standard RNN's W_s stays zero through training


class Recorder:
    """A progress function that records how fit uses it (a tqdm-like bar)."""

    def __init__(self):
        self.calls, self.postfix, self.closed, self.seen = [], [], 0, 0

    def __call__(self, iterable, **kwargs):
        self.calls.append(kwargs)
        outer = self

        class Bar:
            def __iter__(self):
                for item in iterable:
                    outer.seen += 1
                    yield item

            def set_postfix(self, **kw):
                outer.postfix.append(kw)

            def close(self):
                outer.closed += 1

        return Bar()


def test_progress_is_a_function_the_caller_passes():
    rec = Recorder()
    fit(RNNReadout(1, 4, 1), DelayedRecall(1, length=5), steps=3, progress=rec, desc="run A")
    assert rec.calls == [{"desc": "run A", "mininterval": 0.5}]
    assert rec.seen == 3 and rec.closed == 1 and len(rec.postfix) == 3
    plain = []
    fit(RNNReadout(1, 4, 1), DelayedRecall(1, length=5), steps=2,
        progress=lambda it, **kw: plain.append(kw) or iter(it))  # a bare iterator works too
    assert len(plain) == 1


def test_the_shared_progress_helper_prints_one_line_in_the_static_book(monkeypatch, capsys):
    from lstm_lib import widgets

    monkeypatch.setenv(widgets.STATIC_ENV, "1")
    fit(RNNReadout(1, 4, 1), DelayedRecall(1, length=5), steps=20, progress=widgets.progress, desc="static")
    out = capsys.readouterr().out
    assert out.count("static") == 1 and "20/20" in out


def test_history_final_needs_a_step():
    assert History(loss=[4.0, 2.0]).final == 2.0
    with pytest.raises(ValueError, match="History"):
        History().final  # noqa: B018


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"steps": 0}, ValueError, "steps"),
    ({"steps": 10.0}, TypeError, "steps"),
    ({"batch_size": "32"}, TypeError, "batch_size"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"lr": "0.1"}, TypeError, "lr"),  # was accepted (float("0.1"))
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"clip": 0.0}, ValueError, "clip"),
    ({"clip": float("inf")}, ValueError, "clip"),
    ({"optimizer": "lbfgs"}, ValueError, "optimizer"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"progress": True}, TypeError, "progress"),
    ({"progress": "yes"}, TypeError, "progress"),
    ({"desc": 3}, TypeError, "desc"),
    ({"loss": "mse"}, TypeError, "loss"),
])
def test_bad_settings(kwargs, exc, name):
    with pytest.raises(exc, match=f"^{name}"):
        fit(RNNReadout(1, 4, 1), DelayedRecall(1), **kwargs)


def test_bad_model_and_task():
    model = RNNReadout(1, 4, 1)
    with pytest.raises(TypeError, match="^task"):
        fit(model, None)  # was an AttributeError deep inside the loop
    with pytest.raises(TypeError, match="^task"):
        fit(model, "DelayedRecall(1)")
    with pytest.raises(TypeError, match="^model"):
        fit(lambda x: x, DelayedRecall(1))
    frozen = RNNReadout(1, 4, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="^model"):
        fit(frozen, DelayedRecall(1))

    class NoLoss:
        def sample(self, batch_size, generator=None):
            return DelayedRecall(1).sample(batch_size, generator)

    with pytest.raises(TypeError, match="^loss"):
        fit(model, NoLoss())
    with pytest.raises(TypeError, match="^loss"):
        fit(model, DelayedRecall(1), loss=lambda y_hat, y: 1.0, steps=1)  # not a tensor
    with pytest.raises(TypeError, match="^task"):
        evaluate(model, None)
    with pytest.raises(TypeError, match="^batch_size"):
        evaluate(model, DelayedRecall(1), batch_size=2.0)

"""Tests for lstm_lib.fit: training reduces the loss, clipping bounds the step, divergence stops the run."""

import math

import pytest
import torch

from lstm_lib.fit import evaluate, fit
from lstm_lib.rnn_training import RNNReadout
from lstm_lib.tasks import DelayedRecall


def test_fit_learns_short_recall():
    task = DelayedRecall(1, length=8)
    model = RNNReadout(1, 8, 1)
    before = evaluate(model, task)
    hist = fit(model, task, steps=120, lr=3e-2, progress=False)
    assert len(hist.loss) == len(hist.grad_norm) == 120 and not hist.diverged
    after = evaluate(model, task)
    assert after < 0.2 * before and after < 0.2 * task.baseline
    assert hist.final < hist.loss[0]


def test_clipping_bounds_the_sgd_step():
    task = DelayedRecall(1, length=6)
    model = RNNReadout(1, 4, 1)
    start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    hist = fit(model, task, steps=1, lr=1.0, optimizer="sgd", clip=1e-3, progress=False)
    step = torch.cat([p.detach().flatten() for p in model.parameters()]) - start
    assert hist.grad_norm[0] > 1e-3  # the raw gradient was larger than the clip ...
    assert float(step.norm()) <= 1e-3 * (1 + 1e-4)  # ... the step was not


def test_divergence_stops_the_run():
    task = DelayedRecall(1, length=6)
    model = RNNReadout(1, 4, 1)

    def bad_loss(y_hat, y):
        return (y_hat - y).square().mean() * float("inf")

    hist = fit(model, task, steps=50, loss=bad_loss, progress=False)
    assert hist.diverged and len(hist.loss) == 1 and not math.isfinite(hist.loss[0])


def test_bad_settings():
    task = DelayedRecall(1)
    model = RNNReadout(1, 4, 1)
    with pytest.raises(ValueError, match="steps"):
        fit(model, task, steps=0)
    with pytest.raises(ValueError, match="lr"):
        fit(model, task, lr=-1.0)
    with pytest.raises(ValueError, match="clip"):
        fit(model, task, clip=0.0)
    with pytest.raises(ValueError, match="optimizer"):
        fit(model, task, optimizer="lbfgs")

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

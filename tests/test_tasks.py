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


def test_delayed_recall_is_reproducible():
    task = DelayedRecall(2)
    a = task.sample(3, torch.Generator().manual_seed(1))[0]
    b = task.sample(3, torch.Generator().manual_seed(1))[0]
    torch.testing.assert_close(a, b)
    assert task.length == 12


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

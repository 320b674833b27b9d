"""Small synthetic sequence tasks for the training demonstrations.

A task draws batches with ``sample(batch_size, generator=None) -> (x, y)``, time-major: x is (N, B, m)
and y the target, and scores a prediction with ``loss(y_hat, y)``. :func:`lstm_lib.fit.fit` trains any
model ``x -> y_hat`` on any task. ``baseline`` is the loss of the best constant guess, so a loss / baseline
near 1 means the model learned nothing.

* :class:`DelayedRecall` -- output the input from ``lag`` steps ago: y[n] = x[n - lag].
* :class:`AddingProblem` -- the long-lag benchmark of Hochreiter and Schmidhuber (1997): add the two
  marked numbers of a long sequence.
"""

from __future__ import annotations

import torch

from ._checks import check_device, check_dtype, check_int, check_tensor


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    return generator


def _check_prediction(y_hat, y, ndim=None):
    y = check_tensor("y", y, finite=False)
    return check_tensor("y_hat", y_hat, shape=tuple(y.shape) if ndim is None else None, ndim=ndim,
                        dtype=y.dtype, device=y.device, finite=False), y


class DelayedRecall:
    """Recall the input from ``lag`` steps ago: y[n] = x[n - lag] for n >= lag.

    x[n] is uniform in [-1, 1] (one channel), the sequence has ``length`` steps (default ``lag + 10``),
    and the loss is the mean squared error over the steps n >= lag, where the target exists.
    The best constant guess, 0, scores ``baseline`` = Var x = 1/3.
    """

    baseline = 1.0 / 3.0

    def __init__(self, lag: int, length: int | None = None, dtype: torch.dtype = torch.float32, device=None):
        self.lag = check_int("lag", lag, minimum=0)
        self.length = check_int("length", lag + 10 if length is None else length, minimum=lag + 1)
        self.dtype, self.device = check_dtype("dtype", dtype), check_device("device", device)

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch (x, y), each (length, batch_size, 1), time-major; ``generator`` fixes it."""
        B = check_int("batch_size", batch_size, minimum=1)
        _check_generator(generator)
        x = torch.rand(self.length, B, 1, generator=generator, dtype=self.dtype).to(self.device) * 2 - 1
        y = torch.zeros_like(x)
        y[self.lag:] = x[: self.length - self.lag]
        return x, y

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the steps n >= lag; ``y_hat`` must have y's shape, dtype and device."""
        y_hat, y = _check_prediction(y_hat, y)
        return (y_hat[self.lag:] - y[self.lag:]).square().mean()


class AddingProblem:
    """The adding problem: x[n] = (value, marker); the target, read at the last step, is the sum of
    the two marked values, one in the first half of the sequence and one in the second.

    Values are uniform in [0, 1]; y has shape (B, 1) and the loss is the mean squared error of
    y_hat[-1]. Guessing the mean, 1, scores ``baseline`` = 1/6.
    """

    baseline = 1.0 / 6.0

    def __init__(self, length: int, dtype: torch.dtype = torch.float32, device=None):
        self.length = check_int("length", length, minimum=2)
        self.dtype, self.device = check_dtype("dtype", dtype), check_device("device", device)

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch: x (length, batch_size, 2) time-major, y (batch_size, 1); ``generator`` fixes it."""
        B = check_int("batch_size", batch_size, minimum=1)
        _check_generator(generator)
        N, half = self.length, self.length // 2
        values = torch.rand(N, B, generator=generator, dtype=self.dtype)
        first = torch.randint(0, half, (B,), generator=generator)
        second = torch.randint(half, N, (B,), generator=generator)
        markers = torch.zeros(N, B, dtype=self.dtype)
        cols = torch.arange(B)
        markers[first, cols] = 1.0
        markers[second, cols] = 1.0
        x = torch.stack((values, markers), dim=2)
        y = (values * markers).sum(0).unsqueeze(1)
        return x.to(self.device), y.to(self.device)

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the last step's prediction y_hat[-1] against y; y_hat is (N, B, 1)."""
        y_hat, y = _check_prediction(y_hat, y, ndim=3)
        if y_hat.shape[1:] != y.shape:
            raise ValueError(f"y_hat: expected shape (N, {y.shape[0]}, {y.shape[1]}) to match y, got "
                             f"{tuple(y_hat.shape)}")
        return (y_hat[-1] - y).square().mean()

"""Sequence tasks for the training demonstrations and the experiments, and the data sets made from them.

A task draws batches with ``sample(batch_size, generator=None) -> (x, y)``, time-major: x is (N, B, m)
and y the target, scores a prediction with ``loss(y_hat, y)`` (what training minimises) and with
``score(y_hat, y)`` (what the book reports: the loss relative to the best constant guess, or an
accuracy). :func:`lstm_lib.fit.fit` trains any model ``x -> y_hat`` on any task. ``y_batch_dim`` says
which dimension of y runs over the batch.

Synthetic tasks (fresh random batches; ``generator`` fixes them):

* :class:`DelayedRecall` -- output the input from ``lag`` steps ago at every step: y[n] = x[n - lag].
* :class:`AddingProblem` -- the long-lag benchmark of Hochreiter and Schmidhuber (1997): add the two
  marked numbers of a long sequence.
* :class:`SymbolRecall` -- delayed recall of one symbol: name, after ``lag`` distracting symbols, the
  symbol shown first.
* :class:`Lookahead` -- label every step by the symbol that arrives ``shift`` steps LATER: a task that
  no causal model can learn (a test of the context windows of paper Sec. VII-A).
* :class:`DistractedSum` -- add the marked values of a sequence laden with large noise bursts (a test of
  the external input gate of paper Sec. VII-C).
* :class:`Rescaled` -- any task with its inputs in other units, x0 = offset + scale x (raw data).

Data sets (fixed splits, inputs standardized with the TRAINING statistics, paper Sec. VI-D and fn 23):

* :class:`SequenceData` -- a task's samples drawn once into training, validation and test splits
  (:meth:`SequenceData.draw`), or a measured series cut into forecasting windows
  (:meth:`SequenceData.forecast`); it is itself a task whose ``sample`` draws from the training split.
* :class:`TextData` -- a text as one-hot characters for next-character prediction.
* :func:`sunspots` and :func:`python_topics`: a measured signal and a text shipped inside installed
  packages (statsmodels; Python's own ``pydoc_data``), with their origin and licence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ._checks import check_bool, check_device, check_dtype, check_int, check_real, check_tensor
from .standardize import Standardization

IGNORE = -100  # the label of a step that has no target (torch's cross-entropy ignore_index)
SPLITS = ("train", "validation", "test")


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    return generator


def _check_prediction(y_hat, y, ndim=None):
    y = check_tensor("y", y, finite=False)
    return check_tensor("y_hat", y_hat, shape=tuple(y.shape) if ndim is None else None, ndim=ndim,
                        dtype=y.dtype, device=y.device, finite=False), y


def _check_labels(y_hat, y, shape_of_y: str, classes: int):
    """y: integer labels (IGNORE where none); y_hat: scores (..., classes) with y's leading shape."""
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        raise TypeError(f"y: expected a tensor of int64 labels {shape_of_y}, got "
                        f"{type(y).__name__ if not isinstance(y, torch.Tensor) else y.dtype}")
    check_tensor("y_hat", y_hat, finite=False)
    if tuple(y_hat.shape[-1:]) != (classes,):
        raise ValueError(f"y_hat: expected scores for {classes} classes in the last dimension, got shape "
                         f"{tuple(y_hat.shape)}")
    return y_hat, y


def _one_hot(symbols: torch.Tensor, classes: int, dtype) -> torch.Tensor:
    return F.one_hot(symbols, classes).to(dtype)


def _accuracy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    keep = labels != IGNORE
    if not bool(keep.any()):
        raise ValueError("y: expected at least one labelled step, got none")
    return (scores.argmax(-1)[keep] == labels[keep]).to(scores.dtype).mean()


class DelayedRecall:
    """Recall the input from ``lag`` steps ago: y[n] = x[n - lag] for n >= lag.

    x[n] is uniform in [-1, 1] (one channel), the sequence has ``length`` steps (default ``lag + 10``),
    and the loss is the mean squared error over the steps n >= lag, where the target exists.
    The best constant guess, 0, scores ``baseline`` = Var x = 1/3; ``score`` is loss / baseline.
    """

    baseline = 1.0 / 3.0
    y_batch_dim = 1
    score_name = "loss / baseline"
    higher_is_better = False

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

    def score(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """The loss relative to the zero guess: 0 is perfect, 1 is nothing learned."""
        return float(self.loss(y_hat, y)) / self.baseline


class _LastStepSum:
    """Loss and score of a task whose target is one number, predicted at the last step (the sums)."""

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the last step's prediction y_hat[-1] against y; y_hat (N, B, 1), y (B, 1)."""
        y_hat, y = _check_prediction(y_hat, y, ndim=3)
        if y_hat.shape[1:] != y.shape:
            raise ValueError(f"y_hat: expected shape (N, {y.shape[0]}, {y.shape[1]}) to match y, got "
                             f"{tuple(y_hat.shape)}")
        return (y_hat[-1] - y).square().mean()

    def score(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """The loss relative to the best constant guess (``baseline``): 0 is perfect, 1 is nothing learned."""
        return float(self.loss(y_hat, y)) / self.baseline


class AddingProblem(_LastStepSum):
    """The adding problem: x[n] = (value, marker); the target, read at the last step, is the sum of
    the two marked values, one in the first half of the sequence and one in the second.

    Values are uniform in [0, 1]; y has shape (B, 1) and the loss is the mean squared error of
    y_hat[-1]. Guessing the mean, 1, scores ``baseline`` = 1/6; ``score`` is loss / baseline.
    """

    baseline = 1.0 / 6.0
    y_batch_dim = 0
    score_name = "loss / baseline"
    higher_is_better = False

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



class SymbolRecall:
    """Delayed recall of one symbol: the first step shows a symbol (and a marker), the next ``lag`` steps
    show random distracting symbols, and at the last step the model must name the first symbol.

    x (lag + 1, B, symbols + 1): one-hot symbols, the last channel the marker (1 at step 0 only);
    y (B,): the symbol of step 0, as an int64 label. The loss is the cross-entropy of the last step's
    scores y_hat[-1] (y_hat (N, B, symbols)); ``score`` is the accuracy, ``chance`` = 1 / symbols.
    """

    y_batch_dim = 0
    score_name = "accuracy"
    higher_is_better = True

    def __init__(self, lag: int, symbols: int = 4, dtype: torch.dtype = torch.float32, device=None):
        self.lag = check_int("lag", lag, minimum=1)
        self.symbols = check_int("symbols", symbols, minimum=2)
        self.length = self.lag + 1
        self.chance = 1.0 / self.symbols
        self.dtype, self.device = check_dtype("dtype", dtype), check_device("device", device)

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch: x (lag + 1, batch_size, symbols + 1), y (batch_size,) int64; ``generator`` fixes it."""
        B = check_int("batch_size", batch_size, minimum=1)
        _check_generator(generator)
        k = self.symbols
        sym = torch.randint(0, k, (self.length, B), generator=generator)
        x = torch.zeros(self.length, B, k + 1, dtype=self.dtype)
        x[..., :k] = _one_hot(sym, k, self.dtype)
        x[0, :, k] = 1.0
        return x.to(self.device), sym[0].to(self.device)

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the last step's scores y_hat[-1] (B, symbols) against the labels y (B,)."""
        y_hat, y = _check_labels(y_hat, y, "(B,)", self.symbols)
        if y_hat.dim() != 3 or y_hat.shape[1] != y.shape[0]:
            raise ValueError(f"y_hat: expected shape (N, {y.shape[0]}, {self.symbols}), got {tuple(y_hat.shape)}")
        return F.cross_entropy(y_hat[-1], y)

    def score(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """The fraction of sequences whose first symbol is named correctly at the last step."""
        self.loss(y_hat, y)  # checks the shapes
        return float(_accuracy(y_hat[-1], y))


class Lookahead:
    """Label every step by the symbol that arrives ``shift`` steps later: y[n] = symbol[n + shift].

    The symbols are independent and uniform, so whatever a causal model has read up to step n (x[0..n])
    says nothing about symbol[n + shift]: its expected accuracy is ``chance`` = 1 / symbols. A context
    window that reaches ``shift`` steps ahead (L >= shift + 1, paper Eq. 188) or a backward-reading
    layer can read the label. x (length, B, symbols) one-hot; y (length, B) int64, ``IGNORE`` on the
    last ``shift`` steps (their symbol has not arrived); the loss is the cross-entropy over the labelled
    steps, ``score`` the accuracy.
    """

    y_batch_dim = 1
    score_name = "accuracy"
    higher_is_better = True

    def __init__(self, shift: int, symbols: int = 4, length: int = 32, dtype: torch.dtype = torch.float32,
                 device=None):
        self.shift = check_int("shift", shift, minimum=1)
        self.symbols = check_int("symbols", symbols, minimum=2)
        self.length = check_int("length", length, minimum=self.shift + 1)
        self.chance = 1.0 / self.symbols
        self.dtype, self.device = check_dtype("dtype", dtype), check_device("device", device)

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch: x (length, batch_size, symbols), y (length, batch_size) int64; ``generator`` fixes it."""
        B = check_int("batch_size", batch_size, minimum=1)
        _check_generator(generator)
        sym = torch.randint(0, self.symbols, (self.length, B), generator=generator)
        y = torch.full_like(sym, IGNORE)
        y[: self.length - self.shift] = sym[self.shift:]
        return _one_hot(sym, self.symbols, self.dtype).to(self.device), y.to(self.device)

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over the labelled steps; y_hat (length, B, symbols), y (length, B)."""
        y_hat, y = _check_labels(y_hat, y, "(N, B)", self.symbols)
        if tuple(y_hat.shape[:-1]) != tuple(y.shape):
            raise ValueError(f"y_hat: expected shape {(*y.shape, self.symbols)}, got {tuple(y_hat.shape)}")
        return F.cross_entropy(y_hat.reshape(-1, self.symbols), y.reshape(-1), ignore_index=IGNORE)

    def score(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """The fraction of labelled steps whose label is named correctly."""
        self.loss(y_hat, y)
        return float(_accuracy(y_hat, y))


class DistractedSum(_LastStepSum):
    """Add the marked values of a sequence in which most other samples are distractors.

    x[n] = (value, marker). ``markers`` steps, at random, carry a marker and a value uniform in [0, 1];
    every other step carries, with probability ``burst_rate``, a noise burst (a value drawn from
    N(0, burst_scale^2)) and otherwise a value uniform in [0, 1]. The target, read at the last step, is
    the sum of the marked values, y (B, 1); the loss is the mean squared error of y_hat[-1], and the best
    constant guess (markers / 2) scores ``baseline`` = markers / 12. Only the marked samples are
    content; the rest should be kept out of the state (paper Sec. VII-C, VIII item 4).
    """

    y_batch_dim = 0
    score_name = "loss / baseline"
    higher_is_better = False
    KINDS = ("plain", "marked", "burst")

    def __init__(self, length: int = 30, markers: int = 3, burst_rate: float = 0.3, burst_scale: float = 4.0,
                 dtype: torch.dtype = torch.float32, device=None):
        self.length = check_int("length", length, minimum=2)
        self.markers = check_int("markers", markers, minimum=1, maximum=self.length)
        self.burst_rate = check_real("burst_rate", burst_rate, minimum=0.0, maximum=1.0)
        self.burst_scale = check_real("burst_scale", burst_scale, minimum=0.0)
        self.baseline = self.markers / 12.0
        self.dtype, self.device = check_dtype("dtype", dtype), check_device("device", device)

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch: x (length, batch_size, 2) time-major, y (batch_size, 1); ``generator`` fixes it."""
        x, y, _ = self.sample_with_kinds(batch_size, generator)
        return x, y

    def sample_with_kinds(self, batch_size: int, generator: torch.Generator | None = None):
        """The batch of :meth:`sample` (the same for the same generator state) and the kind of every step,
        (length, batch_size) int64: 0 plain, 1 marked, 2 burst (see ``KINDS``)."""
        B = check_int("batch_size", batch_size, minimum=1)
        _check_generator(generator)
        N = self.length
        values = torch.rand(N, B, generator=generator, dtype=self.dtype)
        order = torch.rand(N, B, generator=generator).argsort(dim=0)
        marked = torch.zeros(N, B, dtype=torch.bool)
        marked.scatter_(0, order[: self.markers], True)
        burst = (torch.rand(N, B, generator=generator) < self.burst_rate) & ~marked
        noise = torch.randn(N, B, generator=generator, dtype=self.dtype) * self.burst_scale
        values = torch.where(burst, noise, values)
        markers = marked.to(self.dtype)
        x = torch.stack((values, markers), dim=2)
        y = (values * markers).sum(0).unsqueeze(1)
        kinds = marked.to(torch.int64) + 2 * burst.to(torch.int64)
        return x.to(self.device), y.to(self.device), kinds.to(self.device)



class Rescaled:
    """A task whose inputs come in other units: x0 = offset + scale * x, the targets unchanged.

    Raw measurements rarely have mean 0 and standard deviation 1; this wrapper makes such raw data from
    any task (``offset`` and ``scale`` are numbers or one per input channel). Standardizing x0 with its
    training statistics (paper Eqs. 118-120) undoes the change up to sampling error.
    """

    def __init__(self, task, offset=0.0, scale=1.0):
        if not callable(getattr(task, "sample", None)) or not callable(getattr(task, "loss", None)):
            raise TypeError(f"task: expected a task with sample() and loss(), got {type(task).__name__}")
        self.task = task
        self.offset = torch.as_tensor(offset, dtype=torch.float64)
        self.scale = torch.as_tensor(scale, dtype=torch.float64)
        for name, t in (("offset", self.offset), ("scale", self.scale)):
            if t.dim() > 1 or not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name}: expected a finite number or one number per input channel, got {t.tolist()}")

    def __getattr__(self, name):
        if name == "task":  # not set yet (copying, pickling): no recursion
            raise AttributeError(name)
        return getattr(self.task, name)

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """The wrapped task's batch with x0 = offset + scale * x."""
        x, y = self.task.sample(batch_size, generator)
        return (self.offset.to(x) + self.scale.to(x) * x), y

    def loss(self, y_hat, y):
        return self.task.loss(y_hat, y)

    def score(self, y_hat, y):
        return self.task.score(y_hat, y)


# ---- data sets: fixed splits, standardized with the training statistics --------------------------------


def _take(t: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    return t.index_select(dim, index.to(t.device))


class SequenceData:
    """Fixed training, validation and test splits of a task, the inputs standardized with the TRAINING
    statistics (paper Sec. VI-D, Eqs. 118-120; fn 23: validation and test data with the training set's
    mean and standard deviation).

    Build it with :meth:`draw` (a synthetic task's samples, drawn once from a seed) or :meth:`forecast`
    (a measured series cut into windows, split in time). It is a task itself: ``sample(batch_size,
    generator)`` draws a minibatch of the training split, so :func:`lstm_lib.fit.fit` trains on it;
    ``split(name)`` returns one whole split (x, y) for evaluation, ``raw(name)`` its inputs before
    standardization. ``loss``, ``score`` and the rest come from the task.
    """

    def __init__(self, task, splits: dict, *, standardize: bool = True):
        if not callable(getattr(task, "loss", None)):
            raise TypeError(f"task: expected a task with loss() and score(), got {type(task).__name__}")
        if not isinstance(splits, dict) or set(splits) != set(SPLITS):
            raise ValueError(f"splits: expected a dict with the keys {', '.join(SPLITS)}")
        y_dim = getattr(task, "y_batch_dim", 1)
        for name in SPLITS:
            x, y = splits[name]
            check_tensor(f"splits[{name!r}] x", x, ndim=3)
            if not isinstance(y, torch.Tensor) or y.dim() <= y_dim or y.shape[y_dim] != x.shape[1]:
                raise ValueError(f"splits[{name!r}]: expected y with {x.shape[1]} sequences in dimension "
                                 f"{y_dim}, like x")
        standardize = check_bool("standardize", standardize)
        # Eqs. 118-120 from the training inputs only (every step of every training sequence is a sample)
        stats = Standardization.fit(splits["train"][0]) if standardize else None
        std = {k: (x if stats is None else stats(x), y) for k, (x, y) in splits.items()}
        self._setup(task, std, {k: x for k, (x, _) in splits.items()}, stats)

    def _setup(self, task, splits, raw_inputs, stats) -> None:
        self.task = task
        self.y_batch_dim = getattr(task, "y_batch_dim", 1)
        self.standardization = stats
        self.standardize = stats is not None
        self._splits = splits
        self._raw = raw_inputs

    @classmethod
    def draw(cls, task, n_train: int = 1024, n_val: int = 256, n_test: int = 512, *, seed: int = 0,
             standardize: bool = True) -> SequenceData:
        """Draw ``n_train``, ``n_val`` and ``n_test`` sequences of ``task`` once, each split from its own
        generator seeded from ``seed`` (so the splits are independent draws and reproducible)."""
        if not callable(getattr(task, "sample", None)):
            raise TypeError(f"task: expected a task with sample(batch_size, generator), got {type(task).__name__}")
        sizes = {"train": check_int("n_train", n_train, minimum=2), "validation": check_int("n_val", n_val, minimum=1),
                 "test": check_int("n_test", n_test, minimum=1)}
        seed = check_int("seed", seed, minimum=0)
        splits = {name: task.sample(sizes[name], torch.Generator().manual_seed(seed * 3 + k))
                  for k, name in enumerate(SPLITS)}
        return cls(task, splits, standardize=standardize)

    @classmethod
    def forecast(cls, series, window: int, *, fractions=(0.7, 0.15), standardize: bool = True,
                 dtype: torch.dtype = torch.float32) -> SequenceData:
        """One-step-ahead forecasting windows of a measured ``series`` (T,), split in TIME.

        The first ``fractions[0]`` of the series is the training period, the next ``fractions[1]`` the
        validation period, the rest the test period. Every window has ``window`` inputs x[n] = z[t+n] and
        targets y[n] = z[t+n+1] (the next value, at every step). A training window lies wholly in the
        training period; a validation or test window ends in its period and may read earlier values as
        inputs (they are known at forecast time), but its targets before the period are NaN (not
        scored). The statistics of Eqs. 118-120 come from the training period only; they standardize the
        inputs and the targets alike (``standardization.inverse`` returns to the series' units).
        Attributes: ``series`` (T,), ``periods`` = (start of validation, start of test), ``window``.
        """
        dtype = check_dtype("dtype", dtype)
        z = check_tensor("series", torch.as_tensor(series), ndim=1).to(dtype)
        W = check_int("window", window, minimum=1)
        if (not isinstance(fractions, (tuple, list)) or len(fractions) != 2
                or not all(isinstance(f, float) and 0 < f < 1 for f in fractions) or sum(fractions) >= 1):
            raise ValueError(f"fractions: expected two numbers in (0, 1) with a sum < 1, got {fractions!r}")
        standardize = check_bool("standardize", standardize)
        T = z.shape[0]
        a, b = int(T * fractions[0]), int(T * (fractions[0] + fractions[1]))
        if a < W + 2 or b - a < 1 or T - b < 1:
            raise ValueError(f"series: {T} values are too few for window={W} and fractions={fractions}")
        stats = Standardization.fit(z[:a, None]) if standardize else None  # the training period only
        zs = z[:, None] if stats is None else stats(z[:, None])

        def windows(ends, start):
            first = torch.as_tensor(list(ends)) - W
            idx = first[None, :] + torch.arange(W)[:, None]  # (W, B): the input positions
            y = zs[idx + 1].clone()
            y[(idx + 1) < start] = float("nan")  # targets before the period are not scored
            return zs[idx], y

        splits = {"train": windows(range(W, a), 0), "validation": windows(range(a, b), a),
                  "test": windows(range(b, T), b)}
        raw = {k: (x if stats is None else stats.inverse(x)) for k, (x, _) in splits.items()}
        data = cls.__new__(cls)
        data._setup(NextValue(), splits, raw, stats)
        data.series, data.periods, data.window = z, (a, b), W
        return data

    def __getattr__(self, name):
        if name == "task":
            raise AttributeError(name)
        return getattr(self.task, name)

    @property
    def n_train(self) -> int:
        """The number of training sequences."""
        return self._splits["train"][0].shape[1]

    def split(self, name: str):
        """The whole split ``name`` ("train", "validation" or "test") as (x, y), x standardized."""
        if name not in SPLITS:
            raise ValueError(f"name: expected one of {', '.join(SPLITS)}, got {name!r}")
        return self._splits[name]

    def raw(self, name: str) -> torch.Tensor:
        """The inputs of split ``name`` before standardization (the data as measured or drawn)."""
        self.split(name)
        return self._raw[name]

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A minibatch of ``batch_size`` training sequences drawn at random (with replacement)."""
        B = check_int("batch_size", batch_size, minimum=1)
        _check_generator(generator)
        x, y = self._splits["train"]
        index = torch.randint(0, x.shape[1], (B,), generator=generator)
        return _take(x, index, 1), _take(y, index, self.y_batch_dim)

    def loss(self, y_hat, y):
        return self.task.loss(y_hat, y)

    def score(self, y_hat, y):
        return self.task.score(y_hat, y)


class NextValue:
    """One-step-ahead forecasting at every step: the loss is the mean squared error over the steps that
    have a target (NaN marks none); ``score`` is its square root (RMSE, in standardized units)."""

    y_batch_dim = 1
    score_name = "RMSE (standardized)"
    higher_is_better = False

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y_hat, y = _check_prediction(y_hat, y)
        keep = ~torch.isnan(y)
        if not bool(keep.any()):
            raise ValueError("y: expected at least one target, got only NaN")
        return (y_hat[keep] - y[keep]).square().mean()

    def score(self, y_hat, y) -> float:
        return math.sqrt(float(self.loss(y_hat, y)))


class NextCharacter:
    """Next-character prediction: y[n] is the index of character n+1; the loss is the cross-entropy
    (nats per character) over all steps; ``score`` is the perplexity exp(loss)."""

    y_batch_dim = 1
    score_name = "perplexity"
    higher_is_better = False

    def __init__(self, vocabulary: int):
        self.vocabulary = check_int("vocabulary", vocabulary, minimum=2)

    def loss(self, y_hat, y):
        y_hat, y = _check_labels(y_hat, y, "(N, B)", self.vocabulary)
        if tuple(y_hat.shape[:-1]) != tuple(y.shape):
            raise ValueError(f"y_hat: expected shape {(*y.shape, self.vocabulary)}, got {tuple(y_hat.shape)}")
        return F.cross_entropy(y_hat.reshape(-1, self.vocabulary), y.reshape(-1), ignore_index=IGNORE)

    def score(self, y_hat, y) -> float:
        return math.exp(float(self.loss(y_hat, y)))


class TextData:
    """A text for next-character prediction, split in order into training, validation and test parts.

    Characters seen fewer than ``min_count`` times in the training part share one symbol (the last one,
    shown as ``RARE``). A sequence is ``window`` characters as one-hot inputs x (window, B, V) and the
    indices of the characters that follow, y (window, B). The training split is sampled at random
    positions of the training part; validation and test are cut into consecutive windows. With
    ``standardize`` the one-hot codes are standardized with the training part's statistics (Eqs.
    118-120: character c has mean p_c, its relative frequency, and variance p_c (1 - p_c) n / (n - 1)).
    """

    RARE = "\N{REPLACEMENT CHARACTER}"

    def __init__(self, text: str, window: int = 64, *, fractions=(0.8, 0.1), min_count: int = 20,
                 standardize: bool = False, dtype: torch.dtype = torch.float32):
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        self.window = check_int("window", window, minimum=1)
        min_count = check_int("min_count", min_count, minimum=1)
        if len(fractions) != 2 or not all(isinstance(f, float) and 0 < f < 1 for f in fractions) or sum(fractions) >= 1:
            raise ValueError(f"fractions: expected two numbers in (0, 1) with a sum < 1, got {fractions!r}")
        n = len(text)
        a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
        if a < self.window + 2 or b - a < self.window + 1 or n - b < self.window + 1:
            raise ValueError(f"text: {n} characters are too few for window={self.window} and fractions={fractions}")
        counts: dict[str, int] = {}
        for ch in text[:a]:
            counts[ch] = counts.get(ch, 0) + 1
        self.chars = sorted(c for c, k in counts.items() if k >= min_count) + [self.RARE]
        lookup = {c: i for i, c in enumerate(self.chars)}
        rare = len(self.chars) - 1
        codes = torch.as_tensor([lookup.get(c, rare) for c in text], dtype=torch.int64)
        self.parts = {"train": codes[:a], "validation": codes[a:b], "test": codes[b:]}
        self.dtype = check_dtype("dtype", dtype)
        self.task = NextCharacter(len(self.chars))
        self.y_batch_dim = 1
        self.standardize = check_bool("standardize", standardize)
        self.standardization = None
        if standardize:
            freq = torch.bincount(self.parts["train"], minlength=len(self.chars)).to(torch.float64)
            m = float(a)
            p = freq / m
            var = p * (1 - p) * m / (m - 1)  # the diagonal of Eq. 119 for one-hot samples
            self.standardization = Standardization(p.to(self.dtype), var.sqrt().to(self.dtype))

    @property
    def vocabulary(self) -> int:
        return len(self.chars)

    @property
    def n_train(self) -> int:
        """The number of training windows (one per starting position)."""
        return self.parts["train"].shape[0] - self.window

    def encode(self, codes: torch.Tensor) -> torch.Tensor:
        """Character indices (N, B) -> the model's inputs (N, B, V): one-hot, standardized if chosen."""
        x = _one_hot(codes, self.vocabulary, self.dtype)
        return x if self.standardization is None else self.standardization(x)

    def decode(self, codes) -> str:
        return "".join(self.chars[int(i)] for i in codes)

    def codes(self, s: str) -> torch.Tensor:
        lookup = {c: i for i, c in enumerate(self.chars)}
        return torch.as_tensor([lookup.get(c, self.vocabulary - 1) for c in s], dtype=torch.int64)

    def _windows(self, part: torch.Tensor, starts: torch.Tensor):
        idx = starts[None, :] + torch.arange(self.window)[:, None]
        return self.encode(part[idx]), part[idx + 1]

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """``batch_size`` windows of the training part at random positions."""
        B = check_int("batch_size", batch_size, minimum=1)
        _check_generator(generator)
        part = self.parts["train"]
        return self._windows(part, torch.randint(0, part.shape[0] - self.window, (B,), generator=generator))

    def split(self, name: str):
        """The validation or test part (or the training part) cut into consecutive windows, as (x, y)."""
        if name not in SPLITS:
            raise ValueError(f"name: expected one of {', '.join(SPLITS)}, got {name!r}")
        part = self.parts[name]
        return self._windows(part, torch.arange(0, part.shape[0] - self.window, self.window))

    def loss(self, y_hat, y):
        return self.task.loss(y_hat, y)

    def score(self, y_hat, y):
        return self.task.score(y_hat, y)

    score_name = NextCharacter.score_name
    higher_is_better = False


# ---- data shipped inside installed packages ---------------------------------------------------------------


@dataclass(frozen=True)
class Shipped:
    """A data set shipped inside an installed package: its values and where they come from."""

    name: str
    values: object
    package: str
    origin: str
    licence: str
    index: object = None


def sunspots() -> Shipped:
    """The yearly sunspot numbers 1700-2008 that statsmodels ships (``statsmodels.datasets.sunspots``).

    Returns a :class:`Shipped` with ``values`` (309,) float64, ``index`` the years, and the origin and
    licence as the package's own files state them (its ``SOURCE``/``DESCRSHORT`` and ``COPYRIGHT``).
    """
    try:
        from statsmodels.datasets.sunspots import data as sun
    except ImportError as err:  # pragma: no cover - the book's requirements install statsmodels
        raise ImportError("sunspots: needs the statsmodels package (pip install statsmodels)") from err
    frame = sun.load_pandas().data
    values = torch.as_tensor(frame["SUNACTIVITY"].to_numpy(dtype="float64", copy=True))
    years = torch.as_tensor(frame["YEAR"].to_numpy(dtype="float64", copy=True)).to(torch.int64)
    origin = " ".join((sun.DESCRSHORT + " Source: " + sun.SOURCE.strip().splitlines()[0]).split())
    return Shipped("sunspots", values, "statsmodels", origin, sun.COPYRIGHT.strip(), years)


def python_topics() -> Shipped:
    """The text of Python's own help topics (``pydoc_data.topics``, shipped with every Python), in the
    order of their names. Licence: the Python Software Foundation License of the Python documentation.
    The text depends on the Python version (``index`` holds ``sys.version``)."""
    import pydoc_data.topics as topics
    import sys

    text = "\n\n".join(topics.topics[k] for k in sorted(topics.topics))
    return Shipped("pydoc_data.topics", text, "Python " + sys.version.split()[0],
                   "the help topics of the Python documentation (pydoc_data/topics.py, generated from the "
                   "documentation's sources)", "Python Software Foundation License (PSF-2.0)", sys.version)

"""A small training loop shared by the training chapters.

:func:`fit` trains any model ``x -> y_hat`` (time-major, like the tasks of :mod:`lstm_lib.tasks`) on a
task's fresh batches, with Adam or SGD and optional gradient-norm clipping, and returns a
:class:`History` of the loss and of the gradient norm (before clipping) at every step.
:func:`evaluate` scores a model on one fresh batch.

A task is any object with ``sample(batch_size, generator) -> (x, y)`` and ``loss(y_hat, y)``.
This module draws nothing itself: pass a progress-bar function (``progress=lstm_lib.widgets.progress``
in the book) to see the run; without one it runs silently. (The display layer is never imported
here, so training code does not pull in widgets.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ._checks import check_choice, check_int, check_real

__all__ = ["History", "fit", "evaluate"]


@dataclass
class History:
    """What :func:`fit` records: per step the training loss and the gradient norm before clipping."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    diverged: bool = False

    @property
    def final(self) -> float:
        """Mean loss over the last tenth of the run (at least one step)."""
        if not self.loss:
            raise ValueError("History: no step was recorded")
        k = max(1, len(self.loss) // 10)
        return sum(self.loss[-k:]) / k


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_task(task, loss) -> Callable:
    """The task must sample batches; the loss is ``loss`` or, if None, the task's own."""
    if task is None or not callable(getattr(task, "sample", None)):
        raise TypeError(f"task: expected a task with sample(batch_size, generator) -> (x, y), such as "
                        f"lstm_lib.tasks.DelayedRecall(5), got {type(task).__name__}")
    if loss is None:
        if not callable(getattr(task, "loss", None)):
            raise TypeError(f"loss: the task {type(task).__name__} has no loss(y_hat, y); pass loss=...")
        return task.loss
    if not callable(loss):
        raise TypeError(f"loss: expected a function loss(y_hat, y) -> scalar tensor, or None, got "
                        f"{type(loss).__name__}")
    return loss


def _positive(name, value) -> float:
    v = check_real(name, value)
    if v <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def fit(
    model: nn.Module,
    task,
    *,
    steps: int = 200,
    batch_size: int = 32,
    lr: float = 1e-2,
    optimizer: str = "adam",
    clip: float | None = None,
    loss: Callable | None = None,
    seed: int = 0,
    progress: Callable | None = None,
    desc: str | None = None,
) -> History:
    """Train ``model`` for ``steps`` steps on fresh batches from ``task``; return the :class:`History`.

    Each step draws ``task.sample(batch_size, generator)``, computes ``loss(model(x), y)`` (default
    ``task.loss``), backpropagates, clips the gradient's global norm to ``clip`` if given, and takes one
    ``optimizer`` step ("adam" or "sgd") with learning rate ``lr``. A non-finite loss or gradient stops
    the run and sets ``History.diverged``. ``seed`` fixes the batches, so runs differing only in a
    setting see the same data.

    ``progress``: a function that wraps an iterable in a progress bar, such as
    ``lstm_lib.widgets.progress`` (called as ``progress(range(steps), desc=desc, mininterval=0.5)``;
    tqdm's ``set_postfix`` and ``close`` are used if the bar has them); ``None`` or ``False``: no bar.
    """
    model = _check_model(model)
    loss_fn = _check_task(task, loss)
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = _positive("lr", lr)
    check_choice("optimizer", optimizer, ("adam", "sgd"))
    if clip is not None:
        clip = _positive("clip", clip)
    seed = check_int("seed", seed, minimum=0)
    if progress is False:
        progress = None
    if progress is not None and (isinstance(progress, bool) or not callable(progress)):
        raise TypeError(f"progress: expected a progress-bar function such as lstm_lib.widgets.progress, or None, "
                        f"got {progress!r}")
    if desc is not None and not isinstance(desc, str):
        raise TypeError(f"desc: expected a string or None, got {type(desc).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: expected at least one trainable parameter")
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    bar = range(steps) if progress is None else progress(range(steps), desc=desc or "training", mininterval=0.5)
    postfix = getattr(bar, "set_postfix", None)
    try:
        for _ in bar:
            x, y = task.sample(batch_size, generator)
            opt.zero_grad(set_to_none=True)
            value = loss_fn(model(x), y)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise TypeError(f"loss: expected a scalar tensor, got {type(value).__name__} "
                                f"{tuple(getattr(value, 'shape', ()))}")
            value.backward()
            norm = float(torch.nn.utils.clip_grad_norm_(params, math.inf if clip is None else clip))
            history.loss.append(value.item())
            history.grad_norm.append(norm)
            if not (math.isfinite(history.loss[-1]) and math.isfinite(norm)):
                history.diverged = True
                if postfix is not None:
                    postfix(status="diverged", refresh=False)
                break
            opt.step()
            if postfix is not None:
                postfix(loss=f"{history.loss[-1]:.4g}", refresh=False)
    finally:
        if callable(getattr(bar, "close", None)):
            bar.close()
    return history


@torch.no_grad()
def evaluate(model: nn.Module, task, *, batch_size: int = 256, seed: int = 12345,
             loss: Callable | None = None) -> float:
    """The loss of ``model`` on one fresh batch of ``task`` (no gradient); ``seed`` fixes the batch."""
    model = _check_model(model)
    loss_fn = _check_task(task, loss)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    x, y = task.sample(batch_size, torch.Generator().manual_seed(seed))
    return float(loss_fn(model(x), y))

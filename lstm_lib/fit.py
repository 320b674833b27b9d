"""A small training loop with a progress bar, shared by the training chapters.

:func:`fit` trains any model ``x -> y_hat`` (time-major, like the tasks of :mod:`lstm_lib.tasks`) on a
task's fresh batches, with Adam or SGD and optional gradient-norm clipping, and returns a
:class:`History` of the loss and of the gradient norm (before clipping) at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ._checks import check_choice, check_int, check_positive


@dataclass
class History:
    """What :func:`fit` records: per step the training loss and the gradient norm before clipping."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    diverged: bool = False

    @property
    def final(self) -> float:
        """Mean loss over the last tenth of the run (at least one step)."""
        k = max(1, len(self.loss) // 10)
        return sum(self.loss[-k:]) / k


def fit(
    model: nn.Module,
    task,
    *,
    steps: int = 200,
    batch_size: int = 32,
    lr: float = 1e-2,
    optimizer: str = "adam",
    clip: float | None = None,
    loss=None,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> History:
    """Train ``model`` for ``steps`` steps on fresh batches from ``task``; return the :class:`History`.

    Each step draws ``task.sample(batch_size, generator)``, computes ``loss(model(x), y)`` (default
    ``task.loss``), backpropagates, clips the gradient's global norm to ``clip`` if given, and takes one
    ``optimizer`` step ("adam" or "sgd") with learning rate ``lr``. A non-finite loss stops the run and
    sets ``History.diverged``. ``seed`` fixes the batches, so runs differing only in a setting see the
    same data.
    """
    from .widgets import progress as progress_bar

    steps = check_int("steps", steps, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    lr = check_positive("lr", lr)
    check_choice("optimizer", optimizer, ("adam", "sgd"))
    if clip is not None:
        clip = check_positive("clip", clip)
    loss_fn = task.loss if loss is None else loss
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: expected at least one trainable parameter")
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    bar = progress_bar(range(steps), desc=desc or "training", disable=not progress, mininterval=0.5)
    for _ in bar:
        x, y = task.sample(batch_size, generator)
        opt.zero_grad(set_to_none=True)
        value = loss_fn(model(x), y)
        value.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(params, math.inf if clip is None else clip))
        history.loss.append(value.item())
        history.grad_norm.append(norm)
        if not (math.isfinite(history.loss[-1]) and math.isfinite(norm)):
            history.diverged = True
            bar.set_postfix_str("diverged")
            break
        opt.step()
        bar.set_postfix(loss=f"{history.loss[-1]:.4g}", refresh=False)
    bar.close()
    return history


@torch.no_grad()
def evaluate(model: nn.Module, task, *, batch_size: int = 256, seed: int = 12345, loss=None) -> float:
    """The loss of ``model`` on one fresh batch of ``task`` (no gradient)."""
    check_int("batch_size", batch_size, minimum=1)
    x, y = task.sample(batch_size, torch.Generator().manual_seed(seed))
    return float((task.loss if loss is None else loss)(model(x), y))

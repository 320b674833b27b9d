"""The book's experiments: each one a short specification (settings), all run by the same code.

An :class:`Experiment` names its question and the paper's section, the data (:class:`DataSpec`), the
models (:class:`ModelSpec`), the training (:class:`TrainSpec`), the seeds and optionally a sweep over
one setting of the data. :func:`run` draws the data set once per swept value (fixed splits,
standardized with the training statistics: :class:`lstm_lib.tasks.SequenceData`), trains every model
with every seed by :func:`lstm_lib.fit.fit`, scores it on the test split and returns
:class:`Results`, whose :meth:`Results.table` is the table the book shows (mean and standard
deviation over the seeds).

:data:`EXPERIMENTS` holds the book's experiments at two sizes: the small one that the book's build
runs (each within seconds on two CPU cores) and the full one, selected by the environment variable
``LSTM_BOOK_SIZE=full`` (:func:`book_size`), which trains longer, on more data, with more seeds.
:func:`experiment` returns a spec at the size in force.

The models are the library's layers with a linear output map (:class:`Readout`, this book's
addition: the paper leaves the output generic, paper Eq. 144). Beside :func:`run`: readouts of the
trained models (:func:`gate_trace`: every gate over time through the readable step), forecasts
(:func:`forecast`, :func:`forecast_table`) and text (:func:`sample_text`).

This is a model-side module: it draws nothing (the figures are in :mod:`lstm_lib.figures.experiments`)
and shows progress only through a ``progress`` function passed in.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from . import tasks as T
from ._checks import check_choice, check_int, check_real
from .augmented_lstm import augmented_sequence
from .bench.timing import interleaved
from .canonical_rnn import CanonicalRNN
from .compose import Bidirectional
from .fit import History, fit
from .lstm import AugmentedLSTM, VanillaLSTM

__all__ = ["SIZE_ENV", "SIZES", "book_size", "DataSpec", "ModelSpec", "TrainSpec", "Experiment", "Readout",
           "build_model", "make_data", "run", "Results", "EXPERIMENTS", "experiment", "gate_trace",
           "forecast", "forecast_table", "linear_forecast", "sample_text", "count_parameters",
           "input_gate_by_kind"]

SIZE_ENV = "LSTM_BOOK_SIZE"
SIZES = ("small", "full")
LAYERS = ("rnn", "lstm", "augmented", "bidirectional")


def book_size() -> str:
    """The size of the experiments: "full" when the environment sets ``LSTM_BOOK_SIZE=full``, else "small"."""
    size = os.environ.get(SIZE_ENV, "small").strip().lower() or "small"
    if size not in SIZES:
        raise ValueError(f"{SIZE_ENV}: expected one of {', '.join(SIZES)}, got {size!r}")
    return size


# ---- the specification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSpec:
    """Which data: ``task`` is a name of :data:`TASKS` (a synthetic task, its settings in ``options``),
    or "sunspots" / "python_topics" (measured data shipped in a package, ``options`` go to
    :meth:`~lstm_lib.tasks.SequenceData.forecast` / :class:`~lstm_lib.tasks.TextData`).

    ``n_train``, ``n_val``, ``n_test``: sequences per split of a synthetic task, drawn once from
    ``seed``; ``standardize``: inputs standardized with the training statistics (paper Eqs. 118-120);
    ``offset``, ``scale``: the raw inputs in other units (:class:`~lstm_lib.tasks.Rescaled`);
    ``chars``: how many characters of a text to use (None: all).
    """

    task: str
    options: Mapping = field(default_factory=dict)
    n_train: int = 2048
    n_val: int = 256
    n_test: int = 512
    seed: int = 0
    standardize: bool = True
    offset: float = 0.0
    scale: float = 1.0
    chars: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """One model: ``layer`` is "rnn" (the standard RNN, :class:`~lstm_lib.canonical_rnn.CanonicalRNN`
    with ``standard=True``), "lstm" (:class:`~lstm_lib.lstm.VanillaLSTM`), "augmented"
    (:class:`~lstm_lib.lstm.AugmentedLSTM`) or "bidirectional" (two VanillaLSTM in
    :class:`~lstm_lib.compose.Bidirectional`); ``options`` go to the layer (``context``, ``proj_size``,
    ``input_gate``, ``state_weights``, ``clip_alpha``). The state size d_s is ``hidden``, or, if
    ``params`` is given instead, the d_s whose whole model (with the output map) has the parameter count
    closest to ``params``. ``state_bias`` is added to the control state gate's bias b_cs at
    initialisation (0: the layer's own initialisation). ``clip``: global-norm clipping for this model
    (None: the training spec's).
    """

    label: str
    layer: str = "lstm"
    hidden: int | None = None
    params: int | str | None = None
    options: Mapping = field(default_factory=dict)
    state_bias: float = 0.0
    clip: float | None = None


@dataclass(frozen=True)
class TrainSpec:
    """How to train (:func:`lstm_lib.fit.fit`): Adam or SGD for ``steps`` steps of ``batch_size``
    sequences at learning rate ``lr``, with optional global-norm clipping ``clip``; ``time_steps``: also
    time one training step of each model, interleaved (:func:`lstm_lib.bench.timing.interleaved`), so
    the models' times are compared under the same background load."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-2
    clip: float | None = None
    optimizer: str = "adam"
    time_steps: bool = False


@dataclass(frozen=True)
class Experiment:
    """One experiment: the question, the paper's claim it tests (``paper``), the data, the models, the
    training, the seeds, and an optional ``sweep`` = (name, values) over a setting of the data (an
    entry of ``data.options`` or a field of :class:`DataSpec`). ``full``: the settings that the full size
    changes, as dotted names ("train.steps", "data.n_train", "seeds", ...) mapped to values."""

    name: str
    question: str
    paper: str
    data: DataSpec
    models: tuple
    train: TrainSpec
    seeds: tuple = (0, 1, 2)
    sweep: tuple | None = None
    full: Mapping = field(default_factory=dict)

    def describe(self) -> str:
        """The settings as a Markdown table (what the book shows of each experiment)."""
        d, t = self.data, self.train
        opts = ", ".join(f"{k}={v}" for k, v in d.options.items())
        data = f"{d.task}({opts})"
        if d.task not in ("sunspots", "python_topics"):
            data += f"; {d.n_train} training, {d.n_val} validation, {d.n_test} test sequences (seed {d.seed})"
        if d.offset != 0.0 or d.scale != 1.0:
            data += f"; raw inputs x0 = {d.offset:g} + {d.scale:g} x"
        data += "; standardized with the training statistics" if d.standardize else "; not standardized"
        models = []
        for m in self.models:
            size = f"d_s = {m.hidden}" if m.hidden is not None else f"parameters matched to {m.params}"
            extra = "".join(f", {k}={v}" for k, v in m.options.items())
            extra += f", b_cs + {m.state_bias:g} at initialisation" if m.state_bias else ""
            extra += f", global-norm clip {m.clip:g}" if m.clip is not None else ""
            models.append(f"{m.label} ({m.layer}, {size}{extra})")
        train = (f"{t.optimizer}, {t.steps} steps of {t.batch_size} sequences, learning rate {t.lr:g}"
                 + (f", global-norm clipping at {t.clip:g}" if t.clip is not None else ""))
        rows = [("question", self.question), ("the paper", self.paper), ("data", data),
                ("models", "; ".join(models)), ("training", train),
                ("seeds", ", ".join(str(s) for s in self.seeds))]
        if self.sweep is not None:
            rows.append(("swept", f"{self.sweep[0]} in {', '.join(str(v) for v in self.sweep[1])}"))
        body = "\n".join(f"| {k} | {v.replace('|', '/')} |" for k, v in rows)
        return f"| setting | value |\n|---|---|\n{body}"

    def at(self, size: str) -> Experiment:
        """This experiment at ``size`` ("small": as written; "full": with the ``full`` settings)."""
        check_choice("size", size, SIZES)
        if size == "small":
            return self
        exp = self
        for key, value in self.full.items():
            head, _, rest = key.partition(".")
            if not rest:
                exp = replace(exp, **{head: value})
            elif rest.startswith("options."):
                part = getattr(exp, head)
                exp = replace(exp, **{head: replace(part, options={**part.options, rest[8:]: value})})
            else:
                exp = replace(exp, **{head: replace(getattr(exp, head), **{rest: value})})
        return exp


# ---- models --------------------------------------------------------------------------------------------------


class Readout(nn.Module):
    """A recurrent layer followed by a linear output map: y[n] = W_y v[n] + b_y (this book's addition;
    the paper leaves the output map generic, paper Eq. 144).

    ``core``: a layer of the library (VanillaLSTM, AugmentedLSTM, Bidirectional: v is its value; for
    CanonicalRNN v is the readout r). ``forward(x)`` returns y (N, B, output_size); :meth:`run` also
    takes and returns the recurrent state, for generating step by step.
    """

    def __init__(self, core: nn.Module, output_size: int):
        super().__init__()
        if isinstance(core, CanonicalRNN):
            width, ref = core.state_size, core.W_x
        elif isinstance(core, (AugmentedLSTM, Bidirectional)):
            width = core.value_size
            ref = core.W_x if isinstance(core, AugmentedLSTM) else core.forward_layer.W_x
        else:
            raise TypeError(f"core: expected a layer of lstm_lib (CanonicalRNN, VanillaLSTM, AugmentedLSTM, "
                            f"Bidirectional), got {type(core).__name__}")
        self.core = core
        self.out = nn.Linear(width, check_int("output_size", output_size, minimum=1), dtype=ref.dtype,
                             device=ref.device)

    def run(self, x: torch.Tensor, state=None):
        """``(y, state)``: the outputs and the state after the last step (pass it back to continue)."""
        if isinstance(self.core, CanonicalRNN):
            s, r = self.core(x, state)
            return self.out(r), s[-1]
        v, last = self.core(x, state)
        return self.out(v), last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]


def count_parameters(model: nn.Module) -> int:
    """The number of trainable scalars of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _core(spec: ModelSpec, d_x: int, hidden: int) -> nn.Module:
    opts = dict(spec.options)
    if spec.layer == "rnn":
        return CanonicalRNN(d_x, hidden, standard=True, **opts)
    if spec.layer == "lstm":
        return VanillaLSTM(d_x, hidden, **opts)
    if spec.layer == "augmented":
        return AugmentedLSTM(d_x, hidden, **opts)
    return Bidirectional.of(VanillaLSTM, d_x, hidden, **opts)


def _matched_hidden(spec: ModelSpec, d_x: int, d_y: int) -> int:
    """The d_s whose model has the parameter count closest to ``spec.params`` (counts grow with d_s)."""
    target = check_int("params", spec.params, minimum=1)
    lo = max(1, spec.options.get("proj_size", 0) + 1)
    best, best_gap = lo, math.inf
    for d in range(lo, 1025):
        n = count_parameters(Readout(_core(spec, d_x, d), d_y))
        if abs(n - target) < best_gap:
            best, best_gap = d, abs(n - target)
        if n > target:
            break
    return best


def build_model(spec: ModelSpec, d_x: int, d_y: int, seed: int = 0) -> Readout:
    """The model of ``spec`` for inputs of size ``d_x`` and outputs of size ``d_y``, initialised from
    ``seed`` (torch's global generator is seeded with it)."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
    check_choice("layer", spec.layer, LAYERS)
    if (spec.hidden is None) == (spec.params is None):
        raise ValueError(f"{spec.label}: expected exactly one of hidden (d_s) and params (a parameter count to match)")
    hidden = check_int("hidden", spec.hidden, minimum=1) if spec.hidden is not None else _matched_hidden(spec, d_x, d_y)
    torch.manual_seed(check_int("seed", seed, minimum=0))
    model = Readout(_core(spec, d_x, hidden), d_y)
    if spec.state_bias:
        check_real("state_bias", spec.state_bias)
        layers = [model.core] if isinstance(model.core, AugmentedLSTM) else (
            [model.core.forward_layer, model.core.backward_layer] if isinstance(model.core, Bidirectional) else [])
        if not layers:
            raise ValueError(f"state_bias: {spec.label} ({spec.layer}) has no control state gate")
        for layer in layers:
            layer.b_cs = layer.b_cs.detach() + spec.state_bias
    return model


# ---- data ----------------------------------------------------------------------------------------------------

TASKS: dict[str, Callable] = {
    "delayed_recall": T.DelayedRecall,
    "adding": T.AddingProblem,
    "symbol_recall": T.SymbolRecall,
    "lookahead": T.Lookahead,
    "distracted_sum": T.DistractedSum,
}


def make_data(spec: DataSpec):
    """The data set of ``spec``: a :class:`~lstm_lib.tasks.SequenceData` (or a
    :class:`~lstm_lib.tasks.TextData` for "python_topics")."""
    if not isinstance(spec, DataSpec):
        raise TypeError(f"spec: expected a DataSpec, got {type(spec).__name__}")
    if spec.task == "sunspots":
        return T.SequenceData.forecast(T.sunspots().values, standardize=spec.standardize, **spec.options)
    if spec.task == "python_topics":
        text = T.python_topics().values
        return T.TextData(text if spec.chars is None else text[: spec.chars], standardize=spec.standardize,
                          **spec.options)
    if spec.task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join([*TASKS, 'sunspots', 'python_topics'])}, got {spec.task!r}")
    task = TASKS[spec.task](**spec.options)
    if spec.offset != 0.0 or spec.scale != 1.0:
        task = T.Rescaled(task, spec.offset, spec.scale)
    return T.SequenceData.draw(task, spec.n_train, spec.n_val, spec.n_test, seed=spec.seed,
                               standardize=spec.standardize)


def _sizes(data) -> tuple[int, int]:
    """(d_x, d_y) of a data set: the input width and the number of outputs the model needs."""
    x, y = data.split("validation")
    d_x = x.shape[-1]
    if isinstance(data, T.TextData):
        return d_x, data.vocabulary
    task = data.task.task if isinstance(data.task, T.Rescaled) else data.task
    if hasattr(task, "symbols"):
        return d_x, task.symbols
    return d_x, y.shape[-1]


def _data_at(spec: DataSpec, name: str, value) -> DataSpec:
    if name in {f.name for f in DataSpec.__dataclass_fields__.values()} and name != "options":
        return replace(spec, **{name: value})
    return replace(spec, options={**spec.options, name: value})


# ---- running --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One trained model: where it sits in the experiment, its size, and what was measured."""

    sweep: object
    label: str
    seed: int
    params: int
    hidden: int
    metrics: dict
    history: History


@torch.no_grad()
def _evaluate(model, data, split: str) -> tuple[float, float]:
    x, y = data.split(split)
    model.eval()
    y_hat = model(x)
    model.train()
    return float(data.loss(y_hat, y)), float(data.score(y_hat, y))


def _hidden_of(model: Readout) -> int:
    core = model.core
    if isinstance(core, CanonicalRNN):
        return core.state_size
    return core.hidden_size if isinstance(core, AugmentedLSTM) else core.forward_layer.hidden_size


def _time_steps(models: dict, data, train: TrainSpec) -> dict:
    """The time of one training step (forward, backward, optimizer step) of each model, timed interleaved
    on the same batch: the fastest of the repeats (the least disturbed by other work), in milliseconds."""
    x, y = data.sample(train.batch_size, torch.Generator().manual_seed(0))
    cases = {}
    for key, model in models.items():
        probe = build_model(model["spec"], *model["sizes"], seed=0)
        opt = torch.optim.Adam(probe.parameters(), lr=1e-6)

        def step(probe=probe, opt=opt):
            opt.zero_grad(set_to_none=True)
            data.loss(probe(x), y).backward()
            opt.step()

        cases[key] = step
    timings = interleaved(cases, repeats=9, warmup=2)
    return {k: 1e3 * t.min for k, t in timings.items()}


def _resolve_params(models, d_x: int, d_y: int) -> list:
    """The model specs with every ``params`` that names another model replaced by that model's count."""
    by_label = {m.label: m for m in models}
    out = []
    for m in models:
        if isinstance(m.params, str):
            ref = by_label.get(m.params)
            if ref is None or isinstance(ref.params, str):
                raise ValueError(f"{m.label}: params={m.params!r} must name another model with a size of its own")
            m = replace(m, params=count_parameters(build_model(ref, d_x, d_y)))
        out.append(m)
    return out


def run(exp: Experiment, *, progress: Callable | None = None, keep_models: bool = False) -> Results:
    """Train every model of ``exp`` with every seed (at every swept value) and score it; see the module
    docstring. ``progress``: a progress-bar function (``lstm_lib.widgets.progress`` in the book): ONE bar
    over all the runs of the experiment. ``keep_models``: keep the trained models in the results."""
    if not isinstance(exp, Experiment):
        raise TypeError(f"exp: expected an Experiment, got {type(exp).__name__}")
    if not exp.models or not all(isinstance(m, ModelSpec) for m in exp.models):
        raise ValueError(f"{exp.name}: expected a non-empty tuple of ModelSpec")
    if len({m.label for m in exp.models}) != len(exp.models):
        raise ValueError(f"{exp.name}: the model labels must differ")
    seeds = tuple(check_int("seeds", s, minimum=0) for s in exp.seeds)
    if not seeds:
        raise ValueError(f"{exp.name}: expected at least one seed")
    sweep_name, values = exp.sweep if exp.sweep is not None else (None, (None,))
    jobs = [(v, m, s) for v in values for m in exp.models for s in seeds]
    bar = range(len(jobs)) if progress is None else progress(range(len(jobs)), desc=exp.name, mininterval=0.5)
    postfix = getattr(bar, "set_postfix", None)
    results = Results(exp, [], {}, {}, {})
    it = iter(bar)
    try:
        for value in values:
            data = make_data(exp.data if sweep_name is None else _data_at(exp.data, sweep_name, value))
            results.data[value] = data
            d_x, d_y = _sizes(data)
            specs = _resolve_params(exp.models, d_x, d_y)
            if exp.train.time_steps:
                probes = {m.label: {"spec": m, "sizes": (d_x, d_y)} for m in specs}
                results.step_ms[value] = _time_steps(probes, data, exp.train)
            for spec in specs:
                for seed in seeds:
                    next(it, None)
                    if postfix is not None:
                        where = "" if sweep_name is None else f", {sweep_name}={value}"
                        postfix(run=f"{spec.label}, seed {seed}{where}", refresh=False)
                    model = build_model(spec, d_x, d_y, seed)
                    clip = spec.clip if spec.clip is not None else exp.train.clip
                    start = time.perf_counter()
                    hist = fit(model, data, steps=exp.train.steps, batch_size=exp.train.batch_size, lr=exp.train.lr,
                               optimizer=exp.train.optimizer, clip=clip, seed=seed)
                    seconds = time.perf_counter() - start
                    metrics = {"train_seconds": seconds, "ms_per_step": 1e3 * seconds / max(1, len(hist.loss)),
                               "diverged": hist.diverged, "max_grad_norm": max(hist.grad_norm, default=math.nan),
                               "train_loss": hist.final if hist.loss else math.nan}
                    if hist.diverged:
                        metrics.update(val_loss=math.nan, val_score=math.nan, test_loss=math.nan, test_score=math.nan)
                    else:
                        metrics["val_loss"], metrics["val_score"] = _evaluate(model, data, "validation")
                        metrics["test_loss"], metrics["test_score"] = _evaluate(model, data, "test")
                    if value in results.step_ms:
                        metrics["step_ms"] = results.step_ms[value][spec.label]
                        epoch = math.ceil(data.n_train / exp.train.batch_size)
                        metrics["epoch_seconds"] = metrics["step_ms"] * epoch / 1e3
                    results.runs.append(Run(value, spec.label, seed, count_parameters(model), _hidden_of(model),
                                            metrics, hist))
                    if keep_models:
                        results.models[(value, spec.label, seed)] = model
        for _ in it:  # nothing left; lets a bar reach its end
            pass
    finally:
        if callable(getattr(bar, "close", None)):
            bar.close()
    return results


# ---- results ---------------------------------------------------------------------------------------------------

COLUMN_NAMES = {
    "params": "parameters", "hidden": "d_s", "test_score": None, "val_score": None, "test_loss": "test loss",
    "train_loss": "training loss (end)", "ms_per_step": "ms per training step (in the run)",
    "step_ms": "ms per step (timed)", "epoch_seconds": "s per epoch", "max_grad_norm": "largest gradient norm",
    "diverged": "runs diverged",
}


@dataclass
class Results:
    """What :func:`run` measured: one :class:`Run` per (swept value, model, seed); the data sets by swept
    value; the trained models if kept; the interleaved step times if asked for."""

    experiment: Experiment
    runs: list
    data: dict
    models: dict
    step_ms: dict

    def values(self, metric: str, label: str, sweep=None) -> list[float]:
        """The measured ``metric`` of model ``label`` at swept value ``sweep``, one entry per seed."""
        out = []
        for r in self.runs:
            if r.label == label and r.sweep == sweep:
                out.append(float(getattr(r, metric)) if metric in ("params", "hidden") else float(r.metrics[metric]))
        if not out:
            raise KeyError(f"no run of {label!r} at {sweep!r} measured {metric!r}")
        return out

    def mean(self, metric: str, label: str, sweep=None) -> float:
        """The mean over the seeds of ``metric`` (non-finite values, such as a diverged run's, are left out;
        NaN if all are)."""
        vals = [v for v in self.values(metric, label, sweep) if math.isfinite(v)]
        return statistics.fmean(vals) if vals else math.nan

    def sd(self, metric: str, label: str, sweep=None) -> float:
        """The standard deviation over the seeds of the finite values (0 for one)."""
        vals = [v for v in self.values(metric, label, sweep) if math.isfinite(v)]
        return statistics.stdev(vals) if len(vals) > 1 else 0.0

    def labels(self) -> list[str]:
        return [m.label for m in self.experiment.models]

    def sweep_values(self) -> list:
        return list(self.experiment.sweep[1]) if self.experiment.sweep is not None else [None]

    def score_name(self, sweep=None) -> str:
        data = self.data[self.sweep_values()[0] if sweep is None else sweep]
        return getattr(data, "score_name", "score")

    def rows(self, columns=("params", "test_score")) -> list[dict]:
        """One dict per (swept value, model): for each column its mean and standard deviation."""
        out = []
        for v in self.sweep_values():
            for label in self.labels():
                row = {"sweep": v, "label": label}
                for c in columns:
                    if c == "diverged":
                        row[c] = sum(self.values(c, label, v))
                    else:
                        row[c] = (self.mean(c, label, v), self.sd(c, label, v))
                out.append(row)
        return out

    def solved(self, label: str, sweep=None, threshold: float = 0.1) -> int:
        """How many seeds of model ``label`` solved the task: test score below ``threshold`` (above it
        for a score where higher is better, such as an accuracy)."""
        higher = getattr(self.data[self.sweep_values()[0] if sweep is None else sweep], "higher_is_better", False)
        vals = self.values("test_score", label, sweep)
        return sum(1 for v in vals if not math.isnan(v) and (v > threshold if higher else v < threshold))

    def table(self, columns=("params", "test_score"), *, digits: int = 3, solved: float | None = None) -> str:
        """The results as a Markdown table: a row per (swept value, model), for each column the mean ± the
        standard deviation over the seeds (whole numbers for sizes; runs diverged as a count). With
        ``solved``, a last column counts the seeds whose test score passed that threshold."""
        name = self.score_name()
        sweep = self.experiment.sweep[0] if self.experiment.sweep is not None else None
        seeds = len(self.experiment.seeds)
        higher = getattr(self.data[self.sweep_values()[0]], "higher_is_better", False)
        head = ([sweep] if sweep else []) + ["model"] + [
            (COLUMN_NAMES.get(c) or (f"test {name}" if c == "test_score" else f"validation {name}")) for c in columns]
        if solved is not None:
            head.append(f"seeds with test {name} {'>' if higher else '<'} {solved:g}")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows(columns):
            cells = ([str(row["sweep"])] if sweep else []) + [row["label"]]
            for c in columns:
                if c == "diverged":
                    cells.append(f"{row[c]:.0f} of {seeds}")
                    continue
                m, s = row[c]
                if c in ("params", "hidden"):
                    cells.append(f"{m:.0f}" if s == 0 else f"{m:.0f} ± {s:.0f}")
                elif c in ("step_ms", "epoch_seconds") and s == 0:  # one timing per model, not per seed
                    cells.append(f"{m:.{digits}g}")
                elif math.isnan(m):
                    cells.append("—")
                else:
                    cells.append(f"{m:.{digits}g} ± {s:.2g}")
            if solved is not None:
                cells.append(f"{self.solved(row['label'], row['sweep'], solved)} of {seeds}")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


# ---- readouts of trained models -------------------------------------------------------------------------------


@torch.no_grad()
def gate_trace(model: Readout, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every signal of the trained layer over time, through the readable step (paper Eqs. 196-214 for
    the augmented layer, 126-136 for the vanilla one): ``augmented_sequence`` on the layer's
    ``paper_params()``. Returns g_cu, g_cs, g_cr (and g_cx with the input gate), u, s, v, each (N, B,
    d_s) (v: (N, B, d_v)), time-major."""
    if not isinstance(model, Readout) or not isinstance(model.core, AugmentedLSTM):
        raise TypeError("model: expected a Readout around a VanillaLSTM or AugmentedLSTM")
    core = model.core
    x = core._check_input(x)
    steps = augmented_sequence(x, core.paper_params(), signals=True)
    names = ["g_cu", "g_cs", "g_cr", "u", "s", "v"] + (["g_cx"] if core.input_gate else [])
    return {k: torch.stack([st[k] for st in steps]) for k in names}


@torch.no_grad()
def forecast(model: Readout, data: T.SequenceData, origins, horizon: int) -> torch.Tensor:
    """Forecasts of the series of ``data`` (a :meth:`~lstm_lib.tasks.SequenceData.forecast` data set)
    from each origin t in ``origins``: the model reads the ``window`` values before t, predicts z[t], and
    then feeds each prediction back as the next input, ``horizon`` steps in all. Returns (len(origins),
    horizon) in the series' units."""
    z, W = data.series, data.window
    H = check_int("horizon", horizon, minimum=1)
    t = torch.as_tensor(list(origins))
    if t.numel() == 0 or int(t.min()) < W or int(t.max()) > z.shape[0]:
        raise ValueError(f"origins: expected steps in [{W}, {z.shape[0]}]")
    st = data.standardization
    zs = z[:, None] if st is None else st(z[:, None])
    x = zs[t[None, :] - W + torch.arange(W)[:, None]]  # (W, B, 1)
    model.eval()
    y, state = model.run(x)
    preds = [y[-1]]
    for _ in range(H - 1):
        y, state = model.run(preds[-1][None], state)
        preds.append(y[-1])
    model.train()
    out = torch.stack(preds, dim=1)  # (B, H, 1)
    return (out if st is None else st.inverse(out))[..., 0]


def _ar_fit(zs: torch.Tensor, end: int, p: int) -> torch.Tensor:
    """Least-squares AR(p) coefficients (with a constant) from the values before ``end``."""
    rows = torch.stack([zs[k - p : k] for k in range(p, end)])  # (M, p)
    A = torch.cat((rows, torch.ones(rows.shape[0], 1, dtype=zs.dtype)), dim=1)
    return torch.linalg.lstsq(A.double(), zs[p:end, None].double()).solution[:, 0].to(zs.dtype)


def _ar_forecast(zs: torch.Tensor, coef: torch.Tensor, origins, horizon: int) -> torch.Tensor:
    p = coef.shape[0] - 1
    out = []
    for t in origins:
        hist = list(zs[t - p : t])
        preds = []
        for _ in range(horizon):
            nxt = float(torch.dot(torch.stack(hist[-p:]), coef[:p]) + coef[p])
            preds.append(nxt)
            hist.append(torch.tensor(nxt, dtype=zs.dtype))
        out.append(preds)
    return torch.tensor(out, dtype=zs.dtype)


def linear_forecast(data: T.SequenceData, order: int, origins, horizon: int) -> torch.Tensor:
    """The linear baseline of :func:`forecast_table`: AR(``order``) with a constant, fitted by least squares
    on the training period of ``data`` (standardized), iterated ``horizon`` steps from each origin.
    Returns (len(origins), horizon) in the series' units."""
    p = check_int("order", order, minimum=1)
    H = check_int("horizon", horizon, minimum=1)
    st = data.standardization
    zs = data.series if st is None else st(data.series[:, None])[:, 0]
    origins = list(origins)
    if not origins or min(origins) < p or max(origins) > zs.shape[0]:
        raise ValueError(f"origins: expected steps in [{p}, {zs.shape[0]}]")
    pred = _ar_forecast(zs, _ar_fit(zs, data.periods[0], p), origins, H)
    return pred if st is None else st.inverse(pred[..., None])[..., 0]


def _rmse(pred: torch.Tensor, z: torch.Tensor, origins, horizon: int) -> torch.Tensor:
    """RMSE by horizon (H,) of forecasts (B, H) from ``origins``; only targets inside the series count."""
    t = torch.as_tensor(list(origins))
    errs = []
    for h in range(horizon):
        keep = (t + h) < z.shape[0]
        errs.append(((pred[keep, h] - z[t[keep] + h]) ** 2).mean().sqrt())
    return torch.stack(errs)


def forecast_table(results: Results, horizon: int, *, max_order: int | None = None) -> dict:
    """Test-period forecast errors (RMSE in the series' units) by horizon h = 1 .. ``horizon`` of every
    trained model (mean and standard deviation over the seeds) and of two baselines: the naive forecast
    (the last value, for every horizon) and a linear one, AR(p) fitted by least squares on the training
    period with p chosen on the validation period's one-step error (p <= ``max_order``, default the
    window). Needs ``run(..., keep_models=True)``. Returns {"rmse": {name: (mean (H,), sd (H,))},
    "order": p, "origins": the test origins, "forecasts": {name: (B, H) of seed 0 / the baselines}}."""
    data = results.data[results.sweep_values()[0]]
    a, b = data.periods
    z = data.series
    H = check_int("horizon", horizon, minimum=1)
    test = range(b, z.shape[0])
    val = range(a, b)
    st = data.standardization
    zs = z if st is None else st(z[:, None])[:, 0]
    P = max_order or data.window
    val_err = {p: float(_rmse(_ar_forecast(zs, _ar_fit(zs, a, p), val, 1), zs, val, 1)[0]) for p in range(1, P + 1)}
    p = min(val_err, key=val_err.get)
    coef = _ar_fit(zs, a, p)
    linear = _ar_forecast(zs, coef, test, H)
    linear = linear if st is None else st.inverse(linear[..., None])[..., 0]
    naive = z[torch.as_tensor(list(test)) - 1][:, None].expand(-1, H)
    table = {"naive (last value)": (_rmse(naive, z, test, H), torch.zeros(H)),
             f"linear AR({p})": (_rmse(linear, z, test, H), torch.zeros(H))}
    shown = {"naive (last value)": naive, f"linear AR({p})": linear}
    if not results.models:
        raise ValueError("results: expected trained models; run the experiment with keep_models=True")
    for label in results.labels():
        per_seed = []
        for seed in results.experiment.seeds:
            pred = forecast(results.models[(results.sweep_values()[0], label, seed)], data, test, H)
            per_seed.append(_rmse(pred, z, test, H))
            if seed == results.experiment.seeds[0]:
                shown[label] = pred
        stack = torch.stack(per_seed)
        table[label] = (stack.mean(0), stack.std(0) if stack.shape[0] > 1 else torch.zeros(H))
    return {"rmse": table, "order": p, "origins": list(test), "forecasts": shown}


@torch.no_grad()
def sample_text(model: Readout, data: T.TextData, prompt: str, length: int, *, temperature: float = 1.0,
                seed: int = 0) -> str:
    """``length`` characters generated after ``prompt``, one at a time: each drawn from softmax(y / T) of
    the model's scores y, with temperature T = ``temperature`` (low T: the likeliest characters, high T:
    more random), and fed back as the next input. ``seed`` fixes the draws."""
    if not isinstance(data, T.TextData):
        raise TypeError(f"data: expected a TextData, got {type(data).__name__}")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt: expected a non-empty string")
    n = check_int("length", length, minimum=1)
    temp = check_real("temperature", temperature)
    if temp <= 0:
        raise ValueError(f"temperature: expected a number > 0, got {temperature!r}")
    g = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    model.eval()
    y, state = model.run(data.encode(data.codes(prompt)[:, None]))
    out = []
    for _ in range(n):
        probs = torch.softmax(y[-1, 0].double() / temp, dim=0)
        c = int(torch.multinomial(probs, 1, generator=g))
        out.append(c)
        y, state = model.run(data.encode(torch.tensor([[c]])), state)
    model.train()
    return data.decode(out)


def input_gate_by_kind(model: Readout, data: T.SequenceData, batch_size: int = 256, seed: int = 7) -> dict:
    """The mean external input gate g_cx (over units and sequences) on the three kinds of steps of a
    :class:`~lstm_lib.tasks.DistractedSum`: marked (content), plain (unmarked, ordinary values) and burst
    (unmarked noise bursts); plus the trace of one sequence. Fresh sequences, standardized with the data
    set's training statistics."""
    task = data.task.task if isinstance(data.task, T.Rescaled) else data.task
    if not isinstance(task, T.DistractedSum):
        raise TypeError("data: expected a data set of DistractedSum")
    x0, _, kinds = task.sample_with_kinds(batch_size, torch.Generator().manual_seed(seed))
    x = x0 if data.standardization is None else data.standardization(x0)
    tr = gate_trace(model, x)
    if "g_cx" not in tr:
        raise ValueError("model: expected a layer with the external input gate (input_gate=True)")
    g = tr["g_cx"].mean(-1)  # (N, B): the mean over the units
    means = {name: float(g[kinds == k].mean()) for k, name in enumerate(T.DistractedSum.KINDS)}
    return {"mean": means, "g_cx": tr["g_cx"][:, 0], "g_cu": tr["g_cu"][:, 0], "x": x0[:, 0], "kinds": kinds[:, 0]}


# ---- the book's experiments ------------------------------------------------------------------------------------

_LSTM16 = 2000  # the parameters of a vanilla LSTM with d_s = 16 and its output map, about

EXPERIMENTS: dict[str, Experiment] = {}


def _register(exp: Experiment) -> None:
    EXPERIMENTS[exp.name] = exp


def experiment(name: str, size: str | None = None) -> Experiment:
    """The book's experiment ``name`` at ``size`` (default: :func:`book_size`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"name: expected one of {', '.join(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name].at(book_size() if size is None else size)


_register(Experiment(
    name="long_lags_adding",
    question="Does the vanilla LSTM learn dependencies over lags at which the standard RNN learns nothing?",
    paper="Sec. IV (Eqs. 91-93) and Sec. V, Example 2 (the constant error carousel)",
    data=DataSpec("adding", {"length": 10}),
    models=(ModelSpec("standard RNN", "rnn", params="vanilla LSTM"),
            ModelSpec("vanilla LSTM", "lstm", hidden=16, state_bias=3.0)),
    train=TrainSpec(steps=500, clip=1.0),
    sweep=("length", (10, 30, 100)),
    full={"train.steps": 3000, "sweep": ("length", (10, 30, 50, 100, 200)), "seeds": (0, 1, 2, 3, 4)},
))

_register(Experiment(
    name="long_lags_recall",
    question="The same on delayed recall of one symbol: name the first symbol after `lag` distracting ones.",
    paper="Sec. IV (Eqs. 91-93) and Sec. V, Example 2 (the constant error carousel)",
    data=DataSpec("symbol_recall", {"lag": 10}),
    models=(ModelSpec("standard RNN", "rnn", params="vanilla LSTM"),
            ModelSpec("vanilla LSTM", "lstm", hidden=16, state_bias=3.0)),
    train=TrainSpec(steps=500, clip=1.0),
    sweep=("lag", (10, 30, 100)),
    full={"train.steps": 3000, "sweep": ("lag", (10, 30, 50, 100, 200)), "seeds": (0, 1, 2, 3, 4)},
))

_register(Experiment(
    name="stability",
    question="What do standardized inputs and the clipping of derivatives do to training on raw data?",
    paper="Sec. VI-D (Eqs. 118-120, fn 23), fn 20 and fn 25",
    data=DataSpec("adding", {"length": 40}, offset=50.0, scale=20.0),
    models=(ModelSpec("no clipping", "lstm", hidden=16, state_bias=3.0),
            ModelSpec("alpha clipped to [-1, 1] (fn 25)", "lstm", hidden=16, state_bias=3.0,
                      options={"clip_alpha": 1.0}),
            ModelSpec("global norm clipped to 1", "lstm", hidden=16, state_bias=3.0, clip=1.0)),
    train=TrainSpec(steps=400),
    sweep=("standardize", (False, True)),
    full={"train.steps": 3000, "seeds": (0, 1, 2, 3, 4)},
))

_register(Experiment(
    name="context_windows",
    question="Do context windows buy the near-future context a bidirectional LSTM buys, and at what cost?",
    paper="Sec. VII-A (Eq. 188, fn 31) and Sec. VIII, item 3",
    data=DataSpec("lookahead", {"shift": 3, "symbols": 4, "length": 32}),
    models=(ModelSpec("vanilla LSTM", "lstm", params=_LSTM16),
            ModelSpec("context L = 2", "augmented", params=_LSTM16, options={"context": 2}),
            ModelSpec("context L = 4", "augmented", params=_LSTM16, options={"context": 4}),
            ModelSpec("context L = 8", "augmented", params=_LSTM16, options={"context": 8}),
            ModelSpec("bidirectional LSTM", "bidirectional", params=_LSTM16)),
    train=TrainSpec(steps=300, time_steps=True),
    full={"train.steps": 2000, "seeds": (0, 1, 2, 3, 4), "data.n_train": 8192},
))

_register(Experiment(
    name="input_gate",
    question="Does the external input gate g_cx learn to keep distractors out of the state, and does it help?",
    paper="Sec. VII-C (Eqs. 191-195) and Sec. VIII, item 4",
    data=DataSpec("distracted_sum", {"length": 30, "markers": 3, "burst_rate": 0.3, "burst_scale": 4.0}),
    models=(ModelSpec("vanilla LSTM", "lstm", params="with input gate g_cx", state_bias=3.0),
            ModelSpec("with input gate g_cx", "augmented", hidden=16, state_bias=3.0, options={"input_gate": True})),
    train=TrainSpec(steps=400, clip=1.0),
    seeds=(0, 1, 2, 3, 4),
    full={"train.steps": 3000, "seeds": tuple(range(10)), "data.n_train": 8192},
))

_register(Experiment(
    name="projection",
    question="What does the recurrent projection cost in accuracy, and buy in time, as d_v shrinks?",
    paper="Sec. VII-B (Eqs. 189-190)",
    data=DataSpec("delayed_recall", {"lag": 8, "length": 28}),
    models=(ModelSpec("no projection (d_v = d_s = 32)", "augmented", hidden=32),
            *(ModelSpec(f"d_v = {d}", "augmented", hidden=32, options={"proj_size": d}) for d in (16, 8, 4, 2))),
    train=TrainSpec(steps=300, clip=1.0, time_steps=True),
    full={"train.steps": 2000, "seeds": (0, 1, 2, 3, 4), "data.n_train": 8192},
))

_register(Experiment(
    name="sunspots",
    question="How well does a small LSTM forecast a measured signal, against naive and linear forecasts?",
    paper="Sec. VIII, item 5 (other domains); Sec. VI-D (standardization with the training statistics)",
    data=DataSpec("sunspots", {"window": 30}),
    models=(ModelSpec("vanilla LSTM", "lstm", hidden=16),),
    train=TrainSpec(steps=400, lr=5e-3, clip=1.0),
    full={"train.steps": 3000, "seeds": (0, 1, 2, 3, 4)},
))

_register(Experiment(
    name="text",
    question="Character by character: does the augmented cell (input gate, projection) predict text better?",
    paper="Sec. VIII, items 2 and 5 (language); Sec. VII-B and VII-C",
    data=DataSpec("python_topics", {"window": 48}),
    models=(ModelSpec("vanilla LSTM", "lstm", hidden=48),
            ModelSpec("augmented: g_cx, d_v = 24", "augmented", hidden=48,
                      options={"input_gate": True, "proj_size": 24})),
    train=TrainSpec(steps=300, lr=5e-3, clip=1.0),
    full={"train.steps": 5000, "train.batch_size": 64, "data.options.window": 96},
))

"""The experiments of Part V at full size, measured once and stored with the package.

The book's build runs every experiment at its small size (:func:`lstm_lib.experiments.run`). The full
size (``LSTM_BOOK_SIZE=full``) takes about 40 minutes of one CPU core, too long for a build, so one run of
it is kept in ``lstm_lib/data/full_size.json``: for every trained model its place in the experiment (swept
value, label, seed), its size and its metrics, as :func:`lstm_lib.experiments.run` measured them, and
for every swept value the name of the test score and whether higher is better. :func:`recorded` reads an
experiment back as :class:`~lstm_lib.experiments.Results` (without histories, models or data), so that a
chapter compares the two sizes with the same methods (``mean``, ``solved``, ``table``).

:func:`save` writes the file from a list of results; ``python -m lstm_lib.recorded`` re-measures all of it
(one process per job, on every core; the file's ``meta`` says when, with what and how).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ._checks import check_int
from .experiments import EXPERIMENTS, Results, Run, experiment, run

__all__ = ["PATH", "recorded", "meta", "provenance", "save", "jobs", "measure"]

PATH = Path(__file__).with_name("data") / "full_size.json"


@dataclass(frozen=True)
class ScoreFacts:
    """What :class:`~lstm_lib.experiments.Results` needs of a data set to name and compare its scores."""

    score_name: str
    higher_is_better: bool

    @classmethod
    def of(cls, data) -> ScoreFacts:
        """The facts of a data set (or of facts already taken)."""
        return cls(getattr(data, "score_name", "score"), bool(getattr(data, "higher_is_better", False)))


def _path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}")
    return Path(path)


def _load(path) -> dict:
    path = _path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no recorded full-size runs at {path}")
    return json.loads(path.read_text())


def meta(path: Path = PATH) -> dict:
    """When and how the stored runs were measured: date, lstm_lib and torch versions, threads, machine."""
    return _load(path)["meta"]


def provenance(path: Path = PATH) -> str:
    """One sentence for a caption: when, with what and where the stored runs were measured."""
    m = meta(path)
    return (f"measured once on {m['date']} with lstm_lib {m['lstm_lib']} and torch {m['torch']} "
            f"({m['machine']}, {m['processes']} jobs at a time, one torch thread each); `python -m lstm_lib.recorded` "
            "measures it again")


def recorded(name: str, path: Path = PATH) -> Results:
    """The stored full-size runs of experiment ``name`` as :class:`~lstm_lib.experiments.Results` of the
    full-size specification (every run of its sweep, models and seeds)."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected an experiment's name (str), got {type(name).__name__}")
    exp = experiment(name, "full")
    path = _path(path)
    stored = _load(path)["experiments"].get(name)
    if stored is None:
        raise KeyError(f"name: the file {path.name} holds no runs of {name!r}")
    sweep = exp.sweep[1] if exp.sweep is not None else (None,)
    facts = {v: ScoreFacts(**stored["scores"][json.dumps(v)]) for v in sweep}
    runs = [Run(r["sweep"], r["label"], r["seed"], r["params"], r["hidden"],
                {k: (math.nan if v is None else v) for k, v in r["metrics"].items()}, None)
            for r in stored["runs"]]
    expected = {(v, m.label, s) for v in sweep for m in exp.models for s in exp.seeds}
    found = {(r.sweep, r.label, r.seed) for r in runs}
    if found != expected:
        missing = sorted(map(str, expected - found))[:3]
        raise ValueError(f"{path.name}: the runs of {name!r} do not match its full-size specification "
                         f"(missing e.g. {', '.join(missing) or 'none'}; {len(found - expected)} unexpected)")
    order = {key: i for i, key in enumerate((v, m.label, s) for v in sweep for m in exp.models for s in exp.seeds)}
    runs.sort(key=lambda r: order[(r.sweep, r.label, r.seed)])
    return Results(exp, runs, facts, {}, {})


def _finite(metrics: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def save(results: list[Results], path: Path = PATH, **meta_fields) -> None:
    """Write the runs of ``results`` (each the full-size runs of one experiment, possibly in parts) to
    ``path``, with ``meta_fields`` (and the date, versions and machine) as the file's ``meta``."""
    import torch

    from . import __version__
    if not isinstance(results, (list, tuple)) or not all(isinstance(r, Results) for r in results):
        raise TypeError("results: expected a list of lstm_lib.experiments.Results")
    path = _path(path)
    out = {"meta": {"date": date.today().isoformat(), "lstm_lib": __version__, "torch": torch.__version__,
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", **meta_fields},
           "experiments": {}}
    for res in results:
        entry = out["experiments"].setdefault(res.experiment.name, {"scores": {}, "runs": []})
        for value, data in res.data.items():
            entry["scores"][json.dumps(value)] = dataclasses.asdict(ScoreFacts.of(data))
        entry["runs"].extend({"sweep": r.sweep, "label": r.label, "seed": r.seed, "params": r.params,
                              "hidden": r.hidden, "metrics": _finite(r.metrics)} for r in res.runs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")


def jobs() -> list[tuple[str, object, int]]:
    """Every (experiment, swept value, seed) of the full size: the units :func:`measure` runs in parallel."""
    out = []
    for name in EXPERIMENTS:
        exp = experiment(name, "full")
        for v in (exp.sweep[1] if exp.sweep is not None else (None,)):
            out.extend((name, v, s) for s in exp.seeds)
    return out


def _job(args) -> Results:
    import torch
    torch.set_num_threads(1)
    name, value, seed = args
    exp = experiment(name, "full")
    if exp.sweep is not None:
        exp = dataclasses.replace(exp, sweep=(exp.sweep[0], (value,)))
    res = run(dataclasses.replace(exp, seeds=(seed,)))
    res.experiment = experiment(name, "full")
    res.data = {v: ScoreFacts.of(d) for v, d in res.data.items()}
    for r in res.runs:
        r.history = None
    return res


def measure(path: Path = PATH, processes: int | None = None) -> None:
    """Run every full-size job (one process per job, each with one torch thread) and :func:`save` them."""
    import multiprocessing as mp
    processes = os.cpu_count() if processes is None else check_int("processes", processes, minimum=1)
    todo = jobs()
    start = time.time()
    with mp.get_context("spawn").Pool(processes) as pool:
        parts = []
        for i, res in enumerate(pool.imap_unordered(_job, todo), 1):
            parts.append(res)
            print(f"{i}/{len(todo)} {res.experiment.name} {res.runs[0].sweep} seed {res.runs[0].seed}", flush=True)
    save(parts, path, processes=processes, hours=round((time.time() - start) / 3600, 2))


if __name__ == "__main__":
    measure()

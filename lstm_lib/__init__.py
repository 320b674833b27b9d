"""lstm_lib: the library behind the interactive textbook on RNN and LSTM fundamentals.

Three layers; imports point one way, from the top down (the models never import the chapters'
analyses, and nothing below the display layer imports matplotlib or ipywidgets):

The models (the numerical core)
    ``lstm``             the one LSTM layer: ``AugmentedLSTM`` (paper Sec. VII, with its switches) and
                         ``VanillaLSTM``, its configuration with every switch off (Sec. VI)
    ``_lstm_recurrence`` its input terms, the reference loops of the forward and backward equations,
                         the autograd Function and the one chooser between implementations
    ``_lstm_kernels``    the same loops compiled (``_lstm_kernels.cpp``), for the CPU
    ``_lstm_data``       the data both kinds of loop share: weights, the forward record, error signals
    ``_gates``           the block layout of the stacked parameters, and torch.nn.LSTM's order
    ``compose``          ``Bidirectional`` and ``Stack``: layers in both directions and in depth
    ``canonical_rnn``    the canonical RNN (Sec. II-III) and its segments; ``_rnn_recurrence`` its backward
    ``continuous_roots`` the additive delay model and its integrator (Sec. II)
    ``standardize``      data standardization with the training statistics (Sec. VI-D)
    ``_checks``          the argument checks every public function uses

The chapters' mathematics and analyses (one module per chapter, same name as the chapter)
    ``discretization``, ``rnn_training``, ``rnn_to_lstm`` and ``vanilla_lstm``, ``lstm_training``,
    ``augmented_lstm``, ``augmented_training``, ``errata`` (every erratum's check), and for the
    experiments of Part V ``tasks``, ``fit``, ``experiments`` and ``recorded`` (one full-size run of
    them, stored in ``data/full_size.json``)

The display layer
    ``widgets``          interactive figures: live sliders in a notebook, a static player in the book
    ``figures``          the figures and explorers of each chapter (``lstm_lib.figures.<chapter>``)

``python -m lstm_lib.bench`` times the layers against PyTorch's (``lstm_lib.bench``).

The main names are importable from the package itself (``from lstm_lib import VanillaLSTM``); they
are loaded on first use, so importing one model does not pull in SymPy or matplotlib.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "continuous_roots": ("AdditiveModel", "Trajectory", "simulate", "hopfield_energy", "hopfield_network"),
    "discretization": ("derive_canonical_rnn", "DiscreteParams", "discretize", "spectral_radius", "stable",
                       "stability_region"),
    "canonical_rnn": ("CanonicalRNN", "UnrolledRNN", "run_segments", "run_windows", "companion_form"),
    "_rnn_recurrence": ("CanonicalRNNFunction",),
    "rnn_training": ("RNNReadout", "psi_chi", "jacobian_product_norms", "gradient_norm_by_lag"),
    "lstm": ("AugmentedLSTM", "VanillaLSTM"),
    "compose": ("Bidirectional", "Stack"),
    "standardize": ("Standardization",),
    "vanilla_lstm": ("lstm_step",),
    "tasks": ("DelayedRecall", "AddingProblem", "SymbolRecall", "Lookahead", "DistractedSum"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lstm_lib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))

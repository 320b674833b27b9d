"""lstm_lib: the library behind the interactive textbook on RNN and LSTM fundamentals.

One module per chapter of the book (see DESIGN.md); the chapters import from here and
define no model of their own:

=====================  ==========================================================
module                 chapter
=====================  ==========================================================
``continuous_roots``   Continuous-time roots: the additive delay model, Hopfield
``discretization``     Discretization: SymPy derivation of the canonical RNN
``canonical_rnn``      The canonical RNN and its unrolling
``rnn_training``       Training the RNN: hand-derived BPTT, vanishing gradients
``rnn_to_lstm``        From the RNN to the vanilla LSTM: the chain of cells
``lstm``               The one LSTM layer: ``AugmentedLSTM`` and its vanilla configuration
``vanilla_lstm``       The vanilla LSTM one step at a time, ``lstm_step``
``compose``            Both directions of a sequence (``Bidirectional``), layers in depth (``Stack``)
``standardize``        Data standardization with the training statistics (paper Sec. VI-D)
``lstm_training``      Training the vanilla LSTM: the hand-derived backward pass
``tasks``, ``fit``     data sets and a training loop for the demonstrations
``widgets``            interactive figures (live sliders, or a static player)
=====================  ==========================================================

The main names are importable from the package itself (``from lstm_lib import
VanillaLSTM``); they are loaded on first use, so importing one model does not pull in
SymPy or matplotlib.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "continuous_roots": ("AdditiveModel", "Trajectory", "simulate", "hopfield_energy", "hopfield_network"),
    "discretization": ("derive_canonical_rnn", "DiscreteParams", "discretize", "spectral_radius", "stable",
                       "stability_region"),
    "canonical_rnn": ("CanonicalRNN", "UnrolledRNN", "run_windows", "companion_form"),
    "rnn_training": ("CanonicalRNNFunction", "RNNReadout", "psi_chi", "jacobian_product_norms",
                     "gradient_norm_by_lag"),
    "lstm": ("AugmentedLSTM", "VanillaLSTM"),
    "compose": ("Bidirectional", "Stack"),
    "standardize": ("Standardization",),
    "vanilla_lstm": ("lstm_step",),
    "tasks": ("DelayedRecall", "AddingProblem"),
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

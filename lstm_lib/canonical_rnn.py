"""The canonical RNN, its segments and its unrolling (chapter ``canonical_rnn``).

The canonical RNN (paper Eqs. 30-31) is

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s,        r[n] = G(s[n]),

for n = 0 .. N-1, started from s[-1] = s0 (zero by default) and r[-1] = G(s[-1]); with W_s = 0 it is
the standard RNN (paper Eqs. 32-33). Sequences are time-major, shape (N, B, features), unless
``batch_first``.

* :class:`CanonicalRNN` runs the recurrence. ``backward="bptt"`` (the default) uses the hand-derived
  backward of :mod:`lstm_lib._rnn_recurrence`; ``backward="autograd"`` differentiates a plain loop.
  ``standard=True`` fixes W_s = 0 (a buffer, not a parameter): the parameters are then exactly the
  paper's Theta = {W_r, W_x, theta_s} (paper Eq. 49).
* Proposition 1 of the paper (Sec. III): :func:`unit_step`, :func:`unit_sample` (paper Eqs. 34-35),
  :func:`segment_offsets` j(m) (paper Eq. 42), :func:`segment_windows` w_m[n] (paper Eqs. 38-44),
  :func:`run_with_resets` (the per-segment system in the original index, paper Eqs. 61-64) and
  :func:`run_segments` (the prototype unrolled RNN on shifted segments from a zero state, paper
  Eqs. 73-77).
* This book's additions, not the paper's: :meth:`CanonicalRNN.unroll` builds the tied-weight
  feed-forward network of a window (the book's lemma); :func:`run_windows` carries the state across
  windows with the gradient cut at each boundary (truncated BPTT, a practice outside Proposition 1);
  :func:`companion_form` turns a recurrence with several delays into one canonical RNN.

This is a model module: it imports neither matplotlib nor any widget. The chapter's figures and
explorers are in :mod:`lstm_lib.figures.canonical_rnn`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._checks import (
    check_bool,
    check_choice,
    check_device,
    check_dtype,
    check_int,
    check_positive,
    check_tensor,
)
from ._rnn_recurrence import (
    WARP_DERIVATIVES,
    WARPS_BY_NAME,
    canonical_rnn_loop,
    identity,
    recurrence,
    resolve_warp,
    warp_derivative,
)

__all__ = [
    "identity", "WARP_DERIVATIVES", "WARPS_BY_NAME", "resolve_warp", "warp_derivative", "canonical_rnn_loop",
    "CanonicalCell", "UnrolledRNN", "CanonicalRNN",
    "unit_step", "unit_sample", "segment_lengths", "segment_offsets", "segment_windows",
    "run_with_resets", "run_segments", "run_windows", "window_gradients",
    "multi_delay_loop", "companion_form",
]


def _check_cell_params(W_s, W_r, W_x, theta_s):
    W_x = check_tensor("W_x", W_x, ndim=2)
    d = W_x.shape[0]
    check_tensor("W_s", W_s, shape=(d, d), dtype=W_x.dtype, device=W_x.device)
    check_tensor("W_r", W_r, shape=(d, d), dtype=W_x.dtype, device=W_x.device)
    check_tensor("theta_s", theta_s, shape=(d,), dtype=W_x.dtype, device=W_x.device)
    return W_x.shape


class CanonicalCell(nn.Module):
    """One layer of the unrolled network: F(s, x) = W_s s + W_r G(s) + W_x x + theta_s.

    The cell takes the previous state s = s[n-1] and the input x = x[n], each (B, ·) or (·,), and
    returns s[n] (paper Eq. 30 with r[n-1] = G(s[n-1]), Eq. 31). It holds whatever tensors it is
    given, so several cells can share (tie) the same :class:`~torch.nn.Parameter` objects.
    """

    def __init__(self, W_s: torch.Tensor, W_r: torch.Tensor, W_x: torch.Tensor, theta_s: torch.Tensor,
                 warp=torch.tanh):
        super().__init__()
        _check_cell_params(W_s, W_r, W_x, theta_s)
        self.W_s, self.W_r, self.W_x, self.theta_s = W_s, W_r, W_x, theta_s
        self.warp = resolve_warp(warp)

    def extra_repr(self) -> str:
        d, m = self.W_x.shape
        return f"state_size={d}, input_size={m}, warp={getattr(self.warp, '__name__', self.warp)}"

    def forward(self, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        d, m = self.W_x.shape
        s = check_tensor("s", s, ndim=(1, 2), dtype=self.W_x.dtype, device=self.W_x.device)
        x = check_tensor("x", x, ndim=(1, 2), dtype=self.W_x.dtype, device=self.W_x.device)
        if s.shape[-1] != d or x.shape[-1] != m:
            raise ValueError(f"s, x: expected last dimensions d={d} and m={m}, got {tuple(s.shape)} and "
                             f"{tuple(x.shape)}")
        return s @ self.W_s.T + self.warp(s) @ self.W_r.T + x @ self.W_x.T + self.theta_s


class UnrolledRNN(nn.Module):
    """A feed-forward network of N layers, ``layers[n]`` mapping s[n-1] and x[n] to s[n] (the book's lemma).

    The readout of each layer is r[n] = G(s[n]). ``forward(x, s0=None)`` returns ``(s, r)`` like
    :meth:`CanonicalRNN.forward`. Build one with :meth:`CanonicalRNN.unroll`; the layers must be a
    non-empty list of :class:`CanonicalCell` with the same sizes, dtype, device and warp.
    """

    def __init__(self, layers: Sequence[CanonicalCell], batch_first: bool = False):
        super().__init__()
        if not isinstance(layers, nn.ModuleList) and (isinstance(layers, nn.Module | str)
                                                       or not isinstance(layers, Sequence)):
            raise TypeError(f"layers: expected a list of CanonicalCell, got {type(layers).__name__}")
        layers = list(layers)
        if not layers:
            raise ValueError("layers: expected at least one CanonicalCell, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, CanonicalCell):
                raise TypeError(f"layers: expected CanonicalCell objects, got {type(layer).__name__} at index {i}")
        first = layers[0]
        for i, layer in enumerate(layers[1:], start=1):
            if (layer.W_x.shape != first.W_x.shape or layer.W_x.dtype != first.W_x.dtype
                    or layer.W_x.device != first.W_x.device):
                raise ValueError(f"layers: layer {i} has W_x {tuple(layer.W_x.shape)} {layer.W_x.dtype}, layer 0 "
                                 f"has {tuple(first.W_x.shape)} {first.W_x.dtype}; expected the same sizes")
            if layer.warp is not first.warp:
                raise ValueError(f"layers: layer {i} has a different warp from layer 0")
        self.layers = nn.ModuleList(layers)
        self.batch_first = check_bool("batch_first", batch_first)

    def forward(self, x: torch.Tensor, s0: torch.Tensor | None = None):
        first = self.layers[0]
        d, m = first.W_x.shape
        x = check_tensor("x", x, ndim=3, dtype=first.W_x.dtype, device=first.W_x.device)
        if self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] != len(self.layers) or x.shape[2] != m or x.shape[1] < 1:
            layout = "(B, N, m)" if self.batch_first else "(N, B, m)"
            raise ValueError(f"x: expected shape {layout} with N={len(self.layers)}, m={m}, got "
                             f"{tuple(x.shape) if not self.batch_first else tuple(x.transpose(0, 1).shape)}")
        s = _initial_state(s0, x, d)
        states = []
        for n, layer in enumerate(self.layers):
            s = layer(s, x[n])
            states.append(s)
        s = torch.stack(states)
        r = first.warp(s)
        if self.batch_first:
            s, r = s.transpose(0, 1), r.transpose(0, 1)
        return s, r


def _initial_state(s0, x, d):
    B = x.shape[1]
    if s0 is None:
        return x.new_zeros(B, d)
    return check_tensor("s0", s0, shape=(B, d), dtype=x.dtype, device=x.device)


class CanonicalRNN(nn.Module):
    """The canonical RNN (paper Eqs. 30-31); with ``standard=True`` the standard RNN (paper Eqs. 32-33).

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s,  r[n] = G(s[n]),  s[-1] = s0,  r[-1] = G(s0).

    Parameters: ``W_s`` (d, d), ``W_r`` (d, d), ``W_x`` (d, m), ``theta_s`` (d,), with d = ``state_size``
    and m = ``input_size``. With ``standard=True``, W_s is a buffer fixed at zero, so the trainable
    parameters are the paper's Theta = {W_r, W_x, theta_s} (paper Eq. 49).

    Default initialization: W_r, W_x and theta_s uniform in [-1/sqrt(d), 1/sqrt(d)], as torch.nn.RNN
    draws its weights, and W_s = 0, so a fresh model computes the standard RNN and its linearisation
    W_s + W_r has spectral radius about 1/sqrt(3) < 1. Unless ``standard``, training moves W_s like any
    other parameter.

    ``warp`` is G: ``torch.tanh`` (default), ``torch.sigmoid``, :func:`identity`, ``torch.relu``, one of
    their names, or any element-wise callable with ``backward="autograd"``. ``backward="bptt"`` uses the
    hand-derived backward (paper Eqs. 82-90 with erratum E1; :mod:`lstm_lib._rnn_recurrence`), which is
    also exact under double backward; ``backward="autograd"`` differentiates a plain Python loop.

    ``forward(x, s0=None)`` takes x of shape (N, B, m) ((B, N, m) if ``batch_first``) and returns
    ``(s, r)``, each (N, B, d) (or (B, N, d)).
    """

    def __init__(
        self,
        input_size: int,
        state_size: int,
        warp=torch.tanh,
        batch_first: bool = False,
        backward: str = "bptt",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        standard: bool = False,
    ):
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.state_size = check_int("state_size", state_size, minimum=1)
        self.warp = resolve_warp(warp)
        self.batch_first = check_bool("batch_first", batch_first)
        self.backward = check_choice("backward", backward, ("bptt", "autograd"))
        self.standard = check_bool("standard", standard)
        if self.backward == "bptt":
            warp_derivative(self.warp)
        kw = {"dtype": check_dtype("dtype", dtype), "device": check_device("device", device)}
        d, m = self.state_size, self.input_size
        if self.standard:
            self.register_buffer("W_s", torch.zeros(d, d, **kw))
        else:
            self.W_s = nn.Parameter(torch.empty(d, d, **kw))
        self.W_r = nn.Parameter(torch.empty(d, d, **kw))
        self.W_x = nn.Parameter(torch.empty(d, m, **kw))
        self.theta_s = nn.Parameter(torch.empty(d, **kw))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """W_s = 0; W_r, W_x, theta_s uniform in [-1/sqrt(d), 1/sqrt(d)] (see the class docstring)."""
        bound = 1.0 / math.sqrt(self.state_size)
        with torch.no_grad():
            self.W_s.zero_()
            for p in (self.W_r, self.W_x, self.theta_s):
                p.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        name = getattr(self.warp, "__name__", repr(self.warp))
        return (
            f"input_size={self.input_size}, state_size={self.state_size}, warp={name}, "
            f"batch_first={self.batch_first}, backward={self.backward!r}, standard={self.standard}"
        )

    # ----------------------------------------------------------------------------------- forward
    def check_input(self, x: torch.Tensor, s0: torch.Tensor | None = None):
        """Check ``x`` (and ``s0``); return time-major x and the initial state s[-1]."""
        x = check_tensor("x", x, ndim=3, dtype=self.W_x.dtype, device=self.W_x.device)
        if self.batch_first:
            x = x.transpose(0, 1)
        layout = "(B, N, m)" if self.batch_first else "(N, B, m)"
        if x.shape[2] != self.input_size:
            raise ValueError(f"x: expected shape {layout} with m={self.input_size}, got {tuple(x.shape)}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x: expected at least one time step and one sequence, got shape {tuple(x.shape)}")
        return x, _initial_state(s0, x, self.state_size)

    def run_time_major(self, x: torch.Tensor, s_init: torch.Tensor):
        """The recurrence on checked, time-major x (N, B, m) from s[-1] = s_init (B, d); returns ``(s, r)``."""
        return recurrence(x, s_init, self.W_s, self.W_r, self.W_x, self.theta_s, self.warp, self.backward)

    def forward(self, x: torch.Tensor, s0: torch.Tensor | None = None):
        """Run paper Eqs. 30-31 over x; return ``(s, r)``, each (N, B, d) (or (B, N, d) if batch_first)."""
        x, s_init = self.check_input(x, s0)
        s, r = self.run_time_major(x, s_init)
        if self.batch_first:
            s, r = s.transpose(0, 1), r.transpose(0, 1)
        return s, r

    # ----------------------------------------------------------------------------------- unrolling
    def unroll(self, N: int, tied: bool = True) -> UnrolledRNN:
        """The N-layer feed-forward network of a window of N steps (this book's lemma, not the paper's).

        With ``tied=True`` every layer holds the very same Parameter objects as this model, so a
        gradient computed through the unrolled network lands in this model's ``.grad``. With
        ``tied=False`` each layer gets its own copy (same values), so each layer's gradient can be
        read separately; their sum is the tied gradient (the book's corollary).
        """
        N = check_int("N", N, minimum=1)
        tied = check_bool("tied", tied)
        params = (self.W_s, self.W_r, self.W_x, self.theta_s)
        layers = []
        for _ in range(N):
            if tied:
                own = params
            else:
                own = tuple(nn.Parameter(p.detach().clone()) if p.requires_grad else p.detach().clone()
                            for p in params)
            layers.append(CanonicalCell(*own, warp=self.warp))
        return UnrolledRNN(layers, batch_first=self.batch_first)

    # ----------------------------------------------------------------------------------- construction
    @classmethod
    def from_params(cls, W_s, W_r, W_x, theta_s, warp=torch.tanh, **kwargs) -> CanonicalRNN:
        """A model holding copies of the given (W_s, W_r, W_x, theta_s); keyword arguments as the class.

        With ``standard=True``, ``W_s`` must be zero.
        """
        d, m = _check_cell_params(W_s, W_r, W_x, theta_s)
        kwargs.setdefault("dtype", W_x.dtype)
        kwargs.setdefault("device", W_x.device)
        model = cls(m, d, warp=warp, **kwargs)
        if model.standard and bool(W_s.detach().abs().max() > 0):
            raise ValueError("W_s: standard=True fixes W_s = 0, got a non-zero W_s")
        with torch.no_grad():
            for name, value in (("W_s", W_s), ("W_r", W_r), ("W_x", W_x), ("theta_s", theta_s)):
                getattr(model, name).copy_(value)
        return model

    @classmethod
    def from_continuous(cls, A, B, C, phi, dt, method: str = "backward", warp=torch.tanh, **kwargs) -> CanonicalRNN:
        """Discretize ds/dt = A s + B r(t - dT) + C x + phi (paper Eq. 14) into a canonical RNN.

        Calls :func:`lstm_lib.discretization.discretize`, which gives W_s = (I - dT A)^-1,
        W_r = dT W_s B, W_x = dT W_s C, theta_s = dT W_s phi for ``method="backward"`` (paper Eqs. 25-29).
        """
        from .discretization import discretize

        check_positive("dt", dt)
        p = discretize(A, B, C, phi, dt, method=method)
        return cls.from_params(p.W_s, p.W_r, p.W_x, p.theta_s, warp=warp, **kwargs)

    @classmethod
    def from_torch(cls, rnn: nn.RNN, **kwargs) -> CanonicalRNN:
        """The standard RNN (paper Eqs. 32-33) equal to a one-layer tanh ``torch.nn.RNN``.

        nn.RNN's h_t is our r[n]: W_s = 0, W_r = W_hh, W_x = W_ih, theta_s = b_ih + b_hh. The result
        has ``standard=True`` unless ``standard=False`` is passed.
        """
        if not isinstance(rnn, nn.RNN):
            raise TypeError(f"rnn: expected a torch.nn.RNN, got {type(rnn).__name__}")
        if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh" or rnn.proj_size:
            raise ValueError("rnn: expected a one-layer, one-directional nn.RNN with nonlinearity='tanh'")
        W_ih, W_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
        theta = rnn.bias_ih_l0.detach() + rnn.bias_hh_l0.detach() if rnn.bias else W_ih.new_zeros(W_ih.shape[0])
        kwargs.setdefault("batch_first", rnn.batch_first)
        kwargs.setdefault("standard", True)
        return cls.from_params(torch.zeros_like(W_hh), W_hh, W_ih, theta, warp=torch.tanh, **kwargs)

    def to_torch(self) -> nn.RNN:
        """The ``torch.nn.RNN`` equal to this model; needs W_s = 0 and warp tanh (the standard RNN).

        b_ih = theta_s and b_hh = 0, so that b_ih + b_hh = theta_s.
        """
        if self.warp is not torch.tanh:
            raise ValueError("warp: to_torch needs warp=torch.tanh")
        if bool(self.W_s.detach().abs().max() > 0):
            raise ValueError("W_s: to_torch needs W_s = 0 (nn.RNN has no direct state-to-state term)")
        rnn = nn.RNN(self.input_size, self.state_size, batch_first=self.batch_first,
                     dtype=self.W_x.dtype, device=self.W_x.device)
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(self.W_x)
            rnn.weight_hh_l0.copy_(self.W_r)
            rnn.bias_ih_l0.copy_(self.theta_s)
            rnn.bias_hh_l0.zero_()
        return rnn


def _check_model(model):
    if not isinstance(model, CanonicalRNN):
        raise TypeError(f"model: expected a CanonicalRNN, got {type(model).__name__}")
    return model


def _to_layout(model, s, r):
    return (s.transpose(0, 1), r.transpose(0, 1)) if model.batch_first else (s, r)


# ---------------------------------------------------------------------------------------------- Proposition 1
def unit_step(n: torch.Tensor) -> torch.Tensor:
    """u[n] = 1 for n >= 0, 0 for n < 0 (paper Eq. 34), element-wise on an integer tensor of indices."""
    if not isinstance(n, torch.Tensor) or n.is_floating_point() or n.is_complex() or n.dtype == torch.bool:
        raise TypeError(f"n: expected an integer torch.Tensor of indices, got {getattr(n, 'dtype', type(n).__name__)}")
    return (n >= 0).to(torch.int64)


def unit_sample(n: torch.Tensor) -> torch.Tensor:
    """delta[n] = u[n] - u[n-1]: 1 at n = 0, else 0 (paper Eq. 35)."""
    return unit_step(n) - unit_step(n - 1)


def segment_lengths(N: int, K: int | Sequence[int]) -> list[int]:
    """The segment lengths K_m of a sequence of N samples.

    ``K`` is either one int (segments of K samples; the last one shorter if K does not divide N) or the
    list of lengths itself, which must be positive and add up to N (paper Eq. 40: the windows cover
    0 <= n <= N-1 exactly once).
    """
    N = check_int("N", N, minimum=1)
    if isinstance(K, bool):
        raise TypeError("K: expected an int or a list of ints, got bool")
    if isinstance(K, int):
        K = check_int("K", K, minimum=1)
        return [K] * (N // K) + ([N % K] if N % K else [])
    if not isinstance(K, Sequence) or isinstance(K, str):
        raise TypeError(f"K: expected an int or a list of ints, got {type(K).__name__}")
    lengths = [check_int(f"K[{i}]", k, minimum=1) for i, k in enumerate(K)]
    if not lengths or sum(lengths) != N:
        raise ValueError(f"K: expected segment lengths adding up to N={N}, got {list(K)} (sum {sum(lengths)})")
    return lengths


def segment_offsets(K: Sequence[int]) -> list[int]:
    """j(m) = K_0 + ... + K_{m-1}, j(0) = 0 (paper Eq. 42): where segment m starts."""
    if isinstance(K, int | str) or not isinstance(K, Sequence):
        raise TypeError(f"K: expected a list of segment lengths, got {type(K).__name__}")
    lengths = [check_int(f"K[{i}]", k, minimum=1) for i, k in enumerate(K)]
    if not lengths:
        raise ValueError("K: expected at least one segment length")
    offsets, j = [], 0
    for k in lengths:
        offsets.append(j)
        j += k
    return offsets


def segment_windows(K: Sequence[int]) -> torch.Tensor:
    """The rectangular windows w_m[n] = sum_{k=0}^{K_m-1} delta[n - j(m) - k] (paper Eq. 44), shape (M, N).

    N = sum of the K_m. Row m is 1 on j(m) <= n <= j(m) + K_m - 1 and 0 elsewhere, and the rows add up
    to w[n] = u[n] - u[n-N] (paper Eqs. 40-41).
    """
    j = segment_offsets(K)
    N = sum(K)
    n = torch.arange(N)
    return torch.stack([sum(unit_sample(n - jm - k) for k in range(Km)) for jm, Km in zip(j, K, strict=True)])


def run_with_resets(model: CanonicalRNN, x: torch.Tensor, K: int | Sequence[int]):
    """The per-segment system in the original index n (paper Eqs. 61-64), one pass over n = 0 .. N-1.

    s_m[n] = W_r r_m[n-1] + W_x x_m[n] + theta_s (+ W_s s_m[n-1] for the canonical RNN) on
    j(m) <= n <= j(m) + K_m - 1, with s_m[j(m) - 1] = 0 (paper Eq. 63): the state is set to zero before
    the first sample of every segment. The readout before a segment is G(0), the layer's convention
    r[-1] = G(s[-1]); the paper's Eq. 62 sets it to 0, the same thing for tanh (G(0) = 0).
    Returns ``(s, r)`` for the whole sequence, in the model's layout. Compare :func:`run_segments`.
    """
    model = _check_model(model)
    x_tm, _ = model.check_input(x)
    N, B, _ = x_tm.shape
    starts = set(segment_offsets(segment_lengths(N, K)))
    zero = x_tm.new_zeros(B, model.state_size)
    s_prev, states = zero, []
    for n in range(N):
        if n in starts:
            s_prev = zero  # paper Eq. 63
        s_prev = (s_prev @ model.W_s.T + model.warp(s_prev) @ model.W_r.T + x_tm[n] @ model.W_x.T
                  + model.theta_s)  # paper Eq. 61
        states.append(s_prev)
    s = torch.stack(states)
    return _to_layout(model, s, model.warp(s))  # paper Eq. 62


def run_segments(model: CanonicalRNN, x: torch.Tensor, K: int | Sequence[int], s0: torch.Tensor | None = None):
    """The prototype unrolled RNN of Proposition 1 (paper Eqs. 73-77), every segment from a zero state.

    For each segment m: x~_m[n] = x[n + j(m)] for 0 <= n <= K_m - 1 (paper Eq. 76), s~[-1] = 0 (paper
    Eq. 73), then K_m steps of the same cell (paper Eqs. 74-75). Segments of equal length run together
    as one batch (the paper notes they may run concurrently); nothing passes from one segment to
    another, neither state nor gradient. ``K``: see :func:`segment_lengths`. ``s0``: optional initial
    states, one per segment, shape (M, B, d) (paper Eq. 60 allows a random one instead of zero).
    Returns ``(s, r)`` for the whole sequence, segments back in place, in the model's layout.
    """
    model = _check_model(model)
    x_tm, _ = model.check_input(x)
    N, B, m = x_tm.shape
    lengths = segment_lengths(N, K)
    offsets = segment_offsets(lengths)
    M, d = len(lengths), model.state_size
    if s0 is not None:
        s0 = check_tensor("s0", s0, shape=(M, B, d), dtype=x_tm.dtype, device=x_tm.device)
    pieces_s, pieces_r, where = [], [], []
    for L in sorted(set(lengths)):
        idx = [i for i, k in enumerate(lengths) if k == L]
        xs = torch.cat([x_tm[offsets[i]:offsets[i] + L] for i in idx], dim=1)  # (L, len(idx) * B, m)
        init = x_tm.new_zeros(len(idx) * B, d) if s0 is None else torch.cat([s0[i] for i in idx])
        s, r = model.run_time_major(xs, init)
        pieces_s.append(s)
        pieces_r.append(r)
        where.append((L, idx))
    if len(where) == 1:  # all segments of one length: undo the batching with one reshape
        L = lengths[0]
        s_out = pieces_s[0].view(L, M, B, d).transpose(0, 1).reshape(N, B, d)
        r_out = pieces_r[0].view(L, M, B, d).transpose(0, 1).reshape(N, B, d)
    else:
        s_parts, r_parts = [None] * M, [None] * M
        for (_, idx), s, r in zip(where, pieces_s, pieces_r, strict=True):
            for k, i in enumerate(idx):
                s_parts[i], r_parts[i] = s[:, k * B:(k + 1) * B], r[:, k * B:(k + 1) * B]
        s_out, r_out = torch.cat(s_parts), torch.cat(r_parts)
    return _to_layout(model, s_out, r_out)


# ---------------------------------------------------------------------------------------------- beyond the paper
def run_windows(model: CanonicalRNN, x: torch.Tensor, window: int, s0: torch.Tensor | None = None):
    """Consecutive windows of ``window`` steps, each started from the previous window's last state.

    Truncated BPTT, a common practice that is NOT Proposition 1 (the proposition starts every segment
    from zero; carrying the state over is outside it, paper Remark 4). The carried state is detached,
    so the forward pass equals one run over the whole sequence while no gradient crosses a window
    boundary. Returns ``(s, r)`` for the whole sequence, in the model's layout.
    """
    model = _check_model(model)
    window = check_int("window", window, minimum=1)
    x_tm, s_prev = model.check_input(x, s0)
    outs_s, outs_r = [], []
    for start in range(0, x_tm.shape[0], window):
        s, r = model.run_time_major(x_tm[start:start + window], s_prev)
        outs_s.append(s)
        outs_r.append(r)
        s_prev = s[-1].detach()
    return _to_layout(model, torch.cat(outs_s), torch.cat(outs_r))


def window_gradients(model: CanonicalRNN, x: torch.Tensor, window: int) -> dict[str, torch.Tensor]:
    """Full run versus :func:`run_windows` on one input, for the loss E = sum of the entries of r[N-1].

    Returns the states of both runs (``s_full``, ``s_windowed``, time-major), the per-step input-gradient
    norms ||dE/dx[n]|| of both (``grad_full``, ``grad_windowed``, each (N,)), and dE/dW_r of both
    (``W_r_full``, ``W_r_windowed``). Under truncated BPTT the windowed gradient is exactly zero for every
    step before the last window's first step.
    """
    model = _check_model(model)
    window = check_int("window", window, minimum=1)
    model.check_input(x)
    out = {}
    for key, run in (("full", model), ("windowed", lambda x_: run_windows(model, x_, window))):
        x_ = x.detach().clone().requires_grad_()
        s, r = run(x_)
        s_tm, r_tm = _to_layout(model, s, r)
        g_x, g_W_r = torch.autograd.grad(r_tm[-1].sum(), (x_, model.W_r))
        g_x = g_x.transpose(0, 1) if model.batch_first else g_x
        out[f"s_{key}"] = s_tm.detach()
        out[f"grad_{key}"] = g_x.flatten(1).norm(dim=1)
        out[f"W_r_{key}"] = g_W_r
    return out


def _check_delays(W_s_delays, W_r_delays, W_x, theta_s):
    for name, seq in (("W_s_delays", W_s_delays), ("W_r_delays", W_r_delays)):
        if isinstance(seq, torch.Tensor | str) or not isinstance(seq, Sequence):
            raise TypeError(f"{name}: expected a list of (d, d) matrices, got {type(seq).__name__}")
    K = len(W_s_delays)
    if K < 1 or len(W_r_delays) != K:
        raise ValueError(f"W_s_delays: expected K >= 1 matrices and as many in W_r_delays, got {K} and "
                         f"{len(W_r_delays)}")
    W_x = check_tensor("W_x", W_x, ndim=2)
    d = W_x.shape[0]
    check_tensor("theta_s", theta_s, shape=(d,), dtype=W_x.dtype, device=W_x.device)
    for k in range(K):
        check_tensor(f"W_s_delays[{k}]", W_s_delays[k], shape=(d, d), dtype=W_x.dtype, device=W_x.device)
        check_tensor(f"W_r_delays[{k}]", W_r_delays[k], shape=(d, d), dtype=W_x.dtype, device=W_x.device)
    return K, d, W_x.shape[1]


def multi_delay_loop(x, W_s_delays, W_r_delays, W_x, theta_s, warp=torch.tanh):
    """The recurrence with K delays, run directly from a zero history (this book's addition):

    s[n] = sum_k W_s[k] s[n-1-k] + sum_k W_r[k] r[n-1-k] + W_x x[n] + theta_s,  r = G(s),  k = 0 .. K-1.

    ``W_s_delays`` and ``W_r_delays`` are lists of K (d, d) matrices. Returns s, (N, B, d).
    """
    warp = resolve_warp(warp)
    K, d, m = _check_delays(W_s_delays, W_r_delays, W_x, theta_s)
    x = check_tensor("x", x, ndim=3, dtype=W_x.dtype, device=W_x.device)
    if x.shape[2] != m or x.shape[0] < 1:
        raise ValueError(f"x: expected shape (N >= 1, B, m={m}), got {tuple(x.shape)}")
    history = [x.new_zeros(x.shape[1], d) for _ in range(K)]  # s[n-1], s[n-2], ..., s[n-K]
    states = []
    for n in range(x.shape[0]):
        s = x[n] @ W_x.T + theta_s
        for k in range(K):
            s = s + history[k] @ W_s_delays[k].T + warp(history[k]) @ W_r_delays[k].T
        history = [s] + history[:-1]
        states.append(s)
    return torch.stack(states)


def companion_form(W_s_delays, W_r_delays, W_x, theta_s, warp=torch.tanh, **kwargs) -> CanonicalRNN:
    """One canonical RNN equal to the K-delay recurrence of :func:`multi_delay_loop` (this book's addition).

    The stacked state S[n] = (s[n], s[n-1], ..., s[n-K+1]) has size K d and obeys
    S[n] = W_S S[n-1] + W_R G(S[n-1]) + W_X x[n] + Theta with the block "companion" matrices

        W_S = [[W_s[0] W_s[1] ... W_s[K-1]], [I 0 ... 0], [0 I ... 0], ...],
        W_R = [[W_r[0] W_r[1] ... W_r[K-1]], [0 ...], ...],  W_X = [W_x; 0],  Theta = [theta_s; 0].

    The first d entries of the model's state are s[n]. Keyword arguments go to :class:`CanonicalRNN`.
    """
    K, d, m = _check_delays(W_s_delays, W_r_delays, W_x, theta_s)
    W_S = W_x.new_zeros(K * d, K * d)
    W_R = W_x.new_zeros(K * d, K * d)
    W_S[:d] = torch.cat(list(W_s_delays), dim=1)
    W_R[:d] = torch.cat(list(W_r_delays), dim=1)
    W_S[d:, : (K - 1) * d] = torch.eye((K - 1) * d, dtype=W_x.dtype, device=W_x.device)  # shift down
    W_X = torch.cat((W_x, W_x.new_zeros((K - 1) * d, m)))
    Theta = torch.cat((theta_s, theta_s.new_zeros((K - 1) * d)))
    return CanonicalRNN.from_params(W_S, W_R, W_X, Theta, warp=warp, **kwargs)

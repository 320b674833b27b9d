"""The canonical RNN, its explicit unrolling, and stateful windows (chapter ``canonical_rnn``).

The canonical RNN (equations eq:canonical_rnn-state and eq:canonical_rnn-readout in the book) is

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s,        r[n] = G(s[n]),

for n = 0 .. N-1, started from s[-1] = s0 (zero by default) and r[-1] = G(s[-1]).
Sequences are time-major, shape (N, B, features), unless ``batch_first``.

* :class:`CanonicalRNN` runs the recurrence. With ``backward="bptt"`` (the default) it uses the
  hand-derived backward pass of :mod:`lstm_lib.rnn_training`; with ``backward="autograd"`` it runs
  a plain loop and lets autograd differentiate it.
* :meth:`CanonicalRNN.unroll` builds the unrolled feed-forward network: N layers, each a copy of the
  cell F(s, x) = W_s s + W_r G(s) + W_x x + theta_s (eq:canonical_rnn-cell), with tied (shared)
  or untied (copied) parameters.
* :func:`run_windows` processes a long sequence as consecutive windows, carrying the state across the
  boundary and cutting the gradient there (truncated BPTT).
* :func:`companion_form` turns a recurrence with several delays into one canonical RNN on stacked states.
* :func:`explorer` is the chapter's widget: windowed processing, its exact forward pass and its cut gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ._checks import check_choice, check_int, check_positive, check_tensor
from .widgets import Explorer, Param


def identity(s: torch.Tensor) -> torch.Tensor:
    """The identity warp G(s) = s (a linear RNN)."""
    return s


def _d_tanh(s, r):
    return 1.0 - r * r


def _d_sigmoid(s, r):
    return r * (1.0 - r)


def _d_identity(s, r):
    return torch.ones_like(s)


def _d_relu(s, r):
    return (s > 0).to(s.dtype)


# The warps whose derivative G'(s) the hand-derived backward knows, written with r = G(s) at hand.
WARP_DERIVATIVES: dict[Callable, Callable] = {
    torch.tanh: _d_tanh,
    torch.sigmoid: _d_sigmoid,
    identity: _d_identity,
    torch.relu: _d_relu,
}
WARPS_BY_NAME = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": identity, "relu": torch.relu}


def resolve_warp(warp) -> Callable:
    """Turn ``warp`` (a callable, or one of the names in ``WARPS_BY_NAME``) into a callable."""
    if isinstance(warp, str):
        return WARPS_BY_NAME[check_choice("warp", warp, tuple(WARPS_BY_NAME))]
    if not callable(warp):
        raise TypeError(f"warp: expected a callable or one of {', '.join(WARPS_BY_NAME)}, got {type(warp).__name__}")
    return warp


def warp_derivative(warp: Callable) -> Callable:
    """G'(s) as a function of (s, r) for a known warp; a clear error for any other."""
    if warp not in WARP_DERIVATIVES:
        known = ", ".join(f"torch.{f.__name__}" if f is not identity else "identity" for f in WARP_DERIVATIVES)
        raise ValueError(
            f"warp: backward='bptt' needs the warp's derivative, known only for {known}; "
            f"got {getattr(warp, '__name__', warp)!r}. Use backward='autograd' for other warps."
        )
    return WARP_DERIVATIVES[warp]


class CanonicalCell(nn.Module):
    """One layer of the unrolled network: F(s, x) = W_s s + W_r G(s) + W_x x + theta_s (eq:canonical_rnn-cell).

    The cell takes the previous state s = s[n-1] and the input x = x[n], both (B, ·), and returns s[n].
    Its parameters are whatever :class:`~torch.nn.Parameter` objects it is given, so several cells can
    share (tie) the same ones.
    """

    def __init__(self, W_s: nn.Parameter, W_r: nn.Parameter, W_x: nn.Parameter, theta_s: nn.Parameter, warp):
        super().__init__()
        self.W_s, self.W_r, self.W_x, self.theta_s = W_s, W_r, W_x, theta_s
        self.warp = warp

    def extra_repr(self) -> str:
        d, m = self.W_x.shape
        return f"state_size={d}, input_size={m}, warp={getattr(self.warp, '__name__', self.warp)}"

    def forward(self, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return s @ self.W_s.T + self.warp(s) @ self.W_r.T + x @ self.W_x.T + self.theta_s


class UnrolledRNN(nn.Module):
    """The N-layer feed-forward network of the unrolling proposition (prop. canonical_rnn-unrolling).

    ``layers[n]`` maps s[n-1] and x[n] to s[n]; the readout of each layer is r[n] = G(s[n]).
    ``forward(x, s0=None)`` returns ``(s, r)`` like :meth:`CanonicalRNN.forward`.
    """

    def __init__(self, layers: list[CanonicalCell], batch_first: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.batch_first = batch_first

    def forward(self, x: torch.Tensor, s0: torch.Tensor | None = None):
        first = self.layers[0]
        d, m = first.W_x.shape
        x = check_tensor("x", x, ndim=3, dtype=first.W_x.dtype, device=first.W_x.device)
        if self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] != len(self.layers) or x.shape[2] != m:
            raise ValueError(f"x: expected shape (N={len(self.layers)}, B, m={m}) time-major, got {tuple(x.shape)}")
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
    """The canonical RNN (eq:canonical_rnn-state, eq:canonical_rnn-readout).

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s,  r[n] = G(s[n]),  s[-1] = s0,  r[-1] = G(s0).

    Parameters: ``W_s`` (d, d), ``W_r`` (d, d), ``W_x`` (d, m), ``theta_s`` (d,), with d = ``state_size``
    and m = ``input_size``.

    Default initialization: W_r, W_x and theta_s uniform in [-1/sqrt(d), 1/sqrt(d)], as torch.nn.RNN
    draws its weights, and W_s = 0, so a fresh model is the standard RNN (eq:canonical_rnn-standard)
    and its linearisation W_s + W_r has spectral radius about 1/sqrt(3) < 1. Training moves W_s like
    any other parameter.

    ``warp`` is G: ``torch.tanh`` (default), ``torch.sigmoid``, :func:`identity`, ``torch.relu``, one
    of their names, or any element-wise callable with ``backward="autograd"``.
    ``backward="bptt"`` uses the hand-derived backward of :mod:`lstm_lib.rnn_training` (eq:rnn_training-chi,
    eq:rnn_training-psi); ``backward="autograd"`` differentiates a plain Python loop instead.
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
    ):
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.state_size = check_int("state_size", state_size, minimum=1)
        self.warp = resolve_warp(warp)
        self.batch_first = bool(batch_first)
        self.backward = check_choice("backward", backward, ("bptt", "autograd"))
        if self.backward == "bptt":
            warp_derivative(self.warp)
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
        kw = {"dtype": dtype, "device": device}
        d, m = self.state_size, self.input_size
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
            f"batch_first={self.batch_first}, backward={self.backward!r}"
        )

    # ----------------------------------------------------------------------------------- forward
    def check_input(self, x: torch.Tensor, s0: torch.Tensor | None):
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

    def forward(self, x: torch.Tensor, s0: torch.Tensor | None = None):
        """Run eq:canonical_rnn-state and eq:canonical_rnn-readout over x; return ``(s, r)``, each (N, B, d)."""
        x, s_init = self.check_input(x, s0)
        if self.backward == "bptt":
            from .rnn_training import canonical_rnn_bptt

            s, r = canonical_rnn_bptt(x, s_init, self.W_s, self.W_r, self.W_x, self.theta_s, self.warp)
        else:
            s, r = canonical_rnn_loop(x, s_init, self.W_s, self.W_r, self.W_x, self.theta_s, self.warp)
        if self.batch_first:
            s, r = s.transpose(0, 1), r.transpose(0, 1)
        return s, r

    # ----------------------------------------------------------------------------------- unrolling
    def unroll(self, N: int, tied: bool = True) -> UnrolledRNN:
        """The N-layer feed-forward network of the unrolling proposition (eq:canonical_rnn-cell).

        With ``tied=True`` every layer holds the very same Parameter objects as this model, so a
        gradient computed through the unrolled network lands in this model's ``.grad``. With
        ``tied=False`` each layer gets its own copy (same values), so each layer's gradient can be
        read separately; their sum is the tied gradient (the corollary).
        """
        N = check_int("N", N, minimum=1)
        params = (self.W_s, self.W_r, self.W_x, self.theta_s)
        layers = []
        for _ in range(N):
            own = params if tied else tuple(nn.Parameter(p.detach().clone()) for p in params)
            layers.append(CanonicalCell(*own, warp=self.warp))
        return UnrolledRNN(layers, batch_first=self.batch_first)

    # ----------------------------------------------------------------------------------- construction
    @classmethod
    def from_params(cls, W_s, W_r, W_x, theta_s, warp=torch.tanh, **kwargs) -> CanonicalRNN:
        """A model holding copies of the given (W_s, W_r, W_x, theta_s)."""
        W_x = check_tensor("W_x", W_x, ndim=2)
        d, m = W_x.shape
        check_tensor("W_s", W_s, shape=(d, d), dtype=W_x.dtype)
        check_tensor("W_r", W_r, shape=(d, d), dtype=W_x.dtype)
        check_tensor("theta_s", theta_s, shape=(d,), dtype=W_x.dtype)
        kwargs.setdefault("dtype", W_x.dtype)
        kwargs.setdefault("device", W_x.device)
        model = cls(m, d, warp=warp, **kwargs)
        with torch.no_grad():
            for name, value in (("W_s", W_s), ("W_r", W_r), ("W_x", W_x), ("theta_s", theta_s)):
                getattr(model, name).copy_(value)
        return model

    @classmethod
    def from_continuous(cls, A, B, C, phi, dt, method: str = "backward", warp=torch.tanh, **kwargs) -> CanonicalRNN:
        """Discretize ds/dt = A s + B r(t - dT) + C x + phi (eq:discretization-...) into a canonical RNN.

        Calls :func:`lstm_lib.discretization.discretize`, which gives W_s = (I - dT A)^-1,
        W_r = dT W_s B, W_x = dT W_s C, theta_s = dT W_s phi for ``method="backward"``.
        """
        from .discretization import discretize

        check_positive("dt", dt)
        p = discretize(A, B, C, phi, dt, method=method)
        return cls.from_params(p.W_s, p.W_r, p.W_x, p.theta_s, warp=warp, **kwargs)

    @classmethod
    def from_torch(cls, rnn: nn.RNN, **kwargs) -> CanonicalRNN:
        """The canonical RNN equal to a one-layer tanh ``torch.nn.RNN`` (eq:canonical_rnn-torch).

        nn.RNN's h_t is our r[n]: W_s = 0, W_r = W_hh, W_x = W_ih, theta_s = b_ih + b_hh.
        """
        if not isinstance(rnn, nn.RNN):
            raise TypeError(f"rnn: expected a torch.nn.RNN, got {type(rnn).__name__}")
        if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh":
            raise ValueError("rnn: expected a one-layer, one-directional nn.RNN with nonlinearity='tanh'")
        W_ih, W_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
        theta = rnn.bias_ih_l0.detach() + rnn.bias_hh_l0.detach() if rnn.bias else W_ih.new_zeros(W_ih.shape[0])
        kwargs.setdefault("batch_first", rnn.batch_first)
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


def canonical_rnn_loop(x, s_init, W_s, W_r, W_x, theta_s, warp):
    """eq:canonical_rnn-state as a readable loop that autograd differentiates (``backward="autograd"``).

    The input terms W_x x[n] + theta_s of all steps are one matmul; the loop carries only the recurrence.
    """
    N, B, m = x.shape
    u = torch.addmm(theta_s, x.reshape(N * B, m), W_x.T).view(N, B, -1)
    s_prev, r_prev = s_init, warp(s_init)
    states = []
    for n in range(N):
        s_prev = u[n] + s_prev @ W_s.T + r_prev @ W_r.T
        r_prev = warp(s_prev)
        states.append(s_prev)
    s = torch.stack(states)
    return s, warp(s)


def run_windows(model: CanonicalRNN, x: torch.Tensor, window: int, s0: torch.Tensor | None = None):
    """Process a long sequence as consecutive windows of ``window`` steps (truncated BPTT, eq:canonical_rnn-windows).

    Each window starts from the previous window's last state s[-1], detached, so the forward pass
    equals one run over the whole sequence while no gradient crosses a window boundary.
    Returns ``(s, r)`` for the whole sequence, in the model's layout.
    """
    if not isinstance(model, CanonicalRNN):
        raise TypeError(f"model: expected a CanonicalRNN, got {type(model).__name__}")
    window = check_int("window", window, minimum=1)
    x_tm, s_prev = model.check_input(x, s0)
    outs_s, outs_r = [], []
    for start in range(0, x_tm.shape[0], window):
        chunk = x_tm[start:start + window]
        if model.batch_first:
            chunk = chunk.transpose(0, 1)
        s, r = model(chunk, s_prev)
        s_tm, r_tm = (s.transpose(0, 1), r.transpose(0, 1)) if model.batch_first else (s, r)
        outs_s.append(s_tm)
        outs_r.append(r_tm)
        s_prev = s_tm[-1].detach()
    s, r = torch.cat(outs_s), torch.cat(outs_r)
    if model.batch_first:
        s, r = s.transpose(0, 1), r.transpose(0, 1)
    return s, r


def multi_delay_loop(x, W_s_delays, W_r_delays, W_x, theta_s, warp=torch.tanh):
    """The recurrence with K delays, eq:canonical_rnn-delays, run directly from a zero history:

    s[n] = sum_k W_s[k] s[n-1-k] + sum_k W_r[k] r[n-1-k] + W_x x[n] + theta_s,  r = G(s),  k = 0 .. K-1.

    ``W_s_delays`` and ``W_r_delays`` are lists of K (d, d) matrices. Returns s, (N, B, d).
    """
    warp = resolve_warp(warp)
    K = len(W_s_delays)
    if K < 1 or len(W_r_delays) != K:
        raise ValueError("W_s_delays: expected K >= 1 matrices, and as many in W_r_delays")
    d = W_x.shape[0]
    x = check_tensor("x", x, ndim=3, dtype=W_x.dtype)
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
    """One canonical RNN equal to the K-delay recurrence (eq:canonical_rnn-companion).

    The stacked state S[n] = (s[n], s[n-1], ..., s[n-K+1]) has size K d and obeys
    S[n] = W_S S[n-1] + W_R G(S[n-1]) + W_X x[n] + Theta with the block "companion" matrices

        W_S = [[W_s[0] W_s[1] ... W_s[K-1]], [I 0 ... 0], [0 I ... 0], ...],
        W_R = [[W_r[0] W_r[1] ... W_r[K-1]], [0 ...], ...],  W_X = [W_x; 0],  Theta = [theta_s; 0].

    The first d entries of the model's state are s[n].
    """
    K = len(W_s_delays)
    if K < 1 or len(W_r_delays) != K:
        raise ValueError("W_s_delays: expected K >= 1 matrices, and as many in W_r_delays")
    W_x = check_tensor("W_x", W_x, ndim=2)
    d, m = W_x.shape
    for k in range(K):
        check_tensor(f"W_s_delays[{k}]", W_s_delays[k], shape=(d, d), dtype=W_x.dtype)
        check_tensor(f"W_r_delays[{k}]", W_r_delays[k], shape=(d, d), dtype=W_x.dtype)
    W_S = W_x.new_zeros(K * d, K * d)
    W_R = W_x.new_zeros(K * d, K * d)
    W_S[:d] = torch.cat(list(W_s_delays), dim=1)
    W_R[:d] = torch.cat(list(W_r_delays), dim=1)
    W_S[d:, : (K - 1) * d] = torch.eye((K - 1) * d, dtype=W_x.dtype, device=W_x.device)  # shift down
    W_X = torch.cat((W_x, W_x.new_zeros((K - 1) * d, m)))
    Theta = torch.cat((theta_s, theta_s.new_zeros((K - 1) * d)))
    return CanonicalRNN.from_params(W_S, W_R, W_X, Theta, warp=warp, **kwargs)


def draw_unrolled(N: int = 4, ax=None, tied: bool = True):
    """Draw the unrolled network of prop. canonical_rnn-unrolling: N boxes F, each fed by x[n] from below,
    chained by s[n-1] -> s[n], with the readouts r[n] = G(s[n]) on top; tied weights labelled. Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    N = check_int("N", N, minimum=1, maximum=12)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.9 * N + 1.6, 3.2))
    gap, w, h = 1.9, 1.1, 0.9

    def arrow(p, q, **kw):
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=12, lw=1.2, color="0.2", **kw))

    for n in range(N):
        cx = 1.2 + gap * n
        ax.add_patch(FancyBboxPatch((cx - w / 2, -h / 2), w, h, boxstyle="round,pad=0.05", fc="#dbe8f6", ec="#2b5d8a"))
        ax.text(cx, 0.12, "F", ha="center", va="center", fontsize=13, weight="bold")
        label = r"$W_s, W_r, W_x, \theta_s$" if tied else rf"$W_s^{{({n})}}, W_r^{{({n})}}, \ldots$"
        ax.text(cx, -0.2, label, ha="center", va="center", fontsize=7)
        ax.text(cx, -1.45, f"$x[{n}]$", ha="center", va="center", fontsize=11)
        arrow((cx, -1.25), (cx, -h / 2 - 0.06))
        ax.text(cx, 1.55, f"$r[{n}] = G(s[{n}])$", ha="center", va="center", fontsize=9)
        arrow((cx, h / 2 + 0.06), (cx, 1.35))
        src = cx - gap + w / 2 + 0.06 if n else 0.05
        arrow((src, 0), (cx - w / 2 - 0.06, 0))
        ax.text((src + cx - w / 2) / 2, 0.16, f"$s[{n - 1}]$", ha="center", va="bottom", fontsize=9)
    last = 1.2 + gap * (N - 1) + w / 2 + 0.06
    arrow((last, 0), (last + 0.7, 0))
    ax.text(last + 0.35, 0.16, f"$s[{N - 1}]$", ha="center", va="bottom", fontsize=9)
    note = r"parameters tied: every layer holds the same $W_s, W_r, W_x, \theta_s$" if tied else "parameters untied"
    ax.text(0.05, -2.0, note, fontsize=8, color="0.3", va="center")
    ax.set_xlim(-0.1, last + 0.9)
    ax.set_ylim(-2.2, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def window_gradients(model: CanonicalRNN, x: torch.Tensor, window: int) -> dict[str, torch.Tensor]:
    """Full run versus :func:`run_windows` (eq:canonical_rnn-windows) on one sequence, for the loss E = sum of r[N-1].

    Returns the states of both runs (``s_full``, ``s_windowed``), the per-step input-gradient norms
    ||dE/dx[n]|| of both (``grad_full``, ``grad_windowed``, each (N,)), and dE/dW_r of both
    (``W_r_full``, ``W_r_windowed``). Under truncated BPTT the windowed gradient is exactly zero for every
    step before the last window's first step.
    """
    if not isinstance(model, CanonicalRNN):
        raise TypeError(f"model: expected a CanonicalRNN, got {type(model).__name__}")
    out = {}
    for key, run in (("full", model), ("windowed", lambda x_: run_windows(model, x_, window))):
        x_ = x.detach().clone().requires_grad_()
        s, r = run(x_)
        s_tm, r_tm = (s.transpose(0, 1), r.transpose(0, 1)) if model.batch_first else (s, r)
        g_x, g_W_r = torch.autograd.grad(r_tm[-1].sum(), (x_, model.W_r))
        g_x = g_x.transpose(0, 1) if model.batch_first else g_x
        out[f"s_{key}"] = s_tm.detach()
        out[f"grad_{key}"] = g_x.flatten(1).norm(dim=1)
        out[f"W_r_{key}"] = g_W_r
    return out


def explorer(N: int = 24, seed: int = 0) -> Explorer:
    """Widget for eq:canonical_rnn-windows: window length T and a leak W_s = w_s I against the full run.

    Left: one state component of the full run and of the windowed run (they coincide, the state crosses
    every boundary). Right: ||dE/dx[n]|| for a loss on the last step, full BPTT against truncated BPTT.
    """
    N = check_int("N", N, minimum=2, maximum=200)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CanonicalRNN(2, 4, dtype=torch.float64)
        x = torch.randn(N, 1, 2, dtype=torch.float64)
    eye = torch.eye(model.state_size, dtype=torch.float64)

    def compute(window, w_s):
        with torch.no_grad():
            model.W_s.copy_(w_s * eye)
        g = window_gradients(model, x, window)
        W_r_err = (g["W_r_windowed"] - g["W_r_full"]).norm() / g["W_r_full"].norm()
        return {
            "s_full": g["s_full"][:, 0, 0].numpy(), "s_windowed": g["s_windowed"][:, 0, 0].numpy(),
            "forward_diff": (g["s_windowed"] - g["s_full"]).abs().max().item(),
            "grad_full": g["grad_full"].numpy(), "grad_windowed": g["grad_windowed"].numpy(),
            "last_start": (N - 1) // window * window, "W_r_rel_err": W_r_err.item(),
        }

    def draw(fig, data, window, w_s):
        import numpy as np

        ax1, ax2 = fig.subplots(1, 2)
        n = np.arange(N)
        for ax in (ax1, ax2):
            for b in range(window, N, window):
                ax.axvline(b - 0.5, color="0.6", lw=0.8, ls="--")
        ax1.plot(n, data["s_full"], "k-", lw=1.5, label="full run")
        ax1.plot(n, data["s_windowed"], "o", color="C1", ms=4, label="windows, state carried")
        ax1.set(xlabel="step n", ylabel="$s_1[n]$")
        ax1.set_title(f"max |s_windowed - s_full| = {data['forward_diff']:.1e}", fontsize=9)
        ax1.legend(fontsize=8, loc="best")
        floor = 1e-10
        ax2.semilogy(n, np.maximum(data["grad_full"], floor), "k.-", lw=1.2, label="full BPTT")
        gw = data["grad_windowed"]
        ax2.bar(n, np.where(gw > 0, gw, 0.0), bottom=0, color="C1", alpha=0.6, label="truncated BPTT")
        zero = gw == 0
        ax2.plot(n[zero], np.full(zero.sum(), floor * 3), "x", color="C3", ms=5, label="exactly 0")
        ax2.set_ylim(floor, 10)
        ax2.set(xlabel="step n (loss on r[N-1])", ylabel="||dE/dx[n]||")
        ax2.set_title(f"window T = {window}, W_s = {w_s:.2f} I: dE/dW_r off by {100 * data['W_r_rel_err']:.1f}%",
                      fontsize=9)
        ax2.legend(fontsize=8, loc="upper left")

    params = {
        "window": Param(1, N, 1, min(8, N), "window length T", integer=True),
        "w_s": Param(0.0, 0.9, 0.05, 0.5, "leak W_s = w_s I"),
    }
    return Explorer(compute, draw, params, scrub="window", frames=12, figsize=(9.0, 3.5))

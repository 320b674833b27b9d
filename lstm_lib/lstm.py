"""The one LSTM layer of the library: the augmented LSTM of the paper with its switches, and the
vanilla LSTM as its configuration with every switch off.

:class:`AugmentedLSTM` runs paper Eqs. 196-214 over a sequence (and its backward pass, Eqs. 216-250,
with errata E6 and E11 corrected); :class:`VanillaLSTM` is the same layer with ``context=1``, no
projection and no input gate, which is exactly paper Eqs. 126-136 (and Eqs. 139-172 backward). Both
keep their parameters stacked (block order in :mod:`lstm_lib._gates`) and expose every parameter
under the paper's name as a view that reads and writes the stacked tensor.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import (
    check_bool,
    check_choice,
    check_device,
    check_dtype,
    check_int,
    check_real,
    check_tensor,
)
from ._gates import GATE_NAMES, STATE_WEIGHTS, Layout
from ._lstm_recurrence import Weights, lstm_sequence


def _named_view(kind: str, gate: str):
    """A read/write attribute: ``gate``'s block of the stacked parameter of ``kind``.

    kind: "W_x" (input taps), "W_v" (value), "b" (bias), "W_s" (full state weights), "w_s" (diagonal
    state weights).
    """
    name = {"W_x": f"W_x{gate}", "W_v": f"W_v{gate}", "b": f"b_{gate}", "W_s": f"W_s{gate}",
            "w_s": f"w_s{gate}"}[kind]

    def get(self):
        return self._block_view(kind, gate)

    def set(self, value):
        view = self._block_view(kind, gate)
        if view is None:
            raise AttributeError(self._absent_reason(kind, gate, name))
        value = torch.as_tensor(value, dtype=view.dtype, device=view.device)
        check_tensor(name, value, shape=tuple(view.shape))
        with torch.no_grad():
            view.copy_(value)

    what = {"W_x": "input", "W_v": "value v[n-1]", "b": "bias", "W_s": "state (full matrix)",
            "w_s": "state (diagonal, as a vector)"}[kind]
    return property(get, set, doc=f"{name}: {what} weights of the {GATE_NAMES[gate]}")


class AugmentedLSTM(nn.Module):
    r"""The augmented LSTM (paper Section VII, Eqs. 196-214) over a sequence.

    For n = 0 .. N-1, from v[-1] = v0 and s[-1] = s0 (zeros by default)::

        xi_..[n] = sum_{l=0}^{L-1} W_x..[l] x[n+l]                 (Eqs. 196-208; x = 0 past the end)
        a_cu = xi_xcu + W_scu s[n-1] + W_vcu v[n-1] + b_cu          (Eq. 197)   g_cu = G_c(a_cu)
        a_cs = xi_xcs + W_scs s[n-1] + W_vcs v[n-1] + b_cs          (Eq. 200)   g_cs = G_c(a_cs)
        a_cx = xi_xcx + W_scx s[n-1] + W_vcx v[n-1] + b_cx          (Eq. 206)   g_cx = G_c(a_cx)
        a_du = g_cx * xi_xdu + W_vdu v[n-1] + b_du                  (Eq. 209)   u = G_d(a_du)
        s[n] = g_cs * s[n-1] + g_cu * u                             (Eq. 211)
        a_cr = xi_xcr + W_scr s[n] + W_vcr v[n-1] + b_cr            (Eq. 203)   g_cr = G_c(a_cr)
        q[n] = g_cr * G_d(s[n])                                     (Eqs. 212-213)
        v[n] = W_qdr q[n]                                           (Eq. 214)

    G_c is the logistic sigmoid, G_d is tanh, ``*`` the element-wise product.

    Switches (each a change to these equations):

    * ``context=L``: L taps per input filter, the present sample and L-1 future ones (Eq. 188). Past
      the end of the sequence x is taken to be zero (the book's reading; the paper does not say).
      ``context=1``: xi_.. = W_x.. x[n].
    * ``proj_size=d_v`` (0 < d_v < d_s): the recurrent projection (Eqs. 189-190); ``proj_size=0``: no
      W_qdr, v[n] = q[n] and d_v = d_s.
    * ``input_gate=True``: the control input gate g_cx (Eqs. 191-195); False: g_cx = 1, no cx block.
    * ``state_weights``: "full" (d_s x d_s matrices W_sc., the paper's "pinhole connections"),
      "diagonal" (vectors w_sc., the peepholes of Gers et al. and ONNX), or None (no state-to-gate
      terms, as torch.nn.LSTM).

    Args:
        input_size: d_x. hidden_size: d_s. batch_first: x and v as (B, N, .) instead of (N, B, .).
        backward: "bptt" (the hand-derived backward, compiled on the CPU) or "autograd" (autograd
            through a plain loop; slower, for checking).
        clip_alpha: None, or c > 0: clip every accumulation derivative alpha to [-c, c] where it is
            formed in the backward pass (paper fn 25). The gradient is then no longer exact.
        dtype: torch.float32 (default) or torch.float64. device: where the parameters live.

    Shapes: ``forward(x, state=None)`` with x (N, B, d_x) (or (B, N, d_x)), state = (v0 (B, d_v), s0
    (B, d_s)); returns ``(v, (v[N-1], s[N-1]))``, v (N, B, d_v) (or (B, N, d_v)).

    Parameters (stacked, G = 4 accumulations (cr, cs, cu, du), 5 with the input gate (cr, cs, cu, cx,
    du)): ``W_x`` (G d_s, L d_x), ``W_v`` (G d_s, d_v), ``b`` (G d_s), ``W_s`` ((G-1) d_s, d_s) or
    ``w_s`` ((G-1) d_s) in the order (cr, cs, cu, [cx]), ``W_qdr`` (d_v, d_s). Each block is readable
    and writable by the paper's name: ``W_xcs`` (L, d_s, d_x), ``W_vcs`` (d_s, d_v), ``b_cs`` (d_s),
    ``W_scs`` (d_s, d_s) or ``w_scs`` (d_s), ``W_qdr``; likewise for cu, cr, du and cx.
    :meth:`paper_params` returns all of them, with the state weights always as matrices.

    Example::

        >>> lstm = AugmentedLSTM(8, 32, context=3, proj_size=16, input_gate=True)
        >>> v, (v_last, s_last) = lstm(torch.randn(50, 4, 8))
        >>> v.shape, s_last.shape
        (torch.Size([50, 4, 16]), torch.Size([4, 32]))
    """

    _vanilla = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        proj_size: int = 0,
        context: int = 1,
        input_gate: bool = False,
        state_weights: str | None = "full",
        batch_first: bool = False,
        backward: str = "bptt",
        clip_alpha: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        d = check_int("hidden_size", hidden_size, minimum=1)
        m = check_int("input_size", input_size, minimum=1)
        p = check_int("proj_size", proj_size, minimum=0)
        if p >= d:
            raise ValueError(f"proj_size: expected 0 (no projection) or an int < hidden_size={d}, got {p}")
        L = check_int("context", context, minimum=1)
        self.layout = Layout(m, d, p, L, check_bool("input_gate", input_gate),
                             check_choice("state_weights", state_weights, STATE_WEIGHTS))
        self.batch_first = check_bool("batch_first", batch_first)
        self.backward = check_choice("backward", backward, ("bptt", "autograd"))
        if clip_alpha is not None:
            clip_alpha = check_real("clip_alpha", clip_alpha)
            if clip_alpha <= 0:
                raise ValueError(f"clip_alpha: expected None or a number > 0, got {clip_alpha!r}")
        self.clip_alpha = clip_alpha
        f = {"dtype": check_dtype("dtype", dtype), "device": check_device("device", device)}
        lay = self.layout
        G = lay.n_blocks
        self.W_x = nn.Parameter(torch.empty(G * d, L * m, **f))
        self.W_v = nn.Parameter(torch.empty(G * d, lay.value_size, **f))
        self.b = nn.Parameter(torch.empty(G * d, **f))
        self.W_s = nn.Parameter(torch.empty((G - 1) * d, d, **f)) if lay.state_weights == "full" else None
        self.w_s = nn.Parameter(torch.empty((G - 1) * d, **f)) if lay.state_weights == "diagonal" else None
        self.W_qdr = nn.Parameter(torch.empty(p, d, **f)) if p else None
        self.reset_parameters()

    # ---- sizes and switches ------------------------------------------------------------------------

    input_size = property(lambda self: self.layout.input_size, doc="d_x")
    hidden_size = property(lambda self: self.layout.hidden_size, doc="d_s")
    proj_size = property(lambda self: self.layout.proj_size, doc="d_v, or 0 without projection")
    context = property(lambda self: self.layout.context, doc="L, the taps of each input filter")
    input_gate = property(lambda self: self.layout.input_gate, doc="whether the control input gate g_cx exists")
    state_weights = property(lambda self: self.layout.state_weights, doc='"full", "diagonal" or None')
    value_size = property(lambda self: self.layout.value_size, doc="d_v: the size of v[n]")

    def reset_parameters(self) -> None:
        """Every parameter uniform in (-1/sqrt(d_s), 1/sqrt(d_s)), as torch.nn.LSTM initialises its own."""
        k = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def extra_repr(self) -> str:
        lay = self.layout
        parts = [f"{lay.input_size}, {lay.hidden_size}"]
        if not self._vanilla:
            parts += [f"proj_size={lay.proj_size}", f"context={lay.context}", f"input_gate={lay.input_gate}"]
        parts += [f"state_weights={lay.state_weights!r}", f"batch_first={self.batch_first}",
                  f"backward={self.backward!r}"]
        if self.clip_alpha is not None:
            parts.append(f"clip_alpha={self.clip_alpha}")
        return ", ".join(parts)

    # ---- the paper's names ----------------------------------------------------------------------------

    def __setattr__(self, name, value):
        # W_qdr is a parameter of its own; assigning a plain tensor to it writes the values (like the
        # other names of the paper), instead of nn.Module's error.
        if name == "W_qdr" and isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            current = self._parameters.get("W_qdr")
            if current is None:
                raise AttributeError("W_qdr: this layer has no projection; create it with proj_size > 0")
            value = value.to(dtype=current.dtype, device=current.device)
            check_tensor("W_qdr", value, shape=tuple(current.shape))
            with torch.no_grad():
                current.copy_(value)
            return
        super().__setattr__(name, value)

    def _block_view(self, kind: str, gate: str):
        lay = self.layout
        if gate not in lay.gates:
            return None
        if kind == "W_x":
            block = self.W_x[lay.block(gate)]
            if self._vanilla:
                return block
            return block.view(lay.hidden_size, lay.context, lay.input_size).transpose(0, 1)
        if kind in ("W_v", "b"):
            return getattr(self, kind)[lay.block(gate)]
        if gate == "du":
            return None  # the data update has no state-to-gate term (Eq. 209)
        stack = self.W_s if kind == "W_s" else self.w_s
        return None if stack is None else stack[lay.state_block(gate)]

    def _absent_reason(self, kind: str, gate: str, name: str) -> str:
        if gate not in self.layout.gates:
            return f"{name}: this layer has no control input gate; create it with input_gate=True"
        if gate == "du":
            return f"{name}: the data update has no state-to-gate weights (paper Eq. 209)"
        want = "full" if kind == "W_s" else "diagonal"
        return (f"{name}: this layer has state_weights={self.layout.state_weights!r}; "
                f"create it with state_weights={want!r} to have {name}")

    def paper_params(self) -> dict[str, torch.Tensor]:
        """Every parameter by the paper's name (Eq. 215; for the vanilla layer Eq. 123).

        The input weights ``W_x..`` are (L, d_s, d_x) (the vanilla layer: (d_s, d_x)), ``W_v..``
        (d_s, d_v), ``b_..`` (d_s); the state weights ``W_s..`` are ALWAYS (d_s, d_s) matrices: views
        of the full ones, diagonal matrices built from the diagonal ones, zeros when there are none
        (so code written from the paper runs on any layer; only the full ones write through).
        ``W_qdr`` is the projection, or the identity when there is none (the augmented layer only).
        """
        lay, d = self.layout, self.hidden_size
        p = {}
        for g in lay.gates:
            p[f"W_x{g}"] = self._block_view("W_x", g)
            p[f"W_v{g}"] = self._block_view("W_v", g)
            p[f"b_{g}"] = self._block_view("b", g)
        for g in lay.state_gates:
            if lay.state_weights == "full":
                p[f"W_s{g}"] = self._block_view("W_s", g)
            elif lay.state_weights == "diagonal":
                p[f"W_s{g}"] = torch.diag(self._block_view("w_s", g))
            else:
                p[f"W_s{g}"] = self.b.new_zeros(d, d)
        if not self._vanilla:
            p["W_qdr"] = self.W_qdr if self.W_qdr is not None else torch.eye(d, dtype=self.b.dtype,
                                                                                 device=self.b.device)
        return p

    def paper_grads(self) -> dict[str, torch.Tensor | None]:
        """The gradients (``.grad``) of every stored parameter by the paper's name, in the stored shapes
        (``w_s..`` vectors for diagonal state weights); None before a backward pass."""
        lay = self.layout
        out = {}

        def grad_block(param, rows, shape=None):
            if param is None or param.grad is None:
                return None
            g = param.grad[rows]
            return g if shape is None else g.view(*shape).transpose(0, 1)

        for g in lay.gates:
            x_shape = None if self._vanilla else (lay.hidden_size, lay.context, lay.input_size)
            out[f"W_x{g}"] = grad_block(self.W_x, lay.block(g), x_shape)
            out[f"W_v{g}"] = grad_block(self.W_v, lay.block(g))
            out[f"b_{g}"] = grad_block(self.b, lay.block(g))
        for g in lay.state_gates:
            if lay.state_weights == "full":
                out[f"W_s{g}"] = grad_block(self.W_s, lay.state_block(g))
            elif lay.state_weights == "diagonal":
                out[f"w_s{g}"] = grad_block(self.w_s, lay.state_block(g))
        if self.W_qdr is not None:
            out["W_qdr"] = None if self.W_qdr.grad is None else self.W_qdr.grad
        return out

    # ---- forward ----------------------------------------------------------------------------------------

    def _weights(self) -> Weights:
        W_s = self.W_s if self.W_s is not None else self.w_s
        return Weights(self.W_x, self.b, self.W_v, W_s, self.W_qdr)

    def _check_input(self, x) -> torch.Tensor:
        """Check ``x`` and return it time-major (N, B, d_x)."""
        W = self.W_x
        check_tensor("x", x, ndim=3, dtype=W.dtype, device=W.device)
        layout = "(B, N, input_size)" if self.batch_first else "(N, B, input_size)"
        if x.shape[2] != self.input_size:
            raise ValueError(f"x: expected shape {layout} with input_size={self.input_size}, got {tuple(x.shape)}")
        if self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"x: expected at least one step and one sequence, got shape {tuple(x.shape)}")
        return x

    def _initial_state(self, x, state):
        B, d, dv = x.shape[1], self.hidden_size, self.value_size
        if state is None:
            return x.new_zeros(B, dv), x.new_zeros(B, d)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"state: expected a pair (v0, s0) of tensors of shapes (B, {dv}) and (B, {d}), "
                             f"got {type(state).__name__}")
        W = self.W_x
        v0 = check_tensor("state[0] (v0)", state[0], shape=(B, dv), dtype=W.dtype, device=W.device)
        s0 = check_tensor("state[1] (s0)", state[1], shape=(B, d), dtype=W.dtype, device=W.device)
        return v0, s0

    def forward(self, x, state=None):
        """Run the layer on ``x``; returns ``(v, (v[N-1], s[N-1]))`` (see the class docstring)."""
        x = self._check_input(x)
        v0, s0 = self._initial_state(x, state)
        v, s_last = lstm_sequence(x, self._weights(), v0, s0, self.layout, backward=self.backward,
                                  clip=self.clip_alpha)
        v_last = v[-1]
        if self.batch_first:
            v = v.transpose(0, 1)
        return v, (v_last, s_last)

    # ---- interoperability with torch.nn.LSTM -----------------------------------------------------------

    @classmethod
    def _check_torch(cls, lstm) -> None:
        if not isinstance(lstm, nn.LSTM):
            raise TypeError(f"lstm: expected a torch.nn.LSTM, got {type(lstm).__name__}")
        if lstm.num_layers != 1:
            raise ValueError(f"lstm: expected num_layers=1, got {lstm.num_layers} (stack layers instead)")
        if lstm.bidirectional:
            raise ValueError("lstm: expected a unidirectional LSTM, got bidirectional=True "
                             "(see lstm_lib.Bidirectional)")

    @classmethod
    def from_torch(cls, lstm: nn.LSTM, *, state_weights: str | None = None, **kwargs):
        """The layer computing what the one-layer, one-directional ``lstm`` computes (copied weights).

        b = b_ih + b_hh; torch's (i, f, g, o) blocks become (cu, cs, du, cr); with ``proj_size`` its
        W_hr becomes W_qdr. ``state_weights`` "full" or "diagonal" adds state-to-gate weights that
        start at zero (the same function, now trainable). ``batch_first``, dtype and device are
        copied; other keyword arguments go to the constructor.
        """
        cls._check_torch(lstm)
        w_ih = lstm.weight_ih_l0
        extra = {} if cls._vanilla else {"proj_size": lstm.proj_size}
        if cls._vanilla and lstm.proj_size:
            raise ValueError(f"lstm: has proj_size={lstm.proj_size}; the vanilla LSTM has no projection "
                             "(use AugmentedLSTM.from_torch)")
        model = cls(lstm.input_size, lstm.hidden_size, state_weights=state_weights, batch_first=lstm.batch_first,
                    dtype=w_ih.dtype, device=w_ih.device, **extra, **kwargs)
        order = model.layout.from_torch_permutation()
        with torch.no_grad():
            model.W_x.copy_(w_ih[order])
            model.W_v.copy_(lstm.weight_hh_l0[order])
            model.b.copy_((lstm.bias_ih_l0 + lstm.bias_hh_l0)[order] if lstm.bias else 0.0)
            for p in (model.W_s, model.w_s):
                if p is not None:
                    p.zero_()
            if lstm.proj_size:
                model.W_qdr.copy_(lstm.weight_hr_l0)
        return model

    def to_torch(self) -> nn.LSTM:
        """The torch.nn.LSTM computing what this layer computes: needs context=1, no input gate, and
        state-to-gate weights absent or zero (torch.nn.LSTM has none)."""
        lay = self.layout
        if lay.context != 1:
            raise ValueError(f"context: torch.nn.LSTM has no context windows, this layer has context={lay.context}")
        if lay.input_gate:
            raise ValueError("input_gate: torch.nn.LSTM has no control input gate g_cx")
        for name, p in (("W_s", self.W_s), ("w_s", self.w_s)):
            if p is not None and bool((p != 0).any()):
                raise ValueError(f"{name}: torch.nn.LSTM has no state-to-gate weights, but some are non-zero")
        W = self.W_x
        lstm = nn.LSTM(lay.input_size, lay.hidden_size, proj_size=lay.proj_size, batch_first=self.batch_first,
                       dtype=W.dtype, device=W.device)
        order = lay.torch_permutation()
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(self.W_x[order])
            lstm.weight_hh_l0.copy_(self.W_v[order])
            lstm.bias_ih_l0.copy_(self.b[order])
            lstm.bias_hh_l0.zero_()
            if lay.proj_size:
                lstm.weight_hr_l0.copy_(self.W_qdr)
        return lstm


class VanillaLSTM(AugmentedLSTM):
    r"""The vanilla LSTM (paper Section VI, Eqs. 126-136) over a sequence: :class:`AugmentedLSTM` with
    ``context=1``, no projection and no input gate.

    For n = 0 .. N-1, from v[-1] = v0 and s[-1] = s0 (zeros by default)::

        a_cu[n] = W_xcu x[n] + W_scu s[n-1] + W_vcu v[n-1] + b_cu    (Eq. 126)
        a_cs[n] = W_xcs x[n] + W_scs s[n-1] + W_vcs v[n-1] + b_cs    (Eq. 127)
        a_cr[n] = W_xcr x[n] + W_scr s[n]   + W_vcr v[n-1] + b_cr    (Eq. 128)
        a_du[n] = W_xdu x[n]                + W_vdu v[n-1] + b_du    (Eq. 129)
        u = G_d(a_du), g_cu = G_c(a_cu), g_cs = G_c(a_cs), g_cr = G_c(a_cr)   (Eqs. 130-133)
        s[n] = g_cs * s[n-1] + g_cu * u                              (Eq. 134)
        v[n] = g_cr * G_d(s[n])                                      (Eqs. 135-136)

    ``state_weights``: "full" (the paper's d x d matrices, the default), "diagonal" (Gers' and ONNX's
    peepholes, stored as vectors ``w_scs, w_scu, w_scr``), or None (torch.nn.LSTM's cell). Parameters:
    ``W_x`` (4d, d_x), ``W_v`` (4d, d), ``b`` (4d,) stacked as (cr, cs, cu, du), ``W_s`` (3d, d) or
    ``w_s`` (3d,) stacked as (cr, cs, cu); the paper's names ``W_xcs`` (d, d_x), ``W_vcs`` (d, d),
    ``b_cs``, ``W_scs`` (d, d) or ``w_scs`` (d,) ... read and write those blocks.

    ``forward(x, state=None)``: x (N, B, d_x) (or (B, N, d_x) with ``batch_first``), state = (v0, s0),
    each (B, d); returns ``(v, (v[N-1], s[N-1]))``.

    Example::

        >>> lstm = VanillaLSTM(8, 16)                      # full state weights, as in the paper
        >>> v, (v_last, s_last) = lstm(torch.randn(50, 4, 8))
        >>> lstm.b_cs = torch.ones(16)                     # the control state gate's bias
    """

    _vanilla = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        state_weights: str | None = "full",
        batch_first: bool = False,
        backward: str = "bptt",
        clip_alpha: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__(input_size, hidden_size, state_weights=state_weights, batch_first=batch_first,
                         backward=backward, clip_alpha=clip_alpha, dtype=dtype, device=device)


for _g in ("cr", "cs", "cu", "cx", "du"):
    for _kind in ("W_x", "W_v", "b", "W_s", "w_s"):
        if _g == "du" and _kind in ("W_s", "w_s"):
            continue
        _attr = {"W_x": f"W_x{_g}", "W_v": f"W_v{_g}", "b": f"b_{_g}", "W_s": f"W_s{_g}", "w_s": f"w_s{_g}"}[_kind]
        setattr(AugmentedLSTM, _attr, _named_view(_kind, _g))
del _g, _kind, _attr

"""The vanilla LSTM: a readable one-step cell and a fast sequence layer (chapter "From the RNN to the vanilla LSTM").

:func:`lstm_step` is the cell exactly as the book writes it, one line per equation.
:class:`VanillaLSTM` runs the same equations over a sequence: the input terms of all steps in
one matmul, then a short loop over time, with the hand-derived backward of
:mod:`lstm_lib.lstm_training` (``backward="bptt"``) or plain autograd (``backward="autograd"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from ._checks import check_choice, check_int, check_tensor
from .lstm_training import GATES, InputTerms, Recurrence

G_c = torch.sigmoid  # control warping: the gates' values lie in (0, 1)
G_d = torch.tanh  # data warping: odd, saturating, quasi-linear around 0


def lstm_step(x, v_prev, s_prev, p: Mapping[str, torch.Tensor]):
    """One step of the vanilla LSTM, eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v.

    ``x``: (B, m); ``v_prev``, ``s_prev``: (B, d), the value v[n-1] and the state s[n-1];
    ``p``: the parameters by the paper's names (``VanillaLSTM.paper_params()``), the peepholes
    ``w_scs, w_scu, w_scr`` as vectors (the diagonals of W_scs, W_scu, W_scr).
    Returns ``(v[n], s[n])``.
    """
    a_cs = x @ p["W_xcs"].T + p["w_scs"] * s_prev + v_prev @ p["W_vcs"].T + p["b_cs"]
    g_cs = G_c(a_cs)
    a_cu = x @ p["W_xcu"].T + p["w_scu"] * s_prev + v_prev @ p["W_vcu"].T + p["b_cu"]
    g_cu = G_c(a_cu)
    a_du = x @ p["W_xdu"].T + v_prev @ p["W_vdu"].T + p["b_du"]
    u = G_d(a_du)
    s = g_cs * s_prev + g_cu * u
    a_cr = x @ p["W_xcr"].T + p["w_scr"] * s + v_prev @ p["W_vcr"].T + p["b_cr"]
    g_cr = G_c(a_cr)
    r = G_d(s)
    v = g_cr * r
    return v, s


def autograd_recurrence(A, b, W_v, w_s, v0, s0):
    """The same recurrence as :class:`~lstm_lib.lstm_training.Recurrence`, written as a plain autograd loop.

    Out-of-place operations only, so autograd differentiates it; the reference the hand-derived
    backward is checked and timed against. Returns ``v`` (N, B, d) and the final state ``s[N-1]``.
    """
    d = W_v.shape[1]
    v, s, vs = v0, s0, []
    for a_xb in (A + b).unbind(0):  # W_x.. x[n] + b_.. for all n in one operation
        a_cr, a_cs, a_cu, a_du = (a_xb + v @ W_v.T).split(d, dim=1)
        if w_s is not None:
            a_cs = a_cs + w_s[d : 2 * d] * s
            a_cu = a_cu + w_s[2 * d :] * s
        s = G_c(a_cs) * s + G_c(a_cu) * G_d(a_du)
        if w_s is not None:
            a_cr = a_cr + w_s[:d] * s
        v = G_c(a_cr) * G_d(s)
        vs.append(v)
    return torch.stack(vs), s


def _block_property(stack: str, k: int, nblocks: int, doc: str):
    """A read/write attribute for block ``k`` of the stacked parameter ``stack`` (a view of it)."""

    def get(self):
        t = getattr(self, stack)
        if t is None:
            return None
        return t[k * self.hidden_size : (k + 1) * self.hidden_size]

    def set(self, value):
        t = getattr(self, stack)
        name = doc.split()[0]
        if t is None:
            raise AttributeError(f"{name}: this model has peepholes=False; create it with peepholes=True")
        block = t[k * self.hidden_size : (k + 1) * self.hidden_size]
        value = torch.as_tensor(value, dtype=t.dtype, device=t.device)
        check_tensor(name, value, shape=tuple(block.shape))
        with torch.no_grad():
            block.copy_(value)

    return property(get, set, doc=doc)


class VanillaLSTM(nn.Module):
    """The vanilla LSTM over a sequence, eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v.

    Parameters are stored fused, the four blocks in the order ``GATES`` = (cr, cs, cu, du):
    ``W_x`` (4d, m), ``W_v`` (4d, d), ``b`` (4d,) and the peepholes ``w_s`` (3d,) = (w_scr, w_scs,
    w_scu). The paper's names are attributes that read and write those blocks: ``W_xcs, W_xcu,
    W_xcr, W_xdu`` (d, m), ``W_vcs, W_vcu, W_vcr, W_vdu`` (d, d), ``w_scs, w_scu, w_scr`` (d,),
    ``b_cs, b_cu, b_cr, b_du`` (d,). With ``peepholes=False`` there is no ``w_s``: the ``w_s..``
    attributes are ``None`` and assigning them raises ``AttributeError``; the cell is then
    torch.nn.LSTM's (see :meth:`from_torch`, :meth:`to_torch`).

    ``forward(x, state=None)``: ``x`` (N, B, m), or (B, N, m) with ``batch_first``; ``state`` =
    ``(v[-1], s[-1])`` each (B, d), zeros by default. Returns ``(v, (v[N-1], s[N-1]))``.
    ``backward="bptt"`` differentiates with the hand-derived equations of
    :mod:`lstm_lib.lstm_training`; ``backward="autograd"`` sends the same forward through autograd.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        peepholes: bool = True,
        batch_first: bool = False,
        backward: str = "bptt",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.hidden_size = d = check_int("hidden_size", hidden_size, minimum=1)
        self.peepholes = bool(peepholes)
        self.batch_first = bool(batch_first)
        self.backward = check_choice("backward", backward, ("bptt", "autograd"))
        f = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self.W_x = nn.Parameter(torch.empty(4 * d, input_size, **f))
        self.W_v = nn.Parameter(torch.empty(4 * d, d, **f))
        self.b = nn.Parameter(torch.empty(4 * d, **f))
        self.w_s = nn.Parameter(torch.empty(3 * d, **f)) if self.peepholes else None
        self.reset_parameters()

    def reset_parameters(self):
        """Uniform in (-1/sqrt(d), 1/sqrt(d)), as torch.nn.LSTM initialises its weights."""
        k = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    # The paper's names, as views of the fused tensors.
    W_xcr = _block_property("W_x", 0, 4, "W_xcr (d, m): input to the readout gate")
    W_xcs = _block_property("W_x", 1, 4, "W_xcs (d, m): input to the state gate")
    W_xcu = _block_property("W_x", 2, 4, "W_xcu (d, m): input to the update gate")
    W_xdu = _block_property("W_x", 3, 4, "W_xdu (d, m): input to the data update")
    W_vcr = _block_property("W_v", 0, 4, "W_vcr (d, d): value to the readout gate")
    W_vcs = _block_property("W_v", 1, 4, "W_vcs (d, d): value to the state gate")
    W_vcu = _block_property("W_v", 2, 4, "W_vcu (d, d): value to the update gate")
    W_vdu = _block_property("W_v", 3, 4, "W_vdu (d, d): value to the data update")
    b_cr = _block_property("b", 0, 4, "b_cr (d,): bias of the readout gate")
    b_cs = _block_property("b", 1, 4, "b_cs (d,): bias of the state gate")
    b_cu = _block_property("b", 2, 4, "b_cu (d,): bias of the update gate")
    b_du = _block_property("b", 3, 4, "b_du (d,): bias of the data update")
    w_scr = _block_property("w_s", 0, 3, "w_scr (d,): peephole from the new state s[n] to the readout gate")
    w_scs = _block_property("w_s", 1, 3, "w_scs (d,): peephole from s[n-1] to the state gate")
    w_scu = _block_property("w_s", 2, 3, "w_scu (d,): peephole from s[n-1] to the update gate")

    def paper_params(self) -> dict[str, torch.Tensor]:
        """Every parameter by the paper's name (views; zeros for absent peepholes), for :func:`lstm_step`."""
        names = [f"{w}{g}" for w in ("W_x", "W_v", "b_") for g in GATES] + ["w_scr", "w_scs", "w_scu"]
        p = {n: getattr(self, n) for n in names}
        for n in ("w_scr", "w_scs", "w_scu"):
            if p[n] is None:
                p[n] = torch.zeros_like(self.b[: self.hidden_size])
        return p

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, peepholes={self.peepholes}, "
            f"batch_first={self.batch_first}, backward={self.backward!r}"
        )

    # ---- forward -------------------------------------------------------------------------------

    def _check_input(self, x) -> torch.Tensor:
        """Check ``x`` and return it time-major (N, B, m)."""
        W = self.W_x
        check_tensor("x", x, ndim=3, dtype=W.dtype, device=W.device)
        if self.batch_first:
            x = x.transpose(0, 1)
        check_tensor("x", x, shape=(None, None, self.input_size), finite=False)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"x: expected at least one step and one sequence, got shape {tuple(x.shape)}")
        return x

    def _initial_state(self, x, state):
        B, d = x.shape[1], self.hidden_size
        if state is None:
            z = x.new_zeros(B, d)
            return z, z
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError("state: expected a pair (v0, s0) of tensors of shape (B, d)")
        W = self.W_x
        v0 = check_tensor("state[0] (v0)", state[0], shape=(B, d), dtype=W.dtype, device=W.device)
        s0 = check_tensor("state[1] (s0)", state[1], shape=(B, d), dtype=W.dtype, device=W.device)
        return v0, s0

    def input_terms(self, x) -> torch.Tensor:
        """``A[n] = W_x x[n]`` for all n (eq:lstm_training-grad-x), (N, B, 4d), time-major ``x``.

        The one place where the input enters: the augmented LSTM's context windows replace it.
        """
        if self.backward == "autograd":
            N, B, m = x.shape
            return (x.reshape(N * B, m) @ self.W_x.t()).view(N, B, -1)
        return InputTerms.apply(x, self.W_x)

    def forward(self, x, state=None):
        x = self._check_input(x)
        v0, s0 = self._initial_state(x, state)
        A = self.input_terms(x)
        recurrence = autograd_recurrence if self.backward == "autograd" else Recurrence.apply
        v, s_last = recurrence(A, self.b, self.W_v, self.w_s, v0, s0)
        v_last = v[-1]
        if self.batch_first:
            v = v.transpose(0, 1)
        return v, (v_last, s_last)

    # ---- interoperability with torch.nn.LSTM ---------------------------------------------------

    # torch.nn.LSTM stacks its gates as (i, f, g, o) = (cu, cs, du, cr); ours are (cr, cs, cu, du).
    _FROM_TORCH = (3, 1, 0, 2)
    _TO_TORCH = (2, 1, 3, 0)

    @staticmethod
    def _permute_blocks(t, order):
        return torch.cat([c for c in (t.chunk(4, 0)[k] for k in order)], 0)

    @classmethod
    def from_torch(cls, lstm: nn.LSTM, *, peepholes: bool = False, backward: str = "bptt") -> VanillaLSTM:
        """A VanillaLSTM computing what the single-layer, unidirectional ``lstm`` computes.

        Copies the weights (b = b_ih + b_hh), ``batch_first``, dtype and device. With
        ``peepholes=True`` the peepholes start at zero (the same function, now trainable).
        """
        if not isinstance(lstm, nn.LSTM):
            raise TypeError(f"lstm: expected a torch.nn.LSTM, got {type(lstm).__name__}")
        if lstm.num_layers != 1:
            raise ValueError(f"lstm: expected num_layers=1, got {lstm.num_layers} (stack VanillaLSTM layers instead)")
        if lstm.bidirectional:
            raise ValueError("lstm: expected a unidirectional LSTM, got bidirectional=True")
        if lstm.proj_size > 0:
            raise ValueError(f"lstm: expected proj_size=0, got {lstm.proj_size}")
        w_ih = lstm.weight_ih_l0
        model = cls(
            lstm.input_size, lstm.hidden_size, peepholes=peepholes, batch_first=lstm.batch_first,
            backward=backward, dtype=w_ih.dtype, device=w_ih.device,
        )
        with torch.no_grad():
            model.W_x.copy_(cls._permute_blocks(w_ih, cls._FROM_TORCH))
            model.W_v.copy_(cls._permute_blocks(lstm.weight_hh_l0, cls._FROM_TORCH))
            b = torch.zeros_like(model.b)
            if lstm.bias:
                b = cls._permute_blocks(lstm.bias_ih_l0 + lstm.bias_hh_l0, cls._FROM_TORCH)
            model.b.copy_(b)
            if model.w_s is not None:
                model.w_s.zero_()
        return model

    def to_torch(self) -> nn.LSTM:
        """The torch.nn.LSTM computing what this model computes (peepholes must be absent or zero)."""
        if self.w_s is not None and bool((self.w_s != 0).any()):
            raise ValueError("w_s: torch.nn.LSTM has no peepholes, but w_scs, w_scu or w_scr is non-zero")
        W = self.W_x
        lstm = nn.LSTM(self.input_size, self.hidden_size, batch_first=self.batch_first, dtype=W.dtype, device=W.device)
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(self._permute_blocks(self.W_x, self._TO_TORCH))
            lstm.weight_hh_l0.copy_(self._permute_blocks(self.W_v, self._TO_TORCH))
            lstm.bias_ih_l0.copy_(self._permute_blocks(self.b, self._TO_TORCH))
            lstm.bias_hh_l0.zero_()
        return lstm

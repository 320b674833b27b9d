"""The block layout of the LSTM layer's fused parameters, written once and used both ways.

The layer stores the parameters of all its accumulations stacked, one block of d_s rows per
accumulation, in the order :attr:`Layout.gates`:

* ``("cr", "cs", "cu", "du")`` for the vanilla cell (paper Eqs. 126-129);
* ``("cr", "cs", "cu", "cx", "du")`` with the external input gate (paper Eqs. 196-209).

The control gates are contiguous and the data update comes last; the blocks whose accumulation
reads the previous state s[n-1] (``cs``, ``cu`` and ``cx``) are contiguous as well, so their
state-to-gate terms are one product. The state-to-gate weights are stacked in the order
:attr:`Layout.state_gates` = (``cr``, ``cs``, ``cu`` [, ``cx``]); block 0, W_scr, reads the NEW
state s[n] (paper Eq. 128), the others s[n-1].

torch.nn.LSTM stacks its four blocks as (i, f, g, o) = (cu, cs, du, cr); :data:`TORCH_ORDER`
is that mapping, used by ``from_torch`` and ``to_torch``.
"""

from __future__ import annotations

from dataclasses import dataclass

STATE_WEIGHTS = ("full", "diagonal", None)

# torch.nn.LSTM's gate blocks (i, f, g, o), named as the paper names them.
TORCH_ORDER = ("cu", "cs", "du", "cr")

# What each accumulation is, for docstrings and error messages.
GATE_NAMES = {
    "cr": "control readout gate g_cr (torch's output gate o)",
    "cs": "control state gate g_cs (torch's forget gate f)",
    "cu": "control update gate g_cu (torch's input gate i)",
    "cx": "control input gate g_cx (the external input gate; no torch counterpart)",
    "du": "data update u = G_d(a_du) (torch's cell candidate g)",
}


@dataclass(frozen=True)
class Layout:
    """Sizes and switches of one LSTM layer, and where each parameter block sits.

    ``input_size`` d_x, ``hidden_size`` d_s, ``proj_size`` d_v (0: no projection, v = q and
    d_v = d_s), ``context`` L (taps of the input context window, 1: none), ``input_gate`` (the
    control input gate g_cx), ``state_weights`` ("full", "diagonal" or None).
    """

    input_size: int
    hidden_size: int
    proj_size: int = 0
    context: int = 1
    input_gate: bool = False
    state_weights: str | None = "full"

    @property
    def gates(self) -> tuple[str, ...]:
        return ("cr", "cs", "cu", "cx", "du") if self.input_gate else ("cr", "cs", "cu", "du")

    @property
    def state_gates(self) -> tuple[str, ...]:
        """The accumulations with a state-to-gate term: cr (from s[n]), then those from s[n-1]."""
        return self.gates[:-1]

    @property
    def n_blocks(self) -> int:
        return len(self.gates)

    @property
    def value_size(self) -> int:
        """d_v: the size of the value v[n] fed back and returned."""
        return self.proj_size or self.hidden_size

    def block(self, gate: str) -> slice:
        """The rows of ``gate`` in the stacked (n_blocks d_s, ...) parameters."""
        k, d = self.gates.index(gate), self.hidden_size
        return slice(k * d, (k + 1) * d)

    def state_block(self, gate: str) -> slice:
        """The rows of ``gate``'s state weights in the stacked ((n_blocks - 1) d_s, ...) state weights."""
        k, d = self.state_gates.index(gate), self.hidden_size
        return slice(k * d, (k + 1) * d)

    def torch_permutation(self) -> list[int]:
        """Row order that turns our stacked (cr, cs, cu, du) blocks into torch's (i, f, g, o)."""
        d = self.hidden_size
        return [r for g in TORCH_ORDER for r in range(self.block(g).start, self.block(g).start + d)]

    def from_torch_permutation(self) -> list[int]:
        """Row order that turns torch's (i, f, g, o) blocks into ours (inverse of :meth:`torch_permutation`)."""
        d = self.hidden_size
        return [TORCH_ORDER.index(g) * d + r for g in self.gates for r in range(d)]

    # ---- arithmetic floor, for the benchmark ---------------------------------------------------

    def flops_per_step(self, batch: int) -> int:
        """Multiply-adds x 2 of the matrix products of one forward step (what the sizes force)."""
        d, dv, G, L, m = self.hidden_size, self.value_size, self.n_blocks, self.context, self.input_size
        f = G * d * (L * m + dv)  # input terms (all taps) and value terms of every accumulation
        if self.state_weights == "full":
            f += (G - 1) * d * d  # W_s.. s
        if self.proj_size:
            f += dv * d  # W_qdr q
        return 2 * batch * f

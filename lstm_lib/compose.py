"""Composing the library's layers: both directions of a sequence, and layers stacked in depth.

The paper's cell is "modular" (paper Sec. I, requirement 5): it composes horizontally, over the steps
of a sequence, and vertically, in depth; its Section VI treats only the forward direction and notes
that a cell can be unrolled backwards and bidirectional processing evaluates both (paper fn 24).

* :class:`Bidirectional`: one layer reads the sequence forward, another reads it backward; their values
  are concatenated (Schuster and Paliwal's bidirectional network). With two ``VanillaLSTM(...,
  state_weights=None)`` it computes what ``torch.nn.LSTM(bidirectional=True)`` computes
  (:meth:`Bidirectional.from_torch`). With context windows, each direction's window lies ahead in its
  own direction, so the extra input taps double (paper fn 31).
* :class:`Stack`: layers in sequence, the value v of one being the input x of the next.

Both take any layers of the library that map ``(x, state) -> (v, (v_last, s_last))``, time-major.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_bool, check_int, check_tensor
from .lstm import AugmentedLSTM, VanillaLSTM


def _check_layer(name: str, layer) -> AugmentedLSTM:
    if not isinstance(layer, AugmentedLSTM):
        raise TypeError(f"{name}: expected a layer of lstm_lib (VanillaLSTM or AugmentedLSTM), "
                        f"got {type(layer).__name__}")
    if layer.batch_first:
        raise ValueError(f"{name}: expected a time-major layer (batch_first=False); the wrapper has its own "
                         "batch_first")
    return layer


class Bidirectional(nn.Module):
    """Two layers over one sequence, one per direction; the output concatenates their values.

    ``forward(x, state=None)``: x (N, B, d_x) (or (B, N, d_x) with ``batch_first``); ``state`` =
    ``(v0, s0)`` with v0 (2, B, d_v) and s0 (2, B, d_s), index 0 the forward layer, 1 the backward one
    (zeros by default). Returns ``(v, (v_last, s_last))``: v (N, B, 2 d_v) = [forward v[n], backward
    v[n]] (the backward layer's value at step n has read x[N-1], ..., x[n]); v_last and s_last (2, B, .)
    as torch.nn.LSTM's h_n and c_n: the forward layer's at step N-1, the backward layer's at step 0.
    """

    def __init__(self, forward_layer: AugmentedLSTM, backward_layer: AugmentedLSTM, *, batch_first: bool = False):
        super().__init__()
        self.forward_layer = _check_layer("forward_layer", forward_layer)
        self.backward_layer = _check_layer("backward_layer", backward_layer)
        f, b = forward_layer, backward_layer
        if (f.input_size, f.hidden_size, f.value_size) != (b.input_size, b.hidden_size, b.value_size):
            sizes = (b.input_size, b.hidden_size, b.value_size), (f.input_size, f.hidden_size, f.value_size)
            raise ValueError("backward_layer: expected the same input, hidden and value sizes as forward_layer, got "
                             f"{sizes[0]} and {sizes[1]}")
        self.batch_first = check_bool("batch_first", batch_first)

    @classmethod
    def of(cls, layer_type=VanillaLSTM, *args, batch_first: bool = False, **kwargs) -> Bidirectional:
        """Two fresh layers ``layer_type(*args, **kwargs)``, one per direction."""
        return cls(layer_type(*args, **kwargs), layer_type(*args, **kwargs), batch_first=batch_first)

    @property
    def input_size(self) -> int:
        return self.forward_layer.input_size

    @property
    def value_size(self) -> int:
        """The size of one step of the output: both directions' values, 2 d_v."""
        return 2 * self.forward_layer.value_size

    def forward(self, x, state=None):
        check_tensor("x", x, ndim=3)
        if self.batch_first:
            x = x.transpose(0, 1)
        B = x.shape[1]
        states = (None, None)
        if state is not None:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError("state: expected a pair (v0, s0) of tensors of shapes (2, B, d_v) and (2, B, d_s)")
            dv, d = self.forward_layer.value_size, self.forward_layer.hidden_size
            v0 = check_tensor("state[0] (v0)", state[0], shape=(2, B, dv))
            s0 = check_tensor("state[1] (s0)", state[1], shape=(2, B, d))
            states = ((v0[0], s0[0]), (v0[1], s0[1]))
        v_f, (vl_f, sl_f) = self.forward_layer(x, states[0])
        v_b, (vl_b, sl_b) = self.backward_layer(x.flip(0), states[1])
        v = torch.cat((v_f, v_b.flip(0)), dim=2)
        if self.batch_first:
            v = v.transpose(0, 1)
        return v, (torch.stack((vl_f, vl_b)), torch.stack((sl_f, sl_b)))

    @classmethod
    def from_torch(cls, lstm: nn.LSTM, **kwargs) -> Bidirectional:
        """The wrapper computing what a one-layer ``torch.nn.LSTM(bidirectional=True)`` computes (copied weights)."""
        if not isinstance(lstm, nn.LSTM) or not lstm.bidirectional or lstm.num_layers != 1:
            raise ValueError("lstm: expected a one-layer torch.nn.LSTM with bidirectional=True")
        layers = [_direction_from_torch(lstm, 0, suffix, **kwargs) for suffix in ("", "_reverse")]
        return cls(*layers, batch_first=lstm.batch_first)


def _direction_from_torch(lstm: nn.LSTM, layer: int, suffix: str, **kwargs) -> AugmentedLSTM:
    """One direction of one layer of a torch.nn.LSTM as a layer of ours (via a one-layer copy)."""
    in_size = lstm.input_size if layer == 0 else (2 if lstm.bidirectional else 1) * (lstm.proj_size or lstm.hidden_size)
    single = nn.LSTM(in_size, lstm.hidden_size, proj_size=lstm.proj_size, bias=lstm.bias,
                     dtype=lstm.weight_ih_l0.dtype, device=lstm.weight_ih_l0.device)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
            src = getattr(lstm, f"{name}_l{layer}{suffix}", None)
            if src is not None:
                getattr(single, f"{name}_l0").copy_(src)
    cls = AugmentedLSTM if lstm.proj_size else VanillaLSTM
    return cls.from_torch(single, **kwargs)


class Stack(nn.Module):
    """Layers in depth: the value of layer k is the input of layer k+1 (a deep network; torch's num_layers).

    ``forward(x, states=None)``: ``states`` a list with one initial state per layer (or None); returns
    ``(v, states_out)``: the last layer's values and a list of each layer's ``(v_last, s_last)``.
    """

    def __init__(self, *layers, batch_first: bool = False):
        super().__init__()
        if not layers:
            raise ValueError("layers: expected at least one layer")
        for k, layer in enumerate(layers):
            if isinstance(layer, Bidirectional):
                if layer.batch_first:
                    raise ValueError(f"layers[{k}]: expected a time-major Bidirectional (batch_first=False)")
            else:
                _check_layer(f"layers[{k}]", layer)
        for k in range(1, len(layers)):
            want, have = layers[k - 1].value_size, layers[k].input_size
            if want != have:
                raise ValueError(f"layers[{k}]: expected input_size={want} (the value size of layers[{k - 1}]), "
                                 f"got {have}")
        self.layers = nn.ModuleList(layers)
        self.batch_first = check_bool("batch_first", batch_first)

    @classmethod
    def of(cls, layer_type, input_size: int, hidden_size: int, num_layers: int, *, bidirectional: bool = False,
           batch_first: bool = False, **kwargs) -> Stack:
        """``num_layers`` fresh layers ``layer_type(in, hidden_size, **kwargs)``, each (or each pair, with
        ``bidirectional``) reading the values of the one before."""
        check_int("num_layers", num_layers, minimum=1)
        check_bool("bidirectional", bidirectional)
        layers, size = [], check_int("input_size", input_size, minimum=1)
        for _ in range(num_layers):
            layer = (Bidirectional.of(layer_type, size, hidden_size, **kwargs) if bidirectional
                     else layer_type(size, hidden_size, **kwargs))
            layers.append(layer)
            size = layer.value_size
        return cls(*layers, batch_first=batch_first)

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def value_size(self) -> int:
        return self.layers[-1].value_size

    def forward(self, x, states=None):
        check_tensor("x", x, ndim=3)
        if self.batch_first:
            x = x.transpose(0, 1)
        if states is None:
            states = [None] * len(self.layers)
        if len(states) != len(self.layers):
            raise ValueError(f"states: expected one initial state per layer ({len(self.layers)}), got {len(states)}")
        out = []
        for layer, state in zip(self.layers, states, strict=True):
            x, last = layer(x, state)
            out.append(last)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, out

    @classmethod
    def from_torch(cls, lstm: nn.LSTM, **kwargs) -> Stack:
        """The stack computing what a (multi-layer, possibly bidirectional) torch.nn.LSTM computes; torch's
        inter-layer dropout is not reproduced (it must be 0)."""
        if not isinstance(lstm, nn.LSTM):
            raise TypeError(f"lstm: expected a torch.nn.LSTM, got {type(lstm).__name__}")
        if lstm.dropout:
            raise ValueError(f"lstm: expected dropout=0 (a Stack has no dropout between layers), got {lstm.dropout}")
        layers = []
        for k in range(lstm.num_layers):
            if lstm.bidirectional:
                pair = (_direction_from_torch(lstm, k, sfx, **kwargs) for sfx in ("", "_reverse"))
                layers.append(Bidirectional(*pair))
            else:
                layers.append(_direction_from_torch(lstm, k, "", **kwargs))
        return cls(*layers, batch_first=lstm.batch_first)

"""Training the vanilla LSTM (chapter "Training the vanilla LSTM"): the error signals of the backward pass.

The backward equations themselves (paper Eqs. 137-172) are the layer's backward pass,
:func:`lstm_lib._lstm_recurrence.reference_backward` (and its compiled twin). This module reads them
out for the chapter's analyses:

* :func:`gate_gradients`: the accumulation derivatives alpha_.. (Eqs. 147, 151-153) and the error
  gradient psi (Eq. 150) of every step, for a given loss derivative;
* :func:`signal_norms`: how far back each of them reaches when the loss sits at the last step.
"""

from __future__ import annotations

import torch

from ._lstm_recurrence import input_terms, reference_backward, reference_forward


def gate_gradients(model, x, grad_v=None, state=None) -> dict[str, torch.Tensor]:
    """The error signals of the backward equations for one batch of sequences, split by accumulation.

    Runs ``model`` (a :class:`~lstm_lib.lstm.VanillaLSTM` or :class:`~lstm_lib.lstm.AugmentedLSTM`) on
    ``x`` (in the model's layout) with the loss's derivative ``grad_v`` = dE/dv[n] (time-major (N, B,
    d_v); default: dE/dv[N-1] = 1 and zero elsewhere, the loss at the last step only) and returns
    ``alpha_cr, alpha_cs, alpha_cu, alpha_du`` (and ``alpha_cx`` with the input gate), each (N, B, d),
    and ``psi`` = dE/ds[n] (N, B, d), time-major.
    """
    x = model._check_input(x)
    lay = model.layout
    with torch.no_grad():
        v0, s0 = model._initial_state(x, state)
        W = model._weights()
        A = input_terms(x, W.W_x, lay.context)
        v, _, rec = reference_forward(A, W, v0, s0, lay, record=True)
        if grad_v is None:
            grad_v = torch.zeros_like(v)
            grad_v[-1] = 1.0
        psi = torch.empty_like(rec.S)
        sig = reference_backward(A, W, v0, s0, rec, grad_v, torch.zeros_like(s0), lay, psi_out=psi)
    d = lay.hidden_size
    out = {f"alpha_{g}": sig.alpha[:, :, k * d : (k + 1) * d] for k, g in enumerate(lay.gates)}
    out["psi"] = psi
    return out


def signal_norms(model, x, state=None) -> dict[str, torch.Tensor]:
    """||psi[n]|| and ||alpha_..[n]|| against n (mean over the batch) for a loss at the last step only.

    How far back each error signal of the backward equations survives. Returns float64 tensors of
    length N.
    """
    sig = gate_gradients(model, x, state=state)
    return {k: t.norm(dim=2).mean(dim=1).double() for k, t in sig.items()}

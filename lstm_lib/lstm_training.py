"""Training the vanilla LSTM: the hand-derived backward equations, run as the layer's backward pass.

The layer is two ``torch.autograd.Function`` s composed (chapter "Training the vanilla LSTM"):

* :class:`InputTerms` computes the input part of every accumulation for all steps in one matmul,
  ``A[n] = W_x x[n]`` (eq:lstm_training-grad-x); its backward is two products over the stacked
  alphas;
* :class:`Recurrence` runs the cell over time from those input terms and the bias (eq:vanilla_lstm-a_cs
  to eq:vanilla_lstm-v) and back-propagates with the equations eq:lstm_training-chi to
  eq:lstm_training-alpha_du, returning the gradients of the bias, ``W_v`` and the peepholes.

Splitting them is the seam for the extensions of the augmented LSTM: another input-terms function
(a convolution over time) feeds the same recurrence, whose backward returns ``dE/dA``, the stacked
alphas. The bias stays in the recurrence, next to the recurrent terms: the external input gate of
the augmented LSTM scales the input term of the data update but not its bias.

The four blocks of the fused tensors are ordered ``GATES = (cr, cs, cu, du)``: the three control
gates are contiguous (one sigmoid when there are no peepholes) and so are the three blocks
``cs, cu, du`` whose alphas are ``psi`` times a local factor (one multiplication per step).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import _lstm_kernels, _workspace

GATES = ("cr", "cs", "cu", "du")


class InputTerms(torch.autograd.Function):
    """``A[n] = W_x x[n]`` for all n in one matmul (eq:lstm_training-grad-x).

    ``x``: (N, B, m), ``W_x``: (4d, m) stacking W_xcr, W_xcs, W_xcu, W_xdu.
    Backward (eq:lstm_training-grad-x): ``dE/dW_x = sum_n alpha[n] x[n]^T`` and
    ``dE/dx[n] = W_x^T alpha[n]``, each one product over the stacked ``(N*B, 4d)`` alphas.
    """

    @staticmethod
    def forward(ctx, x, W_x):
        N, B, m = x.shape
        ctx.save_for_backward(x, W_x)
        A = _workspace.empty((N * B, W_x.shape[0]), dtype=x.dtype, device=x.device)
        return torch.mm(x.reshape(N * B, m), W_x.t(), out=A).view(N, B, -1)

    @staticmethod
    @once_differentiable
    def backward(ctx, alpha):
        x, W_x = ctx.saved_tensors
        a2 = alpha.reshape(-1, alpha.shape[-1])
        g_x = None
        if ctx.needs_input_grad[0]:
            g_x = _workspace.empty(x.shape, dtype=x.dtype, device=x.device)
            torch.mm(a2, W_x, out=g_x.view(-1, x.shape[-1]))
        g_W_x = a2.t() @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        return g_x, g_W_x


def recurrence_forward(A, b, W_v, w_s, v0, s0):
    """Run the cell over n = 0 .. N-1 from the input terms ``A`` (eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v).

    ``A``: (N, B, 4d) the input terms W_x x[n]; ``b``: (4d,) the biases; ``W_v``: (4d, d); ``w_s``:
    (3d,) peepholes ``w_scr, w_scs, w_scu`` or None;
    ``v0, s0``: (B, d). Returns ``V, S`` of shape (N+1, B, d) (row 0 holds v[-1], s[-1]), the gates
    ``Gt`` (N, B, 4d) = (g_cr, g_cs, g_cu, u) and the readouts ``R`` = G_d(s) (N, B, d): everything
    the backward equations need.

    Each step is one in-place addmm for the four recurrent accumulations, into a buffer that already
    holds the input terms plus the bias, and a few in-place element-wise operations. G_d is evaluated as
    ``G_d(a) = 2 G_c(2a) - 1`` (the same function; the logistic sigmoid is the faster kernel), so the
    data update's block is doubled up front and shares one sigmoid call with the control gates.
    """
    N, B, d4 = A.shape
    d = d4 // 4
    two = torch.ones(d4, dtype=A.dtype, device=A.device)
    two[3 * d :] = 2.0
    Gt = torch.add(A, b).mul_(two)  # input terms plus bias, data-update block doubled
    W_vT = (W_v * two[:, None]).t()
    V = A.new_empty(N + 1, B, d)
    S = A.new_empty(N + 1, B, d)
    R = A.new_empty(N, B, d)
    V[0] = v0
    S[0] = s0
    # Per-step views, made once: the loop body is only arithmetic.
    g_n = Gt.unbind(0)
    g_cr, g_cs, g_cu, u = (Gt[:, :, k * d : (k + 1) * d].unbind(0) for k in range(4))
    g_all = Gt.unbind(0)
    g_csu = Gt[:, :, d : 3 * d].view(N, B, 2, d).unbind(0)
    g_csud = Gt[:, :, d:].unbind(0)
    V_n, S_n, R_n = V.unbind(0), S.unbind(0), R.unbind(0)
    S_n2 = S.unsqueeze(2).unbind(0)  # s[n-1] as (B, 1, d), for both peepholes at once
    if w_s is None:
        for n in range(N):
            g_n[n].addmm_(V_n[n], W_vT)  # a_..[n] = W_x.. x[n] + W_v.. v[n-1] + b_..  (a_du doubled)
            g_all[n].sigmoid_()  # g_cr, g_cs, g_cu = G_c(a_..), and G_c(2 a_du)
            u[n].mul_(2).sub_(1)  # u = G_d(a_du)
            s = torch.mul(g_cs[n], S_n[n], out=S_n[n + 1]).addcmul_(g_cu[n], u[n])  # s = g_cs s[n-1] + g_cu u
            r = torch.tanh(s, out=R_n[n])  # r = G_d(s)
            torch.mul(g_cr[n], r, out=V_n[n + 1])  # v = g_cr r
        return V, S, Gt, R
    w_csu = w_s[d:].view(2, d)
    w_scr = w_s[:d]
    for n in range(N):
        g_n[n].addmm_(V_n[n], W_vT)
        g_csu[n].addcmul_(S_n2[n], w_csu)  # the peepholes from s[n-1]
        g_csud[n].sigmoid_()
        u[n].mul_(2).sub_(1)
        s = torch.mul(g_cs[n], S_n[n], out=S_n[n + 1]).addcmul_(g_cu[n], u[n])
        g_cr[n].addcmul_(s, w_scr).sigmoid_()  # the readout gate peeks at the new state s[n]
        r = torch.tanh(s, out=R_n[n])
        torch.mul(g_cr[n], r, out=V_n[n + 1])
    return V, S, Gt, R


def recurrence_backward(W_v, w_s, V, S, Gt, R, grad_v, grad_s, psi_out=None):
    """The backward equations eq:lstm_training-chi to eq:lstm_training-alpha_du, run from n = N-1 down to 0.

    ``grad_v``: (N, B, d), the direct derivatives dE/dv[n] from outside the recurrence; ``grad_s``
    likewise dE/ds[n], (N, B, d), or (B, d) for dE/ds[N-1] alone (the loss sees only the final
    state). Returns ``(alpha, dE/db, dE/dW_v, dE/dw_s, dE/dv[-1], dE/ds[-1])`` with ``alpha``
    (N, B, 4d) the stacked ``alpha_cr, alpha_cs, alpha_cu, alpha_du`` = dE/dA. If ``psi_out``
    (N, B, d) is given, ``psi[n]`` = dE/ds[n] is written into it (for plots; the gradients do not
    need it).

    Every factor that does not depend on the error signal is computed for all n first:
    ``alpha_cr = chi D_cr``, ``psi = chi K + psi_carry``, ``(alpha_cs, alpha_cu, alpha_du) = psi D``
    and the part of ``psi[n]`` carried to step n-1 is ``psi[n] F[n]``. The loop is then one addmm
    (the four recurrent terms of chi) and four element-wise operations per step.
    """
    N, B, d4 = Gt.shape
    d = d4 // 4
    g_cr, g_cs, g_cu, u = Gt.split(d, dim=2)
    s_prev, s = S[:-1], S[1:]
    one = Gt.new_ones(())
    g_c = Gt[:, :, : 3 * d]
    dG_cr, dG_cs, dG_cu = torch.addcmul(g_c, g_c, g_c, value=-1).split(d, dim=2)  # G_c'(a) = g (1 - g)
    D_cr = R * dG_cr  # alpha_cr = chi r G_c'(a_cr)
    K = torch.addcmul(one, R, R, value=-1).mul_(g_cr)  # rho G_d'(s) = chi g_cr (1 - r^2)
    D = torch.empty(N, B, 3, d, dtype=Gt.dtype, device=Gt.device)
    torch.mul(s_prev, dG_cs, out=D[:, :, 0])  # alpha_cs = psi s[n-1] G_c'(a_cs)
    torch.mul(u, dG_cu, out=D[:, :, 1])  # alpha_cu = psi u G_c'(a_cu)
    torch.addcmul(one, u, u, value=-1, out=D[:, :, 2]).mul_(g_cu)  # alpha_du = psi g_cu (1 - u^2)
    F = g_cs  # psi[n] reaches s[n-1] through g_cs[n] ...
    if w_s is not None:
        w_scr, w_scs, w_scu = w_s.view(3, d)
        K.addcmul_(D_cr, w_scr)  # ... + W_scr alpha_cr[n] (the readout peephole)
        F = torch.addcmul(g_cs, D[:, :, 0], w_scs).addcmul_(D[:, :, 1], w_scu)  # ... and the two other peepholes
    alpha = torch.empty_like(Gt)
    a_n = alpha.unbind(0)
    a_cr = alpha[:, :, :d].unbind(0)
    a_rest = alpha[:, :, d:].view(N, B, 3, d).unbind(0)
    gv, D_cr_n, K_n, D_n, F_n = (t.unbind(0) for t in (grad_v, D_cr, K, D, F))
    gs = grad_s.unbind(0) if grad_s.dim() == 3 else [torch.zeros_like(grad_s)] * (N - 1) + [grad_s]
    chi = torch.empty_like(grad_v[0])
    psi = torch.empty_like(chi)
    carry = gs[N - 1].clone()  # psi[N-1] before the local terms: dE/ds[N-1] from outside
    for n in range(N - 1, -1, -1):
        if n == N - 1:
            chi_n = gv[n]  # chi[N-1]: nothing comes back from step N
        else:
            chi_n = torch.addmm(gv[n], a_n[n + 1], W_v, out=chi)  # chi = dE/dv + W_v^T alpha[n+1]
        torch.mul(chi_n, D_cr_n[n], out=a_cr[n])  # alpha_cr
        torch.addcmul(carry, chi_n, K_n[n], out=psi)  # psi
        torch.mul(psi.unsqueeze(1), D_n[n], out=a_rest[n])  # alpha_cs, alpha_cu, alpha_du
        if psi_out is not None:
            psi_out[n] = psi
        if n > 0:
            torch.addcmul(gs[n - 1], psi, F_n[n], out=carry)  # carried into psi[n-1]
    grad_s0 = psi * F_n[0]
    grad_v0 = a_n[0] @ W_v
    a2 = alpha.view(N * B, d4)
    grad_b = a2.sum(0)  # sum_n alpha[n]
    grad_W_v = a2.t() @ V[:-1].reshape(N * B, d)  # sum_n alpha[n] v[n-1]^T
    grad_w_s = None
    if w_s is not None:
        grad_w_s = torch.cat(
            [
                (alpha[:, :, :d] * s).sum((0, 1)),  # sum_n alpha_cr[n] s[n]
                (alpha[:, :, d : 3 * d].view(N, B, 2, d) * s_prev.unsqueeze(2)).sum((0, 1)).reshape(-1),
            ]
        )
    return alpha, grad_b, grad_W_v, grad_w_s, grad_v0, grad_s0


class Recurrence(torch.autograd.Function):
    """The vanilla LSTM over a sequence from its input terms, with the hand-derived backward.

    Forward: eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v (see :func:`recurrence_forward`).
    Backward: eq:lstm_training-chi to eq:lstm_training-init (see :func:`recurrence_backward`).
    Inputs ``(A, b, W_v, w_s, v0, s0)``; outputs ``v`` (N, B, d) and the final state ``s[N-1]``
    (B, d). (Only the final state is an output, so the backward pass starts from dE/ds[N-1] alone
    instead of a mostly-zero gradient for every step.)

    On the CPU both loops run compiled (:mod:`lstm_lib._lstm_kernels`: the same equations, one
    compiled pass over the cells per step); elsewhere, or if that cannot be built, the Python loops.
    """

    @staticmethod
    def forward(ctx, A, b, W_v, w_s, v0, s0):
        fast = _lstm_kernels.usable(A)
        forward = _lstm_kernels.recurrence_forward if fast else recurrence_forward
        V, S, Gt, R = forward(A, b, W_v, w_s, v0, s0)
        v, s_last = V[1:], S[-1]
        ctx.save_for_backward(W_v, w_s, v, s_last)  # saving the outputs guards against in-place edits
        ctx.buffers = (V, S, Gt, R)
        ctx.fast = fast
        return v, s_last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_v, grad_s_last):
        W_v, w_s, _, _ = ctx.saved_tensors
        V, S, Gt, R = ctx.buffers
        backward = _lstm_kernels.recurrence_backward if ctx.fast else recurrence_backward
        return backward(W_v, w_s, V, S, Gt, R, grad_v, grad_s_last)


def gate_gradients(model, x, grad_v=None, state=None) -> dict[str, torch.Tensor]:
    """The error signals of the backward equations for one sequence, split by gate.

    Runs ``model`` (a :class:`~lstm_lib.vanilla_lstm.VanillaLSTM`, time-major) on ``x`` (N, B, m)
    with the loss's derivative ``grad_v`` = dE/dv[n] (default: dE/dv[N-1] = 1 and zero elsewhere,
    the loss only at the last step) and returns ``alpha_cs, alpha_cu, alpha_cr, alpha_du`` (each
    (N, B, d), eq:lstm_training-alpha_cr to eq:lstm_training-alpha_du) and ``psi`` = dE/ds[n]
    (eq:lstm_training-psi).
    """
    x = model._check_input(x)
    with torch.no_grad():
        v0, s0 = model._initial_state(x, state)
        A = InputTerms.apply(x, model.W_x)
        V, S, Gt, R = recurrence_forward(A, model.b, model.W_v, model.w_s, v0, s0)
        if grad_v is None:
            grad_v = torch.zeros_like(V[1:])
            grad_v[-1] = 1.0
        psi = torch.empty_like(grad_v)
        alpha = recurrence_backward(model.W_v, model.w_s, V, S, Gt, R, grad_v, torch.zeros_like(v0), psi)[0]
    d = model.hidden_size
    out = {f"alpha_{g}": alpha[:, :, k * d : (k + 1) * d] for k, g in enumerate(GATES)}
    out["psi"] = psi
    return out


def signal_norms(model, x, state=None) -> dict[str, torch.Tensor]:
    """||psi[n]|| and ||alpha_..[n]|| against n (mean over the batch) for a loss at the last step only.

    The curves of the figure in chapter "Training the vanilla LSTM": how far back each error signal
    of eq:lstm_training-psi to eq:lstm_training-alpha_du survives. Returns float64 tensors of length N.
    """
    sig = gate_gradients(model, x, state=state)
    return {k: t.norm(dim=2).mean(dim=1).double() for k, t in sig.items()}


def explorer(d: int = 8, m: int = 2, B: int = 8, seed: int = 0):
    """Widget: the state-gate bias ``b_cs`` and the sequence length ``N`` against how far back the gradient survives."""
    import numpy as np

    from .vanilla_lstm import VanillaLSTM
    from .widgets import Explorer, Param

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VanillaLSTM(m, d, dtype=torch.float64)
        x_all = torch.randn(400, B, m, dtype=torch.float64)

    def compute(b_cs, N):
        model.b_cs = torch.full((d,), float(b_cs))
        norms = signal_norms(model, x_all[: int(N)])
        g_cs = torch.sigmoid(torch.tensor(float(b_cs)))
        return {k: v.numpy() for k, v in norms.items()} | {"g_cs_bias_only": float(g_cs)}

    def draw(fig, data, b_cs, N):
        ax = fig.subplots()
        n = np.arange(len(data["psi"]))
        for key, style in (("psi", "k-"), ("alpha_cs", "C0--"), ("alpha_cu", "C1-."), ("alpha_cr", "C2:"),
                           ("alpha_du", "C3-")):
            ax.semilogy(n, np.maximum(data[key], 1e-300), style, lw=1.4, label=key.replace("alpha_", "alpha "))
        ax.set_ylim(1e-30, 10)
        ax.set_xlabel("step n (the loss is at the last step)")
        ax.set_ylabel("mean norm")
        ax.set_title(f"b_cs = {b_cs:.2f}: G_c(b_cs) = {data['g_cs_bias_only']:.3f}", fontsize=10)
        ax.legend(loc="lower right", fontsize=8, ncols=2)

    params = {
        "b_cs": Param(-2.0, 6.0, 0.25, 1.0, label="state-gate bias b_cs"),
        "N": Param(10, 400, 10, 150, label="sequence length N", integer=True),
    }
    return Explorer(compute, draw, params, scrub="b_cs", frames=9)

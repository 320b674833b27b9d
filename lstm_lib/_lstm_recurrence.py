"""The LSTM layer over a sequence: input terms, the loops over time, and the hand-derived backward.

One implementation serves every configuration of the layer (:class:`~lstm_lib._gates.Layout`):
state-to-gate weights full, diagonal or absent; context windows of L taps; the external input
gate g_cx; the recurrent projection. The vanilla LSTM is the configuration with all switches off.

* :func:`input_terms`: the composite external inputs xi_..[n] = sum_l W_x..[l] x[n+l] of every
  accumulation and every step in ONE matrix product over the unfolded input (paper Eqs. 188, 196,
  199, 202, 205, 208; x is zero past the end of the sequence, the book's reading of the paper's
  segments, Eq. 76).
* :func:`reference_forward`, :func:`reference_backward`: the loops over time written plainly in
  torch, one line per equation (paper Eqs. 196-214 and 216-250, errata E6 and E11 corrected). They
  run on GPUs, and they are what the compiled loops of :mod:`lstm_lib._lstm_kernels` are tested
  against.
* :class:`LSTMSequence`: the autograd Function of the layer: forward by the loops above (compiled
  on the CPU), backward by the hand-derived equations, the parameter gradients as products after
  the loop (paper Eq. 172: summed over the steps and the batch of segments). Optional clipping of
  the accumulation derivatives to [-c, c] where they are formed (paper fn 25).
* :func:`autograd_sequence`: the same forward, differentiated by autograd (``backward="autograd"``,
  and the path a second derivative takes).
* :func:`lstm_sequence`: the one chooser: inference without a record, the Function for training,
  autograd for ``backward="autograd"``.
"""

from __future__ import annotations

import torch

from . import _lstm_kernels
from ._gates import Layout
from ._lstm_data import Record, Signals, Weights, fold_context, input_terms, unfold_context

G_c = torch.sigmoid  # control warping function (paper Eq. 121)
G_d = torch.tanh  # data warping function (paper Eq. 122)

__all__ = ["Record", "Signals", "Weights", "fold_context", "input_terms", "unfold_context", "reference_forward",
           "reference_backward", "parameter_gradients", "autograd_sequence", "LSTMSequence", "lstm_sequence"]


# ---- the reference loops --------------------------------------------------------------------------


def _state_term(layout: Layout, W_s, gate: str, s: torch.Tensor):
    """W_s.. s: a product with a full matrix, a product with a diagonal, or nothing."""
    if layout.state_weights is None:
        return 0.0
    rows = W_s[layout.state_block(gate)]
    return s @ rows.t() if layout.state_weights == "full" else rows * s


def reference_forward(A, W: Weights, v0, s0, layout: Layout, record: bool = False, clip_hook=None):
    """The loop over time from the input terms ``A`` (N, B, G d): paper Eqs. 196-214.

    Returns ``(v, s_last, rec)``: v (N, B, d_v), s[N-1] (B, d), and a :class:`Record` (filled only
    when ``record``, which is for the backward pass and needs no autograd). Written out of place, so
    autograd can differentiate it too (``record=False``); ``clip_hook``, if given, is registered on
    every accumulation (autograd's way to clip the accumulation derivatives, paper fn 25).
    """
    N, B, _ = A.shape
    d, gate = layout.hidden_size, layout.input_gate
    rec = None
    if record:
        G = layout.n_blocks
        rec = Record(A.new_empty(N, B, G * d), A.new_empty(N, B, d), A.new_empty(N, B, d),
                     A.new_empty(N, B, d) if layout.proj_size else None)
    vs = []
    v_prev, s_prev = v0, s0
    for n in range(N):
        t = torch.addmm(W.b, v_prev, W.W_v.t()).split(d, dim=1)  # W_v.. v[n-1] + b_..
        xi = A[n].split(d, dim=1)  # the composite external inputs xi_..[n]
        a_cs = xi[1] + t[1] + _state_term(layout, W.W_s, "cs", s_prev)  # Eq. 200
        a_cu = xi[2] + t[2] + _state_term(layout, W.W_s, "cu", s_prev)  # Eq. 197
        if gate:
            a_cx = xi[3] + t[3] + _state_term(layout, W.W_s, "cx", s_prev)  # Eq. 206
            g_cx = G_c(a_cx)  # Eq. 207
            a_du = g_cx * xi[4] + t[4]  # Eq. 209
        else:
            a_du = xi[3] + t[3]  # Eq. 129
        if clip_hook is not None:
            for a in (a_cs, a_cu, a_du) + ((a_cx,) if gate else ()):
                a.register_hook(clip_hook)
        g_cs, g_cu, u = G_c(a_cs), G_c(a_cu), G_d(a_du)  # Eqs. 201, 198, 210
        s = g_cs * s_prev + g_cu * u  # Eq. 211
        a_cr = xi[0] + t[0] + _state_term(layout, W.W_s, "cr", s)  # Eq. 203 (the new state s[n])
        if clip_hook is not None:
            a_cr.register_hook(clip_hook)
        g_cr, r = G_c(a_cr), G_d(s)  # Eqs. 204, 212
        q = g_cr * r  # Eq. 213
        v = q @ W.W_qdr.t() if W.W_qdr is not None else q  # Eq. 214
        if record:
            gates = (g_cr, g_cs, g_cu) + ((g_cx,) if gate else ()) + (u,)
            torch.cat(gates, dim=1, out=rec.Gt[n])
            rec.S[n], rec.R[n] = s, r
            if rec.Q is not None:
                rec.Q[n] = q
        vs.append(v)
        v_prev, s_prev = v, s
    return torch.stack(vs), s_prev, rec


def reference_backward(A, W: Weights, v0, s0, rec: Record, grad_v, grad_s, layout: Layout, clip=None,
                       psi_out=None):
    """The backward loop, n = N-1 down to 0: paper Eqs. 216-229 (errata E6, E11 corrected).

    ``grad_v`` (N, B, d_v) = dE/dv[n] from outside the layer, ``grad_s`` (B, d) = dE/ds[N-1]. Returns
    :class:`Signals`. Terminal conditions (erratum E12): nothing comes back from step N, f_chi[N] =
    f_psi[N] = 0. With ``clip`` every accumulation derivative is clipped to [-clip, clip] where it is
    formed and the clipped value flows on (paper fn 25).
    """
    N, B, _ = A.shape
    d, G, gate, dv = layout.hidden_size, layout.n_blocks, layout.input_gate, layout.value_size
    du = G - 1
    Gt, S, R = rec.Gt, rec.S, rec.R
    c = (lambda a: a.clamp(-clip, clip)) if clip is not None else (lambda a: a)
    W_scr = W_s_rest = w_s = None
    if layout.state_weights == "full":
        W_scr, W_s_rest = W.W_s[:d], W.W_s[d:]
    elif layout.state_weights == "diagonal":
        w_s = W.W_s.view(G - 1, d)
    alpha = A.new_empty(N, B, G * d)
    alpha_xdu = A.new_empty(N, B, d) if gate else None
    chi_all = A.new_empty(N, B, dv) if layout.proj_size else None
    f_chi = torch.zeros_like(grad_v[0])  # f_chi[N] = 0
    f_psi = grad_s.clone()  # f_psi[N] = 0, plus dE/ds[N-1] from outside
    for n in range(N - 1, -1, -1):
        g = Gt[n].split(d, dim=1)
        g_cr, g_cs, g_cu, u = g[0], g[1], g[2], g[du]
        r = R[n]
        s_prev = S[n - 1] if n > 0 else s0
        chi = grad_v[n] + f_chi  # Eq. 217
        beta = chi @ W.W_qdr if W.W_qdr is not None else chi  # Eq. 218: W_qdr^T chi
        if chi_all is not None:
            chi_all[n] = chi
        rho = beta * g_cr  # Eq. 219
        gamma_cr = beta * r  # Eq. 220
        alpha_cr = c(gamma_cr * g_cr * (1 - g_cr))  # Eq. 221
        psi = rho * (1 - r * r) + f_psi  # Eq. 222 ...
        if W_scr is not None:
            psi = psi + alpha_cr @ W_scr  # ... + W_scr^T alpha_cr (erratum E6)
        elif w_s is not None:
            psi = psi + w_s[0] * alpha_cr
        alpha_cs = c(psi * s_prev * g_cs * (1 - g_cs))  # Eq. 223
        alpha_cu = c(psi * u * g_cu * (1 - g_cu))  # Eq. 224
        alpha_du = c(psi * g_cu * (1 - u * u))  # Eq. 225
        alphas = [alpha_cr, alpha_cs, alpha_cu]
        if gate:
            g_cx, xi_du = g[3], A[n, :, du * d :]
            gamma_cx = alpha_du * xi_du  # Eq. 226 (erratum E9)
            alpha_cx = c(gamma_cx * g_cx * (1 - g_cx))  # Eq. 227
            alphas.append(alpha_cx)
            alpha_xdu[n] = g_cx * alpha_du  # dE/dxi_du (erratum E11)
        alphas.append(alpha_du)
        torch.cat(alphas, dim=1, out=alpha[n])
        if psi_out is not None:
            psi_out[n] = psi
        f_chi = alpha[n] @ W.W_v  # Eq. 228: sum of W_v..^T alpha_..[n]
        f_psi = g_cs * psi  # Eq. 229: g_cs[n] psi[n] + sum of W_s..^T alpha_..[n]
        if W_s_rest is not None:
            f_psi = f_psi + alpha[n, :, d : du * d] @ W_s_rest
        elif w_s is not None:
            f_psi = f_psi + (w_s[1:] * alpha[n, :, d : du * d].view(B, G - 2, d)).sum(1)
    grad_b = alpha.sum((0, 1))  # Eqs. 233, 237, 241, 245, 248 summed (Eq. 172)
    grad_w_s = None
    if w_s is not None:  # the diagonals of Eqs. 239, 235, 231, 243
        S_prev = torch.cat((s0[None], S[:-1]))
        grad_w_s = torch.cat([(alpha[:, :, :d] * S).sum((0, 1))]
                             + [(alpha[:, :, k * d : (k + 1) * d] * S_prev).sum((0, 1)) for k in range(1, G - 1)])
    return Signals(alpha, alpha_xdu, chi_all, f_psi, f_chi, grad_b, grad_w_s)


def parameter_gradients(x_unf, W: Weights, v0, s0, v, rec: Record, sig: Signals, layout: Layout, needs):
    """dE/dx and the weight gradients from the signals of the backward loop, each one product over
    all steps and the batch (paper Eqs. 230-249 summed by Eq. 172). ``needs``: which of (x, W_x, b,
    W_v, W_s, W_qdr, v0, s0) need a gradient. Returns them in that order (None where not needed)."""
    N, B, Lm = x_unf.shape
    d, G, dv, L = layout.hidden_size, layout.n_blocks, layout.value_size, layout.context
    NB, du = N * B, (G - 1) * d
    alpha = sig.alpha.view(NB, G * d)
    X = x_unf.reshape(NB, Lm)
    # dE/dxi: alpha, with g_cx alpha_du in the data update's block (erratum E11)
    parts = [(alpha, W.W_x)] if sig.alpha_xdu is None else [
        (alpha[:, :du], W.W_x[:du]), (sig.alpha_xdu.view(NB, d), W.W_x[du:])]
    g_x = g_W_x = g_W_s = g_W_qdr = None
    if needs[0]:
        dX = parts[0][0] @ parts[0][1]
        for a, w in parts[1:]:
            dX.addmm_(a, w)
        g_x = fold_context(dX.view(N, B, Lm), L, layout.input_size)
    if needs[1]:
        g_W_x = torch.cat([a.t() @ X for a, _ in parts]) if len(parts) > 1 else alpha.t() @ X
    g_W_v = None
    if needs[3]:  # Eqs. 232, 236, 240, 244, 247: alpha[n] v[n-1]^T
        g_W_v = alpha[:B].t() @ v0
        if N > 1:
            g_W_v.addmm_(alpha[B:].t(), v.reshape(NB, dv)[:-B])
    if needs[4]:
        if layout.state_weights == "full":  # Eq. 239: alpha_cr s[n]^T; Eqs. 231, 235, 243: alpha s[n-1]^T
            S = rec.S.reshape(NB, d)
            g_scr = alpha[:, :d].t() @ S
            g_rest = alpha[:B, d:du].t() @ s0
            if N > 1:
                g_rest.addmm_(alpha[B:, d:du].t(), S[:-B])
            g_W_s = torch.cat((g_scr, g_rest))
        else:
            g_W_s = sig.grad_w_s
    if needs[5]:  # Eq. 249: chi q^T
        g_W_qdr = sig.chi.reshape(NB, dv).t() @ rec.Q.reshape(NB, d)
    return (g_x, g_W_x, sig.grad_b if needs[2] else None, g_W_v, g_W_s, g_W_qdr,
            sig.grad_v0 if needs[6] else None, sig.grad_s0 if needs[7] else None)


# ---- the loops, compiled where possible -------------------------------------------------------------


def _forward(A, W: Weights, v0, s0, layout: Layout, record: bool):
    if _lstm_kernels.usable(A):
        return _lstm_kernels.forward(A, W, v0, s0, layout, record)
    with torch.no_grad():
        return reference_forward(A, W, v0, s0, layout, record)


def _backward(A, W, v0, s0, rec, grad_v, grad_s, layout, clip):
    if _lstm_kernels.usable(A):
        return _lstm_kernels.backward(A, W, v0, s0, rec, grad_v, grad_s, layout, clip)
    return reference_backward(A, W, v0, s0, rec, grad_v, grad_s, layout, clip)


def autograd_sequence(x, W: Weights, v0, s0, layout: Layout, clip=None):
    """The layer's forward as plain autograd operations: autograd differentiates it. With ``clip``,
    a hook clips every accumulation derivative where it is formed (paper fn 25)."""
    hook = None if clip is None else (lambda g: g.clamp(-clip, clip))
    A = input_terms(x, W.W_x, layout.context)
    v, s_last, _ = reference_forward(A, W, v0, s0, layout, record=False, clip_hook=hook)
    return v, s_last


class LSTMSequence(torch.autograd.Function):
    """The LSTM layer over a sequence with the hand-derived backward (paper Eqs. 216-250).

    Inputs ``(x, W_x, b, W_v, W_s, W_qdr, v0, s0, layout, clip)``; outputs ``v`` (N, B, d_v) and
    ``s[N-1]`` (B, d). Forward: :func:`input_terms` then the loop (compiled on the CPU). Backward:
    the backward loop, then the parameter gradients as products.

    A second derivative (``create_graph=True``) is computed by differentiating the same forward with
    autograd, from the saved inputs, so it is exact; with clipping (no longer a true gradient) it
    is refused.
    """

    @staticmethod
    def forward(ctx, x, W_x, b, W_v, W_s, W_qdr, v0, s0, layout: Layout, clip):
        x_unf = unfold_context(x, layout.context)
        N, B, Lm = x_unf.shape
        A = torch.mm(x_unf.reshape(N * B, Lm), W_x.t()).view(N, B, -1)
        W = Weights(W_x, b, W_v, W_s, W_qdr)
        v, s_last, rec = _forward(A, W, v0, s0, layout, record=True)
        ctx.save_for_backward(x, W_x, b, W_v, W_s, W_qdr, v0, s0, v)
        ctx.internals = (x_unf, A, rec)  # never handed to the caller
        ctx.layout, ctx.clip = layout, clip
        return v, s_last

    @staticmethod
    def backward(ctx, grad_v, grad_s):
        x, W_x, b, W_v, W_s, W_qdr, v0, s0, v = ctx.saved_tensors
        layout, clip = ctx.layout, ctx.clip
        if torch.is_grad_enabled():  # a graph of the gradient is being built: differentiate by autograd
            return _double_backward(ctx, (x, W_x, b, W_v, W_s, W_qdr, v0, s0), grad_v, grad_s)
        x_unf, A, rec = ctx.internals
        W = Weights(W_x, b, W_v, W_s, W_qdr)
        sig = _backward(A, W, v0, s0, rec, grad_v.contiguous(), grad_s.contiguous(), layout, clip)
        needs = ctx.needs_input_grad[:8]
        return (*parameter_gradients(x_unf, W, v0, s0, v, rec, sig, layout, needs), None, None)


def _double_backward(ctx, inputs, grad_v, grad_s):
    if ctx.clip is not None:
        raise RuntimeError(
            "clip_alpha: a second derivative through clipped accumulation derivatives (paper fn 25) is not "
            "defined; set clip_alpha=None, or use backward='autograd'")
    wanted = [k for k, t in enumerate(inputs) if t is not None and ctx.needs_input_grad[k]]
    with torch.enable_grad():
        v, s_last = autograd_sequence(inputs[0], Weights(*inputs[1:6]), inputs[6], inputs[7], ctx.layout)
        grads = torch.autograd.grad((v, s_last), [inputs[k] for k in wanted], (grad_v, grad_s),
                                    create_graph=True, allow_unused=True)
    out = [None] * 10
    for k, g in zip(wanted, grads, strict=True):
        out[k] = g
    return tuple(out)


def lstm_sequence(x, W: Weights, v0, s0, layout: Layout, *, backward: str = "bptt", clip=None):
    """Run the layer on ``x`` (N, B, d_x), time-major: returns ``(v, s[N-1])``.

    The one chooser between the implementations: ``backward="autograd"`` differentiates the plain
    loop; otherwise, when a gradient will be needed, :class:`LSTMSequence`; and when none will
    (``no_grad``, ``inference_mode``, or nothing requires grad), the loop alone, keeping no record.
    """
    if backward == "autograd":
        return autograd_sequence(x, W, v0, s0, layout, clip)
    tensors = (x, *W, v0, s0)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return LSTMSequence.apply(x, *W, v0, s0, layout, clip)
    if _lstm_kernels.usable(x):  # the compiled loop forms the input terms itself where that pays
        v, s_last, _ = _lstm_kernels.forward(None, W, v0, s0, layout, record=False, x=x)
        return v, s_last
    A = input_terms(x, W.W_x, layout.context)
    v, s_last, _ = _forward(A, W, v0, s0, layout, record=False)
    return v, s_last

"""The canonical RNN's recurrence: the readable loop and the hand-derived backward (the numerical core).

Forward, over one sequence of N steps (time-major, x of shape (N, B, m)):

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s,   r[n] = G(s[n])       (paper Eqs. 30-31)

from s[-1] = s_init and r[-1] = G(s_init). With W_s = 0 this is the standard RNN (paper Eqs. 32-33).

Backward, from psi[N] = 0 (paper Eq. 85) down to n = 0, given the upstream derivatives dE/ds[n] and
dE/dr[n] of whatever follows the layer:

    chi[n] = dE/dr[n] + W_r^T psi[n+1]                      (paper Eq. 82 with erratum E1: W_r^T)
    psi[n] = dE/ds[n] + G'(s[n]) (.) chi[n] + W_s^T psi[n+1]   (paper Eqs. 83-84; the W_s term is this
                                                             book's extension to the canonical RNN)
    dE/dW_r = sum_n psi[n] r[n-1]^T,  dE/dW_x = sum_n psi[n] x[n]^T,  dE/dtheta_s = sum_n psi[n]
                                                            (paper Eqs. 86-90)
    dE/dW_s = sum_n psi[n] s[n-1]^T                         (this book's extension)

Two implementations, one chooser (:func:`recurrence`):

* :func:`canonical_rnn_loop` -- the equations as a plain loop that autograd differentiates;
* :class:`CanonicalRNNFunction` -- the same forward with the backward above written by hand (one
  matmul per step, the weight gradients as one matmul after the loop). When the backward itself is
  being differentiated (``create_graph=True``: double backward, gradient penalties), it computes the
  gradient through the differentiable loop instead, so second derivatives are exact.

This module is the bottom layer: it imports nothing from the rest of ``lstm_lib`` but the argument
checks. :mod:`lstm_lib.canonical_rnn` (the layer) imports it; nothing here imports back.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._checks import check_choice, check_tensor

__all__ = [
    "identity", "WARP_DERIVATIVES", "WARPS_BY_NAME", "resolve_warp", "warp_derivative",
    "canonical_rnn_loop", "CanonicalRNNFunction", "canonical_rnn_bptt", "recurrence",
]


# ---------------------------------------------------------------------------------------------- warps
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


# ---------------------------------------------------------------------------------------------- checks
def _check_args(x, s_init, W_s, W_r, W_x, theta_s):
    """Shapes, dtypes and devices of the recurrence's arguments; returns (N, B, m, d)."""
    x = check_tensor("x", x, ndim=3)
    N, B, m = x.shape
    if N < 1 or B < 1:
        raise ValueError(f"x: expected at least one time step and one sequence, got shape {tuple(x.shape)}")
    W_x = check_tensor("W_x", W_x, ndim=2, dtype=x.dtype, device=x.device)
    d = W_x.shape[0]
    if W_x.shape[1] != m:
        raise ValueError(f"W_x: expected shape (d, m={m}) to match x, got {tuple(W_x.shape)}")
    check_tensor("s_init", s_init, shape=(B, d), dtype=x.dtype, device=x.device)
    check_tensor("W_s", W_s, shape=(d, d), dtype=x.dtype, device=x.device)
    check_tensor("W_r", W_r, shape=(d, d), dtype=x.dtype, device=x.device)
    check_tensor("theta_s", theta_s, shape=(d,), dtype=x.dtype, device=x.device)
    return N, B, m, d


# ---------------------------------------------------------------------------------------------- the loop
def _loop(x, s_init, W_s, W_r, W_x, theta_s, warp):
    N, B, m = x.shape
    u = torch.addmm(theta_s, x.reshape(N * B, m), W_x.T).view(N, B, -1)  # W_x x[n] + theta_s, all n at once
    s_prev, r_prev = s_init, warp(s_init)
    states = []
    for n in range(N):
        s_prev = u[n] + s_prev @ W_s.T + r_prev @ W_r.T  # paper Eq. 30
        r_prev = warp(s_prev)  # paper Eq. 31
        states.append(s_prev)
    s = torch.stack(states)
    return s, warp(s)


def canonical_rnn_loop(x, s_init, W_s, W_r, W_x, theta_s, warp=torch.tanh):
    """s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s, r[n] = G(s[n]) (paper Eqs. 30-31) as a plain loop.

    Autograd differentiates it (``CanonicalRNN(backward="autograd")``), to any order. The input terms
    W_x x[n] + theta_s of all steps are one matmul; the loop carries only the recurrence.
    ``x``: (N, B, m) time-major; ``s_init`` = s[-1]: (B, d). Returns ``(s, r)``, each (N, B, d).
    """
    _check_args(x, s_init, W_s, W_r, W_x, theta_s)
    return _loop(x, s_init, W_s, W_r, W_x, theta_s, resolve_warp(warp))


# ---------------------------------------------------------------------------------------------- hand BPTT
class CanonicalRNNFunction(torch.autograd.Function):
    """The canonical RNN's sequence loop with the hand-derived backward (see the module docstring).

    Inputs: x (N, B, m) time-major, s_init = s[-1] (B, d), W_s, W_r (d, d), W_x (d, m), theta_s (d,), warp.
    Outputs: s, r, each (N, B, d). The backward receives dE/ds[n] and dE/dr[n] for every n and returns
    the gradients for x, s_init and the four parameters: chi and psi (paper Eqs. 82-85, with erratum E1)
    and the parameter gradients (paper Eqs. 86-90).

    Double backward: when a graph of the backward is being built (``torch.is_grad_enabled()`` inside
    ``backward``, which is the case for ``create_graph=True``), the gradient is computed through the
    differentiable loop on the saved inputs, so its own derivatives are exact.
    """

    @staticmethod
    def forward(ctx, x, s_init, W_s, W_r, W_x, theta_s, warp):
        N, B, m = x.shape
        d = W_s.shape[0]
        # sr[n + 1] = [s[n], r[n]] and sr[0] = [s[-1], r[-1]]: one buffer, so one matmul per step with
        # W_sr = [W_s W_r] gives W_s s[n-1] + W_r r[n-1], and one matmul after the backward loop gives
        # both dE/dW_s and dE/dW_r.
        sr = x.new_empty(N + 1, B, 2 * d)
        sr[0, :, :d] = s_init
        sr[0, :, d:] = warp(s_init)
        W_sr_T = torch.cat((W_s, W_r), dim=1).T  # (2d, d)
        u = torch.addmm(theta_s, x.reshape(N * B, m), W_x.T).view(N, B, d)  # W_x x[n] + theta_s, all n
        s = x.new_empty(N, B, d)
        for n in range(N):
            torch.addmm(u[n], sr[n], W_sr_T, out=s[n])  # paper Eq. 30
            sr[n + 1, :, :d] = s[n]
            sr[n + 1, :, d:] = warp(s[n])  # paper Eq. 31
        r = sr[1:, :, d:].contiguous()
        ctx.warp = warp
        ctx.save_for_backward(x, s_init, W_s, W_r, W_x, theta_s, sr)
        return s, r

    @staticmethod
    def backward(ctx, dE_ds, dE_dr):
        x, s_init, W_s, W_r, W_x, theta_s, sr = ctx.saved_tensors
        needs = ctx.needs_input_grad[:6]
        if torch.is_grad_enabled():
            return (*_differentiable_backward(ctx.warp, needs, (x, s_init, W_s, W_r, W_x, theta_s), dE_ds, dE_dr),
                    None)
        N, B, m = x.shape
        d = W_s.shape[0]
        G_prime = warp_derivative(ctx.warp)(sr[:, :, :d], sr[:, :, d:])  # G'(s[n]), n = -1 .. N-1: (N+1, B, d)
        # The parts of psi[n] that do not depend on psi[n+1]: upstream dE/ds[n] + G'(s[n]) (.) upstream dE/dr[n].
        psi = torch.addcmul(dE_ds, G_prime[1:], dE_dr)
        W_sr = torch.cat((W_s, W_r), dim=1)  # (d, 2d): psi @ W_sr = [W_s^T psi, W_r^T psi] for row vectors
        back = x.new_empty(B, 2 * d)
        for n in range(N - 2, -1, -1):  # psi[N] = 0 (paper Eq. 85): the last step has no recurrent part
            torch.mm(psi[n + 1], W_sr, out=back)
            # psi[n] += W_s^T psi[n+1] + G'(s[n]) (.) (W_r^T psi[n+1])      (paper Eq. 84 with W_r^T, E1)
            psi[n].addcmul_(G_prime[n + 1], back[:, d:]).add_(back[:, :d])
        grads = [None] * 7
        psi2 = psi.view(N * B, d)
        if needs[0]:
            grads[0] = (psi2 @ W_x).view(N, B, m)  # dE/dx[n] = W_x^T psi[n]
        if needs[1]:
            torch.mm(psi[0], W_sr, out=back)  # dE/ds[-1] = W_s^T psi[0] + G'(s[-1]) (.) W_r^T psi[0]
            grads[1] = torch.addcmul(back[:, :d], G_prime[0], back[:, d:])
        if needs[2] or needs[3]:
            dW_sr = psi2.T @ sr[:-1].reshape(N * B, 2 * d)  # [dE/dW_s, dE/dW_r] in one matmul (paper Eq. 87)
            grads[2], grads[3] = dW_sr[:, :d], dW_sr[:, d:]
        if needs[4]:
            grads[4] = psi2.T @ x.reshape(N * B, m)  # paper Eq. 88, summed over n (Eq. 90)
        if needs[5]:
            grads[5] = psi2.sum(0)  # paper Eq. 89, summed over n (Eq. 90)
        return tuple(grads)


def _differentiable_backward(warp, needs, inputs, dE_ds, dE_dr):
    """The backward as a differentiable function of the inputs and of dE/ds, dE/dr (for double backward).

    Re-runs the forward through the plain loop on the saved inputs and lets autograd build the graph
    of its gradient (``create_graph=True``); the result is exact to any order.
    """
    wanted = [t for t, need in zip(inputs, needs, strict=True) if need]
    with torch.enable_grad():
        s, r = _loop(*inputs, warp)
        got = iter(torch.autograd.grad((s, r), wanted, (dE_ds, dE_dr), create_graph=True, allow_unused=True))
    out = []
    for t, need in zip(inputs, needs, strict=True):
        if not need:
            out.append(None)
            continue
        g = next(got)
        out.append(torch.zeros_like(t) if g is None else g)
    return out


def canonical_rnn_bptt(x, s_init, W_s, W_r, W_x, theta_s, warp=torch.tanh):
    """Run the canonical RNN (paper Eqs. 30-31) with the hand-derived BPTT backward; return ``(s, r)``.

    The arguments are those of :func:`canonical_rnn_loop`; ``warp`` must be one whose derivative the
    backward knows (``torch.tanh``, ``torch.sigmoid``, :func:`identity`, ``torch.relu`` or their names).
    """
    _check_args(x, s_init, W_s, W_r, W_x, theta_s)
    warp = resolve_warp(warp)
    warp_derivative(warp)
    return CanonicalRNNFunction.apply(x, s_init, W_s, W_r, W_x, theta_s, warp)


def recurrence(x, s_init, W_s, W_r, W_x, theta_s, warp, backward: str = "bptt"):
    """The one chooser: ``backward="bptt"`` runs :class:`CanonicalRNNFunction`, ``"autograd"`` the plain loop.

    The caller (the layer) has checked the arguments already.
    """
    if backward == "bptt":
        return CanonicalRNNFunction.apply(x, s_init, W_s, W_r, W_x, theta_s, warp)
    return _loop(x, s_init, W_s, W_r, W_x, theta_s, warp)

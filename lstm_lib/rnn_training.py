"""Training the canonical RNN: hand-derived BPTT and the vanishing/exploding gradient (chapter ``rnn_training``).

Backpropagation through time for s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s, r[n] = G(s[n]),
run backwards from n = N-1 with psi[N] = 0 (eq:rnn_training-chi, eq:rnn_training-psi):

    chi[n] = dE/dr[n] = (upstream dE/dr[n]) + W_r^T psi[n+1]
    psi[n] = dE/ds[n] = (upstream dE/ds[n]) + G'(s[n]) * chi[n] + W_s^T psi[n+1]

and the weight gradients (eq:rnn_training-grads), each ONE matmul after the loop:

    dE/dW_s = sum_n psi[n] s[n-1]^T,  dE/dW_r = sum_n psi[n] r[n-1]^T,
    dE/dW_x = sum_n psi[n] x[n]^T,    dE/dtheta_s = sum_n psi[n].

The gradient reaching step k from step n is multiplied by the Jacobians J[j] = W_s + W_r diag(G'(s[j-1]))
(eq:rnn_training-jacobian); :func:`jacobian_product_norms` and :func:`gradient_norm_by_lag` measure that.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_int, check_positive, check_tensor
from .canonical_rnn import CanonicalRNN, warp_derivative
from .widgets import Explorer, Param


class CanonicalRNNFunction(torch.autograd.Function):
    """The canonical RNN's sequence loop with the hand-derived backward (eq:rnn_training-chi ... -grads).

    Inputs: x (N, B, m) time-major, s_init = s[-1] (B, d), W_s, W_r (d, d), W_x (d, m), theta_s (d,), warp.
    Outputs: s, r, each (N, B, d). The backward receives dE/ds[n] and dE/dr[n] for every n and returns
    the gradients for x, s_init and the four parameters.
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
        # Input terms of every step at once: u[n] = W_x x[n] + theta_s.
        u = torch.addmm(theta_s, x.reshape(N * B, m), W_x.T).view(N, B, d)
        s = x.new_empty(N, B, d)
        for n in range(N):
            torch.addmm(u[n], sr[n], W_sr_T, out=s[n])
            sr[n + 1, :, :d] = s[n]
            sr[n + 1, :, d:] = warp(s[n])
        r = sr[1:, :, d:].contiguous()
        ctx.warp = warp
        ctx.save_for_backward(x, sr, W_s, W_r, W_x)
        return s, r

    @staticmethod
    def backward(ctx, dE_ds, dE_dr):
        x, sr, W_s, W_r, W_x = ctx.saved_tensors
        N, B, m = x.shape
        d = W_s.shape[0]
        dG = warp_derivative(ctx.warp)
        G_prime = dG(sr[:, :, :d], sr[:, :, d:])  # G'(s[n]) for n = -1 .. N-1, shape (N+1, B, d)
        # The parts of psi[n] that do not depend on psi[n+1]: upstream dE/ds[n] + G'(s[n]) * upstream dE/dr[n].
        psi = torch.addcmul(dE_ds, G_prime[1:], dE_dr)
        W_sr = torch.cat((W_s, W_r), dim=1)  # (d, 2d): psi @ W_sr = [W_s^T psi, W_r^T psi]
        back = x.new_empty(B, 2 * d)
        for n in range(N - 2, -1, -1):
            torch.mm(psi[n + 1], W_sr, out=back)
            # psi[n] += W_s^T psi[n+1] + G'(s[n]) * (W_r^T psi[n+1])    (chi's recurrent part times G')
            psi[n].addcmul_(G_prime[n + 1], back[:, d:]).add_(back[:, :d])
        grads = [None] * 7
        psi2 = psi.view(N * B, d)
        if ctx.needs_input_grad[0]:
            grads[0] = (psi2 @ W_x).view(N, B, m)
        if ctx.needs_input_grad[1]:
            torch.mm(psi[0], W_sr, out=back)  # psi[-1] = W_s^T psi[0] + G'(s[-1]) * W_r^T psi[0]
            grads[1] = torch.addcmul(back[:, :d], G_prime[0], back[:, d:])
        if ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
            dW_sr = psi2.T @ sr[:-1].reshape(N * B, 2 * d)  # [dE/dW_s, dE/dW_r] in one matmul
            grads[2], grads[3] = dW_sr[:, :d], dW_sr[:, d:]
        if ctx.needs_input_grad[4]:
            grads[4] = psi2.T @ x.reshape(N * B, m)
        if ctx.needs_input_grad[5]:
            grads[5] = psi2.sum(0)
        return tuple(grads)


def canonical_rnn_bptt(x, s_init, W_s, W_r, W_x, theta_s, warp=torch.tanh):
    """Run the canonical RNN (eq:canonical_rnn-state) with the hand-derived BPTT backward; return (s, r)."""
    warp_derivative(warp)
    return CanonicalRNNFunction.apply(x, s_init, W_s, W_r, W_x, theta_s, warp)


# ---------------------------------------------------------------------------------------- readable BPTT
def psi_chi(model: CanonicalRNN, x: torch.Tensor, dE_dr: torch.Tensor, dE_ds: torch.Tensor | None = None,
            s0: torch.Tensor | None = None):
    """The total derivatives chi[n] = dE/dr[n] and psi[n] = dE/ds[n], written as the equations read.

    Runs the model forward on ``x`` (time-major), then eq:rnn_training-chi and eq:rnn_training-psi
    backwards from n = N-1 with psi[N] = 0, given the upstream partial derivatives dE/dr[n] (for a
    readout y[n] = W_y r[n] + theta_y this is W_y^T dE_n/dy[n]) and optionally dE/ds[n].
    Returns ``(psi, chi)``, each (N, B, d). A step-by-step reference for :class:`CanonicalRNNFunction`.
    """
    x_tm, s_init = model.check_input(x, s0)
    if model.batch_first:
        raise ValueError("model: psi_chi expects a time-major model (batch_first=False)")
    with torch.no_grad():
        s, r = model(x_tm, s_init)
    N, B, d = s.shape
    check_tensor("dE_dr", dE_dr, shape=(N, B, d), dtype=s.dtype, device=s.device)
    if dE_ds is None:
        dE_ds = torch.zeros_like(s)
    check_tensor("dE_ds", dE_ds, shape=(N, B, d), dtype=s.dtype, device=s.device)
    G_prime = warp_derivative(model.warp)(s, r)
    W_s, W_r = model.W_s.detach(), model.W_r.detach()
    psi, chi = torch.zeros_like(s), torch.zeros_like(s)
    psi_next = torch.zeros(B, d, dtype=s.dtype, device=s.device)  # psi[N] = 0
    for n in range(N - 1, -1, -1):
        chi[n] = dE_dr[n] + psi_next @ W_r  # W_r^T psi[n+1], batched as rows
        psi[n] = dE_ds[n] + G_prime[n] * chi[n] + psi_next @ W_s
        psi_next = psi[n]
    return psi, chi


class RNNReadout(torch.nn.Module):
    """A canonical RNN followed by the readout y[n] = W_y r[n] + theta_y (eq:rnn_training-readout).

    ``forward(x)`` returns y, shape (N, B, output_size) (or batch-first like the RNN). Extra keyword
    arguments go to :class:`~lstm_lib.canonical_rnn.CanonicalRNN`.
    """

    def __init__(self, input_size: int, state_size: int, output_size: int, **rnn_kwargs):
        super().__init__()
        self.rnn = CanonicalRNN(input_size, state_size, **rnn_kwargs)
        check_int("output_size", output_size, minimum=1)
        kw = {"dtype": self.rnn.W_x.dtype, "device": self.rnn.W_x.device}
        self.W_y = torch.nn.Parameter(torch.empty(output_size, state_size, **kw))
        self.theta_y = torch.nn.Parameter(torch.zeros(output_size, **kw))
        torch.nn.init.uniform_(self.W_y, -state_size**-0.5, state_size**-0.5)

    def forward(self, x: torch.Tensor, s0: torch.Tensor | None = None) -> torch.Tensor:
        _, r = self.rnn(x, s0)
        return r @ self.W_y.T + self.theta_y


# ---------------------------------------------------------------------------------------- vanishing / exploding
def jacobians(model: CanonicalRNN, x: torch.Tensor, s0: torch.Tensor | None = None) -> torch.Tensor:
    """J[n] = ds[n]/ds[n-1] = W_s + W_r diag(G'(s[n-1])) for n = 0 .. N-1 (eq:rnn_training-jacobian).

    Returns a tensor (N, B, d, d): J[n] for each sequence of the batch (time-major ``x``).
    """
    x_tm, s_init = model.check_input(x, s0)
    with torch.no_grad():
        s, r = model(x_tm, s_init) if not model.batch_first else model(x_tm.transpose(0, 1), s_init)
        if model.batch_first:
            s, r = s.transpose(0, 1), r.transpose(0, 1)
        s_prev = torch.cat((s_init.unsqueeze(0), s[:-1]))
        G_prime = warp_derivative(model.warp)(s_prev, model.warp(s_prev))
        return model.W_s.detach() + model.W_r.detach() * G_prime.unsqueeze(-2)  # columns of W_r scaled by G'


def jacobian_product_norms(model: CanonicalRNN, x: torch.Tensor, s0: torch.Tensor | None = None) -> torch.Tensor:
    """The spectral norm of ds[N-1]/ds[k] = J[N-1] J[N-2] ... J[k+1] against the lag N-1-k.

    Entry ``l`` is the norm for lag l (l = 0 gives the identity, norm 1), the mean over the batch.
    """
    J = jacobians(model, x, s0)
    N, B, d, _ = J.shape
    P = torch.eye(d, dtype=J.dtype, device=J.device).expand(B, d, d)
    norms = [torch.ones((), dtype=J.dtype)]
    for k in range(N - 2, -1, -1):
        P = P @ J[k + 1]
        norms.append(torch.linalg.matrix_norm(P, ord=2).mean())
    return torch.stack(norms)


def gradient_norm_by_lag(model: CanonicalRNN, x: torch.Tensor, s0: torch.Tensor | None = None,
                         seed: int = 0) -> torch.Tensor:
    """||psi[k]|| = ||dE/ds[k]|| for a loss on the last step only, against the lag l = N-1-k.

    The loss is E = <e, r[N-1]> with a random unit vector e per sequence, so psi[k] is the error signal
    that reaches step k from step N-1 through the Jacobian product. Entry ``l`` is the batch mean of
    ||psi[N-1-l]|| / ||psi[N-1]||.
    """
    x_tm, s_init = model.check_input(x, s0)
    N, B, _ = x_tm.shape
    e = torch.randn(B, model.state_size, generator=torch.Generator().manual_seed(seed), dtype=x_tm.dtype)
    dE_dr = torch.zeros(N, B, model.state_size, dtype=x_tm.dtype, device=x_tm.device)
    dE_dr[-1] = (e / e.norm(dim=1, keepdim=True)).to(x_tm.device)
    psi, _ = psi_chi(_time_major(model), x_tm, dE_dr, s0=s_init)
    norms = psi.norm(dim=2)
    return (norms / norms[-1].clamp_min(torch.finfo(norms.dtype).tiny)).mean(1).flip(0)


def _time_major(model: CanonicalRNN) -> CanonicalRNN:
    if not model.batch_first:
        return model
    twin = CanonicalRNN(model.input_size, model.state_size, warp=model.warp, backward=model.backward,
                        dtype=model.W_x.dtype, device=model.W_x.device)
    twin.load_state_dict(model.state_dict())
    return twin


def random_recurrent_weights(d: int, spectral_radius: float, *, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """A random Gaussian (d, d) matrix rescaled to the given spectral radius (largest |eigenvalue|)."""
    check_int("d", d, minimum=1)
    check_positive("spectral_radius", spectral_radius, strict=False)
    W = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    W = W * (spectral_radius / torch.linalg.eigvals(W).abs().max())
    return W.to(dtype)


def gradient_lag_curves(spectral_radius: float, w_s: float = 0.0, *, d: int = 64, N: int = 60, B: int = 16,
                        input_scale: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """Gradient norm against lag for a tanh RNN and its linearisation, W_r of the given spectral radius, W_s = w_s I.

    Returns ``{"lag", "tanh", "linear", "bound"}``: ``bound`` is rho(W_s + W_r)^lag, the linear model's
    asymptotic rate.
    """
    check_positive("input_scale", input_scale, strict=False)
    W_r = random_recurrent_weights(d, spectral_radius, seed=seed, dtype=torch.float64)
    W_s = w_s * torch.eye(d, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    W_x = torch.randn(d, 1, generator=gen, dtype=torch.float64)
    theta = torch.zeros(d, dtype=torch.float64)
    x = input_scale * torch.randn(N, B, 1, generator=gen, dtype=torch.float64)
    out = {"lag": np.arange(N)}
    for name, warp in (("tanh", torch.tanh), ("linear", "identity")):
        model = CanonicalRNN.from_params(W_s, W_r, W_x, theta, warp=warp)
        out[name] = gradient_norm_by_lag(model, x, seed=seed).numpy()
    rho = float(torch.linalg.eigvals(W_s + W_r).abs().max())
    out["bound"] = rho ** out["lag"].astype(float)
    out["rho"] = rho
    return out


def explorer() -> Explorer:
    """Gradient norm ||psi[N-1-lag]|| against the lag; sliders: spectral radius of W_r, W_s = w_s I."""

    def compute(spectral_radius, w_s):
        return gradient_lag_curves(spectral_radius, w_s)

    def draw(fig, data, spectral_radius, w_s):
        ax = fig.subplots()
        ax.semilogy(data["lag"], data["linear"], label="linear warp G(s) = s")
        ax.semilogy(data["lag"], data["tanh"], label="tanh warp")
        ax.semilogy(data["lag"], data["bound"], "k:", label=r"$\rho(W_s + W_r)^{lag}$")
        ax.set_ylim(1e-8, 1e8)
        ax.set_xlabel("lag n - k")
        ax.set_ylabel(r"$\|\psi[k]\| \,/\, \|\psi[n]\|$")
        ax.set_title(f"rho(W_r) = {spectral_radius:.2f}, W_s = {w_s:.2f} I, rho(W_s + W_r) = {data['rho']:.2f}",
                     fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
        ax.grid(True, which="major", alpha=0.3)

    params = {
        "spectral_radius": Param(0.2, 2.5, 0.05, 1.0, "spectral radius of W_r"),
        "w_s": Param(0.0, 0.9, 0.05, 0.0, "W_s = w_s I"),
    }
    return Explorer(compute, draw, params, scrub="spectral_radius", frames=12, figsize=(7.5, 3.5))

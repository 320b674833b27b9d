"""Continuous-time roots of the RNN: the additive model with discrete delays.

The state ``s(t)`` in R^d obeys the delay differential equation (DDE)
{eq}`eq:continuous_roots-additive`::

    ds/dt = sum_k A_k s(t - tau_s[k]) + sum_k B_k r(t - tau_r[k]) + sum_k C_k x(t - tau_x[k]) + phi
    r(t)  = G(s(t))

:func:`simulate` integrates it by the method of steps with classical RK4: the state at
past grid points is kept in a history buffer, and a delayed value between grid points
is read off the cubic Hermite interpolant through the neighbouring samples and their
derivatives. With every delay zero and one term of each kind this is the continuous
Hopfield network {eq}`eq:continuous_roots-hopfield`; :func:`hopfield_energy` is its
Lyapunov function {eq}`eq:continuous_roots-energy`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lstm_lib._checks import check_matrix, check_positive, check_tensor
from lstm_lib.widgets import Explorer, Param

__all__ = ["AdditiveModel", "Trajectory", "simulate", "hopfield_energy", "hopfield_network", "explorer"]

_EPS = 1e-9  # tolerance (in units of dt) for deciding that a delayed time falls on a grid point


def _as_list(name: str, value) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0:
        return list(value)
    raise TypeError(f"{name}: expected a tensor or a non-empty sequence of tensors, got {type(value).__name__}")


def _delays(name: str, tau, count: int) -> list[float]:
    taus = list(tau) if isinstance(tau, Sequence) else [tau] * count
    if len(taus) != count:
        raise ValueError(f"{name}: expected {count} delays (one per matrix), got {len(taus)}")
    return [check_positive(f"{name}[{k}]", t, strict=False) for k, t in enumerate(taus)]


class AdditiveModel:
    """The linear additive model with discrete delays, {eq}`eq:continuous_roots-additive`.

    ``A``, ``B`` and ``C`` are each a matrix or a sequence of matrices (``A_k`` and ``B_k``
    of shape (d, d), ``C_k`` of shape (d, m)); ``tau_s``, ``tau_r``, ``tau_x`` give one delay
    >= 0 per matrix (a single number applies to all). ``B`` or ``C`` may be ``None`` to drop
    that kind of term. ``phi`` is the constant bias (d,), zero by default; ``G`` the
    element-wise warping function of the readout ``r = G(s)``.
    """

    def __init__(self, A, B=None, C=None, phi=None, *, tau_s=0.0, tau_r=0.0, tau_x=0.0,
                 G: Callable[[torch.Tensor], torch.Tensor] = torch.tanh):
        self.A = _as_list("A", A)
        check_matrix("A[0]", self.A[0], square=True)
        d, dtype, device = self.A[0].shape[0], self.A[0].dtype, self.A[0].device
        self.A = [check_tensor(f"A[{k}]", M, shape=(d, d), dtype=dtype, device=device) for k, M in enumerate(self.A)]
        self.B = [] if B is None else _as_list("B", B)
        self.B = [check_tensor(f"B[{k}]", M, shape=(d, d), dtype=dtype, device=device) for k, M in enumerate(self.B)]
        self.C = [] if C is None else _as_list("C", C)
        if self.C:
            check_matrix("C[0]", self.C[0], rows=d)
        m = self.C[0].shape[1] if self.C else 0
        self.C = [check_tensor(f"C[{k}]", M, shape=(d, m), dtype=dtype, device=device) for k, M in enumerate(self.C)]
        self.phi = torch.zeros(d, dtype=dtype, device=device) if phi is None else phi
        check_tensor("phi", self.phi, shape=(d,), dtype=dtype, device=device)
        self.tau_s = _delays("tau_s", tau_s, len(self.A))
        self.tau_r = _delays("tau_r", tau_r, len(self.B))
        self.tau_x = _delays("tau_x", tau_x, len(self.C))
        if not callable(G):
            raise TypeError(f"G: expected a callable warping function, got {type(G).__name__}")
        self.G = G
        self.state_size, self.input_size, self.dtype, self.device = d, m, dtype, device

    @property
    def max_delay(self) -> float:
        """The longest delay of any term: how far back the history buffer must reach."""
        return max(self.tau_s + self.tau_r + self.tau_x)

    def __repr__(self) -> str:
        return (f"AdditiveModel(d={self.state_size}, m={self.input_size}, tau_s={self.tau_s}, "
                f"tau_r={self.tau_r}, tau_x={self.tau_x})")


@dataclass(frozen=True)
class Trajectory:
    """Result of :func:`simulate`: times ``t`` (T,), states ``s`` and readouts ``r`` (T, B, d)."""

    t: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor


def _hermite(theta: float) -> tuple[float, float, float, float]:
    """Weights of s[j], dt*f[j], s[j+1], dt*f[j+1] in the cubic Hermite interpolant at j + theta."""
    t2, t3 = theta * theta, theta ** 3
    return 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + theta, -2 * t3 + 3 * t2, t3 - t2


def _lookup_plan(tau: float, dt: float) -> list[tuple]:
    """For the RK4 stage offsets c = 0, 1/2, 1: where to read s(t_n + c dt - tau) from.

    ("now",)                      the stage's own state (tau = 0);
    ("grid", j)                   the stored sample s[n + j];
    ("hermite", j, weights)       the Hermite interpolant on [t_{n+j}, t_{n+j+1}];
    ("extrapolate", q)            s[n] + q dt f[n] (0 < tau < c dt: the value is not stored yet).
    """
    plan = []
    for c in (0.0, 0.5, 1.0):
        if tau == 0.0:
            plan.append(("now",))
            continue
        q = c - tau / dt
        if q > _EPS:
            plan.append(("extrapolate", q))
            continue
        j = math.floor(q + _EPS)
        theta = q - j
        plan.append(("grid", j) if theta < _EPS else ("hermite", j, _hermite(theta)))
    return plan


def _interp_samples(X: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Cubic Hermite interpolation of samples X[0..N] at fractional indices u (held constant outside)."""
    N = X.shape[0] - 1
    if N == 0:
        return X[0].expand(u.shape + X.shape[1:])
    slope = torch.empty_like(X)
    slope[1:-1] = (X[2:] - X[:-2]) / 2
    slope[0], slope[-1] = X[1] - X[0], X[-1] - X[-2]
    u = u.clamp(0, N)
    j = u.floor().long().clamp(max=N - 1)
    th = (u - j.to(u.dtype)).reshape(u.shape + (1,) * (X.dim() - 1))
    h00, h10, h01, h11 = 2 * th**3 - 3 * th**2 + 1, th**3 - 2 * th**2 + th, -2 * th**3 + 3 * th**2, th**3 - th**2
    return h00 * X[j] + h10 * slope[j] + h01 * X[j + 1] + h11 * slope[j + 1]


def _input_terms(model: AdditiveModel, x, N: int, dt: float, batch: int) -> torch.Tensor:
    """sum_k C_k x(t_n + c dt - tau_x[k]) + phi for every step n and stage c: shape (N, 3, B', d)."""
    d, m, kw = model.state_size, model.input_size, {"dtype": model.dtype, "device": model.device}
    stage_t = (torch.arange(N, **kw)[:, None] + torch.tensor([0.0, 0.5, 1.0], **kw)) * dt  # (N, 3)
    if m == 0:
        if x is not None:
            raise ValueError("x: the model has no input term (C is None), so x must be None")
        return model.phi.expand(N, 3, 1, d)
    if x is None:
        raise ValueError(f"x: the model has an input term (C is d x {m}); expected a callable x(t) or samples")
    total = model.phi.expand(N, 3, 1, d)
    for C_k, tau in zip(model.C, model.tau_x, strict=True):
        times = stage_t - tau
        if callable(x):
            vals = [torch.as_tensor(x(float(t)), **kw) for t in times.reshape(-1).tolist()]
            v = vals[0]
            if v.dim() not in (1, 2) or v.shape[-1] != m or (v.dim() == 2 and v.shape[0] not in (1, batch)):
                raise ValueError(f"x(t): expected shape ({m},) or ({batch}, {m}), got {tuple(v.shape)}")
            X = torch.stack([u.reshape(-1, m) for u in vals]).reshape(N, 3, -1, m)
            check_tensor("x(t)", X)
        else:
            u = (times / dt).reshape(-1)
            X = _interp_samples(x, u)
            X = X.reshape(N, 3, 1 if x.dim() == 2 else x.shape[1], m)
        total = total + X @ C_k.T  # all steps and stages at once
    return total


def simulate(model: AdditiveModel, x=None, *, t_end: float, dt: float, s0: torch.Tensor | None = None,
             history: Callable[[float], torch.Tensor] | None = None) -> Trajectory:
    """Integrate the additive DDE {eq}`eq:continuous_roots-additive` from t = 0 to ``t_end``.

    Method of steps with classical RK4 on the grid t_n = n dt (``t_end`` is rounded to a
    multiple of ``dt``); delayed states come from a history buffer, between grid points
    from the cubic Hermite interpolant through s and ds/dt. The result is fourth-order
    accurate when every delay is 0 or a multiple of ``dt``; a delay in (0, dt) is read by
    linear extrapolation (second order).

    ``x``: ``None`` (no input term), a callable ``x(t) -> (m,)`` or ``(B, m)``, or samples on
    the grid of shape (T, m) or (T, B, m), T = N + 1 (interpolated between samples, held
    constant before t = 0). ``s0``: initial state (B, d) or (d,), zero by default; the batch
    runs B initial conditions at once. ``history``: s(t) for t < 0 as a callable of t
    returning (d,) or (B, d); by default the constant s0.
    """
    if not isinstance(model, AdditiveModel):
        raise TypeError(f"model: expected an AdditiveModel, got {type(model).__name__}")
    dt = check_positive("dt", dt)
    t_end = check_positive("t_end", t_end)
    N = max(1, round(t_end / dt))
    d, kw = model.state_size, {"dtype": model.dtype, "device": model.device}
    s0 = torch.zeros(1, d, **kw) if s0 is None else s0
    check_tensor("s0", s0, ndim=(1, 2), dtype=model.dtype, device=model.device)
    s0 = s0.reshape(1, d) if s0.dim() == 1 else s0
    check_tensor("s0", s0, shape=(None, d))
    batch = s0.shape[0]
    if x is not None and not callable(x):
        check_tensor("x", x, ndim=(2, 3), dtype=model.dtype, device=model.device)
        want = (N + 1, model.input_size) if x.dim() == 2 else (N + 1, None, model.input_size)
        check_tensor("x", x, shape=want)
        if x.dim() == 3 and x.shape[1] not in (1, batch):
            raise ValueError(f"x: expected batch size 1 or {batch} (that of s0), got {x.shape[1]}")
    if history is not None and not callable(history):
        raise TypeError(f"history: expected a callable of t, got {type(history).__name__}")

    U = _input_terms(model, x, N, dt, batch)                     # (N, 3, B', d)
    W = torch.cat(model.A + model.B, dim=1).T                   # one matmul for all state/readout terms
    s_taus, r_taus = model.tau_s, model.tau_r
    taus = sorted(set(s_taus + r_taus))
    plans = {tau: _lookup_plan(tau, dt) for tau in taus}
    S = torch.empty(N + 1, batch, d, **kw)                      # history buffer of samples ...
    F = torch.empty(N + 1, batch, d, **kw)                      # ... and of their derivatives
    S[0] = s0

    def past(n: int, c: int, tau: float, now: torch.Tensor) -> torch.Tensor:
        step = plans[tau][c]
        if step[0] == "now":
            return now
        if step[0] == "extrapolate":
            return S[n] + step[1] * dt * F[n]
        j = n + step[1]
        if j < 0:  # before t = 0: the initial history
            t_q = (n + (0.0, 0.5, 1.0)[c]) * dt - tau
            return s0 if history is None else torch.as_tensor(history(t_q), **kw).expand(batch, d)
        if step[0] == "grid":
            return S[j]
        h00, h10, h01, h11 = step[2]
        return h00 * S[j] + (h10 * dt) * F[j] + h01 * S[j + 1] + (h11 * dt) * F[j + 1]

    def f(n: int, c: int, s: torch.Tensor) -> torch.Tensor:
        delayed = {tau: past(n, c, tau, s) for tau in taus}
        parts = [delayed[tau] for tau in s_taus] + [model.G(delayed[tau]) for tau in r_taus]
        return torch.cat(parts, dim=-1) @ W + U[n, c]

    for n in range(N):
        s = S[n]
        k1 = f(n, 0, s)
        F[n] = k1
        k2 = f(n, 1, s + (dt / 2) * k1)
        k3 = f(n, 1, s + (dt / 2) * k2)
        k4 = f(n, 2, s + dt * k3)
        S[n + 1] = s + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    t = torch.arange(N + 1, **kw) * dt
    return Trajectory(t=t, s=S, r=model.G(S))


def _log_cosh(s: torch.Tensor) -> torch.Tensor:
    a = s.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def hopfield_energy(model: AdditiveModel, s: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """The Hopfield energy {eq}`eq:continuous_roots-energy` of states ``s`` (..., d).

    For ds/dt = -a (.) s + B r + C x + phi with r = tanh(s), a > 0, B symmetric and a
    constant input x (m,)::

        E = -1/2 r^T B r - r^T (C x + phi) + sum_i a_i (s_i tanh(s_i) - log cosh(s_i))

    The last term is sum_i a_i int_0^{r_i} artanh(rho) d rho written in s. Along every
    trajectory dE/dt = -sum_i G'(s_i) (ds_i/dt)^2 <= 0.
    """
    if not isinstance(model, AdditiveModel):
        raise TypeError(f"model: expected an AdditiveModel, got {type(model).__name__}")
    if len(model.A) != 1 or len(model.B) != 1 or len(model.C) > 1 or model.max_delay != 0:
        raise ValueError("model: expected a Hopfield network (one A, one B, at most one C, every delay 0)")
    if model.G is not torch.tanh:
        raise ValueError("model: the closed-form energy needs G = torch.tanh")
    A, B = model.A[0], model.B[0]
    a = -torch.diagonal(A)
    if not torch.equal(A, torch.diag(-a)) or bool((a <= 0).any()):
        raise ValueError("model: expected A = -diag(a) with every leak a_i > 0")
    if not torch.allclose(B, B.T, rtol=1e-6, atol=1e-10):
        raise ValueError("model: expected a symmetric coupling B (B == B^T); the energy exists only then")
    check_tensor("s", s, shape=None, dtype=model.dtype, device=model.device)
    if s.dim() == 0 or s.shape[-1] != model.state_size:
        raise ValueError(f"s: expected shape (..., {model.state_size}), got {tuple(s.shape)}")
    I = model.phi
    if model.C:
        if x is None:
            raise ValueError("x: the model has an input term; expected the constant input x of shape (m,)")
        check_tensor("x", x, shape=(model.input_size,), dtype=model.dtype, device=model.device)
        I = I + model.C[0] @ x
    r = torch.tanh(s)
    return -0.5 * ((r @ B) * r).sum(-1) - r @ I + (a * (s * r - _log_cosh(s))).sum(-1)


def hopfield_network(patterns: torch.Tensor, *, leak: float = 1.0, gain: float = 2.0) -> AdditiveModel:
    """A continuous Hopfield network {eq}`eq:continuous_roots-hopfield` storing ±1 ``patterns`` (P, d).

    A = -leak I and the Hebbian coupling B = gain / d * sum_p p p^T with a zero diagonal
    (symmetric, so the energy {eq}`eq:continuous_roots-energy` applies).
    """
    check_tensor("patterns", patterns, ndim=2)
    leak, gain = check_positive("leak", leak), check_positive("gain", gain)
    P, d = patterns.shape
    B = gain / d * patterns.T @ patterns
    B.fill_diagonal_(0.0)
    A = -leak * torch.eye(d, dtype=patterns.dtype, device=patterns.device)
    return AdditiveModel(A, B)


def explorer() -> Explorer:
    """Delayed self-feedback ds/dt = -a s + w r(t - tau) + u sin(t): leak, coupling, delay, input."""

    def compute(leak, coupling, delay, amplitude):
        dt64 = torch.float64
        model = AdditiveModel(torch.tensor([[-leak]], dtype=dt64), torch.tensor([[coupling]], dtype=dt64),
                              torch.tensor([[amplitude]], dtype=dt64), tau_r=delay)
        s0 = torch.tensor([[-1.5], [0.3], [2.0]], dtype=dt64)
        traj = simulate(model, lambda t: torch.tensor([math.sin(t)], dtype=dt64), t_end=30.0, dt=0.05, s0=s0)
        return {"t": traj.t.numpy(), "s": traj.s[..., 0].numpy(), "r": traj.r[..., 0].numpy()}

    def draw(fig, data, **values):
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        t, s = data["t"], data["s"]
        lag = 20  # 1 time unit at dt = 0.05
        for b in range(s.shape[1]):
            ax1.plot(t, s[:, b], lw=1.2)
            ax2.plot(s[lag:, b], s[:-lag, b], lw=0.8)
        ax1.set(xlabel="t", ylabel="s(t)", title=f"ds/dt = -{values['leak']:.2g} s {values['coupling']:+.2g} "
                f"r(t - {values['delay']:.2g}) + {values['amplitude']:.2g} sin t")
        ax1.title.set_fontsize(9)
        ax2.set(xlabel="s(t)", ylabel="s(t - 1)", title="delay embedding")
        ax2.title.set_fontsize(9)
        ax1.set_ylim(-4, 4)
        ax2.set(xlim=(-4, 4), ylim=(-4, 4))

    params = {
        "leak": Param(0.2, 3.0, 0.1, 1.0, "leak a"),
        "coupling": Param(-4.0, 4.0, 0.1, -2.0, "coupling w"),
        "delay": Param(0.0, 3.0, 0.05, 1.5, "delay tau"),
        "amplitude": Param(0.0, 2.0, 0.1, 0.0, "input u"),
    }
    return Explorer(compute, draw, params, scrub="delay", frames=13, figsize=(9.0, 3.4))

"""Continuous-time roots of the RNN: the Additive Model with discrete delays (paper Sec. II, Eqs. 1-12).

The state s(t) in R^d obeys ds/dt = f(t) + phi (paper Eq. 1), and the paper's "Additive Model"
splits the drive into three sums of delayed terms (paper Eqs. 4-10)::

    ds/dt = sum_k a_k(s(t - tau_s[k])) + sum_k b_k(r(t - tau_r[k])) + sum_k c_k(x(t - tau_x[k])) + phi
    r(t)  = G(s(t))

The terms may be nonlinear (paper Eq. 9); with matrices A_k, B_k, C_k it is the linear form
(paper Eq. 11), and with circulant matrices (:func:`circulant`) the convolutional form (paper Eq. 12).
G is element-wise, saturating and invertible (:func:`warping_properties` checks a candidate).
The state and readout delays are >= 0; an input delay tau_x may be negative, because the whole input
is known in advance (the paper's remark after Eq. 12): the present state then reads the input ahead.

:func:`simulate` integrates the model by the method of steps with classical RK4 (this book's
addition: the paper does not integrate the model numerically). The state at past grid points is
kept in a history buffer; a delayed value between grid points is read off the cubic Hermite
interpolant through the neighbouring samples and their derivatives.

:func:`hopfield_network` and :func:`hopfield_energy` are this book's addition: the paper only says
that the linear form includes the continuous Hopfield network as a special case; it gives no energy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lstm_lib._checks import check_bool, check_int, check_matrix, check_real, check_tensor

__all__ = [
    "AdditiveModel", "Trajectory", "simulate", "warping_properties", "circulant",
    "hopfield_energy", "hopfield_network",
]

_EPS = 1e-9  # tolerance (in units of dt) for deciding that a delayed time falls on a grid point


# ----------------------------------------------------------------------------------------- the warping function


def warping_properties(G: Callable[[torch.Tensor], torch.Tensor], *, dtype: torch.dtype = torch.float64
                       ) -> dict[str, bool]:
    """Check numerically the properties the paper asks of the warping function G (paper Sec. II).

    Returns a dict of named checks on a grid of s in [-4, 4] (and far out for saturation):
    ``element-wise`` (G of a vector is G of each entry), ``strictly increasing`` (so G is
    invertible on the grid, as the proof of the paper's Proposition 1 needs), ``odd``
    (negative-symmetric, G(-s) = -G(s)), ``saturating`` (bounded at both ends: G(s) stops changing
    for |s| >= 50) and ``quasi-linear near 0`` (G(s) - G(0) = G'(0) s within 1% for |s| <= 0.1).
    """
    if not callable(G):
        raise TypeError(f"G: expected a callable warping function, got {type(G).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype!r}")
    s = torch.linspace(-4.0, 4.0, 801, dtype=dtype)
    g = G(s)
    if not isinstance(g, torch.Tensor) or g.shape != s.shape:
        raise ValueError(f"G: expected a function returning a tensor of its argument's shape {tuple(s.shape)}, "
                         f"got {type(g).__name__} {tuple(getattr(g, 'shape', ()))}")
    one_by_one = torch.stack([G(v.reshape(1))[0] for v in s[::50]])
    far = torch.tensor([-1e3, -100.0, -50.0, 50.0, 100.0, 1e3], dtype=dtype)
    gf = G(far)
    slope = (G(torch.tensor([1e-4], dtype=dtype)) - G(torch.tensor([-1e-4], dtype=dtype)))[0] / 2e-4
    small = s[s.abs() <= 0.1]
    G0 = G(torch.zeros(1, dtype=dtype))[0]
    tol = 1e-6 if dtype == torch.float64 else 1e-3
    return {
        "element-wise": bool(torch.allclose(one_by_one, g[::50], atol=tol, rtol=0)),
        "strictly increasing": bool((g.diff() > 0).all()),
        "odd": bool(torch.allclose(G(-s), -g, atol=tol, rtol=0)),
        "saturating": bool(torch.isfinite(gf).all() and (gf[:3].diff().abs().max() <= tol)
                           and (gf[3:].diff().abs().max() <= tol)),
        "quasi-linear near 0": bool(slope > 0 and ((G(small) - G0 - slope * small).abs()
                                                   <= 0.01 * slope * small.abs() + tol).all()),
    }


# ----------------------------------------------------------------------------------------- the model


def _as_terms(name: str, value) -> list:
    if isinstance(value, torch.Tensor) or callable(value):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0:
        return list(value)
    raise TypeError(f"{name}: expected a matrix, a callable term or a non-empty sequence of them, "
                    f"got {type(value).__name__}")


def _delays(name: str, tau, count: int, *, nonnegative: bool) -> list[float]:
    if isinstance(tau, Sequence) and not isinstance(tau, str):
        taus = list(tau)
        if len(taus) != count:
            raise ValueError(f"{name}: expected {count} delays (one per term), got {len(taus)}")
    else:
        taus = [tau] * count
    out = [check_real(f"{name}[{k}]", t) for k, t in enumerate(taus)]
    for k, t in enumerate(out):
        if nonnegative and t < 0:
            raise ValueError(f"{name}[{k}]: expected a delay >= 0 (only the input delays tau_x may be negative, "
                             f"because only the input is known in advance), got {t!r}")
    return out


class AdditiveModel:
    """The paper's Additive Model with discrete delays (paper Eqs. 4-11).

    ``ds/dt = sum_k a_k(s(t - tau_s[k])) + sum_k b_k(r(t - tau_r[k])) + sum_k c_k(x(t - tau_x[k])) + phi``
    with ``r = G(s)`` (paper Eqs. 9-10). Each of ``A``, ``B``, ``C`` is one term or a sequence of
    terms; a term is a matrix (the linear form, paper Eq. 11: ``A_k``, ``B_k`` of shape (d, d),
    ``C_k`` of shape (d, m)) or a callable (the nonlinear form, paper Eq. 9: ``a_k``, ``b_k`` map
    (..., d) to (..., d), ``c_k`` maps (..., m) to (..., d)). ``B`` or ``C`` may be ``None`` to drop
    that kind of term.

    ``tau_s``, ``tau_r``, ``tau_x`` give one delay per term (a single number applies to all).
    State and readout delays must be >= 0. Input delays may be negative: the paper allows this
    when the whole input is known in advance (remark after paper Eq. 12), and then the state at t
    reads the input at t - tau_x > t.

    ``phi`` is the constant bias (d,), zero by default. ``G`` is the element-wise, saturating,
    invertible warping function of the readout (paper Eqs. 7, 10); with ``check_G`` (default) the
    model refuses a G that :func:`warping_properties` finds not element-wise, not strictly
    increasing or not saturating. The state size, dtype and device come from the first tensor among
    the terms and ``phi``; ``input_size`` is needed only when every input term is a callable.
    """

    def __init__(self, A, B=None, C=None, phi=None, *, tau_s=0.0, tau_r=0.0, tau_x=0.0,
                 G: Callable[[torch.Tensor], torch.Tensor] = torch.tanh, input_size: int | None = None,
                 check_G: bool = True):
        terms = {"A": _as_terms("A", A), "B": [] if B is None else _as_terms("B", B),
                 "C": [] if C is None else _as_terms("C", C)}
        first = next(((n, k, M) for n in "ABC" for k, M in enumerate(terms[n]) if isinstance(M, torch.Tensor)), None)
        if first is not None:
            name, k, M = first
            check_tensor(f"{name}[{k}]", M, ndim=2)
            d, dtype, device = M.shape[0], M.dtype, M.device
        elif phi is not None:
            check_tensor("phi", phi, ndim=1)
            d, dtype, device = phi.shape[0], phi.dtype, phi.device
        else:
            raise ValueError("phi: every term is a callable, so pass phi (a tensor of shape (d,)) to fix the "
                             "state size, dtype and device")
        kw = {"dtype": dtype, "device": device}
        m = None
        for k, M in enumerate(terms["C"]):
            if isinstance(M, torch.Tensor):
                m = check_matrix(f"C[{k}]", M, rows=d).shape[1]
                break
        if input_size is not None:
            check_int("input_size", input_size, minimum=1)
            if m is not None and input_size != m:
                raise ValueError(f"input_size: expected {m} (the columns of the input matrix), got {input_size}")
            m = input_size
        if terms["C"] and m is None:
            raise ValueError("input_size: every input term is a callable; pass input_size=m, the size of x")
        m = 0 if m is None else m
        shapes = {"A": (d, d), "B": (d, d), "C": (d, m)}
        for name, lst in terms.items():
            for k, M in enumerate(lst):
                if isinstance(M, torch.Tensor):
                    check_tensor(f"{name}[{k}]", M, shape=shapes[name], **kw)
                elif callable(M):
                    probe = torch.zeros(2, m if name == "C" else d, **kw)
                    out = M(probe)
                    if not isinstance(out, torch.Tensor) or out.shape != (2, d) or out.dtype != dtype:
                        raise ValueError(f"{name}[{k}]: a callable term must map (..., {m if name == 'C' else d}) "
                                         f"to (..., {d}) in {dtype}; on a ({2}, {probe.shape[1]}) input it gave "
                                         f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
                else:
                    raise TypeError(f"{name}[{k}]: expected a matrix (torch.Tensor) or a callable term, "
                                    f"got {type(M).__name__}")
        self.A, self.B, self.C = terms["A"], terms["B"], terms["C"]
        self.phi = torch.zeros(d, **kw) if phi is None else check_tensor("phi", phi, shape=(d,), **kw)
        self.tau_s = _delays("tau_s", tau_s, len(self.A), nonnegative=True)
        self.tau_r = _delays("tau_r", tau_r, len(self.B), nonnegative=True)
        self.tau_x = _delays("tau_x", tau_x, len(self.C), nonnegative=False)
        if not callable(G):
            raise TypeError(f"G: expected a callable warping function, got {type(G).__name__}")
        if check_bool("check_G", check_G):
            props = warping_properties(G, dtype=dtype)
            missing = [p for p in ("element-wise", "strictly increasing", "saturating") if not props[p]]
            if missing:
                raise ValueError(f"G: the paper's warping function must be element-wise, saturating and invertible; "
                                 f"this one fails: {', '.join(missing)} (pass check_G=False to use it anyway)")
        self.G = G
        self.state_size, self.input_size, self.dtype, self.device = d, m, dtype, device

    @property
    def linear(self) -> bool:
        """True when every term is a matrix: the linear form (paper Eq. 11)."""
        return all(isinstance(M, torch.Tensor) for M in self.A + self.B + self.C)

    @property
    def max_delay(self) -> float:
        """The longest look into the past of any term: how far back the history must reach."""
        return max([0.0] + self.tau_s + self.tau_r + self.tau_x)

    @property
    def max_lead(self) -> float:
        """How far ahead of t the input is read: max(0, -min tau_x) (a negative input delay)."""
        return max([0.0] + [-t for t in self.tau_x])

    def __repr__(self) -> str:
        kind = "linear" if self.linear else "nonlinear"
        return (f"AdditiveModel({kind}, d={self.state_size}, m={self.input_size}, tau_s={self.tau_s}, "
                f"tau_r={self.tau_r}, tau_x={self.tau_x})")


@dataclass(frozen=True)
class Trajectory:
    """Result of :func:`simulate`: times ``t`` (T,), states ``s`` and readouts ``r`` (T, B, d)."""

    t: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor


# ----------------------------------------------------------------------------------------- the integrator


def _hermite(theta: float) -> tuple[float, float, float, float]:
    """Weights of s[j], dt*f[j], s[j+1], dt*f[j+1] in the cubic Hermite interpolant at j + theta."""
    t2, t3 = theta * theta, theta ** 3
    return 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + theta, -2 * t3 + 3 * t2, t3 - t2


def _lookup_plan(tau: float, dt: float) -> list[tuple]:
    """For the RK4 stage offsets c = 0, 1/2, 1: where to read s(t_n + c dt - tau) from (tau >= 0).

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
    """Cubic Hermite interpolation of samples X[0..K] at fractional indices u (held constant outside)."""
    K = X.shape[0] - 1
    if K == 0:
        return X[0].expand(u.shape + X.shape[1:])
    slope = torch.empty_like(X)
    slope[1:-1] = (X[2:] - X[:-2]) / 2
    slope[0], slope[-1] = X[1] - X[0], X[-1] - X[-2]
    u = u.clamp(0, K)
    j = u.floor().long().clamp(max=K - 1)
    th = (u - j.to(u.dtype)).reshape(u.shape + (1,) * (X.dim() - 1))
    h00, h10, h01, h11 = 2 * th**3 - 3 * th**2 + 1, th**3 - 2 * th**2 + th, -2 * th**3 + 3 * th**2, th**3 - th**2
    return h00 * X[j] + h10 * slope[j] + h01 * X[j + 1] + h11 * slope[j + 1]


def _input_terms(model: AdditiveModel, x, N: int, dt: float, batch: int) -> torch.Tensor:
    """sum_k c_k(x(t_n + c dt - tau_x[k])) + phi for every step n and stage c: shape (N, 3, B', d)."""
    d, m, kw = model.state_size, model.input_size, {"dtype": model.dtype, "device": model.device}
    stage_t = (torch.arange(N, **kw)[:, None] + torch.tensor([0.0, 0.5, 1.0], **kw)) * dt  # (N, 3)
    total = model.phi.expand(N, 3, 1, d)
    for c_k, tau in zip(model.C, model.tau_x, strict=True):
        times = stage_t - tau  # tau < 0: the input is read ahead of t
        if callable(x):
            vals = [x(float(t)) for t in times.reshape(-1).tolist()]
            if isinstance(vals[0], torch.Tensor):
                check_tensor("x(t)", vals[0])
            vals = [torch.as_tensor(v, **kw) for v in vals]
            v = vals[0]
            if v.dim() not in (1, 2) or v.shape[-1] != m or (v.dim() == 2 and v.shape[0] not in (1, batch)):
                raise ValueError(f"x(t): expected shape ({m},) or ({batch}, {m}) (batch 1 or that of s0), "
                                 f"got {tuple(v.shape)}")
            if any(u.shape != v.shape for u in vals):
                raise ValueError(f"x(t): expected the same shape {tuple(v.shape)} at every t")
            X = check_tensor("x(t)", torch.stack([u.reshape(-1, m) for u in vals]).reshape(N, 3, -1, m))
        else:
            X = _interp_samples(x, (times / dt).reshape(-1))
            X = X.reshape(N, 3, 1 if x.dim() == 2 else x.shape[1], m)
        total = total + (X @ c_k.T if isinstance(c_k, torch.Tensor) else c_k(X))  # all steps and stages at once
    return total


def simulate(model: AdditiveModel, x=None, *, t_end: float, dt: float, s0: torch.Tensor | None = None,
             history: Callable[[float], torch.Tensor] | None = None) -> Trajectory:
    """Integrate the Additive Model (paper Eqs. 9-11) from t = 0 to ``t_end``.

    Method of steps with classical RK4 on the grid t_n = n dt (``t_end`` is rounded to a
    multiple of ``dt``); delayed states come from a history buffer, between grid points
    from the cubic Hermite interpolant through s and ds/dt. The result is fourth-order
    accurate when every delay is 0 or a multiple of ``dt``; a delay in (0, dt) is read by
    linear extrapolation (second order).

    ``x``: ``None`` (no input term), a callable ``x(t) -> (m,)`` or ``(B, m)``, or samples on
    the grid t_k = k dt of shape (T, m) or (T, B, m) (interpolated between samples, held
    constant before t = 0). Samples must reach the last time the model reads: T >= N + 1 with
    N = t_end / dt, plus max_lead / dt more when an input delay is negative. ``s0``: initial state
    (B, d) or (d,), zero by default; the batch runs B initial conditions at once. ``history``:
    s(t) for t < 0 as a callable of t returning (d,) or (B, d); by default the constant s0.
    """
    if not isinstance(model, AdditiveModel):
        raise TypeError(f"model: expected an AdditiveModel, got {type(model).__name__}")
    dt, t_end = check_real("dt", dt), check_real("t_end", t_end)
    if dt <= 0:
        raise ValueError(f"dt: expected a finite number > 0, got {dt!r}")
    if t_end <= 0:
        raise ValueError(f"t_end: expected a finite number > 0, got {t_end!r}")
    N = max(1, round(t_end / dt))
    d, kw = model.state_size, {"dtype": model.dtype, "device": model.device}
    if s0 is None:
        s0 = torch.zeros(1, d, **kw)
    else:
        check_tensor("s0", s0, ndim=(1, 2), **kw)
        if s0.shape[-1] != d or s0.dim() == 2 and s0.shape[0] < 1:
            raise ValueError(f"s0: expected shape ({d},) or (B, {d}) with B >= 1 (the model has d = {d}), "
                             f"got {tuple(s0.shape)}")
        s0 = s0.reshape(1, d) if s0.dim() == 1 else s0
    batch = s0.shape[0]
    if model.input_size == 0:
        if x is not None:
            raise ValueError("x: the model has no input term (C is None), so x must be None")
    elif x is None:
        raise ValueError(f"x: the model has an input term (m = {model.input_size}); expected a callable x(t) "
                         "or samples")
    elif not callable(x):
        check_tensor("x", x, ndim=(2, 3), **kw)
        lead = math.ceil(model.max_lead / dt - _EPS)
        need = N + 1 + lead
        if x.shape[0] < need or x.shape[-1] != model.input_size:
            ahead = f" (the input is read {model.max_lead:g} ahead: tau_x < 0)" if lead else ""
            raise ValueError(f"x: expected at least {need} samples of size {model.input_size} on the grid "
                             f"t = k dt{ahead}, got shape {tuple(x.shape)}")
        if x.dim() == 3 and x.shape[1] not in (1, batch):
            raise ValueError(f"x: expected batch size 1 or {batch} (that of s0), got {x.shape[1]}")
    if history is not None and not callable(history):
        raise TypeError(f"history: expected a callable of t, got {type(history).__name__}")

    U = _input_terms(model, x, N, dt, batch) if model.input_size else model.phi.expand(N, 3, 1, d)
    lin_A = [(M, tau) for M, tau in zip(model.A, model.tau_s, strict=True) if isinstance(M, torch.Tensor)]
    lin_B = [(M, tau) for M, tau in zip(model.B, model.tau_r, strict=True) if isinstance(M, torch.Tensor)]
    non_A = [(f, tau) for f, tau in zip(model.A, model.tau_s, strict=True) if not isinstance(f, torch.Tensor)]
    non_B = [(f, tau) for f, tau in zip(model.B, model.tau_r, strict=True) if not isinstance(f, torch.Tensor)]
    W = torch.cat([M for M, _ in lin_A + lin_B], dim=1).T if lin_A or lin_B else None  # one matmul for all
    taus = sorted(set(model.tau_s + model.tau_r))
    r_taus = sorted(set(model.tau_r))
    plans = {tau: _lookup_plan(tau, dt) for tau in taus}
    S = torch.empty(N + 1, batch, d, **kw)                      # history buffer of samples ...
    F = torch.empty(N + 1, batch, d, **kw)                      # ... and of their derivatives
    S[0] = s0

    def before_zero(t_q: float) -> torch.Tensor:
        if history is None:
            return s0
        h = torch.as_tensor(history(t_q), **kw)
        if h.shape not in ((d,), (1, d), (batch, d)):
            raise ValueError(f"history(t): expected shape ({d},) or ({batch}, {d}), got {tuple(h.shape)}")
        return check_tensor("history(t)", h).expand(batch, d)

    def past(n: int, c: int, tau: float, now: torch.Tensor) -> torch.Tensor:
        step = plans[tau][c]
        if step[0] == "now":
            return now
        if step[0] == "extrapolate":
            return S[n] + step[1] * dt * F[n]
        j = n + step[1]
        if j < 0:  # before t = 0: the initial history
            return before_zero((n + (0.0, 0.5, 1.0)[c]) * dt - tau)
        if step[0] == "grid":
            return S[j]
        h00, h10, h01, h11 = step[2]
        return h00 * S[j] + (h10 * dt) * F[j] + h01 * S[j + 1] + (h11 * dt) * F[j + 1]

    def f(n: int, c: int, s: torch.Tensor) -> torch.Tensor:
        delayed = {tau: past(n, c, tau, s) for tau in taus}
        readout = {tau: model.G(delayed[tau]) for tau in r_taus}
        out = U[n, c]
        if W is not None:
            parts = [delayed[tau] for _, tau in lin_A] + [readout[tau] for _, tau in lin_B]
            out = torch.cat(parts, dim=-1) @ W + out
        for a_k, tau in non_A:
            out = out + a_k(delayed[tau])
        for b_k, tau in non_B:
            out = out + b_k(readout[tau])
        return out.expand(batch, d)

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


# ----------------------------------------------------------------------------------------- convolutional form


def circulant(c: torch.Tensor) -> torch.Tensor:
    """The circulant matrix M[i, j] = c[(i - j) mod d] of a kernel ``c`` (d,).

    M v is the circular convolution (c * v)[i] = sum_j c[i - j] v[j], so an Additive Model whose
    matrices are circulant is the convolutional form (paper Eq. 12) over a 1-D periodic index i.
    """
    check_tensor("c", c, ndim=1)
    d = c.shape[0]
    idx = (torch.arange(d, device=c.device)[:, None] - torch.arange(d, device=c.device)[None, :]) % d
    return c[idx]


# ----------------------------------------------------------------------------------------- Hopfield (book's addition)


def _log_cosh(s: torch.Tensor) -> torch.Tensor:
    a = s.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def hopfield_energy(model: AdditiveModel, s: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """Hopfield's energy of states ``s`` (..., d): this book's addition (the paper gives no energy).

    For ds/dt = -a (.) s + B r + C x + phi with r = tanh(s), a > 0, B symmetric and a
    constant input x (m,)::

        E = -1/2 r^T B r - r^T (C x + phi) + sum_i a_i (s_i tanh(s_i) - log cosh(s_i))

    The last term is sum_i a_i int_0^{r_i} artanh(rho) d rho written in s. Along every
    trajectory dE/dt = -sum_i G'(s_i) (ds_i/dt)^2 <= 0.
    """
    if not isinstance(model, AdditiveModel):
        raise TypeError(f"model: expected an AdditiveModel, got {type(model).__name__}")
    if (not model.linear or len(model.A) != 1 or len(model.B) != 1 or len(model.C) > 1
            or any(t != 0 for t in model.tau_s + model.tau_r + model.tau_x)):
        raise ValueError("model: expected a Hopfield network (one matrix A, one B, at most one C, every delay 0)")
    if model.G is not torch.tanh:
        raise ValueError("model: the closed-form energy needs G = torch.tanh")
    A, B = model.A[0], model.B[0]
    a = -torch.diagonal(A)
    if not torch.equal(A, torch.diag(-a)) or bool((a <= 0).any()):
        raise ValueError("model: expected A = -diag(a) with every a_i > 0 (the book's 'leak')")
    if not torch.allclose(B, B.T, rtol=1e-6, atol=1e-10):
        raise ValueError("model: expected a symmetric coupling B (B == B^T); the energy exists only then")
    check_tensor("s", s, dtype=model.dtype, device=model.device)
    if s.dim() == 0 or s.shape[-1] != model.state_size:
        raise ValueError(f"s: expected shape (..., {model.state_size}), got {tuple(s.shape)}")
    I = model.phi
    if model.C:
        if x is None:
            raise ValueError("x: the model has an input term; expected the constant input x of shape (m,)")
        check_tensor("x", x, shape=(model.input_size,), dtype=model.dtype, device=model.device)
        I = I + model.C[0] @ x
    elif x is not None:
        raise ValueError("x: the model has no input term, so x must be None")
    r = torch.tanh(s)
    return -0.5 * ((r @ B) * r).sum(-1) - r @ I + (a * (s * r - _log_cosh(s))).sum(-1)


def hopfield_network(patterns: torch.Tensor, *, leak: float = 1.0, gain: float = 2.0) -> AdditiveModel:
    """A continuous Hopfield network storing ±1 ``patterns`` (P, d): this book's addition.

    The special case of the linear form (paper Eq. 11) with one term of each kind and zero delays:
    A = -leak I and the Hebbian coupling B = gain / d * sum_p p p^T with a zero diagonal
    (symmetric, so :func:`hopfield_energy` applies). "Leak" is the book's word, not the paper's.
    """
    check_tensor("patterns", patterns, ndim=2)
    leak, gain = check_real("leak", leak), check_real("gain", gain)
    if leak <= 0:
        raise ValueError(f"leak: expected a finite number > 0, got {leak!r}")
    if gain <= 0:
        raise ValueError(f"gain: expected a finite number > 0, got {gain!r}")
    P, d = patterns.shape
    B = gain / d * patterns.T @ patterns
    B.fill_diagonal_(0.0)
    A = -leak * torch.eye(d, dtype=patterns.dtype, device=patterns.device)
    return AdditiveModel(A, B)

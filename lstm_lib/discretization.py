"""Discretization: from the delay differential equation to the canonical RNN.

Sampling ds/dt = A s(t) + B r(t - dT) + C x(t) + phi {eq}`eq:discretization-dde` at
t = n dT and replacing the derivative by a difference gives the canonical RNN
{eq}`eq:discretization-canonical`::

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s,    r[n] = G(s[n])

* :func:`derive_canonical_rnn` does the algebra in SymPy (backward or forward difference);
* :func:`discretize` is the same map on numbers (torch tensors), {eq}`eq:discretization-weights`
  and {eq}`eq:discretization-forward-weights`;
* :func:`linearization`, :func:`spectral_radius`, :func:`stable` read stability off the
  eigenvalues of W_s + W_r {eq}`eq:discretization-linearized`;
* :func:`amplification` and :func:`stability_region` describe both schemes on the scalar
  test equation ds/dt = lambda s {eq}`eq:discretization-amplification`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import sympy as sp
import torch

from lstm_lib._checks import check_choice, check_matrix, check_positive, check_tensor
from lstm_lib.widgets import Explorer, Param

__all__ = [
    "METHODS", "Derivation", "derive_canonical_rnn", "to_latex", "canonical_trajectory", "DiscreteParams",
    "discretize", "linearization",
    "eigenvalues", "spectral_radius", "stable", "amplification", "stability_region", "explorer",
]

METHODS = ("backward", "forward")


# --------------------------------------------------------------------------- the symbolic derivation


@dataclass(frozen=True)
class Derivation:
    """The SymPy derivation of the canonical RNN by one difference scheme.

    ``difference_equation`` is the sampled DDE with the derivative replaced by the difference
    ({eq}`eq:discretization-backward-difference` or {eq}`eq:discretization-forward-difference`);
    ``W_s, W_r, W_x, theta_s`` are the matrix expressions that solve it
    ({eq}`eq:discretization-weights`, {eq}`eq:discretization-forward-weights`), and ``update``
    is the canonical RNN {eq}`eq:discretization-canonical` with them written out.
    ``amplification`` is the factor R(z), z = dT lambda, of the scheme on ds/dt = lambda s.
    """

    method: str
    symbols: dict = field(repr=False)
    difference_equation: sp.Eq = field(repr=False)
    solved: sp.Eq = field(repr=False)
    W_s: sp.Expr = field(repr=False)
    W_r: sp.Expr = field(repr=False)
    W_x: sp.Expr = field(repr=False)
    theta_s: sp.Expr = field(repr=False)
    update: sp.Eq = field(repr=False)
    amplification: sp.Expr = field(repr=False)

    def definitions(self) -> list[sp.Eq]:
        """W_s = ..., W_r = ..., W_x = ..., theta_s = ... as SymPy equations (for display)."""
        d, m = self.symbols["d"], self.symbols["m"]
        names = (("W_s", d, d, self.W_s), ("W_r", d, d, self.W_r), ("W_x", d, m, self.W_x),
                 (r"\theta_s", d, 1, self.theta_s))
        return [sp.Eq(sp.MatrixSymbol(n, rows, cols), expr, evaluate=False) for n, rows, cols, expr in names]

    def lambdify(self):
        """A NumPy function (A, B, C, phi, dT) -> (W_s, W_r, W_x, theta_s) of the symbolic result.

        Needs integer sizes: build the derivation with ``derive_canonical_rnn(method, d=..., m=...)``;
        ``phi`` is passed as a column (d, 1).
        """
        S = self.symbols
        if not (S["d"].is_Integer and S["m"].is_Integer):
            raise ValueError("d, m: lambdify needs integer sizes; call derive_canonical_rnn(method, d=3, m=2)")
        args = [S["A"], S["B"], S["C"], S["phi"], S["dT"]]
        return sp.lambdify(args, [self.W_s, self.W_r, self.W_x, self.theta_s], modules="numpy")

    def solve_entrywise(self, d: int = 2, m: int = 1) -> tuple[sp.Matrix, bool]:
        """Solve the difference equation for s[n] entry by entry (explicit d x d matrices of symbols).

        Returns the solution and whether it equals W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s
        evaluated on the same matrices, which checks the matrix-level algebra.
        """
        dT = self.symbols["dT"]
        A, B = sp.Matrix(d, d, sp.symbols(f"a0:{d * d}")), sp.Matrix(d, d, sp.symbols(f"b0:{d * d}"))
        C, phi = sp.Matrix(d, m, sp.symbols(f"c0:{d * m}")), sp.Matrix(sp.symbols(f"phi0:{d}"))
        s_prev, s_new = sp.Matrix(sp.symbols(f"p0:{d}")), sp.Matrix(sp.symbols(f"q0:{d}"))
        r_prev, x_new = sp.Matrix(sp.symbols(f"r0:{d}")), sp.Matrix(sp.symbols(f"x0:{m}"))
        s_at = s_new if self.method == "backward" else s_prev  # where A s is evaluated
        residual = (s_new - s_prev) / dT - (A * s_at + B * r_prev + C * x_new + phi)
        sol = sp.solve(list(residual), list(s_new), dict=True)[0]
        solution = s_new.subs(sol)
        I = sp.eye(d)
        W_s = (I - dT * A).inv() if self.method == "backward" else I + dT * A
        W_d = W_s if self.method == "backward" else I  # the factor of dT (B r[n-1] + C x[n] + phi)
        formula = W_s * s_prev + dT * W_d * (B * r_prev + C * x_new + phi)
        same = all(sp.simplify(e) == 0 for e in (solution - formula))
        return solution, same


def derive_canonical_rnn(method: str = "backward", d: int | None = None, m: int | None = None) -> Derivation:
    """Derive the canonical RNN {eq}`eq:discretization-canonical` from the DDE in SymPy.

    ``method="backward"`` evaluates A s and C x at the new sample (implicit Euler,
    {eq}`eq:discretization-backward-difference`) and gives {eq}`eq:discretization-weights`:
    W_s = (I - dT A)^-1, W_r = dT W_s B, W_x = dT W_s C, theta_s = dT W_s phi.
    ``method="forward"`` evaluates A s at the old sample ({eq}`eq:discretization-forward-difference`)
    and gives {eq}`eq:discretization-forward-weights`: W_s = I + dT A, W_r = dT B, W_x = dT C,
    theta_s = dT phi. In both, the readout enters as the stored sample r[n-1] and the input as x[n].
    ``d``, ``m``: integer sizes (for :meth:`Derivation.lambdify`), symbolic when omitted.
    """
    check_choice("method", method, METHODS)
    d = sp.Symbol("d", integer=True, positive=True) if d is None else sp.Integer(d)
    m = sp.Symbol("m", integer=True, positive=True) if m is None else sp.Integer(m)
    dT = sp.Symbol(r"\Delta T", positive=True)
    A, B = sp.MatrixSymbol("A", d, d), sp.MatrixSymbol("B", d, d)
    C, phi = sp.MatrixSymbol("C", d, m), sp.MatrixSymbol(r"\phi", d, 1)
    s_new, s_prev = sp.MatrixSymbol("s[n]", d, 1), sp.MatrixSymbol("s[n-1]", d, 1)
    r_prev, x_new = sp.MatrixSymbol("r[n-1]", d, 1), sp.MatrixSymbol("x[n]", m, 1)
    I = sp.Identity(d)
    drive = B * r_prev + C * x_new + phi  # the terms that are known samples in both schemes
    if method == "backward":
        difference = sp.Eq((s_new - s_prev) / dT, A * s_new + drive, evaluate=False)
        # Multiply by dT and collect s[n]: (I - dT A) s[n] = s[n-1] + dT (B r[n-1] + C x[n] + phi).
        W_s = (I - dT * A).inv()
        solved = sp.Eq(s_new, W_s * (s_prev + dT * drive), evaluate=False)
        W_r, W_x, theta_s = dT * W_s * B, dT * W_s * C, dT * W_s * phi
    else:
        difference = sp.Eq((s_new - s_prev) / dT, A * s_prev + drive, evaluate=False)
        W_s = I + dT * A
        solved = sp.Eq(s_new, W_s * s_prev + dT * drive, evaluate=False)
        W_r, W_x, theta_s = dT * B, dT * C, dT * phi
    update = sp.Eq(s_new, W_s * s_prev + W_r * r_prev + W_x * x_new + theta_s, evaluate=False)
    # The same scheme on the scalar test equation ds/dt = lambda s gives s[n] = R(dT lambda) s[n-1].
    lam, z, s1, s0 = sp.Symbol(r"\lambda"), sp.Symbol("z"), sp.Symbol("s_1"), sp.Symbol("s_0")
    rhs = lam * (s1 if method == "backward" else s0)
    R = sp.solve(sp.Eq((s1 - s0) / dT, rhs), s1)[0] / s0
    R = sp.simplify(R.subs(lam, z / dT))
    symbols = {"d": d, "m": m, "dT": dT, "A": A, "B": B, "C": C, "phi": phi, "s[n]": s_new,
               "s[n-1]": s_prev, "r[n-1]": r_prev, "x[n]": x_new, "z": z}
    return Derivation(method, symbols, difference, solved, W_s, W_r, W_x, theta_s, update, R)


def to_latex(expr) -> str:
    """LaTeX of a derivation result, with I - dT A written in the book's order."""
    text = sp.latex(expr)
    for old, new in ((r"- \Delta T A + \mathbb{I}", r"\mathbb{I} - \Delta T A"),
                     (r"\Delta T A + \mathbb{I}", r"\mathbb{I} + \Delta T A"),
                     (r"- \frac{1}{z - 1}", r"\frac{1}{1 - z}")):
        text = text.replace(old, new)
    return text


# --------------------------------------------------------------------------- the numeric map


class DiscreteParams(NamedTuple):
    """The canonical RNN's parameters {eq}`eq:discretization-weights`: W_s, W_r (d, d), W_x (d, m), theta_s (d,)."""

    W_s: torch.Tensor
    W_r: torch.Tensor
    W_x: torch.Tensor
    theta_s: torch.Tensor


def discretize(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, phi: torch.Tensor, dt: float,
               method: str = "backward") -> DiscreteParams:
    """Map the continuous model (A, B, C, phi) sampled every ``dt`` to the canonical RNN.

    ``backward`` (the paper's choice), {eq}`eq:discretization-weights`:
    W_s = (I - dT A)^-1, W_r = dT W_s B, W_x = dT W_s C, theta_s = dT W_s phi.
    ``forward``, {eq}`eq:discretization-forward-weights`:
    W_s = I + dT A, W_r = dT B, W_x = dT C, theta_s = dT phi.
    """
    check_choice("method", method, METHODS)
    check_matrix("A", A, square=True)
    d, kw = A.shape[0], {"dtype": A.dtype, "device": A.device}
    check_tensor("B", B, shape=(d, d), **kw)
    check_matrix("C", C, rows=d)
    check_tensor("C", C, **kw)
    check_tensor("phi", phi, shape=(d,), **kw)
    dt = check_positive("dt", dt)
    I = torch.eye(d, **kw)
    if method == "forward":
        return DiscreteParams(I + dt * A, dt * B, dt * C, dt * phi)
    M = I - dt * A
    cond = torch.linalg.cond(M).item()
    if not np.isfinite(cond) or cond * torch.finfo(A.dtype).eps > 1e-2:
        raise ValueError(f"dt: I - dt*A must be invertible, but it is singular or nearly so (condition number "
                         f"{cond:.3g}); dt = {dt} makes 1/dt (nearly) an eigenvalue of A")
    W_s = torch.linalg.solve(M, I)
    return DiscreteParams(W_s, dt * W_s @ B, dt * W_s @ C, dt * W_s @ phi)


def canonical_trajectory(model, x=None, *, t_end: float, dt: float, s0: torch.Tensor | None = None,
                         method: str = "backward"):
    """Run the canonical RNN discretized from ``model`` (an AdditiveModel) with step ``dt``.

    The model must have one term of each kind with tau_s = tau_x = 0: the DDE
    {eq}`eq:discretization-dde` (its readout delay is replaced by dT). The RNN starts from
    s[-1] = s(0) = ``s0`` (B, d) and reads x[n] = x((n + 1) dT), so s[n] approximates
    s((n + 1) dT). Returns a :class:`lstm_lib.continuous_roots.Trajectory` on the times
    0, dT, ..., N dT (the first row is s0), ready to compare with ``simulate``.
    """
    from lstm_lib.canonical_rnn import CanonicalRNN
    from lstm_lib.continuous_roots import AdditiveModel, Trajectory

    if not isinstance(model, AdditiveModel):
        raise TypeError(f"model: expected an AdditiveModel, got {type(model).__name__}")
    if len(model.A) != 1 or len(model.B) > 1 or len(model.C) > 1 or max(model.tau_s + model.tau_x) != 0:
        raise ValueError("model: expected one A, at most one B and one C, with tau_s = tau_x = 0")
    dt, t_end = check_positive("dt", dt), check_positive("t_end", t_end)
    d, m, kw = model.state_size, max(model.input_size, 1), {"dtype": model.dtype, "device": model.device}
    B = model.B[0] if model.B else torch.zeros(d, d, **kw)
    C = model.C[0] if model.C else torch.zeros(d, m, **kw)
    N = max(1, round(t_end / dt))
    s0 = torch.zeros(1, d, **kw) if s0 is None else check_tensor("s0", s0, shape=(None, d), **kw)
    t = torch.arange(N + 1, **kw) * dt
    if model.C:
        if not callable(x):
            raise ValueError("x: the model has an input term; expected a callable x(t)")
        X = torch.stack([torch.as_tensor(x(float(tn)), **kw).reshape(-1, m) for tn in t[1:].tolist()])
        X = X.expand(N, s0.shape[0], m)
    else:
        X = torch.zeros(N, s0.shape[0], m, **kw)
    rnn = CanonicalRNN.from_continuous(model.A[0], B, C, model.phi, dt, method=method, warp=model.G,
                                       backward="autograd")
    with torch.no_grad():
        s, _ = rnn(X, s0)
    S = torch.cat([s0[None], s])
    return Trajectory(t=t, s=S, r=model.G(S))


# --------------------------------------------------------------------------- stability


def _check_params(params) -> DiscreteParams:
    if not isinstance(params, tuple) or len(params) != 4:
        raise TypeError(f"params: expected DiscreteParams (W_s, W_r, W_x, theta_s), got {type(params).__name__}")
    W_s, W_r = params[0], params[1]
    check_matrix("W_s", W_s, square=True)
    check_tensor("W_r", W_r, shape=tuple(W_s.shape), dtype=W_s.dtype, device=W_s.device)
    return DiscreteParams(*params)


def linearization(params: DiscreteParams, gain: float = 1.0) -> torch.Tensor:
    """W_s + gain * W_r: the canonical RNN linearised at the origin, {eq}`eq:discretization-linearized`.

    ``gain`` is G'(0) (1 for tanh).
    """
    p = _check_params(params)
    return p.W_s + check_positive("gain", gain, strict=False) * p.W_r


def eigenvalues(params: DiscreteParams, gain: float = 1.0) -> torch.Tensor:
    """The (complex) eigenvalues of W_s + gain * W_r."""
    return torch.linalg.eigvals(linearization(params, gain))


def spectral_radius(params: DiscreteParams, gain: float = 1.0) -> float:
    """The largest modulus of an eigenvalue of W_s + gain * W_r."""
    return eigenvalues(params, gain).abs().max().item()


def stable(params: DiscreteParams, gain: float = 1.0) -> bool:
    """True when every eigenvalue of W_s + gain * W_r lies strictly inside the unit circle."""
    return spectral_radius(params, gain) < 1.0


def amplification(z, method: str = "backward"):
    """R(z) for z = dT lambda, {eq}`eq:discretization-amplification`: 1/(1 - z) or 1 + z.

    ``z`` may be a number, a NumPy array or a torch tensor (real or complex).
    """
    check_choice("method", method, METHODS)
    return 1.0 / (1.0 - z) if method == "backward" else 1.0 + z


def stability_region(method: str = "backward", re=(-4.0, 4.0), im=(-3.0, 3.0), n: int = 241):
    """The grid (Re z, Im z) and the mask |R(z)| < 1 of a scheme's stability region."""
    check_choice("method", method, METHODS)
    x, y = np.meshgrid(np.linspace(*re, n), np.linspace(*im, n))
    z = x + 1j * y
    with np.errstate(divide="ignore", invalid="ignore"):
        mask = np.abs(amplification(z, method)) < 1.0
    return x, y, mask


# --------------------------------------------------------------------------- widget


def explorer() -> Explorer:
    """ds/dt = lambda s sampled every dT: the exact solution and both schemes; dT lambda in both regions."""

    def compute(dT, lam):
        T = 4.0
        N = max(1, int(np.ceil(T / dT)))
        A, zero = torch.tensor([[lam]], dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
        out = {"t": np.arange(N + 1) * dT, "t_fine": np.linspace(0, N * dT, 400), "z": dT * lam}
        out["exact"] = np.exp(lam * out["t_fine"])
        for method in METHODS:
            p = discretize(A, zero, zero, torch.zeros(1, dtype=torch.float64), dT, method)
            W = p.W_s[0, 0].item()
            out[method] = W ** np.arange(N + 1)  # s[n] = W_s^n s[0] with s[0] = 1
            out[method + "_stable"] = stable(p)
        return out

    def draw(fig, data, dT, lam):
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        ax1.plot(data["t_fine"], data["exact"], "k", lw=2, label="exact $e^{\\lambda t}$")
        ax1.plot(data["t"], data["backward"], "o-", ms=3, label="backward Euler")
        ax1.plot(data["t"], data["forward"], "s--", ms=3, label="forward Euler")
        ax1.set(xlabel="t", ylabel="s(t)", ylim=(-2.5, 2.5), title=f"$\\lambda$ = {lam:.3g}, dT = {dT:.3g}")
        ax1.legend(fontsize=8, loc="upper right")
        for method, color in (("backward", "C0"), ("forward", "C1")):
            x, y, mask = stability_region(method, re=(-4, 3), im=(-2.5, 2.5), n=141)
            ax2.contourf(x, y, mask.astype(float), levels=[0.5, 1.5], colors=[color], alpha=0.25)
            ax2.contour(x, y, mask.astype(float), levels=[0.5], colors=[color], linewidths=1)
        ax2.plot([data["z"]], [0.0], "k*", ms=12)
        ax2.axhline(0, color="gray", lw=0.5)
        ax2.axvline(0, color="gray", lw=0.5)
        ax2.set(xlabel="Re dT$\\lambda$", ylabel="Im dT$\\lambda$", aspect="equal",
                title=f"dT$\\lambda$ = {data['z']:.3g}: backward {'stable' if data['backward_stable'] else 'UNSTABLE'}"
                      f", forward {'stable' if data['forward_stable'] else 'UNSTABLE'}")
        ax2.title.set_fontsize(8)

    params = {
        "dT": Param(0.02, 0.6, 0.02, 0.1, "dT"),
        "lam": Param(-10.0, 2.0, 0.5, -5.0, "eigenvalue lambda"),
    }
    return Explorer(compute, draw, params, scrub="dT", frames=12, figsize=(9.0, 3.6))

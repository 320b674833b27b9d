"""Discretization: from the delay differential equation to the canonical RNN (paper Sec. II, Eqs. 13-33).

Keeping one term of each kind with tau_s = tau_x = 0 and tau_r = tau_0 (paper Eq. 13) gives
ds/dt = A s(t) + B r(t - tau_0) + C x(t) + phi (paper Eq. 14). Sampling at t = n dT (Eq. 15), the
backward Euler scheme (paper Eq. 19, fn 8) with tau_0 = dT (Eq. 20) gives the canonical RNN
(paper Eqs. 30-31)::

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s,    r[n] = G(s[n])
    W_s = (I - dT A)^-1,  W_r = dT W_s B,  W_x = dT W_s C,  theta_s = dT W_s phi   (paper Eqs. 25, 27-29)

* :func:`derive_canonical_rnn` carries out the paper's derivation step by step in SymPy
  (:class:`Derivation`, one :class:`Step` per paper equation); :func:`to_latex` typesets a step.
* :func:`discretize` is the same map on numbers (torch tensors); :func:`iterate` runs the
  canonical RNN (paper Eqs. 30-31); :func:`canonical_trajectory` compares it with the DDE.
* :func:`linearization`, :func:`eigenvalues`, :func:`spectral_radius`, :func:`stable`: the paper's
  stability test, every eigenvalue of W_s + W_r inside the unit circle.
* :func:`standard_rnn` drops W_s s[n-1] (the standard RNN, paper Eqs. 32-33); :func:`mode_matrix`
  forms the paper's W~ for a symmetric B (with erratum E4), :func:`mode_condition` the paper's and
  the textbook stability conditions on its modes mu_i (erratum E5).

This book's additions (not in the paper): the forward (explicit) Euler variant ``method="forward"``,
the amplification factors :func:`amplification` and :func:`stability_region`, and
:func:`leak_limits` (the limit of a growing leak with B, C, phi growing with it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import sympy as sp
import torch
from sympy.core.basic import Basic
from sympy.matrices.expressions.matexpr import MatrixExpr
from sympy.printing.latex import LatexPrinter

from lstm_lib._checks import check_choice, check_int, check_matrix, check_real, check_tensor

__all__ = [
    "METHODS", "Step", "Derivation", "derive_canonical_rnn", "to_latex", "DiscreteParams", "discretize",
    "iterate", "canonical_trajectory", "linearization", "eigenvalues", "spectral_radius", "stable",
    "standard_rnn", "Modes", "mode_matrix", "mode_condition", "leak_limits", "amplification", "stability_region",
]

METHODS = ("backward", "forward")

# The scalar symbols of the derivation (SymPy caches symbols by name, so these are the ones every step uses).
t_sym = sp.Symbol("t", real=True)
n_sym = sp.Symbol("n", integer=True)
dT_sym = sp.Symbol(r"\Delta T", positive=True)
tau0_sym = sp.Symbol(r"\tau_0", positive=True)


# --------------------------------------------------------------------------- signals as matrix expressions


class Signal(MatrixExpr):
    """A vector signal at a continuous time, s(t): a (rows x 1) matrix expression whose time is SymPy."""

    is_commutative = False

    def __new__(cls, name, time, rows):
        name = name if isinstance(name, sp.Symbol) else sp.Symbol(name)
        return Basic.__new__(cls, name, sp.sympify(time), sp.sympify(rows))

    name = property(lambda self: self.args[0].name)
    time = property(lambda self: self.args[1])
    shape = property(lambda self: (self.args[2], sp.Integer(1)))


class Sample(MatrixExpr):
    """A sample s[n] of a signal: a (rows x 1) matrix expression whose index is SymPy."""

    is_commutative = False

    def __new__(cls, name, index, rows):
        name = name if isinstance(name, sp.Symbol) else sp.Symbol(name)
        return Basic.__new__(cls, name, sp.sympify(index), sp.sympify(rows))

    name = property(lambda self: self.args[0].name)
    index = property(lambda self: self.args[1])
    shape = property(lambda self: (self.args[2], sp.Integer(1)))


def _split_coeff(term) -> tuple[sp.Expr, list]:
    """A matrix term as (scalar coefficient, list of matrix factors)."""
    if isinstance(term, sp.MatMul):
        scalars = [a for a in term.args if not getattr(a, "is_Matrix", False)]
        mats = [a for a in term.args if getattr(a, "is_Matrix", False)]
        return sp.Mul(*scalars), mats
    return sp.Integer(1), [term]


class _BookLatex(LatexPrinter):
    """SymPy's LaTeX with the book's conventions: I for the identity, sums kept in the derivation's order,
    1/dT (...) as a fraction, times such as n dT + dT written n dT + dT."""

    def _print_Identity(self, expr):
        return "I"

    def _print_MatAdd(self, expr):
        args = sorted(expr.args, key=lambda a: 0 if isinstance(a, sp.Identity) else 1)  # stable: I first
        out = []
        for i, a in enumerate(args):
            coeff, mats = _split_coeff(a)
            neg = coeff.could_extract_minus_sign()
            body = sp.MatMul(-coeff, *mats) if neg and -coeff != 1 else (mats[0] if neg and len(mats) == 1 else
                                                                         sp.MatMul(*mats) if neg else a)
            tex = self._print(body)
            if isinstance(body, sp.MatAdd):
                tex = rf"\left({tex}\right)"
            out.append(("- " if neg else "") + tex if i == 0 else (" - " if neg else " + ") + tex)
        return "".join(out)

    def _print_MatMul(self, expr):
        coeff, mats = _split_coeff(expr)
        num, den = sp.fraction(sp.together(coeff))
        if den != 1 and len(mats) == 1 and isinstance(mats[0], sp.MatAdd):
            sign = "- " if num.could_extract_minus_sign() else ""
            num = -num if sign else num
            top = self._print(mats[0]) if num == 1 else rf"{self._print(num)} \left({self._print(mats[0])}\right)"
            return rf"{sign}\frac{{{top}}}{{{self._print(den)}}}"
        return super()._print_MatMul(expr)

    def _print_time(self, time) -> str:
        time = sp.sympify(time)
        if isinstance(time, sp.Mul) and dT_sym in time.args:
            rest = time / dT_sym
            if isinstance(rest, sp.Add):
                return rf"({self._print(rest)})\,\Delta T"
            return rf"{self._print(rest)}\,\Delta T"
        terms = sp.Add.make_args(sp.expand(time))

        def rank(term):
            return 0 if term.has(t_sym) else 1 if term.has(n_sym) else 2 if term.has(dT_sym) else 3

        out = []
        for i, term in enumerate(sorted(terms, key=rank)):
            neg = term.could_extract_minus_sign()
            body = -term if neg else term
            tex = rf"{self._print(body / dT_sym)}\,\Delta T" if body.has(n_sym) and body.has(dT_sym) else \
                self._print(body)
            out.append(("-" if neg else "") + tex if i == 0 else (" - " if neg else " + ") + tex)
        return "".join(out)

    def _print_Signal(self, expr):
        return rf"{expr.name}\left({self._print_time(expr.time)}\right)"

    def _print_Sample(self, expr):
        return rf"{expr.name}[{self._print(expr.index)}]"


_PRINTER = _BookLatex()


# --------------------------------------------------------------------------- the symbolic derivation


@dataclass(frozen=True)
class Step:
    """One step of the derivation: ``lhs rel rhs`` where rel is = or ≈ (``approx``).

    ``paper`` is the paper's equation number ("19", "25"; "25u" is the unnumbered equation after
    Eq. 25); ``note`` says what was done to reach it (Markdown with TeX math, for display).
    """

    paper: str
    lhs: object = field(repr=False)
    rhs: object = field(repr=False)
    note: str = ""
    approx: bool = False

    @property
    def equation(self) -> sp.Eq:
        """The step as a SymPy equation (also for the approximate ones)."""
        return sp.Eq(self.lhs, self.rhs, evaluate=False)


@dataclass(frozen=True)
class Derivation:
    """The SymPy derivation of the canonical RNN (paper Eqs. 13-31) by one difference scheme, and the
    standard RNN (paper Eqs. 32-33) that drops the term W_s s[n-1].

    ``steps`` are the paper's equations in order (:meth:`step` looks one up by its number);
    ``W_s, W_r, W_x, theta_s`` the matrix expressions of the weights (paper Eqs. 25, 27-29);
    ``solved`` is paper Eq. 26 (the factors still written with W_s), ``update`` the canonical RNN (paper Eq. 30)
    in the weights' names, and ``difference_equation`` the dimensionless scheme (paper Eq. 23).
    ``amplification`` is the factor R(z), z = dT lambda, of the scheme on ds/dt = lambda s (this
    book's addition). ``method="forward"`` is this book's addition too.
    """

    method: str
    symbols: dict = field(repr=False)
    steps: tuple = field(repr=False)
    W_s: sp.Expr = field(repr=False)
    W_r: sp.Expr = field(repr=False)
    W_x: sp.Expr = field(repr=False)
    theta_s: sp.Expr = field(repr=False)
    amplification: sp.Expr = field(repr=False)

    def step(self, paper: str | int) -> Step:
        """The step whose paper equation number is ``paper`` (e.g. 19 or "25u" for the unnumbered one after 25)."""
        key = str(paper)
        for s in self.steps:
            if s.paper == key:
                return s
        raise ValueError(f"paper: expected one of {', '.join(s.paper for s in self.steps)}, got {paper!r}")

    @property
    def difference_equation(self) -> sp.Eq:
        return self.step(23).equation

    @property
    def solved(self) -> sp.Eq:
        return self.step(26).equation

    @property
    def update(self) -> sp.Eq:
        return self.step(30).equation

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
        return sp.lambdify(args, [self.W_s.doit(), self.W_r.doit(), self.W_x.doit(), self.theta_s.doit()],
                           modules="numpy")

    def solve_entrywise(self, d: int = 2, m: int = 1) -> tuple[sp.Matrix, bool]:
        """Solve the scheme (paper Eq. 23) for s[n+1] entry by entry, with explicit d x d matrices of symbols.

        Returns the solution and whether it equals W_s s[n] + W_r r[n] + W_x x[n+1] + theta_s with the
        derived weights evaluated on the same matrices: a check of the matrix-level algebra.
        """
        d, m = check_int("d", d, minimum=1), check_int("m", m, minimum=1)
        dT = self.symbols["dT"]
        A, B = sp.Matrix(d, d, sp.symbols(f"a0:{d * d}")), sp.Matrix(d, d, sp.symbols(f"b0:{d * d}"))
        C, phi = sp.Matrix(d, m, sp.symbols(f"c0:{d * m}")), sp.Matrix(sp.symbols(f"phi0:{d}"))
        s_old, s_new = sp.Matrix(sp.symbols(f"p0:{d}")), sp.Matrix(sp.symbols(f"q0:{d}"))
        r_old, x_new = sp.Matrix(sp.symbols(f"r0:{d}")), sp.Matrix(sp.symbols(f"x0:{m}"))
        s_at = s_new if self.method == "backward" else s_old  # where A s is evaluated
        residual = (s_new - s_old) - dT * (A * s_at + B * r_old + C * x_new + phi)
        sol = sp.solve(list(residual), list(s_new), dict=True)[0]
        solution = s_new.subs(sol)
        D = derive_canonical_rnn(self.method, d=d, m=m)
        S = D.symbols
        numbers = {S["A"]: A, S["B"]: B, S["C"]: C, S["phi"]: phi, sp.Identity(d): sp.eye(d)}
        W = [sp.Matrix(w.xreplace(numbers).doit()) for w in (D.W_s, D.W_r, D.W_x, D.theta_s)]
        formula = W[0] * s_old + W[1] * r_old + W[2] * x_new + W[3]
        same = all(sp.simplify(e) == 0 for e in (solution - formula))
        return solution, same

    def check_steps(self, d: int = 3, m: int = 2, seed: int = 0) -> dict[str, float]:
        """Check every step that relates samples (paper Eqs. 19-26 and 30) on random numbers.

        Draws A, B, C, phi, dT, s[n], r[n], x[n+1] at random, computes s[n+1] from the scheme itself
        (a linear solve of paper Eq. 19 for backward Euler, independent of the derivation), evaluates
        each step with the derived weights, and returns the largest residual |lhs - rhs| per step.
        """
        d, m = check_int("d", d, minimum=1), check_int("m", m, minimum=1)
        check_int("seed", seed)
        rng = np.random.default_rng(seed)
        A, B, C = rng.normal(size=(d, d)), rng.normal(size=(d, d)), rng.normal(size=(d, m))
        phi, dT = rng.normal(size=(d, 1)), float(rng.uniform(0.05, 0.5))
        s_old, r_old, x_new = rng.normal(size=(d, 1)), rng.normal(size=(d, 1)), rng.normal(size=(m, 1))
        I = np.eye(d)
        drive = dT * (B @ r_old + C @ x_new + phi)
        if self.method == "backward":
            s_new = np.linalg.solve(I - dT * A, s_old + drive)
        else:
            s_new = s_old + dT * A @ s_old + drive
        D = derive_canonical_rnn(self.method, d=d, m=m)
        S = D.symbols
        W = [np.asarray(w, dtype=float).reshape(shape) for w, shape in
             zip(D.lambdify()(A, B, C, phi, dT), ((d, d), (d, d), (d, m), (d, 1)), strict=True)]
        numbers = {S["A"]: A, S["B"]: B, S["C"]: C, S["phi"]: phi, sp.MatrixSymbol("W_s", d, d): W[0],
                   sp.MatrixSymbol("W_r", d, d): W[1], sp.MatrixSymbol("W_x", d, m): W[2],
                   sp.MatrixSymbol(r"\theta_s", d, 1): W[3]}
        numbers = {k: sp.Matrix(v) for k, v in numbers.items()} | {sp.Identity(d): sp.eye(d)}
        results = {}
        for step in D.steps:
            if step.paper not in CHECKED_STEPS:
                continue
            expr = sp.MatAdd(step.lhs, -step.rhs).subs(tau0_sym, dT_sym)
            expr = expr.replace(lambda e: isinstance(e, Signal),
                                lambda e: Sample(e.name, sp.simplify(e.time / dT_sym), e.shape[0]))
            new = max(int(smp.index - n_sym) for smp in expr.atoms(Sample) if smp.name == "s")
            values = {("s", new): s_new, ("s", new - 1): s_old, ("r", new - 1): r_old, ("x", new): x_new}
            numeric = expr.replace(lambda e: isinstance(e, Sample),
                                   lambda e, v=values: sp.Matrix(v[(e.name, int(e.index - n_sym))]))
            numeric = numeric.xreplace(numbers).subs(dT_sym, dT)
            value = np.array(sp.Matrix(numeric.doit()).evalf(), dtype=float)
            results[step.paper] = float(np.abs(value).max())
        return results


CHECKED_STEPS = ("19", "20", "21", "22", "23", "24", "25u", "26", "30")


def _rhs(A, B, C, phi, d, m, t_s, t_r, t_x):
    """A s(t_s) + B r(t_r) + C x(t_x) + phi, in this order (paper Eq. 14's right-hand side)."""
    return sp.MatAdd(sp.MatMul(A, Signal("s", t_s, d)), sp.MatMul(B, Signal("r", t_r, d)),
                     sp.MatMul(C, Signal("x", t_x, m)), phi)


def _collect(expr) -> dict:
    """Split a linear matrix expression into {factor: coefficient}, in order of appearance, summing repeats.

    The factor is the last matrix of each term (a sample or the bias); the coefficient is the product
    before it (a matrix expression; a bare scalar c becomes c I).
    """
    out: dict = {}
    for term in sp.MatAdd.make_args(sp.expand(expr.doit())):
        coeff, mats = _split_coeff(term)
        factor = mats[-1]
        rows = factor.shape[0]
        head = sp.MatMul(coeff, *mats[:-1]) if mats[:-1] else coeff * sp.Identity(rows)
        out[factor] = sp.MatAdd(out[factor], head) if factor in out else head
    return out


def derive_canonical_rnn(method: str = "backward", d: int | None = None, m: int | None = None) -> Derivation:
    """Derive the canonical RNN from the DDE in SymPy, following the paper's Eqs. 13-33.

    ``method="backward"`` is the paper's backward Euler (paper Eq. 19, fn 8): the difference
    quotient equals the right-hand side at the new sample, and the result is
    W_s = (I - dT A)^-1, W_r = dT W_s B, W_x = dT W_s C, theta_s = dT W_s phi (paper Eqs. 25, 27-29).
    ``method="forward"`` (this book's addition) evaluates only A s at the old sample and gives
    W_s = I + dT A, W_r = dT B, W_x = dT C, theta_s = dT phi. ``d``, ``m``: integer sizes (needed
    by :meth:`Derivation.lambdify`), symbolic when omitted.
    """
    check_choice("method", method, METHODS)
    d = sp.Symbol("d", integer=True, positive=True) if d is None else sp.Integer(check_int("d", d, minimum=1))
    m = sp.Symbol("m", integer=True, positive=True) if m is None else sp.Integer(check_int("m", m, minimum=1))
    t, n, dT, tau0 = t_sym, n_sym, dT_sym, tau0_sym
    A, B = sp.MatrixSymbol("A", d, d), sp.MatrixSymbol("B", d, d)
    C, phi = sp.MatrixSymbol("C", d, m), sp.MatrixSymbol(r"\phi", d, 1)
    I = sp.Identity(d)
    steps = []

    def add(paper, lhs, rhs, note, approx=False):
        steps.append(Step(str(paper), lhs, rhs, note, approx))
        return steps[-1]

    # Eqs. 13-14: one term of each kind, tau_s = tau_x = 0, tau_r = tau_0.
    dsdt = sp.MatrixSymbol(r"\frac{d s(t)}{dt}", d, 1)
    add(14, dsdt, _rhs(A, B, C, phi, d, m, t, t - tau0, t), r"Eq. 11 with Eq. 13: $K_s = K_r = K_x = 1$, "
        r"$\tau_s(0) = \tau_x(0) = 0$, $\tau_r(0) = \tau_0$")
    add(15, t, n * dT, r"sample every $\Delta T$")
    t_now, t_next = n * dT, n * dT + dT
    quotient = sp.MatMul(1 / dT, sp.MatAdd(Signal("s", t_next, d), -Signal("s", t_now, d)))
    add(16, dsdt, quotient, "the derivative as a forward difference", approx=True)
    rhs_now = _rhs(A, B, C, phi, d, m, t_now, t_now - tau0, t_now)
    rhs_next = _rhs(A, B, C, phi, d, m, t_next, t_next - tau0, t_next)
    add(17, sp.MatrixSymbol(r"\mathrm{RHS}(n\,\Delta T)", d, 1), rhs_now, "right-hand side of Eq. 14 at $t$")
    add(18, sp.MatrixSymbol(r"\mathrm{RHS}(n\,\Delta T + \Delta T)", d, 1), rhs_next,
        r"right-hand side of Eq. 14 at $t + \Delta T$")
    if method == "backward":
        scheme = rhs_next
        note = r"backward Euler (fn 8): the difference quotient equals the right-hand side at $t + \Delta T$"
    else:
        scheme = sp.MatAdd(sp.MatMul(A, Signal("s", t_now, d)), *rhs_next.args[1:])
        note = "forward variant (this book's addition): $A s$ at $t$, the other terms as in backward Euler"
    add(19, quotient, scheme, note, approx=True)
    eq20 = add(20, quotient, scheme.subs(tau0, dT), r"$\tau_0 = \Delta T$: the readout is stored for one step; "
               "the scheme now defines the samples, so $=$ replaces $\\approx$")

    def factored(e):
        return e.replace(lambda z: isinstance(z, Signal), lambda z: Signal(z.name, sp.factor(z.time), z.shape[0]))

    eq21 = add(21, factored(eq20.lhs), factored(eq20.rhs), r"the times written with $(n + 1)\,\Delta T$")
    diff = sp.MatAdd(Signal("s", (n + 1) * dT, d), -Signal("s", n * dT, d))
    eq22 = add(22, diff, sp.MatMul(dT, eq21.rhs), r"multiply by $\Delta T$")

    def sampled(e):
        return e.replace(lambda z: isinstance(z, Signal), lambda z: Sample(z.name, sp.simplify(z.time / dT),
                                                                           z.shape[0]))

    eq23 = add(23, sampled(eq22.lhs), sampled(eq22.rhs), r"samples $s[n] = s(n\,\Delta T)$: time becomes dimensionless")
    # Eq. 24: collect every s[n+1] term on the left, everything else on the right.
    s_new, s_old = Sample("s", n + 1, d), Sample("s", n, d)
    pairs = _collect(sp.MatAdd(eq23.lhs, -eq23.rhs))
    M = pairs.pop(s_new)
    order = {"s": 0, "r": 1, "x": 2}
    rest = sorted(((f, -c) for f, c in pairs.items()), key=lambda fc: order.get(getattr(fc[0], "name", ""), 3))
    Ws = sp.MatrixSymbol("W_s", d, d)
    if M.doit() == I:  # forward: s[n+1] appears only with the factor I, nothing to invert
        add(24, s_new, sp.MatAdd(*[_times(c, f) for f, c in rest]), "collect $s[n+1]$ on the left")
        W_s = dict(rest).pop(s_old)
        add(25, Ws, W_s, "name the factor of $s[n]$ (this book's forward variant: no inverse)")
        weights = [(f, c) for f, c in rest if f != s_old]
        add("25u", s_new, sp.MatAdd(sp.MatMul(Ws, s_old), *[_times(c, f) for f, c in weights]), "write $W_s$")
    else:
        add(24, sp.MatMul(M, s_new), sp.MatAdd(*[_times(c, f) for f, c in rest]), "collect $s[n+1]$ on the left")
        W_s = sp.Inverse(M)
        add(25, Ws, W_s, "name the inverse")
        weights = [(f, _left(Ws, c)) for f, c in rest if f != s_old]
        add("25u", s_new, sp.MatAdd(sp.MatMul(Ws, s_old), *[_times(c, f) for f, c in weights]),
            "multiply by $W_s$ from the left")
    eq25u = steps[-1]
    add(26, eq25u.lhs.subs(n, n - 1), eq25u.rhs.subs(n, n - 1), r"shift the index by one: $n + 1 \to n$")
    names = ((27, "W_r", d, d), (28, "W_x", d, m), (29, r"\theta_s", d, 1))
    expanded = []
    for (number, name, rows, cols), (f, c) in zip(names, weights, strict=True):
        w = _times(c, f) if f == phi else _times(c)  # theta_s is the whole constant term
        add(number, sp.MatrixSymbol(name, rows, cols), w, "name the factor" if f != phi else "name the constant term")
        expanded.append(w.subs(Ws, W_s))
    W_r, W_x, theta_s = expanded
    s_n, s_prev = Sample("s", n, d), Sample("s", n - 1, d)
    r_prev, x_n = Sample("r", n - 1, d), Sample("x", n, m)
    add(30, s_n, sp.MatAdd(sp.MatMul(Ws, s_prev), sp.MatMul(sp.MatrixSymbol("W_r", d, d), r_prev),
                           sp.MatMul(sp.MatrixSymbol("W_x", d, m), x_n), sp.MatrixSymbol(r"\theta_s", d, 1)),
        "the canonical RNN")
    add(31, Sample("r", n, d), sp.MatrixSymbol(r"G(s[n])", d, 1), "the readout")
    eq30 = steps[-2]
    add(32, s_n, sp.MatAdd(*eq30.rhs.args[1:]), "the standard RNN: drop $W_s\\, s[n-1]$")
    add(33, Sample("r", n, d), sp.MatrixSymbol(r"G(s[n])", d, 1), "the readout, as before")
    # This book's addition: the same scheme on the scalar test equation ds/dt = lambda s.
    lam, z, s1, s0 = sp.Symbol(r"\lambda"), sp.Symbol("z"), sp.Symbol("s_1"), sp.Symbol("s_0")
    rhs = lam * (s1 if method == "backward" else s0)
    R = sp.solve(sp.Eq((s1 - s0) / dT, rhs), s1)[0] / s0
    R = sp.simplify(R.subs(lam, z / dT))
    symbols = {"d": d, "m": m, "dT": dT, "tau0": tau0, "n": n, "t": t, "A": A, "B": B, "C": C, "phi": phi, "z": z}
    return Derivation(method, symbols, tuple(steps), W_s, W_r, W_x, theta_s, R)


def _times(c, f=None):
    """The product c f (or c alone) with identity factors and a unit scalar dropped: dT B r[n], W_s s[n]."""
    coeff, mats = _split_coeff(c)
    mats = [x for x in mats if not isinstance(x, sp.Identity)] + ([] if f is None else [f])
    if not mats:
        return coeff * sp.Identity(c.shape[0])
    if coeff == 1:
        return mats[0] if len(mats) == 1 else sp.MatMul(*mats)
    return sp.MatMul(coeff, *mats)


def _left(W, c):
    """W c with the scalar of c kept in front: W (dT B) -> dT W B."""
    coeff, mats = _split_coeff(c)
    mats = [x for x in mats if not isinstance(x, sp.Identity)]
    return sp.MatMul(coeff, W, *mats) if coeff != 1 else sp.MatMul(W, *mats)


def to_latex(expr, terms_per_line: int | None = None) -> str:
    """LaTeX of a derivation result (a :class:`Step`, a SymPy equation or expression), in the book's notation.

    A step prints as ``lhs = rhs`` or ``lhs \\approx rhs``. With ``terms_per_line`` an equation whose
    right-hand side is a sum is broken into an ``aligned`` block with that many terms per line, so
    that it fits a narrow column.
    """
    if terms_per_line is not None:
        check_int("terms_per_line", terms_per_line, minimum=1)
    if isinstance(expr, Step):
        lhs, rhs, rel = expr.lhs, expr.rhs, r"\approx" if expr.approx else "="
    elif isinstance(expr, sp.Eq):
        lhs, rhs, rel = expr.lhs, expr.rhs, "="
    elif isinstance(expr, Basic):
        return _PRINTER.doprint(expr)
    else:
        raise TypeError(f"expr: expected a Step or a SymPy expression or equation, got {type(expr).__name__}")
    left = _PRINTER.doprint(lhs)
    if lhs == t_sym:  # paper Eq. 15, t = n dT
        return f"{left} {rel} {_PRINTER._print_time(rhs)}"
    inner = rhs
    prefix = ""
    if isinstance(rhs, sp.MatMul):  # dT (a + b + ...): break inside the parentheses
        coeff, mats = _split_coeff(rhs)
        if len(mats) == 1 and isinstance(mats[0], sp.MatAdd) and coeff != 1:
            inner, prefix = mats[0], _PRINTER.doprint(coeff)
    terms = list(sp.MatAdd.make_args(inner)) if isinstance(inner, sp.MatAdd) else [inner]
    if terms_per_line is None or len(terms) <= terms_per_line:
        return f"{left} {rel} {_PRINTER.doprint(rhs)}"
    chunks = []
    for i in range(0, len(terms), terms_per_line):
        part = _PRINTER.doprint(sp.MatAdd(*terms[i:i + terms_per_line]))
        if i and not part.startswith("-"):
            part = "+ " + part
        chunks.append(part)
    if prefix:
        chunks[0] = rf"{prefix} \bigl({chunks[0]}"
        chunks[-1] = rf"{chunks[-1]}\bigr)"
    body = r" \\ &\quad ".join(chunks)
    return rf"\begin{{aligned}} {left} &{rel} {body} \end{{aligned}}"


# --------------------------------------------------------------------------- the numeric map


class DiscreteParams(NamedTuple):
    """The canonical RNN's parameters (paper Eqs. 25, 27-29): W_s, W_r (d, d), W_x (d, m), theta_s (d,)."""

    W_s: torch.Tensor
    W_r: torch.Tensor
    W_x: torch.Tensor
    theta_s: torch.Tensor


def _check_dt(dt) -> float:
    dt = check_real("dt", dt)
    if dt <= 0:
        raise ValueError(f"dt: expected a finite number > 0, got {dt!r}")
    return dt


def discretize(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, phi: torch.Tensor, dt: float,
               method: str = "backward") -> DiscreteParams:
    """Map the DDE (A, B, C, phi) (paper Eq. 14) sampled every ``dt`` = dT = tau_0 to the canonical RNN.

    ``backward`` (the paper's choice, paper Eqs. 25, 27-29):
    W_s = (I - dT A)^-1, W_r = dT W_s B, W_x = dT W_s C, theta_s = dT W_s phi.
    ``forward`` (this book's addition): W_s = I + dT A, W_r = dT B, W_x = dT C, theta_s = dT phi.
    """
    check_choice("method", method, METHODS)
    check_matrix("A", A, square=True)
    d, kw = A.shape[0], {"dtype": A.dtype, "device": A.device}
    check_tensor("B", B, shape=(d, d), **kw)
    check_matrix("C", C, rows=d)
    check_tensor("C", C, **kw)
    check_tensor("phi", phi, shape=(d,), **kw)
    dt = _check_dt(dt)
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


def _check_params(params) -> DiscreteParams:
    if not isinstance(params, tuple) or len(params) != 4:
        raise TypeError(f"params: expected DiscreteParams (W_s, W_r, W_x, theta_s), got {type(params).__name__}")
    W_s, W_r, W_x, theta_s = params
    check_matrix("W_s", W_s, square=True)
    d, kw = W_s.shape[0], {"dtype": W_s.dtype, "device": W_s.device}
    check_tensor("W_r", W_r, shape=(d, d), **kw)
    check_matrix("W_x", W_x, rows=d)
    check_tensor("W_x", W_x, **kw)
    check_tensor("theta_s", theta_s, shape=(d,), **kw)
    return DiscreteParams(W_s, W_r, W_x, theta_s)


def iterate(params: DiscreteParams, x: torch.Tensor, s0: torch.Tensor | None = None,
            G: Callable[[torch.Tensor], torch.Tensor] = torch.tanh) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the canonical RNN (paper Eqs. 30-31) on inputs ``x`` (N, B, m) from s[-1] = ``s0`` (B, d) or (d,).

    s[n] = W_s s[n-1] + W_r r[n-1] + W_x x[n] + theta_s and r[n] = G(s[n]), with r[-1] = G(s[-1]);
    with W_s = 0 (:func:`standard_rnn`) it is the standard RNN (paper Eqs. 32-33). Returns the
    states and readouts, each (N, B, d). A plain loop, one line per equation; the fast model is
    :class:`lstm_lib.canonical_rnn.CanonicalRNN`.
    """
    W_s, W_r, W_x, theta_s = _check_params(params)
    d, m, kw = W_s.shape[0], W_x.shape[1], {"dtype": W_s.dtype, "device": W_s.device}
    check_tensor("x", x, ndim=3, **kw)
    if x.shape[2] != m:
        raise ValueError(f"x: expected shape (N, B, {m}) (W_x has {m} columns), got {tuple(x.shape)}")
    if s0 is None:
        s0 = torch.zeros(x.shape[1], d, **kw)
    check_tensor("s0", s0, ndim=(1, 2), **kw)
    if s0.shape[-1] != d or s0.dim() == 2 and s0.shape[0] not in (1, x.shape[1]):
        raise ValueError(f"s0: expected shape ({d},) or ({x.shape[1]}, {d}) (batch of x), got {tuple(s0.shape)}")
    if not callable(G):
        raise TypeError(f"G: expected a callable warping function, got {type(G).__name__}")
    s_prev = s0.expand(x.shape[1], d)
    r_prev = G(s_prev)
    S, R = [], []
    for n in range(x.shape[0]):
        s_n = s_prev @ W_s.T + r_prev @ W_r.T + x[n] @ W_x.T + theta_s   # paper Eq. 30
        r_n = G(s_n)                                                       # paper Eq. 31
        S.append(s_n)
        R.append(r_n)
        s_prev, r_prev = s_n, r_n
    if not S:
        empty = torch.empty(0, x.shape[1], d, **kw)
        return empty, empty.clone()
    return torch.stack(S), torch.stack(R)


def canonical_trajectory(model, x=None, *, t_end: float, dt: float, s0: torch.Tensor | None = None,
                         method: str = "backward"):
    """Run the canonical RNN discretized from ``model`` (an AdditiveModel) with step ``dt``.

    The model must be linear with one term of each kind and tau_s = tau_x = 0 (paper Eq. 14; its
    readout delay is replaced by tau_0 = dT). The RNN starts from s[-1] = s(0) = ``s0`` (B, d) and
    reads x[n] = x((n + 1) dT), so s[n] approximates s((n + 1) dT). Returns a
    :class:`lstm_lib.continuous_roots.Trajectory` on the times 0, dT, ..., N dT (the first row is
    s0), ready to compare with :func:`lstm_lib.continuous_roots.simulate`.
    """
    from lstm_lib.continuous_roots import AdditiveModel, Trajectory

    if not isinstance(model, AdditiveModel):
        raise TypeError(f"model: expected an AdditiveModel, got {type(model).__name__}")
    if (not model.linear or len(model.A) != 1 or len(model.B) > 1 or len(model.C) > 1
            or any(t != 0 for t in model.tau_s + model.tau_x)):
        raise ValueError("model: expected a linear model with one A, at most one B and one C, "
                         "and tau_s = tau_x = 0 (paper Eq. 14)")
    check_choice("method", method, METHODS)
    dt, t_end = _check_dt(dt), check_real("t_end", t_end)
    if t_end <= 0:
        raise ValueError(f"t_end: expected a finite number > 0, got {t_end!r}")
    d, m, kw = model.state_size, max(model.input_size, 1), {"dtype": model.dtype, "device": model.device}
    B = model.B[0] if model.B else torch.zeros(d, d, **kw)
    C = model.C[0] if model.C else torch.zeros(d, m, **kw)
    N = max(1, round(t_end / dt))
    if s0 is None:
        s0 = torch.zeros(1, d, **kw)
    check_tensor("s0", s0, shape=(None, d), **kw)
    t = torch.arange(N + 1, **kw) * dt
    if model.C:
        if not callable(x):
            raise ValueError("x: the model has an input term; expected a callable x(t)")
        X = torch.stack([torch.as_tensor(x(float(tn)), **kw).reshape(-1, m) for tn in t[1:].tolist()])
        if X.shape[1] not in (1, s0.shape[0]):
            raise ValueError(f"x: expected x(t) of shape ({m},) or ({s0.shape[0]}, {m}), got batch {X.shape[1]}")
        X = X.expand(N, s0.shape[0], m)
    else:
        if x is not None:
            raise ValueError("x: the model has no input term, so x must be None")
        X = torch.zeros(N, s0.shape[0], m, **kw)
    params = discretize(model.A[0], B, C, model.phi, dt, method=method)
    s, _ = iterate(params, X, s0, G=model.G)
    S = torch.cat([s0[None], s])
    return Trajectory(t=t, s=S, r=model.G(S))


# --------------------------------------------------------------------------- stability (paper, after Eq. 31)


def linearization(params: DiscreteParams, gain: float = 1.0) -> torch.Tensor:
    """W^ = W_s + gain * W_r: the canonical RNN linearised at the origin (G(s) ~ gain s for small s).

    ``gain`` is G'(0) (1 for tanh). The paper's test: the canonical RNN (paper Eq. 30) is stable
    when every eigenvalue of W_s + W_r lies inside the unit circle.
    """
    p = _check_params(params)
    return p.W_s + check_real("gain", gain, minimum=0.0) * p.W_r


def eigenvalues(params: DiscreteParams, gain: float = 1.0) -> torch.Tensor:
    """The (complex) eigenvalues of W_s + gain * W_r."""
    return torch.linalg.eigvals(linearization(params, gain))


def spectral_radius(params: DiscreteParams, gain: float = 1.0) -> float:
    """The largest modulus of an eigenvalue of W_s + gain * W_r."""
    return eigenvalues(params, gain).abs().max().item()


def stable(params: DiscreteParams, gain: float = 1.0) -> bool:
    """True when every eigenvalue of W_s + gain * W_r lies strictly inside the unit circle."""
    return spectral_radius(params, gain) < 1.0


def standard_rnn(params: DiscreteParams) -> DiscreteParams:
    """The standard RNN (paper Eqs. 32-33): the canonical RNN with the term W_s s[n-1] dropped (W_s = 0).

    The paper justifies it for dT = 1 and a diagonal A with large negative entries, where
    W_s ~ -A^-1 is small; or treats W_s, W_r, W_x, theta_s as free parameters and sets W_s = 0.
    """
    p = _check_params(params)
    return DiscreteParams(torch.zeros_like(p.W_s), p.W_r, p.W_x, p.theta_s)


class Modes(NamedTuple):
    """The paper's mode matrix W~ = V_B^T (-A^-1 B) V_B, the eigenvalues lam (ascending) and eigenvectors V of B."""

    W_tilde: torch.Tensor
    lam: torch.Tensor
    V: torch.Tensor


def mode_matrix(A: torch.Tensor, B: torch.Tensor) -> Modes:
    """The paper's W~ = -[(V_B^T A^-1)(V_B Lambda_B)] for a symmetric B = V_B Lambda_B V_B^T (paper, after Eq. 33).

    With dT = 1 and large |a_ii| the standard RNN has W_r ~ -A^-1 B, and W~ is that matrix in the
    eigenbasis of B. The paper calls W~ diagonal with mu_i = lambda_i / |a_ii|; erratum E4: that
    holds only when A^-1 commutes with B (e.g. A = a I, or B diagonal). The eigenvalues of W~ are
    those of -A^-1 B in every case.
    """
    check_matrix("A", A, square=True)
    d, kw = A.shape[0], {"dtype": A.dtype, "device": A.device}
    check_tensor("B", B, shape=(d, d), **kw)
    if not torch.allclose(B, B.T, rtol=1e-6, atol=1e-10):
        raise ValueError("B: expected a symmetric matrix (the paper's best case B = B^T)")
    cond = torch.linalg.cond(A).item()
    if not np.isfinite(cond) or cond * torch.finfo(A.dtype).eps > 1e-2:
        raise ValueError(f"A: expected an invertible matrix, got condition number {cond:.3g}")
    lam, V = torch.linalg.eigh(B)
    A_inv = torch.linalg.inv(A)
    W_tilde = -((V.T @ A_inv) @ (V * lam))  # -[(V_B^T A^-1)(V_B Lambda_B)]
    return Modes(W_tilde, lam, V)


CRITERIA = ("paper", "textbook")


def mode_condition(mu, criterion: str = "paper") -> torch.Tensor:
    """Whether each mode mu_i of the small-signal standard RNN passes the stability condition.

    ``"paper"``: 0 < mu_i < 1, the paper's condition (after Eq. 33). ``"textbook"``: |mu_i| < 1, the
    usual condition for a linear discrete system (erratum E5: the paper's also excludes decaying
    modes with mu_i < 0, which alternate in sign). Complex mu are allowed for ``"textbook"`` only.
    """
    check_choice("criterion", criterion, CRITERIA)
    if isinstance(mu, bool) or not isinstance(mu, (int, float, complex, torch.Tensor, np.ndarray, list, tuple)):
        raise TypeError(f"mu: expected numbers or a tensor, got {type(mu).__name__}")
    mu = torch.as_tensor(mu)
    if mu.is_complex():
        if criterion == "paper":
            raise ValueError("mu: the paper's condition 0 < mu < 1 needs real modes, got complex values")
        if not bool(torch.isfinite(mu).all()):
            raise ValueError("mu: expected finite values")
        return mu.abs() < 1
    if not (mu.is_floating_point() or mu.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"mu: expected real or complex numbers, got dtype {mu.dtype}")
    if not bool(torch.isfinite(mu.double()).all()):
        raise ValueError("mu: expected finite values")
    return (mu > 0) & (mu < 1) if criterion == "paper" else mu.abs() < 1


def leak_limits() -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """This book's addition: what the weights tend to when A = -a I grows while B = a B~, C = a C~, phi = a phi~.

    Returns {name: (expression, limit as a -> oo)} for the scalar factors of W_s (times I), of W_r
    (times B~), W_x (times C~) and theta_s (times phi~), from paper Eqs. 25, 27-29 in SymPy. The limits
    are 0 and 1, 1, 1 at every dT: W_r -> B~ (not dT B~).
    """
    a, dT = sp.Symbol("a", positive=True), dT_sym
    w_s = 1 / (1 + a * dT)                        # (I - dT A)^-1 with A = -a I
    factor = sp.simplify(dT * w_s * a)            # dT W_s (a M~) = factor * M~
    return {"W_s": (w_s, sp.limit(w_s, a, sp.oo)), "W_r": (factor, sp.limit(factor, a, sp.oo)),
            "W_x": (factor, sp.limit(factor, a, sp.oo)), "theta_s": (factor, sp.limit(factor, a, sp.oo))}


# --------------------------------------------------------------------------- this book's addition: stability regions


def amplification(z, method: str = "backward"):
    """R(z) for z = dT lambda (this book's addition): 1/(1 - z) backward, 1 + z forward.

    ``z`` may be a number, a NumPy array or a torch tensor (real or complex).
    """
    check_choice("method", method, METHODS)
    if isinstance(z, bool) or not isinstance(z, (int, float, complex, np.number, np.ndarray, torch.Tensor)):
        raise TypeError(f"z: expected a number, a NumPy array or a torch tensor, got {type(z).__name__}")
    return 1.0 / (1.0 - z) if method == "backward" else 1.0 + z


def _check_interval(name: str, value) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a pair (low, high), got {value!r}")
    low, high = check_real(f"{name}[0]", value[0]), check_real(f"{name}[1]", value[1])
    if not low < high:
        raise ValueError(f"{name}: expected low < high, got {value!r}")
    return low, high


def stability_region(method: str = "backward", re=(-4.0, 4.0), im=(-3.0, 3.0), n: int = 241):
    """The grid (Re z, Im z) and the mask |R(z)| < 1 of a scheme's stability region (this book's addition)."""
    check_choice("method", method, METHODS)
    re, im = _check_interval("re", re), _check_interval("im", im)
    n = check_int("n", n, minimum=2)
    x, y = np.meshgrid(np.linspace(*re, n), np.linspace(*im, n))
    z = x + 1j * y
    with np.errstate(divide="ignore", invalid="ignore"):
        mask = np.abs(amplification(z, method)) < 1.0
    return x, y, mask

"""Tests of lstm_lib.discretization (paper Eqs. 13-33): SymPy derivation, numeric map, stability, explorers."""

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from lstm_lib.continuous_roots import AdditiveModel, simulate
from lstm_lib.discretization import (
    METHODS,
    DiscreteParams,
    amplification,
    canonical_trajectory,
    derive_canonical_rnn,
    discretize,
    eigenvalues,
    iterate,
    leak_limits,
    linearization,
    mode_condition,
    mode_matrix,
    spectral_radius,
    stability_region,
    stable,
    standard_rnn,
    to_latex,
)

f64 = torch.float64


def random_model(d=3, m=2):
    return (torch.randn(d, d, dtype=f64), torch.randn(d, d, dtype=f64), torch.randn(d, m, dtype=f64),
            torch.randn(d, dtype=f64))


# ------------------------------------------------------------------------------------------- the derivation


def test_steps_carry_the_papers_equation_numbers():
    D = derive_canonical_rnn()
    assert [s.paper for s in D.steps] == [str(k) for k in range(14, 26)] + ["25u"] + [str(k) for k in range(26, 34)]
    assert D.step(16).approx and D.step(19).approx and not D.step(20).approx
    with pytest.raises(ValueError, match="paper"):
        D.step(13)


@pytest.mark.parametrize("method", METHODS)
def test_every_step_of_the_derivation_holds_on_numbers(method):
    residuals = derive_canonical_rnn(method).check_steps(d=3, m=2, seed=1)
    assert set(residuals) == {"19", "20", "21", "22", "23", "24", "25u", "26", "30"}
    assert max(residuals.values()) < 1e-12


def test_steps_typeset_as_the_paper_writes_them():
    D = derive_canonical_rnn()
    assert to_latex(D.step(15)) == r"t = n\,\Delta T"
    assert r"\approx" in to_latex(D.step(19)) and r"\tau_{0}" in to_latex(D.step(19))
    assert r"r\left(n\,\Delta T\right)" in to_latex(D.step(20))              # tau_0 = dT
    assert r"s\left((n + 1)\,\Delta T\right)" in to_latex(D.step(21))
    assert to_latex(D.step(23)) == r"s[n + 1] - s[n] = \Delta T \left(A s[n + 1] + B r[n] + C x[n + 1] + \phi\right)"
    assert to_latex(D.step(24)).startswith(r"\left(I - \Delta T A\right) s[n + 1] = s[n] + \Delta T B r[n]")
    assert to_latex(D.step(25)) == r"W_{s} = \left(I - \Delta T A\right)^{-1}"
    assert to_latex(D.step(27)) == r"W_{r} = \Delta T W_{s} B"
    assert to_latex(D.step(29)) == r"\theta_{s} = \Delta T W_{s} \phi"
    assert to_latex(D.step(30)) == r"s[n] = W_{s} s[n - 1] + W_{r} r[n - 1] + W_{x} x[n] + \theta_{s}"
    assert to_latex(D.step(32)) == r"s[n] = W_{r} r[n - 1] + W_{x} x[n] + \theta_{s}"
    split = to_latex(D.step(23), terms_per_line=2)
    assert split.startswith(r"\begin{aligned}") and split.count(r"\\") == 1
    fw = derive_canonical_rnn("forward")
    assert to_latex(fw.step(25)) == r"W_{s} = I + \Delta T A"
    assert to_latex(fw.step(27)) == r"W_{r} = \Delta T B"


@pytest.mark.parametrize("method", METHODS)
def test_sympy_expressions_equal_numeric_map(method):
    A, B, C, phi = random_model()
    f = derive_canonical_rnn(method, d=3, m=2).lambdify()
    symbolic = f(A.numpy(), B.numpy(), C.numpy(), phi.numpy()[:, None], 0.07)
    numeric = discretize(A, B, C, phi, 0.07, method)
    for sym, num in zip(symbolic, numeric, strict=True):
        np.testing.assert_allclose(np.reshape(sym, num.shape), num.numpy(), atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_entrywise_solution_matches_matrix_formula(method):
    _, same = derive_canonical_rnn(method).solve_entrywise(d=2, m=1)
    assert same


def test_closed_forms_of_the_weights():
    A, B, C, phi = random_model()
    dt = 0.1
    I = torch.eye(3, dtype=f64)
    p = discretize(A, B, C, phi, dt)
    assert torch.allclose(p.W_s @ (I - dt * A), I, atol=1e-12)
    assert torch.allclose(p.W_r, dt * p.W_s @ B) and torch.allclose(p.theta_s, dt * p.W_s @ phi)
    q = discretize(A, B, C, phi, dt, "forward")
    assert torch.allclose(q.W_s, I + dt * A) and torch.allclose(q.W_x, dt * C)
    assert isinstance(p, DiscreteParams) and p._fields == ("W_s", "W_r", "W_x", "theta_s")


def test_weights_solve_the_difference_equation():
    # (s[n] - s[n-1]) / dT = A s[n] + B r[n-1] + C x[n] + phi with s[n] from the canonical RNN
    A, B, C, phi = random_model()
    dt = 0.2
    p = discretize(A, B, C, phi, dt)
    s_prev, r_prev, x = torch.randn(3, dtype=f64), torch.randn(3, dtype=f64), torch.randn(2, dtype=f64)
    s_new = p.W_s @ s_prev + p.W_r @ r_prev + p.W_x @ x + p.theta_s
    assert torch.allclose((s_new - s_prev) / dt, A @ s_new + B @ r_prev + C @ x + phi, atol=1e-10)


def test_amplification_factors_from_sympy():
    z = 0.37
    for method in METHODS:
        R = derive_canonical_rnn(method).amplification
        assert float(R.subs("z", z)) == pytest.approx(amplification(z, method))
    assert amplification(z, "backward") == pytest.approx(1 / (1 - z))
    assert "I - \\Delta T A" in to_latex(derive_canonical_rnn().W_s)


# ------------------------------------------------------------------------------------------- the network


def test_iterate_is_the_canonical_rnn_equation_by_equation():
    A, B, C, phi = random_model()
    p = discretize(A, B, C, phi, 0.3)
    x, s0 = torch.randn(5, 2, 2, dtype=f64), torch.randn(2, 3, dtype=f64)
    s, r = iterate(p, x, s0)
    s_prev = s0
    for n in range(5):
        s_n = s_prev @ p.W_s.T + torch.tanh(s_prev) @ p.W_r.T + x[n] @ p.W_x.T + p.theta_s
        assert torch.allclose(s[n], s_n, atol=1e-12)
        s_prev = s_n
    assert torch.allclose(r, torch.tanh(s))


def test_iterate_agrees_with_the_fast_canonical_rnn():
    from lstm_lib.canonical_rnn import CanonicalRNN

    A, B, C, phi = random_model()
    x, s0 = torch.randn(6, 3, 2, dtype=f64), torch.randn(3, 3, dtype=f64)
    s, r = iterate(discretize(A, B, C, phi, 0.2), x, s0)
    with torch.no_grad():
        s_fast, r_fast = CanonicalRNN.from_continuous(A, B, C, phi, 0.2)(x, s0)
    assert torch.allclose(s, s_fast, atol=1e-12) and torch.allclose(r, r_fast, atol=1e-12)


def convergence_errors(method):
    A = torch.tensor([[-1.0, 0.5, 0.0], [-0.5, -1.0, 0.3], [0.0, 0.2, -2.0]], dtype=f64)
    model = AdditiveModel(A, 0.8 * torch.randn(3, 3, dtype=f64), torch.randn(3, 1, dtype=f64),
                          0.2 * torch.randn(3, dtype=f64))
    x = lambda t: torch.tensor([math.sin(2 * t)], dtype=f64)  # noqa: E731
    s0 = torch.tensor([[1.0, -0.5, 0.5]], dtype=f64)
    fine = 0.00625
    ref = simulate(model, x, t_end=3.0, dt=fine, s0=s0)
    steps, errors = [0.1, 0.05, 0.025, 0.0125], []
    for dt in steps:
        traj = canonical_trajectory(model, x, t_end=3.0, dt=dt, s0=s0, method=method)
        errors.append((traj.s - ref.s[:: round(dt / fine)]).abs().max().item())
    return steps, errors


@pytest.mark.parametrize("method", METHODS)
def test_canonical_rnn_tracks_continuous_trajectory_first_order(method):
    steps, errors = convergence_errors(method)
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - 1) < 0.15
    assert errors[-1] < 0.02


# ------------------------------------------------------------------------------------------- stability


def test_stability_regions():
    x, y, mask = stability_region("forward", n=101)
    z = x + 1j * y
    assert np.array_equal(mask, np.abs(1 + z) < 1)
    _, _, back = stability_region("backward", n=101)
    assert back[np.real(z) < 0].all()  # A-stable: the whole left half plane
    assert not mask[np.real(z) < -2.01].any()


def test_spectral_radius_and_stable():
    A = torch.diag(torch.tensor([-1.0, -4.0], dtype=f64))
    zeros = torch.zeros(2, 2, dtype=f64)
    args = (A, zeros, torch.zeros(2, 1, dtype=f64), torch.zeros(2, dtype=f64))
    q = discretize(*args, 0.6, "forward")  # eigenvalues 1 - 0.6 and 1 - 2.4
    assert spectral_radius(q) == pytest.approx(1.4)
    assert not stable(q)
    assert stable(discretize(*args, 0.4, "forward"))
    assert stable(discretize(*args, 10.0, "backward"))
    lam = eigenvalues(discretize(*args, 0.5, "backward"))
    assert torch.allclose(lam.real.sort().values, torch.tensor([1 / 3, 1 / 1.5], dtype=f64))
    assert torch.allclose(linearization(q, gain=0.0), q.W_s)


def test_papers_setting_W_s_is_minus_A_inverse_and_dropping_it_matters_less_and_less():
    # dT = 1, A diagonal with large negative a_ii: W_s = (I - A)^-1 ~ -A^-1, relative gap 1 / a
    B, C, phi = torch.randn(3, 3, dtype=f64), torch.randn(3, 2, dtype=f64), torch.randn(3, dtype=f64)
    x = torch.randn(20, 2, 2, dtype=f64)
    changes = []
    for a in (10.0, 100.0, 1000.0):
        A = torch.diag(torch.tensor([-a, -2 * a, -3 * a], dtype=f64))
        p = discretize(A, B, C, phi, 1.0)
        assert torch.allclose(p.W_s, torch.diag(1 / (1 + a * torch.tensor([1.0, 2.0, 3.0], dtype=f64))))
        gap = (p.W_s + torch.linalg.inv(A)).abs().max() / p.W_s.abs().max()
        assert gap == pytest.approx(1 / a, rel=1e-9)
        q = standard_rnn(p)
        assert torch.equal(q.W_s, torch.zeros(3, 3, dtype=f64)) and torch.equal(q.W_r, p.W_r)
        s_can, _ = iterate(p, x)
        s_std, _ = iterate(q, x)
        changes.append(((s_can - s_std).norm() / s_std.norm()).item())
    assert changes[0] > 5 * changes[1] > 25 * changes[2]


def test_growing_leak_gives_W_r_to_B_tilde_not_dT_B_tilde():
    # this book's addition: A = -a I, B = a B~, ...: W_r -> B~ at every dT (at dT = 1 both candidates agree)
    limits = leak_limits()
    assert limits["W_s"][1] == 0 and all(limits[k][1] == 1 for k in ("W_r", "W_x", "theta_s"))
    a, dT = sp.Symbol("a", positive=True), sp.Symbol(r"\Delta T", positive=True)
    assert sp.simplify(limits["W_r"][0] - a * dT / (1 + a * dT)) == 0
    B_t, C_t, phi_t = torch.randn(3, 3, dtype=f64), torch.randn(3, 1, dtype=f64), torch.randn(3, dtype=f64)
    a_big = 1e6
    p = discretize(-a_big * torch.eye(3, dtype=f64), a_big * B_t, a_big * C_t, a_big * phi_t, 0.5)
    assert torch.allclose(p.W_r, B_t, atol=1e-5) and torch.allclose(p.W_x, C_t, atol=1e-5)
    assert (p.W_r - 0.5 * B_t).norm() > 0.4 * B_t.norm()


def test_mode_matrix_diagonal_only_when_A_inverse_commutes_with_B():
    B = torch.randn(3, 3, dtype=f64)
    B = B + B.T
    W_tilde, lam, V = mode_matrix(-10.0 * torch.eye(3, dtype=f64), B)
    assert torch.allclose(W_tilde, torch.diag(lam / 10.0), atol=1e-14)           # the paper's mu_i = lambda_i / |a|
    A = -torch.diag(torch.tensor([2.0, 10.0, 50.0], dtype=f64))
    W_tilde, lam, V = mode_matrix(A, B)                                           # erratum E4
    assert (W_tilde - torch.diag(torch.diagonal(W_tilde))).abs().max() > 1e-2
    true_mu = torch.linalg.eigvals(-torch.linalg.inv(A) @ B)
    assert torch.allclose(torch.linalg.eigvals(W_tilde).real.sort().values, true_mu.real.sort().values)
    assert torch.allclose(W_tilde, V.T @ (-torch.linalg.inv(A) @ B) @ V, atol=1e-12)
    with pytest.raises(ValueError, match="B"):
        mode_matrix(A, torch.randn(3, 3, dtype=f64) + torch.triu(torch.ones(3, 3, dtype=f64)))
    with pytest.raises(ValueError, match="A"):
        mode_matrix(torch.zeros(3, 3, dtype=f64), B)


def test_mode_conditions_paper_and_textbook():
    mu = torch.tensor([-1.2, -0.5, 0.0, 0.5, 0.99, 1.0, 1.1], dtype=f64)
    assert mode_condition(mu, "paper").tolist() == [False, False, False, True, True, False, False]
    assert mode_condition(mu, "textbook").tolist() == [False, True, True, True, True, False, False]
    assert mode_condition([0.5j], "textbook").tolist() == [True]
    with pytest.raises(ValueError, match="mu"):
        mode_condition(torch.tensor([0.5j]), "paper")
    with pytest.raises(ValueError, match="criterion"):
        mode_condition(mu, "strict")
    with pytest.raises(TypeError, match="mu"):
        mode_condition("0.5")
    with pytest.raises(ValueError, match="mu"):
        mode_condition([float("nan")])


def test_negative_mode_is_stable_though_the_paper_excludes_it_and_norm_can_exceed_one():
    # erratum E5: a standard RNN with W_r of eigenvalue -0.5 decays; a non-normal W_r with radius < 1 has norm > 1
    W_r = torch.tensor([[-0.5, 0.0], [0.0, 0.3]], dtype=f64)
    p = standard_rnn(DiscreteParams(torch.eye(2, dtype=f64), W_r, torch.zeros(2, 1, dtype=f64),
                                    torch.zeros(2, dtype=f64)))
    assert stable(p) and not mode_condition(torch.linalg.eigvalsh(W_r), "paper").all()
    s, _ = iterate(p, torch.zeros(30, 1, 1, dtype=f64), torch.tensor([[0.01, 0.0]], dtype=f64))
    assert s[-1].abs().max() < 1e-9 and (s[:-1, 0, 0] * s[1:, 0, 0] < 0).all()   # alternates and decays
    M = torch.tensor([[0.5, 10.0], [0.0, 0.8]], dtype=f64)
    q = standard_rnn(DiscreteParams(torch.zeros(2, 2, dtype=f64), M, torch.zeros(2, 1, dtype=f64),
                                    torch.zeros(2, dtype=f64)))
    assert stable(q) and torch.linalg.matrix_norm(M, ord=2) > 1


# ------------------------------------------------------------------------------------------- bad input


def test_discretize_bad_input():
    A, B, C, phi = random_model()
    with pytest.raises(ValueError, match="A"):
        discretize(A[:, :2], B, C, phi, 0.1)
    with pytest.raises(ValueError, match="B"):
        discretize(A, B[:2], C, phi, 0.1)
    with pytest.raises(ValueError, match="C"):
        discretize(A, B, C[:2], phi, 0.1)
    with pytest.raises(ValueError, match="phi"):
        discretize(A, B, C, phi[:2], 0.1)
    with pytest.raises(ValueError, match="dt"):
        discretize(A, B, C, phi, 0.0)
    with pytest.raises(ValueError, match="dt"):
        discretize(torch.eye(3, dtype=f64) * 2.0, B, C, phi, 0.5)  # I - dT A = 0
    with pytest.raises(ValueError, match="A"):
        discretize(A.clone().fill_(float("nan")), B, C, phi, 0.1)
    with pytest.raises(ValueError, match="method"):
        discretize(A, B, C, phi, 0.1, method="midpoint")
    with pytest.raises(TypeError, match="B"):
        discretize(A, B.float(), C, phi, 0.1)


@pytest.mark.parametrize("dt, error", [("0.1", TypeError), (True, TypeError), (None, TypeError),
                                       (float("inf"), ValueError), (float("nan"), ValueError), (-0.1, ValueError)])
def test_discretize_refuses_a_bad_dt(dt, error):
    with pytest.raises(error, match="dt"):
        discretize(*random_model(), dt)


def test_discretize_refuses_meta_sparse_and_wrong_dtypes():
    A, B, C, phi = random_model()
    with pytest.raises(TypeError, match="A"):
        discretize(A.to_sparse(), B, C, phi, 0.1)
    with pytest.raises(ValueError, match="B"):
        discretize(A, B.to("meta"), C, phi, 0.1)
    with pytest.raises(TypeError, match="A"):
        discretize(A.to(torch.int64), B, C, phi, 0.1)
    with pytest.raises(TypeError, match="C"):
        discretize(A, B, C.float(), phi, 0.1)
    with pytest.raises(TypeError, match="phi"):
        discretize(A, B, C, phi.to(torch.complex128), 0.1)


@pytest.mark.parametrize("kwargs, error, name", [
    ({"d": 2.5}, TypeError, "d"), ({"d": 0}, ValueError, "d"), ({"d": True}, TypeError, "d"),
    ({"m": "3"}, TypeError, "m"), ({"m": -1}, ValueError, "m"), ({"method": "central"}, ValueError, "method"),
    ({"method": None}, ValueError, "method"),
])
def test_derive_canonical_rnn_bad_input(kwargs, error, name):
    with pytest.raises(error, match=f"^{name}"):
        derive_canonical_rnn(**kwargs)


def test_derivation_helpers_bad_input():
    D = derive_canonical_rnn()
    with pytest.raises(ValueError, match="d, m"):
        D.lambdify()
    with pytest.raises(TypeError, match="d"):
        D.solve_entrywise(d=2.0)
    with pytest.raises(ValueError, match="m"):
        D.check_steps(m=0)
    with pytest.raises(TypeError, match="expr"):
        to_latex("W_s")
    with pytest.raises(ValueError, match="terms_per_line"):
        to_latex(D.step(23), terms_per_line=0)


def test_stability_functions_bad_input():
    p = discretize(*random_model(), 0.1)
    with pytest.raises(TypeError, match="gain"):
        linearization(p, gain="1")
    with pytest.raises(ValueError, match="gain"):
        stable(p, gain=float("nan"))
    with pytest.raises(TypeError, match="params"):
        stable((p.W_s, p.W_r))
    with pytest.raises(ValueError, match="W_r"):
        standard_rnn(DiscreteParams(p.W_s, p.W_r[:2], p.W_x, p.theta_s))
    with pytest.raises(TypeError, match="z"):
        amplification("0.5")
    with pytest.raises(ValueError, match="n"):
        stability_region(n=1)
    with pytest.raises(ValueError, match="re"):
        stability_region(re=(1.0, -1.0))
    with pytest.raises(TypeError, match="im"):
        stability_region(im=3.0)


def test_iterate_and_trajectory_bad_input():
    p = discretize(*random_model(), 0.1)
    with pytest.raises(ValueError, match="x"):
        iterate(p, torch.zeros(4, 2, dtype=f64))
    with pytest.raises(ValueError, match="x"):
        iterate(p, torch.zeros(4, 1, 3, dtype=f64))
    with pytest.raises(ValueError, match="s0"):
        iterate(p, torch.zeros(4, 2, 2, dtype=f64), torch.zeros(3, 3, dtype=f64))
    with pytest.raises(TypeError, match="G"):
        iterate(p, torch.zeros(4, 2, 2, dtype=f64), G="tanh")
    model = AdditiveModel(-torch.eye(2, dtype=f64), C=torch.ones(2, 1, dtype=f64))
    x = lambda t: torch.zeros(1, dtype=f64)  # noqa: E731
    with pytest.raises(ValueError, match="model"):
        canonical_trajectory(AdditiveModel(-torch.eye(2, dtype=f64), C=torch.ones(2, 1, dtype=f64), tau_x=0.5), x,
                             t_end=1.0, dt=0.1)
    with pytest.raises(ValueError, match="model"):
        canonical_trajectory(AdditiveModel([lambda s: -s], phi=torch.zeros(2, dtype=f64)), t_end=1.0, dt=0.1)
    with pytest.raises(TypeError, match="dt"):
        canonical_trajectory(model, x, t_end=1.0, dt="0.1")
    with pytest.raises(ValueError, match="method"):
        canonical_trajectory(model, x, t_end=1.0, dt=0.1, method="trapezoid")
    with pytest.raises(ValueError, match="s0"):
        canonical_trajectory(model, x, t_end=1.0, dt=0.1, s0=torch.zeros(1, 3, dtype=f64))
    with pytest.raises(ValueError, match="x"):
        canonical_trajectory(model, None, t_end=1.0, dt=0.1)


# ------------------------------------------------------------------------------------------- layering, explorers


def test_model_module_imports_no_display_code():
    source = Path(__file__).parents[1] / "lstm_lib" / "discretization.py"
    tree = ast.parse(source.read_text())
    imported = {n.name for node in ast.walk(tree) if isinstance(node, ast.Import) for n in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported
                if m.startswith(("matplotlib", "ipywidgets", "lstm_lib.widgets", "lstm_lib.fig", "lstm_lib.canonical"))}
    code = ("import sys, lstm_lib.discretization as m; m.derive_canonical_rnn(); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('matplotlib', 'ipywidgets') "
            "or k in ('lstm_lib.widgets', 'lstm_lib.figures', 'lstm_lib.canonical_rnn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_explorer_forward_euler_diverges_beyond_two():
    from lstm_lib.figures.discretization import explorer

    ex = explorer()
    assert ex.scrubbed == ("dT", "lam") and len(ex.frame_grid()) <= 60
    assert {0.2, 0.4} <= set(ex.params["dT"].values) and -5.0 in ex.params["lam"].values  # named by the text
    data = ex.set(lam=-10.0, dT=0.1)  # z = -1
    assert data["forward_stable"] and data["backward_stable"]
    assert abs(data["forward"][-1]) < 1e-6
    data = ex.set(dT=0.3)  # z = -3: |1 + z| = 2
    assert not data["forward_stable"] and data["backward_stable"]
    assert abs(data["forward"][-1]) > 1e3
    assert np.allclose(data["backward"], (1 / 4.0) ** np.arange(len(data["t"])))
    data = ex.set(lam=2.0, dT=0.1)
    assert data["exact"][-1] == pytest.approx(math.exp(2.0 * data["t_fine"][-1]))
    assert data["z"] == pytest.approx(0.2)


def test_modes_explorer_follows_mu_to_the_nth():
    from lstm_lib.figures.discretization import modes_explorer

    ex = modes_explorer()
    assert set(ex.params) == {"mu1", "mu2", "amp"} and ex.scrubbed == ("mu1", "mu2")
    assert {-1.2, -1.0, -0.5, 0.0, 1.0, 1.2} <= set(ex.params["mu1"].values)  # the values the text names
    assert len(ex.frame_grid()) <= 60
    data = ex.set(mu1=-0.5, mu2=0.5, amp=0.05)
    assert data["paper"] == [False, True] and data["textbook"] == [True, True]
    c = data["c"][:, 0] / 0.05
    assert data["n"][0] == -1 and c[0] == pytest.approx(1.0)                 # the initial state s[-1]
    assert np.allclose(c[:7], (-0.5) ** np.arange(0, 7), rtol=0.02)          # small signal: mu^(n+1)
    assert (np.sign(c[:-1]) != np.sign(c[1:])).all() and abs(c[-1]) < 1e-6
    grows = ex.set(mu1=1.2)["c"][:, 0] / 0.05
    assert grows[11] > 3 and abs(grows[-1] * 0.05) < 1.2 * 1.0 + 1e-9        # grows, then tanh saturates it


def test_show_steps_displays_sympy_output(capsys):
    from lstm_lib.figures.discretization import show_steps, show_weights

    D = derive_canonical_rnn()
    show_steps(D, 19, "25u")       # outside a notebook IPython prints the text forms
    show_weights(D)
    with pytest.raises(TypeError, match="derivation"):
        show_steps("backward", 19)
    with pytest.raises(ValueError, match="paper"):
        show_steps(D, 99)


def test_mode_run_bad_input():
    from lstm_lib.figures.discretization import mode_run

    with pytest.raises(TypeError, match="mu"):
        mode_run(0.5)
    with pytest.raises(TypeError, match=r"mu\[1\]"):
        mode_run([0.5, "0.2"])
    with pytest.raises(ValueError, match="amplitude"):
        mode_run([0.5, 0.2], amplitude=0.0)
    with pytest.raises(TypeError, match="steps"):
        mode_run([0.5, 0.2], steps=2.5)

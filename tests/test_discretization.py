"""Tests of lstm_lib.discretization: SymPy derivation, numeric map, stability, convergence, widget."""

import math

import numpy as np
import pytest
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
    explorer,
    spectral_radius,
    stability_region,
    stable,
    to_latex,
)

f64 = torch.float64


def random_model(d=3, m=2):
    return (torch.randn(d, d, dtype=f64), torch.randn(d, d, dtype=f64), torch.randn(d, m, dtype=f64),
            torch.randn(d, dtype=f64))


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
    assert "\\mathbb{I} - \\Delta T A" in to_latex(derive_canonical_rnn().W_s)


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


def test_standard_rnn_is_the_strong_leak_limit():
    from lstm_lib.canonical_rnn import CanonicalRNN

    d, m = 3, 2
    B_t, C_t, phi_t = torch.randn(d, d, dtype=f64) / 2, torch.randn(d, m, dtype=f64), torch.randn(d, dtype=f64) / 10
    rnn_std = torch.nn.RNN(m, d, dtype=f64)
    with torch.no_grad():
        rnn_std.weight_hh_l0.copy_(B_t)
        rnn_std.weight_ih_l0.copy_(C_t)
        rnn_std.bias_ih_l0.copy_(phi_t)
        rnn_std.bias_hh_l0.zero_()
    x = torch.randn(12, 2, m, dtype=f64)
    h, _ = rnn_std(x)
    gaps = []
    for a in (10.0, 100.0, 1000.0):
        A = -a * torch.eye(d, dtype=f64)
        p = discretize(A, a * B_t, a * C_t, a * phi_t, 1.0)
        assert torch.allclose(p.W_s, torch.eye(d, dtype=f64) / (1 + a))
        with torch.no_grad():
            _, r = CanonicalRNN.from_continuous(A, a * B_t, a * C_t, a * phi_t, 1.0)(x)
        gaps.append((r - h).abs().max().item())
    assert gaps[1] < gaps[0] / 5 and gaps[2] < gaps[1] / 5 and gaps[2] < 1e-2


def test_explorer_forward_euler_diverges_beyond_two():
    ex = explorer()
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
    with pytest.raises(ValueError, match="method"):
        derive_canonical_rnn("central")
    with pytest.raises(ValueError, match="d, m"):
        derive_canonical_rnn().lambdify()

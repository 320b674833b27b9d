"""Tests of lstm_lib.continuous_roots (the Additive Model, paper Eqs. 1-12) and its chapter's explorers."""

import ast
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstm_lib.continuous_roots import (
    AdditiveModel,
    circulant,
    hopfield_energy,
    hopfield_network,
    simulate,
    warping_properties,
)

f64 = torch.float64


def scalar(v):
    return torch.tensor([[v]], dtype=f64)


def observed_orders(errors):
    return [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]


# ------------------------------------------------------------------------------------------- the integrator


def test_rk4_fourth_order_on_linear_ode_with_input():
    # s' = -s + cos t, s(0) = 2: s(t) = 1.5 e^{-t} + (cos t + sin t) / 2
    model = AdditiveModel(scalar(-1.0), C=scalar(1.0))
    errors = []
    for dt in (0.2, 0.1, 0.05):
        traj = simulate(model, lambda t: torch.tensor([math.cos(t)], dtype=f64), t_end=4.0, dt=dt,
                        s0=torch.full((1, 1), 2.0, dtype=f64))
        exact = 1.5 * torch.exp(-traj.t) + (torch.cos(traj.t) + torch.sin(traj.t)) / 2
        errors.append((traj.s[:, 0, 0] - exact).abs().max().item())
    assert all(abs(p - 4) < 0.3 for p in observed_orders(errors))
    assert errors[-1] < 1e-7


def test_sampled_input_matches_callable_input():
    model = AdditiveModel(scalar(-1.0), C=scalar(1.0))
    dt, t_end = 0.01, 2.0
    grid = torch.arange(201, dtype=f64) * dt
    from_samples = simulate(model, torch.cos(grid)[:, None], t_end=t_end, dt=dt)
    from_function = simulate(model, lambda t: torch.tensor([math.cos(t)], dtype=f64), t_end=t_end, dt=dt)
    assert torch.allclose(from_samples.s, from_function.s, atol=1e-8)


def dde_exact(t):
    return sum((-1) ** k * (t - k + 1) ** k / math.factorial(k) for k in range(math.floor(t) + 2))


def test_linear_dde_against_method_of_steps_closed_form():
    model = AdditiveModel(scalar(-1.0), tau_s=1.0)
    errors = []
    for dt in (0.2, 0.1, 0.05):
        traj = simulate(model, t_end=6.0, dt=dt, s0=torch.ones(1, 1, dtype=f64))
        exact = torch.tensor([dde_exact(t) for t in traj.t.tolist()], dtype=f64)
        errors.append((traj.s[:, 0, 0] - exact).abs().max().item())
    assert all(abs(p - 4) < 0.3 for p in observed_orders(errors))


def test_nonlinear_dde_with_off_grid_delay_converges_to_fine_reference():
    model = AdditiveModel(scalar(-1.0), scalar(-2.0), tau_r=0.5)
    s0 = torch.ones(1, 1, dtype=f64)
    ref = simulate(model, t_end=4.0, dt=0.005, s0=s0).s[-1]
    errors = [(simulate(model, t_end=4.0, dt=dt, s0=s0).s[-1] - ref).abs().item() for dt in (0.1, 0.05, 0.025)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[-1] < 1e-6


def test_history_callable_is_used_before_time_zero():
    # s' = s(t - 1) with history s(t) = 1 + t on [-1, 0]: on [0, 1], s = 1 + t^2 / 2
    model = AdditiveModel(scalar(1.0), tau_s=1.0)
    traj = simulate(model, t_end=1.0, dt=0.1, s0=torch.ones(1, 1, dtype=f64),
                    history=lambda t: torch.tensor([1.0 + t], dtype=f64))
    assert torch.allclose(traj.s[:, 0, 0], 1 + traj.t**2 / 2, atol=1e-12)


def test_batch_equals_runs_one_by_one():
    d = 3
    model = AdditiveModel([0.3 * torch.randn(d, d, dtype=f64), -torch.eye(d, dtype=f64)], torch.randn(d, d, dtype=f64),
                          torch.randn(d, 2, dtype=f64), torch.randn(d, dtype=f64),
                          tau_s=[0.3, 0.0], tau_r=0.7, tau_x=0.2)
    x = lambda t: torch.tensor([math.sin(t), math.cos(2 * t)], dtype=f64)  # noqa: E731
    s0 = torch.randn(4, d, dtype=f64)
    batch = simulate(model, x, t_end=2.0, dt=0.1, s0=s0)
    assert batch.s.shape == (21, 4, d) and batch.r.shape == (21, 4, d)
    for b in range(4):
        one = simulate(model, x, t_end=2.0, dt=0.1, s0=s0[b])
        assert torch.allclose(one.s[:, 0], batch.s[:, b], atol=1e-12)
    assert torch.allclose(batch.r, torch.tanh(batch.s))


def test_float32_runs_and_stays_float32():
    model = AdditiveModel(-torch.eye(2), torch.randn(2, 2))
    traj = simulate(model, t_end=1.0, dt=0.1, s0=torch.randn(3, 2))
    assert traj.s.dtype == torch.float32 and torch.isfinite(traj.s).all()


# ------------------------------------------------------------------------------------------- nonlinear terms (Eq. 9)


def test_nonlinear_terms_against_exact_solution():
    # s' = -s - s^3 (a_0(s) = -s^3 callable, A_1 = -1), s(0) = 1/2: s(t) = (5 e^{2t} - 1)^{-1/2}
    model = AdditiveModel([lambda s: -s**3, scalar(-1.0)])
    assert not model.linear and model.input_size == 0
    errors = []
    for dt in (0.1, 0.05, 0.025):
        traj = simulate(model, t_end=2.0, dt=dt, s0=torch.full((1, 1), 0.5, dtype=f64))
        errors.append((traj.s[:, 0, 0] - (5 * torch.exp(2 * traj.t) - 1) ** -0.5).abs().max().item())
    assert all(abs(p - 4) < 0.3 for p in observed_orders(errors))


def test_nonlinear_readout_and_input_terms_equal_their_linear_versions():
    d, m = 2, 1
    A, B, C = -torch.eye(d, dtype=f64), torch.randn(d, d, dtype=f64), torch.randn(d, m, dtype=f64)
    linear = AdditiveModel(A, B, C, tau_r=0.3, tau_x=-0.2)
    as_functions = AdditiveModel(A, lambda r: r @ B.T, lambda x: x @ C.T, tau_r=0.3, tau_x=-0.2, input_size=m)
    x = lambda t: torch.tensor([math.sin(t)], dtype=f64)  # noqa: E731
    s0 = torch.randn(3, d, dtype=f64)
    a = simulate(linear, x, t_end=2.0, dt=0.05, s0=s0)
    b = simulate(as_functions, x, t_end=2.0, dt=0.05, s0=s0)
    assert torch.allclose(a.s, b.s, atol=1e-13)


def test_callable_terms_are_checked():
    with pytest.raises(ValueError, match=r"A\[0\]"):
        AdditiveModel([lambda s: s.sum(-1)], phi=torch.zeros(2, dtype=f64))
    with pytest.raises(ValueError, match="phi"):
        AdditiveModel(lambda s: -s)                       # nothing fixes the state size
    with pytest.raises(ValueError, match="input_size"):
        AdditiveModel(scalar(-1.0), C=lambda x: x)        # the input size is unknown
    with pytest.raises(TypeError, match=r"B\[0\]"):
        AdditiveModel(scalar(-1.0), ["not a term"])


# ------------------------------------------------------------------------------------------- negative input delays


def test_negative_input_delay_matches_exact_solution():
    # s' = -s + cos(t - tau_x), s(0) = s0: s = (s0 - c0) e^{-t} + (cos(t - tau) + sin(t - tau)) / 2
    for tau in (-1.0, -0.35, 0.5):
        model = AdditiveModel(scalar(-1.0), C=scalar(1.0), tau_x=tau)
        traj = simulate(model, lambda t: torch.tensor([math.cos(t)], dtype=f64), t_end=5.0, dt=0.05,
                        s0=torch.full((1, 1), 0.3, dtype=f64))
        c0 = (math.cos(tau) - math.sin(tau)) / 2
        exact = (0.3 - c0) * torch.exp(-traj.t) + (torch.cos(traj.t - tau) + torch.sin(traj.t - tau)) / 2
        assert (traj.s[:, 0, 0] - exact).abs().max() < 1e-7, tau
    assert AdditiveModel(scalar(-1.0), C=scalar(1.0), tau_x=-1.5).max_lead == 1.5


def test_negative_input_delay_equals_model_fed_the_shifted_input():
    d = 2
    A, B, C = -torch.eye(d, dtype=f64), torch.randn(d, d, dtype=f64), torch.randn(d, 1, dtype=f64)
    ahead = AdditiveModel(A, B, C, tau_r=0.2, tau_x=-0.5)
    plain = AdditiveModel(A, B, C, tau_r=0.2)
    s0 = torch.randn(2, d, dtype=f64)
    a = simulate(ahead, lambda t: torch.tensor([math.sin(2 * t)], dtype=f64), t_end=3.0, dt=0.05, s0=s0)
    b = simulate(plain, lambda t: torch.tensor([math.sin(2 * (t + 0.5))], dtype=f64), t_end=3.0, dt=0.05, s0=s0)
    assert torch.allclose(a.s, b.s, atol=1e-13)
    # the input given as samples that reach t_end + 0.5 (the whole input known in advance)
    grid = torch.arange(61 + 10, dtype=f64) * 0.05
    c = simulate(ahead, torch.sin(2 * grid)[:, None], t_end=3.0, dt=0.05, s0=s0)
    assert (c.s - a.s).abs().max() < 1e-4


def test_negative_input_delay_needs_samples_ahead():
    ahead = AdditiveModel(scalar(-1.0), C=scalar(1.0), tau_x=-0.5)
    grid = torch.arange(21, dtype=f64) * 0.1
    with pytest.raises(ValueError, match="x: expected at least 26 samples"):
        simulate(ahead, torch.sin(grid)[:, None], t_end=2.0, dt=0.1)


@pytest.mark.parametrize("kwargs, name", [({"tau_s": -0.1}, "tau_s"), ({"tau_r": -0.1}, "tau_r")])
def test_state_and_readout_delays_must_not_be_negative(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdditiveModel(scalar(-1.0), scalar(1.0), scalar(1.0), **kwargs)


# ------------------------------------------------------------------------------------------- G, Eq. 12


def test_warping_properties():
    assert all(warping_properties(torch.tanh).values())
    assert all(warping_properties(lambda s: 3 * torch.tanh(s / 2)).values())
    sig = warping_properties(torch.sigmoid)
    assert sig["strictly increasing"] and sig["saturating"] and not sig["odd"]
    relu = warping_properties(torch.relu)
    assert not relu["strictly increasing"] and not relu["saturating"]
    assert not warping_properties(torch.sin)["saturating"]
    assert not warping_properties(lambda s: torch.softmax(s, 0))["element-wise"]
    with pytest.raises(TypeError, match="G"):
        warping_properties("tanh")


def test_model_refuses_a_G_that_is_not_saturating_and_invertible():
    with pytest.raises(ValueError, match="G: .*invertible"):
        AdditiveModel(scalar(-1.0), scalar(1.0), G=torch.relu)
    model = AdditiveModel(scalar(-1.0), scalar(1.0), G=torch.relu, check_G=False)
    assert model.G is torch.relu
    with pytest.raises(TypeError, match="check_G"):
        AdditiveModel(scalar(-1.0), scalar(1.0), check_G="no")
    with pytest.raises(TypeError, match="G"):
        AdditiveModel(scalar(-1.0), scalar(1.0), G=1.0)


def test_circulant_matrix_is_circular_convolution_and_model_is_shift_equivariant():
    d = 7
    c, v = torch.randn(d, dtype=f64), torch.randn(d, dtype=f64)
    M = circulant(c)
    assert M[3, 1] == c[2] and M[0, d - 1] == c[1]
    fft = torch.fft.ifft(torch.fft.fft(c) * torch.fft.fft(v)).real
    assert torch.allclose(M @ v, fft, atol=1e-12)
    model = AdditiveModel(circulant(-torch.eye(d, dtype=f64)[0] + 0.2 * c), circulant(c), tau_r=0.3)
    s0 = torch.randn(1, d, dtype=f64)
    a = simulate(model, t_end=2.0, dt=0.05, s0=s0)
    b = simulate(model, t_end=2.0, dt=0.05, s0=s0.roll(2, dims=1))
    assert torch.allclose(b.s, a.s.roll(2, dims=2), atol=1e-12)
    with pytest.raises(ValueError, match="c"):
        circulant(torch.randn(2, 2, dtype=f64))


# ------------------------------------------------------------------------------------------- Hopfield (book's addition)


def test_energy_never_increases_for_symmetric_coupling():
    d = 6
    B = torch.randn(d, d, dtype=f64)
    a = torch.rand(d, dtype=f64) + 0.5
    C, x = torch.randn(d, 2, dtype=f64), torch.randn(2, dtype=f64)
    model = AdditiveModel(torch.diag(-a), B + B.T, C, torch.randn(d, dtype=f64))
    traj = simulate(model, lambda t: x, t_end=8.0, dt=0.02, s0=2 * torch.randn(5, d, dtype=f64))
    E = hopfield_energy(model, traj.s, x)
    assert E.shape == (traj.t.numel(), 5)
    assert E.diff(dim=0).max() <= 1e-10
    assert (E[0] - E[-1]).min() > 1e-3  # it really falls


def test_energy_rate_matches_formula():
    d = 4
    B = torch.randn(d, d, dtype=f64)
    model = AdditiveModel(-torch.eye(d, dtype=f64), B + B.T)
    s = torch.randn(d, dtype=f64, requires_grad=True)
    E = hopfield_energy(model, s)
    (grad,) = torch.autograd.grad(E, s)
    ds_dt = model.A[0] @ s + model.B[0] @ torch.tanh(s)
    rate = -((1 - torch.tanh(s) ** 2) * ds_dt**2).sum()
    assert torch.allclose(grad @ ds_dt, rate, atol=1e-12)


def test_hopfield_network_recalls_stored_patterns():
    d = 16
    p1 = torch.sign(torch.randn(d, dtype=f64))
    patterns = torch.stack([p1, p1 * torch.tensor([1.0, -1.0], dtype=f64).repeat(d // 2)])
    net = hopfield_network(patterns, leak=1.0, gain=2.0)
    assert torch.allclose(net.B[0], net.B[0].T) and net.B[0].diagonal().abs().max() == 0
    flips = torch.ones(2, d, dtype=f64)
    flips[:, :2] = -1.0  # two wrong signs in each cue
    traj = simulate(net, t_end=15.0, dt=0.05, s0=patterns * flips)
    assert torch.equal(torch.sign(traj.r[-1]), patterns)


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"A": torch.randn(2, 3, dtype=f64)}, "A"),
        ({"A": -torch.eye(2, dtype=f64), "B": torch.randn(3, 3, dtype=f64)}, "B"),
        ({"A": -torch.eye(2, dtype=f64), "C": torch.randn(3, 1, dtype=f64)}, "C"),
        ({"A": -torch.eye(2, dtype=f64), "phi": torch.randn(3, dtype=f64)}, "phi"),
        ({"A": -torch.eye(2, dtype=f64), "tau_s": -1.0}, "tau_s"),
        ({"A": [-torch.eye(2, dtype=f64)] * 2, "tau_s": [0.0]}, "tau_s"),
        ({"A": -torch.eye(2, dtype=f64), "B": torch.eye(2, dtype=f64), "tau_r": float("nan")}, "tau_r"),
        ({"A": torch.tensor([[float("inf")]], dtype=f64)}, "A"),
        ({"A": torch.empty(2, 2, dtype=f64, device="meta")}, "A"),
        ({"A": -torch.eye(2, dtype=f64), "C": torch.ones(2, 1, dtype=f64), "input_size": 3}, "input_size"),
    ],
)
def test_model_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdditiveModel(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"A": -torch.eye(2, dtype=f64), "B": torch.eye(2, dtype=torch.float32)}, "B"),
        ({"A": -torch.eye(2, dtype=f64).to_sparse()}, "A"),
        ({"A": torch.eye(2, dtype=torch.int64)}, "A"),
        ({"A": -torch.eye(2, dtype=f64), "tau_s": "0.5"}, "tau_s"),
        ({"A": -torch.eye(2, dtype=f64), "tau_s": True}, "tau_s"),
        ({"A": -torch.eye(2, dtype=f64), "C": torch.ones(2, 1, dtype=f64), "tau_x": [None]}, "tau_x"),
        ({"A": -torch.eye(2, dtype=f64), "C": torch.ones(2, 1, dtype=f64), "input_size": 1.0}, "input_size"),
    ],
)
def test_model_bad_types(kwargs, match):
    with pytest.raises(TypeError, match=match):
        AdditiveModel(**kwargs)


def test_simulate_bad_input():
    model = AdditiveModel(-torch.eye(2, dtype=f64), C=torch.ones(2, 1, dtype=f64))
    x = lambda t: torch.zeros(1, dtype=f64)  # noqa: E731
    with pytest.raises(ValueError, match="dt"):
        simulate(model, x, t_end=1.0, dt=0.0)
    with pytest.raises(ValueError, match="dt"):
        simulate(model, x, t_end=1.0, dt=float("inf"))
    with pytest.raises(ValueError, match="t_end"):
        simulate(model, x, t_end=-1.0, dt=0.1)
    with pytest.raises(ValueError, match="s0"):
        simulate(model, x, t_end=1.0, dt=0.1, s0=torch.zeros(3, 3, dtype=f64))
    with pytest.raises(ValueError, match="x"):
        simulate(model, None, t_end=1.0, dt=0.1)
    with pytest.raises(ValueError, match="x"):
        simulate(model, torch.zeros(5, 1, dtype=f64), t_end=1.0, dt=0.1)  # needs 11 samples
    with pytest.raises(ValueError, match="x"):
        simulate(model, lambda t: torch.zeros(3, dtype=f64), t_end=1.0, dt=0.1)
    with pytest.raises(ValueError, match="s0"):
        simulate(model, x, t_end=1.0, dt=0.1, s0=torch.tensor([float("nan"), 0.0], dtype=f64))
    with pytest.raises(TypeError, match="model"):
        simulate("model", x, t_end=1.0, dt=0.1)
    with pytest.raises(TypeError, match="history"):
        simulate(model, x, t_end=1.0, dt=0.1, history=3.0)


@pytest.mark.parametrize(
    "s0",
    [torch.zeros(3, dtype=f64),              # the wrong length: the model has d = 2
     torch.zeros(1, 3, dtype=f64),
     torch.zeros(0, 2, dtype=f64)],          # an empty batch
)
def test_simulate_s0_of_the_wrong_size(s0):
    model = AdditiveModel(-torch.eye(2, dtype=f64))
    with pytest.raises(ValueError, match="s0"):
        simulate(model, t_end=1.0, dt=0.1, s0=s0)


def test_simulate_batch_of_x_must_match_s0():
    model = AdditiveModel(-torch.eye(2, dtype=f64), C=torch.ones(2, 1, dtype=f64))
    s0 = torch.zeros(2, 2, dtype=f64)
    with pytest.raises(ValueError, match="x"):
        simulate(model, lambda t: torch.zeros(3, 1, dtype=f64), t_end=1.0, dt=0.1, s0=s0)
    with pytest.raises(ValueError, match="x"):
        simulate(model, torch.zeros(11, 3, 1, dtype=f64), t_end=1.0, dt=0.1, s0=s0)
    with pytest.raises(ValueError, match="x"):  # a batch of inputs with the default (batch 1) initial state
        simulate(model, lambda t: torch.zeros(3, 1, dtype=f64), t_end=1.0, dt=0.1)
    with pytest.raises(ValueError, match="x"):  # the shape must not change with t
        simulate(model, lambda t: torch.zeros(1 if t < 0.5 else 2, 1, dtype=f64), t_end=1.0, dt=0.1, s0=s0)


def test_simulate_refuses_meta_sparse_and_mistyped_inputs():
    model = AdditiveModel(-torch.eye(2, dtype=f64), C=torch.ones(2, 1, dtype=f64))
    grid = torch.zeros(11, 1, dtype=f64)
    with pytest.raises(ValueError, match="s0"):
        simulate(model, grid, t_end=1.0, dt=0.1, s0=torch.zeros(2, device="meta", dtype=f64))
    with pytest.raises(ValueError, match="x"):
        simulate(model, grid.to("meta"), t_end=1.0, dt=0.1)
    with pytest.raises(ValueError, match="x"):
        simulate(model, lambda t: torch.zeros(1, dtype=f64, device="meta"), t_end=1.0, dt=0.1)
    with pytest.raises(TypeError, match="x"):
        simulate(model, grid.to_sparse(), t_end=1.0, dt=0.1)
    with pytest.raises(TypeError, match="x"):
        simulate(model, lambda t: torch.zeros(1, 1, dtype=f64).to_sparse(), t_end=1.0, dt=0.1)
    with pytest.raises(TypeError, match="x"):
        simulate(model, lambda t: torch.zeros(1, dtype=torch.int64), t_end=1.0, dt=0.1)
    with pytest.raises(TypeError, match="s0"):
        simulate(model, grid, t_end=1.0, dt=0.1, s0=torch.zeros(2, dtype=torch.float32))
    with pytest.raises(TypeError, match="dt"):
        simulate(model, grid, t_end=1.0, dt="0.1")
    with pytest.raises(TypeError, match="t_end"):
        simulate(model, grid, t_end=True, dt=0.1)


def test_simulate_history_of_the_wrong_shape():
    model = AdditiveModel(-torch.eye(2, dtype=f64), tau_s=0.5)
    with pytest.raises(ValueError, match="history"):
        simulate(model, t_end=1.0, dt=0.1, history=lambda t: torch.zeros(3, dtype=f64))


def test_energy_bad_input():
    B = torch.randn(3, 3, dtype=f64)
    with pytest.raises(ValueError, match="symmetric"):
        hopfield_energy(AdditiveModel(-torch.eye(3, dtype=f64), B), torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="a_i > 0"):
        hopfield_energy(AdditiveModel(torch.eye(3, dtype=f64), B + B.T), torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="delay"):
        hopfield_energy(AdditiveModel(-torch.eye(3, dtype=f64), B + B.T, tau_r=0.5), torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="s"):
        hopfield_energy(AdditiveModel(-torch.eye(3, dtype=f64), B + B.T), torch.zeros(4, dtype=f64))
    with pytest.raises(ValueError, match="x"):
        hopfield_energy(AdditiveModel(-torch.eye(3, dtype=f64), B + B.T), torch.zeros(3, dtype=f64),
                        torch.zeros(1, dtype=f64))


def test_hopfield_network_bad_input():
    patterns = torch.ones(2, 4, dtype=f64)
    with pytest.raises(TypeError, match="leak"):
        hopfield_network(patterns, leak="1")
    with pytest.raises(ValueError, match="gain"):
        hopfield_network(patterns, gain=0.0)
    with pytest.raises(ValueError, match="patterns"):
        hopfield_network(torch.ones(4, dtype=f64))


# ------------------------------------------------------------------------------------------- layering, explorers


def test_model_module_imports_no_display_code():
    source = Path(__file__).parents[1] / "lstm_lib" / "continuous_roots.py"
    tree = ast.parse(source.read_text())
    imported = {n.name for node in ast.walk(tree) if isinstance(node, ast.Import) for n in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m.startswith(("matplotlib", "ipywidgets", "lstm_lib.widgets", "lstm_lib.fig"))}
    code = ("import sys, lstm_lib.continuous_roots as m; m.simulate(m.AdditiveModel(__import__('torch').eye(1)),"
            " t_end=1.0, dt=0.5); print(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('matplotlib', 'ipywidgets') or k in ('lstm_lib.widgets', 'lstm_lib.figures')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_explorer_recomputes_through_the_model():
    from lstm_lib.figures.continuous_roots import explorer

    ex = explorer()
    assert set(ex.params) == {"a", "w", "tau", "u"}
    assert ex.scrubbed == ("tau", "w")
    assert 1.2 in ex.params["tau"].values and 1.5 in ex.params["tau"].values  # the values the text names
    assert len(ex.frame_grid()) <= 60
    spread = lambda data: data["s"][-200:].max() - data["s"][-200:].min()  # noqa: E731
    assert spread(ex.set(tau=0.0)) < 1e-3          # no delay: back to rest
    assert spread(ex.set(tau=2.0)) > 1.0           # long delay: sustained oscillation
    data = ex.set(tau=0.0, w=0.0, u=1.0, a=1.0)
    t = data["t"]
    late = t > 20  # steady state of s' = -s + sin t: (sin t - cos t) / 2
    assert abs(data["s"][late, 0] - (torch.sin(torch.tensor(t[late])) - torch.cos(torch.tensor(t[late]))).numpy() / 2
               ).max() < 1e-4


def test_lead_explorer_responds_ahead_of_the_input():
    from lstm_lib.figures.continuous_roots import lead_explorer

    ex = lead_explorer()
    assert set(ex.params) == {"tau_x", "a"} and ex.scrubbed == ("tau_x", "a")
    assert len(ex.frame_grid()) <= 60
    peaks = {}
    for tau in (-1.0, 0.0, 1.0):
        data = ex.set(tau_x=tau, a=5.0)
        peaks[tau] = data["t"][data["s"].argmax()]
    assert peaks[-1.0] < 6.0 < peaks[1.0]                        # the pulse peaks at t = 6
    assert abs((peaks[0.0] - peaks[-1.0]) - 1.0) < 0.05          # a lead of exactly -tau_x


def test_pulse_bad_input():
    from lstm_lib.figures.continuous_roots import pulse

    assert pulse(6.0) == 1.0
    with pytest.raises(ValueError, match="width"):
        pulse(1.0, width=0.0)
    with pytest.raises(TypeError, match="t"):
        pulse("1.0")

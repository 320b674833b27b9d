"""Tests of lstm_lib.continuous_roots: the DDE integrator, the Hopfield energy, the widget."""

import math

import pytest
import torch

from lstm_lib.continuous_roots import AdditiveModel, explorer, hopfield_energy, hopfield_network, simulate

f64 = torch.float64


def scalar(v):
    return torch.tensor([[v]], dtype=f64)


def observed_orders(errors):
    return [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]


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


def test_explorer_recomputes_through_the_model():
    ex = explorer()
    spread = lambda data: data["s"][-200:].max() - data["s"][-200:].min()  # noqa: E731
    assert spread(ex.set(delay=0.0)) < 1e-3          # no delay: back to rest
    assert spread(ex.set(delay=2.0)) > 1.0           # long delay: sustained oscillation
    data = ex.set(delay=0.0, coupling=0.0, amplitude=1.0, leak=1.0)
    t = data["t"]
    late = t > 20  # steady state of s' = -s + sin t: (sin t - cos t) / 2
    assert abs(data["s"][late, 0] - (torch.sin(torch.tensor(t[late])) - torch.cos(torch.tensor(t[late]))).numpy() / 2
               ).max() < 1e-4


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
    ],
)
def test_model_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdditiveModel(**kwargs)


def test_model_mixed_dtype_is_refused():
    with pytest.raises(TypeError, match="B"):
        AdditiveModel(-torch.eye(2, dtype=f64), torch.eye(2, dtype=torch.float32))


def test_simulate_bad_input():
    model = AdditiveModel(-torch.eye(2, dtype=f64), C=torch.ones(2, 1, dtype=f64))
    x = lambda t: torch.zeros(1, dtype=f64)  # noqa: E731
    with pytest.raises(ValueError, match="dt"):
        simulate(model, x, t_end=1.0, dt=0.0)
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


def test_energy_bad_input():
    B = torch.randn(3, 3, dtype=f64)
    with pytest.raises(ValueError, match="symmetric"):
        hopfield_energy(AdditiveModel(-torch.eye(3, dtype=f64), B), torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="leak"):
        hopfield_energy(AdditiveModel(torch.eye(3, dtype=f64), B + B.T), torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="delay"):
        hopfield_energy(AdditiveModel(-torch.eye(3, dtype=f64), B + B.T, tau_r=0.5), torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="s"):
        hopfield_energy(AdditiveModel(-torch.eye(3, dtype=f64), B + B.T), torch.zeros(4, dtype=f64))

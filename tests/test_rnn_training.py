"""Tests for lstm_lib.rnn_training and lstm_lib._rnn_recurrence: the hand-derived BPTT (first and second
derivatives), the paper's equations and errata E1-E3, Jacobians, gradient norms, the Proposition 1
experiment, and the chapter's explorer."""

import math

import pytest
import torch

from lstm_lib._rnn_recurrence import CanonicalRNNFunction, canonical_rnn_bptt, canonical_rnn_loop
from lstm_lib.canonical_rnn import CanonicalRNN, identity
from lstm_lib.rnn_training import (
    RNNReadout,
    gradient_lag_curves,
    gradient_norm_by_lag,
    jacobian_product_norms,
    jacobians,
    marker_inputs,
    per_step_shortcut,
    proposition_experiment,
    proposition_teacher,
    psi_chi,
    psi_jacobian,
    random_recurrent_weights,
    state_jacobian_autograd,
    train_readout,
)

F64 = torch.float64


def params64(m=3, d=4):
    W_s = (0.3 * torch.randn(d, d, dtype=F64)).requires_grad_()
    W_r = (0.5 * torch.randn(d, d, dtype=F64)).requires_grad_()
    W_x = torch.randn(d, m, dtype=F64, requires_grad=True)
    theta = torch.randn(d, dtype=F64, requires_grad=True)
    return W_s, W_r, W_x, theta


# ------------------------------------------------------------------------------------------ the Function
@pytest.mark.parametrize("warp", [torch.tanh, torch.sigmoid, identity])
@pytest.mark.parametrize("with_s0", [False, True])
def test_bptt_gradcheck(warp, with_s0):
    x = torch.randn(6, 2, 3, dtype=F64, requires_grad=True)
    s0 = torch.randn(2, 4, dtype=F64, requires_grad=with_s0)
    if not with_s0:
        s0 = torch.zeros(2, 4, dtype=F64)
    params = params64()

    def f(x, s0, *p):
        return canonical_rnn_bptt(x, s0, *p, warp)

    assert torch.autograd.gradcheck(f, (x, s0, *params))


@pytest.mark.parametrize("N", [1, 2, 5])
@pytest.mark.parametrize("warp", [torch.tanh, torch.sigmoid])
def test_bptt_gradgradcheck(N, warp):
    """Second derivatives of the hand-derived backward are exact (they go through the differentiable loop)."""
    x = torch.randn(N, 2, 3, dtype=F64, requires_grad=True)
    s0 = torch.randn(2, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda *a: canonical_rnn_bptt(*a, warp), (x, s0, *params64()))


def test_first_backward_uses_the_hand_loop_and_double_backward_the_graph():
    x = torch.randn(4, 2, 3, dtype=F64)
    W_s, W_r, W_x, theta = params64()
    s, r = CanonicalRNNFunction.apply(x, torch.zeros(2, 4, dtype=F64), W_s, W_r, W_x, theta, torch.tanh)
    (g,) = torch.autograd.grad(r.sum(), W_r)
    assert g.grad_fn is None  # a plain gradient: the hand loop, no graph
    s, r = CanonicalRNNFunction.apply(x, torch.zeros(2, 4, dtype=F64), W_s, W_r, W_x, theta, torch.tanh)
    (g,) = torch.autograd.grad(r.sum(), W_r, create_graph=True)
    assert g.grad_fn is not None  # differentiable


@pytest.mark.parametrize("use", ["s", "r", "both"])
def test_bptt_matches_autograd(use):
    m, d = 3, 5
    a = CanonicalRNN(m, d, backward="bptt", dtype=F64)
    with torch.no_grad():
        a.W_s.normal_(0.0, 0.3)
    b = CanonicalRNN(m, d, backward="autograd", dtype=F64)
    b.load_state_dict(a.state_dict())
    x = torch.randn(9, 3, m, dtype=F64)
    s0 = torch.randn(3, d, dtype=F64)
    w = torch.randn(9, 3, d, dtype=F64)
    grads = []
    for model in (a, b):
        xx, ss = x.clone().requires_grad_(), s0.clone().requires_grad_()
        s, r = model(xx, ss)
        loss = {"s": (s * w).sum(), "r": (r.square() * w).sum(), "both": (s * w).sum() + r.sum()}[use]
        loss.backward()
        grads.append([xx.grad, ss.grad] + [p.grad for p in model.parameters()])
    for g_a, g_b in zip(*grads, strict=True):
        torch.testing.assert_close(g_a, g_b, rtol=1e-10, atol=1e-12)


def test_bptt_float32_and_relu_against_autograd():
    a = CanonicalRNN(4, 8, warp=torch.relu)
    b = CanonicalRNN(4, 8, warp=torch.relu, backward="autograd")
    b.load_state_dict(a.state_dict())
    x = torch.randn(12, 2, 4)
    for model in (a, b):
        model(x)[1].sum().backward()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5)


def test_loop_and_bptt_check_their_arguments():
    x = torch.randn(5, 2, 3, dtype=F64)
    W_s, W_r, W_x, theta = (p.detach() for p in params64())
    s0 = torch.zeros(2, 4, dtype=F64)
    with pytest.raises(ValueError, match="^W_r"):
        canonical_rnn_bptt(x, s0, W_s, W_r[:3], W_x, theta)
    with pytest.raises(ValueError, match="^s_init"):
        canonical_rnn_loop(x, s0[:1], W_s, W_r, W_x, theta)
    with pytest.raises(TypeError, match="^theta_s"):
        canonical_rnn_bptt(x, s0, W_s, W_r, W_x, theta.float())
    with pytest.raises(ValueError, match="^x"):
        canonical_rnn_loop(x.fill_(float("nan")), s0, W_s, W_r, W_x, theta)
    with pytest.raises(ValueError, match="^warp"):
        canonical_rnn_bptt(torch.randn(5, 2, 3, dtype=F64), s0, W_s, W_r, W_x, theta, torch.nn.functional.softsign)


# ------------------------------------------------------------------------------------------ the paper's equations
def _probe_derivatives(model, x, dE_dr, dE_ds=None):
    """psi[n] = dE/ds[n] and chi[n] = dE/dr[n] by autograd, through zero probes added to s[n] and r[n]."""
    N, B, _ = x.shape
    d = model.state_size
    dE_ds = torch.zeros(N, B, d, dtype=F64) if dE_ds is None else dE_ds
    probe_s = torch.zeros(N, B, d, dtype=F64, requires_grad=True)
    probe_r = torch.zeros(N, B, d, dtype=F64, requires_grad=True)
    s_prev = torch.zeros(B, d, dtype=F64)
    r_prev = torch.tanh(s_prev)
    E = 0
    for n in range(N):
        s_n = s_prev @ model.W_s.T + r_prev @ model.W_r.T + x[n] @ model.W_x.T + model.theta_s + probe_s[n]
        r_n = torch.tanh(s_n) + probe_r[n]
        E = E + (dE_ds[n] * s_n).sum() + (dE_dr[n] * r_n).sum()
        s_prev, r_prev = s_n, r_n
    return torch.autograd.grad(E, (probe_s, probe_r))


def test_psi_chi_are_total_derivatives():
    """psi[n] = dE/ds[n] and chi[n] = dE/dr[n] (canonical RNN, direct terms on s and r)."""
    model = CanonicalRNN(3, 4, dtype=F64)
    with torch.no_grad():
        model.W_s.normal_(0.0, 0.3)
    N, B, d = 6, 2, 4
    x = torch.randn(N, B, 3, dtype=F64)
    w_r, w_s = torch.randn(N, B, d, dtype=F64), torch.randn(N, B, d, dtype=F64)
    psi_true, chi_true = _probe_derivatives(model, x, w_r, w_s)
    psi, chi = psi_chi(model, x, dE_dr=w_r, dE_ds=w_s)
    torch.testing.assert_close(psi, psi_true, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(chi, chi_true, rtol=1e-12, atol=1e-12)
    # the weight-gradient formula (the book's extension): dE/dW_s = sum_n psi[n] s[n-1]^T
    s, _ = model(x)
    s_prev_all = torch.cat((torch.zeros(1, B, d, dtype=F64), s[:-1].detach()))
    (g,) = torch.autograd.grad((w_s * s).sum() + (w_r * torch.tanh(s)).sum(), model.W_s)
    torch.testing.assert_close(torch.einsum("nbi,nbj->ij", psi, s_prev_all), g, rtol=1e-12, atol=1e-12)


def test_psi_chi_batch_first():
    model = CanonicalRNN(3, 4, dtype=F64, batch_first=True)
    x = torch.randn(2, 6, 3, dtype=F64)
    dE_dr = torch.randn(2, 6, 4, dtype=F64)
    twin = CanonicalRNN(3, 4, dtype=F64)
    twin.load_state_dict(model.state_dict())
    psi, chi = psi_chi(model, x, dE_dr)
    psi_t, chi_t = psi_chi(twin, x.transpose(0, 1), dE_dr.transpose(0, 1))
    torch.testing.assert_close(psi, psi_t.transpose(0, 1))
    torch.testing.assert_close(chi, chi_t.transpose(0, 1))


def test_paper_gradients_eqs_86_to_90_on_the_standard_rnn():
    model = CanonicalRNN(2, 5, dtype=F64, standard=True)
    x = torch.randn(7, 3, 2, dtype=F64)
    v = torch.randn(7, 3, 5, dtype=F64)
    _, r = model(x)
    E = 0.5 * (r - v).square().sum()  # paper Eq. 80
    auto = torch.autograd.grad(E, [model.W_r, model.W_x, model.theta_s])
    psi, _ = psi_chi(model, x, (r - v).detach())
    r_prev = torch.cat((torch.zeros(1, 3, 5, dtype=F64), r[:-1].detach()))
    paper = [torch.einsum("nbi,nbj->ij", psi, r_prev), torch.einsum("nbi,nbj->ij", psi, x), psi.sum((0, 1))]
    for a, b in zip(paper, auto, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_erratum_E1_printed_eq82_is_wrong_unless_W_r_is_symmetric():
    model = CanonicalRNN(2, 4, dtype=F64, standard=True)
    x = torch.randn(6, 2, 2, dtype=F64)
    dE_dr = torch.randn(6, 2, 4, dtype=F64)
    psi_true, chi_true = _probe_derivatives(model, x, dE_dr)
    psi_p, chi_p = psi_chi(model, x, dE_dr, printed=True)
    assert (chi_p - chi_true).abs().max() > 1e-2 and (psi_p - psi_true).abs().max() > 1e-2
    torch.testing.assert_close(chi_p[-1], chi_true[-1])  # the last step has no psi[n+1] term
    with torch.no_grad():
        model.W_r.copy_(0.5 * (model.W_r + model.W_r.T))
    torch.testing.assert_close(psi_chi(model, x, dE_dr, printed=True)[0], psi_chi(model, x, dE_dr)[0])


def test_erratum_E3_the_shortcut_is_psi_at_the_last_step_only():
    model = CanonicalRNN(2, 4, dtype=F64, standard=True)
    x = torch.randn(6, 2, 2, dtype=F64)
    dE_dr = torch.randn(6, 2, 4, dtype=F64)
    psi_true, chi_true = _probe_derivatives(model, x, dE_dr)
    shortcut = per_step_shortcut(model, x, dE_dr)
    torch.testing.assert_close(shortcut[-1], psi_true[-1], rtol=1e-12, atol=1e-12)
    assert (shortcut[-1] - chi_true[-1]).abs().max() > 1e-3  # not chi, even at the last step
    assert (shortcut[:-1] - psi_true[:-1]).abs().max() > 1e-2  # and wrong for psi elsewhere


@pytest.mark.parametrize("standard", [True, False])
def test_erratum_E2_corrected_product_matches_autograd(standard):
    model = CanonicalRNN(2, 4, dtype=F64, standard=standard)
    if not standard:
        with torch.no_grad():
            model.W_s.normal_(0.0, 0.3)
    x = torch.randn(9, 3, 2, dtype=F64)
    exact = state_jacobian_autograd(model, x, 2, 7).transpose(1, 2)
    torch.testing.assert_close(psi_jacobian(model, x, 2, 7), exact, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(psi_jacobian(model, x, 4, 4), torch.eye(4, dtype=F64).expand(3, 4, 4))
    if standard:
        for form in ("printed_right", "printed_left"):
            assert (psi_jacobian(model, x, 2, 7, form=form) - exact).abs().max() > 1e-3
    # psi[n] = dpsi[n]/dpsi[l] psi[l] when the only direct term is at step l
    dE_dr = torch.zeros(9, 3, 4, dtype=F64)
    dE_dr[7] = torch.randn(3, 4, dtype=F64)
    psi, _ = psi_chi(model, x, dE_dr)
    torch.testing.assert_close(psi[2], (psi_jacobian(model, x, 2, 7) @ psi[7].unsqueeze(-1)).squeeze(-1))


def test_jacobians_match_autograd():
    model = CanonicalRNN(2, 3, dtype=F64)
    with torch.no_grad():
        model.W_s.normal_(0.0, 0.3)
    x = torch.randn(4, 2, 2, dtype=F64)
    J = jacobians(model, x)
    assert J.shape == (4, 2, 3, 3)
    s, _ = model(x)
    b, n = 1, 2
    cell = model.unroll(1).layers[0]
    J_auto = torch.autograd.functional.jacobian(lambda v: cell(v, x[n, b]), s[n - 1, b].detach())
    torch.testing.assert_close(J[n, b], J_auto, rtol=1e-12, atol=1e-12)


def test_jacobian_product_norm_is_power_of_leak():
    model = CanonicalRNN(1, 3, warp=identity, dtype=F64)
    with torch.no_grad():
        model.W_s.copy_(0.8 * torch.eye(3, dtype=F64))
        model.W_r.zero_()
    norms = jacobian_product_norms(model, torch.randn(10, 2, 1, dtype=F64))
    torch.testing.assert_close(norms, 0.8 ** torch.arange(10, dtype=F64))


@pytest.mark.parametrize("c", [0.7, 1.0, 1.3])
def test_gradient_norm_by_lag_linear_orthogonal(c):
    """With G(s) = s, W_s = 0 and W_r = c Q (Q orthogonal), ||psi[N-1-l]|| = c^l ||psi[N-1]|| exactly."""
    d = 5
    Q, _ = torch.linalg.qr(torch.randn(d, d, dtype=F64))
    model = CanonicalRNN.from_params(torch.zeros(d, d, dtype=F64), c * Q, torch.randn(d, 2, dtype=F64),
                                     torch.zeros(d, dtype=F64), warp=identity)
    g = gradient_norm_by_lag(model, torch.randn(12, 3, 2, dtype=F64))
    torch.testing.assert_close(g, c ** torch.arange(12, dtype=F64), rtol=1e-10, atol=1e-14)


def test_tanh_gradient_vanishes_faster_than_linear():
    d = 16
    W_r = random_recurrent_weights(d, 0.9, dtype=F64)
    args = (torch.zeros(d, d, dtype=F64), W_r, torch.randn(d, 1, dtype=F64), torch.zeros(d, dtype=F64))
    x = torch.randn(30, 4, 1, dtype=F64)
    tanh = gradient_norm_by_lag(CanonicalRNN.from_params(*args), x)
    lin = gradient_norm_by_lag(CanonicalRNN.from_params(*args, warp=identity), x)
    assert tanh[-1] < lin[-1] < 1e-1  # G' <= 1 can only shrink the error signal
    eig = torch.linalg.eigvals(W_r).abs().max()
    assert math.isclose(float(eig), 0.9, rel_tol=1e-9)


def test_unstable_W_r_explodes_for_small_inputs_and_vanishes_when_saturated():
    """The paper's two outcomes for an unstable W_r (Sec. IV): quasi-linear state, or saturation."""
    small = gradient_lag_curves(1.5, input_scale=0.01)
    large = gradient_lag_curves(1.5, input_scale=2.0)
    assert small["tanh"][-1] > 10 and large["tanh"][-1] < 1e-3
    assert gradient_lag_curves(0.5, input_scale=0.01)["tanh"][-1] < 1e-10


def test_readout_shapes_and_gradient():
    model = RNNReadout(2, 6, 3)
    y = model(torch.randn(5, 4, 2))
    assert y.shape == (5, 4, 3)
    y.sum().backward()
    assert model.rnn.W_r.grad is not None and model.W_y.grad is not None
    assert [n for n, _ in RNNReadout(2, 6, 3, standard=True).named_parameters()] == [
        "W_y", "theta_y", "rnn.W_r", "rnn.W_x", "rnn.theta_s"]


# ------------------------------------------------------------------------------------------ Proposition 1, trained
def test_train_readout_reduces_the_objective():
    teacher = proposition_teacher(True)
    x = marker_inputs(4, 4, 4, seed=3)
    with torch.no_grad():
        v = teacher(x)[1]
    student = CanonicalRNN(2, 3, dtype=F64, standard=True)
    losses = train_readout(student, x, v, K=4, steps=30, lr=0.05)
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]


def test_proposition_experiment_independent_matches_dependent_fails():
    """Independent segments: training per segment from zero matches whole-sequence training.
    Dependent segments: it fails (paper Remark 4). Small and quick settings."""
    ind = proposition_experiment(True, K=6, M=4, B=8, steps=150)
    dep = proposition_experiment(False, K=6, M=4, B=8, steps=150)
    assert ind["dependence"] < 1e-3 < 0.1 < dep["dependence"]
    ratio_ind = ind["test"]["segments"] / ind["test"]["whole"]
    ratio_dep = dep["test"]["segments"] / dep["test"]["whole"]
    assert 0.5 < ratio_ind < 2.0
    assert ratio_dep > 100
    assert ind["pred_rms"][0] < 0.3 * dep["pred_rms"][0]
    assert dep["param_err"]["segments"] > dep["param_err"]["whole"]
    assert ind["pred_rms"].shape == (6,)


# ------------------------------------------------------------------------------------------ the explorer
def test_lag_explorer_reacts_to_spectral_radius_and_input_scale():
    from lstm_lib.figures.rnn_training import lag_explorer

    ex = lag_explorer()
    assert set(ex.params) == {"spectral_radius", "input_scale"}
    assert ex.scrubbed == ("spectral_radius", "input_scale")
    low = ex.set(spectral_radius=0.5, input_scale=0.1)
    assert low["linear"][-1] < 1e-10  # 0.5^59
    high = ex.set(spectral_radius=1.5, input_scale=0.1)
    assert high["linear"][-1] > 1e6
    assert high["tanh"][-1] > low["tanh"][-1]
    saturated = ex.set(spectral_radius=1.5, input_scale=2.0)
    assert saturated["tanh"][-1] < high["tanh"][-1] * 1e-3
    with pytest.raises(ValueError, match="spectral_radius"):
        ex.set(spectral_radius=10.0)


def test_figures_draw():
    import matplotlib.pyplot as plt

    from lstm_lib.figures import rnn_training as figs
    from lstm_lib.fit import History

    figs.plot_lag_curves((0.8,))
    figs.plot_clipping({None: History(loss=[1.0, 2.0], grad_norm=[1.0, 3.0], diverged=True),
                        1.0: History(loss=[1.0, 0.5], grad_norm=[1.0, 1.0])})
    figs.plot_recall([1, 2], [0.1, 0.9], [0.5, 1e-3])
    plt.close("all")


# ------------------------------------------------------------------------------------------ bad input
def test_bad_inputs():
    model = CanonicalRNN(3, 4, dtype=F64)
    x = torch.randn(5, 2, 3, dtype=F64)
    with pytest.raises(ValueError, match="^dE_dr"):
        psi_chi(model, x, dE_dr=torch.zeros(5, 2, 3, dtype=F64))
    with pytest.raises(TypeError, match="^dE_dr"):
        psi_chi(model, x, dE_dr=torch.zeros(5, 2, 4))
    with pytest.raises(ValueError, match="^dE_ds"):
        psi_chi(model, x, dE_dr=torch.zeros(5, 2, 4, dtype=F64), dE_ds=torch.zeros(5, 2, 4, dtype=F64) / 0)
    with pytest.raises(TypeError, match="^printed"):
        psi_chi(model, x, dE_dr=torch.zeros(5, 2, 4, dtype=F64), printed="False")
    with pytest.raises(TypeError, match="^model"):
        psi_chi(torch.nn.RNN(3, 4), x, dE_dr=torch.zeros(5, 2, 4, dtype=F64))
    with pytest.raises(ValueError, match="^form"):
        psi_jacobian(model, x, 0, 2, form="transposed")
    with pytest.raises(ValueError, match="^l"):
        psi_jacobian(model, x, 3, 1)
    with pytest.raises(ValueError, match="^n"):
        state_jacobian_autograd(model, x, 5, 5)
    with pytest.raises(ValueError, match="^warp"):
        canonical_rnn_bptt(x, torch.zeros(2, 4, dtype=F64), model.W_s, model.W_r, model.W_x, model.theta_s,
                           torch.nn.functional.softsign)
    with pytest.raises(ValueError, match="^spectral_radius"):
        random_recurrent_weights(4, -1.0)
    with pytest.raises(TypeError, match="^spectral_radius"):
        random_recurrent_weights(4, "0.9")
    with pytest.raises(TypeError, match="^d"):
        random_recurrent_weights(4.0, 0.9)
    with pytest.raises(TypeError, match="^dtype"):
        random_recurrent_weights(4, 0.9, dtype=torch.int64)
    with pytest.raises(ValueError, match="^output_size"):
        RNNReadout(2, 3, 0)
    with pytest.raises(TypeError, match="^batch_first"):
        RNNReadout(2, 3, 1, batch_first="True")
    with pytest.raises(TypeError, match="^seed"):
        gradient_norm_by_lag(model, x, seed=0.5)
    with pytest.raises(ValueError, match="^input_scale"):
        gradient_lag_curves(1.0, input_scale=float("nan"))
    with pytest.raises(TypeError, match="^independent"):
        proposition_teacher("yes")
    with pytest.raises(ValueError, match="^v"):
        train_readout(CanonicalRNN(2, 3, dtype=F64), marker_inputs(4, 2, 2), torch.zeros(8, 2, 4, dtype=F64))
    with pytest.raises(ValueError, match="^lr"):
        train_readout(CanonicalRNN(2, 3, dtype=F64), marker_inputs(4, 2, 2), torch.zeros(8, 2, 3, dtype=F64), lr=0)

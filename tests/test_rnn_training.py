"""Tests for lstm_lib.rnn_training: hand-derived BPTT, psi/chi, Jacobians, gradient norms, the explorer."""

import math

import pytest
import torch

from lstm_lib.canonical_rnn import CanonicalRNN, identity
from lstm_lib.rnn_training import (
    RNNReadout,
    canonical_rnn_bptt,
    explorer,
    gradient_norm_by_lag,
    jacobian_product_norms,
    jacobians,
    psi_chi,
    random_recurrent_weights,
)

F64 = torch.float64


def params64(m=3, d=4):
    W_s = (0.3 * torch.randn(d, d, dtype=F64)).requires_grad_()
    W_r = (0.5 * torch.randn(d, d, dtype=F64)).requires_grad_()
    W_x = torch.randn(d, m, dtype=F64, requires_grad=True)
    theta = torch.randn(d, dtype=F64, requires_grad=True)
    return W_s, W_r, W_x, theta


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


def test_psi_chi_are_total_derivatives():
    """psi[n] = dE/ds[n] and chi[n] = dE/dr[n]: compare with autograd through additive probes."""
    model = CanonicalRNN(3, 4, dtype=F64)
    with torch.no_grad():
        model.W_s.normal_(0.0, 0.3)
    N, B, d = 6, 2, 4
    x = torch.randn(N, B, 3, dtype=F64)
    w_r, w_s = torch.randn(N, B, d, dtype=F64), torch.randn(N, B, d, dtype=F64)
    probe_s = torch.zeros(N, B, d, dtype=F64, requires_grad=True)
    probe_r = torch.zeros(N, B, d, dtype=F64, requires_grad=True)
    s_prev = torch.zeros(B, d, dtype=F64)
    r_prev = torch.tanh(s_prev)
    E = 0
    for n in range(N):
        s_n = s_prev @ model.W_s.T + r_prev @ model.W_r.T + x[n] @ model.W_x.T + model.theta_s + probe_s[n]
        r_n = torch.tanh(s_n) + probe_r[n]
        E = E + (w_s[n] * s_n).sum() + (w_r[n] * r_n).sum()
        s_prev, r_prev = s_n, r_n
    dE_dprobe_s, dE_dprobe_r = torch.autograd.grad(E, (probe_s, probe_r))
    psi, chi = psi_chi(model, x, dE_dr=w_r, dE_ds=w_s)
    torch.testing.assert_close(psi, dE_dprobe_s, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(chi, dE_dprobe_r, rtol=1e-12, atol=1e-12)
    # the weight-gradient formula: dE/dW_s = sum_n psi[n] s[n-1]^T
    s, _ = model(x)
    s_prev_all = torch.cat((torch.zeros(1, B, d, dtype=F64), s[:-1].detach()))
    (g,) = torch.autograd.grad((w_s * s).sum() + (w_r * torch.tanh(s)).sum(), model.W_s)
    torch.testing.assert_close(torch.einsum("nbi,nbj->ij", psi, s_prev_all), g, rtol=1e-12, atol=1e-12)


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


def test_readout_shapes_and_gradient():
    model = RNNReadout(2, 6, 3)
    y = model(torch.randn(5, 4, 2))
    assert y.shape == (5, 4, 3)
    y.sum().backward()
    assert model.rnn.W_r.grad is not None and model.W_y.grad is not None


def test_explorer_reacts_to_spectral_radius():
    ex = explorer()
    low = ex.set(spectral_radius=0.5, w_s=0.0)
    assert low["linear"][-1] < 1e-10  # 0.5^59
    high = ex.set(spectral_radius=1.5, w_s=0.0)
    assert high["linear"][-1] > 1e6
    assert high["tanh"][-1] > low["tanh"][-1]
    leak = ex.set(spectral_radius=0.5, w_s=0.5)
    assert leak["rho"] > low["rho"] and leak["linear"][-1] > low["linear"][-1]
    with pytest.raises(ValueError, match="spectral_radius"):
        ex.set(spectral_radius=10.0)


def test_bad_inputs():
    model = CanonicalRNN(3, 4, dtype=F64)
    x = torch.randn(5, 2, 3, dtype=F64)
    with pytest.raises(ValueError, match="dE_dr"):
        psi_chi(model, x, dE_dr=torch.zeros(5, 2, 3, dtype=F64))
    with pytest.raises(ValueError, match="warp"):
        canonical_rnn_bptt(x, torch.zeros(2, 4, dtype=F64), model.W_s, model.W_r, model.W_x, model.theta_s,
                           torch.nn.functional.softsign)
    with pytest.raises(ValueError, match="spectral_radius"):
        random_recurrent_weights(4, -1.0)
    with pytest.raises(ValueError, match="output_size"):
        RNNReadout(2, 3, 0)

"""Tests for lstm_lib.canonical_rnn: the recurrence, unrolling, windows, delays, nn.RNN interop, errors."""

import pytest
import torch

from lstm_lib.canonical_rnn import (
    CanonicalRNN,
    companion_form,
    explorer,
    identity,
    multi_delay_loop,
    run_windows,
    window_gradients,
)

F64 = torch.float64


def model64(m=3, d=4, warp=torch.tanh, **kw):
    model = CanonicalRNN(m, d, warp=warp, dtype=F64, **kw)
    with torch.no_grad():
        model.W_s.normal_(0.0, 0.3)  # the default W_s = 0 would hide its role
    return model


def reference(x, s0, model):
    """The defining equations, one step at a time, nothing vectorised."""
    s_prev = s0
    r_prev = model.warp(s0)
    out = []
    for n in range(x.shape[0]):
        s = model.W_s @ s_prev.T + model.W_r @ r_prev.T + model.W_x @ x[n].T + model.theta_s[:, None]
        s_prev = s.T
        r_prev = model.warp(s_prev)
        out.append(s_prev)
    s = torch.stack(out)
    return s, model.warp(s)


@pytest.mark.parametrize("backward", ["bptt", "autograd"])
@pytest.mark.parametrize("warp", [torch.tanh, torch.sigmoid, identity, torch.relu])
def test_forward_matches_equations(backward, warp):
    model = model64(warp=warp, backward=backward)
    x = torch.randn(7, 2, 3, dtype=F64)
    s0 = torch.randn(2, 4, dtype=F64)
    s, r = model(x, s0)
    s_ref, r_ref = reference(x, s0, model)
    assert s.shape == r.shape == (7, 2, 4)
    torch.testing.assert_close(s, s_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r, r_ref, rtol=1e-12, atol=1e-12)


def test_zero_default_state_and_batch_first():
    model = model64()
    x = torch.randn(5, 3, 3, dtype=F64)
    s_a, r_a = model(x)
    s_b, _ = model(x, torch.zeros(3, 4, dtype=F64))
    torch.testing.assert_close(s_a, s_b)
    bf = model64(batch_first=True)
    bf.load_state_dict(model.state_dict())
    s_c, r_c = bf(x.transpose(0, 1))
    torch.testing.assert_close(s_c.transpose(0, 1), s_a)
    torch.testing.assert_close(r_c.transpose(0, 1), r_a)


def test_default_init_is_standard_rnn():
    model = CanonicalRNN(5, 16)
    assert model.W_s.abs().max() == 0
    assert model.W_r.abs().max() <= 16**-0.5
    assert model.W_s.dtype == torch.float32


@pytest.mark.parametrize("s0", [None, "random"])
def test_unrolled_network_equals_recurrent_run(s0):
    model = model64()
    x = torch.randn(6, 2, 3, dtype=F64)
    s0 = None if s0 is None else torch.randn(2, 4, dtype=F64)
    s, r = model(x, s0)
    net = model.unroll(6)
    assert len(net.layers) == 6
    assert all(layer.W_r is model.W_r for layer in net.layers)  # tied: the same Parameter objects
    s_u, r_u = net(x, s0)
    torch.testing.assert_close(s_u, s, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r_u, r, rtol=1e-12, atol=1e-12)


def test_tied_gradient_is_sum_of_per_layer_gradients():
    model = model64()
    x = torch.randn(5, 2, 3, dtype=F64)
    target = torch.randn(5, 2, 4, dtype=F64)
    _, r = model(x)
    (r - target).square().sum().backward()
    untied = model.unroll(5, tied=False)
    assert untied.layers[0].W_r is not untied.layers[1].W_r
    _, r_u = untied(x)
    (r_u - target).square().sum().backward()
    for name in ("W_s", "W_r", "W_x", "theta_s"):
        per_layer = [getattr(layer, name).grad for layer in untied.layers]
        assert not torch.allclose(per_layer[0], per_layer[-1])  # the layers' gradients differ ...
        torch.testing.assert_close(sum(per_layer), getattr(model, name).grad, rtol=1e-10, atol=1e-12)  # ... and sum


def test_windows_forward_equals_full_run_and_cut_gradient():
    model = model64()
    x = torch.randn(10, 2, 3, dtype=F64, requires_grad=True)
    s, r = model(x)
    s_w, r_w = run_windows(model, x, 4)
    torch.testing.assert_close(s_w, s, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r_w, r, rtol=1e-12, atol=1e-12)
    r_w[-1].sum().backward()  # last window is steps 8, 9: no gradient reaches steps 0 .. 7
    assert x.grad[:8].abs().max() == 0
    assert x.grad[8:].abs().max() > 0


def test_windows_batch_first():
    model = model64(batch_first=True)
    x = torch.randn(2, 9, 3, dtype=F64)
    torch.testing.assert_close(run_windows(model, x, 3)[0], model(x)[0])


def test_explorer_window_cuts_gradient_at_last_boundary():
    ex = explorer()
    N = len(ex.data["grad_full"])
    for window in (1, 5, 8):
        data = ex.set(window=window)
        start = (N - 1) // window * window  # first step of the last window
        assert data["last_start"] == start
        assert data["forward_diff"] < 1e-12  # eq:canonical_rnn-windows: the carried state makes the runs equal
        assert (data["grad_windowed"][:start] == 0).all()  # no gradient crosses a boundary
        assert (data["grad_windowed"][start:] > 0).all()
        # inside the last window every path from x[n] to r[N-1] stays in the window: the gradients agree
        torch.testing.assert_close(torch.from_numpy(data["grad_windowed"][start:]),
                                   torch.from_numpy(data["grad_full"][start:]), rtol=1e-10, atol=1e-14)
        assert data["W_r_rel_err"] > 0
    data = ex.set(window=N)  # one window: truncated BPTT is full BPTT
    assert (data["grad_windowed"] > 0).all() and data["W_r_rel_err"] < 1e-12
    # a stronger leak W_s carries more of the gradient across the boundary, so truncation loses more
    lost_no_leak = ex.set(window=8, w_s=0.0)["W_r_rel_err"]
    lost_leak = ex.set(window=8, w_s=0.5)["W_r_rel_err"]
    assert lost_leak > 10 * lost_no_leak
    with pytest.raises(ValueError, match="window"):
        ex.set(window=0)
    with pytest.raises(ValueError, match="N"):
        explorer(N=1)
    with pytest.raises(TypeError, match="model"):
        window_gradients(torch.nn.RNN(2, 4), torch.randn(3, 1, 2), 2)


def test_window_gradients_batch_first():
    model = model64(batch_first=True)
    x = torch.randn(2, 9, 3, dtype=F64)
    g = window_gradients(model, x, 4)
    assert g["s_full"].shape == (9, 2, 4)
    torch.testing.assert_close(g["s_windowed"], g["s_full"])
    assert (g["grad_windowed"][:8] == 0).all() and (g["grad_windowed"][8:] > 0).all()


def test_companion_form_equals_multi_delay_recurrence():
    d, m, K = 3, 2, 3
    W_s = [0.3 * torch.randn(d, d, dtype=F64) for _ in range(K)]
    W_r = [0.3 * torch.randn(d, d, dtype=F64) for _ in range(K)]
    W_x, theta = torch.randn(d, m, dtype=F64), torch.randn(d, dtype=F64)
    x = torch.randn(8, 2, m, dtype=F64)
    direct = multi_delay_loop(x, W_s, W_r, W_x, theta)
    model = companion_form(W_s, W_r, W_x, theta)
    assert model.state_size == K * d
    s, _ = model(x)
    torch.testing.assert_close(s[:, :, :d], direct, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s[1:, :, d:2 * d], direct[:-1])  # the second block is s[n-1]


@pytest.mark.parametrize("batch_first", [False, True])
def test_standard_rnn_equals_torch_rnn(batch_first):
    rnn = torch.nn.RNN(3, 5, batch_first=batch_first, dtype=F64)
    model = CanonicalRNN.from_torch(rnn)
    assert model.W_s.abs().max() == 0 and model.batch_first == batch_first
    x = torch.randn(2, 6, 3, dtype=F64) if batch_first else torch.randn(6, 2, 3, dtype=F64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    h, _ = rnn(x1)
    _, r = model(x2)
    torch.testing.assert_close(r, h, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(h)
    (h * w).sum().backward()
    (r * w).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.W_r.grad, rnn.weight_hh_l0.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.W_x.grad, rnn.weight_ih_l0.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.theta_s.grad, rnn.bias_ih_l0.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.theta_s.grad, rnn.bias_hh_l0.grad, rtol=1e-12, atol=1e-12)


def test_to_torch_round_trip():
    model = CanonicalRNN(3, 4, dtype=F64)
    rnn = model.to_torch()
    x = torch.randn(5, 2, 3, dtype=F64)
    torch.testing.assert_close(rnn(x)[0], model(x)[1])
    with torch.no_grad():
        model.W_s.fill_(0.1)
    with pytest.raises(ValueError, match="W_s"):
        model.to_torch()
    with pytest.raises(ValueError, match="warp"):
        CanonicalRNN(3, 4, warp=torch.sigmoid).to_torch()
    with pytest.raises(ValueError, match="rnn"):
        CanonicalRNN.from_torch(torch.nn.RNN(3, 4, nonlinearity="relu"))
    with pytest.raises(TypeError, match="rnn"):
        CanonicalRNN.from_torch(torch.nn.LSTM(3, 4))


def test_from_continuous_uses_discretization():
    disc = pytest.importorskip("lstm_lib.discretization")
    d, m, dt = 3, 2, 0.1
    A = -torch.eye(d, dtype=F64)
    B, C, phi = torch.randn(d, d, dtype=F64), torch.randn(d, m, dtype=F64), torch.randn(d, dtype=F64)
    model = CanonicalRNN.from_continuous(A, B, C, phi, dt)
    p = disc.discretize(A, B, C, phi, dt, method="backward")
    torch.testing.assert_close(model.W_s.detach(), torch.as_tensor(p.W_s, dtype=F64))
    W_s = torch.linalg.inv(torch.eye(d, dtype=F64) - dt * A)
    torch.testing.assert_close(model.W_s.detach(), W_s)
    torch.testing.assert_close(model.W_r.detach(), dt * W_s @ B)


# --------------------------------------------------------------------------------------------- bad input
def test_bad_inputs():
    model = CanonicalRNN(3, 4)
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(5, 3))  # wrong rank
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(5, 2, 7))  # wrong input size
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(0, 2, 3))  # N < 1
    with pytest.raises(TypeError, match="x"):
        model(torch.randn(5, 2, 3, dtype=F64))  # wrong dtype
    with pytest.raises(TypeError, match="x"):
        model(torch.ones(5, 2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(5, 2, 3, device="meta"))  # wrong device
    with pytest.raises(ValueError, match="x"):
        model(torch.full((5, 2, 3), float("nan")))
    with pytest.raises(ValueError, match="s0"):
        model(torch.randn(5, 2, 3), torch.randn(3, 4))
    with pytest.raises(ValueError, match="N"):
        model.unroll(0)
    with pytest.raises(ValueError, match="window"):
        run_windows(model, torch.randn(5, 2, 3), 0)


def test_bad_settings():
    with pytest.raises(ValueError, match="backward"):
        CanonicalRNN(3, 4, backward="magic")
    with pytest.raises(ValueError, match="warp"):
        CanonicalRNN(3, 4, warp="softsign")
    with pytest.raises(ValueError, match="warp"):
        CanonicalRNN(3, 4, warp=torch.nn.functional.softsign)  # derivative unknown to backward="bptt"
    model = CanonicalRNN(3, 4, warp=torch.nn.functional.softsign, backward="autograd")  # explicit fallback
    assert model(torch.randn(2, 1, 3))[0].shape == (2, 1, 4)
    with pytest.raises(TypeError, match="warp"):
        CanonicalRNN(3, 4, warp=3)
    with pytest.raises(ValueError, match="state_size"):
        CanonicalRNN(3, 0)
    with pytest.raises(TypeError, match="dtype"):
        CanonicalRNN(3, 4, dtype=torch.int32)

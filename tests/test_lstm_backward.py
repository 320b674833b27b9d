"""The hand-derived backward pass of the LSTM layer (paper Eqs. 216-250, errata E6 and E11 corrected):
against autograd, by float64 gradcheck, with the paper's clipping of the accumulation derivatives
(fn 25), and second derivatives."""

import itertools

import pytest
import torch
from lstm_reference import augmented_loop, sigma

from lstm_lib import AugmentedLSTM, VanillaLSTM
from lstm_lib import _lstm_kernels as kernels
from lstm_lib._lstm_recurrence import LSTMSequence

F64 = torch.float64
CONFIGS = list(itertools.product(("full", "diagonal", None), (0, 3), (1, 3), (False, True)))


def _pair(sw, proj, L, gate, **kw):
    model = AugmentedLSTM(4, 5, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=F64, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    twin = AugmentedLSTM(4, 5, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=F64,
                         backward="autograd", **kw)
    twin.load_state_dict(model.state_dict())
    return model, twin


def _grads(net, x, state, wrt_extra=()):
    v, (v_last, s_last) = net(x, state)
    loss = (v**3).sum() + (2 * v_last).sum() + s_last.cos().sum()
    return v, torch.autograd.grad(loss, [x, *net.parameters(), *wrt_extra])


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_bptt_equals_autograd(sw, proj, L, gate, batch_first):
    model, twin = _pair(sw, proj, L, gate, batch_first=batch_first)
    N, B = 7, 3
    x = torch.randn((B, N, 4) if batch_first else (N, B, 4), dtype=F64, requires_grad=True)
    state = (torch.randn(B, proj or 5, dtype=F64, requires_grad=True), torch.randn(B, 5, dtype=F64, requires_grad=True))
    v1, g1 = _grads(model, x, state, state)
    v2, g2 = _grads(twin, x, state, state)
    torch.testing.assert_close(v1, v2, atol=1e-13, rtol=0)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
def test_gradcheck(sw, proj, L, gate):
    model, _ = _pair(sw, proj, L, gate)
    lay = model.layout
    x = torch.randn(4, 2, 4, dtype=F64, requires_grad=True)
    v0 = torch.randn(2, proj or 5, dtype=F64, requires_grad=True)
    s0 = torch.randn(2, 5, dtype=F64, requires_grad=True)
    W = [t.detach().clone().requires_grad_(True) if t is not None else None for t in model._weights()]

    def f(x, W_x, b, W_v, W_s, W_qdr, v0, s0):
        return LSTMSequence.apply(x, W_x, b, W_v, W_s, W_qdr, v0, s0, lay, None)

    assert torch.autograd.gradcheck(f, (x, *W, v0, s0))


def test_input_gate_gradient_is_gated_erratum_E11():
    """dE/dW_xdu[l] = (g_cx alpha_du) x[n+l]^T, not alpha_du x[n+l]^T as Eq. 246 prints."""
    model, _ = _pair(None, 0, 2, True)
    x = torch.randn(6, 2, 4, dtype=F64)
    v, _ = model(x)
    v.sum().backward()
    p = {k: t.detach().clone().requires_grad_(True) for k, t in model.paper_params().items()}
    v_ref, _ = augmented_loop(p, x, torch.zeros(2, 5, dtype=F64), torch.zeros(2, 5, dtype=F64), 2, True)
    v_ref.sum().backward()
    torch.testing.assert_close(model.paper_grads()["W_xdu"], p["W_xdu"].grad, atol=1e-12, rtol=0)


def _clamping_loop(p, x, c):
    """The vanilla cell (paper Eqs. 126-136), with every accumulation derivative clipped to [-c, c] where
    it is formed (paper fn 25): a hook on each accumulation clamps the gradient that flows on from it."""

    def clip(a):
        a.register_hook(lambda g: g.clamp(-c, c))
        return a

    B, d = x.shape[1], p["b_cs"].shape[0]
    v = s = torch.zeros(B, d, dtype=x.dtype)
    out = []
    for n in range(x.shape[0]):
        a_cu = clip(x[n] @ p["W_xcu"].T + s @ p["W_scu"].T + v @ p["W_vcu"].T + p["b_cu"])
        a_cs = clip(x[n] @ p["W_xcs"].T + s @ p["W_scs"].T + v @ p["W_vcs"].T + p["b_cs"])
        a_du = clip(x[n] @ p["W_xdu"].T + v @ p["W_vdu"].T + p["b_du"])
        s = sigma(a_cs) * s + sigma(a_cu) * torch.tanh(a_du)
        a_cr = clip(x[n] @ p["W_xcr"].T + s @ p["W_scr"].T + v @ p["W_vcr"].T + p["b_cr"])
        v = sigma(a_cr) * torch.tanh(s)
        out.append(v)
    return torch.stack(out)


@pytest.mark.parametrize("sw", ["full", "diagonal", None])
def test_clip_alpha(sw):
    x = torch.randn(12, 3, 4, dtype=F64)
    model = VanillaLSTM(4, 5, state_weights=sw, dtype=F64)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 1.0)

    def grads(clip):
        net = VanillaLSTM(4, 5, state_weights=sw, dtype=F64, clip_alpha=clip)
        net.load_state_dict(model.state_dict())
        (10 * net(x)[0]).square().sum().backward()
        return [p.grad for p in net.parameters()]

    exact = grads(None)
    for a, b in zip(grads(1e30), exact, strict=True):  # a huge bound clips nothing
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    clipped = grads(0.05)
    assert any((a - b).abs().max() > 1e-3 for a, b in zip(clipped, exact, strict=True))
    p = {k: t.detach().clone().requires_grad_(True) for k, t in model.paper_params().items()}
    (10 * _clamping_loop(p, x, 0.05)).square().sum().backward()
    net = VanillaLSTM(4, 5, state_weights=sw, dtype=F64, clip_alpha=0.05)
    net.load_state_dict(model.state_dict())
    (10 * net(x)[0]).square().sum().backward()
    for name, g in net.paper_grads().items():
        ref = p["W_s" + name[3:]].grad if name.startswith("w_s") else p[name].grad
        if name.startswith("w_s"):
            ref = torch.diagonal(ref)
        torch.testing.assert_close(g, ref, atol=1e-12, rtol=1e-10, msg=name)


def test_clip_alpha_in_the_autograd_path_equals_the_hand_backward():
    for gate in (False, True):
        model, twin = _pair("full", 2, 2, gate, clip_alpha=0.01)
        x = torch.randn(8, 3, 4, dtype=F64, requires_grad=True)
        _, g1 = _grads(model, x, None)
        _, g2 = _grads(twin, x, None)
        for a, b in zip(g1, g2, strict=True):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("sw,proj,gate", [("full", 0, False), ("diagonal", 2, True), (None, 0, False)])
def test_second_derivatives_are_exact(sw, proj, gate):
    """create_graph=True through backward="bptt": a gradient penalty and a Hessian-vector product equal autograd's."""
    model, twin = _pair(sw, proj, 2, gate)
    x = torch.randn(5, 2, 4, dtype=F64)
    results = []
    for net in (model, twin):
        v, (_, s_last) = net(x)
        params = list(net.parameters())
        g = torch.autograd.grad(v.sum() + s_last.sum(), params, create_graph=True)  # a loss linear in the output
        penalty = sum(t.square().sum() for t in g)
        results.append(torch.autograd.grad(penalty, params))
    for a, b in zip(*results, strict=True):
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    lay = model.layout
    W = [t.detach().clone().requires_grad_(True) if t is not None else None for t in model._weights()]
    xx = x.clone().requires_grad_(True)
    z = [torch.zeros(2, proj or 5, dtype=F64), torch.zeros(2, 5, dtype=F64)]
    assert torch.autograd.gradgradcheck(lambda x, b, W_v: LSTMSequence.apply(x, W[0], b, W_v, W[3], W[4], *z, lay,
                                                                                None), (xx, W[1], W[2]))


def test_hessian_is_not_zero():
    model = VanillaLSTM(2, 3, dtype=F64)
    x = torch.randn(4, 1, 2, dtype=F64)

    def f(b):
        lay = model.layout
        return LSTMSequence.apply(x, model.W_x, b, model.W_v, model.W_s, None, torch.zeros(1, 3, dtype=F64),
                                  torch.zeros(1, 3, dtype=F64), lay, None)[0].sum()

    H = torch.autograd.functional.hessian(f, model.b.detach().clone())
    twin = VanillaLSTM(2, 3, dtype=F64, backward="autograd")
    twin.load_state_dict(model.state_dict())
    assert H.abs().max() > 1e-3
    H_ref = torch.autograd.functional.hessian(
        lambda b: torch.func.functional_call(twin, {"b": b}, (x,))[0].sum(), model.b.detach().clone())
    torch.testing.assert_close(H, H_ref, atol=1e-10, rtol=1e-10)


def test_second_derivative_with_clipping_is_refused():
    model = VanillaLSTM(2, 3, dtype=F64, clip_alpha=1.0)
    v, _ = model(torch.randn(3, 1, 2, dtype=F64))
    with pytest.raises(RuntimeError, match="clip_alpha"):
        torch.autograd.grad(v.sum(), list(model.parameters()), create_graph=True)


def test_saved_outputs_guard_against_in_place_edit():
    model = VanillaLSTM(3, 4)
    v, _ = model(torch.randn(5, 2, 3))
    v.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        v.sum().backward()


def test_gradient_without_kernels_equals_with(monkeypatch):
    """The Python reference loops (CUDA's path) and the compiled ones give the same gradients."""
    model, _ = _pair("full", 2, 2, True)
    x = torch.randn(6, 3, 4, dtype=F64, requires_grad=True)
    v1, g1 = _grads(model, x, None)
    monkeypatch.setattr(kernels, "usable", lambda t: False)
    v2, g2 = _grads(model, x, None)
    torch.testing.assert_close(v1, v2, atol=1e-14, rtol=0)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-13, rtol=1e-12)

"""The one LSTM layer: every configuration against an independent loop of the paper's equations,
the vanilla configuration against its peers (torch.nn.LSTM, the ONNX peephole cell), the projection
against torch.nn.LSTM(proj_size), and the layer's API (names, interop, argument checks)."""

import itertools

import pytest
import torch
from lstm_reference import augmented_loop, onnx_peephole_loop, vanilla_loop

from lstm_lib import AugmentedLSTM, VanillaLSTM
from lstm_lib.vanilla_lstm import lstm_step

F64 = torch.float64
STATE_WEIGHTS = ("full", "diagonal", None)
CONFIGS = list(itertools.product(STATE_WEIGHTS, (0, 3), (1, 3), (False, True)))  # state weights, d_v, L, gate


def _randomize(model, scale=0.5):
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, scale)
    return model


def _state(B, model, dtype=F64):
    return (torch.randn(B, model.value_size, dtype=dtype), torch.randn(B, model.hidden_size, dtype=dtype))


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
def test_every_configuration_equals_the_papers_equations(sw, proj, L, gate):
    N, B, m, d = 7, 3, 4, 5
    model = _randomize(AugmentedLSTM(m, d, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=F64))
    x = torch.randn(N, B, m, dtype=F64)
    v0, s0 = _state(B, model)
    v, (v_last, s_last) = model(x, (v0, s0))
    with torch.no_grad():
        v_ref, s_ref = augmented_loop(model.paper_params(), x, v0, s0, L, gate)
    torch.testing.assert_close(v, v_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(s_last, s_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(v_last, v_ref[-1], atol=1e-12, rtol=0)
    assert v.shape == (N, B, proj or d)


@pytest.mark.parametrize("sw", STATE_WEIGHTS)
def test_vanilla_layer_equals_the_papers_equations_and_lstm_step(sw):
    N, B, m, d = 6, 2, 3, 4
    model = _randomize(VanillaLSTM(m, d, state_weights=sw, dtype=F64))
    x = torch.randn(N, B, m, dtype=F64)
    v0, s0 = _state(B, model)
    v, (_, s_last) = model(x, (v0, s0))
    p = model.paper_params()
    with torch.no_grad():
        v_ref, s_ref = vanilla_loop(p, x, v0, s0)
        vv, ss = v0, s0
        for n in range(N):
            vv, ss = lstm_step(x[n], vv, ss, p)
            torch.testing.assert_close(vv, v[n], atol=1e-12, rtol=0)
    torch.testing.assert_close(v, v_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(s_last, s_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(ss, s_ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("sw", STATE_WEIGHTS)
def test_switches_off_is_the_vanilla_layer(sw):
    aug = _randomize(AugmentedLSTM(3, 4, state_weights=sw, dtype=F64))
    van = VanillaLSTM(3, 4, state_weights=sw, dtype=F64)
    van.load_state_dict(aug.state_dict())
    x = torch.randn(5, 2, 3, dtype=F64, requires_grad=True)
    (va, (_, sa)), (vb, (_, sb)) = aug(x), van(x)
    assert torch.equal(va, vb) and torch.equal(sa, sb)
    ga = torch.autograd.grad(va.sum() + sa.sum(), [x, *aug.parameters()])
    gb = torch.autograd.grad(vb.sum() + sb.sum(), [x, *van.parameters()])
    for a, b in zip(ga, gb, strict=True):
        assert torch.equal(a, b)


def _loss(v, v_last, s_last):
    w = torch.linspace(-1, 1, v.shape[-1], dtype=v.dtype)
    return (v.sin() * w).sum() + (v_last * w).sum() + (s_last**2).sum()


@pytest.mark.parametrize("dtype,tol", [(F64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("proj", [0, 3])
def test_equals_torch_lstm_with_copied_weights(dtype, tol, batch_first, with_state, proj):
    N, B, m, d = 6, 3, 4, 5
    ref = torch.nn.LSTM(m, d, batch_first=batch_first, proj_size=proj, dtype=dtype)
    ours = AugmentedLSTM.from_torch(ref) if proj else VanillaLSTM.from_torch(ref)
    assert ours.batch_first == batch_first and ours.state_weights is None and ours.proj_size == proj
    x = torch.randn((B, N, m) if batch_first else (N, B, m), dtype=dtype, requires_grad=True)
    v0 = torch.randn(B, proj or d, dtype=dtype, requires_grad=True)
    s0 = torch.randn(B, d, dtype=dtype, requires_grad=True)
    h, (h_n, c_n) = ref(x, (v0[None], s0[None]) if with_state else None)
    v, (v_last, s_last) = ours(x, (v0, s0) if with_state else None)
    for a, b in [(v, h), (v_last, h_n[0]), (s_last, c_n[0])]:
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    extra = [v0, s0] if with_state else []
    inputs_ref = [x, ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0] + ([ref.weight_hr_l0] if proj else [])
    inputs_ours = [x, ours.W_x, ours.W_v, ours.b] + ([ours.W_qdr] if proj else [])
    g_ref = torch.autograd.grad(_loss(h, h_n[0], c_n[0]), inputs_ref + extra)
    g_ours = list(torch.autograd.grad(_loss(v, v_last, s_last), inputs_ours + extra))
    order = ours.layout.torch_permutation()
    for k in (1, 2, 3):  # our block order (cr, cs, cu, du) -> torch's (i, f, g, o)
        g_ours[k] = g_ours[k][order]
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_diagonal_state_weights_equal_the_onnx_peephole_cell():
    N, B, m, d = 6, 3, 4, 5
    model = _randomize(VanillaLSTM(m, d, state_weights="diagonal", dtype=F64))
    x = torch.randn(N, B, m, dtype=F64)
    v0, s0 = _state(B, model)
    # ONNX orders the gates (i, o, f, c) = (cu, cr, cs, du) and its peepholes (i, o, f) = (cu, cr, cs).
    rows = torch.cat([torch.arange(model.layout.block(g).start, model.layout.block(g).stop)
                      for g in ("cu", "cr", "cs", "du")])
    W, R = model.W_x.detach()[rows], model.W_v.detach()[rows]
    Bias = torch.cat((model.b.detach()[rows], torch.zeros(4 * d, dtype=F64)))
    P = torch.cat([model.w_scu.detach(), model.w_scr.detach(), model.w_scs.detach()])
    H, C = onnx_peephole_loop(W, R, Bias, P, x, v0, s0)
    v, (_, s_last) = model(x, (v0, s0))
    torch.testing.assert_close(v, H, atol=1e-12, rtol=0)
    torch.testing.assert_close(s_last, C, atol=1e-12, rtol=0)


def test_round_trip_torch_and_zero_state_weights():
    ref = torch.nn.LSTM(3, 4, batch_first=True, dtype=F64)
    back = VanillaLSTM.from_torch(ref).to_torch()
    assert back.batch_first
    x = torch.randn(2, 5, 3, dtype=F64)
    torch.testing.assert_close(back(x)[0], ref(x)[0], atol=1e-12, rtol=0)
    for sw in ("full", "diagonal"):  # zero state weights: the same function, now trainable
        ours = VanillaLSTM.from_torch(ref, state_weights=sw)
        assert ours.state_weights == sw
        torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-12, rtol=0)
        ours.to_torch()  # zero state weights convert back
        with torch.no_grad():
            (ours.W_s if sw == "full" else ours.w_s).add_(0.1)
        assert (ours(x)[0] - ref(x)[0]).abs().max() > 1e-6
        with pytest.raises(ValueError, match="state-to-gate"):
            ours.to_torch()
    proj = torch.nn.LSTM(3, 6, proj_size=2, dtype=F64)
    again = AugmentedLSTM.from_torch(proj).to_torch()
    torch.testing.assert_close(again(x.transpose(0, 1))[0], proj(x.transpose(0, 1))[0], atol=1e-12, rtol=0)


def test_torch_interop_refusals():
    with pytest.raises(ValueError, match="num_layers"):
        VanillaLSTM.from_torch(torch.nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="bidirectional"):
        VanillaLSTM.from_torch(torch.nn.LSTM(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size"):
        VanillaLSTM.from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(TypeError, match="lstm"):
        VanillaLSTM.from_torch(torch.nn.GRU(3, 4))
    with pytest.raises(ValueError, match="context"):
        AugmentedLSTM(3, 4, context=2, state_weights=None).to_torch()
    with pytest.raises(ValueError, match="input_gate"):
        AugmentedLSTM(3, 4, input_gate=True, state_weights=None).to_torch()


@pytest.mark.parametrize("sw", STATE_WEIGHTS)
def test_named_views_write_through(sw):
    d, m, L = 4, 3, 2
    model = AugmentedLSTM(m, d, context=L, input_gate=True, proj_size=2, state_weights=sw, dtype=F64)
    assert model.W_xcs.shape == (L, d, m) and model.W_vdu.shape == (d, 2) and model.W_qdr.shape == (2, d)
    assert model.W_xcx.shape == (L, d, m)
    model.b_cs = torch.full((d,), 3.0)
    assert torch.equal(model.b[model.layout.block("cs")], torch.full((d,), 3.0, dtype=F64))
    taps = torch.randn(L, d, m, dtype=F64)
    model.W_xcu = taps
    blk = model.W_x[model.layout.block("cu")]
    assert torch.equal(blk[:, :m], taps[0]) and torch.equal(blk[:, m:], taps[1])  # tap l in columns l m ..
    model.W_qdr = torch.ones(2, d)
    assert torch.equal(model.W_qdr.detach(), torch.ones(2, d, dtype=F64))
    if sw == "full":
        model.W_scx = torch.eye(d)
        assert torch.equal(model.W_s[model.layout.state_block("cx")], torch.eye(d, dtype=F64))
        assert model.w_scs is None
        with pytest.raises(AttributeError, match="state_weights='diagonal'"):
            model.w_scs = torch.ones(d)
    elif sw == "diagonal":
        model.w_scr = torch.ones(d)
        assert torch.equal(model.w_s[:d], torch.ones(d, dtype=F64))
        assert model.W_scs is None
    else:
        assert model.W_scs is None and model.w_scs is None
        with pytest.raises(AttributeError, match="state_weights"):
            model.W_scs = torch.ones(d, d)
    p = model.paper_params()
    for g in ("cr", "cs", "cu", "cx"):
        assert p[f"W_s{g}"].shape == (d, d)
    assert set(p) >= {"W_xcx", "W_vcx", "b_cx", "W_scx", "W_qdr"}
    with pytest.raises(ValueError, match="b_cs"):
        model.b_cs = torch.zeros(d + 1)
    with pytest.raises(AttributeError, match="input_gate=True"):
        AugmentedLSTM(m, d).b_cx = torch.zeros(d)
    with pytest.raises(AttributeError, match="proj_size"):
        AugmentedLSTM(m, d).W_qdr = torch.zeros(2, d)


def test_vanilla_names_and_paper_grads():
    model = VanillaLSTM(3, 4, state_weights="diagonal", dtype=F64)
    assert model.W_xcs.shape == (4, 3)  # the vanilla layer has no taps
    p = model.paper_params()
    assert "W_qdr" not in p and "W_xcx" not in p
    torch.testing.assert_close(p["W_scs"], torch.diag(model.w_scs))
    x = torch.randn(5, 2, 3, dtype=F64)
    model(x)[0].sum().backward()
    g = model.paper_grads()
    assert torch.equal(g["b_cs"], model.b.grad[4:8]) and torch.equal(g["w_scr"], model.w_s.grad[:4])
    assert g["W_xdu"].shape == (4, 3)
    # the named views are the ones the equations use: setting W_xdu = 0 removes x from u
    before = model(x)[0]
    model.W_xdu = torch.zeros(4, 3)
    assert (model(x)[0] - before).abs().max() > 1e-6


def test_constructor_checks_every_argument():
    with pytest.raises(TypeError, match="peepholes"):
        VanillaLSTM(3, 4, peepholes=True)  # replaced by state_weights
    with pytest.raises(ValueError, match="state_weights: expected one of 'full', 'diagonal', None"):
        VanillaLSTM(3, 4, state_weights="no")
    with pytest.raises(TypeError, match="batch_first: expected True or False, got str"):
        VanillaLSTM(3, 4, batch_first="False")
    with pytest.raises(TypeError, match="input_gate"):
        AugmentedLSTM(3, 4, input_gate=1)
    with pytest.raises(TypeError, match="dtype: expected torch.float32 or torch.float64"):
        VanillaLSTM(3, 4, dtype=torch.float16)
    with pytest.raises(TypeError, match="dtype"):
        VanillaLSTM(3, 4, dtype="float32")
    with pytest.raises(TypeError, match="hidden_size: expected an int"):
        VanillaLSTM(3, 4.0)
    with pytest.raises(ValueError, match="hidden_size"):
        VanillaLSTM(3, 0)
    with pytest.raises(TypeError, match="input_size"):
        VanillaLSTM(True, 4)
    with pytest.raises(ValueError, match="proj_size: expected 0 .* < hidden_size=4"):
        AugmentedLSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size"):
        AugmentedLSTM(3, 4, proj_size=-1)
    with pytest.raises(ValueError, match="context: expected an int >= 1"):
        AugmentedLSTM(3, 4, context=0)
    with pytest.raises(ValueError, match="backward"):
        VanillaLSTM(3, 4, backward="magic")
    with pytest.raises(ValueError, match="clip_alpha"):
        VanillaLSTM(3, 4, clip_alpha=-1.0)
    with pytest.raises(TypeError, match="clip_alpha"):
        VanillaLSTM(3, 4, clip_alpha="1")
    with pytest.raises(ValueError, match="clip_alpha"):
        VanillaLSTM(3, 4, clip_alpha=float("nan"))
    with pytest.raises(ValueError, match="device"):
        VanillaLSTM(3, 4, device="nonsense")


def test_forward_checks_its_input():
    model = VanillaLSTM(3, 4)
    bad = [
        (torch.randn(5, 3), ValueError, "x: expected a tensor with 3 dimensions"),
        (torch.randn(5, 2, 4), ValueError, "x: expected shape .* input_size=3"),
        (torch.randn(5, 2, 3, dtype=F64), TypeError, "x: expected dtype torch.float32"),
        (torch.ones(5, 2, 3, dtype=torch.int64), TypeError, "x: expected dtype float32 or float64"),
        (torch.full((5, 2, 3), float("nan")), ValueError, "x: expected finite values"),
        (torch.randn(0, 2, 3), ValueError, "x: expected at least one step"),
        (torch.randn(5, 2, 3, device="meta"), ValueError, "x: expected a tensor with data"),
        (torch.randn(5, 2, 3).to_sparse(), TypeError, "x: expected a dense"),
        ([[[1.0, 2.0, 3.0]]], TypeError, "x: expected a torch.Tensor"),
    ]
    for x, error, message in bad:
        with pytest.raises(error, match=message):
            model(x)
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"state\[0\] \(v0\): expected shape \(2, 4\)"):
        model(x, (torch.zeros(3, 4), torch.zeros(2, 4)))
    with pytest.raises(ValueError, match=r"state\[1\] \(s0\)"):
        model(x, (torch.zeros(2, 4), torch.zeros(2, 5)))
    with pytest.raises(ValueError, match="state: expected a pair"):
        model(x, torch.zeros(2, 4))
    proj = AugmentedLSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"state\[0\] \(v0\): expected shape \(2, 2\)"):
        proj(x, (torch.zeros(2, 4), torch.zeros(2, 4)))


def test_context_window_reads_the_near_future_only():
    """Tap l reads x[n+l]: changing x[k] changes v[n] only for n >= k - (L-1), and never n < k - L + 1."""
    N, L = 12, 3
    model = _randomize(AugmentedLSTM(2, 4, context=L, state_weights=None, dtype=F64))
    x = torch.randn(N, 1, 2, dtype=F64)
    x2 = x.clone()
    x2[8] += 1.0
    diff = (model(x2)[0] - model(x)[0]).abs().amax((1, 2))
    assert (diff[: 8 - L + 1] == 0).all() and (diff[8 - L + 1 :] > 0).all()


def test_input_gate_closed_removes_the_input_from_the_update():
    """g_cx gates only xi_xdu (Eq. 209): with g_cx = 0, W_xdu has no effect; the other gates still see x."""
    model = _randomize(AugmentedLSTM(2, 4, input_gate=True, state_weights=None, dtype=F64))
    model.b_cx = torch.full((4,), -1e4)  # g_cx = 0
    x = torch.randn(6, 3, 2, dtype=F64)
    before = model(x)[0]
    model.W_xdu = torch.randn(1, 4, 2)
    torch.testing.assert_close(model(x)[0], before, atol=1e-12, rtol=0)
    model.W_xcs = torch.randn(1, 4, 2)
    assert (model(x)[0] - before).abs().max() > 1e-6

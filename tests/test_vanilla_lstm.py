"""The vanilla LSTM layer: equal to torch.nn.LSTM without peepholes, to its own one-step cell, and its interop."""

import pytest
import torch

from lstm_lib.vanilla_lstm import VanillaLSTM, autograd_recurrence, lstm_step

F64 = torch.float64


def _state(B, d, dtype):
    return torch.randn(B, d, dtype=dtype), torch.randn(B, d, dtype=dtype)


def _loss(v, v_last, s_last):
    w = torch.linspace(-1, 1, v.shape[-1], dtype=v.dtype)
    return (v.sin() * w).sum() + (v_last * w).sum() + (s_last**2).sum()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_equals_torch_lstm_without_peepholes(dtype, tol, batch_first, with_state):
    N, B, m, d = 6, 3, 4, 5
    ref = torch.nn.LSTM(m, d, batch_first=batch_first, dtype=dtype)
    ours = VanillaLSTM.from_torch(ref)
    assert ours.batch_first == batch_first and not ours.peepholes
    x = torch.randn((B, N, m) if batch_first else (N, B, m), dtype=dtype, requires_grad=True)
    v0, s0 = (t.requires_grad_(True) for t in _state(B, d, dtype))
    h, (h_n, c_n) = ref(x, (v0[None], s0[None]) if with_state else None)
    v, (v_last, s_last) = ours(x, (v0, s0) if with_state else None)
    for a, b in [(v, h), (v_last, h_n[0]), (s_last, c_n[0])]:
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    inputs_ref = [x, ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0]
    inputs_ours = [x, ours.W_x, ours.W_v, ours.b]
    if with_state:
        inputs_ref += [v0, s0]
        inputs_ours += [v0, s0]
    g_ref = torch.autograd.grad(_loss(h, h_n[0], c_n[0]), inputs_ref)
    g_ours = list(torch.autograd.grad(_loss(v, v_last, s_last), inputs_ours))
    for k in (1, 2, 3):  # our gate order (cr, cs, cu, du) -> torch's (i, f, g, o)
        g_ours[k] = VanillaLSTM._permute_blocks(g_ours[k], VanillaLSTM._TO_TORCH)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("peepholes", [True, False])
def test_one_step_function_agrees_with_layer(peepholes):
    N, B, m, d = 7, 2, 3, 4
    model = VanillaLSTM(m, d, peepholes=peepholes, dtype=F64)
    if peepholes:
        model.w_s.data.normal_()
    x = torch.randn(N, B, m, dtype=F64)
    v0, s0 = _state(B, d, F64)
    v_all, (v_last, s_last) = model(x, (v0, s0))
    p = model.paper_params()
    v, s = v0, s0
    with torch.no_grad():
        for n in range(N):
            v, s = lstm_step(x[n], v, s, p)
            torch.testing.assert_close(v, v_all[n], atol=1e-12, rtol=0)
    torch.testing.assert_close(v, v_last, atol=1e-12, rtol=0)
    torch.testing.assert_close(s, s_last, atol=1e-12, rtol=0)


def test_autograd_recurrence_matches_step_and_peepholes_matter():
    N, B, m, d = 5, 2, 3, 4
    model = VanillaLSTM(m, d, dtype=F64)
    x = torch.randn(N, B, m, dtype=F64)
    A = model.input_terms(x)
    z = torch.zeros(B, d, dtype=F64)
    v_with, _ = autograd_recurrence(A, model.b, model.W_v, model.w_s, z, z)
    v_without, _ = autograd_recurrence(A, model.b, model.W_v, None, z, z)
    assert (v_with - v_without).abs().max() > 1e-6  # the peepholes change the output
    torch.testing.assert_close(v_with, model(x)[0])


def test_round_trip_torch():
    ref = torch.nn.LSTM(3, 4, batch_first=True, dtype=F64)
    back = VanillaLSTM.from_torch(ref).to_torch()
    assert back.batch_first
    x = torch.randn(2, 5, 3, dtype=F64)
    torch.testing.assert_close(back(x)[0], ref(x)[0], atol=1e-12, rtol=0)
    ours = VanillaLSTM(3, 4, peepholes=True, dtype=F64)
    with torch.no_grad():
        ours.w_s.zero_()
    again = VanillaLSTM.from_torch(ours.to_torch(), peepholes=True)
    torch.testing.assert_close(again.W_x, ours.W_x)
    torch.testing.assert_close(again.W_v, ours.W_v)
    torch.testing.assert_close(again.b, ours.b)
    torch.testing.assert_close(again(x.transpose(0, 1))[0], ours(x.transpose(0, 1))[0])


def test_torch_interop_refusals():
    with pytest.raises(ValueError, match="num_layers"):
        VanillaLSTM.from_torch(torch.nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="bidirectional"):
        VanillaLSTM.from_torch(torch.nn.LSTM(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size"):
        VanillaLSTM.from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(TypeError, match="lstm"):
        VanillaLSTM.from_torch(torch.nn.GRU(3, 4))
    model = VanillaLSTM(3, 4)
    with pytest.raises(ValueError, match="w_s"):
        model.to_torch()  # random peepholes are not representable in torch.nn.LSTM


def test_named_views_write_through():
    model = VanillaLSTM(3, 4, dtype=F64)
    d = 4
    assert model.W_xcs.shape == (d, 3) and model.W_vdu.shape == (d, d) and model.w_scr.shape == (d,)
    assert model.W_xcs.data_ptr() == model.W_x[d:].data_ptr()  # a view, not a copy
    model.b_cs = torch.full((d,), 3.0)
    assert torch.equal(model.b[d : 2 * d], torch.full((d,), 3.0, dtype=F64))
    with torch.no_grad():
        model.W_vcr.zero_()
    assert torch.equal(model.W_v[:d], torch.zeros(d, d, dtype=F64))
    model.w_scu = torch.ones(d)
    assert torch.equal(model.w_s[2 * d :], torch.ones(d, dtype=F64))
    # the named weights are the ones the equations use: setting W_xdu = 0 removes x from u
    x = torch.randn(4, 2, 3, dtype=F64)
    before = model(x)[0]
    model.W_xdu = torch.zeros(d, 3)
    assert (model(x)[0] - before).abs().max() > 1e-6
    with pytest.raises(ValueError, match="b_cs"):
        model.b_cs = torch.zeros(d + 1)


def test_no_peepholes_attributes():
    model = VanillaLSTM(3, 4, peepholes=False)
    assert model.w_scs is None and model.w_s is None
    assert "w_s" not in dict(model.named_parameters())
    with pytest.raises(AttributeError, match="peepholes=False"):
        model.w_scs = torch.ones(4)
    assert torch.equal(model.paper_params()["w_scr"], torch.zeros(4))


def test_bad_input():
    model = VanillaLSTM(3, 4)
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(5, 3))
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(5, 2, 4))
    with pytest.raises(TypeError, match="x"):
        model(torch.randn(5, 2, 3, dtype=F64))
    with pytest.raises(TypeError, match="x"):
        model(torch.ones(5, 2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="x"):
        model(torch.full((5, 2, 3), float("nan")))
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(0, 2, 3))
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(5, 2, 3, device="meta"))
    with pytest.raises(ValueError, match="state"):
        model(torch.randn(5, 2, 3), (torch.zeros(3, 4), torch.zeros(2, 4)))
    with pytest.raises(ValueError, match="state"):
        model(torch.randn(5, 2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="hidden_size"):
        VanillaLSTM(3, 0)
    with pytest.raises(ValueError, match="backward"):
        VanillaLSTM(3, 4, backward="magic")

"""Bidirectional and stacked layers: equal to torch.nn.LSTM(bidirectional=True, num_layers=k) with copied weights."""

import pytest
import torch

from lstm_lib import AugmentedLSTM, VanillaLSTM
from lstm_lib.compose import Bidirectional, Stack

F64 = torch.float64


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("proj", [0, 2])
def test_bidirectional_equals_torch(batch_first, proj):
    ref = torch.nn.LSTM(3, 5, bidirectional=True, batch_first=batch_first, proj_size=proj, dtype=F64)
    ours = Bidirectional.from_torch(ref)
    N, B = 7, 4
    x = torch.randn((B, N, 3) if batch_first else (N, B, 3), dtype=F64, requires_grad=True)
    h0 = torch.randn(2, B, proj or 5, dtype=F64)
    c0 = torch.randn(2, B, 5, dtype=F64)
    y, (h, c) = ref(x, (h0, c0))
    v, (v_last, s_last) = ours(x, (h0, c0))
    torch.testing.assert_close(v, y, atol=1e-12, rtol=0)
    torch.testing.assert_close(v_last, h, atol=1e-12, rtol=0)
    torch.testing.assert_close(s_last, c, atol=1e-12, rtol=0)
    g_ref = torch.autograd.grad((y * torch.linspace(-1, 1, y.shape[-1], dtype=F64)).sum() + c.sum(), x)[0]
    g = torch.autograd.grad((v * torch.linspace(-1, 1, v.shape[-1], dtype=F64)).sum() + s_last.sum(), x)[0]
    torch.testing.assert_close(g, g_ref, atol=1e-12, rtol=0)
    wf = torch.autograd.grad(ours(x)[0].square().sum(), ours.backward_layer.W_v)[0]
    wr = torch.autograd.grad(ref(x)[0].square().sum(), ref.weight_hh_l0_reverse)[0]
    torch.testing.assert_close(wf[ours.backward_layer.layout.torch_permutation()], wr, atol=1e-12, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_equals_multilayer_torch(bidirectional):
    ref = torch.nn.LSTM(3, 4, num_layers=3, bidirectional=bidirectional, dtype=F64)
    ours = Stack.from_torch(ref)
    x = torch.randn(6, 2, 3, dtype=F64)
    y, (h, c) = ref(x)
    v, lasts = ours(x)
    torch.testing.assert_close(v, y, atol=1e-12, rtol=0)
    top = lasts[-1]
    torch.testing.assert_close(top[1] if bidirectional else top[1][None], c[-2:] if bidirectional else c[-1:],
                               atol=1e-12, rtol=0)


def test_backward_direction_reads_the_sequence_reversed():
    fw = VanillaLSTM(2, 3, dtype=F64)
    bw = VanillaLSTM(2, 3, dtype=F64)
    bi = Bidirectional(fw, bw)
    x = torch.randn(5, 1, 2, dtype=F64)
    v, _ = bi(x)
    x2 = x.clone()
    x2[4] += 1.0  # the last sample: the backward layer's first
    v2, _ = bi(x2)
    assert (v2[:, :, 3:] - v[:, :, 3:]).abs().amax((1, 2)).min() > 0  # every backward value changes
    assert torch.equal(v2[:4, :, :3], v[:4, :, :3])  # forward values before step 4 do not


def test_stack_of_and_checks():
    st = Stack.of(AugmentedLSTM, 3, 8, 2, bidirectional=True, context=2, state_weights=None)
    v, lasts = st(torch.randn(5, 2, 3))
    assert v.shape == (5, 2, 16) and len(lasts) == 2
    with pytest.raises(ValueError, match="layers"):
        Stack()
    with pytest.raises(ValueError, match=r"layers\[1\]: expected input_size=4"):
        Stack(VanillaLSTM(3, 4), VanillaLSTM(5, 4))
    with pytest.raises(TypeError, match="forward_layer"):
        Bidirectional(torch.nn.LSTM(3, 4), VanillaLSTM(3, 4))
    with pytest.raises(ValueError, match="backward_layer"):
        Bidirectional(VanillaLSTM(3, 4), VanillaLSTM(3, 5))
    with pytest.raises(ValueError, match="batch_first"):
        Bidirectional(VanillaLSTM(3, 4, batch_first=True), VanillaLSTM(3, 4))
    with pytest.raises(TypeError, match="num_layers"):
        Stack.of(VanillaLSTM, 3, 4, 2.0)
    with pytest.raises(ValueError, match="dropout"):
        Stack.from_torch(torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5))

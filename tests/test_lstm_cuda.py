"""The LSTM layers on a GPU (skipped without CUDA): every configuration equal to the same layer on the CPU,
forward and backward, in float64 and float32, second derivatives included; the composed layers too."""

import itertools

import pytest
import torch

from lstm_lib import AugmentedLSTM, Bidirectional, Stack, VanillaLSTM

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
F64 = torch.float64
CONFIGS = list(itertools.product(("full", "diagonal", None), (0, 3), (1, 3), (False, True)))


def _twins(sw, proj, L, gate, dtype, **kw):
    cpu = AugmentedLSTM(4, 6, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=dtype, **kw)
    with torch.no_grad():
        for p in cpu.parameters():
            p.normal_(0.0, 0.5)
    gpu = AugmentedLSTM(4, 6, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=dtype,
                        device="cuda", **kw)
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
@pytest.mark.parametrize("dtype,tol", [(F64, 1e-12), (torch.float32, 2e-5)])
def test_cuda_equals_cpu(sw, proj, L, gate, dtype, tol):
    cpu, gpu = _twins(sw, proj, L, gate, dtype)
    x = torch.randn(9, 5, 4, dtype=dtype)
    state = (torch.randn(5, proj or 6, dtype=dtype), torch.randn(5, 6, dtype=dtype))
    outs = []
    for net, dev in ((cpu, "cpu"), (gpu, "cuda")):
        xx = x.to(dev).requires_grad_(True)
        v, (v_last, s_last) = net(xx, tuple(t.to(dev) for t in state))
        loss = (v**2).sum() + s_last.sin().sum()
        grads = torch.autograd.grad(loss, [xx, *net.parameters()])
        outs.append([t.detach().cpu() for t in (v, s_last, *grads)])
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)
    with torch.inference_mode():
        v_inf, _ = gpu(x.cuda(), tuple(t.cuda() for t in state))
    torch.testing.assert_close(v_inf.cpu(), outs[0][0], atol=tol, rtol=tol)


@pytest.mark.parametrize("clip", [None, 0.05])
def test_cuda_bptt_equals_cuda_autograd(clip):
    cpu, gpu = _twins("full", 3, 2, True, F64, clip_alpha=clip)
    twin = AugmentedLSTM(4, 6, proj_size=3, context=2, input_gate=True, state_weights="full", dtype=F64, device="cuda",
                         backward="autograd", clip_alpha=clip)
    twin.load_state_dict(gpu.state_dict())
    x = torch.randn(7, 3, 4, dtype=F64, device="cuda")
    g1 = torch.autograd.grad(gpu(x)[0].square().sum(), list(gpu.parameters()))
    g2 = torch.autograd.grad(twin(x)[0].square().sum(), list(twin.parameters()))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-10)


def test_cuda_second_derivatives_and_torch_peer():
    model = VanillaLSTM(3, 5, dtype=F64, device="cuda")
    x = torch.randn(6, 2, 3, dtype=F64, device="cuda")
    v, _ = model(x)
    g = torch.autograd.grad(v.sum(), list(model.parameters()), create_graph=True)
    h = torch.autograd.grad(sum(t.square().sum() for t in g), list(model.parameters()))
    twin = VanillaLSTM(3, 5, dtype=F64, device="cuda", backward="autograd")
    twin.load_state_dict(model.state_dict())
    v2, _ = twin(x)
    g2 = torch.autograd.grad(v2.sum(), list(twin.parameters()), create_graph=True)
    h2 = torch.autograd.grad(sum(t.square().sum() for t in g2), list(twin.parameters()))
    for a, b in zip(h, h2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    ref = torch.nn.LSTM(3, 5, bidirectional=True, num_layers=2, dtype=F64, device="cuda")
    stack = Stack.from_torch(ref)
    torch.testing.assert_close(stack(x)[0], ref(x)[0], atol=1e-12, rtol=0)
    bi = Bidirectional.from_torch(torch.nn.LSTM(3, 5, bidirectional=True, dtype=F64, device="cuda"))
    assert bi(x)[0].device.type == "cuda"

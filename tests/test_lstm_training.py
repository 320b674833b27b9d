"""The hand-derived backward equations of the vanilla LSTM, checked against autograd."""

import warnings

import pytest
import torch

from lstm_lib import _lstm_kernels
from lstm_lib.lstm_training import InputTerms, Recurrence, gate_gradients, recurrence_backward, recurrence_forward
from lstm_lib.lstm_training import explorer as lstm_training_explorer
from lstm_lib.vanilla_lstm import VanillaLSTM, autograd_recurrence, lstm_step

F64 = torch.float64


def _inputs(N=4, B=2, d=3, peepholes=True, dtype=F64):
    """Arguments of Recurrence: A, b, W_v, w_s, v0, s0."""
    A = torch.randn(N, B, 4 * d, dtype=dtype, requires_grad=True)
    b = torch.randn(4 * d, dtype=dtype, requires_grad=True)
    W_v = (0.5 * torch.randn(4 * d, d, dtype=dtype)).requires_grad_(True)
    w_s = torch.randn(3 * d, dtype=dtype, requires_grad=True) if peepholes else None
    v0 = torch.randn(B, d, dtype=dtype, requires_grad=True)
    s0 = torch.randn(B, d, dtype=dtype, requires_grad=True)
    return A, b, W_v, w_s, v0, s0


needs_kernels = pytest.mark.skipif(_lstm_kernels.kernels() is None, reason="the compiled loops could not be built")


@pytest.mark.parametrize("peepholes", [True, False])
@pytest.mark.parametrize("compiled", [True, False])
def test_recurrence_gradcheck(peepholes, compiled, monkeypatch):
    if not compiled:  # the Python reference loops, as run on CUDA or without a compiler
        monkeypatch.setattr(_lstm_kernels, "usable", lambda t: False)
    args = _inputs(peepholes=peepholes)
    assert torch.autograd.gradcheck(Recurrence.apply, args)


@needs_kernels
@pytest.mark.parametrize("peepholes", [True, False])
@pytest.mark.parametrize("dtype,tol", [(F64, 1e-13), (torch.float32, 2e-6)])
def test_compiled_loops_equal_python_loops(peepholes, dtype, tol):
    N, B, d = 12, 3, 5
    A, b, W_v, w_s, v0, s0 = (None if t is None else t.detach() for t in _inputs(N, B, d, peepholes, dtype))
    assert _lstm_kernels.usable(A)
    fast = _lstm_kernels.recurrence_forward(A, b, W_v, w_s, v0, s0)
    ref = recurrence_forward(A, b, W_v, w_s, v0, s0)
    for x, y in zip(fast, ref, strict=True):  # V, S, the gates and G_d(s)
        torch.testing.assert_close(x, y, atol=tol, rtol=tol)
    grad_v = torch.randn(N, B, d, dtype=dtype)
    for grad_s in (torch.randn(N, B, d, dtype=dtype), torch.randn(B, d, dtype=dtype)):  # every step, or the last
        psi_fast, psi_ref = torch.empty(2, N, B, d, dtype=dtype)
        fast = _lstm_kernels.recurrence_backward(W_v, w_s, *ref, grad_v, grad_s, psi_fast)
        slow = recurrence_backward(W_v, w_s, *ref, grad_v, grad_s, psi_ref)
        # alpha, dE/db, dE/dW_v, dE/dw_s, dE/dv0, dE/ds0, psi
        for x, y in zip((*fast, psi_fast), (*slow, psi_ref), strict=True):
            if y is None:
                assert x is None
            else:
                torch.testing.assert_close(x, y, atol=10 * tol, rtol=10 * tol)


@needs_kernels
@pytest.mark.parametrize("peepholes", [True, False])
@pytest.mark.parametrize(
    "B,d,threads",
    [
        (70, 64, 2),  # two slices of 32 cells
        (130, 100, 6),  # slices of 32, 32, 32 and 4 cells, and two threads without cells (yet at every barrier)
    ],
)
def test_compiled_loops_split_over_threads_equal_python_loops(B, d, threads, peepholes):
    N = 4
    A, b, W_v, w_s, v0, s0 = (None if t is None else t.detach() for t in _inputs(N, B, d, peepholes))
    grad_v, grad_s = torch.randn(2, N, B, d, dtype=F64)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fwd = _lstm_kernels.recurrence_forward(A, b, W_v, w_s, v0, s0)
        psi = torch.empty(N, B, d, dtype=F64)
        bwd = _lstm_kernels.recurrence_backward(W_v, w_s, *fwd, grad_v, grad_s, psi)
    finally:
        torch.set_num_threads(before)
    ref_fwd = recurrence_forward(A, b, W_v, w_s, v0, s0)
    ref_psi = torch.empty(N, B, d, dtype=F64)
    ref_bwd = recurrence_backward(W_v, w_s, *ref_fwd, grad_v, grad_s, ref_psi)
    for x, y in zip((*fwd, *bwd, psi), (*ref_fwd, *ref_bwd, ref_psi), strict=True):
        if y is None:
            assert x is None
        else:
            torch.testing.assert_close(x, y, atol=1e-12, rtol=1e-12)


def test_python_loops_where_the_compiled_ones_do_not_apply():
    assert not _lstm_kernels.usable(torch.zeros(2, dtype=torch.float16))
    assert not _lstm_kernels.usable(torch.zeros(2, device="meta"))


def test_input_terms_gradcheck():
    x = torch.randn(3, 2, 4, dtype=F64, requires_grad=True)
    W_x = torch.randn(8, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(InputTerms.apply, (x, W_x))


@pytest.mark.parametrize("peepholes", [True, False])
def test_recurrence_equals_autograd_loop(peepholes):
    args = _inputs(N=9, B=3, d=5, peepholes=peepholes)
    grads_v = torch.randn(9, 3, 5, dtype=F64)
    grads_s = torch.randn(3, 5, dtype=F64)
    wanted = [a for a in args if a is not None]
    v, s_last = Recurrence.apply(*args)
    ours = torch.autograd.grad((v, s_last), wanted, (grads_v, grads_s))
    v2, s2_last = autograd_recurrence(*args)
    torch.testing.assert_close(v, v2, atol=1e-13, rtol=0)
    torch.testing.assert_close(s_last, s2_last, atol=1e-13, rtol=0)
    ref = torch.autograd.grad((v2, s2_last), wanted, (grads_v, grads_s))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("peepholes", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
def test_layer_bptt_equals_layer_autograd(peepholes, with_state, batch_first):
    N, B, m, d = 6, 3, 4, 5
    model = VanillaLSTM(m, d, peepholes=peepholes, batch_first=batch_first, dtype=F64)
    twin = VanillaLSTM(m, d, peepholes=peepholes, batch_first=batch_first, backward="autograd", dtype=F64)
    twin.load_state_dict(model.state_dict())
    x = torch.randn((B, N, m) if batch_first else (N, B, m), dtype=F64, requires_grad=True)
    state = tuple(torch.randn(B, d, dtype=F64, requires_grad=True) for _ in range(2)) if with_state else None
    results = []
    for net in (model, twin):
        v, (v_last, s_last) = net(x, state)
        loss = (v**3).sum() + (v_last * 2).sum() + (s_last.cos()).sum()
        wanted = [x, *net.parameters()] + (list(state) if with_state else [])
        results.append((v, torch.autograd.grad(loss, wanted)))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-13, rtol=0)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_layer_gradcheck_with_state():
    model = VanillaLSTM(2, 3, dtype=F64)
    x = torch.randn(4, 2, 2, dtype=F64, requires_grad=True)
    v0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    s0 = torch.randn(2, 3, dtype=F64, requires_grad=True)

    def f(x, v0, s0, W_x, W_v, b, w_s):
        A = InputTerms.apply(x, W_x)
        return Recurrence.apply(A, b, W_v, w_s, v0, s0)

    assert torch.autograd.gradcheck(f, (x, v0, s0, *(p.detach().requires_grad_(True) for p in model.parameters())))


def test_float32_matches_float64():
    model = VanillaLSTM(3, 4, dtype=F64)
    x = torch.randn(10, 2, 3, dtype=F64)
    model32 = VanillaLSTM(3, 4, dtype=torch.float32)
    model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    for net, xx in ((model, x), (model32, x.float())):
        net(xx)[0].square().sum().backward()
    for p, q in zip(model.parameters(), model32.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad.float(), atol=1e-5, rtol=1e-4)


def test_gate_gradients_are_dE_da_and_dE_ds():
    N, B, m, d = 8, 2, 3, 4
    model = VanillaLSTM(m, d, dtype=F64)
    x = torch.randn(N, B, m, dtype=F64)
    sig = gate_gradients(model, x)
    # the same derivatives by autograd through the plain loop: E = sum of v[N-1]
    A = model.input_terms(x).detach().requires_grad_(True)
    z = torch.zeros(B, d, dtype=F64)
    v, _ = autograd_recurrence(A, model.b, model.W_v, model.w_s, z, z)
    v[-1].sum().backward()
    dE_dA = A.grad
    torch.testing.assert_close(sig["alpha_cr"], dE_dA[:, :, :d])
    torch.testing.assert_close(sig["alpha_cs"], dE_dA[:, :, d : 2 * d])
    torch.testing.assert_close(sig["alpha_cu"], dE_dA[:, :, 2 * d : 3 * d])
    torch.testing.assert_close(sig["alpha_du"], dE_dA[:, :, 3 * d :])
    # psi[n] is the total derivative dE/ds[n] (through v[n] too): finite differences at n = 2
    eps, n0 = 1e-6, 2
    p = model.paper_params()

    def E_after(delta):
        vv, ss = z, z
        with torch.no_grad():
            for n in range(N):
                v_prev = vv
                vv, ss = lstm_step(x[n], v_prev, ss, p)
                if n == n0:  # perturb s[n0], then form v[n0] from the perturbed state
                    ss = ss + delta
                    a_cr = x[n] @ p["W_xcr"].T + p["w_scr"] * ss + v_prev @ p["W_vcr"].T + p["b_cr"]
                    vv = torch.sigmoid(a_cr) * torch.tanh(ss)
        return vv.sum()

    delta = torch.zeros(B, d, dtype=F64)
    delta[1, 2] = eps
    fd = (E_after(delta) - E_after(-delta)) / (2 * eps)
    assert abs(fd.item() - sig["psi"][n0, 1, 2].item()) < 1e-8


def test_saved_outputs_guard_against_in_place_edit():
    model = VanillaLSTM(3, 4)
    v, _ = model(torch.randn(5, 2, 3))
    with pytest.raises(RuntimeError):
        v.mul_(2)
        v.sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    model = VanillaLSTM(3, 4, dtype=F64)
    x = torch.randn(6, 2, 3, dtype=F64)
    model(x)[0].sum().backward()
    gpu = VanillaLSTM(3, 4, dtype=F64, device="cuda")
    gpu.load_state_dict(model.state_dict())
    gpu(x.cuda())[0].sum().backward()
    for p, q in zip(model.parameters(), gpu.parameters(), strict=True):
        torch.testing.assert_close(q.grad.cpu(), p.grad)


def test_explorer_bias_moves_the_reach_of_the_gradient():
    ex = lstm_training_explorer()
    low = ex.set(b_cs=-1.0, N=100)["psi"][0]
    high = ex.set(b_cs=5.0)["psi"][0]
    assert len(ex.data["alpha_cs"]) == 100 and high > 1e6 * low
    assert ex.set(N=30)["psi"].shape == (30,)


def test_failed_kernel_build_falls_back_to_python_loops_with_one_warning(monkeypatch):
    """A machine without a working compiler still gets a correct layer, and is told why it is slower."""
    def broken_build():
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(_lstm_kernels, "_module", None)
    monkeypatch.setattr(_lstm_kernels, "_tried", False)
    monkeypatch.setattr(_lstm_kernels, "_build", broken_build)
    monkeypatch.delenv("LSTM_LIB_NO_KERNELS", raising=False)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    with pytest.warns(UserWarning, match="could not build the compiled LSTM loops.*no C\\+\\+ compiler found"):
        assert not _lstm_kernels.usable(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the build is tried once: no second warning
        assert not _lstm_kernels.usable(x)
    lstm = VanillaLSTM(3, 5, dtype=torch.float64)
    ref = VanillaLSTM(3, 5, dtype=torch.float64, backward="autograd")
    ref.load_state_dict(lstm.state_dict())
    torch.testing.assert_close(lstm(x)[0], ref(x)[0], rtol=1e-12, atol=1e-12)


def test_kernel_build_name_follows_the_source(monkeypatch, tmp_path):
    name = _lstm_kernels._extension_name()
    other = tmp_path / "k.cpp"
    other.write_text(_lstm_kernels._SOURCE.read_text() + "\n// changed\n")
    monkeypatch.setattr(_lstm_kernels, "_SOURCE", other)
    assert _lstm_kernels._extension_name() != name

"""The compiled loops of the LSTM layer: equal to the Python reference loops for every configuration,
dtype and thread split; saturating gates as torch gives them; the build and its fallback."""

import itertools
import subprocess
import sys
import warnings

import pytest
import torch

from lstm_lib import AugmentedLSTM, VanillaLSTM
from lstm_lib import _lstm_kernels as kernels
from lstm_lib._lstm_recurrence import input_terms, reference_backward, reference_forward

F64 = torch.float64
needs_kernels = pytest.mark.skipif(kernels.kernels() is None, reason="the compiled loops could not be built")
CONFIGS = list(itertools.product(("full", "diagonal", None), (0, 3), (1, 2), (False, True)))


def _setup(sw, proj, L, gate, dtype, B=3, N=9, m=4, d=5):
    model = AugmentedLSTM(m, d, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    W = tuple(None if t is None else t.detach() for t in model._weights())
    W = type(model._weights())(*W)
    x = torch.randn(N, B, m, dtype=dtype)
    v0, s0 = torch.randn(B, model.value_size, dtype=dtype), torch.randn(B, d, dtype=dtype)
    return model.layout, W, input_terms(x, W.W_x, L), v0, s0


def _compare(lay, W, A, v0, s0, tol, clip=None):
    with torch.no_grad():
        fast = kernels.forward(A, W, v0, s0, lay, record=True)
        ref = reference_forward(A, W, v0, s0, lay, record=True)
        for a, b in zip((fast[0], fast[1], *fast[2]), (ref[0], ref[1], *ref[2]), strict=True):
            if b is None:
                assert a is None
            else:
                torch.testing.assert_close(a, b, atol=tol, rtol=tol)
        v_inf, s_inf, rec = kernels.forward(A, W, v0, s0, lay, record=False)  # inference keeps no record
        assert rec is None
        torch.testing.assert_close(v_inf, ref[0], atol=tol, rtol=tol)
        torch.testing.assert_close(s_inf, ref[1], atol=tol, rtol=tol)
        grad_v = torch.randn_like(ref[0])
        grad_s = torch.randn_like(s0)
        sig_fast = kernels.backward(A, W, v0, s0, ref[2], grad_v, grad_s, lay, clip)
        sig_ref = reference_backward(A, W, v0, s0, ref[2], grad_v, grad_s, lay, clip)
        for name, a, b in zip(sig_ref._fields, sig_fast, sig_ref, strict=True):
            if b is None:
                assert a is None, name
            else:
                torch.testing.assert_close(a, b, atol=10 * tol, rtol=10 * tol, msg=name)


@needs_kernels
@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
@pytest.mark.parametrize("dtype,tol", [(F64, 1e-13), (torch.float32, 2e-6)])
def test_compiled_loops_equal_python_loops(sw, proj, L, gate, dtype, tol):
    _compare(*_setup(sw, proj, L, gate, dtype), tol)


@needs_kernels
@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
@pytest.mark.parametrize("threads", [1, 2])
def test_inference_forms_its_input_terms_in_the_loop(sw, proj, L, gate, threads, monkeypatch):
    """Inference without the input-terms tensor: each step forms sum_l W_x[l] x[n+l] itself (rows split)."""
    lay, W, A, v0, s0 = _setup(sw, proj, L, gate, F64, B=20)
    x = torch.randn(9, 20, 4, dtype=F64)
    A = input_terms(x, W.W_x, L)
    monkeypatch.setattr(kernels, "plan", lambda *args, **kwargs: (threads, False))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        v, s_last, rec = kernels.forward(None, W, v0, s0, lay, record=False, x=x)
    finally:
        torch.set_num_threads(before)
    with torch.no_grad():
        v_ref, s_ref, _ = reference_forward(A, W, v0, s0, lay)
    assert rec is None
    torch.testing.assert_close(v, v_ref, atol=1e-13, rtol=1e-13)
    torch.testing.assert_close(s_last, s_ref, atol=1e-13, rtol=1e-13)


@needs_kernels
@pytest.mark.parametrize("sw,gate", [("full", True), ("diagonal", False), (None, True)])
def test_compiled_clipping_equals_python_clipping(sw, gate):
    _compare(*_setup(sw, 2, 1, gate, F64), 1e-13, clip=0.05)


@needs_kernels
@pytest.mark.parametrize("split_cells,B,d",
                         [(False, 7, 5), (False, 40, 5), (True, 1, 33), (True, 2, 40), (True, 3, 100)])
@pytest.mark.parametrize("threads", [2, 3, 8])
@pytest.mark.parametrize("sw,proj,gate", [("full", 3, True), ("diagonal", 0, False), (None, 0, True),
                                          ("full", 0, False)])
@pytest.mark.parametrize("clip", [None, 0.05])
def test_compiled_loops_split_over_threads(threads, sw, proj, gate, split_cells, B, d, clip, monkeypatch):
    """Rows split unevenly (7 rows on 2, 3, 8 threads: some threads get no row), or cells split in slices of
    16 (33, 40, 100 cells: a short last slice, threads without cells that still meet every barrier)."""
    monkeypatch.setattr(kernels, "plan", lambda *args, **kwargs: (threads, split_cells))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _compare(*_setup(sw, proj, 2, gate, F64, B=B, d=d), 1e-13, clip=clip)
    finally:
        torch.set_num_threads(before)


def test_thread_plan():
    from lstm_lib._gates import Layout

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        small, big = Layout(64, 64, state_weights=None), Layout(256, 256)
        assert kernels.plan(100, 1, small) == (1, False)  # one row, small weights: one thread
        assert kernels.plan(2, 8, small) == (1, False)  # too little work to pay for a second thread
        assert kernels.plan(100, 64, small) == (2, False)  # rows split
        assert kernels.plan(100, 1, big) == (2, True)  # one row, large weights: cells split
        assert kernels.plan(100, 4, big) == (2, True)  # a few rows, weights beyond a core's cache
        assert kernels.plan(100, 8, big) == (2, False)
        # a few rows of inference: the input weights the loop would read at every step count too
        aug = Layout(256, 256, proj_size=128, context=2, input_gate=True, state_weights=None)
        assert kernels.plan(100, 4, aug) == (2, False)
        assert kernels.plan(100, 4, aug, inputs_in_loop=True) == (2, True)
    finally:
        torch.set_num_threads(before)
    torch.set_num_threads(1)
    try:
        assert kernels.plan(100, 64, Layout(64, 64)) == (1, False)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_saturated_gates_give_what_torch_gives(dtype):
    """Pre-activations far below -88 (where exp overflows in float32), and infinite ones."""
    ref = torch.nn.LSTM(1, 16, dtype=dtype)
    ours = VanillaLSTM.from_torch(ref)
    x = torch.full((10, 1, 1), 1000.0, dtype=dtype, requires_grad=True)
    for sign in (1.0, -1.0):
        h, (_, c) = ref(sign * x)
        v, (_, s) = ours(sign * x)
        assert torch.isfinite(v).all() and torch.isfinite(s).all()
        torch.testing.assert_close(v, h, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(s, c[0], atol=1e-6, rtol=1e-6)
        g_ref = torch.autograd.grad(h.sum() + c.sum(), [x, ref.weight_hh_l0])
        g = torch.autograd.grad(v.sum() + s.sum(), [x, ours.W_v])
        torch.testing.assert_close(g[0], g_ref[0], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(g[1][ours.layout.torch_permutation()], g_ref[1], atol=1e-6, rtol=1e-6)
    ours.b_cs = torch.full((16,), -100.0)
    y = torch.randn(10, 2, 1, dtype=dtype)
    torch.testing.assert_close(ours(y)[0], ours.to_torch()(y)[0], atol=1e-6, rtol=1e-6)
    with torch.no_grad():
        ours.W_xcs.fill_(float("inf"))  # a_cs = +-inf for x = +-1
        ours.W_xdu.fill_(-float("inf"))
    for value in (1.0, -1.0):
        y = torch.full((4, 2, 1), value, dtype=dtype)
        v, (_, s) = ours(y)
        h, (_, c) = ours.to_torch()(y)
        assert not torch.isnan(v).any()
        torch.testing.assert_close(v, h, atol=1e-6, rtol=1e-6, equal_nan=True)
        torch.testing.assert_close(s, c[0], atol=1e-6, rtol=1e-6, equal_nan=True)


def test_python_loops_where_the_compiled_ones_do_not_apply():
    assert not kernels.usable(torch.zeros(2, dtype=torch.float16))
    assert not kernels.usable(torch.zeros(2, device="meta"))


def test_failed_kernel_build_falls_back_to_python_loops_with_one_warning(monkeypatch):
    """A machine without a working compiler still gets a correct layer, and is told why it is slower."""
    def broken_build():
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(kernels, "_module", None)
    monkeypatch.setattr(kernels, "_tried", False)
    monkeypatch.setattr(kernels, "_build", broken_build)
    monkeypatch.delenv("LSTM_LIB_NO_KERNELS", raising=False)
    x = torch.randn(4, 2, 3, dtype=F64)
    with pytest.warns(UserWarning, match="could not build the compiled LSTM loops.*no C\\+\\+ compiler found"):
        assert not kernels.usable(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the build is tried once: no second warning
        assert not kernels.usable(x)
    lstm = VanillaLSTM(3, 5, dtype=F64)
    ref = VanillaLSTM(3, 5, dtype=F64, backward="autograd")
    ref.load_state_dict(lstm.state_dict())
    torch.testing.assert_close(lstm(x)[0], ref(x)[0], rtol=1e-12, atol=1e-12)


def test_kernel_build_name_follows_the_source(monkeypatch, tmp_path):
    name = kernels._extension_name()
    other = tmp_path / "k.cpp"
    other.write_text(kernels._SOURCE.read_text() + "\n// changed\n")
    monkeypatch.setattr(kernels, "_SOURCE", other)
    assert kernels._extension_name() != name


def test_a_line_says_so_before_the_first_compile(monkeypatch, capsys):
    from torch.utils import cpp_extension

    monkeypatch.setattr(kernels, "_is_built", lambda _: False)
    monkeypatch.setattr(cpp_extension, "load", lambda **kw: "built")
    assert kernels._build() == "built"
    assert "compiling the LSTM loops" in capsys.readouterr().err
    monkeypatch.setattr(kernels, "_is_built", lambda _: True)
    kernels._build()
    assert capsys.readouterr().err == ""


def test_no_kernels_environment_variable():
    code = ("import torch; from lstm_lib import _lstm_kernels as k, VanillaLSTM; "
            "assert k.kernels() is None; VanillaLSTM(2, 3)(torch.randn(4, 1, 2)); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "LSTM_LIB_NO_KERNELS": "1"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

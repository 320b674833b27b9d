"""The reused CPU buffers of the LSTM layer: reused only when idle, never under a user's tensor, bounded."""

import pytest
import torch

from lstm_lib import _lstm_kernels, _workspace
from lstm_lib._workspace import MIN_BYTES, Workspace
from lstm_lib.vanilla_lstm import VanillaLSTM

pytestmark = pytest.mark.skipif(_lstm_kernels.kernels() is None, reason="the compiled extension could not be built")

SHAPE = (64, 1024)  # 256 KiB of float32: above MIN_BYTES
NBYTES = 64 * 1024 * 4


def test_an_idle_buffer_is_handed_out_again():
    ws = Workspace(max_bytes=10 * NBYTES)
    a = ws.empty(SHAPE, torch.float32)
    ptr = a.data_ptr()
    del a
    b = ws.empty((1024, 64), torch.float32)  # same size, another shape
    assert b.data_ptr() == ptr and b.shape == (1024, 64) and ws.nbytes == NBYTES


def test_a_buffer_in_use_is_never_handed_out():
    ws = Workspace(max_bytes=10 * NBYTES)
    a = ws.empty(SHAPE, torch.float32).fill_(1.0)
    view = a[1:]  # a view keeps the storage in use after `a` is gone
    del a
    b = ws.empty(SHAPE, torch.float32).fill_(2.0)
    assert b.untyped_storage().data_ptr() != view.untyped_storage().data_ptr()
    assert bool((view == 1.0).all())
    c = ws.empty(SHAPE, torch.float64)  # another dtype is another buffer
    assert c.dtype == torch.float64 and ws.nbytes == 2 * NBYTES + 2 * NBYTES


def test_the_limit_bounds_what_is_kept():
    ws = Workspace(max_bytes=NBYTES + 1000)
    a = ws.empty(SHAPE, torch.float32)
    b = ws.empty(SHAPE, torch.float32)  # does not fit beside the busy `a`: an ordinary tensor
    assert ws.nbytes == NBYTES and a.data_ptr() != b.data_ptr()
    del a
    c = ws.empty((32, 1024), torch.float32)  # another size: the idle buffer is dropped to make room
    assert ws.nbytes == c.numel() * 4
    assert Workspace(max_bytes=0).empty(SHAPE, torch.float32).shape == SHAPE


def test_small_requests_are_ordinary_allocations():
    ws = Workspace(max_bytes=10 * NBYTES)
    t = ws.empty((MIN_BYTES // 4 - 1,), torch.float32)
    assert t.numel() == MIN_BYTES // 4 - 1 and ws.nbytes == 0


def test_release_drops_every_buffer():
    ws = Workspace(max_bytes=10 * NBYTES)
    ws.empty(SHAPE, torch.float32)
    ws.release()
    assert ws.nbytes == 0


@pytest.mark.parametrize("raw,expected", [("0", 0), ("1.5", int(1.5 * 2**20)), ("256", 256 * 2**20)])
def test_the_limit_comes_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("LSTM_LIB_WORKSPACE_MB", raw)
    assert _workspace._limit_from_env() == expected


@pytest.mark.parametrize("raw", ["lots", "-1", "nan"])
def test_a_bad_limit_in_the_environment_is_refused(monkeypatch, raw):
    monkeypatch.setenv("LSTM_LIB_WORKSPACE_MB", raw)
    with pytest.raises(ValueError, match="LSTM_LIB_WORKSPACE_MB: expected a number of MiB >= 0"):
        _workspace._limit_from_env()


def test_outputs_a_user_keeps_survive_later_calls():
    """The layer's outputs live in workspace buffers; a second call must not write into the first's."""
    torch.manual_seed(1)
    model = VanillaLSTM(16, 64)
    x1, x2 = torch.randn(2, 40, 32, 16)  # V and S of (41, 32, 64) floats: workspace buffers
    v1, (h1, c1) = model(x1)
    kept = [t.clone() for t in (v1, h1, c1)]
    for _ in range(3):
        model(x2)[0].sum().backward()
    for t, k in zip((v1, h1, c1), kept, strict=True):
        torch.testing.assert_close(t, k, rtol=0, atol=0)


def test_repeated_training_steps_give_identical_gradients():
    torch.manual_seed(2)
    model = VanillaLSTM(16, 64)
    x = torch.randn(40, 32, 16, requires_grad=True)
    grads = []
    for _ in range(3):
        model.zero_grad()
        x.grad = None
        v, (_, s_last) = model(x)
        (v.square().sum() + s_last.sum()).backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in model.parameters()])
    for later in grads[1:]:
        for a, b in zip(grads[0], later, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)

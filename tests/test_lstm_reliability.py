"""The LSTM layer in ordinary use: training loops with varying lengths, inference modes, outputs kept,
saved, shared or sent, several threads, checkpointing; and a seeded stress test against the float64
autograd path. Each of the first tests reproduces a failure of an earlier version of the layer."""

import io
import os
import pickle
import random
import subprocess
import sys
import threading

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from lstm_lib import AugmentedLSTM, VanillaLSTM

F64 = torch.float64


def test_training_loop_with_varying_sequence_lengths():
    """An earlier version crashed after some steps when its buffer cache reached its cap (lengths varied)."""
    model = VanillaLSTM(32, 64, state_weights=None)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    rng = random.Random(0)
    for _ in range(40):
        N = rng.choice([20, 40, 60, 80, 100])
        v, (_, s) = model(torch.randn(N, 16, 32))
        opt.zero_grad()
        (v.square().mean() + s.mean()).backward()
        opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_inference_mode_then_training():
    """An earlier version failed every later call after one call under torch.inference_mode()."""
    model = VanillaLSTM(3, 8)
    x = torch.randn(10, 4, 3)
    with torch.inference_mode():
        v_inf, _ = model(x)
    with torch.no_grad():
        v_ng, _ = model(x)
    v, _ = model(x)
    v.sum().backward()
    torch.testing.assert_close(v.detach(), v_inf.clone())
    torch.testing.assert_close(v_ng, v_inf.clone())
    with torch.inference_mode():
        v_inf2, _ = model(x)
    torch.testing.assert_close(v_inf2.clone(), v.detach())


def test_outputs_are_never_overwritten_by_later_calls():
    model = AugmentedLSTM(3, 8, proj_size=4, input_gate=True)
    x1, x2 = torch.randn(12, 5, 3), torch.randn(12, 5, 3)
    v1, (v1_last, s1) = model(x1)
    keep = (v1.detach().clone(), s1.detach().clone())
    v2, _ = model(x2)
    v2.sum().backward()
    with torch.no_grad():
        model(x2)
    assert torch.equal(v1.detach(), keep[0]) and torch.equal(s1.detach(), keep[1])
    assert v1.untyped_storage().data_ptr() != v2.untyped_storage().data_ptr()


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident size from /proc")
def test_memory_stays_bounded_when_outputs_are_saved_or_shared():
    """An earlier version pinned a buffer for every output that Python touched (torch.save, pickle,
    share_memory_, .untyped_storage()): logging each step's output grew memory by ~200 MB in 300 steps."""
    model = VanillaLSTM(32, 128)
    x = torch.randn(50, 16, 32)

    def step(k):
        v, (_, s) = model(x)
        v.sum().backward()
        out = v.detach()
        if k % 4 == 0:
            torch.save(out, io.BytesIO())
        elif k % 4 == 1:
            pickle.dumps(out)
        elif k % 4 == 2:
            out.share_memory_()
        else:
            out.untyped_storage()

    for k in range(30):
        step(k)
    before = _rss_mb()
    for k in range(200):
        step(k)
    assert _rss_mb() - before < 60, f"resident memory grew by {_rss_mb() - before:.0f} MB"


def test_threads_share_a_layer():
    model = AugmentedLSTM(4, 16, context=2, state_weights="diagonal", dtype=F64)
    xs = [torch.randn(20, 3, 4, dtype=F64) for _ in range(6)]
    expected = [model(x)[0].detach() for x in xs]
    results = [None] * len(xs)

    def work(k):
        for _ in range(5):
            v, _ = model(xs[k])
            v.sum().backward()
            results[k] = v.detach()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, expected, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_checkpointing_gives_the_same_gradients():
    model = VanillaLSTM(3, 6, dtype=F64)
    x = torch.randn(8, 2, 3, dtype=F64, requires_grad=True)
    g1 = torch.autograd.grad(model(x)[0].square().sum(), [x, *model.parameters()])
    out = checkpoint(lambda t: model(t)[0], x, use_reentrant=False)
    g2 = torch.autograd.grad(out.square().sum(), [x, *model.parameters()])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-13, rtol=0)


def test_several_outstanding_graphs_and_retain_graph():
    model = VanillaLSTM(3, 6, dtype=F64)
    xs = [torch.randn(7, 2, 3, dtype=F64) for _ in range(3)]
    outs = [model(x)[0] for x in xs]  # three graphs alive at once
    grads = []
    for v in reversed(outs):
        grads.append(torch.autograd.grad(v.sum(), model.b, retain_graph=True)[0])
        again = torch.autograd.grad(v.sum(), model.b)[0]  # the retained graph gives the same again
        torch.testing.assert_close(again, grads[-1], atol=0, rtol=0)
    ref = [torch.autograd.grad(model(x)[0].sum(), model.b)[0] for x in reversed(xs)]
    for a, b in zip(grads, ref, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_an_old_environment_setting_is_harmless():
    """LSTM_LIB_WORKSPACE_MB=inf made an earlier version fail at import; the layer keeps no cache now."""
    code = "import torch; from lstm_lib import VanillaLSTM; VanillaLSTM(2, 3)(torch.randn(4, 1, 2)); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "LSTM_LIB_WORKSPACE_MB": "inf"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_stress_random_use_against_the_float64_autograd_path():
    """A few hundred seeded random calls: sizes, dtypes, switches, grad / no_grad / inference_mode,
    outputs kept, dropped, saved or shared, backward now or later, two layers of coinciding sizes.
    Every result is compared with the plain autograd loop in float64."""
    rng = random.Random(1234)
    torch.manual_seed(1234)
    layers = {}
    pending = []  # (loss, model, reference grads) for a backward taken later

    def layer(key):
        if key not in layers:
            sw, proj, L, gate, d, m, dtype = key
            model = AugmentedLSTM(m, d, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=dtype)
            ref = AugmentedLSTM(m, d, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=F64,
                                backward="autograd")
            ref.load_state_dict({k: t.double() for k, t in model.state_dict().items()})
            layers[key] = (model, ref)
        return layers[key]

    kept = []
    for call in range(300):
        d = rng.choice([4, 8, 33])
        key = (rng.choice(["full", "diagonal", None]), rng.choice([0, 0, 3]), rng.choice([1, 1, 2]),
               rng.random() < 0.3, d, rng.choice([2, 5]), rng.choice([torch.float32, F64]))
        model, ref = layer(key)
        N, B = rng.choice([1, 2, 7, 30]), rng.choice([1, 2, 5, 16])
        x = torch.randn(N, B, key[5], dtype=key[6])
        with torch.no_grad():
            v_ref, (_, s_ref) = ref(x.double())
        tol = 1e-10 if key[6] == F64 else 2e-4
        mode = rng.choice(["grad", "grad", "no_grad", "inference"])
        if mode == "grad":
            xg = x.clone().requires_grad_(True)
            v, (_, s) = model(xg)
            xr = x.double().requires_grad_(True)
            vr, (_, sr) = ref(xr)
            g_ref = torch.autograd.grad(vr.sum() + sr.square().sum(), [xr, *ref.parameters()])
            loss = v.sum() + s.square().sum()
            if rng.random() < 0.5:
                g = torch.autograd.grad(loss, [xg, *model.parameters()])
                for a, b in zip(g, g_ref, strict=True):
                    torch.testing.assert_close(a.double(), b, atol=50 * tol, rtol=50 * tol)
            else:
                pending.append((loss, xg, model, g_ref, tol))
        elif mode == "no_grad":
            with torch.no_grad():
                v, (_, s) = model(x)
        else:
            with torch.inference_mode():
                v, (_, s) = model(x)
        torch.testing.assert_close(v.detach().double(), v_ref, atol=tol, rtol=tol, msg=f"call {call}")
        torch.testing.assert_close(s.detach().double(), s_ref, atol=tol, rtol=tol, msg=f"call {call}")
        what = rng.random()
        if what < 0.2:
            kept.append((v, v.detach().clone()))
        elif what < 0.3:
            torch.save(v.detach(), io.BytesIO())
        elif what < 0.35 and mode != "inference":
            v.detach().share_memory_()
        if len(pending) > 3 or (pending and rng.random() < 0.3):
            loss, xg, m_, g_ref, tol_ = pending.pop(rng.randrange(len(pending)))
            g = torch.autograd.grad(loss, [xg, *m_.parameters()])
            for a, b in zip(g, g_ref, strict=True):
                torch.testing.assert_close(a.double(), b, atol=50 * tol_, rtol=50 * tol_)
    for v, copy in kept:  # nothing a caller kept was overwritten by later calls
        assert torch.equal(v.detach(), copy)

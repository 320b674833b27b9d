"""Tests for lstm_lib.canonical_rnn: the recurrence, Proposition 1's segments, the book's unrolling lemma,
windows, delays, nn.RNN interop, double backward, bad input, and the chapter's explorers."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstm_lib.canonical_rnn import (
    CanonicalCell,
    CanonicalRNN,
    UnrolledRNN,
    companion_form,
    identity,
    multi_delay_loop,
    run_segments,
    run_windows,
    run_with_resets,
    segment_lengths,
    segment_offsets,
    segment_windows,
    unit_sample,
    unit_step,
    window_gradients,
)

F64 = torch.float64
LIB = Path(__file__).resolve().parents[1] / "lstm_lib"


def model64(m=3, d=4, warp=torch.tanh, **kw):
    model = CanonicalRNN(m, d, warp=warp, dtype=F64, **kw)
    if not model.standard:
        with torch.no_grad():
            model.W_s.normal_(0.0, 0.3)  # the default W_s = 0 would hide its role
    return model


def reference(x, s0, model):
    """The defining equations (paper Eqs. 30-31), one step at a time, nothing vectorised."""
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


def test_standard_rnn_has_the_papers_parameters():
    """standard=True: W_s is a constant zero and the parameters are Theta = {W_r, W_x, theta_s} (paper Eq. 49)."""
    model = CanonicalRNN(3, 4, dtype=F64, standard=True)
    assert [name for name, _ in model.named_parameters()] == ["W_r", "W_x", "theta_s"]
    assert not model.W_s.requires_grad and model.W_s.abs().max() == 0
    x = torch.randn(6, 2, 3, dtype=F64)
    model(x)[1].sum().backward()
    assert model.W_s.grad is None and model.W_r.grad is not None
    s, _ = model(x)
    torch.testing.assert_close(s, reference(x, torch.zeros(2, 4, dtype=F64), model)[0])
    with pytest.raises(ValueError, match="W_s"):
        CanonicalRNN.from_params(torch.ones(4, 4), torch.ones(4, 4), torch.ones(4, 3), torch.ones(4), standard=True)


# --------------------------------------------------------------------------------------------- Proposition 1
def test_unit_step_and_sample():
    n = torch.arange(-3, 4)
    assert unit_step(n).tolist() == [0, 0, 0, 1, 1, 1, 1]  # paper Eq. 34
    assert unit_sample(n).tolist() == [0, 0, 0, 1, 0, 0, 0]  # paper Eq. 35
    with pytest.raises(TypeError, match="n"):
        unit_step(torch.tensor([0.5]))


def test_windows_partition_the_sequence():
    K = [3, 5, 4, 4]
    assert segment_offsets(K) == [0, 3, 8, 12]  # paper Eq. 42
    w = segment_windows(K)
    assert w.shape == (4, 16)
    n = torch.arange(16)
    assert torch.equal(w.sum(0), unit_step(n) - unit_step(n - 16))  # paper Eqs. 40-41
    for m, (j, k) in enumerate(zip(segment_offsets(K), K, strict=True)):  # paper Eq. 46
        assert w[m, j:j + k].eq(1).all() and w[m].sum() == k
    assert segment_lengths(10, 4) == [4, 4, 2]
    assert segment_lengths(8, [3, 5]) == [3, 5]


@pytest.mark.parametrize("K", [5, 7, [3, 9, 8], 20])
@pytest.mark.parametrize("standard", [True, False])
def test_index_shift_prototype_equals_per_segment_system(K, standard):
    """Paper Eqs. 61-64 in the original index equal the prototype (Eqs. 73-77) on shifted segments."""
    model = model64(standard=standard)
    x = torch.randn(20, 3, 3, dtype=F64)
    s_a, r_a = run_with_resets(model, x, K)
    s_b, r_b = run_segments(model, x, K)
    torch.testing.assert_close(s_a, s_b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r_a, r_b, rtol=1e-12, atol=1e-12)
    # each segment is the model run alone on it from a zero state
    for j, k in zip(segment_offsets(segment_lengths(20, K)), segment_lengths(20, K), strict=True):
        torch.testing.assert_close(s_b[j:j + k], model(x[j:j + k])[0], rtol=1e-12, atol=1e-12)


def test_run_segments_batch_first_initial_states_and_no_crossing_gradient():
    model = model64(batch_first=True)
    x = torch.randn(2, 12, 3, dtype=F64, requires_grad=True)
    s, r = run_segments(model, x, 4)
    torch.testing.assert_close(s, run_with_resets(model, x, 4)[0])
    r[:, 8:].sum().backward()  # a loss on the last segment only
    assert x.grad[:, :8].abs().max() == 0 and x.grad[:, 8:].abs().max() > 0
    s0 = torch.randn(3, 2, 4, dtype=F64)  # one initial state per segment (paper Eq. 60 allows random)
    s_r, _ = run_segments(model, x.detach(), 4, s0=s0)
    torch.testing.assert_close(s_r[:, 4:8], model(x.detach()[:, 4:8], s0[1])[0])
    with pytest.raises(ValueError, match="s0"):
        run_segments(model, x, 4, s0=torch.zeros(2, 2, 4, dtype=F64))


def test_segments_of_a_reset_teacher_are_independent():
    """With the reset marker, the teacher's output hardly depends on earlier segments; without it, it does."""
    from lstm_lib.rnn_training import marker_inputs, proposition_teacher

    x = marker_inputs(8, 6, 4, seed=1)
    for independent, small in ((True, True), (False, False)):
        teacher = proposition_teacher(independent)
        with torch.no_grad():
            gap = (teacher(x)[1] - run_segments(teacher, x, 8)[1]).abs().max()
        assert (gap < 1e-3) == small


# --------------------------------------------------------------------------------------------- the book's lemma
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


def test_unroll_standard_model_keeps_W_s_fixed():
    model = model64(standard=True)
    untied = model.unroll(3, tied=False)
    assert all(not layer.W_s.requires_grad for layer in untied.layers)
    x = torch.randn(3, 2, 3, dtype=F64)
    torch.testing.assert_close(untied(x)[0], model(x)[0])


# ----------------------------------------------------------------------------------- windows (beyond the paper)
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


# --------------------------------------------------------------------------------------------- torch.nn.RNN
@pytest.mark.parametrize("batch_first", [False, True])
def test_standard_rnn_equals_torch_rnn(batch_first):
    rnn = torch.nn.RNN(3, 5, batch_first=batch_first, dtype=F64)
    model = CanonicalRNN.from_torch(rnn)
    assert model.standard and model.W_s.abs().max() == 0 and model.batch_first == batch_first
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


# --------------------------------------------------------------------------------------------- double backward
@pytest.mark.parametrize("N", [1, 2, 5])
def test_layer_double_backward_matches_autograd(N):
    """create_graph=True through backward="bptt" gives the same second derivatives as the autograd loop.

    Before the fix: silently wrong at N = 1, an unrelated mm(out=...) error at N >= 2."""
    a = model64(2, 3)
    b = model64(2, 3, backward="autograd")
    b.load_state_dict(a.state_dict())
    x = torch.randn(N, 2, 2, dtype=F64)
    out = []
    for model in (a, b):
        _, r = model(x)
        (g,) = torch.autograd.grad(r.square().sum(), model.W_x, create_graph=True)
        out.append(torch.autograd.grad(g.square().sum(), list(model.parameters())))
    for g_a, g_b in zip(*out, strict=True):
        torch.testing.assert_close(g_a, g_b, rtol=1e-10, atol=1e-12)


def test_gradient_penalty_training_step_matches_autograd():
    a = model64()
    b = model64(backward="autograd")
    b.load_state_dict(a.state_dict())
    x, target = torch.randn(6, 3, 3, dtype=F64), torch.randn(6, 3, 4, dtype=F64)
    grads = []
    for model in (a, b):
        _, r = model(x)
        E = (r - target).square().mean()
        g = torch.autograd.grad(E, list(model.parameters()), create_graph=True)
        (E + 0.5 * sum(gi.square().sum() for gi in g)).backward()
        grads.append([p.grad for p in model.parameters()])
    for g_a, g_b in zip(*grads, strict=True):
        torch.testing.assert_close(g_a, g_b, rtol=1e-10, atol=1e-12)


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
    with pytest.raises(ValueError, match="s0"):
        model(torch.randn(5, 2, 3), torch.full((2, 4), float("inf")))
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


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"batch_first": "False"}, TypeError, "batch_first"),  # was silently True
    ({"batch_first": 1}, TypeError, "batch_first"),
    ({"standard": "yes"}, TypeError, "standard"),
    ({"input_size": 3.0}, TypeError, "input_size"),
    ({"state_size": "4"}, TypeError, "state_size"),
    ({"dtype": torch.float16}, TypeError, "dtype"),
    ({"dtype": "float32"}, TypeError, "dtype"),
    ({"device": "nowhere"}, ValueError, "device"),
    ({"backward": True}, ValueError, "backward"),
])
def test_constructor_arguments_are_checked(kwargs, exc, name):
    args = {"input_size": 3, "state_size": 4, **kwargs}
    with pytest.raises(exc, match=f"^{name}"):
        CanonicalRNN(**args)


def test_unrolled_rnn_arguments_are_checked():
    with pytest.raises(ValueError, match="^layers"):
        UnrolledRNN([])  # was accepted; failed later with an IndexError
    with pytest.raises(TypeError, match="^layers"):
        UnrolledRNN([torch.nn.Linear(2, 2)])
    with pytest.raises(TypeError, match="^layers"):
        UnrolledRNN(CanonicalRNN(2, 3).unroll(2).layers[0])
    model = CanonicalRNN(2, 3)
    small = CanonicalRNN(2, 5)
    with pytest.raises(ValueError, match="^layers"):
        UnrolledRNN([model.unroll(1).layers[0], small.unroll(1).layers[0]])
    with pytest.raises(TypeError, match="^batch_first"):
        UnrolledRNN(model.unroll(2).layers, batch_first="no")
    with pytest.raises(ValueError, match="^x"):
        model.unroll(3)(torch.randn(4, 1, 2))  # 4 steps for 3 layers
    with pytest.raises(ValueError, match="^W_s"):
        CanonicalCell(torch.zeros(2, 2), torch.zeros(3, 3), torch.zeros(3, 2), torch.zeros(3))


def test_other_functions_check_their_arguments():
    model = CanonicalRNN(3, 4)
    x = torch.randn(8, 2, 3)
    with pytest.raises(TypeError, match="^N"):
        model.unroll(2.0)
    with pytest.raises(TypeError, match="^tied"):
        model.unroll(2, tied="False")
    with pytest.raises(TypeError, match="^window"):
        run_windows(model, x, 2.5)
    with pytest.raises(TypeError, match="^model"):
        run_windows(torch.nn.RNN(3, 4), x, 2)
    with pytest.raises(TypeError, match="^model"):
        run_segments(torch.nn.RNN(3, 4), x, 2)
    with pytest.raises(TypeError, match="^model"):
        window_gradients(torch.nn.RNN(2, 4), torch.randn(3, 1, 2), 2)
    with pytest.raises(ValueError, match="^K"):
        run_segments(model, x, [3, 3])  # does not add up to N = 8
    with pytest.raises(ValueError, match=r"^K\[1\]"):
        segment_lengths(8, [8, 0])
    with pytest.raises(TypeError, match="^K"):
        segment_lengths(8, "8")
    with pytest.raises(TypeError, match="^K"):
        segment_offsets(4)
    with pytest.raises(TypeError, match="^W_s_delays"):
        companion_form(torch.zeros(2, 2), [torch.zeros(2, 2)], torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match="^W_s_delays"):
        companion_form([], [], torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match=r"^W_r_delays\[0\]"):
        multi_delay_loop(x, [torch.zeros(2, 2)], [torch.zeros(3, 3)], torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="^x"):
        multi_delay_loop(torch.randn(4, 1, 5), [torch.zeros(2, 2)], [torch.zeros(2, 2)], torch.zeros(2, 3),
                         torch.zeros(2))


# --------------------------------------------------------------------------------------------- layering
MODEL_MODULES = ["_rnn_recurrence", "canonical_rnn", "rnn_training", "fit", "tasks"]


def _imported_modules(path: Path) -> set[str]:
    """Every module an import statement in the file names, at any depth (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names.add(base)
            names.update(f"{base}.{alias.name}" if node.module else f"{base}{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_model_modules_import_no_display_code(module):
    names = _imported_modules(LIB / f"{module}.py")
    display = ("lstm_lib.widgets", "lstm_lib.figures")
    bad = [n for n in names if n.split(".")[0] in ("matplotlib", "ipywidgets", "IPython")
           or n.lstrip(".").startswith(("widgets", "figures")) or n.startswith(display)]
    assert not bad, f"{module} imports display code: {bad}"


def test_layer_and_its_backward_do_not_import_each_other():
    rec = _imported_modules(LIB / "_rnn_recurrence.py")
    assert not any("canonical_rnn" in n or "rnn_training" in n for n in rec)
    assert not any("rnn_training" in n for n in _imported_modules(LIB / "canonical_rnn.py"))


def test_importing_the_models_loads_no_display_module():
    code = ("import sys, lstm_lib.canonical_rnn, lstm_lib.rnn_training, lstm_lib.fit, lstm_lib.tasks; "
            "from lstm_lib import CanonicalRNN; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'ipywidgets') "
            "or m in ('lstm_lib.widgets', 'lstm_lib.figures')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# --------------------------------------------------------------------------------------------- explorers
def test_segment_explorer_error_decays_with_memory_and_inside_the_segment():
    from lstm_lib.figures.canonical_rnn import segment_explorer

    ex = segment_explorer()
    assert set(ex.params) == {"K", "rho"} and ex.scrubbed == ("K", "rho")
    errors = [ex.set(K=8, rho=rho)["rms_error"] for rho in (0.2, 0.5, 0.9, 0.99)]
    assert errors == sorted(errors) and errors[0] > 0  # a longer memory leaves a larger error
    data = ex.set(K=16, rho=0.5)
    assert data["by_pos"][0] > 100 * data["by_pos"][-1]  # largest at the segment start, decaying inside
    assert ex.set(K=2, rho=0.9)["rms_error"] > ex.set(K=16, rho=0.9)["rms_error"]
    with pytest.raises(ValueError, match="K"):
        ex.set(K=0)


def test_window_explorer_cuts_gradient_at_last_boundary():
    from lstm_lib.figures.canonical_rnn import window_explorer

    ex = window_explorer()
    assert set(ex.params) == {"window", "w_s"} and ex.scrubbed == ("window", "w_s")
    N = len(ex.data["grad_full"])
    for window in (1, 5, 8):
        data = ex.set(window=window)
        start = (N - 1) // window * window  # first step of the last window
        assert data["last_start"] == start
        assert data["forward_diff"] < 1e-12  # the carried state makes the runs equal
        assert (data["grad_windowed"][:start] == 0).all()  # no gradient crosses a boundary
        assert (data["grad_windowed"][start:] > 0).all()
        torch.testing.assert_close(torch.from_numpy(data["grad_windowed"][start:]),
                                   torch.from_numpy(data["grad_full"][start:]), rtol=1e-10, atol=1e-14)
        assert data["W_r_rel_err"] > 0
    data = ex.set(window=N)  # one window: truncated BPTT is full BPTT
    assert (data["grad_windowed"] > 0).all() and data["W_r_rel_err"] < 1e-12
    lost_no_leak = ex.set(window=8, w_s=0.0)["W_r_rel_err"]
    lost_leak = ex.set(window=8, w_s=0.5)["W_r_rel_err"]
    assert lost_leak > 10 * lost_no_leak  # a stronger leak carries more gradient across the boundary
    with pytest.raises(ValueError, match="window"):
        ex.set(window=0)
    with pytest.raises(ValueError, match="N"):
        window_explorer(N=1)


def test_figures_draw():
    import matplotlib.pyplot as plt

    from lstm_lib.figures import canonical_rnn as figs

    figs.draw_unrolled(3)
    figs.plot_windows([2, 3])
    figs.plot_impulse_response(CanonicalRNN(2, 3, standard=True), N=10)
    plt.close("all")
    with pytest.raises(TypeError, match="model"):
        figs.plot_impulse_response(torch.nn.RNN(2, 3))

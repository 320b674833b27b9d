"""The readable augmented cell (lstm_lib.augmented_lstm) against the layer, an independent loop of the
paper's equations, torch.nn.LSTM(proj_size) and the vanilla cell; the window, the counts of Eq. 215,
the comparison with a bidirectional LSTM, the look-ahead task, argument checks, and the chapter's figures."""

import itertools
import subprocess
import sys

import pytest
import torch
from lstm_reference import augmented_loop

from lstm_lib import AugmentedLSTM, VanillaLSTM
from lstm_lib.augmented_lstm import (
    ENTITIES,
    augmented_sequence,
    augmented_step,
    context_filter,
    context_versus_bidirectional,
    context_window,
    parameter_count,
    response_to_change,
)
from lstm_lib.vanilla_lstm import lstm_step

F64 = torch.float64
CONFIGS = list(itertools.product(("full", "diagonal", None), (0, 3), (1, 3), (False, True)))


def _randomize(model, scale=0.5):
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, scale)
    return model


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
def test_readable_cell_equals_the_layer_and_the_reference_loop(sw, proj, L, gate):
    N, B, m, d = 7, 3, 4, 5
    model = _randomize(AugmentedLSTM(m, d, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=F64))
    x = torch.randn(N, B, m, dtype=F64)
    state = (torch.randn(B, model.value_size, dtype=F64), torch.randn(B, d, dtype=F64))
    with torch.no_grad():
        v, (v_last, s_last) = model(x, state)
        v2, (v2_last, s2_last) = augmented_sequence(x, model.paper_params(), state)
        v_ref, s_ref = augmented_loop(model.paper_params(), x, *state, L, gate)
    for a, b in ((v2, v), (s2_last, s_last), (v2_last, v_last), (v2, v_ref), (s2_last, s_ref)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    assert v2.shape == (N, B, proj or d)


def test_signals_hold_every_quantity_of_the_step():
    model = _randomize(AugmentedLSTM(2, 3, proj_size=2, context=2, input_gate=True, dtype=F64))
    x = torch.randn(4, 2, 2, dtype=F64)
    with torch.no_grad():
        sig = augmented_step(context_window(x, 1, 2), torch.randn(2, 2, dtype=F64), torch.randn(2, 3, dtype=F64),
                             model.paper_params(), signals=True)
    for name in ("xi_xcu", "xi_xcs", "xi_xcr", "xi_xcx", "xi_xdu", "a_cu", "a_cs", "a_cr", "a_cx", "a_du",
                 "g_cu", "g_cs", "g_cr", "g_cx", "u", "s", "r", "q", "v"):
        assert name in sig
    torch.testing.assert_close(sig["a_du"], sig["g_cx"] * sig["xi_xdu"] + sig["v_prev"] @ model.W_vdu.T
                               + model.b_du, atol=1e-14, rtol=0)  # Eq. 209: the gate scales xi_xdu only
    torch.testing.assert_close(sig["v"], sig["q"] @ model.W_qdr.T, atol=1e-14, rtol=0)  # Eq. 214
    # without the signals, the same step returns (v, s)
    v, s = augmented_step(sig["x_window"], sig["v_prev"], sig["s_prev"], model.paper_params())
    assert torch.equal(v, sig["v"]) and torch.equal(s, sig["s"])


def test_vanilla_parameters_give_the_vanilla_step():
    model = _randomize(VanillaLSTM(3, 4, dtype=F64))
    x = torch.randn(5, 2, 3, dtype=F64)
    v, s = torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64)
    with torch.no_grad():
        p = model.paper_params()
        for n in range(5):
            v1, s1 = augmented_step(context_window(x, n, 1), v, s, p)
            v2, s2 = lstm_step(x[n], v, s, p)
            torch.testing.assert_close(v1, v2, atol=1e-14, rtol=0)
            torch.testing.assert_close(s1, s2, atol=1e-14, rtol=0)
            v, s = v1, s1


def test_projection_equals_torch_lstm_with_proj_size():
    ref = torch.nn.LSTM(3, 6, proj_size=2, dtype=F64)
    ours = AugmentedLSTM.from_torch(ref)
    x = torch.randn(11, 2, 3, dtype=F64)
    h, (h_n, c_n) = ref(x)
    with torch.no_grad():
        v, (v_last, s_last) = augmented_sequence(x, ours.paper_params())
    torch.testing.assert_close(v, h, atol=1e-13, rtol=0)
    torch.testing.assert_close(s_last, c_n[0], atol=1e-13, rtol=0)


def test_context_window_reads_ahead_and_pads_with_zeros():
    x = torch.arange(1, 7, dtype=F64).view(6, 1, 1)  # x[n] = n + 1
    assert context_window(x, 0, 4).flatten().tolist() == [1, 2, 3, 4]  # the paper's list: the window at n = 0
    assert context_window(x, 2, 4).flatten().tolist() == [3, 4, 5, 6]
    assert context_window(x, 4, 4).flatten().tolist() == [5, 6, 0, 0]  # zero past the end (the book's reading)
    assert context_window(x, 5, 1).flatten().tolist() == [6]
    with pytest.raises(ValueError, match="^n:"):
        context_window(x, 6, 2)
    with pytest.raises(ValueError, match="^L:"):
        context_window(x, 0, 0)
    with pytest.raises(ValueError, match="^x:"):
        context_window(torch.zeros(3, 2), 0, 1)


def test_context_filter_is_a_cross_correlation_not_a_convolution():
    N, B, m, d, L = 8, 2, 3, 4, 3
    x = torch.randn(N, B, m, dtype=F64)
    W = torch.randn(L, d, m, dtype=F64)
    xi = torch.stack([context_filter(W, context_window(x, n, L)) for n in range(N)])
    padded = torch.cat((x, x.new_zeros(L - 1, B, m))).permute(1, 2, 0)
    corr = torch.nn.functional.conv1d(padded, W.permute(1, 2, 0)).permute(2, 0, 1)
    torch.testing.assert_close(xi, corr, atol=1e-13, rtol=0)
    flipped = torch.nn.functional.conv1d(padded, W.flip(0).permute(1, 2, 0)).permute(2, 0, 1)
    assert (xi - flipped).abs().max() > 0.1
    with pytest.raises(ValueError, match="^window:"):
        context_filter(W, torch.zeros(2, B, m, dtype=F64))


def test_step_argument_checks():
    model = AugmentedLSTM(2, 3, context=2, input_gate=True, dtype=F64)
    p = dict(model.paper_params())
    win, v, s = torch.zeros(2, 1, 2, dtype=F64), torch.zeros(1, 3, dtype=F64), torch.zeros(1, 3, dtype=F64)
    with pytest.raises(TypeError, match="^p:"):
        augmented_step(win, v, s, [1, 2])
    with pytest.raises(ValueError, match="^p: missing"):
        augmented_step(win, v, s, {k: t for k, t in p.items() if k != "b_cu"})
    with pytest.raises(ValueError, match="^p: the input gate"):
        augmented_step(win, v, s, {k: t for k, t in p.items() if k != "W_scx"})
    with pytest.raises(ValueError, match="^x_window:"):
        augmented_step(torch.zeros(3, 1, 2, dtype=F64), v, s, p)
    with pytest.raises(TypeError, match="^x_window:"):
        augmented_step(win.float(), v, s, p)
    with pytest.raises(ValueError, match="^s_prev:"):
        augmented_step(win, v, torch.zeros(2, 3, dtype=F64), p)
    with pytest.raises(ValueError, match="^state:"):
        augmented_sequence(torch.zeros(3, 1, 2, dtype=F64), p, state=v)


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
def test_parameter_count_is_the_layers(sw, proj, L, gate):
    counts = parameter_count(4, 5, proj_size=proj, context=L, input_gate=gate, state_weights=sw)
    model = AugmentedLSTM(4, 5, proj_size=proj, context=L, input_gate=gate, state_weights=sw)
    assert counts["total"] == sum(t.numel() for t in model.parameters())
    assert set(counts) == set(ENTITIES) | {"total"} and len(ENTITIES) == 20
    params = model.paper_params()
    for name in ENTITIES:
        if name in params and not (name.startswith("W_s") and sw != "full") and not (name == "W_qdr" and not proj):
            assert counts[name] == params[name].numel(), name
    assert (counts["b_cx"] == 5) == gate


def test_parameter_count_checks_its_arguments():
    with pytest.raises(ValueError, match="^proj_size:"):
        parameter_count(3, 4, proj_size=4)
    with pytest.raises(TypeError, match="^input_gate:"):
        parameter_count(3, 4, input_gate=1)
    with pytest.raises(ValueError, match="^state_weights:"):
        parameter_count(3, 4, state_weights="dense")


@pytest.mark.parametrize("sw", ("full", "diagonal", None))
def test_context_versus_bidirectional_counts(sw):
    rows = context_versus_bidirectional(6, 8, (1, 2, 5), state_weights=sw)
    vanilla = sum(t.numel() for t in VanillaLSTM(6, 8, state_weights=sw).parameters())
    for r in rows:
        aug = AugmentedLSTM(6, 8, context=r["L"], state_weights=sw)
        assert r["augmented"] == sum(t.numel() for t in aug.parameters())
        assert r["bidirectional"] == 2 * vanilla
        assert r["extra"] == 4 * (r["L"] - 1) * 8 * 6  # four filters, L-1 more taps of d_s x d_x each
        if r["L"] == 1:
            assert r["flops_bidirectional"] == 2 * r["flops"]
        else:
            assert r["flops"] > rows[0]["flops"]
        assert r["lookahead"] == r["L"] - 1 and r["outputs_bidirectional"] == 2 * r["outputs"]
    from lstm_lib.compose import Bidirectional

    assert rows[0]["bidirectional"] == sum(t.numel() for t in Bidirectional.of(VanillaLSTM, 6, 8,
                                                                                 state_weights=sw).parameters())
    # torch's bidirectional LSTM has the same weights per direction plus a second bias vector
    torch_bi = torch.nn.LSTM(6, 8, bidirectional=True)
    if sw is None:
        assert sum(t.numel() for t in torch_bi.parameters()) == rows[0]["bidirectional"] + 2 * 4 * 8
    with pytest.raises(TypeError, match="^contexts:"):
        context_versus_bidirectional(6, 8, 3)
    with pytest.raises(ValueError, match="^contexts:"):
        context_versus_bidirectional(6, 8, (0,))


@pytest.mark.parametrize("L", (1, 3))
def test_response_to_change_starts_L_minus_1_steps_early(L):
    model = AugmentedLSTM(1, 6, context=L, dtype=F64)
    x = torch.randn(20, 3, 1, dtype=F64)
    change = response_to_change(model, x, 10)
    assert change.shape == (20,)
    assert torch.all(change[: 10 - L + 1] == 0)
    assert torch.all(change[10 - L + 1 :] > 0)
    bf = AugmentedLSTM(1, 6, context=L, dtype=F64, batch_first=True)
    bf.load_state_dict(model.state_dict())
    torch.testing.assert_close(response_to_change(bf, x.transpose(0, 1), 10), change, atol=1e-14, rtol=0)
    with pytest.raises(ValueError, match="^k:"):
        response_to_change(model, x, 20)
    with pytest.raises(TypeError, match="^model:"):
        response_to_change(torch.nn.LSTM(1, 2), x, 1)


def test_a_window_reaches_the_lookahead_label_and_no_window_does_not():
    """The chapter's demonstration: a window of L > D taps reads the label D steps ahead; L <= D guesses."""
    from lstm_lib.experiments import Readout
    from lstm_lib.fit import fit
    from lstm_lib.tasks import Lookahead

    accuracy = {}
    for L in (1, 2):
        torch.manual_seed(0)
        task = Lookahead(1, length=20)
        net = Readout(AugmentedLSTM(4, 8, context=L), 4)
        fit(net, task, steps=300, lr=2e-2)
        x, y = task.sample(512, torch.Generator().manual_seed(1))
        with torch.no_grad():
            accuracy[L] = task.score(net(x), y)
    assert accuracy[1] < 0.3 and accuracy[2] > 0.95


def test_model_modules_import_no_display_code():
    code = ("import sys, lstm_lib.augmented_lstm, lstm_lib.augmented_training; "
            "bad = [m for m in ('matplotlib', 'ipywidgets', 'lstm_lib.widgets') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_figures_and_explorers():
    import matplotlib.pyplot as plt

    from lstm_lib.figures import augmented_lstm as figs

    for draw in (figs.draw_cell, figs.draw_filter_bank):
        ax = draw()
        assert ax.texts
        plt.close(ax.figure)
    ex = figs.context_explorer(N=20, k=10)
    data = ex.set(L=4, b_cs=2.0)
    assert (data["response"][:7] == 0).all() and (data["response"][7:] > 0).all()
    assert len(ex.frame_grid()) <= 60
    gate = figs.input_gate_explorer()
    open_gate = gate.set(b_cx=6.0, W_xcx=0.0)
    assert abs(open_gate["g_cx"].min() - torch.sigmoid(torch.tensor(6.0, dtype=F64)).item()) < 1e-12
    spikes = figs.spiky_input().flatten().numpy() > 2
    shut = gate.set(b_cx=2.0, W_xcx=-4.0)
    assert shut["gated"][spikes].max() < 0.1 and shut["xi_xdu"][spikes].min() > 2  # the spikes are suppressed
    proj = figs.projection_explorer(d_s=8)
    data = proj.set(d_v=4)
    assert data["v"].shape[1] == 4 and data["q"].shape[1] == 8
    for explorer in (ex, gate, proj):
        plt.close(explorer.figure())

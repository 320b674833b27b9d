"""The readable backward pass of the augmented cell (lstm_lib.augmented_training) against autograd in float64,
against the layer's compiled backward, and against finite differences; the errata E6, E9, E10, E11 as
measurable mismatches; clipping (paper fn 25, extended to alpha_cx); argument checks; the chapter's figures."""

import itertools

import pytest
import torch

from lstm_lib import AugmentedLSTM
from lstm_lib.augmented_lstm import augmented_sequence, context_window
from lstm_lib.augmented_training import (
    PRINTED,
    augmented_backward_step,
    augmented_bptt,
    autograd_signals,
    entity_names,
    input_gradient_step,
    step_gradients,
)

F64 = torch.float64
CONFIGS = list(itertools.product(("full", "diagonal", None), (0, 3), (1, 3), (False, True)))


def _cell(sw="full", proj=3, L=3, gate=True, scale=0.5, **kw):
    model = AugmentedLSTM(3, 5, proj_size=proj, context=L, input_gate=gate, state_weights=sw, dtype=F64, **kw)
    with torch.no_grad():
        for t in model.parameters():
            t.normal_(0.0, scale)
    return model


def _params(model):
    return {k: t.detach() for k, t in model.paper_params().items()}


def _data(model, N=7, B=2):
    x = torch.randn(N, B, 3, dtype=F64)
    dE_dv = torch.randn(N, B, model.value_size, dtype=F64)
    dE_ds = torch.randn(B, 5, dtype=F64)
    state = (torch.randn(B, model.value_size, dtype=F64), torch.randn(B, 5, dtype=F64))
    return x, dE_dv, dE_ds, state


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
def test_backward_equals_autograd(sw, proj, L, gate):
    model = _cell(sw, proj, L, gate)
    p = _params(model)
    x, dE_dv, dE_ds, state = _data(model)
    hand = augmented_bptt(x, p, dE_dv, dE_ds, state)
    auto = autograd_signals(x, p, dE_dv, dE_ds, state)
    for k in auto.grads:
        torch.testing.assert_close(hand.grads[k], auto.grads[k], atol=1e-12, rtol=0, msg=k)
    for k in hand.signals:
        torch.testing.assert_close(hand.signals[k], auto.signals[k], atol=1e-12, rtol=0, msg=k)
    assert ("alpha_cx" in hand.signals) == gate
    if gate:
        assert set(entity_names(p)) == set(hand.grads) - {"x", "v0", "s0"} and len(entity_names(p)) == 20


@pytest.mark.parametrize("sw,proj,L,gate", CONFIGS)
def test_backward_equals_the_layers_compiled_backward(sw, proj, L, gate):
    model = _cell(sw, proj, L, gate)
    p = _params(model)
    x, dE_dv, dE_ds, state = _data(model)
    hand = augmented_bptt(x, p, dE_dv, dE_ds, state)
    xl = x.clone().requires_grad_()
    st = [t.clone().requires_grad_() for t in state]
    v, (_, s_last) = model(xl, tuple(st))
    ((v * dE_dv).sum() + (s_last * dE_ds).sum()).backward()
    for k, g in model.paper_grads().items():
        mine = torch.diagonal(hand.grads["W" + k[1:]]) if k.startswith("w_s") else hand.grads[k]
        torch.testing.assert_close(mine, g, atol=1e-12, rtol=0, msg=k)
    torch.testing.assert_close(hand.grads["x"], xl.grad, atol=1e-12, rtol=0)
    torch.testing.assert_close(hand.grads["v0"], st[0].grad, atol=1e-12, rtol=0)
    torch.testing.assert_close(hand.grads["s0"], st[1].grad, atol=1e-12, rtol=0)


def test_autograd_signals_agree_with_autograd_through_the_layer():
    """The reference itself: autograd_signals' parameter gradients equal autograd through the layer's own loop."""
    model = _cell()
    ref = AugmentedLSTM(3, 5, proj_size=3, context=3, input_gate=True, backward="autograd", dtype=F64)
    ref.load_state_dict(model.state_dict())
    x, dE_dv, dE_ds, state = _data(model)
    auto = autograd_signals(x, _params(model), dE_dv, dE_ds, state)
    v, (_, s_last) = ref(x, state)
    ((v * dE_dv).sum() + (s_last * dE_ds).sum()).backward()
    for k, g in ref.paper_grads().items():
        torch.testing.assert_close(auto.grads[k], g, atol=1e-12, rtol=0, msg=k)


def test_finite_differences():
    model = _cell(scale=0.4)
    p = _params(model)
    x, dE_dv, _, _ = _data(model, N=5)
    hand = augmented_bptt(x, p, dE_dv)

    def E(q, xx=x):
        v, _ = augmented_sequence(xx, q)
        return (v * dE_dv).sum().item()

    eps = 1e-6
    for name, idx in (("W_xdu", (2, 1, 0)), ("W_scr", (0, 3)), ("b_cx", (4,)), ("W_qdr", (1, 2)), ("W_vcs", (2, 1))):
        plus, minus = dict(p), dict(p)
        plus[name], minus[name] = p[name].clone(), p[name].clone()
        plus[name][idx] += eps
        minus[name][idx] -= eps
        fd = (E(plus) - E(minus)) / (2 * eps)
        assert abs(fd - hand.grads[name][idx].item()) < 1e-7, name
    xp, xm = x.clone(), x.clone()
    xp[4, 1, 2] += eps
    xm[4, 1, 2] -= eps
    assert abs((E(p, xp) - E(p, xm)) / (2 * eps) - hand.grads["x"][4, 1, 2].item()) < 1e-7


def _max_error(result, auto, names):
    return {k: (result.grads[k] - auto.grads[k]).abs().max().item() for k in names}


def test_erratum_E6_printed_psi_is_wrong_for_a_full_W_scr_and_exact_for_a_symmetric_one():
    model = _cell()
    p = _params(model)
    x, dE_dv, _, _ = _data(model)
    auto = autograd_signals(x, p, dE_dv)
    printed = augmented_bptt(x, p, dE_dv, printed=("E6",))
    assert (printed.signals["psi"] - auto.signals["psi"]).abs().max() > 1e-2
    assert all(e > 1e-6 for e in _max_error(printed, auto, entity_names(p)).values())  # every gradient is off
    sym = dict(p, W_scr=p["W_scr"] + p["W_scr"].T)
    auto_sym = autograd_signals(x, sym, dE_dv)
    exact = augmented_bptt(x, sym, dE_dv, printed=("E6",))
    assert max(_max_error(exact, auto_sym, entity_names(p)).values()) < 1e-12
    # diagonal state weights are symmetric: the printed form is exact for the Gers/ONNX peepholes
    diag = _cell("diagonal")
    pd = _params(diag)
    assert max(_max_error(augmented_bptt(x, pd, dE_dv, printed=("E6",)), autograd_signals(x, pd, dE_dv),
                          entity_names(pd)).values()) < 1e-12


def test_erratum_E9_printed_result_is_right_and_the_literal_factor_is_not():
    model = _cell()
    p = _params(model)
    x, dE_dv, _, _ = _data(model)
    auto = autograd_signals(x, p, dE_dv)
    hand = augmented_bptt(x, p, dE_dv)
    literal = augmented_bptt(x, p, dE_dv, printed=("E9",))
    torch.testing.assert_close(hand.signals["gamma_cx"], auto.signals["gamma_cx"], atol=1e-12, rtol=0)
    assert (literal.signals["gamma_cx"] - auto.signals["gamma_cx"]).abs().max() > 1e-2


def test_erratum_E10_the_tap_gradient_reads_x_n_plus_l():
    model = _cell(gate=False, proj=0)
    p = _params(model)
    x, dE_dv, _, _ = _data(model, N=8)
    auto = autograd_signals(x, p, dE_dv)
    alpha = auto.signals["alpha_cs"]
    L = 3
    ahead = sum(torch.einsum("bi,lbj->lij", alpha[n], context_window(x, n, L)) for n in range(8))  # x[n+l]
    torch.testing.assert_close(ahead, auto.grads["W_xcs"], atol=1e-12, rtol=0)
    behind = torch.stack([sum(alpha[n].T @ x[n - l] for n in range(l, 8)) for l in range(L)])  # x[n-l]
    example = torch.stack([sum(alpha[n].T @ x[l] for n in range(8)) for l in range(L)])  # x[l] at every step
    assert (example - auto.grads["W_xcs"]).abs().max() > 1e-2
    assert (behind - auto.grads["W_xcs"]).abs().max() > 1e-2


def test_erratum_E11_only_W_xdu_is_wrong_and_only_with_the_gate():
    model = _cell()
    p = _params(model)
    x, dE_dv, _, _ = _data(model)
    auto = autograd_signals(x, p, dE_dv)
    errors = _max_error(augmented_bptt(x, p, dE_dv, printed=("E11",)), auto, entity_names(p))
    assert errors.pop("W_xdu") > 1e-2
    assert max(errors.values()) < 1e-12
    no_gate = _cell(gate=False)
    q = _params(no_gate)
    assert max(_max_error(augmented_bptt(x, q, dE_dv, printed=("E11",)), autograd_signals(x, q, dE_dv),
                          entity_names(q)).values()) < 1e-12


def _large_input_cell():
    """A cell and data where alpha_cx leaves [-1, 1]: a large input, a half-shut gate that barely reads it."""
    torch.manual_seed(3)
    model = _cell(clip_alpha=1.0)
    model.b_cx = torch.full((5,), -1.0)
    model.W_xcx = 0.1 * model.W_xcx
    x, g = 5 * torch.randn(20, 4, 3, dtype=F64), 10 * torch.randn(20, 4, 3, dtype=F64)
    return model, x, g


def test_clipping_matches_the_layer_and_extends_to_alpha_cx():
    model, x, g = _large_input_cell()
    p = _params(model)
    v, _ = model(x)
    (v * g).sum().backward()
    layer = model.paper_grads()
    clipped = augmented_bptt(x, p, g, clip=1.0)
    no_cx = augmented_bptt(x, p, g, clip=1.0, clip_cx=False)
    exact = augmented_bptt(x, p, g)
    for k in entity_names(p):
        torch.testing.assert_close(clipped.grads[k], layer[k], atol=1e-10, rtol=0, msg=k)
    for k in ("alpha_cr", "alpha_cs", "alpha_cu", "alpha_du", "alpha_cx"):
        assert clipped.signals[k].abs().max() <= 1.0
    assert (no_cx.signals["alpha_cx"].abs() > 1).any()  # the case exists ...
    assert max((no_cx.grads[k] - layer[k]).abs().max().item() for k in entity_names(p)) > 1e-3  # ... and matters
    assert max((exact.grads[k] - layer[k]).abs().max().item() for k in entity_names(p)) > 1e-3
    # with alpha_du clipped first, |alpha_cx| <= c |xi_xdu| / 4 (G_c' <= 1/4)
    xi = torch.stack([s["xi_xdu"] for s in augmented_sequence(x, p, signals=True)])
    assert bool((no_cx.signals["alpha_cx"].abs() <= xi.abs() / 4 + 1e-12).all())


def test_backward_step_pieces_and_argument_checks():
    model = _cell()
    p = _params(model)
    x, dE_dv, _, _ = _data(model, N=3)
    sig = augmented_sequence(x, p, signals=True)[1]
    zero_v, zero_s = torch.zeros(2, 3, dtype=F64), torch.zeros(2, 5, dtype=F64)
    back = augmented_backward_step(sig, dE_dv[1], zero_v, zero_s, p)
    torch.testing.assert_close(back["beta"], back["chi"] @ p["W_qdr"], atol=1e-15, rtol=0)  # Eq. 218
    torch.testing.assert_close(back["gamma_cx"], back["alpha_du"] * sig["xi_xdu"], atol=1e-15, rtol=0)  # Eq. 226
    g = step_gradients(sig, back)
    assert g["W_xcu"].shape == (3, 5, 3) and g["W_qdr"].shape == (3, 5)
    assert input_gradient_step(sig, back, p).shape == (3, 2, 3)
    with pytest.raises(ValueError, match="^printed:"):
        augmented_backward_step(sig, dE_dv[1], zero_v, zero_s, p, printed=("E7",))
    with pytest.raises(TypeError, match="^printed:"):
        augmented_backward_step(sig, dE_dv[1], zero_v, zero_s, p, printed="E6")
    with pytest.raises(ValueError, match="^clip:"):
        augmented_backward_step(sig, dE_dv[1], zero_v, zero_s, p, clip=0.0)
    with pytest.raises(TypeError, match="^clip_cx:"):
        augmented_backward_step(sig, dE_dv[1], zero_v, zero_s, p, clip_cx=1)
    with pytest.raises(ValueError, match="^dE_dv:"):
        augmented_backward_step(sig, torch.zeros(2, 4, dtype=F64), zero_v, zero_s, p)
    with pytest.raises(ValueError, match="^sig: missing"):
        augmented_backward_step({"v": sig["v"]}, dE_dv[1], zero_v, zero_s, p)
    with pytest.raises(ValueError, match="^dE_dv:"):
        augmented_bptt(x, p, dE_dv[:2])
    assert PRINTED == ("E6", "E9", "E11")


def test_e6_explorer_and_clipping_figure():
    import matplotlib.pyplot as plt

    from lstm_lib.figures import augmented_training as figs

    ex = figs.erratum_e6_explorer()
    sym = ex.set(a=0.0, scale=1.0)
    assert sym["psi"].max() < 1e-12 and sym["grads"].max() < 1e-12  # symmetric W_scr: the printed form is exact
    anti = ex.set(a=1.0, scale=1.0)
    assert anti["psi"].max() > 1e-2 and anti["grads"].min() > 1e-4
    assert len(ex.frame_grid()) <= 60
    plt.close(ex.figure())
    ax = figs.plot_clipping([0.5, 2.0, -1.5], [0.5, 1.0, -1.0], 1.0)
    assert len(ax.lines) == 2
    plt.close(ax.figure)

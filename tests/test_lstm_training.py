"""The chapter "Training the vanilla LSTM": the readable backward pass (paper Eqs. 137-172) against autograd and
the layer, errata E6 and E7, the error gradient sequences (Eqs. 173-182) and the remedies (fns 20, 25)."""

import math

import pytest
import torch

from lstm_lib import VanillaLSTM
from lstm_lib.figures.lstm_training import B_CS_VALUES, SCALE_VALUES
from lstm_lib.figures.lstm_training import explorer as lstm_training_explorer
from lstm_lib.lstm_training import (
    REMEDY_RUNS,
    SIGNALS,
    THETA_TILDE,
    ValueReadout,
    autograd_bptt,
    bptt,
    carousel,
    compare_remedies,
    dG_c,
    dG_d,
    exploding_readout,
    gate_gradients,
    jacobian_norms,
    jacobian_product_norms,
    norm_conditions,
    psi_jacobian_autograd,
    psi_jacobians,
    renormalized_sequence,
)
from lstm_lib.vanilla_lstm import PARAM_NAMES, lstm_step

F64 = torch.float64


def setup(state_weights="full", K=7, B=3, m=3, d=5, seed=0):
    torch.manual_seed(seed)
    model = VanillaLSTM(m, d, state_weights=state_weights, dtype=F64)
    p = {k: t.detach() for k, t in model.paper_params().items()}
    x = torch.randn(K, B, m, dtype=F64)
    dE_dv = torch.randn(K, B, d, dtype=F64)
    v0, s0 = torch.randn(B, d, dtype=F64), torch.randn(B, d, dtype=F64)
    return model, p, x, dE_dv, v0, s0


def max_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_bptt_equals_autograd_for_full_nonsymmetric_state_weights():
    _, p, x, dE_dv, v0, s0 = setup()
    assert (p["W_scr"] - p["W_scr"].T).abs().max() > 0.1
    ours, auto = bptt(p, x, dE_dv, v0=v0, s0=s0), autograd_bptt(p, x, dE_dv, v0=v0, s0=s0)
    assert set(ours.grads) == set(PARAM_NAMES) and set(ours.signals) == set(SIGNALS)
    assert max_diff(ours.grads, auto.grads) < 1e-12
    assert max_diff(ours.signals, auto.signals) < 1e-12
    torch.testing.assert_close(ours.dE_dv0, auto.dE_dv0, atol=1e-12, rtol=0)
    torch.testing.assert_close(ours.dE_ds0, auto.dE_ds0, atol=1e-12, rtol=0)
    for name in PARAM_NAMES:
        assert ours.grads[name].shape == p[name].shape  # W_s.. full (d, d) outer products (Eqs. 157, 161, 165)


def test_bptt_equals_the_layers_hand_derived_backward():
    model, p, x, dE_dv, v0, s0 = setup()
    v, _ = model(x, (v0, s0))
    (dE_dv * v).sum().backward()
    layer = model.paper_grads()
    ours = bptt(p, x, dE_dv, v0=v0, s0=s0)
    assert max(((ours.grads[k] - layer[k]).abs().max().item()) for k in PARAM_NAMES) < 1e-12


def test_psi_is_the_total_derivative_by_finite_differences():
    _, p, x, dE_dv, v0, s0 = setup(K=5, B=1)
    psi = bptt(p, x, dE_dv, v0=v0, s0=s0).signals["psi"]
    n0, i, eps = 2, 3, 1e-6

    def E(delta):  # E = sum_n dE_dv[n] . v[n], with s[n0] perturbed before it is used
        v, s, total = v0, s0, 0.0
        for n in range(5):
            if n == n0:
                v_prev, s_prev = v, s
                _, s = lstm_step(x[n], v_prev, s_prev, p)
                s = s + delta
                a_cr = x[n] @ p["W_xcr"].T + s @ p["W_scr"].T + v_prev @ p["W_vcr"].T + p["b_cr"]
                v = torch.sigmoid(a_cr) * torch.tanh(s)
            else:
                v, s = lstm_step(x[n], v, s, p)
            total = total + (dE_dv[n] * v).sum()
        return total

    delta = torch.zeros(1, 5, dtype=F64)
    delta[0, i] = eps
    fd = (E(delta) - E(-delta)) / (2 * eps)
    assert abs(fd.item() - psi[n0, 0, i].item()) < 1e-8


def test_erratum_E6_printed_W_scr_is_wrong_for_full_right_for_diagonal_and_symmetric():
    _, p, x, dE_dv, v0, s0 = setup()
    truth = autograd_bptt(p, x, dE_dv, v0=v0, s0=s0).grads
    assert max_diff(bptt(p, x, dE_dv, v0=v0, s0=s0, printed=True).grads, truth) > 1e-2
    for W in (torch.diag(torch.diag(p["W_scr"])), 0.5 * (p["W_scr"] + p["W_scr"].T)):
        q = p | {"W_scr": W}
        truth = autograd_bptt(q, x, dE_dv, v0=v0, s0=s0).grads
        assert max_diff(bptt(q, x, dE_dv, v0=v0, s0=s0, printed=True).grads, truth) < 1e-12


def test_batch_gradient_is_the_sum_over_segments():
    _, p, x, dE_dv, v0, s0 = setup()
    together = bptt(p, x, dE_dv, v0=v0, s0=s0).grads
    alone = [bptt(p, x[:, i:i + 1], dE_dv[:, i:i + 1], v0=v0[i:i + 1], s0=s0[i:i + 1]).grads for i in range(3)]
    assert max_diff(together, {k: sum(a[k] for a in alone) for k in PARAM_NAMES}) < 1e-13


def test_clipping_fn25_matches_the_layer_and_is_not_the_gradient():
    model, p, x, dE_dv, v0, s0 = setup()
    big = 30.0 * dE_dv
    clipped = bptt(p, x, big, v0=v0, s0=s0, clip=1.0)
    assert all(clipped.signals[k].abs().max() <= 1.0 for k in ("alpha_cr", "alpha_cs", "alpha_cu", "alpha_du"))
    layer = VanillaLSTM(3, 5, clip_alpha=1.0, dtype=F64)
    layer.load_state_dict(model.state_dict())
    v, _ = layer(x, (v0, s0))
    (big * v).sum().backward()
    g = layer.paper_grads()
    assert max((clipped.grads[k] - g[k]).abs().max().item() for k in PARAM_NAMES) < 1e-12
    exact = autograd_bptt(p, x, big, v0=v0, s0=s0).grads
    assert max_diff(clipped.grads, exact) > 1.0  # erratum E13: a gradient check must switch it off
    assert max_diff(bptt(p, x, dE_dv, v0=v0, s0=s0, clip=1e6).grads, bptt(p, x, dE_dv, v0=v0, s0=s0).grads) == 0


@pytest.mark.parametrize("W_scr_kind", ["full", "diagonal"])
def test_step_jacobian_E7(W_scr_kind):
    _, p, x, _, v0, s0 = setup()
    if W_scr_kind == "diagonal":
        p = p | {"W_scr": torch.diag(torch.diag(p["W_scr"]))}
    truth = torch.stack([psi_jacobian_autograd(p, x, k, v0=v0, s0=s0) for k in range(1, 7)])
    J = psi_jacobians(p, x, v0=v0, s0=s0)
    assert J.shape == (6, 3, 5, 5)
    torch.testing.assert_close(J, truth, atol=1e-13, rtol=0)
    assert (psi_jacobians(p, x, v0=v0, s0=s0, form="eq177") - truth).abs().max() > 1e-2  # transposes dropped
    eq178 = psi_jacobians(p, x, v0=v0, s0=s0, form="eq178")
    assert (eq178 - truth).abs().max() > 1e-2
    gap = (eq178 - truth.transpose(-1, -2)).abs().max()
    if W_scr_kind == "diagonal":
        assert gap < 1e-13  # Eq. 178 is J^T: same spectral norm
    else:
        assert gap > 1e-3


def test_step_jacobian_carries_psi_back():
    """psi[k-1] = J[k] psi[k] + terms held fixed: changing the loss after step k moves psi[k-1] by J[k] d psi[k]
    plus the path through alpha_cr[k] (which does not depend on psi[k], paper Eq. 176)."""
    _, p, x, dE_dv, v0, s0 = setup()
    k = 4
    J = psi_jacobians(p, x, v0=v0, s0=s0)[k - 1]
    bump = torch.zeros_like(dE_dv)
    bump[k + 1:] = torch.randn_like(dE_dv[k + 1:])  # the direct terms at steps k-1 and k stay
    a, b = bptt(p, x, dE_dv, v0=v0, s0=s0), bptt(p, x, dE_dv + bump, v0=v0, s0=s0)
    d_psi = b.signals["psi"] - a.signals["psi"]
    d_alpha_cr = b.signals["alpha_cr"] - a.signals["alpha_cr"]
    v, s = v0, s0
    for n in range(k):
        v, s, prev = lstm_step(x[n], v, s, p, record=True)  # ends with step k-1
    D1, D2 = prev.g_cr * dG_d(prev.s), prev.r * dG_c(prev.a_cr)
    c = d_alpha_cr[k] @ p["W_vcr"]  # W_vcr^T d alpha_cr[k], the part of f_chi[k] that J holds fixed
    expected = torch.einsum("bij,bj->bi", J, d_psi[k]) + D1 * c + (D2 * c) @ p["W_scr"]
    torch.testing.assert_close(d_psi[k - 1], expected, atol=1e-12, rtol=0)
    assert d_psi[k].abs().max() > 1e-3


def test_norms_triangle_inequality_and_products():
    _, p, x, _, _, _ = setup(K=20)
    n = jacobian_norms(p, x)
    assert (n["J"] <= n["Q"] + n["g_cs"] + 1e-12).all()  # Eq. 181
    assert (n["radius"] <= n["J"] + 1e-12).all()
    P = jacobian_product_norms(p, x)
    assert P.shape == (20, 3) and torch.allclose(P[0], torch.ones(3, dtype=F64))
    J = psi_jacobians(p, x)
    explicit = J[15] @ J[16] @ J[17] @ J[18]  # d psi[15]/d psi[19]: k = 16 .. 19, k = 16 on the left
    torch.testing.assert_close(P[4], torch.linalg.matrix_norm(explicit, ord=2), atol=1e-12, rtol=0)


def test_norm_conditions_of_fn29():
    _, p, _, _, _, _ = setup()
    cond = norm_conditions(p)
    assert set(cond) == {"W_scu", "W_vcu", "W_scs", "W_vcs", "W_vdu"}
    assert cond["W_vdu"][1] == 1.0 and cond["W_scu"][1] == 0.5
    small = {k: (0.01 * t if k in THETA_TILDE else t) for k, t in p.items()}
    assert all(n < b for n, b in norm_conditions(small).values())


def test_carousel_claims_of_the_chapter():
    closed, opened = carousel(0.0, 0.1), carousel(8.0, 0.1)
    assert closed["product"][-1] < 1e-12 and 0.3 < opened["product"][-1] < 3.0
    assert opened["heuristic"][-1] > 0.9 and opened["g_cs"] > 0.99
    grow = carousel(8.0, 1.0)
    assert grow["product"][-1] > 2.0 and grow["s_max"] > 1.0  # the state exceeds 1 (erratum E8)
    assert carousel(0.0, 0.2)["Q"].item() == pytest.approx(2 * carousel(0.0, 0.1)["Q"].item(), rel=0.05)


def test_renormalized_sequence_is_fn20():
    model, p, x, dE_dv, v0, s0 = setup()
    v_l, _ = model(x, (v0, s0))
    v_r, _ = renormalized_sequence(model, x, 1e9, (v0, s0))
    torch.testing.assert_close(v_r, v_l, atol=1e-13, rtol=0)
    (dE_dv * v_r).sum().backward()
    renorm = {k: g.clone() for k, g in model.paper_grads().items()}
    model.zero_grad()
    (dE_dv * v_l).sum().backward()
    assert max((renorm[k] - model.paper_grads()[k]).abs().max().item() for k in PARAM_NAMES) < 1e-12
    # one step: dE/ds[-1] is linear in psi[0], so the hook scales it by min(1, c / ||psi[0]||) per sequence
    psi0 = bptt(p, x[:1], dE_dv[:1], v0=v0, s0=s0)
    c = 0.5 * psi0.signals["psi"][0].norm(dim=1).min().item()
    s0_leaf = s0.clone().requires_grad_()
    v_one, _ = renormalized_sequence(model, x[:1], c, (v0, s0_leaf))
    (dE_dv[:1] * v_one).sum().backward()
    factor = (c / psi0.signals["psi"][0].norm(dim=1)).clamp(max=1.0)
    torch.testing.assert_close(s0_leaf.grad, factor[:, None] * psi0.dE_ds0, atol=1e-12, rtol=0)
    assert factor.max() < 1.0


def test_value_readout_and_remedies():
    net = ValueReadout(2, 4, 1, remedy="clip_alpha", bound=0.5)
    assert net.lstm.clip_alpha == 0.5 and net(torch.randn(6, 3, 2)).shape == (6, 3, 1)
    assert ValueReadout(2, 4, 1, remedy="renormalize_psi")(torch.randn(6, 3, 2)).shape == (6, 3, 1)
    with pytest.raises(ValueError, match="^remedy"):
        ValueReadout(2, 4, 1, remedy="clip")
    with pytest.raises(ValueError, match="^bound"):
        ValueReadout(2, 4, 1, bound=0)
    net = exploding_readout()
    assert net.lstm.b_cs.min() == 4.0


def test_compare_remedies_supports_the_chapter():
    runs = compare_remedies(steps=150)
    assert list(runs) == list(REMEDY_RUNS)
    assert runs["no remedy"].diverged
    for label in list(REMEDY_RUNS)[1:]:
        h = runs[label]
        assert not h.diverged and len(h.loss) == 150 and all(math.isfinite(v) for v in h.loss)


def test_gate_gradients_are_the_layers_alphas():
    model, p, x, _, _, _ = setup()
    sig = gate_gradients(model, x)
    grad_v = torch.zeros(7, 3, 5, dtype=F64)
    grad_v[-1] = 1.0
    ref = bptt(p, x, grad_v)
    for g in ("cr", "cs", "cu", "du"):
        torch.testing.assert_close(sig[f"alpha_{g}"], ref.signals[f"alpha_{g}"], atol=1e-12, rtol=0)
    torch.testing.assert_close(sig["psi"], ref.signals["psi"], atol=1e-12, rtol=0)


def test_explorer_sliders_and_values():
    ex = lstm_training_explorer(N=60)
    assert set(ex.params) == {"b_cs", "theta_scale"} and ex.scrubbed == ("b_cs", "theta_scale")
    assert ex.params["b_cs"].values == B_CS_VALUES and ex.params["theta_scale"].values == SCALE_VALUES
    low = ex.set(b_cs=0.0, theta_scale=0.1)["product"][-1]
    high = ex.set(b_cs=8.0)["product"][-1]
    assert high > 1e6 * low and ex.data["product"].shape == (60,)


def test_bad_input():
    _, p, x, dE_dv, _, _ = setup()
    with pytest.raises(ValueError, match="^dE_dv"):
        bptt(p, x, dE_dv[:, :, :2])
    with pytest.raises(TypeError, match="^dE_dv"):
        bptt(p, x, None)
    with pytest.raises(ValueError, match="^clip"):
        bptt(p, x, dE_dv, clip=-1.0)
    with pytest.raises(ValueError, match="^form"):
        psi_jacobians(p, x, form="eq179")
    with pytest.raises(ValueError, match="^k"):
        psi_jacobian_autograd(p, x, 7)
    with pytest.raises(ValueError, match="^p"):
        bptt({k: v for k, v in p.items() if k != "W_scr"}, x, dE_dv)
    with pytest.raises(TypeError, match="^x"):
        bptt(p, x.float(), dE_dv)
    with pytest.raises(TypeError, match="^model"):
        renormalized_sequence(torch.nn.LSTM(3, 5), x, 1.0)

"""The chain from the canonical RNN to the vanilla LSTM (paper Sec. V): each stage is its equations, the last
stage is the LSTM, and the measurements the chapter states hold."""

import pytest
import torch

from lstm_lib.figures.vanilla_lstm import B_CS_VALUES, W_S_VALUES, explorer
from lstm_lib.rnn_to_lstm import (
    CELLS,
    NOTATION_SHIFT,
    STAGE_EQUATIONS,
    STAGES,
    chain_params,
    chain_step,
    gradient_vs_lag,
    to_section_vi,
)
from lstm_lib.vanilla_lstm import PARAM_NAMES, lstm_step

F64 = torch.float64


def run(stage, p, x, fed=None, s=None):
    B, d = x.shape[1], p["theta_s"].shape[0]
    fed = torch.zeros(B, d, dtype=F64) if fed is None else fed
    s = torch.zeros(B, d, dtype=F64) if s is None else s
    for n in range(x.shape[0]):
        fed, s = chain_step(stage, x[n], fed, s, p)
    return fed, s


def test_stages_are_in_the_papers_order_and_each_has_a_cell():
    assert STAGES == ("canonical", "split", "gated", "W_s = I", "readout gate", "input gate", "update candidate",
                      "vanilla")
    assert set(CELLS) == set(STAGES) == set(STAGE_EQUATIONS)
    first = [int(STAGE_EQUATIONS[s].split("-")[0]) for s in STAGES]
    assert first == sorted(first)


def test_notation_shift_gives_the_15_parameters_of_eq_123():
    assert sorted(NOTATION_SHIFT.values()) == sorted(PARAM_NAMES)
    p = chain_params(3, 4)
    assert set(to_section_vi(p)) == set(PARAM_NAMES)
    assert torch.equal(p["W_s"], 0.5 * torch.eye(4, dtype=F64))
    with pytest.raises(ValueError, match="^p: .*theta_s"):
        to_section_vi({k: v for k, v in p.items() if k != "theta_s"})


def test_vanilla_stage_is_lstm_step():
    p = chain_params(3, 4, seed=2)
    x = torch.randn(6, 2, 3, dtype=F64)
    v_a, s_a = run("vanilla", p, x)
    v_b = s_b = torch.zeros(2, 4, dtype=F64)
    for n in range(6):
        v_b, s_b = lstm_step(x[n], v_b, s_b, to_section_vi(p))
    torch.testing.assert_close(v_a, v_b, atol=1e-14, rtol=0)
    torch.testing.assert_close(s_a, s_b, atol=1e-14, rtol=0)


def test_split_is_the_canonical_rnn_rewritten():
    p = chain_params(2, 5)
    x = torch.randn(15, 3, 2, dtype=F64)
    for a, b in zip(run("canonical", p, x), run("split", p, x), strict=True):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)


def test_each_step_reduces_to_the_previous_one_where_the_paper_says():
    x = torch.randn(10, 3, 2, dtype=F64)
    # W_s = I (Eq. 100) turns the gated cell (Eq. 98) into Eq. 102
    p = chain_params(2, 4, w_s=1.0)
    for a, b in zip(run("gated", p, x), run("W_s = I", p, x), strict=True):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)
    # g_cx = 1 (the paper's choice after Eq. 106) returns Eq. 106 to Eq. 105
    p = chain_params(2, 4) | {"theta_cx": torch.full((4,), 60.0, dtype=F64)}
    for a, b in zip(run("input gate", p, x), run("readout gate", p, x), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    # the gates change the state equation: gated differs from split
    q = chain_params(2, 4)
    assert (run("gated", q, x)[1] - run("split", q, x)[1]).abs().max() > 1e-2


def test_the_value_is_gated_and_the_update_candidate_bounded():
    p = chain_params(2, 4) | {"theta_s": torch.full((4,), 50.0, dtype=F64)}
    x = torch.randn(1, 3, 2, dtype=F64)
    z0 = torch.zeros(3, 4, dtype=F64)
    _, s = chain_step("update candidate", x[0], z0, z0, p)
    g_cu = torch.sigmoid(x[0] @ p["W_xcu"].T + p["theta_cu"])
    torch.testing.assert_close(s, g_cu * 1.0, atol=1e-12, rtol=0)  # u = G_d(50) = 1
    _, s = chain_step("readout gate", x[0], z0, z0, p)
    assert s.abs().max() > 10  # before Eq. 107 the update is not bounded


def test_constant_error_carousel_is_exact():
    g = gradient_vs_lag("update candidate", 100, b_cs=30.0, b_cu=-30.0, b_cr=-30.0)
    assert (g - 1).abs().max() < 1e-10


def test_measurements_stated_in_the_chapter():
    reach = {(st, b): gradient_vs_lag(st, 100, b_cs=b)[0].item() for st in STAGES for b in (0.0, 3.0)}
    for st in STAGES:
        assert reach[st, 0.0] < 1e-6  # with g_cs near 1/2 every cell loses the gradient
    assert reach["canonical", 3.0] == reach["canonical", 0.0]  # no gate to bias
    assert reach["split", 3.0] == pytest.approx(reach["canonical", 3.0], rel=1e-10)
    assert reach["canonical", 3.0] < 1e-10 and reach["gated", 3.0] < 1e-10  # W_s and the gate compound
    later = ("W_s = I", "readout gate", "input gate", "update candidate", "vanilla")
    assert all(reach[st, 3.0] > 1e-2 for st in later)  # W_s = I with the gate open keeps it
    assert reach["W_s = I", 3.0] / reach["readout gate", 3.0] < 10  # a constant factor, not exponential
    for g in (gradient_vs_lag(st, 60) for st in STAGES):
        assert g[-1] == pytest.approx(1.0)  # E = w . s[N-1], ||w|| = 1
    assert gradient_vs_lag("canonical", 100, w_s=1.0)[0] > 1.0  # W_s = I without a gate: it grows


def test_explorer_sliders_and_values():
    ex = explorer(N=40)
    assert set(ex.params) == {"b_cs", "w_s"} and ex.scrubbed == ("b_cs", "w_s")
    assert ex.params["b_cs"].values == B_CS_VALUES and 2.6 in B_CS_VALUES and 3.0 in B_CS_VALUES
    assert ex.params["w_s"].values == W_S_VALUES and 1.0 in W_S_VALUES
    low = ex.set(b_cs=-2.0)["vanilla"][0]
    high = ex.set(b_cs=6.0)["vanilla"][0]
    assert set(ex.data) == set(STAGES) and high > 1e3 * low
    before = ex.data["gated"][0]
    assert ex.set(w_s=0.9)["gated"][0] > before and ex.data["vanilla"][0] == high  # w_s acts on the early cells only


def test_bad_input():
    with pytest.raises(ValueError, match="^stage"):
        gradient_vs_lag("gru")
    with pytest.raises(ValueError, match="^N"):
        gradient_vs_lag("canonical", 0)
    with pytest.raises(ValueError, match="^hidden_size"):
        chain_params(2, 0)
    p = chain_params(2, 3)
    with pytest.raises(ValueError, match="^fed_prev"):
        z = torch.zeros(2, 3, dtype=F64)
        chain_step("vanilla", torch.zeros(2, 2, dtype=F64), torch.zeros(2, 4, dtype=F64), z, p)
    with pytest.raises(ValueError, match="^x"):
        gradient_vs_lag("vanilla", 5, x=torch.zeros(4, 16, 2, dtype=F64))

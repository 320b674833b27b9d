"""The chain from the RNN to the vanilla LSTM: its last stage is the LSTM, and gating keeps the gradient."""

import pytest
import torch

from lstm_lib.figures.vanilla_lstm import draw_cell, explorer
from lstm_lib.rnn_to_lstm import STAGES, chain_step, gradient_vs_lag
from lstm_lib.vanilla_lstm import VanillaLSTM, lstm_step


def test_last_stage_is_lstm_step():
    model = VanillaLSTM(3, 4, dtype=torch.float64)
    p = model.paper_params()
    x, v, s = (torch.randn(2, k, dtype=torch.float64) for k in (3, 4, 4))
    with torch.no_grad():
        for a, b in zip(chain_step("peepholes", x, v, s, p), lstm_step(x, v, s, p), strict=True):
            torch.testing.assert_close(a, b, atol=1e-14, rtol=0)


def test_gating_keeps_the_gradient_that_the_rnn_loses():
    rnn = gradient_vs_lag("rnn", 60)
    lstm = gradient_vs_lag("peepholes", 60, b_cs=3.0)
    assert rnn[-1] == pytest.approx(1.0) and lstm[-1] == pytest.approx(1.0)  # E = w . s[N-1], ||w|| = 1
    assert rnn[0] < 1e-10 < 1e-3 < lstm[0]
    closed = gradient_vs_lag("state gate", 60, b_cs=-2.0)
    opened = gradient_vs_lag("state gate", 60, b_cs=4.0)
    assert closed[0] < 1e-6 * opened[0]


def test_explorer_and_diagram():
    ex = explorer(N=40)
    low = ex.set(b_cs=-2.0)["peepholes"][0]
    high = ex.set(b_cs=5.0)["peepholes"][0]
    assert set(ex.data) == set(STAGES) and high > 1e3 * low
    assert len(draw_cell().patches) > 5


def test_bad_input():
    with pytest.raises(ValueError, match="stage"):
        gradient_vs_lag("gru")
    with pytest.raises(ValueError, match="N"):
        gradient_vs_lag("rnn", 0)

"""The chapter "Training the vanilla LSTM": its read-outs of the backward equations."""

import torch

from lstm_lib import VanillaLSTM
from lstm_lib.figures.lstm_training import explorer as lstm_training_explorer
from lstm_lib.lstm_training import gate_gradients
from lstm_lib.vanilla_lstm import lstm_step

F64 = torch.float64


def test_gate_gradients_are_dE_da_and_dE_ds():
    N, B, m, d = 8, 2, 3, 4
    model = VanillaLSTM(m, d, dtype=F64)
    x = torch.randn(N, B, m, dtype=F64)
    sig = gate_gradients(model, x)
    p = {k: t.detach() for k, t in model.paper_params().items()}
    z = torch.zeros(B, d, dtype=F64)
    # alpha_..[n] = dE/da_..[n] for E = sum of v[N-1]: a zero added to each accumulation, differentiated
    zero = {(n, g): torch.zeros(B, d, dtype=F64, requires_grad=True) for n in range(N) for g in ("cr", "cs", "cu", "du")}
    v, s = z, z
    for n in range(N):
        a_cu = x[n] @ p["W_xcu"].T + s @ p["W_scu"].T + v @ p["W_vcu"].T + p["b_cu"] + zero[n, "cu"]
        a_cs = x[n] @ p["W_xcs"].T + s @ p["W_scs"].T + v @ p["W_vcs"].T + p["b_cs"] + zero[n, "cs"]
        a_du = x[n] @ p["W_xdu"].T + v @ p["W_vdu"].T + p["b_du"] + zero[n, "du"]
        s_new = torch.sigmoid(a_cs) * s + torch.sigmoid(a_cu) * torch.tanh(a_du)
        a_cr = x[n] @ p["W_xcr"].T + s_new @ p["W_scr"].T + v @ p["W_vcr"].T + p["b_cr"] + zero[n, "cr"]
        v, s = torch.sigmoid(a_cr) * torch.tanh(s_new), s_new
    keys = list(zero)
    grads = torch.autograd.grad(v.sum(), [zero[k] for k in keys])
    for (n, g), grad in zip(keys, grads, strict=True):
        torch.testing.assert_close(sig[f"alpha_{g}"][n], grad, atol=1e-12, rtol=1e-10)
    # psi[n] is the total derivative dE/ds[n] (through v[n] too): finite differences at n = 2
    eps, n0 = 1e-6, 2

    def E_after(delta):
        vv, ss = z, z
        for n in range(N):
            v_prev = vv
            vv, ss = lstm_step(x[n], v_prev, ss, p)
            if n == n0:  # perturb s[n0], then form v[n0] from the perturbed state
                ss = ss + delta
                a_cr = x[n] @ p["W_xcr"].T + ss @ p["W_scr"].T + v_prev @ p["W_vcr"].T + p["b_cr"]
                vv = torch.sigmoid(a_cr) * torch.tanh(ss)
        return vv.sum()

    delta = torch.zeros(B, d, dtype=F64)
    delta[1, 2] = eps
    fd = (E_after(delta) - E_after(-delta)) / (2 * eps)
    assert abs(fd.item() - sig["psi"][n0, 1, 2].item()) < 1e-8


def test_explorer_bias_moves_the_reach_of_the_gradient():
    ex = lstm_training_explorer()
    low = ex.set(b_cs=-1.0, N=100)["psi"][0]
    high = ex.set(b_cs=5.0)["psi"][0]
    assert len(ex.data["alpha_cs"]) == 100 and high > 1e3 * low
    assert ex.set(N=30)["psi"].shape == (30,)

"""The paper's printed equations that are wrong or ambiguous (errata E1-E14), each with a check.

Each ``check_E..`` function builds a small float64 case (seeded), computes the quantity the erratum
concerns three ways -- as the paper prints it, as corrected, and by autograd (or another exact
reference) -- and returns an :class:`Erratum` with the largest difference of each form from the
reference. A corrected form matches to rounding; a printed form that is wrong misses by a visible
amount. The checks call the chapters' own functions (the readable loops of each chapter, with their
``printed`` switches), so the errata page and the chapters show the same code.

:func:`all_checks` runs every check; :data:`NOTES` holds the errata without a numerical side (E14).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

F64 = torch.float64


@dataclass(frozen=True)
class Erratum:
    """One erratum and its check: ``printed_error`` and ``corrected_error`` are the largest absolute
    differences from the reference (None where the erratum concerns a statement, not a formula)."""

    label: str
    equations: str
    what: str
    printed_error: float | None
    corrected_error: float | None
    chapter: str


def _maxdiff(a, b) -> float:
    return float((a - b).abs().max())


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- Part II: the RNN (Sec. IV) -------------------------------------------------------------------


def _standard_rnn(seed: int = 0, d: int = 4, m: int = 2, N: int = 6, B: int = 3):
    from .canonical_rnn import CanonicalRNN

    torch.manual_seed(seed)
    model = CanonicalRNN(m, d, standard=True, dtype=F64)
    with torch.no_grad():
        model.W_r.copy_(torch.randn(d, d, generator=_gen(seed), dtype=F64) * 0.8)  # not symmetric
    x = torch.randn(N, B, m, generator=_gen(seed + 1), dtype=F64)
    dE_dr = torch.randn(N, B, d, generator=_gen(seed + 2), dtype=F64)
    return model, x, dE_dr


def _rnn_autograd(model, x, dE_dr):
    """psi[n] = dE/ds[n] and chi[n] = dE/dr[n] (totals) for E = sum_n dE_dr[n] . r[n], by autograd:
    zeros added to s[n] and r[n] are differentiated."""
    N, B, _ = x.shape
    d = model.state_size
    zs = torch.zeros(N, B, d, dtype=F64, requires_grad=True)
    zr = torch.zeros(N, B, d, dtype=F64, requires_grad=True)
    W_s, W_r, W_x, th = (t.detach() for t in (model.W_s, model.W_r, model.W_x, model.theta_s))
    s = torch.zeros(B, d, dtype=F64)
    r = model.warp(s)
    E = 0.0
    for n in range(N):
        s = s @ W_s.T + r @ W_r.T + x[n] @ W_x.T + th + zs[n]
        r = model.warp(s) + zr[n]
        E = E + (dE_dr[n] * r).sum()
    psi, chi = torch.autograd.grad(E, (zs, zr))
    return psi, chi


def check_E1(seed: int = 0) -> Erratum:
    """Eqs. 82, 84: chi[n] takes W_r^T psi[n+1], not W_r psi[n+1] (unless W_r is symmetric)."""
    from .rnn_training import psi_chi

    model, x, dE_dr = _standard_rnn(seed)
    psi_ref, chi_ref = _rnn_autograd(model, x, dE_dr)
    psi_p, chi_p = psi_chi(model, x, dE_dr, printed=True)
    psi_c, chi_c = psi_chi(model, x, dE_dr)
    return Erratum("E1", "Eqs. 82, 84", "chi[n] = dE/dr[n] + W_r psi[n+1] needs W_r^T",
                   max(_maxdiff(chi_p, chi_ref), _maxdiff(psi_p, psi_ref)),
                   max(_maxdiff(chi_c, chi_ref), _maxdiff(psi_c, psi_ref)), "chap:rnn_training")


def check_E2(seed: int = 0) -> Erratum:
    """Eq. 91: dpsi[n]/dpsi[l] is prod_k diag[G'(s[k-1])] W_r^T, not prod_k W_r (.) G'(s[k])."""
    from .rnn_training import psi_jacobian, state_jacobian_autograd

    model, x, _ = _standard_rnn(seed)
    n, l = 1, 4
    ref = state_jacobian_autograd(model, x, n, l).transpose(-1, -2)
    printed = min(_maxdiff(psi_jacobian(model, x, n, l, form=f), ref) for f in ("printed_right", "printed_left"))
    corrected = _maxdiff(psi_jacobian(model, x, n, l, form="corrected"), ref)
    return Erratum("E2", "Eq. 91", "index of G' one step late and W_r without transpose (either reading of the "
                   "element-wise product)", printed, corrected, "chap:rnn_training")


def check_E3(seed: int = 0) -> Erratum:
    """Text before Eq. 81: the per-step expression dE/dr[n] (.) G'(s[n]) is a (wrong) candidate for psi,
    not chi; it equals psi only at the last step."""
    from .rnn_training import per_step_shortcut

    model, x, dE_dr = _standard_rnn(seed)
    psi_ref, chi_ref = _rnn_autograd(model, x, dE_dr)
    short = per_step_shortcut(model, x, dE_dr)
    return Erratum("E3", "before Eq. 81", "the per-step shortcut is attributed to chi; as a candidate for psi it is "
                   "exact at the last step only", _maxdiff(short[:-1], psi_ref[:-1]), _maxdiff(short[-1], psi_ref[-1]),
                   "chap:rnn_training")


# ---- Part I: stability (Sec. II) --------------------------------------------------------------------


def check_E4() -> Erratum:
    """After Eq. 33: W~ = V_B^T (-A^{-1} B) V_B is diagonal (mu_i = lambda_i/|a_ii|) only when A^{-1}
    commutes with B, e.g. A = a I; not for every diagonal A."""
    from .discretization import mode_matrix

    B = torch.tensor([[2.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]], dtype=F64)

    def off_diagonal(A):
        W = mode_matrix(A, B).W_tilde
        return float((W - torch.diag(torch.diagonal(W))).abs().max())

    A_diagonal = -torch.diag(torch.tensor([2.0, 10.0, 50.0], dtype=F64))  # diagonal, not commuting with B
    A_scalar = -20.0 * torch.eye(3, dtype=F64)  # commutes with every B
    return Erratum("E4", "after Eq. 33", "W~ is diagonal only if A^{-1} commutes with B", off_diagonal(A_diagonal),
                   off_diagonal(A_scalar), "chap:discretization")


def check_E5() -> Erratum:
    """Sec. II, Eqs. 92-93: the stability condition is |mu_i| < 1 (the paper's 0 < mu_i < 1 also refuses
    decaying alternating modes); spectral radius < 1 does not bound the norm of a non-normal W_r."""
    from .discretization import mode_condition

    W = torch.tensor([[0.8, 9.0], [0.0, 0.8]], dtype=F64)  # non-normal: radius 0.8, norm about 9
    radius = float(torch.linalg.eigvals(W).abs().max())
    norm = float(torch.linalg.matrix_norm(W, ord=2))
    wrong = bool(mode_condition(-0.5, "paper")) != bool(mode_condition(-0.5, "textbook"))
    # printed: how far the norm the paper's argument assumes (< 1) is exceeded; corrected: the
    # textbook condition agrees with the decay of the mode mu = -0.5 (|mu|^n -> 0): no miss.
    return Erratum("E5", "Sec. II, Eqs. 92-93", f"0 < mu < 1 refuses mu = -0.5 (refused: {wrong}); radius "
                   f"{radius:.2f} but norm {norm:.2f} for a non-normal W_r", norm - 1.0, 0.0, "chap:discretization")


# ---- Part III: the vanilla LSTM (Sec. VI) ------------------------------------------------------------


def _vanilla(seed: int = 0, d: int = 4, m: int = 3, K: int = 6, B: int = 2):
    from .lstm import VanillaLSTM

    torch.manual_seed(seed)
    model = VanillaLSTM(m, d, dtype=F64)  # full, non-symmetric state-to-gate matrices
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.6, generator=_gen(seed))
    p = {k: t.detach() for k, t in model.paper_params().items()}
    x = torch.randn(K, B, m, generator=_gen(seed + 1), dtype=F64)
    dE_dv = torch.randn(K, B, d, generator=_gen(seed + 2), dtype=F64)
    return p, x, dE_dv


def _grads_diff(a, b) -> float:
    return max(_maxdiff(a[k], b[k]) for k in b)


def check_E6(seed: int = 0) -> Erratum:
    """Eqs. 148-150, 173-174, 222: (da_cr/ds) alpha_cr is W_scr^T alpha_cr, not W_scr alpha_cr."""
    from .lstm_training import autograd_bptt, bptt

    p, x, dE_dv = _vanilla(seed)
    ref = autograd_bptt(p, x, dE_dv)
    return Erratum("E6", "Eqs. 148-150, 173-174, 222", "W_scr alpha_cr needs W_scr^T (full W_scr)",
                   _grads_diff(bptt(p, x, dE_dv, printed=True).grads, ref.grads),
                   _grads_diff(bptt(p, x, dE_dv).grads, ref.grads), "chap:lstm_training")


def check_E7(seed: int = 0) -> Erratum:
    """Eqs. 177-178: the step Jacobian of psi keeps its transposes (Eq. 177 drops them)."""
    from .lstm_training import psi_jacobian_autograd, psi_jacobians

    p, x, _ = _vanilla(seed)
    k = 3
    ref = psi_jacobian_autograd(p, x, k)
    return Erratum("E7", "Eqs. 177-178", "the Jacobian dpsi[k-1]/dpsi[k] without transposes",
                   _maxdiff(psi_jacobians(p, x, form="eq177")[k - 1], ref),
                   _maxdiff(psi_jacobians(p, x, form="corrected")[k - 1], ref), "chap:lstm_training")


def check_E8(seed: int = 0) -> Erratum:
    """fn 29: s is not an output of G_d; |s| exceeds 1 when the state gate keeps it and updates add up."""
    from .lstm import VanillaLSTM

    torch.manual_seed(seed)
    model = VanillaLSTM(2, 4, state_weights=None, dtype=F64)
    model.b_cs = torch.full((4,), 6.0)  # keep the state
    model.b_cu = torch.full((4,), 6.0)  # and add the update at every step
    model.b_du = torch.full((4,), 2.0)
    with torch.no_grad():
        _, (_, s_last) = model(torch.zeros(30, 1, 2, dtype=F64))
    peak = float(s_last.abs().max())
    return Erratum("E8", "fn 29", f"the state is not bounded by 1: |s| reaches {peak:.1f}", peak - 1.0, None,
                   "chap:lstm_training")


def check_E12(seed: int = 0) -> Erratum:
    """The LSTM's terminal conditions are not stated: f_chi[K] = f_psi[K] = 0 gives autograd's gradient."""
    from .lstm_training import autograd_bptt, bptt

    p, x, dE_dv = _vanilla(seed)
    return Erratum("E12", "Eqs. 144-155", "terminal conditions f_chi[K] = f_psi[K] = 0 (not stated)", None,
                   _grads_diff(bptt(p, x, dE_dv).grads, autograd_bptt(p, x, dE_dv).grads), "chap:lstm_training")


def check_E13(seed: int = 0) -> Erratum:
    """fn 25 (and fn 20): clipping changes the gradient; gradient checks must switch it off."""
    from .lstm_training import autograd_bptt, bptt

    p, x, dE_dv = _vanilla(seed)
    ref = autograd_bptt(p, x, 10 * dE_dv).grads
    return Erratum("E13", "fn 25, fn 20", "clipped accumulation derivatives are not the gradient",
                   _grads_diff(bptt(p, x, 10 * dE_dv, clip=0.1).grads, ref),
                   _grads_diff(bptt(p, x, 10 * dE_dv).grads, ref), "chap:lstm_training")


# ---- Part IV: the augmented LSTM (Sec. VII) ----------------------------------------------------------


def _augmented(seed: int = 0):
    from .lstm import AugmentedLSTM

    torch.manual_seed(seed)
    model = AugmentedLSTM(3, 5, proj_size=3, context=3, input_gate=True, dtype=F64)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5, generator=_gen(seed))
    p = {k: t.detach() for k, t in model.paper_params().items()}
    x = torch.randn(7, 2, 3, generator=_gen(seed + 1), dtype=F64)
    dE_dv = torch.randn(7, 2, 3, generator=_gen(seed + 2), dtype=F64)
    return p, x, dE_dv


def _augmented_check(label, equations, what, printed, seed, keys=None) -> Erratum:
    from .augmented_training import augmented_bptt, autograd_signals

    p, x, dE_dv = _augmented(seed)
    ref = autograd_signals(x, p, dE_dv).grads
    keys = keys or [k for k in p]
    diff = lambda g: max(_maxdiff(g[k], ref[k]) for k in keys)  # noqa: E731
    return Erratum(label, equations, what, diff(augmented_bptt(x, p, dE_dv, printed=printed).grads),
                   diff(augmented_bptt(x, p, dE_dv).grads), "chap:augmented_training")


def check_E9(seed: int = 0) -> Erratum:
    """Eq. 226: the factor is da_du/dg_cx = diag[xi_xdu] (alpha_du is already dE/da_du); the printed
    RESULT alpha_du (.) xi_xdu is right, the factor du/dg_cx taken literally is not."""
    return _augmented_check("E9", "Eq. 226", "gamma_cx with the factor du/dg_cx taken literally", ("E9",), seed)


def check_E11(seed: int = 0) -> Erratum:
    """Eq. 246: dE/dW_xdu[l] = (g_cx (.) alpha_du) x^T[n+l]: the printed form omits the gate."""
    return _augmented_check("E11", "Eq. 246", "dE/dW_xdu[l] without g_cx", ("E11",), seed, keys=["W_xdu"])


def check_E10(seed: int = 0) -> Erratum:
    """Text after Eq. 187: the window at step n reads x[n], ..., x[n+L-1] (the example lists the window at
    n = 0); the gradient of tap l pairs alpha[n] with x[n+l], not with x[l] or x[n-l]."""
    from .augmented_training import autograd_signals

    p, x, dE_dv = _augmented(seed)
    ref = autograd_signals(x, p, dE_dv)
    alpha = ref.signals["alpha_cs"]  # (N, B, d_s)
    N, L = x.shape[0], p["W_xcs"].shape[0]

    def tap_gradient(reading):
        g = torch.zeros_like(p["W_xcs"])
        for n in range(N):
            for l in range(L):
                k = {"n+l": n + l, "l": l, "n-l": n - l}[reading]
                if 0 <= k < N:
                    g[l] += alpha[n].T @ x[k]
        return g

    wrong = max(_maxdiff(tap_gradient(r), ref.grads["W_xcs"]) for r in ("l", "n-l"))
    return Erratum("E10", "after Eq. 187", "the example's window is the one at n = 0; tap l reads x[n+l]",
                   wrong, _maxdiff(tap_gradient("n+l"), ref.grads["W_xcs"]), "chap:augmented_lstm")


NOTES = {
    "E14": "Eq. 123 lacks a comma between b_cr and W_xdu; Proposition 1 requires K_m < N while the set-up allows "
           "K_m <= N; and the paper reuses v, u, chi, L and Q for two things each (see the notation page).",
}

CHECKS = (check_E1, check_E2, check_E3, check_E4, check_E5, check_E6, check_E7, check_E8, check_E9, check_E10,
          check_E11, check_E12, check_E13)


def all_checks() -> list[Erratum]:
    """Every erratum with a numerical side, in order E1 ... E13."""
    return [check() for check in CHECKS]

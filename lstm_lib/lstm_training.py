"""Training the vanilla LSTM (chapter "Training the vanilla LSTM"): the backward pass one step at a time,
the error gradient sequences, and the paper's remedies for large derivatives.

The backward pass (paper Sec. VI-I, Eqs. 137-172), readable, one line per equation:

* :func:`backward_step`: one step of the border derivatives chi, psi and the intermediate ones rho,
  gamma_cr, alpha_.. (paper Eqs. 144-155; erratum E6 corrected: W_scr^T, or as printed with
  ``printed=True``); optional clipping of the alphas (paper fn 25);
* :func:`step_gradients`: the parameter gradients of one step (paper Eqs. 156-170), summed over a
  batch of segments (paper fn 26);
* :func:`bptt`: the plain loop: forward with :func:`~lstm_lib.vanilla_lstm.lstm_step`, then backward
  from the terminal conditions f_chi[K] = f_psi[K] = 0 (erratum E12), the sum of paper Eq. 172;
* :func:`autograd_bptt`: the same quantities from autograd, to check the equations against.

The layer :class:`~lstm_lib.lstm.VanillaLSTM` computes the same thing fast
(:func:`lstm_lib._lstm_recurrence.reference_backward` and its compiled twin).

Error gradient sequences (paper Sec. VI-J, Eqs. 173-182):

* :func:`psi_jacobians`: the step Jacobian d psi[k-1] / d psi[k] by the chain rule with transposes
  (erratum E7), or as paper Eqs. 177 and 178 print it; :func:`psi_jacobian_autograd` computes it
  from autograd; :func:`jacobian_norms`, :func:`jacobian_product_norms` read off its norms (Eqs.
  179-182); :func:`norm_conditions` the first sufficient condition of paper fn 29.

Large derivatives (paper fns 20, 25; erratum E13):

* the layer's ``clip_alpha`` is paper fn 25; :func:`renormalized_sequence` is the book's reading of
  paper fn 20 (the state derivatives renormalised into a range); :class:`ValueReadout` is a vanilla
  LSTM with a linear output map and either remedy, for :func:`lstm_lib.fit.fit` (whose ``clip`` is
  the usual global-norm clipping).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn

from ._checks import check_choice, check_int, check_positive, check_real, check_tensor
from ._lstm_recurrence import input_terms, reference_backward, reference_forward
from .fit import fit
from .lstm import VanillaLSTM
from .tasks import AddingProblem
from .vanilla_lstm import PARAM_NAMES, G_c, G_d, Step, check_paper_params, lstm_step

SIGNALS = ("chi", "rho", "gamma_cr", "alpha_cr", "psi", "alpha_cs", "alpha_cu", "alpha_du")


def dG_c(z: torch.Tensor) -> torch.Tensor:
    """dG_c(z)/dz = G_c(z) (1 - G_c(z)) (paper Eq. 137)."""
    return G_c(z) * (1 - G_c(z))


def dG_d(z: torch.Tensor) -> torch.Tensor:
    """dG_d(z)/dz = 1 - G_d(z)^2 (paper Eq. 138)."""
    return 1 - G_d(z) ** 2


# ---- the backward pass, one step at a time ----------------------------------------------------------


class BackwardStep(NamedTuple):
    """The derivatives of one backward step (paper Eqs. 144-155), rows of a batch; ``f_chi``, ``f_psi``
    are what this step n hands to step n-1 (f_chi[n], f_psi[n])."""

    chi: torch.Tensor
    rho: torch.Tensor
    gamma_cr: torch.Tensor
    alpha_cr: torch.Tensor
    psi: torch.Tensor
    alpha_cs: torch.Tensor
    alpha_cu: torch.Tensor
    alpha_du: torch.Tensor
    f_chi: torch.Tensor
    f_psi: torch.Tensor


def backward_step(st: Step, p: Mapping[str, torch.Tensor], dE_dv, f_chi_next, f_psi_next, *,
                  printed: bool = False, clip: float | None = None) -> BackwardStep:
    """One step n of the vanilla LSTM's backward pass, paper Eqs. 144-155.

    ``st``: the forward step n (``lstm_step(..., record=True)``); ``p``: the parameters by name;
    ``dE_dv`` = (dy[n]/dv[n])^T dE/dy[n], the output's direct part of chi[n] (B, d_s);
    ``f_chi_next``, ``f_psi_next``: f_chi[n+1], f_psi[n+1] from step n+1 (zeros at n = K-1,
    erratum E12). Vectors are rows, so W^T a is written ``a @ W`` and W a is ``a @ W.T``.
    ``printed``: use W_scr alpha_cr as paper Eqs. 149-150 print it (erratum E6) instead of
    W_scr^T alpha_cr. ``clip``: clip every accumulation derivative alpha to [-clip, clip] where it is
    formed, the clipped value flowing on (paper fn 25); the result is then not the exact gradient.
    """
    c = (lambda a: a) if clip is None else (lambda a: a.clamp(-clip, clip))
    chi = dE_dv + f_chi_next  # Eq. 144
    rho = chi * st.g_cr  # Eq. 145
    gamma_cr = chi * st.r  # Eq. 146
    alpha_cr = c(gamma_cr * dG_c(st.a_cr))  # Eq. 147
    W_scr_alpha_cr = alpha_cr @ p["W_scr"].T if printed else alpha_cr @ p["W_scr"]  # W_scr a (print) | W_scr^T a
    psi = rho * dG_d(st.s) + W_scr_alpha_cr + f_psi_next  # Eqs. 148-150 (erratum E6)
    alpha_cs = c(psi * st.s_prev * dG_c(st.a_cs))  # Eq. 151
    alpha_cu = c(psi * st.u * dG_c(st.a_cu))  # Eq. 152
    alpha_du = c(psi * st.g_cu * dG_d(st.a_du))  # Eq. 153
    f_chi = alpha_cu @ p["W_vcu"] + alpha_cs @ p["W_vcs"] + alpha_cr @ p["W_vcr"] + alpha_du @ p["W_vdu"]  # Eq. 154
    f_psi = alpha_cu @ p["W_scu"] + alpha_cs @ p["W_scs"] + st.g_cs * psi  # Eq. 155
    return BackwardStep(chi, rho, gamma_cr, alpha_cr, psi, alpha_cs, alpha_cu, alpha_du, f_chi, f_psi)


def step_gradients(st: Step, bs: BackwardStep) -> dict[str, torch.Tensor]:
    """dE/dTheta[n], the 15 parameter gradients of step n (paper Eqs. 156-171), each summed over the
    batch of segments (paper Eq. 172 with fn 26). ``a.T @ b`` is the sum over the batch of the outer
    products a[i] b[i]^T."""
    return {
        "W_xcu": bs.alpha_cu.T @ st.x,  # Eq. 156
        "W_scu": bs.alpha_cu.T @ st.s_prev,  # Eq. 157
        "W_vcu": bs.alpha_cu.T @ st.v_prev,  # Eq. 158
        "b_cu": bs.alpha_cu.sum(0),  # Eq. 159
        "W_xcs": bs.alpha_cs.T @ st.x,  # Eq. 160
        "W_scs": bs.alpha_cs.T @ st.s_prev,  # Eq. 161
        "W_vcs": bs.alpha_cs.T @ st.v_prev,  # Eq. 162
        "b_cs": bs.alpha_cs.sum(0),  # Eq. 163
        "W_xcr": bs.alpha_cr.T @ st.x,  # Eq. 164
        "W_scr": bs.alpha_cr.T @ st.s,  # Eq. 165 (the new state s[n])
        "W_vcr": bs.alpha_cr.T @ st.v_prev,  # Eq. 166
        "b_cr": bs.alpha_cr.sum(0),  # Eq. 167
        "W_xdu": bs.alpha_du.T @ st.x,  # Eq. 168
        "W_vdu": bs.alpha_du.T @ st.v_prev,  # Eq. 169
        "b_du": bs.alpha_du.sum(0),  # Eq. 170
    }


class Gradients(NamedTuple):
    """What :func:`bptt` and :func:`autograd_bptt` return: ``grads``, dE/dTheta by the paper's names
    (Eq. 172); ``signals``, each derivative of :data:`SIGNALS` stacked over the steps (K, B, d_s);
    ``dE_dv0``, ``dE_ds0``: the derivatives with respect to the initial value and state."""

    grads: dict[str, torch.Tensor]
    signals: dict[str, torch.Tensor]
    dE_dv0: torch.Tensor
    dE_ds0: torch.Tensor


def _check_sequence(p, x, dE_dv, v0, s0, need_dE: bool = True):
    check_tensor("x", x, ndim=3)
    K, B, m = x.shape
    _, d = check_paper_params(p, m)
    dtype = p["b_cu"].dtype
    if x.dtype != dtype:
        raise TypeError(f"x: expected dtype {dtype} (the parameters'), got {x.dtype}")
    if need_dE:
        if dE_dv is None:
            raise TypeError(f"dE_dv: expected a tensor of shape ({K}, {B}, {d}), the direct part of chi[n], got None")
        check_tensor("dE_dv", dE_dv, shape=(K, B, d), dtype=dtype)
    v0 = x.new_zeros(B, d) if v0 is None else check_tensor("v0", v0, shape=(B, d), dtype=dtype)
    s0 = x.new_zeros(B, d) if s0 is None else check_tensor("s0", s0, shape=(B, d), dtype=dtype)
    return K, v0, s0


def bptt(p: Mapping[str, torch.Tensor], x, dE_dv, *, v0=None, s0=None, printed: bool = False,
         clip: float | None = None) -> Gradients:
    """Backpropagation through time for the vanilla LSTM, as a plain loop (paper Eqs. 126-172).

    ``p``: the 15 parameters by name (``VanillaLSTM.paper_params()``); ``x``: (K, B, d_x), a batch of
    B segments of K steps; ``dE_dv``: (K, B, d_s), the direct part (dy[n]/dv[n])^T dE/dy[n] of chi[n]
    (paper Eq. 144; the output map y is left generic, as in the paper); ``v0``, ``s0``: v[-1], s[-1]
    (zero by default, erratum E12). ``printed`` and ``clip``: see :func:`backward_step`.
    """
    if clip is not None:
        clip = check_positive("clip", clip)
    K, v0, s0 = _check_sequence(p, x, dE_dv, v0, s0)
    steps = []
    v, s = v0, s0
    for n in range(K):  # forward, Eqs. 126-136
        v, s, st = lstm_step(x[n], v, s, p, record=True)
        steps.append(st)
    f_chi, f_psi = torch.zeros_like(v0), torch.zeros_like(s0)  # f_chi[K] = f_psi[K] = 0 (erratum E12)
    grads = {name: torch.zeros_like(p[name]) for name in PARAM_NAMES}
    signals = {name: [] for name in SIGNALS}
    for n in range(K - 1, -1, -1):  # backward, Eqs. 144-155
        bs = backward_step(steps[n], p, dE_dv[n], f_chi, f_psi, printed=printed, clip=clip)
        for name, g in step_gradients(steps[n], bs).items():
            grads[name] = grads[name] + g  # Eq. 172: the sum over the steps
        for name in SIGNALS:
            signals[name].append(getattr(bs, name))
        f_chi, f_psi = bs.f_chi, bs.f_psi
    signals = {name: torch.stack(seq[::-1]) for name, seq in signals.items()}
    return Gradients(grads, signals, f_chi, f_psi)  # f_chi[0] = dE/dv[-1], f_psi[0] = dE/ds[-1]


def autograd_bptt(p: Mapping[str, torch.Tensor], x, dE_dv, *, v0=None, s0=None) -> Gradients:
    """The quantities of :func:`bptt` from autograd, to check the equations against.

    The loss is E = sum_n dE_dv[n] . v[n], whose direct derivative with respect to v[n] is ``dE_dv[n]``;
    since the backward equations see the output only through that term (paper Eq. 144), every
    derivative equals the one of any loss with the same dE/dv. The signals are the gradients of the
    forward quantities themselves (``retain_grad``): chi = dE/dv, rho = dE/dr, gamma_cr = dE/dg_cr,
    alpha_.. = dE/da_.., psi = dE/ds, each a total derivative.
    """
    K, v0, s0 = _check_sequence(p, x, dE_dv, v0, s0)
    leaves = {name: p[name].detach().clone().requires_grad_() for name in PARAM_NAMES}
    v0 = v0.detach().clone().requires_grad_()
    s0 = s0.detach().clone().requires_grad_()
    with torch.enable_grad():
        v, s, steps = v0, s0, []
        for n in range(K):
            v, s, st = lstm_step(x[n], v, s, leaves, record=True)
            for t in (st.v, st.r, st.g_cr, st.a_cr, st.s, st.a_cs, st.a_cu, st.a_du):
                t.retain_grad()
            steps.append(st)
        E = sum((dE_dv[n] * steps[n].v).sum() for n in range(K))
        E.backward()
    where = {"chi": "v", "rho": "r", "gamma_cr": "g_cr", "alpha_cr": "a_cr", "psi": "s", "alpha_cs": "a_cs",
             "alpha_cu": "a_cu", "alpha_du": "a_du"}
    signals = {name: torch.stack([getattr(st, where[name]).grad for st in steps]) for name in SIGNALS}
    return Gradients({name: t.grad for name, t in leaves.items()}, signals, v0.grad, s0.grad)


# ---- error gradient sequences (Sec. VI-J) ---------------------------------------------------------


def _forward_steps(p, x, v0, s0) -> list[Step]:
    steps, v, s = [], v0, s0
    with torch.no_grad():
        for n in range(x.shape[0]):
            v, s, st = lstm_step(x[n], v, s, p, record=True)
            steps.append(st)
    return steps


def _stacked(steps: list[Step]) -> dict[str, torch.Tensor]:
    return {name: torch.stack([getattr(st, name) for st in steps]) for name in Step._fields}


def _diag(vec: torch.Tensor) -> torch.Tensor:
    return torch.diag_embed(vec)


JACOBIAN_FORMS = ("corrected", "eq177", "eq178")


def psi_jacobians(p: Mapping[str, torch.Tensor], x, *, v0=None, s0=None, form: str = "corrected") -> torch.Tensor:
    """d psi[k-1] / d psi[k] for k = 1 .. K-1, shape (K-1, B, d_s, d_s); entry k-1 is step k's.

    With Du = diag[u[k] G_c'(a_cu[k])], Ds = diag[s[k-1] G_c'(a_cs[k])], Dd = diag[g_cu[k] G_d'(a_du[k])],
    D1 = diag[g_cr[k-1] G_d'(s[k-1])], D2 = diag[r[k-1] G_c'(a_cr[k-1])]:

    * ``"corrected"`` (the chain rule, erratum E7): J = (D1 + W_scr^T D2)(W_vcu^T Du + W_vcs^T Ds +
      W_vdu^T Dd) + W_scu^T Du + W_scs^T Ds + diag[g_cs[k]], so that psi[k-1] = J psi[k] + (terms
      that do not depend on psi[k]);
    * ``"eq177"``: paper Eq. 177 as printed (no transposes);
    * ``"eq178"``: paper Eq. 178 as printed (the diagonal factors on the left).
    """
    check_choice("form", form, JACOBIAN_FORMS)
    K, v0, s0 = _check_sequence(p, x, None, v0, s0, need_dE=False)
    if K < 2:
        raise ValueError(f"x: expected at least 2 steps for a step Jacobian, got {K}")
    S = _stacked(_forward_steps(p, x, v0, s0))  # every forward quantity, (K, B, d_s)
    W = {k: p[k].detach() for k in PARAM_NAMES}
    now, before = {k: t[1:] for k, t in S.items()}, {k: t[:-1] for k, t in S.items()}  # step k, step k-1
    du = now["u"] * dG_c(now["a_cu"])  # the diagonals of Du, Ds, Dd, D1, D2, each (K-1, B, d_s)
    ds = now["s_prev"] * dG_c(now["a_cs"])
    dd = now["g_cu"] * dG_d(now["a_du"])
    d1 = before["g_cr"] * dG_d(before["s"])
    d2 = before["r"] * dG_c(before["a_cr"])
    G = _diag(now["g_cs"])

    def right(M, diag):  # M diag[diag], for a batch of diagonals
        return M * diag[..., None, :]

    def left(diag, M):  # diag[diag] M
        return diag[..., :, None] * M

    if form == "corrected":
        A = _diag(d1) + right(W["W_scr"].T, d2)
        return (A @ (right(W["W_vcu"].T, du) + right(W["W_vcs"].T, ds) + right(W["W_vdu"].T, dd))
                + right(W["W_scu"].T, du) + right(W["W_scs"].T, ds) + G)
    if form == "eq177":
        A = _diag(d1) + right(W["W_scr"], d2)
        return (A @ (right(W["W_vcu"], du) + right(W["W_vcs"], ds) + right(W["W_vdu"], dd))
                + right(W["W_scu"], du) + right(W["W_scs"], ds) + G)
    M = _diag(d1) + right(W["W_scr"], d2)
    return (left(du, W["W_vcu"] @ M + W["W_scu"]) + left(ds, W["W_vcs"] @ M + W["W_scs"])
            + left(dd, W["W_vdu"] @ M) + G)


def psi_jacobian_autograd(p: Mapping[str, torch.Tensor], x, k: int, *, v0=None, s0=None) -> torch.Tensor:
    """d psi[k-1] / d psi[k] from autograd, (B, d_s, d_s), for 1 <= k <= K-1.

    psi[k-1] depends on psi[k] through everything that s[k-1] does to s[k]: directly, and through the
    value v[k-1] = g_cr[k-1] G_d(s[k-1]) (the paper's f_chi[k] path). So the Jacobian is the transpose
    of the total derivative ds[k]/ds[k-1], with v[k-2] and the inputs held fixed; the path of v[k-1]
    into a_cr[k] does not pass through s[k] (the paper's alpha_cr[k], which does not depend on psi[k]).
    """
    K, v0, s0 = _check_sequence(p, x, None, v0, s0, need_dE=False)
    k = check_int("k", k, minimum=1)
    if k > K - 1:
        raise ValueError(f"k: expected 1 <= k <= K-1 = {K - 1}, got {k}")
    steps = _forward_steps(p, x, v0, s0)
    prev = steps[k - 1]  # step k-1: its inputs v[k-2] (prev.v_prev) and x[k-1] stay fixed
    W = {name: p[name].detach() for name in PARAM_NAMES}

    def s_next(s_km1):  # s[k] as a function of s[k-1], for one sequence b
        b = s_next.b
        a_cr = x[k - 1, b] @ W["W_xcr"].T + s_km1 @ W["W_scr"].T + prev.v_prev[b] @ W["W_vcr"].T + W["b_cr"]
        v_km1 = G_c(a_cr) * G_d(s_km1)  # Eqs. 128, 133, 135, 136 at step k-1
        _, s_k = lstm_step(x[k, b][None], v_km1[None], s_km1[None], W)
        return s_k[0]

    out = []
    for b in range(x.shape[1]):
        s_next.b = b
        out.append(torch.autograd.functional.jacobian(s_next, prev.s[b]).T)
    return torch.stack(out)


def jacobian_norms(p: Mapping[str, torch.Tensor], x, *, v0=None, s0=None) -> dict[str, torch.Tensor]:
    """Per step k = 1 .. K-1 and sequence, (K-1, B) each: the spectral norms of J = d psi[k-1]/d psi[k],
    of Q = J - diag[g_cs[k]] (paper Eq. 179) and of diag[g_cs[k]] (= max_i g_cs[k]_i), and the spectral
    radius of J. Paper Eq. 181 says norm(J) <= norm(Q) + norm(diag[g_cs])."""
    J = psi_jacobians(p, x, v0=v0, s0=s0)
    K, v0, s0 = _check_sequence(p, x, None, v0, s0, need_dE=False)
    g_cs = _stacked(_forward_steps(p, x, v0, s0))["g_cs"][1:]
    Q = J - _diag(g_cs)
    return {
        "J": torch.linalg.matrix_norm(J, ord=2),
        "Q": torch.linalg.matrix_norm(Q, ord=2),
        "g_cs": g_cs.amax(-1),
        "radius": torch.linalg.eigvals(J).abs().amax(-1),
    }


def jacobian_product_norms(p: Mapping[str, torch.Tensor], x, *, v0=None, s0=None) -> torch.Tensor:
    """The spectral norm of d psi[n] / d psi[l] = prod_{k=n+1}^{l} d psi[k-1]/d psi[k] (paper Eq. 180,
    the factor k = n+1 on the left) for l = K-1 and every lag l - n = 0 .. K-1: shape (K, B); entry 0
    is 1 (the identity)."""
    J = psi_jacobians(p, x, v0=v0, s0=s0)  # J[k-1] = d psi[k-1]/d psi[k]
    K1, B, d, _ = J.shape
    P = torch.eye(d, dtype=J.dtype).expand(B, d, d)
    products = [P]
    for k in range(K1, 0, -1):  # d psi[k-1]/d psi[l] = J(k) d psi[k]/d psi[l]
        P = J[k - 1] @ P
        products.append(P)
    return torch.linalg.matrix_norm(torch.stack(products), ord=2)


THETA_TILDE = ("W_scu", "W_vcu", "W_scs", "W_vcs", "W_scr", "W_vdu")  # paper Eq. 179: the parameters inside Q


def carousel(b_cs: float, theta_scale: float = 1.0, *, N: int = 100, d: int = 8, m: int = 2, B: int = 4,
             seed: int = 0) -> dict[str, torch.Tensor]:
    """How the error gradient survives as the control state gate saturates (paper Sec. VI-J, Example 2).

    A vanilla LSTM (``VanillaLSTM(m, d)`` seeded with ``seed``, full state weights) with the parameters
    of Theta-tilde (paper Eq. 179, the ones inside Q) multiplied by ``theta_scale`` and the control
    state bias b_cs set to ``b_cs`` in every element, on a standard normal input of N steps. Returns,
    as float64 tensors (mean over the B sequences): ``product`` (N,), the spectral norm of
    d psi[n]/d psi[N-1] against the lag N-1-n (paper Eq. 180); ``heuristic`` (N,), the paper's
    estimate prod_k ||diag[g_cs[k]]|| (paper Eq. 182); and the scalars ``Q`` (the mean spectral norm
    of Q, paper Eq. 179), ``g_cs`` (the mean gate value) and ``s_max`` (the largest |s[n]|, erratum E8).
    """
    b_cs = check_real("b_cs", b_cs)
    theta_scale = check_real("theta_scale", theta_scale)
    N, d, m, B = (check_int(k, v, minimum=2 if k == "N" else 1) for k, v in (("N", N), ("d", d), ("m", m), ("B", B)))
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VanillaLSTM(m, d, dtype=torch.float64)
        x = torch.randn(N, B, m, dtype=torch.float64)
    p = {k: t.detach().clone() for k, t in model.paper_params().items()}
    for k in THETA_TILDE:
        p[k] = theta_scale * p[k]
    p["b_cs"] = torch.full((d,), b_cs, dtype=torch.float64)
    S = _stacked(_forward_steps(p, x, x.new_zeros(B, d), x.new_zeros(B, d)))
    largest = S["g_cs"][1:].amax(-1)  # ||diag[g_cs[k]]||, k = 1 .. N-1
    heuristic = torch.cat((torch.ones(1, B, dtype=torch.float64), largest.flip(0).cumprod(0)))
    norms = jacobian_norms(p, x)
    return {"product": jacobian_product_norms(p, x).mean(1), "heuristic": heuristic.mean(1),
            "Q": norms["Q"].mean(), "g_cs": S["g_cs"].mean(), "s_max": S["s"].abs().max()}


FN29_FIRST = {"W_scu": 0.5, "W_vcu": 0.5, "W_scs": 0.5, "W_vcs": 0.5, "W_vdu": 1.0}


def norm_conditions(p: Mapping[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    """The first sufficient arrangement of paper fn 29 for norm(Q) < 1: name -> (spectral norm, bound)
    for W_scu, W_vcu, W_scs, W_vcs (< 1/2) and W_vdu (< 1). A rough heuristic (erratum E8)."""
    check_paper_params(p)
    return {k: (float(torch.linalg.matrix_norm(p[k].detach(), ord=2)), bound) for k, bound in FN29_FIRST.items()}


# ---- the paper's remedies for large derivatives (fns 20 and 25) -----------------------------------


def renormalized_sequence(model: VanillaLSTM, x, bound: float, state=None):
    """The layer's forward as a plain autograd loop in which every state derivative psi[n] = dE/ds[n] is
    renormalised to norm at most ``bound`` (per sequence) before it flows on to step n-1.

    This is the book's reading of paper fn 20 ("derivatives with respect to the state are renormalized
    into a predefined range"): a hook on each s[n] rescales the total gradient that reaches s[n],
    psi[n] <- psi[n] min(1, bound / ||psi[n]||). The gradient is then no longer exact (erratum E13).
    ``x`` is in the model's layout; returns ``(v, (v[N-1], s[N-1]))`` like the layer.
    """
    if not isinstance(model, VanillaLSTM):
        raise TypeError(f"model: expected a VanillaLSTM, got {type(model).__name__}")
    bound = check_positive("bound", bound)
    x = model._check_input(x)
    v, s = model._initial_state(x, state)
    p = model.paper_params()

    def renormalize(psi):
        return psi * (bound / psi.norm(dim=-1, keepdim=True).clamp_min(1e-300)).clamp(max=1.0)

    vs = []
    for n in range(x.shape[0]):
        v, s = lstm_step(x[n], v, s, p)
        if s.requires_grad:
            s.register_hook(renormalize)
        vs.append(v)
    out = torch.stack(vs)
    if model.batch_first:
        out = out.transpose(0, 1)
    return out, (v, s)


REMEDIES = (None, "clip_alpha", "renormalize_psi")


class ValueReadout(nn.Module):
    """A vanilla LSTM with a linear output map, y[n] = W_y v[n] + b_y, and optionally one of the paper's
    remedies for large derivatives.

    The output map is this book's choice (the paper leaves y generic, paper Eq. 144). ``remedy``:
    None; ``"clip_alpha"``: every accumulation derivative clipped to [-bound, bound] (paper fn 25, the
    layer's ``clip_alpha``); ``"renormalize_psi"``: every state derivative renormalised to norm at most
    ``bound`` (paper fn 20, the book's reading: :func:`renormalized_sequence`). Other keyword arguments
    go to :class:`VanillaLSTM`. Input and output are time-major: x (N, B, d_x) -> y (N, B, d_y).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, remedy: str | None = None,
                 bound: float = 1.0, **lstm_kwargs):
        super().__init__()
        self.remedy = check_choice("remedy", remedy, REMEDIES)
        self.bound = check_positive("bound", bound)
        output_size = check_int("output_size", output_size, minimum=1)
        clip = self.bound if remedy == "clip_alpha" else None
        self.lstm = VanillaLSTM(input_size, hidden_size, clip_alpha=clip, **lstm_kwargs)
        self.out = nn.Linear(hidden_size, output_size, dtype=self.lstm.b.dtype, device=self.lstm.b.device)

    def forward(self, x):
        if self.remedy == "renormalize_psi":
            v, _ = renormalized_sequence(self.lstm, x, self.bound)
        else:
            v, _ = self.lstm(x)
        return self.out(v)


REMEDY_RUNS = {
    "no remedy": (None, None),
    "fn 25: clip alpha": ("clip_alpha", None),
    "fn 20: renormalise psi": ("renormalize_psi", None),
    "global-norm clipping": (None, "global"),
}


def exploding_readout(remedy: str | None = None, *, bound: float = 1.0, hidden_size: int = 16, scale: float = 5.0,
                      b_cs: float = 4.0, seed: int = 0) -> ValueReadout:
    """A :class:`ValueReadout` (2 inputs, 1 output) whose gradients grow: its recurrent weights W_v.. and
    W_s.. are multiplied by ``scale`` and its control state bias is ``b_cs`` (the gate nearly open), so
    the step Jacobians of psi exceed 1 in norm. The setting of the chapter's comparison of remedies."""
    scale, b_cs = check_real("scale", scale), check_real("b_cs", b_cs)
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = ValueReadout(2, hidden_size, 1, remedy=remedy, bound=bound)
    with torch.no_grad():
        net.lstm.W_v.mul_(scale)
        net.lstm.W_s.mul_(scale)
    net.lstm.b_cs = torch.full((net.lstm.hidden_size,), b_cs)
    return net


def compare_remedies(task=None, *, steps: int = 150, lr: float = 0.5, bound: float = 1.0, progress=None,
                     **model_kwargs) -> dict:
    """Train :func:`exploding_readout` with plain SGD once per entry of :data:`REMEDY_RUNS`: no remedy,
    paper fn 25, paper fn 20 (the book's reading) and global-norm clipping at ``bound`` (the usual
    safeguard, not the paper's). ``task`` defaults to ``AddingProblem(40)``. Returns label -> the
    :class:`~lstm_lib.fit.History` (its ``grad_norm`` is the norm of the gradient the remedy produced,
    before any global clipping)."""
    task = AddingProblem(40) if task is None else task
    runs = {}
    for label, (remedy, clip) in REMEDY_RUNS.items():
        net = exploding_readout(remedy, bound=bound, **model_kwargs)
        runs[label] = fit(net, task, steps=steps, lr=lr, optimizer="sgd", clip=bound if clip else None,
                          progress=progress, desc=label)
    return runs


# ---- read-outs of the layer's backward pass ------------------------------------------------------


def gate_gradients(model, x, grad_v=None, state=None) -> dict[str, torch.Tensor]:
    """The accumulation derivatives of the layer's backward pass for one batch, split by accumulation.

    Runs ``model`` (a :class:`~lstm_lib.lstm.VanillaLSTM` or :class:`~lstm_lib.lstm.AugmentedLSTM`) on
    ``x`` (in the model's layout) with the loss's derivative ``grad_v`` = dE/dv[n] (time-major (N, B,
    d_v); default: dE/dv[N-1] = 1 and zero elsewhere, the loss at the last step only) and returns
    ``alpha_cr, alpha_cs, alpha_cu, alpha_du`` (and ``alpha_cx`` with the input gate), each (N, B, d),
    and ``psi`` = dE/ds[n] (N, B, d), time-major.
    """
    x = model._check_input(x)
    lay = model.layout
    with torch.no_grad():
        v0, s0 = model._initial_state(x, state)
        W = model._weights()
        A = input_terms(x, W.W_x, lay.context)
        v, _, rec = reference_forward(A, W, v0, s0, lay, record=True)
        if grad_v is None:
            grad_v = torch.zeros_like(v)
            grad_v[-1] = 1.0
        check_tensor("grad_v", grad_v, shape=tuple(v.shape), dtype=v.dtype)
        psi = torch.empty_like(rec.S)
        sig = reference_backward(A, W, v0, s0, rec, grad_v, torch.zeros_like(s0), lay, psi_out=psi)
    d = lay.hidden_size
    out = {f"alpha_{g}": sig.alpha[:, :, k * d : (k + 1) * d] for k, g in enumerate(lay.gates)}
    out["psi"] = psi
    return out


def signal_norms(model, x, state=None) -> dict[str, torch.Tensor]:
    """||psi[n]|| and ||alpha_..[n]|| against n (mean over the batch) for a loss at the last step only:
    how far back each derivative of the backward pass reaches. Float64 tensors of length N."""
    sig = gate_gradients(model, x, state=state)
    return {k: t.norm(dim=2).mean(dim=1).double() for k, t in sig.items()}

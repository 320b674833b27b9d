"""Training the augmented LSTM (chapter "Training the augmented LSTM"): the backward pass, one step at a time.

The paper's Section VII-E derives the backward pass of the augmented LSTM (paper Eqs. 216-250) with
the same border derivatives chi = dE/dv and psi = dE/ds as the vanilla cell (Eqs. 139-143), one new
intermediate derivative beta = dE/dq (Eq. 216), the input gate's gamma_cx and alpha_cx (Eqs.
226-227), and per-tap parameter gradients (Eqs. 230-249).

* :func:`augmented_backward_step`: Eqs. 217-229 for one step, one line per equation (erratum E6
  corrected: W_scr^T; erratum E9: the factor of Eq. 226 is da_du/dg_cx).
* :func:`step_gradients`: dE/dTheta[n], Eqs. 230-249 (erratum E11 corrected: Eq. 246 with g_cx).
* :func:`input_gradient_step`: what step n contributes to dE/dx[n+l] (the paper gives no gradient
  with respect to the input; the book's derivation, for stacked layers).
* :func:`augmented_bptt`: all of the above over a sequence (Eqs. 172, 250: summed over the steps and
  the batch), the readable twin of the layer's compiled backward.
* :func:`autograd_signals`: the same total derivatives, and the parameter gradients, from autograd,
  for the checks.

``printed`` reproduces an equation as the paper prints it, to measure the errata: ``"E6"`` (Eq. 222
with W_scr instead of W_scr^T), ``"E9"`` (Eq. 226's factor du/dg_cx taken literally), ``"E11"`` (Eq.
246 without g_cx). ``clip`` clips every accumulation derivative to [-clip, clip] where it is formed
(paper fn 25); the paper lists alpha_cu, alpha_cs, alpha_cr, alpha_du, and extending it to alpha_cx
(``clip_cx=True``, as the layer does) is the book's reading.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

import torch

from ._checks import check_bool, check_real, check_tensor
from .augmented_lstm import ENTITIES, augmented_sequence
from .vanilla_lstm import G_c, G_d

__all__ = ["PRINTED", "dG_c", "dG_d", "augmented_backward_step", "step_gradients", "input_gradient_step",
           "augmented_bptt", "autograd_signals", "BPTT", "entity_names"]

PRINTED = ("E6", "E9", "E11")  # the equations that can be taken as printed (see the module docstring)


def dG_c(z: torch.Tensor) -> torch.Tensor:
    """dG_c(z)/dz = G_c(z) (1 - G_c(z)) (paper Eq. 137)."""
    return G_c(z) * (1 - G_c(z))


def dG_d(z: torch.Tensor) -> torch.Tensor:
    """dG_d(z)/dz = 1 - G_d(z)^2 (paper Eq. 138)."""
    return 1 - G_d(z) ** 2


def _check_printed(printed) -> frozenset:
    if isinstance(printed, str) or not isinstance(printed, Collection):
        raise TypeError(f"printed: expected a collection of erratum names from {PRINTED}, got {printed!r}")
    bad = [e for e in printed if e not in PRINTED]
    if bad:
        raise ValueError(f"printed: expected erratum names from {PRINTED}, got {bad}")
    return frozenset(printed)


def _clipper(clip):
    if clip is None:
        return lambda a: a
    c = check_real("clip", clip)
    if c <= 0:
        raise ValueError(f"clip: expected None or a number > 0, got {clip!r}")
    return lambda a: a.clamp(-c, c)


def _check_back(sig, dE_dv, f_chi, f_psi, p):
    for name, m in (("sig", sig), ("p", p)):
        if not isinstance(m, Mapping):
            raise TypeError(f"{name}: expected a mapping by the paper's names, got {type(m).__name__}")
    missing = [k for k in ("g_cr", "r", "a_cr", "s", "s_prev", "u", "g_cu", "a_cs", "a_cu", "a_du", "g_cs", "v")
               if k not in sig]
    if missing:
        raise ValueError(f"sig: missing {', '.join(missing)} (use augmented_step(..., signals=True))")
    v, s = sig["v"], sig["s"]
    check_tensor("dE_dv", dE_dv, shape=tuple(v.shape), dtype=v.dtype)
    check_tensor("f_chi", f_chi, shape=tuple(v.shape), dtype=v.dtype)
    check_tensor("f_psi", f_psi, shape=tuple(s.shape), dtype=s.dtype)


def augmented_backward_step(sig: Mapping[str, torch.Tensor], dE_dv, f_chi, f_psi, p: Mapping[str, torch.Tensor],
                            *, clip: float | None = None, clip_cx: bool = True, printed: Collection[str] = ()):
    """One step n of the augmented LSTM's backward pass, paper Eqs. 217-229, one line per equation.

    ``sig``: the step's forward signals (``augmented_step(..., signals=True)``); ``dE_dv`` (B, d_v): the
    part of dE/dv[n] from outside the cell, (dy[n]/dv[n])^T dE/dy[n]; ``f_chi`` (B, d_v) and ``f_psi``
    (B, d_s): f_chi[n+1] and f_psi[n+1] from step n+1 (zero at n = N-1: nothing comes back from step N,
    erratum E12; f_psi[N] may carry dE/ds[N-1] from outside); ``p``: the parameters by name. Vectors are
    rows, so W^T a is written ``a @ W``.

    Returns a dict: chi, beta, rho, gamma_cr, alpha_cr, psi, alpha_cs, alpha_cu, alpha_du (and gamma_cx,
    alpha_cx with the input gate), and ``f_chi``, ``f_psi``: f_chi[n], f_psi[n] of Eqs. 228-229, handed
    to step n-1 (at n = 0 they are dE/dv[-1] and dE/ds[-1]).
    """
    _check_back(sig, dE_dv, f_chi, f_psi, p)
    printed = _check_printed(printed)
    c = _clipper(clip)
    c_cx = c if check_bool("clip_cx", clip_cx) else (lambda a: a)
    gate = "W_xcx" in p
    W_qdr = p["W_qdr"] if "W_qdr" in p else None
    chi = dE_dv + f_chi  # Eq. 217
    beta = chi @ W_qdr if W_qdr is not None else chi  # Eq. 218: W_qdr^T chi
    rho = beta * sig["g_cr"]  # Eq. 219
    gamma_cr = beta * sig["r"]  # Eq. 220
    alpha_cr = c(gamma_cr * dG_c(sig["a_cr"]))  # Eq. 221
    W_scr_alpha = alpha_cr @ p["W_scr"].T if "E6" in printed else alpha_cr @ p["W_scr"]  # W_scr^T alpha_cr (E6)
    psi = rho * dG_d(sig["s"]) + W_scr_alpha + f_psi  # Eq. 222
    alpha_cs = c(psi * sig["s_prev"] * dG_c(sig["a_cs"]))  # Eq. 223
    alpha_cu = c(psi * sig["u"] * dG_c(sig["a_cu"]))  # Eq. 224
    alpha_du = c(psi * sig["g_cu"] * dG_d(sig["a_du"]))  # Eq. 225
    if gate:
        da_du_dg_cx = dG_d(sig["a_du"]) * sig["xi_xdu"] if "E9" in printed else sig["xi_xdu"]  # erratum E9
        gamma_cx = alpha_du * da_du_dg_cx  # Eq. 226: alpha_du (.) xi_xdu
        alpha_cx = c_cx(gamma_cx * dG_c(sig["a_cx"]))  # Eq. 227
        chi_cx, psi_cx = alpha_cx @ p["W_vcx"], alpha_cx @ p["W_scx"]  # the gate's new terms in Eqs. 228-229
    else:
        chi_cx = psi_cx = 0.0
    f_chi_n = (alpha_cu @ p["W_vcu"] + alpha_cs @ p["W_vcs"] + alpha_cr @ p["W_vcr"] + chi_cx
               + alpha_du @ p["W_vdu"])  # Eq. 228 at index n: f_chi[n], for step n-1
    f_psi_n = alpha_cu @ p["W_scu"] + alpha_cs @ p["W_scs"] + psi_cx + sig["g_cs"] * psi  # Eq. 229: f_psi[n]
    out = {"chi": chi, "beta": beta, "rho": rho, "gamma_cr": gamma_cr, "alpha_cr": alpha_cr, "psi": psi,
           "alpha_cs": alpha_cs, "alpha_cu": alpha_cu, "alpha_du": alpha_du, "f_chi": f_chi_n, "f_psi": f_psi_n}
    if gate:
        out.update(gamma_cx=gamma_cx, alpha_cx=alpha_cx)
    return out


def step_gradients(sig: Mapping[str, torch.Tensor], back: Mapping[str, torch.Tensor], *,
                   printed: Collection[str] = ()) -> dict[str, torch.Tensor]:
    """dE/dTheta[n], the parameter gradients of step n (paper Eqs. 230-249), summed over the batch.

    ``sig``: the forward signals of the step, ``back``: its backward signals
    (:func:`augmented_backward_step`). Tap l of every input filter gets alpha[n] x^T[n+l], the step's
    accumulation derivative times the sample that tap read (``sig["x_window"][l]``); summed over n this
    is a correlation of the alpha sequence with the input. Returns the paper's entities by name (W_x..
    as (L, d_s, d_x)), W_qdr included (its gradient, Eq. 249, is meaningful only with a projection).
    """
    printed = _check_printed(printed)
    X, s_prev, v_prev, s = sig["x_window"], sig["s_prev"], sig["v_prev"], sig["s"]

    def taps(alpha):  # alpha[n] x^T[n+l] for l = 0 .. L-1, summed over the batch
        return torch.einsum("bi,lbj->lij", alpha, X)

    a_cu, a_cs, a_cr, a_du, chi = back["alpha_cu"], back["alpha_cs"], back["alpha_cr"], back["alpha_du"], back["chi"]
    g = {}
    g["W_xcu"] = taps(a_cu)  # Eq. 230: alpha_cu[n] x^T[n+l]
    g["W_scu"] = a_cu.T @ s_prev  # Eq. 231: alpha_cu[n] s^T[n-1]
    g["W_vcu"] = a_cu.T @ v_prev  # Eq. 232: alpha_cu[n] v^T[n-1]
    g["b_cu"] = a_cu.sum(0)  # Eq. 233
    g["W_xcs"] = taps(a_cs)  # Eq. 234
    g["W_scs"] = a_cs.T @ s_prev  # Eq. 235
    g["W_vcs"] = a_cs.T @ v_prev  # Eq. 236
    g["b_cs"] = a_cs.sum(0)  # Eq. 237
    g["W_xcr"] = taps(a_cr)  # Eq. 238
    g["W_scr"] = a_cr.T @ s  # Eq. 239: alpha_cr[n] s^T[n], the NEW state
    g["W_vcr"] = a_cr.T @ v_prev  # Eq. 240
    g["b_cr"] = a_cr.sum(0)  # Eq. 241
    if "alpha_cx" in back:
        a_cx, g_cx = back["alpha_cx"], sig["g_cx"]
        g["W_xcx"] = taps(a_cx)  # Eq. 242
        g["W_scx"] = a_cx.T @ s_prev  # Eq. 243
        g["W_vcx"] = a_cx.T @ v_prev  # Eq. 244
        g["b_cx"] = a_cx.sum(0)  # Eq. 245
        g["W_xdu"] = taps(a_du) if "E11" in printed else taps(g_cx * a_du)  # Eq. 246 with g_cx (erratum E11)
    else:
        g["W_xdu"] = taps(a_du)  # Eq. 246 (no input gate: g_cx = 1)
    g["W_vdu"] = a_du.T @ v_prev  # Eq. 247
    g["b_du"] = a_du.sum(0)  # Eq. 248
    g["W_qdr"] = chi.T @ sig["q"]  # Eq. 249: chi[n] q^T[n]
    return g


def input_gradient_step(sig: Mapping[str, torch.Tensor], back: Mapping[str, torch.Tensor],
                        p: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """What step n contributes to dE/dx[n+l], for l = 0 .. L-1: (L, B, d_x). The book's derivation.

    x[n+l] enters step n only through tap l of the five composite inputs xi_..[n], so its contribution
    is sum over the accumulations of W_x..[l]^T alpha_..[n], with g_cx[n] (.) alpha_du[n] for the data
    update (xi_xdu is gated; the same factor as in erratum E11). Summed over the steps n = k - l that
    read x[k], this is dE/dx[k] (the paper gives no gradient with respect to x; a stacked network needs
    it).
    """
    def W(name):
        w = p[name]
        return w if w.dim() == 3 else w.unsqueeze(0)

    dE_dxi = {"cu": back["alpha_cu"], "cs": back["alpha_cs"], "cr": back["alpha_cr"], "du": back["alpha_du"]}
    if "alpha_cx" in back:
        dE_dxi["cx"] = back["alpha_cx"]
        dE_dxi["du"] = sig["g_cx"] * back["alpha_du"]
    return sum(torch.einsum("bi,lij->lbj", a, W(f"W_x{g}")) for g, a in dE_dxi.items())


class BPTT(NamedTuple):
    """What :func:`augmented_bptt` returns: ``grads`` (the 20 entities of Eq. 215 by name, or as many
    as the cell has, plus ``"x"``, ``"v0"``, ``"s0"``) and ``signals`` (each backward signal stacked
    over the steps, (N, B, .))."""

    grads: dict[str, torch.Tensor]
    signals: dict[str, torch.Tensor]


def augmented_bptt(x, p: Mapping[str, torch.Tensor], dE_dv, dE_ds=None, state=None, *, clip: float | None = None,
                   clip_cx: bool = True, printed: Collection[str] = ()) -> BPTT:
    """Backpropagation through time for the augmented LSTM, written from the paper's equations.

    Forward by :func:`~lstm_lib.augmented_lstm.augmented_sequence` (Eqs. 196-214), then for n = N-1
    down to 0 :func:`augmented_backward_step` (Eqs. 217-229), :func:`step_gradients` (Eqs. 230-249)
    and :func:`input_gradient_step`; the parameter gradients are summed over the steps and the batch
    (Eqs. 250 and 172). ``x`` (N, B, d_x); ``dE_dv`` (N, B, d_v): dE/dv[n] from outside the cell;
    ``dE_ds`` (B, d_s): dE/ds[N-1] from outside (default zero); ``state`` = (v[-1], s[-1]) (default
    zero). The loss is thereby E = sum_n dE_dv[n] . v[n] + dE_ds . s[N-1] to first order.
    """
    check_tensor("x", x, ndim=3)
    with torch.no_grad():
        sigs = augmented_sequence(x, p, state, signals=True)
    N, B = x.shape[0], x.shape[1]
    d_v, d_s = sigs[0]["v"].shape[1], sigs[0]["s"].shape[1]
    check_tensor("dE_dv", dE_dv, shape=(N, B, d_v), dtype=x.dtype)
    f_chi = x.new_zeros(B, d_v)  # f_chi[N] = 0 (erratum E12)
    f_psi = x.new_zeros(B, d_s) if dE_ds is None else check_tensor("dE_ds", dE_ds, shape=(B, d_s)).clone()
    grads: dict[str, torch.Tensor] = {}
    dx = torch.zeros_like(x)
    backs = []
    for n in range(N - 1, -1, -1):
        back = augmented_backward_step(sigs[n], dE_dv[n], f_chi, f_psi, p, clip=clip, clip_cx=clip_cx,
                                       printed=printed)
        for name, g in step_gradients(sigs[n], back, printed=printed).items():
            grads[name] = grads[name] + g if name in grads else g  # Eq. 172: summed over n
        contrib = input_gradient_step(sigs[n], back, p)
        k = min(contrib.shape[0], N - n)  # samples past the end are padding, constant zeros
        dx[n : n + k] += contrib[:k]
        f_chi, f_psi = back["f_chi"], back["f_psi"]
        backs.append(back)
    backs.reverse()
    grads.update(x=dx, v0=f_chi, s0=f_psi)  # dE/dv[-1] = f_chi[0], dE/ds[-1] = f_psi[0]
    keys = [k for k in backs[0] if k not in ("f_chi", "f_psi")]
    return BPTT(grads, {k: torch.stack([b[k] for b in backs]) for k in keys})


_SIGNAL_OF = {"chi": "v", "beta": "q", "rho": "r", "psi": "s", "gamma_cr": "g_cr", "gamma_cx": "g_cx",
              "alpha_cr": "a_cr", "alpha_cs": "a_cs", "alpha_cu": "a_cu", "alpha_du": "a_du", "alpha_cx": "a_cx",
              "xi_xdu_grad": "xi_xdu"}


def autograd_signals(x, p: Mapping[str, torch.Tensor], dE_dv, dE_ds=None, state=None) -> BPTT:
    """The total derivatives of the backward pass and the parameter gradients, from autograd.

    Runs :func:`~lstm_lib.augmented_lstm.augmented_sequence` on copies of ``x``, ``p`` and ``state``,
    keeps the gradient of every intermediate quantity (``retain_grad``: the TOTAL derivative of E with
    respect to it, every path counted), and differentiates E = sum_n dE_dv[n] . v[n] + dE_ds . s[N-1].
    Returns :class:`BPTT` with the same keys as :func:`augmented_bptt`: ``signals`` chi = dE/dv, beta =
    dE/dq, rho = dE/dr, psi = dE/ds, gamma_cr = dE/dg_cr, gamma_cx = dE/dg_cx, alpha_.. = dE/da_..
    (and xi_xdu_grad = dE/dxi_xdu), each (N, B, .); ``grads`` every parameter of ``p``, x, v0, s0.
    """
    check_tensor("x", x, ndim=3)
    leaf = {k: t.detach().clone().requires_grad_() for k, t in p.items()}
    xl = x.detach().clone().requires_grad_()
    N, B = x.shape[0], x.shape[1]
    if state is None:
        state = (x.new_zeros(B, p["W_vcu"].shape[1]), x.new_zeros(B, p["W_xcu"].shape[-2]))
    v0, s0 = (t.detach().clone().requires_grad_() for t in state)
    with torch.enable_grad():
        sigs = augmented_sequence(xl, leaf, (v0, s0), signals=True)
        for sig in sigs:
            for name in set(_SIGNAL_OF.values()) & set(sig):
                sig[name].retain_grad()
        E = sum((dE_dv[n] * sigs[n]["v"]).sum() for n in range(N))
        if dE_ds is not None:
            E = E + (dE_ds * sigs[-1]["s"]).sum()
        E.backward()
    signals = {k: torch.stack([sig[name].grad for sig in sigs]) for k, name in _SIGNAL_OF.items() if name in sigs[0]}
    grads = {k: t.grad if t.grad is not None else torch.zeros_like(t) for k, t in leaf.items()}
    grads.update(x=xl.grad, v0=v0.grad, s0=s0.grad)
    return BPTT(grads, signals)


def entity_names(p: Mapping[str, torch.Tensor]) -> list[str]:
    """The entities of Eq. 215 present in ``p``, in the paper's order."""
    return [k for k in ENTITIES if k in p]

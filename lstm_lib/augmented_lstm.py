"""The augmented LSTM (chapter "The augmented LSTM"): the cell one step at a time, and what it costs.

The paper's Section VII extends the vanilla LSTM three ways: context windows on the input (VII-A,
paper Eqs. 183-188), a recurrent projection (VII-B, Eqs. 189-190) and an external input gate (VII-C,
Eqs. 191-195); together they make the augmented LSTM of Eqs. 196-214 with the 20 parameter entities
of Eq. 215.

* :func:`context_window`: the samples a window reads at step n, x[n], x[n+1], ..., x[n+L-1] (Eq.
  188), zero past the end of the sequence (the book's reading; the paper does not say, erratum E10).
* :func:`context_filter`: one composite external input xi[n] = sum_l W_x[l] x[n+l] (Eq. 188).
* :func:`augmented_step`: one step of the cell, one line per equation (Eqs. 196-214), from the
  parameters by the paper's names (:meth:`~lstm_lib.lstm.AugmentedLSTM.paper_params`).
* :func:`augmented_sequence`: :func:`augmented_step` over a whole sequence, the readable twin of the
  fast layer :class:`~lstm_lib.lstm.AugmentedLSTM`.
* :func:`parameter_count`, :func:`context_versus_bidirectional`: the sizes of Eq. 215, and the cost of
  context windows against a bidirectional vanilla LSTM (the comparison the paper poses in VII-A).
* :func:`response_to_change`: how the output changes, step by step, when one input sample changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ._checks import check_choice, check_int, check_real, check_tensor
from ._gates import STATE_WEIGHTS, Layout
from .lstm import AugmentedLSTM
from .vanilla_lstm import G_c, G_d

__all__ = [
    "AugmentedLSTM", "G_c", "G_d", "ENTITIES", "context_window", "context_filter", "augmented_step",
    "augmented_sequence", "parameter_count", "context_versus_bidirectional", "response_to_change",
]

# The 20 parameter entities of paper Eq. 215, in the paper's order (each W_x..[l] stands for L taps).
ENTITIES = (
    "W_xcu", "W_scu", "W_vcu", "b_cu",
    "W_xcs", "W_scs", "W_vcs", "b_cs",
    "W_xcr", "W_scr", "W_vcr", "b_cr",
    "W_xcx", "W_scx", "W_vcx", "b_cx",
    "W_xdu", "W_vdu", "b_du",
    "W_qdr",
)
_REQUIRED = tuple(k for k in ENTITIES if not k.endswith("cx") and k != "W_qdr")


def context_window(x: torch.Tensor, n: int, L: int) -> torch.Tensor:
    """The samples that a context window of ``L`` taps reads at step ``n``: x[n], x[n+1], ..., x[n+L-1].

    ``x``: (N, B, d_x), time-major. Returns (L, B, d_x); row l is x[n+l] (paper Eq. 188: the present
    sample and L-1 future ones, no past ones). Past the end of the sequence (n+l > N-1) the row is
    zero: the book's reading of the segment convention (paper Eq. 76); the paper does not say (E10).
    """
    check_tensor("x", x, ndim=3)
    N = x.shape[0]
    n = check_int("n", n, minimum=0, maximum=N - 1)
    L = check_int("L", L, minimum=1)
    window = x[n : n + L]
    if window.shape[0] < L:
        window = torch.cat((window, x.new_zeros(L - window.shape[0], *x.shape[1:])))
    return window


def context_filter(W_x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """The composite external input xi[n] = W_x[n] * x[n] = sum_{l=0}^{L-1} W_x[l] x[n+l] (paper Eq. 188).

    ``W_x``: the L taps, (L, d_s, d_x) (a single (d_s, d_x) matrix means L = 1); ``window``: (L, B, d_x)
    from :func:`context_window`. Returns (B, d_s). After the paper's re-indexing this is a
    cross-correlation: tap l multiplies the sample l steps AHEAD (erratum E10).
    """
    W = W_x if W_x.dim() == 3 else W_x.unsqueeze(0)
    if W.shape[0] != window.shape[0] or W.shape[2] != window.shape[2]:
        raise ValueError(f"window: expected shape ({W.shape[0]}, B, {W.shape[2]}) to match the taps W_x "
                         f"{tuple(W.shape)}, got {tuple(window.shape)}")
    return torch.einsum("lij,lbj->bi", W, window)


def _check_step(x_window, v_prev, s_prev, p):
    if not isinstance(p, Mapping):
        raise TypeError(f"p: expected a mapping of the paper's parameter names to tensors "
                        f"(AugmentedLSTM.paper_params()), got {type(p).__name__}")
    missing = [k for k in _REQUIRED if k not in p]
    if missing:
        raise ValueError(f"p: missing the parameters {', '.join(missing)} (use AugmentedLSTM.paper_params())")
    gate = [k in p for k in ("W_xcx", "W_scx", "W_vcx", "b_cx")]
    if any(gate) and not all(gate):
        raise ValueError("p: the input gate needs all of W_xcx, W_scx, W_vcx, b_cx, or none of them")
    W = p["W_xcu"]
    d_s, d_x = W.shape[-2], W.shape[-1]
    L = W.shape[0] if W.dim() == 3 else 1
    d_v = p["W_vcu"].shape[1]
    check_tensor("x_window", x_window, shape=(L, None, d_x), dtype=W.dtype)
    B = x_window.shape[1]
    check_tensor("v_prev", v_prev, shape=(B, d_v), dtype=W.dtype)
    check_tensor("s_prev", s_prev, shape=(B, d_s), dtype=W.dtype)


def augmented_step(x_window, v_prev, s_prev, p: Mapping[str, torch.Tensor], *, signals: bool = False):
    """One step of the augmented LSTM, paper Eqs. 196-214, one line per equation.

    ``x_window``: (L, B, d_x), the samples x[n], ..., x[n+L-1] (:func:`context_window`); ``v_prev``
    (B, d_v) and ``s_prev`` (B, d_s): the value v[n-1] and the state s[n-1]; ``p``: the parameters by
    the paper's names (:meth:`AugmentedLSTM.paper_params`: W_x.. (L, d_s, d_x), W_s.. always (d_s, d_s)
    matrices, W_v.. (d_s, d_v), b_.. (d_s,), W_qdr (d_v, d_s)). Without ``W_xcx`` etc. in ``p`` there is
    no input gate: g_cx = 1, the paper's own step from Eq. 106 to Eq. 105. Without ``W_qdr``, v = q.
    Vectors are rows here, so W v is written ``v @ W.T``.

    Returns ``(v[n], s[n])``; with ``signals=True`` a dict of every quantity of the step, by the
    paper's names (xi_.., a_.., g_.., u, s, r, q, v, and the inputs x_window, v_prev, s_prev).
    """
    _check_step(x_window, v_prev, s_prev, p)
    gate = "W_xcx" in p
    # The paper's order, except that Eqs. 202-204 must wait for s[n] (Eq. 211): a_cr reads the NEW state.
    xi_xcu = context_filter(p["W_xcu"], x_window)  # Eq. 196
    a_cu = xi_xcu + s_prev @ p["W_scu"].T + v_prev @ p["W_vcu"].T + p["b_cu"]  # Eq. 197
    g_cu = G_c(a_cu)  # Eq. 198
    xi_xcs = context_filter(p["W_xcs"], x_window)  # Eq. 199
    a_cs = xi_xcs + s_prev @ p["W_scs"].T + v_prev @ p["W_vcs"].T + p["b_cs"]  # Eq. 200
    g_cs = G_c(a_cs)  # Eq. 201
    if gate:
        xi_xcx = context_filter(p["W_xcx"], x_window)  # Eq. 205
        a_cx = xi_xcx + s_prev @ p["W_scx"].T + v_prev @ p["W_vcx"].T + p["b_cx"]  # Eq. 206
        g_cx = G_c(a_cx)  # Eq. 207
    else:
        xi_xcx = a_cx = None
        g_cx = 1.0  # no input gate: the input enters in full (Eq. 106 with g_cx = 1, i.e. Eq. 105)
    xi_xdu = context_filter(p["W_xdu"], x_window)  # Eq. 208
    a_du = g_cx * xi_xdu + v_prev @ p["W_vdu"].T + p["b_du"]  # Eq. 209: g_cx gates xi_xdu only
    u = G_d(a_du)  # Eq. 210
    s = g_cs * s_prev + g_cu * u  # Eq. 211
    xi_xcr = context_filter(p["W_xcr"], x_window)  # Eq. 202
    a_cr = xi_xcr + s @ p["W_scr"].T + v_prev @ p["W_vcr"].T + p["b_cr"]  # Eq. 203 (the new state s[n])
    g_cr = G_c(a_cr)  # Eq. 204
    r = G_d(s)  # Eq. 212
    q = g_cr * r  # Eq. 213
    v = q @ p["W_qdr"].T if "W_qdr" in p else q  # Eq. 214
    if not signals:
        return v, s
    out = {"xi_xcu": xi_xcu, "a_cu": a_cu, "g_cu": g_cu, "xi_xcs": xi_xcs, "a_cs": a_cs, "g_cs": g_cs,
           "xi_xcr": xi_xcr, "a_cr": a_cr, "g_cr": g_cr, "xi_xdu": xi_xdu, "a_du": a_du, "u": u,
           "s": s, "r": r, "q": q, "v": v, "x_window": x_window, "v_prev": v_prev, "s_prev": s_prev}
    if gate:
        out.update(xi_xcx=xi_xcx, a_cx=a_cx, g_cx=g_cx)
    return out


def augmented_sequence(x, p: Mapping[str, torch.Tensor], state=None, *, signals: bool = False):
    """:func:`augmented_step` for n = 0, ..., N-1: the readable twin of :class:`AugmentedLSTM`.

    ``x``: (N, B, d_x), time-major; ``p`` as for :func:`augmented_step` (the number of taps L is read
    from ``p["W_xcu"]``); ``state``: (v[-1], s[-1]), zeros by default (the paper's zero initial state,
    Eq. 73; erratum E12). Returns ``(v, (v[N-1], s[N-1]))`` like the layer, v (N, B, d_v); with
    ``signals=True``, the list of every step's signals instead.
    """
    check_tensor("x", x, ndim=3)
    if not isinstance(p, Mapping) or "W_xcu" not in p or "W_vcu" not in p:
        raise TypeError("p: expected the paper's parameters by name (AugmentedLSTM.paper_params())")
    W = p["W_xcu"]
    L = W.shape[0] if W.dim() == 3 else 1
    N, B = x.shape[0], x.shape[1]
    if state is None:
        v, s = x.new_zeros(B, p["W_vcu"].shape[1]), x.new_zeros(B, W.shape[-2])
    else:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"state: expected a pair (v0, s0), got {type(state).__name__}")
        v, s = state
    vs, sigs = [], []
    for n in range(N):
        out = augmented_step(context_window(x, n, L), v, s, p, signals=signals)
        if signals:
            sigs.append(out)
            v, s = out["v"], out["s"]
        else:
            v, s = out
        vs.append(v)
    if signals:
        return sigs
    return torch.stack(vs), (v, s)


# ---- sizes: paper Eq. 215 -----------------------------------------------------------------------------


def parameter_count(input_size: int, hidden_size: int, *, proj_size: int = 0, context: int = 1,
                    input_gate: bool = False, state_weights: str | None = "full") -> dict[str, int]:
    """The number of scalars in each of the paper's parameter entities (Eq. 215), and ``"total"``.

    W_x..: L d_s d_x (L taps of d_s x d_x); W_s..: d_s^2 ("full"), d_s ("diagonal") or 0 (None); W_v..:
    d_s d_v; b_..: d_s; W_qdr: d_v d_s (0 without projection). The cx entities are 0 without the input
    gate. d_v = ``proj_size`` or, without projection, d_s. The total equals the number of parameters of
    ``AugmentedLSTM(input_size, hidden_size, ...)`` with the same switches.
    """
    d_x = check_int("input_size", input_size, minimum=1)
    d_s = check_int("hidden_size", hidden_size, minimum=1)
    p = check_int("proj_size", proj_size, minimum=0, maximum=d_s - 1)
    L = check_int("context", context, minimum=1)
    if not isinstance(input_gate, bool):
        raise TypeError(f"input_gate: expected True or False, got {input_gate!r}")
    sw = check_choice("state_weights", state_weights, STATE_WEIGHTS)
    d_v = p or d_s
    state = {"full": d_s * d_s, "diagonal": d_s, None: 0}[sw]
    counts = {}
    for name in ENTITIES:
        if name.endswith("cx") and not input_gate:
            counts[name] = 0
        elif name.startswith("W_x"):
            counts[name] = L * d_s * d_x
        elif name.startswith("W_s"):
            counts[name] = state
        elif name.startswith("W_v"):
            counts[name] = d_s * d_v
        elif name.startswith("b_"):
            counts[name] = d_s
        else:  # W_qdr
            counts[name] = d_v * d_s if p else 0
    counts["total"] = sum(counts.values())
    return counts


def context_versus_bidirectional(input_size: int, hidden_size: int, contexts: Sequence[int] = (1, 2, 3, 4, 6, 8),
                                 *, state_weights: str | None = "full") -> list[dict]:
    """Parameters and multiply-adds of context windows against a bidirectional vanilla LSTM (paper VII-A).

    For each L in ``contexts``: the augmented LSTM with L taps (no gate, no projection) against a
    bidirectional vanilla LSTM of the same d_s (two vanilla layers, one per direction, each with its own
    parameters). Returns one dict per L: ``L``, ``augmented`` (parameters), ``extra`` (over one vanilla
    layer: 4 (L-1) d_s d_x), ``bidirectional`` (parameters), ``ratio`` (augmented / bidirectional),
    ``flops`` and ``flops_bidirectional`` (2 x multiply-adds of the matrix products of one step, one
    sequence), ``lookahead`` (future samples each output sees: L-1, against all of them), and ``outputs``
    (the size of the output per step: d_s against 2 d_s).
    """
    d_x = check_int("input_size", input_size, minimum=1)
    d_s = check_int("hidden_size", hidden_size, minimum=1)
    if isinstance(contexts, (str, bytes)) or not isinstance(contexts, Sequence) or not contexts:
        raise TypeError(f"contexts: expected a non-empty list of ints >= 1, got {contexts!r}")
    Ls = [check_int("contexts", L, minimum=1) for L in contexts]
    sw = check_choice("state_weights", state_weights, STATE_WEIGHTS)
    vanilla = parameter_count(d_x, d_s, state_weights=sw)["total"]
    vanilla_flops = Layout(d_x, d_s, state_weights=sw).flops_per_step(1)
    rows = []
    for L in Ls:
        aug = parameter_count(d_x, d_s, context=L, state_weights=sw)["total"]
        rows.append({"L": L, "augmented": aug, "extra": aug - vanilla, "bidirectional": 2 * vanilla,
                     "ratio": aug / (2 * vanilla),
                     "flops": Layout(d_x, d_s, context=L, state_weights=sw).flops_per_step(1),
                     "flops_bidirectional": 2 * vanilla_flops,
                     "lookahead": L - 1, "outputs": d_s, "outputs_bidirectional": 2 * d_s})
    return rows


# ---- what a change of one input sample does --------------------------------------------------------------


@torch.no_grad()
def response_to_change(model: AugmentedLSTM, x: torch.Tensor, k: int, delta: float = 1.0) -> torch.Tensor:
    """||v'[n] - v[n]|| for every step n, where v' is the output when x[k] is changed by ``delta``.

    ``model``: an :class:`AugmentedLSTM` (time-major or ``batch_first`` as the model says); ``x``: its
    input; every feature of sample k (of every sequence of the batch) is moved by ``delta``. Returns
    (N,), the norm over the output's features, averaged over the batch. With context windows of L taps
    the output reacts from step k - L + 1 on: L - 1 steps BEFORE the changed sample (paper Eq. 188);
    without them (L = 1), from step k on.
    """
    if not isinstance(model, AugmentedLSTM):
        raise TypeError(f"model: expected an AugmentedLSTM or VanillaLSTM, got {type(model).__name__}")
    xt = model._check_input(x)  # time-major view
    k = check_int("k", k, minimum=0, maximum=xt.shape[0] - 1)
    delta = check_real("delta", delta)
    moved = xt.clone()
    moved[k] += delta
    if model.batch_first:
        moved = moved.transpose(0, 1)
    v, _ = model(x)
    v2, _ = model(moved)
    if model.batch_first:
        v, v2 = v.transpose(0, 1), v2.transpose(0, 1)
    return (v2 - v).norm(dim=2).mean(dim=1)


"""Training the RNN: BPTT as the paper writes it, its errata, and the vanishing gradient (chapter ``rnn_training``).

The paper's Sec. IV trains the prototype unrolled standard RNN (paper Eq. 74), s~[n] = W_r r~[n-1] +
W_x x~[n] + theta_s, r~[n] = G(s~[n]), with an objective on the readout E = sum_n E(r~[n]) (paper
Eq. 80). With chi[n] = dE/dr~[n] (paper Eq. 78) and psi[n] = dE/ds~[n] (paper Eq. 79), from psi[K] = 0
(paper Eq. 85) backwards:

    chi[n] = dE(r~[n])/dr~[n] + W_r^T psi[n+1]     (paper Eq. 82; printed without the transpose, erratum E1)
    psi[n] = chi[n] (.) G'(s~[n])                   (paper Eqs. 83-84)
    dE/dW_r = sum_n psi[n] r~[n-1]^T,  dE/dW_x = sum_n psi[n] x~[n]^T,  dE/dtheta_s = sum_n psi[n]
                                                     (paper Eqs. 86-90)

and the error signal carried from step l back to step n is the product (paper Eq. 91, corrected as
erratum E2)

    dpsi[n]/dpsi[l] = prod_{k=n+1}^{l} diag(G'(s~[k-1])) W_r^T.

This book extends the recursion to the canonical RNN (a term W_s^T psi[n+1] in psi[n], and
dE/dW_s = sum_n psi[n] s~[n-1]^T) and adds an output layer y = W_y r + theta_y (:class:`RNNReadout`);
neither is in the paper.

* :func:`psi_chi` runs the recursion as the equations read (``printed=True``: Eq. 82 as printed);
  :func:`per_step_shortcut` is the naive expression of erratum E3.
* :func:`psi_jacobian` gives dpsi[n]/dpsi[l] in the corrected form or in the printed Eq. 91 (two
  readings), :func:`state_jacobian_autograd` the same from autograd.
* :func:`jacobians`, :func:`jacobian_product_norms`, :func:`gradient_norm_by_lag`,
  :func:`gradient_lag_curves` measure the vanishing and exploding gradient (paper Eqs. 91-93).
* :func:`proposition_experiment` trains the unrolled cell on segments against the whole sequence
  (the hypotheses of the paper's Proposition 1, chapter ``canonical_rnn``).

The hand-derived backward of the layer itself lives in :mod:`lstm_lib._rnn_recurrence`. This module
imports no display code; the chapter's figures are in :mod:`lstm_lib.figures.rnn_training`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ._checks import check_bool, check_choice, check_dtype, check_int, check_real, check_tensor
from ._rnn_recurrence import CanonicalRNNFunction, canonical_rnn_bptt
from .canonical_rnn import CanonicalRNN, run_segments, warp_derivative

__all__ = [
    "CanonicalRNNFunction", "canonical_rnn_bptt", "psi_chi", "per_step_shortcut", "psi_jacobian",
    "state_jacobian_autograd", "RNNReadout", "jacobians", "jacobian_product_norms", "gradient_norm_by_lag",
    "random_recurrent_weights", "gradient_lag_curves", "marker_inputs", "proposition_teacher",
    "train_readout", "proposition_experiment",
]


def _check_model(model):
    if not isinstance(model, CanonicalRNN):
        raise TypeError(f"model: expected a CanonicalRNN, got {type(model).__name__}")
    return model


def _forward_tm(model, x, s0):
    """Checked time-major x, s[-1], and the detached forward (s, r), time-major."""
    x_tm, s_init = model.check_input(x, s0)
    with torch.no_grad():
        s, r = model.run_time_major(x_tm, s_init)
    return x_tm, s_init, s, r


# ---------------------------------------------------------------------------------------- readable BPTT
def psi_chi(model: CanonicalRNN, x: torch.Tensor, dE_dr: torch.Tensor, dE_ds: torch.Tensor | None = None,
            s0: torch.Tensor | None = None, printed: bool = False):
    """chi[n] = dE/dr[n] and psi[n] = dE/ds[n] (paper Eqs. 78-79), computed backwards as the equations read.

    From psi[N] = 0 (paper Eq. 85), for n = N-1 down to 0:

        chi[n] = dE_dr[n] + W_r^T psi[n+1]                              (paper Eq. 82, erratum E1)
        psi[n] = dE_ds[n] + chi[n] (.) G'(s[n]) + W_s^T psi[n+1]        (paper Eqs. 83-84)

    ``dE_dr[n]`` is the direct (per-step) derivative dE(r[n])/dr[n] of paper Eq. 82; ``dE_ds`` an optional
    direct derivative with respect to the state (zero in the paper). The W_s term is this book's
    extension (zero for the standard RNN). ``printed=True`` uses Eq. 82 as printed, W_r psi[n+1]
    without the transpose, which is wrong unless W_r is symmetric (erratum E1).
    ``x`` and the returned ``(psi, chi)`` are in the model's layout; each of psi, chi has d features.
    """
    model = _check_model(model)
    printed = check_bool("printed", printed)
    x_tm, _, s, r = _forward_tm(model, x, s0)
    N, B, d = s.shape
    want = (B, N, d) if model.batch_first else (N, B, d)
    dE_dr = check_tensor("dE_dr", dE_dr, shape=want, dtype=s.dtype, device=s.device)
    dE_ds = torch.zeros(want, dtype=s.dtype, device=s.device) if dE_ds is None else dE_ds
    dE_ds = check_tensor("dE_ds", dE_ds, shape=want, dtype=s.dtype, device=s.device)
    if model.batch_first:
        dE_dr, dE_ds = dE_dr.transpose(0, 1), dE_ds.transpose(0, 1)
    G_prime = warp_derivative(model.warp)(s, r)
    W_s, W_r = model.W_s.detach(), model.W_r.detach()
    W_r_used = W_r.T if printed else W_r  # rows: psi @ W_r = (W_r^T psi)^T; psi @ W_r.T = (W_r psi)^T
    psi, chi = torch.zeros_like(s), torch.zeros_like(s)
    psi_next = torch.zeros(B, d, dtype=s.dtype, device=s.device)  # psi[N] = 0 (paper Eq. 85)
    for n in range(N - 1, -1, -1):
        chi[n] = dE_dr[n] + psi_next @ W_r_used  # paper Eq. 82
        psi[n] = dE_ds[n] + chi[n] * G_prime[n] + psi_next @ W_s  # paper Eq. 83 (+ the book's W_s^T psi[n+1])
        psi_next = psi[n]
    if model.batch_first:
        psi, chi = psi.transpose(0, 1), chi.transpose(0, 1)
    return psi, chi


def per_step_shortcut(model: CanonicalRNN, x: torch.Tensor, dE_dr: torch.Tensor, s0: torch.Tensor | None = None):
    """The naive per-step expression dE(r[n])/dr[n] (.) G'(s[n]) that the paper warns against (before Eq. 81).

    It ignores that s[n] also drives s[n+1]. The paper attaches it to chi[n]; it is a gradient with
    respect to s[n], a (wrong) candidate for psi[n] (erratum E3). It equals psi[N-1] at the last step
    only, where psi[N] = 0. Shapes as in :func:`psi_chi`.
    """
    model = _check_model(model)
    _, _, s, r = _forward_tm(model, x, s0)
    N, B, d = s.shape
    want = (B, N, d) if model.batch_first else (N, B, d)
    dE_dr = check_tensor("dE_dr", dE_dr, shape=want, dtype=s.dtype, device=s.device)
    G_prime = warp_derivative(model.warp)(s, r)
    return dE_dr * (G_prime.transpose(0, 1) if model.batch_first else G_prime)


def _check_lags(n, l, N):
    n = check_int("n", n, minimum=0, maximum=N - 1)
    l = check_int("l", l, minimum=n, maximum=N - 1)
    return n, l


def psi_jacobian(model: CanonicalRNN, x: torch.Tensor, n: int, l: int, form: str = "corrected",
                 s0: torch.Tensor | None = None) -> torch.Tensor:
    """dpsi[n]/dpsi[l] for each sequence of the batch, shape (B, d, d) (paper Eq. 91).

    ``form="corrected"`` (erratum E2): prod_{k=n+1}^{l} (diag(G'(s[k-1])) W_r^T + W_s^T), factors for
    k = n+1 on the left (the W_s^T term is this book's extension; zero for the standard RNN).
    ``form="printed_right"``: Eq. 91 as printed, prod_{k=n+1}^{l} W_r diag(G'(s[k])), the element-wise
    product read as multiplying W_r on the right by diag(G'(s[k])) (paper fn 13);
    ``form="printed_left"``: the other reading, prod_{k=n+1}^{l} diag(G'(s[k])) W_r.
    For n = l every form is the identity. Time-major ``x`` (or batch-first, as the model).
    """
    model = _check_model(model)
    form = check_choice("form", form, ("corrected", "printed_right", "printed_left"))
    _, s_init, s, r = _forward_tm(model, x, s0)
    N, B, d = s.shape
    n, l = _check_lags(n, l, N)
    dG = warp_derivative(model.warp)
    G_all = torch.cat((dG(s_init, model.warp(s_init)).unsqueeze(0), dG(s, r)))  # G'(s[k]) at index k + 1
    W_s, W_r = model.W_s.detach(), model.W_r.detach()
    P = torch.eye(d, dtype=s.dtype, device=s.device).expand(B, d, d)
    for k in range(n + 1, l + 1):
        if form == "corrected":
            factor = G_all[k].unsqueeze(-1) * W_r.T + W_s.T  # diag(G'(s[k-1])) W_r^T + W_s^T
        elif form == "printed_right":
            factor = W_r * G_all[k + 1].unsqueeze(-2)  # W_r diag(G'(s[k]))
        else:
            factor = G_all[k + 1].unsqueeze(-1) * W_r  # diag(G'(s[k])) W_r
        P = P @ factor
    return P


def state_jacobian_autograd(model: CanonicalRNN, x: torch.Tensor, n: int, l: int,
                            s0: torch.Tensor | None = None) -> torch.Tensor:
    """ds[l]/ds[n] by autograd, for each sequence of the batch, shape (B, d, d).

    Its transpose is dpsi[n]/dpsi[l]: psi[n] = sum_l (ds[l]/ds[n])^T (the direct derivative at l).
    Computed by running the cell from s[n] through steps n+1 .. l and differentiating.
    """
    model = _check_model(model)
    x_tm, _, s, _ = _forward_tm(model, x, s0)
    N, B, d = s.shape
    n, l = _check_lags(n, l, N)
    cell = model.unroll(1).layers[0]
    out = []
    for b in range(B):
        def steps(v, b=b):
            for k in range(n + 1, l + 1):
                v = cell(v, x_tm[k, b])
            return v

        out.append(torch.autograd.functional.jacobian(steps, s[n, b].clone()))
    return torch.stack(out)


# ---------------------------------------------------------------------------------------- an output layer
class RNNReadout(torch.nn.Module):
    """A canonical RNN followed by the output layer y[n] = W_y r[n] + theta_y (this book's addition).

    The paper's Sec. IV puts the objective on the readout itself (paper Eq. 80) and leaves the output
    map generic (paper Eq. 47); this layer is the common linear choice. ``forward(x, s0=None)``
    returns y, shape (N, B, output_size) (or batch-first like the RNN). Extra keyword arguments go to
    :class:`~lstm_lib.canonical_rnn.CanonicalRNN` (e.g. ``standard=True``, ``dtype``).
    """

    def __init__(self, input_size: int, state_size: int, output_size: int, **rnn_kwargs):
        super().__init__()
        check_int("output_size", output_size, minimum=1)
        self.rnn = CanonicalRNN(input_size, state_size, **rnn_kwargs)
        kw = {"dtype": self.rnn.W_x.dtype, "device": self.rnn.W_x.device}
        self.W_y = torch.nn.Parameter(torch.empty(output_size, state_size, **kw))
        self.theta_y = torch.nn.Parameter(torch.zeros(output_size, **kw))
        torch.nn.init.uniform_(self.W_y, -state_size**-0.5, state_size**-0.5)

    def forward(self, x: torch.Tensor, s0: torch.Tensor | None = None) -> torch.Tensor:
        _, r = self.rnn(x, s0)
        return r @ self.W_y.T + self.theta_y


# ---------------------------------------------------------------------------------------- vanishing / exploding
def jacobians(model: CanonicalRNN, x: torch.Tensor, s0: torch.Tensor | None = None) -> torch.Tensor:
    """J[n] = ds[n]/ds[n-1] = W_s + W_r diag(G'(s[n-1])) for n = 0 .. N-1, shape (N, B, d, d).

    For the standard RNN (W_s = 0) J[n]^T is one factor of the corrected paper Eq. 91 (erratum E2).
    """
    model = _check_model(model)
    _, s_init, s, _ = _forward_tm(model, x, s0)
    s_prev = torch.cat((s_init.unsqueeze(0), s[:-1]))
    G_prime = warp_derivative(model.warp)(s_prev, model.warp(s_prev))
    return model.W_s.detach() + model.W_r.detach() * G_prime.unsqueeze(-2)  # columns of W_r scaled by G'


def jacobian_product_norms(model: CanonicalRNN, x: torch.Tensor, s0: torch.Tensor | None = None) -> torch.Tensor:
    """The spectral norm of ds[N-1]/ds[k] = J[N-1] J[N-2] ... J[k+1] against the lag N-1-k (paper Eq. 92).

    Entry ``l`` is the norm for lag l (l = 0 gives the identity, norm 1), the mean over the batch.
    """
    J = jacobians(model, x, s0)
    N, B, d, _ = J.shape
    P = torch.eye(d, dtype=J.dtype, device=J.device).expand(B, d, d)
    norms = [torch.ones((), dtype=J.dtype, device=J.device)]
    for k in range(N - 2, -1, -1):
        P = P @ J[k + 1]
        norms.append(torch.linalg.matrix_norm(P, ord=2).mean())
    return torch.stack(norms)


def gradient_norm_by_lag(model: CanonicalRNN, x: torch.Tensor, s0: torch.Tensor | None = None,
                         seed: int = 0) -> torch.Tensor:
    """||psi[k]|| = ||dE/ds[k]|| for a loss on the last step only, against the lag l = N-1-k.

    The loss is E = <e, r[N-1]> with a random unit vector e per sequence, so psi[k] is the error signal
    that reaches step k from step N-1 through the Jacobian product (paper Eq. 91). Entry ``l`` is the
    batch mean of ||psi[N-1-l]|| / ||psi[N-1]||.
    """
    model = _check_model(model)
    seed = check_int("seed", seed, minimum=0)
    x_tm, s_init = model.check_input(x, s0)
    N, B, _ = x_tm.shape
    e = torch.randn(B, model.state_size, generator=torch.Generator().manual_seed(seed), dtype=x_tm.dtype)
    dE_dr = torch.zeros(N, B, model.state_size, dtype=x_tm.dtype, device=x_tm.device)
    dE_dr[-1] = (e / e.norm(dim=1, keepdim=True)).to(x_tm.device)
    if model.batch_first:
        dE_dr = dE_dr.transpose(0, 1)
    psi, _ = psi_chi(model, x, dE_dr, s0=s0)
    norms = (psi.transpose(0, 1) if model.batch_first else psi).norm(dim=2)
    return (norms / norms[-1].clamp_min(torch.finfo(norms.dtype).tiny)).mean(1).flip(0)


def random_recurrent_weights(d: int, spectral_radius: float, *, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """A random Gaussian (d, d) matrix rescaled to the given spectral radius (largest |eigenvalue|)."""
    d = check_int("d", d, minimum=1)
    spectral_radius = check_real("spectral_radius", spectral_radius, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    dtype = check_dtype("dtype", dtype)
    W = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    W = W * (spectral_radius / torch.linalg.eigvals(W).abs().max())
    return W.to(dtype)


def gradient_lag_curves(spectral_radius: float, w_s: float = 0.0, *, d: int = 64, N: int = 60, B: int = 16,
                        input_scale: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """Gradient norm against lag for a tanh RNN and its linearisation, W_r of the given spectral radius.

    W_s = w_s I (0, the standard RNN of the paper, by default; a leak is this book's extension), inputs
    x[n] ~ input_scale * N(0, 1) through a random W_x. Returns ``{"lag", "tanh", "linear", "bound", "rho"}``:
    ``bound`` is rho(W_s + W_r)^lag, the linear model's asymptotic rate, and ``rho`` = rho(W_s + W_r).
    """
    spectral_radius = check_real("spectral_radius", spectral_radius, minimum=0.0)
    w_s = check_real("w_s", w_s)
    d, N, B = check_int("d", d, minimum=1), check_int("N", N, minimum=2), check_int("B", B, minimum=1)
    input_scale = check_real("input_scale", input_scale, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    W_r = random_recurrent_weights(d, spectral_radius, seed=seed, dtype=torch.float64)
    W_s = w_s * torch.eye(d, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    W_x = torch.randn(d, 1, generator=gen, dtype=torch.float64)
    theta = torch.zeros(d, dtype=torch.float64)
    x = input_scale * torch.randn(N, B, 1, generator=gen, dtype=torch.float64)
    out = {"lag": np.arange(N)}
    for name, warp in (("tanh", torch.tanh), ("linear", "identity")):
        model = CanonicalRNN.from_params(W_s, W_r, W_x, theta, warp=warp)
        out[name] = gradient_norm_by_lag(model, x, seed=seed).numpy()
    rho = float(torch.linalg.eigvals(W_s + W_r).abs().max())
    out["bound"] = rho ** out["lag"].astype(float)
    out["rho"] = rho
    return out


# ---------------------------------------------------------------------------------------- Proposition 1, trained
def marker_inputs(K: int, M: int, B: int, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Inputs for the Proposition 1 experiment: x of shape (N = M K, B, 2), time-major.

    Channel 0 is Gaussian noise; channel 1 marks the first sample of every segment (1 at n = j(m),
    paper Eq. 42; 0 elsewhere), like a start-of-document symbol.
    """
    K, M, B = check_int("K", K, minimum=1), check_int("M", M, minimum=1), check_int("B", B, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    dtype = check_dtype("dtype", dtype)
    x = torch.zeros(M * K, B, 2, dtype=dtype)
    x[:, :, 0] = torch.randn(M * K, B, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    x[::K, :, 1] = 1.0
    return x


def proposition_teacher(independent: bool, *, d: int = 3, rho: float = 0.9, reset_gain: float = 8.0,
                        seed: int = 0, dtype: torch.dtype = torch.float64) -> CanonicalRNN:
    """The standard RNN (paper Eq. 32) that generates the ground truth v[n] = r[n] of the experiment.

    W_r is random with spectral radius ``rho`` (a memory of several steps), W_x's first column random,
    theta_s small. With ``independent=True`` the marker input (channel 1 of :func:`marker_inputs`) enters
    with weights +-``reset_gain``: at every segment start the state is driven deep into saturation, which
    erases the previous segments, so the output segments are independent (hypothesis iii of Proposition
    1). With ``independent=False`` the marker is ignored and the state, with everything it remembers,
    carries on into the next segment.
    """
    independent = check_bool("independent", independent)
    d = check_int("d", d, minimum=1)
    rho = check_real("rho", rho, minimum=0.0)
    reset_gain = check_real("reset_gain", reset_gain, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    dtype = check_dtype("dtype", dtype)
    g = torch.Generator().manual_seed(seed)
    W_r = torch.randn(d, d, generator=g, dtype=torch.float64)
    W_r = W_r * (rho / torch.linalg.eigvals(W_r).abs().max())
    signs = torch.sign(torch.randn(d, 1, generator=g, dtype=torch.float64))
    W_x = torch.cat((torch.randn(d, 1, generator=g, dtype=torch.float64),
                     (reset_gain if independent else 0.0) * signs), dim=1)
    theta_s = 0.1 * torch.randn(d, generator=g, dtype=torch.float64)
    return CanonicalRNN.from_params(torch.zeros(d, d, dtype=dtype), W_r.to(dtype), W_x.to(dtype), theta_s.to(dtype),
                                    standard=True)


def _readout(model, x, K):
    return model(x)[1] if K is None else run_segments(model, x, K)[1]


def _objective(r, v):
    return 0.5 * (r - v).square().sum(-1).mean()  # paper Eq. 80 with E(r[n]) = 1/2 ||r[n] - v[n]||^2, averaged


def train_readout(model: CanonicalRNN, x: torch.Tensor, v: torch.Tensor, *, K: int | None = None,
                  steps: int = 300, lr: float = 0.05) -> list[float]:
    """Full-batch Adam on E = 1/2 mean_n ||r[n] - v[n]||^2, the objective on the readout (paper Eq. 80).

    ``K=None``: the whole sequence, the state carried through all N samples and the gradient through all
    of them (full BPTT). ``K`` an int: the unrolled cell of Proposition 1, every segment of K samples
    from a zero state (:func:`lstm_lib.canonical_rnn.run_segments`). Returns the objective at every step.
    """
    model = _check_model(model)
    x_tm, _ = model.check_input(x)
    check_tensor("v", v, shape=(*x.shape[:2], model.state_size), dtype=x.dtype, device=x.device)
    if K is not None:
        K = check_int("K", K, minimum=1)
    steps = check_int("steps", steps, minimum=1)
    lr = check_real("lr", lr, minimum=0.0)
    if lr <= 0:
        raise ValueError(f"lr: expected a number > 0, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: expected at least one trainable parameter")
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        E = _objective(_readout(model, x, K), v)
        E.backward()
        opt.step()
        losses.append(E.item())
    return losses


def proposition_experiment(independent: bool, *, K: int = 8, M: int = 8, B: int = 16, d: int = 3,
                           steps: int = 400, lr: float = 0.1, seed: int = 0) -> dict:
    """Train one standard RNN on the whole sequence and one on segments; compare (Proposition 1, numerically).

    Ground truth: v[n] = r[n] of :func:`proposition_teacher` on :func:`marker_inputs` (N = M K samples,
    B sequences, float64); the teacher's segments are independent or not as ``independent`` says.
    Two students with the same initial parameters and the teacher's sizes (a standard RNN, Theta =
    {W_r, W_x, theta_s}) are trained by :func:`train_readout`: ``"whole"`` on the whole sequences,
    ``"segments"`` as the unrolled cell of K steps from a zero state per segment. Both are then tested on
    fresh inputs, each run the way it was trained.

    Returns a dict: ``dependence`` (max |teacher's output - the same teacher run per segment from zero|,
    how far the ground truth is from independent segments), ``loss`` (training curves, per mode),
    ``test`` (test objective per mode), ``pred_rms`` (RMS difference of the two students' test
    predictions at each position 0 .. K-1 inside a segment), ``param_err`` (relative distance of each
    student's W_r, W_x[:, 0] and theta_s to the teacher's), ``param_gap`` (the same between the students),
    ``seconds`` (training time per mode).
    """
    independent = check_bool("independent", independent)
    K, M, B, d = (check_int(n, v, minimum=1) for n, v in (("K", K), ("M", M), ("B", B), ("d", d)))
    seed = check_int("seed", seed, minimum=0)
    teacher = proposition_teacher(independent, d=d, seed=seed)
    x, x_test = marker_inputs(K, M, B, seed=seed + 1), marker_inputs(K, M, B, seed=seed + 2)
    with torch.no_grad():
        v, v_test = teacher(x)[1], teacher(x_test)[1]
        dependence = (v - run_segments(teacher, x, K)[1]).abs().max().item()
    torch.manual_seed(seed + 3)
    init = CanonicalRNN(2, d, dtype=torch.float64, standard=True).state_dict()
    out = {"dependence": dependence, "loss": {}, "test": {}, "seconds": {}, "param_err": {}, "K": K}
    students, preds = {}, {}
    for mode, k in (("whole", None), ("segments", K)):
        student = CanonicalRNN(2, d, dtype=torch.float64, standard=True)
        student.load_state_dict(init)
        t0 = time.perf_counter()
        out["loss"][mode] = train_readout(student, x, v, K=k, steps=steps, lr=lr)
        out["seconds"][mode] = time.perf_counter() - t0
        with torch.no_grad():
            preds[mode] = _readout(student, x_test, k)
            out["test"][mode] = _objective(preds[mode], v_test).item()
        students[mode] = student

    def theta(model):
        return torch.cat((model.W_r.detach().flatten(), model.W_x.detach()[:, 0], model.theta_s.detach()))

    ref = theta(teacher)
    for mode, student in students.items():
        out["param_err"][mode] = ((theta(student) - ref).norm() / ref.norm()).item()
    out["param_gap"] = ((theta(students["whole"]) - theta(students["segments"])).norm() / ref.norm()).item()
    diff = (preds["whole"] - preds["segments"]).square().sum(-1)  # (N, B)
    out["pred_rms"] = diff.view(M, K, B).mean(dim=(0, 2)).sqrt().numpy()
    return out

"""The loops over time of the vanilla LSTM layer, compiled: the fast path of ``lstm_training.Recurrence``.

:func:`recurrence_forward` and :func:`recurrence_backward` take and return exactly what the
readable Python loops of :mod:`lstm_lib.lstm_training` (the reference, shown in the book) take and
return, and run the same equations (eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v, eq:lstm_training-chi
to eq:lstm_training-alpha_du). The difference is only speed: each step is one matrix product plus
ONE compiled loop over the B x d cells, instead of a dozen small tensor operations, each paying
Python's and PyTorch's per-call overhead. The C++ source is ``_lstm_kernels.cpp`` next to this file.

The matrix product of each step (the four recurrent terms: ``v[n-1] W_v^T``, (B, d) x (d, 4d),
forward; ``alpha[n+1] W_v``, (B, 4d) x (4d, d), backward) dominates the time. For float32 with
d >= ``ONEDNN_MIN_HIDDEN``, when PyTorch has oneDNN (:func:`onednn_usable`), it runs as oneDNN's
linear operator with the weight reordered once per loop into oneDNN's blocked layout for a batch
of B rows (W_v forward, W_v^T backward): for these small, skinny products that is markedly faster
than the BLAS sgemm behind ``torch.mm``. The loop calls that operator from C++ through PyTorch's
dispatcher, and the cells' loop adds its result to the input terms (forward) or to dE/dv
(backward). float64, smaller d, and float32 without oneDNN or with
``torch.backends.mkldnn.enabled = False`` use ``torch.mm``. Both agree to float32 rounding (the
sums are taken in another order).

Build: on first use, once per machine, with ``torch.utils.cpp_extension.load`` (needs a C++
compiler and the ``ninja`` package; about a minute). The result is cached under the PyTorch
extensions directory (``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``) and rebuilt
only when the source changes. It is compiled for the building machine's CPU (``-march=native``,
vectorised ``exp``/``tanh`` from glibc's libmvec). If the build fails, one warning says why and the
layer runs the Python loops (same results, slower). Set ``LSTM_LIB_NO_KERNELS=1`` to use the Python
loops without trying to build.

Only CPU tensors of dtype float32 or float64 take this path (:func:`usable`); CUDA tensors, and the
layer with ``backward="autograd"``, always run the Python code.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("_lstm_kernels.cpp")
_module = None
_tried = False


_STALE_LOCK_SECONDS = 600


def _clear_stale_lock(cpp_extension) -> None:
    """Remove a build lock left by a build that was killed, which would make every later load wait forever."""
    try:
        lock = Path(cpp_extension._get_build_directory(_extension_name(), verbose=False)) / "lock"
        if lock.exists() and time.time() - lock.stat().st_mtime > _STALE_LOCK_SECONDS:
            lock.unlink()
            warnings.warn(f"lstm_lib: removed a stale build lock {lock}", UserWarning, stacklevel=4)
    except (AttributeError, OSError):  # a private helper of torch; without it, torch's own locking applies
        pass


_CFLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp"]
_LDFLAGS = ["-lmvec", "-fopenmp"]


def _extension_name() -> str:
    """The build's name carries a hash of the source and flags.

    torch caches a build by name and decides whether to rebuild from file times, so two checkouts
    (or two versions) of this file sharing one name could load each other's binary. A name per
    content makes each source its own build.
    """
    digest = hashlib.sha1(_SOURCE.read_bytes() + " ".join(_CFLAGS + _LDFLAGS).encode()).hexdigest()[:12]
    return f"lstm_lib_kernels_{digest}"


def _build():
    from torch.utils import cpp_extension

    _clear_stale_lock(cpp_extension)

    try:  # the ninja of the pip package need not be on PATH
        import ninja

        if ninja.BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        pass
    return cpp_extension.load(
        name=_extension_name(),
        sources=[str(_SOURCE)],
        extra_cflags=_CFLAGS,
        extra_ldflags=_LDFLAGS,
        verbose=False,
    )


def kernels():
    """The compiled module (building it on the first call), or None if it is disabled or cannot be built."""
    global _module, _tried
    if not _tried:
        _tried = True
        if os.environ.get("LSTM_LIB_NO_KERNELS", "") not in ("", "0"):
            return None
        try:
            _module = _build()
        except Exception as e:  # any failure to build means: run the Python loops
            reason = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            warnings.warn(
                f"lstm_lib: could not build the compiled LSTM loops ({type(e).__name__}: {reason}); "
                "VanillaLSTM runs its Python loops instead (same results, slower).",
                UserWarning,
                stacklevel=3,
            )
    return _module


def usable(t: torch.Tensor) -> bool:
    """True if the compiled loops can run on tensors like ``t`` (CPU, float32/float64) and are built."""
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and kernels() is not None


# The smallest hidden size d for which the loops use oneDNN. Below it, reordering the weight (about
# 0.2 ms per loop) and oneDNN's per-call overhead eat the gain: measured on a 2-thread AMD EPYC with
# N=100, B=32, oneDNN made the no-grad forward about 10-30 % faster at d=192 and d=256, but at d=128
# it was as often slower as faster, and slower at d=64.
ONEDNN_MIN_HIDDEN = 192


def onednn_usable(t: torch.Tensor) -> bool:
    """True if the compiled loops take their per-step matrix products from oneDNN for tensors like ``t``.

    ``t`` is one of the (.., d) or (.., 4d) tensors of the loops, with d = ``W_v.shape[1]``. float32
    only; d at least ``ONEDNN_MIN_HIDDEN``; PyTorch built with oneDNN, and oneDNN not switched off
    (``torch.backends.mkldnn.enabled``).
    """
    return t.dtype == torch.float32 and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def _onednn(W_v: torch.Tensor) -> bool:
    """Whether the loops over a layer with recurrent weights ``W_v`` (4d, d) take the oneDNN products."""
    return W_v.shape[1] >= ONEDNN_MIN_HIDDEN and onednn_usable(W_v)


def recurrence_forward(A, W_v, w_s, v0, s0):
    """Compiled :func:`lstm_lib.lstm_training.recurrence_forward`: returns ``V, S, Gt, R`` the same way."""
    N, B, d4 = A.shape
    d = d4 // 4
    A = A.contiguous()
    Gt = torch.empty_like(A)
    V = A.new_empty(N + 1, B, d)
    S = A.new_empty(N + 1, B, d)
    R = A.new_empty(N, B, d)
    V[0] = v0
    S[0] = s0
    w = None if w_s is None else w_s.contiguous()
    kernels().forward_loop(A, Gt, W_v.contiguous(), w, V, S, R, _onednn(W_v))
    return V, S, Gt, R


def recurrence_backward(W_v, w_s, V, S, Gt, R, grad_v, grad_s, psi_out=None):
    """Compiled :func:`lstm_lib.lstm_training.recurrence_backward`: returns the same five gradients."""
    N, B, d4 = Gt.shape
    d = d4 // 4
    alpha = torch.empty_like(Gt)
    psi = torch.empty_like(R) if psi_out is None else psi_out
    w = None if w_s is None else w_s.contiguous()
    grad_s0 = kernels().backward_loop(
        W_v.contiguous(), w, S, Gt, R, grad_v.contiguous(), grad_s.contiguous(), alpha, psi, _onednn(W_v)
    )
    grad_v0 = alpha[0] @ W_v
    grad_W_v = alpha.view(N * B, d4).t() @ V[:-1].reshape(N * B, d)  # sum_n alpha[n] v[n-1]^T
    grad_w_s = None
    if w_s is not None:
        s_prev, s = S[:-1], S[1:]
        grad_w_s = torch.cat(
            [
                (alpha[:, :, :d] * s).sum((0, 1)),  # sum_n alpha_cr[n] s[n]
                (alpha[:, :, d : 3 * d].view(N, B, 2, d) * s_prev.unsqueeze(2)).sum((0, 1)).reshape(-1),
            ]
        )
    return alpha, grad_W_v, grad_w_s, grad_v0, grad_s0

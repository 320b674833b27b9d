"""The loops over time of the vanilla LSTM layer, compiled: the fast path of ``lstm_training.Recurrence``.

:func:`recurrence_forward` and :func:`recurrence_backward` take and return exactly what the
readable Python loops of :mod:`lstm_lib.lstm_training` (the reference, shown in the book) take and
return, and run the same equations (eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v, eq:lstm_training-chi
to eq:lstm_training-alpha_du). The difference is only speed: each step is one matrix product plus
ONE compiled loop over the B x d cells, instead of a dozen small tensor operations, each paying
Python's and PyTorch's per-call overhead. The C++ source is ``_lstm_kernels.cpp`` next to this file.

Threads. Each loop runs as one team of PyTorch's intra-op threads for all N steps: each thread
owns a slice of the d cells in all four gate blocks, computes the recurrent terms of its cells
with its own single-threaded BLAS product (``v[n-1] W_v^T`` forward, ``alpha[n+1] W_v`` backward,
restricted to its columns), runs the element-wise equations of its cells, and meets the others at
one barrier per step. Compared with one multi-threaded product plus one parallel element-wise pass
per step, this saves a fork and join per step and keeps each product's output in its thread's
cache (measured at N=100, B=32, d=256 on 2 threads: 9.7 to 7.6 ms forward, 9.8 to 7.5 ms
backward). Each thread also sums the bias and peephole gradients of its own cells, so those come
out of the backward loop without another pass over the signals. The BLAS is the ``sgemm_`` and
``dgemm_`` that PyTorch's CPU library exports (MKL in the official wheels); a PyTorch without them
fails the build, and the layer runs the Python loops.

The large buffers come from :mod:`lstm_lib._workspace`, which reuses them between calls.

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


def recurrence_forward(A, b, W_v, w_s, v0, s0):
    """Compiled :func:`lstm_lib.lstm_training.recurrence_forward`: returns ``V, S, Gt, R`` the same way."""
    from ._workspace import workspace

    N, B, d4 = A.shape
    d = d4 // 4
    A = A.contiguous()
    Gt = workspace.empty((N, B, d4), A.dtype)
    V = workspace.empty((N + 1, B, d), A.dtype)
    S = workspace.empty((N + 1, B, d), A.dtype)
    R = workspace.empty((N, B, d), A.dtype)
    V[0] = v0
    S[0] = s0
    w = None if w_s is None else w_s.contiguous()
    packed, terms = workspace.empty((4 * d * d,), A.dtype), workspace.empty((4 * B * d,), A.dtype)
    kernels().forward_loop(A, b.contiguous(), Gt, W_v.contiguous(), w, V, S, R, packed, terms)
    return V, S, Gt, R


def recurrence_backward(W_v, w_s, V, S, Gt, R, grad_v, grad_s, psi_out=None):
    """Compiled :func:`lstm_lib.lstm_training.recurrence_backward`: returns the same six gradients.

    The loop also sums the bias and peephole gradients (eq:lstm_training-grad-x,
    eq:lstm_training-grad-w) while the signals are in cache, in double precision; the two
    weight-sized products of eq:lstm_training-grad-v and eq:lstm_training-init follow it.
    """
    from ._workspace import workspace

    N, B, d4 = Gt.shape
    d = d4 // 4
    alpha = workspace.empty((N, B, d4), Gt.dtype)
    w = None if w_s is None else w_s.contiguous()
    sums = torch.zeros(7 * d, dtype=torch.float64)
    packed, terms = workspace.empty((4 * d * d,), Gt.dtype), workspace.empty((B * d,), Gt.dtype)
    grad_s0 = kernels().backward_loop(
        W_v.contiguous(), w, S, Gt, R, grad_v.contiguous(), grad_s.contiguous(), alpha, psi_out, sums, packed, terms
    )
    grad_b = sums[:d4].to(Gt.dtype)
    grad_w_s = None if w_s is None else sums[d4:].to(Gt.dtype)
    grad_v0 = alpha[0] @ W_v
    grad_W_v = alpha.view(N * B, d4).t() @ V[:-1].reshape(N * B, d)  # sum_n alpha[n] v[n-1]^T
    return alpha, grad_b, grad_W_v, grad_w_s, grad_v0, grad_s0

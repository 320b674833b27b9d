"""The loops over time of the LSTM layer, compiled: the fast path of :mod:`lstm_lib._lstm_recurrence`.

:func:`forward` and :func:`backward` take and return exactly what the readable reference loops
(:func:`~lstm_lib._lstm_recurrence.reference_forward`, :func:`~lstm_lib._lstm_recurrence.reference_backward`)
take and return, and run the same equations for every configuration of the layer; they differ only in
speed. Each step is a few single-threaded BLAS products on pre-packed weights and one compiled pass over
the cells, instead of a dozen small tensor operations that each pay Python's and PyTorch's overhead. The
C++ source is ``_lstm_kernels.cpp`` next to this file.

Threads (:func:`threads_for`). The sequences of a batch are independent: the compiled loops split the
batch rows between threads, and each thread runs the whole recurrence on its rows with no barrier
per step. A thread pays off only when it gets enough arithmetic; with few rows, or small matrices, one
thread runs the loop (a fork per call costs tens of microseconds; a barrier per step would cost a
scheduling delay per step whenever another process competes for the cores, which is why the loops
never wait for each other inside the time loop).

Memory. Every tensor handed back is freshly allocated and belongs to the caller; the loops keep no
buffers between calls. The record the backward pass needs (gates, states, readouts) is allocated only
when a gradient will be taken; inference keeps just the current step.

Build: on first use, once per machine and source version, with ``torch.utils.cpp_extension.load``
(needs a C++ compiler and the ``ninja`` package; about a minute on two cores). One line on standard
error says so before it starts. The result is cached under the PyTorch extensions directory
(``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), named after a hash of the source and
flags. If the build fails, one warning says why and the layer runs the Python loops (same results,
slower). ``LSTM_LIB_NO_KERNELS=1`` uses the Python loops without trying to build. Only CPU tensors of
dtype float32 or float64 take this path; CUDA tensors run the reference loops.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import warnings
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("_lstm_kernels.cpp")
_CFLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp"]
_LDFLAGS = ["-fopenmp"]
_STALE_LOCK_SECONDS = 600

_module = None
_tried = False
_lock = threading.Lock()


def _extension_name() -> str:
    """The build's name carries a hash of the source and flags, so two versions never share a binary."""
    digest = hashlib.sha1(_SOURCE.read_bytes() + " ".join(_CFLAGS + _LDFLAGS).encode()).hexdigest()[:12]
    return f"lstm_lib_kernels_{digest}"


def _clear_stale_lock(cpp_extension) -> None:
    """Remove a build lock left by a killed build, which would make every later load wait forever."""
    try:
        lock = Path(cpp_extension._get_build_directory(_extension_name(), verbose=False)) / "lock"
        if lock.exists() and time.time() - lock.stat().st_mtime > _STALE_LOCK_SECONDS:
            lock.unlink()
            warnings.warn(f"lstm_lib: removed a stale build lock {lock}", UserWarning, stacklevel=4)
    except (AttributeError, OSError):  # a private helper of torch; without it, torch's own locking applies
        pass


def _is_built(cpp_extension) -> bool:
    try:
        folder = Path(cpp_extension._get_build_directory(_extension_name(), verbose=False))
        return any(folder.glob(f"{_extension_name()}*.so"))
    except (AttributeError, OSError):
        return False


def _build():
    from torch.utils import cpp_extension

    _clear_stale_lock(cpp_extension)
    try:  # the ninja of the pip package need not be on PATH
        import ninja

        if ninja.BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        pass
    if not _is_built(cpp_extension):
        print("lstm_lib: compiling the LSTM loops for this CPU (once per machine; about a minute)...",
              file=sys.stderr, flush=True)
    return cpp_extension.load(name=_extension_name(), sources=[str(_SOURCE)], extra_cflags=_CFLAGS,
                              extra_ldflags=_LDFLAGS, verbose=False)


def kernels():
    """The compiled module (building it on the first call), or None if it is disabled or cannot be built."""
    global _module, _tried
    if _tried:
        return _module
    with _lock:
        if not _tried:
            if os.environ.get("LSTM_LIB_NO_KERNELS", "") not in ("", "0"):
                _tried = True
                return None
            try:
                _module = _build()
            except Exception as e:  # any failure to build means: run the Python loops
                reason = (str(e).strip().splitlines() or [type(e).__name__])[-1]
                warnings.warn(
                    f"lstm_lib: could not build the compiled LSTM loops ({type(e).__name__}: {reason}); "
                    "the LSTM layers run their Python loops instead (same results, slower).",
                    UserWarning,
                    stacklevel=3,
                )
            _tried = True
    return _module


def usable(t: torch.Tensor) -> bool:
    """True if the compiled loops can run on tensors like ``t`` (CPU, float32/float64) and are built."""
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and kernels() is not None


# The fork of a thread team costs tens of microseconds per call; a thread is worth starting only when it
# gets at least this many floating-point operations of the loop (measured on the 2-core development
# machine: see the benchmark's small-batch grid), and at least MIN_ROWS batch rows.
MIN_FLOPS_PER_THREAD = 4e6
MIN_ROWS = 2


def threads_for(N: int, B: int, flops_per_row_step: float) -> int:
    """How many threads the compiled loops use for N steps of B rows (1 inside a parallel region)."""
    nt = torch.get_num_threads()
    if nt <= 1 or B < 2 * MIN_ROWS:
        return 1
    by_work = int(N * B * flops_per_row_step // MIN_FLOPS_PER_THREAD)
    return max(1, min(nt, B // MIN_ROWS, by_work))


def _flops_per_row_step(layout) -> float:
    return layout.flops_per_step(1)


def forward(A, W, v0, s0, layout, record: bool):
    """Compiled :func:`~lstm_lib._lstm_recurrence.reference_forward`: returns ``(v, s_last, rec)``."""
    from ._lstm_recurrence import Record

    N, B, Gd = A.shape
    d, dv = layout.hidden_size, layout.value_size
    f = {"dtype": A.dtype}
    v = torch.empty(N, B, dv, **f)
    s_last = torch.empty(B, d, **f)
    rec = None
    if record:
        rec = Record(torch.empty(N, B, Gd, **f), torch.empty(N, B, d, **f), torch.empty(N, B, d, **f),
                     torch.empty(N, B, d, **f) if layout.proj_size else None)
    kernels().forward_loop(
        A.contiguous(), W.b.contiguous(), W.W_v.contiguous(), _opt(W.W_s), _opt(W.W_qdr), v0.contiguous(),
        s0.contiguous(), v, s_last, *(rec if rec is not None else (None, None, None, None)),
        str(layout.state_weights), layout.input_gate, threads_for(N, B, _flops_per_row_step(layout)))
    return v, s_last, rec


def backward(A, W, v0, s0, rec, grad_v, grad_s, layout, clip):
    """Compiled :func:`~lstm_lib._lstm_recurrence.reference_backward`: returns the same :class:`Signals`.

    The loop also sums the bias and diagonal state-weight gradients while the signals are in cache
    (per thread, in float64).
    """
    from ._lstm_recurrence import Signals

    N, B, Gd = A.shape
    d, dv, G = layout.hidden_size, layout.value_size, layout.n_blocks
    f = {"dtype": A.dtype}
    alpha = torch.empty(N, B, Gd, **f)
    alpha_xdu = torch.empty(N, B, d, **f) if layout.input_gate else None
    chi = torch.empty(N, B, dv, **f) if layout.proj_size else None
    ds0, dv0 = torch.empty(B, d, **f), torch.empty(B, dv, **f)
    sums = torch.zeros(Gd + (G - 1) * d, dtype=torch.float64)
    kernels().backward_loop(
        A.contiguous(), W.W_v.contiguous(), _opt(W.W_s), _opt(W.W_qdr), v0.contiguous(), s0.contiguous(),
        rec.Gt, rec.S, rec.R, grad_v.contiguous(), grad_s.contiguous(), alpha, alpha_xdu, chi, None, ds0, dv0, sums,
        str(layout.state_weights), layout.input_gate, 0.0 if clip is None else float(clip),
        threads_for(N, B, 2 * _flops_per_row_step(layout)))
    grad_b = sums[:Gd].to(A.dtype)
    grad_w_s = sums[Gd:].to(A.dtype) if layout.state_weights == "diagonal" else None
    return Signals(alpha, alpha_xdu, chi, ds0, dv0, grad_b, grad_w_s)


def _opt(t):
    return None if t is None else t.contiguous()

"""The loops over time of the LSTM layer, compiled: the fast path of :mod:`lstm_lib._lstm_recurrence`.

:func:`forward` and :func:`backward` take and return exactly what the readable reference loops
(:func:`~lstm_lib._lstm_recurrence.reference_forward`, :func:`~lstm_lib._lstm_recurrence.reference_backward`)
take and return, and run the same equations for every configuration of the layer; they differ only in
speed. Each step is a few single-threaded BLAS products on pre-packed weights and one compiled pass over
the cells, instead of a dozen small tensor operations that each pay Python's and PyTorch's overhead. The
C++ source is ``_lstm_kernels.cpp`` next to this file.

Threads (:func:`plan`). The sequences of a batch are independent: with enough rows, the compiled loops
split the batch rows between threads, and each thread runs the whole recurrence on its rows with no
barrier at all (a thread that the operating system deschedules, because another process wants the
core, delays nobody). With one to three rows and large weights, they split the cells instead: each
thread owns a slice of every accumulation's cells and its share of the weights, which stays in its
own cache, and the threads meet once per step (a few times with full state weights or a projection).
Small work stays on one thread: a fork per call costs tens of microseconds.

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

from ._lstm_data import Record, Signals, input_terms

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


# How the compiled loops share a call between threads (measured on the 2-core development machine over the
# benchmark's grid of shapes, quiet and beside a competing busy process; see lstm_lib.bench.grid):
# * a thread is worth starting only when it gets at least MIN_FLOPS_PER_THREAD floating-point operations
#   of the loop (the fork of a team costs tens of microseconds per call);
# * with fewer than 2 * MIN_ROWS batch rows, the cells are split when one step's weights hold at least
#   MIN_CELLS_WEIGHTS values (each thread keeps its share of the weights in its own cache, and the threads
#   meet at a barrier once per step or so; see _lstm_kernels.cpp), else one thread runs;
# * with a few more rows (fewer than CELLS_BELOW_ROWS) and weights larger than a core's cache
#   (LARGE_WEIGHTS values), the cells are still split: it was measured faster there. For inference, whose
#   loop with the rows split would also read the input weights W_x at every step, those count too;
# * otherwise the rows are split: no thread ever waits for another, which also holds up best when
#   another process competes for the cores.
MIN_FLOPS_PER_THREAD = 4e6
MIN_ROWS = 2
MIN_CELLS_WEIGHTS = 32 * 1024
CELLS_BELOW_ROWS = 8
LARGE_WEIGHTS = 256 * 1024


def plan(N: int, B: int, layout, inputs_in_loop: bool = False) -> tuple[int, bool]:
    """``(threads, split_cells)`` for the compiled loops: N steps of B rows of ``layout``. ``inputs_in_loop``:
    an inference loop that, with the rows split, would form the input terms at every step itself."""
    nt = torch.get_num_threads()
    if nt <= 1:
        return 1, False
    flops = N * layout.flops_per_step(B)
    by_work = int(flops // MIN_FLOPS_PER_THREAD)
    weights = _weights_per_step(layout)
    cells = min(nt, by_work, max(1, layout.hidden_size // 16))
    if B < 2 * MIN_ROWS:
        return (cells, True) if weights >= MIN_CELLS_WEIGHTS and cells > 1 else (1, False)
    if inputs_in_loop:
        weights += layout.n_blocks * layout.hidden_size * layout.context * layout.input_size
    if B < CELLS_BELOW_ROWS and weights >= LARGE_WEIGHTS and cells > 1:
        return cells, True
    return max(1, min(nt, B // MIN_ROWS, by_work)), False


def _weights_per_step(layout) -> int:
    d, dv, G = layout.hidden_size, layout.value_size, layout.n_blocks
    n = G * d * dv
    if layout.state_weights == "full":
        n += (G - 1) * d * d
    if layout.proj_size:
        n += dv * d
    return n


def forward(A, W, v0, s0, layout, record: bool, x=None):
    """Compiled :func:`~lstm_lib._lstm_recurrence.reference_forward`: returns ``(v, s_last, rec)``.

    For inference, ``A`` may be None and ``x`` (N, B, d_x) given: when the rows are split, each step then
    forms its own input terms inside the loop (no input-terms tensor, no separate product, one team of
    threads for the whole call); otherwise the input terms are computed first.
    """
    N, B = (A if A is not None else x).shape[:2]
    d, dv, Gd = layout.hidden_size, layout.value_size, layout.n_blocks * layout.hidden_size
    threads, split_cells = plan(N, B, layout, inputs_in_loop=A is None and not record)
    if A is None and (record or split_cells):
        A = input_terms(x, W.W_x, layout.context)
    dtype = (A if A is not None else x).dtype
    f = {"dtype": dtype}
    v = torch.empty(N, B, dv, **f)
    s_last = torch.empty(B, d, **f)
    rec = None
    if record:
        rec = Record(torch.empty(N, B, Gd, **f), torch.empty(N, B, d, **f), torch.empty(N, B, d, **f),
                     torch.empty(N, B, d, **f) if layout.proj_size else None)
    fused = A is None
    kernels().forward_loop(
        None if fused else A.contiguous(), W.b.contiguous(), W.W_v.contiguous(), _opt(W.W_s), _opt(W.W_qdr),
        v0.contiguous(), s0.contiguous(), v, s_last, *(rec if rec is not None else (None, None, None, None)),
        str(layout.state_weights), layout.input_gate, threads, split_cells,
        x.contiguous() if fused else None, W.W_x.contiguous() if fused else None, layout.context)
    return v, s_last, rec


def backward(A, W, v0, s0, rec, grad_v, grad_s, layout, clip):
    """Compiled :func:`~lstm_lib._lstm_recurrence.reference_backward`: returns the same :class:`Signals`.

    The loop also sums the bias and diagonal state-weight gradients while the signals are in cache
    (per thread, in float64).
    """
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
        str(layout.state_weights), layout.input_gate, 0.0 if clip is None else float(clip), *plan(N, B, layout))
    grad_b = sums[:Gd].to(A.dtype)
    grad_w_s = sums[Gd:].to(A.dtype) if layout.state_weights == "diagonal" else None
    return Signals(alpha, alpha_xdu, chi, ds0, dv0, grad_b, grad_w_s)


def _opt(t):
    return None if t is None else t.contiguous()

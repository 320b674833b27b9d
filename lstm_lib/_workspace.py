"""Reused CPU buffers for the large tensors of the LSTM layer's compiled path.

A training step of :class:`~lstm_lib.vanilla_lstm.VanillaLSTM` allocates a few large tensors (the
input terms, the gates, the states, the stacked error signals: about 50 MB at N=100, B=32,
d=256) and frees them again. glibc's allocator returns such blocks to the operating system and
gets fresh ones the next time, and the first write to each fresh 4 KiB page is a page fault:
measured on the development machine, about 9,600 faults per training step, 9 ms of a 47 ms step.
The workspace keeps those buffers and hands them out again once nobody uses them any more.

A buffer is idle when the workspace holds the only reference to its storage. Every tensor handed
out is a view of a buffer, so while the caller, autograd's saved tensors, or any tensor derived from
them is alive, the storage's use count stays above one and the buffer is not handed out again:
nothing a user holds is ever overwritten.

Requests below ``MIN_BYTES`` are ordinary allocations (glibc reuses small blocks by itself). At
most ``LSTM_LIB_WORKSPACE_MB`` MiB (environment variable, read at import; default 256; 0 turns the
workspace off) are kept; a request that does not fit is an ordinary allocation. :func:`release`
drops every buffer. The storage use count comes from the compiled extension
(:mod:`lstm_lib._lstm_kernels`); without it, every request is an ordinary allocation.
"""

from __future__ import annotations

import math
import os
import threading

import torch

from . import _lstm_kernels

MIN_BYTES = 1 << 17  # glibc's default threshold for serving a block from the operating system


def _limit_from_env() -> int:
    raw = os.environ.get("LSTM_LIB_WORKSPACE_MB", "256")
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb >= 0:
        raise ValueError(f"LSTM_LIB_WORKSPACE_MB: expected a number of MiB >= 0, got {raw!r}")
    return int(mb * 2**20)


class Workspace:
    """A bounded set of reusable CPU buffers, handed out as views (see the module's docstring)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._buffers: dict[tuple[int, torch.dtype], list[torch.Tensor]] = {}  # flat buffers by size
        self._nbytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held, in use or idle."""
        return self._nbytes

    @staticmethod
    def _idle(buf: torch.Tensor) -> bool:
        return _lstm_kernels.kernels().storage_use_count(buf) == 1

    def empty(self, shape, dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised CPU tensor of ``shape`` and ``dtype``, on an idle buffer of that size if there is one."""
        numel = math.prod(shape)
        nbytes = numel * dtype.itemsize
        if nbytes < MIN_BYTES or nbytes > self.max_bytes or _lstm_kernels.kernels() is None:
            return torch.empty(shape, dtype=dtype)
        with self._lock:
            same = self._buffers.setdefault((numel, dtype), [])
            for buf in same:
                if self._idle(buf):
                    return buf.view(shape)
            if self._nbytes + nbytes > self.max_bytes:
                self._evict(self._nbytes + nbytes - self.max_bytes)
            buf = torch.empty(numel, dtype=dtype)
            if self._nbytes + nbytes <= self.max_bytes:
                same.append(buf)
                self._nbytes += nbytes
            return buf.view(shape)

    def _evict(self, wanted: int) -> None:
        """Drop idle buffers until ``wanted`` bytes are freed or none is idle."""
        for same in self._buffers.values():
            for buf in [b for b in same if self._idle(b)]:
                if wanted <= 0:
                    return
                same.remove(buf)
                size = buf.nbytes
                self._nbytes -= size
                wanted -= size

    def release(self) -> None:
        """Drop every buffer: idle ones are freed now, the others when their users let go of them."""
        with self._lock:
            self._buffers.clear()
            self._nbytes = 0


workspace = Workspace(_limit_from_env())


def empty(shape, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype, device=device)``, from the workspace when ``device`` is the CPU."""
    if device.type == "cpu":
        return workspace.empty(shape, dtype)
    return torch.empty(shape, dtype=dtype, device=device)


def release() -> None:
    """Drop the workspace's buffers, returning the memory of the idle ones."""
    workspace.release()

"""Argument checks shared by every module.

Each check raises an error whose message starts with the argument's name and says what
was expected and what was given, so a reader never has to guess which input was wrong.
Shape and value problems raise ``ValueError``; a wrong type or dtype raises ``TypeError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

FLOAT_DTYPES = (torch.float32, torch.float64)


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")"


def check_tensor(
    name: str,
    t,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Check that ``t`` is a floating tensor of the expected rank, shape, dtype and device.

    ``shape`` may hold ``None`` for a free dimension; ``ndim`` may be a tuple of allowed
    ranks. With ``finite`` (the default) NaN or infinite entries are refused.
    Returns ``t`` unchanged, so it can be used inline.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.layout != torch.strided:
        raise TypeError(f"{name}: expected a dense (strided) tensor, got layout {t.layout}")
    if t.device.type == "meta":
        raise ValueError(f"{name}: expected a tensor with data (on the CPU or a GPU), got a tensor on the meta device")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {t.dtype}")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} (the model's), got {t.dtype}")
    if device is not None and t.device != torch.device(device):
        raise ValueError(f"{name}: expected a tensor on device {device} (the model's), got {t.device}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.dim() not in allowed:
            want = " or ".join(str(k) for k in allowed)
            raise ValueError(f"{name}: expected a tensor with {want} dimensions, got shape {_shape(t)}")
    if shape is not None:
        want = tuple(shape)
        ok = t.dim() == len(want) and all(w is None or w == n for w, n in zip(want, t.shape, strict=True))
        if not ok:
            pretty = "(" + ", ".join("*" if w is None else str(w) for w in want) + ")"
            raise ValueError(f"{name}: expected shape {pretty}, got {_shape(t)}")
    # One reduction screens for NaN/inf cheaply; only a non-finite sum (which a finite tensor can
    # also give, by overflow) pays for the element-wise test.
    if finite and not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite values, got NaN or infinity")
    return t


def check_matrix(name: str, M, *, rows: int | None = None, cols: int | None = None, square: bool = False):
    """Check a 2-D floating tensor, optionally square or of a given size."""
    check_tensor(name, M, ndim=2)
    if square and M.shape[0] != M.shape[1]:
        raise ValueError(f"{name}: expected a square matrix, got shape {_shape(M)}")
    check_tensor(name, M, shape=(rows, cols))
    return M


def check_positive(name: str, value, *, strict: bool = True) -> float:
    """Check a finite real number that is > 0 (or >= 0 when ``strict`` is False)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}") from None
    if not math.isfinite(v) or (v <= 0 if strict else v < 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return v


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check an integer within ``[minimum, maximum]`` (either bound may be omitted)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an int <= {maximum}, got {value}")
    return value


def check_choice(name: str, value, choices: Sequence) -> object:
    """Check that ``value`` is one of ``choices`` (compared by type as well: ``1`` is not ``True``)."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{name}: expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Check a real ``bool`` (a string such as ``"False"`` or a number is refused, not silently truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return value


def check_real(name: str, value, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Check a finite real number (not a bool or a string) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not (
        isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point()
    ):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}, got {value!r}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name}: expected a number <= {maximum}, got {value!r}")
    return v


def check_dtype(name: str, dtype) -> torch.dtype:
    """Check a floating dtype the models support (float32 or float64); ``None`` means torch's default."""
    if dtype is None:
        dtype = torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{name}: expected a torch.dtype (torch.float32 or torch.float64), got {dtype!r}")
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected torch.float32 or torch.float64, got {dtype}")
    return dtype


def check_device(name: str, device) -> torch.device:
    """Check a device specification; ``None`` means the CPU. A device that does not exist is refused here."""
    try:
        dev = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{name}: expected a torch.device or a device string such as 'cpu' or 'cuda', "
                         f"got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}: CUDA was requested ({device!r}) but torch sees no CUDA device")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{name}: expected a CPU or CUDA device, got {dev}")
    return dev

"""Data standardization (paper Sec. VI-D, Eqs. 118-120): every element of the input has mean 0 and
standard deviation 1 over the TRAINING set; validation and test data are standardized with the
training set's statistics (paper fn 23).

    mu = (1/N) sum_n x0[n]                                   (Eq. 118)
    V  = (1/(N-1)) sum_n (x0[n] - mu)(x0[n] - mu)^T          (Eq. 119; only its diagonal is used)
    x[n] = diag(sqrt(V_ii))^{-1} (x0[n] - mu)                (Eq. 120)

Each element is scaled by its own standard deviation: no rotation, no whitening. Here N counts every
sample of the training set: all steps of all training sequences.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_tensor


@dataclass(frozen=True)
class Standardization:
    """The statistics of a training set, and the map of Eq. 120 they define.

    ``mu`` and ``sigma`` have the size of one sample (the last dimension of the data). An element that
    is constant over the training set has sigma = 0; it is only centred (divided by 1), since no scale
    can be learned from it.
    """

    mu: torch.Tensor
    sigma: torch.Tensor

    @classmethod
    def fit(cls, x0: torch.Tensor) -> Standardization:
        """The statistics of the training samples ``x0`` (..., d_x): every leading index is a sample."""
        check_tensor("x0", x0)
        if x0.dim() < 1 or x0.numel() == 0:
            raise ValueError(f"x0: expected training samples of shape (..., d_x), got {tuple(x0.shape)}")
        flat = x0.reshape(-1, x0.shape[-1])
        if flat.shape[0] < 2:
            raise ValueError(f"x0: expected at least 2 training samples for a standard deviation, got {flat.shape[0]}")
        mu = flat.mean(0)  # Eq. 118
        var = (flat - mu).square().sum(0) / (flat.shape[0] - 1)  # the diagonal of Eq. 119
        return cls(mu, var.sqrt())

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        """Eq. 120 for data of shape (..., d_x), training, validation or test alike."""
        check_tensor("x0", x0, dtype=self.mu.dtype, device=self.mu.device)
        if x0.shape[-1:] != self.mu.shape:
            raise ValueError(f"x0: expected samples of size {self.mu.shape[0]} (the training data's), "
                             f"got shape {tuple(x0.shape)}")
        return (x0 - self.mu) / self._scale()

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Undo Eq. 120: back to the original units (for forecasts)."""
        check_tensor("x", x, dtype=self.mu.dtype, device=self.mu.device)
        return x * self._scale() + self.mu

    def _scale(self) -> torch.Tensor:
        return torch.where(self.sigma > 0, self.sigma, torch.ones_like(self.sigma))

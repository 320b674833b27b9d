"""Data standardization, paper Eqs. 118-120, with the training statistics only (paper fn 23)."""

import pytest
import torch

from lstm_lib.standardize import Standardization


def test_training_data_gets_mean_zero_and_unit_deviation_per_element():
    x0 = torch.randn(50, 8, 3, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64) + 5
    st = Standardization.fit(x0)
    x = st(x0).reshape(-1, 3)
    torch.testing.assert_close(x.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(x.std(0, unbiased=True), torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0)
    # Eq. 119 with N - 1, element by element (the diagonal of V only: no rotation)
    flat = x0.reshape(-1, 3)
    V = torch.cov(flat.T)
    torch.testing.assert_close(st.sigma, V.diagonal().sqrt())
    torch.testing.assert_close(st.inverse(st(x0)), x0)


def test_test_data_uses_the_training_statistics():
    train = torch.randn(100, 2, dtype=torch.float64)
    test = torch.randn(30, 2, dtype=torch.float64) * 3 + 1
    st = Standardization.fit(train)
    torch.testing.assert_close(st(test), (test - train.mean(0)) / train.std(0))
    assert st(test).mean(0).abs().max() > 0.1  # not re-centred on its own statistics


def test_constant_element_is_only_centred_and_bad_input_is_refused():
    x0 = torch.stack([torch.randn(10), torch.full((10,), 2.0)], dim=1)
    st = Standardization.fit(x0)
    assert st.sigma[1] == 0 and torch.equal(st(x0)[:, 1], torch.zeros(10))
    with pytest.raises(ValueError, match="x0: expected at least 2"):
        Standardization.fit(torch.randn(1, 3))
    with pytest.raises(ValueError, match="x0: expected samples of size 2"):
        st(torch.randn(4, 3))
    with pytest.raises(ValueError, match="x0: expected finite"):
        Standardization.fit(torch.tensor([[1.0], [float("nan")]]))

"""The shared argument checks: each error names the argument and the expectation."""

import pytest
import torch

from lstm_lib import _checks as C


def test_check_tensor_accepts_a_good_tensor():
    t = torch.zeros(3, 4, dtype=torch.float64)
    assert C.check_tensor("x", t, ndim=2, shape=(3, None), dtype=torch.float64, device="cpu") is t


@pytest.mark.parametrize(
    "value, kwargs, error, message",
    [
        ([1.0], {}, TypeError, "x: expected a torch.Tensor"),
        (torch.zeros(2, dtype=torch.int64), {}, TypeError, "x: expected dtype float32 or float64"),
        (torch.zeros(2), {"dtype": torch.float64}, TypeError, "x: expected dtype torch.float64"),
        (torch.zeros(2), {"ndim": 3}, ValueError, "x: expected a tensor with 3 dimensions"),
        (torch.zeros(2, 3), {"shape": (2, 4)}, ValueError, r"x: expected shape \(2, 4\), got \(2, 3\)"),
        (torch.tensor([1.0, float("nan")]), {}, ValueError, "x: expected finite values"),
        (torch.zeros(2), {"device": "meta"}, ValueError, "x: expected a tensor on device meta"),
    ],
)
def test_check_tensor_errors(value, kwargs, error, message):
    with pytest.raises(error, match=message):
        C.check_tensor("x", value, **kwargs)


def test_scalar_checks():
    assert C.check_positive("dt", 0.1) == 0.1
    with pytest.raises(ValueError, match="dt: expected a finite number > 0"):
        C.check_positive("dt", 0)
    with pytest.raises(ValueError, match="dt"):
        C.check_positive("dt", float("inf"))
    assert C.check_positive("tau", 0, strict=False) == 0
    with pytest.raises(ValueError, match="N: expected an int >= 1"):
        C.check_int("N", 0, minimum=1)
    with pytest.raises(TypeError, match="N: expected an int"):
        C.check_int("N", 2.0)
    with pytest.raises(ValueError, match="method: expected one of 'a', 'b'"):
        C.check_choice("method", "c", ("a", "b"))
    with pytest.raises(ValueError, match="A: expected a square matrix"):
        C.check_matrix("A", torch.zeros(2, 3), square=True)


def test_finite_tensor_whose_sum_overflows_is_accepted():
    big = torch.full((4,), 3e38, dtype=torch.float32)  # finite entries, infinite sum
    assert C.check_tensor("x", big) is big

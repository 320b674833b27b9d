"""The package's public names resolve to the chapter modules that define them."""

import importlib

import pytest

import lstm_lib


@pytest.mark.parametrize("name", lstm_lib.__all__)
def test_every_exported_name_resolves(name):
    obj = getattr(lstm_lib, name)
    module = importlib.import_module(f"lstm_lib.{lstm_lib._WHERE[name]}")
    assert obj is getattr(module, name)
    assert obj.__doc__, f"{name} has no docstring"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_model"):
        lstm_lib.no_such_model  # noqa: B018

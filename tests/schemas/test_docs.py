"""The examples in labkit.schemas' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "labkit.schemas",
    "labkit.schemas.compatibility",
    "labkit.schemas.parse",
    "labkit.schemas.registry",
    "labkit.schemas.registry.base",
    "labkit.schemas.registry.confluent",
    "labkit.schemas.registry.embedded",
    "labkit.cluster.registry",
    "labkit.schemas.serde",
    "labkit.schemas.compiled",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_public_functions_have_docstrings_with_examples():
    import inspect

    import labkit.schemas as pkg

    missing = []
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if inspect.isfunction(obj) and ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
    assert missing == []

"""Every example in scratchnet's docstrings runs and prints what it says (doctest)."""

import doctest
import importlib
import pkgutil

import pytest

import scratchnet

MODULES = sorted(m.name for m in pkgutil.walk_packages(scratchnet.__path__, "scratchnet."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see above)"

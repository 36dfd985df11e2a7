"""Every example in the docstrings runs and prints what it says (doctest).

Covers the library and the code around it that a learner reads: the benchmark, the examples and
the Keras twins.
"""

import doctest
import importlib
import pkgutil

import pytest

import benchmarks
import examples
import keras_impl
import scratchnet

PACKAGES = (scratchnet, benchmarks, examples, keras_impl)
MODULES = sorted(
    m.name
    for package in PACKAGES
    for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see above)"

"""Shared pytest fixtures and hypothesis profiles for scratchnet's own tests.

Hypothesis profiles: ``dev`` (the default, random examples) and ``ci`` (derandomized, so a run is
repeatable); choose with ``HYPOTHESIS_PROFILE=ci``.
"""

import os

import numpy as np
import pytest
from hypothesis import settings

from scratchnet import config

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def float64():
    """Run the test with ``floatx = 'float64'`` (finite differences need it); restore afterwards."""
    previous = config.floatx()
    config.set_floatx("float64")
    yield
    config.set_floatx(previous)


@pytest.fixture
def numba_kernels():
    """Run the test with the numba kernels (the default); restore the previous choice afterwards."""
    previous = config.kernels()
    config.use_kernels("numba")
    yield
    config.use_kernels(previous)


@pytest.fixture
def numpy_kernels():
    """Run the test with the NumPy reference twins; restore the previous choice afterwards."""
    previous = config.kernels()
    config.use_kernels("numpy")
    yield
    config.use_kernels(previous)


def check_finite_differences(layer, x, rng, eps=1e-6, rtol=1e-6, atol=1e-8):
    """Compare layer.backward with central differences of the fake loss L = sum(y * dy).

    dy is random (never all ones: ones hide transposed or misrouted gradients).
    """
    y = layer(x, training=True)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)

    def loss():
        return float(np.sum(layer(x, training=False) * dy))

    def numeric(array):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = loss()
            array[index] = saved - eps
            down = loss()
            array[index] = saved
            grad[index] = (up - down) / (2 * eps)
        return grad

    checks = {"dx": (dx, x)}
    checks.update({f"d{name}": (layer.grads[name], p) for name, p in layer.params.items()})
    for name, (analytic, array) in checks.items():
        np.testing.assert_allclose(
            analytic, numeric(array), rtol=rtol, atol=atol, err_msg=f"{layer.name}: {name}"
        )


@pytest.fixture
def finite_differences():
    """``check(layer, x, rng)``: compare a layer's backward with central differences (float64)."""
    return check_finite_differences

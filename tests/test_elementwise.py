"""The numba activation kernels (scratchnet.kernels.elementwise) against their NumPy rules."""

import numpy as np
import pytest

from scratchnet import activations, config
from scratchnet.kernels import elementwise


def numpy_sigmoid_float64(z):
    return 1 / (1 + np.exp(-z.astype(np.float64)))


def test_float32_sigmoid_is_within_three_units_in_the_last_place():
    z = np.linspace(-100, 100, 400_001, dtype=np.float32)
    y = np.empty_like(z)
    elementwise.sigmoid_kernel(z, y)
    exact = numpy_sigmoid_float64(z)
    ulps = np.abs(y - exact) / np.spacing(exact.astype(np.float32)).astype(np.float64)
    kept = z >= -87  # below, the kernel returns 0 (see its module docstring)
    assert ulps[kept].max() <= 3.0
    assert np.all(y[~kept] == 0) and np.all(exact[~kept] < 1.7e-38)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_limits_and_nan(dtype):
    z = np.array([np.nan, np.inf, -np.inf, -1000, 1000, 0, -0.0], dtype=dtype)
    y = np.empty_like(z)
    elementwise.sigmoid_kernel(z, y)
    assert np.isnan(y[0])
    np.testing.assert_array_equal(y[1:], np.array([1, 0, 0, 1, 0.5, 0.5], dtype=dtype))


def test_float64_sigmoid_matches_numpy_closely():
    z = np.random.default_rng(0).normal(0, 10, 10_000)
    y = np.empty_like(z)
    elementwise.sigmoid_kernel(z, y)
    np.testing.assert_allclose(y, numpy_sigmoid_float64(z), rtol=1e-15, atol=1e-300)


def test_sigmoid_in_place_and_in_two_dimensions_gives_the_same_bits():
    z = np.random.default_rng(1).normal(0, 5, (577, 33)).astype(np.float32)  # not a block multiple
    y = np.empty_like(z)
    elementwise.sigmoid_kernel(z, y)
    inplace = z.copy()
    elementwise.sigmoid_kernel(inplace, inplace)
    np.testing.assert_array_equal(inplace, y)
    flat = np.empty(z.size, np.float32)
    elementwise.sigmoid_kernel(z.ravel(), flat)
    np.testing.assert_array_equal(flat, y.ravel())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "linear"])
def test_activation_backward_kernel_is_the_numpy_rule_bit_for_bit(name, dtype):
    rng = np.random.default_rng(2)
    dy = rng.normal(0, 1, (50, 7)).astype(dtype)
    y = {"relu": np.maximum(rng.normal(0, 1, (50, 7)), 0), "linear": rng.normal(0, 1, (50, 7)),
         "sigmoid": rng.uniform(0, 1, (50, 7))}[name].astype(dtype)  # fmt: skip
    dy[0, :3] = [np.nan, np.inf, -0.0]
    rule = {"relu": lambda: dy * (y > 0), "sigmoid": lambda: dy * y * (1 - y), "linear": lambda: dy}
    dz = np.empty_like(dy)
    elementwise.activation_backward_kernel(dy, y, elementwise.code(activations.get(name)), dz)
    np.testing.assert_array_equal(dz, rule[name]())
    assert np.array_equal(np.signbit(dz), np.signbit(rule[name]()))  # -0.0 where NumPy has it


@pytest.mark.parametrize("name", ["relu", "linear", "tanh"])
def test_bias_activation_kernel_matches_numpy(name):
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1, (40, 6)).astype(np.float32)
    z[0, 0] = np.nan
    bias = rng.normal(0, 1, 6).astype(np.float32)
    code = elementwise.code(activations.get(name))
    kept, y = z.copy(), np.empty_like(z)
    elementwise.bias_activation_kernel(kept, bias, True, code, y)
    np.testing.assert_array_equal(kept, z + bias)  # z keeps the logits
    if name == "tanh":  # no kernel: only the bias is added, y is left to the caller
        assert code == elementwise.OTHER
        return
    np.testing.assert_array_equal(y, activations.get(name).forward(z + bias))


def test_layers_use_the_kernel_and_numpy_twin_stays_the_formula():

    z = np.random.default_rng(4).normal(0, 3, (8, 5)).astype(np.float32)
    kernel_y = np.empty_like(z)
    elementwise.sigmoid_kernel(z, kernel_y)
    np.testing.assert_array_equal(activations.sigmoid.forward(z), kernel_y)
    previous = config.kernels()
    config.use_kernels("numpy")
    try:
        twin = activations.sigmoid.forward(z)
    finally:
        config.use_kernels(previous)
    np.testing.assert_array_equal(twin, 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(twin, kernel_y, rtol=3e-7)

"""The numba BatchNormalization passes (scratchnet.kernels.batch_norm) against their NumPy twins.

float64 within 1e-10 relative, float32 within float32 rounding; shapes that are not a multiple of
a block, one and many blocks, several cores; and the layer giving the same numbers with either
kernel family.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet import config, layers
from scratchnet.kernels import batch_norm as bn

RTOL = {np.float64: 1e-10, np.float32: 2e-5}


def close(ours, twin, dtype, what):
    assert ours.dtype == twin.dtype == np.dtype(dtype), what
    scale = np.abs(twin).max() + 1e-30
    worst = np.abs(ours - twin).max() / scale
    assert worst <= RTOL[dtype], f"{what}: worst relative difference {worst:.2e} (dtype {dtype})"


def case(shape, dtype, seed, offset=0.0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    x = (offset + rng.normal(rng.normal(0, 3, C), rng.uniform(0.1, 2, C), shape)).astype(dtype)
    dy = rng.normal(0, 1, shape).astype(dtype)
    gamma, beta = rng.normal(1, 0.5, C).astype(dtype), rng.normal(0, 1, C).astype(dtype)
    return x, dy, gamma, beta


def all_passes(module_names, x, dy, gamma, beta, dtype, relu=False, stats=None):
    """Every pass of one family on the same input: statistics, y, the sums, dx (with a fused
    ReLU after the normalization if ``relu``). ``stats``: (mean, var) to use instead of the
    family's own (in float32 the two families' statistics differ by rounding, which moves a
    few values of y across the ReLU's kink)."""
    axis = x.ndim - 1
    moments, normalize, sums, dx = (getattr(bn, name) for name in module_names)
    mean, var = moments(x, axis) if stats is None else stats
    inv_std = (1 / np.sqrt(var + dtype(1e-3))).astype(dtype)
    y = normalize(x, axis, mean, inv_std, gamma, beta, relu)
    relu_of = (gamma, beta) if relu else None
    sum_dy, sum_dy_x_hat = sums(dy, x, axis, mean, inv_std, relu_of)
    d = dx(dy, x, axis, mean, inv_std, inv_std * gamma, sum_dy, sum_dy_x_hat, relu_of)
    return {"mean": mean, "var": var, "y": y, "dbeta": sum_dy, "dgamma": sum_dy_x_hat, "dx": d}


NUMBA = ("moments", "normalize", "gradient_sums", "batch_dx")
TWINS = tuple(f"{name}_reference" for name in NUMBA)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape", [(3, 5), (4, 7, 6, 3), (16, 28, 28, 32), (9, 14, 14, 64), (2, 4097, 17)]
)
def test_kernels_match_the_twins(shape, dtype, relu):
    x, dy, gamma, beta = case(shape, dtype, seed=sum(shape))
    twin = all_passes(TWINS, x, dy, gamma, beta, dtype, relu)
    mean, var = bn.moments(x, x.ndim - 1)
    close(mean, twin["mean"], dtype, f"mean of shape {shape}")
    close(var, twin["var"], dtype, f"var of shape {shape}")
    ours = all_passes(NUMBA, x, dy, gamma, beta, dtype, relu, (twin["mean"], twin["var"]))
    if relu:  # the same ReLU mask: y > 0 at the same places, bit for bit
        np.testing.assert_array_equal(ours["y"] > 0, twin["y"] > 0)
        assert 0.2 < (twin["y"] > 0).mean() < 0.8  # both sides of the kink are exercised
    for key in twin:
        close(ours[key], twin[key], dtype, f"{key} of shape {shape}, relu {relu}")


@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple),
    seed=st.integers(0, 2**16),
    offset=st.sampled_from((0.0, 1e3)),
    relu=st.booleans(),
)
def test_kernels_match_the_twins_on_drawn_shapes_in_float64(shape, seed, offset, relu):
    x, dy, gamma, beta = case(shape, np.float64, seed, offset)
    ours = all_passes(NUMBA, x, dy, gamma, beta, np.float64, relu)
    twin = all_passes(TWINS, x, dy, gamma, beta, np.float64, relu)
    for key in twin:
        close(ours[key], twin[key], np.float64, f"{key} of shape {shape}, offset {offset}")


def test_without_gamma_or_beta_and_on_other_layouts_the_twin_runs():
    x, dy, gamma, beta = case((5, 6, 4), np.float64, seed=3)
    mean, var = bn.moments(x, 2)
    inv_std = 1 / np.sqrt(var + 1e-3)
    for g, b in ((None, beta), (gamma, None), (None, None)):
        np.testing.assert_allclose(
            bn.normalize(x, 2, mean, inv_std, g, b),
            bn.normalize_reference(x, 2, mean, inv_std, g, b),
            rtol=1e-12,
        )
    channels_first = np.ascontiguousarray(np.moveaxis(x, 2, 1))  # axis 1: the twin's business
    mean1, var1 = bn.moments(channels_first, 1)
    np.testing.assert_allclose(mean1, mean, rtol=1e-12)
    np.testing.assert_allclose(var1, var, rtol=1e-12)
    strided = x[:, ::2]  # not C order: the twin
    np.testing.assert_allclose(bn.moments(strided, 2)[1], bn.moments_reference(strided, 2)[1])


def test_float32_statistics_are_summed_in_float64():
    # A float32 running sum of 65,536 copies of 0.1 (one block) is off by about 1e-4 relative.
    x = np.full((1 << 17, 1), 0.1, np.float32)
    mean, var = bn.moments(x, 1)
    assert mean[0] == np.float32(0.1) and var[0] == 0.0


@pytest.mark.parametrize("threads", [1, 2])
def test_the_layer_gives_the_twins_numbers_on_any_number_of_cores(threads, float64):
    x, dy, _, _ = case((32, 9, 9, 16), np.float64, seed=7)
    results = {}
    previous = config.num_threads(), config.kernels()
    try:
        config.set_num_threads(threads)
        for kernels in ("numba", "numpy"):
            config.use_kernels(kernels)
            layer = layers.BatchNormalization()
            y = layer(x, training=True)
            dx = layer.backward(dy)
            results[kernels] = (y, dx, layer.grads["gamma"], layer.grads["beta"])
    finally:
        config.set_num_threads(previous[0])
        config.use_kernels(previous[1])
    for ours, twin, what in zip(results["numba"], results["numpy"], ("y", "dx", "dgamma", "dbeta")):
        close(ours, twin, np.float64, what)

"""MaxPooling2D: numba kernels == NumPy twin, TensorFlow's tie rule, finite differences, errors.

Ties are the interesting part: TensorFlow sends a window's whole gradient to the FIRST maximum
met scanning rows then columns. Inputs drawn from {0, 1, 2} make ties the common case.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet.kernels import backend
from scratchnet.kernels import pooling as pool_ops
from scratchnet.layers.pooling import MaxPool2D, MaxPooling2D

# ----------------------------------------------------------------------------- strategies


@st.composite
def pool_cases(draw, ties=True):
    """A valid max-pool configuration, built by construction: the window first, then an input
    at least that big (so 'valid' has an output), then strides that may overlap (s < pool).

    With ``ties`` the input holds integers in {0, 1, 2}, so most windows have tied maxima.
    Returns a dict with x, dy (random upstream gradient), pool_size, strides, padding.
    """
    PH, PW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    H, W = draw(st.integers(PH, PH + 5)), draw(st.integers(PW, PW + 5))
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if ties:
        x = rng.integers(0, 3, size=(N, H, W, C)).astype(dtype)
    else:
        x = rng.normal(size=(N, H, W, C)).astype(dtype)
    if padding == "same" and draw(st.booleans()):
        x -= 10  # all negative: a zero-padded pool would wrongly return 0 at the border
    H_out, W_out, *_ = pool_ops.pool2d_geometry(x.shape, (PH, PW), strides, padding)
    dy = rng.normal(size=(N, H_out, W_out, C)).astype(dtype)
    return dict(x=x, dy=dy, pool_size=(PH, PW), strides=strides, padding=padding)


@given(pool_cases())
@settings(max_examples=20)
def test_strategy_builds_valid_cases(case):
    H_out, W_out, pt, pb, pl, pr = pool_ops.pool2d_geometry(
        case["x"].shape, case["pool_size"], case["strides"], case["padding"]
    )
    assert H_out >= 1 and W_out >= 1 and case["dy"].shape[1:3] == (H_out, W_out)
    assert pt < case["pool_size"][0] and pl < case["pool_size"][1]  # every window sees a pixel


# ----------------------------------------------------------------------------- reference


def naive_max_pool(x, dy, pool_size, strides, padding):
    """Explicit loops, written from TensorFlow's rule: scan each window row by row, a later value
    replaces the maximum only if strictly greater; padding is skipped; dx accumulates."""
    N, H, W, C = x.shape
    H_out, W_out, pt, _, pl, _ = pool_ops.pool2d_geometry(x.shape, pool_size, strides, padding)
    y = np.zeros((N, H_out, W_out, C), dtype=x.dtype)
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    best = None
                    for a in range(pool_size[0]):
                        for b in range(pool_size[1]):
                            h, w = i * strides[0] - pt + a, j * strides[1] - pl + b
                            if (
                                0 <= h < H
                                and 0 <= w < W
                                and (best is None or x[n, h, w, c] > x[best])
                            ):
                                best = (n, h, w, c)
                    y[n, i, j, c] = x[best]
                    dx[best] += dy[n, i, j, c]
    return y, dx


def run_pool(x, dy, pool_size, strides, padding, kernels):
    K = backend.FAMILIES[kernels]
    y, argmax = K.max_pool2d_forward(x, pool_size, strides, padding)
    dx = K.max_pool2d_backward(dy, argmax, x.shape)
    return y, argmax, dx


# ----------------------------------------------------------------------------- kernel == twin


@given(pool_cases(ties=True))
@settings(max_examples=40)
def test_numba_pool_matches_twin_and_loops_with_ties(case):
    args = case["x"], case["dy"], case["pool_size"], case["strides"], case["padding"]
    config = {k: case[k] for k in ("pool_size", "strides", "padding")}
    y, argmax, dx = run_pool(*args, "numba")
    y_twin, argmax_twin, dx_twin = run_pool(*args, "numpy")
    y_loop, dx_loop = naive_max_pool(*args)
    assert y.dtype == dx.dtype == case["x"].dtype
    # Routing is exact: the same winner everywhere, so y is bit-equal and dx adds the same terms
    # in the same (row-major output) order.
    np.testing.assert_array_equal(argmax, argmax_twin, err_msg=f"argmax, {config}")
    np.testing.assert_array_equal(y, y_twin, err_msg=f"y vs twin, {config}")
    np.testing.assert_array_equal(y, y_loop, err_msg=f"y vs loops, {config}")
    np.testing.assert_array_equal(dx, dx_loop, err_msg=f"dx vs loops, {config}")
    np.testing.assert_allclose(dx, dx_twin, rtol=1e-6, err_msg=f"dx vs twin, {config}")


@given(pool_cases(ties=False))
@settings(max_examples=20)
def test_numba_pool_matches_loops_without_ties(case):
    args = case["x"], case["dy"], case["pool_size"], case["strides"], case["padding"]
    y, _, dx = run_pool(*args, "numba")
    y_loop, dx_loop = naive_max_pool(*args)
    np.testing.assert_array_equal(y, y_loop)
    np.testing.assert_array_equal(dx, dx_loop)


# ------------------------------------------------------------------ keras-behaviour.md section 2.2


def pool_grad(x, pool, stride, dy=None, kernels="numba"):
    x = np.asarray(x, dtype=np.float64)[None, :, :, None]  # (1, H, W, 1)
    y, argmax, _ = run_pool(x, x[:, :1, :1], (pool, pool), (stride, stride), "valid", kernels)
    dy = np.ones(y.shape) if dy is None else np.asarray(dy, dtype=np.float64)[None, :, :, None]
    _, _, dx = run_pool(x, dy, (pool, pool), (stride, stride), "valid", kernels)
    return dx[0, :, :, 0]


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_documented_tie_examples(kernels):
    x = [[1, 1, 0, 5], [1, 1, 5, 5], [2, 3, 3, 2], [3, 2, 2, 3]]
    expected = [[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(pool_grad(x, 2, 2, kernels=kernels), expected)

    expected = [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(pool_grad(np.zeros((4, 4)), 2, 2, kernels=kernels), expected)

    x = np.zeros((4, 4))
    x[1, 1] = 9  # inside all four 3x3 windows: the four gradients add up
    assert pool_grad(x, 3, 1, kernels=kernels)[1, 1] == 4

    x = [[1, 2, 1], [2, 1, 2], [1, 2, 1]]
    dy = [[1, 10], [100, 1000]]
    expected = [[0, 11, 0], [100, 0, 1000], [0, 0, 0]]
    np.testing.assert_array_equal(pool_grad(x, 2, 1, dy, kernels=kernels), expected)


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_same_padding_never_wins(kernels):
    x = -1 - np.arange(25.0).reshape(1, 5, 5, 1)  # all negative
    y, _, dx = run_pool(x, np.ones((1, 3, 3, 1)), (2, 2), (2, 2), "same", kernels)
    # bottom row/right column windows hold only real pixels of row/col 4 (the padding is after)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1, -3, -5], [-11, -13, -15], [-21, -23, -25]])
    assert dx.sum() == 9


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize(
    "pool_size, strides, padding",
    [
        (2, None, "valid"),
        (3, 1, "valid"),
        (3, 2, "same"),
        ((2, 3), (1, 2), "same"),
        (2, None, "same"),
    ],
)
def test_max_pooling2d_finite_differences(
    float64, numba_kernels, finite_differences, pool_size, strides, padding
):
    rng = np.random.default_rng(5)
    layer = MaxPooling2D(pool_size, strides, padding)
    x = rng.normal(size=(2, 5, 6, 3))  # continuous values: no ties, so the max is differentiable
    finite_differences(layer, x, rng)


# ----------------------------------------------------------------------------- layer API and errors


def test_layer_shapes_defaults_and_alias(numba_kernels):
    assert MaxPool2D is MaxPooling2D
    layer = MaxPooling2D()
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2)
    assert MaxPooling2D((3, 3)).strides == (3, 3)
    y = layer(np.zeros((2, 5, 5, 3), dtype=np.float32))  # the odd row and column are dropped
    assert y.shape == (2, 2, 2, 3) and y.dtype == np.float32
    assert MaxPooling2D(2, padding="same").compute_output_shape((None, 5, 5, 3)) == (None, 3, 3, 3)


def test_get_config_has_keras_keys():
    config = MaxPooling2D(3, strides=1, padding="SAME").get_config()
    assert list(config) == [
        "name",
        "trainable",
        "dtype",
        "pool_size",
        "padding",
        "strides",
        "data_format",
    ]
    assert config["pool_size"] == (3, 3) and config["strides"] == (1, 1)
    assert config["padding"] == "SAME"  # Keras keeps the pooling padding as written
    assert config["data_format"] == "channels_last"
    clone = MaxPooling2D.from_config({**config, "name": "clone"})
    assert clone.get_config() == {**config, "name": "clone"}


def test_3d_input_suggests_a_channel_axis():
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        MaxPooling2D()(np.zeros((2, 28, 28), dtype=np.float32))


@pytest.mark.parametrize(
    "kwargs", [dict(padding="full"), dict(data_format="channels_first"), dict(pool_size=0)]
)
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        MaxPooling2D(**kwargs)


def test_window_bigger_than_input_is_explained():
    with pytest.raises(ValueError, match="does not fit"):
        MaxPooling2D(3)(np.zeros((1, 2, 2, 1), dtype=np.float32))

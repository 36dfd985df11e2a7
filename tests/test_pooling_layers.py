"""Average, 1-D max and global pooling: explicit loops, finite differences, shapes, config, errors.

The loops below are written from the rules as TensorFlow states them (and as
``parity_tests/test_pooling_layers.py`` checks against Keras): an average divides by the window's
real cells only; a window max sends its gradient to the first maximum; a global max splits it
equally among tied maxima.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet import config
from scratchnet.kernels import avg_pooling
from scratchnet.kernels.conv.reference import output_size_and_padding
from scratchnet.layers.pooling_more import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPooling1D,
)

# ----------------------------------------------------------------------------- strategies


@st.composite
def window_cases(draw, rank=2, ties=False):
    """A valid windowed-pooling configuration, by construction: the window first, then an input
    at least that big ('valid') or any size ('same'), strides that may overlap or leave gaps.

    Returns a dict with x (N, *spatial, C) float64, dy shaped like the output, pool_size,
    strides, padding (per-axis tuples of length ``rank``).
    """
    pool = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    padding = draw(st.sampled_from(["valid", "same"]))
    sizes = tuple(draw(st.integers(p if padding == "valid" else 1, p + 5)) for p in pool)
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (N, *sizes, C)
    x = rng.integers(0, 3, size=shape).astype(np.float64) if ties else rng.normal(size=shape)
    out = [output_size_and_padding(s, p, t, 1, padding)[0] for s, p, t in zip(sizes, pool, strides)]
    dy = rng.normal(size=(N, *out, C))
    return dict(x=x, dy=dy, pool_size=pool, strides=strides, padding=padding)


def windows(size, k, s, padding):
    """For each output position along one axis: the input indices of its window's real cells."""
    out, before, _ = output_size_and_padding(size, k, s, 1, padding)
    return [
        [i * s - before + a for a in range(k) if 0 <= i * s - before + a < size] for i in range(out)
    ]


def naive_pool2d(x, dy, pool_size, strides, padding, mode):
    """Explicit loops: y and dx of average ('avg') or first-maximum ('max') pooling."""
    N, H, W, C = x.shape
    rows = windows(H, pool_size[0], strides[0], padding)
    cols = windows(W, pool_size[1], strides[1], padding)
    y = np.zeros((N, len(rows), len(cols), C))
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i, hs in enumerate(rows):
                for j, ws in enumerate(cols):
                    cells = [(h, w) for h in hs for w in ws]  # row-major window order
                    if mode == "avg":
                        y[n, i, j, c] = sum(x[n, h, w, c] for h, w in cells) / len(cells)
                        for h, w in cells:
                            dx[n, h, w, c] += dy[n, i, j, c] / len(cells)
                    else:
                        best = cells[0]
                        for h, w in cells[1:]:
                            if x[n, h, w, c] > x[n, best[0], best[1], c]:  # strict: first wins
                                best = (h, w)
                        y[n, i, j, c] = x[n, best[0], best[1], c]
                        dx[n, best[0], best[1], c] += dy[n, i, j, c]
    return y, dx


def step(layer, x, dy):
    y = layer(x, training=True)
    dy_before = dy.copy()
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dy, dy_before, err_msg="backward modified dy")
    return y, dx


# ----------------------------------------------------------------------------- against loops


@given(window_cases())
@settings(max_examples=30)
def test_avg_pool2d_kernels_match_loops(case):
    args = case["pool_size"], case["strides"], case["padding"]
    y = avg_pooling.avg_pool2d_forward(case["x"], *args)
    dx = avg_pooling.avg_pool2d_backward(case["dy"], case["x"].shape, *args)
    y_loop, dx_loop = naive_pool2d(case["x"], case["dy"], *args, mode="avg")
    np.testing.assert_allclose(y, y_loop, rtol=1e-12, atol=1e-12, err_msg=str(args))
    np.testing.assert_allclose(dx, dx_loop, rtol=1e-12, atol=1e-12, err_msg=str(args))
    assert dx.flags.c_contiguous and dx.shape == case["x"].shape


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
@given(case=window_cases(rank=1, ties=True))
@settings(max_examples=20)
def test_1d_layers_match_loops_with_ties(kernels, case):
    previous = config.kernels(), config.floatx()
    config.use_kernels(kernels)  # not the fixtures: hypothesis re-runs the body, not fixtures
    config.set_floatx("float64")
    try:
        x4, dy4 = case["x"][:, :, None], case["dy"][:, :, None]  # (N, L, 1, C)
        pool, strides = case["pool_size"] + (1,), case["strides"] + (1,)
        for cls, mode in ((AveragePooling1D, "avg"), (MaxPooling1D, "max")):
            layer = cls(case["pool_size"][0], case["strides"][0], case["padding"])
            y, dx = step(layer, case["x"], case["dy"])
            y_loop, dx_loop = naive_pool2d(x4, dy4, pool, strides, case["padding"], mode)
            np.testing.assert_allclose(y, y_loop[:, :, 0], rtol=1e-12, err_msg=cls.__name__)
            np.testing.assert_allclose(dx, dx_loop[:, :, 0], rtol=1e-12, err_msg=cls.__name__)
    finally:
        config.use_kernels(previous[0])
        config.set_floatx(previous[1])


def test_same_padding_divides_by_real_cells():
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = AveragePooling2D(2, strides=1, padding="same")(x)[0, :, :, 0]
    # the bottom-right window holds one real pixel (9); its neighbours two
    np.testing.assert_array_equal(y, [[3, 4, 4.5], [6, 7, 7.5], [7.5, 8.5, 9]])


@pytest.mark.parametrize("cls, rank", [(GlobalMaxPooling2D, 2), (GlobalMaxPooling1D, 1)])
def test_global_max_splits_the_gradient_among_ties(float64, cls, rank):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]]).T[None]  # (1, 4, 2): 2 and 4 ties
    if rank == 2:
        x = x.reshape(1, 2, 2, 2)
    layer = cls()
    y, dx = step(layer, x, np.array([[6.0, 8.0]]))
    np.testing.assert_array_equal(y, [[3.0, 2.0]])
    np.testing.assert_array_equal(dx.reshape(4, 2), [[0, 2], [3, 2], [3, 2], [0, 2]])


def test_global_average_pools_every_position(float64):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    dy = np.random.default_rng(1).normal(size=(2, 1, 1, 5))
    y, dx = step(GlobalAveragePooling2D(keepdims=True), x, dy)
    np.testing.assert_allclose(y, x.mean(axis=(1, 2), keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(dx, np.broadcast_to(dy / 12, x.shape), rtol=1e-14)


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize(
    "cls, kwargs, shape",
    [
        (AveragePooling2D, dict(pool_size=2), (2, 5, 6, 3)),
        (AveragePooling2D, dict(pool_size=(3, 2), strides=(1, 2), padding="same"), (2, 5, 6, 2)),
        (AveragePooling2D, dict(pool_size=3, strides=2, padding="same"), (1, 4, 5, 2)),
        (AveragePooling1D, dict(pool_size=3, strides=1, padding="same"), (2, 6, 3)),
        (AveragePooling1D, dict(pool_size=2, strides=3), (2, 7, 2)),
        (MaxPooling1D, dict(), (2, 7, 3)),
        (MaxPooling1D, dict(pool_size=3, strides=2, padding="same"), (2, 6, 2)),
        (GlobalAveragePooling2D, dict(), (2, 3, 4, 2)),
        (GlobalAveragePooling2D, dict(keepdims=True), (2, 3, 4, 2)),
        (GlobalAveragePooling1D, dict(), (2, 5, 3)),
        (GlobalMaxPooling2D, dict(), (2, 3, 4, 2)),
        (GlobalMaxPooling1D, dict(keepdims=True), (2, 5, 3)),
    ],
)
def test_finite_differences(float64, finite_differences, cls, kwargs, shape):
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape)  # continuous values: no ties, so every max is differentiable
    finite_differences(cls(**kwargs), x, rng)


# ----------------------------------------------------------------------------- API


def test_aliases_defaults_and_shapes():
    assert (AvgPool2D, AvgPool1D, MaxPool1D) == (AveragePooling2D, AveragePooling1D, MaxPooling1D)
    assert GlobalAvgPool2D is GlobalAveragePooling2D and GlobalMaxPool2D is GlobalMaxPooling2D
    assert GlobalAvgPool1D is GlobalAveragePooling1D and GlobalMaxPool1D is GlobalMaxPooling1D
    assert MaxPooling1D().pool_size == (2,) and MaxPooling1D().strides == (2,)
    assert AveragePooling2D(3).strides == (3, 3)
    assert AveragePooling1D((4,), strides=1).strides == (1,)
    same = AveragePooling2D(2, padding="same")
    assert same.compute_output_shape((None, 5, 5, 3)) == (None, 3, 3, 3)
    assert MaxPooling1D(3, 2).compute_output_shape((None, 8, 4)) == (None, 3, 4)
    assert GlobalMaxPooling2D().compute_output_shape((None, 5, 5, 3)) == (None, 3)
    assert GlobalAveragePooling1D(keepdims=True).compute_output_shape((None, 7, 3)) == (None, 1, 3)
    y = GlobalAveragePooling2D()(np.zeros((2, 3, 3, 4), dtype=np.float32))
    assert y.shape == (2, 4) and y.dtype == np.float32


def test_get_config_round_trips():
    config = AveragePooling1D(3, padding="SAME", name="a").get_config()
    keys = ["name", "trainable", "dtype", "pool_size", "padding", "strides", "data_format"]
    assert list(config) == keys  # Keras's order
    assert config["pool_size"] == (3,) and config["padding"] == "SAME"
    assert AveragePooling1D.from_config(config).get_config() == config
    config = GlobalMaxPooling1D(keepdims=True, name="g").get_config()
    assert config == {
        "name": "g",
        "trainable": True,
        "dtype": "float32",
        "data_format": "channels_last",
        "keepdims": True,
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: AveragePooling2D(2, padding="full"),
        lambda: AveragePooling2D(0),
        lambda: AveragePooling1D((2, 2)),
        lambda: MaxPooling1D(2, strides=0),
        lambda: MaxPooling1D(data_format="channels_first"),
        lambda: GlobalAveragePooling2D(data_format="channels_first"),
    ],
)
def test_bad_arguments_are_explained(make):
    with pytest.raises(ValueError, match="'"):  # the message names the layer
        make()


def test_average_pooling_needs_a_pool_size_as_in_keras():
    with pytest.raises(TypeError):
        AveragePooling2D()


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="does not fit"):
        AveragePooling2D(3)(np.zeros((1, 2, 2, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(batch, steps, features\)"):
        MaxPooling1D()(np.zeros((1, 4, 4, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="x.transpose\\(0, 2, 1\\)"):
        GlobalMaxPooling1D(data_format="channels_first")
    with pytest.raises(ValueError, match="expects a 4-D input"):
        GlobalAveragePooling2D().compute_output_shape((None, 5, 3))

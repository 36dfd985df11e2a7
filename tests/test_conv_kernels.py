"""Conv2D: numba kernels == NumPy twin, TF geometry, finite differences, and clear errors.

No Keras here: Keras parity lives in parity_tests/. These tests pin scratchnet to its own math.
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet import activations, config
from scratchnet.kernels import backend, parallel, process
from scratchnet.kernels import conv as conv_ops
from scratchnet.kernels.conv import chunks, reference, shifted
from scratchnet.kernels.elementwise import Deferred
from scratchnet.layers.conv import Conv2D, Convolution2D

# ----------------------------------------------------------------------------- strategies


@st.composite
def conv_cases(draw):
    """A valid Conv2D configuration and its arrays, built by construction (never filtered).

    Draws the kernel first, then strides OR dilation (Keras forbids both > 1), then an input at
    least as big as the dilated kernel, so 'valid' always has an output. Sizes stay small.
    Returns a dict with x, kernel, bias, dz (a random upstream gradient), strides, padding,
    dilation.
    """
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if draw(st.booleans()):
        strides, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (1, 1)
    else:
        strides, dilation = (1, 1), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    H = draw(st.integers(dilation[0] * (KH - 1) + 1, dilation[0] * (KH - 1) + 6))
    W = draw(st.integers(dilation[1] * (KW - 1) + 1, dilation[1] * (KW - 1) + 6))
    N, C_in, C_out = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    H_out, W_out, *_ = reference.conv2d_geometry(
        (N, H, W, C_in), (KH, KW), strides, padding, dilation
    )
    return dict(
        x=rng.normal(size=(N, H, W, C_in)).astype(dtype),
        kernel=rng.normal(size=(KH, KW, C_in, C_out)).astype(dtype),
        bias=rng.normal(size=C_out).astype(dtype),
        dz=rng.normal(size=(N, H_out, W_out, C_out)).astype(dtype),
        strides=strides,
        padding=padding,
        dilation=dilation,
    )


@given(conv_cases())
@settings(max_examples=30)
def test_strategy_builds_valid_cases(case):
    H_out, W_out, pt, pb, pl, pr = reference.conv2d_geometry(
        case["x"].shape, case["kernel"].shape, case["strides"], case["padding"], case["dilation"]
    )
    assert H_out >= 1 and W_out >= 1
    assert case["dz"].shape[1:3] == (H_out, W_out)
    assert not (max(case["strides"]) > 1 and max(case["dilation"]) > 1)
    assert 0 <= pb - pt <= 1 and 0 <= pr - pl <= 1  # TF: the odd pixel goes bottom/right


# ----------------------------------------------------------------------------- references


def naive_conv2d(x, kernel, bias, strides, padding, dilation):
    """Seven nested loops straight from the formula: the slowest, most obvious conv there is."""
    N, H, W, C_in = x.shape
    KH, KW, _, C_out = kernel.shape
    H_out, W_out, pt, _, pl, _ = reference.conv2d_geometry(
        x.shape, kernel.shape, strides, padding, dilation
    )
    z = np.zeros((N, H_out, W_out, C_out))
    for n in range(N):
        for i in range(H_out):
            for j in range(W_out):
                for f in range(C_out):
                    total = bias[f]
                    for a in range(KH):
                        for b in range(KW):
                            h = i * strides[0] + a * dilation[0] - pt
                            w = j * strides[1] + b * dilation[1] - pl
                            if 0 <= h < H and 0 <= w < W:
                                for c in range(C_in):
                                    total += x[n, h, w, c] * kernel[a, b, c, f]
                    z[n, i, j, f] = total
    return z


def tolerance(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- kernel == twin


def run_conv(kernels, case, activation=None, keep_z=False, need_dx=True):
    """Forward and backward with the given kernel family: ``(y, z, dx, dkernel, dbias)``.

    Backward goes through the activation as Conv2D's does: dz = activation'(dy), deferred, so
    the numba kernels compute it chunk by chunk."""
    x, kernel, bias, dy = case["x"], case["kernel"], case["bias"], case["dz"]
    geometry = case["strides"], case["padding"], case["dilation"]
    K = backend.FAMILIES[kernels]
    y, z = K.conv2d_forward(x, kernel, bias, *geometry, activation=activation, keep_z=keep_z)
    dz = dy if activation is None else Deferred.activation_backward(activation, dy, y)
    grads = K.conv2d_backward(dz, x, kernel, *geometry, need_dx=need_dx)
    return (y, z, *grads)


ACTIVATIONS = [None, activations.relu, activations.sigmoid, activations.tanh, activations.softmax]


def assert_numba_matches_twin(case, activation=None, keep_z=False):
    tol = tolerance(case["x"].dtype)
    geometry = case["strides"], case["padding"], case["dilation"]
    fast = run_conv("numba", case, activation, keep_z)
    ref = run_conv("numpy", case, activation, keep_z)
    names = ("y", "z", "dx", "dkernel", "dbias")
    for name, got, want in zip(names, fast, ref, strict=True):
        if want is None:
            assert got is None, name
            continue
        assert got.shape == want.shape and got.dtype == case["x"].dtype, name
        np.testing.assert_allclose(got, want, **tol, err_msg=f"conv2d {name}, {geometry}")


@given(conv_cases(), st.sampled_from(ACTIVATIONS), st.booleans())
@settings(max_examples=40)
def test_numba_conv_matches_numpy_twin(case, activation, keep_z):
    assert_numba_matches_twin(case, activation, keep_z)


@given(conv_cases(), st.sampled_from(ACTIVATIONS))
@settings(max_examples=25)
def test_numba_conv_matches_twin_with_one_image_per_chunk(case, activation):
    """Many chunks shared by both worker threads: the chunk edges must not show in the result."""
    saved = chunks.CHUNK_FLOATS
    chunks.CHUNK_FLOATS = 1  # every image is a chunk of its own
    try:
        assert len(chunks.batch_chunks(len(case["x"]), 4)) == len(case["x"])
        assert_numba_matches_twin(case, activation, keep_z=True)
    finally:
        chunks.CHUNK_FLOATS = saved


def test_conv_of_a_real_batch_spans_several_chunks_and_matches_twin(numba_kernels):
    """A hanoi-sized layer (64 images of 26x26x32) really is split, and still equals the twin."""
    rng = np.random.default_rng(2)
    case = dict(
        x=rng.normal(size=(64, 26, 26, 32)).astype(np.float32),
        kernel=rng.normal(size=(3, 3, 32, 32)).astype(np.float32) * 0.1,
        bias=rng.normal(size=32).astype(np.float32),
        dz=rng.normal(size=(64, 24, 24, 32)).astype(np.float32),
        strides=(1, 1),
        padding="valid",
        dilation=(1, 1),
    )
    assert len(chunks.batch_chunks(64, 24 * 24 * (288 + 32))) >= 8
    assert_numba_matches_twin(case, activations.sigmoid, keep_z=True)


@st.composite
def shifted_cases(draw):
    """Cases the shifted products can take: stride 1, no dilation, 'valid' padding."""
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = draw(st.integers(KH, KH + 6)), draw(st.integers(KW, KW + 6))
    N, C_in, C_out = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    H_out, W_out = H - KH + 1, W - KW + 1
    return dict(
        x=rng.normal(size=(N, H, W, C_in)).astype(dtype),
        kernel=rng.normal(size=(KH, KW, C_in, C_out)).astype(dtype),
        bias=rng.normal(size=C_out).astype(dtype),
        dz=rng.normal(size=(N, H_out, W_out, C_out)).astype(dtype),
        strides=(1, 1),
        padding="valid",
        dilation=(1, 1),
    )


@given(shifted_cases(), st.sampled_from(ACTIVATIONS), st.booleans())
@settings(max_examples=40)
def test_shifted_products_match_numpy_twin(case, activation, one_image_chunks):
    """The shifted path, forced on for any channel count and image size (its thresholds are
    about speed only), with whole-batch chunks or one image per chunk."""
    limits = (
        shifted.SHIFTED_MIN_CHANNELS, shifted.SHIFTED_MAX_WASTE, shifted.SHIFTED_BLAS_KERNELS,
        chunks.CHUNK_FLOATS,
    )  # fmt: skip
    shifted.SHIFTED_MIN_CHANNELS, shifted.SHIFTED_MAX_WASTE = 1, float("inf")
    shifted.SHIFTED_BLAS_KERNELS = {process.blas_kernel_family()}  # on this BLAS too
    assert case["kernel"].shape[3] <= shifted.SHIFTED_MAX_FILTERS  # 1-5 filters
    if one_image_chunks:
        chunks.CHUNK_FLOATS = 1
    try:
        x, kernel = case["x"], case["kernel"]
        assert chunks.ChunkPlan(x.shape, kernel.shape, (1, 1), "valid", (1, 1), None).shifted
        assert_numba_matches_twin(case, activation, keep_z=True)
    finally:
        (
            shifted.SHIFTED_MIN_CHANNELS, shifted.SHIFTED_MAX_WASTE, shifted.SHIFTED_BLAS_KERNELS,
            chunks.CHUNK_FLOATS,
        ) = limits  # fmt: skip


@pytest.mark.parametrize(
    "x_shape, kernel_shape, strides, padding, shifted",
    [
        ((64, 26, 26, 32), (3, 3, 32, 32), (1, 1), "valid", True),  # hanoi's second conv
        ((128, 13, 13, 32), (3, 3, 32, 64), (1, 1), "valid", False),  # convnet's: 64 filters
        ((128, 13, 13, 32), (3, 3, 32, 32), (1, 1), "valid", True),  # the same with 32
        ((32, 16, 16, 32), (3, 3, 32, 64), (1, 1), "same", False),  # seminar's: padding
        ((32, 28, 28, 1), (3, 3, 1, 32), (1, 1), "valid", False),  # a first layer: one channel
        ((32, 13, 13, 8), (3, 3, 8, 8), (1, 1), "valid", False),  # zhou's: 8 channels
        ((8, 26, 26, 32), (3, 3, 32, 32), (2, 2), "valid", False),  # strided
        ((8, 7, 7, 32), (5, 5, 32, 32), (1, 1), "valid", False),  # 5x5 on 7x7: 5.4x the rows
    ],
)
def test_which_convolutions_take_the_shifted_products(
    x_shape, kernel_shape, strides, padding, shifted, monkeypatch
):
    """The shape rules, on BLAS kernels where the shifted products pay."""
    monkeypatch.setattr(process, "_blas_kernel", ["SkylakeX"])
    plan = chunks.ChunkPlan(x_shape, kernel_shape, strides, padding, (1, 1), None)
    assert plan.shifted == shifted


@pytest.mark.parametrize(
    "family, shifted", [("SkylakeX", True), ("Haswell", False), ("Zen", False), (None, False)]
)
def test_the_shifted_products_run_only_on_the_blas_kernels_they_measured_faster_on(
    family, shifted, monkeypatch
):
    """hanoi's second convolution: shifted products on OpenBLAS's SkylakeX kernels, im2col on
    its Haswell kernels (measured slower there), on other families and on other BLAS (None)."""
    monkeypatch.setattr(process, "_blas_kernel", [family])
    plan = chunks.ChunkPlan((64, 26, 26, 32), (3, 3, 32, 32), (1, 1), "valid", (1, 1), None)
    assert plan.shifted == shifted


def test_the_blas_kernel_family_is_what_threadpoolctl_reports_for_scipys_openblas():
    from threadpoolctl import threadpool_info

    openblas = [i for i in threadpool_info() if i["internal_api"] == "openblas"]
    scipy_first = sorted(openblas, key=lambda i: "scipy" not in os.path.dirname(i["filepath"]))
    want = scipy_first[0].get("architecture") if scipy_first else None
    assert process.blas_kernel_family() == want


def test_conv_results_do_not_depend_on_thread_timing(numba_kernels, monkeypatch):
    """dkernel is summed from per-chunk terms in chunk order: every run gives the same bits."""
    monkeypatch.setattr(chunks, "CHUNK_FLOATS", 1)  # one image per chunk: 16 chunks
    rng = np.random.default_rng(3)
    case = dict(
        x=rng.normal(size=(16, 9, 9, 3)).astype(np.float32),
        kernel=rng.normal(size=(3, 3, 3, 5)).astype(np.float32),
        bias=rng.normal(size=5).astype(np.float32),
        dz=rng.normal(size=(16, 9, 9, 5)).astype(np.float32),
        strides=(1, 1),
        padding="same",
        dilation=(1, 1),
    )
    first = run_conv("numba", case, activations.relu)
    for _ in range(10):
        again = run_conv("numba", case, activations.relu)
        for got, want in zip(again, first, strict=True):
            if want is not None:
                np.testing.assert_array_equal(got, want)


@given(conv_cases())
@settings(max_examples=15)
def test_conv_forward_matches_seven_loop_reference(case):
    x, kernel, bias = case["x"], case["kernel"], case["bias"]
    geometry = case["strides"], case["padding"], case["dilation"]
    z, _ = conv_ops.conv2d_forward(x, kernel, bias, *geometry)  # the numba family's
    expected = naive_conv2d(x, kernel, bias, *geometry)
    np.testing.assert_allclose(z, expected, **tolerance(x.dtype), err_msg=f"z, {geometry}")


def test_need_dx_false_skips_dx(numba_kernels):
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(2, 5, 5, 1)), rng.normal(size=(3, 3, 1, 4))
    y, _ = conv_ops.conv2d_forward(x, kernel, None)
    dx, dkernel, dbias = conv_ops.conv2d_backward(
        rng.normal(size=y.shape), x, kernel, need_dx=False
    )
    assert dx is None and dkernel.shape == kernel.shape and dbias.shape == (4,)


def test_backward_leaves_its_inputs_untouched(numba_kernels):
    rng = np.random.default_rng(1)
    x, kernel = rng.normal(size=(2, 6, 6, 2)), rng.normal(size=(3, 3, 2, 3))
    y, _ = conv_ops.conv2d_forward(x, kernel, None, padding="same", activation=activations.relu)
    dy = rng.normal(size=y.shape)
    before = [a.copy() for a in (dy, x, y, kernel)]
    dz = Deferred(activations.relu.backward, dy, y)
    conv_ops.conv2d_backward(dz, x, kernel, padding="same")
    for after, was in zip((dy, x, y, kernel), before, strict=True):
        np.testing.assert_array_equal(after, was)


def test_keep_z_returns_the_pre_activation(numba_kernels):
    rng = np.random.default_rng(4)
    x, kernel, bias = rng.normal(size=(3, 5, 5, 2)), rng.normal(size=(3, 3, 2, 4)), np.ones(4)
    y, z = conv_ops.conv2d_forward(x, kernel, bias, activation=activations.sigmoid, keep_z=True)
    y_plain, z_none = conv_ops.conv2d_forward(x, kernel, bias)
    assert z_none is None
    np.testing.assert_allclose(z, y_plain, rtol=1e-12)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-z)), rtol=1e-12)


# ----------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(
    "H, k, s, expected",
    [  # the measurements in keras-behaviour.md section 1.3: (out, pad_top, pad_bottom)
        (5, 3, 2, (3, 1, 1)),
        (6, 3, 2, (3, 0, 1)),
        (6, 2, 1, (6, 0, 1)),
        (7, 4, 1, (7, 1, 2)),
        (5, 2, 2, (3, 0, 1)),
        (28, 3, 1, (28, 1, 1)),
    ],
)
def test_same_padding_split_matches_tensorflow(H, k, s, expected):
    assert reference.output_size_and_padding(H, k, s, 1, "same") == expected


@pytest.mark.parametrize("H, k, s, d, out", [(28, 3, 1, 1, 26), (28, 5, 2, 1, 12), (9, 3, 1, 2, 5)])
def test_valid_output_size(H, k, s, d, out):
    assert reference.output_size_and_padding(H, k, s, d, "valid") == (out, 0, 0)


# ----------------------------------------------------------------------------- finite differences


CONV_FD_CASES = [
    # (kernel_size, strides, padding, dilation_rate, use_bias)
    (3, 1, "valid", 1, True),
    (3, 1, "same", 1, True),
    (3, 2, "same", 1, False),
    ((2, 3), (2, 1), "valid", 1, True),
    (2, 2, "SAME", 1, True),
    (3, 1, "same", 2, True),
    ((2, 2), 1, "valid", (2, 1), False),
]


@pytest.mark.parametrize("kernel_size, strides, padding, dilation, use_bias", CONV_FD_CASES)
@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_conv2d_finite_differences(
    float64,
    numba_kernels,
    finite_differences,
    kernel_size,
    strides,
    padding,
    dilation,
    use_bias,
    activation,
):
    rng = np.random.default_rng(2024)
    layer = Conv2D(
        3,
        kernel_size,
        strides,
        padding,
        dilation_rate=dilation,
        activation=activation,
        use_bias=use_bias,
    )
    x = rng.normal(size=(2, 6, 5, 2))
    layer.build(x.shape)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    finite_differences(layer, x, rng)


def test_conv2d_finite_differences_numpy_twin(float64, finite_differences, numpy_kernels):
    rng = np.random.default_rng(7)
    layer = Conv2D(2, 3, strides=2, padding="same", activation="tanh")
    x = rng.normal(size=(2, 6, 6, 2))
    layer.build(x.shape)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    finite_differences(layer, x, rng)


def test_first_layer_skips_dx(float64, numba_kernels):
    rng = np.random.default_rng(3)
    layer = Conv2D(4, 3, activation="relu")
    x = rng.normal(size=(2, 6, 6, 1))
    y = layer(x, training=True)
    assert layer.backward(rng.normal(size=y.shape), need_dx=False) is None
    assert layer.grads["kernel"].shape == (3, 3, 1, 4) and layer.grads["bias"].shape == (4,)


# ----------------------------------------------------------------------------- layer API


def test_output_shape_dtype_and_alias(numba_kernels):
    assert Convolution2D is Conv2D
    layer = Conv2D(8, 3, strides=2, padding="same")
    x = np.zeros((2, 7, 9, 3), dtype=np.float32)
    y = layer(x)
    assert layer.compute_output_shape((None, 7, 9, 3)) == (None, 4, 5, 8)
    assert y.shape == (2, 4, 5, 8) and y.dtype == np.float32
    assert layer.params["kernel"].shape == (3, 3, 3, 8) and layer.params["bias"].shape == (8,)


def test_get_config_has_keras_keys():
    config = Conv2D(32, 3, padding="SAME", activation="relu").get_config()
    assert list(config) == [
        "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
        "data_format", "dilation_rate", "groups", "activation", "use_bias",
        "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
        "activity_regularizer", "kernel_constraint", "bias_constraint",
    ]  # fmt: skip
    assert config["kernel_size"] == (3, 3) and config["strides"] == (1, 1)
    assert config["padding"] == "same" and config["data_format"] == "channels_last"
    assert config["activation"] == "relu" and config["groups"] == 1
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["bias_initializer"]["class_name"] == "Zeros"
    clone = Conv2D.from_config({**config, "name": "clone"})
    assert clone.get_config() == {**config, "name": "clone"}


def test_activation_object_is_accepted():
    assert Conv2D(2, 3, activation=activations.relu).get_config()["activation"] == "relu"


# ----------------------------------------------------------------------------- clear errors


def test_3d_input_suggests_a_channel_axis():
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        Conv2D(4, 3)(np.zeros((2, 28, 28), dtype=np.float32))


def test_strides_with_dilation_is_rejected_like_keras():
    with pytest.raises(ValueError, match="dilation_rate"):
        Conv2D(4, 3, strides=2, dilation_rate=2)


def test_channels_first_is_rejected():
    with pytest.raises(ValueError, match="channels_last"):
        Conv2D(4, 3, data_format="channels_first")


@pytest.mark.parametrize("padding", ["full", "causal", 1])
def test_unknown_padding_is_rejected(padding):
    with pytest.raises(ValueError, match="padding"):
        Conv2D(4, 3, padding=padding)


def test_kernel_bigger_than_input_is_explained():
    with pytest.raises(ValueError, match="does not fit"):
        Conv2D(4, 5)(np.zeros((1, 3, 3, 1), dtype=np.float32))


def test_channel_mismatch_after_build_is_explained():
    layer = Conv2D(4, 3)
    layer(np.zeros((1, 5, 5, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="was built for"):
        layer(np.zeros((1, 5, 5, 3), dtype=np.float32))


@pytest.mark.parametrize("bad", [dict(filters=0), dict(kernel_size=(3, 0)), dict(groups=2)])
def test_bad_arguments_are_rejected(bad):
    kwargs = dict(filters=4, kernel_size=3) | bad
    with pytest.raises(ValueError):
        Conv2D(**kwargs)


def test_a_kept_first_layer_im2col_gives_the_same_gradients_and_never_stale_outputs():
    """Training forward passes of narrow layers keep their im2col for backward (ChunkPlan)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 9, 8, 1)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 1, 4)).astype(np.float32)
    dy_shape = (6, 9, 8, 4)
    dy = rng.standard_normal(dy_shape).astype(np.float32)
    workspace = {}
    y, _ = conv_ops.conv2d_forward(
        x, kernel, None, padding="same", workspace=workspace, keep_cols=True
    )
    assert workspace["kept_cols_of"] is x and workspace["kept_cols"].shape == (6 * 9 * 8, 9)
    kept = conv_ops.conv2d_backward(dy, x, kernel, padding="same", workspace=workspace)
    fresh = conv_ops.conv2d_backward(dy, x, kernel, padding="same")
    for a, b in zip(kept, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
    # a first layer (no dx) reads the kept matrix in one kernel call for dkernel and dbias
    kept = conv_ops.conv2d_backward(
        dy, x, kernel, padding="same", workspace=workspace, need_dx=False
    )
    fresh = conv_ops.conv2d_backward(dy, x, kernel, padding="same", need_dx=False)
    assert kept[0] is None and fresh[0] is None
    for a, b in zip(kept[1:], fresh[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(kept[2], dy.sum(axis=(0, 1, 2), dtype=np.float64), atol=1e-4)
    # an inference pass on the same array, changed in place, must not read the kept matrix
    x[...] = rng.standard_normal(x.shape)
    y_after, _ = conv_ops.conv2d_forward(x, kernel, None, padding="same", workspace=workspace)
    expected, _ = conv_ops.conv2d_forward(x, kernel, None, padding="same")
    np.testing.assert_array_equal(y_after, expected)
    # a backward pass on another array builds its own
    x2 = x.copy()
    again = conv_ops.conv2d_backward(dy, x2, kernel, padding="same", workspace=workspace)
    np.testing.assert_array_equal(
        again[1], conv_ops.conv2d_backward(dy, x2, kernel, padding="same")[1]
    )


# ----------------------------------------------------------------------------- groups of chunks


def chunk_by_chunk(monkeypatch):
    """Make the convolution take its chunk-by-chunk path, one Python call per chunk, instead
    of whole groups of chunks per numba call (the conditions' functions say no)."""
    monkeypatch.setattr(chunks.ChunkPlan, "in_groups", lambda self, code: False)
    monkeypatch.setattr(conv_ops, "_kernel_activation_parts", lambda dz, dtype: None)


KERNEL_ACTIVATIONS = [None, activations.relu, activations.sigmoid]


@given(
    st.one_of(conv_cases(), shifted_cases()),
    st.sampled_from(KERNEL_ACTIVATIONS),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=60)
def test_groups_of_chunks_give_the_chunk_by_chunk_numbers_bit_for_bit(
    case, activation, one_image, force_shifted
):
    """forward_chunks_kernel and backward_chunks_kernel (one numba call per group of chunks)
    against the chunk-by-chunk path they replace: the same bits for y, z, dx, dkernel, dbias,
    with im2col and with shifted products (forced on where they can run)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        if one_image:  # one image per chunk: several groups, several chunks per group
            monkeypatch.setattr(chunks, "CHUNK_FLOATS", 1)
        if force_shifted:  # the thresholds are about speed only
            monkeypatch.setattr(shifted, "SHIFTED_MIN_CHANNELS", 1)
            monkeypatch.setattr(shifted, "SHIFTED_MAX_WASTE", float("inf"))
            monkeypatch.setattr(shifted, "SHIFTED_BLAS_KERNELS", {process.blas_kernel_family()})
        grouped = run_conv("numba", case, activation, keep_z=True)
        chunk_by_chunk(monkeypatch)
        want = run_conv("numba", case, activation, keep_z=True)
    KH, KW, C_in, C_out = case["kernel"].shape
    # NumPy's matmul (the chunk-by-chunk dkernel = cols^T @ dz) takes a matrix-vector path when
    # a side is 1 wide; the groups always call gemm. Otherwise both are the same gemm call.
    vector = min(KH * KW * C_in, C_out) == 1
    for name, g, w in zip(("y", "z", "dx", "dkernel", "dbias"), grouped, want, strict=True):
        if w is None:
            assert g is None, name
        elif name == "dkernel" and vector:
            np.testing.assert_allclose(g, w, **tolerance(g.dtype), err_msg=name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)


def test_groups_cover_every_chunk_once(numba_kernels, monkeypatch):
    """The groups are consecutive ranges of chunk numbers: all of them, none twice, several
    per thread when there are enough chunks."""
    monkeypatch.setattr(chunks, "CHUNK_FLOATS", 1)
    for N in (1, 2, 7, 16, 64):
        plan = chunks.ChunkPlan((N, 9, 9, 3), (3, 3, 3, 4), (1, 1), "same", (1, 1), None)
        groups = plan.groups()
        numbers = [c for first, last in groups for c in range(first, last)]
        assert numbers == list(range(len(plan.chunks)))
        assert all(last > first for first, last in groups)
        per_thread = parallel.GROUPS_PER_THREAD
        assert len(groups) == min(len(plan.chunks), per_thread * config.num_threads())


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_an_input_that_is_not_c_ordered_gives_the_same_numbers(kernels):
    """x[..., ::2], a transposed or a Fortran-ordered array: the numba kernels take C-ordered
    arrays only (they once failed with numba's TypingError); the entry points make the copy."""
    rng = np.random.default_rng(5)
    wide = rng.normal(size=(3, 7, 7, 4)).astype(np.float32)
    inputs = [wide[..., ::2], np.asfortranarray(wide[..., :2]), wide[..., :2].transpose(0, 2, 1, 3)]
    kernel = rng.normal(size=(3, 3, 2, 5)).astype(np.float32)
    K = backend.FAMILIES[kernels]
    for x in inputs:
        assert not x.flags.c_contiguous
        copy = np.ascontiguousarray(x)
        for geometry in (((1, 1), "valid", (1, 1)), ((2, 2), "same", (1, 1))):
            y, _ = K.conv2d_forward(x, kernel, None, *geometry, activation=activations.relu)
            y_ref, _ = K.conv2d_forward(copy, kernel, None, *geometry, activation=activations.relu)
            np.testing.assert_array_equal(y, y_ref)
            dy = rng.normal(size=y.shape).astype(np.float32)
            got = K.conv2d_backward(
                Deferred.activation_backward(activations.relu, dy, y), x, kernel, *geometry
            )
            want = K.conv2d_backward(
                Deferred.activation_backward(activations.relu, dy, y), copy, kernel, *geometry
            )
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)
    layer = Conv2D(5, 3, activation="relu")
    np.testing.assert_array_equal(layer(inputs[0]), layer(np.ascontiguousarray(inputs[0])))


@pytest.mark.parametrize("need_dx", [True, False])
def test_groups_of_chunks_read_a_kept_first_layer_im2col_as_chunk_by_chunk_does(
    numba_kernels, monkeypatch, need_dx
):
    """A training pass that keeps its narrow im2col, then backward from it: groups of chunks
    and chunk by chunk, the same bits (kept matrix, with and without dx)."""
    monkeypatch.setattr(chunks, "CHUNK_FLOATS", 64 * 9)  # 1 image per chunk: 6 chunks
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 9, 8, 1)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 1, 4)).astype(np.float32)
    dy = rng.standard_normal((6, 9, 8, 4)).astype(np.float32)
    results = []
    for grouped in (True, False):
        if not grouped:
            chunk_by_chunk(monkeypatch)
        workspace = {}
        y, _ = conv_ops.conv2d_forward(
            x, kernel, None, padding="same", activation=activations.relu, workspace=workspace,
            keep_cols=True,
        )  # fmt: skip
        assert workspace["kept_cols_of"] is x
        dz = Deferred.activation_backward(activations.relu, dy, y)
        grads = conv_ops.conv2d_backward(
            dz, x, kernel, padding="same", workspace=workspace, need_dx=need_dx
        )
        results.append((y, *grads))
    for got, want in zip(*results, strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("activation", [None, activations.relu])
def test_a_read_only_upstream_gradient_is_taken(numba_kernels, activation):
    """dy may be read-only (a broadcast, an array from a file): the same gradients as from a
    writeable copy (it once failed with numba's TypingError in the groups of chunks)."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(4, 6, 6, 3))
    kernel = rng.normal(size=(3, 3, 3, 2))
    y, _ = conv_ops.conv2d_forward(x, kernel, None, activation=activation)
    dy = rng.normal(size=y.shape)
    frozen = dy.copy()
    frozen.flags.writeable = False
    results = []
    for d in (dy, frozen):
        dz = d if activation is None else Deferred.activation_backward(activation, d, y)
        results.append(conv_ops.conv2d_backward(dz, x, kernel))
    for got, want in zip(*results, strict=True):
        np.testing.assert_array_equal(got, want)

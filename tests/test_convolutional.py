"""Conv2DTranspose, UpSampling2D, Conv1D, DepthwiseConv2D, SeparableConv2D: finite differences
(float64), the tap loops against other algorithms, output sizes, configs and clear errors.

Keras's own numbers are checked in ``parity_tests/test_convolutional.py``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet.kernels.conv.reference import conv2d_backward_reference, conv2d_forward_reference
from scratchnet.kernels.conv_transpose import conv_transpose2d_forward, conv_transpose_output_size
from scratchnet.kernels.depthwise import depthwise_conv2d_backward, depthwise_conv2d_forward
from scratchnet.layers.convolutional import (
    Conv1D,
    Conv2DTranspose,
    Convolution1D,
    Convolution2DTranspose,
    UpSampling2D,
    bilinear_weights,
)
from scratchnet.layers.depthwise import DepthwiseConv2D, SeparableConv2D, SeparableConvolution2D

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax"]


def random_weights(layer, shape, rng):
    layer.build(shape)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    return layer


# ----------------------------------------------------------------------------- finite differences

TRANSPOSE_CASES = [
    # kernel_size, strides, padding, output_padding, dilation
    (3, 1, "valid", None, 1),
    (3, 2, "same", None, 1),
    ((2, 3), (2, 3), "valid", (1, 2), 1),
    ((4, 3), 2, "same", (1, 0), 1),
    (2, 3, "valid", None, 1),  # stride > kernel: inferred output_padding = s - k
    (3, 1, "same", None, 2),
]


@pytest.mark.parametrize("kernel_size, strides, padding, output_padding, dilation", TRANSPOSE_CASES)
@pytest.mark.parametrize("activation", ["linear", "tanh", "softmax"])
@pytest.mark.parametrize("family", ["numba_kernels", "numpy_kernels"])
def test_conv2d_transpose_finite_differences(
    float64, finite_differences, request, family, kernel_size, strides, padding, output_padding,
    dilation, activation,
):  # fmt: skip
    request.getfixturevalue(family)
    rng = np.random.default_rng(11)
    layer = Conv2DTranspose(
        2, kernel_size, strides, padding, output_padding, dilation_rate=dilation,
        activation=activation,
    )  # fmt: skip
    x = rng.normal(size=(2, 3, 4, 2))
    finite_differences(random_weights(layer, x.shape, rng), x, rng)


@pytest.mark.parametrize("size", [2, (1, 3), (3, 2)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling2d_finite_differences(float64, finite_differences, size, interpolation):
    rng = np.random.default_rng(12)
    finite_differences(
        UpSampling2D(size, interpolation=interpolation), rng.normal(size=(2, 3, 4, 2)), rng
    )


CONV1D_CASES = [
    # kernel_size, strides, padding, dilation
    (3, 1, "valid", 1),
    (3, 2, "same", 1),
    (2, 1, "causal", 2),
    (4, 3, "causal", 1),
    (1, 1, "valid", 1),
]


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", CONV1D_CASES)
@pytest.mark.parametrize("activation", ["linear", "sigmoid", "softmax"])
@pytest.mark.parametrize("family", ["numba_kernels", "numpy_kernels"])
def test_conv1d_finite_differences(
    float64, finite_differences, request, family, kernel_size, strides, padding, dilation,
    activation,
):  # fmt: skip
    request.getfixturevalue(family)
    rng = np.random.default_rng(13)
    layer = Conv1D(3, kernel_size, strides, padding, dilation_rate=dilation, activation=activation)
    x = rng.normal(size=(2, 7, 2))
    finite_differences(random_weights(layer, x.shape, rng), x, rng)


DEPTHWISE_CASES = [
    # kernel_size, strides, padding, depth_multiplier, dilation
    (3, 1, "valid", 1, 1),
    (2, 2, "same", 2, 1),
    ((3, 2), 1, "same", 3, (2, 1)),
    (3, 2, "same", 1, 2),  # strides and dilation together: Keras allows it for these layers
]


@pytest.mark.parametrize("kernel_size, strides, padding, multiplier, dilation", DEPTHWISE_CASES)
@pytest.mark.parametrize("activation", ["linear", "tanh", "softmax"])
def test_depthwise_conv2d_finite_differences(
    float64, finite_differences, kernel_size, strides, padding, multiplier, dilation, activation
):
    rng = np.random.default_rng(14)
    layer = DepthwiseConv2D(
        kernel_size, strides, padding, multiplier, dilation_rate=dilation, activation=activation
    )
    x = rng.normal(size=(2, 5, 6, 2))
    finite_differences(random_weights(layer, x.shape, rng), x, rng)


@pytest.mark.parametrize("kernel_size, strides, padding, multiplier, dilation", DEPTHWISE_CASES)
@pytest.mark.parametrize("activation", ["linear", "sigmoid"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_separable_conv2d_finite_differences(
    float64, finite_differences, kernel_size, strides, padding, multiplier, dilation, activation,
    use_bias,
):  # fmt: skip
    rng = np.random.default_rng(15)
    layer = SeparableConv2D(
        3, kernel_size, strides, padding, dilation_rate=dilation, depth_multiplier=multiplier,
        activation=activation, use_bias=use_bias,
    )  # fmt: skip
    x = rng.normal(size=(2, 5, 6, 2))
    finite_differences(random_weights(layer, x.shape, rng), x, rng)


# ----------------------------------------------------------------------------- the tap loops


@st.composite
def transpose_geometries(draw):
    """(x, kernel, out_size, strides, padding, dilation), valid by construction."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if strides == (1, 1) else (1, 1)
    padding = draw(st.sampled_from(("valid", "same")))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    N, H, W, C_in, F = 2, draw(st.integers(1, 4)), draw(st.integers(1, 4)), 2, 3
    out = tuple(
        conv_transpose_output_size(n, k, s, d, padding)
        for n, k, s, d in zip((H, W), kernel, strides, dilation)
    )
    x = rng.normal(size=(N, H, W, C_in))
    return x, rng.normal(size=kernel + (F, C_in)), out, strides, padding, dilation


@given(transpose_geometries())
def test_transpose_forward_is_the_input_gradient_of_conv2d(geometry):
    x, kernel, out, strides, padding, dilation = geometry
    N, _, _, _ = x.shape
    zeros = np.zeros((N, *out, kernel.shape[2]))  # the convolution's input, only its shape counts
    dx, _, _ = conv2d_backward_reference(x, zeros, kernel, strides, padding, dilation)
    y = conv_transpose2d_forward(x, kernel, out, strides, padding, dilation)
    np.testing.assert_allclose(y, dx, rtol=1e-12, atol=1e-12)


@given(transpose_geometries(), st.integers(0, 2**16))
def test_transpose_is_the_adjoint_of_conv2d(geometry, seed):
    # <conv(u), x> = <u, conv^T(x)> for every u: the definition of the transpose
    x, kernel, out, strides, padding, dilation = geometry
    u = np.random.default_rng(seed).normal(size=(x.shape[0], *out, kernel.shape[2]))
    left = np.sum(conv2d_forward_reference(u, kernel, strides, padding, dilation) * x)
    right = np.sum(u * conv_transpose2d_forward(x, kernel, out, strides, padding, dilation))
    np.testing.assert_allclose(left, right, rtol=1e-10)


@given(
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    strides=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.sampled_from(("valid", "same")),
    multiplier=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_depthwise_equals_a_conv2d_with_a_block_diagonal_kernel(
    kernel, strides, dilation, padding, multiplier, seed
):
    rng = np.random.default_rng(seed)
    C, M = 3, multiplier
    x = rng.normal(size=(2, 7, 6, C))
    depthwise = rng.normal(size=kernel + (C, M))
    full = np.zeros(kernel + (C, C * M))  # (KH, KW, C, C*M): channel c feeds outputs c*M + m
    for c in range(C):
        full[:, :, c, c * M : (c + 1) * M] = depthwise[:, :, c, :]
    z = depthwise_conv2d_forward(x, depthwise, strides, padding, dilation)
    np.testing.assert_allclose(z, conv2d_forward_reference(x, full, strides, padding, dilation))
    dz = rng.normal(size=z.shape)
    dx, dkernel = depthwise_conv2d_backward(dz, x, depthwise, strides, padding, dilation)
    dx_full, dfull, _ = conv2d_backward_reference(dz, x, full, strides, padding, dilation)
    np.testing.assert_allclose(dx, dx_full, atol=1e-12)
    for c in range(C):
        np.testing.assert_allclose(dkernel[:, :, c, :], dfull[:, :, c, c * M : (c + 1) * M])


def test_bilinear_weights_interpolate_and_repeat_the_edges():
    for size, factor in [(1, 3), (4, 2), (5, 3)]:
        A = bilinear_weights(size, factor)
        assert A.shape == (size * factor, size)
        np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-6)
        assert (A >= 0).all()
    np.testing.assert_allclose(bilinear_weights(3, 3)[:2], [[1, 0, 0], [1, 0, 0]])  # edge rows


def test_nearest_upsampling_repeats_pixels():
    x = np.arange(4.0).reshape(1, 2, 2, 1)
    y = UpSampling2D((2, 3))(x)
    np.testing.assert_array_equal(y[0, :, :, 0], np.kron(x[0, :, :, 0], np.ones((2, 3))))


def test_causal_conv1d_never_sees_the_future():
    layer = Conv1D(1, 3, padding="causal", use_bias=False)
    x = np.zeros((1, 6, 1), dtype=np.float32)
    layer.build(x.shape)
    layer.set_weights([np.ones((3, 1, 1), dtype=np.float32)])
    x[0, 3, 0] = 1.0  # an impulse at step 3 reaches steps 3, 4, 5 only
    np.testing.assert_array_equal(layer(x)[0, :, 0], [0, 0, 0, 1, 1, 1])


# ----------------------------------------------------------------------------- shapes, configs


def test_shapes_parameter_counts_and_aliases():
    assert Convolution2DTranspose is Conv2DTranspose and Convolution1D is Conv1D
    assert SeparableConvolution2D is SeparableConv2D
    cases = [
        (Conv2DTranspose(4, 3, strides=2), (2, 5, 5, 3), (2, 11, 11, 4), 3 * 3 * 4 * 3 + 4),
        (Conv2DTranspose(4, 3, 2, "same", 1), (2, 5, 5, 3), (2, 10, 10, 4), 112),
        (UpSampling2D(3), (2, 2, 4, 3), (2, 6, 12, 3), 0),
        (Conv1D(5, 3, padding="causal"), (2, 9, 2), (2, 9, 5), 3 * 2 * 5 + 5),
        (DepthwiseConv2D(3, depth_multiplier=2), (2, 6, 6, 3), (2, 4, 4, 6), 3 * 3 * 3 * 2 + 6),
        (SeparableConv2D(7, 3, padding="same"), (2, 6, 6, 3), (2, 6, 6, 7), 27 + 21 + 7),
    ]
    for layer, shape, expected, params in cases:
        y = layer(np.zeros(shape, dtype=np.float32))
        assert y.shape == expected == layer.compute_output_shape(shape), layer
        assert layer.count_params() == params, layer
    weights = [w.name for w in SeparableConv2D(2, 3).weights]
    assert weights == []  # nothing before build
    layer = SeparableConv2D(2, 3)
    layer.build((None, 5, 5, 3))
    assert [(w.name, w.value.shape) for w in layer.weights] == [
        ("depthwise_kernel", (3, 3, 3, 1)), ("pointwise_kernel", (1, 1, 3, 2)), ("bias", (2,))
    ]  # fmt: skip


@pytest.mark.parametrize(
    "layer",
    [
        Conv2DTranspose(3, 2, strides=2, output_padding=1, activation="relu"),
        UpSampling2D(2, interpolation="BILINEAR"),
        Conv1D(3, 2, padding="CAUSAL", dilation_rate=2),
        DepthwiseConv2D(3, depth_multiplier=2, use_bias=False),
        SeparableConv2D(4, 3, padding="same", activation="tanh"),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_get_config_round_trips(layer):
    config = layer.get_config()
    clone = type(layer).from_config({**config, "name": "clone"})
    assert clone.get_config() == {**config, "name": "clone"}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Conv2DTranspose(2, 3, strides=2, output_padding=2), "smaller than its stride"),
        (lambda: Conv2DTranspose(2, 3, strides=2, dilation_rate=2), "dilation_rate > 1"),
        (lambda: Conv2DTranspose(0, 3), "filters must be a positive integer"),
        (
            lambda: Conv2DTranspose(2, 3, kernel_regularizer="l3", name="t"),
            "Conv2DTranspose 't': kernel_regularizer: Could not interpret",
        ),
        (lambda: Conv2DTranspose(2, 3, data_format="channels_first"), "channels_last"),
        (lambda: UpSampling2D(interpolation="bicubic"), "'nearest' or 'bilinear'"),
        (lambda: UpSampling2D(0), "positive int"),
        (lambda: Conv1D(2, 3, padding="full"), "'valid', 'same' or 'causal'"),
        (lambda: Conv1D(2, 3, groups=2), "groups=2 is not supported"),
        (lambda: Conv1D(2, (3, 3)), "tuple of 1"),
        (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
        (
            lambda: SeparableConv2D(2, 3, pointwise_constraint="maxnorm", name="s"),
            "SeparableConv2D 's': pointwise_constraint: .*'maxnorm'.*max_norm",
        ),
    ],
)
def test_bad_arguments_are_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_shapes_that_cannot_work_are_explained():
    with pytest.raises(ValueError, match="does not convolve back"):
        Conv2DTranspose(2, 2, padding="same", output_padding=0).compute_output_shape((1, 4, 4, 1))
    with pytest.raises(ValueError, match="does not fit"):
        DepthwiseConv2D(5)(np.zeros((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="expects a 3-D input"):
        Conv1D(2, 3)(np.zeros((1, 5, 5, 1)))

"""Conv2DTranspose, UpSampling2D, Conv1D, DepthwiseConv2D and SeparableConv2D against Keras.

On shared random weights (non-zero biases) and a random upstream gradient: the output y, dx and
every weight gradient, float32 and float64, on hypothesis-drawn configurations built valid by
construction; plus ``get_config``, output shapes, weight names and shapes, and parameter counts.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_impl.setup import keras, tf, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import F32_RTOL, GRADIENT_FLOOR, assert_parity, rtol_for
from parity_tests.runners import layer_pair
from scratchnet.layers import convolutional, depthwise

DTYPES = ("float64", "float32")
EXAMPLES = settings(max_examples=12)  # the whole file in well under a minute


class Case(S.LayerCase):
    """A ``LayerCase`` whose scratchnet class comes from its module (not yet exported)."""

    def build(self, lib):
        if lib is keras:
            return getattr(keras.layers, self.layer)(**self.kwargs)
        module = depthwise if hasattr(depthwise, self.layer) else convolutional
        return getattr(module, self.layer)(**self.kwargs)


def _activation(draw, channels):
    # a softmax over one channel is the constant 1: its gradients are rounding noise
    names = S.ACTIVATIONS if channels > 1 else S.ACTIVATIONS[:-1]
    return draw(st.sampled_from(names))


@st.composite
def conv2d_transpose_cases(draw, dilated=False):
    """Strategy: a valid ``Conv2DTranspose`` case.

    Kernel 1-4, strides 1-3, 'valid' or 'same', and ``output_padding`` None or drawn per axis
    below its stride, excluding the 'same' cases TensorFlow rejects when called (an even kernel
    with output_padding 0: the output would not convolve back to the input size; Keras's
    ``compute_output_shape`` still answers there). Inputs 1-5 on each side.

    Dilation 1-2 (with strides 1) only if ``dilated``: measured, TensorFlow 2.21's CPU kernel
    raises "Current CPU implementations do not yet support dilation rates larger than 1", so
    Keras can check dilated configs' shapes and configs here, not their numbers (the finite
    differences in ``tests/test_convolutional.py`` do).
    """
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (1, 1)
    if dilated and strides == (1, 1):
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(("valid", "same")))
    choices = [
        [p for p in range(s) if padding == "valid" or k % 2 + p >= 1]
        for k, s in zip(kernel, strides)
    ]
    output_padding = None
    if all(choices) and draw(st.booleans()):
        output_padding = tuple(draw(st.sampled_from(c)) for c in choices)
    filters = draw(st.integers(1, 3))
    kwargs = dict(
        filters=filters, kernel_size=kernel, strides=strides, padding=padding,
        output_padding=output_padding, dilation_rate=dilation,
        activation=_activation(draw, filters), use_bias=draw(st.booleans()),
    )  # fmt: skip
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    return Case("Conv2DTranspose", kwargs, shape + (draw(st.integers(1, 3)),))


@st.composite
def upsampling2d_cases(draw, interpolation=None):
    """Strategy: an ``UpSampling2D`` case: factors 1-3 per axis, inputs 1-5 per side."""
    kwargs = dict(
        size=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        interpolation=interpolation or draw(st.sampled_from(("nearest", "bilinear"))),
    )
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    return Case("UpSampling2D", kwargs, shape + (draw(st.integers(1, 3)),))


@st.composite
def conv1d_cases(draw):
    """Strategy: a valid ``Conv1D`` case: kernel 1-4, strides 1-3, dilation 1-3 with strides 1,
    'valid', 'same' or 'causal', a sequence at least as long as the dilated kernel ('valid')."""
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    d = draw(st.integers(1, 3)) if s == 1 else 1
    padding = draw(st.sampled_from(("valid", "same", "causal")))
    smallest = d * (k - 1) + 1 if padding == "valid" else 1
    filters = draw(st.integers(1, 4))
    kwargs = dict(
        filters=filters, kernel_size=k, strides=s, padding=padding, dilation_rate=d,
        activation=_activation(draw, filters), use_bias=draw(st.booleans()),
    )  # fmt: skip
    shape = (draw(st.integers(1, 3)), draw(st.integers(smallest, smallest + 5)))
    return Case("Conv1D", kwargs, shape + (draw(st.integers(1, 3)),))


@st.composite
def depthwise_cases(draw, separable=False, square_strides=True):
    """Strategy: a valid ``DepthwiseConv2D`` (or ``SeparableConv2D``) case.

    Kernel 1-3, strides 1-2 and dilation 1-2 in any combination (Keras allows strides with
    dilation for these layers), depth multiplier 1-3, then inputs large enough for 'valid'.
    Strides are equal on both axes unless ``square_strides`` is False: measured, TensorFlow
    2.21's ``DepthwiseConv2dNative`` raises "Current implementation only supports equal length
    strides in the row and column dimensions", so unequal ones are checked for shapes only.
    """
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if square_strides:
        strides = (strides[0], strides[0])
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(("valid", "same")))
    sizes = []
    for k, d in zip(kernel, dilation):
        smallest = d * (k - 1) + 1 if padding == "valid" else 1
        sizes.append(draw(st.integers(smallest, smallest + 4)))
    C, M = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    filters = draw(st.integers(1, 3)) if separable else C * M
    kwargs = dict(
        kernel_size=kernel, strides=strides, padding=padding, depth_multiplier=M,
        dilation_rate=dilation, activation=_activation(draw, filters),
        use_bias=draw(st.booleans()),
    )  # fmt: skip
    if separable:
        kwargs["filters"] = filters
    name = "SeparableConv2D" if separable else "DepthwiseConv2D"
    return Case(name, kwargs, (draw(st.integers(1, 2)), *sizes, C))


CASES = {
    "Conv2DTranspose": conv2d_transpose_cases(),
    "UpSampling2D": upsampling2d_cases(),
    "Conv1D": conv1d_cases(),
    "DepthwiseConv2D": depthwise_cases(),
    "SeparableConv2D": depthwise_cases(separable=True),
}


def check_layer(case, dtype, data, rtol=None):
    """Draw x, dy and shared weights for ``case``; assert y, dx and every weight gradient agree."""
    output_shape = tuple(case.build(keras).compute_output_shape(case.input_shape))
    x = data.draw(S.arrays(case.input_shape, dtype, ("normal", "zeros")), label="x")
    dy = data.draw(S.upstream_gradients(output_shape, dtype), label="dy")
    seed = data.draw(st.integers(0, 2**16), label="weight_seed")
    pairs = layer_pair(case, dtype, x, dy, weight_seed=seed)
    floor = GRADIENT_FLOOR * float(np.max(np.abs(dy)))
    for tensor, (ours, theirs) in pairs.items():
        assert ours is not None, f"scratchnet's {case.layer} has no gradient '{tensor}'"
        assert_parity(
            ours, theirs, rtol=rtol or rtol_for(dtype), tensor=tensor, layer=case.layer,
            config={**case.describe(), "dtype": dtype}, floor=0.0 if tensor == "y" else floor,
        )  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [n for n in CASES if n != "UpSampling2D"])
@EXAMPLES
@given(data=st.data())
def test_layer_matches_keras(name, dtype, data):
    check_layer(data.draw(CASES[name], label="case"), dtype, data)


@pytest.mark.parametrize("dtype", DTYPES)
@EXAMPLES
@given(case=upsampling2d_cases("nearest"), data=st.data())
def test_nearest_upsampling_matches_keras(dtype, case, data):
    check_layer(case, dtype, data)


@pytest.mark.parametrize("dtype", DTYPES)
@EXAMPLES
@given(case=upsampling2d_cases("bilinear"), data=st.data())
def test_bilinear_upsampling_matches_keras(dtype, case, data):
    """Measured: Keras 3.15's bilinear UpSampling2D returns float32 even under floatx float64
    (``tf.image.resize`` computes bilinear in float32). scratchnet keeps float64, so in float64
    the two agree to float32 precision (F32_RTOL), with Keras's output cast up for its gradient.
    """
    x = data.draw(S.arrays(case.input_shape, dtype), label="x")
    fh, fw = case.kwargs["size"]
    N, H, W, C = case.input_shape
    dy = data.draw(S.upstream_gradients((N, H * fh, W * fw, C), dtype), label="dy")
    with use_floatx(dtype):
        ours, theirs = case.build(None), case.build(keras)
        x_t = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            y_t = theirs(x_t)
            loss = tf.reduce_sum(tf.cast(y_t, dtype) * dy)
        dx_t = tape.gradient(loss, x_t)
        y = ours(x, training=True)
        dx = ours.backward(dy)
    assert y.dtype == dtype and dx.dtype == dtype
    config = {**case.describe(), "dtype": dtype, "keras y dtype": y_t.dtype.name}
    for tensor, o, t in (("y", y, y_t.numpy()), ("dx", dx, dx_t.numpy())):
        assert_parity(o, t, rtol=F32_RTOL, tensor=tensor, layer="UpSampling2D", config=config)


# ----------------------------------------------------------------------------- API


def keras_config(layer):
    config = layer.get_config()
    config.pop("dtype")  # a DTypePolicy dict in Keras, the dtype's name in scratchnet
    return config


@settings(max_examples=30)
@given(
    case=st.one_of(
        conv2d_transpose_cases(dilated=True),
        depthwise_cases(square_strides=False),
        depthwise_cases(separable=True, square_strides=False),
        *CASES.values(),
    ),
    batch=st.sampled_from((None, 3)),
)
def test_config_shapes_weights_and_parameter_counts_equal_keras(case, batch):
    ours, theirs = case.build(None), case.build(keras)
    config = ours.get_config()
    assert config.pop("dtype") == "float32"
    assert list(config) == list(keras_config(theirs)), case.describe()
    assert config == {**keras_config(theirs), "name": ours.name}, case.describe()
    shape = (batch, *case.input_shape[1:])
    assert tuple(ours.compute_output_shape(shape)) == tuple(theirs.compute_output_shape(shape))
    ours.build(case.input_shape)
    theirs.build(case.input_shape)
    assert [(w.name, w.value.shape) for w in ours.weights] == [
        (w.name, tuple(w.shape)) for w in theirs.weights
    ], case.describe()
    assert ours.count_params() == theirs.count_params()

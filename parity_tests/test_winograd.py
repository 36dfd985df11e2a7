"""Conv2D layers that run as Winograd's F(2x2, 3x3) (issue 19), against Keras.

scratchnet computes a 3x3, stride-1 convolution with at least 16 input channels and 32 filters
(seminar's and the keras.io convnet's second layers; hanoi's where the shifted products do not
run) with Winograd's transforms instead of
im2col (``scratchnet.kernels.conv.winograd``). Here such layers, at the library's own
thresholds, meet Keras on shared random weights and a random upstream gradient: y, dx,
dkernel and dbias, float32 and float64, on hypothesis-drawn sizes (odd and even, 'same' and
'valid', every activation, with and without bias). Then the two tutorials' Conv2D +
MaxPooling2D pairs, which scratchnet runs fused, as models: forward and one SGD step.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_impl.setup import keras, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import assert_parity, rtol_for
from parity_tests.test_convolutional import Case
from parity_tests.test_convolutional import check_layer as check_conv_layer
from parity_tests.test_layers import check_layer
from scratchnet.kernels.conv import chunks, shifted, winograd

DTYPES = ("float64", "float32")


@st.composite
def winograd_conv2d_cases(draw):
    """Strategy: a Conv2D that scratchnet runs as Winograd (at its real thresholds)."""
    padding = draw(st.sampled_from(("valid", "same")))
    extra = 2 if padding == "valid" else 0
    H, W = draw(st.integers(2, 9)) + extra, draw(st.integers(2, 9)) + extra
    C_in = draw(st.integers(winograd.WINOGRAD_MIN_CHANNELS, winograd.WINOGRAD_MIN_CHANNELS + 8))
    # more filters than the shifted products take (they come first where they run)
    fewest = max(winograd.WINOGRAD_MIN_FILTERS, shifted.SHIFTED_MAX_FILTERS + 1)
    filters = draw(st.integers(fewest, fewest + 4))
    kwargs = dict(
        filters=filters, kernel_size=3, padding=padding,
        activation=draw(st.sampled_from(S.ACTIVATIONS)), use_bias=draw(st.booleans()),
    )  # fmt: skip
    return S.LayerCase("Conv2D", kwargs, (draw(st.integers(1, 3)), H, W, C_in))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=15, deadline=None)
@given(case=winograd_conv2d_cases(), data=st.data())
def test_winograd_conv2d_matches_keras(dtype, case, data):
    N, H, W, C_in = case.input_shape
    kernel_shape = (3, 3, C_in, case.kwargs["filters"])
    plan = chunks.ChunkPlan(case.input_shape, kernel_shape, (1, 1), case.kwargs["padding"],
                            (1, 1), None)  # fmt: skip
    assert plan.winograd, "the case must exercise the Winograd path"
    check_layer(case, dtype, data, kinds=("normal", "zeros"))


SECOND_CONV_INPUTS = {"seminar": (64, 14, 14, 32), "convnet": (64, 13, 13, 32)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["seminar", "convnet"])
def test_tutorial_models_with_winograd_layers_match_keras(name, dtype):
    """The whole model (its second Conv2D + MaxPooling2D fused, as Winograd) on 64 real-sized
    images: predictions, then every weight after one SGD step on the same batch."""
    import scratchnet
    from keras_impl.architectures import build

    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, size=(64, 28, 28, 1)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, size=64)]
    with use_floatx(dtype):
        theirs = build(name, keras, overrides=_no_dropout(name))
        ours = build(name, scratchnet, overrides=_no_dropout(name))
        weights = [w.astype(dtype) for w in theirs.get_weights()]
        ours.set_weights(weights)
        conv = [layer for layer in ours.layers if type(layer).__name__ == "Conv2D"][1]
        inputs = SECOND_CONV_INPUTS[name]  # after the first Conv2D + MaxPooling2D
        kernel_shape = conv.get_weights()[0].shape
        assert chunks.ChunkPlan(inputs, kernel_shape, (1, 1), conv.padding, (1, 1), None).winograd
        y_ours, y_theirs = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
        config = {"dtype": dtype}
        assert_parity(y_ours, y_theirs, rtol=rtol_for(dtype), tensor="y", layer=name, config=config)
        for model, lib in ((ours, scratchnet), (theirs, keras)):
            model.compile(
                optimizer=lib.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy"
            )
            model.train_on_batch(x, y)
        for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights(), strict=True)):
            before = weights[i]
            change = np.abs(np.asarray(b) - before).max()
            np.testing.assert_allclose(
                a, b, rtol=0, atol=max(change, 1e-30) * (1e-9 if dtype == "float64" else 1e-3),
                err_msg=f"{name} weight {i} after one SGD step ({dtype})",
            )  # fmt: skip


def _no_dropout(name):
    from keras_impl.architectures import ARCHITECTURES

    return {i: {"rate": 0.0} for i, (cls, _) in enumerate(ARCHITECTURES[name]["layers"])
            if cls == "Dropout"}  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_conv2d_transpose_whose_convolutions_run_as_winograd_matches_keras(dtype, data):
    """Conv2DTranspose computes dx as a Conv2D of dz with its kernel, and dkernel as that
    Conv2D's kernel gradient (``layers.convolutional``): with 3x3 kernels, stride 1, 16 or more
    filters and 33 or more input channels both run as Winograd. y, dx, dkernel and dbias
    against Keras."""
    padding = data.draw(st.sampled_from(("valid", "same")), label="padding")
    H, W = data.draw(st.integers(2, 7), label="H"), data.draw(st.integers(2, 7), label="W")
    filters = data.draw(st.integers(winograd.WINOGRAD_MIN_CHANNELS, 20), label="filters")
    C_in = data.draw(st.integers(shifted.SHIFTED_MAX_FILTERS + 1, 36), label="C_in")
    activation = data.draw(st.sampled_from(S.ACTIVATIONS), label="activation")
    kwargs = dict(filters=filters, kernel_size=3, strides=1, padding=padding, activation=activation)
    case = Case("Conv2DTranspose", kwargs, (data.draw(st.integers(1, 2), label="N"), H, W, C_in))
    out = tuple(case.build(keras).compute_output_shape(case.input_shape))
    # dx = conv2d_forward(dz, kernel): dz (N, H_out, W_out, filters), kernel (3, 3, filters, C_in)
    plan = chunks.ChunkPlan(out, (3, 3, filters, C_in), (1, 1), padding, (1, 1), None)
    assert plan.winograd, "the case must exercise the Winograd path"
    check_conv_layer(case, dtype, data)

"""Every layer against Keras: forward y, and dx, dkernel, dbias for a random upstream gradient.

Weights are shared (random, with non-zero biases), the upstream gradient is random (never all
ones), and configs and values come from ``parity_tests.strategies``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_impl.setup import keras, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import GRADIENT_FLOOR, assert_parity, rtol_for
from parity_tests.runners import build_layer_pair, layer_pair, scratchnet_layer_step

DTYPES = ("float64", "float32")


def output_shape(case):
    return tuple(case.build(keras).compute_output_shape(case.input_shape))


def check_layer(case, dtype, data, kinds=("normal",), training=True):
    """Draw x and dy for ``case``, run both sides and assert every tensor agrees."""
    x = data.draw(S.arrays(case.input_shape, dtype, kinds), label="x")
    dy = data.draw(S.upstream_gradients(output_shape(case), dtype), label="dy")
    seed = data.draw(st.integers(0, 2**16), label="weight_seed")
    pairs = layer_pair(case, dtype, x, dy, weight_seed=seed, training=training)
    floor = GRADIENT_FLOOR * float(np.max(np.abs(dy)))
    for tensor, (ours, theirs) in pairs.items():
        assert ours is not None, f"scratchnet's {case.layer} has no gradient '{tensor}'"
        assert_parity(
            ours,
            theirs,
            rtol=rtol_for(dtype),
            tensor=tensor,
            layer=case.layer,
            config={**case.describe(), "dtype": dtype},
            floor=0.0 if tensor == "y" else floor,
        )
    return pairs


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=S.conv2d_cases(), data=st.data())
def test_conv2d(dtype, case, data):
    check_layer(case, dtype, data, kinds=("normal", "zeros"))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=S.max_pooling2d_cases(), data=st.data())
def test_max_pooling2d_with_ties(dtype, case, data):
    # "ties" first: integer inputs in {0, 1, 2}, so most windows have several maxima and the
    # gradient must go to the first one in row-major order, as TensorFlow routes it.
    check_layer(case, dtype, data, kinds=("ties", "normal"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pooling2d_tie_routing_examples_from_the_spec(dtype):
    # keras-behaviour.md section 2.2: overlapping windows add up at a shared maximum.
    x = np.array([[1, 2, 1], [2, 1, 2], [1, 2, 1]], dtype)[None, :, :, None]
    dy = np.array([[1, 10], [100, 1000]], dtype)[None, :, :, None]
    case = S.LayerCase("MaxPooling2D", {"pool_size": 2, "strides": 1}, x.shape)
    pairs = layer_pair(case, dtype, x, dy)
    np.testing.assert_array_equal(
        pairs["dx"][1][0, :, :, 0], [[0, 11, 0], [100, 0, 1000], [0, 0, 0]]
    )
    assert_parity(*pairs["dx"], rtol=0.0, tensor="dx", layer="MaxPooling2D", config=case.describe())
    # All-negative input with 'same' padding: padded cells never win (they act as -inf).
    x = -1.0 - np.arange(25, dtype=dtype).reshape(1, 5, 5, 1)
    case = S.LayerCase("MaxPooling2D", {"pool_size": 2, "padding": "same"}, x.shape)
    pairs = layer_pair(
        case, dtype, x, np.ones((1, 3, 3, 1), dtype) + np.arange(9).reshape(1, 3, 3, 1)
    )
    for tensor in ("y", "dx"):
        assert_parity(
            *pairs[tensor], rtol=0.0, tensor=tensor, layer="MaxPooling2D", config=case.describe()
        )


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=S.dense_cases(), data=st.data())
def test_dense(dtype, case, data):
    check_layer(case, dtype, data, kinds=("normal", "zeros"))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=S.flatten_cases(), data=st.data())
def test_flatten(dtype, case, data):
    pairs = check_layer(case, dtype, data)
    np.testing.assert_array_equal(pairs["y"][0], pairs["y"][1])  # a reshape is exact


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=S.activation_cases(), data=st.data())
def test_activation(dtype, case, data):
    # "zeros" first: relu at exactly 0 must have gradient 0, as tf.nn.relu's gradient has.
    check_layer(case, dtype, data, kinds=("zeros", "normal", "saturated"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_gradient_at_exact_zero_is_zero(dtype):
    case = S.LayerCase("Activation", {"activation": "relu"}, (1, 3))
    pairs = layer_pair(case, dtype, np.array([[-1.0, 0.0, 2.0]]), np.array([[5.0, 6.0, 7.0]]))
    np.testing.assert_array_equal(pairs["dx"][1], [[0.0, 0.0, 7.0]])
    assert_parity(
        *pairs["dx"], rtol=0.0, tensor="dx", layer="Activation(relu)", config=case.describe()
    )


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=S.dropout_cases(), data=st.data())
def test_dropout_inference_is_the_identity(dtype, case, data):
    x = data.draw(S.arrays(case.input_shape, dtype), label="x")
    with use_floatx(dtype):
        ours, theirs = build_layer_pair(case)
        assert_parity(
            ours(x, training=False),
            theirs(x, training=False).numpy(),
            rtol=0.0,
            tensor="y",
            layer="Dropout (inference)",
            config=case.describe(),
        )
        np.testing.assert_array_equal(ours(x, training=False), x)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=S.dropout_cases(), calls=st.integers(1, 3), data=st.data())
def test_dropout_training_draws_keras_masks_call_after_call(dtype, case, calls, data):
    """Same seed, same masks: the k-th training call of both layers uses Philox seed [seed, k].

    The masked outputs and the gradients must then agree exactly (the scale 1/(1-rate) is the same
    Python double rounded to the dtype on both sides).
    """
    x = data.draw(S.arrays(case.input_shape, dtype), label="x")
    dy = data.draw(S.upstream_gradients(case.input_shape, dtype), label="dy")
    from keras_impl.gradients import layer_outputs_and_gradients

    with use_floatx(dtype):
        ours, theirs = build_layer_pair(case)
        for k in range(calls):
            t = layer_outputs_and_gradients(theirs, x, dy, training=True)
            o = scratchnet_layer_step(ours, x, dy, training=True)
            config = {**case.describe(), "call": k, "dtype": dtype}
            assert_parity(
                o["y"], t["y"], rtol=0.0, tensor="y (dropout mask)", layer="Dropout", config=config
            )
            assert_parity(o["dx"], t["x"], rtol=0.0, tensor="dx", layer="Dropout", config=config)

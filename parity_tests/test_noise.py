"""GaussianNoise, GaussianDropout and SpatialDropout2D against Keras, bit for bit.

The layers have no weights. With the same seed, Keras's layer and ours draw the same numbers
call after call (each owns a SeedGenerator), so the forward ``y`` in training and ``dx`` under a
random upstream gradient (Keras's via ``tf.GradientTape`` on the fake loss ``sum(y * dy)``) must
be equal exactly, in float32 and float64, on hypothesis-drawn shapes, rates and seeds. Also:
identity in inference, unseeded layers after the same ``random.seed``, ``get_config``, output
shapes, parameter counts and constructor signatures.
"""

import inspect
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_impl.setup import keras, tf
from scratchnet.layers import noise

DTYPES = ("float32", "float64")
NAMES = ("GaussianNoise", "GaussianDropout", "SpatialDropout2D")


def argument(name, value):
    return {"stddev": value} if name == "GaussianNoise" else {"rate": value}


@st.composite
def cases(draw):
    """A layer name, its keyword arguments and an input shape valid for it."""
    name = draw(st.sampled_from(NAMES))
    kwargs = argument(name, draw(st.floats(0.05, 0.95)))
    if name == "SpatialDropout2D":
        kwargs["data_format"] = draw(st.sampled_from(["channels_last", "channels_first"]))
        shape = tuple(draw(st.lists(st.integers(1, 5), min_size=4, max_size=4)))
    else:
        shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    return name, kwargs, shape


def keras_call(layer, x, dy):
    """Keras's y and dL/dx of L = sum(y * dy) in training."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * dy)
    return y.numpy(), tape.gradient(loss, x).numpy()


@settings(max_examples=30)
@given(cases(), st.integers(0, 2**40), st.sampled_from(DTYPES))
def test_training_calls_equal_keras_bit_for_bit(case, seed, dtype):
    name, kwargs, shape = case
    theirs = getattr(keras.layers, name)(**kwargs, seed=seed, dtype=dtype)
    ours = getattr(noise, name)(**kwargs, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed % 1000)
    for call in range(2):  # the second call draws from the generator's next seed
        x, dy = rng.normal(size=(2, *shape)).astype(dtype)
        y_keras, dx_keras = keras_call(theirs, x, dy)
        y = ours(x, training=True)
        dx = ours.backward(dy)
        what = f"{name}({kwargs}) {shape} {dtype} call {call}"
        assert y.dtype == dtype and dx.dtype == dtype, what
        np.testing.assert_array_equal(y, y_keras, err_msg=f"y of {what}")
        np.testing.assert_array_equal(dx, dx_keras, err_msg=f"dx of {what}")
    assert ours.seed_generator.state.tolist() == theirs.seed_generator.state.numpy().tolist()


@pytest.mark.parametrize("name", NAMES)
def test_inference_is_the_identity_and_unseeded_layers_draw_kerass_seeds(name):
    random.seed(21)
    theirs = getattr(keras.layers, name)(**argument(name, 0.3))
    random.seed(21)
    ours = getattr(noise, name)(**argument(name, 0.3))
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    np.testing.assert_array_equal(ours(x), theirs(x, training=False).numpy())
    np.testing.assert_array_equal(ours(x, training=True), theirs(x, training=True).numpy())


CONFIG_CASES = [
    ("GaussianNoise", {"stddev": 0.1}),
    ("GaussianNoise", {"stddev": 0.5, "seed": 3}),
    ("GaussianDropout", {"rate": 0.2}),
    ("GaussianDropout", {"rate": 0.0, "seed": 1}),
    ("SpatialDropout2D", {"rate": 0.5}),
    ("SpatialDropout2D", {"rate": 0.1, "data_format": "channels_first", "seed": 2}),
]


def without_dtype(config):
    return {k: v for k, v in config.items() if k != "dtype"}


@pytest.mark.parametrize("name, kwargs", CONFIG_CASES)
def test_get_config_shapes_and_counts_match_keras(name, kwargs):
    theirs = getattr(keras.layers, name)(**kwargs, name="noisy")
    ours = getattr(noise, name)(**kwargs, name="noisy")
    assert list(ours.get_config()) == list(theirs.get_config())
    assert without_dtype(ours.get_config()) == without_dtype(theirs.get_config())
    dtype = theirs.get_config()["dtype"]  # a policy dict, or a plain name (SpatialDropout2D)
    assert ours.get_config()["dtype"] == (
        dtype if isinstance(dtype, str) else dtype["config"]["name"]
    )
    shape = (None, 6, 5, 4)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    ours(np.zeros((1, 6, 5, 4), "float32"))
    assert ours.count_params() == theirs.count_params() == 0


@pytest.mark.parametrize("name", NAMES)
def test_constructor_signature_matches_keras(name):
    def params(cls):
        skip = ("self", "name", "dtype", "kwargs")
        signature = inspect.signature(cls.__init__).parameters.items()
        return [(n, p.default) for n, p in signature if n not in skip]

    assert params(getattr(noise, name)) == params(getattr(keras.layers, name))

"""Average, 1-D max and global pooling against Keras: y and dx for a random upstream gradient,
get_config, signatures, output shapes and parameter counts.

The layers have no weights, so the parity is forward ``y`` and ``dx`` (Keras's via
``tf.GradientTape`` on the fake loss ``sum(y * dy)``), in float32 and float64, on
hypothesis-drawn configurations built valid by construction. Max poolings are fed tied values on
purpose: MaxPooling1D must give the whole gradient to the first maximum of each window, the
global max poolings must split it equally among the tied maxima (``tf.reduce_max``'s gradient).
"""

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import keras, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import GRADIENT_FLOOR, assert_parity, rtol_for
from parity_tests.runners import layer_pair
from scratchnet.layers import pooling_more

DTYPES = ("float64", "float32")
WINDOW_LAYERS = ("AveragePooling2D", "AveragePooling1D", "MaxPooling1D")
GLOBAL_LAYERS = (
    "GlobalAveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling1D",
)
ALIASES = {
    "AvgPool2D": "AveragePooling2D",
    "AvgPool1D": "AveragePooling1D",
    "MaxPool1D": "MaxPooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
}


class PoolCase(S.LayerCase):
    """A ``LayerCase`` whose scratchnet side comes from ``scratchnet.layers.pooling_more``
    (these layers are not exported from ``scratchnet.layers`` yet)."""

    def build(self, lib):
        module = pooling_more if lib is scratchnet else lib.layers
        return getattr(module, self.layer)(**self.kwargs)


def rank_of(layer):
    return 1 if layer.endswith("1D") else 2


# ----------------------------------------------------------------------------- strategies


@st.composite
def window_cases(draw, layer):
    """Strategy: a valid windowed-pooling case for ``layer``.

    A pool 1-4 per axis; strides None (= pool size) or 1-4 per axis (overlapping and gapped
    windows); 'valid' or 'same' in either letter case; an input at least the pool ('valid') or
    1-6 ('same') per axis, plus up to 4; batch 1-2, channels 1-3. 1-D layers get an int or a
    1-tuple, as Keras accepts both.
    """
    rank = rank_of(layer)
    pool = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    strides = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 4)] * rank)))
    padding = draw(st.sampled_from(("valid", "same", "SAME")))
    sizes = [
        draw(st.integers(p if padding == "valid" else 1, (p if padding == "valid" else 2) + 4))
        for p in pool
    ]
    if rank == 1 and draw(st.booleans()):
        pool, strides = pool[0], None if strides is None else strides[0]
    kwargs = dict(pool_size=pool, strides=strides, padding=padding)
    shape = (draw(st.integers(1, 2)), *sizes, draw(st.integers(1, 3)))
    return PoolCase(layer, kwargs, shape)


@st.composite
def global_cases(draw, layer):
    """Strategy: a global-pooling case: keepdims or not, sides 1-5, batch 1-3, channels 1-3."""
    sizes = [draw(st.integers(1, 5)) for _ in range(rank_of(layer))]
    shape = (draw(st.integers(1, 3)), *sizes, draw(st.integers(1, 3)))
    return PoolCase(layer, {"keepdims": draw(st.booleans())}, shape)


def check_layer(case, dtype, data, kinds):
    """Draw x and dy for ``case``, run both sides and assert y and dx agree."""
    # scratchnet's shape rule: Keras's compute_output_shape rejects padding='SAME' (measured:
    # it compares with lower-case 'same' only), although calling the layer accepts it
    out_shape = case.build(scratchnet).compute_output_shape(case.input_shape)
    x = data.draw(S.arrays(case.input_shape, dtype, kinds), label="x")
    dy = data.draw(S.upstream_gradients(out_shape, dtype), label="dy")
    pairs = layer_pair(case, dtype, x, dy)
    assert sorted(pairs) == ["dx", "y"]
    for tensor, (ours, theirs) in pairs.items():
        assert_parity(
            ours,
            theirs,
            rtol=rtol_for(dtype),
            tensor=tensor,
            layer=case.layer,
            config={**case.describe(), "dtype": dtype},
            floor=0.0 if tensor == "y" else GRADIENT_FLOOR * float(np.max(np.abs(dy))),
        )
    return pairs


# ----------------------------------------------------------------------------- forward/backward


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", WINDOW_LAYERS)
@given(data=st.data())
@settings(max_examples=12)
def test_window_pooling(layer, dtype, data):
    case = data.draw(window_cases(layer), label="case")
    kinds = ("ties", "normal") if layer.startswith("Max") else ("normal",)
    check_layer(case, dtype, data, kinds)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", GLOBAL_LAYERS)
@given(data=st.data())
@settings(max_examples=10)
def test_global_pooling(layer, dtype, data):
    case = data.draw(global_cases(layer), label="case")
    kinds = ("ties", "normal") if "Max" in layer else ("normal",)
    check_layer(case, dtype, data, kinds)


@pytest.mark.parametrize("dtype", DTYPES)
def test_measured_rules(dtype):
    """The three rules the layers' docstrings state, on small examples: Keras's numbers (as
    measured) and scratchnet's, exactly."""
    examples = [
        # Average pooling, 'same': the last window of [1, 2, 3] has one real step, divides by 1.
        (
            PoolCase(
                "AveragePooling1D", {"pool_size": 2, "strides": 1, "padding": "same"}, (1, 3, 1)
            ),
            [1.0, 2.0, 3.0],
            [1.0, 2.0, 4.0],
            [0.5, 1.5, 5.0],
        ),
        # MaxPooling1D: ties send the whole gradient to the first maximum of the window.
        (
            PoolCase("MaxPooling1D", {"pool_size": 3, "strides": 1}, (1, 4, 1)),
            [2.0, 2, 2, 1],
            [1.0, 10],
            [1, 10, 0, 0],
        ),
        # Global max: k tied maxima get dy / k each.
        (PoolCase("GlobalMaxPooling2D", {}, (1, 2, 2, 1)), [3.0, 1, 3, 3], [6.0], [2, 0, 2, 2]),
    ]
    for case, x, dy, dx in examples:
        x = np.reshape(x, case.input_shape)
        dy = np.reshape(dy, case.build(scratchnet).compute_output_shape(case.input_shape))
        pairs = layer_pair(case, dtype, x, dy)
        np.testing.assert_array_equal(pairs["dx"][1].ravel(), dx, err_msg=f"Keras, {case}")
        for tensor in ("y", "dx"):
            assert_parity(
                *pairs[tensor], rtol=0.0, tensor=tensor, layer=case.layer, config=case.describe()
            )


# ----------------------------------------------------------------------------- API


CONFIG_CASES = [
    ("AveragePooling2D", {"pool_size": 3}, (None, 7, 8, 2)),
    ("AveragePooling2D", {"pool_size": (2, 3), "strides": 1, "padding": "SAME"}, (None, 5, 5, 1)),
    ("AveragePooling1D", {"pool_size": 2, "strides": 3}, (None, 9, 4)),
    ("AveragePooling1D", {"pool_size": (4,), "padding": "same"}, (None, 5, 4)),
    ("MaxPooling1D", {}, (None, 9, 4)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (None, 10, 2)),
    ("GlobalAveragePooling2D", {}, (None, 4, 5, 3)),
    ("GlobalAveragePooling2D", {"keepdims": True}, (None, 4, 5, 3)),
    ("GlobalAveragePooling1D", {"keepdims": True}, (None, 6, 3)),
    ("GlobalMaxPooling2D", {"keepdims": True}, (None, 4, 5, 3)),
    ("GlobalMaxPooling1D", {}, (None, 6, 3)),
]


def without_dtype(config):
    """A config without 'dtype' (Keras writes a DTypePolicy dict there, scratchnet its name)."""
    return {k: v for k, v in config.items() if k != "dtype"}


@pytest.mark.parametrize("layer, kwargs, shape", CONFIG_CASES)
def test_get_config_shapes_and_counts_match_keras(layer, kwargs, shape):
    case = PoolCase(layer, {**kwargs, "name": "pool"}, shape)
    ours, theirs = case.build(scratchnet), case.build(keras)
    assert list(ours.get_config()) == list(theirs.get_config())
    assert without_dtype(ours.get_config()) == without_dtype(theirs.get_config())
    if "padding" in kwargs:  # Keras's shape rule knows lower-case 'same' only (measured)
        theirs = PoolCase(layer, {**kwargs, "padding": kwargs["padding"].lower()}, shape)
        theirs = theirs.build(keras)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    ours.build(shape)
    assert ours.count_params() == theirs.count_params() == 0
    assert ours.get_weights() == [] and theirs.get_weights() == []
    clone = type(ours).from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()


@pytest.mark.parametrize("layer", WINDOW_LAYERS + GLOBAL_LAYERS)
def test_constructor_signature_matches_keras(layer):
    def params(cls):
        skip = ("self", "name", "kwargs")
        signature = inspect.signature(cls.__init__).parameters.items()
        return [(n, p.default) for n, p in signature if n not in skip]

    assert params(getattr(pooling_more, layer)) == params(getattr(keras.layers, layer))


@pytest.mark.parametrize("alias, layer", sorted(ALIASES.items()))
def test_aliases_match_keras(alias, layer):
    assert getattr(keras.layers, alias) is getattr(keras.layers, layer)
    assert getattr(pooling_more, alias) is getattr(pooling_more, layer)


def test_keras_rejects_what_scratchnet_rejects():
    for layer in ("AveragePooling2D", "AveragePooling1D"):
        with pytest.raises(TypeError):
            getattr(keras.layers, layer)()
        with pytest.raises(TypeError):
            getattr(pooling_more, layer)()
    with use_floatx("float32"):
        with pytest.raises(ValueError):
            keras.layers.AveragePooling1D((2, 2))
        with pytest.raises(ValueError):
            pooling_more.AveragePooling1D((2, 2))

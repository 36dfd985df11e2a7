"""The added activations and the activation layers against Keras 3 (TensorFlow backend).

Activations: the value and the gradient under a random upstream gradient (Keras's through
``tf.GradientTape``) of ``scratchnet.activations.<name>`` against ``keras.activations.<name>``,
in float32 and float64, on values drawn by hypothesis: ordinary values, values exactly at the
kinks (and one ulp either side, and -0.0), and large magnitudes (up to 1e4).

Layers: LeakyReLU, ReLU, ELU, PReLU and Softmax against Keras's on shared weights: y, dx and
dalpha; plus ``get_config``, weights and parameter counts.
"""

from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import keras, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import GRADIENT_FLOOR, assert_parity, rtol_for
from parity_tests.runners import layer_pair
from scratchnet import activations
from scratchnet.layers import activation as activation_layers

DTYPES = ("float64", "float32")
NAMES = (
    "elu", "selu", "gelu", "leaky_relu", "softplus", "softsign", "silu", "swish", "hard_sigmoid",
    "hard_silu", "hard_swish", "log_softmax", "exponential", "relu6", "mish",
)  # fmt: skip
KINKS = {  # where each activation's slope jumps (0 is everyone's interesting point)
    "relu6": (0.0, 6.0),
    "hard_sigmoid": (-3.0, 3.0),
    "hard_silu": (-3.0, 3.0),
    "hard_swish": (-3.0, 3.0),
}
VALUE_KINDS = ("normal", "kinks", "large")


def activation_values(name, shape, dtype, kind, seed):
    """Inputs for activation ``name``: ``normal`` N(0, 3^2); ``kinks`` the kinks exactly, one ulp
    either side (for 0, the smallest normal number: TensorFlow's CPU kernels flush subnormals to
    zero, measured, so their slopes one subnormal from 0 are 0's), and -0.0; ``large``
    +-10^U(1, 4) (exponential: up to 80, below overflow)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if kind == "normal":
        return (3.0 * rng.standard_normal(shape)).astype(dtype)
    if kind == "kinks":
        points = np.array(KINKS.get(name, (0.0,)), dtype)
        up, down = np.nextafter(points, dtype.type(np.inf)), np.nextafter(points, -np.inf)
        tiny = np.finfo(dtype).tiny  # TensorFlow flushes subnormals to 0: step over them
        up, down = np.where(points == 0, tiny, up), np.where(points == 0, -tiny, down)
        near = np.concatenate([points, up, down])
        near = np.concatenate([near, np.array([-0.0, 0.0], dtype)])
        return rng.choice(near, size=shape).astype(dtype)
    top = np.log10(80.0) if name == "exponential" else 4.0
    return (rng.choice([-1.0, 1.0], size=shape) * 10 ** rng.uniform(1, top, shape)).astype(dtype)


def keras_value_and_gradient(name, x, dy):
    """``keras.activations.<name>`` at x and d sum(y * dy) / dx (TensorFlow's GradientTape)."""
    fn = getattr(keras.activations, name)
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        y = fn(x_t)
        loss = tf.reduce_sum(y * tf.constant(dy))
    return y.numpy(), tape.gradient(loss, x_t).numpy()


def check_activation(name, x, dy):
    activation = activations.get(name)
    y = activation.forward(x.copy())
    dz = activations.backprop(activation, dy, y, x)
    k_y, k_dz = keras_value_and_gradient(name, x, dy)
    config = {"activation": name, "dtype": x.dtype.name}
    assert y.dtype == k_y.dtype and dz.dtype == k_dz.dtype, (y.dtype, k_y.dtype, dz.dtype)
    # TensorFlow flushes subnormal results to zero (measured): below this, y is that noise
    y_floor = 1e4 * np.finfo(x.dtype).tiny / rtol_for(x.dtype)
    assert_parity(y, k_y, rtol=rtol_for(x.dtype), tensor="y", layer=name, config=config,
                  floor=y_floor)  # fmt: skip
    floor = GRADIENT_FLOOR * float(np.max(np.abs(dy)))
    assert_parity(dz, k_dz, rtol=rtol_for(x.dtype), tensor="dz", layer=name, config=config,
                  floor=floor)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=6)
@given(
    kind=st.sampled_from(VALUE_KINDS),
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from([(3, 4), (2, 1, 5), (7,)]),
    data=st.data(),
)
def test_activation_value_and_gradient_equal_keras(dtype, name, kind, seed, shape, data):
    x = activation_values(name, shape, dtype, kind, seed)
    dy = data.draw(S.upstream_gradients(shape, dtype), label="dy")
    check_activation(name, x, dy)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [n for n in NAMES if n != "log_softmax"])  # no kink; sums
def test_every_kink_value_gives_keras_gradient_exactly(dtype, name):
    """At the kinks the rule decides which slope wins: compare element by element, exactly up
    to one rounding, with dy = 1 (each entry its own gradient)."""
    x = activation_values(name, (40,), dtype, "kinks", 0)
    activation = activations.get(name)
    dz = activations.backprop(activation, np.ones_like(x), activation.forward(x.copy()), x)
    _, k_dz = keras_value_and_gradient(name, x, np.ones_like(x))
    np.testing.assert_allclose(dz, k_dz, rtol=16 * np.finfo(dtype).eps, atol=0, err_msg=name)


@pytest.mark.parametrize("name", ["gelu", "mish", "swish", "hard_swish"])
def test_activation_by_name_in_a_keras_dense_is_the_same_function(name):
    """``Dense(3, activation=name)`` in Keras computes what ``activations.get(name)`` does, and
    its config names the activation as ``activations.serialize`` does."""
    with use_floatx("float64"):
        layer = keras.layers.Dense(3, activation=name)
        layer.build((None, 4))
        x = np.random.default_rng(0).standard_normal((2, 4))
        kernel, bias = layer.get_weights()
        expected = activations.get(name).forward(x @ kernel + bias)
        np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12)
    assert layer.get_config()["activation"] == activations.serialize(name)


# ----------------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class Case(S.LayerCase):
    """A layer case built from ``scratchnet.layers.activation`` (not yet exported) or Keras."""

    def build(self, lib):
        module = activation_layers if lib is scratchnet else lib.layers
        return getattr(module, self.layer)(**self.kwargs)


def _rank_shape(draw):
    rank = draw(st.integers(2, 4))
    return tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))


@st.composite
def layer_cases(draw):
    """Strategy: one of the five layers with Keras-valid arguments, on a rank 2-4 input."""
    shape = _rank_shape(draw)
    layer = draw(st.sampled_from(["LeakyReLU", "ReLU", "ELU", "PReLU", "Softmax"]))
    if layer == "LeakyReLU":
        kwargs = {"negative_slope": draw(st.sampled_from([0.3, 0.0, 0.01, 0.2, 1.0, 2.5]))}
    elif layer == "ReLU":
        kwargs = {
            "max_value": draw(st.sampled_from([None, 6.0, 6, 1.0, 0.3, 2.5])),
            "negative_slope": draw(st.sampled_from([0.0, 0.1, 0.3])),
            "threshold": draw(st.sampled_from([0.0, 0.5, 0.3, 1.0])),
        }
    elif layer == "ELU":
        kwargs = {"alpha": draw(st.sampled_from([1.0, 0.5, 2.0, 0.0]))}
    elif layer == "PReLU":
        axes = draw(st.lists(st.integers(1, len(shape) - 1), unique=True, max_size=len(shape) - 1))
        kwargs = {"shared_axes": draw(st.sampled_from([None, axes, axes[0] if axes else None]))}
    else:
        ndim = len(shape)
        single = st.integers(-ndim, ndim - 1)
        pair = st.lists(st.integers(1, ndim - 1), min_size=2, max_size=2, unique=True)
        kwargs = {"axis": draw(single | (pair if ndim > 2 else single))}
    return Case(layer, kwargs, shape)


def kink_points(case, dtype):
    """The inputs where this layer's slope jumps, as both libraries round them."""
    points = [0.0]
    for key in ("threshold", "max_value"):
        value = case.kwargs.get(key)
        if value is not None:
            points += [float(np.float32(value)), value]
    return np.array(points, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25)
@given(case=layer_cases(), data=st.data())
def test_layer_equals_keras_on_shared_weights(dtype, case, data):
    x = data.draw(S.arrays(case.input_shape, dtype, ("normal", "zeros", "saturated")), label="x")
    planted = data.draw(st.integers(0, 2**32 - 1), label="kink_seed")
    rng = np.random.default_rng(planted)
    at_kink = rng.random(x.shape) < 0.3
    x = np.where(at_kink, rng.choice(kink_points(case, dtype), size=x.shape), x).astype(dtype)
    dy = data.draw(S.upstream_gradients(case.input_shape, dtype), label="dy")
    seed = data.draw(st.integers(0, 2**16), label="weight_seed")
    pairs = layer_pair(case, dtype, x, dy, weight_seed=seed)
    floor = GRADIENT_FLOOR * float(np.max(np.abs(dy)))
    for tensor, (ours, theirs) in pairs.items():
        assert ours is not None, f"scratchnet's {case.layer} has no gradient '{tensor}'"
        assert_parity(
            ours, theirs, rtol=rtol_for(dtype), tensor=tensor, layer=case.layer,
            config={**case.describe(), "dtype": dtype}, floor=0.0 if tensor == "y" else floor,
        )  # fmt: skip


CONFIGS = [
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.1}),
    ("ReLU", {}),
    ("ReLU", {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.5}),
    ("PReLU", {}),
    ("PReLU", {"shared_axes": [1, 2], "alpha_initializer": "ones"}),
    ("PReLU", {"shared_axes": 3}),
    ("Softmax", {}),
    ("Softmax", {"axis": [1, 2]}),
]


@pytest.mark.parametrize(("layer", "kwargs"), CONFIGS)
def test_get_config_weights_and_counts_equal_keras(layer, kwargs):
    shape = (None, 3, 4, 5)
    with use_floatx("float32"):
        ours = Case(layer, {**kwargs, "name": "act"}, shape).build(scratchnet)
        theirs = Case(layer, {**kwargs, "name": "act"}, shape).build(keras)
        ours.build(shape)
        theirs.build(shape)
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert ours_config.pop("dtype") == theirs_config.pop("dtype")["config"]["name"]
    assert ours_config == theirs_config
    assert [(w.name, w.value.shape) for w in ours.weights] == [
        (w.name, tuple(w.shape)) for w in theirs.weights
    ]
    assert ours.count_params() == theirs.count_params()
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))


def _doubled_tanh(lib):
    def doubled_tanh(x):
        return lib.ops.tanh(x) * 2.0

    return doubled_tanh


@pytest.mark.parametrize("registered", [False, True])
def test_a_function_activation_in_get_config_is_keras_entry(registered):
    """Keras writes a function of yours as {"class_name": "function", "config": its name},
    "ActTest>name" once registered."""
    entries = []
    for lib in (keras, scratchnet):
        fn = _doubled_tanh(lib)
        if registered:
            fn = lib.saving.register_keras_serializable(package="ActTest")(fn)
        entries.append(lib.layers.Dense(2, activation=fn).get_config()["activation"])
    assert entries[1] == entries[0]


def test_from_config_finds_a_registered_activation_function_again():
    fn = scratchnet.saving.register_keras_serializable(package="ActTest")(_doubled_tanh(scratchnet))
    layer = scratchnet.layers.Dense(2, activation=fn)
    assert scratchnet.layers.Dense.from_config(layer.get_config()).activation.fn is fn
    unregistered = scratchnet.layers.Dense(2, activation=_doubled_tanh(scratchnet))
    with pytest.raises(ValueError, match="Cannot find the activation function 'doubled_tanh'"):
        scratchnet.layers.Dense.from_config(unregistered.get_config())

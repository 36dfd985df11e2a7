"""Parity of scratchnet.ops.nn with keras.ops: dtype, values and gradients (TensorFlow's tape).

Cases are valid by construction: the kernel or pool window is drawn first, then an input at
least that big; dilation only with stride 1. Values come in kinds (``strategies.make_array``):
normal, with exact zeros (relu's kink), small-integer ties (max-pool windows with several
maxima) and saturated (|x| ~ 50, where sigmoid and softmax round to 0 and 1). The
cross-entropies get probabilities with exact 0s and 1s (the clip's zero-gradient region),
probabilities on the clip's ends, unnormalised outputs and targets, and both ``from_logits``.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_tests.ops_parity import check_op
from parity_tests.strategies import KINDS, arrays, make_array
from scratchnet import ops

FLOATS = ("float32", "float64")


def shapes(min_dims=1, max_dims=4, max_side=4):
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def tensors(draw, min_dims=1, max_dims=4, kinds=KINDS, dtype=None):
    """A float array of a drawn shape, dtype (float32 / float64) and kind of values."""
    shape = draw(shapes(min_dims, max_dims))
    return draw(arrays(shape, dtype or draw(st.sampled_from(FLOATS)), kinds=kinds))


# ----------------------------------------------------------------------------- activations


@settings(max_examples=20)
@given(
    st.sampled_from(("relu", "sigmoid", "tanh", "softplus", "silu", "elu", "leaky_relu")),
    tensors(),
)
def test_elementwise_activations(name, x):
    check_op(name, (x,))


@settings(max_examples=15)
@given(tensors(), st.sampled_from((0.5, 1.0, 2.0)), st.sampled_from((0.2, 0.01, 1.5, -0.5)))
def test_elu_and_leaky_relu_parameters(x, alpha, slope):
    check_op("elu", (x,), {"alpha": alpha})
    check_op("leaky_relu", (x,), {"negative_slope": slope})


@settings(max_examples=15)
@given(tensors(), st.booleans())
def test_gelu(x, approximate):
    check_op("gelu", (x,), {"approximate": approximate})
    check_op("gelu", (x,))  # Keras's default: the tanh approximation


def test_elu_far_left_and_softplus_thresholds():
    """Where elu's e + 1 rounds to 0 (gradient 0 in TensorFlow) and softplus's three regions."""
    for dtype in FLOATS:
        x = np.array([-40.0, -17.0, -1.0, 0.0, 1.0], dtype)
        check_op("elu", (x,))
        check_op("elu", (x,), {"alpha": 0.3})
        edges = np.array([-40.0, -36.1, -34.0, -14.5, -13.9, 0.0, 13.9, 14.5, 34.0, 40.0], dtype)
        check_op("softplus", (edges,))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_inputs(dtype):
    """relu keeps ints; leaky_relu makes float32; tanh makes floatx (Keras's measured rules)."""
    x = np.array([-3, 0, 2, 7], dtype)
    for name in ("relu", "leaky_relu", "tanh"):
        check_op(name, (x,))


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "softplus", "elu", "silu", "gelu"])
def test_integer_inputs_are_refused_as_in_keras(name):
    x = np.array([1, 2], "int32")
    with pytest.raises(Exception):  # noqa: B017 (TensorFlow's InvalidArgumentError or ValueError)
        getattr(keras.ops, name)(x)
    with pytest.raises(TypeError, match="float"):
        getattr(ops, name)(x)


@st.composite
def softmax_cases(draw):
    x = draw(tensors(min_dims=1, max_dims=4))
    axis = draw(
        st.one_of(
            st.integers(-x.ndim, x.ndim - 1),
            st.none(),
            st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True).map(
                tuple
            ),
        )
    )
    return x, axis


@settings(max_examples=25)
@given(softmax_cases(), st.sampled_from(("softmax", "log_softmax")))
def test_softmax_and_log_softmax(case, name):
    x, axis = case
    check_op(name, (x,), {"axis": axis})


# ----------------------------------------------------------------------------- one_hot


@settings(max_examples=20)
@given(st.data())
def test_one_hot(data):
    shape = data.draw(shapes(1, 3))
    C = data.draw(st.integers(1, 5))
    index_dtype = data.draw(st.sampled_from(("int32", "int64")))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-1, C + 1, size=shape).astype(index_dtype)  # -1 and C give zero rows
    axis = data.draw(st.integers(-1, len(shape)))  # TensorFlow takes no other negative axis
    dtype = data.draw(st.sampled_from((None, "float64", "int32", "bool")))
    check_op("one_hot", (x, C), {"axis": axis, "dtype": dtype})


# ----------------------------------------------------------------------------- conv


@st.composite
def conv_cases(draw):
    """(inputs, kernel, kwargs): 1-D or 2-D, strides or dilation, valid or same."""
    ndim = draw(st.sampled_from((1, 2)))
    kernel = [draw(st.integers(1, 4)) for _ in range(ndim)]
    strides = [draw(st.integers(1, 3)) for _ in range(ndim)]
    dilation = [draw(st.integers(1, 3)) for _ in range(ndim)] if max(strides) == 1 else [1] * ndim
    padding = draw(st.sampled_from(("valid", "same")))
    smallest = [d * (k - 1) + 1 if padding == "valid" else 1 for k, d in zip(kernel, dilation)]
    sizes = [draw(st.integers(s, s + 4)) for s in smallest]
    C_in, C_out, N = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    dtype = draw(st.sampled_from(FLOATS))
    seed = draw(st.integers(0, 2**32 - 2))
    x = make_array((N, *sizes, C_in), dtype, draw(st.sampled_from(KINDS[:3])), seed)
    k = make_array((*kernel, C_in, C_out), dtype, "normal", seed + 1)
    as_ints = draw(st.booleans())  # one int for every axis, where the axes agree
    kwargs = dict(
        strides=strides[0] if as_ints and len(set(strides)) == 1 else tuple(strides),
        padding=padding,
        dilation_rate=dilation[0] if as_ints and len(set(dilation)) == 1 else tuple(dilation),
    )
    return x, k, kwargs


@settings(max_examples=25)
@given(conv_cases())
def test_conv(case):
    x, k, kwargs = case
    check_op("conv", (x, k), kwargs)


def _keras_channels_first(fn):
    """Keras's op on channels-first inputs, through channels last (TensorFlow's CPU conv has
    no NCHW kernel: Keras raises there)."""

    def run(x, *args, data_format=None, **kwargs):
        perm = (0, *range(2, x.ndim), 1)
        back = (0, x.ndim - 1, *range(1, x.ndim - 1))
        return tf.transpose(fn(tf.transpose(x, perm), *args, **kwargs), back)

    return run


def test_conv_channels_first_and_int32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6)).astype("float32")  # (N, C, H, W)
    k = rng.standard_normal((2, 3, 3, 4)).astype("float32")
    check_op(
        "conv",
        (x, k),
        {"data_format": "channels_first", "padding": "same"},
        keras_fn=_keras_channels_first(keras.ops.conv),
    )
    xi = rng.integers(-3, 4, size=(1, 4, 4, 2)).astype("int32")
    ki = rng.integers(-2, 3, size=(2, 2, 2, 3)).astype("int32")
    check_op("conv", (xi, ki))
    with pytest.raises(ValueError, match="strides > 1"):
        ops.conv(x, k, strides=2, dilation_rate=2)


# ----------------------------------------------------------------------------- pooling


@st.composite
def pool_cases(draw):
    """(inputs, kwargs): 1-D or 2-D windows, overlapping or gapped strides, ties on purpose."""
    ndim = draw(st.sampled_from((1, 2)))
    pool = [draw(st.integers(1, 3)) for _ in range(ndim)]
    strides = draw(st.one_of(st.none(), st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    padding = draw(st.sampled_from(("valid", "same")))
    sizes = [draw(st.integers(p if padding == "valid" else 1, 6)) for p in pool]
    shape = (draw(st.integers(1, 2)), *sizes, draw(st.integers(1, 3)))
    x = draw(arrays(shape, draw(st.sampled_from(FLOATS)), kinds=("ties", "normal", "zeros")))
    pool_size = pool[0] if len(set(pool)) == 1 and draw(st.booleans()) else tuple(pool)
    return x, dict(pool_size=pool_size, strides=strides and tuple(strides), padding=padding)


def _keras_on_tensor(name):
    """Keras's op on a tensor: on a NumPy float64 array tf.nn.max_pool returns float32."""
    return lambda x, *args, **kwargs: getattr(keras.ops, name)(tf.constant(x), *args, **kwargs)


@settings(max_examples=25)
@given(pool_cases(), st.sampled_from(("max_pool", "average_pool")))
def test_pooling(case, name):
    x, kwargs = case
    check_op(name, (x,), kwargs, keras_fn=_keras_on_tensor(name))


def test_max_pool_ties_go_to_the_first_maximum():
    """All-equal windows that overlap: each window's gradient goes to its top-left pixel."""
    x = np.ones((1, 4, 4, 1), "float32")
    for kwargs in (dict(pool_size=2, strides=1), dict(pool_size=3, strides=2, padding="same")):
        check_op("max_pool", (x,), kwargs)


def test_pooling_channels_first_and_int_max_pool():
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 4)).astype("float32")
    for name in ("max_pool", "average_pool"):
        check_op(name, (x, 2), {"padding": "same", "data_format": "channels_first"})
    ints = np.arange(32, dtype="int32").reshape(2, 4, 4, 1) % 7
    check_op("max_pool", (ints, 2), keras_fn=_keras_on_tensor("max_pool"))


# ----------------------------------------------------------------------------- cross-entropies


def probabilities(shape, dtype, kind, seed, axis=-1):
    """Outputs for the cross-entropies: softmax rows (normal, or saturated: exact 0s and 1s in
    float32), unnormalised positive values with exact zeros, or values on the clip's ends."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape)
    if kind in ("normal", "saturated"):
        z = 50 * z if kind == "saturated" else z
        e = np.exp(z - z.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True)).astype(dtype)
    if kind == "zeros":
        return (np.abs(z) * (rng.random(shape) > 1 / 3) + 0.05 * (rng.random(shape) > 0.5)).astype(
            dtype
        )
    ends = np.array([1e-7, 1 - 1e-7, 0.0, 1.0, 0.5]).astype(dtype)  # the clip's ends, exactly
    return rng.choice(ends, size=shape).astype(dtype)


def targets(shape, dtype, kind, seed, axis=-1):
    """One-hot rows, soft labels (rows summing to 1), or unnormalised values in [0, 1)."""
    rng = np.random.default_rng(seed)
    if kind == "onehot":
        C = shape[axis]
        hot = np.moveaxis(np.eye(C)[rng.integers(0, C, size=np.delete(shape, axis % len(shape)))],
                          -1, axis % len(shape))  # fmt: skip
        return hot.astype(dtype)
    if kind == "soft":
        return probabilities(shape, dtype, "normal", seed + 7, axis)
    return rng.random(shape).astype(dtype)


@st.composite
def crossentropy_cases(draw, with_axis=True):
    shape = draw(shapes(1, 3, max_side=5))
    # TensorFlow's softmax_cross_entropy_with_logits takes -1 or a non-negative axis.
    axis = draw(st.integers(-1, len(shape) - 1)) if with_axis else -1
    dtype = draw(st.sampled_from(FLOATS))
    from_logits = draw(st.booleans())
    seed = draw(st.integers(0, 2**31))
    if from_logits:
        output = make_array(shape, dtype, draw(st.sampled_from(("normal", "saturated"))), seed)
    else:
        kind = draw(st.sampled_from(("normal", "saturated", "zeros", "ends")))
        output = probabilities(shape, dtype, kind, seed, axis)
    target = targets(shape, dtype, draw(st.sampled_from(("onehot", "soft", "any"))), seed, axis)
    return target, output, from_logits, axis


@settings(max_examples=30)
@given(crossentropy_cases())
def test_categorical_crossentropy(case):
    target, output, from_logits, axis = case
    check_op("categorical_crossentropy", (target, output), dict(from_logits=from_logits, axis=axis))


@settings(max_examples=30)
@given(crossentropy_cases(with_axis=False))
def test_binary_crossentropy(case):
    target, output, from_logits, _ = case
    check_op("binary_crossentropy", (target, output), dict(from_logits=from_logits))


@settings(max_examples=30)
@given(crossentropy_cases(with_axis=False), st.sampled_from(("int32", "int64", "float32")))
def test_sparse_categorical_crossentropy(case, target_dtype):
    _, output, from_logits, _ = case
    rng = np.random.default_rng(output.size)
    labels = rng.integers(0, output.shape[-1], size=output.shape[:-1]).astype(target_dtype)
    if output.ndim > 1 and rng.random() < 0.3:
        labels = labels[..., None]  # a trailing axis of 1 is squeezed, as in Keras
    check_op("sparse_categorical_crossentropy", (labels, output), dict(from_logits=from_logits))


def _loss_of_activation(ops_module, loss, activation):
    """target, x -> loss(target, activation(x)) with one library's ops."""
    return lambda x, target: getattr(ops_module, loss)(target, getattr(ops_module, activation)(x))


@pytest.mark.parametrize(
    "loss, activation",
    [
        ("categorical_crossentropy", "softmax"),
        ("sparse_categorical_crossentropy", "softmax"),
        ("binary_crossentropy", "sigmoid"),
    ],
)
def test_crossentropies_of_softmax_and_sigmoid_use_the_logits(loss, activation):
    """Keras marks ops.softmax / ops.sigmoid outputs with their logits; the cross-entropies then
    compute from the logits (19.0 here where the clipped probabilities would give 16.1)."""
    x = np.array([[1.0, 20.0, -3.0], [0.5, -0.5, 2.0]], "float32")
    target = np.array([0, 2]) if loss.startswith("sparse") else np.eye(3, dtype="float32")[[0, 2]]
    check_op(
        loss,
        (x, target),
        keras_fn=_loss_of_activation(keras.ops, loss, activation),
        sn_fn=_loss_of_activation(ops, loss, activation),
    )
    first = float(ops.categorical_crossentropy(np.eye(3)[:1], ops.softmax(x[:1]))[0])
    assert first == pytest.approx(19.0)


def test_sparse_labels_out_of_range_are_refused():
    with pytest.raises(ValueError, match="outside"):
        ops.sparse_categorical_crossentropy(np.array([0, 3]), np.full((2, 3), 1 / 3, "float32"))


def test_a_softmax_over_a_tuple_of_axes_carries_no_logits():
    """Keras's softmax over a tuple of axes reshapes its result, which loses the logits mark:
    the cross-entropy then clips the probabilities (16.1 here, not 19.0)."""
    x = np.array([[1.0, 20.0, -3.0]], "float32")
    t = np.array([[1.0, 0.0, 0.0]], "float32")

    def loss(ops_module):
        return lambda x, t: ops_module.categorical_crossentropy(t, ops_module.softmax(x, (1,)))

    check_op("categorical_crossentropy", (x, t), keras_fn=loss(keras.ops), sn_fn=loss(ops))

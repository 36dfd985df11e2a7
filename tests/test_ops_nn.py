"""The nn ops' backward rules against central finite differences (float64), and a few values.

Each check differentiates the fake loss L = sum(op(x) * dy) for a random dy (never all ones)
element by element and compares with backprop through the op's recorded backward rule. Inputs
stay away from kinks (relu at 0, max-pool ties, the cross-entropies' clip ends), where a
difference quotient straddles two rules; the parity tests cover those against TensorFlow.
"""

import numpy as np
import pytest
from finite_differences import grad_check

from scratchnet import ops
from scratchnet.ops import core


def normal(*shape, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def softmax_rows(*shape, seed=0):
    e = np.exp(normal(*shape, seed=seed))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS = [
    ops.relu, ops.sigmoid, ops.tanh, ops.softplus, ops.silu, ops.elu,
    lambda x: ops.elu(x, alpha=0.4), ops.leaky_relu, lambda x: ops.leaky_relu(x, 1.7),
    ops.gelu, lambda x: ops.gelu(x, approximate=False),
    ops.softmax, lambda x: ops.softmax(x, axis=0), lambda x: ops.softmax(x, axis=None),
    lambda x: ops.softmax(x, axis=(0, 2)), ops.log_softmax, lambda x: ops.log_softmax(x, 1),
]  # fmt: skip


@pytest.mark.parametrize("fn", ACTIVATIONS)
def test_activations(fn):
    grad_check(fn, normal(2, 3, 4, scale=2.0))


def test_softplus_in_its_three_regions():
    grad_check(ops.softplus, np.array([-50.0, -36.0, -20.0, -1.0, 0.5, 20.0, 36.0, 50.0]))


CONVS = [
    ({}, (1, 5, 6, 2), (3, 2, 2, 3)),
    ({"strides": 2, "padding": "same"}, (2, 5, 6, 2), (3, 3, 2, 2)),
    ({"strides": (1, 3), "padding": "valid"}, (1, 6, 7, 1), (2, 2, 1, 2)),
    ({"dilation_rate": 2, "padding": "same"}, (1, 5, 5, 2), (2, 3, 2, 1)),
    ({"strides": 2, "padding": "same"}, (2, 7, 3), (3, 3, 2)),  # 1-D
    ({"data_format": "channels_first", "padding": "same"}, (1, 2, 4, 5), (3, 2, 2, 2)),
]


@pytest.mark.parametrize("kwargs, x_shape, k_shape", CONVS)
@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_conv(kwargs, x_shape, k_shape, kernels, request):
    request.getfixturevalue(f"{kernels}_kernels")
    grad_check(lambda x, k: ops.conv(x, k, **kwargs), normal(*x_shape), normal(*k_shape, seed=1))


POOLS = [
    (2, {}, (2, 4, 5, 2)),
    ((3, 2), {"strides": 1}, (1, 4, 4, 1)),  # overlapping windows
    (3, {"strides": 2, "padding": "same"}, (1, 5, 4, 2)),
    (2, {"strides": 3, "padding": "same"}, (1, 5, 5, 1)),  # gaps between windows
    (2, {"padding": "same"}, (2, 5, 3)),  # 1-D
    (2, {"data_format": "channels_first"}, (1, 2, 4, 4)),
]


@pytest.mark.parametrize("pool, kwargs, shape", POOLS)
@pytest.mark.parametrize("op", [ops.max_pool, ops.average_pool])
@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_pooling(op, pool, kwargs, shape, kernels, request):
    request.getfixturevalue(f"{kernels}_kernels")
    grad_check(lambda x: op(x, pool, **kwargs), normal(*shape))


def test_average_pool_same_counts_only_real_pixels():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = ops.average_pool(x, 2, 2, "same").numpy()[0, :, :, 0]
    np.testing.assert_array_equal(y, [[2.0, 3.5], [6.5, 8.0]])


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("axis", [-1, 0])
def test_categorical_crossentropy(from_logits, axis):
    t = np.moveaxis(softmax_rows(3, 4, seed=2), -1, axis)  # targets summing to 1 along axis
    out = normal(3, 4) if from_logits else np.abs(normal(3, 4, seed=3)) + 0.1  # unnormalised
    out = np.moveaxis(out, -1, axis)
    grad_check(lambda a, b: ops.categorical_crossentropy(a, b, from_logits, axis=axis), t, out)


def test_categorical_crossentropy_from_logits_takes_tensorflows_rule():
    """dz = dy (softmax(z) - t) even when t does not sum to 1 (TensorFlow's kernel; the exact
    derivative would be dy (sum(t) softmax(z) - t))."""
    t, z = np.array([[0.5, 1.0, 0.3]]), np.array([[1.0, 2.0, 0.5]])
    with core.record_gradients():
        zt = core.Tensor(z, requires_grad=True)
        loss = ops.categorical_crossentropy(t, zt, from_logits=True)
    (dz,) = core.gradients(loss, np.ones(1), [zt])
    np.testing.assert_allclose(dz, ops.softmax(z).numpy() - t)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy(from_logits):
    labels = np.array([[0, 3, 1], [2, 2, 0]])
    out = normal(2, 3, 4) if from_logits else softmax_rows(2, 3, 4, seed=4)
    if not from_logits:
        out[0, 0] = [0.5, 1.5, -0.2, 0.3]  # 1.5 and -0.2 are clipped: no gradient there
    grad_check(lambda t, o: ops.sparse_categorical_crossentropy(t, o, from_logits), labels, out)


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy(from_logits):
    t = np.random.default_rng(5).random((3, 4))
    out = normal(3, 4, scale=3.0) if from_logits else np.random.default_rng(6).random((3, 4))
    if not from_logits:
        out[0, :2] = [1.5, -0.25]  # clipped: no gradient there
    grad_check(lambda a, b: ops.binary_crossentropy(a, b, from_logits), t, out)


def test_softmax_output_carries_its_logits_to_the_crossentropy():
    """As in Keras: crossentropy(softmax(z)) computes from z, where clipping would lose digits,
    and its gradient reaches z directly (the softmax's own backward is not used)."""
    z = np.array([[1.0, 30.0, -3.0]])
    t = np.array([[1.0, 0.0, 0.0]])
    assert float(ops.categorical_crossentropy(t, ops.softmax(z))[0]) == pytest.approx(29.0)
    grad_check(lambda x: ops.categorical_crossentropy(t, ops.softmax(x)), z)
    grad_check(lambda x: ops.binary_crossentropy(t, ops.sigmoid(x)), z)
    with pytest.warns(UserWarning, match="from_logits=True"):
        ops.categorical_crossentropy(t, ops.softmax(z), from_logits=True)


def test_one_hot():
    y = ops.one_hot(np.array([[2, -1], [0, 3]]), 3, axis=1)
    assert y.shape == (2, 3, 2) and y.dtype == "float32"
    np.testing.assert_array_equal(y.numpy()[:, :, 0], [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(y.numpy()[:, :, 1], np.zeros((2, 3)))  # out of range: zeros
    assert ops.one_hot([1], 2, dtype="bool").dtype == "bool"

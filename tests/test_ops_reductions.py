"""The backward rules of scratchnet.ops' reductions against central differences (float64).

Every reduction, over every form of ``axis`` (None, an int, a negative int, a tuple, the empty
tuple) with and without ``keepdims``. max and min get values at least 1/4 apart (a tie has
no derivative: TensorFlow's rule for ties, shared equally, is pinned below and checked against
Keras by the parity tests); prod gets a zero among its inputs, where y / x would fail.
"""

import numpy as np
import pytest
from test_ops_arithmetic import check_gradients, distinct, normal

from scratchnet import ops
from scratchnet.ops.core import Tensor, gradients, record_gradients

CASES = [  # (shape, axis, keepdims)
    ((3, 4), None, False),
    ((2, 3, 4), (0, -1), True),
    ((2, 3, 4), 1, False),
    ((2, 3, 4), (2, 0, 1), False),
    ((4,), -1, True),
    ((2, 3), (), False),
    ((), None, True),
]


def with_a_zero(shape, seed):
    x = normal(shape, seed)
    x.flat[1 % x.size] = 0.0
    return x


INPUTS = {
    "sum": normal,
    "mean": normal,
    "max": distinct,
    "min": distinct,
    "prod": with_a_zero,
    "std": normal,
    "var": normal,
    "logsumexp": lambda shape, seed: np.array(3 * normal(shape, seed)),
}


@pytest.mark.parametrize(
    "op, shape, axis, keepdims",
    [
        (op, *case)
        for op in sorted(INPUTS)
        for case in CASES
        # std of a single value is 0, where its gradient is 0 / 0 (nan, as in Keras): no FD
        if not (op == "std" and (case[0] == () or case[1] == ()))
    ],
)
def test_reduction_gradients(op, shape, axis, keepdims):
    x = INPUTS[op](shape, 1)
    check_gradients(lambda x: getattr(ops, op)(x, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_with_an_initial_value(op):
    """Rows whose extreme does not pass ``initial`` give ``initial``, and no gradient to x."""
    x = distinct((3, 4), 2) - 1.0  # from -1 to 1.75
    check_gradients(lambda x: getattr(ops, op)(x, axis=1, initial=0.3), x)


def test_prod_with_two_zeros_passes_no_gradient():
    """With two zeros, every product of the others has a zero: the gradient is 0 everywhere."""
    x = np.array([2.0, 0.0, 3.0, 0.0])
    check_gradients(ops.prod, x)


def backward_of(op, x, dy, **kwargs):
    with record_gradients():
        leaf = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        y = op(leaf, **kwargs)
    return gradients(y, np.asarray(dy, dtype=np.float64), [leaf])[0]


def test_tied_maxima_share_the_gradient_equally():
    """TensorFlow's rule (not NumPy's, nor max-pooling's first-maximum rule)."""
    np.testing.assert_array_equal(backward_of(ops.max, [1, 3, 3, 2], 1.0), [0, 0.5, 0.5, 0])
    np.testing.assert_array_equal(
        backward_of(ops.min, [[1, 1, 3], [2, 0, 0]], [2.0, 4.0], axis=1),
        [[1, 1, 0], [0, 2, 2]],
    )


def test_std_of_constant_values_has_a_nan_gradient_as_in_keras():
    with np.errstate(invalid="ignore"):
        grad = backward_of(ops.std, [[1.0, 2.0], [3.0, 3.0]], [1.0, 1.0], axis=1)
    np.testing.assert_array_equal(grad, [[-0.5, 0.5], [np.nan, np.nan]])


@pytest.mark.parametrize("op", [ops.argmax, ops.argmin])
def test_argmax_and_argmin_record_no_gradient(op):
    with record_gradients():
        y = op(Tensor(np.array([[1.0, 3.0], [2.0, 0.0]]), requires_grad=True), axis=1)
    assert y.dtype == "int32" and y.parents == () and not y.requires_grad

"""The backward rules of scratchnet.ops' elementwise arithmetic against central differences.

For each op, L = sum(op(*xs) * dy) with a random dy (never all ones: ones hide misrouted
gradients); dL/dx from the op's backward rule (``core.gradients``) must equal
(L(x + eps) - L(x - eps)) / (2 eps), element by element, in float64. Inputs stay away from
the kinks (abs at 0, ties of maximum, clip's bounds), where a derivative does not exist and
Keras's choice is checked by the parity tests instead. Shapes broadcast, so that the sums over
broadcast axes are checked too.
"""

import numpy as np
import pytest

from scratchnet import ops
from scratchnet.ops.core import Tensor, gradients, record_gradients

# Pairs of shapes that broadcast: a bias, stretched axes of length 1 on both sides, a scalar.
SHAPES = [((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((), (2, 2)), ((3, 1), (3, 1))]


def check_gradients(fn, *xs, seed=0, eps=1e-6):
    """Assert the recorded backward of ``fn`` equals central differences, for every x in
    ``xs`` (float64 arrays); a failure names the argument and the worst index."""
    with record_gradients():
        leaves = [Tensor(x, requires_grad=True) for x in xs]
        y = fn(*leaves)
    dy = np.random.default_rng(seed).standard_normal(y.shape)
    analytic = gradients(y, dy, leaves)

    def loss():
        return np.sum(fn(*(Tensor(x) for x in xs)).value * dy)

    for i, (x, got) in enumerate(zip(xs, analytic)):
        want = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            saved = x[index]
            x[index] = saved + eps
            up = loss()
            x[index] = saved - eps
            down = loss()
            x[index] = saved
            want[index] = (up - down) / (2 * eps)
        got = np.zeros_like(x) if got is None else got
        worst = np.unravel_index(np.argmax(np.abs(got - want)), x.shape) if x.ndim else ()
        np.testing.assert_allclose(
            got, want, rtol=1e-6, atol=1e-8, err_msg=f"d/d(argument {i}), worst at {worst}"
        )


# Input makers: (shape, seed) -> a float64 array (0-d arrays stay arrays, to be nudged).


def normal(shape, seed):
    return np.array(np.random.default_rng(seed).standard_normal(shape))


def away_from_zero(shape, seed):
    x = normal(shape, seed)
    return np.array(np.where(x < 0, -1, 1) * (0.5 + np.abs(x)))


def distinct(shape, seed):
    """Values at least 1/4 apart from each other, so no nudge by eps can make a tie."""
    values = np.random.default_rng(seed).permutation(np.arange(np.prod(shape, dtype=int)) / 4)
    return values.reshape(shape)


def positive(shape, seed):
    return np.array(0.5 + np.abs(normal(shape, seed)))


BINARY = {
    "add": (normal, normal),
    "subtract": (normal, normal),
    "multiply": (normal, normal),
    "divide": (normal, away_from_zero),
    "true_divide": (normal, away_from_zero),
    "power": (positive, normal),
    "maximum": (distinct, lambda s, seed: np.array(distinct(s, seed) + 1 / 8)),
    "minimum": (distinct, lambda s, seed: np.array(distinct(s, seed) + 1 / 8)),
}


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_op_gradients(op, shapes):
    make1, make2 = BINARY[op]
    check_gradients(getattr(ops, op), make1(shapes[0], 1), make2(shapes[1], 2))


UNARY = {
    "negative": normal,
    "square": normal,
    "sqrt": positive,
    "exp": normal,
    "log": positive,
    "log1p": lambda s, seed: np.array(positive(s, seed) - 0.9),
    "abs": away_from_zero,
    "absolute": away_from_zero,
    "sign": away_from_zero,
    "reciprocal": away_from_zero,
}


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_op_gradients(op, shape):
    check_gradients(getattr(ops, op), UNARY[op](shape, 3))


def test_clip_gradients_go_to_x_inside_and_to_the_bounds_outside():
    x = distinct((3, 4), 4) - 1.4  # from -1.4 to 1.35, none at a bound
    low = np.array([-1.01, -0.52, 0.03, -2.0])  # (4,): one bound per column
    high = np.array([[0.61], [1.12], [0.33]])  # (3, 1): one per row
    check_gradients(ops.clip, x, low, high)
    check_gradients(lambda x: ops.clip(x, -0.51, 0.49), x)


def test_where_gradients_go_to_the_chosen_side():
    condition = np.array([[True, False, True], [False, False, True]])
    check_gradients(lambda a, b: ops.where(condition, a, b), normal((2, 3), 5), normal((3,), 6))
    check_gradients(lambda a: ops.where(condition, a, 2.0), normal((2, 1), 7))


def test_a_chain_of_ops_gets_the_chain_rule():
    """y = exp(x1) * where(c, x1, x2) / (1 + x2^2): x1 and x2 are each read twice."""
    condition = np.array([True, False, True])

    def fn(x1, x2):
        chosen = ops.where(condition, x1, x2)
        return ops.divide(ops.multiply(ops.exp(x1), chosen), ops.add(1, ops.square(x2)))

    check_gradients(fn, normal((2, 3), 8), normal((3,), 9))


def test_python_operators_are_the_ops():
    """``+ - * / **``, unary ``-`` and ``abs()`` on tensors, and ``ndarray (op) tensor``, call
    the registered ops (the same values, and the same backward rules). (``ndarray / tensor``
    is left out: NumPy 2 names that ufunc ``divide``, which core's operator table lacks.)"""
    a, b = normal((2, 3), 10), away_from_zero((3,), 11)
    x = Tensor(a)
    pairs = [
        (x + b, ops.add(a, b)),
        (b - x, ops.subtract(b, a)),
        (x * b, ops.multiply(a, b)),
        (x / b, ops.divide(a, b)),
        (abs(x) ** b, ops.power(ops.abs(a), b)),
        (-x, ops.negative(a)),
        (a + x, ops.add(a, a)),
    ]
    for got, want in pairs:
        assert isinstance(got, Tensor) and got.dtype == want.dtype
        np.testing.assert_array_equal(got.value, want.value)
    check_gradients(lambda x, y: (x * y - y / 2) ** 2 + abs(-x), a, b)

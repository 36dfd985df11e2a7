"""Parity of scratchnet.ops' elementwise arithmetic with keras.ops: dtype, values and gradients.

Shapes are drawn as pairs (or triples, for ``where``) that broadcast together, scalars and
axes of length 1 included; the values include ties and exact zeros on purpose, where the
gradient rules of maximum, minimum, abs, sign and clip choose a side (TensorFlow's choice is
the one to match). Ints and bools go through every op that Keras takes them in, to check
Keras's dtype rules (``square`` of bools is int32, ``sqrt`` of int64 is floatx, ...).
"""

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from parity_tests.ops_parity import check_op, op_arrays

FLOATS = ("float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8")
EXAMPLES = 15
BINARY_OPS = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power"]


def broadcastable(num_shapes=2):
    """Shapes that broadcast together: ranks 0-3, sides 1-3 (scalars and length-1 axes)."""
    return mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=0, max_dims=3, max_side=3)


@st.composite
def float_pairs(draw, kinds=("normal", "ties", "zeros")):
    """Two float arrays that broadcast together, of one dtype or of float32 and float64."""
    shapes = draw(broadcastable()).input_shapes
    dtypes = draw(st.sampled_from([(d, d) for d in FLOATS] + [FLOATS, FLOATS[::-1]]))
    return tuple(draw(op_arrays(s, d, kinds)) for s, d in zip(shapes, dtypes))


def away_from_zero(x):
    """The same signs, magnitudes at least 0.5 (divisors, reciprocals)."""
    return np.asarray(np.where(x < 0, -1, 1) * (0.5 + np.abs(x)), dtype=x.dtype)


def keras_add_is_wrong(shape1, shape2):
    """Whether ``keras.ops.add`` (TensorFlow backend, Keras 3.15) gets x1 + x2 wrong.

    It adds x2 as a bias (``tf.nn.bias_add``) when x2 has one axis longer than 1 whose length
    is that of x1's axis 1 or last axis, and x1 has 2 axes or more; it then adds along that axis
    of x1, not where broadcasting puts x2 (measured: ``add(zeros((3, 3)), arange(3).reshape(3,
    1))`` has rows [0, 1, 2], broadcasting gives columns; ``add(zeros((1, 2)), zeros((1, 1,
    2)))`` has shape (1, 2)). scratchnet broadcasts as NumPy; those cases are not compared.
    """
    long = [(i - len(shape2), n) for i, n in enumerate(shape2) if n > 1]  # (axis from the end, n)
    if len(long) != 1 or len(shape1) < 2 or long[0][1] not in (shape1[1], shape1[-1]):
        return False
    bias_axis = len(shape1) - 1 if shape1[-1] == long[0][1] else 1
    return len(shape2) > len(shape1) or bias_axis != len(shape1) + long[0][0]


def test_keras_add_is_wrong_where_it_says():
    for shape1, shape2, wrong in [((3, 3), (3, 1), True), ((1, 2), (1, 1, 2), True),
                                  ((2, 3), (3,), False), ((2, 3, 4), (3, 1), False)]:  # fmt: skip
        x1, x2 = np.zeros(shape1), np.arange(np.prod(shape2), dtype=float).reshape(shape2)
        right = np.shape(keras.ops.add(x1, x2)) == np.shape(x1 + x2) and np.array_equal(
            keras.ops.add(x1, x2), x1 + x2
        )
        assert keras_add_is_wrong(shape1, shape2) == wrong == (not right)


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "maximum", "minimum"])
@settings(max_examples=EXAMPLES)
@given(xs=float_pairs())
def test_binary_ops_on_floats(op, xs):
    assume(not (op == "add" and keras_add_is_wrong(xs[0].shape, xs[1].shape)))
    check_op(op, xs)


@pytest.mark.parametrize("op", ["divide", "true_divide"])
@settings(max_examples=EXAMPLES)
@given(xs=float_pairs())
def test_divide(op, xs):
    x1, x2 = xs
    check_op(op, (x1, away_from_zero(x2)))


@settings(max_examples=EXAMPLES)
@given(xs=float_pairs(kinds=("normal", "zeros", "ties")), exponent=st.sampled_from(["any", "int"]))
def test_power(xs, exponent):
    """Positive bases to any exponent; any base (negative, zero) to the exponents 0, 1, 2."""
    x1, x2 = xs
    if exponent == "any":
        x1 = np.asarray(0.5 + np.abs(x1))
    else:
        x2 = np.asarray(np.round(np.abs(x2)) % 3)
    check_op("power", (x1, x2))


@pytest.mark.parametrize("op", BINARY_OPS)
@settings(max_examples=EXAMPLES)
@given(
    x=st.sampled_from(FLOATS).flatmap(lambda d: op_arrays((2, 3), d)),
    scalar=st.sampled_from([2, -3, 0.5, 1.5]),
    scalar_first=st.booleans(),
)
def test_binary_ops_with_a_python_scalar(op, x, scalar, scalar_first):
    """A Python scalar is weak: it does not widen the tensor's dtype."""
    if op == "power":  # a positive base
        x, scalar = (x, abs(scalar)) if scalar_first else (np.asarray(0.5 + np.abs(x)), scalar)
    if op == "divide" and scalar_first:
        x = away_from_zero(x)
    check_op(op, (scalar, x) if scalar_first else (x, scalar))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # int / 0 is inf or nan, in both
@pytest.mark.parametrize("op", BINARY_OPS)
@settings(max_examples=EXAMPLES)
@given(
    shapes=broadcastable(),
    dtypes=st.tuples(st.sampled_from(INTS), st.sampled_from(INTS)),
    data=st.data(),
)
def test_binary_ops_on_ints(op, shapes, dtypes, data):
    """Keras's promotion of ints (int8 + uint8 is int16, int / int is floatx)."""
    assume(not (op == "add" and keras_add_is_wrong(*shapes.input_shapes)))
    x1, x2 = (data.draw(op_arrays(s, d)) for s, d in zip(shapes.input_shapes, dtypes))
    if op == "power":
        x2 = np.asarray(np.abs(x2) % 3)  # no negative powers of ints (both libraries refuse them)
    check_op(op, (x1, x2))


UNARY_FLOAT_OPS = {  # each op's input on its domain (np.asarray: a 0-d array stays an array)
    "negative": lambda x: x,
    "square": lambda x: x,
    "sqrt": lambda x: np.asarray(np.abs(x)),
    "exp": lambda x: x,
    "log": lambda x: np.asarray(0.25 + np.abs(x)),
    "log1p": lambda x: np.asarray(np.abs(x) - 0.5),
    "abs": lambda x: x,
    "absolute": lambda x: x,
    "sign": lambda x: x,
    "reciprocal": away_from_zero,
}


@pytest.mark.parametrize("op", sorted(UNARY_FLOAT_OPS))
@settings(max_examples=EXAMPLES)
@given(
    x=st.tuples(broadcastable(1), st.sampled_from(FLOATS)).flatmap(
        lambda sd: op_arrays(sd[0].input_shapes[0], sd[1], ("normal", "zeros"))
    ),
)
def test_unary_ops_on_floats(op, x):
    """Each op on its domain; abs and sign at exact zeros too (their gradient there is 0)."""
    check_op(op, (UNARY_FLOAT_OPS[op](x),))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # log(-3), log(0), exp(253): on purpose
@pytest.mark.parametrize(
    "op, dtype",
    [
        (op, dtype)
        for op in ["abs", "absolute", "negative", "sign", "square", "sqrt", "exp", "log", "log1p"]
        for dtype in [*INTS, "bool"]
        # Keras's TensorFlow backend has no kernel for these pairs: nothing to compare with
        if not (
            (op in ("negative", "sign") and dtype == "bool") or (op, dtype) == ("negative", "uint8")
        )
    ],
)
def test_unary_ops_on_ints_and_bools(op, dtype):
    """Keras's dtypes: abs, negative, sign and square keep ints (square of bools is int32);
    sqrt, exp, log and log1p give floatx. Keras refuses the negative or sign of a bool and the
    negative of a uint8, so those pairs are not compared."""
    x = np.array([[-3, 0, 2], [5, 1, -1]]).astype(dtype)  # log of -3 is nan, of 0 -inf: both
    check_op(op, (x,))


def smaller_shape(shape):
    """Strategy: a shape that broadcasts to ``shape`` without growing it (a clip bound)."""
    return st.integers(0, len(shape)).flatmap(
        lambda k: st.tuples(*(st.sampled_from([1, n]) for n in shape[len(shape) - k :]))
    )


@settings(max_examples=EXAMPLES)
@given(
    x=st.tuples(broadcastable(1), st.sampled_from(FLOATS)).flatmap(
        lambda sd: op_arrays(sd[0].input_shapes[0], sd[1], ("ties", "normal"))
    ),
    bounds=st.sampled_from([(0, 2), (1, 2), (1.0, 1.0), (-0.5, 0.5), (2, 1)]),
    arrays=st.booleans(),
    data=st.data(),
)
def test_clip(x, bounds, arrays, data):
    """Values exactly at the bounds (the "ties" kind is 0, 1, 2) and lower bounds above the
    upper ones (TensorFlow's order gives x_min there); bounds as Python numbers or as arrays
    that broadcast to x (their gradients are summed back)."""
    if arrays:  # b, b + 0.5 or b + 1 at each place
        bounds = tuple(
            b + data.draw(op_arrays(data.draw(smaller_shape(x.shape)), x.dtype, ("ties",))) / 2
            for b in bounds
        )
    check_op("clip", (x, *bounds))


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "bool"])
def test_clip_of_ints_and_bools(dtype):
    """The dtype stays (a bool becomes int32); int bounds."""
    x = np.array([[-3, 0, 2], [5, 1, -1]]).astype(dtype)
    check_op("clip", (x, 0, 3))
    check_op("clip", (x, 1, 1))


@settings(max_examples=EXAMPLES)
@given(shapes=broadcastable(3), dtypes=st.tuples(*[st.sampled_from(FLOATS)] * 2), data=st.data())
def test_where(shapes, dtypes, data):
    """Condition, x1 and x2 broadcast together; x1 gets dy where true, x2 where false."""
    shape_c, shape_1, shape_2 = shapes.input_shapes
    condition = data.draw(op_arrays(shape_c, "bool"))
    x1 = data.draw(op_arrays(shape_1, dtypes[0]))
    x2 = data.draw(op_arrays(shape_2, dtypes[1]))
    check_op("where", (condition, x1, x2))


@pytest.mark.parametrize(
    "condition, x1, x2",
    [
        (np.array([True, False, True]), 1, 2),
        (np.array([True, False, True]), 1.5, 2),
        (np.array([True, False]), np.array([-3, 4], "int8"), 2.5),
        (np.array([[1, 0], [0, 3]]), np.array([1.0, 2.0]), np.float64(7)),  # int condition
        (np.array([0.5, 0.0]), np.array([1.0, 2.0], "float32"), np.array([3.0], "float32")),
    ],
)
def test_where_dtypes_and_conditions(condition, x1, x2):
    check_op("where", (condition, x1, x2))


@pytest.mark.parametrize(
    "condition",
    [np.array([[True, False], [True, True]]), np.array([0, 3, 0, 1]), np.zeros((2, 1, 2), bool)],
)
def test_where_of_a_condition_alone_gives_its_indices(condition):
    check_op("where", (condition,))

"""Parity of scratchnet.ops' reductions with keras.ops: dtype, values and gradients.

Each case draws a shape (rank 0-3, sides 1-4), then an ``axis`` inside it (None, an int or a
tuple of distinct axes, negative ones included) and ``keepdims``. Values are drawn for what
each op's backward rule has to get right: ties for max, min, argmax and argmin (TensorFlow
shares max's gradient equally among tied maxima; argmax picks the first), exact zeros for prod
(whose gradient is not y / x), constant rows for std (0 / 0: nan in both), and values on a
grid of 1/8 for sum and mean, so that their float32 results do not depend on the order the
two libraries add in.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_tests.ops_parity import axis_args, check_op, op_arrays

FLOATS = ("float32", "float64")
INTS = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")
EXAMPLES = 20

# The values each reduction is tested on (see the module docstring).
KINDS = {
    "sum": ("grid", "ties"),
    "mean": ("grid", "ties"),
    "max": ("ties", "normal"),
    "min": ("ties", "normal"),
    "prod": ("normal", "zeros", "ties"),
    "std": ("normal", "ties"),
    "var": ("normal", "ties"),
    "logsumexp": ("normal", "ties"),
}


def shapes(max_dims=3, max_side=4):
    return st.lists(st.integers(1, max_side), max_size=max_dims).map(tuple)


@st.composite
def reduction_cases(draw, op):
    """(x, axis, keepdims) for ``op``: a float32 or float64 x of a drawn shape, an axis in it."""
    shape = draw(shapes(max_side=3 if op == "prod" else 4))
    x = draw(op_arrays(shape, draw(st.sampled_from(FLOATS)), KINDS[op]))
    return x, draw(axis_args(len(shape))), draw(st.booleans())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # std of constant values: 0 / 0 on purpose
@pytest.mark.parametrize("op", sorted(KINDS))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_reductions_on_floats(data, op):
    x, axis, keepdims = data.draw(reduction_cases(op))
    check_op(op, (x,), {"axis": axis, "keepdims": keepdims})


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "prod", "std", "var"])
@pytest.mark.parametrize("axis", [None, 0, -1, (1, 0)])
def test_reductions_of_ints_and_bools(op, dtype, axis):
    """Keras's dtypes: sum and prod widen bool, int8 and int16 to int32 (uint8, uint16 to
    uint32); mean is float32, std and var floatx; max and min keep the dtype."""
    check_op(op, (np.arange(-2, 4).reshape(2, 3).astype(dtype) * 2,), {"axis": axis})


@pytest.mark.parametrize(
    "x, dtype",
    [
        (np.array([3, -2, 5], "int32"), "float32"),  # ignored: int32
        (np.array([100, 100, 3], "int8"), "int8"),  # stays int8, wrapping around
        (np.array([1.5, 2.5], "float32"), "int32"),  # ignored: float32
    ],
)
def test_prod_ignores_its_dtype_as_keras_does(x, dtype):
    check_op("prod", (x,), {"dtype": dtype})


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize(
    "x, initial",
    [
        (np.array([[1.0, 4.0], [2.0, 0.5]]), 2.0),  # the initial value ties with a maximum
        (np.array([[1.0, 4.0], [2.0, 0.5]], "float32"), 0),
        (np.array([[3, -2], [5, 1]], "int32"), 2),
        (np.array([True, False]), True),
        (np.array([False, False]), 0),
    ],
)
def test_max_and_min_with_an_initial_value(op, x, initial):
    check_op(op, (x,), {"axis": -1, "initial": initial})


@pytest.mark.parametrize(
    "x",
    [
        np.array([-np.inf, 0.0, 1.0], "float32"),
        np.array([[-np.inf, -np.inf], [np.inf, 1.0]]),  # y = -inf and inf: nan gradients
        np.array([1000.0, 1000.0, -1000.0], "float32"),  # exp would overflow without the shift
    ],
)
def test_logsumexp_at_infinities_and_large_values(x):
    check_op("logsumexp", (x,), {"axis": -1})


@st.composite
def index_cases(draw):
    """(x, axis, keepdims) for argmax and argmin: float with ties, or int, or bool."""
    shape = draw(shapes())
    dtype = draw(st.sampled_from(FLOATS + ("int32", "uint8", "bool")))
    x = draw(op_arrays(shape, dtype, ("ties", "normal", "zeros")))
    return x, draw(axis_args(len(shape), tuples=False)), draw(st.booleans())


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@settings(max_examples=EXAMPLES)
@given(case=index_cases())
def test_argmax_and_argmin(case, op):
    """int32, no gradient, the first index among ties; axis None looks at x flattened."""
    x, axis, keepdims = case
    check_op(op, (x,), {"axis": axis, "keepdims": keepdims})


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize(
    "x",
    [
        np.array([-0.0, 0.0], "float32"),  # Keras: -0.0 is below 0.0
        np.array([0.0, -0.0, 0.0]),
        np.array([np.nan, 1.0, 2.0], "float32"),  # NaN is never picked
        np.array([1.0, np.nan, 0.0], "float32"),
        np.array([np.nan, np.nan, -np.inf]),
    ],
)
def test_argmax_and_argmin_of_signed_zeros_and_nan(op, x):
    check_op(op, (x,))

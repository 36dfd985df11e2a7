"""Parity of scratchnet.ops' creation ops with keras.ops: the dtypes Keras picks, and values.

The dtypes are the point here: ``zeros``, ``ones``, ``full`` and ``eye`` default to floatx
whatever the fill value, ``arange`` promotes its arguments' types (Python ints are int32), and
the ``*_like`` ops keep ``x``'s dtype. The one gradient is the fill value's of ``full`` and
``full_like`` (a broadcast), compared when the fill value is a float array.
"""

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from parity_tests.ops_parity import check_op, op_arrays
from scratchnet import ops

EXAMPLES = 15
DTYPES = (None, "float32", "float64", "int8", "int32", "int64", "uint8", "bool")


def shapes():
    return st.lists(st.integers(1, 4), max_size=3).map(tuple)


@pytest.mark.parametrize("op", ["zeros", "ones"])
@settings(max_examples=EXAMPLES)
@given(shape=st.one_of(shapes(), st.integers(0, 4)), dtype=st.sampled_from(DTYPES))
def test_zeros_and_ones(op, shape, dtype):
    check_op(op, (shape,), {"dtype": dtype})


@settings(max_examples=EXAMPLES)
@given(
    shape=shapes(),
    fill=st.sampled_from([3, -1, 2.7, -0.5, True]),
    dtype=st.sampled_from(DTYPES),
)
def test_full_with_a_python_scalar(shape, fill, dtype):
    """floatx by default; a fill value cast to the dtype (2.7 -> 2, -1 as uint8 -> 255)."""
    check_op("full", (shape, fill), {"dtype": dtype})


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtypes=st.sampled_from([("float32", None), ("float32", "float64"),
                                               ("float64", "float64")]))  # fmt: skip
def test_full_with_an_array_gets_its_gradient(data, dtypes):
    """A fill value that broadcasts to the shape: its gradient sums dy over the copies. (Not
    a float64 fill in a float32 result: its gradient is a float32 sum, which ``check_op``
    would hold to float64's tolerance.)"""
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    fill_shape = shape[data.draw(st.integers(0, len(shape))) :]
    fill_shape = tuple(data.draw(st.sampled_from([1, n])) for n in fill_shape)
    fill = data.draw(op_arrays(fill_shape, dtypes[0]))
    check_op("full", (shape, fill), {"dtype": dtypes[1]})


@st.composite
def arange_args(draw):
    """(start, stop, step) as Python ints, Python floats or NumPy scalars, counting up or down
    (step's sign matches), and stop None (``arange(n)``) at times."""
    kind = draw(st.sampled_from(["int", "float", "np.int64", "np.float64", "np.int32"]))
    make = {"int": int, "float": float, "np.int64": np.int64, "np.float64": np.float64}.get(
        kind, np.int32
    )
    start = draw(st.integers(-10, 10))
    size = draw(st.integers(1, 12))
    step = draw(st.sampled_from([1, 2, 3, -1, -2] if "int" in kind else [0.5, 0.3, 1.7, -0.25]))
    stop = start + size * step - (0.1 * np.sign(step) if "float" in kind else 0)
    if draw(st.booleans()):
        return (make(abs(start) + 1),)
    if step == 1 and draw(st.booleans()):
        return (make(start), make(stop))
    return make(start), make(stop), make(step)


@settings(max_examples=30)
@given(args=arange_args(), dtype=st.sampled_from([None, None, "float32", "float64", "int64"]))
def test_arange(args, dtype):
    """TensorFlow's count and values: start + i * step in the dtype (not NumPy's rounding)."""
    if dtype in ("int64",) and any(isinstance(a, (float, np.floating)) for a in args):
        dtype = None  # TensorFlow refuses to cast 0.5 to an int
    check_op("arange", args, {"dtype": dtype})


@pytest.mark.parametrize(
    "args",
    [
        (5,),
        (0.5, 3),
        (2, 10, 2),
        (0, 1, 0.25),
        (5, 1, -1),
        (0.1, 1.0, 0.3),
        (1, 1.3, 0.1),  # np.arange(1, 1.3, 0.1) has 4 values: TensorFlow 3
        (-3.3, 2.9, 0.13),  # np.arange of the float32 arguments is 5e-6 off near 0
        (100.5, 0.0, -0.3),  # and 1e-3 off here
    ],
)
def test_arange_dtypes_and_counts(args):
    check_op("arange", args)


def keras_eye_is_wrong(n, m, k):
    """Whether ``keras.ops.eye(n, m, k)`` (TensorFlow backend, Keras 3.15) has a wrong shape.

    It pads a square identity of side min(m - k, n + k); the diagonal's length is min(n, m - k)
    above the main one and min(n + k, m) below, so the side is too long when k > 0 and
    n < m - k, or k < 0 and m < n + k (measured: ``eye(3, 1, -1)`` has shape (4, 2)).
    scratchnet gives NumPy's (n, m) matrix; those cases are not compared.
    """
    return (k > 0 and n < m - k) or (k < 0 and m < n + k)


def test_keras_eye_is_wrong_where_it_says():
    for n, m in np.ndindex(5, 5):
        for k in range(-n, m + 1):
            if n and m:
                right = np.array_equal(keras.ops.eye(n, m, k), np.eye(n, m, k))
                assert keras_eye_is_wrong(n, m, k) == (not right), (n, m, k)


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_eye(data, dtype):
    """Any diagonal within the matrix (Keras raises beyond it); M None or given."""
    n = data.draw(st.integers(1, 4))
    m = data.draw(st.one_of(st.none(), st.integers(1, 4)))
    k = data.draw(st.integers(-n, n if m is None else m))
    assume(not keras_eye_is_wrong(n, n if m is None else m, k))
    check_op("eye", (n, m, k), {"dtype": dtype})


def test_eye_refuses_float_sizes_as_keras_does():
    for lib in (ops, keras.ops):
        with pytest.raises(TypeError, match="must be an integer"):
            lib.eye(2.0)


LIKE_DTYPES = ("float32", "float64", "int8", "int32", "uint8", "bool")


@pytest.mark.parametrize("op", ["zeros_like", "ones_like"])
@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from([None, None, "float64", "int16", "bool"]))
def test_zeros_like_and_ones_like(op, data, dtype):
    """x's dtype by default; no gradient to x."""
    x = data.draw(op_arrays(data.draw(shapes()), data.draw(st.sampled_from(LIKE_DTYPES))))
    check_op(op, (x,), {"dtype": dtype})


@settings(max_examples=EXAMPLES)
@given(data=st.data(), fill=st.sampled_from([3, 2.5, -1, True, "array"]))
def test_full_like(data, fill):
    """x's dtype (an int x turns 2.5 into 2); a fill array gets the gradient, x none."""
    x = data.draw(op_arrays(data.draw(shapes()), data.draw(st.sampled_from(LIKE_DTYPES))))
    dtype = data.draw(st.sampled_from([None, "float32", "int32"]))
    if fill == "array":
        fill = data.draw(
            op_arrays(x.shape[x.ndim - data.draw(st.integers(0, x.ndim)) :], "float32")
        )
    check_op("full_like", (x, fill), {"dtype": dtype})


@pytest.mark.parametrize(
    "x", [np.zeros((2, 3)), np.float32(3.0), 3, 2.5, [1, 2], [[1.0], [2.0]], ops.zeros((8, 12))]
)
def test_shape_is_a_tuple_of_python_ints(x):
    got, want = ops.shape(x), keras.ops.shape(x if not isinstance(x, ops.Tensor) else x.value)
    assert got == want and type(got) is tuple and all(type(n) is int for n in got)


@pytest.mark.parametrize(
    "x", [[1, 2], [1.0, 2.0], 3, 3.0, np.array([True]), np.array([1, 2], "int8")]
)
@pytest.mark.parametrize("op", ["zeros_like", "ones_like"])
def test_like_ops_on_lists_and_python_scalars(op, x):
    check_op(op, (x,))

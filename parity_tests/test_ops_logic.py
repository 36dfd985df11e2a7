"""Parity of scratchnet.ops' comparisons and logical ops with keras.ops: bool results, no gradient.

Values are drawn from a few small integers so that equal elements (ties) are common; shapes are
drawn as broadcastable pairs. ``check_op`` also asks both libraries for a gradient through each
op and expects none from either.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_tests.ops_parity import check_op

COMPARISONS = ("equal", "not_equal", "greater", "greater_equal", "less", "less_equal")
LOGICAL = ("logical_and", "logical_or", "logical_xor")
DTYPES = ("float32", "float64", "int32", "int8", "uint8", "bool")


@st.composite
def broadcast_pairs(draw, max_rank=3):
    """Two shapes that broadcast: per axis equal or 1 on one side, and a rank that may differ."""
    a, b = [], []
    for _ in range(draw(st.integers(0, max_rank))):
        n = draw(st.integers(1, 3))
        n_a, n_b = draw(st.sampled_from([(n, n), (1, n), (n, 1)]))
        a.append(n_a)
        b.append(n_b)
    return a[draw(st.integers(0, len(a))) :], b


def small_values(shape, dtype, seed):
    """Values in {-1, 0, 1, 2} (bool: {False, True}), so comparisons see many ties."""
    values = np.random.default_rng(seed).integers(-1, 3, size=shape)
    return (values.clip(0, 2) if dtype == "uint8" else values).astype(dtype)


@settings(max_examples=25)
@given(
    st.sampled_from(COMPARISONS + LOGICAL),
    broadcast_pairs(),
    st.sampled_from(DTYPES),
    st.sampled_from(DTYPES),
    st.integers(0, 2**32 - 1),
)
def test_binary_logic(name, shapes, dtype1, dtype2, seed):
    if name in ("greater", "greater_equal", "less", "less_equal") and "bool" in (dtype1, dtype2):
        dtype1 = dtype2 = "int32"  # TensorFlow does not order bools
    x1 = small_values(shapes[0], dtype1, seed)
    x2 = small_values(shapes[1], dtype2, seed + 1)
    check_op(name, (x1, x2))


@pytest.mark.parametrize("name", COMPARISONS)
@pytest.mark.parametrize("scalar", [1, 1.5, -1.0])
def test_comparison_with_a_python_scalar(name, scalar):
    """A Python scalar is a tensor first (float32 or int32), then both meet in result_type."""
    check_op(name, (np.array([-1.0, 1.0, 1.5, 2.0]), scalar))
    check_op(name, (scalar, np.array([-1, 0, 1, 2], "int8")))
    check_op(name, (np.array([0.1, 1.5], "float16"), scalar))


def test_float16_meets_a_python_float_in_float32():
    # 0.1 is not a float16: compared in float32 (Keras), float16(0.1) != float32(0.1)
    check_op("equal", (np.array([0.1], "float16"), 0.1))


@settings(max_examples=15)
@given(st.lists(st.integers(1, 3), max_size=3), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_logical_not(shape, dtype, seed):
    check_op("logical_not", (small_values(shape, dtype, seed),))


def test_logical_ops_read_nan_as_true():
    x = np.array([np.nan, 0.0, -2.0])
    check_op("logical_not", (x,))
    check_op("logical_and", (x, np.array([1.0, 1.0, 1.0])))


def test_operators_call_the_comparison_ops():
    from scratchnet import ops

    x = ops.convert_to_tensor(np.array([1.0, 2.0, 3.0]))
    other = np.array([2.0, 2.0, 2.0])
    for got, want in [
        (x == other, [False, True, False]),
        (x != other, [True, False, True]),
        (x < other, [True, False, False]),
        (x <= other, [True, True, False]),
        (x > other, [False, False, True]),
        (x >= other, [False, True, True]),
        (other < x, [False, False, True]),  # ndarray < Tensor: the Tensor's op
    ]:
        assert isinstance(got, ops.Tensor) and got.dtype == "bool"
        np.testing.assert_array_equal(got.numpy(), want)


def test_a_comparison_passes_no_gradient():
    from scratchnet.ops import core

    x = core.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with core.record_gradients():
        mask = x > 1.5
    assert mask.parents == () and not mask.requires_grad  # nothing recorded: backprop stops

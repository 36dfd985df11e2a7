"""Parity of scratchnet.ops' shape and indexing ops with keras.ops: dtype, values and gradients.

Every case is valid by construction: a shape is drawn first, then the axes, indices, sections
and keys inside it. Indices repeat on purpose (their gradients must add up), count from the
end (negative) on purpose, and keys mix ints, slices with negative steps, ``...`` and ``None``.

Keras's TensorFlow backend refuses integer-array keys in ``x[key]``, so those are compared with
the TensorFlow op that computes the same selection (``tf.gather``, ``tf.gather_nd``).
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_tests.ops_parity import check_op
from parity_tests.strategies import arrays

FLOATS = ("float32", "float64")


@st.composite
def tensors(draw, min_dims=1, max_dims=4, max_side=4, shape=None, dtype=None):
    """A float array: ``shape`` (or a drawn one) and ``dtype`` (or float32 / float64)."""
    if shape is None:
        shape = tuple(
            draw(st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims))
        )
    dtype = dtype or draw(st.sampled_from(FLOATS))
    return draw(arrays(shape, dtype, kinds=("normal",)))


def axes_of(ndim):
    """An axis of an ndim tensor, as a non-negative or a negative int."""
    return st.integers(-ndim, ndim - 1)


# ------------------------------------------------------------------------------ rearrangements


@settings(max_examples=20)
@given(st.data())
def test_reshape(data):
    x = data.draw(tensors())
    newshape = data.draw(
        st.sampled_from([(-1,), x.shape[::-1], (x.shape[0], -1), (-1, x.shape[-1], 1), x.size])
    )
    check_op("reshape", (x, newshape))


@settings(max_examples=20)
@given(st.data())
def test_transpose(data):
    x = data.draw(tensors())
    perm = data.draw(st.permutations(range(x.ndim)))
    negative = data.draw(st.lists(st.booleans(), min_size=x.ndim, max_size=x.ndim))
    axes = data.draw(
        st.sampled_from([None, [a - x.ndim if n else a for a, n in zip(perm, negative)]])
    )
    check_op("transpose", (x, axes))


@settings(max_examples=20)
@given(st.data())
def test_expand_dims(data):
    x = data.draw(tensors(max_dims=3))
    out_ndim = x.ndim + data.draw(st.integers(1, 2))
    axis = data.draw(
        st.lists(
            axes_of(out_ndim),
            min_size=out_ndim - x.ndim,
            max_size=out_ndim - x.ndim,
            unique_by=lambda a: a % out_ndim,
        )
    )
    check_op("expand_dims", (x, axis[0] if len(axis) == 1 else tuple(axis)))


@settings(max_examples=20)
@given(st.data())
def test_squeeze(data):
    shape = data.draw(st.lists(st.sampled_from([1, 1, 2, 3]), min_size=1, max_size=4))
    x = data.draw(tensors(shape=tuple(shape)))
    ones = [a for a, n in enumerate(shape) if n == 1]
    axis = data.draw(
        st.one_of(
            st.none(), st.sampled_from(ones or [None]).map(lambda a: a if a is None else a - x.ndim)
        )
    )
    check_op("squeeze", (x, axis))


# -------------------------------------------------------------------------- joining, copying


@settings(max_examples=20)
@given(st.data())
def test_concatenate(data):
    base = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    axis = data.draw(axes_of(len(base)))
    lengths = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    xs = []
    for n in lengths:
        shape = list(base)
        shape[axis] = n
        xs.append(data.draw(tensors(shape=tuple(shape))))  # dtypes mixed: float64 wins
    check_op("concatenate", (xs, axis))


def test_concatenate_promotes_mixed_dtypes_as_keras():
    ints = np.arange(4, dtype="int32").reshape(2, 2)
    floats = np.ones((2, 1), "float32")
    check_op("concatenate", ([ints, floats], 1))  # int32 with float32: float32
    check_op("concatenate", ([np.ones(2, "int8"), np.ones(2, "uint8")],))  # int16
    check_op("stack", ([np.ones(2, "float16"), np.ones(2, "int32")],))  # float16
    check_op("stack", ([np.ones((), "float16"), 2.0],))  # a Python float is weak: float16


@settings(max_examples=20)
@given(st.data())
def test_stack(data):
    x = data.draw(tensors(max_dims=3))
    count = data.draw(st.integers(1, 3))
    xs = [x] + [data.draw(tensors(shape=x.shape)) for _ in range(count - 1)]
    check_op("stack", (xs, data.draw(st.integers(-x.ndim - 1, x.ndim))))


@settings(max_examples=20)
@given(st.data())
def test_split(data):
    x = data.draw(tensors(max_side=6))
    axis = data.draw(axes_of(x.ndim))
    size = x.shape[axis]
    sections = data.draw(
        st.one_of(
            st.sampled_from([n for n in range(1, size + 1) if size % n == 0]),
            st.lists(st.integers(0, size), min_size=1, max_size=3).map(sorted),
        )
    )
    check_op("split", (x, sections, axis))


@settings(max_examples=20)
@given(st.data())
def test_tile(data):
    x = data.draw(tensors(max_dims=3))
    repeats = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=x.ndim + 1))
    check_op("tile", (x, repeats[0] if len(repeats) == 1 else tuple(repeats)))


@settings(max_examples=20)
@given(st.data())
def test_repeat(data):
    x = data.draw(tensors(max_dims=3))
    axis = data.draw(st.one_of(st.none(), axes_of(x.ndim)))
    n = x.size if axis is None else x.shape[axis]
    repeats = data.draw(
        st.one_of(st.integers(1, 3), st.lists(st.integers(0, 3), min_size=n, max_size=n))
    )
    check_op("repeat", (x, repeats, axis))


# ------------------------------------------------------------------------------------ indexing


@settings(max_examples=25)
@given(st.data())
def test_take_with_repeated_and_negative_indices(data):
    x = data.draw(tensors(max_dims=3))
    axis = data.draw(st.one_of(st.none(), axes_of(x.ndim)))
    n = x.size if axis is None else x.shape[axis]
    index_shape = data.draw(st.lists(st.integers(1, 3), max_size=2))
    indices = np.asarray(
        data.draw(
            st.lists(
                st.integers(-n, n - 1),
                min_size=int(np.prod(index_shape)),
                max_size=int(np.prod(index_shape)),
            )
        )
    ).reshape(index_shape)
    check_op("take", (x, indices.astype(data.draw(st.sampled_from(["int32", "int64"]))), axis))


def test_take_sums_the_gradient_of_a_repeated_index():
    x = np.arange(10.0).reshape(5, 2)
    check_op("take", (x, np.array([1, -4, 1, 4]), 0))  # -4 is 1: row 1 three times


@settings(max_examples=20)
@given(st.data())
def test_take_along_axis(data):
    ndim = data.draw(st.integers(1, 3))
    axis = data.draw(axes_of(ndim))
    x_shape, i_shape = [], []
    for d in range(ndim):
        if d == axis % ndim:
            x_shape.append(data.draw(st.integers(1, 4)))
            i_shape.append(data.draw(st.integers(1, 4)))
        else:  # the other axes broadcast: equal, or 1 on one side
            n = data.draw(st.integers(2, 3))
            x_n, i_n = data.draw(st.sampled_from([(n, n), (1, n), (n, 1)]))
            x_shape.append(x_n)
            i_shape.append(i_n)
    x = data.draw(tensors(shape=tuple(x_shape)))
    n = x_shape[axis]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    indices = rng.integers(-n, n, size=i_shape)
    check_op("take_along_axis", (x, indices, axis))


def test_take_along_axis_without_an_axis_reads_x_flat():
    check_op("take_along_axis", (np.arange(12.0).reshape(3, 4), np.array([1, -1, 1])))


@settings(max_examples=20)
@given(st.data())
def test_slice(data):
    x = data.draw(tensors())
    start = [data.draw(st.integers(0, n - 1)) for n in x.shape]
    shape = [data.draw(st.sampled_from([-1, *range(1, n - s + 1)])) for s, n in zip(start, x.shape)]
    check_op("slice", (x, tuple(start), tuple(shape)))


@st.composite
def basic_keys(draw, shape):
    """A key of ints, slices (any step, negative too), ``...`` and ``None`` for ``shape``."""
    parts = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            step = draw(st.sampled_from([1, 2, -1, -2, None]))
            start = draw(st.one_of(st.none(), st.integers(-n, n - 1)))
            parts.append(slice(start, draw(st.one_of(st.none(), st.integers(-n, n))), step))
        else:
            parts.append(slice(None))
    if draw(st.booleans()):  # a new axis somewhere
        parts.insert(draw(st.integers(0, len(parts))), None)
    if draw(st.booleans()):  # trailing axes left to "..."
        cut = draw(st.integers(0, len(parts)))
        parts = parts[:cut] + [Ellipsis]
    return parts[0] if len(parts) == 1 and draw(st.booleans()) else tuple(parts)


@settings(max_examples=25)
@given(st.data())
def test_getitem_basic(data):
    x = data.draw(tensors())
    check_op("get_item", (x, data.draw(basic_keys(x.shape))))


@settings(max_examples=15)
@given(st.data())
def test_getitem_boolean_mask(data):
    x = data.draw(tensors(max_dims=3))
    rank = data.draw(st.integers(1, x.ndim))  # the mask covers the leading axes
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    check_op("get_item", (x, rng.random(x.shape[:rank]) < 0.5))


@settings(max_examples=20)
@given(st.data())
def test_getitem_integer_array_on_one_axis(data):
    """``x[:, idx]`` with repeats and negative indices is ``tf.gather(x, idx, axis=1)``."""
    x = data.draw(tensors(max_dims=3))
    axis = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    idx = np.asarray(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5)))
    key = (slice(None),) * axis + (idx,)
    gather = lambda x, key: tf.gather(x, np.where(idx < 0, idx + n, idx), axis=axis)
    check_op("get_item", (x, key), keras_fn=gather)
    check_op("get_item", (x, list(idx) if axis == 0 else key), keras_fn=gather)  # a list too


@settings(max_examples=15)
@given(st.data())
def test_getitem_integer_arrays_on_the_leading_axes(data):
    """``x[i, j]`` (arrays broadcast together, repeats allowed) is ``tf.gather_nd``."""
    x = data.draw(tensors(min_dims=2, max_dims=3))
    count = data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    key = tuple(rng.integers(0, n, size=count) for n in x.shape[:2])
    check_op("get_item", (x, key), keras_fn=lambda x, key: tf.gather_nd(x, np.stack(key, -1)))


def test_tensor_indexing_is_getitem():
    from scratchnet import ops
    from scratchnet.ops import core

    x = core.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with core.record_gradients():
        y = x[ops.convert_to_tensor(np.array([1, 1, 0])), -1]  # (1, 2), (1, 2), (0, 2)
    np.testing.assert_array_equal(y.numpy(), [5.0, 5.0, 2.0])
    (dx,) = core.gradients(y, np.array([1.0, 2.0, 4.0]), [x])
    np.testing.assert_array_equal(dx, [[0, 0, 4], [0, 0, 3]])


@pytest.mark.parametrize("dtype", ["int32", "int8", "bool", "float16"])
def test_shape_ops_keep_the_dtype(dtype):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    check_op("reshape", (x, (3, 2)))
    check_op("transpose", (x,))
    check_op("tile", (x, 2))
    check_op("take", (x, np.array([0, -1]), 1))
    check_op("get_item", (x, (slice(None), 1)))

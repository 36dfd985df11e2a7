"""The shape and indexing ops' backward rules against central finite differences (float64).

Each check differentiates the fake loss L = sum(op(x) * dy) for a random dy (never all ones: ones
hide a transposed or misplaced gradient) by hand, one element of x at a time, and compares with
what backprop through the op's recorded backward rule gives.
"""

import numpy as np
import pytest
from finite_differences import grad_check as _grad_check

from scratchnet import ops


def grad_check(fn, *arrays):
    """The shared check with tighter tolerances: these ops only move numbers around."""
    _grad_check(fn, *arrays, rtol=1e-7, atol=1e-9)


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda x: ops.reshape(x, (3, -1)), [(2, 3, 2)]),
        (lambda x: ops.transpose(x, (2, 0, 1)), [(2, 3, 4)]),
        (lambda x: ops.transpose(x), [(2, 3)]),
        (lambda x: ops.expand_dims(x, (0, -1)), [(2, 3)]),
        (lambda x: ops.squeeze(x, 1), [(2, 1, 3)]),
        (lambda a, b: ops.concatenate([a, b], axis=-1), [(2, 3), (2, 1)]),
        (lambda a, b: ops.concatenate([a, b], axis=None), [(2, 3), (4,)]),
        (lambda a, b: ops.stack([a, b, a], axis=1), [(2, 3), (2, 3)]),
        (lambda x: ops.split(x, [1, 3], axis=1)[1] * ops.split(x, 2, axis=0)[0][:, :2], [(2, 4)]),
        (lambda x: ops.tile(x, (2, 1, 3)), [(2, 2)]),
        (lambda x: ops.repeat(x, [2, 0, 3], axis=1), [(2, 3)]),
        (lambda x: ops.repeat(x, 2), [(2, 3)]),
        (lambda x: ops.take(x, np.array([[1, -3], [2, 1]]), axis=0), [(3, 2)]),
        (lambda x: ops.take(x, np.array([5, 5, 0])), [(2, 3)]),
        (lambda x: ops.take_along_axis(x, np.array([[0, 2, 2], [1, 1, -1]]), axis=1), [(2, 3)]),
        (lambda x: ops.take_along_axis(x, np.array([[0, 0], [1, 0], [2, 2]]), axis=1), [(1, 3)]),
        (lambda x: ops.slice(x, (1, 0), (2, -1)), [(3, 4)]),
        (lambda x: x[1:, ::-2, None], [(3, 4)]),
        (lambda x: x[..., np.array([0, 0, 2])], [(2, 3)]),  # a repeated index sums
        (lambda x: x[np.array([1, 1]), np.array([2, 2])], [(2, 3)]),
        (lambda x: x[x.numpy() > 0], [(3, 3)]),
    ],
    ids=[
        "reshape",
        "transpose",
        "transpose-default",
        "expand_dims",
        "squeeze",
        "concatenate",
        "concatenate-flat",
        "stack",
        "split",
        "tile",
        "repeat",
        "repeat-flat",
        "take-repeats",
        "take-flat",
        "take_along_axis",
        "take_along_axis-broadcast",
        "slice",
        "getitem-basic",
        "getitem-repeated-index",
        "getitem-index-arrays",
        "getitem-mask",
    ],  # fmt: skip
)
def test_backward_matches_finite_differences(fn, shapes):
    grad_check(fn, *(normal(*shape, seed=i) for i, shape in enumerate(shapes)))


def test_split_parts_cover_the_whole_gradient():
    """Every part of a split carries its own block of dL/dx; together they are all of it."""
    grad_check(lambda x: ops.concatenate(ops.split(x, [1, 2], axis=0)[::-1]), normal(4, 2))

"""Comparisons and logical ops: boolean results, and no gradient.

A comparison is a step function of its inputs: nudging x1 does not change ``x1 < x2`` except
where it jumps, so its derivative is 0 almost everywhere and undefined at the jump. Keras (like
every framework) passes no gradient through it: the result is a bool tensor, ``record`` records
nothing for a bool result, and backprop stops here. These ops therefore have no backward rule;
a mask made by one (``x > 0``) is used through an op that has one (``where``, ``multiply``).

Dtypes (Keras's TensorFlow backend): both inputs are made tensors first (a Python float is
float32, a Python int int32, not weak), then cast to their ``result_type`` and compared there,
so ``equal(float16 tensor, 0.1)`` compares in float32. The logical ops read any nonzero value
(and NaN) as True.

Example:
    >>> x = convert_to_tensor([1.0, 2.0, 3.0])
    >>> (x > 1.5).numpy(), logical_and(x > 1.5, x < 2.5).numpy()
    (array([False,  True,  True]), array([False,  True, False]))
"""

import numpy as np

from .core import Tensor, convert_to_tensor, register
from .dtypes import result_type

__all__ = [
    "equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_not",
    "logical_or", "logical_xor", "not_equal",
]  # fmt: skip


def _compare(compare, x1, x2):
    """``compare`` of x1 and x2 in their common dtype: a bool tensor, which carries no gradient."""
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    dtype = result_type(x1.dtype, x2.dtype)
    return Tensor(compare(x1.value.astype(dtype, copy=False), x2.value.astype(dtype, copy=False)))


def _bool(x):
    """``x`` read as truth values: nonzero (and NaN) is True."""
    return convert_to_tensor(x).value.astype(bool, copy=False)


@register
def equal(x1, x2):
    """x1 == x2, elementwise (broadcast). No gradient."""
    return _compare(np.equal, x1, x2)


@register
def not_equal(x1, x2):
    """x1 != x2, elementwise (broadcast). No gradient."""
    return _compare(np.not_equal, x1, x2)


@register
def greater(x1, x2):
    """x1 > x2, elementwise (broadcast). No gradient."""
    return _compare(np.greater, x1, x2)


@register
def greater_equal(x1, x2):
    """x1 >= x2, elementwise (broadcast). No gradient."""
    return _compare(np.greater_equal, x1, x2)


@register
def less(x1, x2):
    """x1 < x2, elementwise (broadcast). No gradient."""
    return _compare(np.less, x1, x2)


@register
def less_equal(x1, x2):
    """x1 <= x2, elementwise (broadcast). No gradient."""
    return _compare(np.less_equal, x1, x2)


def logical_and(x1, x2):
    """x1 and x2, elementwise, on truth values (nonzero is True). No gradient."""
    return Tensor(np.logical_and(_bool(x1), _bool(x2)))


def logical_or(x1, x2):
    """x1 or x2, elementwise, on truth values (nonzero is True). No gradient."""
    return Tensor(np.logical_or(_bool(x1), _bool(x2)))


def logical_xor(x1, x2):
    """x1 xor x2 (exactly one is true), elementwise, on truth values. No gradient."""
    return Tensor(np.logical_xor(_bool(x1), _bool(x2)))


def logical_not(x):
    """not x, elementwise, on truth values (nonzero is True). No gradient."""
    return Tensor(np.logical_not(_bool(x)))

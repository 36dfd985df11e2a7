"""Reductions: each op's forward rule over some axes, and its backward rule right under it.

``axis`` is Keras's: None (every axis), an int, or a tuple or list of ints, negative ones
counting from the end; ``keepdims=True`` leaves each reduced axis in the result with length 1.
A backward rule first puts the reduced axes back into dy with length 1 (``_unreduce``), so that
dy broadcasts against x: d sum(x) / dx = 1 for every element reads ``dx = dy * ones(x.shape)``.

Dtypes, as Keras's TensorFlow backend gives them (measured):

* ``sum`` and ``prod`` of bool, int8 or int16 are int32, of uint8 or uint16 uint32 (JAX's
  rule), other dtypes stay;
* ``mean`` of ints or bools is float32, whatever ``floatx()`` is (Keras computes it in
  float32); ``var`` of ints is computed in float32 too but returned as floatx; ``std`` of ints
  is floatx;
* ``max`` and ``min`` keep the dtype (of bools: any and all); ``argmax`` and ``argmin`` are
  int32, with no gradient (an index is not differentiable);
* ``logsumexp`` takes floats only (an int tensor raises, as in Keras).

Example:
    >>> x = convert_to_tensor([[1.0, 5.0], [5.0, 2.0]])
    >>> sum(x, axis=0).numpy(), max(x, axis=-1, keepdims=True).shape, argmax(x).numpy()
    (array([6., 7.], dtype=float32), (2, 1), array(1, dtype=int32))
"""

import numpy as np

from .. import config
from .arithmetic import maximum, minimum
from .core import Tensor, convert_to_tensor, differentiable, record
from .dtypes import result_type

__all__ = [
    "argmax", "argmin", "logsumexp", "max", "mean", "min", "prod", "std", "sum", "var",
]  # fmt: skip

# The dtype sum and prod accumulate small ints and bools in (JAX's rule, followed by Keras).
_WIDER = {"bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32", "uint16": "uint32"}


def _axes(axis, ndim):
    """Keras's ``axis`` as a sorted tuple of distinct non-negative axes (None: all of them)."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if any(not -ndim <= a < ndim for a in axes) or len({a % ndim for a in axes}) < len(axes):
        raise ValueError(f"axis={axis!r} is not a set of distinct axes of a {ndim}-D tensor.")
    return tuple(sorted(a % ndim for a in axes))


def _unreduce(dy, axes, keepdims):
    """dy (the reduced shape) with each reduced axis put back with length 1, to broadcast
    against the input: (N, D) summed over axis 1 gives (N,), and dy comes back as (N, 1)."""
    return dy if keepdims else np.expand_dims(dy, axes)


def _count(x, axes):
    """How many elements each reduced value reads (the N of a mean)."""
    return int(np.prod([x.shape[a] for a in axes]))


def sum(x, axis=None, keepdims=False):
    """The sum over ``axis``.  dx = dy, copied to every element that was summed."""
    x = convert_to_tensor(x)
    axes = _axes(axis, x.ndim)
    y = np.sum(x.value, axis=axes, keepdims=keepdims, dtype=_WIDER.get(x.dtype, x.dtype))

    def backward(dy):
        return (_unreduce(dy, axes, keepdims) * np.ones_like(x.value),)

    return record(y, (x,), backward)


def mean(x, axis=None, keepdims=False):
    """The mean over ``axis``: sum / N.  dx = dy / N, copied to every element of the mean.

    Computed in float32 at least (so a float16 mean does not overflow, as Keras does), then
    returned in x's float dtype; the mean of ints or bools is float32 (measured).
    """
    x = convert_to_tensor(x)
    axes = _axes(axis, x.ndim)
    compute = result_type(x.dtype, "float32")
    out = compute if not differentiable(x.dtype) else x.dtype
    n = _count(x, axes)
    y = np.mean(x.value.astype(compute), axis=axes, keepdims=keepdims).astype(out)

    def backward(dy):
        return (_unreduce(dy, axes, keepdims) / n * np.ones_like(x.value),)

    return record(y, (x,), backward)


def _extreme(reduce, x, axis, keepdims):
    """``max`` or ``min`` (``reduce`` is ``np.max`` or ``np.min``) over ``axis``.

    dx = dy / (number of elements equal to the result) at each of those, 0 elsewhere: tied
    maxima share the gradient equally, as TensorFlow does (measured: ``max([1, 3, 3])`` passes
    ``[0, 0.5, 0.5] * dy``).
    """
    x = convert_to_tensor(x)
    axes = _axes(axis, x.ndim)
    if x.value.size == 0:
        raise ValueError(f"Cannot compute the {reduce.__name__} of an empty tensor.")
    y = reduce(x.value, axis=axes, keepdims=keepdims)

    def backward(dy):
        chosen = (x.value == _unreduce(y, axes, keepdims)).astype(dy.dtype)  # 1 at each extreme
        share = chosen / np.sum(chosen, axis=axes, keepdims=True)  # 1 / number of ties
        return (share * _unreduce(dy, axes, keepdims),)

    return record(y, (x,), backward)


def max(x, axis=None, keepdims=False, initial=None):
    """The maximum over ``axis`` (of bools: ``any``), and at least ``initial`` if it is given.

    Backward: tied maxima share dy equally (``_extreme``); with ``initial``, this is followed by
    ``maximum(y, initial)``, whose backward passes dy on where y >= initial.
    """
    y = _extreme(np.max, x, axis, keepdims)
    if initial is None:
        return y
    if y.dtype == "bool":  # as Keras: compared as int32, then back to bool
        return Tensor(np.maximum(y.value, np.asarray(initial).astype(np.int32)).astype(bool))
    return maximum(y, initial)


def min(x, axis=None, keepdims=False, initial=None):
    """The minimum over ``axis`` (of bools: ``all``), and at most ``initial`` if it is given.

    Backward: tied minima share dy equally (``_extreme``); with ``initial``, this is followed by
    ``minimum(y, initial)``, whose backward passes dy on where y <= initial.
    """
    y = _extreme(np.min, x, axis, keepdims)
    if initial is None:
        return y
    if y.dtype == "bool":
        return Tensor(np.minimum(y.value, np.asarray(initial).astype(np.int32)).astype(bool))
    return minimum(y, initial)


def prod(x, axis=None, keepdims=False, dtype=None):
    """The product over ``axis``.

    ``dtype``: Keras's TensorFlow backend ignores it (measured: ``prod(int32, dtype="float32")``
    is int32, ``prod(int8, dtype="int8")`` int8, wrapping around), so it does the same: with a
    ``dtype`` the product stays in x's dtype; without one, small ints widen as in ``sum``.

    Math: dx_i = dy * (product of all the other elements). Not y / x_i, which fails at zeros:
    TensorFlow multiplies the product of the elements before i by the product of those after
    (exclusive cumulative products from both ends), and so does this.
    """
    x = convert_to_tensor(x)
    if dtype is None:
        x = convert_to_tensor(x, _WIDER.get(x.dtype, x.dtype))
    axes = _axes(axis, x.ndim)
    y = np.prod(x.value, axis=axes, keepdims=keepdims, dtype=x.dtype)  # NumPy would widen ints

    def backward(dy):
        k = len(axes)
        moved = np.moveaxis(x.value, axes, range(k))  # reduced axes first: (R..., rest...)
        rows = moved.reshape((-1,) + moved.shape[k:])  # (N, rest...): one row per element
        ones = np.ones_like(rows[:1])  # (1, rest...)
        before = np.cumprod(np.concatenate([ones, rows[:-1]]), axis=0)  # x_0 ... x_(i-1)
        after = np.cumprod(np.concatenate([ones, rows[:0:-1]]), axis=0)[::-1]  # x_(i+1) ... x_N-1
        others = np.moveaxis((before * after).reshape(moved.shape), range(k), axes)
        return (others * _unreduce(dy, axes, keepdims),)

    return record(y, (x,), backward)


def var(x, axis=None, keepdims=False):
    """The variance over ``axis``, mean((x - mean(x))^2) (ddof 0, as Keras).

    Computed in float32 at least; ints come back as floatx (measured).

    Math: dx = dy * 2 (x - mean) / N. (The path through mean(x) adds
    -mean(2 (x - mean) / N) * dy, which is 0: deviations sum to 0.)
    """
    x = convert_to_tensor(x)
    axes = _axes(axis, x.ndim)
    out = result_type(x.dtype, float)
    value = x.value.astype(result_type(x.dtype, "float32"))
    n = _count(x, axes)
    d = value - np.mean(value, axis=axes, keepdims=True)  # deviations, kept for backward
    y = np.mean(d * d, axis=axes, keepdims=keepdims).astype(out)

    def backward(dy):
        return (2 * d * _unreduce(dy, axes, keepdims) / n,)

    return record(y, (x,), backward)


def std(x, axis=None, keepdims=False):
    """The standard deviation over ``axis``, sqrt(var) (ddof 0, as Keras); ints become floatx.

    Math: dx = dy / (2 std) * dvar/dx = dy * (x - mean) / (N std). Where std = 0 (constant
    values, or an axis of length 1) this is 0 / 0 = nan, as in TensorFlow (measured).
    """
    x = convert_to_tensor(x)
    if not differentiable(x.dtype):
        x = convert_to_tensor(x, config.floatx())
    axes = _axes(axis, x.ndim)
    n = _count(x, axes)
    d = x.value - np.mean(x.value, axis=axes, keepdims=True)  # deviations, kept for backward
    y = np.sqrt(np.mean(d * d, axis=axes, keepdims=keepdims))

    def backward(dy):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (_unreduce(dy / y, axes, keepdims) * d / n,)

    return record(y, (x,), backward)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed without overflow.

    Math: with m = max(x) (0 where it is not finite), y = m + log(sum(exp(x - m))): every
    exp(x - m) <= 1. dx = dy * exp(x - m) / sum(exp(x - m)) = dy * softmax(x): each element's
    share of the sum. (All -inf gives y = -inf and a nan gradient, as TensorFlow.)
    """
    x = convert_to_tensor(x)
    if not differentiable(x.dtype):
        raise TypeError(f"logsumexp takes a float tensor, got {x.dtype}: cast it first.")
    axes = _axes(axis, x.ndim)
    m = np.max(x.value, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # shift by the max; -inf or inf would give nan
    e = np.exp(x.value - m)  # kept for backward
    s = np.sum(e, axis=axes, keepdims=True)
    with np.errstate(divide="ignore"):
        y = np.log(s) + m
    y = y if keepdims else np.squeeze(y, axes)

    def backward(dy):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (_unreduce(dy, axes, keepdims) / s * e,)

    return record(y, (x,), backward)


def _index_of(pick, x, axis, keepdims, nan):
    """``argmax`` or ``argmin`` (``pick`` is ``np.argmax`` or ``np.argmin``), as Keras computes
    them on TensorFlow: int32; ``axis=None`` looks at x flattened; on ties the first index.
    Floats as Keras sees them: -0.0 counts as below +0.0, and NaN is never picked (measured:
    argmax([nan, 1, 2]) is 2), so NaN becomes ``nan`` (-inf for argmax, inf for argmin).
    """
    x = convert_to_tensor(x)
    value = x.value
    if differentiable(x.dtype) and x.ndim > 0:
        value = value.astype(result_type(x.dtype, "float32"))
        tiny = np.finfo(value.dtype).tiny
        value = np.where((value == 0) & np.signbit(value), -tiny, value)
        value = np.where(np.isnan(value), nan, value)
    y = pick(value.reshape(-1) if axis is None else value, axis=axis).astype(np.int32)
    if keepdims:
        y = y.reshape((1,) * x.ndim) if axis is None else np.expand_dims(y, axis)
    return Tensor(y)  # an index: no gradient


def argmax(x, axis=None, keepdims=False):
    """The index of the maximum along ``axis`` (an int; None: of x flattened). int32, no gradient.
    Ties: the first. See ``_index_of`` for -0.0 and NaN."""
    return _index_of(np.argmax, x, axis, keepdims, nan=-np.inf)


def argmin(x, axis=None, keepdims=False):
    """The index of the minimum along ``axis`` (an int; None: of x flattened). int32, no gradient.
    Ties: the first. See ``_index_of`` for -0.0 and NaN."""
    return _index_of(np.argmin, x, axis, keepdims, nan=np.inf)

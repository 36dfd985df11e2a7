"""Making tensors: filled with a value, a range, an identity matrix, or shaped like another tensor.

A new tensor depends on nothing that could be learned, so creation ops record no backward rule,
with one exception: the value ``full`` and ``full_like`` fill with may be a tensor, and then
``y = broadcast(fill_value)`` passes dL/d(fill_value) = the sum of dy over the copies (as
TensorFlow does). The ``*_like`` ops read only ``x``'s shape and dtype: no gradient goes to ``x``.

Default dtypes, as Keras's TensorFlow backend gives them (measured):

* ``zeros``, ``ones``, ``full``, ``eye``: ``floatx()`` unless ``dtype`` is given, whatever the fill
  value: ``full((2,), 3)`` is float32 ``[3., 3.]``; a fill value is cast to the dtype the way
  ``astype`` casts (``full((2,), 2.7, "int32")`` is ``[2, 2]``, ``-1`` as uint8 is 255).
* ``arange``: the promoted type of its arguments, Python scalars being weak: ``arange(5)`` is
  int32, ``arange(0.5, 3)`` float32 (int64 and float64 under ``floatx() == "float64"``), and a
  NumPy ``int64`` scalar gives int64.
* ``zeros_like``, ``ones_like``, ``full_like``: ``x``'s dtype (a Python list of ints is int32).

Example:
    >>> zeros((2,)).dtype, arange(3).numpy(), full_like(arange(2), 7.9).numpy()
    ('float32', array([0, 1, 2], dtype=int32), array([7, 7], dtype=int32))
"""

import numpy as np

from .core import Tensor, convert_to_tensor, dtype_of, record
from .dtypes import FLOAT_TYPES, result_type, standardize_dtype

__all__ = [
    "arange", "eye", "full", "full_like", "ones", "ones_like", "shape", "zeros", "zeros_like",
]  # fmt: skip


def zeros(shape, dtype=None):
    """A tensor of ``shape`` (a tuple, or an int for 1-D) filled with 0, in ``dtype`` (floatx)."""
    return Tensor(np.zeros(shape, dtype=standardize_dtype(dtype)))


def ones(shape, dtype=None):
    """A tensor of ``shape`` filled with 1, in ``dtype`` (floatx by default)."""
    return Tensor(np.ones(shape, dtype=standardize_dtype(dtype)))


def full(shape, fill_value, dtype=None):
    """A tensor of ``shape`` filled with ``fill_value`` (a scalar, or an array that broadcasts to
    ``shape``), in ``dtype`` (floatx by default, not the fill value's dtype).

    Math: y = broadcast(fill_value) to shape.  d/d(fill_value) = dy summed over the copies
    (``record`` sums over the broadcast axes), when the fill value is a float tensor.
    """
    fill = fill_value if isinstance(fill_value, Tensor) else Tensor(np.asarray(fill_value))
    y = np.broadcast_to(fill.value.astype(standardize_dtype(dtype)), shape).copy()

    def backward(dy):
        return (dy,)

    return record(y, (fill,), backward)


def arange(start, stop=None, step=None, dtype=None):
    """``start, start + step, ...`` up to ``stop`` excluded; ``arange(n)`` is ``0 .. n-1``.

    Args:
        start: the first value (or, without ``stop``, the end, starting from 0).
        stop: the end, excluded.
        step: the spacing (1 by default; negative counts down).
        dtype: the result dtype; by default the promoted type of the arguments (see the module).

    As TensorFlow's ``tf.range``: the number of values is ceil((stop - start) / step) from the
    arguments cast to ``dtype`` (none if that is not positive, where TensorFlow raises), and
    value i is ``start + i * step`` computed in ``dtype`` (NumPy's ``np.arange`` can give one
    value more, e.g. ``arange(1, 1.3, 0.1)``, and other float32 roundings).
    """
    if dtype is None:
        given = [v for v in (start, stop, step) if v is not None]
        dtype = result_type(*(dtype_of(v) for v in given))
    dtype = standardize_dtype(dtype)
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    start, stop, step = (np.asarray(v).astype(dtype) for v in (start, stop, step))
    if np.dtype(dtype).kind == "f":
        count = np.ceil((np.float64(stop) - np.float64(start)) / np.float64(step))
    else:  # exact integer arithmetic: ceil(a / b) = -(-a // b)
        count = -(-(int(stop) - int(start)) // int(step))
    count = int(np.maximum(count, 0))
    return Tensor(start + np.arange(count).astype(dtype) * step)  # (count,)


def eye(N, M=None, k=0, dtype=None):
    """An ``(N, M)`` matrix (M = N by default) with ones on diagonal ``k`` (0: the main one,
    positive above it, negative below) and zeros elsewhere, in ``dtype`` (floatx).

    N and M must be integers, as in Keras. (A ``k`` beyond the matrix gives all zeros, as NumPy;
    Keras's TensorFlow backend raises there. Keras 3.15 also gets the shape wrong for a
    diagonal above the main one that reaches the last row with columns to spare, or one below
    that reaches the last column with rows to spare: ``eye(3, 1, -1)`` is (4, 2) there.)
    """
    for name, n in (("N", N), ("M", M)):
        if isinstance(n, float) or getattr(n, "dtype", None) in FLOAT_TYPES:
            raise TypeError(f"Argument `{name}` must be an integer or an integer tensor.")
    M = N if M is None else M
    return Tensor(np.eye(int(N), int(M), k=int(k), dtype=standardize_dtype(dtype)))


def zeros_like(x, dtype=None):
    """Zeros of ``x``'s shape, in ``dtype`` (``x``'s dtype by default). No gradient to ``x``."""
    x = convert_to_tensor(x)
    return Tensor(np.zeros(x.shape, dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    """Ones of ``x``'s shape, in ``dtype`` (``x``'s dtype by default). No gradient to ``x``."""
    x = convert_to_tensor(x)
    return Tensor(np.ones(x.shape, dtype=dtype or x.dtype))


def full_like(x, fill_value, dtype=None):
    """``fill_value`` in ``x``'s shape and in ``dtype`` (``x``'s dtype by default: an int ``x``
    turns 2.5 into 2). The gradient goes to a tensor ``fill_value``, none to ``x`` (see ``full``).
    """
    x = convert_to_tensor(x)
    return full(x.shape, fill_value, dtype=dtype or x.dtype)


def shape(x):
    """The shape of ``x`` as a tuple of Python ints, as ``keras.ops.shape`` gives it for a tensor
    of known shape: ``shape(zeros((8, 12)))`` is ``(8, 12)``; a scalar's is ``()``."""
    value = x.value if isinstance(x, Tensor) else np.asarray(x)
    return tuple(int(n) for n in value.shape)

"""Elementwise arithmetic: each op's forward rule, and its backward rule right under it.

Shapes broadcast as in NumPy; ``record`` sums each gradient back over the broadcast axes. Dtypes
follow Keras (``scratchnet.ops.dtypes``): a Python scalar does not widen a tensor's dtype, and
ops that can only give floats (``divide``, ``sqrt``, ``exp``, ``log``, ``log1p``) turn ints into
floatx. Where a derivative jumps (abs and sign at 0, ties of maximum and minimum, clip at its
bounds), the backward rule makes TensorFlow's choice, measured with ``tf.GradientTape``.

Example:
    >>> x = convert_to_tensor([1.0, 4.0])
    >>> sqrt(x).numpy(), (x * 2 + 1).dtype
    (array([1., 2.], dtype=float32), 'float32')
"""

import numpy as np

from .core import Tensor, convert_to_tensor, differentiable, promote, record, register

__all__ = [
    "abs", "absolute", "add", "clip", "divide", "exp", "log", "log1p", "maximum", "minimum",
    "multiply", "negative", "power", "reciprocal", "sign", "sqrt", "square", "subtract",
    "true_divide", "where",
]  # fmt: skip


def _float(x):
    """``x`` as a float tensor, as Keras's float-only ops take it (ints become floatx)."""
    (x,) = promote(x, also=(float,))
    return x


@register
def add(x1, x2):
    """x1 + x2.  d/dx1 = dy, d/dx2 = dy.

    Broadcasts as NumPy. (``keras.ops.add`` on TensorFlow, Keras 3.15, adds an x2 with a single
    axis longer than 1 as a bias along x1's axis 1 or last axis, wherever broadcasting would
    put it: ``add(zeros((3, 3)), arange(3).reshape(3, 1))`` gives rows [0, 1, 2], not columns.
    scratchnet does not copy that.)
    """
    x1, x2 = promote(x1, x2)

    def backward(dy):
        return dy, dy

    return record(x1.value + x2.value, (x1, x2), backward)


@register
def subtract(x1, x2):
    """x1 - x2.  d/dx1 = dy, d/dx2 = -dy."""
    x1, x2 = promote(x1, x2)

    def backward(dy):
        return dy, -dy

    return record(x1.value - x2.value, (x1, x2), backward)


@register
def multiply(x1, x2):
    """x1 * x2.  d/dx1 = dy * x2, d/dx2 = dy * x1."""
    x1, x2 = promote(x1, x2)

    def backward(dy):
        return dy * x2.value, dy * x1.value

    return record(x1.value * x2.value, (x1, x2), backward)


@register
def divide(x1, x2):
    """x1 / x2, always a float.  d/dx1 = dy / x2, d/dx2 = -dy * x1 / x2^2."""
    x1, x2 = promote(x1, x2, also=(float,))
    y = x1.value / x2.value

    def backward(dy):
        return dy / x2.value, -dy * y / x2.value

    return record(y, (x1, x2), backward)


true_divide = divide


@register
def negative(x):
    """-x.  dx = -dy."""
    x = convert_to_tensor(x)

    def backward(dy):
        return (-dy,)

    return record(-x.value, (x,), backward)


@register
def power(x1, x2):
    """x1 ** x2 (ints to negative int powers raise, as in Keras).

    d/dx1 = dy * x2 * x1^(x2 - 1), d/dx2 = dy * y * log(x1), taken as 0 where x1 <= 0 (as
    TensorFlow: a negative base has no real log).
    """
    x1, x2 = promote(x1, x2)
    y = np.power(x1.value, x2.value)

    def backward(dy):
        with np.errstate(divide="ignore", invalid="ignore"):  # 0^-1 (inf, as TensorFlow)
            d1 = dy * x2.value * np.power(x1.value, x2.value - 1)
            d2 = dy * y * np.where(x1.value > 0, np.log(np.where(x1.value > 0, x1.value, 1)), 0)
        return d1, d2

    return record(y, (x1, x2), backward)


def square(x):
    """x^2, in x's dtype (a bool x becomes int32, as in Keras).  dx = 2 x dy."""
    x = convert_to_tensor(x)
    if x.dtype == "bool":
        x = convert_to_tensor(x, "int32")

    def backward(dy):
        return (2 * x.value * dy,)

    return record(np.square(x.value), (x,), backward)


def sqrt(x):
    """sqrt(x), a float.  dx = dy / (2 sqrt(x)) (inf at x = 0, as TensorFlow)."""
    x = _float(x)
    y = np.sqrt(x.value)

    def backward(dy):
        with np.errstate(divide="ignore"):
            return (dy / (2 * y),)

    return record(y, (x,), backward)


def exp(x):
    """e^x, a float.  dx = dy * e^x."""
    x = _float(x)
    y = np.exp(x.value)

    def backward(dy):
        return (dy * y,)

    return record(y, (x,), backward)


def log(x):
    """ln(x), a float.  dx = dy / x."""
    x = _float(x)

    def backward(dy):
        return (dy / x.value,)

    return record(np.log(x.value), (x,), backward)


def log1p(x):
    """ln(1 + x), a float, accurate for small x.  dx = dy / (1 + x)."""
    x = _float(x)

    def backward(dy):
        return (dy / (1 + x.value),)

    return record(np.log1p(x.value), (x,), backward)


def reciprocal(x):
    """1 / x, in x's float dtype.  dx = -dy / x^2 = -dy * y^2.

    Only floats: Keras's TensorFlow backend has no integer kernel for it (measured: an int
    tensor raises), so an int x raises here too; cast it first (``ops.cast(x, "float32")``).
    """
    x = convert_to_tensor(x)
    if not differentiable(x.dtype):
        raise TypeError(f"reciprocal takes a float tensor, got {x.dtype}: cast it first.")
    y = np.reciprocal(x.value)

    def backward(dy):
        return (-dy * y * y,)

    return record(y, (x,), backward)


@register
def abs(x):
    """|x|, in x's dtype (bool and unsigned x come back unchanged).  dx = dy * sign(x): 0 at
    x = 0, as TensorFlow (measured)."""
    x = convert_to_tensor(x)

    def backward(dy):
        return (dy * np.sign(x.value),)

    return record(np.abs(x.value), (x,), backward)


absolute = abs


def sign(x):
    """-1, 0 or 1 as x is negative, zero or positive, in x's dtype (a bool x raises, as Keras).

    dx = 0 everywhere: TensorFlow's gradient of sign is zeros, also at the jump at 0, so sign
    passes a gradient of zeros rather than none.
    """
    x = convert_to_tensor(x)

    def backward(dy):
        return (np.zeros_like(dy),)

    return record(np.sign(x.value), (x,), backward)


def maximum(x1, x2):
    """max(x1, x2).  The gradient goes to the larger; on a tie, to x1 (TensorFlow's rule)."""
    x1, x2 = promote(x1, x2)
    first = x1.value >= x2.value

    def backward(dy):
        return dy * first, dy * ~first

    return record(np.maximum(x1.value, x2.value), (x1, x2), backward)


def minimum(x1, x2):
    """min(x1, x2).  The gradient goes to the smaller; on a tie, to x1 (TensorFlow's rule)."""
    x1, x2 = promote(x1, x2)
    first = x1.value <= x2.value

    def backward(dy):
        return dy * first, dy * ~first

    return record(np.minimum(x1.value, x2.value), (x1, x2), backward)


def clip(x, x_min, x_max):
    """x limited to [x_min, x_max], in x's dtype (a bool x becomes int32; the bounds are cast to
    x's dtype, and must both be given, as in Keras).

    Math, in TensorFlow's order: t = min(x, x_max), y = max(t, x_min) (so where x_min > x_max,
    y = x_min, unlike np.clip). The chain rule through those two, with their tie rules:

        dx     = dy  where x <= x_max and t >= x_min   (at a bound, x keeps the gradient)
        dx_max = dy  where x >  x_max and t >= x_min
        dx_min = dy  where t <  x_min

    Bounds that are tensors (arrays broadcasting to x's shape) get their gradient summed back.
    """
    if x_min is None or x_max is None:
        raise ValueError("clip needs both x_min and x_max (Keras's clip takes no None).")
    x = convert_to_tensor(x)
    if x.dtype == "bool":
        x = convert_to_tensor(x, "int32")
    low, high = convert_to_tensor(x_min, x.dtype), convert_to_tensor(x_max, x.dtype)
    t = np.minimum(x.value, high.value)
    y = np.maximum(t, low.value)
    below_max = x.value <= high.value  # minimum(x, x_max) passes dy to x here, else to x_max
    above_min = t >= low.value  # maximum(t, x_min) passes dy to t here, else to x_min

    def backward(dy):  # dx, dx_min, dx_max
        return dy * (below_max & above_min), dy * ~above_min, dy * (~below_max & above_min)

    return record(y, (x, low, high), backward)


def where(condition, x1=None, x2=None):
    """x1 where condition is true, else x2 (all three broadcast together); with only the
    condition, the indices where it is true (``nonzero``: one int32 tensor per axis).

    The condition is cast to bool (any nonzero number is true). x1 and x2 are promoted together
    as in ``add`` (``where(c, 1, 2)`` is int32, ``where(c, int8, 2.5)`` float32).

    Math: y = x1 if c else x2.  dx1 = dy where c (0 elsewhere), dx2 = dy where not c; the
    condition gets none.
    """
    condition = np.asarray(convert_to_tensor(condition).value, dtype=bool)
    if x1 is None and x2 is None:
        return [Tensor(index.astype(np.int32)) for index in np.nonzero(condition)]
    if x1 is None or x2 is None:
        raise ValueError(
            "`x1` and `x2` either both should be `None` or both should have non-None value."
        )
    x1, x2 = promote(x1, x2)

    def backward(dy):
        return np.where(condition, dy, 0), np.where(condition, 0, dy)

    return record(np.where(condition, x1.value, x2.value), (x1, x2), backward)

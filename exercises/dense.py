"""Exercise: a Dense layer, y = x @ kernel + bias (no activation).

Shapes: x (N, D_in), kernel (D_in, units), bias (units,), y (N, units).
Check: ``python -m exercises.check dense``.
"""


def forward(x, kernel, bias):
    """Return ``(y, cache)``: y = x @ kernel + bias, and whatever backward will need."""
    raise NotImplementedError("exercises/dense.py: write forward(x, kernel, bias)")


def backward(dy, cache):
    """Return ``(dx, dkernel, dbias)`` for dy = dL/dy (N, units), shaped like x, kernel, bias."""
    raise NotImplementedError("exercises/dense.py: write backward(dy, cache)")

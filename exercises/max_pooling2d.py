"""Exercise: MaxPooling2D ('valid' padding), and where its gradient goes when there are ties.

Shapes: x (N, H, W, C), y (N, H_out, W_out, C) with H_out = (H - pool_size) // strides + 1.

    y[n, i, j, c] = max over the window x[n, i*s : i*s + p, j*s : j*s + p, c]

The gradient of a window goes to its maximum. When several entries tie for the maximum, Keras
gives the whole gradient to one of them; the check tells you which one it expects.
Check: ``python -m exercises.check max_pooling2d``.
"""


def forward(x, pool_size=2, strides=2):
    """Return ``(y, cache)``."""
    raise NotImplementedError("exercises/max_pooling2d.py: write forward(x, pool_size, strides)")


def backward(dy, cache):
    """Return dx (shaped like x) for dy = dL/dy (N, H_out, W_out, C)."""
    raise NotImplementedError("exercises/max_pooling2d.py: write backward(dy, cache)")

"""Exercise: a Conv2D layer, channels last, as Keras computes it (cross-correlation, no flip).

Shapes: x (N, H, W, C_in), kernel (KH, KW, C_in, C_out), bias (C_out,),
y (N, H_out, W_out, C_out).

    y[n, i, j, o] = bias[o] + sum_{a, b, c} x_pad[n, i*s + a, j*s + b, c] * kernel[a, b, c, o]

``padding='valid'``: no padding, H_out = (H - KH) // s + 1. ``padding='same'``: H_out =
ceil(H / s), and the padding TensorFlow adds, max((H_out - 1) * s + KH - H, 0), is split with
the smaller half on top (and on the left).
Check: ``python -m exercises.check conv2d``.
"""


def forward(x, kernel, bias, strides=1, padding="valid"):
    """Return ``(y, cache)`` for a square stride ``strides`` and ``padding`` 'valid' or 'same'."""
    raise NotImplementedError("exercises/conv2d.py: write forward(x, kernel, bias, ...)")


def backward(dy, cache):
    """Return ``(dx, dkernel, dbias)`` for dy = dL/dy (N, H_out, W_out, C_out)."""
    raise NotImplementedError("exercises/conv2d.py: write backward(dy, cache)")

"""2-D average pooling as TensorFlow computes it (NHWC), forward and backward, in NumPy.

    y[n, i, j, c] = sum of x[n, h, w, c] over the real pixels of window (i, j) / count[i, j]
    h = i*sh - pt + a,  w = j*sw - pl + b,  0 <= a < PH, 0 <= b < PW   (pt, pl: top/left padding)

``count[i, j]`` is the number of window cells that fall inside the image: PH*PW everywhere for
'valid', fewer at the border for 'same'. TensorFlow never averages padding in (measured with
``tf.nn.avg_pool``: a 2x2 'same' window on the last row of a 3x3 image divides by 2, not 4). The
count splits by axis, ``count[i, j] = rows[i] * cols[j]``, since a window is a rectangle.

The backward pass is the forward read backwards: every output spreads its gradient evenly over
the pixels it averaged, ``dy[n, i, j, c] / count[i, j]`` to each, and windows that overlap
(stride < pool) add up.

Algorithm: shifted sums. Instead of looping over the output pixels, loop over the PH*PW offsets
(a, b) of the window: for a fixed offset, the pixels that all outputs read form one strided
slice of the (zero-padded) input, ``xpad[:, a::sh, b::sw]``, and adding it to ``y`` is a single
NumPy operation over the whole batch. Padding cells are zeros, so they add nothing; the count
leaves them out of the mean. No numba kernel: each of the PH*PW passes is already one vectorised
add over the output, memory-bound like the numba max pool, so a kernel would buy little.

The layers call these directly (the same code in both kernel families); the explicit-loop twin
they are checked against is in ``tests/test_pooling_layers.py``.
"""

import numpy as np

from .conv.reference import output_size_and_padding


def avg_pool2d_geometry(x_shape, pool_size, strides, padding):
    """``(H_out, W_out, pt, pb, pl, pr)`` of an average pool; raises if no window fits."""
    _, H, W, _ = x_shape
    (PH, PW), (sh, sw) = pool_size, strides
    H_out, pt, pb = output_size_and_padding(H, PH, sh, 1, padding)
    W_out, pl, pr = output_size_and_padding(W, PW, sw, 1, padding)
    if H_out < 1 or W_out < 1:
        raise ValueError(
            f"avg_pool2d: a {PH}x{PW} window does not fit in a {H}x{W} input with "
            f"padding='{padding}'. Use a smaller pool_size or padding='same'."
        )
    return H_out, W_out, pt, pb, pl, pr


def window_counts(size, k, s, pad_before, out):
    """How many cells of each window lie inside the input, along one axis.

    Shapes:
        -> counts (out,) int

    Math:
        window i covers [i*s - pad_before, i*s - pad_before + k), clipped to [0, size)

    Example:
        >>> window_counts(3, 2, 1, 0, 3)  # 'same', 2-wide windows on 3 cells: the last has 1
        array([2, 2, 1])
    """
    start = np.arange(out) * s - pad_before  # (out,)
    return np.minimum(start + k, size) - np.maximum(start, 0)  # (out,)


def _counts(x_shape, pool_size, strides, geometry, dtype):
    """count[i, j] = rows[i] * cols[j], shaped (H_out, W_out, 1) to broadcast over channels."""
    _, H, W, _ = x_shape
    H_out, W_out, pt, _, pl, _ = geometry
    rows = window_counts(H, pool_size[0], strides[0], pt, H_out)  # (H_out,)
    cols = window_counts(W, pool_size[1], strides[1], pl, W_out)  # (W_out,)
    return np.outer(rows, cols).astype(dtype)[:, :, None]  # (H_out, W_out, 1)


def avg_pool2d_forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid"):
    """Average pooling: the mean of each window's real pixels.

    Args:
        x: input images, channels last.
        pool_size: ``(PH, PW)``.
        strides: ``(sh, sw)``.
        padding: 'valid' (drop the rows/cols that do not fill a window) or 'same' (output size
            ceil(H / s); padding cells are left out of the mean).

    Shapes:
        x (N, H, W, C) -> y (N, H_out, W_out, C)

    Math:
        y[n, i, j, c] = (sum over the offsets (a, b) of xpad[n, i*sh + a, j*sw + b, c])
                        / count[i, j]       (xpad: x with zero padding, count: real cells)

    Example:
        >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
        >>> avg_pool2d_forward(x, (2, 2), (1, 1), "same")[0, :, :, 0]
        array([[2. , 3. , 3.5],
               [5. , 6. , 6.5],
               [6.5, 7.5, 8. ]])
    """
    N, H, W, C = x.shape
    (PH, PW), (sh, sw) = pool_size, strides
    geometry = avg_pool2d_geometry(x.shape, pool_size, strides, padding)
    H_out, W_out, pt, pb, pl, pr = geometry
    xpad = x  # (N, H, W, C), or with 'same' zero padding (N, Hp, Wp, C), Hp = pt + H + pb
    if pt + pb + pl + pr:
        xpad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    rows, cols = (H_out - 1) * sh + 1, (W_out - 1) * sw + 1  # extent of the strided slices
    y = np.zeros((N, H_out, W_out, C), dtype=x.dtype)  # (N, H_out, W_out, C)
    for a in range(PH):
        for b in range(PW):
            y += xpad[:, a : a + rows : sh, b : b + cols : sw]  # offset (a, b) of every window
    y /= _counts(x.shape, pool_size, strides, geometry, x.dtype)  # the sum becomes the mean
    return y


def avg_pool2d_backward(dy, x_shape, pool_size=(2, 2), strides=(2, 2), padding="valid"):
    """dL/dx from dL/dy: each output's gradient spread evenly over the pixels it averaged.

    Args:
        dy: dL/dy (not modified).
        x_shape: the forward input's shape (average pooling is linear: x itself is not needed).
        pool_size, strides, padding: as in the forward pass.

    Shapes:
        dy (N, H_out, W_out, C) -> dx (N, H, W, C)

    Math:
        g[n, i, j, c] = dy[n, i, j, c] / count[i, j]
        dx[n, h, w, c] = sum of g[n, i, j, c] over the windows (i, j) that contain (h, w)
    """
    N, H, W, C = x_shape
    (PH, PW), (sh, sw) = pool_size, strides
    geometry = avg_pool2d_geometry(x_shape, pool_size, strides, padding)
    H_out, W_out, pt, pb, pl, pr = geometry
    g = dy / _counts(x_shape, pool_size, strides, geometry, dy.dtype)  # (N, H_out, W_out, C)
    dxpad = np.zeros((N, H + pt + pb, W + pl + pr, C), dtype=dy.dtype)  # (N, Hp, Wp, C)
    rows, cols = (H_out - 1) * sh + 1, (W_out - 1) * sw + 1
    for a in range(PH):
        for b in range(PW):
            dxpad[:, a : a + rows : sh, b : b + cols : sw] += g  # the forward's slices, reversed
    if pt + pb + pl + pr == 0:
        return dxpad  # (N, H, W, C)
    return np.ascontiguousarray(dxpad[:, pt : pt + H, pl : pl + W])  # (N, H, W, C), padding cut

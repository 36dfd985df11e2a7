"""2-D max pooling as Keras/TensorFlow compute it (NHWC), forward and backward.

    y[n, i, j, c] = max of x[n, h, w, c] over the window  h = i*sh - pt + a,  w = j*sw - pl + b,
                    0 <= a < PH, 0 <= b < PW   (pt, pl: the top and left padding)

Only real input pixels take part: 'same' padding cells never win (TensorFlow scans in-bounds
positions only). The backward pass sends each window's whole gradient to ONE input pixel: the
first maximum met while scanning the window row by row, left to right (strict ``>``), so ties go to
the top-most, then left-most maximum. Windows that overlap (stride < pool) add their gradients.

Both directions go through ``argmax``: for every output value, the position of the input value
that won, as a flat index into one image, ``(h*W + w)*C + c`` (what ``np.ravel_multi_index``
gives for (h, w, c)). Forward stores it; backward is ``dx[n].ravel()[argmax[n]] += dy[n]``.

Reading order: the NumPy reference twin (sliding-window views and ``np.argmax``), the numba
kernels (explicit scanning loops), then the numba family's entry points
(``scratchnet.kernels.backend`` picks the twin or them).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import config
from . import parallel
from .conv.reference import output_size_and_padding
from .jit import njit


def pool2d_geometry(x_shape, pool_size, strides, padding):
    """``(H_out, W_out, pad_top, pad_bottom, pad_left, pad_right)``; raises if nothing fits."""
    _, H, W, _ = x_shape
    (PH, PW), (sh, sw) = pool_size, strides
    H_out, pt, pb = output_size_and_padding(H, PH, sh, 1, padding)
    W_out, pl, pr = output_size_and_padding(W, PW, sw, 1, padding)
    if H_out < 1 or W_out < 1:
        raise ValueError(
            f"max_pool2d: a {PH}x{PW} window does not fit in a {H}x{W} input with "
            f"padding='{padding}'. Use a smaller pool_size or padding='same'."
        )
    return H_out, W_out, pt, pb, pl, pr


# ----------------------------------------------------------------------------- NumPy twin


def max_pool2d_forward_reference(x, pool_size, strides, padding):
    """Max pooling with sliding-window views: ``(y, argmax)``.

    Shapes:
        x (N, H, W, C) -> y (N, H_out, W_out, C), argmax (N, H_out, W_out, C) int32

    Math:
        Pad with -inf (so padding never wins), view every window as (PH*PW,) values in row-major
        order, and take np.argmax: it returns the FIRST maximum, which is TensorFlow's tie rule.
        argmax = (h*W + w)*C + c of the winning input value.
        (An input of exactly -inf next to the border could tie with padding here; the numba
        kernel never looks at padding at all.)
    """
    N, H, W, C = x.shape
    (PH, PW), (sh, sw) = pool_size, strides
    H_out, W_out, pt, pb, pl, pr = pool2d_geometry(x.shape, pool_size, strides, padding)
    xpad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    windows = sliding_window_view(xpad, (PH, PW), axis=(1, 2))  # (N, Hp-PH+1, Wp-PW+1, C, PH, PW)
    windows = windows[:, : (H_out - 1) * sh + 1 : sh, : (W_out - 1) * sw + 1 : sw]
    windows = windows.reshape(N, H_out, W_out, C, PH * PW)  # (N, H_out, W_out, C, PH*PW)
    k = windows.argmax(axis=-1)  # (N, H_out, W_out, C): first maximum in row-major order
    y = np.take_along_axis(windows, k[..., None], axis=-1)[..., 0]  # (N, H_out, W_out, C)
    i = np.arange(H_out)[:, None, None]  # (H_out, 1, 1)
    j = np.arange(W_out)[None, :, None]  # (1, W_out, 1)
    h = i * sh - pt + k // PW  # (N, H_out, W_out, C)
    w = j * sw - pl + k % PW  # (N, H_out, W_out, C)
    c = np.arange(C)  # (C,)
    return y, ((h * W + w) * C + c).astype(np.int32)


def max_pool2d_backward_reference(dy, argmax, x_shape):
    """dx with ``np.add.at``: every dy value lands on its window's winner; repeats add up.

    Shapes:
        dy (N, H_out, W_out, C), argmax (N, H_out, W_out, C) -> dx (N, H, W, C)
    """
    N = x_shape[0]
    dx = np.zeros((N, np.prod(x_shape[1:])), dtype=dy.dtype)  # (N, H*W*C)
    n = np.arange(N)[:, None, None, None]  # (N, 1, 1, 1)
    np.add.at(dx, (n, argmax), dy)
    return dx.reshape(x_shape)


# ----------------------------------------------------------------------------- numba kernels


@njit
def max_pool2d_forward_kernel(x, PH, PW, sh, sw, pt, pl, y, argmax):
    """Scan each window row by row; a later value wins only if strictly greater.

    Shapes:
        x (N, H, W, C) -> y, argmax (N, H_out, W_out, C), filled in place

    Each window is first clipped to the image (rows h0..h1-1, columns w0..w1-1), so the scan
    needs no bounds tests. Its first pixel starts the running maximum of all C channels; every
    other pixel updates it channel by channel (channels are contiguous in memory). Serial: the
    caller hands chunks of images to the cores (``_over_batch_chunks``). Plain indices, no
    views of a pixel's channels: views measured slower (docs/kernels/pooling.md#measured).
    """
    N, H, W, C = x.shape
    _, H_out, W_out, _ = y.shape
    for n in range(N):
        for i in range(H_out):
            h0, h1 = max(i * sh - pt, 0), min(i * sh - pt + PH, H)
            for j in range(W_out):
                w0, w1 = max(j * sw - pl, 0), min(j * sw - pl + PW, W)
                for c in range(C):
                    y[n, i, j, c] = x[n, h0, w0, c]
                    argmax[n, i, j, c] = (h0 * W + w0) * C + c
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        if h == h0 and w == w0:
                            continue
                        offset = (h * W + w) * C  # flat index of (h, w, 0)
                        for c in range(C):
                            if x[n, h, w, c] > y[n, i, j, c]:
                                y[n, i, j, c] = x[n, h, w, c]
                                argmax[n, i, j, c] = offset + c


@njit
def max_pool2d_backward_kernel(dy, argmax, dx):
    """dx[n, argmax[n, o]] += dy[n, o] for every output o; dx is zeroed first.

    Shapes (each image flattened):
        dy, argmax (N, H_out*W_out*C) -> dx (N, H*W*C), overwritten

    Each image adds only into its own row of dx, so chunks of images can run on different cores.
    """
    N, size_out = dy.shape
    for n in range(N):
        dx[n, :] = 0
        for o in range(size_out):
            dx[n, argmax[n, o]] += dy[n, o]


PARALLEL_MIN_VALUES = 1_000_000  # smaller inputs are pooled on one core (measured faster)


def _over_batch_chunks(n_values, N, body):
    """Run ``body(start, stop)`` on image ranges: one range for a small batch, else a few per core.

    Below ``PARALLEL_MIN_VALUES`` handing work to the other core costs more than it saves
    (docs/kernels/pooling.md#measured).
    """
    parts = 1 if n_values < PARALLEL_MIN_VALUES else min(N, 2 * config.num_threads())
    edges = np.linspace(0, N, parts + 1).astype(int)
    parallel.parallel_for(parts, lambda worker, k: body(edges[k], edges[k + 1]))


# ----------------------------------------------------------------------------- public entry points


def max_pool2d_forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid"):
    """Max pooling: ``(y, argmax)``, where argmax is what ``max_pool2d_backward`` needs.

    Args:
        x: input images, channels last.
        pool_size: ``(PH, PW)``.
        strides: ``(sh, sw)``.
        padding: 'valid' (drop the rows/cols that do not fill a window) or 'same'.

    Shapes:
        x (N, H, W, C) -> y (N, H_out, W_out, C), argmax (N, H_out, W_out, C) int32

    Math:
        y[n, i, j, c] = max over a < PH, b < PW (pixels inside the image only) of
                        x[n, i*sh - pt + a, j*sw - pl + b, c]
        argmax = the first such maximum in row-major (a, b) order, as (h*W + w)*C + c.

    Example:
        >>> x = np.array([[1.0, 1, 0, 5], [1, 1, 5, 5], [2, 3, 3, 2], [3, 2, 2, 3]])
        >>> x = x[None, :, :, None]  # (1, 4, 4, 1)
        >>> y, argmax = max_pool2d_forward(x)
        >>> y[0, :, :, 0], argmax[0, :, :, 0]
        (array([[1., 5.],
               [3., 3.]]), array([[ 0,  3],
               [ 9, 10]], dtype=int32))
    """
    N, H, W, C = x.shape
    H_out, W_out, pt, _, pl, _ = pool2d_geometry(x.shape, pool_size, strides, padding)
    y = np.empty((N, H_out, W_out, C), dtype=x.dtype)  # (N, H_out, W_out, C)
    argmax = np.empty((N, H_out, W_out, C), dtype=np.int32)  # (N, H_out, W_out, C)

    def chunk(start, stop):
        max_pool2d_forward_kernel(
            x[start:stop], *pool_size, *strides, pt, pl, y[start:stop], argmax[start:stop]
        )

    _over_batch_chunks(x.size, N, chunk)
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape):
    """dL/dx from dL/dy: each window's gradient goes to its winner; overlapping windows add up.

    Args:
        dy: dL/dy (not modified).
        argmax: the second value returned by ``max_pool2d_forward``.
        x_shape: the forward input's shape.

    Shapes:
        dy (N, H_out, W_out, C) -> dx (N, H, W, C)

    Math:
        dx[n, h, w, c] = sum of dy[n, i, j, c] over the windows (i, j) whose winner is (h, w)
    """
    N = x_shape[0]
    dx = np.empty(x_shape, dtype=dy.dtype)  # (N, H, W, C), zeroed by the kernel
    dy2, argmax2, dx2 = dy.reshape(N, -1), argmax.reshape(N, -1), dx.reshape(N, -1)

    def chunk(start, stop):
        max_pool2d_backward_kernel(dy2[start:stop], argmax2[start:stop], dx2[start:stop])

    _over_batch_chunks(dx.size, N, chunk)
    return dx

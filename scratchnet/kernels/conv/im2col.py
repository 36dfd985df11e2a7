"""im2col and col2im: a convolution as one matrix product, and the way back.

``im2col_kernel`` copies every receptive field of the input into one row of a matrix ``cols``,
so that the convolution becomes one product done by BLAS:

    z = cols @ kernel.reshape(KH*KW*C_in, C_out)          (rows: output pixels)

``col2im_kernel`` is its adjoint: it adds the gradient of ``cols`` back where each entry was
copied from. The chunk kernels of ``scratchnet.kernels.conv.chunks`` call them on a few images
at a time. Measured: docs/kernels/conv.md#measured-im2col-and-col2im.
"""

import numpy as np

from ..jit import njit


@njit
def im2col_kernel(x, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols):
    """Copy every receptive field of ``x`` into one row of ``cols`` (filled in place).

    Shapes:
        x (N, H, W, C_in) -> cols (N * H_out * W_out, KH * KW * C_in)

    Math:
        cols[(n*H_out + i)*W_out + j, (a*KW + b)*C_in + c] = xpad[n, i*sh + a*dh, j*sw + b*dw, c]
        and 0 where that position is padding. The column order (a, b, c) is the row order of the
        flattened kernel, so conv(x) = cols @ kernel.reshape(KH*KW*C_in, C_out).

    Serial: the caller runs one chunk of images per core (see ``scratchnet.kernels.parallel``). The
    loops run over one kernel tap (a, b) at a time for a whole output row, with the padding test
    outside the channel loop, and index plainly, without row views: both measured faster
    (docs/kernels/conv.md#measured-im2col-and-col2im).
    """
    N, H, W, C_in = x.shape
    for n in range(N):
        for i in range(H_out):
            first_row = (n * H_out + i) * W_out  # the row of output pixel (n, i, 0)
            for a in range(KH):
                h = i * sh + a * dh - pt
                h_inside = 0 <= h < H
                for b in range(KW):
                    start = (a * KW + b) * C_in
                    shift = b * dw - pl
                    if C_in == 1:  # first layers on grey images: no channel loop (faster)
                        for j in range(W_out):
                            w = j * sw + shift
                            inside = h_inside and 0 <= w < W
                            cols[first_row + j, start] = x[n, h, w, 0] if inside else 0
                        continue
                    for j in range(W_out):
                        w = j * sw + shift
                        if h_inside and 0 <= w < W:
                            for c in range(C_in):
                                cols[first_row + j, start + c] = x[n, h, w, c]
                        else:
                            for c in range(C_in):
                                cols[first_row + j, start + c] = 0


@njit
def col2im_kernel(dcols, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, dx):
    """The adjoint of ``im2col_kernel``: add each entry of ``dcols`` back where it was copied from.

    Shapes:
        dcols (N * H_out * W_out, KH * KW * C_in) -> dx (N, H, W, C_in), overwritten

    Math:
        dx[n, h, w, c] = sum of dcols[row, col] over every (row, col) that im2col filled from
        x[n, h, w, c] (entries that came from padding are dropped). A pixel inside several
        receptive fields receives the sum of all their gradients.
    """
    N, H, W, C_in = dx.shape
    dx[:] = 0
    for n in range(N):
        for i in range(H_out):
            for j in range(W_out):
                row = (n * H_out + i) * W_out + j
                for a in range(KH):
                    h = i * sh + a * dh - pt
                    if h < 0 or h >= H:
                        continue
                    for b in range(KW):
                        w = j * sw + b * dw - pl
                        if w < 0 or w >= W:
                            continue
                        start = (a * KW + b) * C_in
                        for c in range(C_in):
                            dx[n, h, w, c] += dcols[row, start + c]


@njit
def first_layer_backward_kernel(cols, dz, ones, dkernel, dbias):
    """dkernel = cols^T @ dz and dbias = ones^T @ dz, in one call.

    ``np.dot`` inside numba calls BLAS (through SciPy's ``cython_blas``) without Python's lock,
    so the two products release and re-take the lock once instead of twice; with two threads
    each re-take can wait for the other thread (see ``ChunkPlan.backward``).
    """
    np.dot(cols.T, dz, dkernel)
    np.dot(ones, dz, dbias)

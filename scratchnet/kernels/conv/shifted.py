"""Shifted products: a convolution with stride 1, no padding and no dilation needs no im2col.

Flatten a chunk's pixels into rows, ``X = x.reshape(n*H*W, C_in)``. Output pixel (m, i, j) is
row ``r = (m*H + i)*W + j`` of a "wide" output, as wide as the input, and kernel tap (a, b) reads
input row ``r + a*W + b``. So

    wide[r] = sum_{a, b} X[r + a*W + b] @ kernel[a, b]      for r < R = n*H*W - (KH-1)*W - (KW-1)

is KH*KW matrix products of shifted row ranges of X, which are views: nothing is copied. Wide
rows with j >= W_out (or i >= H_out) straddle two image rows (or images) and are dropped.

It pays only for some shapes (``use_shifted``); the measurements behind the thresholds:
docs/kernels/conv.md#measured-shifted-products.
"""

import numpy as np

from .. import process
from ..blas import gemm
from ..jit import njit

SHIFTED_MIN_CHANNELS = 16  # input channels, at least
SHIFTED_MAX_FILTERS = 32  # output channels, at most
SHIFTED_MAX_WASTE = 1.5  # rows of the wide output / rows of the real one, at most
# OpenBLAS's kernel families (``process.blas_kernel_family``) on which the shifted products
# measured faster: hanoi's training step 18% faster on the SkylakeX kernels (Intel Xeon VM,
# AVX-512), but 11% slower on the Haswell kernels (AMD EPYC VM, AVX2), whose thin products run
# at 45-58 GFLOP/s on one core against 61-67 for im2col's (docs/kernels/conv.md#measured-
# shifted-products). On any other BLAS, im2col.
SHIFTED_BLAS_KERNELS = frozenset({"SkylakeX", "Cooperlake", "SapphireRapids"})


def use_shifted(H, W, C_in, C_out, H_out, W_out, strides, dilation, paddings):
    """True if a convolution of this shape runs as shifted products rather than im2col.

    Only stride 1, no dilation and no padding can; of those, only the shapes where it measured
    faster (docs/kernels/conv.md#measured-shifted-products): enough input channels, few filters,
    and a wide output that is not much bigger than the real one, on the BLAS kernels where its
    thin products are fast (``SHIFTED_BLAS_KERNELS``).
    """
    return (
        process.blas_kernel_family() in SHIFTED_BLAS_KERNELS
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and tuple(paddings) == (0, 0, 0, 0)
        and C_in >= SHIFTED_MIN_CHANNELS
        and C_out <= SHIFTED_MAX_FILTERS
        and H * W <= SHIFTED_MAX_WASTE * H_out * W_out
    )


@njit
def shifted_conv_kernel(x, taps, KW, H_out, W_out, wide, z):
    """z = conv(x) without bias, as KH*KW shifted products (stride 1, no padding or dilation).

    Shapes: x (n, H, W, C_in), taps (KH*KW, C_in, C_out) (the kernel, one matrix per tap),
    wide (n*H*W, C_out) scratch -> z (n*H_out*W_out, C_out).
    """
    n, H, W, C_in = x.shape
    X = x.reshape(n * H * W, C_in)
    R = n * H * W - (taps.shape[0] // KW - 1) * W - (KW - 1)
    for t in range(taps.shape[0]):
        shift = (t // KW) * W + t % KW  # tap (a, b) = (t // KW, t % KW) reads row r + a*W + b
        gemm(X[shift : shift + R], taps[t], wide[:R], 0.0 if t == 0 else 1.0, False, False)
    for m in range(n):  # keep the valid rows
        for i in range(H_out):
            source, target = (m * H + i) * W, (m * H_out + i) * W_out
            for j in range(W_out):
                for f in range(z.shape[1]):
                    z[target + j, f] = wide[source + j, f]


@njit
def shifted_backward_kernel(
    x, dz, ones, taps_t, KW, H_out, W_out, need_dx, dz_wide, dtaps, dbias, dx
):
    """A chunk's whole backward for ``shifted_conv_kernel``: dkernel, dbias and (if need_dx) dx.

    Shapes: x (n, H, W, C_in), dz (n*H_out*W_out, C_out), ones (n*H_out*W_out,),
    taps_t (KH*KW, C_out, C_in) (each tap's matrix transposed), dz_wide (n*H*W, C_out) scratch,
    dtaps (KH*KW, C_in, C_out), dbias (C_out,), dx (n, H, W, C_in).

    Math: dz_wide is dz laid out as the wide output, 0 in the dropped rows. Then, for each tap,
        dkernel[a, b] = X[shifted rows]^T @ dz_wide          (the forward product's adjoint in K)
        dX[shifted rows] += dz_wide @ kernel[a, b]^T        (and in X)
    the second summed straight into dx by BLAS (``gemm`` with beta = 1). The transposed taps come
    ready-made, as OpenBLAS ran these products slower when asked to transpose them itself
    (docs/kernels/conv.md#measured-shifted-products).
    """
    n, H, W, C_in = x.shape
    X = x.reshape(n * H * W, C_in)
    R = n * H * W - (taps_t.shape[0] // KW - 1) * W - (KW - 1)
    np.dot(ones, dz, dbias)
    dz_wide[:] = 0
    for m in range(n):
        for i in range(H_out):
            source, target = (m * H_out + i) * W_out, (m * H + i) * W
            for j in range(W_out):
                for f in range(dz.shape[1]):
                    dz_wide[target + j, f] = dz[source + j, f]
    for t in range(taps_t.shape[0]):
        shift = (t // KW) * W + t % KW
        gemm(X[shift : shift + R], dz_wide[:R], dtaps[t], 0.0, True, False)
    if need_dx:
        dX = dx.reshape(n * H * W, C_in)
        dX[R:] = 0  # tap (0, 0) writes rows 0..R-1, every other tap adds onto them
        for t in range(taps_t.shape[0]):
            shift = (t // KW) * W + t % KW
            gemm(
                dz_wide[:R], taps_t[t], dX[shift : shift + R], 0.0 if t == 0 else 1.0, False, False
            )

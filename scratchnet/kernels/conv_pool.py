"""Conv2D then MaxPooling2D in one pass: each chunk is pooled while it is still in cache.

Every CNN in the tutorials has ``Conv2D(...)`` directly followed by ``MaxPooling2D(2)``. Run as
two layers, the convolution writes its whole output (the biggest array of the network: 11 MB
for the keras.io convnet's first layer at batch 128) to memory, the pooling reads it back, and
backward does the same again with the gradients. That memory traffic, not the arithmetic, took
most of the two layers' time (measured: docs/kernels/conv_pool.md#measured).

Here the convolution runs chunk by chunk as in ``scratchnet.kernels.conv`` and each chunk is pooled
right away, from the core's cache; the convolution's output never exists as a whole. The
numbers are the same, bit for bit, as the two layers':

forward, per chunk of images, in one numba call (``conv_pool_chunk_kernel``):
    z = im2col(x) @ K (or shifted products, see conv.py) in a scratch buffer
    p, argmax = max_pool(activation(z + bias))          written out (a quarter of the size)
    For relu and no activation, bias, relu and pooling are one pass over z
    (``bias_relu_max_pool_kernel``); sigmoid is a pass of its own
    (``scratchnet.kernels.elementwise``) and tanh runs in NumPy after the call, in place.

backward:
    Without overlapping windows (pool strides >= pool size, as in every tutorial) each output
    of the convolution is the winner of at most one window, so
        dz = activation'(dp) at the winners (activation' read from y = p there), 0 elsewhere
    which is exactly what pooling's backward followed by the activation's gives. Per chunk, dz
    is built in a scratch buffer from dp and argmax; then the convolution's backward as usual.

``scratchnet.models.Sequential`` uses this by itself for such pairs of layers; see
``scratchnet.layers.fused``.
"""

import numpy as np

from . import elementwise, parallel
from .conv.chunks import ChunkPlan, bias_arguments, chunk_product_kernel, compute_dtype
from .elementwise import LINEAR, OTHER, RELU, SIGMOID, bias_activation_kernel
from .jit import njit
from .pooling import max_pool2d_backward_kernel, max_pool2d_forward_kernel, pool2d_geometry


def windows_overlap(pool_size, pool_strides):
    """True if some input pixel lies in two pooling windows (then the pair is not fused)."""
    return any(s < p for p, s in zip(pool_size, pool_strides, strict=True))


@njit
def bias_relu_max_pool_kernel(z, bias, use_bias, relu, zero, PH, PW, sh, sw, pt, pl, p, argmax):
    """Max pooling of relu(z + bias), computing each value as the window scan reaches it.

    Shapes:
        z (N, H, W, C) the convolution without bias, bias (C,) -> p, argmax (N, P, Q, C)

    The same numbers as ``z += bias``, ``np.maximum(z, 0, out=z)`` then
    ``max_pool2d_forward_kernel``, in one pass instead of three: each value is one float add
    (when ``use_bias``) and, when ``relu``, set to ``zero`` if below 0 (NaN and -0.0 stay, as in
    np.maximum). The scan is pooling's: windows clipped to the image, row by row, a later value
    wins only if strictly greater.
    """
    N, H, W, C = z.shape
    _, P, Q, _ = p.shape
    for n in range(N):
        for i in range(P):
            h0, h1 = max(i * sh - pt, 0), min(i * sh - pt + PH, H)
            for j in range(Q):
                w0, w1 = max(j * sw - pl, 0), min(j * sw - pl + PW, W)
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        first = h == h0 and w == w0
                        offset = (h * W + w) * C  # flat index of (h, w, 0)
                        for c in range(C):
                            v = z[n, h, w, c] + bias[c] if use_bias else z[n, h, w, c]
                            if relu and v < 0:
                                v = zero
                            if first or v > p[n, i, j, c]:
                                p[n, i, j, c] = v
                                argmax[n, i, j, c] = offset + c


@njit
def conv_pool_chunk_kernel(
    x, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kernel, wide, bias, use_bias,
    activation, zero, PH, PW, psh, psw, ppt, ppl, z, p, argmax,
):  # fmt: skip
    """One chunk of ``conv2d_maxpool_forward`` in one call: im2col, product, bias, activation
    and pooling, as ``scratchnet.kernels.conv.conv_chunk_kernel`` then pooling.

    Shapes: x (n, H, W, C_in), cols (rows, KH*KW*C_in), kernel (KH*KW*C_in, C_out),
    wide (n*H*W, C_out) or None (see ``chunk_product_kernel``), z (rows, C_out) scratch,
    p and argmax (n, P_out, Q_out, C_out).
    With an OTHER activation only the bias is added; the caller applies it and pools.
    """
    chunk_product_kernel(
        x, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kernel, wide, z
    )  # z without bias, for now
    images = z.reshape(p.shape[0], H_out, W_out, z.shape[1])  # a view
    if activation == LINEAR or activation == RELU:  # bias, relu and pooling in one pass
        bias_relu_max_pool_kernel(
            images, bias, use_bias, activation == RELU, zero, PH, PW, psh, psw, ppt, ppl, p,
            argmax,
        )  # fmt: skip
        return
    bias_activation_kernel(z, bias, use_bias, activation, z)
    if activation == SIGMOID:
        max_pool2d_forward_kernel(images, PH, PW, psh, psw, ppt, ppl, p, argmax)


@njit
def conv_pool_chunks_kernel(
    x, first, last, per, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kept, kernel,
    wide, bias, use_bias, activation, zero, PH, PW, psh, psw, ppt, ppl, z, p, argmax,
):  # fmt: skip
    """Chunks ``first`` to ``last - 1`` (images ``c*per`` to ``(c+1)*per - 1``), one after
    another, in one call: ``conv_pool_chunk_kernel`` on each (the same numbers), without coming
    back to Python between chunks (docs/kernels/conv.md#groups-of-chunks).

    Shapes: as ``conv_pool_chunk_kernel``'s for the whole batch: x (N, H, W, C_in), cols the
    worker's scratch or kept (N*H_out*W_out, KH*KW*C_in) the batch's kept im2col ((0, K) when
    none), z the worker's (max rows, C_out) scratch, p and argmax (N, P_out, Q_out, C_out).
    """
    N, P = x.shape[0], H_out * W_out
    for c in range(first, last):
        start, stop = c * per, min(c * per + per, N)
        r0, r1 = start * P, stop * P
        m = kept[r0:r1] if kept.shape[0] > 0 else cols[: r1 - r0]
        conv_pool_chunk_kernel(
            x[start:stop], fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, m,
            kernel, wide, bias, use_bias, activation, zero, PH, PW, psh, psw, ppt, ppl,
            z[: r1 - r0], p[start:stop], argmax[start:stop],
        )  # fmt: skip


def conv2d_maxpool_forward(
    x, kernel, bias, strides, padding, dilation, activation, pool_size, pool_strides, pool_padding,
    workspace=None, keep_cols=False,
):  # fmt: skip
    """max_pool(activation(conv(x) + bias)) without materialising the convolution's output.

    Args:
        x, kernel, bias, strides, padding, dilation, activation: as in
            ``scratchnet.kernels.conv.conv2d_forward`` (an elementwise activation or None).
        pool_size, pool_strides, pool_padding: as in
            ``scratchnet.kernels.pooling.max_pool2d_forward``.
        workspace: the Conv2D layer's dict of scratch buffers.
        keep_cols: a training pass (see ``scratchnet.kernels.conv.conv2d_forward``).

    Returns:
        ``(p, argmax)`` exactly as ``max_pool2d_forward`` would return them for the
        convolution's output: argmax holds flat indices into one image of that output.

    Shapes:
        x (N, H, W, C_in) -> conv output (N, H_out, W_out, C_out), never stored
        -> p, argmax (N, P_out, Q_out, C_out)
    """
    dtype = compute_dtype(x, kernel)
    x, kernel = (
        np.ascontiguousarray(x, dtype),
        np.ascontiguousarray(kernel, dtype),
    )  # numba: C order
    plan = ChunkPlan(x.shape, kernel.shape, strides, padding, dilation, workspace)
    if keep_cols:
        plan.keep_cols(x)
    N, (H_out, W_out, C_out) = x.shape[0], (plan.H_out, plan.W_out, plan.C_out)
    P_out, Q_out, ppt, _, ppl, _ = pool2d_geometry(
        (N, H_out, W_out, C_out), pool_size, pool_strides, pool_padding
    )
    p = np.empty((N, P_out, Q_out, C_out), dtype=dtype)  # (N, P_out, Q_out, C_out)
    argmax = np.empty((N, P_out, Q_out, C_out), dtype=np.int32)
    bias_args = bias_arguments(bias, C_out, dtype)
    code = elementwise.code(activation)
    K = kernel.reshape(plan.K_rows, C_out)
    pool_args = (*pool_size, *pool_strides, ppt, ppl)

    if plan.in_groups(code):  # linear, relu, sigmoid: whole groups of chunks, a numba call each
        groups = plan.groups()
        kept = plan.kept_cols_to_fill(x)  # the batch's kept im2col, or (0, K)

        def one_group(worker, g):
            own = plan.shifted or kept.shape[0] > 0  # nothing to build in the worker's scratch
            cols = kept[:0] if own else plan.scratch("cols", worker, plan.K_rows, dtype)
            conv_pool_chunks_kernel(
                x, *groups[g], plan.images_per_chunk(), not plan.shifted,
                *plan.geometry(), cols, kept, K, plan.wide("wide", worker, dtype), *bias_args,
                code, dtype.type(0), *pool_args, plan.scratch("z", worker, C_out, dtype), p,
                argmax,
            )  # fmt: skip

        parallel.parallel_for(len(groups), one_group)
        return p, argmax

    def one_chunk(worker, c):  # Winograd, or tanh, ...: chunk by chunk
        start, stop = plan.chunks[c]
        z = plan.scratch("z", worker, C_out, dtype)[: plan.rows(c)]  # (rows, C_out)
        images = z.reshape(stop - start, H_out, W_out, C_out)  # a view
        if plan.winograd:  # its steps, then those of conv_pool_chunk_kernel after its product
            plan.winograd_steps(kernel, dtype).forward(x, c, worker, z)
            if code == LINEAR or code == RELU:  # bias, relu and pooling in one pass
                bias_relu_max_pool_kernel(
                    images, *bias_args, code == RELU, dtype.type(0), *pool_args, p[start:stop],
                    argmax[start:stop],
                )  # fmt: skip
                return
            bias_activation_kernel(z, *bias_args, code, z)  # sigmoid; OTHER: the bias only
            if code == SIGMOID:
                max_pool2d_forward_kernel(images, *pool_args, p[start:stop], argmax[start:stop])
        else:
            conv_pool_chunk_kernel(
                *plan.im2col_args(x, c, worker), K, plan.wide("wide", worker, dtype),
                *bias_args, code, dtype.type(0), *pool_args, z, p[start:stop],
                argmax[start:stop],
            )  # fmt: skip
        if code == OTHER:  # tanh: NumPy, in place, then pooling
            activation.forward(z, out=z)
            max_pool2d_forward_kernel(images, *pool_args, p[start:stop], argmax[start:stop])

    parallel.parallel_for(len(plan.chunks), one_chunk)
    return p, argmax


def conv2d_maxpool_backward(
    dp, argmax, p, x, kernel, strides, padding, dilation, activation, need_dx=True, workspace=None
):
    """Gradients of ``conv2d_maxpool_forward``: ``(dx or None, dkernel, dbias)``.

    Args:
        dp: dL/dp, the gradient of the pooled output.
        argmax, p: what the forward pass returned.
        x, kernel, strides, padding, dilation, activation: as in the forward pass.
        need_dx: False skips dx (the first layer).
        workspace: the Conv2D layer's dict of scratch buffers.

    Shapes:
        dp, argmax, p (N, P_out, Q_out, C_out), x (N, H, W, C_in) -> dx (N, H, W, C_in),
        dkernel (KH, KW, C_in, C_out), dbias (C_out,)

    Math (windows do not overlap, see the module docstring):
        dp_z = activation'(dp) using y = p        (pooled size: a quarter of the work)
        dz[n, argmax[n, o]] = dp_z[n, o], 0 elsewhere      per chunk, in a scratch buffer
        then dkernel, dbias, dx from dz as in ``scratchnet.kernels.conv.conv2d_backward``.
    """
    plan = ChunkPlan(x.shape, kernel.shape, strides, padding, dilation, workspace)
    dp_z = dp if activation is None else activation.backward(dp, p)  # (N, P_out, Q_out, C_out)

    def dz_of_chunk(worker, c):
        start, stop = plan.chunks[c]
        dz = plan.scratch("dz", worker, plan.C_out, dp.dtype)[: plan.rows(c)]  # (rows, C_out)
        n = stop - start
        # pooling's backward kernel: zero the chunk, then each window's gradient to its winner
        max_pool2d_backward_kernel(
            dp_z[start:stop].reshape(n, -1), argmax[start:stop].reshape(n, -1), dz.reshape(n, -1)
        )
        return dz

    return plan.run_backward(x, kernel, dz_of_chunk, need_dx, dp.dtype)

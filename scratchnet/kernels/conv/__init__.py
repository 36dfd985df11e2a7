"""2-D convolution, the numba family's entry points: what ``Conv2D`` calls (NHWC, Keras's layout).

    z[n, i, j, f] = bias[f]
                    + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]

Reading order:

1. ``reference.py``: the output size, TensorFlow's 'same' padding, and the NumPy twin (a loop
   over kernel taps): the formula above, plainly. It is also the NumPy family's entry point.
2. This file: ``conv2d_forward`` and ``conv2d_backward``. Their first lines choose the algorithm
   (``ChunkPlan``): shifted products or im2col, and the chunks of images that run on each core.
3. ``im2col.py``: a convolution as one matrix product (im2col), and the way back (col2im).
4. ``shifted.py``: stride-1, unpadded convolutions as one product per kernel tap, without im2col.
5. ``chunks.py``: the chunk plan, and the kernels that do one chunk's work in one call.

What was measured to choose each piece: ``docs/kernels/conv.md``.
"""

import numpy as np

from .. import elementwise, parallel
from .chunks import ChunkPlan, bias_arguments, compute_dtype


def conv2d_forward(
    x, kernel, bias=None, strides=(1, 1), padding="valid", dilation=(1, 1), activation=None,
    keep_z=False, workspace=None, keep_cols=False,
):  # fmt: skip
    """Conv2D's output y = activation(conv(x, kernel) + bias), and optionally z = conv + bias.

    Args:
        x: input images, channels last.
        kernel: filters in Keras's layout.
        bias: one value per filter, or None.
        strides: ``(sh, sw)``.
        padding: 'valid' or 'same' (TensorFlow's split: the odd pixel goes bottom/right).
        dilation: ``(dh, dw)``; spacing between kernel taps.
        activation: an object from ``scratchnet.activations``, or None for none. It is applied
            to each chunk of z while the chunk is in cache: the same numbers as afterwards.
        keep_z: also return the pre-activation z (a separate array from y). Otherwise the
            activation overwrites z and only y exists.
        workspace: optional dict in which each worker thread keeps its scratch matrices between
            calls (see ``chunks.scratch``).
        keep_cols: a training pass: keep a narrow im2col matrix in ``workspace`` for
            ``conv2d_backward`` on this same ``x`` (``ChunkPlan.keep_cols``).

    Returns:
        ``(y, z)``; z is None unless ``keep_z``.

    Shapes:
        x (N, H, W, C_in), kernel (KH, KW, C_in, C_out), bias (C_out,)
        -> y, z (N, H_out, W_out, C_out)

    Math, per chunk of images (one chunk per core at a time):
        z[chunk] = cols @ kernel.reshape(KH*KW*C_in, C_out) + bias,  cols = im2col(x[chunk])
                   (or the same sum as shifted products, without cols)
        y[chunk] = activation(z[chunk])

    Example:
        >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
        >>> y, _ = conv2d_forward(x, np.ones((2, 2, 1, 1)), strides=(2, 2))
        >>> y[0, :, :, 0]  # each output sums one 2x2 block
        array([[10., 18.],
               [42., 50.]])
    """
    dtype = compute_dtype(x, kernel)
    x, kernel = (
        np.ascontiguousarray(x, dtype),
        np.ascontiguousarray(kernel, dtype),
    )  # numba: C order
    plan = ChunkPlan(x.shape, kernel.shape, strides, padding, dilation, workspace)  # algorithm
    if keep_cols:
        plan.keep_cols(x)
    N, C_out = x.shape[0], plan.C_out
    z = np.empty((N, plan.H_out, plan.W_out, C_out), dtype=dtype)  # filled chunk by chunk
    y = np.empty_like(z) if keep_z and activation is not None else z
    bias_args = bias_arguments(bias, C_out, dtype)
    code = elementwise.code(activation)  # linear, relu and sigmoid run inside the chunk kernel

    if plan.in_groups(code):  # numba's activations: whole groups of chunks in one call each
        plan.run_forward_groups(x, kernel, bias_args, code, z, y)
        return y, (z if keep_z else None)

    def one_chunk(worker, c):  # tanh, softmax, ...: chunk by chunk, the activation in NumPy
        start, stop = plan.chunks[c]
        rows = (plan.rows(c), C_out)
        z_part, y_part = z[start:stop].reshape(rows), y[start:stop].reshape(rows)  # views
        plan.forward(x, kernel, c, worker, bias_args, code, z_part, y_part)
        if code == elementwise.OTHER:  # tanh, softmax: NumPy, while the chunk is in cache
            result = activation.forward(z_part, out=y_part)
            if result is not y_part:
                y_part[...] = result

    parallel.parallel_for(len(plan.chunks), one_chunk)
    return y, (z if keep_z else None)


def conv2d_backward(
    dz, x, kernel, strides=(1, 1), padding="valid", dilation=(1, 1), need_dx=True, workspace=None
):
    """Gradients of the convolution: dL/dx, dL/dkernel and dL/dbias from dL/dz.

    Args:
        dz: dL/dz, the gradient of the convolution's output z = conv(x) + bias: an array, or a
            ``scratchnet.kernels.elementwise.Deferred`` (the layer's dz = activation'(dy)),
            which is then computed one chunk at a time, right before the products read it.
        x: the forward input.
        kernel: the filters used in the forward pass.
        strides, padding, dilation: as in the forward pass.
        need_dx: False skips dx (the first layer: nobody needs dL/d(image)) and returns None.
        workspace: optional dict for reusing the scratch matrices (see ``chunks.scratch``).

    Returns:
        ``(dx, dkernel, dbias)``.

    Shapes:
        dz (N, H_out, W_out, C_out), x (N, H, W, C_in) -> dx (N, H, W, C_in),
        dkernel (KH, KW, C_in, C_out), dbias (C_out,)

    Math (z = cols @ K + bias with K = kernel as a (KH*KW*C_in, C_out) matrix):
        dkernel = cols^T @ dz                           summed over chunks
        dbias   = sum of dz over n, i, j   (as ones^T @ dz)
        dcols   = dz @ K^T,   dx = col2im(dcols)     (the adjoint of im2col)
        Each chunk's im2col matrix is rebuilt instead of keeping the whole batch's from the
        forward pass (docs/kernels/conv.md#chunks says why), and each chunk writes its own
        dkernel and dbias terms, added in chunk order at the end: the result does not depend on
        threads.
    """
    dtype = compute_dtype(x, kernel)
    x, kernel = (
        np.ascontiguousarray(x, dtype),
        np.ascontiguousarray(kernel, dtype),
    )  # numba: C order
    plan = ChunkPlan(x.shape, kernel.shape, strides, padding, dilation, workspace)  # algorithm
    if not isinstance(dz, elementwise.Deferred):
        dz = np.ascontiguousarray(dz, dtype=dtype)
    parts = _kernel_activation_parts(dz, dtype)  # (dy, y, code) the chunk kernels take
    if parts is not None and not plan.winograd:  # whole groups of chunks, a numba call each
        return plan.run_backward_groups(x, kernel, *parts, need_dx, dtype)

    def dz_of_chunk(worker, c):
        start, stop = plan.chunks[c]
        return np.ascontiguousarray(dz[start:stop], dtype=dtype).reshape(plan.rows(c), -1)

    return plan.run_backward(x, kernel, dz_of_chunk, need_dx, dtype)


def _kernel_activation_parts(dz, dtype):
    """``(dy, y, code)`` if the chunk kernels can compute dz themselves, else None.

    That is a dz array (code LINEAR), or a ``Deferred`` dz = activation'(dy) of linear, relu or
    sigmoid, on C-ordered arrays of the compute dtype (the kernels' own conditions). dy must be
    writeable: numba types a read-only array apart, and the kernel's dz is either dy's rows or
    its own scratch (a read-only dy goes chunk by chunk).
    """
    if isinstance(dz, np.ndarray):
        return (dz, dz, elementwise.LINEAR) if dz.flags.writeable else None
    if dz.code == elementwise.OTHER or len(dz.arrays) != 2:
        return None
    dy, y = dz.arrays
    for a in (dy, y):
        if type(a) is not np.ndarray or a.dtype != dtype or not a.flags.c_contiguous:
            return None
    return (dy, y, dz.code) if dy.flags.writeable else None

"""Depthwise convolution: each input channel convolved with its own small filters, tap by tap.

    z[n, i, j, c*M + m] = sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, m]

(M is the depth multiplier.) No sum over channels: a Conv2D whose kernel is zero between
different channels, without computing those zeros. Output channel ``c*M + m`` is filter m of
input channel c, TensorFlow's order (``tf.nn.depthwise_conv2d``). Strides and dilation may be
combined here, as Keras allows for this layer (it subsamples a dilated stride-1 convolution: the
same numbers as the strided sum above).

A NumPy loop over the KH*KW taps, like ``conv.reference``: each tap is one broadcast product of
a strided slice of the input, KH*KW passes over an array of the output's size.
"""

import numpy as np

from .conv.reference import _tap_slices, conv2d_geometry


def depthwise_conv2d_forward(x, kernel, strides, padding, dilation):
    """Depthwise convolution without bias.

    Args:
        x: input images.
        kernel: Keras's depthwise kernel.
        strides, dilation: ``(sh, sw)`` and ``(dh, dw)``.
        padding: 'valid' or 'same' (TensorFlow's split).

    Shapes:
        x (N, H, W, C), kernel (KH, KW, C, M) -> z (N, H_out, W_out, C*M)

    Math:
        z5[:, :, :, c, m] = sum_{a, b} xpad[:, a*dh :: sh, b*dw :: sw, c] * kernel[a, b, c, m]
        z = z5 with its last two axes merged (channel c*M + m)

    Example:
        >>> x = np.arange(4.0).reshape(1, 2, 2, 1)
        >>> depthwise_conv2d_forward(x, np.ones((2, 2, 1, 2)), (1, 1), "valid", (1, 1)).ravel()
        array([6., 6.])
    """
    N, H, W, C = x.shape
    KH, KW, _, M = kernel.shape
    H_out, W_out, pt, pb, pl, pr = conv2d_geometry(
        x.shape, kernel.shape, strides, padding, dilation
    )
    xpad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))  # (N, H + pt + pb, W + pl + pr, C)
    dtype = np.result_type(x, kernel)
    z = np.zeros((N, H_out, W_out, C, M), dtype=dtype)  # (N, H_out, W_out, C, M)
    for a in range(KH):
        for b in range(KW):
            rows, cols = _tap_slices(a, b, H_out, W_out, strides, dilation)
            z += xpad[:, rows, cols, :, None] * kernel[a, b]  # (N, H_out, W_out, C, 1) * (C, M)
    return z.reshape(N, H_out, W_out, C * M)


def depthwise_conv2d_backward(dz, x, kernel, strides, padding, dilation):
    """Gradients of the depthwise convolution (bias excluded), tap by tap.

    Args:
        dz: dL/dz, the gradient of the convolution's output.
        x, kernel, strides, padding, dilation: as in the forward pass.

    Shapes:
        dz (N, H_out, W_out, C*M), x (N, H, W, C), kernel (KH, KW, C, M)
        -> dx (N, H, W, C), dkernel (KH, KW, C, M)

    Math (each tap's term z5 += xs * kernel[a, b] differentiated, xs the tap's input slice):
        dkernel[a, b, c, m] = sum_{n, i, j} xs[n, i, j, c] * dz5[n, i, j, c, m]
        dxpad[tap slice][..., c] += sum_m dz5[..., c, m] * kernel[a, b, c, m]   (slices overlap)
        dx = dxpad without its padding
    """
    N, H, W, C = x.shape
    KH, KW, _, M = kernel.shape
    H_out, W_out, pt, pb, pl, pr = conv2d_geometry(
        x.shape, kernel.shape, strides, padding, dilation
    )
    dz5 = dz.reshape(N, H_out, W_out, C, M)  # (N, H_out, W_out, C, M), a view
    xpad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))  # (N, H + pt + pb, W + pl + pr, C)
    dxpad = np.zeros_like(xpad)  # (N, H + pt + pb, W + pl + pr, C)
    dkernel = np.empty_like(kernel)  # (KH, KW, C, M)
    for a in range(KH):
        for b in range(KW):
            rows, cols = _tap_slices(a, b, H_out, W_out, strides, dilation)
            xs = xpad[:, rows, cols, :]  # (N, H_out, W_out, C)
            dkernel[a, b] = np.einsum("nijc,nijcm->cm", xs, dz5)  # (C, M)
            dxpad[:, rows, cols, :] += np.einsum("nijcm,cm->nijc", dz5, kernel[a, b])
    return dxpad[:, pt : pt + H, pl : pl + W, :], dkernel  # (N, H, W, C), (KH, KW, C, M)

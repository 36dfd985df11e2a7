"""Convolution, the readable way: its geometry and the NumPy reference twin.

Keras's Conv2D is a cross-correlation (no kernel flip) of the zero-padded input:

    z[n, i, j, f] = bias[f]
                    + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]

(sh, sw are the strides, dh, dw the dilation.) The twin computes exactly that as a loop over the
KH*KW kernel taps, each tap one matrix product of a strided slice of the input: short, and
obviously the formula. It is what runs with ``config.use_kernels("numpy")``, and what the numba
kernels (``scratchnet.kernels.conv``) are tested against: a different algorithm for the same math.
"""

import numpy as np

# ----------------------------------------------------------------------------- geometry


def output_size_and_padding(size, k, s, d, padding):
    """Output length and TensorFlow's padding along one spatial axis.

    Args:
        size: input length (H or W).
        k: kernel (or pool window) length.
        s: stride.
        d: dilation (1 for pooling).
        padding: 'valid' or 'same' (lower case).

    Returns:
        ``(out, pad_before, pad_after)``.

    Math:
        k_eff = d*(k - 1) + 1                       the extent of the dilated kernel
        valid: out = floor((size - k_eff) / s) + 1, no padding
        same:  out = ceil(size / s)
               total = max((out - 1)*s + k_eff - size, 0)
               pad_before = total // 2, pad_after = total - pad_before
        so an odd extra pixel goes at the bottom/right, as in TensorFlow's "SAME".

    Example:
        >>> output_size_and_padding(6, 3, 2, 1, "same")
        (3, 0, 1)
    """
    k_eff = d * (k - 1) + 1
    if padding == "valid":
        return (size - k_eff) // s + 1, 0, 0
    if padding == "same":
        out = -(-size // s)
        total = max((out - 1) * s + k_eff - size, 0)
        return out, total // 2, total - total // 2
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}.")


def conv2d_geometry(x_shape, kernel_shape, strides, padding, dilation):
    """``(H_out, W_out, pad_top, pad_bottom, pad_left, pad_right)``; raises if nothing fits."""
    _, H, W, _ = x_shape
    KH, KW = kernel_shape[:2]
    H_out, pt, pb = output_size_and_padding(H, KH, strides[0], dilation[0], padding)
    W_out, pl, pr = output_size_and_padding(W, KW, strides[1], dilation[1], padding)
    if H_out < 1 or W_out < 1:
        raise ValueError(
            f"conv2d: a {KH}x{KW} kernel with dilation {tuple(dilation)} does not fit in a "
            f"{H}x{W} input with padding='{padding}' (the output would be {H_out}x{W_out}). "
            "Use a smaller kernel, a bigger input, or padding='same'."
        )
    return H_out, W_out, pt, pb, pl, pr


def _tap_slices(a, b, H_out, W_out, strides, dilation):
    """The rows and columns of the padded input that kernel tap (a, b) touches, as slices."""
    (sh, sw), (dh, dw) = strides, dilation
    rows = slice(a * dh, a * dh + sh * (H_out - 1) + 1, sh)
    cols = slice(b * dw, b * dw + sw * (W_out - 1) + 1, sw)
    return rows, cols


# ----------------------------------------------------------------------------- NumPy twin


def conv2d_forward_reference(x, kernel, strides, padding, dilation):
    """Convolution without bias, as a sum over kernel taps (the readable twin of the numba path).

    Args:
        x: input images.
        kernel: filters in Keras's layout.
        strides, dilation: ``(sh, sw)`` and ``(dh, dw)``.
        padding: 'valid' or 'same'.

    Shapes:
        x (N, H, W, C_in), kernel (KH, KW, C_in, C_out) -> z (N, H_out, W_out, C_out)

    Math:
        Tap (a, b) of the kernel sees the input shifted by (a*dh, b*dw) and sampled every
        (sh, sw) pixels, so
            z = sum_{a, b} xpad[:, a*dh :: sh, b*dw :: sw, :] @ kernel[a, b]
        where each term is a (.., C_in) @ (C_in, C_out) matrix product.
    """
    N, H, W, C_in = x.shape
    KH, KW, _, C_out = kernel.shape
    H_out, W_out, pt, pb, pl, pr = conv2d_geometry(
        x.shape, kernel.shape, strides, padding, dilation
    )
    xpad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))  # (N, H + pt + pb, W + pl + pr, C_in)
    z = np.zeros(
        (N, H_out, W_out, C_out), dtype=np.result_type(x, kernel)
    )  # (N, H_out, W_out, C_out)
    for a in range(KH):
        for b in range(KW):
            rows, cols = _tap_slices(a, b, H_out, W_out, strides, dilation)
            z += xpad[:, rows, cols, :] @ kernel[a, b]  # (N, H_out, W_out, C_in) @ (C_in, C_out)
    return z


def conv2d_backward_reference(dz, x, kernel, strides, padding, dilation):
    """Gradients of the convolution, tap by tap (the twin of ``conv2d_backward``).

    Args:
        dz: dL/dz, the gradient of the convolution's output (bias included, activation excluded).
        x, kernel, strides, padding, dilation: as in the forward pass.

    Shapes:
        dz (N, H_out, W_out, C_out), x (N, H, W, C_in), kernel (KH, KW, C_in, C_out)
        -> dx (N, H, W, C_in), dkernel (KH, KW, C_in, C_out), dbias (C_out,)

    Math (each tap's term z += xs @ kernel[a, b] differentiated, xs = the tap's input slice):
        dkernel[a, b] = sum_{n, i, j} xs[n, i, j, :]^T dz[n, i, j, :]
        dxpad[tap slice] += dz @ kernel[a, b]^T          (slices overlap: the sums add up)
        dx = dxpad without its padding;   dbias = sum_{n, i, j} dz[n, i, j, :]
    """
    _, H, W, _ = x.shape
    KH, KW = kernel.shape[:2]
    H_out, W_out, pt, pb, pl, pr = conv2d_geometry(
        x.shape, kernel.shape, strides, padding, dilation
    )
    xpad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))  # (N, H + pt + pb, W + pl + pr, C_in)
    dxpad = np.zeros_like(xpad)  # (N, H + pt + pb, W + pl + pr, C_in)
    dkernel = np.empty_like(kernel)  # (KH, KW, C_in, C_out)
    for a in range(KH):
        for b in range(KW):
            rows, cols = _tap_slices(a, b, H_out, W_out, strides, dilation)
            xs = xpad[:, rows, cols, :]  # (N, H_out, W_out, C_in)
            dkernel[a, b] = np.tensordot(xs, dz, axes=([0, 1, 2], [0, 1, 2]))  # (C_in, C_out)
            dxpad[:, rows, cols, :] += dz @ kernel[a, b].T  # (N, H_out, W_out, C_in)
    dx = dxpad[:, pt : pt + H, pl : pl + W, :]  # (N, H, W, C_in)
    dbias = dz.sum(axis=(0, 1, 2))  # (C_out,)
    return dx, dkernel, dbias


# ----------------------------------------------------------------------------- the NumPy family


def conv2d_forward(
    x, kernel, bias=None, strides=(1, 1), padding="valid", dilation=(1, 1), activation=None,
    keep_z=False, workspace=None, keep_cols=False,
):  # fmt: skip
    """``scratchnet.kernels.conv.conv2d_forward`` for the NumPy family: the twin, then the bias
    and the activation over the whole batch. ``workspace`` and ``keep_cols`` are for the numba
    kernels' scratch memory and are not needed here."""
    z = conv2d_forward_reference(x, kernel, strides, padding, dilation)  # (N, H_out, W_out, C_out)
    if bias is not None:
        z += bias
    y = z if activation is None else activation.forward(z, out=None if keep_z else z)
    return y, (z if keep_z else None)


def conv2d_backward(
    dz, x, kernel, strides=(1, 1), padding="valid", dilation=(1, 1), need_dx=True, workspace=None
):
    """``scratchnet.kernels.conv.conv2d_backward`` for the NumPy family: ``dz`` whole (a
    ``Deferred`` dz is computed for the whole batch at once), then the twin."""
    dz = dz.full() if hasattr(dz, "full") else dz  # (N, H_out, W_out, C_out)
    dx, dkernel, dbias = conv2d_backward_reference(dz, x, kernel, strides, padding, dilation)
    return (dx if need_dx else None), dkernel, dbias

"""2-D convolution as Keras computes it (NHWC, kernel (KH, KW, C_in, C_out)), forward and backward.

Keras's Conv2D is a cross-correlation (no kernel flip) of the zero-padded input:

    z[n, i, j, f] = bias[f]
                    + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]

(sh, sw are the strides, dh, dw the dilation.) Reading order:

1. ``output_size_and_padding``: the output size and TensorFlow's 'same' padding split.
2. The NumPy reference twin: a loop over the KH*KW kernel taps, each tap one matrix multiply of
   a strided slice of the input. Short, and obviously the formula above.
3. The numba kernels: ``im2col`` copies every receptive field into one row of a matrix, so the
   convolution becomes a matrix multiply done by BLAS (about 30x faster than any hand-written
   loop here); ``col2im`` scatters the gradient of that matrix back. ``conv_chunk_kernel`` and
   ``input_grad_chunk_kernel`` string them together for one chunk of images (``np.dot`` inside
   numba calls the same BLAS), so a chunk's forward is one call and its backward two, without
   stopping in Python between the steps. Convolutions with stride 1 and no padding (and enough
   channels) skip im2col altogether: ``shifted_conv_kernel`` sums one product per kernel tap
   over shifted row ranges of the input itself, and ``shifted_backward_kernel`` is its adjoint.
4. The public entry points ``conv2d_forward`` / ``conv2d_backward``, which pick the numba path or
   the twin according to ``scratchnet.ops.jit.kernels()``. The numba path works on chunks of a
   few images, one chunk per core at a time, so each chunk's im2col matrix stays in cache
   (``scratchnet.ops.parallel`` explains why and measures it).
"""

import numpy as np

from . import elementwise, jit, parallel
from .blas import gemm
from .elementwise import bias_activation_kernel
from .jit import njit

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


# ----------------------------------------------------------------------------- numba kernels


@njit
def im2col_kernel(x, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols):
    """Copy every receptive field of ``x`` into one row of ``cols`` (filled in place).

    Shapes:
        x (N, H, W, C_in) -> cols (N * H_out * W_out, KH * KW * C_in)

    Math:
        cols[(n*H_out + i)*W_out + j, (a*KW + b)*C_in + c] = xpad[n, i*sh + a*dh, j*sw + b*dw, c]
        and 0 where that position is padding. The column order (a, b, c) is the row order of the
        flattened kernel, so conv(x) = cols @ kernel.reshape(KH*KW*C_in, C_out).

    Serial: the caller runs one chunk of images per core (see ``scratchnet.ops.parallel``). The
    loops run over one kernel tap (a, b) at a time for a whole output row, with the padding test
    outside the channel loop: measured 25-35% faster than one receptive field at a time. Plain
    indices, no row views: with views numba's output ran 4x slower or not, depending on variable
    names.
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
                    if C_in == 1:  # first layers on grey images: no channel loop (2x faster)
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


# Shifted products: a convolution with stride 1, no padding and no dilation needs no im2col.
#
# Flatten the chunk's pixels into rows, X = x.reshape(n*H*W, C_in). Output pixel (m, i, j) is
# row r = (m*H + i)*W + j of a "wide" output, as wide as the input, and kernel tap (a, b) reads
# input row r + a*W + b. So
#     wide[r] = sum_{a, b} X[r + a*W + b] @ kernel[a, b]      for r < R = n*H*W - (KH-1)*W - (KW-1)
# is KH*KW matrix products of shifted row ranges of X, which are views: nothing is copied.
# Wide rows with j >= W_out (or i >= H_out) straddle two image rows (or images) and are dropped.
# When it pays was measured, one 3x3 layer's forward + backward for one image, against im2col:
# * 26x26x32 to 32 filters (hanoi's second convolution, 1.17x the rows): 339 against 489 us;
#   hanoi's training step 18% faster, and 5% more once dL/dx got ready-transposed taps;
# * 32 filters or fewer, 16 or more input channels: 1.10-1.46x faster, even with 1.49x the rows;
# * 48, 64 or 128 filters: 0.76-0.88x. OpenBLAS runs these thin products (inner size C_in) well
#   only for narrow outputs (the keras.io convnet's second convolution, 64 filters: step 4% slower);
# * 8 input channels and 8 filters (zhou's): 0.62x.

SHIFTED_MIN_CHANNELS = 16  # input channels, at least
SHIFTED_MAX_FILTERS = 32  # output channels, at most
SHIFTED_MAX_WASTE = 1.5  # rows of the wide output / rows of the real one, at most


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
    ready-made: OpenBLAS ran these products 20% slower when asked to transpose them itself.
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


@njit
def chunk_product_kernel(
    x, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kernel, wide, z
):
    """z = conv(x) without bias for one chunk: shifted products if ``wide`` has rows, else
    im2col (unless ``fill`` is False: cols already holds it) and one product.

    Shapes: kernel (KH*KW*C_in, C_out), cols (rows, KH*KW*C_in) (unused when shifted),
    z (rows, C_out) with rows = n * H_out * W_out.
    """
    if wide.shape[0] > 0:
        taps = kernel.reshape(KH * KW, x.shape[3], kernel.shape[1])
        shifted_conv_kernel(x, taps, KW, H_out, W_out, wide, z)
        return
    if fill:
        im2col_kernel(x, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols)
    np.dot(cols, kernel, z)


@njit
def conv_chunk_kernel(
    x, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kernel, wide, bias, use_bias,
    activation, z, y,
):  # fmt: skip
    """One chunk of the forward pass in one call: z = conv(x) + bias, y = act(z).

    Shapes: x (n, H, W, C_in), cols (rows, KH*KW*C_in), kernel (KH*KW*C_in, C_out),
    wide (n*H*W, C_out) or (0, C_out), z and y (rows, C_out) with rows = n * H_out * W_out.

    The convolution is ``chunk_product_kernel``'s; ``activation`` is a code of
    ``scratchnet.ops.elementwise`` (OTHER: bias only, the caller applies it). One call instead
    of five or six: each NumPy call in between gave up Python's lock and had to take it back,
    often from the other chunk thread.
    """
    chunk_product_kernel(
        x, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kernel, wide, z
    )
    bias_activation_kernel(z, bias, use_bias, activation, y)


@njit
def input_grad_chunk_kernel(
    dz, ones, kernel_t, need_dx, dcols, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, dbias, dx,
):  # fmt: skip
    """The rest of a chunk's backward after dkernel, in one call: dbias and (if need_dx) dx.

    Shapes: dz (rows, C_out), ones (rows,), kernel_t (C_out, KH*KW*C_in) (the kernel matrix's
    transpose, a view), dcols (rows, KH*KW*C_in), dbias (C_out,), dx (n, H, W, C_in).

    Math: dbias = ones^T dz (BLAS sums ~10x faster than a loop); dcols = dz @ K^T and
    dx = col2im(dcols). (dkernel = cols^T dz stays a NumPy product: numba's np.dot runs that
    transposed product 25% slower.)
    """
    np.dot(ones, dz, dbias)
    if need_dx:
        np.dot(dz, kernel_t, dcols)
        col2im_kernel(dcols, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, dx)


# ----------------------------------------------------------------------------- chunking

# im2col + output values per chunk: 640 KB, inside a core's 1 MB L2 cache next to the
# scratch buffers. Swept over 40k-1.3M values on the four tutorial CNNs: this was fastest.
CHUNK_FLOATS = 512 * (288 + 32)


def batch_chunks(N, floats_per_image):
    """Split N images into ``(start, stop)`` ranges of about ``CHUNK_FLOATS`` working values.

    ``floats_per_image`` is what one image needs while its chunk is processed: its im2col rows
    and its outputs, H_out * W_out * (KH*KW*C_in + C_out). A first layer (KH*KW*C_in = 9) thus
    gets many more images per chunk than a deep one (288), and fewer chunks mean less Python work.
    But every thread gets at least one chunk when the batch allows, so that both cores work.
    (Two per thread, for balance, measured 5% slower on the small zhou CNN and no faster on the
    others: every chunk costs a few handovers of Python's lock between the threads.)

    Example:
        >>> batch_chunks(10, 40_000)  # 4 images per chunk
        [(0, 4), (4, 8), (8, 10)]
    """
    per_chunk = max(1, CHUNK_FLOATS // floats_per_image)
    per_chunk = min(per_chunk, -(-N // jit.num_threads()))  # ceil(N / threads)
    return [(start, min(start + per_chunk, N)) for start in range(0, N, per_chunk)]


def scratch(workspace, key, shape, dtype):
    """An array of ``shape`` to overwrite, reused from ``workspace`` (a dict the caller keeps).

    A fresh multi-MB array each step costs a page fault per 4 KB page, which measured as a third
    of the matmul time, so a layer keeps its scratch matrices and passes them back in. With
    ``workspace=None`` a new array is made. Not thread-safe: one workspace serves one call at a
    time (one layer's forward or backward).
    """
    if workspace is None:
        return np.empty(shape, dtype)
    buf = workspace.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = workspace[key] = np.empty(shape, dtype)
    return buf


def bias_arguments(bias, C_out, dtype):
    """``(bias, use_bias)`` as the chunk kernels take them: zeros stand in for a missing bias."""
    if bias is None:
        return np.zeros(C_out, dtype), False
    return np.ascontiguousarray(bias, dtype=dtype), True


def compute_dtype(x, kernel):
    """The dtype a convolution computes in: NumPy's result type, at least float32 (the chunk
    kernels' BLAS products take float32 and float64)."""
    return np.promote_types(np.result_type(x, kernel), np.float32)


class ChunkPlan:
    """How one convolution is cut into chunks, and the per-chunk steps shared by every entry point.

    Args:
        x_shape, kernel_shape: the input's and the kernel's shapes.
        strides, padding, dilation: as in ``conv2d_forward``.
        workspace: the caller's dict of scratch buffers (see ``scratch``), or None.
    """

    def __init__(self, x_shape, kernel_shape, strides, padding, dilation, workspace):
        self.KH, self.KW, self.C_in, self.C_out = kernel_shape
        self.H, self.W = x_shape[1:3]
        self.H_out, self.W_out, self.pt, pb, self.pl, pr = conv2d_geometry(
            x_shape, kernel_shape, strides, padding, dilation
        )
        # shifted products instead of im2col (see SHIFTED_MIN_CHANNELS)
        self.shifted = (
            tuple(strides) == (1, 1)
            and tuple(dilation) == (1, 1)
            and (self.pt, pb, self.pl, pr) == (0, 0, 0, 0)
            and self.C_in >= SHIFTED_MIN_CHANNELS
            and self.C_out <= SHIFTED_MAX_FILTERS
            and self.H * self.W <= SHIFTED_MAX_WASTE * self.H_out * self.W_out
        )
        self.strides, self.dilation, self.workspace = strides, dilation, workspace
        self.K_rows = self.KH * self.KW * self.C_in  # im2col columns = rows of the kernel matrix
        pixels = self.H_out * self.W_out  # output pixels per image
        self.chunks = batch_chunks(x_shape[0], pixels * (self.K_rows + self.C_out))
        self.max_rows = (self.chunks[0][1] - self.chunks[0][0]) * pixels
        self.filling_kept = False  # True in a training forward pass that keeps its im2col
        self._taps_t = None  # the transposed taps of a shifted backward pass, made on first use

    # A first layer's im2col matrix is narrow (3x3 kernel, one channel: 9 columns), so a
    # training forward pass keeps it for backward instead of backward building it again.
    KEEP_COLS_MAX_WIDTH = 16

    def keep_cols(self, x):
        """In a training forward pass: keep the batch's im2col for the backward pass on ``x``.

        The matrix is stored in the workspace with ``x`` itself; backward uses it only when it
        is called with that very array (the layer's cached input).
        """
        if self.workspace is None or self.shifted or self.K_rows > self.KEEP_COLS_MAX_WIDTH:
            return
        rows = x.shape[0] * self.H_out * self.W_out
        scratch(self.workspace, "kept_cols", (rows, self.K_rows), x.dtype)  # made or reused
        self.workspace["kept_cols_of"] = x
        self.filling_kept = True

    def _kept_cols(self, x):
        """The whole batch's kept im2col if it was made from ``x``, else None."""
        if self.workspace is None or self.workspace.get("kept_cols_of") is not x:
            return None
        return self.workspace["kept_cols"]

    def rows(self, c):
        """The number of im2col rows (output pixels) of chunk ``c``."""
        start, stop = self.chunks[c]
        return (stop - start) * self.H_out * self.W_out

    def scratch(self, name, worker, columns, dtype):
        """The worker's (rows, columns) scratch matrix ``name``, sized for the largest chunk."""
        return scratch(self.workspace, (name, worker), (self.max_rows, columns), dtype)

    def ones(self, dtype):
        """A vector of max_rows ones, kept in the workspace (it is only ever read)."""
        key = ("ones", dtype.str)
        ones = None if self.workspace is None else self.workspace.get(key)
        if ones is None or ones.shape[0] < self.max_rows:
            ones = np.ones(self.max_rows, dtype=dtype)
            if self.workspace is not None:
                self.workspace[key] = ones
        return ones

    def cols_for(self, x, c, worker, reuse_kept=False):
        """``(cols, fill)``: where chunk ``c``'s im2col goes, and whether it must be built.

        Built in the worker's scratch buffer, or in the batch's kept matrix (after
        ``keep_cols``). With ``reuse_kept`` (backward), a matrix the forward pass kept for this
        very ``x`` is used as it is.
        """
        if self.shifted:  # no im2col at all
            return np.empty((0, self.K_rows), x.dtype), False
        start, stop = self.chunks[c]
        rows = slice(start * self.H_out * self.W_out, stop * self.H_out * self.W_out)
        kept = self._kept_cols(x)
        if kept is not None and reuse_kept:
            return kept[rows], False
        if kept is not None and self.filling_kept:
            return kept[rows], True
        return self.scratch("cols", worker, self.K_rows, x.dtype)[: self.rows(c)], True

    def wide(self, name, worker, dtype):
        """The worker's scratch matrix ``name`` (images * H * W, C_out) for the shifted products'
        wide output, or a (0, C_out) array when this convolution uses im2col."""
        if not self.shifted:
            return np.empty((0, self.C_out), dtype)
        images = self.chunks[0][1] - self.chunks[0][0]
        return scratch(
            self.workspace, (name, worker), (images * self.H * self.W, self.C_out), dtype
        )

    def transposed_taps(self, kernel, dtype):
        """The kernel as (KH*KW, C_out, C_in): each tap's matrix transposed, made once per plan
        (a backward pass) and shared by its chunks."""
        if self._taps_t is None:
            taps = kernel.reshape(self.KH * self.KW, self.C_in, self.C_out)
            self._taps_t = np.ascontiguousarray(taps.transpose(0, 2, 1), dtype=dtype)
        return self._taps_t

    def geometry(self):
        """The im2col kernels' geometry arguments, in their order."""
        return (
            self.KH, self.KW, *self.strides, *self.dilation, self.pt, self.pl, self.H_out,
            self.W_out,
        )  # fmt: skip

    def im2col_args(self, x, c, worker):
        """The arguments a chunk kernel starts with: chunk c's images, whether its im2col must
        be built, the geometry, and the matrix the im2col goes in (see ``cols_for``)."""
        start, stop = self.chunks[c]
        cols, fill = self.cols_for(x, c, worker)  # (rows, KH*KW*C_in)
        images = np.ascontiguousarray(x[start:stop]) if self.shifted else x[start:stop]
        return (images, fill, *self.geometry(), cols)

    def forward(self, x, kernel, c, worker, bias_args, activation, z_part, y_part):
        """Chunk c's z_part = conv(x) + bias and y_part = activation(z_part), in one call.

        ``bias_args`` is ``bias_arguments(bias, ...)`` and ``activation`` a code of
        ``scratchnet.ops.elementwise``.
        Shapes: z_part, y_part (rows(c), C_out); y_part may be z_part.
        """
        conv_chunk_kernel(
            *self.im2col_args(x, c, worker), kernel.reshape(self.K_rows, self.C_out),
            self.wide("wide", worker, x.dtype), *bias_args, activation, z_part, y_part,
        )  # fmt: skip

    def backward(self, x, kernel, c, worker, dz, need_dx, dx, dkernel_terms, dbias_terms):
        """Chunk c's share of the gradients, from its dL/dz (rows(c), C_out).

        Writes dkernel_terms[c] (KH*KW*C_in, C_out), dbias_terms[c] (C_out,) and, if need_dx,
        the chunk's images of dx. The im2col matrix is rebuilt (cheaper than storing the
        batch's) unless the forward pass kept it.
        """
        start, stop = self.chunks[c]
        ones = self.ones(dz.dtype)[: dz.shape[0]]
        dz = np.ascontiguousarray(dz)
        if self.shifted:
            taps_t = self.transposed_taps(kernel, dz.dtype)
            shifted_backward_kernel(
                np.ascontiguousarray(x[start:stop], dtype=dz.dtype), dz, ones, taps_t, self.KW,
                self.H_out, self.W_out, need_dx, self.wide("dz_wide", worker, dz.dtype),
                dkernel_terms[c].reshape(self.KH * self.KW, self.C_in, self.C_out),
                dbias_terms[c], dx[start:stop] if need_dx else np.empty((0, 0, 0, 0), dz.dtype),
            )  # fmt: skip
            return
        cols, fill = self.cols_for(x, c, worker, reuse_kept=True)
        if not fill and not need_dx:
            # A first layer with its kept im2col: two thin products of tens of microseconds.
            # Called from numba, they take Python's lock back once, not twice (measured:
            # convnet's first layer backward 2.9 -> 1.2 ms on two threads).
            first_layer_backward_kernel(cols, dz, ones, dkernel_terms[c], dbias_terms[c])
            return
        if fill:
            im2col_kernel(x[start:stop], *self.geometry(), cols)
        np.matmul(cols.T, dz, out=dkernel_terms[c])
        dcols = self.scratch("dcols", worker, self.K_rows, dz.dtype)[: dz.shape[0]]
        kernel_t = kernel.reshape(self.K_rows, self.C_out).T  # (C_out, KH*KW*C_in), a view
        input_grad_chunk_kernel(
            dz, ones, kernel_t, need_dx, dcols, *self.geometry(), dbias_terms[c],
            dx[start:stop] if need_dx else np.empty((0, 0, 0, 0), dz.dtype),  # dx: not written
        )  # fmt: skip

    def run_backward(self, x, kernel, dz_of_chunk, need_dx, dtype):
        """All chunks' backward on all cores; ``dz_of_chunk(worker, c)`` gives each chunk's dz.

        Returns ``(dx or None, dkernel, dbias)``. The per-chunk dkernel and dbias terms are added
        in chunk order, so the result does not depend on which thread ran which chunk.
        """
        n = len(self.chunks)
        dkernel_terms = np.empty((n, self.K_rows, self.C_out), dtype=dtype)
        dbias_terms = np.empty((n, self.C_out), dtype=dtype)
        dx = np.empty(x.shape, dtype=dtype) if need_dx else None  # (N, H, W, C_in)

        def one_chunk(worker, c):
            dz = dz_of_chunk(worker, c)  # (rows, C_out)
            self.backward(x, kernel, c, worker, dz, need_dx, dx, dkernel_terms, dbias_terms)

        parallel.parallel_for(n, one_chunk)
        dkernel = dkernel_terms.sum(axis=0).reshape(self.KH, self.KW, self.C_in, self.C_out)
        return dx, dkernel, dbias_terms.sum(axis=0)


# ----------------------------------------------------------------------------- public entry points


def conv2d_forward(
    x,
    kernel,
    bias=None,
    strides=(1, 1),
    padding="valid",
    dilation=(1, 1),
    activation=None,
    keep_z=False,
    workspace=None,
    keep_cols=False,
):
    """Conv2D's output y = activation(conv(x, kernel) + bias), and optionally z = conv + bias.

    Args:
        x: input images, channels last.
        kernel: filters in Keras's layout.
        bias: one value per filter, or None.
        strides: ``(sh, sw)``.
        padding: 'valid' or 'same' (TensorFlow's split: the odd pixel goes bottom/right).
        dilation: ``(dh, dw)``; spacing between kernel taps.
        activation: an object from ``scratchnet.activations``, or None for none.
        keep_z: also return the pre-activation z (a separate array from y). Otherwise the
            activation overwrites z and only y exists.
        workspace: optional dict in which each worker thread keeps its im2col scratch matrix
            between calls (see ``scratch``).
        keep_cols: a training pass: keep a narrow im2col matrix in ``workspace`` for
            ``conv2d_backward`` on this same ``x`` (``ChunkPlan.keep_cols``).

    Returns:
        ``(y, z)``; z is None unless ``keep_z``. The backward pass needs only x and y.

    Shapes:
        x (N, H, W, C_in), kernel (KH, KW, C_in, C_out), bias (C_out,)
        -> y, z (N, H_out, W_out, C_out)

    Math:
        z[n, i, j, f] = bias[f]
                        + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]
        numba path, per chunk of images (one chunk per core at a time, see
        ``scratchnet.ops.parallel``):
            cols = im2col(x[chunk])          (rows, KH*KW*C_in), rows = images * H_out * W_out
            z[chunk] = cols @ kernel.reshape(KH*KW*C_in, C_out) + bias
            y[chunk] = activation(z[chunk])  while the chunk is still in the core's cache

    Example:
        >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
        >>> y, _ = conv2d_forward(x, np.ones((2, 2, 1, 1)), strides=(2, 2))
        >>> y[0, :, :, 0]  # each output sums one 2x2 block
        array([[10., 18.],
               [42., 50.]])
    """
    N = x.shape[0]
    C_out = kernel.shape[3]
    H_out, W_out = conv2d_geometry(x.shape, kernel.shape, strides, padding, dilation)[:2]
    if jit.kernels() == "numpy":
        z = conv2d_forward_reference(x, kernel, strides, padding, dilation)
        if bias is not None:
            z += bias
        y = z if activation is None else activation.forward(z, out=None if keep_z else z)
        return y, (z if keep_z else None)

    dtype = compute_dtype(x, kernel)
    x, kernel = x.astype(dtype, copy=False), kernel.astype(dtype, copy=False)
    z = np.empty((N, H_out, W_out, C_out), dtype=dtype)  # filled chunk by chunk
    y = np.empty_like(z) if keep_z and activation is not None else z
    bias_args = bias_arguments(bias, C_out, dtype)
    code = elementwise.code(activation)
    plan = ChunkPlan(x.shape, kernel.shape, strides, padding, dilation, workspace)
    if keep_cols:
        plan.keep_cols(x)

    def one_chunk(worker, c):
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
    dy,
    x,
    y,
    kernel,
    strides=(1, 1),
    padding="valid",
    dilation=(1, 1),
    activation=None,
    need_dx=True,
    workspace=None,
):
    """Gradients of ``conv2d_forward``: dL/dx, dL/dkernel and dL/dbias from dL/dy.

    Args:
        dy: dL/dy, the gradient of the forward output (not modified).
        x: the forward input.
        y: the forward output (the activation's backward reads it; unused without activation).
        kernel: the filters used in the forward pass.
        strides, padding, dilation: as in the forward pass.
        activation: the activation to backpropagate through, or None when ``dy`` already is
            dL/dz (no activation, or a cross-entropy loss fused with softmax/sigmoid).
        need_dx: False skips dx (the first layer: nobody needs dL/d(image)) and returns None.
        workspace: optional dict for reusing the scratch matrices (see ``scratch``).

    Returns:
        ``(dx, dkernel, dbias)``.

    Shapes:
        dy, y (N, H_out, W_out, C_out), x (N, H, W, C_in) -> dx (N, H, W, C_in),
        dkernel (KH, KW, C_in, C_out), dbias (C_out,)

    Math (z = cols @ K + bias with K = kernel as a (KH*KW*C_in, C_out) matrix):
        dz      = activation'(dy)                      (the chain rule through the activation)
        dkernel = cols^T @ dz                           summed over chunks
        dbias   = sum of dz over n, i, j   (as ones^T @ dz)
        dcols   = dz @ K^T,   dx = col2im(dcols)     (the adjoint of im2col)
        The numba path rebuilds each chunk's im2col matrix instead of keeping the whole batch's
        from the forward pass: rebuilding a chunk in cache is cheaper than storing tens of MB and
        reading them back from memory. Each chunk writes its own dkernel and dbias terms, which
        are added in chunk order at the end, so the result does not depend on thread timing.
    """
    C_out = kernel.shape[3]
    if jit.kernels() == "numpy":
        dz = dy if activation is None else activation.backward(dy, y)  # (N, H_out, W_out, C_out)
        dx, dkernel, dbias = conv2d_backward_reference(dz, x, kernel, strides, padding, dilation)
        return (dx if need_dx else None), dkernel, dbias

    dtype = compute_dtype(x, kernel)
    x, kernel = x.astype(dtype, copy=False), kernel.astype(dtype, copy=False)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    code = elementwise.code(activation)
    plan = ChunkPlan(x.shape, kernel.shape, strides, padding, dilation, workspace)

    def dz_of_chunk(worker, c):
        start, stop = plan.chunks[c]
        rows = (plan.rows(c), C_out)
        dy_part = dy[start:stop].reshape(rows)  # (rows, C_out)
        if code == elementwise.LINEAR:
            return dy_part
        y_part = np.ascontiguousarray(y[start:stop], dtype=dtype).reshape(rows)
        if code == elementwise.OTHER:
            return activation.backward(dy_part, y_part)
        dz = plan.scratch("dz", worker, C_out, dtype)[: rows[0]]
        elementwise.activation_backward_kernel(dy_part, y_part, code, dz)
        return dz

    return plan.run_backward(x, kernel, dz_of_chunk, need_dx, dtype)

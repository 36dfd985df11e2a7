"""Chunk planning: how a convolution is cut into chunks of images, and each chunk's work.

The numba path works on chunks of a few images, one chunk per core at a time, so each chunk's
im2col matrix stays in the core's cache from the moment it is written to the moment the product
reads it (``scratchnet.kernels.parallel`` explains why). ``ChunkPlan`` decides the chunks and the
algorithm once per call (``shifted.use_shifted``), and gives each chunk its scratch buffers;
the chunk kernels below do a chunk's whole forward in one call and its backward in two, without
stopping in Python between the steps (each stop gave up Python's lock and had to take it back,
often from the other chunk thread).
"""

import numpy as np

from .. import parallel
from ..blas import gemm
from ..elementwise import LINEAR, OTHER, activation_backward_kernel, bias_activation_kernel
from ..jit import njit
from . import shifted
from .im2col import col2im_kernel, first_layer_backward_kernel, im2col_kernel
from .reference import conv2d_geometry
from .shifted import shifted_backward_kernel, shifted_conv_kernel
from .winograd import Winograd, kernel_transform_adjoint, use_winograd

# ----------------------------------------------------------------------------- chunk kernels


@njit
def chunk_product_kernel(
    x, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kernel, wide, z
):
    """z = conv(x) without bias for one chunk: shifted products if ``wide`` is an array (their
    scratch), else (``wide`` is None) im2col (unless ``fill`` is False: cols already holds it)
    and one product.

    Shapes: kernel (KH*KW*C_in, C_out), cols (rows, KH*KW*C_in) (unused when shifted),
    wide (n*H*W, C_out) or None, z (rows, C_out) with rows = n * H_out * W_out.

    ``wide`` is None rather than a flag because numba drops a branch on an argument that is
    None when it compiles: an im2col convolution's kernels are compiled without the shifted
    products' code, a shorter first step (measured: docs/kernels/conv.md#measured-compile-time).
    """
    if wide is not None:
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
    wide (n*H*W, C_out) or None (im2col), z and y (rows, C_out) with rows = n * H_out * W_out.

    The convolution is ``chunk_product_kernel``'s; ``activation`` is a code of
    ``scratchnet.kernels.elementwise`` (OTHER: bias only, the caller applies it). One call instead
    of five or six: each NumPy call in between gave up Python's lock and had to take it back,
    often from the other chunk thread (docs/kernels/conv.md#measured-chunk-kernels).
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

    Math: dbias = ones^T dz (a BLAS product, not a loop); dcols = dz @ K^T and
    dx = col2im(dcols). (dkernel = cols^T dz stays a NumPy product, outside: numba's np.dot ran
    that transposed product slower; docs/kernels/conv.md#measured-chunk-kernels.)
    """
    np.dot(ones, dz, dbias)
    if need_dx:
        np.dot(dz, kernel_t, dcols)
        col2im_kernel(dcols, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, dx)


@njit
def forward_chunks_kernel(
    x, first, last, per, fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kept, kernel,
    wide, bias, use_bias, activation, z, y,
):  # fmt: skip
    """Chunks ``first`` to ``last - 1`` of the forward pass, one after another, in one call.

    Chunk c holds images ``c*per`` to ``(c+1)*per - 1``; each runs ``conv_chunk_kernel``, so the
    numbers are the per-chunk calls' bit for bit. One call for several chunks: between chunks
    the thread stays in machine code instead of coming back to Python and queueing for its lock
    (measured: docs/kernels/conv.md#measured-groups-of-chunks).

    Shapes: x (N, H, W, C_in); cols (max rows, KH*KW*C_in) the worker's scratch, or kept
    (N*H_out*W_out, KH*KW*C_in) the batch's kept im2col (``(0, K)`` when there is none);
    z, y (N*H_out*W_out, C_out) (y may be z).
    """
    N, P = x.shape[0], H_out * W_out
    for c in range(first, last):
        start, stop = c * per, min(c * per + per, N)
        r0, r1 = start * P, stop * P  # the chunk's rows of z, y (and of kept)
        m = kept[r0:r1] if kept.shape[0] > 0 else cols[: r1 - r0]
        conv_chunk_kernel(
            x[start:stop], fill, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, m, kernel, wide,
            bias, use_bias, activation, z[r0:r1], y[r0:r1],
        )  # fmt: skip


@njit
def backward_chunks_kernel(
    x, first, last, per, KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, cols, kept, dy, y,
    activation, dz_buf, ones, kernel_t, taps_t, wide, need_dx, dcols, dkernel_terms, dbias_terms,
    dx,
):  # fmt: skip
    """Chunks ``first`` to ``last - 1`` of the backward pass, one after another, in one call.

    For each chunk c (images ``c*per`` to ``(c+1)*per - 1``):

        dz = activation'(dy)       (activation_backward_kernel; linear: dz is dy itself)
        shifted (wide is not None): shifted_backward_kernel (dkernel, dbias and dx by shifted
        products), or
        cols = im2col(x[chunk])     (unless the forward pass kept the batch's: ``kept``)
        dkernel_terms[c] = cols^T @ dz,  dbias_terms[c] = ones^T @ dz
        dx[chunk] = col2im(dz @ K^T)                    (if need_dx)

    the same steps and the same BLAS products as ``ChunkPlan.backward`` chunk by chunk.

    Shapes: dy, y (N*H_out*W_out, C_out); dz_buf, the worker's (max rows, C_out) scratch;
    kernel_t (C_out, KH*KW*C_in), or taps_t (KH*KW, C_out, C_in) and wide (images*H*W, C_out)
    when shifted (wide is None for im2col, see ``chunk_product_kernel``); dcols as cols;
    dkernel_terms (chunks, KH*KW*C_in, C_out); dbias_terms (chunks, C_out); dx (N, H, W, C_in),
    or (0, 0, 0, 0) when not need_dx.
    """
    N, P = x.shape[0], H_out * W_out
    for c in range(first, last):
        start, stop = c * per, min(c * per + per, N)
        r0, r1 = start * P, stop * P
        rows = r1 - r0
        dz = dy[r0:r1]
        if activation != LINEAR:
            dz = dz_buf[:rows]
            activation_backward_kernel(dy[r0:r1], y[r0:r1], activation, dz)
        if wide is not None:  # shifted products
            dtaps = dkernel_terms[c].reshape(KH * KW, x.shape[3], dz.shape[1])
            shifted_backward_kernel(
                x[start:stop], dz, ones[:rows], taps_t, KW, H_out, W_out, need_dx, wide, dtaps,
                dbias_terms[c], dx[start:stop],
            )  # fmt: skip
            continue
        if kept.shape[0] > 0:
            m = kept[r0:r1]
        else:
            m = cols[:rows]
            im2col_kernel(x[start:stop], KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, m)
        gemm(m, dz, dkernel_terms[c], 0.0, True, False)  # cols^T @ dz, BLAS transposing
        np.dot(ones[:rows], dz, dbias_terms[c])
        if need_dx:
            np.dot(dz, kernel_t, dcols[:rows])
            col2im_kernel(
                dcols[:rows], KH, KW, sh, sw, dh, dw, pt, pl, H_out, W_out, dx[start:stop]
            )


# ----------------------------------------------------------------------------- chunking

# im2col + output values per chunk: 640 KB, inside a core's 1 MB L2 cache next to the
# scratch buffers (measured: docs/kernels/conv.md#measured-chunk-size).
CHUNK_FLOATS = 512 * (288 + 32)


# A Winograd convolution's chunks hold this many times more: its steps are NumPy calls, chunk by
# chunk, and fewer bigger chunks measured faster than cache-sized ones (seminar's and the
# convnet's training steps 0.91 and 0.85 of im2col's with 4, 0.96 and 1.21 with 1; 16 left the
# cores too few chunks to share: docs/kernels/conv.md#measured-winograd).
WINOGRAD_CHUNK_SCALE = 4


def batch_chunks(N, floats_per_image):
    """Split N images into ``(start, stop)`` ranges of about ``CHUNK_FLOATS`` working values.

    ``floats_per_image`` is what one image needs while its chunk is processed: its im2col rows
    and its outputs, H_out * W_out * (KH*KW*C_in + C_out). A first layer (KH*KW*C_in = 9) thus
    gets many more images per chunk than a deep one (288), and fewer chunks mean less Python work.
    But a batch is cut into at least ``parallel.CUT_PIECES`` chunks when it allows, so that
    both cores work: counted so, not by the threads in use, so that the chunks, and the
    numbers, are the same whatever the thread count.
    No more chunks than that: each costs a few handovers of Python's lock between the threads
    (measured: docs/kernels/conv.md#measured-chunk-size).

    Example:
        >>> batch_chunks(10, 40_000)  # 4 images per chunk
        [(0, 4), (4, 8), (8, 10)]
    """
    per_chunk = max(1, CHUNK_FLOATS // floats_per_image)
    per_chunk = min(per_chunk, -(-N // parallel.CUT_PIECES))  # ceil(N / pieces)
    return [(start, min(start + per_chunk, N)) for start in range(0, N, per_chunk)]


def scratch(workspace, key, shape, dtype):
    """An array of ``shape`` to overwrite, reused from ``workspace`` (a dict the caller keeps).

    A fresh multi-MB array each step costs a page fault per 4 KB page, so a layer keeps its
    scratch matrices and passes them back in (docs/kernels/conv.md#measured-scratch-buffers).
    With ``workspace=None`` a new array is made. One workspace serves one call at a time (one
    layer's forward or backward): a layer lends its workspaces out through ``Workspaces``.
    """
    if workspace is None:
        return np.empty(shape, dtype)
    buf = workspace.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = workspace[key] = np.empty(shape, dtype)
    return buf


class Workspaces:
    """A layer's workspaces (dicts for ``scratch``), lent to one call at a time.

    Two threads calling one layer at once (a web server's) must not write into the same scratch
    matrices, so each call takes a workspace from the pool and gives it back when it is done; a
    call that finds the pool empty starts a new, empty one (so the pool holds as many as were
    ever in use at once). On one thread the same workspace comes back every call, its buffers
    reused as before.

    Example:
        >>> pool = Workspaces()
        >>> workspace = pool.take()
        >>> pool.give_back(workspace)
        >>> pool.take() is workspace
        True
    """

    def __init__(self):
        self._free = []  # workspaces no call is using (list.pop and append are atomic)

    def take(self):
        try:
            return self._free.pop()
        except IndexError:
            return {}

    def give_back(self, workspace):
        self._free.append(workspace)


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
        # the algorithm: shifted products (shifted.use_shifted), Winograd's F(2x2, 3x3)
        # (winograd.use_winograd), or im2col and one product
        self.shifted = shifted.use_shifted(
            self.H, self.W, self.C_in, self.C_out, self.H_out, self.W_out, strides, dilation,
            (self.pt, pb, self.pl, pr),
        )  # fmt: skip
        self.winograd = not self.shifted and use_winograd(
            kernel_shape, strides, dilation, self.H_out, self.W_out
        )
        self.strides, self.dilation, self.workspace = strides, dilation, workspace
        self.K_rows = self.KH * self.KW * self.C_in  # im2col columns = rows of the kernel matrix
        pixels = self.H_out * self.W_out  # output pixels per image
        if self.winograd:  # per image: its transformed input and product, 16 values per tile
            tiles = -(-self.H_out // 2) * -(-self.W_out // 2)
            floats_per_image = 16 * tiles * (self.C_in + self.C_out) // WINOGRAD_CHUNK_SCALE
        else:  # its im2col rows and outputs
            floats_per_image = pixels * (self.K_rows + self.C_out)
        self.chunks = batch_chunks(x_shape[0], floats_per_image)
        self.max_rows = (self.chunks[0][1] - self.chunks[0][0]) * pixels
        self.filling_kept = False  # True in a training forward pass that keeps its im2col
        self._taps_t = None  # the transposed taps of a shifted backward pass, made on first use
        self._winograd = None  # the Winograd steps (with the kernel's transform), on first use

    # A first layer's im2col matrix is narrow (3x3 kernel, one channel: 9 columns), so a
    # training forward pass keeps it for backward instead of backward building it again
    # (measured: docs/kernels/conv.md#measured-kept-im2col-of-first-layers).
    KEEP_COLS_MAX_WIDTH = 16

    def keep_cols(self, x):
        """In a training forward pass: keep the batch's im2col for the backward pass on ``x``.

        The matrix is stored in the workspace with ``x`` itself; backward uses it only when it
        is called with that very array (the layer's cached input).
        """
        narrow = self.K_rows <= self.KEEP_COLS_MAX_WIDTH
        if self.workspace is None or self.shifted or self.winograd or not narrow:
            return  # nothing to keep: no im2col, or a wide one
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

    def buffer(self, name, worker, shape, dtype):
        """The worker's scratch array ``name`` of any ``shape`` (the Winograd steps')."""
        return scratch(self.workspace, (name, worker), shape, dtype)

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
        wide output, or None when this convolution uses im2col (``chunk_product_kernel``)."""
        if not self.shifted:
            return None
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
        ``scratchnet.kernels.elementwise``.
        Shapes: z_part, y_part (rows(c), C_out); y_part may be z_part.
        """
        if self.winograd:
            self.winograd_steps(kernel, x.dtype).forward(x, c, worker, z_part)
            bias_activation_kernel(z_part, *bias_args, activation, y_part)
            return
        conv_chunk_kernel(
            *self.im2col_args(x, c, worker), kernel.reshape(self.K_rows, self.C_out),
            self.wide("wide", worker, x.dtype), *bias_args, activation, z_part, y_part,
        )  # fmt: skip

    def backward(self, x, kernel, c, worker, dz, need_dx, dx, dkernel_terms, dbias_terms):
        """Chunk c's share of the gradients, from its dL/dz (rows(c), C_out).

        Writes dkernel_terms[c] (KH*KW*C_in, C_out; Winograd: dU, (16, C_in, C_out)),
        dbias_terms[c] (C_out,) and, if need_dx, the chunk's images of dx. The im2col matrix is
        rebuilt (cheaper than storing the batch's) unless the forward pass kept it.
        """
        start, stop = self.chunks[c]
        dz = np.ascontiguousarray(dz)
        if self.winograd:  # dkernel_terms (chunks, 16, C_in, C_out): see run_backward
            steps = self.winograd_steps(kernel, dz.dtype)
            steps.backward(x, c, worker, dz, need_dx, dx, dkernel_terms, dbias_terms)
            return
        ones = self.ones(dz.dtype)[: dz.shape[0]]
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
            # A first layer with its kept im2col: two thin products in one numba call, which
            # takes Python's lock back once, not twice (measured:
            # docs/kernels/conv.md#measured-the-first-layer-backward-kernel).
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

    def winograd_steps(self, kernel, dtype):
        """The ``winograd.Winograd`` steps of this call, made on first use (the kernel's
        transform). Two threads asking at once may each make one: the same numbers either way."""
        if self._winograd is None:
            self._winograd = Winograd(self, kernel, dtype)
        return self._winograd

    def in_groups(self, code):
        """True if whole groups of chunks run in one numba call each: an activation the chunk
        kernels compute themselves (linear, relu, sigmoid), and not Winograd (whose products
        are NumPy's, chunk by chunk)."""
        return code != OTHER and not self.winograd

    def groups(self):
        """``(first, last)`` ranges of chunk numbers, one numba call each (forward_chunks_kernel,
        backward_chunks_kernel): ``parallel.groups``, about 4 per thread."""
        return parallel.groups(len(self.chunks))

    def kept_cols_to_fill(self, x):
        """In a training forward pass that keeps its im2col (``keep_cols``): the batch's matrix
        to fill; otherwise an empty (0, KH*KW*C_in) one (what the group kernels take as none)."""
        kept = self._kept_cols(x) if self.filling_kept else None
        return np.empty((0, self.K_rows), x.dtype) if kept is None else kept

    def images_per_chunk(self):
        """Every chunk but the last holds this many images (``batch_chunks``)."""
        return self.chunks[0][1] - self.chunks[0][0]

    def run_forward_groups(self, x, kernel, bias_args, activation, z, y):
        """Every chunk's forward (``forward``'s steps), one numba call per group of chunks.

        ``activation`` is a code of ``scratchnet.kernels.elementwise`` other than OTHER.
        Shapes: z, y (N, H_out, W_out, C_out), filled in place (y may be z).
        """
        groups, dtype = self.groups(), x.dtype
        kept = self.kept_cols_to_fill(x)  # (0, K) when there is none
        kernel_matrix = kernel.reshape(self.K_rows, self.C_out)
        z_rows, y_rows = z.reshape(-1, self.C_out), y.reshape(-1, self.C_out)

        def one_group(worker, g):
            first, last = groups[g]
            own = self.shifted or kept.shape[0] > 0  # nothing to fill in the worker's scratch
            cols = kept[:0] if own else self.scratch("cols", worker, self.K_rows, dtype)
            forward_chunks_kernel(
                x, first, last, self.images_per_chunk(), not self.shifted,
                *self.geometry(), cols, kept, kernel_matrix, self.wide("wide", worker, dtype),
                *bias_args, activation, z_rows, y_rows,
            )  # fmt: skip

        parallel.parallel_for(len(groups), one_group)

    def run_backward_groups(self, x, kernel, dy, y, activation, need_dx, dtype):
        """All chunks' backward (``backward``'s steps), one numba call per group of chunks.

        dz = activation'(dy) is computed inside (``backward_chunks_kernel``), chunk by chunk;
        ``activation`` is LINEAR (dy is dz), RELU or SIGMOID, and y the forward output.
        Returns ``(dx or None, dkernel, dbias)``, as ``run_backward``.
        """
        n, groups = len(self.chunks), self.groups()
        dkernel_terms = np.empty((n, self.K_rows, self.C_out), dtype=dtype)
        dbias_terms = np.empty((n, self.C_out), dtype=dtype)
        dx = np.empty(x.shape, dtype=dtype) if need_dx else None  # (N, H, W, C_in)
        kept = self._kept_cols(x)
        no_matrix = np.empty((0, self.K_rows), dtype)
        kernel_t = kernel.reshape(self.K_rows, self.C_out).T  # (C_out, KH*KW*C_in), a view
        no_taps = np.empty((0, self.C_out, self.C_in), dtype)
        taps_t = self.transposed_taps(kernel, dtype) if self.shifted else no_taps
        dy_rows = dy.reshape(-1, self.C_out)
        y_rows = dy_rows if activation == LINEAR else y.reshape(-1, self.C_out)
        ones = self.ones(dtype)

        def one_group(worker, g):
            first, last = groups[g]
            scratch = self.scratch  # the worker's own matrices, (max rows, columns)
            own = kept is not None or self.shifted  # no im2col to build in the scratch
            cols = no_matrix if own else scratch("cols", worker, self.K_rows, dtype)
            no_dcols = self.shifted or not need_dx  # col2im's input, for an im2col dx only
            dcols = no_matrix if no_dcols else scratch("dcols", worker, self.K_rows, dtype)
            linear = activation == LINEAR  # dz is dy itself: no buffer
            dz_buf = dy_rows[:0] if linear else scratch("dz", worker, self.C_out, dtype)
            backward_chunks_kernel(
                x, first, last, self.images_per_chunk(), *self.geometry(), cols,
                no_matrix if kept is None else kept, dy_rows, y_rows, activation, dz_buf, ones,
                kernel_t, taps_t, self.wide("dz_wide", worker, dtype), need_dx, dcols,
                dkernel_terms, dbias_terms, dx if need_dx else np.empty((0, 0, 0, 0), dtype),
            )  # fmt: skip

        parallel.parallel_for(len(groups), one_group)
        dkernel = dkernel_terms.sum(axis=0).reshape(self.KH, self.KW, self.C_in, self.C_out)
        return dx, dkernel, dbias_terms.sum(axis=0)

    def run_backward(self, x, kernel, dz_of_chunk, need_dx, dtype):
        """All chunks' backward on all cores; ``dz_of_chunk(worker, c)`` gives each chunk's dz.

        Returns ``(dx or None, dkernel, dbias)``. The per-chunk dkernel and dbias terms are added
        in chunk order, so the result does not depend on which thread ran which chunk.
        """
        n = len(self.chunks)
        if self.winograd:  # each chunk's dU, the kernel gradient in the Winograd domain
            dkernel_terms = np.empty((n, 16, self.C_in, self.C_out), dtype=dtype)
        else:  # each chunk's cols^T @ dz
            dkernel_terms = np.empty((n, self.K_rows, self.C_out), dtype=dtype)
        dbias_terms = np.empty((n, self.C_out), dtype=dtype)
        dx = np.empty(x.shape, dtype=dtype) if need_dx else None  # (N, H, W, C_in)

        def one_chunk(worker, c):
            dz = dz_of_chunk(worker, c)  # (rows, C_out)
            self.backward(x, kernel, c, worker, dz, need_dx, dx, dkernel_terms, dbias_terms)

        parallel.parallel_for(n, one_chunk)
        if self.winograd:  # dkernel = G^T dU G
            dkernel = kernel_transform_adjoint(dkernel_terms.sum(axis=0))
            return dx, dkernel, dbias_terms.sum(axis=0)
        dkernel = dkernel_terms.sum(axis=0).reshape(self.KH, self.KW, self.C_in, self.C_out)
        return dx, dkernel, dbias_terms.sum(axis=0)

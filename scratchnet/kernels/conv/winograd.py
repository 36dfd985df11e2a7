"""Winograd's F(2x2, 3x3): a 3x3 convolution with 2.25 times fewer multiplications.

A 3x3 convolution (stride 1, no dilation) computes each 2x2 block of output pixels from the
4x4 block of input pixels under it: 4 * 9 = 36 multiplications per input channel and filter.
Winograd's minimal filtering (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2015) gets the same 2x2 block with 16 multiplications, by moving the input tile d
and the 3x3 kernel g into a "Winograd domain" where the convolution is an elementwise product:

    Y = A^T [ (G g G^T)  *  (B^T d B) ] A        (* elementwise; Y is 2x2, d is 4x4)

with the constant matrices below (``BT``, ``G``, ``AT``). With channels, the elementwise product
summed over the input channels is, for each of the 16 positions xi of the 4x4 domain, a matrix
product over all tiles at once:

    V[xi] = (B^T d B)[xi]    (tiles, C_in)      input transform, each tile and channel
    U[xi] = (G g G^T)[xi]    (C_in, C_out)      kernel transform, once per call
    M[xi] = V[xi] @ U[xi]    (tiles, C_out)     16 BLAS products: the multiplications
    z tile = A^T M A                             output transform, each tile and filter

The tiles start every 2 pixels of the (padded) input, so neighbouring 4x4 input tiles overlap;
an odd output size gets a last tile half of whose outputs are dropped.

Backward is the same three steps transposed (each step is linear, so its gradient is its
adjoint):

    dM[xi] = (A dz_tile A^T)[xi]                 output transform's adjoint
    dU[xi] = V[xi]^T @ dM[xi]   summed over chunks,   dkernel = G^T dU G
    dV[xi] = dM[xi] @ U[xi]^T,  dx tile += B dV B^T  (overlapping tiles add up)

Rounding: G's entries are 0, 1 and 1/2 and the other matrices' 0 and +-1, so every transform is
a few additions. The sums are grouped differently from im2col's product, so float32 results
differ from it in the last bits, by errors of the same size as im2col's (measured:
docs/kernels/conv.md#measured-winograd); float64 ones stay within 1e-12 of the direct
convolution (tests/test_winograd.py).

Used where it measured faster than im2col (``use_winograd``): 3x3, stride 1, no dilation, and
enough channels on both sides that the 16 products are real matrix products. The shifted
products come first where they apply (``conv.shifted.use_shifted``): measured as fast there.
"""

import numpy as np

from ..jit import njit

# The transforms of F(2x2, 3x3) (Lavin and Gray, section 4.1).
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)

WINOGRAD_MIN_CHANNELS = 16  # input channels, at least (not measured below 32: thin products)
WINOGRAD_MIN_FILTERS = 32  # output channels, at least (measured: conv.md#measured-winograd)


def use_winograd(kernel_shape, strides, dilation, H_out, W_out):
    """True if a convolution of this shape runs as Winograd's F(2x2, 3x3).

    A 3x3 kernel, stride 1, no dilation, at least ``WINOGRAD_MIN_CHANNELS`` input channels (a
    first layer's one channel would make 16 products of width 1) and ``WINOGRAD_MIN_FILTERS``
    filters (the fewer the filters, the more the transforms weigh against the products; 32
    and 64 measured faster than im2col, fewer were not measured), and an output of at least
    2x2 pixels.

    Example:
        >>> use_winograd((3, 3, 32, 64), (1, 1), (1, 1), 14, 14)
        True
        >>> use_winograd((3, 3, 1, 32), (1, 1), (1, 1), 26, 26)  # one input channel
        False
    """
    KH, KW, C_in, C_out = kernel_shape
    return (
        (KH, KW) == (3, 3)
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and C_in >= WINOGRAD_MIN_CHANNELS
        and C_out >= WINOGRAD_MIN_FILTERS
        and min(H_out, W_out) >= 2
    )


def tiles(H_out, W_out):
    """``(th, tw)``: the 2x2 output tiles down and across (the last ones may stick out)."""
    return -(-H_out // 2), -(-W_out // 2)


# ----------------------------------------------------------------------------- the kernel


def kernel_transform(kernel, dtype):
    """U = G g G^T for every (input channel, filter): (16, C_in, C_out), position xi = 4*i + j.

    Shapes: kernel (3, 3, C_in, C_out) -> (16, C_in, C_out)
    """
    g = np.asarray(kernel, dtype=dtype)
    Gd = G.astype(dtype)
    rows = np.matmul(Gd, g.reshape(3, -1)).reshape(4, 3, -1)  # (G g)[i, b]
    U = np.matmul(Gd, rows)  # U[i, j] = sum_b G[j, b] (G g)[i, b]: (4, 4, C_in*C_out)
    return U.reshape(16, *g.shape[2:])


def kernel_transform_adjoint(dU):
    """dkernel = G^T dU G, the gradient of ``kernel_transform``.

    Shapes: dU (16, C_in, C_out) -> dkernel (3, 3, C_in, C_out)
    """
    shape = dU.shape[1:]
    Gd = G.astype(dU.dtype)
    rows = np.matmul(Gd.T, dU.reshape(4, -1)).reshape(3, 4, -1)  # (G^T dU)[a, j]
    return np.matmul(Gd.T, rows).reshape(3, 3, *shape)  # [a, b] = sum_j G[j, b] (G^T dU)[a, j]


# ----------------------------------------------------------------------------- numba kernels


@njit
def pad_kernel(x, pt, pl, xp):
    """xp = x with pt rows of zeros on top, pl columns on the left and zeros after (xp is as
    big as the tiles need).

    Shapes: x (n, H, W, C) -> xp (n, Hp, Wp, C), every element written.
    """
    n, H, W, C = x.shape
    Hp, Wp = xp.shape[1], xp.shape[2]
    for m in range(n):
        for h in range(Hp):
            for w in range(Wp):
                i, j = h - pt, w - pl
                inside = 0 <= i < H and 0 <= j < W
                for c in range(C):
                    xp[m, h, w, c] = x[m, i, j, c] if inside else 0


@njit
def input_transform_kernel(xp, th, tw, V):
    """V[xi, t, c] = (B^T d B)[xi] of each 4x4 input tile d (tile t, channel c).

    Shapes: xp (n, 2*th + 2, 2*tw + 2, C) padded input -> V (16, n*th*tw, C); tile
    t = (m*th + ti)*tw + tj starts at pixel (2*ti, 2*tj) of image m.
    B^T's rows, applied to the tile's rows and then to its columns:
        (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    """
    n, C = xp.shape[0], xp.shape[3]
    u = np.empty((4, 4, C), dtype=V.dtype)  # B^T d of one tile
    for m in range(n):
        for ti in range(th):
            for tj in range(tw):
                t = (m * th + ti) * tw + tj
                h, w = 2 * ti, 2 * tj
                for b in range(4):  # B^T on each column b of the tile
                    for c in range(C):
                        d0, d1 = xp[m, h, w + b, c], xp[m, h + 1, w + b, c]
                        d2, d3 = xp[m, h + 2, w + b, c], xp[m, h + 3, w + b, c]
                        u[0, b, c] = d0 - d2
                        u[1, b, c] = d1 + d2
                        u[2, b, c] = d2 - d1
                        u[3, b, c] = d1 - d3
                for a in range(4):  # then on each row a: (B^T d) B
                    for c in range(C):
                        V[4 * a, t, c] = u[a, 0, c] - u[a, 2, c]
                        V[4 * a + 1, t, c] = u[a, 1, c] + u[a, 2, c]
                        V[4 * a + 2, t, c] = u[a, 2, c] - u[a, 1, c]
                        V[4 * a + 3, t, c] = u[a, 1, c] - u[a, 3, c]


@njit
def input_transform_adjoint_kernel(dV, th, tw, dxp):
    """dxp += B dV B^T for each tile, at the tile's place: the gradient of ``input_transform``.

    Shapes: dV (16, n*th*tw, C) -> dxp (n, 2*th + 2, 2*tw + 2, C), zeroed here first. Tiles
    overlap by 2 pixels and add up in tile order (the same order on every run).
    B's rows (B^T transposed), applied to the rows and then to the columns:
        (e0, e1 - e2 + e3, e1 + e2 - e0, -e3)
    """
    n, C = dxp.shape[0], dxp.shape[3]
    dxp[...] = 0
    e = np.empty((4, 4, C), dtype=dxp.dtype)  # B dV of one tile
    for m in range(n):
        for ti in range(th):
            for tj in range(tw):
                t = (m * th + ti) * tw + tj
                h, w = 2 * ti, 2 * tj
                for b in range(4):  # B on each column b of dV
                    for c in range(C):
                        v0, v1 = dV[b, t, c], dV[4 + b, t, c]
                        v2, v3 = dV[8 + b, t, c], dV[12 + b, t, c]
                        e[0, b, c] = v0
                        e[1, b, c] = v1 - v2 + v3
                        e[2, b, c] = v1 + v2 - v0
                        e[3, b, c] = -v3
                for a in range(4):  # then (B dV) B^T, added into the tile's pixels
                    for c in range(C):
                        e0, e1, e2, e3 = e[a, 0, c], e[a, 1, c], e[a, 2, c], e[a, 3, c]
                        dxp[m, h + a, w, c] += e0
                        dxp[m, h + a, w + 1, c] += e1 - e2 + e3
                        dxp[m, h + a, w + 2, c] += e1 + e2 - e0
                        dxp[m, h + a, w + 3, c] -= e3


@njit
def output_transform_kernel(M, th, tw, z):
    """z tile = A^T M A for each tile and filter: the 2x2 outputs, those inside z kept.

    Shapes: M (16, n*th*tw, C_out) -> z (n, H_out, W_out, C_out), every element written.
    A^T's rows, applied to the rows and then to the columns: (m0 + m1 + m2, m1 - m2 - m3).
    """
    n, H_out, W_out, K = z.shape
    s = np.empty((2, 4, K), dtype=z.dtype)  # A^T M of one tile
    for m in range(n):
        for ti in range(th):
            for tj in range(tw):
                t = (m * th + ti) * tw + tj
                h, w = 2 * ti, 2 * tj
                for b in range(4):
                    for k in range(K):
                        m0, m1 = M[b, t, k], M[4 + b, t, k]
                        m2, m3 = M[8 + b, t, k], M[12 + b, t, k]
                        s[0, b, k] = m0 + m1 + m2
                        s[1, b, k] = m1 - m2 - m3
                for a in range(2):
                    if h + a < H_out:
                        for k in range(K):
                            s0, s1, s2, s3 = s[a, 0, k], s[a, 1, k], s[a, 2, k], s[a, 3, k]
                            z[m, h + a, w, k] = s0 + s1 + s2
                            if w + 1 < W_out:
                                z[m, h + a, w + 1, k] = s1 - s2 - s3


@njit
def output_transform_adjoint_kernel(dz, th, tw, dM):
    """dM = A dY A^T for each tile's 2x2 gradient dY (zeros outside dz): the gradient of
    ``output_transform``.

    Shapes: dz (n, H_out, W_out, C_out) -> dM (16, n*th*tw, C_out), every element written.
    A's rows (A^T transposed), applied to the rows and then to the columns:
        (y0, y0 + y1, y0 - y1, -y1)
    """
    n, H_out, W_out, K = dz.shape
    q = np.empty((4, 2, K), dtype=dM.dtype)  # A dY of one tile
    for m in range(n):
        for ti in range(th):
            for tj in range(tw):
                t = (m * th + ti) * tw + tj
                h, w = 2 * ti, 2 * tj
                for j in range(2):  # A on each column j of dY
                    inside = w + j < W_out
                    for k in range(K):
                        y0 = dz[m, h, w + j, k] if inside else 0
                        y1 = dz[m, h + 1, w + j, k] if inside and h + 1 < H_out else 0
                        q[0, j, k] = y0
                        q[1, j, k] = y0 + y1
                        q[2, j, k] = y0 - y1
                        q[3, j, k] = -y1
                for a in range(4):  # then (A dY) A^T
                    for k in range(K):
                        q0, q1 = q[a, 0, k], q[a, 1, k]
                        dM[4 * a, t, k] = q0
                        dM[4 * a + 1, t, k] = q0 + q1
                        dM[4 * a + 2, t, k] = q0 - q1
                        dM[4 * a + 3, t, k] = -q1


# ----------------------------------------------------------------------------- one chunk


class Winograd:
    """One convolution call's Winograd steps, chunk by chunk, in the worker's scratch arrays.

    Args:
        plan: the call's ``ChunkPlan`` (geometry, chunks, scratch buffers).
        kernel: (3, 3, C_in, C_out); transformed once here (U).
        dtype: the compute dtype.
    """

    def __init__(self, plan, kernel, dtype):
        self.plan, self.dtype = plan, dtype
        self.th, self.tw = tiles(plan.H_out, plan.W_out)
        self.Hp, self.Wp = 2 * self.th + 2, 2 * self.tw + 2  # the padded input the tiles cover
        self.U = kernel_transform(kernel, dtype)  # (16, C_in, C_out)

    def _padded(self, worker, n):
        """The worker's (n, Hp, Wp, C_in) buffer: the padded input, or dx's padded gradient."""
        plan = self.plan
        shape = (plan.images_per_chunk(), self.Hp, self.Wp, plan.C_in)
        return plan.buffer("wino_padded", worker, shape, self.dtype)[:n]

    def _domain(self, name, worker, n, channels):
        """The worker's (16, tiles of n images, channels) Winograd-domain buffer ``name``,
        C-ordered (the start of a flat buffer sized for the largest chunk)."""
        tiles = n * self.th * self.tw
        most = 16 * self.plan.images_per_chunk() * self.th * self.tw * channels
        flat = self.plan.buffer(name, worker, (most,), self.dtype)
        return flat[: 16 * tiles * channels].reshape(16, tiles, channels)

    def transformed_input(self, x, c, worker):
        """V of chunk c's images: (16, tiles, C_in)."""
        start, stop = self.plan.chunks[c]
        xp = self._padded(worker, stop - start)
        pad_kernel(x[start:stop], self.plan.pt, self.plan.pl, xp)
        V = self._domain("wino_V", worker, stop - start, self.plan.C_in)
        input_transform_kernel(xp, self.th, self.tw, V)
        return V

    def forward(self, x, c, worker, z):
        """z = conv(x) without bias for chunk c. Shapes: z (rows(c), C_out), overwritten."""
        plan = self.plan
        start, stop = plan.chunks[c]
        V = self.transformed_input(x, c, worker)  # (16, tiles, C_in)
        M = self._domain("wino_M", worker, stop - start, plan.C_out)
        np.matmul(V, self.U, out=M)  # 16 products (tiles, C_in) @ (C_in, C_out)
        images = z.reshape(stop - start, plan.H_out, plan.W_out, plan.C_out)  # a view
        output_transform_kernel(M, self.th, self.tw, images)

    def backward(self, x, c, worker, dz, need_dx, dx, dU_terms, dbias_terms):
        """Chunk c's dU term (16, C_in, C_out), dbias term and, if need_dx, its images of dx.

        Shapes: dz (rows(c), C_out); dU_terms (chunks, 16, C_in, C_out); dx (N, H, W, C_in).
        """
        plan = self.plan
        start, stop = plan.chunks[c]
        n = stop - start
        dM = self._domain("wino_M", worker, n, plan.C_out)
        images = dz.reshape(n, plan.H_out, plan.W_out, plan.C_out)  # a view
        output_transform_adjoint_kernel(images, self.th, self.tw, dM)  # dM = A dz A^T
        V = self.transformed_input(x, c, worker)  # rebuilt, as im2col is
        np.matmul(V.transpose(0, 2, 1), dM, out=dU_terms[c])  # dU = V^T @ dM, per position
        dbias_terms[c] = dz.sum(axis=0)
        if need_dx:
            dV = self._domain("wino_V", worker, n, plan.C_in)  # V's buffer: V is done
            np.matmul(dM, self.U.transpose(0, 2, 1), out=dV)  # dV = dM @ U^T
            dxp = self._padded(worker, n)
            input_transform_adjoint_kernel(dV, self.th, self.tw, dxp)  # dxp = B dV B^T, added
            dx[start:stop] = dxp[:, plan.pt : plan.pt + plan.H, plan.pl : plan.pl + plan.W]

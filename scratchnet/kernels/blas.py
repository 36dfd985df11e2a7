"""One BLAS call for numba kernels that ``np.dot`` cannot make: a product added onto its output.

``np.dot(a, b, out)`` inside numba overwrites ``out``. The shifted convolution
(``scratchnet.kernels.conv``) sums nine products into one array, and with ``np.dot`` each would need
a scratch array and an extra pass to add it. BLAS's ``gemm`` does the sum itself:

    c = op(a) @ op(b) + beta * c        op(m) = m or m.T

``gemm`` calls it through ``numba_xxgemm``, the C helper that numba's own ``np.dot`` lowers to.
It dispatches to SciPy's ``cython_blas`` (``sgemm``/``dgemm``), the same OpenBLAS ``np.dot``
uses in numba kernels, and runs without Python's lock.
"""

import numba
import numpy as np
from numba import types
from numba.np.linalg import ensure_blas

from .jit import njit

ensure_blas()  # what numba does before its own np.dot: makes sure SciPy's BLAS is loaded

# numba_xxgemm(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) -> status,
# column-major like Fortran BLAS; kind is 's' (float32) or 'd' (float64). Declared with the same
# C types as numba's own call, so both can live in one compiled kernel.
_xxgemm = types.ExternalFunction(
    "numba_xxgemm",
    types.intc(
        types.char, types.char, types.char, types.intp, types.intp, types.intp,
        types.voidptr, types.voidptr, types.intp, types.voidptr, types.intp,
        types.voidptr, types.voidptr, types.intp,
    ),
)  # fmt: skip

_N, _T = ord("N"), ord("T")


@njit
def _rows_contiguous(m):
    """Neighbours in a row are neighbours in memory (a length-1 axis may carry any stride:
    NumPy calls such arrays contiguous whatever their stride there)."""
    return m.shape[1] <= 1 or m.strides[1] == m.itemsize


@njit
def _leading(m):
    """BLAS's leading dimension of a row-major matrix: its row stride in elements, at least the
    row length (a single row may carry any stride)."""
    if m.shape[0] <= 1:
        return max(m.shape[1], 1)
    return max(m.strides[0] // m.itemsize, 1)


@njit
def gemm(a, b, c, beta, trans_a, trans_b):
    """c = op(a) @ op(b) + beta * c, in place, for float32 or float64 matrices of one dtype.

    Args:
        a, b, c: 2-D arrays whose rows are contiguous (row slices of C-ordered arrays are fine).
        beta: 0.0 overwrites c, 1.0 adds the product onto it.
        trans_a, trans_b: use a.T / b.T instead of a / b.

    Shapes: op(a) (m, k), op(b) (k, n), c (m, n).

    Row-major arrays are the transposes of Fortran's column-major ones, so BLAS is asked for
    c.T = op(b).T @ op(a).T: b and a swap places, each with its row stride as leading dimension.
    """
    item = c.itemsize
    if a.itemsize != item or b.itemsize != item:
        raise ValueError("gemm: the three matrices need one dtype.")
    if not (_rows_contiguous(a) and _rows_contiguous(b) and _rows_contiguous(c)):
        raise ValueError("gemm: each matrix needs contiguous rows.")
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:  # BLAS rejects empty products; the sum of nothing is 0
        c *= beta
        return
    kind = ord("s") if item == 4 else ord("d")
    alpha_beta = np.array([1.0, beta], dtype=c.dtype)
    status = _xxgemm(
        kind, _T if trans_b else _N, _T if trans_a else _N, n, m, k,
        alpha_beta[0:].ctypes, b.ctypes, _leading(b), a.ctypes, _leading(a),
        alpha_beta[1:].ctypes, c.ctypes, _leading(c),
    )  # fmt: skip
    if status < 0:
        raise RuntimeError("gemm: numba found no BLAS (SciPy's cython_blas).")


if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: kernels run as Python, and so does this

    def gemm(a, b, c, beta, trans_a, trans_b):  # noqa: F811  (the same contract, in NumPy)
        product = (a.T if trans_a else a) @ (b.T if trans_b else b)
        if beta == 0:
            c[...] = product
        else:
            c += product

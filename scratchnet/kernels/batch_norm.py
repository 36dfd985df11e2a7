"""BatchNormalization's passes over the batch (``scratchnet.layers.normalization``), channels last.

The layer's math, per channel c over its M values (``layers/normalization.py`` derives it):

    mean = (1/M) sum x,   var = (1/M) sum (x - mean)^2,   inv_std = 1 / sqrt(var + epsilon)
    y = gamma * (x - mean) * inv_std + beta
    dbeta = sum dy,   dgamma = sum dy * x_hat        (x_hat = (x - mean) * inv_std)
    dx = (gamma * inv_std / M) * (M * dy - dbeta - x_hat * dgamma)

Two families, one signature (``kernels.backend``):

* the NumPy twins (``*_reference``): the formulas above with NumPy's reductions over all axes
  but the channel axis, any axis, any layout;
* the numba kernels: the input seen as a matrix ``(M, C)`` (channels last, C order), cut into
  blocks of rows that the cores share (``parallel.parallel_for``). Each block sums its rows into
  its own row of a ``(blocks, C)`` float64 buffer, added up in block order afterwards, so the
  result does not depend on which thread ran which block; float32 inputs are summed in float64.
  Each formula is one pass over memory: the statistics two (the mean, then the squared
  deviations from it, as the twin: not E[x^2] - E[x]^2, which cancels), y one, the backward
  two (both sums in one, then dx). The loops over a row run along the contiguous channel axis.

Neither family stores x_hat: backward recomputes ``x - mean`` from the forward's input inside
its passes, which costs arithmetic but not a whole array written and read back.
Measured: docs/kernels/batch_norm.md.
"""

import numpy as np

from . import parallel
from .jit import njit
from .parallel import parallel_for

BLOCK_FLOATS = 1 << 16  # values per block of rows (256 KB of float32): many blocks per core


def _axes(x, axis):
    """(reduction axes, broadcast shape) for channel axis ``axis`` (non-negative) of ``x``."""
    axes = tuple(a for a in range(x.ndim) if a != axis)
    shape = tuple(x.shape[axis] if a == axis else 1 for a in range(x.ndim))  # (1, .., C, ..)
    return axes, shape


# ================================================================================ NumPy twins


def moments_reference(x, axis, synchronized=False):
    """Per-channel batch mean and biased variance.

    Args:
        x: the batch, any rank; ``axis`` (non-negative) is the channel axis.
        synchronized: Keras's all-reduce formula, var = E[x^2] - E[x]^2 clipped at 0.

    Shapes:
        x (N, ..., C, ...) -> mean (C,), var (C,)
    """
    axes, b = _axes(x, axis)
    mean = x.mean(axis=axes)  # (C,)
    if synchronized:
        mean_of_squares = np.mean(x * x, axis=axes)  # (C,)
        return mean, np.maximum(mean_of_squares - mean * mean, 0)
    centered = x - mean.reshape(b)  # (N, ..., C)
    return mean, np.mean(centered * centered, axis=axes)  # (C,)


def _scale_and_shift(inv_std, gamma, beta):
    """(a, beta) of y = (x - mean) * a + beta: a = inv_std * gamma; zeros for a missing beta."""
    a = inv_std if gamma is None else inv_std * gamma  # (C,)
    return a, np.zeros_like(a) if beta is None else beta  # (C,), (C,)


def normalize_reference(x, axis, mean, inv_std, gamma, beta, relu=False):
    """y = gamma * (x - mean) * inv_std + beta (gamma, beta: None for scale/center off), computed
    as (x - mean) * (inv_std * gamma) + beta; then max(y, 0) if ``relu``.

    Shapes:
        x (N, ..., C, ...), mean, inv_std, gamma, beta (C,) -> y (like x)
    """
    _, b = _axes(x, axis)
    a, shift = _scale_and_shift(inv_std, gamma, beta)
    y = (x - mean.reshape(b)) * a.reshape(b) + shift.reshape(b)  # (N, ..., C)
    return np.maximum(y, 0, out=y) if relu else y


def _through_relu(dy, x, axis, mean, inv_std, relu_of):
    """dy * (z > 0) for z = the forward's gamma * x_hat + beta (``relu_of`` = (gamma, beta)), the
    backward of a ReLU fused after the normalization; ``dy`` itself when ``relu_of`` is None."""
    if relu_of is None:
        return dy
    return dy * (normalize_reference(x, axis, mean, inv_std, *relu_of) > 0)  # (N, ..., C)


def gradient_sums_reference(dy, x, axis, mean, inv_std, relu_of=None):
    """(sum dy, sum dy * x_hat) per channel: dbeta and dgamma.

    ``relu_of``: (gamma, beta) when a ReLU was fused after the normalization; ``dy`` is then
    dL/d relu(y) and goes through the ReLU's backward first.

    Shapes:
        dy, x (N, ..., C, ...), mean, inv_std (C,) -> (C,), (C,)
    """
    axes, b = _axes(x, axis)
    dy = _through_relu(dy, x, axis, mean, inv_std, relu_of)  # (N, ..., C)
    x_hat = (x - mean.reshape(b)) * inv_std.reshape(b)  # (N, ..., C)
    return dy.sum(axis=axes), (dy * x_hat).sum(axis=axes)


def batch_dx_reference(dy, x, axis, mean, inv_std, scale, sum_dy, sum_dy_x_hat, relu_of=None):
    """dx of a training call: (scale / M) * (M * dy - sum_dy - x_hat * sum_dy_x_hat).

    ``scale`` is gamma * inv_std (inv_std without gamma); ``relu_of`` as in
    ``gradient_sums_reference``.

    Shapes:
        dy, x (N, ..., C, ...), the rest (C,) -> dx (like x)
    """
    _, b = _axes(x, axis)
    dy = _through_relu(dy, x, axis, mean, inv_std, relu_of)  # (N, ..., C)
    M = x.size // x.shape[axis]  # values per channel
    x_hat = (x - mean.reshape(b)) * inv_std.reshape(b)  # (N, ..., C)
    inner = M * dy - sum_dy.reshape(b) - x_hat * sum_dy_x_hat.reshape(b)  # (N, ..., C)
    return (scale / M).reshape(b) * inner  # (N, ..., C)


# ================================================================================ numba kernels


# The sums' kernels take blocks first..last-1 of rows (block k: rows edges[k]..edges[k+1]) and
# write block k's sums into out[k]: one call for several blocks, and the same sums whichever
# thread ran which block (measured: docs/kernels/batch_norm.md#measured-groups-of-blocks).


@njit
def column_sums_kernel(x, edges, first, last, out):
    """out[k, 0, c] = sum of x[i, c] over block k's rows, in float64.
    x (M, C), edges (blocks + 1,), out (blocks, 1, C) float64."""
    C = x.shape[1]
    for k in range(first, last):
        for i in range(edges[k], edges[k + 1]):
            for c in range(C):
                out[k, 0, c] += np.float64(x[i, c])


@njit
def squared_deviations_kernel(x, mean, edges, first, last, out):
    """out[k, 0, c] = sum of (x[i, c] - mean[c])^2 over block k's rows, in float64.
    x (M, C), mean (C,), edges (blocks + 1,), out (blocks, 1, C) float64."""
    C = x.shape[1]
    for k in range(first, last):
        for i in range(edges[k], edges[k + 1]):
            for c in range(C):
                d = np.float64(x[i, c] - mean[c])
                out[k, 0, c] += d * d


@njit
def gradient_sums_kernel(dy, x, mean, a, beta, relu, edges, first, last, out):
    """out[k, 0, c] = sum g, out[k, 1, c] = sum g * (x - mean) over block k's rows, in float64,
    where g = dy, or with ``relu`` g = dy * (z > 0) for the forward's z = (x - mean) * a + beta
    (the ReLU's backward as ``NumpyKernels.relu_backward`` computes it).
    dy, x (M, C), mean, a, beta (C,), edges (blocks + 1,), out (blocks, 2, C) float64."""
    C = x.shape[1]
    for k in range(first, last):
        for i in range(edges[k], edges[k + 1]):
            for c in range(C):
                d = x[i, c] - mean[c]
                g = dy[i, c]
                if relu:  # times the mask as a bool: g keeps dy's dtype (and a NaN stays NaN)
                    g = g * (d * a[c] + beta[c] > 0)
                out[k, 0, c] += np.float64(g)
                out[k, 1, c] += np.float64(g) * np.float64(d)


@njit
def dx_kernel(dy, x, mean, p, q, r, a, beta, relu, lo, hi, out):
    """out = g * p + (x - mean) * q + r per channel, rows lo..hi, with g as in
    ``gradient_sums_kernel``. dy, x, out (M, C); mean, p, q, r, a, beta (C,); one dtype."""
    C = x.shape[1]
    for i in range(lo, hi):
        for c in range(C):
            d = x[i, c] - mean[c]
            g = dy[i, c]
            if relu:  # times the mask as a bool: g keeps dy's dtype (and a NaN stays NaN)
                g = g * (d * a[c] + beta[c] > 0)
            out[i, c] = g * p[c] + d * q[c] + r[c]


@njit
def normalize_kernel(x, mean, a, beta, relu, lo, hi, out):
    """out = (x - mean) * a + beta per channel (a = inv_std * gamma), rows lo..hi; then
    max(out, 0) if ``relu`` (NaN stays NaN, as np.maximum)."""
    C = x.shape[1]
    for i in range(lo, hi):
        for c in range(C):
            z = (x[i, c] - mean[c]) * a[c] + beta[c]
            if relu and z < 0:
                out[i, c] = 0
            else:
                out[i, c] = z


def _blocks(M, C):
    """Row edges of the blocks of an (M, C) matrix: about BLOCK_FLOATS values each."""
    rows = max(1, BLOCK_FLOATS // max(C, 1))
    return list(range(0, M, rows)) + [M]


def _summed(kernel, arrays, M, C, n_sums):
    """Run ``kernel(*arrays, edges, first, last, partial)`` on groups of blocks, on all cores;
    (n_sums, C) float64 sums, the blocks' partial sums added in block order."""
    edges = np.array(_blocks(M, C))  # (blocks + 1,)
    partial = np.zeros((len(edges) - 1, n_sums, C))  # (blocks, n_sums, C) float64
    groups = parallel.groups(len(edges) - 1)  # (first, last) block ranges

    def group(worker, g):
        kernel(*arrays, edges, *groups[g], partial)

    parallel_for(len(groups), group)
    return partial.sum(axis=0)  # (n_sums, C)


def _rowwise(kernel, arrays, out):
    """Run ``kernel(*arrays, lo, hi, out)`` on groups of blocks of rows of ``out`` (each group
    one range of rows), on all cores."""
    edges = _blocks(*out.shape)
    groups = parallel.groups(len(edges) - 1)  # (first, last) block ranges

    def group(worker, g):
        first, last = groups[g]
        kernel(*arrays, edges[first], edges[last], out)

    parallel_for(len(groups), group)
    return out


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _takes(axis, *arrays):
    """True if the numba kernels take these: one float dtype, C order, channels last."""
    x = arrays[0]
    if x.ndim < 1 or axis != x.ndim - 1 or x.dtype not in _FLOATS:
        return False
    return all(
        type(a) is np.ndarray and a.dtype == x.dtype and a.flags.c_contiguous for a in arrays
    )


def _matrix(a):
    return a.reshape(-1, a.shape[-1])  # (M, C) view of (N, ..., C)


def moments(x, axis, synchronized=False):
    """The twin's mean and variance in two passes (mean, then squared deviations)."""
    if synchronized or not _takes(axis, x) or x.size == 0:
        return moments_reference(x, axis, synchronized)
    m = _matrix(x)  # (M, C)
    M, C = m.shape
    mean = (_summed(column_sums_kernel, (m,), M, C, 1)[0] / M).astype(x.dtype)  # (C,)
    squares = _summed(squared_deviations_kernel, (m, mean), M, C, 1)[0]  # (C,)
    return mean, (squares / M).astype(x.dtype)  # (C,)


def _consts(dtype, *vectors):
    return [np.ascontiguousarray(v, dtype=dtype) for v in vectors]  # (C,) each


def _relu_consts(dtype, inv_std, relu_of):
    """(a, beta, relu) for the kernels' recomputed ReLU mask (dummies when ``relu_of`` is None)."""
    if relu_of is None:
        return (*_consts(dtype, inv_std, inv_std), False)
    return (*_consts(dtype, *_scale_and_shift(inv_std, *relu_of)), True)


def normalize(x, axis, mean, inv_std, gamma, beta, relu=False):
    """The twin's y in one pass: (x - mean) * (inv_std * gamma) + beta, then the ReLU if asked."""
    if not _takes(axis, x):
        return normalize_reference(x, axis, mean, inv_std, gamma, beta, relu)
    consts = _consts(x.dtype, mean, *_scale_and_shift(inv_std, gamma, beta))
    y = np.empty_like(x)  # (N, ..., C)
    return _rowwise(normalize_kernel, (_matrix(x), *consts, relu), _matrix(y)).reshape(x.shape)


def gradient_sums(dy, x, axis, mean, inv_std, relu_of=None):
    """The twin's (sum dy, sum dy * x_hat) in one pass: sum dy * (x - mean), times inv_std."""
    if not _takes(axis, dy, x) or x.size == 0:
        return gradient_sums_reference(dy, x, axis, mean, inv_std, relu_of)
    m = _matrix(x)  # (M, C)
    arrays = (_matrix(dy), m, *_consts(x.dtype, mean), *_relu_consts(x.dtype, inv_std, relu_of))
    sums = _summed(gradient_sums_kernel, arrays, *m.shape, 2)  # (2, C)
    return sums[0].astype(x.dtype), (sums[1] * inv_std).astype(x.dtype)  # (C,), (C,)


def batch_dx(dy, x, axis, mean, inv_std, scale, sum_dy, sum_dy_x_hat, relu_of=None):
    """The twin's dx in one pass, the formula regrouped per channel:

    dx = dy * scale + (x - mean) * (-scale * inv_std * sum_dy_x_hat / M) - scale * sum_dy / M
    """
    if not _takes(axis, dy, x):
        args = (mean, inv_std, scale, sum_dy, sum_dy_x_hat, relu_of)
        return batch_dx_reference(dy, x, axis, *args)
    M = x.size // x.shape[-1]
    q = -scale * inv_std * sum_dy_x_hat / M  # (C,)
    r = -scale * sum_dy / M  # (C,)
    consts = (*_consts(x.dtype, mean, scale, q, r), *_relu_consts(x.dtype, inv_std, relu_of))
    dx = np.empty_like(x)  # (N, ..., C)
    _rowwise(dx_kernel, (_matrix(dy), _matrix(x), *consts), _matrix(dx))
    return dx

"""Products and norms: ``matmul`` (``@``), ``dot``, ``einsum`` and ``norm``, forward and backward.

The backward rule of every product is a product too. For y = a @ b, each y[i, k] is
sum_j a[i, j] b[j, k], so

    da = dy @ b^T        (i, j): sum over k of dy[i, k] b[j, k]
    db = a^T @ dy        (j, k): sum over i of a[i, j] dy[i, k]

and ``einsum`` generalises it: the gradient of one operand is the einsum of dy with the other
operands, written into that operand's subscripts.

Dtypes (Keras's TensorFlow backend, measured): the inputs become tensors (Python ints are int32,
not weak) and the result has their ``result_type``; integer (and bool) products are computed
in floatx (float32) and cast back, so an int32 product above 2**24 is rounded (matmul of
[[2**24 + 1]] and [[1]] is 16777216, in Keras too). Two int8 matrices (not vectors) give int32
in ``matmul``, and int8 operands give int32 in ``einsum``. ``norm`` is always a float (ints give
floatx).

Example:
    >>> a = convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> (a @ a).numpy().tolist(), float(norm(a))
    ([[7.0, 10.0], [15.0, 22.0]], 5.4772257804870605)
"""

import string

import numpy as np

from .. import config
from .core import convert_to_tensor, promote, record, register
from .dtypes import result_type

__all__ = ["dot", "einsum", "matmul", "norm"]


def _product_dtypes(x1, x2):
    """(compute dtype, result dtype) of a product, as Keras's TensorFlow backend chooses them."""
    out = result_type(x1.dtype, x2.dtype)
    return result_type(out, float), out


@register
def matmul(x1, x2):
    """Matrix product with NumPy's rules (``x1 @ x2``).

    Shapes: x1 (..., M, K), x2 (..., K, N) -> y (..., M, N), the batch axes broadcast. A 1-D x1
    (K,) is a row (1, K) whose axis is then dropped from y, a 1-D x2 (K,) a column (K, 1).

    Math: y = x1 @ x2.  dx1 = dy @ x2^T, dx2 = x1^T @ dy (^T swaps the last two axes); the
    gradient of a broadcast batch axis is summed by ``record``.
    """
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    compute, out = _product_dtypes(x1, x2)
    if x1.dtype == x2.dtype == "int8" and x1.ndim > 1 and x2.ndim > 1:
        compute = out = "int32"  # Keras's exact int8 x int8 -> int32 matrix product
    a = x1.value.astype(compute, copy=False)
    b = x2.value.astype(compute, copy=False)
    a2 = a[None, :] if a.ndim == 1 else a  # (..., M, K)
    b2 = b[:, None] if b.ndim == 1 else b  # (..., K, N)
    y = np.matmul(a, b).astype(out, copy=False)

    def backward(dy):
        dy2 = dy[..., None] if b.ndim == 1 else dy  # the axes a 1-D operand dropped, back:
        dy2 = dy2[..., None, :] if a.ndim == 1 else dy2  # (..., M, N)
        da = dy2 @ np.swapaxes(b2, -1, -2)  # (..., M, K)
        db = np.swapaxes(a2, -1, -2) @ dy2  # (..., K, N)
        return (da[..., 0, :] if a.ndim == 1 else da), (db[..., 0] if b.ndim == 1 else db)

    return record(y, (x1, x2), backward)


def dot(x1, x2):
    """Dot product with NumPy's ``np.dot`` rules.

    Shapes: a scalar operand multiplies; x2 1-D (K,): x1 (..., K) -> y (...,); else x1 (A..., K)
    and x2 (B..., K, N) -> y (A..., B..., N), summing x1's last axis against x2's second-last.

    Math: y[a, b, n] = sum_k x1[a, k] x2[b, k, n].
    dx1[a, k] = sum_{b, n} dy[a, b, n] x2[b, k, n], dx2[b, k, n] = sum_a x1[a, k] dy[a, b, n]
    (``np.tensordot`` over the axes named; for x2 1-D: dx1 = dy x2 (outer), dx2 = sum_a dy x1).
    """
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    compute, out = _product_dtypes(x1, x2)
    a, b = x1.value.astype(compute, copy=False), x2.value.astype(compute, copy=False)
    y = np.dot(a, b).astype(out, copy=False)
    A = a.ndim - 1  # x1's axes other than the summed one

    def backward(dy):
        if a.ndim == 0 or b.ndim == 0:  # a product; record sums the scalar's gradient
            return dy * b, dy * a
        if b.ndim == 1:
            return dy[..., None] * b, np.tensordot(dy, a, axes=A)
        dy_rest = list(range(A, dy.ndim))  # dy's axes B..., N
        b_rest = [d for d in range(b.ndim) if d != b.ndim - 2]  # b's axes B..., N
        da = np.tensordot(dy, b, axes=(dy_rest, b_rest))  # (A..., K)
        db = np.tensordot(a, dy, axes=(list(range(A)), list(range(A))))  # (K, B..., N)
        return da, np.moveaxis(db, 0, -2)  # db as (B..., K, N)

    return record(y, (x1, x2), backward)


# -------------------------------------------------------------------------------------- einsum


def _parse(subscripts, shapes):
    """Explicit einsum subscripts, one letter per axis: ``(input subscripts, output subscripts)``.

    Letters are renamed in order of first appearance, as Keras's TensorFlow backend does, so
    the implicit output (no ``->``: the letters that appear once) keeps that order: Keras's
    ``einsum("ji", x)`` is x itself, where NumPy's is x transposed. An ellipsis becomes fresh
    letters for its axes, aligned from the right across the operands.
    """
    names = {}
    for c in subscripts:
        if c in string.ascii_letters and c not in names:
            names[c] = string.ascii_letters[len(names)]
    given = subscripts.replace(" ", "").partition("->")[0].split(",")  # for error messages
    subscripts = "".join(names.get(c, c) for c in subscripts.replace(" ", ""))
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: {len(inputs)} operands in the subscripts, {len(shapes)} given.")
    spare = string.ascii_letters[len(names) :]  # the letters no subscript uses
    ranks = [len(shape) - len(s) + 3 if "..." in s else 0 for s, shape in zip(inputs, shapes)]
    batch = spare[: max(ranks)]  # the axes of "...", aligned from the right
    for i, (s, shape) in enumerate(zip(inputs, shapes)):
        inputs[i] = s.replace("...", batch[len(batch) - ranks[i] :])
        if len(inputs[i]) != len(shape):
            raise ValueError(f"einsum: subscripts {given[i]!r} for an operand of shape {shape}.")
    if not arrow:
        letters = "".join(inputs)
        once = [c for c in dict.fromkeys(letters) if letters.count(c) == 1 and c not in batch]
        return inputs, batch + "".join(once)
    return inputs, output.replace("...", batch)


def einsum(subscripts, *operands):
    """Einstein summation: the product of the operands summed over the letters not in the output.

    Args:
        subscripts: e.g. ``"ij,jk->ik"`` (matmul), ``"bij,bjk->bik"`` (batched), ``"i,j->ij"``
            (outer), ``"ii->"`` (trace), ``"ij->ji"``, ``"...ij,jk->...ik"``; without ``->``,
            the letters that appear once, in order of first appearance (Keras's rule).
        operands: the tensors, one per comma-separated term.

    Math: y[out] = sum over the other letters of prod_k x_k[s_k].  The gradient of operand k
    is the same sum with dy in its place, written into s_k:

        dx_k[s_k] = sum over the letters not in s_k of dy[out] prod_{j != k} x_j[s_j]

    Two cases need a step more. A letter only x_k has (``"ij->i"``: j) was summed over x_k
    alone, so each of those x_k values gets the same gradient: broadcast along it. A letter
    x_k repeats (``"ii->i"``: the diagonal) names one axis twice, so the gradient lands on the
    diagonal and is zero elsewhere. (A size-1 "..." axis that broadcast sums its gradient,
    as every broadcast does: ``record`` sees to it.)
    """
    operands = [convert_to_tensor(x) for x in operands]
    dtypes = {x.dtype for x in operands}
    out = "int32" if dtypes == {"int8"} else result_type(*dtypes)
    compute = config.floatx() if out[:3] in ("int", "uin", "boo") else out  # as Keras
    values = [x.value.astype(compute, copy=False) for x in operands]
    inputs, output = _parse(subscripts, [v.shape for v in values])
    y = np.einsum(",".join(inputs) + "->" + output, *values)
    sizes = {}  # every letter's length (the longest, where a size-1 "..." axis broadcast)
    for s, v in zip(inputs, values):
        for c, n in zip(s, v.shape):
            sizes[c] = max(sizes.get(c, 1), n)

    def backward(dy):
        return tuple(_einsum_grad(k, dy, inputs, output, values, sizes) for k in range(len(values)))

    return record(y.astype(out, copy=False), operands, backward)


def _einsum_grad(k, dy, inputs, output, values, sizes):
    """dL/d(operand k) of ``einsum``: the sum of its docstring, then the three special cases."""
    s_k = inputs[k]
    others = [(s, v) for j, (s, v) in enumerate(zip(inputs, values)) if j != k]
    letters = "".join(dict.fromkeys(s_k))  # s_k's letters, each once
    seen = set(output).union(*(s for s, _ in others))
    shared = "".join(c for c in letters if c in seen)
    alone = "".join(c for c in letters if c not in seen)
    # dy in x_k's place, summed into the letters x_k shares with dy and the other operands
    terms = ",".join([output] + [s for s, _ in others]) + "->" + shared
    g = np.einsum(terms, dy, *(np.broadcast_to(v, [sizes[c] for c in s]) for s, v in others))
    if alone:  # a letter only x_k has ("ij->i": j): the same gradient all along it
        g = g.reshape(g.shape + (1,) * len(alone))
        g = np.broadcast_to(g, [sizes[c] for c in shared + alone]).copy()
        g = np.transpose(g, [(shared + alone).index(c) for c in letters])  # in s_k's order
    if len(letters) < len(s_k):  # a repeated letter ("ii->i"): on the diagonal, 0 elsewhere
        grid = np.ix_(*(np.arange(sizes[c]) for c in letters))
        dx = np.zeros([sizes[c] for c in s_k], g.dtype)
        dx[tuple(grid[letters.index(c)] for c in s_k)] = g
        g = dx
    return g  # at full length where a size-1 "..." axis broadcast: record sums it back


# ---------------------------------------------------------------------------------------- norm


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm, as ``keras.ops.norm``.

    Args:
        x: a tensor.
        ord: vectors (one axis): None or 2 (Euclidean), 1, inf, -inf, 0 (count of nonzeros),
            any other p: (sum |x|^p)^(1/p). Matrices (two axes): None or 'fro' (Frobenius),
            1 / -1 (max / min column sum of |x|), inf / -inf (max / min row sum), 2 / -2
            (largest / smallest singular value), 'nuc' (sum of the singular values).
        axis: None (all of x's axes: x must be a vector or a matrix), an int, or two ints.
        keepdims: keep the reduced axes with length 1.

    Math (vector; the matrix norms are built from the same pieces):
        2-norm: y = sqrt(sum x^2)         dx = dy x / y  (NaN at x = 0, as in Keras)
        p-norm: y = (sum |x|^p)^(1/p)     dx = dy sign(x) |x|^(p-1) / y^(p-1)
        inf:    y = max |x|               dx = dy sign(x) on the maxima, shared equally by ties
        0:      y = count of x != 0       no gradient (a count)
        svd:    y = f(singular values s)  dx = U diag(df/ds) V^T  (x = U diag(s) V^T)
    """
    (x,) = promote(x, also=(float,))
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    if not all(-x.ndim <= a < x.ndim for a in axes):
        raise ValueError(f"All `axis` values must be in the range [-ndim, ndim). Got {axis}.")
    axes = tuple(a % x.ndim for a in axes)
    if len(axes) == 1:
        y, dnorm = _vector_norm(x.value, ord, axes[0])
    elif len(axes) == 2:
        y, dnorm = _matrix_norm(x.value, ord, axes)
    else:
        raise ValueError(f"Invalid axis values. Received: axis={axis}")
    kept_shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))

    def backward(dy):  # dnorm: dL/dy with the reduced axes kept (length 1) -> dL/dx
        return (None if dnorm is None else dnorm(dy.reshape(kept_shape)),)

    if not keepdims:
        y = y.reshape([n for d, n in enumerate(x.shape) if d not in axes])
    return record(y, (x,), backward)


def _share_max(values, best, axis):
    """Where ``values`` along ``axis`` equals ``best``, 1 / (number of ties), else 0: how
    TensorFlow's reduce_max (and min) shares its gradient."""
    hit = values == best
    return hit / hit.sum(axis=axis, keepdims=True)


def _euclidean(x, axis):
    """(sqrt(sum x^2) with the axes kept, backward dy -> dy x / y): NaN where y = 0, as
    TensorFlow's sqrt gradient (1 / (2 sqrt(0)) = inf) times 2x = 0 gives."""
    y = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))

    def dnorm(dy):
        with np.errstate(divide="ignore", invalid="ignore"):
            return dy * x / y

    return y, dnorm


def _vector_norm(x, ord, axis):
    """(norm with the axis kept, backward dy -> dx) of the vector norm along ``axis``."""
    if ord is None or ord == 2:
        return _euclidean(x, axis)
    if ord in (np.inf, -np.inf):
        ax = np.abs(x)
        y = (np.max if ord > 0 else np.min)(ax, axis=axis, keepdims=True)
        return y, lambda dy: dy * np.sign(x) * _share_max(ax, y, axis)
    if ord == 0:
        return np.sum(x != 0, axis=axis, keepdims=True).astype(x.dtype), None
    if isinstance(ord, str):
        raise ValueError(f"Invalid `ord` argument for vector norm. Received: ord={ord}")
    p = np.asarray(ord, x.dtype)
    y = np.sum(np.abs(x) ** p, axis=axis, keepdims=True) ** (1 / p)
    return y, lambda dy: dy * np.sign(x) * np.abs(x) ** (p - 1) / y ** (p - 1)


def _matrix_norm(x, ord, axes):
    """(norm with both axes kept, backward dy -> dx) of the matrix norm over ``axes``."""
    rows, cols = axes
    if ord is None or ord == "fro":
        return _euclidean(x, axes)
    if ord in (1, -1, np.inf, -np.inf):  # 1: sum down each column, then max over the columns
        summed, best = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = np.sum(np.abs(x), axis=summed, keepdims=True)
        y = (np.max if ord > 0 else np.min)(sums, axis=best, keepdims=True)
        return y, lambda dy: dy * np.sign(x) * _share_max(sums, y, best)
    if ord in ("nuc", 2, -2):
        m = np.moveaxis(x, axes, (-2, -1))  # (..., M, N)
        u, s, vt = np.linalg.svd(m, full_matrices=False)  # s (..., min(M, N))
        if ord == "nuc":
            y, ds = s.sum(axis=-1), np.ones_like(s)
        else:
            y = (np.max if ord == 2 else np.min)(s, axis=-1)
            ds = _share_max(s, y[..., None], -1)
        y = np.expand_dims(y, (-2, -1))

        def dnorm(dy):
            dy = np.moveaxis(dy, axes, (-2, -1))[..., 0]  # (..., 1)
            dm = (u * (dy * ds)[..., None, :]) @ vt  # U diag(dy ds) V^T: (..., M, N)
            return np.moveaxis(dm, (-2, -1), axes)

        return np.moveaxis(y, (-2, -1), axes), dnorm
    raise ValueError(f"Invalid `ord` argument for matrix norm. Received: ord={ord}")

"""Shape and indexing ops: each op's forward rule, and its backward rule right under it.

These ops move values around without computing new ones, so every backward rule moves dL/dy back
to where each value came from:

* a pure rearrangement (``reshape``, ``transpose``, ``expand_dims``, ``squeeze``) undoes itself
  on dy: the reshape back, the inverse permutation;
* a copy (``tile``, ``repeat``, ``take`` with repeated indices, fancy indexing) sums the gradients
  of every copy into the one value they were copied from (``np.add.at``: plain ``dx[key] += dy``
  would keep only the last copy's gradient);
* a selection (``getitem``, ``slice``, ``split``) puts dy where it was taken from and zeros
  elsewhere; ``slice`` and ``split`` are ``getitem`` with a key built for you, so one backward
  rule serves all three.

Dtypes: the input's dtype, unchanged. ``concatenate`` and ``stack`` of mixed dtypes promote to
Keras's ``result_type`` (measured: int8 with uint8 gives int16, int32 with float32 gives float32,
float16 with int32 gives float16); ``stack`` reads Python scalars as weak, ``concatenate`` turns
each input into a tensor first. Negative indices (``take``, ``take_along_axis``) count from the
end once, as Keras's TensorFlow backend does; further out is an error in both.

Example:
    >>> x = convert_to_tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> reshape(x, (3, -1)).shape, transpose(x).shape, x[:, 1].numpy()
    ((3, 2), (3, 2), array([2., 5.], dtype=float32))
"""

import builtins

import numpy as np

from .core import Tensor, convert_to_tensor, promote, record, register

__all__ = [
    "concatenate", "expand_dims", "get_item", "getitem", "repeat", "reshape", "slice", "split",
    "squeeze", "stack", "take", "take_along_axis", "tile", "transpose",
]  # fmt: skip


def _axis(axis, ndim):
    """``axis`` as a non-negative int in ``[0, ndim)`` (negative counts from the end)."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor with {ndim} dimensions.")
    return axis % ndim


def _along(axis, index):
    """The NumPy key that applies ``index`` along ``axis``: ``x[:, :, index]`` for axis 2."""
    return (builtins.slice(None),) * axis + (index,)


def _indices(indices):
    """Integer indices as a NumPy array (a tensor, a list or an int); floats are refused."""
    indices = np.asarray(indices.value if isinstance(indices, Tensor) else indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {indices.dtype.name}.")
    return indices


# ---------------------------------------------------------------------------- rearrangements


def reshape(x, newshape):
    """The same values in shape ``newshape`` (one entry may be -1: whatever is left).

    Math: y = x read in row-major order into the new shape.  dx = dy reshaped back to x's shape.
    """
    x = convert_to_tensor(x)

    def backward(dy):
        return (dy.reshape(x.shape),)

    return record(np.reshape(x.value, newshape), (x,), backward)


def transpose(x, axes=None):
    """Permute the axes: ``y.shape[i] = x.shape[axes[i]]`` (default: reversed).

    Math: y[..., i_k, ...] = x[... at positions axes ...].  dx = dy transposed by the inverse
    permutation (``argsort(axes)``), which puts every axis back where it was.
    """
    x = convert_to_tensor(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(_axis(a, x.ndim) for a in axes)
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(
            f"`axes` must be a valid permutation of the input dimensions (no duplicates). "
            f"Received: axes={list(axes)} for input of rank {x.ndim}."
        )

    def backward(dy):
        return (np.transpose(dy, np.argsort(perm)),)

    return record(np.transpose(x.value, perm), (x,), backward)


def expand_dims(x, axis):
    """Insert axes of length 1 at ``axis`` (an int or a tuple, positions in the result).

    Math: y = x with new length-1 axes.  dx = dy reshaped to x's shape.
    """
    x = convert_to_tensor(x)

    def backward(dy):
        return (dy.reshape(x.shape),)

    return record(np.expand_dims(x.value, axis), (x,), backward)


def squeeze(x, axis=None):
    """Remove axes of length 1: all of them, or those in ``axis`` (which must have length 1).

    Math: y = x without the length-1 axes.  dx = dy reshaped to x's shape.
    """
    x = convert_to_tensor(x)
    if axis is not None:
        for a in (axis,) if isinstance(axis, int) else axis:
            if x.shape[a] != 1:
                raise ValueError(f"Cannot squeeze axis={a}, because the dimension is not 1.")

    def backward(dy):
        return (dy.reshape(x.shape),)

    return record(np.squeeze(x.value, axis), (x,), backward)


# ------------------------------------------------------------------------ joining and copying


def concatenate(xs, axis=0):
    """Join tensors end to end along an existing ``axis``.

    Args:
        xs: a list of tensors, the same shape except along ``axis``; mixed dtypes promote to
            Keras's result dtype (each input is a tensor first: a Python list of ints is int32).

    Math: y = [x_0 | x_1 | ...] along axis.  dx_k = dy's block of x_k (dy split at the offsets).
    """
    xs = promote(*(convert_to_tensor(x) for x in xs))
    sizes = [x.shape[axis] if axis is not None else x.value.size for x in xs]
    y = np.concatenate([x.value for x in xs], axis=axis)

    def backward(dy):
        blocks = np.split(dy, np.cumsum(sizes)[:-1], axis=0 if axis is None else axis)
        return tuple(block.reshape(x.shape) for block, x in zip(blocks, xs))

    return record(y, xs, backward)


def stack(x, axis=0):
    """Join tensors of one shape along a new ``axis`` (Python scalars are weak in the promotion).

    Math: y[..., k, ...] = x_k (k at position axis).  dx_k = dy[..., k, ...].
    """
    xs = promote(*x)
    y = np.stack([t.value for t in xs], axis=axis)
    axis = _axis(axis, y.ndim)

    def backward(dy):
        return tuple(np.take(dy, k, axis=axis) for k in range(len(xs)))

    return record(y, xs, backward)


def tile(x, repeats):
    """``x`` repeated ``repeats[i]`` times along each axis i, as ``np.tile``.

    ``repeats`` shorter than x's rank is padded with 1s in front; longer, x gains leading axes.

    Math: y[r_0 * n_0 + i_0, ...] = x[i_0, ...] for every copy r.  dx = sum over the copies:
    dy reshaped to (r_0, n_0, r_1, n_1, ...) and summed over the r axes.
    """
    x = convert_to_tensor(x)
    repeats = [int(r) for r in np.atleast_1d(_indices(repeats))]
    ndim = builtins.max(x.ndim, len(repeats))
    reps = [1] * (ndim - len(repeats)) + repeats  # (ndim,)
    shape = [1] * (ndim - x.ndim) + list(x.shape)  # (ndim,): x with its leading axes

    def backward(dy):
        pairs = [n for r_n in zip(reps, shape) for n in r_n]  # (r_0, n_0, r_1, n_1, ...)
        dx = dy.reshape(pairs).sum(axis=tuple(range(0, 2 * ndim, 2)))  # (n_0, n_1, ...)
        return (dx.reshape(x.shape),)

    return record(np.tile(x.value, repeats), (x,), backward)


def repeat(x, repeats, axis=None):
    """Each element repeated along ``axis`` (flattened first if None), as ``np.repeat``.

    Args:
        repeats: an int (every element that many times) or one count per element along axis.

    Math: y = x_0 (repeats_0 times), x_1 (repeats_1 times), ...  dx_i = the sum of dy over
    x_i's copies: ``np.add.at`` of dy into zeros at the source index of each copy.
    """
    x = convert_to_tensor(x)
    repeats = _indices(repeats)
    flat = x.value.reshape(-1) if axis is None else x.value
    axis = 0 if axis is None else _axis(axis, x.ndim)
    source = np.repeat(np.arange(flat.shape[axis]), repeats)  # (len(y) along axis,)

    def backward(dy):
        dx = np.zeros(flat.shape, dy.dtype)
        np.add.at(dx, _along(axis, source), dy)
        return (dx.reshape(x.shape),)

    return record(flat[_along(axis, source)], (x,), backward)


# ----------------------------------------------------------------------------------- indexing


def take(x, indices, axis=None):
    """Elements of ``x`` at ``indices`` along ``axis`` (flattened first if None).

    Shapes: y is x.shape[:axis] + indices.shape + x.shape[axis + 1:].

    Math: y[..., j, ...] = x[..., indices[j], ...].  dx = zeros with dy added at each index:
    an index that appears twice receives both gradients (as ``tf.gather``'s gradient does).
    The indices get no gradient. Negative indices count from the end once (-1 is the last).
    """
    x = convert_to_tensor(x)
    indices = _indices(indices)
    flat = x.value.reshape(-1) if axis is None else x.value
    axis = 0 if axis is None else _axis(axis, x.ndim)
    key = _along(axis, indices)

    def backward(dy):
        dx = np.zeros(flat.shape, dy.dtype)
        np.add.at(dx, key, dy)
        return (dx.reshape(x.shape),)

    return record(flat[key], (x,), backward)


def take_along_axis(x, indices, axis=None):
    """``y[..., j, ...] = x[..., indices[..., j, ...], ...]``: one index per output position.

    Args:
        indices: integers with x's rank; the other axes broadcast against x's (Keras
            broadcasts both), so y has indices' length along ``axis``.

    Math: y at (i_0, .., j, ..) = x at (i_0, .., indices[i_0, .., j, ..], ..).  dx = zeros
    with dy added at each gathered position (``np.add.at``, repeats sum), then summed over the
    axes of x that broadcasting stretched.
    """
    x = convert_to_tensor(x)
    indices = _indices(indices)
    if axis is None:
        if indices.ndim != 1:
            raise ValueError(f"`indices` must be 1D if axis=None. Received: {indices.shape}")
        return take_along_axis(reshape(x, (-1,)), indices, 0)
    axis = _axis(axis, x.ndim)
    shape = list(np.broadcast_shapes(_without(x.shape, axis), _without(indices.shape, axis)))
    x_shape = shape[:axis] + [x.shape[axis]] + shape[axis + 1 :]  # x broadcast
    i_shape = shape[:axis] + [indices.shape[axis]] + shape[axis + 1 :]  # indices broadcast
    indices = np.broadcast_to(indices, i_shape)
    key = tuple(  # at each output position: the other axes' own index, and indices on axis
        indices if d == axis else np.arange(n).reshape([-1] + [1] * (len(i_shape) - d - 1))
        for d, n in enumerate(i_shape)
    )

    def backward(dy):
        dx = np.zeros(x_shape, dy.dtype)  # the gradient of broadcast x; record sums it back
        np.add.at(dx, key, dy)
        return (dx,)

    return record(np.broadcast_to(x.value, x_shape)[key], (x,), backward)


def _without(shape, axis):
    """``shape`` with length 1 at ``axis``: the axes that broadcast in ``take_along_axis``."""
    return tuple(1 if d == axis else n for d, n in enumerate(shape))


def _basic(part):
    """Whether one part of a key is basic indexing (selects each element at most once)."""
    if isinstance(part, np.ndarray):
        return part.ndim == 0 and part.dtype.kind in "iu"
    return part is None or part is Ellipsis or isinstance(part, (int, np.integer, builtins.slice))


def _key(key):
    """A key as NumPy reads it: tensors become their arrays, lists become index arrays."""
    if isinstance(key, tuple):
        return tuple(_key(part) for part in key)
    if isinstance(key, Tensor):
        return key.value
    if isinstance(key, list):
        return np.asarray([k.value if isinstance(k, Tensor) else k for k in key])
    return key


@register
def getitem(x, key):
    """``x[key]``, with NumPy's indexing (what ``Tensor.__getitem__`` calls).

    ``key`` may hold ints, slices, ``...``, ``None`` (a new axis), integer arrays (fancy
    indexing, repeats allowed) and boolean masks, as in NumPy. (Keras's TensorFlow backend
    reads a Python list ``x[[0, 2]]`` as the tuple ``x[0, 2]`` and refuses integer arrays; here
    a list is an index array, as in NumPy and Keras's JAX backend.)

    Math: y = the selected elements.  dx = zeros of x's shape with dy put back at the key.
    Basic indexing (ints, slices, ..., None) selects each element at most once, so
    ``dx[key] = dy``; an integer array may select one element twice, so its copies' gradients
    add up: ``np.add.at(dx, key, dy)``.
    """
    x = convert_to_tensor(x)
    key = _key(key)
    basic = all(_basic(part) for part in (key if isinstance(key, tuple) else (key,)))

    def backward(dy):
        dx = np.zeros(x.shape, dy.dtype)
        if basic:
            dx[key] = dy
        else:
            np.add.at(dx, key, dy)
        return (dx,)

    return record(x.value[key], (x,), backward)


get_item = getitem  # Keras's name: keras.ops.get_item(x, key) is x[key]


def slice(inputs, start_indices, shape):
    """The block of ``inputs`` that starts at ``start_indices`` and has ``shape`` (-1: to the
    end), as ``keras.ops.slice``: ``getitem`` with the key ``start:start + size`` per axis."""
    key = tuple(
        builtins.slice(int(s), None if int(n) == -1 else int(s) + int(n))
        for s, n in zip(np.asarray(start_indices), np.asarray(shape))
    )
    return getitem(inputs, key)


def split(x, indices_or_sections, axis=0):
    """Split ``x`` along ``axis`` into a list of tensors: ``N`` equal parts for an int ``N``,
    else at the given indices (as ``np.split``). Each part is a ``getitem`` of x, so each
    part's gradient lands in its own block of dx and the blocks add up to the whole of dx."""
    x = convert_to_tensor(x)
    axis = _axis(axis, x.ndim)
    size = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if size % indices_or_sections:
            raise ValueError(f"{size} along axis {axis} does not split in {indices_or_sections}.")
        bounds = list(range(0, size + 1, size // indices_or_sections))
    else:
        bounds = [0, *(int(i) for i in np.asarray(indices_or_sections)), size]
    return [getitem(x, _along(axis, builtins.slice(a, b))) for a, b in zip(bounds, bounds[1:])]

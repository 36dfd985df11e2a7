"""The harness every ``scratchnet.ops`` parity test uses: one op, both libraries, forward and grads.

``check_op(name, args, kwargs)`` runs ``scratchnet.ops.<name>`` and ``keras.ops.<name>`` on the
same arguments and checks, in this order:

1. the result dtype is the same (Keras's type promotion, not NumPy's);
2. the values agree: float64 to 1e-10 relative, float32 to 1e-5 (ints and bools exactly);
3. for every float array argument, dL/d(argument) agrees, with L = sum(y * dy) for a random
   upstream gradient dy (never all ones: they hide transposes), Keras's from TensorFlow's
   GradientTape and scratchnet's from ``scratchnet.ops.core.gradients``. An op with no gradient
   (an int or bool result) must give none in both.

A failure names the op, the argument, the worst index and both values, so it reads without
the debugger. Arguments that are float NumPy arrays are the ones differentiated, also inside a
list or tuple argument (``concatenate([a, b])``); Python numbers, int arrays and strings are
passed as they are. An op may return a list (``split``): each output gets its own dy.

Example:
    >>> check_op("multiply", (np.ones((2, 3), "float32"), np.arange(3.0, dtype="float32")))
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from scratchnet import ops as sn_ops  # noqa: E402
from scratchnet.ops import core  # noqa: E402


def tolerance(dtype):
    kind = np.dtype(dtype)
    if kind == np.float64:
        return dict(rtol=1e-10, atol=1e-12)
    if kind == np.float16:
        return dict(rtol=1e-3, atol=1e-3)
    return dict(rtol=1e-5, atol=1e-6)


def _worst(got, want):
    diff = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    if diff.size == 0:
        return "(empty)"
    index = np.unravel_index(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)), diff.shape)
    mine, theirs = np.asarray(got)[index], np.asarray(want)[index]
    return f"worst at {index}: scratchnet {mine!r}, Keras {theirs!r}"


def assert_close(what, got, want, dtype):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, Keras {want.shape}"
    if np.dtype(dtype).kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    try:
        np.testing.assert_allclose(got, want, **tolerance(dtype), err_msg=what)
    except AssertionError as error:
        raise AssertionError(f"{what}: {_worst(got, want)}\n{error}") from None


def check_op(name, args, kwargs=None, sn_name=None, keras_fn=None, seed=0, grads=True, sn_fn=None):
    """Run op ``name`` in both libraries on ``args``/``kwargs``; compare dtype, values, grads.

    ``keras_fn`` and ``sn_fn`` replace ``keras.ops.<name>`` and ``scratchnet.ops.<name>``
    (e.g. to compare a composition of ops, or Keras on a tensor instead of an array).
    """
    kwargs = kwargs or {}
    sn_fn = sn_fn or getattr(sn_ops, sn_name or name)
    keras_fn = keras_fn or getattr(keras.ops, name)
    # forward
    want = keras_fn(*args, **kwargs)
    got = sn_fn(*args, **kwargs)
    n_got, n_want = len(_as_list(got)), len(_as_list(want))
    assert n_got == n_want, f"{name}: {n_got} outputs, Keras {n_want}"
    results = zip(_as_list(got), _as_list(want))
    for i, (g, w) in enumerate(results):
        w = np.asarray(w)
        assert core.Tensor is type(g) or isinstance(g, core.Tensor), f"{name}: returned {type(g)}"
        assert g.dtype == w.dtype.name, f"{name} output {i}: dtype {g.dtype}, Keras {w.dtype.name}"
        assert_close(f"{name} output {i}", g.value, w, w.dtype)
    if not grads:
        return
    # gradients of L = sum(y * dy), dy random, for every float array argument (also the arrays
    # inside a list or tuple argument, as concatenate and stack take them)
    positions = _float_leaves(args)
    if not positions:
        return
    rng = np.random.default_rng(seed)
    tf_args, tf_leaves = _substitute(args, positions, tf.constant)
    with tf.GradientTape(persistent=True) as tape:
        for leaf in tf_leaves:
            tape.watch(leaf)
        outs = _as_list(keras_fn(*tf_args, **kwargs))
        dys = [
            rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype)
            if np.asarray(o).dtype.kind == "f"
            else None
            for o in outs
        ]
        loss = sum(
            tf.reduce_sum(tf.cast(o, tf.float64) * dy.astype(np.float64))
            for o, dy in zip(outs, dys)
            if dy is not None
        )
    keras_grads = (
        [None] * len(positions) if isinstance(loss, int) else tape.gradient(loss, tf_leaves)
    )
    with core.record_gradients():
        sn_args, sn_leaves = _substitute(
            args, positions, lambda a: core.Tensor(a, requires_grad=True)
        )
        sn_outs = _as_list(sn_fn(*sn_args, **kwargs))
    sn_grads = [None] * len(positions)
    for out, dy in zip(sn_outs, dys):
        if dy is None:
            continue
        found = core.gradients(out, dy, sn_leaves)
        sn_grads = [
            f if s is None else (s if f is None else s + f) for s, f in zip(sn_grads, found)
        ]
    for (i, j), g, k in zip(positions, sn_grads, keras_grads):
        what = f"{name} d/d(argument {i})" if j is None else f"{name} d/d(argument {i}[{j}])"
        if k is None:
            assert g is None or not np.any(g), f"{what}: Keras has no gradient, scratchnet has"
            continue
        k = np.asarray(tf.convert_to_tensor(k))  # tf.gather's gradient is IndexedSlices
        assert g is not None, f"{what}: scratchnet passed no gradient, Keras did"
        assert_close(what, g, k, (args[i] if j is None else args[i][j]).dtype)


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _float_leaves(args):
    """The float arrays to differentiate, as (argument, item): item None for an array argument,
    else the array's index in a list or tuple argument."""
    leaves = []
    for i, a in enumerate(args):
        if _is_float_array(a):
            leaves.append((i, None))
        elif isinstance(a, (list, tuple)):
            leaves += [(i, j) for j, item in enumerate(a) if _is_float_array(item)]
    return leaves


def _substitute(args, leaves, make):
    """``args`` with ``make(array)`` in place of each leaf, and the list of those made leaves
    (a list or tuple argument keeps its type: a tuple may be an index key)."""
    args, made = list(args), []
    for i, j in leaves:
        made.append(make(args[i] if j is None else args[i][j]))
        if j is None:
            args[i] = made[-1]
        else:
            args[i] = type(args[i])((*args[i][:j], made[-1], *args[i][j + 1 :]))
    return args, made


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


# ------------------------------------------------------------------- strategies for op cases

OP_KINDS = ("normal", "grid", "ties", "zeros")


def make_op_array(shape, dtype, kind, seed):
    """The array ``op_arrays`` draws for ``(kind, seed)``: always an ndarray, also when 0-d.

    Kinds, for floats:
        ``normal``: standard normal values.
        ``grid``: multiples of 1/8 in [-4, 4]. A sum of a few of them is exact in float32, so a
            reduction's value does not depend on the order the two libraries add in.
        ``ties``: the integers 0, 1, 2: equal values on purpose (ties of max, min, argmax,
            maximum and minimum; values exactly at clip's bounds).
        ``zeros``: normal values, about a third replaced by exact zeros (kinks of abs and sign,
            products with zeros).
    Ints get integers in [-5, 5] ([0, 10] unsigned) and bools random booleans, whatever the kind.
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.kind in "iu":
        low = 0 if dtype.kind == "u" else -5
        return np.asarray(rng.integers(low, low + 11, size=shape), dtype=dtype)
    if kind == "normal":
        values = rng.standard_normal(shape)
    elif kind == "grid":
        values = rng.integers(-32, 33, size=shape) / 8
    elif kind == "ties":
        values = rng.integers(0, 3, size=shape)
    elif kind == "zeros":
        values = rng.standard_normal(shape) * (rng.random(shape) > 1 / 3)
    else:
        raise ValueError(f"make_op_array: unknown kind {kind!r}; expected one of {OP_KINDS}.")
    return np.asarray(values, dtype=dtype)


def op_arrays(shape, dtype, kinds=OP_KINDS):
    """Strategy: an ndarray of ``shape`` and ``dtype`` whose values look like one of ``kinds``
    (see ``make_op_array``); the first kind is the one failures shrink to."""
    return st.builds(
        make_op_array,
        st.just(tuple(shape)),
        st.just(dtype),
        st.sampled_from(tuple(kinds)),
        st.integers(0, 2**32 - 1),
    )


@st.composite
def axis_args(draw, ndim, tuples=True):
    """Strategy: an ``axis`` argument for an ndim tensor, as Keras takes it: None, an int
    (negative counts from the end) or, with ``tuples``, a tuple of distinct axes in any order,
    some negative (the empty tuple included: a reduction over no axis)."""
    forms = ["none"] + (["int"] if ndim else []) + (["tuple"] if tuples else [])
    form = draw(st.sampled_from(forms))
    if form == "none":
        return None
    if form == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.permutations(range(ndim)))[: draw(st.integers(0, ndim))]
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)

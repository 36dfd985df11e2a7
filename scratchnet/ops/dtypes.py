"""Keras 3's type promotion: the dtype an op returns for the dtypes it is given.

Keras follows JAX's rules, not NumPy's: ``int8 + uint8`` is ``int16``, ``int32 + float32`` is
``float32``, ``float16 + float64`` is ``float64``, and a Python scalar is "weak": ``x + 2.0``
keeps ``x``'s float dtype (``float16`` stays ``float16``) and ``int8 + 2`` stays ``int8``. The
rule is a lattice, each dtype pointing at the next ones up:

    bool -> int -> uint8 -> uint16 -> uint32 -> uint64 -> float
                   int8  -> int16  -> int32  -> int64  -> float
                   (uint8 -> int16, uint16 -> int32, uint32 -> int64)
    float -> float16 / bfloat16 -> float32 -> float64

and the result of several dtypes is their least upper bound. ``int`` and ``float`` are the weak
types of Python scalars; a weak result becomes a dtype of ``floatx()``'s precision. With the
TensorFlow backend, which Keras's numbers here were measured on, 64-bit types stay 64-bit.

This is a port of ``keras.src.backend.common.dtypes.result_type``.

Example:
    >>> result_type("int8", "uint8"), result_type("int32", float), result_type("float16", int)
    ('int16', 'float32', 'float16')
"""

import functools

import numpy as np

from .. import config

INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
WEAK_TYPES = ("int", "float")


def _lattice():
    """Each dtype and the dtypes immediately above it."""
    u1, u2, u4, u8, i1, i2, i4, i8 = INT_TYPES
    bf, f2, f4, f8 = FLOAT_TYPES
    i_, f_ = WEAK_TYPES
    return {
        "bool": [i_],
        u1: [i2, u2],
        u2: [i4, u4],
        u4: [i8, u8],
        u8: [f_],
        i_: [u1, i1],
        i1: [i2],
        i2: [i4],
        i4: [i8],
        i8: [f_],
        f_: [bf, f2],
        bf: [f4],
        f2: [f4],
        f4: [f8],
        f8: [],
    }


def _upper_bounds():
    """Every dtype's set of dtypes at or above it."""
    lattice = _lattice()
    bounds = {node: {node} for node in lattice}
    for node in lattice:
        while True:
            above = set().union(*(lattice[b] for b in bounds[node]))
            if above <= bounds[node]:
                break
            bounds[node] |= above
    return bounds


UPPER_BOUNDS = _upper_bounds()


@functools.lru_cache(512)
def _least_upper_bound(*nodes):
    common = set.intersection(*(UPPER_BOUNDS[n] for n in set(nodes)))
    least = (common & set(nodes)) or {c for c in common if common <= UPPER_BOUNDS[c]}
    if len(least) != 1:
        raise ValueError(
            f"Input dtypes {nodes} have no implicit promotion path. Cast the inputs to the "
            "dtype you want first (ops.cast)."
        )
    return least.pop()


def standardize_dtype(dtype):
    """A dtype name as Keras writes it: 'float32', 'int64', 'bool' (Python types: weak)."""
    if dtype is None:
        return config.floatx()
    if dtype is int:
        return "int64"
    if dtype is float:
        return "float32"
    if dtype is bool:
        return "bool"
    if hasattr(dtype, "name") and not isinstance(dtype, np.dtype):
        dtype = dtype.name
    name = np.dtype(dtype).name
    if name not in ("bool", *INT_TYPES, "float16", "float32", "float64"):
        raise ValueError(f"dtype {dtype!r} is not a dtype scratchnet.ops computes in.")
    return name


def result_type(*dtypes):
    """The dtype Keras gives the result of combining ``dtypes`` (names, NumPy dtypes, or the
    Python types ``int``, ``float`` and ``bool`` for scalars: ``int`` and ``float`` are weak)."""
    if not dtypes:
        return config.floatx()
    names = tuple(standardize_dtype(d) for d in dtypes)
    weak = tuple(d is int or d is float for d in dtypes)
    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(names)), True
    else:
        nodes = {_weak_name(n) if w else n for n, w in zip(names, weak)}
        out = _least_upper_bound(*nodes)
        out_weak = out in WEAK_TYPES
    if out_weak and out != "bool":
        precision = config.floatx()[-2:]
        kind = "f" if out in ("bfloat16", "float") or out.startswith("float") else out[:1]
        out = {"i": f"int{precision}", "u": f"uint{precision}", "f": f"float{precision}"}[kind]
    return out


def _weak_name(name):
    """The weak type of a Python scalar's dtype: 'float' or 'int' (bool stays bool)."""
    if name == "bool":
        return name
    return "float" if "float" in name else "int"

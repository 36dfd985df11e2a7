"""Global settings, mirroring ``keras.config``: the float dtype and the fuzz factor epsilon.

Example:
    >>> from scratchnet import config
    >>> config.floatx()
    'float32'
"""

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx():
    """The default float dtype name for weights and activations, 'float32' unless changed."""
    return _FLOATX


def set_floatx(value):
    """Set the model-wide float dtype ('float32' or 'float64'), like ``keras.config.set_floatx``.

    Call it before building a model: weights take the dtype current when they are created.
    """
    global _FLOATX
    value = str(value).lower()
    if value not in ("float32", "float64"):
        raise ValueError(
            f"set_floatx: expected 'float32' or 'float64', got {value!r}. "
            "scratchnet computes in one of these two float dtypes."
        )
    _FLOATX = value


def epsilon():
    """The fuzz factor Keras uses in clipped losses and optimizers (1e-7)."""
    return _EPSILON


def float_dtype():
    """The current floatx as a NumPy dtype object."""
    return np.dtype(_FLOATX)

"""``scratchnet.backend``: the functions of Keras 3's ``keras.backend`` that learners' code uses.

They read and set ``scratchnet.config`` (floatx, the fuzz factor epsilon), and name Keras's
type promotion (``scratchnet.ops.dtypes``). A Keras program's ``keras.backend.epsilon()``
becomes ``scratchnet.backend.epsilon()``.

(The kernels that run the layers are ``scratchnet.kernels``; Keras would call them the
backend, but they are internal here.)

Example:
    >>> epsilon(), floatx(), image_data_format()
    (1e-07, 'float32', 'channels_last')
"""

from . import config
from .ops.dtypes import result_type, standardize_dtype

__all__ = [
    "epsilon", "floatx", "image_data_format", "is_float_dtype", "is_int_dtype", "result_type",
    "set_epsilon", "set_floatx", "standardize_dtype",
]  # fmt: skip

floatx = config.floatx
set_floatx = config.set_floatx
epsilon = config.epsilon


def set_epsilon(value):
    """Set the fuzz factor that ``epsilon()`` returns (Keras's default: 1e-7).

    The clipped cross-entropies (``scratchnet.ops.categorical_crossentropy`` and the others)
    read it on every call, as Keras's do.
    """
    config.set_epsilon(value)


def image_data_format():
    """'channels_last': images are (N, H, W, C), the layout every scratchnet layer uses."""
    return "channels_last"


def is_float_dtype(dtype):
    """True for float16, float32, float64 (the name or a NumPy dtype)."""
    return standardize_dtype(dtype).startswith("float")


def is_int_dtype(dtype):
    """True for the signed and unsigned integer dtypes."""
    return standardize_dtype(dtype).startswith(("int", "uint"))

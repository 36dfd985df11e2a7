"""Global settings, mirroring ``keras.config``, and scratchnet's own switches.

Keras's: the float dtype (``floatx``) and the fuzz factor ``epsilon``.

scratchnet's, each read where it matters and nowhere else:

* ``use_kernels("numba" | "numpy")``: which kernel family runs the built-in layers, optimizers
  and random numbers: the numba kernels (default, fast) or their NumPy reference twins
  (readable, slow). The environment variable ``SCRATCHNET_KERNELS`` sets the start value.
  ``scratchnet.kernels.backend`` is where the choice takes effect.
* ``set_num_threads(n)``: how many threads the kernels split a batch over (default: the
  ``NUMBA_NUM_THREADS`` environment variable, else the number of cores).
* ``set_fusion(False)``: run a Conv2D + MaxPooling2D pair, and a BatchNormalization + ReLU
  pair, as two layers instead of one fused, cache-friendly step (``scratchnet.layers.fused``).
  The numbers are the same either way.

Example:
    >>> from scratchnet import config
    >>> config.floatx(), config.kernels(), config.fusion()
    ('float32', 'numba', True)
"""

import os

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
KERNEL_FAMILIES = ("numba", "numpy")


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


def set_epsilon(value):
    """Set the fuzz factor (``keras.config.set_epsilon``)."""
    global _EPSILON
    _EPSILON = float(value)


def float_dtype():
    """The current floatx as a NumPy dtype object."""
    return np.dtype(_FLOATX)


# ----------------------------------------------------------------------------- kernels


def _kernel_family(name, where):
    name = str(name).lower()
    if name not in KERNEL_FAMILIES:
        raise ValueError(
            f"{where}: expected 'numba' (fast kernels) or 'numpy' (the readable reference "
            f"twins), got {name!r}."
        )
    return name


_KERNELS = _kernel_family(os.environ.get("SCRATCHNET_KERNELS", "numba"), "SCRATCHNET_KERNELS")


def use_kernels(name):
    """Select 'numba' (default, fast) or 'numpy' (the reference twins) for every kernel."""
    global _KERNELS
    _KERNELS = _kernel_family(name, "use_kernels")


def kernels():
    """The name of the kernel family in use: 'numba' or 'numpy'."""
    return _KERNELS


def _default_threads():
    """numba's rule: ``NUMBA_NUM_THREADS`` if set, else the number of cores."""
    value = os.environ.get("NUMBA_NUM_THREADS")
    return int(value) if value else os.cpu_count() or 1


_MAX_THREADS = _default_threads()
_NUM_THREADS = _MAX_THREADS


def set_num_threads(n):
    """Split batches over ``n`` threads (1 up to the number of cores, or ``NUMBA_NUM_THREADS``)."""
    global _NUM_THREADS
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= _MAX_THREADS:
        raise ValueError(f"set_num_threads: expected an int from 1 to {_MAX_THREADS}, got {n!r}.")
    _NUM_THREADS = int(n)


def num_threads():
    """The number of threads the kernels split a batch over (by default, the number of cores)."""
    return _NUM_THREADS


_FUSION = True


def set_fusion(enabled):
    """Fuse Conv2D + MaxPooling2D and BatchNormalization + ReLU pairs into one step each (True,
    the default) or not (False)."""
    global _FUSION
    _FUSION = bool(enabled)


def fusion():
    """Whether Conv2D + MaxPooling2D and BatchNormalization + ReLU pairs run fused (see
    ``scratchnet.layers.fused``)."""
    return _FUSION

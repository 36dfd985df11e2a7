"""Import Keras the deterministic way, and switch the float dtype on both libraries at once.

keras-behaviour.md section 10 is the recipe this module follows:

* ``TF_ENABLE_ONEDNN_OPTS=0`` before TensorFlow is imported. oneDNN reorders float32 sums, so with
  it on, float32 results move by a few ULPs from run to run of the same program on other CPUs.
  The variable is read once, when TensorFlow loads, so it is set here, at import time, and
  ``parity_tests/conftest.py`` sets it again on its first line before anything imports TF.
* The Keras backend is TensorFlow (``KERAS_BACKEND=tensorflow``).
* ``floatx`` is process-global in both libraries; ``use_floatx`` sets it on both sides and
  restores the previous value, so a test cannot leak float64 into the next one.
* Models are compiled with ``jit_compile=False`` (``compile_kwargs``) and fit with
  ``shuffle=False`` (see ``keras_impl.training``).

Example:
    >>> from keras_impl.setup import keras, use_floatx
    >>> with use_floatx("float64"):
    ...     keras.config.floatx()
    'float64'
"""

import contextlib
import os
import sys
import warnings

if "tensorflow" in sys.modules and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
    warnings.warn(
        "TensorFlow was imported before keras_impl.setup could set TF_ENABLE_ONEDNN_OPTS=0; "
        "float32 results may differ from scratchnet by a few extra ULPs. Import keras_impl "
        "(or set the variable in the shell) before importing TensorFlow.",
        stacklevel=2,
    )
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import scratchnet.config  # noqa: E402

# Arguments every parity model is compiled with: no XLA (it fuses and reorders float ops).
COMPILE_KWARGS = {"jit_compile": False}


@contextlib.contextmanager
def use_floatx(dtype):
    """Set ``floatx`` to ``dtype`` in Keras and scratchnet for the ``with`` block, then restore.

    Build the models inside the block: both libraries give weights the dtype current at build time.

    Args:
        dtype: ``"float32"`` or ``"float64"`` (or the NumPy dtype).
    """
    dtype = np.dtype(dtype).name
    before = (keras.config.floatx(), keras.config.dtype_policy(), scratchnet.config.floatx())
    keras.config.set_floatx(dtype)
    # Keras caches a global dtype policy made from floatx the first time a layer is created;
    # without resetting it, layers would keep the dtype of the first layer ever built.
    keras.config.set_dtype_policy(dtype)
    scratchnet.config.set_floatx(dtype)
    try:
        yield dtype
    finally:
        keras.config.set_floatx(before[0])
        keras.config.set_dtype_policy(before[1])
        scratchnet.config.set_floatx(before[2])


def reset_seeds(seed):
    """Seed Python ``random``, NumPy and TensorFlow the way ``keras.utils.set_random_seed`` does."""
    keras.utils.set_random_seed(seed)


__all__ = ["COMPILE_KWARGS", "keras", "np", "reset_seeds", "tf", "use_floatx"]

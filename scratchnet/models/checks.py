"""The checks ``fit``, ``evaluate`` and ``predict`` make on their arguments before any work,
so bad input fails at once with a message that says how to fix it."""

import numpy as np


def check_batch_size(batch_size, where):
    if batch_size is None:
        return 32  # Keras's default
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(
            f"{where}: batch_size must be a positive integer, got {batch_size!r}. "
            "Typical values are 32, 64 or 128."
        )
    return int(batch_size)


def as_array(x, what, where):
    if x is None:
        raise ValueError(f"{where}: {what} is None; pass a NumPy array.")
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(
            f"{where}: {what} is empty (shape {x.shape}); there is nothing to train or evaluate "
            "on. Check how the data was loaded or sliced."
        )
    return x


def reject_input_list(model, x, where):
    """A list of input arrays would be stacked into one array by ``np.asarray`` and fed to the
    first input, a wrong answer at best; say plainly that it is not supported yet."""
    if isinstance(x, (list, tuple, dict)) and len(getattr(model, "inputs", None) or []) > 1:
        raise NotImplementedError(
            f"{where}: model '{model.name}' has {len(model.inputs)} inputs, and running a "
            "multi-input model on data (a list or dict of arrays) is not supported yet. "
            "Build it with one Input and split it inside the model (e.g. with a Lambda "
            "layer), or concatenate the arrays into one input."
        )

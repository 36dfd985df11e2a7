"""The checks ``fit``, ``evaluate`` and ``predict`` make on their arguments before any work,
so bad input fails at once with a message that says how to fix it."""

import numpy as np


def check_batch_size(batch_size, where, n=None, steps=None):
    """The batch size: Keras's default 32, or with ``steps`` given for ``n`` samples and no
    batch size, ``ceil(n / steps)`` (Keras's ``ArrayDataAdapter``)."""
    if steps is not None and (not isinstance(steps, (int, np.integer)) or steps <= 0):
        raise ValueError(f"{where}: steps must be a positive integer or None, got {steps!r}.")
    if batch_size is None:
        return -(-n // int(steps)) if steps and n else 32  # Keras's default
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(
            f"{where}: batch_size must be a positive integer, got {batch_size!r}. "
            "Typical values are 32, 64 or 128."
        )
    return int(batch_size)


def as_array(x, what, where):
    if x is None:
        raise ValueError(f"{where}: {what} is None; pass a NumPy array.")
    try:
        x = np.asarray(x)
    except ValueError as error:  # ragged nested lists
        raise ValueError(
            f"{where}: {what} cannot be made into one NumPy array ({error}). Every sample must "
            "have the same shape: pad or crop them first."
        ) from None
    x = numeric(x, what, where)
    if x.ndim == 0:
        raise ValueError(
            f"{where}: {what} is a scalar ({x!r}); expected a batch, an array whose first axis "
            "is the samples (for one sample, x[None])."
        )
    if len(x) == 0:
        raise ValueError(
            f"{where}: {what} is empty (shape {x.shape}); there is nothing to train or evaluate "
            "on. Check how the data was loaded or sliced."
        )
    return x


def numeric(x, what, where):
    """``x`` if its dtype is a number (bool, int or float); an object array of numbers as
    float64. Strings, complex numbers, dates and other objects raise a TypeError (Keras: "Invalid
    dtype"; casting complex to float would drop the imaginary part silently)."""
    kind = x.dtype.kind
    if kind == "O":
        text = next((v for v in x.flat if isinstance(v, (str, bytes))), None)
        try:
            if text is not None:  # "0.5" would become 0.5: text is not a number here
                raise TypeError(f"it holds text, such as {text!r}")
            return x.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{where}: {what} is an array of Python objects that are not all numbers "
                f"({error}). Convert it to numbers first, e.g. np.asarray({what}, dtype='float32')"
                " (a pandas column of text: df[column].astype('float32')); text needs a "
                "tokenizer or a lookup first."
            ) from None
    if kind not in "biuf":
        raise TypeError(
            f"{where}: {what} has dtype {x.dtype}; expected numbers (bool, int or float). "
            + (
                "Take the real part (x.real) or the magnitude (abs(x)) first."
                if kind == "c"
                else "Convert it to numbers first; text needs a tokenizer or a lookup first."
            )
        )
    return x


def match_input_shape(model, x, where, index=0):
    """``x`` fitted to the rank of the model's declared Input as Keras does (a trailing axis of 1
    is dropped or added when the ranks differ by one), or a ValueError naming the model and both
    shapes if the ranks still differ. Other axes are the first layer's to check (its message
    names it). A model without a declared input shape takes ``x`` as it is. ``index``: which
    of the model's inputs ``x`` is for."""
    inputs = getattr(model, "inputs", None) or []
    if index >= len(inputs) or getattr(inputs[index], "shape", None) is None:
        return x
    ref = tuple(inputs[index].shape)
    if x.ndim == len(ref) + 1 and x.shape[-1] == 1:
        x = x[..., 0]
    elif x.ndim == len(ref) - 1 and ref[-1] == 1:
        x = x[..., None]
    if x.ndim != len(ref):
        raise ValueError(
            f"{where}: model '{model.name}' expects "
            + (f"input '{inputs[index].name}' of" if len(inputs) > 1 else "inputs of")
            + f" shape {ref} (None is any batch "
            f"size), but got {x.shape}. Reshape the data to match its Input, or build the model "
            "for this shape."
        )
    return x

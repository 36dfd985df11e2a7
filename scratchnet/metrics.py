"""Metrics: which accuracy Keras means by 'accuracy', and the running means fit reports.

Keras resolves ``metrics=["accuracy"]`` from the shapes of labels and outputs, not from the loss:

* output with a last axis of 1        -> binary accuracy (p > 0.5 equals the label);
* labels of lower rank, or (N, 1) labels against (N, C > 1) outputs -> sparse categorical
  accuracy (argmax of the output equals the integer label);
* otherwise                           -> categorical accuracy (argmaxes are equal).

The resolved metric keeps the name the user wrote, as Keras logs it ("accuracy").

Example:
    >>> import numpy as np
    >>> resolved = get("accuracy").resolve(np.zeros((2, 3)), np.zeros((2, 3)))
    >>> resolved.name, resolved.fn.__name__
    ('accuracy', 'categorical_accuracy')
"""

import numpy as np


def categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where argmax(y_true) == argmax(y_pred) (first index wins ties), else 0.0."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(y_pred.dtype)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where the integer label equals argmax(y_pred)."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim:
        y_true = y_true[..., 0]
    return (y_true.astype(np.int64) == np.argmax(y_pred, axis=-1)).astype(y_pred.dtype)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-sample mean over the last axis of (y_pred > threshold) == y_true."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true[..., None]
    return ((y_pred > threshold) == (y_true > 0.5)).astype(y_pred.dtype).mean(axis=-1)


class Metric:
    """A named per-sample function; ``fit`` keeps its sample-weighted running mean."""

    def __init__(self, name, fn=None):
        self.name = name  # the key shown in logs and History ("accuracy")
        self.fn = fn

    def resolve(self, y_true, y_pred):
        """For 'accuracy', pick the concrete function from the shapes (see module docstring)."""
        return self

    def __call__(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


class Accuracy(Metric):
    """Keras's ``'accuracy'``: resolved to binary/sparse/categorical accuracy on first use."""

    def __init__(self, name="accuracy"):
        super().__init__(name)

    def resolve(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_pred.shape[-1] == 1:
            fn = binary_accuracy
        elif y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
            fn = sparse_categorical_accuracy
        else:
            fn = categorical_accuracy
        return ResolvedMetric(self.name, fn)


class ResolvedMetric(Metric):
    pass


_NAMED = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
}


def get(identifier):
    """Resolve 'accuracy'/'acc', a function name from this module, or a Metric object."""
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ("accuracy", "acc"):
        return Accuracy(identifier)
    if isinstance(identifier, str) and identifier in _NAMED:
        return Metric(identifier, _NAMED[identifier])
    if callable(identifier) and identifier in _NAMED.values():
        return Metric(identifier.__name__, identifier)
    raise ValueError(
        f"Unknown metric {identifier!r}. scratchnet supports 'accuracy' (or 'acc') and "
        f"{sorted(_NAMED)}."
    )


class RunningMean:
    """Keras's ``Mean`` state: total += sum of values, count += n; result = total / count.

    The accumulators are kept in the model's float dtype, as Keras keeps them in floatx
    variables, so the numbers in the progress bar and History are Keras's to the last digit.
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.reset()

    def reset(self):
        self.total = self.dtype.type(0)
        self.count = self.dtype.type(0)

    def update(self, batch_sum, n):
        """Add a batch: ``batch_sum`` is the sum of its per-sample values, ``n`` its size."""
        self.total = self.dtype.type(self.total + self.dtype.type(batch_sum))
        self.count = self.dtype.type(self.count + self.dtype.type(n))

    def result(self):
        return float(self.total / self.count) if self.count else 0.0

"""Metrics: which accuracy Keras means by 'accuracy', and the running means fit reports.

Keras resolves ``metrics=["accuracy"]`` from the shapes of labels and outputs, not from the loss:

* output with a last axis of 1        -> binary accuracy (p > 0.5 equals the label);
* labels of lower rank, or (N, 1) labels against (N, C > 1) outputs -> sparse categorical
  accuracy (argmax of the output equals the integer label);
* otherwise                           -> categorical accuracy (argmaxes are equal).

The resolved metric keeps the name the user wrote, as Keras logs it ("accuracy").

Your own metric is a ``Metric`` subclass, as in Keras: ``add_variable`` in ``__init__`` for its
state, ``update_state(y_true, y_pred, sample_weight=None)`` written with ``scratchnet.ops`` (the
arguments are Tensors), ``result()``, and ``reset_state()`` (by default: every variable to 0).
``fit`` and ``evaluate`` call them at each step and log ``result()`` under the metric's name.

Example:
    >>> import numpy as np
    >>> resolved = get("accuracy").resolve(np.zeros((2, 3)), np.zeros((2, 3)))
    >>> resolved.name, resolved.fn.__name__
    ('accuracy', 'categorical_accuracy')
"""

import numpy as np

from . import config, initializers
from .naming import to_snake_case
from .ops.core import Variable, convert_to_tensor


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
    """Keras's metric base class: state in variables, ``update_state``, ``result``, ``reset_state``.

    Args:
        dtype: the dtype of the state (default floatx).
        name: the key in the logs and History (default the snake-cased class name).
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = np.dtype(dtype or config.floatx()).name
        self._variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable (a ``Variable``, not trained) that ``reset_state`` sets back to 0."""
        init = initializers.get(initializer) if isinstance(initializer, str) else initializer
        dtype = np.dtype(dtype or self.dtype)
        value = np.array(init(tuple(shape), dtype), dtype=dtype, order="C", copy=None)
        variable = Variable(value, trainable=False, name=name or "variable")
        self._variables.append(variable)
        return variable

    add_weight = add_variable

    @property
    def variables(self):
        return list(self._variables)

    def reset_state(self):
        """Every state variable back to 0 (between epochs, and before ``evaluate``)."""
        for variable in self._variables:
            variable.value[...] = 0

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define update_state().")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result().")

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the result, as Keras's ``Metric``."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class MeanMetricWrapper(Metric):
    """A per-sample function's running mean, as ``keras.metrics.MeanMetricWrapper``.

    ``fit`` keeps the running means of the built-in metrics itself (``RunningMean``, the same
    arithmetic); ``update_state`` and ``result`` serve a metric used on its own.
    """

    def __init__(self, fn=None, name=None, dtype=None):
        super().__init__(dtype=dtype, name=name or getattr(fn, "__name__", None))
        self.fn = fn
        self._mean = RunningMean(self.dtype)

    def resolve(self, y_true, y_pred):
        """For 'accuracy', pick the concrete function from the shapes (see module docstring)."""
        return self

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(f"Metric '{self.name}': sample_weight is not supported yet.")
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        fn = self.resolve(y_true, y_pred).fn
        self._mean.update(fn(y_true, y_pred).sum(dtype=self._mean.dtype), len(y_pred))

    def result(self):
        return self._mean.result()

    def reset_state(self):
        self._mean.reset()


def is_stateful(metric):
    """True for a metric that keeps its own state (a user's ``Metric`` subclass), False for
    the per-sample functions whose running means ``fit`` keeps."""
    return not isinstance(metric, MeanMetricWrapper)


class Accuracy(MeanMetricWrapper):
    """Keras's ``'accuracy'``: resolved to binary/sparse/categorical accuracy on first use."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(None, name=name, dtype=dtype)

    def resolve(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_pred.shape[-1] == 1:
            fn = binary_accuracy
        elif y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
            fn = sparse_categorical_accuracy
        else:
            fn = categorical_accuracy
        return MeanMetricWrapper(fn, self.name)


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
        return MeanMetricWrapper(_NAMED[identifier], identifier)
    if callable(identifier) and identifier in _NAMED.values():
        return MeanMetricWrapper(identifier, identifier.__name__)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier) and not isinstance(identifier, str):
        return MeanMetricWrapper(_per_sample(identifier), getattr(identifier, "__name__", None))
    raise ValueError(
        f"Unknown metric {identifier!r}. scratchnet supports 'accuracy' (or 'acc') and "
        f"{sorted(_NAMED)}."
    )


def _per_sample(fn):
    """A metric function written with ops (``fn(y_true, y_pred)``) as per-sample NumPy values."""

    def values(y_true, y_pred):
        return np.asarray(fn(y_true, y_pred))

    values.__name__ = getattr(fn, "__name__", "metric")
    return values


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


class Trackers:
    """The running means a model reports: the loss's and each compiled metric's.

    ``fit`` keeps one on the model through each epoch (and ``train_on_batch``/``test_on_batch``
    go on from it, as Keras's running means do); each ``evaluate`` makes its own, so threads
    evaluating one model at once never add into each other's means. A user's stateful ``Metric``
    keeps its own state instead (reset here, as Keras's ``reset_metrics`` does).

    Args:
        metrics: the compiled metrics (``get``'s results).
        dtype: the model's float dtype (the accumulators', as Keras's floatx variables).
    """

    def __init__(self, metrics, dtype):
        self.metrics = metrics
        self.loss = RunningMean(dtype)
        self.means = [RunningMean(dtype) for _ in metrics]
        self.resolved = None  # 'accuracy' resolved to its function, on the first batch
        for metric in metrics:
            if is_stateful(metric):
                metric.reset_state()

    def update(self, y_true, y_pred, loss_value, n):
        """Add one batch of ``n`` samples: its mean loss and its metrics."""
        dtype = self.loss.dtype
        self.loss.update(dtype.type(loss_value) * dtype.type(n), n)
        if self.resolved is None:
            self.resolved = [
                m if is_stateful(m) else m.resolve(y_true, y_pred) for m in self.metrics
            ]
        for metric, mean in zip(self.resolved, self.means):
            if is_stateful(metric):  # a user's Metric: its own state
                metric.update_state(convert_to_tensor(y_true), convert_to_tensor(y_pred))
            else:
                mean.update(metric.fn(y_true, y_pred).sum(dtype=dtype), n)

    def logs(self, prefix=""):
        """``{"loss": ..., metric name: ...}``, keys sorted as Keras sorts them."""
        logs = {prefix + "loss": self.loss.result()}
        for metric, mean in zip(self.metrics, self.means):
            if is_stateful(metric):
                logs[prefix + metric.name] = float(np.asarray(metric.result()))
            else:
                logs[prefix + metric.name] = mean.result()
        return dict(sorted(logs.items()))  # Keras sorts log keys: accuracy before loss

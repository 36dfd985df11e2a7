"""The metric base class, Keras's ``Mean`` and ``Sum``, and the wrapper of per-sample functions.

A metric keeps its state in variables of its dtype (floatx by default: float32 state in a
float32 session, float64 in float64, as Keras 3.15), so the numbers in the progress bar and in
History are Keras's to the last digit.

``Mean`` (Keras's ``reduce_to_samplewise_values``, measured): values of more than one axis are
first averaged to one per sample; with a ``sample_weight`` w (brought to the values' rank as a
loss brings it), ``total += sum(v * w)`` and ``count += sum(w)``, else ``count += N``;
``result = total / count`` (0 while count is 0).
"""

import numpy as np

from .. import config, initializers
from ..losses.base import same_rank
from ..naming import to_snake_case, unique_name
from ..ops.core import Variable, convert_to_tensor


def as_array(x):
    """A NumPy view of a Tensor or array (a Metric of yours may be handed Tensors)."""
    if type(x) is np.ndarray:
        return x
    return np.asarray(x.value if hasattr(x, "value") and not isinstance(x, np.ndarray) else x)


class Metric:
    """Keras's metric base class: state in variables, ``update_state``, ``result``, ``reset_state``.

    Args:
        dtype: the dtype of the state (default floatx).
        name: the key in the logs and History (default the snake-cased class name, numbered
            from the second one on as Keras's ``auto_name`` does: "auc", "auc_1", ...).
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or unique_name(to_snake_case(type(self).__name__))
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


def _add(variable, amount):
    """variable += amount, rounded to the variable's dtype (Keras's ``assign_add``)."""
    variable.value[...] = variable.value + np.asarray(amount, dtype=variable.value.dtype)


def samplewise(values, sample_weight, reduce_fn, dtype):
    """Keras's ``reduce_to_samplewise_values``: one (weighted) value per sample, and the
    weights reduced alike. See the module docstring."""
    values = as_array(values).astype(dtype, copy=False)
    if sample_weight is not None:
        weights = as_array(sample_weight).astype(dtype, copy=False)
        values, weights = same_rank(values, weights)
        if values.ndim > weights.ndim:
            values = reduce_fn(values, axis=tuple(range(weights.ndim, values.ndim)))
        values = values * np.broadcast_to(weights, values.shape)
        if weights.ndim > 1:
            weights = reduce_fn(weights, axis=tuple(range(1, weights.ndim)))
        sample_weight = weights
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """The running sum of the (weighted) values: ``total += sum(v * w)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = samplewise(values, sample_weight, np.sum, self.dtype)
        _add(self.total, values.sum(dtype=self.dtype))

    def result(self):
        return self.total.value.copy()


class Mean(Metric):
    """The running (weighted) mean of the values: ``total / count`` (see the module docstring)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(name="total")
        self.count = self.add_variable(name="count")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = samplewise(values, sample_weight, np.mean, self.dtype)
        _add(self.total, values.sum(dtype=self.dtype))
        if sample_weight is not None:
            count = np.sum(sample_weight, dtype=self.dtype)
        else:
            count = values.shape[0] if values.ndim >= 1 else 1
        _add(self.count, count)

    def result(self):
        total, count = self.total.value, self.count.value
        return total / count if count else np.zeros_like(total)


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``, as Keras's.

    Args:
        fn: the per-sample function (NumPy arrays in, one value per sample out).
        name: the metric's name (default the function's).
        kwargs: passed to ``fn`` at each update (``k=5`` for the top-k accuracy).
    """

    def __init__(self, fn=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self.fn, self.fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.fn(as_array(y_true), as_array(y_pred), **self.fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class RunningMean:
    """Keras's ``Mean`` state for the loss tracker: total += batch sum, count += n.

    The accumulators are kept in the model's float dtype, as Keras keeps them in floatx
    variables, so the loss in the progress bar and History is Keras's to the last digit.
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
    """What a model reports: the running mean of the loss, and each compiled metric's result.

    ``fit`` keeps one on the model through each epoch (and ``train_on_batch``/``test_on_batch``
    go on from it, as Keras's running means do); each ``evaluate`` makes its own loss mean.
    The metrics keep their own state (reset here, as Keras's ``reset_metrics`` does), so two
    threads evaluating one model take turns (``Model.evaluate``).

    Args:
        metrics: the compiled metrics (``get``'s results).
        dtype: the model's float dtype (the loss accumulator's, as Keras's floatx variables).
    """

    def __init__(self, metrics, dtype):
        self.metrics = metrics
        self.own = [type(m).__module__.startswith("scratchnet.") for m in metrics]
        self.loss = RunningMean(dtype)
        for metric in metrics:
            metric.reset_state()

    def update(self, y_true, y_pred, loss_value, n):
        """Add one batch of ``n`` samples: its mean loss, and the batch to each metric."""
        dtype = self.loss.dtype
        self.loss.update(dtype.type(loss_value) * dtype.type(n), n)
        for metric, own in zip(self.metrics, self.own):
            if own:  # scratchnet's metrics read the arrays
                metric.update_state(y_true, y_pred)
            else:  # a Metric of yours gets Tensors (it may compute with scratchnet.ops)
                metric.update_state(convert_to_tensor(y_true), convert_to_tensor(y_pred))

    def logs(self, prefix=""):
        """``{"loss": ..., metric name: ...}``, keys sorted as Keras sorts them."""
        logs = {prefix + "loss": self.loss.result()}
        for metric in self.metrics:
            logs[prefix + metric.name] = _log_value(metric.result())
        return dict(sorted(logs.items()))  # Keras sorts log keys: accuracy before loss


def _log_value(result):
    """A metric's result as Keras's logs hold it: a Python float, or an array for a per-class
    result (F1Score(average=None))."""
    value = np.asarray(result)
    return float(value) if value.ndim == 0 else value.copy()

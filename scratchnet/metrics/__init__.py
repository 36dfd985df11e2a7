"""Metrics: the running numbers ``fit`` and ``evaluate`` report, as Keras 3.15 computes them.

Where to read what:

* ``base.py``: ``Metric`` (state in variables), ``Mean``, ``Sum``, ``MeanMetricWrapper``;
* ``accuracy.py``: the accuracies, and how ``"accuracy"`` picks one from the shapes;
* ``regression.py``: mean squared/absolute/percentage/logarithmic error, RMSE;
* ``confusion.py``: Precision, Recall, AUC, F1Score from (weighted) confusion counts.

Your own metric is a ``Metric`` subclass, as in Keras: ``add_variable`` in ``__init__`` for its
state, ``update_state(y_true, y_pred, sample_weight=None)`` written with ``scratchnet.ops`` (the
arguments are Tensors), ``result()``, and ``reset_state()`` (by default: every variable to 0).
``fit`` and ``evaluate`` call them at each step and log ``result()`` under the metric's name.

Names in ``compile(metrics=[...])`` resolve as Keras's ``compile`` resolves them (measured): a
string names a class (its name, its snake-cased name, or an alias: "mae", "mse", "mape",
"msle") and the metric takes the string as its name, so History's key is what you wrote
("mae" logs "mae"); ``"accuracy"``/``"acc"`` resolve from the shapes; an object keeps its name.

Example:
    >>> import numpy as np
    >>> m = get("mae")
    >>> m.update_state(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))
    >>> m.name, float(m.result())
    ('mae', 0.25)
"""

from ..naming import to_snake_case
from .accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .base import Mean, MeanMetricWrapper, Metric, RunningMean, Sum, Trackers
from .confusion import AUC, F1Score, Precision, Recall
from .regression import (
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
)

__all__ = [
    "Metric",
    "Mean",
    "Sum",
    "MeanMetricWrapper",
    "RunningMean",
    "Trackers",
    "get",
]

_CLASSES = (
    Mean, Sum, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, RootMeanSquaredError, Precision,
    Recall, AUC, F1Score,
)  # fmt: skip
_BY_NAME = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{to_snake_case(cls.__name__): cls for cls in _CLASSES},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
}  # fmt: skip
# Keras's metric functions that scratchnet has (what a .keras file may name as a function).
FUNCTIONS = (
    binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy,
)  # fmt: skip
FUNCTION_NAMES = tuple(fn.__name__ for fn in FUNCTIONS)


def get(identifier):
    """The metric for ``compile(metrics=[identifier])``, named as Keras names it.

    A string: 'accuracy'/'acc' (resolved from the shapes at the first update), or a class name,
    snake-cased class name or alias, the metric then named by the string. A Metric object as
    it is; a Metric class, its instance; a function ``fn(y_true, y_pred)`` (per-sample values),
    its running mean named after the function.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return Accuracy(identifier)
        if identifier not in _BY_NAME:
            raise ValueError(
                f"Unknown metric {identifier!r}. scratchnet knows 'accuracy' (or 'acc') and "
                f"{sorted(_BY_NAME)}."
            )
        metric = _BY_NAME[identifier]()
        metric.name = identifier
        return metric
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, getattr(identifier, "__name__", None))
    raise ValueError(
        f"Unknown metric {identifier!r}: give a name such as 'mae', a Metric, or a function."
    )

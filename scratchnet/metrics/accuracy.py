"""The accuracies: binary, categorical, sparse categorical, top-k, and Keras's 'accuracy'.

Keras resolves ``metrics=["accuracy"]`` from the shapes of labels and outputs, not from the loss:

* output with a last axis of 1        -> binary accuracy (p > 0.5 equals the label);
* labels of lower rank, or (N, 1) labels against (N, C > 1) outputs -> sparse categorical
  accuracy (argmax of the output equals the integer label);
* otherwise                           -> categorical accuracy (argmaxes are equal).

The resolved metric keeps the name the user wrote, as Keras logs it ("accuracy" or "acc").
Each function returns one 0/1 value per sample (or per entry), in floatx as Keras casts them.
"""

import numpy as np

from .. import config
from ..losses.base import same_rank
from .base import MeanMetricWrapper, as_array


def _floatx(matches):
    return matches.astype(config.floatx())


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals y_true, entry by entry."""
    y_true, y_pred = same_rank(as_array(y_true), as_array(y_pred))
    return _floatx(y_true == (y_pred > threshold).astype(y_true.dtype))


def categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where argmax(y_true) == argmax(y_pred) (first index wins ties)."""
    return _floatx(np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1))


def sparse_categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where the integer label equals argmax(y_pred)."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return _floatx(y_true.astype(y_pred.dtype) == np.argmax(y_pred, axis=-1))


def _in_top_k(targets, predictions, k):
    """TensorFlow's ``in_top_k``: the target's score has fewer than k scores above it (so ties
    at the boundary all count as in), and it is finite."""
    target_scores = np.take_along_axis(predictions, targets[:, None], axis=-1)  # (N, 1)
    above = (predictions > target_scores).sum(axis=-1)
    return (above < k) & np.isfinite(target_scores[:, 0])


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample 1.0 where the one-hot label's class is among the k highest scores."""
    y_pred = as_array(y_pred)
    targets = np.argmax(as_array(y_true), axis=-1)
    shape = targets.shape
    matches = _in_top_k(targets.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return _floatx(matches.reshape(shape))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample 1.0 where the integer label is among the k highest scores."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    shape = y_true.shape
    targets = y_true.astype(np.int64).reshape(-1)
    matches = _in_top_k(targets, y_pred.reshape(-1, y_pred.shape[-1]), k)
    matches = matches.reshape(shape)
    return _floatx(matches[..., 0] if matches.ndim > 1 and matches.shape[-1] == 1 else matches)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class Accuracy(MeanMetricWrapper):
    """Keras's ``'accuracy'`` (or ``'acc'``) of ``compile``: binary, sparse or categorical
    accuracy, chosen from the shapes at the first update (see the module docstring)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(None, name=name, dtype=dtype)

    def resolve(self, y_true, y_pred):
        """The accuracy function Keras picks for these shapes."""
        y_true, y_pred = as_array(y_true), as_array(y_pred)
        if y_pred.shape[-1] == 1:
            return binary_accuracy
        if y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
            return sparse_categorical_accuracy
        return categorical_accuracy

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.fn is None:
            self.fn = self.resolve(y_true, y_pred)
        super().update_state(y_true, y_pred, sample_weight)

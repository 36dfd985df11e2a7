"""Losses on distributions and margins: KL divergence, Poisson, and the three hinges.

Written as the regression losses are (``values``, then ``backward`` from dv = dL/dvalues).
"""

import numpy as np

from .. import config
from .base import Loss, expand


class KLDivergence(Loss):
    """Kullback-Leibler divergence of y_pred from y_true, both clipped to [eps, 1].

    Math:
        t = clip(y, eps, 1),  q = clip(p, eps, 1);  L_i = sum_d t log(t / q)
        dL/dp = -t / q * dL/dL_i   where eps <= p <= 1, else 0
    """

    name = "kl_divergence"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    @staticmethod
    def _clip(x):
        return np.clip(x, x.dtype.type(config.epsilon()), x.dtype.type(1))

    def values(self, y_true, y_pred):
        t = self._clip(y_true)
        return (t * np.log(t / self._clip(y_pred))).sum(axis=-1)

    def backward(self, y_true, y_pred, dv):
        inside = (y_pred >= y_pred.dtype.type(config.epsilon())) & (y_pred <= 1)
        return -self._clip(y_true) / self._clip(y_pred) * inside * expand(dv)


class Poisson(Loss):
    """Poisson negative log-likelihood (without the log y! term).

    Math:
        L_i = mean_d [p - y log(p + eps)];   dL/dp = (1 - y / (p + eps)) / D * dL/dL_i
    """

    name = "poisson"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def values(self, y_true, y_pred):
        eps = y_pred.dtype.type(config.epsilon())
        return (y_pred - y_true * np.log(y_pred + eps)).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        eps = y_pred.dtype.type(config.epsilon())
        return (1 - y_true / (y_pred + eps)) * expand(dv) / y_pred.dtype.type(y_pred.shape[-1])


def hinge_labels(y_true):
    """Keras's rule: labels that are all 0 or 1 become -1 or 1; any others stay as they are."""
    if np.all((y_true == 0) | (y_true == 1)):
        return 2 * y_true - 1
    return y_true


class Hinge(Loss):
    """Hinge loss for labels -1/1 (or 0/1, converted).

    Math:
        m = 1 - y p;  L_i = mean_d max(m, 0);  dL/dp = -y [m >= 0] / D * dL/dL_i
    (TensorFlow's maximum passes the gradient to m on a tie, m = 0.)
    """

    name = "hinge"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def values(self, y_true, y_pred):
        return np.maximum(1 - hinge_labels(y_true) * y_pred, 0).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        y = hinge_labels(y_true)
        active = 1 - y * y_pred >= 0
        return -y * active * expand(dv) / y_pred.dtype.type(y_pred.shape[-1])


class SquaredHinge(Loss):
    """Squared hinge loss.

    Math:
        m = 1 - y p;  L_i = mean_d max(m, 0)^2;  dL/dp = -2 y max(m, 0) / D * dL/dL_i
    """

    name = "squared_hinge"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def values(self, y_true, y_pred):
        return np.square(np.maximum(1 - hinge_labels(y_true) * y_pred, 0)).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        y = hinge_labels(y_true)
        margin = np.maximum(1 - y * y_pred, 0)
        return -2 * y * margin * expand(dv) / y_pred.dtype.type(y_pred.shape[-1])


class CategoricalHinge(Loss):
    """Categorical hinge: the best wrong class's score against the true class's, with margin 1.

    Math:
        pos = sum_c y p,  neg = max_c (1 - y) p;  L_i = max(neg - pos + 1, 0)
        dL/dp = [(1 - y) * s - y] [L_i >= 0] * dL/dL_i, where s shares 1 equally among the
        classes that reach the max (TensorFlow's reduce-max gradient).
    """

    name = "categorical_hinge"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    @staticmethod
    def _terms(y_true, y_pred):
        pos = (y_true * y_pred).sum(axis=-1)  # (N,)
        others = (1 - y_true) * y_pred  # (N, C)
        return pos, others, others.max(axis=-1)

    def values(self, y_true, y_pred):
        pos, _, neg = self._terms(y_true, y_pred)
        return np.maximum(neg - pos + 1, 0)

    def backward(self, y_true, y_pred, dv):
        pos, others, neg = self._terms(y_true, y_pred)
        at_max = others == neg[..., None]
        share = at_max / at_max.sum(axis=-1, keepdims=True).astype(y_pred.dtype)
        active = (neg - pos + 1 >= 0)[..., None]
        return ((1 - y_true) * share - y_true) * active * expand(dv)

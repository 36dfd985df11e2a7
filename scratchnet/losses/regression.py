"""Regression losses: squared, absolute, percentage, logarithmic, Huber, log-cosh, cosine.

Each is ``values`` (one number per sample, the mean over the last axis unless said otherwise)
and ``backward`` (dL/dy_pred from dv = dL/dvalues), written by hand. The kinks follow
TensorFlow's gradients: d|x|/dx = sign(x) (0 at 0); maximum(a, b) passes its gradient to a
where a >= b.

Shapes: y_true, y_pred (N, D) (or any (N, ..., D)); a (N,) target against a (N, 1) output is
expanded first (``base.same_rank``), and the gradient comes back in y_pred's own shape.
"""

import numpy as np

from .. import config
from .base import Loss, expand


def _mean_scale(dv, y_pred):
    """dL/dv per sample spread over the D entries its mean averaged: dv / D, as a column."""
    return expand(dv) / y_pred.dtype.type(y_pred.shape[-1])


class MeanSquaredError(Loss):
    """Mean squared error.

    Math:
        L_i = mean_d (y - p)^2;   dL/dp = 2 (p - y) / D * dL/dL_i
    """

    name = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def values(self, y_true, y_pred):
        return np.square(y_true - y_pred).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        return 2 * (y_pred - y_true) * _mean_scale(dv, y_pred)


class MeanAbsoluteError(Loss):
    """Mean absolute error.

    Math:
        L_i = mean_d |y - p|;   dL/dp = -sign(y - p) / D * dL/dL_i
    """

    name = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def values(self, y_true, y_pred):
        return np.abs(y_true - y_pred).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        return -np.sign(y_true - y_pred) * _mean_scale(dv, y_pred)


class MeanAbsolutePercentageError(Loss):
    """Mean absolute percentage error, 100 |y - p| / |y| (|y| at least eps).

    Math:
        m = max(|y|, eps);  L_i = 100 mean_d |(y - p) / m|
        dL/dp = -100 sign((y - p) / m) / m / D * dL/dL_i
    """

    name = "mean_absolute_percentage_error"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _m(self, y_true):
        return np.maximum(np.abs(y_true), y_true.dtype.type(config.epsilon()))

    def values(self, y_true, y_pred):
        return 100.0 * np.abs((y_true - y_pred) / self._m(y_true)).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        m = self._m(y_true)
        return -100.0 * np.sign((y_true - y_pred) / m) / m * _mean_scale(dv, y_pred)


class MeanSquaredLogarithmicError(Loss):
    """Mean squared logarithmic error.

    Math:
        a = log(max(p, eps) + 1),  b = log(max(y, eps) + 1);  L_i = mean_d (a - b)^2
        dL/dp = 2 (a - b) / (max(p, eps) + 1) / D * dL/dL_i   where p >= eps, else 0
    Keras's eps here is a float32 constant even in float64 (``convert_to_tensor(epsilon())``).
    """

    name = "mean_squared_logarithmic_error"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _logs(self, y_true, y_pred):
        eps = y_pred.dtype.type(np.float32(config.epsilon()))
        p = np.maximum(y_pred, eps)
        return np.log(p + 1), np.log(np.maximum(y_true, eps) + 1), p, eps

    def values(self, y_true, y_pred):
        a, b, _, _ = self._logs(y_true, y_pred)
        return np.square(a - b).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        a, b, p, eps = self._logs(y_true, y_pred)
        return 2 * (a - b) / (p + 1) * (y_pred >= eps) * _mean_scale(dv, y_pred)


class Huber(Loss):
    """Huber loss: quadratic for errors up to delta, linear beyond.

    Math:
        e = p - y;  h(e) = e^2 / 2 where |e| <= delta, else delta |e| - delta^2 / 2
        L_i = mean_d h(e);  dL/dp = (e where |e| <= delta, else delta sign(e)) / D * dL/dL_i

    Keras's ``get_config`` leaves ``delta`` out (a loaded Huber has delta 1.0); scratchnet
    writes it, and Keras's ``Huber.from_config`` reads it back.
    """

    name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = delta

    def values(self, y_true, y_pred):
        e = y_pred - y_true
        delta, half = y_pred.dtype.type(self.delta), y_pred.dtype.type(0.5)
        quadratic = np.abs(e) <= delta
        h = np.where(quadratic, half * np.square(e), delta * np.abs(e) - half * np.square(delta))
        return h.mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        e = y_pred - y_true
        delta = y_pred.dtype.type(self.delta)
        return np.where(np.abs(e) <= delta, e, delta * np.sign(e)) * _mean_scale(dv, y_pred)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(Loss):
    """Logarithm of the hyperbolic cosine of the error, log(cosh(p - y)).

    Math (Keras's overflow-safe form; its log 2 is a float32 constant even in float64):
        x = p - y;  log cosh x = x + softplus(-2x) - log 2;  L_i = mean_d log cosh x
        dL/dp = tanh(x) / D * dL/dL_i      (1 - 2 sigmoid(-2x) = tanh x)
    """

    name = "log_cosh"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def values(self, y_true, y_pred):
        x = y_pred - y_true
        log2 = y_pred.dtype.type(np.log(np.float32(2.0)))  # Keras: ops.log(2.0), a float32
        return (x + np.logaddexp(0, -2 * x) - log2).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        return np.tanh(y_pred - y_true) * _mean_scale(dv, y_pred)


class CosineSimilarity(Loss):
    """Negative cosine similarity between y_true and y_pred along ``axis`` (-1 = aligned).

    Math (Keras's l2-normalise: x * min(1 / sqrt(sum x^2), 1 / eps)):
        r = min(1 / sqrt(sum_d p^2), 1 / eps),  p^ = p r,  y^ likewise;  L_i = -sum_d y^ p^
        dL/dp = -(y^ - (y^ . p^) p^) r * dL/dL_i   (just -y^ r where the cap 1/eps won)

    Keras's ``get_config`` leaves ``axis`` out; scratchnet writes it.
    """

    name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if axis != -1:
            raise ValueError(f"Loss '{self.name}': only axis=-1 is supported, got {axis}.")
        self.axis = axis

    @staticmethod
    def _normalize(x):
        """x * min(1/sqrt(sum x^2), 1/eps), and where the first one won (the gradient flows)."""
        with np.errstate(divide="ignore"):
            inv_norm = 1 / np.sqrt(np.square(x).sum(axis=-1, keepdims=True))
        cap = x.dtype.type(1.0 / config.epsilon())
        return x * np.minimum(inv_norm, cap), np.minimum(inv_norm, cap), inv_norm <= cap

    def values(self, y_true, y_pred):
        return -(self._normalize(y_true)[0] * self._normalize(y_pred)[0]).sum(axis=-1)

    def backward(self, y_true, y_pred, dv):
        t = self._normalize(y_true)[0]
        p, inv_norm, through_norm = self._normalize(y_pred)
        along = (t * p).sum(axis=-1, keepdims=True) * p * through_norm
        return -(t - along) * inv_norm * expand(dv)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

"""The cross-entropies: categorical, sparse categorical, binary, and the two focal ones.

Two paths, exactly as in Keras/TensorFlow:

* The **fused** path. When the model ends in softmax (or sigmoid) and the loss is a cross-entropy,
  Keras never looks at the probabilities: it computes the loss from the logits z,
  ``logsumexp(z) - z_y``, and the gradient into the logits is simply ``(p - y) / N``. No
  epsilon-clipping, so the gradient never vanishes even when p saturates at 0 or 1.
  ``value_and_grad_from_logits`` is this path (``from_logits=True`` too); ``ActivationWithLoss``
  (``losses/fused.py``) pairs it with the output layer, and ``Model.fit`` uses it automatically.
* The **plain** path, for probabilities that did not come from a softmax layer (for example a
  NumPy array): renormalise, clip to [eps, 1 - eps], take logs. ``values`` and ``backward``
  are this path.

``label_smoothing`` s moves the targets before either path, as Keras does:
``y (1 - s) + s / C`` (categorical), ``y (1 - s) + s / 2`` (binary).

The focal losses are written with ``scratchnet.ops`` (``call``) and differentiated by autodiff:
their gradient is the chain rule through a power and a product, no new lesson.
"""

import numpy as np

from .. import activations, config, ops
from .base import Loss, as_float, expand, reduce_weighted, same_rank


def _smooth(y_true, label_smoothing, num_classes):
    """Keras's label smoothing: y (1 - s) + s / num_classes, in y's dtype."""
    if not label_smoothing:
        return y_true
    dtype = y_true.dtype.type
    return y_true * dtype(1.0 - label_smoothing) + dtype(label_smoothing) / dtype(num_classes)


def _axis_last(axis, who):
    if axis != -1:
        raise ValueError(f"Loss '{who}': only axis=-1 (Keras's default) is supported, got {axis}.")
    return axis


class _CrossEntropy(Loss):
    """What the three cross-entropies share: the fused path's reduction of per-sample values."""

    def value_and_grad_from_logits(self, y_true, z, sample_weight=None):
        """``(L, dL/dz)`` from the logits z, with the reduction and sample weights."""
        shape = np.shape(z)
        y_true, z = self.check(y_true, z)
        per_sample, backward_from_dv = self._from_logits(y_true, z)
        if sample_weight is None and self.reduction == "sum_over_batch_size" and per_sample.size:
            # fit's case: L = sum(v) / N, and every sample's dL/dv is the same 1/N, a scalar
            # (what reduce_weighted computes, without an (N,) array of 1/N: measured, the general
            # path costs torres, a two-Dense tutorial, 7-9% of its training step)
            dtype = per_sample.dtype.type
            n = dtype(per_sample.size)
            dz = backward_from_dv(dtype(1) / n).reshape(shape)
            return dtype(per_sample.sum(dtype=dtype) / n), dz
        loss, backward = reduce_weighted(per_sample, sample_weight, self.reduction, self.name)
        return loss, backward_from_dv(backward(np.ones_like(loss))).reshape(shape)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, axis=self.axis)
        return config


class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy between one-hot labels and class probabilities.

    Args:
        from_logits: y_pred are logits z (take the fused path).
        label_smoothing: s in [0, 1]: the targets become y (1 - s) + s / C.
        axis: the class axis; only -1.

    Shapes:
        y_true, y_pred (or logits z): (N, C)

    Math:
        fused (softmax output with logits z):
            L_i = sum_c y_ic * (logsumexp(z_i) - z_ic);   dL/dz = (softmax(z) - y) * dL/dL_i
        plain (probabilities p):
            q = clip(p / sum_c p, eps, 1 - eps);  L_i = -sum_c y_ic log q_ic
            dL/dq = -y / q (0 where clipped), then the quotient rule of p / sum(p)
    """

    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)
        self.label_smoothing, self.axis = label_smoothing, _axis_last(axis, self.name)

    def check(self, y_true, y_pred):
        y_true, y_pred = super().check(y_true, y_pred)
        return _smooth(y_true, self.label_smoothing, y_pred.shape[-1]), y_pred

    def values(self, y_true, y_pred):
        q = np.clip(
            y_pred / y_pred.sum(axis=-1, keepdims=True), config.epsilon(), 1 - config.epsilon()
        )
        return -(y_true * np.log(q)).sum(axis=-1)  # (N,)

    def backward(self, y_true, y_pred, dv):
        """dL/dp on the plain path: through the log, the clip (0 outside), the renormalisation."""
        eps = config.epsilon()
        s = y_pred.sum(axis=-1, keepdims=True)  # (N, 1)
        r = y_pred / s  # (N, C)
        q = np.clip(r, eps, 1 - eps)
        dq = -y_true / q * expand(dv)  # dL/dq
        dr = dq * ((r >= eps) & (r <= 1 - eps))  # clip passes the gradient only inside the range
        return (dr - (dr * r).sum(axis=-1, keepdims=True)) / s  # quotient rule of p / sum(p)

    def _from_logits(self, y_true, z):
        shifted = z - z.max(axis=-1, keepdims=True)  # (N, C), max 0: exp cannot overflow
        e = np.exp(shifted)
        sum_e = e.sum(axis=-1, keepdims=True)  # (N, 1)
        per_sample = (y_true * (np.log(sum_e) - shifted)).sum(axis=-1)  # (N,)
        return per_sample, lambda dv: (e / sum_e - y_true) * expand(dv)  # (N, C)


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with integer class ids as labels.

    Shapes:
        y_true: (N,) or (N, 1) integers in [0, C);  y_pred (or logits z): (N, C)

    Math:
        fused:  L_i = logsumexp(z_i) - z_i[y_i];   dL/dz = (softmax(z) - onehot(y)) * dL/dL_i
        plain:  c = clip(p, eps, 1 - eps);  L_i = -log(c_i[y_i] / sum_c c_ic)
    """

    name = "sparse_categorical_crossentropy"
    fused_activation = "softmax"

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)
        if ignore_class is not None:
            raise ValueError(f"Loss '{self.name}': ignore_class is not supported (use None).")
        self.ignore_class, self.axis = ignore_class, _axis_last(axis, self.name)

    def get_config(self):
        return {**Loss.get_config(self), "ignore_class": self.ignore_class}

    def check(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(config.floatx())
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_true.shape != y_pred.shape[:-1]:
            hint = (
                " They look one-hot encoded: use loss='categorical_crossentropy', or pass "
                "y.argmax(-1)."
                if y_true.shape == y_pred.shape
                else ""
            )
            raise ValueError(
                f"Loss '{self.name}': expected integer labels of shape {y_pred.shape[:-1]} (or "
                f"{y_pred.shape[:-1] + (1,)}) for a model output of shape {y_pred.shape}, got "
                f"{y_true.shape}.{hint}"
            )
        labels = y_true.astype(np.int64)
        if labels.size and (
            labels.min() < 0 or labels.max() >= y_pred.shape[-1] or np.any(labels != y_true)
        ):
            raise ValueError(
                f"Loss '{self.name}': labels must be integers in [0, {y_pred.shape[-1]}); got "
                f"values from {y_true.min()} to {y_true.max()}."
            )
        return labels, y_pred

    def _onehot(self, labels, like):
        onehot = np.zeros_like(like)
        np.put_along_axis(onehot, labels[..., None], 1, axis=-1)
        return onehot

    def values(self, labels, y_pred):
        c = np.clip(y_pred, config.epsilon(), 1 - config.epsilon())
        picked = np.take_along_axis(c, labels[..., None], axis=-1)[..., 0]
        return np.log(c.sum(axis=-1)) - np.log(picked)

    def backward(self, labels, y_pred, dv):
        eps = config.epsilon()
        c = np.clip(y_pred, eps, 1 - eps)
        dc = 1 / c.sum(axis=-1, keepdims=True) - self._onehot(labels, c) / c
        dc *= expand(dv)
        return dc * ((y_pred >= eps) & (y_pred <= 1 - eps))

    def _from_logits(self, labels, z):
        shifted = z - z.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        sum_e = e.sum(axis=-1, keepdims=True)
        per_sample = (
            np.log(sum_e)[..., 0] - np.take_along_axis(shifted, labels[..., None], axis=-1)[..., 0]
        )
        return per_sample, lambda dv: (e / sum_e - self._onehot(labels, z)) * expand(dv)


class BinaryCrossentropy(_CrossEntropy):
    """Binary cross-entropy, averaged over the last axis, then reduced over the batch.

    Args:
        from_logits: y_pred are logits z (take the fused path).
        label_smoothing: s in [0, 1]: the targets become y (1 - s) + s / 2.

    Shapes:
        y_true, y_pred (or logits z): (N, D); a (N,) y_true against a (N, 1) y_pred is expanded.

    Math:
        fused (sigmoid output):  L_i = mean_d [max(z,0) - z*y + log1p(exp(-|z|))];
                                 dL/dz = (sigmoid(z) - y) / D * dL/dL_i
        plain:  p = clip(p, eps, 1 - eps);  L_i = -mean_d [y log p + (1 - y) log(1 - p)]
    """

    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)
        self.label_smoothing, self.axis = label_smoothing, _axis_last(axis, self.name)

    def check(self, y_true, y_pred):
        y_true, y_pred = super().check(y_true, y_pred)
        return _smooth(y_true, self.label_smoothing, 2), y_pred

    def values(self, y_true, y_pred):
        p = np.clip(y_pred, config.epsilon(), 1 - config.epsilon())
        return -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)).mean(axis=-1)

    def backward(self, y_true, y_pred, dv):
        eps = config.epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        scale = expand(dv) / y_pred.dtype.type(y_pred.shape[-1])
        dp = -(y_true / p - (1 - y_true) / (1 - p)) * scale
        return dp * ((y_pred >= eps) & (y_pred <= 1 - eps))

    def _from_logits(self, y_true, z):
        elementwise = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        per_sample = elementwise.mean(axis=-1)  # (N,)
        return (
            per_sample,
            lambda dv: (
                (activations.sigmoid.forward(z) - y_true) * (expand(dv) / z.dtype.type(z.shape[-1]))
            ),
        )


class BinaryFocalCrossentropy(Loss):
    """Binary cross-entropy down-weighting the easy examples (Lin et al. 2017), as Keras.

    Args:
        apply_class_balancing: weigh positives by alpha and negatives by 1 - alpha.
        alpha, gamma: the balancing weight and the focusing power.
        from_logits, label_smoothing: as ``BinaryCrossentropy``.

    Math:
        p = sigmoid(z) if from_logits else y_pred;  bce = binary cross-entropy of (y, p)
        p_t = y p + (1 - y)(1 - p);  L_i = mean_d [(1 - p_t)^gamma * bce]  (* alpha_t)
        dL/dp by autodiff through ``call``.
    """

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing = from_logits, label_smoothing
        self.axis = _axis_last(axis, self.name)

    def call(self, y_true, y_pred):
        y_true, y_pred = _focal_inputs(y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            y_pred = ops.sigmoid(y_pred)
        bce = ops.binary_crossentropy(y_true, y_pred)
        p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
        focal_bce = ops.power(1.0 - p_t, self.gamma) * bce
        if self.apply_class_balancing:
            focal_bce = (y_true * self.alpha + (1 - y_true) * (1 - self.alpha)) * focal_bce
        return ops.mean(focal_bce, axis=-1)

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }


class CategoricalFocalCrossentropy(Loss):
    """Categorical cross-entropy down-weighting the easy examples, as Keras.

    Math:
        p = softmax(z) if from_logits else y_pred;  q = clip(p / sum p, eps, 1 - eps)
        L_i = sum_c alpha (1 - q_c)^gamma (-y_c log q_c);  dL/dp by autodiff through ``call``.
    """

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha, self.gamma = alpha, gamma
        self.from_logits, self.label_smoothing = from_logits, label_smoothing
        self.axis = _axis_last(axis, self.name)

    def call(self, y_true, y_pred):
        y_true, y_pred = _focal_inputs(y_true, y_pred)
        if self.label_smoothing:
            num_classes = ops.cast(y_true.shape[-1], y_pred.dtype)
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        if self.from_logits:
            y_pred = ops.softmax(y_pred, axis=-1)
        output = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        output = ops.clip(output, config.epsilon(), 1.0 - config.epsilon())
        cce = -y_true * ops.log(output)
        focal_cce = ops.power(1.0 - output, self.gamma) * self.alpha * cce
        return ops.sum(focal_cce, axis=-1)

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }


def _focal_inputs(y_true, y_pred):
    """Keras's LossFunctionWrapper rank rule, then equal shapes (a clear error otherwise)."""
    y_true, y_pred = same_rank(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"Focal loss: labels of shape {tuple(y_true.shape)} do not match the output of shape "
            f"{tuple(y_pred.shape)}."
        )
    return y_true, y_pred


def categorical_crossentropy(y_true, y_pred):
    """Per-sample categorical cross-entropy on probabilities, as ``keras.losses`` computes it."""
    loss = CategoricalCrossentropy()
    return loss.values(*loss.check(y_true, y_pred))


def sparse_categorical_crossentropy(y_true, y_pred):
    """Per-sample sparse categorical cross-entropy on probabilities."""
    loss = SparseCategoricalCrossentropy()
    return loss.values(*loss.check(y_true, y_pred))


def binary_crossentropy(y_true, y_pred):
    """Per-sample binary cross-entropy on probabilities (mean over the last axis)."""
    loss = BinaryCrossentropy()
    return loss.values(*loss.check(y_true, y_pred))


def _per_sample_autodiff(cls, name):
    def fn(y_true, y_pred):
        loss = cls(reduction="none", dtype=as_float(y_true, y_pred)[1].dtype)
        return np.asarray(loss(y_true, y_pred))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Per-sample {name.replace('_', ' ')} (Keras's defaults), on probabilities."
    return fn


binary_focal_crossentropy = _per_sample_autodiff(
    BinaryFocalCrossentropy, "binary_focal_crossentropy"
)
categorical_focal_crossentropy = _per_sample_autodiff(
    CategoricalFocalCrossentropy, "categorical_focal_crossentropy"
)

"""Losses, with Keras's values and gradients.

Each loss is a class (``CategoricalCrossentropy()``) and a per-sample function
(``categorical_crossentropy(y_true, y_pred)``); ``compile(loss=...)`` takes either, or the name.

Reduction: like Keras's default ``sum_over_batch_size``, the scalar loss is the mean of the
per-sample values, so a gradient always carries a factor 1/N.

Two paths, exactly as in Keras/TensorFlow:

* The **fused** path. When the model ends in softmax (or sigmoid) and the loss is a cross-entropy,
  Keras never looks at the probabilities: it computes the loss from the logits z,
  ``logsumexp(z) - z_y``, and the gradient into the logits is simply ``(p - y) / N``. No
  epsilon-clipping, so the gradient never vanishes even when p saturates at 0 or 1.
  ``value_and_grad_from_logits`` is this path; ``ActivationWithLoss`` (at the end of this file)
  is the object that pairs it with the output layer, and ``Model.fit`` uses it automatically.
* The **plain** path, for probabilities that did not come from a softmax layer (for example a
  NumPy array): renormalise, clip to [eps, 1 - eps], take logs. ``__call__`` and ``gradient`` are
  this path.

Example:
    >>> import numpy as np
    >>> loss = CategoricalCrossentropy()
    >>> round(float(loss(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]))), 4)
    0.6931
"""

import contextlib
import threading

import numpy as np

from . import activations, config, naming
from .ops.core import Tensor, convert_to_tensor, gradients, record, record_gradients


def _as_float(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(config.floatx())
    return np.asarray(y_true).astype(y_pred.dtype, copy=False), y_pred


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    return activations.sigmoid.forward(z)


def _inv_n(values_shape, dtype):
    """1/N as Keras's sum_over_batch_size gradient computes it: rounded to the dtype, then used."""
    return dtype.type(1.0) / dtype.type(np.prod(values_shape))


class Loss:
    """Base class of the losses, and the class to subclass for your own, as in Keras.

    A built-in loss defines its per-sample ``values`` and both gradients by hand (the lesson);
    ``fused_activation`` names the output activation it fuses with (or None).

    Your own loss defines ``call(y_true, y_pred)`` with ``scratchnet.ops`` (its arguments are
    Tensors of the loss's dtype), returning one value per sample; the reduction
    (``"sum_over_batch_size"``: sum, then divide by the number of values) and the gradient
    dL/dy_pred come from autodiff (``scratchnet.ops.core``).

    Args:
        name: the loss's name (default the snake-cased class name).
        reduction: ``"sum_over_batch_size"`` (Keras's default; ``"mean"`` is the same) or
            ``"sum"``.
        dtype: the dtype the loss computes in (default floatx).
    """

    name = "loss"
    fused_activation = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, from_logits=False):
        if from_logits and self.fused_activation is None:
            raise ValueError(f"Loss '{self.name}' has no from_logits form.")
        if reduction not in ("sum_over_batch_size", "mean", "sum"):
            raise ValueError(
                f"Loss '{name or self.name}': reduction must be 'sum_over_batch_size' (the "
                f"default), 'mean' or 'sum', got {reduction!r}."
            )
        self.from_logits = from_logits  # y_pred are logits: always take the fused path
        self.reduction = reduction
        self.dtype = np.dtype(dtype or config.floatx()).name
        if name:
            self.name = name
        elif self.writes_call():
            self.name = naming.to_snake_case(type(self).__name__)

    def writes_call(self):
        """True for a loss written with ``call`` (autodiff), False for the built-in ones."""
        return type(self).call is not Loss.call

    def call(self, y_true, y_pred):
        """Per-sample loss values, written with ``scratchnet.ops`` (in your subclass)."""
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred).")

    def value_and_gradient(self, y_true, y_pred):
        """``(L, dL/dy_pred)`` of a loss written with ``call``: the reduced loss, and its
        gradient by autodiff through ``call`` and the reduction."""
        target = convert_to_tensor(np.asarray(y_true), dtype=self.dtype)
        prediction = Tensor(np.asarray(y_pred).astype(self.dtype, copy=False), requires_grad=True)
        with record_gradients():
            total = self._reduce(convert_to_tensor(self._call(target, prediction)))
        (grad,) = gradients(total, 1.0, [prediction])
        if grad is None:
            grad = np.zeros_like(prediction.value)  # the loss does not depend on y_pred
        return total.value, grad

    def _call(self, y_true, y_pred):
        return self.call(y_true, y_pred)

    def _reduce(self, values):
        """Keras's reduction: ``sum(values)``, divided by their number for sum_over_batch_size.

        Math: L = (1/n) sum_i v_i, so dL/dv_i = 1/n (the backward rule below)."""
        if self.reduction == "sum":
            n = 1
        else:
            n = int(np.prod(values.shape))
        v = values.value
        total = v.sum(dtype=v.dtype) / v.dtype.type(n) if n else v.dtype.type(0)

        def backward(dy):  # each value counts 1/n of the loss
            return (np.broadcast_to(dy / v.dtype.type(n), v.shape),)

        return record(np.asarray(total, dtype=v.dtype), (values,), backward)

    def check(self, y_true, y_pred):
        """Cast to float and validate shapes; raise a clear error on mismatch."""
        y_true, y_pred = _as_float(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(self._shape_message(y_true, y_pred))
        return y_true, y_pred

    def _shape_message(self, y_true, y_pred):
        msg = (
            f"Loss '{self.name}': labels of shape {y_true.shape} do not match the model output "
            f"of shape {y_pred.shape}; this loss needs them to be equal."
        )
        if y_true.ndim == y_pred.ndim - 1 and y_pred.ndim >= 2 and y_pred.shape[-1] > 1:
            msg += (
                " The labels look like integer class ids: one-hot encode them with "
                "scratchnet.utils.to_categorical(y, num_classes), or use "
                "loss='sparse_categorical_crossentropy'."
            )
        return msg

    def __call__(self, y_true, y_pred):
        """The scalar loss: mean of the per-sample values over the batch."""
        if self.writes_call():
            with record_gradients(False):
                target = convert_to_tensor(np.asarray(y_true), dtype=self.dtype)
                prediction = convert_to_tensor(np.asarray(y_pred), dtype=self.dtype)
                return self._reduce(convert_to_tensor(self._call(target, prediction))).value
        if self.from_logits:
            return self.value_and_grad_from_logits(y_true, y_pred)[0]
        y_true, y_pred = self.check(y_true, y_pred)
        return self.values(y_true, y_pred).mean(dtype=y_pred.dtype)

    def gradient(self, y_true, y_pred):
        """dL/dy_pred (built-in losses write theirs by hand; this one is autodiff's)."""
        return self.value_and_gradient(y_true, y_pred)[1]

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self.fused_activation is not None:
            config["from_logits"] = self.from_logits
        return config


class CategoricalCrossentropy(Loss):
    """Cross-entropy between one-hot labels and class probabilities.

    Shapes:
        y_true, y_pred (or logits z): (N, C)

    Math:
        fused (softmax output with logits z):
            L_i = sum_c y_ic * (logsumexp(z_i) - z_ic);   dL/dz = (softmax(z) - y) / N
        plain (probabilities p):
            q = clip(p / sum_c p, eps, 1 - eps);  L_i = -sum_c y_ic log q_ic
    """

    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)

    def values(self, y_true, y_pred):
        q = np.clip(
            y_pred / y_pred.sum(axis=-1, keepdims=True), config.epsilon(), 1 - config.epsilon()
        )
        return -(y_true * np.log(q)).sum(axis=-1)  # (N,)

    def gradient(self, y_true, y_pred):
        """dL/dp on the plain path: through the log, the clip (0 outside), the renormalisation."""
        y_true, y_pred = self.check(y_true, y_pred)
        eps = config.epsilon()
        s = y_pred.sum(axis=-1, keepdims=True)  # (N, 1)
        r = y_pred / s  # (N, C)
        q = np.clip(r, eps, 1 - eps)
        dq = -y_true / q * _inv_n(y_true.shape[:-1], y_pred.dtype)  # dL/dq
        dr = dq * ((r >= eps) & (r <= 1 - eps))  # clip passes the gradient only inside the range
        return (dr - (dr * r).sum(axis=-1, keepdims=True)) / s  # quotient rule of p / sum(p)

    def value_and_grad_from_logits(self, y_true, z):
        y_true, z = self.check(y_true, z)
        shifted = z - z.max(axis=-1, keepdims=True)  # (N, C), max 0: exp cannot overflow
        e = np.exp(shifted)
        sum_e = e.sum(axis=-1, keepdims=True)  # (N, 1)
        per_sample = (y_true * (np.log(sum_e) - shifted)).sum(axis=-1)  # (N,)
        dz = (e / sum_e - y_true) * _inv_n(per_sample.shape, z.dtype)  # (N, C)
        return per_sample.mean(dtype=z.dtype), dz


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class ids as labels.

    Shapes:
        y_true: (N,) or (N, 1) integers in [0, C);  y_pred (or logits z): (N, C)

    Math:
        fused:  L_i = logsumexp(z_i) - z_i[y_i];   dL/dz = (softmax(z) - onehot(y)) / N
        plain:  c = clip(p, eps, 1 - eps);  L_i = -log(c_i[y_i] / sum_c c_ic)
    """

    name = "sparse_categorical_crossentropy"
    fused_activation = "softmax"

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)

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
                "values "
                f"from {y_true.min()} to {y_true.max()}."
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

    def gradient(self, y_true, y_pred):
        labels, y_pred = self.check(y_true, y_pred)
        eps = config.epsilon()
        c = np.clip(y_pred, eps, 1 - eps)
        dc = 1 / c.sum(axis=-1, keepdims=True) - self._onehot(labels, c) / c
        dc *= _inv_n(labels.shape, y_pred.dtype)
        return dc * ((y_pred >= eps) & (y_pred <= 1 - eps))

    def value_and_grad_from_logits(self, y_true, z):
        labels, z = self.check(y_true, z)
        shifted = z - z.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        sum_e = e.sum(axis=-1, keepdims=True)
        per_sample = (
            np.log(sum_e)[..., 0] - np.take_along_axis(shifted, labels[..., None], axis=-1)[..., 0]
        )
        dz = (e / sum_e - self._onehot(labels, z)) * _inv_n(labels.shape, z.dtype)
        return per_sample.mean(dtype=z.dtype), dz


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, averaged over the last axis then over the batch.

    Shapes:
        y_true, y_pred (or logits z): (N, D)

    Math:
        fused (sigmoid output):  L_i = mean_d [max(z,0) - z*y + log1p(exp(-|z|))];
                                 dL/dz = (sigmoid(z) - y) / D / N
        plain:  p = clip(p, eps, 1 - eps);  L_i = -mean_d [y log p + (1 - y) log(1 - p)]
    """

    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)

    def check(self, y_true, y_pred):
        y_true, y_pred = _as_float(y_true, y_pred)
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = y_true[..., None]
        if y_true.shape != y_pred.shape:
            raise ValueError(self._shape_message(y_true, y_pred))
        return y_true, y_pred

    def values(self, y_true, y_pred):
        p = np.clip(y_pred, config.epsilon(), 1 - config.epsilon())
        return -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)).mean(axis=-1)

    def gradient(self, y_true, y_pred):
        y_true, y_pred = self.check(y_true, y_pred)
        eps = config.epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        scale = _inv_n(y_true.shape[:-1], y_pred.dtype) / y_pred.dtype.type(y_pred.shape[-1])
        dp = -(y_true / p - (1 - y_true) / (1 - p)) * scale
        return dp * ((y_pred >= eps) & (y_pred <= 1 - eps))

    def value_and_grad_from_logits(self, y_true, z):
        y_true, z = self.check(y_true, z)
        elementwise = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        per_sample = elementwise.mean(axis=-1)  # (N,)
        scale = _inv_n(per_sample.shape, z.dtype) / z.dtype.type(z.shape[-1])
        return per_sample.mean(dtype=z.dtype), (_sigmoid(z) - y_true) * scale


class MeanSquaredError(Loss):
    """Mean squared error, averaged over the last axis then over the batch.

    Math:
        L_i = mean_d (y - p)^2;   dL/dp = 2 (p - y) / D / N
    """

    name = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def values(self, y_true, y_pred):
        return np.square(y_true - y_pred).mean(axis=-1)

    def gradient(self, y_true, y_pred):
        y_true, y_pred = self.check(y_true, y_pred)
        scale = _inv_n(y_true.shape[:-1], y_pred.dtype) / y_pred.dtype.type(y_pred.shape[-1])
        return 2 * (y_pred - y_true) * scale


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


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error (mean over the last axis)."""
    loss = MeanSquaredError()
    return loss.values(*loss.check(y_true, y_pred))


mse = MSE = mean_squared_error

_BY_NAME = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}
_BY_FUNCTION = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
}
_CLASSES = (
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    BinaryCrossentropy,
    MeanSquaredError,
)


def get(identifier):
    """Resolve a loss name, class name, function from this module, or Loss object."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _BY_FUNCTION:
        loss = _BY_FUNCTION[identifier]()
        return loss
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        for cls in _CLASSES:
            if identifier == cls.__name__:
                return cls()
    if callable(identifier) and not isinstance(identifier, (str, type)):
        return LossFunctionWrapper(identifier)
    raise ValueError(
        f"Unknown loss {identifier!r}. Expected one of {sorted(_BY_NAME)}, a loss class such as "
        "scratchnet.losses.CategoricalCrossentropy(), or one of the loss functions in "
        "scratchnet.losses."
    )


_THIS_THREAD = threading.local()  # the model step this thread runs: .inner, .logits (below)


class ActivationWithLoss:
    """A softmax (or sigmoid) output layer and a cross-entropy loss, run as one step.

    deep-learning-from-scratch's ``SoftmaxWithLoss``, the way Keras computes it. A model whose
    output layer ends in softmax and whose loss is a categorical cross-entropy (or sigmoid and
    binary cross-entropy) never differentiates the softmax on its own:

        forward:  z = the output layer's logits, p = softmax(z) (what the model returns)
                  L = mean_i [logsumexp(z_i) - z_i[y_i]]        from z, not from p
        backward: dL/dz = (p - y) / N                          straight into the layer's logits

    The Jacobian of the softmax and the derivative of the log cancel, so the product of the two
    backward passes is this one subtraction: cheaper, and exact even where p saturates at 0 or 1
    (the plain path clips p to [eps, 1 - eps] and its gradient vanishes there).

    How scratchnet runs it:

    * the output layer keeps its logits z during the forward pass (``keeps_logits``, ``keep``):
      in training in ``layer.logits``, with its other training caches; in a test step (evaluate)
      in that step's own dict (``collect``), so that threads evaluating one model at once each
      read their own; in plain inference (predict) nowhere. The model's inner layers keep none
      (``inner_layers``);
    * ``find(loss, layer, logits)`` says whether a loss and the layer that made the model's
      output make such a pair (``Model`` asks it at each training and test step);
    * ``value_and_gradient(y_true)`` is L and dL/dz from those logits;
    * backprop starts at the layer's ``backward_from_logits(dz)``
      (``Tape.backward(..., from_logits=True)``), skipping the activation's own backward.

    Args:
        layer: the output layer (its activation is softmax or sigmoid).
        loss: a loss whose ``fused_activation`` is that activation's name.
        logits: the logits z that layer kept.
    """

    ACTIVATIONS = ("softmax", "sigmoid")  # the activations a cross-entropy fuses with

    def __init__(self, layer, loss, logits):
        self.layer, self.loss, self.logits = layer, loss, logits

    @classmethod
    def find(cls, loss, layer, logits):
        """The pair made of ``loss`` and the output ``layer``, or None if they do not fuse."""
        activation = getattr(layer, "activation", None)
        if (
            loss.from_logits  # the output already is the logits: nothing to fuse
            or loss.fused_activation is None
            or activation is None
            or activation.name != loss.fused_activation
            or logits is None
        ):
            return None
        return cls(layer, loss, logits)

    def value(self, y_true):
        """The batch loss from the layer's logits (test steps need no gradient)."""
        return self.loss.value_and_grad_from_logits(y_true, self.logits)[0]

    def value_and_gradient(self, y_true):
        """``(L, dL/dz)`` from the layer's logits z: dL/dz = (p - y) / N."""
        return self.loss.value_and_grad_from_logits(y_true, self.logits)

    @classmethod
    def keeps_logits(cls, layer, training):
        """Whether ``layer`` keeps its logits z in this forward pass, for a fused loss to read:
        a softmax or sigmoid layer does in training and in a test step (``collect``), unless it
        is an inner layer of the model that runs it (``inner_layers``)."""
        if layer.activation.name not in cls.ACTIVATIONS:
            return False
        if layer in getattr(_THIS_THREAD, "inner", ()):
            return False
        return training or getattr(_THIS_THREAD, "logits", None) is not None

    @staticmethod
    def keep(layer, y, z, training):
        """Keep ``z``, the logits of the output ``y`` (None: keep none; see ``keeps_logits``).
        Training: in ``layer.logits``. A test step: in its ``collect`` dict. Else: nowhere."""
        if training:
            layer.logits = z
        elif z is not None:
            _THIS_THREAD.logits[id(y)] = z

    @staticmethod
    @contextlib.contextmanager
    def collect():
        """A test step: yields ``{id(output): logits}``, filled by this thread's layers."""
        previous = getattr(_THIS_THREAD, "logits", None)
        _THIS_THREAD.logits = logits = {}
        try:
            yield logits
        finally:
            _THIS_THREAD.logits = previous

    @staticmethod
    @contextlib.contextmanager
    def inner_layers(layers):
        """While a model runs, its inner ``layers`` keep no logits: only the output layer's can
        meet a fused loss, and an inner softmax or sigmoid layer that kept them would hold a
        second copy of its output (5.5 MB a step for hanoi's first convolution). Said for this
        thread only, so a layer called on its own, in another model or another thread, keeps its
        logits as before."""
        previous = getattr(_THIS_THREAD, "inner", ())
        _THIS_THREAD.inner = layers
        try:
            yield
        finally:
            _THIS_THREAD.inner = previous


class LossFunctionWrapper(Loss):
    """A plain function ``fn(y_true, y_pred)`` written with ops, as a loss (Keras's class).

    ``compile(loss=my_function)`` wraps the function in one of these: ``call`` brings the labels
    and the predictions to the same rank first (a (N,) target against an (N, 1) output, as
    Keras's ``squeeze_or_expand_to_same_rank``), then calls ``fn``.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(
            name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype
        )
        self.fn, self.fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "fn": self.fn.__name__}


def same_rank(x1, x2):
    """Keras's ``squeeze_or_expand_to_same_rank``: when the ranks differ by one and the longer
    one ends in an axis of 1, squeeze that axis (or, against a 1-D tensor, add one to it)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2[..., None]) if x2.ndim == 1 else (x1[..., 0], x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1[..., None], x2) if x1.ndim == 1 else (x1, x2[..., 0])
    return x1, x2

"""The loss base class, Keras's reductions and sample weights, and the shape rule of the losses.

A loss is computed in three steps, and so is its gradient, backwards:

    values  v_i = loss(y_true_i, y_pred_i)        one value per sample (per ``values``)
    weights u_i = v_i * w_i                       ``sample_weight`` w, 1 if not given
    reduce  L   = sum_i u_i / D                   D: see below

    dL/du_i = 1 / D,   dL/dv_i = w_i / D,   dL/dy_pred = dL/dv * dv/dy_pred  (per ``backward``)

Keras's reductions (``keras.losses.Loss(reduction=...)``, measured on Keras 3.15):

* ``"sum_over_batch_size"`` (the default) and ``"mean"``: D = the number of values, N for the
  usual ``(N,)``; a zero weight still counts in D;
* ``"mean_with_sample_weight"``: D = sum of the weights (the number of values if none given);
* ``"sum"``: D = 1;
* ``None`` or ``"none"``: no reduction, the weighted values themselves (the gradient is then that
  of their sum, as ``tf.GradientTape.gradient`` of a vector).

D = 0 gives 0 (``divide_no_nan``). A scalar or an empty ``(0,)`` array of values is returned
unreduced, as Keras returns it.
"""

import numpy as np

from .. import config, naming
from ..ops.core import Tensor, convert_to_tensor, gradients, record, record_gradients

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")


def same_rank(x1, x2, expand_rank_1=True):
    """Keras's ``squeeze_or_expand_to_same_rank``: when the ranks differ by one and the longer
    one ends in an axis of 1, squeeze that axis, or, against a 1-D array (``expand_rank_1``), give
    the 1-D one that axis: a ``(N,)`` target against an ``(N, 1)`` output becomes ``(N, 1)``."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2[..., None]) if x2.ndim == 1 and expand_rank_1 else (x1[..., 0], x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1[..., None], x2) if x1.ndim == 1 and expand_rank_1 else (x1, x2[..., 0])
    return x1, x2


def _unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting stretched, back to ``shape``."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def check_reduction(reduction, who):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Loss '{who}': reduction must be one of 'sum_over_batch_size' (the default), "
            f"'sum', 'mean', 'mean_with_sample_weight' or None/'none'; got {reduction!r}."
        )
    return reduction


def reduce_weighted(values, sample_weight=None, reduction="sum_over_batch_size", who="loss"):
    """Keras's ``reduce_weighted_values``: ``(L, backward)``, backward(dL) -> dL/dvalues.

    Args:
        values: the per-sample loss values, e.g. ``(N,)``.
        sample_weight: None, a scalar, or an array that ``same_rank`` brings to the rank of
            ``values`` (``(N,)`` or ``(N, 1)`` for ``(N,)`` values).
        reduction: one of ``REDUCTIONS`` (see the module docstring).

    Math:
        u = v * w;  L = sum(u) / D;   dL/dv = dL * w / D  (summed back over broadcast axes)
    """
    dtype = values.dtype
    shape = values.shape
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight).astype(dtype, copy=False)
        values, weights = same_rank(values, weights)
    ranked = values.shape  # (N,) values against (N, 1) weights: (N, 1)
    if weights is not None:
        try:
            values = values * weights
        except ValueError:
            raise ValueError(
                f"Loss '{who}': sample_weight of shape {np.shape(sample_weight)} does not match "
                f"the per-sample losses of shape {shape}; give one weight per sample, shape "
                f"{shape}."
            ) from None
    if reduction in (None, "none") or values.shape in ((), (0,)):

        def backward(dy):
            dv = dy if weights is None else dy * weights
            return _unbroadcast(np.broadcast_to(dv, values.shape), ranked).reshape(shape)

        return values, backward
    total = values.sum(dtype=dtype)
    if reduction == "sum":
        divisor = dtype.type(1)
    elif reduction == "mean_with_sample_weight" and weights is not None:
        divisor = weights.sum(dtype=dtype)
    else:
        divisor = dtype.type(np.prod(values.shape))
    loss = total / divisor if divisor else dtype.type(0)
    inv = dtype.type(1) / divisor if divisor else dtype.type(0)  # 1/D, as TF's divide gradient

    def backward(dy):
        dv = dtype.type(dy) * inv if weights is None else dtype.type(dy) * inv * weights
        return _unbroadcast(np.broadcast_to(dv, values.shape), ranked).reshape(shape)

    return dtype.type(loss), backward


def as_float(y_true, y_pred):
    """Both as arrays of y_pred's float dtype (floatx for an integer y_pred)."""
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(config.floatx())
    return np.asarray(y_true).astype(y_pred.dtype, copy=False), y_pred


class Loss:
    """Base class of the losses, and the class to subclass for your own, as in Keras.

    A built-in loss writes, by hand (the lesson):

    * ``values(y_true, y_pred)``: one loss value per sample (forward);
    * ``backward(y_true, y_pred, dv)``: dL/dy_pred from ``dv`` = dL/dvalues (the chain rule's
      last link, given by the reduction: ``1/N`` per sample by default);

    and ``fused_activation`` names the output activation it fuses with (or None).

    Your own loss defines ``call(y_true, y_pred)`` with ``scratchnet.ops`` (its arguments are
    Tensors of the loss's dtype), returning one value per sample; the reduction and the gradient
    dL/dy_pred come from autodiff (``scratchnet.ops.core``).

    Calling a loss, ``loss(y_true, y_pred, sample_weight=None)``, gives the reduced loss;
    ``value_and_gradient`` gives it with dL/dy_pred. See ``base``'s docstring for the reductions.

    Args:
        name: the loss's name (default the snake-cased class name).
        reduction: ``"sum_over_batch_size"`` (Keras's default), ``"mean"``, ``"sum"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``.
        dtype: the dtype the loss computes in (default floatx).
    """

    name = "loss"
    fused_activation = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, from_logits=False):
        if from_logits and self.fused_activation is None:
            raise ValueError(f"Loss '{self.name}' has no from_logits form.")
        self.reduction = check_reduction(reduction, name or self.name)
        self.from_logits = from_logits  # y_pred are logits: always take the fused path
        self.dtype = np.dtype(dtype or config.floatx()).name
        if name:
            self.name = name
        elif self.writes_call():
            self.name = naming.to_snake_case(type(self).__name__)

    def writes_call(self):
        """True for a loss written with ``call`` (autodiff), False for the hand-written ones."""
        return type(self).call is not Loss.call

    def call(self, y_true, y_pred):
        """Per-sample loss values, written with ``scratchnet.ops`` (in your subclass)."""
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred).")

    # -- the scalar loss and its gradient --------------------------------------------------------

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss (see the module docstring for the reductions)."""
        if self.writes_call():
            with record_gradients(False):
                return self._autodiff(y_true, y_pred, sample_weight)[0].value
        if self.from_logits:
            return self.value_and_grad_from_logits(y_true, y_pred, sample_weight)[0]
        y_true, y_pred = self.check(y_true, y_pred)
        return reduce_weighted(
            self.values(y_true, y_pred), sample_weight, self.reduction, self.name
        )[0]

    def value_and_gradient(self, y_true, y_pred, sample_weight=None):
        """``(L, dL/dy_pred)``: the reduced loss and its gradient, in y_pred's shape."""
        if self.writes_call():
            with record_gradients():
                total, prediction = self._autodiff(y_true, y_pred, sample_weight)
            seed = np.ones_like(total.value)
            (grad,) = gradients(total, seed, [prediction])
            if grad is None:
                grad = np.zeros_like(prediction.value)  # the loss does not depend on y_pred
            return total.value, grad
        if self.from_logits:
            return self.value_and_grad_from_logits(y_true, y_pred, sample_weight)
        shape = np.shape(y_pred)
        y_true, y_pred = self.check(y_true, y_pred)
        loss, backward = reduce_weighted(
            self.values(y_true, y_pred), sample_weight, self.reduction, self.name
        )
        dv = backward(np.ones_like(loss))
        return loss, self.backward(y_true, y_pred, dv).reshape(shape)

    def gradient(self, y_true, y_pred, sample_weight=None):
        """dL/dy_pred (``value_and_gradient``'s second half)."""
        return self.value_and_gradient(y_true, y_pred, sample_weight)[1]

    def _autodiff(self, y_true, y_pred, sample_weight):
        """A ``call`` loss on Tensors: the reduced loss, recorded for autodiff, and y_pred."""
        target = convert_to_tensor(np.asarray(y_true), dtype=self.dtype)
        prediction = Tensor(np.asarray(y_pred).astype(self.dtype, copy=False), requires_grad=True)
        values = convert_to_tensor(self._call(target, prediction))
        loss, backward = reduce_weighted(values.value, sample_weight, self.reduction, self.name)
        return record(loss, (values,), lambda dy: (backward(dy),)), prediction

    def _call(self, y_true, y_pred):
        return self.call(y_true, y_pred)

    # -- shapes ----------------------------------------------------------------------------------

    def check(self, y_true, y_pred):
        """Cast to float, bring to the same rank as Keras does, and require equal shapes."""
        y_true, y_pred = same_rank(*as_float(y_true, y_pred))
        if y_true.shape != y_pred.shape:
            raise ValueError(self._shape_message(y_true, y_pred))
        return y_true, y_pred

    def _shape_message(self, y_true, y_pred):
        msg = (
            f"Loss '{self.name}': labels of shape {y_true.shape} do not match the model output "
            f"of shape {y_pred.shape}; this loss needs them to be equal (Keras would broadcast "
            "them, which is almost always a mistake)."
        )
        if y_true.ndim == y_pred.ndim - 1 and y_pred.ndim >= 2 and y_pred.shape[-1] > 1:
            msg += (
                " The labels look like integer class ids: one-hot encode them with "
                "scratchnet.utils.to_categorical(y, num_classes), or use "
                "loss='sparse_categorical_crossentropy'."
            )
        return msg

    # -- configs -----------------------------------------------------------------------------------

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self.fused_activation is not None:
            config["from_logits"] = self.from_logits
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def inv_n(values_shape, dtype):
    """1/N as Keras's sum_over_batch_size gradient computes it: rounded to the dtype, then used."""
    return dtype.type(1.0) / dtype.type(np.prod(values_shape))


def expand(dv):
    """dL/dvalues (one per sample) as a column, to scale a gradient over the last axis."""
    return np.asarray(dv)[..., None]


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

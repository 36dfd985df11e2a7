"""Weight and activity regularizers, mirroring ``keras.regularizers`` number for number.

A regularizer is a penalty added to the training loss: ``L1(0.01)`` adds ``0.01 * sum |w|``.
Layers take one by name (``kernel_regularizer="l2"``), as an object or as a Keras config dict;
``get`` turns any of these into an object.

Each regularizer here computes its penalty AND its gradient, by hand, so that the built-in layers
(whose backward is written by hand too) add it without autodiff:

* ``reg(x)`` is the penalty, a scalar of x's dtype;
* ``reg.gradient(x, dpenalty=1.0)`` is dL/dx for L = dpenalty * penalty, computed in Keras's
  order (TensorFlow's gradient of Keras's formula), so both libraries give the same bits.

How a layer uses them (``penalties``, ``activity_gradient`` and ``add_weight_gradients``, called
by every built-in layer that takes a regularizer):

* a weight penalty ``kernel_regularizer(kernel)`` is a loss term of the layer (in
  ``layer.losses``, which the model adds to the loss it reports, as Keras's ``model.losses``);
  its gradient is added to ``grads["kernel"]`` in backward. Only trainable weights count;
* an activity penalty ``activity_regularizer(y)`` is taken on the layer's output and divided by
  the batch size N = y.shape[0], as Keras does; its gradient, ``gradient(y, 1/N)``, is added to
  dy before the layer's own backward.

Any other callable ``f(x) -> scalar`` works too, if written with ``scratchnet.ops``: its gradient
then comes from autodiff (``gradient_of``).

Example:
    >>> import numpy as np
    >>> reg = L2(0.5)
    >>> w = np.array([1.0, -2.0])
    >>> float(reg(w)), reg.gradient(w).tolist()
    (2.5, [1.0, -2.0])
    >>> serialize(L1L2(l1=0.25))
    {'module': 'keras.regularizers', 'class_name': 'L1L2', 'config': {'l1': 0.25, 'l2': 0.0}, \
'registered_name': None}
"""

import math

import numpy as np

from .naming import Catalog
from .ops.core import Tensor, convert_to_tensor, gradients, record_gradients

EPSILON = 1e-7  # Keras's backend.epsilon(), the floor of OrthogonalRegularizer's norms


def _cast(value, dtype):
    """A Python float as Keras's ``ops.cast(value, dtype)`` on TensorFlow gives it: through a
    float32 tensor first, so in float64 0.01 becomes 0.009999999776482582."""
    return np.dtype(dtype).type(np.float32(value))


def validate_float_arg(value, name):
    """A non-negative finite number as a float, as Keras checks penalty factors."""
    if not isinstance(value, (float, int)) or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value!r}"
        )
    return float(value)


class Regularizer:
    """Base class: ``__call__(x)`` is the penalty (here 0.0).

    A subclass defines ``__call__`` and ``get_config``, and either ``gradient(x, dpenalty=1.0)``
    (dL/dx for L = dpenalty * penalty, as the built-in ones do) or nothing more if its
    ``__call__`` is written with ``scratchnet.ops``: autodiff then finds the gradient
    (``gradient_of``).
    """

    def __call__(self, x):
        return 0.0

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """L1 and L2 penalties together: ``l1 * sum |x| + l2 * sum x^2``.

    Args:
        l1, l2: non-negative factors (default 0.0 each, as Keras; None means 0.0). A factor of 0
            is skipped altogether.

    Math:
        penalty = 0 + c1 * sum |x| + c2 * sum x^2     (c = the factor cast to x's dtype)
        dpenalty/dx = c1 * sign(x) + c2 * 2x          (sign(0) = 0, as TensorFlow's abs)
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = validate_float_arg(0.0 if l1 is None else l1, name="l1")
        self.l2 = validate_float_arg(0.0 if l2 is None else l2, name="l2")

    def __call__(self, x):
        x = np.asarray(x)
        penalty = x.dtype.type(0.0)
        if self.l1 != 0.0:
            penalty += _cast(self.l1, x.dtype) * np.abs(x).sum()
        if self.l2 != 0.0:
            penalty += _cast(self.l2, x.dtype) * np.square(x).sum()
        return penalty

    def gradient(self, x, dpenalty=1.0):
        x = np.asarray(x)
        g = x.dtype.type(dpenalty)
        dx = np.zeros_like(x)
        if self.l1 != 0.0:
            dx = dx + (g * _cast(self.l1, x.dtype)) * np.sign(x)  # (...) like x
        if self.l2 != 0.0:
            dx = dx + (g * _cast(self.l2, x.dtype)) * (x * 2)
        return dx

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """The L1 penalty ``l1 * sum |x|``: pushes weights to exactly zero.

    Args:
        l1: non-negative factor (default 0.01; None means 0.01). As in Keras, it is kept as a
            float32 number from the start, so ``get_config()`` reports 0.009999999776482582.

    Math:
        penalty = c * sum |x|;   dpenalty/dx = c * sign(x)   (sign(0) = 0)
    """

    def __init__(self, l1=0.01):
        l1 = validate_float_arg(0.01 if l1 is None else l1, name="l1")
        self.l1 = float(np.float32(l1))  # Keras: ops.convert_to_tensor(l1), a float32 tensor

    def __call__(self, x):
        x = np.asarray(x)
        return _cast(self.l1, x.dtype) * np.abs(x).sum()

    def gradient(self, x, dpenalty=1.0):
        x = np.asarray(x)
        return (x.dtype.type(dpenalty) * _cast(self.l1, x.dtype)) * np.sign(x)  # like x

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """The L2 penalty ``l2 * sum x^2`` (weight decay through the loss).

    Args:
        l2: non-negative factor (default 0.01; None means 0.01).

    Math:
        penalty = c * sum x^2;   dpenalty/dx = c * 2x
    """

    def __init__(self, l2=0.01):
        self.l2 = validate_float_arg(0.01 if l2 is None else l2, name="l2")

    def __call__(self, x):
        x = np.asarray(x)
        return _cast(self.l2, x.dtype) * np.square(x).sum()

    def gradient(self, x, dpenalty=1.0):
        x = np.asarray(x)
        return (x.dtype.type(dpenalty) * _cast(self.l2, x.dtype)) * (x * 2)  # like x

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Push the rows (or columns) of a 2-D weight to be orthogonal to each other.

    Args:
        factor: non-negative factor (default 0.01), kept as a float32 number as in Keras.
        mode: "rows" (default) or "columns": which vectors v_1..v_S of the matrix to compare.

    Shapes:
        x: (R, C), rank 2 only. S = R in rows mode, C in columns mode.

    Math:
        forward:  n_i = v_i * min(1 / sqrt(sum v_i^2), 1 / eps)          (unit vectors)
                  P = n n^T  (S, S);  Q = P * (1 - I)                     (off-diagonal products)
                  penalty = factor * 0.5 * sum |Q| / (S (S - 1) / 2)
        backward: dP = (dpenalty / pairs) * (factor * 0.5) * sign(Q) * (1 - I)
                  dn = (dP + dP^T) n
                  dv_i = dn_i * r_i - v_i * r_i^3 * (dn_i . v_i)   with r_i = 1 / sqrt(sum v_i^2)
                  (the second term is 0 where the 1 / eps floor was taken)
    """

    def __init__(self, factor=0.01, mode="rows"):
        validate_float_arg(factor, name="factor")
        self.factor = float(np.float32(factor))  # Keras: ops.convert_to_tensor(factor)
        if mode not in {"rows", "columns"}:
            raise ValueError(
                "Invalid value for argument `mode`. Expected one of "
                f'{{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def _vectors(self, x):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. Received: "
                f"inputs.shape={x.shape}"
            )
        return x.T if self.mode == "columns" else x  # (S, D): one vector per row

    def _unit(self, v):
        """n = v * r with r = min(1/sqrt(sum v^2), 1/eps): Keras's ``normalize``."""
        dt = v.dtype.type
        with np.errstate(divide="ignore"):
            rsqrt = dt(1) / np.sqrt(np.square(v).sum(axis=1, keepdims=True))  # (S, 1)
        r = np.minimum(rsqrt, dt(1.0 / EPSILON))  # (S, 1)
        return v * r, r, rsqrt <= dt(1.0 / EPSILON)  # n (S, D), r, where the floor is not taken

    def _scale(self, size, dtype):
        factor_half = np.float32(self.factor) * np.float32(0.5)  # a float32 tensor in Keras
        pairs = size * (size - 1.0) / 2.0
        return np.dtype(dtype).type(factor_half), np.dtype(dtype).type(pairs)

    def __call__(self, x):
        v = self._vectors(x)
        S = v.shape[0]
        n, _, _ = self._unit(v)
        Q = (n @ n.T) * (1.0 - np.eye(S, dtype=v.dtype))  # (S, S)
        factor_half, pairs = self._scale(S, v.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):  # S = 1: 0 / 0, NaN as in Keras
            return factor_half * np.abs(Q).sum() / pairs

    def gradient(self, x, dpenalty=1.0):
        v = self._vectors(x)
        S, dt = v.shape[0], v.dtype.type
        n, r, unfloored = self._unit(v)
        mask = 1.0 - np.eye(S, dtype=v.dtype)  # (S, S)
        Q = (n @ n.T) * mask  # (S, S)
        factor_half, pairs = self._scale(S, v.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            dP = ((dt(dpenalty) / pairs) * factor_half) * np.sign(Q) * mask  # (S, S)
        dn = dP @ n + dP.T @ n  # (S, D): P = n n^T uses n twice
        dr = (dn * v).sum(axis=1, keepdims=True)  # (S, 1): dL/dr
        ds = np.where(unfloored, dr * (dt(-0.5) * r**3), 0)  # (S, 1): dL/d(sum v^2)
        dv = dn * r + (v * 2) * ds  # (S, D)
        return dv.T if self.mode == "columns" else dv

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Names accepted by get()/deserialize(), as Keras's ALL_OBJECTS_DICT: class names and their
# snake_case forms ("l1", "l2", "l1l2", "orthogonal_regularizer").
_CLASSES = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
_CATALOG = Catalog("regularizer", "keras.regularizers", _CLASSES, None)
serialize, deserialize, get = _CATALOG.serialize, _CATALOG.deserialize, _CATALOG.get
_lookup = _CATALOG.lookup


# ------------------------------------------------------------------ what a layer does with them


def gradient_of(regularizer, x, dpenalty=1.0):
    """dL/dx for L = dpenalty * regularizer(x): its own ``gradient``, or else autodiff through
    the ``scratchnet.ops`` its ``__call__`` is written with."""
    if hasattr(regularizer, "gradient"):
        return regularizer.gradient(x, dpenalty)
    with record_gradients(True):
        source = Tensor(x, requires_grad=True)
        penalty = convert_to_tensor(regularizer(source))
    (dx,) = gradients(penalty, np.asarray(dpenalty, dtype=x.dtype), [source])
    return np.zeros_like(x) if dx is None else np.asarray(dx, dtype=x.dtype)


def _regularized_weights(layer):
    """(key, Variable) of the layer's trainable weights that have a regularizer (Keras
    regularizes ``trainable_weights`` only: a frozen layer adds no penalty)."""
    if not layer.trainable:
        return []
    return [
        (key, v)
        for key, v in layer.variables_by_key.items()
        if v.trainable and v.regularizer is not None
    ]


def _batch_size(y):
    """N = y.shape[0], the batch size Keras divides an activity penalty by."""
    return y.shape[0] if y.ndim > 0 else 1


def penalties(layer, y):
    """The layer's loss terms for its current weights and its output ``y`` (N, ...), in Keras's
    order: the activity penalty regularizer(y) / N first, then each weight's penalty.

    ``y`` may be a list of outputs (a recurrent layer's ``[output, *states]``): each one has its
    own activity penalty, in that order, as Keras's ``Layer.__call__`` adds one per output.
    The layers keep them as their ``losses``, which the model adds to the loss it reports and
    minimises, as Keras adds ``model.losses``.
    """
    found = []
    if layer.activity_regularizer is not None:
        for out in y if isinstance(y, (list, tuple)) else [y]:
            penalty = np.asarray(layer.activity_regularizer(out), dtype=out.dtype)[()]
            N = _batch_size(out)  # Keras: divide_no_nan(penalty, N)
            found.append(penalty / out.dtype.type(N) if N else out.dtype.type(0))
    for _, variable in _regularized_weights(layer):
        w = variable.value
        found.append(np.asarray(variable.regularizer(w), dtype=w.dtype)[()])
    return found


def activity_gradient(layer, y):
    """d(activity penalty)/dy = d(regularizer(y) / N)/dy, like y (N, ...): the regularizer's
    gradient with dL/d(penalty) = 1 / N, the gradient of the division."""
    N = _batch_size(y)
    dpenalty = y.dtype.type(1) / y.dtype.type(N) if N else y.dtype.type(0)
    return gradient_of(layer.activity_regularizer, y, dpenalty)


def add_weight_gradients(layer):
    """Add each weight penalty's gradient to the layer's gradient of that weight (new arrays)."""
    for key, variable in _regularized_weights(layer):
        layer.grads[key] = layer.grads[key] + gradient_of(variable.regularizer, variable.value)

"""LeakyReLU, ReLU, ELU, PReLU and Softmax: the activation layers, with Keras's arguments.

Each keeps its input's shape, and its backward is the activation's derivative times dy,
element by element (Softmax: per slice along ``axis``). Gradients at the kinks are
TensorFlow's, measured on TensorFlow 2.21 (see each class).
"""

import warnings

import numpy as np

from .. import activations, initializers, regularizers
from ..losses import ActivationWithLoss
from .base import Layer
from .core import regularizers_and_constraints_config, set_regularizers_and_constraints


class _SameShape(Layer):
    """An activation layer: the output has the input's shape (so ``summary()`` needs no data)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class LeakyReLU(_SameShape):
    """Leaky rectified linear unit: a small slope instead of zero for negative inputs.

    Args:
        negative_slope: float >= 0, the slope for x <= 0. Keras 3's default is 0.3 (the
            ``leaky_relu`` activation function's is 0.2). ``alpha=`` is the deprecated name.

    Shapes:
        x, y: any shape.

    Math:
        forward:  y = x for x > 0, slope * x otherwise
        backward: dx = dy where y > 0, slope * dy elsewhere (slope at 0, as TensorFlow)
        The slope is rounded to float32 even in float64, as TensorFlow's op keeps it.

    Example:
        >>> import numpy as np
        >>> LeakyReLU(negative_slope=0.5)(np.array([[-10.0, 0.0, 5.0]]))
        array([[-5.,  0.,  5.]], dtype=float32)
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2
            )
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(
                f"LeakyReLU '{self.name}': negative_slope must be a float >= 0, got "
                f"{negative_slope!r}."
            )
        self.negative_slope = negative_slope
        self.activation = activations.LeakyReLU(negative_slope)

    def forward(self, x, training=False):
        y = self.activation.forward(x)  # (same shape as x)
        if training:
            self._y = y  # backward reads x > 0 from y > 0
        return y

    def backward(self, dy, need_dx=True):
        return self.activation.backward(dy, self._y)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ReLU(_SameShape):
    """Rectified linear unit with Keras's options: a cap, a leak and a threshold.

    Args:
        max_value: float >= 0 or None: the largest output (None: no cap).
        negative_slope: float >= 0, the slope below the threshold.
        threshold: float >= 0: inputs at or below it are "off".

    Shapes:
        x, y: any shape.

    Math (t = threshold, m = max_value, s = negative_slope), as Keras computes it:
        forward:  p = x where x > t, else 0       (relu(x) if t = 0; relu6(x) if m = 6, t = 0)
                  p = clip(p, 0, m)                (if m is not None)
                  y = p - s * relu(t - x)          (if s != 0)
        backward: dx = dy * ([x > t] * [p <= m] + s * [x < t])
        At the kinks (measured on TensorFlow): the slope at x = t is 0 (s if t = 0 and m is
        None: then Keras calls leaky_relu, whose slope at 0 is s); at x = m it is 1, except for
        m = 6 with t = 0 (relu6: 0). In float64, m and the t of [x > t] are rounded to float32
        first, as Keras's ops.cast does (measured: 0.3 -> 0.30000001192); the t of relu(t - x)
        is not (Keras adds the Python float), and s is rounded to float32 only in the
        leaky_relu case. So for t = 0.3 in float64, x in [0.3, 0.30000001192] has slope 0.

    Example:
        >>> import numpy as np
        >>> ReLU(max_value=10, negative_slope=0.5)(np.array([[-10.0, -5.0, 0.0, 5.0, 10.0]]))
        array([[-5. , -2.5,  0. ,  5. , 10. ]], dtype=float32)
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value, allow_none in (
            ("max_value", max_value, True),
            ("negative_slope", negative_slope, False),
            ("threshold", threshold, False),
        ):
            if (value is None and not allow_none) or (value is not None and value < 0):
                raise ValueError(
                    f"ReLU '{self.name}': {name} must be a float >= 0"
                    f"{' or None' if allow_none else ''}, got {value!r}."
                )
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold
        self._leaky = negative_slope != 0 and max_value is None and threshold == 0
        if self._leaky:  # what Keras does: tf.nn.leaky_relu, float32 slope attribute
            self.activation = activations.LeakyReLU(negative_slope)

    def _constants(self, x):
        """t and m in x's dtype, through float32 as Keras's ``ops.cast`` of a Python float."""
        t = x.dtype.type(np.float32(self.threshold))
        m = None if self.max_value is None else x.dtype.type(np.float32(self.max_value))
        return t, m

    def forward(self, x, training=False):
        if self._leaky:
            y = self.activation.forward(x)
            if training:
                self._y = y  # leaky_relu's backward reads x > 0 from y > 0
            return y
        t, m = self._constants(x)
        p = np.where(x > t, x, 0) if self.threshold != 0 else np.maximum(x, 0)  # x's shape
        if m is not None:
            p = np.minimum(p, m)  # clip(p, 0, m): p >= 0 already
        negative = np.maximum(self.threshold - x, 0)  # relu(t - x), t not rounded: as Keras
        y = p - self.negative_slope * negative if self.negative_slope else p
        y = y.astype(x.dtype, copy=False)
        if training:
            self._x = x  # the masks below read x (a reference: x is the previous layer's)
        return y

    def backward(self, dy, need_dx=True):
        if self._leaky:
            return self.activation.backward(dy, self._y)
        x = self._x
        t, m = self._constants(x)
        if self.threshold == 0 and self.max_value == 6:
            on = (x > 0) & (x < 6)  # relu6's mask: 0 at both kinks
        else:
            on = x > t
            if m is not None:
                on &= np.maximum(x, 0) <= m  # clip passes the gradient at p == m
        dx = np.where(on, dy, 0)  # x's shape
        if self.negative_slope:
            dx = dx + np.where(self.threshold - x > 0, self.negative_slope * dy, 0)
        return dx.astype(dy.dtype, copy=False)

    def get_config(self):
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class ELU(_SameShape):
    """Exponential linear unit.

    Args:
        alpha: float >= 0, the value the output tends to for very negative inputs (times -1).

    Shapes:
        x, y: any shape.

    Math:
        forward:  y = x for x > 0, alpha (e^x - 1) otherwise
        backward: dx = dy for y > 0, dy (y + alpha) otherwise (= dy alpha e^x; alpha at 0)

    Example:
        >>> import numpy as np
        >>> ELU(alpha=2.0)(np.array([[0.0, 1.0]]))
        array([[0., 1.]], dtype=float32)
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if alpha < 0:
            raise ValueError(
                f"ELU '{self.name}': alpha must be >= 0 (backward reads x <= 0 from y <= 0), "
                f"got {alpha!r}."
            )
        self.alpha = alpha
        self.activation = activations.ELU(alpha)

    def forward(self, x, training=False):
        y = self.activation.forward(x)  # (same shape as x)
        if training:
            self._y = y  # elu' = y + alpha for y <= 0: the output is enough
        return y

    def backward(self, dy, need_dx=True):
        return self.activation.backward(dy, self._y)

    def get_config(self):
        config = super().get_config()  # Keras's order: name, alpha, trainable, dtype
        return {"name": config.pop("name"), "alpha": self.alpha, **config}


class PReLU(_SameShape):
    """Parametric ReLU: a learned slope ``alpha`` for negative inputs, per feature.

    Args:
        alpha_initializer: initializer of alpha (Keras's default 'Zeros': starts as a relu).
        alpha_regularizer: a penalty on alpha added to the loss, or None.
        alpha_constraint: a projection of alpha after every optimizer update, or None.
        activity_regularizer: a penalty on y divided by the batch size, as every Keras layer
            takes (``Layer``'s argument), or None.
        shared_axes: axes (1 = the first after the batch axis) along which one alpha is
            shared; e.g. [1, 2] for one alpha per channel of (N, H, W, C) images.

    Shapes:
        x, y: (N, *S);  alpha: S with the shared axes set to 1

    Math:
        forward:  y = relu(x) - alpha * relu(-x)     (x for x > 0, alpha x for x < 0)
        backward: dx = dy [x > 0] + alpha dy [x < 0]        (0 at x = 0, as TensorFlow)
                  dalpha = sum over the batch and shared axes of dy * min(x, 0)
        with regularizers, as in Dense: dy += d(activity penalty)/dy first, and
                  dalpha += d alpha_regularizer/d alpha

    Example:
        >>> import numpy as np
        >>> layer = PReLU(shared_axes=[1])
        >>> layer(np.ones((2, 3, 4))).shape, layer.params["alpha"].shape
        ((2, 3, 4), (1, 4))
    """

    def __init__(
        self,
        alpha_initializer="Zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, alpha=(alpha_regularizer, alpha_constraint)
        )
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = list(shared_axes)
        else:
            self.shared_axes = [shared_axes]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not isinstance(axis, (int, np.integer)) or not 1 <= axis <= len(shape):
                raise ValueError(
                    f"PReLU '{self.name}': shared_axes must be axes 1 to {len(shape)} of inputs "
                    f"of shape {tuple(input_shape)} (0 is the batch axis), got "
                    f"{self.shared_axes}."
                )
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                f"PReLU '{self.name}': every non-shared axis must be known to size alpha, got "
                f"input shape {tuple(input_shape)}. Share the unknown axes (shared_axes)."
            )
        self.add_weight(
            shape=tuple(shape),
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
            name="alpha",
        )
        super().build(input_shape)

    def forward(self, x, training=False):
        alpha = self.params["alpha"]  # S with shared axes 1, broadcast over the batch
        y = np.maximum(x, 0) + (-alpha) * np.maximum(-x, 0)  # x's shape
        if training:
            self._x, self._y = x, y  # dx and dalpha read the sign of x, and dalpha x itself
        if self.regularized:  # the penalties of y and of alpha are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward(self, dy, need_dx=True):
        if self.activity_regularizer is not None:  # L also holds penalty(y) / N
            dy = dy + regularizers.activity_gradient(self, self._y)  # x's shape, a new array
        x, alpha = self._x, self.params["alpha"]
        negative = np.minimum(x, 0)  # x's shape: x where x < 0, else 0
        summed = (0,) + tuple(a for a in (self.shared_axes or ()))  # batch and shared axes
        self.grads["alpha"] = (dy * negative).sum(axis=summed, keepdims=True)[0]  # alpha's shape
        if self.regularized:  # dalpha += d alpha_regularizer / d alpha
            regularizers.add_weight_gradients(self)
        if not need_dx:
            return None
        return np.where(x > 0, dy, np.where(x < 0, alpha * dy, 0)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            **regularizers_and_constraints_config(self, activity=False),
            "shared_axes": self.shared_axes,
        }


class Softmax(_SameShape):
    """Softmax along ``axis``: each slice becomes probabilities that sum to 1.

    Args:
        axis: an int, or a list of ints (the softmax then normalises over all of them).

    Shapes:
        x, y: any shape.

    Math:
        forward:  y = e^(x - max x) / sum e^(x - max x), the max and sum over ``axis``
                  (over several axes: y = e^(x - logsumexp(x)), as Keras)
        backward: dx = (dy - sum(dy * y)) * y, the sum over ``axis`` (the Jacobian-vector product)
        Along the last axis, a cross-entropy loss fuses with it and hands back dL/dx itself
        (``losses.ActivationWithLoss``), as Keras reads a Softmax layer's logits.

    Keras's ``mask`` call argument is not supported: scratchnet's built-in layers take one input.

    Example:
        >>> import numpy as np
        >>> Softmax()(np.array([[1.0, 2.0, 1.0]])).round(4)
        array([[0.2119, 0.5761, 0.2119]], dtype=float32)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.activation = activations.softmax if axis == -1 else activations.linear

    def _axes(self, ndim):
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        if not all(-ndim <= a < ndim for a in axes):
            raise ValueError(
                f"Softmax '{self.name}': axis {self.axis} is out of range for {ndim}-D inputs."
            )
        return tuple(a % ndim for a in axes)

    def forward(self, x, training=False):
        axes = self._axes(x.ndim)
        keep_x = self.axis == -1 and ActivationWithLoss.keeps_logits(self, training)
        shifted = x - x.max(axis=axes, keepdims=True)  # x's shape
        e = np.exp(shifted)
        if len(axes) > 1:  # Keras: exp(x - logsumexp(x))
            y = np.exp(shifted - np.log(e.sum(axis=axes, keepdims=True)))
        else:
            y = e / e.sum(axis=axes, keepdims=True)
        ActivationWithLoss.keep(self, y, x if keep_x else None, training)
        if training:
            self._y = y  # softmax's backward needs only its output
        return y

    def backward(self, dy, need_dx=True):
        axes, y = self._axes(dy.ndim), self._y
        return (dy - (dy * y).sum(axis=axes, keepdims=True)) * y

    def backward_from_logits(self, dz, need_dx=True):
        """A fused loss's dL/dz is already dL/dx: the logits are this layer's input."""
        return dz

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

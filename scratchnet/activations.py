"""Activation functions, each a forward rule with its backward rule right under it.

An activation is used by name (``Dense(10, activation="softmax")``), as an object from this
module, or as the function itself (``activation=scratchnet.activations.relu``).

Each object has:

* ``forward(z, out=None) -> y``, elementwise or (softmax) along the last axis. With ``out=z``
  the elementwise ones overwrite ``z`` instead of allocating (layers do that on the hot path);
* ``backward(dy, y) -> dz``, the chain rule through the activation. Every rule here can be
  written with the output ``y`` alone (relu'(z) = [y > 0], sigmoid' = y(1 - y), tanh' = 1 - y^2),
  so layers cache only ``y``. ``dy`` is never modified.

Relu's backward and sigmoid's forward and backward have kernels: the line of math is written
here, and computed one level down by the kernel family in use (``scratchnet.kernels.backend``:
a numba loop, one pass instead of two to four, or the NumPy twin of exactly that line).

When softmax or sigmoid feeds a cross-entropy loss, the loss hands back dL/dz directly and this
backward is not used: see ``scratchnet.losses.ActivationWithLoss``.

Example:
    >>> import numpy as np
    >>> relu.forward(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
"""

import numpy as np

from .kernels import backend
from .ops.core import Tensor, record


class Activation:
    """Base class: an elementwise (or last-axis) function with its derivative."""

    name = "activation"

    def forward(self, z, out=None):
        raise NotImplementedError

    def backward(self, dy, y):
        raise NotImplementedError

    def __call__(self, z):
        """``activation(z)``: on an array, the forward rule; on a Tensor (inside a layer's
        ``call``), an op whose backward rule is this activation's ``backward``."""
        if not isinstance(z, Tensor):
            return self.forward(z)
        y = self.forward(z.value)

        def backward(dy):
            return (self.backward(dy, y),)

        return record(y, (z,), backward)

    def __repr__(self):
        return f"<activation {self.name}>"


class Linear(Activation):
    """Math: y = z.  dz = dy."""

    name = "linear"

    def forward(self, z, out=None):
        return z

    def backward(self, dy, y):
        return dy


class ReLU(Activation):
    """Math: y = max(z, 0).  dz = dy * (y > 0), so relu'(0) = 0 as in TensorFlow."""

    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def backward(self, dy, y):
        return backend.current().relu_backward(dy, y)  # dy * (y > 0)


class Sigmoid(Activation):
    """Math: y = 1 / (1 + exp(-z)).  dz = dy * y * (1 - y).

    The numba kernel computes its own exp, within 2.5 units in the last place of the exact value
    (``scratchnet.kernels.elementwise``; measured: docs/kernels/elementwise.md#measured-sigmoid).
    """

    name = "sigmoid"

    def forward(self, z, out=None):
        return backend.current().sigmoid(z, out)  # 1 / (1 + exp(-z))

    def backward(self, dy, y):
        return backend.current().sigmoid_backward(dy, y)  # dy * y * (1 - y)


class Tanh(Activation):
    """Math: y = tanh(z).  dz = dy * (1 - y^2)."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, dy, y):
        return dy * (1 - y * y)


class Softmax(Activation):
    """Math: y_i = exp(z_i - max z) / sum_j exp(z_j - max z) along the last axis.

    Backward (the Jacobian-vector product): dz = (dy - sum_j dy_j y_j) * y.
    """

    name = "softmax"

    def forward(self, z, out=None):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return np.divide(e, e.sum(axis=-1, keepdims=True), out=out)

    def backward(self, dy, y):
        return (dy - (dy * y).sum(axis=-1, keepdims=True)) * y


linear = Linear()
relu = ReLU()
sigmoid = Sigmoid()
tanh = Tanh()
softmax = Softmax()

_BY_NAME = {a.name: a for a in (linear, relu, sigmoid, tanh, softmax)}


def get(identifier):
    """Resolve None, a name ('relu'), an Activation object, or one of this module's objects."""
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise ValueError(
            f"Unknown activation {identifier!r}. Expected one of {sorted(_BY_NAME)}, "
            "or an object from scratchnet.activations."
        )
    raise ValueError(
        f"Cannot use {identifier!r} as an activation. Pass a name such as 'relu', or an object "
        "from scratchnet.activations (for example scratchnet.activations.relu)."
    )


def serialize(activation):
    """The Keras config name of an activation."""
    return get(activation).name

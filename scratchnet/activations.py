"""Activation functions, each a forward rule with its backward rule right under it.

An activation is used by name (``Dense(10, activation="softmax")``), as an object from this
module, or as the function itself (``activation=scratchnet.activations.relu``).

Each object has:

* ``forward(z) -> y``, elementwise or (softmax) along the last axis;
* ``backward(dy, z, y) -> dz``, the chain rule through the activation, given the cached
  pre-activation ``z`` and output ``y`` (whichever the rule needs). ``dy`` is never modified.

When softmax or sigmoid feeds a cross-entropy loss, the model skips ``backward`` and the loss hands
back dL/dz directly: see ``scratchnet.losses``.

Example:
    >>> import numpy as np
    >>> relu.forward(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
"""

import numpy as np


class Activation:
    """Base class: an elementwise (or last-axis) function with its derivative."""

    name = "activation"

    def forward(self, z):
        raise NotImplementedError

    def backward(self, dy, z, y):
        raise NotImplementedError

    def __call__(self, z):
        return self.forward(z)

    def __repr__(self):
        return f"<activation {self.name}>"


class Linear(Activation):
    """Math: y = z.  dz = dy."""

    name = "linear"

    def forward(self, z):
        return z

    def backward(self, dy, z, y):
        return dy


class ReLU(Activation):
    """Math: y = max(z, 0).  dz = dy * (z > 0), so relu'(0) = 0 as in TensorFlow."""

    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def backward(self, dy, z, y):
        return dy * (z > 0)


class Sigmoid(Activation):
    """Math: y = 1 / (1 + exp(-z)).  dz = dy * y * (1 - y).

    Computed without overflow: for z < 0 use exp(z) / (1 + exp(z)).
    """

    name = "sigmoid"

    def forward(self, z):
        e = np.exp(-np.abs(z))  # in (0, 1], never overflows
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)

    def backward(self, dy, z, y):
        return dy * y * (1 - y)


class Tanh(Activation):
    """Math: y = tanh(z).  dz = dy * (1 - y^2)."""

    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def backward(self, dy, z, y):
        return dy * (1 - y * y)


class Softmax(Activation):
    """Math: y_i = exp(z_i - max z) / sum_j exp(z_j - max z) along the last axis.

    Backward (the Jacobian-vector product): dz = (dy - sum_j dy_j y_j) * y.
    """

    name = "softmax"

    def forward(self, z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def backward(self, dy, z, y):
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

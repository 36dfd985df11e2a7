"""Activation functions, each a forward rule with its backward rule right under it.

An activation is used by name (``Dense(10, activation="softmax")``), as an object from this
module, or as the function itself (``activation=scratchnet.activations.relu``).

Each object has:

* ``forward(z, out=None) -> y``, elementwise or (softmax) along the last axis. With ``out=z``
  the elementwise ones overwrite ``z`` instead of allocating (layers do that on the hot path);
* ``backward(dy, y) -> dz``, the chain rule through the activation. Every rule here can be
  written with the output ``y`` alone (relu'(z) = [y > 0], sigmoid' = y(1 - y), tanh' = 1 - y^2),
  so layers cache only ``y``. ``dy`` is never modified.

With the numba kernels selected (the default), relu's backward and sigmoid's forward and backward
run as the numba loops of ``scratchnet.ops.elementwise``: one pass instead of two to four. The
backward rules give the same bits as the NumPy here; sigmoid computes its own exp, within 2.5 units
in the last place of the exact value. The NumPy here is what runs with
``SCRATCHNET_KERNELS=numpy``.

When softmax or sigmoid feeds a cross-entropy loss, the model skips ``backward`` and the loss hands
back dL/dz directly: see ``scratchnet.losses``.

Example:
    >>> import numpy as np
    >>> relu.forward(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
"""

import numpy as np

from .ops import elementwise, jit


def _numba_ready(*arrays):
    """True if the numba kernels are selected and take these arrays (one float dtype, C order)."""
    return (
        jit.kernels() == "numba"
        and arrays[0].dtype in (np.float32, np.float64)
        and all(a.dtype == arrays[0].dtype and a.flags.c_contiguous for a in arrays)
        and all(a.shape == arrays[0].shape for a in arrays)
    )


def _kernel_backward(dy, y, code):
    """dz from ``elementwise.activation_backward_kernel``, or None if it cannot take the arrays."""
    if not (isinstance(dy, np.ndarray) and isinstance(y, np.ndarray) and _numba_ready(dy, y)):
        return None
    dz = np.empty_like(dy)
    elementwise.activation_backward_kernel(dy, y, code, dz)
    return dz


class Activation:
    """Base class: an elementwise (or last-axis) function with its derivative."""

    name = "activation"

    def forward(self, z, out=None):
        raise NotImplementedError

    def backward(self, dy, y):
        raise NotImplementedError

    def __call__(self, z):
        return self.forward(z)

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
        dz = _kernel_backward(dy, y, elementwise.RELU)
        return dy * (y > 0) if dz is None else dz


class Sigmoid(Activation):
    """Math: y = 1 / (1 + exp(-z)).  dz = dy * y * (1 - y).

    For z below about -88 (float32) exp(-z) overflows to inf and y becomes exactly 0, which is
    the right limit, so the overflow warning is silenced. Computed in place: four passes over
    one new array, several times faster than a branch-free ``np.where`` formulation.
    """

    name = "sigmoid"

    def forward(self, z, out=None):
        z = np.asarray(z)
        if _numba_ready(z) and (out is None or _numba_ready(z, out)):
            y = np.empty_like(z) if out is None else out
            elementwise.sigmoid_kernel(z, y)  # one pass, as exact (see its module docstring)
            return y
        y = np.negative(z, out=out)  # (same as z)
        with np.errstate(over="ignore"):
            np.exp(y, out=y)
        y += 1
        return np.divide(1, y, out=y)  # = np.reciprocal(y), bit for bit, and 2x faster here

    def backward(self, dy, y):
        dz = _kernel_backward(dy, y, elementwise.SIGMOID)
        return dy * y * (1 - y) if dz is None else dz


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

"""Weight constraints, mirroring ``keras.constraints``: a projection applied after each update.

A constraint is called as ``constraint(w) -> w'``. Layers take one by name
(``kernel_constraint="max_norm"``), as an object or as a Keras config dict; ``get`` turns any of
these into an object. It is not part of the gradient: as Keras's optimizer does in ``apply``,
right after updating the weights, every trainable weight that has a constraint is replaced by
its projection (``apply_to``), in place, in its own dtype.

The norms are taken over ``axis`` (an int or a list of ints) and kept as size-1 axes, so each
slice along the other axes is scaled on its own: for a Dense kernel (D_in, D_out) and axis=0,
each unit's incoming weight vector; for a Conv2D kernel (KH, KW, C_in, C_out) and
axis=[0, 1, 2], each filter.

Example:
    >>> import numpy as np
    >>> w = np.array([[3.0, 0.3], [4.0, -0.4]])
    >>> MaxNorm(max_value=1.0)(w).round(6).tolist()
    [[0.6, 0.3], [0.8, -0.4]]
    >>> NonNeg()(w).tolist()
    [[3.0, 0.3], [4.0, 0.0]]
    >>> serialize(UnitNorm(axis=[0, 1]))
    {'module': 'keras.constraints', 'class_name': 'UnitNorm', 'config': {'axis': [0, 1]}, \
'registered_name': None}
"""

import numpy as np

from .naming import Catalog

EPSILON = 1e-7  # Keras's backend.epsilon(): added to the norms, so a zero slice stays zero


def _norms(w, axis):
    """sqrt(sum w^2) over ``axis``, the reduced axes kept with size 1."""
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return np.sqrt(np.square(w).sum(axis=axis, keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (here: ``w`` unchanged)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Scale down every slice whose norm is above ``max_value``; leave the others.

    Args:
        max_value: the largest norm allowed (default 2).
        axis: the axis or axes the norm is taken over (default 0).

    Math:
        norms = sqrt(sum_axis w^2);  w' = w * clip(norms, 0, max_value) / (eps + norms)
        (so a slice already inside the ball shrinks by norms / (eps + norms), as in Keras)
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)  # like w, size 1 along axis
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Set negative weights to zero: w' = max(w, 0)."""

    def __call__(self, w):
        return np.maximum(np.asarray(w), 0)


class UnitNorm(Constraint):
    """Scale every slice to norm 1: w' = w / (eps + sqrt(sum_axis w^2)).

    Args:
        axis: the axis or axes the norm is taken over (default 0).
    """

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move every slice's norm towards [min_value, max_value], at ``rate``.

    Args:
        min_value, max_value: the norm interval (default 0.0 and 1.0).
        rate: 1.0 (default) projects exactly; a smaller rate moves only that part of the way.
        axis: the axis or axes the norm is taken over (default 0).

    Math:
        norms = sqrt(sum_axis w^2)
        desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms
        w' = w * desired / (eps + norms)
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        )
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# Names accepted by get()/deserialize(), as Keras's ALL_OBJECTS_DICT: class names and their
# snake_case forms ("max_norm", "non_neg", "unit_norm", "min_max_norm").
_CLASSES = (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
_CATALOG = Catalog("constraint", "keras.constraints", _CLASSES, None)
serialize, deserialize, get = _CATALOG.serialize, _CATALOG.deserialize, _CATALOG.get
_lookup = _CATALOG.lookup


def apply_to(variables):
    """Project, in place, each Variable of ``variables`` that has a constraint: what Keras's
    optimizer does right after its update (``w.assign(constraint(w))``). Call it after
    ``optimizer.apply`` with the same trainable Variables."""
    for variable in variables:
        constraint = getattr(variable, "constraint", None)
        if constraint is not None:
            variable.value[...] = constraint(variable.value)

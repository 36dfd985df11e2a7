"""Concatenate and Add: the layers that merge two or more tensors (the Functional API's joins).

A merge layer is called on a list, ``Concatenate()([a, b])``, and its backward returns a list: one
gradient per input, in the same order. This is where a graph stops being a chain. When backprop
reaches a merge, the gradient splits into the branches; where branches started from one tensor
(``a = f(x); b = g(x)``), the tape adds their gradients back together (see ``layers/base.py``).
"""

import numpy as np

from ..naming import shape_str
from .base import Layer


class Merge(Layer):
    """Base class of the merge layers: takes a list of at least two tensors."""

    def check_input_shape(self, shape):
        """Per-input check: every input has a batch axis (the list is checked in ``build``)."""
        if len(shape) < 1:
            raise ValueError(f"{type(self).__name__} '{self.name}': inputs need a batch axis.")

    def _check_list(self, input_shape):
        """``input_shape`` must be a list of at least two shapes of the same rank."""
        if not isinstance(input_shape, (list, tuple)) or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' must be called on a list of tensors, e.g. "
                f"{type(self).__name__}()([a, b]); got a single tensor."
            )
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs at least 2 inputs, got {len(shapes)}."
            )
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': all inputs must have the same rank, got "
                f"shapes {', '.join(shape_str(s) for s in shapes)}."
            )
        return shapes

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # raises early if the shapes do not fit together
        super().build([tuple(s) for s in input_shape])


class Concatenate(Merge):
    """Join tensors along one axis: ``Concatenate(axis=-1)([a, b])``.

    Args:
        axis: the axis to join along (default the last one: channels for images).

    Shapes:
        inputs: x_1 (N, ..., C_1, ...), x_2 (N, ..., C_2, ...), ... equal except along ``axis``
        y: (N, ..., C_1 + C_2 + ..., ...)

    Math:
        forward:  y = [x_1 | x_2 | ...] along axis
        backward: dx_k = the slice of dy that x_k filled (the split undoes the join)

    Example:
        >>> import numpy as np
        >>> Concatenate()([np.zeros((2, 3)), np.ones((2, 4))]).shape
        (2, 7)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        ndim = len(shapes[0])
        axis = self.axis % ndim
        if axis == 0:
            raise ValueError(
                f"Concatenate '{self.name}': cannot join along the batch axis (axis 0)."
            )
        for i in range(1, ndim):
            sizes = {s[i] for s in shapes if s[i] is not None}
            if i != axis and len(sizes) > 1:
                raise ValueError(
                    f"Concatenate '{self.name}' (axis={self.axis}) needs inputs whose shapes match "
                    f"on every axis but the concatenation axis; got "
                    f"{', '.join(shape_str(s) for s in shapes)}. Crop or pad one branch "
                    "(layers.Cropping2D, layers.ZeroPadding2D) so the sizes agree."
                )
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def forward(self, xs, training=False):
        self.compute_output_shape([x.shape for x in xs])  # every batch must fit, not just the first
        axis = self.axis % xs[0].ndim
        if training:
            # backward only needs where each input's slice ends along the axis
            self._splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)  # (N, ..., sum C_k, ...)

    def backward(self, dy, need_dx=True):
        axis = self.axis % dy.ndim
        return [np.ascontiguousarray(d) for d in np.split(dy, self._splits, axis=axis)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Add(Merge):
    """Add tensors of the same shape element-wise: ``Add()([a, b])`` (a residual join).

    Shapes:
        inputs: x_1, x_2, ... all (N, ...) with the same shape
        y: (N, ...)

    Math:
        forward:  y = x_1 + x_2 + ...
        backward: dx_k = dy for every k (each input moves y one for one)

    Example:
        >>> import numpy as np
        >>> Add()([np.ones((2, 3)), np.ones((2, 3))])[0]
        array([2., 2., 2.], dtype=float32)
    """

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        out = []
        for sizes in zip(*shapes):
            known = {d for d in sizes if d is not None}
            if len(known) > 1:
                raise ValueError(
                    f"Add '{self.name}' needs inputs of the same shape, got "
                    f"{', '.join(shape_str(s) for s in shapes)}. Crop or pad one branch "
                    "(layers.Cropping2D, layers.ZeroPadding2D) so the shapes agree."
                )
            out.append(known.pop() if known else None)
        return tuple(out)

    def forward(self, xs, training=False):
        self.compute_output_shape([x.shape for x in xs])  # every batch must fit, not just the first
        y = xs[0].copy()  # (N, ...)
        for x in xs[1:]:
            y += x
        if training:
            self._n_inputs = len(xs)  # backward hands dy to each input, nothing else needed
        return y

    def backward(self, dy, need_dx=True):
        return [dy] * self._n_inputs  # the same array for each: backward never modifies dy


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of ``Concatenate``: ``concatenate([a, b], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """Functional form of ``Add``: ``add([a, b])``."""
    return Add(**kwargs)(inputs)

"""Layers that move values without computing new ones: ZeroPadding2D and Cropping2D (grow or
shrink an image's borders so two branches line up), Reshape, Permute and RepeatVector.

Each backward moves dy back the way the forward moved x: padding's gradient is a crop of dy,
cropping's is dy padded with zeros (the cropped-away pixels did not affect the loss), a
reshape's is dy reshaped back, a permutation's is the inverse permutation, and a repeat's is
the sum over the copies.
"""

import numpy as np

from .base import Layer
from .conv import check_data_format


def normalize_borders(value, name, layer_name):
    """int, (sym_h, sym_w) or ((top, bottom), (left, right)) -> ((top, bottom), (left, right))."""

    def pair(v):
        return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)

    try:
        if isinstance(value, (int, np.integer)):
            borders = ((value, value), (value, value))
        else:
            value = tuple(value)
            if len(value) != 2:
                raise ValueError
            borders = (pair(value[0]), pair(value[1]))
        if any(len(b) != 2 for b in borders):
            raise ValueError
        flat = [b for side in borders for b in side]
        if not all(isinstance(b, (int, np.integer)) and b >= 0 for b in flat):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            f"{layer_name}: {name} must be an int, a pair of ints (height, width) or a pair of "
            f"pairs ((top, bottom), (left, right)), all >= 0; got {value!r}."
        ) from None
    return tuple(tuple(int(b) for b in side) for side in borders)


class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around each image.

    Args:
        padding: int (all four sides), (pad_h, pad_w) (symmetric), or
            ((top, bottom), (left, right)). Default (1, 1).
        data_format: None or 'channels_last'.

    Shapes:
        x: (N, H, W, C)  ->  y: (N, top + H + bottom, left + W + right, C)

    Math:
        forward:  y[:, top:top+H, left:left+W, :] = x, zeros elsewhere
        backward: dx = dy[:, top:top+H, left:left+W, :]   (the zeros have no inputs)

    Example:
        >>> import numpy as np
        >>> ZeroPadding2D(1)(np.ones((1, 2, 2, 1))).shape
        (1, 4, 4, 1)
    """

    input_ndim = 4

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        layer_name = f"ZeroPadding2D '{self.name}'"
        check_data_format(data_format, layer_name)
        self.padding = normalize_borders(padding, "padding", layer_name)

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        (top, bottom), (left, right) = self.padding
        return (
            N,
            None if H is None else H + top + bottom,
            None if W is None else W + left + right,
            C,
        )

    def forward(self, x, training=False):
        (top, bottom), (left, right) = self.padding
        if training:
            self._hw = x.shape[1:3]  # backward needs the input's height and width
        return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))  # (N, H_out, W_out, C)

    def backward(self, dy, need_dx=True):
        (top, _), (left, _) = self.padding
        H, W = self._hw
        return np.ascontiguousarray(dy[:, top : top + H, left : left + W, :])  # (N, H, W, C)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": "channels_last"}


class Cropping2D(Layer):
    """Remove rows and columns from the borders of each image.

    Args:
        cropping: int (all four sides), (crop_h, crop_w) (symmetric), or
            ((top, bottom), (left, right)). Default no cropping.
        data_format: None or 'channels_last'.

    Shapes:
        x: (N, H, W, C)  ->  y: (N, H - top - bottom, W - left - right, C)

    Math:
        forward:  y = x[:, top:H-bottom, left:W-right, :]
        backward: dx = zeros like x;  dx[:, top:H-bottom, left:W-right, :] = dy
                  (the cropped-away pixels do not reach the loss, so their gradient is 0)

    Example:
        >>> import numpy as np
        >>> Cropping2D(((1, 0), (2, 2)))(np.ones((1, 5, 6, 3))).shape
        (1, 4, 2, 3)
    """

    input_ndim = 4

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        layer_name = f"Cropping2D '{self.name}'"
        check_data_format(data_format, layer_name)
        self.cropping = normalize_borders(cropping, "cropping", layer_name)

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        out = [N]
        for size, (a, b), axis in zip((H, W), self.cropping, ("height", "width")):
            if size is not None and a + b >= size:
                raise ValueError(
                    f"Cropping2D '{self.name}': cropping {self.cropping} removes all of the "
                    f"{axis} ({size}) of inputs of shape {tuple(input_shape)}."
                )
            out.append(None if size is None else size - a - b)
        return (*out, C)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # raises early if nothing would be left
        super().build(input_shape)

    def forward(self, x, training=False):
        (top, bottom), (left, right) = self.cropping
        N, H, W, C = x.shape
        if training:
            self._x_shape = x.shape  # backward rebuilds a zero gradient of this shape
        return np.ascontiguousarray(
            x[:, top : H - bottom, left : W - right, :]
        )  # (N, H_out, W_out, C)

    def backward(self, dy, need_dx=True):
        (top, bottom), (left, right) = self.cropping
        N, H, W, C = self._x_shape
        dx = np.zeros(self._x_shape, dtype=dy.dtype)  # (N, H, W, C)
        dx[:, top : H - bottom, left : W - right, :] = dy
        return dx

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": "channels_last"}


def check_target_shape(target_shape, layer_name):
    """``target_shape`` as a tuple of ints, each >= 0 or a single -1 (Keras's rule)."""
    try:
        target = tuple(target_shape)
    except TypeError:
        raise ValueError(
            f"{layer_name}: target_shape must be a tuple of ints (the shape of one sample, "
            f"without the batch axis), got {target_shape!r}."
        ) from None
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in target):
        raise ValueError(f"{layer_name}: target_shape must hold ints, got {target!r}.")
    if any(d < -1 for d in target) or target.count(-1) > 1:
        raise ValueError(
            f"{layer_name}: each size in target_shape must be >= 0, or -1 for one size to "
            f"infer (at most one -1); got {target!r}."
        )
    return tuple(int(d) for d in target)


def resolve_target_shape(sample_shape, target, layer_name):
    """The target shape with its -1 filled in for samples of ``sample_shape`` (None: unknown)."""
    if None in sample_shape:
        return tuple(None if d == -1 else d for d in target)
    size, known = int(np.prod(sample_shape)), int(np.prod([d for d in target if d != -1]))
    if -1 not in target:
        if size != known:
            raise ValueError(
                f"{layer_name}: cannot reshape samples of shape {tuple(sample_shape)} "
                f"({size} values) to {target} ({known} values). The total size must not change."
            )
        return target
    if known == 0 or size % known:
        raise ValueError(
            f"{layer_name}: cannot reshape samples of shape {tuple(sample_shape)} ({size} "
            f"values) to {target}: {size} is not a multiple of {known}, the product of the "
            "known sizes."
        )
    return tuple(size // known if d == -1 else d for d in target)


class Reshape(Layer):
    """Give each sample a new shape with the same number of values, in C (row-major) order.

    Args:
        target_shape: the shape of one sample, without the batch axis. One size may be -1: it
            is inferred from the others, ``Reshape((-1, 2))``.

    Shapes:
        x: (N, *sample_shape)  ->  y: (N, *target_shape), with prod(target) == prod(sample)

    Math:
        forward:  y = reshape(x, (N, *target_shape))   (the values keep their C order)
        backward: dx = reshape(dy, x.shape)             (a reshape only moves no values)

    Example:
        >>> import numpy as np
        >>> Reshape((-1, 2))(np.zeros((5, 3, 4))).shape
        (5, 6, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = check_target_shape(target_shape, f"Reshape '{self.name}'")

    def compute_output_shape(self, input_shape):
        target = resolve_target_shape(input_shape[1:], self.target_shape, f"Reshape '{self.name}'")
        return (input_shape[0], *target)

    def forward(self, x, training=False):
        N = x.shape[0]
        target = resolve_target_shape(x.shape[1:], self.target_shape, f"Reshape '{self.name}'")
        if training:
            self._x_shape = x.shape  # backward reshapes dy back to it
        return x.reshape((N, *target))  # (N, *target_shape), a view when x is contiguous

    def backward(self, dy, need_dx=True):
        return dy.reshape(self._x_shape)  # (N, *sample_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Reorder the axes of each sample: ``Permute((2, 1))`` swaps the two axes after the batch.

    Args:
        dims: a permutation of 1, ..., k (the batch axis 0 never moves, as in Keras): output
            axis i is input axis ``dims[i - 1]``.

    Shapes:
        x: (N, d_1, ..., d_k)  ->  y: (N, d_dims[0], ..., d_dims[k-1])

    Math:
        forward:  y = transpose(x, (0, *dims))
        backward: dx = transpose(dy, inverse of (0, *dims))  (each value goes back where it was)

    Example:
        >>> import numpy as np
        >>> Permute((2, 1))(np.zeros((2, 10, 64))).shape
        (2, 64, 10)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
            valid = sorted(dims) == list(range(1, len(dims) + 1))
        except TypeError:
            valid = False
        if not valid:
            raise ValueError(
                f"Permute '{self.name}': dims must be a permutation of 1, ..., k (axis 0, the "
                f"batch, never moves; indexing starts at 1), got {dims!r}. Example: (2, 1)."
            )
        self.dims = tuple(int(d) for d in dims)
        self.input_ndim = len(self.dims) + 1

    def check_input_shape(self, shape):
        if len(shape) != self.input_ndim:
            raise ValueError(
                f"Layer '{self.name}' (Permute) with dims={self.dims} expects a "
                f"{self.input_ndim}-D input (the batch axis, then {len(self.dims)} axes), but got "
                f"shape {tuple(shape)}."
            )
        super().check_input_shape(shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def forward(self, x, training=False):
        return np.ascontiguousarray(np.transpose(x, (0, *self.dims)))  # (N, d_dims[0], ...)

    def backward(self, dy, need_dx=True):
        inverse = np.argsort((0, *self.dims))  # output axis j came from input axis perm[j]
        return np.ascontiguousarray(np.transpose(dy, inverse))  # (N, d_1, ..., d_k)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeat each input vector n times along a new axis 1 (e.g. to feed a sequence decoder).

    Args:
        n: the number of copies, a positive int.

    Shapes:
        x: (N, D)  ->  y: (N, n, D)

    Math:
        forward:  y[:, t, :] = x for t = 0, ..., n-1
        backward: dx = sum_t dy[:, t, :]   (x reached the loss through all n copies)

    Example:
        >>> import numpy as np
        >>> RepeatVector(3)(np.ones((2, 4))).shape
        (2, 3, 4)
    """

    input_ndim = 2

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(
                f"RepeatVector '{self.name}': n must be an int (the number of copies), got "
                f"{n!r} of type {type(n).__name__}."
            )
        if n <= 0:
            raise ValueError(f"RepeatVector '{self.name}': n must be positive, got n={n}.")
        self.n = int(n)

    def input_layout(self):
        return "(batch, features)"

    def compute_output_shape(self, input_shape):
        N, D = input_shape
        return (N, self.n, D)

    def forward(self, x, training=False):
        N, D = x.shape
        return np.repeat(x[:, None, :], self.n, axis=1)  # (N, n, D), n copies of each row

    def backward(self, dy, need_dx=True):
        return dy.sum(axis=1)  # (N, D): the n copies' gradients add up

    def get_config(self):
        return {**super().get_config(), "n": self.n}

"""ZeroPadding2D and Cropping2D: grow or shrink an image's borders so two branches line up.

They are each other's backward: padding's gradient is a crop of dy, cropping's gradient is dy
padded with zeros (the cropped-away pixels did not affect the loss).
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

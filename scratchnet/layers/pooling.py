"""MaxPooling2D: keep the largest value of each window, channels last, as Keras does."""

from ..kernels import backend
from ..kernels.conv.reference import output_size_and_padding
from .base import Layer
from .conv import check_data_format, int_tuple, normalize_padding


class MaxPooling2D(Layer):
    """2-D max pooling: each output is the maximum of one (PH, PW) window of its channel.

    Args:
        pool_size: int or (PH, PW). Default (2, 2).
        strides: int or (sh, sw); None (the default) means ``pool_size`` (windows do not overlap).
        padding: 'valid' (drop rows/cols that do not fill a window) or 'same' (output size
            ceil(H / s); padding cells never win). Any letter case.
        data_format: None or 'channels_last' (the only layout scratchnet supports).

    Input shape:
        (N, H, W, C)

    Output shape:
        (N, H_out, W_out, C)

    Math:
        forward:  y[n, i, j, c] = max of x[n, ., ., c] over window (i, j)
                  (argmax = the first maximum in row-major window order, as TensorFlow)
        backward: dx[n, h, w, c] = sum of dy[n, i, j, c] over the windows whose argmax is (h, w)
                  so ties send the whole gradient to the top-most, then left-most maximum.

    Example:
        >>> import numpy as np
        >>> MaxPooling2D()(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
        array([[ 5.,  7.],
               [13., 15.]], dtype=float32)
    """

    input_ndim = 4

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        layer_name = f"MaxPooling2D '{self.name}'"
        check_data_format(data_format, layer_name)
        self.pool_size = int_tuple(pool_size, 2, "pool_size", layer_name)
        self.strides = int_tuple(
            pool_size if strides is None else strides, 2, "strides", layer_name
        )
        self._padding = normalize_padding(padding, layer_name)
        self.padding = padding  # kept as written: Keras's pooling config does not lower-case it

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        out = []
        for size, p, s in zip((H, W), self.pool_size, self.strides, strict=True):
            if size is None:
                out.append(None)
                continue
            size_out, _, _ = output_size_and_padding(size, p, s, 1, self._padding)
            if size_out < 1:
                raise ValueError(
                    f"MaxPooling2D '{self.name}': pool_size={self.pool_size} does not fit in "
                    f"inputs of shape {tuple(input_shape)} with padding='{self._padding}'."
                )
            out.append(size_out)
        return (N, out[0], out[1], C)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # raises early if the window does not fit
        super().build(input_shape)

    def forward(self, x, training=False):
        y, argmax = backend.current().max_pool2d_forward(
            x, self.pool_size, self.strides, self._padding
        )
        if training:
            # backward only needs where each maximum came from (and x's shape), not x itself
            self._argmax, self._x_shape = argmax, x.shape
        return y  # (N, H_out, W_out, C)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return backend.current().max_pool2d_backward(
            dy, self._argmax, self._x_shape
        )  # (N, H, W, C)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": "channels_last",
        }


MaxPool2D = MaxPooling2D

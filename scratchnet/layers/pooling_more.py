"""Average pooling, 1-D max pooling and global pooling, channels last, as Keras computes them.

Reading order: the windowed poolings (AveragePooling2D, AveragePooling1D, MaxPooling1D), then
the global ones, which pool each channel over the whole image or sequence
(GlobalAveragePooling2D/1D, GlobalMaxPooling2D/1D). A 1-D layer is its 2-D twin on a picture one
pixel wide: (N, L, C) is viewed as (N, L, 1, C), pooled with a (P, 1) window, and viewed back.

Two rules measured in Keras 3.15 / TensorFlow 2.21 (``tests/test_pooling_layers.py`` and
``parity_tests/test_pooling_layers.py`` check both):

* average pooling with 'same' padding divides by the number of REAL cells in the window, never
  by PH*PW (padding is left out of the mean, not averaged in as zeros);
* the gradient of a global max is split EQUALLY among tied maxima (``tf.reduce_max``'s rule),
  unlike MaxPooling1D/2D, which send it all to the first maximum of the window.
"""

import numpy as np

from ..kernels import avg_pooling, backend
from ..kernels.conv.reference import output_size_and_padding
from .base import Layer
from .conv import int_tuple, normalize_padding

_LAYOUTS = {1: "(batch, steps, features)", 2: "(batch, height, width, channels)"}
_TO_CHANNELS_LAST = {1: "x.transpose(0, 2, 1)", 2: "x.transpose(0, 2, 3, 1)"}


def _check_data_format(data_format, layer_name, rank):
    """None or 'channels_last' (any case, as Keras lower-cases it); anything else is explained."""
    if data_format is None or str(data_format).lower() == "channels_last":
        return
    raise ValueError(
        f"{layer_name}: scratchnet only supports data_format='channels_last' {_LAYOUTS[rank]}, "
        f"got {data_format!r}. Move the channels last with {_TO_CHANNELS_LAST[rank]}."
    )


def _check_rank(layer, input_shape):
    """Raise a clear error if ``input_shape`` does not have the layer's rank + 2 axes."""
    if len(input_shape) != layer.rank + 2:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' expects a {layer.rank + 2}-D input "
            f"{_LAYOUTS[layer.rank]}, but got shape {tuple(input_shape)}."
        )


# ============================================================================ windowed pooling


class _WindowPooling(Layer):
    """What the windowed poolings share: arguments, output shape, ``get_config``.

    ``rank`` is the number of spatial axes (1 or 2). The math runs on (N, H, W, C): a 1-D input
    (N, L, C) is viewed as (N, L, 1, C) with window ``self._window = (P, 1)`` (``_as_images``).
    """

    rank = 2

    def __init__(self, pool_size, strides, padding, data_format, **kwargs):
        super().__init__(**kwargs)
        layer_name = f"{type(self).__name__} '{self.name}'"
        _check_data_format(data_format, layer_name, self.rank)
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", layer_name)
        strides = pool_size if strides is None else strides
        self.strides = int_tuple(strides, self.rank, "strides", layer_name)
        self._padding = normalize_padding(padding, layer_name)
        self.padding = padding  # kept as written: Keras's pooling config does not lower-case it
        extra = (1,) * (2 - self.rank)  # a 1-D window is (P, 1) on the (N, L, 1, C) view
        self._window, self._window_strides = self.pool_size + extra, self.strides + extra

    @property
    def input_ndim(self):
        return self.rank + 2

    def input_layout(self):
        return _LAYOUTS[self.rank]

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape)
        spatial = []
        for size, p, s in zip(input_shape[1:-1], self.pool_size, self.strides, strict=True):
            if size is None:
                spatial.append(None)
                continue
            size_out, _, _ = output_size_and_padding(size, p, s, 1, self._padding)
            if size_out < 1:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': pool_size={self.pool_size} does not "
                    f"fit in inputs of shape {tuple(input_shape)} with padding="
                    f"'{self._padding}'. Use a smaller pool_size or padding='same'."
                )
            spatial.append(size_out)
        return (input_shape[0], *spatial, input_shape[-1])

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # raises early if the window does not fit
        super().build(input_shape)

    def _image_shape(self, shape):
        """(N, L, C) -> (N, L, 1, C) for a 1-D layer; a 2-D layer's shapes pass unchanged."""
        return tuple(shape) if self.rank == 2 else (shape[0], shape[1], 1, shape[2])

    def _as_images(self, a):
        """(N, L, C) -> (N, L, 1, C) for a 1-D layer (a view); 2-D arrays pass unchanged."""
        return a.reshape(self._image_shape(a.shape))

    def _from_images(self, a):
        """(N, L, 1, C) -> (N, L, C) for a 1-D layer (a view); 2-D arrays pass unchanged."""
        return a if self.rank == 2 else a.reshape(a.shape[0], a.shape[1], a.shape[3])

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": "channels_last",
        }


class _AveragePooling(_WindowPooling):
    """Average pooling's forward and backward, for AveragePooling2D and AveragePooling1D."""

    def forward(self, x, training=False):
        x4 = self._as_images(x)  # (N, H, W, C)
        y4 = avg_pooling.avg_pool2d_forward(x4, self._window, self._window_strides, self._padding)
        if training:
            self._x_shape = x.shape  # backward needs only the shape: a mean is linear in x
        return self._from_images(y4)  # (N, H_out, W_out, C) or (N, L_out, C)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx4 = avg_pooling.avg_pool2d_backward(
            self._as_images(dy),
            self._image_shape(self._x_shape),
            self._window,
            self._window_strides,
            self._padding,
        )  # (N, H, W, C): dy[i, j] / count[i, j] to every real pixel of window (i, j)
        return self._from_images(dx4)  # x's shape


class AveragePooling2D(_AveragePooling):
    """2-D average pooling: each output is the mean of one (PH, PW) window of its channel.

    Args:
        pool_size: int or (PH, PW). Required, as in Keras 3 (which has no default here, unlike
            MaxPooling2D's (2, 2)).
        strides: int or (sh, sw); None (the default) means ``pool_size``.
        padding: 'valid' (drop rows/cols that do not fill a window) or 'same' (output size
            ceil(H / s); the odd padding pixel goes at the bottom/right). Any letter case.
        data_format: None or 'channels_last' (the only layout scratchnet supports).

    Shapes:
        x: (N, H, W, C)  ->  y: (N, H_out, W_out, C)
        valid: H_out = floor((H - PH) / sh) + 1;  same: H_out = ceil(H / sh)  (W likewise)

    Math:
        forward:  y[n, i, j, c] = sum of x[n, h, w, c] over the window's real pixels / count[i, j]
                  count[i, j] = real (not padding) cells of window (i, j): PH*PW for 'valid',
                  fewer at the border for 'same' (measured: TensorFlow leaves padding out)
        backward: dx[n, h, w, c] = sum of dy[n, i, j, c] / count[i, j] over the windows (i, j)
                  that contain (h, w): each output spreads its gradient evenly over its window

    Example:
        >>> import numpy as np
        >>> AveragePooling2D(2)(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]], dtype=float32)
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_AveragePooling):
    """1-D average pooling over the steps of a sequence: the mean of each window of P steps.

    Args:
        pool_size: int (or a 1-tuple) P. Required, as in Keras 3.
        strides: int (or a 1-tuple); None (the default) means ``pool_size``.
        padding: 'valid' or 'same' (output length ceil(L / s)). Any letter case.
        data_format: None or 'channels_last'.

    Shapes:
        x: (N, L, C)  ->  y: (N, L_out, C)
        valid: L_out = floor((L - P) / s) + 1;  same: L_out = ceil(L / s)

    Math:
        forward:  y[n, i, c] = sum of x[n, l, c] over window i's real steps / count[i]
        backward: dx[n, l, c] = sum of dy[n, i, c] / count[i] over the windows i containing l
        (AveragePooling2D on the (N, L, 1, C) view with a (P, 1) window)

    Example:
        >>> import numpy as np
        >>> layer = AveragePooling1D(2, strides=1, padding="same")
        >>> layer(np.arange(4.0).reshape(1, 4, 1))[0, :, 0]  # the last window has one real step
        array([0.5, 1.5, 2.5, 3. ], dtype=float32)
    """

    rank = 1

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_WindowPooling):
    """1-D max pooling over the steps of a sequence: the maximum of each window of P steps.

    Args:
        pool_size: int (or a 1-tuple) P. Default 2.
        strides: int (or a 1-tuple); None (the default) means ``pool_size``.
        padding: 'valid' or 'same' (output length ceil(L / s); padding steps never win).
        data_format: None or 'channels_last'.

    Shapes:
        x: (N, L, C)  ->  y: (N, L_out, C)
        valid: L_out = floor((L - P) / s) + 1;  same: L_out = ceil(L / s)

    Math:
        forward:  y[n, i, c] = max of x[n, l, c] over window i (argmax: the first maximum)
        backward: dx[n, l, c] = sum of dy[n, i, c] over the windows i whose argmax is l,
                  so ties send the whole gradient to the earliest maximum, as TensorFlow does
        (MaxPooling2D's kernels on the (N, L, 1, C) view with a (P, 1) window)

    Example:
        >>> import numpy as np
        >>> MaxPooling1D()(np.array([[[1.0], [3.0], [2.0], [2.0]]]))[0, :, 0]
        array([3., 2.], dtype=float32)
    """

    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def forward(self, x, training=False):
        y4, argmax = backend.current().max_pool2d_forward(
            self._as_images(x), self._window, self._window_strides, self._padding
        )  # (N, L_out, 1, C) each
        if training:
            # backward only needs where each maximum came from (and x's shape), not x itself
            self._argmax, self._x_shape = argmax, x.shape
        return self._from_images(y4)  # (N, L_out, C)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx4 = backend.current().max_pool2d_backward(
            self._as_images(dy), self._argmax, self._image_shape(self._x_shape)
        )  # (N, L, 1, C): each window's dy added at its first maximum
        return self._from_images(dx4)  # (N, L, C)


# ============================================================================ global pooling


class _GlobalPooling(Layer):
    """What the global poolings share: ``keepdims``, output shape and ``get_config``.

    ``axes`` are the spatial axes reduced: (1, 2) for images, (1,) for sequences.
    """

    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        _check_data_format(data_format, f"{type(self).__name__} '{self.name}'", self.rank)
        self.keepdims = keepdims
        self.axes = tuple(range(1, self.rank + 1))

    @property
    def input_ndim(self):
        return self.rank + 2

    def input_layout(self):
        return _LAYOUTS[self.rank]

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape)
        N, C = input_shape[0], input_shape[-1]
        return (N, *(1,) * self.rank, C) if self.keepdims else (N, C)

    def _kept(self, dy, x_shape):
        """dy as (N, 1, 1, C) (or (N, 1, C)): broadcastable against x, whatever ``keepdims``."""
        return dy.reshape(x_shape[0], *(1,) * self.rank, x_shape[-1])

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last", "keepdims": self.keepdims}


class _GlobalAveragePooling(_GlobalPooling):
    """The global mean's forward and backward, for GlobalAveragePooling2D and 1D."""

    def forward(self, x, training=False):
        if training:
            self._x_shape = x.shape  # backward needs only the shape: a mean is linear in x
        return x.mean(axis=self.axes, keepdims=self.keepdims)  # (N, C) or (N, 1, 1, C)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        count = np.prod([self._x_shape[a] for a in self.axes])  # H*W (or L) positions
        dx = np.empty(self._x_shape, dtype=dy.dtype)  # (N, H, W, C)
        dx[...] = self._kept(dy, self._x_shape) / dy.dtype.type(count)  # dy / (H*W) everywhere
        return dx


class _GlobalMaxPooling(_GlobalPooling):
    """The global maximum's forward and backward, for GlobalMaxPooling2D and 1D."""

    def forward(self, x, training=False):
        y = x.max(axis=self.axes, keepdims=True)  # (N, 1, 1, C)
        if training:
            # backward needs each position's share of the gradient: 1/k at the k tied maxima
            # of its channel, 0 elsewhere (tf.reduce_max's gradient: indicators / num_selected)
            winners = (x == y).astype(x.dtype)  # (N, H, W, C)
            self._share = winners / winners.sum(axis=self.axes, keepdims=True)  # (N, H, W, C)
        return y if self.keepdims else y.reshape(x.shape[0], x.shape[-1])  # (N, C) or kept

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return self._share * self._kept(dy, self._share.shape)  # (N, H, W, C)


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """The mean of each channel over the whole image.

    Args:
        data_format: None or 'channels_last'.
        keepdims: keep the spatial axes, with length 1 (output (N, 1, 1, C)). Default False.

    Shapes:
        x: (N, H, W, C)  ->  y: (N, C), or (N, 1, 1, C) with keepdims

    Math:
        forward:  y[n, c] = sum over (h, w) of x[n, h, w, c] / (H*W)
        backward: dx[n, h, w, c] = dy[n, c] / (H*W)  (every pixel weighs the same)

    Example:
        >>> import numpy as np
        >>> GlobalAveragePooling2D()(np.arange(8.0).reshape(1, 2, 2, 2))
        array([[3., 4.]], dtype=float32)
    """


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """The mean of each feature over all steps of a sequence.

    Args:
        data_format: None or 'channels_last'.
        keepdims: keep the steps axis, with length 1 (output (N, 1, C)). Default False.

    Shapes:
        x: (N, L, C)  ->  y: (N, C), or (N, 1, C) with keepdims

    Math:
        forward:  y[n, c] = sum over l of x[n, l, c] / L
        backward: dx[n, l, c] = dy[n, c] / L

    Keras's masking (a ``mask`` from an Embedding with ``mask_zero``) is not supported.

    Example:
        >>> import numpy as np
        >>> GlobalAveragePooling1D(keepdims=True)(np.arange(6.0).reshape(1, 3, 2))
        array([[[2., 3.]]], dtype=float32)
    """

    rank = 1


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """The maximum of each channel over the whole image.

    Args:
        data_format: None or 'channels_last'.
        keepdims: keep the spatial axes, with length 1 (output (N, 1, 1, C)). Default False.

    Shapes:
        x: (N, H, W, C)  ->  y: (N, C), or (N, 1, 1, C) with keepdims

    Math:
        forward:  y[n, c] = max over (h, w) of x[n, h, w, c]
        backward: dx[n, h, w, c] = dy[n, c] / k[n, c] where x[n, h, w, c] == y[n, c], else 0
                  k[n, c] = how many pixels tie for the maximum. Ties SHARE the gradient
                  equally (measured: tf.reduce_max's rule), unlike MaxPooling2D, which gives it
                  all to the first maximum.

    Example:
        >>> import numpy as np
        >>> layer = GlobalMaxPooling2D()
        >>> layer(np.array([[[[1.0], [3.0]], [[3.0], [0.0]]]]), training=True)
        array([[3.]], dtype=float32)
        >>> layer.backward(np.array([[1.0]], dtype=np.float32))[0, :, :, 0]
        array([[0. , 0.5],
               [0.5, 0. ]], dtype=float32)
    """


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """The maximum of each feature over all steps of a sequence.

    Args:
        data_format: None or 'channels_last'.
        keepdims: keep the steps axis, with length 1 (output (N, 1, C)). Default False.

    Shapes:
        x: (N, L, C)  ->  y: (N, C), or (N, 1, C) with keepdims

    Math:
        forward:  y[n, c] = max over l of x[n, l, c]
        backward: dx[n, l, c] = dy[n, c] / k[n, c] where x[n, l, c] == y[n, c], else 0
                  (k tied maxima share the gradient equally, as tf.reduce_max's gradient does)

    Example:
        >>> import numpy as np
        >>> GlobalMaxPooling1D()(np.array([[[1.0, 5.0], [4.0, 2.0]]]))
        array([[4., 5.]], dtype=float32)
    """

    rank = 1


AvgPool2D = AveragePooling2D
AvgPool1D = AveragePooling1D
MaxPool1D = MaxPooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool1D = GlobalMaxPooling1D

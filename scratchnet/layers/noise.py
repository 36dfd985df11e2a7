"""GaussianNoise, GaussianDropout and SpatialDropout2D: regularizers that are on in training only.

Each layer draws Keras's random numbers bit for bit: a layer owns a ``SeedGenerator`` (made at
construction, only when its rate or stddev is above 0, as in Keras) and its k-th training call
uses the seed ``(seed, k)``, the numbers of ``keras.random.normal`` (GaussianNoise,
GaussianDropout; exact with the numba kernels, see ``scratchnet.random.stateless_normal``) or
``keras.random.dropout`` (SpatialDropout2D). In inference every layer is the identity.
"""

import math

import numpy as np

from .. import backend
from .. import random as sn_random
from .base import Layer


def _check_fraction(layer, name, value):
    """Keras's rule for ``rate`` and ``stddev``: a number in [0, 1]."""
    if not 0 <= value <= 1:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': {name} must be a float in [0, 1], got "
            f"{value!r}."
        )


def _normal_noise(layer, shape, dtype, mean, stddev):
    """z * stddev + mean in ``dtype``, z from the layer's next seed (keras.random.normal)."""
    z = sn_random.stateless_normal(shape, layer.seed_generator.next(), dtype)  # shape
    return z * dtype.type(stddev) + dtype.type(mean)


class GaussianNoise(Layer):
    """Add zero-centred Gaussian noise in training (a form of data augmentation).

    Args:
        stddev: the noise's standard deviation, in [0, 1] (Keras's limit).
        seed: optional int. Without one the layer draws its seed at construction from Python's
            ``random``, as Keras does.

    Shapes:
        x, y: any shape.

    Math:
        training:  y = x + n,  n = z * stddev,  z ~ N(0, 1) (keras.random.normal's numbers)
                   dx = dy  (the noise does not depend on x)
        inference: y = x, dx = dy

    Example:
        >>> layer = GaussianNoise(0.1, seed=3)
        >>> x = np.zeros((2, 3), "float32")
        >>> bool((layer(x, training=True) != 0).all()), bool((layer(x) == 0).all())
        (True, True)
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_fraction(self, "stddev", stddev)
        self.stddev = stddev
        self.seed = seed
        self.seed_generator = sn_random.SeedGenerator(seed) if stddev > 0 else None

    def forward(self, x, training=False):
        if not training or self.stddev == 0:
            return x
        noise = _normal_noise(self, x.shape, x.dtype, 0.0, self.stddev)  # (same as x)
        return x + noise

    def backward(self, dy, need_dx=True):
        return dy  # y = x + n: dy/dx = 1, in training and inference alike

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiply by 1-centred Gaussian noise in training: dropout's variance, without zeros.

    Args:
        rate: the drop probability of the Dropout it imitates, in [0, 1]; the noise's standard
            deviation is sqrt(rate / (1 - rate)).
        seed: optional int (see GaussianNoise).

    Shapes:
        x, y: any shape.

    Math:
        training:  m = 1 + z * sqrt(rate / (1 - rate)),  z ~ N(0, 1) (keras.random.normal's)
                   y = x * m;   dx = dy * m   (m is kept from the forward pass)
        inference: y = x, dx = dy

    Example:
        >>> layer = GaussianDropout(0.5, seed=3)
        >>> x = np.ones((2, 3), "float32")
        >>> bool((layer(x, training=True) != 1).all()), bool((layer(x) == 1).all())
        (True, True)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_fraction(self, "rate", rate)
        self.rate = rate
        self.seed = seed
        self.seed_generator = sn_random.SeedGenerator(seed) if rate > 0 else None
        self._noise = None

    def forward(self, x, training=False):
        if not training:
            return x
        self._noise = None
        if self.rate == 0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))  # a Python double, as Keras
        self._noise = _normal_noise(self, x.shape, x.dtype, 1.0, stddev)  # (same as x)
        return x * self._noise

    def backward(self, dy, need_dx=True):
        return dy if self._noise is None else dy * self._noise  # (same as x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class SpatialDropout2D(Layer):
    """Dropout of whole feature maps: one keep-or-drop draw per (sample, channel).

    Args:
        rate: fraction of channels to drop, in [0, 1].
        data_format: "channels_last" (N, H, W, C) or "channels_first" (N, C, H, W); None means
            ``backend.image_data_format()``.
        seed: optional int (see GaussianNoise).

    Shapes:
        x, y: (N, H, W, C) (channels_last) or (N, C, H, W) (channels_first)
        mask: (N, 1, 1, C) or (N, C, 1, 1), broadcast over the spatial axes

    Math:
        training:  keep = u >= rate,  u ~ U[0, 1) of the mask's shape (keras.random.dropout's
                   numbers), mask = keep / (1 - rate) (the scale rounded to the dtype)
                   y = x * mask;   dx = dy * mask
        inference: y = x, dx = dy

    Example:
        >>> layer = SpatialDropout2D(0.5, seed=1)
        >>> y = layer(np.ones((2, 3, 3, 4), "float32"), training=True)
        >>> sorted(set(np.unique(y).tolist())), bool((y == y[:, :1, :1, :]).all())
        ([0.0, 2.0], True)
    """

    input_ndim = 4

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        _check_fraction(self, "rate", rate)
        data_format = backend.image_data_format() if data_format is None else data_format
        data_format = str(data_format).lower()
        if data_format not in ("channels_first", "channels_last"):
            raise ValueError(
                f"SpatialDropout2D '{self.name}': data_format must be 'channels_first' or "
                f"'channels_last', got {data_format!r}."
            )
        self.rate = rate
        self.data_format = data_format
        self.seed = seed
        self.seed_generator = sn_random.SeedGenerator(seed) if rate > 0 else None
        self._mask = None

    def input_layout(self):
        if self.data_format == "channels_first":
            return "(batch, channels, height, width)"
        return "(batch, height, width, channels)"

    def forward(self, x, training=False):
        if not training:
            return x
        self._mask = None
        if self.rate == 0:
            return x
        N, A, B, C = x.shape  # (N, H, W, C) or (N, C, H, W)
        noise_shape = (N, A, 1, 1) if self.data_format == "channels_first" else (N, 1, 1, C)
        if self.rate == 1:  # keras.random.dropout returns zeros without drawing a seed
            self._mask = np.zeros(noise_shape, x.dtype)
        else:
            scale = x.dtype.type(1.0 / (1.0 - self.rate))  # the Python double, rounded
            seed = self.seed_generator.next()
            self._mask = sn_random.dropout_mask(noise_shape, seed, self.rate, scale, x.dtype)
        return x * self._mask  # (same as x): the mask broadcasts over H, W

    def backward(self, dy, need_dx=True):
        return dy if self._mask is None else dy * self._mask  # (same as dy)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = {"rate": self.rate, "seed": self.seed, "name": self.name}
        return {**config, "dtype": self.dtype.name, "data_format": self.data_format}

"""Rescaling: y = x * scale + offset, the preprocessing layer that turns 0-255 pixels into [0, 1].

It has no weights, but it still has a backward pass (dx = dy * scale), so it may sit anywhere
in a model, as in Keras.
"""

import numpy as np

from .base import Layer


def keras_constant(value, dtype):
    """``value`` as Keras's ``cast(value, dtype)`` on TensorFlow makes it.

    ``tf.cast`` first turns a Python float (or a list of them) into a float32 tensor and only
    then casts it, so in float64 ``scale=1/255`` becomes float32(1/255) =
    0.003921568859368563, not 0.00392156862745098 (measured with Keras 3.15). A NumPy array or
    scalar keeps its own dtype before the cast, and ints are exact.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value).astype(dtype)
    array = np.asarray(value)
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
    return array.astype(dtype)


def _serialize(value):
    """``scale``/``offset`` for get_config, as Keras's ``serialize_keras_object`` writes them."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return {
            "class_name": "__numpy__",
            "config": {"value": value.tolist(), "dtype": value.dtype.name},
        }
    if isinstance(value, (np.ndarray, np.generic)):
        return value.item()
    return value


def _deserialize(value):
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        return np.array(value["config"]["value"], dtype=value["config"]["dtype"])
    return value


class Rescaling(Layer):
    """Multiply every input value by ``scale`` and add ``offset`` (in training and inference).

    Args:
        scale: a float, or an array broadcast against the input (e.g. one scale per channel).
            ``1/255`` maps [0, 255] to [0, 1]; ``scale=1/127.5, offset=-1`` maps it to [-1, 1].
        offset: a float or an array, default 0.

    Shapes:
        x: any shape, integers or floats (cast to the layer dtype)  ->  y: the same shape

    Math:
        forward:  y = x * s + o, with s and o rounded as Keras rounds them: a Python float goes
                  through float32 first, so in float64 s = float64(float32(scale))
        backward: dx = dy * s   (the offset moves y, not its slope)

    Example:
        >>> import numpy as np
        >>> Rescaling(1 / 255)(np.array([[0, 255]], dtype=np.uint8))
        array([[0., 1.]], dtype=float32)
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset
        for name in ("scale", "offset"):
            value = np.asarray(getattr(self, name))
            if value.dtype.kind not in "iuf":
                raise ValueError(
                    f"Rescaling '{self.name}': {name} must be a number or an array of numbers, "
                    f"got {getattr(self, name)!r}."
                )

    def forward(self, x, training=False):
        s = keras_constant(self.scale, x.dtype)  # () or broadcastable
        o = keras_constant(self.offset, x.dtype)
        return x * s + o  # (N, ...)

    def backward(self, dy, need_dx=True):
        return dy * keras_constant(self.scale, dy.dtype)  # (N, ...)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": _serialize(self.scale),
            "offset": _serialize(self.offset),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["scale"] = _deserialize(config["scale"])
        config["offset"] = _deserialize(config["offset"])
        return cls(**config)

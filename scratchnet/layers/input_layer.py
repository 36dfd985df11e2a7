"""``Input`` and ``InputLayer``: where a model's data comes in.

``Input(shape)`` returns a symbolic tensor (``scratchnet.graph.SymbolicTensor``): a shape with a
batch axis ``None`` and no data, which layers are called on to describe a Functional model. As in
Keras, the tensor is the output of an ``InputLayer``, a layer with no weights and no computation
that a Functional model lists first in ``model.layers``.

Example:
    >>> from scratchnet import Input
    >>> x = Input((28, 28, 1))
    >>> x.shape, x.input_layer.name.startswith("input_layer")
    ((None, 28, 28, 1), True)
"""

import numpy as np

from .. import graph
from ..naming import unique_name
from .base import Layer


class InputLayer(Layer):
    """The layer behind ``Input``: its ``output`` is the symbolic input tensor.

    Args:
        shape: the per-sample shape, without the batch axis, e.g. ``(28, 28, 1)``.
        batch_size: a fixed batch size, or None (any).
        batch_shape: the whole shape, batch axis first, instead of ``shape`` and ``batch_size``.
        dtype: the input's dtype (floatx by default; 'int32' for token ids).
        name: the tensor's and the layer's name (default ``input_layer``, ``input_layer_1``...).
    """

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        sparse=None,
        batch_shape=None,
        input_tensor=None,
        optional=False,
        name=None,
        **kwargs,
    ):
        if sparse:
            raise ValueError("InputLayer: sparse inputs are not supported by scratchnet.")
        if input_tensor is not None:
            raise ValueError("InputLayer: input_tensor= is not supported by scratchnet.")
        kwargs.pop("ragged", None)  # Keras writes ragged=False in its files
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        self.optional = bool(optional)
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise ValueError(
                    f"InputLayer '{self.name}': pass either shape (and batch_size) or "
                    f"batch_shape, not both; got shape={shape}, batch_size={batch_size}, "
                    f"batch_shape={batch_shape}."
                )
            batch_shape = tuple(batch_shape)
            if not batch_shape:
                raise ValueError(f"InputLayer '{self.name}': batch_shape must have a batch axis.")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError(
                f"InputLayer '{self.name}': give the per-sample shape, e.g. Input(shape=(28, "
                "28, 1)), or batch_shape=(None, 28, 28, 1)."
            )
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        for d in (batch_size, *shape):
            if d is not None and (not isinstance(d, (int, np.integer)) or d <= 0):
                raise ValueError(
                    f"Input: every dimension of shape must be a positive int or None; got "
                    f"{(batch_size, *shape)}."
                )
        input_dtype = np.dtype(dtype).name if dtype is not None else self.dtype.name
        tensor = graph.SymbolicTensor(
            (batch_size, *map(_int_or_none, shape)), input_dtype, name=self.name
        )
        tensor.input_layer = self
        self.__dict__["_symbolic_call"] = ([], tensor)  # no input (Keras's []), one output
        self.batch_shape = tensor.shape
        self.built = True

    def compute_output_shape(self, input_shape=None):
        return self.batch_shape

    def get_config(self):
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self.output.dtype,
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": self.optional,
        }


def _int_or_none(d):
    return None if d is None else int(d)


def Input(
    shape=None,
    batch_size=None,
    dtype=None,
    sparse=None,
    batch_shape=None,
    name=None,
    tensor=None,
    optional=False,
):
    """A model input of per-sample ``shape`` (no batch axis), as ``keras.Input``.

    Args:
        shape: e.g. ``(28, 28, 1)`` for MNIST images.
        batch_size: optional fixed batch size; ``None`` allows any.
        batch_shape: the whole shape, batch axis first, instead of ``shape`` and ``batch_size``.
        dtype, name: the tensor's dtype (floatx by default) and name.

    Returns:
        a symbolic tensor, the output of a new ``InputLayer`` (``tensor.input_layer``).
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        input_tensor=tensor,
        optional=optional,
        name=name,
    )
    return layer.output

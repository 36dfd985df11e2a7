"""Embedding: integer ids in, one learned vector per id out (the first layer of a text model).

The forward pass is a table look-up; its backward pass is the lesson: the gradient of a look-up
is a scatter-add. Every position where id i was read sends its dy back to row i, and an id read
twice (a repeated word) receives the sum of both gradients.
"""

import warnings

import numpy as np

from .. import initializers, regularizers
from .base import Layer
from .core import regularizers_and_constraints_config, set_regularizers_and_constraints


def _positive_int(value, name, layer_name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"{layer_name}: {name} must be a positive integer, got {value!r} "
            f"(of type {type(value).__name__})."
        )
    return int(value)


class Embedding(Layer):
    """Turn integer ids into dense vectors: row ``id`` of a learned table.

    Args:
        input_dim: the vocabulary size; ids go from 0 to input_dim - 1 (negative ids count
            from the end, -1 is row input_dim - 1, as Keras's ``take`` on TensorFlow).
        output_dim: the length of each vector.
        embeddings_initializer: default 'uniform': Keras's ``RandomUniform(-0.05, 0.05)``.
        weights: optional initial table, an array (input_dim, output_dim) or a list of one.
        embeddings_regularizer: a penalty on the table added to the loss, or None.
        activity_regularizer: a penalty on the output y, divided by the batch size N, or None.
        embeddings_constraint: a projection of the table after every optimizer update, or None.
        lora_rank, lora_alpha, quantization_config: Keras's options; scratchnet supports only
            None.
        input_length: deprecated in Keras 3 (a warning, then ignored), here too.
        mask_zero: only False: scratchnet's layers and losses do not carry masks, and Keras
            would weight the loss by the mask of id 0, so True cannot give Keras's numbers.

    Shapes:
        ids: (N, ...) integers (floats are cast to int32, truncating, as Keras does)
        embeddings: (input_dim, output_dim)
        y: (N, ..., output_dim)

    Math:
        forward:  y[n, t, :] = embeddings[ids[n, t], :]
        backward: dembeddings = zeros (input_dim, output_dim)
                  for every position (n, t): dembeddings[ids[n, t], :] += dy[n, t, :]
                  (a scatter-add: repeated ids sum; rows never read get 0)
                  The ids are integers: no gradient flows to them.
        with regularizers, as in Dense: the layer's ``losses`` are activity_regularizer(y) / N
                  and embeddings_regularizer(embeddings); dy += d(activity penalty)/dy before
                  the scatter-add, dembeddings += d embeddings_regularizer/d embeddings after it

    Example:
        >>> import numpy as np
        >>> layer = Embedding(10, 4)
        >>> layer(np.array([[1, 2, 1]])).shape
        (1, 3, 4)
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        activity_regularizer=None,
        input_length=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        layer_name = f"Embedding '{self.name}'"
        if input_length is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
        self.input_dim = _positive_int(input_dim, "input_dim", layer_name)
        self.output_dim = _positive_int(output_dim, "output_dim", layer_name)
        unsupported = {
            "lora_rank": lora_rank,
            "lora_alpha": lora_alpha,
            "quantization_config": quantization_config,
        }
        used = [k for k, v in unsupported.items() if v is not None]
        if mask_zero:
            used.append("mask_zero")
        if used:
            raise ValueError(
                f"{layer_name}: {used} are not supported by scratchnet; leave them at their "
                "defaults (None, mask_zero=False)."
            )
        self.mask_zero = False
        # Made here, not in build: Keras draws the initializer's seed at construction.
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, embeddings=(embeddings_regularizer, embeddings_constraint)
        )
        if weights is not None:
            self.build_from_shape((None, None))
            one = isinstance(weights, list) and len(weights) == 1  # Keras's test, kept
            self.set_weights(weights if one else [weights])

    def build(self, input_shape):
        self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            name="embeddings",
        )
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def _cast(self, t):
        """Ids stay integers (cast to int32 if they are floats, as Keras): not the layer dtype."""
        t = np.asarray(t)
        return t if t.dtype.kind in "iu" else t.astype(np.int32)

    def forward(self, ids, training=False):
        if ids.size and (ids.min() < -self.input_dim or ids.max() >= self.input_dim):
            bad = ids[(ids < -self.input_dim) | (ids >= self.input_dim)].flat[0]
            raise ValueError(
                f"Embedding '{self.name}' has input_dim={self.input_dim} rows, so ids must be in "
                f"[0, {self.input_dim}) (or [-{self.input_dim}, 0) from the end); got id {bad}. "
                "Make input_dim the vocabulary size, the largest id + 1."
            )
        y = self.params["embeddings"][ids]  # (N, ..., output_dim), a copy (fancy indexing)
        if training:
            self._ids, self._y = ids, y  # backward scatters dy into the rows these ids read
        if self.regularized:  # the penalties of y and of the table are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward(self, dy, need_dx=True):
        D = self.output_dim
        if self.activity_regularizer is not None:  # L also holds penalty(y) / N
            dy = dy + regularizers.activity_gradient(self, self._y)  # (N, ..., D), a new array
        dembeddings = np.zeros_like(self.params["embeddings"])  # (input_dim, D)
        # dembeddings[ids[p]] += dy[p] for every position p, repeated ids adding up (np.add.at
        # accumulates; dembeddings[ids] += dy would keep only one of the repeats).
        np.add.at(dembeddings, self._ids.reshape(-1), dy.reshape(-1, D))
        self.grads["embeddings"] = dembeddings
        if self.regularized:  # dembeddings += d embeddings_regularizer / d embeddings
            regularizers.add_weight_gradients(self)
        if not need_dx:
            return None
        # The ids are integers, not a function of anything learnable: TensorFlow's gradient for
        # them is None. Zeros stand for it when a previous layer asks (it changes nothing).
        return np.zeros(self._ids.shape, dtype=dy.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            **regularizers_and_constraints_config(self),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        }

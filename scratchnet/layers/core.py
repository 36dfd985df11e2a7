"""Dense, Flatten, Dropout and Activation: the non-convolutional layers."""

import numpy as np

from .. import activations, initializers
from .. import random as sn_random
from ..kernels import parallel
from ..losses import ActivationWithLoss
from .base import Layer


def activate(layer, z, training, owned=True):
    """y = layer.activation(z) for Dense and Activation, caching what backward needs.

    The logits z are kept in ``layer.logits`` when a fused loss may read them
    (``ActivationWithLoss.keeps_logits``). Otherwise, if z is the layer's own fresh array
    (``owned``), the activation overwrites it: one array less to allocate on the hot path.
    """
    layer.logits = z if ActivationWithLoss.keeps_logits(layer) else None
    y = layer.activation.forward(z, out=z if owned and layer.logits is None else None)
    if training:
        layer._y = y  # every activation's backward needs only its output
    return y


class Dense(Layer):
    """A fully connected layer: every output unit sees every input feature.

    Args:
        units: number of output features.
        activation: name or object from ``scratchnet.activations`` (default: none, i.e. linear).
        use_bias: add a learned bias.
        kernel_initializer, bias_initializer: as in Keras ('glorot_uniform', 'zeros').

    Shapes:
        x: (N, D_in) (or (..., D_in): Dense acts on the last axis)
        kernel: (D_in, D_out), bias: (D_out,)
        y: (N, D_out)

    Math:
        forward:  z = x @ kernel + bias;  y = activation(z)
        backward: dz = activation'(dy)                        (``backward``)
                  dkernel = x^T @ dz;  dbias = sum_N dz;  dx = dz @ kernel^T
                                                            (``backward_from_logits``)

    Example:
        >>> import numpy as np
        >>> layer = Dense(3)
        >>> layer(np.ones((2, 4))).shape
        (2, 3)
    """

    min_ndim = 2

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(
                f"Dense '{self.name}': units must be a positive integer, got {units!r}."
            )
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        # Initializers are made here, not in build, because Keras draws their random seeds when
        # the layer is constructed: keeping that order keeps our initial weights equal to Keras's.
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        d_in = input_shape[-1]
        if d_in is None:
            raise ValueError(
                f"Dense '{self.name}': the last input axis must be known, got {input_shape}."
            )
        self.add_weight(
            shape=(d_in, self.units), initializer=self.kernel_initializer, name="kernel"
        )
        if self.use_bias:
            self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        x2 = x.reshape(-1, x.shape[-1])  # (N, D_in): x (..., D_in) as a matrix, a view
        z = parallel.matmul(x2, self.params["kernel"])  # z = x @ kernel  (N, D_out)
        z = z.reshape(x.shape[:-1] + (self.units,))  # (..., D_out), a view
        if self.use_bias:
            z += self.params["bias"]
        if training:
            self._x = x  # backward needs the input for dkernel = x^T @ dz
        return activate(self, z, training)

    def backward(self, dy, need_dx=True):
        dz = self.activation.backward(dy, self._y)  # the chain rule through the activation
        return self.backward_from_logits(dz, need_dx)

    def backward_from_logits(self, dz, need_dx=True):
        """dkernel, dbias and dx from dz = dL/dz, the gradient of z = x @ kernel + bias."""
        x = self._x
        x2 = x.reshape(-1, x.shape[-1])  # (N, D_in), a view
        dz2 = dz.reshape(-1, self.units)  # (N, D_out), a view
        if self.use_bias:
            self.grads["bias"] = dz2.sum(axis=0)  # dbias = sum_N dz  (D_out,)
        if not need_dx:
            self.grads["kernel"] = parallel.matmul(x2.T, dz2)  # dkernel = x^T @ dz
            return None
        with parallel.side_by_side() as products:  # two products of one size, one per core
            dkernel = products.matmul(x2.T, dz2)  # dkernel = x^T @ dz  (D_in, D_out)
            dx = products.matmul(dz2, self.params["kernel"].T)  # dx = dz @ kernel^T  (N, D_in)
        self.grads["kernel"] = dkernel
        return dx.reshape(x.shape)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Flatten(Layer):
    """Flatten each sample into a vector, in C order (channels fastest), as Keras does for NHWC.

    Shapes:
        x: (N, H, W, C)  ->  y: (N, H*W*C), flat index (h*W + w)*C + c

    Math:
        forward: y = reshape(x);  backward: dx = reshape(dy) back to x's shape. No copies.
    """

    min_ndim = 2

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(
                f"Flatten '{self.name}': only data_format='channels_last' (NHWC) is supported, "
                f"got {data_format!r}."
            )

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest))
        return (input_shape[0], size)

    def forward(self, x, training=False):
        if training:
            self._shape = x.shape
        return x.reshape(x.shape[0], -1)  # (N, H*W*C)

    def backward(self, dy, need_dx=True):
        return dy.reshape(self._shape)

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the rest.

    Args:
        rate: fraction of units to drop, in [0, 1).
        seed: optional int. As in Keras, a layer without a seed draws one at construction
            (``random.randint(1, 10**9)``), so ``utils.set_random_seed`` makes runs repeatable.

    Shapes:
        x, y: any shape.

    Math:
        training:  keep = u >= rate with u ~ U[0, 1) from TensorFlow's Philox stream
                   (``scratchnet.random``), so masks equal Keras's for the same seed;
                   y = x * keep / (1 - rate);   dx = dy * keep / (1 - rate)
        inference: y = x;  dx = dy (nothing is rescaled at test time)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(
                f"Dropout '{self.name}': rate must be in [0, 1), got {rate!r}. "
                "rate is the fraction of units dropped in training."
            )
        if noise_shape is not None:
            raise ValueError(f"Dropout '{self.name}': noise_shape is not supported; pass None.")
        self.rate = float(rate)
        self.seed = seed
        # Keras only creates (and so only draws a seed for) a generator when rate > 0.
        self.seed_generator = sn_random.SeedGenerator(seed) if rate > 0 else None

    def forward(self, x, training=False):
        self._mask = None
        if not training or self.rate == 0:
            return x
        scale = x.dtype.type(1.0 / (1.0 - self.rate))  # Python double rounded to x's dtype, as TF
        seed = self.seed_generator.next()
        self._mask = sn_random.dropout_mask(x.shape, seed, self.rate, scale, x.dtype)  # 0 or scale
        return x * self._mask

    def backward(self, dy, need_dx=True):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": None}


class Activation(Layer):
    """Apply an activation function as its own layer: ``Activation('relu')``.

    Math:
        forward: y = f(x);  backward: dx = f'(dy) (see ``scratchnet.activations``)
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        return activate(self, x, training, owned=False)  # x belongs to the previous layer

    def backward(self, dy, need_dx=True):
        return self.activation.backward(dy, self._y)

    def backward_from_logits(self, dz, need_dx=True):
        """A fused loss's dL/dz is already dL/dx: the logits are this layer's input."""
        return dz

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}

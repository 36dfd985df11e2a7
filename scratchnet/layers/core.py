"""Dense, Flatten, Dropout and Activation: the non-convolutional layers."""

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .. import random as sn_random
from ..kernels import parallel
from ..losses import ActivationWithLoss
from .base import Layer


def activate(layer, z, training, owned=True):
    """y = layer.activation(z) for Dense and Activation, caching what backward needs.

    The logits z are kept when a fused loss may read them (``ActivationWithLoss.keeps_logits``).
    Otherwise, if z is the layer's own fresh array (``owned``), the activation overwrites it: one
    array less to allocate on the hot path.
    """
    keep_z = ActivationWithLoss.keeps_logits(layer, training)
    needs_z = layer.activation.needs_input  # gelu, silu, ...: their backward reads z too
    y = layer.activation.forward(z, out=z if owned and not keep_z and not needs_z else None)
    ActivationWithLoss.keep(layer, y, z if keep_z else None, training)
    if training:
        layer._y = y  # most activations' backward needs only the output
        layer._z = z if needs_z else None
    return y


def set_regularizers_and_constraints(layer, activity_regularizer=None, **weights):
    """Store a layer's regularizers and constraints: names, objects or config dicts -> objects,
    as Keras's ``get``.

    Args:
        layer: the layer; it gets ``activity_regularizer`` and, for each weight ``w``,
            ``w_regularizer`` and ``w_constraint``.
        activity_regularizer: the penalty on the layer's output, or None.
        **weights: ``w=(regularizer, constraint)`` for each weight name w, in Keras's order
            (``kernel=(kernel_regularizer, kernel_constraint), bias=(...)``). Pass them on to
            ``add_weight(regularizer=..., constraint=...)`` in ``build``.

    ``layer.regularized`` tells forward and backward whether there is a penalty to add at all:
    without one they do exactly what they did before.
    """

    def get(family, argument, identifier):
        try:
            return family.get(identifier)
        except ValueError as e:  # say which layer and which argument
            raise ValueError(f"{type(layer).__name__} '{layer.name}': {argument}: {e}") from e

    layer.activity_regularizer = get(regularizers, "activity_regularizer", activity_regularizer)
    layer._regularized_names = tuple(weights)  # the weight names, for the config
    for w, (regularizer, constraint) in weights.items():
        setattr(layer, f"{w}_regularizer", get(regularizers, f"{w}_regularizer", regularizer))
        setattr(layer, f"{w}_constraint", get(constraints, f"{w}_constraint", constraint))
    layer.regularized = layer.activity_regularizer is not None or any(
        getattr(layer, f"{name}_regularizer") is not None for name in weights
    )


def regularizers_and_constraints_config(layer, activity=True):
    """Their ``get_config`` entries, as Keras writes them (None when unset): every weight's
    regularizer, then ``activity_regularizer`` (if ``activity``: the layers whose Keras config
    always has it), then every weight's constraint.

    Once set, the activity regularizer sits right after ``dtype`` instead, for every layer: it
    comes from ``Layer.get_config`` first, and a later key of the same name keeps that place.
    """
    names = layer._regularized_names
    config = {f"{w}_regularizer": regularizers.serialize(getattr(layer, f"{w}_regularizer"))
              for w in names}  # fmt: skip
    if activity:
        config["activity_regularizer"] = regularizers.serialize(layer.activity_regularizer)
    config.update({f"{w}_constraint": constraints.serialize(getattr(layer, f"{w}_constraint"))
                   for w in names})  # fmt: skip
    return config


class Dense(Layer):
    """A fully connected layer: every output unit sees every input feature.

    Args:
        units: number of output features.
        activation: name or object from ``scratchnet.activations`` (default: none, i.e. linear).
        use_bias: add a learned bias.
        kernel_initializer, bias_initializer: as in Keras ('glorot_uniform', 'zeros').
        kernel_regularizer, bias_regularizer: a penalty on the weight added to the loss
            (``scratchnet.regularizers``: 'l1', 'l2', an object, a config dict), or None.
        activity_regularizer: a penalty on the output y, divided by the batch size N, or None.
        kernel_constraint, bias_constraint: a projection applied to the weight after every
            optimizer update (``scratchnet.constraints``: 'max_norm', 'non_neg', ...), or None.

    Shapes:
        x: (N, D_in) (or (..., D_in): Dense acts on the last axis)
        kernel: (D_in, D_out), bias: (D_out,)
        y: (N, D_out)

    Math:
        forward:  z = x @ kernel + bias;  y = activation(z)
        backward: dz = activation'(dy)                        (``backward``)
                  dkernel = x^T @ dz;  dbias = sum_N dz;  dx = dz @ kernel^T
                                                            (``_backward_linear``)
        A loss fused with the activation starts at ``backward_from_logits(dz)``.
        with regularizers (``scratchnet.regularizers``): the layer's ``losses`` are
                  activity_regularizer(y) / N and kernel_regularizer(kernel) (and the bias's),
                  dy += d(activity penalty)/dy before the chain rule,
                  dkernel += d kernel_regularizer/d kernel (and dbias likewise) after it

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
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        options = {"lora_rank": lora_rank, "lora_alpha": lora_alpha,
                   "quantization_config": quantization_config}  # fmt: skip
        if any(v is not None for v in options.values()):
            raise ValueError(
                f"Dense '{self.name}': {sorted(k for k, v in options.items() if v is not None)} "
                "(LoRA, quantization) are Keras options scratchnet does not support; leave them "
                "None."
            )
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
        set_regularizers_and_constraints(
            self, activity_regularizer, kernel=(kernel_regularizer, kernel_constraint),
            bias=(bias_regularizer, bias_constraint),
        )  # fmt: skip

    def build(self, input_shape):
        d_in = input_shape[-1]
        if d_in is None:
            raise ValueError(
                f"Dense '{self.name}': the last input axis must be known, got {input_shape}."
            )
        self.add_weight(
            shape=(d_in, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if self.use_bias:
            self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
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
        y = activate(self, z, training)
        if self.regularized:  # the penalties of y and of the weights are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward(self, dy, need_dx=True):
        if self.activity_regularizer is not None:  # L also holds penalty(y) / N
            dy = dy + regularizers.activity_gradient(self, self._y)  # (..., D_out), a new array
        dz = activations.backprop(self.activation, dy, self._y, self._z)  # through the activation
        return self._backward_linear(dz, need_dx)

    def backward_from_logits(self, dz, need_dx=True):
        """The backward pass from dz = dL/dz given by a loss fused with the activation."""
        if self.activity_regularizer is not None:  # penalty(y) / N still goes through y
            dy_penalty = regularizers.activity_gradient(self, self._y)  # (..., D_out)
            dz = dz + activations.backprop(self.activation, dy_penalty, self._y, self._z)
        return self._backward_linear(dz, need_dx)

    def _backward_linear(self, dz, need_dx):
        """dkernel, dbias and dx from dz = dL/dz, the gradient of z = x @ kernel + bias."""
        x = self._x
        x2 = x.reshape(-1, x.shape[-1])  # (N, D_in), a view
        dz2 = dz.reshape(-1, self.units)  # (N, D_out), a view
        if self.use_bias:
            self.grads["bias"] = dz2.sum(axis=0)  # dbias = sum_N dz  (D_out,)
        if not need_dx:
            self.grads["kernel"] = parallel.matmul(x2.T, dz2)  # dkernel = x^T @ dz
            dx = None
        else:
            with parallel.side_by_side() as products:  # two products of one size, one per core
                dkernel = products.matmul(x2.T, dz2)  # dkernel = x^T @ dz  (D_in, D_out)
                dx = products.matmul(dz2, self.params["kernel"].T)  # dx = dz @ kernel^T (N, D_in)
            self.grads["kernel"] = dkernel
            dx = dx.reshape(x.shape)
        if self.regularized:  # dkernel += d kernel_regularizer(kernel) / d kernel, same for bias
            regularizers.add_weight_gradients(self)
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **regularizers_and_constraints_config(self, activity=False),
            "quantization_config": None,  # (Keras's last key; scratchnet does not quantize)
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
        self._mask = None

    def forward(self, x, training=False):
        if not training:
            return x  # (inference keeps nothing, not even a None: see layers/base.py's Threads)
        self._mask = None
        if self.rate == 0:
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
        return activations.backprop(self.activation, dy, self._y, self._z)

    def backward_from_logits(self, dz, need_dx=True):
        """A fused loss's dL/dz is already dL/dx: the logits are this layer's input."""
        return dz

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}

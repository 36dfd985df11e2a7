"""Conv2D: the 2-D convolution layer, channels last, with Keras's arguments and weight layout."""

import numpy as np

from .. import activations, initializers, regularizers
from ..kernels import backend
from ..kernels.conv.chunks import Workspaces
from ..kernels.conv.reference import output_size_and_padding
from ..kernels.elementwise import Deferred
from ..losses import ActivationWithLoss
from .base import Layer
from .core import regularizers_and_constraints_config, set_regularizers_and_constraints


def int_tuple(value, rank, name, layer_name, allow_zero=False):
    """An int or ``rank`` ints -> a tuple of ``rank`` ints, as Keras's ``standardize_tuple``
    (Keras accepts ``3`` for ``(3, 3)``). Positive, or non-negative with ``allow_zero``."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) else value
    try:
        values = tuple(values)
    except TypeError:  # neither an int nor a sequence: fall through to the error below
        values = ()
    low = 0 if allow_zero else 1
    if len(values) != rank or not all(
        isinstance(v, (int, np.integer)) and v >= low for v in values
    ):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"{layer_name}: {name} must be a {kind} int or a tuple of {rank} {kind} ints, "
            f"got {value!r}."
        )
    return tuple(int(v) for v in values)


def check_strides_with_dilation(strides, dilation_rate, layer_name):
    """Keras refuses a stride above 1 together with a dilation above 1 (in Conv1D/2D and
    Conv2DTranspose); so do we, with Keras's wording."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            f"{layer_name}: `strides > 1` not supported in conjunction with "
            f"`dilation_rate > 1` (as in Keras). Received: strides={strides} and "
            f"dilation_rate={dilation_rate}."
        )


def normalize_padding(padding, layer_name):
    """'valid' or 'same', in any letter case (Keras accepts 'SAME')."""
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{layer_name}: padding must be 'valid' or 'same', got {padding!r}.")
    return padding.lower()


def check_data_format(data_format, layer_name):
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{layer_name}: scratchnet only supports data_format='channels_last' (NHWC: "
            f"batch, height, width, channels), got {data_format!r}. Transpose NCHW data with "
            "x.transpose(0, 2, 3, 1)."
        )


class Conv2D(Layer):
    """2-D convolution: slide ``filters`` learned (KH, KW, C_in) kernels over the image.

    Args:
        filters: number of output channels C_out.
        kernel_size: int or (KH, KW).
        strides: int or (sh, sw). Default 1.
        padding: 'valid' (no padding) or 'same' (output size ceil(H / s); TensorFlow puts an odd
            extra padding pixel at the bottom/right). Any letter case.
        data_format: None or 'channels_last' (the only layout scratchnet supports).
        dilation_rate: int or (dh, dw): spacing between kernel taps. Cannot be combined with
            strides > 1, as in Keras.
        activation: name or object from ``scratchnet.activations`` (default: none, i.e. linear).
        use_bias: add a learned bias per filter.
        kernel_initializer, bias_initializer: as in Keras ('glorot_uniform', 'zeros').
        groups: 1 only (grouped convolutions are not supported).
        kernel_regularizer, bias_regularizer: a penalty on the weight added to the loss
            (``scratchnet.regularizers``: 'l1', 'l2', an object, a config dict), or None.
        activity_regularizer: a penalty on the output y, divided by the batch size N, or None.
        kernel_constraint, bias_constraint: a projection applied to the weight after every
            optimizer update (``scratchnet.constraints``: 'max_norm', 'non_neg', ...), or None.

    Input shape:
        (N, H, W, C_in). A grayscale batch (N, H, W) needs a channel axis: ``x[..., None]``.

    Output shape:
        (N, H_out, W_out, filters); see ``scratchnet.kernels.conv.reference``.

    Shapes:
        kernel (KH, KW, C_in, C_out), bias (C_out,)

    Math:
        forward:  z[n, i, j, f] = bias[f]
                      + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]
                  y = activation(z)
                  computed as cols = im2col(x) (one row per output pixel), z = cols @ kernel + bias
        backward: dz = activation'(dy)                                    (``backward``)
                  dkernel = cols^T @ dz,  dbias = sum_{n, i, j} dz,  dx = col2im(dz @ kernel^T)
                                                                        (``_backward_conv``)
        A loss fused with the activation starts at ``backward_from_logits(dz)``.
        One level down (``scratchnet.kernels.conv``), the numba kernels do each step a chunk of
        images at a time, while the chunk is in the core's cache: the same numbers.
        With regularizers, as in Dense: the layer's ``losses`` are activity_regularizer(y) / N
        and the weights' penalties; dy += d(activity penalty)/dy before the chain rule, and
        dkernel += d kernel_regularizer/d kernel (the bias's likewise) after it.

    Example:
        >>> layer = Conv2D(8, 3, padding="same", activation="relu")
        >>> layer.compute_output_shape((None, 28, 28, 1))
        (None, 28, 28, 8)
    """

    input_ndim = 4

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        groups=1,
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._workspaces = Workspaces()  # the kernels' scratch matrices, one set per running call
        layer_name = f"Conv2D '{self.name}'"
        if not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{layer_name}: filters must be a positive integer, got {filters!r}.")
        if groups != 1:
            raise ValueError(
                f"{layer_name}: groups={groups!r} is not supported by scratchnet; leave it at its "
                "default, groups=1."
            )
        check_data_format(data_format, layer_name)
        self.filters = int(filters)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", layer_name)
        self.strides = int_tuple(strides, 2, "strides", layer_name)
        self.padding = normalize_padding(padding, layer_name)
        self.dilation_rate = int_tuple(dilation_rate, 2, "dilation_rate", layer_name)
        check_strides_with_dilation(self.strides, self.dilation_rate, layer_name)
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
        C_in = input_shape[-1]
        if C_in is None:
            raise ValueError(
                f"Conv2D '{self.name}': the channel axis must be known, got {input_shape}."
            )
        self.compute_output_shape(input_shape)  # raises early if the kernel does not fit
        self.add_weight(
            shape=self.kernel_size + (C_in, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if self.use_bias:
            self.add_weight(
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        N, H, W, _ = input_shape
        out = []
        per_axis = zip((H, W), self.kernel_size, self.strides, self.dilation_rate, strict=True)
        for size, k, s, d in per_axis:
            if size is None:
                out.append(None)
                continue
            size_out, _, _ = output_size_and_padding(size, k, s, d, self.padding)
            if size_out < 1:
                raise ValueError(
                    f"Conv2D '{self.name}': kernel_size={self.kernel_size} with "
                    f"dilation_rate={self.dilation_rate} does not fit in inputs of shape "
                    f"{tuple(input_shape)} with padding='{self.padding}'. Use a smaller kernel, "
                    "a bigger input, or padding='same'."
                )
            out.append(size_out)
        return (N, out[0], out[1], self.filters)

    def forward(self, x, training=False):
        # z = conv(x) + bias, then y = activation(z): the kernels apply the activation to each
        # chunk of z while it is in cache. A fused loss may read z (ActivationWithLoss).
        keep_z = ActivationWithLoss.keeps_logits(self, training)
        needs_z = self.activation.needs_input  # gelu, silu, ...: their backward reads z too
        workspace = self._workspaces.take()
        try:
            y, z = backend.current().conv2d_forward(
                x,
                self.params["kernel"],
                self.params.get("bias"),
                self.strides,
                self.padding,
                self.dilation_rate,
                self.activation,
                keep_z=keep_z or needs_z,
                workspace=workspace,
                keep_cols=training,  # a first layer keeps its narrow im2col
            )  # fmt: skip  y, z: (N, H_out, W_out, C_out)
        finally:
            self._workspaces.give_back(workspace)
        ActivationWithLoss.keep(self, y, z if keep_z else None, training)
        if training:
            # backward rebuilds the im2col matrix from x and differentiates the activation from y
            self._x, self._y, self._z = x, y, (z if needs_z else None)
        if self.regularized:  # the penalties of y and of the weights are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward(self, dy, need_dx=True):
        if self.activity_regularizer is not None:  # L also holds penalty(y) / N
            dy = dy + regularizers.activity_gradient(self, self._y)  # (N, H_out, W_out, C_out)
        # the chain rule through the activation, dz = activation'(dy): computed chunk by chunk
        # as the convolution's backward asks for it (elementwise.Deferred)
        arrays = (np.ascontiguousarray(dy), self._y) + ((self._z,) if self._z is not None else ())
        dz = Deferred.activation_backward(self.activation, *arrays)
        return self._backward_conv(dz, need_dx)

    def backward_from_logits(self, dz, need_dx=True):
        """The backward pass from dz = dL/dz given by a loss fused with the activation."""
        if self.activity_regularizer is not None:  # penalty(y) / N still goes through y
            dy_penalty = regularizers.activity_gradient(self, self._y)  # (N, H_out, W_out, C_out)
            dz = dz + activations.backprop(self.activation, dy_penalty, self._y, self._z)
        return self._backward_conv(dz, need_dx)

    def _backward_conv(self, dz, need_dx):
        """dkernel = cols^T @ dz, dbias = sum dz, dx = col2im(dz @ kernel^T) from dz = dL/dz."""
        workspace = self._workspaces.take()
        try:
            dx, dkernel, dbias = backend.current().conv2d_backward(
                dz, self._x, self.params["kernel"], self.strides, self.padding,
                self.dilation_rate, need_dx=need_dx, workspace=workspace,
            )  # fmt: skip
        finally:
            self._workspaces.give_back(workspace)
        self.grads["kernel"] = dkernel  # (KH, KW, C_in, C_out)
        if self.use_bias:
            self.grads["bias"] = dbias  # (C_out,)
        if self.regularized:  # dkernel += d kernel_regularizer(kernel) / d kernel, same for bias
            regularizers.add_weight_gradients(self)
        return dx  # (N, H, W, C_in), or None when need_dx is False

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": self.dilation_rate,
            "groups": 1,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **regularizers_and_constraints_config(self),
        }


Convolution2D = Conv2D

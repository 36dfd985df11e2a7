"""DepthwiseConv2D and SeparableConv2D: convolutions that keep the channels apart, channels last.

* DepthwiseConv2D: one small convolution per input channel (``kernels.depthwise``, a tap loop);
* SeparableConv2D: the same depthwise step, then a 1x1 convolution mixing the channels (one
  matrix product per pixel): far fewer weights than a Conv2D of the same size.

Their shared argument checks, the activation's chain rule and the regularizers' bookkeeping
(penalties in forward, their gradients in backward) are ``layers.convolutional``'s.
"""

import numpy as np

from .. import activations, initializers, regularizers
from ..kernels.depthwise import depthwise_conv2d_backward, depthwise_conv2d_forward
from .conv import check_data_format, normalize_padding
from .convolutional import ConvolutionBase, check_positive, int_tuple
from .core import activate, set_regularizers_and_constraints


class DepthwiseBase(ConvolutionBase):
    """The depthwise step's geometry, shared by DepthwiseConv2D and SeparableConv2D."""

    input_ndim = 4

    def set_geometry(self, kernel_size, strides, padding, depth_multiplier, data_format, dilation):
        layer_name = f"{type(self).__name__} '{self.name}'"
        check_data_format(data_format, layer_name)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", layer_name)
        self.strides = int_tuple(strides, 2, "strides", layer_name)
        self.padding = normalize_padding(padding, layer_name)
        self.depth_multiplier = check_positive(depth_multiplier, "depth_multiplier", layer_name)
        self.dilation_rate = int_tuple(dilation, 2, "dilation_rate", layer_name)

    def geometry(self):
        return self.strides, self.padding, self.dilation_rate

    def geometry_config(self):
        return {
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": self.dilation_rate,
        }


class DepthwiseConv2D(DepthwiseBase):
    """Depthwise 2-D convolution: each input channel convolved with its own M filters.

    Args:
        kernel_size: int or (KH, KW).
        strides: int or (sh, sw). Default 1. May be combined with dilation, as Keras allows here.
            (Measured: TensorFlow's CPU kernel refuses sh != sw; here they may differ.)
        padding: 'valid' or 'same' (TensorFlow's split). Any letter case.
        depth_multiplier: M, the filters per input channel. Default 1.
        data_format: None or 'channels_last'.
        dilation_rate: int or (dh, dw).
        activation, use_bias: as in Conv2D.
        depthwise_initializer, bias_initializer: 'glorot_uniform' and 'zeros' by default.
        depthwise_regularizer, bias_regularizer, activity_regularizer, depthwise_constraint,
            bias_constraint: as Conv2D's kernel_* and bias_* (the depthwise ones act on
            'kernel').

    Shapes:
        x (N, H, W, C), kernel (KH, KW, C, M) (Keras 3 names it 'kernel'), bias (C*M,)
        -> y (N, H_out, W_out, C*M), H_out as in Conv2D; output channel c*M + m

    Math (z5 = z seen as (N, H_out, W_out, C, M)):
        forward:  z5[n, i, j, c, m] = sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c]
                                                 * kernel[a, b, c, m]   (no sum over channels)
                  z = z5 merged + bias;  y = activation(z)
        backward: dz = activation'(dy);  dbias = sum_{n, i, j} dz
                  dkernel[a, b, c, m] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c]
                                                      * dz5[n, i, j, c, m]
                  dxpad[n, i*sh + a*dh, j*sw + b*dw, c] += sum_m dz5[n, i, j, c, m]
                                                           * kernel[a, b, c, m]
        (``kernels.depthwise``: a loop over the KH*KW taps.)

    Example:
        >>> DepthwiseConv2D(3, depth_multiplier=2).compute_output_shape((None, 8, 8, 3))
        (None, 6, 6, 6)
    """

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.set_geometry(
            kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate
        )
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        # made here, not in build: Keras draws the initializers' seeds at construction
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, depthwise=(depthwise_regularizer, depthwise_constraint),
            bias=(bias_regularizer, bias_constraint),
        )  # fmt: skip

    def build(self, input_shape):
        C = self._channels(input_shape)
        self.compute_output_shape(input_shape)  # raises early if the kernel does not fit
        self.add_weight(
            shape=self.kernel_size + (C, self.depth_multiplier),
            initializer=self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
            name="kernel",
        )
        self._build_bias(C * self.depth_multiplier)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        C = input_shape[-1]
        H_out, W_out = self._conv_sizes(input_shape, self.padding)
        return (input_shape[0], H_out, W_out, None if C is None else C * self.depth_multiplier)

    def forward(self, x, training=False):
        geometry = self.geometry()
        z = depthwise_conv2d_forward(x, self.params["kernel"], *geometry)  # (N, Ho, Wo, C*M)
        if self.use_bias:
            z += self.params["bias"]
        if training:
            self._x = x  # backward needs x for dkernel
        y = activate(self, z, training)
        if self.regularized:  # the penalties of y and of the weights are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward_from_z(self, dz, need_dx=True):
        """dkernel, dbias and dx from dz = dL/dz (``kernels.depthwise``)."""
        geometry = self.geometry()
        dx, dkernel = depthwise_conv2d_backward(dz, self._x, self.params["kernel"], *geometry)
        self.grads["kernel"] = dkernel  # (KH, KW, C, M)
        if self.use_bias:
            self.grads["bias"] = dz.sum(axis=(0, 1, 2))  # (C*M,)
        if self.regularized:  # dkernel += d depthwise_regularizer / d kernel, same for bias
            regularizers.add_weight_gradients(self)
        return dx if need_dx else None  # (N, H, W, C)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            **self.geometry_config(),
            **self._config_tail("depthwise"),
        }


class SeparableConv2D(DepthwiseBase):
    """Depthwise separable 2-D convolution: a DepthwiseConv2D, then a 1x1 convolution.

    Args:
        filters: number of output channels F.
        kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier: as in
            DepthwiseConv2D (they shape the depthwise step).
        activation, use_bias: as in Conv2D (the bias and activation come after the 1x1 step).
        depthwise_initializer, pointwise_initializer, bias_initializer: as in Keras.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
            depthwise_constraint, pointwise_constraint, bias_constraint: as Conv2D's, one per
            weight.

    Shapes:
        x (N, H, W, C), depthwise_kernel (KH, KW, C, M), pointwise_kernel (1, 1, C*M, F),
        bias (F,) -> y (N, H_out, W_out, F)

    Math (P = pointwise_kernel as a (C*M, F) matrix):
        forward:  u = depthwise(x, depthwise_kernel)           (N, H_out, W_out, C*M), no bias
                  z = u @ P + bias;  y = activation(z)          (a 1x1 convolution)
        backward: dz = activation'(dy);  dbias = sum_{n, i, j} dz
                  dP = u^T @ dz (summed over n, i, j);  du = dz @ P^T
                  dx, ddepthwise_kernel = DepthwiseConv2D's backward of du

    Example:
        >>> SeparableConv2D(16, 3, padding="same").compute_output_shape((None, 8, 8, 3))
        (None, 8, 8, 16)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        layer_name = f"SeparableConv2D '{self.name}'"
        self.filters = check_positive(filters, "filters", layer_name)
        self.set_geometry(
            kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate
        )
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, depthwise=(depthwise_regularizer, depthwise_constraint),
            pointwise=(pointwise_regularizer, pointwise_constraint),
            bias=(bias_regularizer, bias_constraint),
        )  # fmt: skip

    def build(self, input_shape):
        C = self._channels(input_shape)
        self.compute_output_shape(input_shape)  # raises early if the kernel does not fit
        M = self.depth_multiplier
        self.add_weight(
            shape=self.kernel_size + (C, M),
            initializer=self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
            name="depthwise_kernel",
        )
        self.add_weight(
            shape=(1, 1, C * M, self.filters),
            initializer=self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
            name="pointwise_kernel",
        )
        self._build_bias(self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        H_out, W_out = self._conv_sizes(input_shape, self.padding)
        return (input_shape[0], H_out, W_out, self.filters)

    def forward(self, x, training=False):
        geometry = self.geometry()
        u = depthwise_conv2d_forward(x, self.params["depthwise_kernel"], *geometry)  # (.., C*M)
        z = u @ self.params["pointwise_kernel"][0, 0]  # (N, H_out, W_out, F)
        if self.use_bias:
            z += self.params["bias"]
        if training:
            self._x, self._u = x, u  # backward needs x for ddepthwise, u for dpointwise
        y = activate(self, z, training)
        if self.regularized:  # the penalties of y and of the weights are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward_from_z(self, dz, need_dx=True):
        """Gradients of the three weights and dx from dz = dL/dz, the 1x1 step then depthwise."""
        P = self.params["pointwise_kernel"][0, 0]  # (C*M, F)
        dP = np.tensordot(self._u, dz, axes=([0, 1, 2], [0, 1, 2]))  # u^T @ dz  (C*M, F)
        du = dz @ P.T  # (N, H_out, W_out, C*M)
        geometry = self.geometry()
        dx, ddepthwise = depthwise_conv2d_backward(
            du, self._x, self.params["depthwise_kernel"], *geometry
        )
        self.grads["depthwise_kernel"] = ddepthwise  # (KH, KW, C, M)
        self.grads["pointwise_kernel"] = dP[None, None]  # (1, 1, C*M, F)
        if self.use_bias:
            self.grads["bias"] = dz.sum(axis=(0, 1, 2))  # (F,)
        if self.regularized:  # each weight's gradient += d its_regularizer / d weight
            regularizers.add_weight_gradients(self)
        return dx if need_dx else None  # (N, H, W, C)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "filters": self.filters,
            **self.geometry_config(),
            **self._config_tail("depthwise", "pointwise"),
        }


SeparableConvolution2D = SeparableConv2D

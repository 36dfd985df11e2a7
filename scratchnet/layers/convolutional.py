"""Conv2DTranspose, UpSampling2D and Conv1D, channels last, with Keras's arguments and layouts.

Each one is written from a convolution a learner already knows (``scratchnet.layers.conv``):

* Conv2DTranspose: the forward pass is Conv2D's input-gradient, the backward pass a Conv2D;
* UpSampling2D: a fixed linear map per axis (repeat, or bilinear weights), backward its transpose;
* Conv1D: Conv2D on (N, 1, L, C) views, 'causal' = padding on the left only.

DepthwiseConv2D and SeparableConv2D are in ``scratchnet.layers.depthwise``; the helpers below
(argument checks, the activation's chain rule, Keras's config keys) serve both files.

Every one of them takes Keras's regularizers and constraints, as Conv2D does: the penalties are
the layer's ``losses`` (``regularizers.penalties`` at the end of forward), the activity
penalty's gradient is added to dy before the chain rule (``ConvolutionBase``), each weight
penalty's gradient to that weight's gradient at the end of backward
(``regularizers.add_weight_gradients``), and the model applies the constraints after each
update.
"""

import numpy as np

from .. import activations, initializers, regularizers
from ..kernels import backend
from ..kernels.conv.reference import output_size_and_padding
from ..kernels.conv_transpose import (
    check_transpose_geometry,
    conv_transpose2d_forward,
    conv_transpose_output_size,
)
from .base import Layer
from .conv import check_data_format, check_strides_with_dilation, int_tuple, normalize_padding
from .core import activate, regularizers_and_constraints_config, set_regularizers_and_constraints


def check_positive(value, name, layer_name):
    if not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer_name}: {name} must be a positive integer, got {value!r}.")
    return int(value)


class ConvolutionBase(Layer):
    """What these layers share: the chain rule through the activation, shape checks, config.

    Each forward ends in ``core.activate`` (y = activation(z), z kept for a fused loss, y kept
    for backward) and, with regularizers, ``regularizers.penalties``. Then ``backward`` is
    dz = activation'(dy + d(activity penalty)/dy), and ``backward_from_logits(dz)`` (where a
    fused loss starts) adds the activity penalty's path through the activation itself; both
    continue in the layer's ``backward_from_z(dz)``: dx and the weight gradients.
    """

    def backward(self, dy, need_dx=True):
        if self.activity_regularizer is not None:  # L also holds penalty(y) / N
            dy = dy + regularizers.activity_gradient(self, self._y)  # like y, a new array
        dz = activations.backprop(self.activation, dy, self._y, self._z)  # through the activation
        return self.backward_from_z(dz, need_dx)

    def backward_from_logits(self, dz, need_dx=True):
        """The backward pass from dz = dL/dz given by a loss fused with the activation."""
        if self.activity_regularizer is not None:  # penalty(y) / N still goes through y
            dy_penalty = regularizers.activity_gradient(self, self._y)  # like y
            dz = dz + activations.backprop(self.activation, dy_penalty, self._y, self._z)
        return self.backward_from_z(dz, need_dx)

    def _build_bias(self, size):
        """The bias (size,), with its regularizer and constraint, if ``use_bias``."""
        if self.use_bias:
            self.add_weight(
                shape=(size,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def _channels(self, input_shape):
        C_in = input_shape[-1]
        if C_in is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the channel axis must be known, got "
                f"{tuple(input_shape)}."
            )
        return C_in

    def _conv_sizes(self, input_shape, padding):
        """Output sizes of the spatial axes of a convolution of this layer's geometry."""
        out = []
        spatial = input_shape[1:-1]
        for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            if size is None:
                out.append(None)
                continue
            size_out = output_size_and_padding(size, k, s, d, padding)[0]
            if size_out < 1:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': kernel_size={self.kernel_size} with "
                    f"dilation_rate={self.dilation_rate} does not fit in inputs of shape "
                    f"{tuple(input_shape)} with padding='{self.padding}'. Use a smaller kernel, "
                    "a bigger input, or padding='same'."
                )
            out.append(size_out)
        return out

    def _config_tail(self, *weights):
        return {
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **{f"{w}_initializer": initializers.serialize(getattr(self, f"{w}_initializer"))
               for w in weights + ("bias",)},
            **regularizers_and_constraints_config(self),
        }  # fmt: skip


class Conv2DTranspose(ConvolutionBase):
    """2-D transposed convolution: every input pixel stamps a (KH, KW) kernel into the output.

    Args:
        filters: number of output channels F.
        kernel_size: int or (KH, KW).
        strides: int or (sh, sw): how far apart the stamps land (the upsampling factor).
        padding: 'valid' or 'same' (see the output size below). Any letter case.
        output_padding: int or (ph, pw), each < its stride: extra rows/cols at the end; None
            (default) infers them.
        data_format: None or 'channels_last'.
        dilation_rate: int or (dh, dw); not with strides > 1, as in Keras.
        activation, use_bias, kernel_initializer, bias_initializer: as in Conv2D.
        kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
            bias_constraint: as in Conv2D (see the module docstring).

    Shapes:
        x (N, H, W, C_in), kernel (KH, KW, F, C_in) (Keras's layout: F before C_in),
        bias (F,) -> y (N, H_out, W_out, F), with k_eff = d*(k - 1) + 1:
        valid: H_out = (H - 1)*sh + k_eff + ph, ph = output_padding or max(k_eff, sh) - k_eff
        same:  H_out = H*sh, or (H - 1)*sh + KH % 2 + ph with output_padding. Measured: for an
               even KH with ph = 0 Keras 3.15 answers a shape but its call fails in TensorFlow
               (the output does not convolve back to H); this layer raises in
               compute_output_shape already. dilation_rate > 1 fails in TensorFlow's CPU kernel
               ("not yet support dilation rates larger than 1"); here it works.

    Math (conv = the Conv2D from (H_out, W_out, F) to (H, W, C_in) with this kernel, strides,
    padding and dilation; conv^T its adjoint: <conv(u), x> = <u, conv^T(x)> for all u, x):
        forward:  z = conv^T(x) + bias = the input-gradient of conv for upstream gradient x
                  z[n, i*sh + a*dh - pt, j*sw + b*dw - pl, f] += x[n, i, j, c] * kernel[a, b, f, c]
                  y = activation(z)
        backward: dz = activation'(dy)
                  dx = conv(dz)                     (the adjoint of the adjoint: a Conv2D)
                  dkernel = Conv2D's kernel gradient with input dz and upstream gradient x
                  dbias = sum_{n, i, j} dz
        Both backward steps run on ``kernels.backend`` (numba by default); the forward is the
        tap loop of ``kernels.conv_transpose``.

    Example:
        >>> layer = Conv2DTranspose(8, 3, strides=2, padding="same")
        >>> layer.compute_output_shape((None, 7, 7, 16))
        (None, 14, 14, 8)
    """

    input_ndim = 4

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        layer_name = f"Conv2DTranspose '{self.name}'"
        check_data_format(data_format, layer_name)
        self.filters = check_positive(filters, "filters", layer_name)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", layer_name)
        self.strides = int_tuple(strides, 2, "strides", layer_name)
        self.padding = normalize_padding(padding, layer_name)
        self.dilation_rate = int_tuple(dilation_rate, 2, "dilation_rate", layer_name)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = int_tuple(
                output_padding, 2, "output_padding", layer_name, allow_zero=True
            )
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"{layer_name}: each output_padding must be smaller than its stride, got "
                    f"output_padding={self.output_padding} with strides={self.strides}."
                )
        check_strides_with_dilation(self.strides, self.dilation_rate, layer_name)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        # made here, not in build: Keras draws the initializers' seeds at construction
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, kernel=(kernel_regularizer, kernel_constraint),
            bias=(bias_regularizer, bias_constraint),
        )  # fmt: skip

    def build(self, input_shape):
        C_in = self._channels(input_shape)
        self.compute_output_shape(input_shape)  # raises early if the sizes do not work
        self.add_weight(
            shape=self.kernel_size + (self.filters, C_in),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self._build_bias(self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        N, H, W, _ = input_shape
        out = []
        output_padding = self.output_padding or (None, None)
        per_axis = zip((H, W), self.kernel_size, self.strides, self.dilation_rate, output_padding)
        for size, k, s, d, p in per_axis:
            if size is None:
                out.append(None)
                continue
            size_out = conv_transpose_output_size(size, k, s, d, self.padding, p)
            if check_transpose_geometry(size, size_out, k, s, d, self.padding) is None:
                raise ValueError(
                    f"Conv2DTranspose '{self.name}': an output of length {size_out} "
                    f"(kernel_size={self.kernel_size}, strides={self.strides}, padding="
                    f"'{self.padding}', output_padding={self.output_padding}) does not "
                    f"convolve back to the input length {size} of {tuple(input_shape)}, as "
                    "TensorFlow requires. With padding='same' and an even kernel, use "
                    "output_padding >= 1 or None."
                )
            out.append(size_out)
        return (N, out[0], out[1], self.filters)

    def forward(self, x, training=False):
        _, H_out, W_out, _ = self.compute_output_shape(x.shape)  # x (N, H, W, C_in)
        z = conv_transpose2d_forward(
            x,
            self.params["kernel"],
            (H_out, W_out),
            self.strides,
            self.padding,
            self.dilation_rate,
        )  # fmt: skip  z = conv^T(x): (N, H_out, W_out, F)
        if self.use_bias:
            z += self.params["bias"]
        if training:
            self._x = x  # backward needs x for dkernel
        y = activate(self, z, training)
        if self.regularized:  # the penalties of y and of the weights are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward_from_z(self, dz, need_dx=True):
        """dkernel, dbias and dx from dz = dL/dz: one Conv2D forward and one kernel gradient."""
        conv = backend.current()
        dz = np.ascontiguousarray(dz)  # (N, H_out, W_out, F)
        geometry = (self.strides, self.padding, self.dilation_rate)
        # dkernel: Conv2D's kernel gradient for the convolution of dz, upstream gradient x
        _, dkernel, _ = conv.conv2d_backward(self._x, dz, self.params["kernel"], *geometry,
                                             need_dx=False)  # fmt: skip
        self.grads["kernel"] = dkernel  # (KH, KW, F, C_in)
        if self.use_bias:
            self.grads["bias"] = dz.sum(axis=(0, 1, 2))  # (F,)
        if self.regularized:  # dkernel += d kernel_regularizer(kernel) / d kernel, same for bias
            regularizers.add_weight_gradients(self)
        if not need_dx:
            return None
        dx, _ = conv.conv2d_forward(dz, self.params["kernel"], None, *geometry)  # dx = conv(dz)
        return dx  # (N, H, W, C_in)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": "channels_last",
            "dilation_rate": self.dilation_rate,
            **self._config_tail("kernel"),
        }


def bilinear_weights(size, factor):
    """The (size*factor, size) matrix A of TensorFlow's bilinear resize along one axis.

    Math (``tf.image.resize`` with half-pixel centres, no antialiasing when enlarging), computed
    in float32 as TensorFlow computes its weights:
        src = (i + 0.5) / factor - 0.5          where output row i samples the input
        lo = floor(src), w = src - lo
        A[i, clip(lo)] += 1 - w,  A[i, clip(lo + 1)] += w     (clip to [0, size - 1]: the edge
                                                               rows repeat the edge pixel)

    Example:
        >>> bilinear_weights(2, 2)
        array([[1.  , 0.  ],
               [0.75, 0.25],
               [0.25, 0.75],
               [0.  , 1.  ]], dtype=float32)
    """
    scale = np.float32(size) / np.float32(size * factor)  # TensorFlow's float scale
    src = (np.arange(size * factor, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    lo = np.floor(src)  # (size*factor,)
    w = src - lo  # (size*factor,) float32
    rows = np.arange(size * factor)
    A = np.zeros((size * factor, size), dtype=np.float32)  # (size*factor, size)
    np.add.at(A, (rows, np.clip(lo, 0, size - 1).astype(int)), 1 - w)
    np.add.at(A, (rows, np.clip(lo + 1, 0, size - 1).astype(int)), w)
    return A


class UpSampling2D(Layer):
    """Enlarge images by integer factors: repeat each pixel, or interpolate bilinearly.

    Args:
        size: int or (fh, fw), the factors. Default (2, 2).
        data_format: None or 'channels_last'.
        interpolation: 'nearest' (default) or 'bilinear' (TensorFlow's, half-pixel centres).
            Keras's other methods (bicubic, lanczos, ...) are not implemented.
            Measured: Keras 3.15 returns float32 from 'bilinear' even under floatx float64
            (TensorFlow resizes in float32); scratchnet keeps the layer's dtype.

    Shapes:
        x (N, H, W, C) -> y (N, H*fh, W*fw, C)

    Math (both are linear maps, one per axis: y = A x B^T on every (H, W) channel plane):
        nearest:  y[n, i, j, c] = x[n, i // fh, j // fw, c]
                  dx[n, p, q, c] = sum of dy over the (fh, fw) block that copied x[n, p, q, c]
        bilinear: y[n, i, j, c] = sum_{p, q} A[i, p] * B[j, q] * x[n, p, q, c]
                  dx[n, p, q, c] = sum_{i, j} A[i, p] * B[j, q] * dy[n, i, j, c]   (A^T dy B)
                  with A, B from ``bilinear_weights`` (rows of two weights summing to 1)

    Example:
        >>> UpSampling2D()(np.array([[1.0, 2.0]]).reshape(1, 1, 2, 1))[0, :, :, 0]
        array([[1., 1., 2., 2.],
               [1., 1., 2., 2.]], dtype=float32)
    """

    input_ndim = 4

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        layer_name = f"UpSampling2D '{self.name}'"
        check_data_format(data_format, layer_name)
        self.size = int_tuple(size, 2, "size", layer_name)
        if not isinstance(interpolation, str) or interpolation.lower() not in (
            "nearest",
            "bilinear",
        ):
            raise ValueError(
                f"{layer_name}: interpolation must be 'nearest' or 'bilinear' in scratchnet, "
                f"got {interpolation!r}."
            )
        self.interpolation = interpolation.lower()

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        fh, fw = self.size
        return (N, None if H is None else H * fh, None if W is None else W * fw, C)

    def forward(self, x, training=False):
        N, H, W, C = x.shape
        fh, fw = self.size
        if self.interpolation == "nearest":
            return np.repeat(np.repeat(x, fh, axis=1), fw, axis=2)  # (N, H*fh, W*fw, C)
        A = bilinear_weights(H, fh).astype(x.dtype)  # (H*fh, H)
        B = bilinear_weights(W, fw).astype(x.dtype)  # (W*fw, W)
        if training:
            self._A, self._B = A, B  # backward applies their transposes
        return np.einsum("ip,jq,npqc->nijc", A, B, x, optimize=True)  # (N, H*fh, W*fw, C)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        N, H_out, W_out, C = dy.shape
        fh, fw = self.size
        if self.interpolation == "nearest":
            blocks = dy.reshape(N, H_out // fh, fh, W_out // fw, fw, C)  # (N, H, fh, W, fw, C)
            return blocks.sum(axis=(2, 4))  # (N, H, W, C)
        return np.einsum("ip,jq,nijc->npqc", self._A, self._B, dy, optimize=True)  # (N, H, W, C)

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "data_format": "channels_last",
            "interpolation": self.interpolation,
        }


class Conv1D(ConvolutionBase):
    """1-D convolution over sequences (N, L, C): a Conv2D on images one pixel high.

    Args:
        filters: number of output channels F.
        kernel_size: int or (K,).
        strides: int or (s,). Default 1.
        padding: 'valid', 'same' or 'causal' (pad d*(K - 1) zeros on the left only, so output
            step t sees inputs up to t and never the future). Any letter case.
        data_format: None or 'channels_last' (steps, then features).
        dilation_rate: int or (d,); not with strides > 1, as in Keras.
        groups: 1 only (grouped convolutions are not implemented).
        activation, use_bias, kernel_initializer, bias_initializer: as in Conv2D.
        kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
            bias_constraint: as in Conv2D (see the module docstring).

    Shapes:
        x (N, L, C_in), kernel (K, C_in, F), bias (F,) -> y (N, L_out, F)
        valid: L_out = floor((L - d*(K - 1) - 1)/s) + 1;  same and causal: L_out = ceil(L/s)

    Math (x4 = x as (N, 1, L, C_in), kernel4 = kernel as (1, K, C_in, F): views, no copies):
        forward:  z[n, t, f] = bias[f] + sum_{a, c} xpad[n, t*s + a*d, c] * kernel[a, c, f]
                  = Conv2D(x4, kernel4) with strides (1, s) and dilation (1, d);  y = activation(z)
                  causal: xpad = d*(K - 1) zeros then x, and a 'valid' convolution
        backward: dz = activation'(dy); dx, dkernel, dbias = Conv2D's backward on the same views
                  (causal: dx drops the rows of the left padding)

    Example:
        >>> Conv1D(4, 3, padding="causal").compute_output_shape((None, 10, 2))
        (None, 10, 4)
    """

    input_ndim = 3

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        layer_name = f"Conv1D '{self.name}'"
        if groups != 1:
            raise ValueError(f"{layer_name}: groups={groups!r} is not supported; use groups=1.")
        check_data_format(data_format, layer_name)
        self.filters = check_positive(filters, "filters", layer_name)
        self.kernel_size = int_tuple(kernel_size, 1, "kernel_size", layer_name)
        self.strides = int_tuple(strides, 1, "strides", layer_name)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise ValueError(
                f"{layer_name}: padding must be 'valid', 'same' or 'causal', got {padding!r}."
            )
        self.padding = padding.lower()
        self.dilation_rate = int_tuple(dilation_rate, 1, "dilation_rate", layer_name)
        check_strides_with_dilation(self.strides, self.dilation_rate, layer_name)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, kernel=(kernel_regularizer, kernel_constraint),
            bias=(bias_regularizer, bias_constraint),
        )  # fmt: skip

    def build(self, input_shape):
        C_in = self._channels(input_shape)
        self.compute_output_shape(input_shape)  # raises early if the kernel does not fit
        self.add_weight(
            shape=self.kernel_size + (C_in, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self._build_bias(self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        N = input_shape[0]
        # causal = 'same' on the output size: L + d*(K - 1) padded, then 'valid'
        padding = "same" if self.padding == "causal" else self.padding
        return (N, self._conv_sizes(input_shape, padding)[0], self.filters)

    def _as_image(self, x):
        """x (N, L, C) as the (N, 1, L', C) image Conv2D sees (causal: left-padded, L' > L)."""
        if self.padding == "causal":
            x = np.pad(x, ((0, 0), (self._left_padding(), 0), (0, 0)))  # (N, d*(K-1) + L, C)
        return x[:, None]  # (N, 1, L', C), a view

    def _geometry(self):
        padding = "valid" if self.padding == "causal" else self.padding
        return (1,) + self.strides, padding, (1,) + self.dilation_rate

    def forward(self, x, training=False):
        x4 = self._as_image(x)  # (N, 1, L', C_in)
        kernel4 = self.params["kernel"][None]  # (1, K, C_in, F), a view
        z4, _ = backend.current().conv2d_forward(
            x4, kernel4, self.params.get("bias"), *self._geometry()
        )  # (N, 1, L_out, F)
        if training:
            self._x4 = x4  # backward needs the (padded) input for dkernel
        y = activate(self, z4[:, 0], training)  # (N, L_out, F)
        if self.regularized:  # the penalties of y and of the weights are this layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def backward_from_z(self, dz, need_dx=True):
        """dkernel, dbias and dx from dz = dL/dz: Conv2D's backward on the (N, 1, L, C) views."""
        dz4 = np.ascontiguousarray(dz)[:, None]  # (N, 1, L_out, F)
        kernel4 = self.params["kernel"][None]  # (1, K, C_in, F)
        dx4, dkernel4, dbias = backend.current().conv2d_backward(
            dz4, self._x4, kernel4, *self._geometry(), need_dx=need_dx
        )
        self.grads["kernel"] = dkernel4[0]  # (K, C_in, F)
        if self.use_bias:
            self.grads["bias"] = dbias  # (F,)
        if self.regularized:  # dkernel += d kernel_regularizer(kernel) / d kernel, same for bias
            regularizers.add_weight_gradients(self)
        if not need_dx:
            return None
        return dx4[:, 0, self._left_padding() :]  # (N, L, C_in): causal drops the padding's

    def _left_padding(self):
        """'causal': d*(K - 1) zeros before the sequence; otherwise Conv2D pads (none here)."""
        return self.dilation_rate[0] * (self.kernel_size[0] - 1) if self.padding == "causal" else 0

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
            **self._config_tail("kernel"),
        }


Convolution2DTranspose = Conv2DTranspose
Convolution1D = Conv1D

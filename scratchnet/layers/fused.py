"""Conv2D + MaxPooling2D, and BatchNormalization + ReLU, run as one step each: what a model does
with such a pair by itself.

A user never creates this class. Sequential and Functional models look at their layers before
each call and run a ``Conv2D`` whose output goes only into a ``MaxPooling2D`` as one
``ConvPool`` step (``fuse``), because pooling each chunk of the convolution's output while it is
still in cache is much faster than writing the whole output to memory and reading it back
(``scratchnet.kernels.conv_pool`` explains it, ``docs/kernels/conv_pool.md`` measures it). The two
layers keep their weights, names, configs and gradients: ``model.layers``, ``summary()`` and
saved files look exactly as Keras's, and the numbers are the same bit for bit (a test runs every
tutorial model both ways).

A ``BatchNormalization`` whose output goes only into a ReLU (``Activation("relu")`` or a
default ``ReLU()`` layer) runs with it as one ``NormReLU`` step: the normalization's pass writes
relu(y) straight away, and its backward passes recompute where y > 0 from the normalization's
input, so neither y nor the ReLU's own pass over memory is needed (``kernels/batch_norm.py``;
measured in docs/kernels/batch_norm.md). The same numbers bit for bit, as for ConvPool.

What ran is on the tape: a fused pair is one node, named ``conv2d+max_pooling2d`` or
``batch_normalization+activation`` (``scratchnet.utils.trace`` prints the nodes of one step).
``scratchnet.config.set_fusion(False)`` turns fusion off.

Pairs are left alone, and run layer by layer, when:

* fusion is off (``config.set_fusion(False)``), or the NumPy reference kernels are selected
  (``config.use_kernels("numpy")``): the readable path;
* the pooling windows overlap (strides smaller than the pool), the activation is softmax (or
  one whose backward reads its input), or the convolution has a regularizer;
* the layer after a BatchNormalization is any other activation, or a ReLU with a
  ``max_value``, ``negative_slope`` or ``threshold``;
* either layer is a subclass (its forward could do something else);
* the two layers compute in different dtypes;
* (Functional) the first layer's output also goes somewhere else, or is a model output;
* the model is subclassed: its ``call`` is Python that makes one layer call at a time, so
  nothing can see the pooling (or the ReLU) coming when the first layer is called.
"""

from .. import activations, config
from ..kernels import backend, conv_pool
from .activation import ReLU
from .base import Layer
from .conv import Conv2D
from .core import Activation
from .normalization import BatchNormalization
from .pooling import MaxPooling2D


def can_fuse(first, second):
    """True if ``first`` then ``second`` can run as one ``ConvPool`` step (see module docstring)."""
    return (
        type(first) is Conv2D
        and type(second) is MaxPooling2D
        and first.activation.name not in ("softmax", "log_softmax")
        and not first.activation.needs_input  # the pooling keeps only y at its winners
        and not first.regularized  # its penalties are computed in Conv2D's own forward
        and first.dtype == second.dtype
        and not conv_pool.windows_overlap(second.pool_size, second.strides)
        and config.fusion()
        and backend.current().fuses_conv_pool
    )


def _is_plain_relu(layer):
    """``Activation("relu")`` or ``ReLU()`` with its defaults: y = max(x, 0), nothing else."""
    if type(layer) is Activation:
        return type(layer.activation) is activations.ReLU
    return type(layer) is ReLU and (
        layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0
    )


def can_fuse_norm_relu(first, second):
    """True if ``first`` then ``second`` can run as one ``NormReLU`` step."""
    return (
        type(first) is BatchNormalization
        and first.activity_regularizer is None  # its penalty reads y, not relu(y)
        and _is_plain_relu(second)
        and first.dtype == second.dtype
        and config.fusion()
        and backend.current().fuses_norm_relu
    )


def fused_step(first, second):
    """The one step that runs ``first`` then ``second``, or None if they do not fuse."""
    if can_fuse(first, second):
        return ConvPool(first, second)
    if can_fuse_norm_relu(first, second):
        return NormReLU(first, second)
    return None


def fuse(layers):
    """``layers`` with every fusable pair (see ``fused_step``) replaced by its one step."""
    steps, i = [], 0
    while i < len(layers):
        step = fused_step(layers[i], layers[i + 1]) if i + 1 < len(layers) else None
        if step is not None:
            steps.append(step)
            i += 2
        else:
            steps.append(layers[i])
            i += 1
    return steps


class ConvPool(Layer):
    """``pool(conv(x))`` in one pass; weights and gradients stay in the ``conv`` layer.

    Args:
        conv: a Conv2D layer.
        pool: the MaxPooling2D layer that follows it.

    Shapes:
        x (N, H, W, C_in) -> p (N, P_out, Q_out, filters), as ``pool(conv(x))``

    Math:
        forward:  p, argmax = max_pool(activation(conv(x) + bias)), chunk by chunk
        backward: dz = activation'(dp) sent to each window's winner, then Conv2D's backward
    """

    input_ndim = 4

    def __init__(self, conv, pool):
        super().__init__(name=f"{conv.name}+{pool.name}", dtype=conv.dtype)
        self.conv, self.pool = conv, pool
        self.built = conv.built and pool.built
        self.input_shape = conv.input_shape

    def check_input_shape(self, shape):
        self.conv.check_input_shape(shape)

    def build(self, input_shape):
        if not self.conv.built:
            self.conv.build(input_shape)
        middle = self.conv.compute_output_shape(input_shape)
        self.pool.check_input_shape(middle)
        if not self.pool.built:
            self.pool.build(middle)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def forward(self, x, training=False):
        conv, pool = self.conv, self.pool
        workspace = conv._workspaces.take()  # (lent to this call: see Conv2D.forward)
        try:
            p, argmax = backend.current().conv2d_maxpool_forward(
                x, conv.params["kernel"], conv.params.get("bias"), conv.strides, conv.padding,
                conv.dilation_rate, conv.activation, pool.pool_size, pool.strides,
                pool._padding, workspace=workspace, keep_cols=training,
            )  # fmt: skip
        finally:
            conv._workspaces.give_back(workspace)
        if training:
            conv.logits = None  # the convolution's output is never stored
            self._x, self._p, self._argmax = x, p, argmax
        return p  # (N, P_out, Q_out, filters)

    def backward(self, dy, need_dx=True):
        conv = self.conv
        workspace = conv._workspaces.take()
        try:
            dx, dkernel, dbias = backend.current().conv2d_maxpool_backward(
                dy, self._argmax, self._p, self._x, conv.params["kernel"], conv.strides,
                conv.padding, conv.dilation_rate, conv.activation, need_dx=need_dx,
                workspace=workspace,
            )  # fmt: skip
        finally:
            conv._workspaces.give_back(workspace)
        conv.grads["kernel"] = dkernel  # (KH, KW, C_in, C_out)
        if conv.use_bias:
            conv.grads["bias"] = dbias  # (C_out,)
        return dx  # (N, H, W, C_in), or None when need_dx is False


class NormReLU(Layer):
    """``relu(batch_norm(x))`` as one step; weights, statistics and gradients stay in ``norm``.

    Args:
        norm: a BatchNormalization layer.
        relu: the ReLU layer that follows it (``Activation("relu")`` or ``ReLU()``).

    Shapes:
        x (N, ..., C) -> y (N, ..., C)

    Math:
        forward:  y = max(gamma * x_hat + beta, 0), the moving statistics updated as by ``norm``
        backward: dz = dy * (gamma * x_hat + beta > 0), then BatchNormalization's backward,
                  z recomputed inside its passes (``norm.forward(x, training, relu=True)``)
    """

    def __init__(self, norm, relu):
        super().__init__(name=f"{norm.name}+{relu.name}", dtype=norm.dtype)
        self.norm, self.relu = norm, relu
        self.built = norm.built and relu.built
        self.input_shape = norm.input_shape

    def check_input_shape(self, shape):
        self.norm.check_input_shape(shape)

    def build(self, input_shape):
        if not self.norm.built:
            self.norm.build(input_shape)
        if not self.relu.built:
            self.relu.build(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return self.norm.compute_output_shape(input_shape)

    def forward(self, x, training=False):
        return self.norm.forward(x, training, relu=True)  # (N, ..., C)

    def backward(self, dy, need_dx=True):
        return self.norm.backward(dy, need_dx)  # dy: dL/d relu(...); (N, ..., C) or None

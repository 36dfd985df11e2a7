"""scratchnet's own answers to the exercises, by calling its layers, loss and optimizer.

``python -m exercises.check --answers library`` checks them as it checks yours: every check
passes. (Reading them teaches little: the lesson is in ``scratchnet/layers/``.) They are also
what the check compares with when Keras is not installed.
"""

from types import SimpleNamespace

import numpy as np

from scratchnet import layers, losses, optimizers


def _layer(layer, input_shape, weights):
    layer.build_from_shape(input_shape)
    layer.set_weights(weights)
    return layer


def _dense_forward(x, kernel, bias):
    layer = _layer(layers.Dense(kernel.shape[1], dtype="float64"), x.shape, [kernel, bias])
    return layer.forward(x, training=True), layer


def _with_weight_grads(*names):
    def backward(dy, layer):
        dx = layer.backward(dy)
        return (dx, *(layer.grads[name] for name in names))

    return backward


def _conv_forward(x, kernel, bias, strides=1, padding="valid"):
    KH, KW, _, C_out = kernel.shape
    conv = layers.Conv2D(C_out, (KH, KW), strides=strides, padding=padding, dtype="float64")
    layer = _layer(conv, x.shape, [kernel, bias])
    return layer.forward(x, training=True), layer


def _pool_forward(x, pool_size=2, strides=2):
    layer = layers.MaxPooling2D(pool_size, strides, dtype="float64")
    layer.build_from_shape(x.shape)
    return layer.forward(x, training=True), layer


def _softmax_ce_forward(logits, y_true):
    loss, dz = losses.CategoricalCrossentropy(from_logits=True).value_and_grad_from_logits(
        y_true, logits
    )
    return float(loss), dz


def _dropout_forward(x, keep, rate):
    layer = layers.Dropout(rate, dtype="float64")
    layer._mask = keep * x.dtype.type(1 / (1 - rate))  # the mask Dropout.forward would draw
    return x * layer._mask, layer


def _adam_step(w, g, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    adam = optimizers.Adam(learning_rate, beta_1, beta_2, epsilon)
    adam.iterations = t - 1
    w, m, v = w.copy(), m.copy(), v.copy()
    adam.update_step(g, w, w.dtype.type(learning_rate), {"momentum": m, "velocity": v})
    return w, m, v


def _bn_forward(x, gamma, beta, epsilon=1e-3):
    layer = layers.BatchNormalization(epsilon=epsilon, dtype="float64")
    C = x.shape[-1]
    _layer(layer, x.shape, [gamma, beta, np.zeros(C), np.ones(C)])
    return layer.forward(x, training=True), layer


dense = SimpleNamespace(forward=_dense_forward, backward=_with_weight_grads("kernel", "bias"))
conv2d = SimpleNamespace(forward=_conv_forward, backward=_with_weight_grads("kernel", "bias"))
max_pooling2d = SimpleNamespace(
    forward=_pool_forward, backward=lambda dy, layer: layer.backward(dy)
)
softmax_cross_entropy = SimpleNamespace(forward=_softmax_ce_forward, backward=lambda d, dz: d * dz)
dropout = SimpleNamespace(forward=_dropout_forward, backward=lambda dy, layer: layer.backward(dy))
adam = SimpleNamespace(step=_adam_step)
batch_normalization = SimpleNamespace(
    forward=_bn_forward, backward=_with_weight_grads("gamma", "beta")
)

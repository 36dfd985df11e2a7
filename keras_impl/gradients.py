"""Keras-side numbers for the parity tests: outputs and gradients of layers, models, losses, and
optimizer steps, all computed by Keras itself with ``tf.GradientTape``.

The "fake loss" trick (from llm.c): to get the backward pass of a layer for a given upstream
gradient ``dy``, differentiate ``L = sum(y * dy)``. Then ``dL/dy = dy`` exactly, so ``dL/dx`` and
``dL/dkernel`` are what the layer's backward must return for ``dy``. Draw ``dy`` at random: an
all-ones ``dy`` hides transposed or mirrored gradients, because every position gets the same weight.

Every function takes and returns NumPy arrays, so the tests never touch TensorFlow.

Example:
    >>> import numpy as np
    >>> from keras_impl.setup import keras, use_floatx
    >>> with use_floatx("float64"):
    ...     layer = keras.layers.Dense(2)
    ...     out = layer_outputs_and_gradients(layer, np.ones((3, 4)), np.arange(6.0).reshape(3, 2))
    >>> sorted(out)
    ['bias', 'kernel', 'x', 'y']
"""

import numpy as np

from .setup import keras, tf


def _tensor(x):
    """A constant of the current floatx (integers and float64 arrays are cast, as Keras does)."""
    return tf.convert_to_tensor(np.asarray(x), dtype=keras.config.floatx())


def _weight_names(layer):
    """'kernel', 'bias' for the usual layers: the path's last component (``dense/kernel``)."""
    return [w.path.split("/")[-1] for w in layer.trainable_weights]


def layer_outputs_and_gradients(layer, x, dy, training=False):
    """Run a Keras layer forward on ``x`` and backward for the upstream gradient ``dy``.

    Args:
        layer: a Keras layer; it is built on ``x.shape`` if it is not built yet.
        x: input array ``(N, ...)``.
        dy: upstream gradient dL/dy, shaped like the output; or a function ``shape -> array``
            called once the output shape is known.
        training: passed to the layer call (matters for Dropout).

    Returns:
        dict with ``"y"`` (output), ``"x"`` (dL/dx) and one entry per trainable weight, named
        after the weight (``"kernel"``, ``"bias"``): dL/d(weight). NumPy arrays.
    """
    x = _tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        dy = dy(tuple(y.shape)) if callable(dy) else dy
        loss = tf.reduce_sum(y * _tensor(dy))  # fake loss: dL/dy == dy
    sources = [x] + list(layer.trainable_weights)
    grads = tape.gradient(loss, sources)
    out = {"y": y.numpy(), "x": grads[0].numpy()}
    for name, g in zip(_weight_names(layer), grads[1:], strict=True):
        out[name] = g.numpy()
    return out


def model_outputs_and_gradients(model, x, dy, training=False):
    """A whole Keras model forward on ``x``, then backward from ``dy = dL/d(model output)``.

    The output is taken after the last activation (the softmax), so no loss is involved and the
    softmax backward runs un-fused: ``dz = (dy - sum(dy * p)) * p``.

    Returns:
        ``(y, grads)``: the output and the list dL/dw in ``model.trainable_weights`` order.
    """
    x = _tensor(x)
    with tf.GradientTape() as tape:
        y = model(x, training=training)
        loss = tf.reduce_sum(y * _tensor(dy))
    grads = tape.gradient(loss, model.trainable_weights)
    return y.numpy(), [g.numpy() for g in grads]


def model_loss_and_gradients(model, x, y_true, loss="categorical_crossentropy", training=False):
    """The training loss of a Keras model on one batch and its gradient for every weight.

    The loss sees the model's softmax output, so Keras fuses softmax and cross-entropy (the loss
    reads the logits, keras-behaviour.md section 4.2): exactly what ``fit`` differentiates.

    Returns:
        ``(loss value, grads)`` with ``grads`` in ``model.trainable_weights`` order.
    """
    loss_fn = keras.losses.get(loss)
    x, y_true = _tensor(x), _tensor(y_true)
    with tf.GradientTape() as tape:
        y = model(x, training=training)
        value = tf.reduce_mean(loss_fn(y_true, y))  # sum_over_batch_size on (N,) values
    grads = tape.gradient(value, model.trainable_weights)
    return float(value.numpy()), [g.numpy() for g in grads]


# The activation each loss fuses with in Keras, and the Keras function that applies it.
_FUSED_ACTIVATION = {
    "categorical_crossentropy": keras.activations.softmax,
    "sparse_categorical_crossentropy": keras.activations.softmax,
    "binary_crossentropy": keras.activations.sigmoid,
}


def loss_value_and_gradient(name, y_true, y_pred=None, logits=None):
    """A Keras loss (``reduction="sum_over_batch_size"``) and its gradient.

    Give exactly one of:

    * ``y_pred``: plain probabilities (a NumPy array, not a softmax output). Keras then takes the
      clipped path: ``-sum(y log clip(p / sum p, eps, 1 - eps))`` for categorical CE. The gradient
      is dL/dy_pred.
    * ``logits``: the pre-activation ``z``. The matching activation (softmax or sigmoid) is applied
      with Keras's own function, which tags the result with its logits, so the loss takes the fused
      path ``logsumexp(z) - z_y``. The gradient is dL/dz ``= (softmax(z) - y) / N``.

    Args:
        name: a Keras loss name, e.g. ``"categorical_crossentropy"``.
        y_true: the targets (one-hot, or integer labels for the sparse loss).

    Returns:
        ``(value, gradient)``: a Python float and a NumPy array.
    """
    if (y_pred is None) == (logits is None):
        raise ValueError("loss_value_and_gradient: pass exactly one of y_pred and logits.")
    loss = getattr(keras.losses, _class_name(name))()  # created under the current floatx
    y_true = tf.convert_to_tensor(np.asarray(y_true))
    source = _tensor(y_pred if logits is None else logits)
    with tf.GradientTape() as tape:
        tape.watch(source)
        pred = source if logits is None else _FUSED_ACTIVATION[name](source)
        value = loss(y_true, pred)
    return float(value.numpy()), tape.gradient(value, source).numpy()


def _class_name(name):
    return {
        "categorical_crossentropy": "CategoricalCrossentropy",
        "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
        "binary_crossentropy": "BinaryCrossentropy",
        "mean_squared_error": "MeanSquaredError",
        "mse": "MeanSquaredError",
    }[name]


def run_optimizer(optimizer, variables, gradient_steps):
    """Apply a Keras optimizer for ``k`` steps to copies of ``variables`` with given gradients.

    Args:
        optimizer: a fresh Keras optimizer (e.g. ``keras.optimizers.Adam(amsgrad=True)``).
        variables: list of NumPy arrays, the starting values (floatx dtype).
        gradient_steps: list over steps of lists of gradients (one per variable).

    Returns:
        ``(values, history)``: the final variable values, and a list over steps of the values
        after each step. NumPy arrays.
    """
    tf_vars = [keras.Variable(np.asarray(v), dtype=keras.config.floatx()) for v in variables]
    history = []
    for grads in gradient_steps:
        optimizer.apply([_tensor(g) for g in grads], tf_vars)
        history.append([v.numpy().copy() for v in tf_vars])
    return [v.numpy() for v in tf_vars], history

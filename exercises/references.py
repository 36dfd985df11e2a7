"""What the check compares your answers with: Keras when it is installed, else scratchnet.

Both give, for an exercise's inputs, the forward value and the gradient of the fake loss
L = sum(y * dy) with respect to each differentiable input (Keras through TensorFlow's
GradientTape, scratchnet through its layers' hand-written backward passes), all in float64.
"""

import importlib.util
import os

import numpy as np

DROPOUT_SEED = 1234
CONSTANTS = ("keep", "y_true")  # inputs that get no gradient


def best():
    """``Keras()`` if Keras and TensorFlow are installed, else ``Scratchnet()``."""
    if importlib.util.find_spec("keras") and importlib.util.find_spec("tensorflow"):
        return Keras()
    return Scratchnet()


class Scratchnet:
    """scratchnet's own layers (``exercises.library_answers``), parity-tested against Keras."""

    name = "scratchnet"

    def run(self, exercise, inputs, kwargs, make_dy):
        """``(y, {'dx': ..., 'dkernel': ...}, dy)`` for ``exercise`` on ``inputs``."""
        from exercises import library_answers

        answer = getattr(library_answers, exercise)
        y, cache = answer.forward(*inputs.values(), **kwargs)
        dy = make_dy(np.shape(y))
        grads = answer.backward(dy, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        names = [f"d{name}" for name in inputs if name not in CONSTANTS]
        return y, dict(zip(names, grads)), dy

    def dropout_keep(self, x, rate):
        """The units a Dropout(rate, seed=DROPOUT_SEED) keeps in its first training call."""
        from scratchnet import layers

        return layers.Dropout(rate, seed=DROPOUT_SEED).forward(x, training=True) != 0

    def adam(self, w, gs, kwargs):
        """The weight after each of the steps with gradients ``gs``."""
        from scratchnet import optimizers

        adam, w, out = optimizers.Adam(**kwargs), w.copy(), []
        for g in gs:
            adam.apply([g], [w])
            out.append(w.copy())
        return out


class Keras:
    """Keras 3 on TensorFlow, layer by layer, with a GradientTape for the gradients."""

    name = "Keras"

    def __init__(self):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as the parity tests run it
        import keras
        import tensorflow as tf

        self.keras, self.tf = keras, tf

    def _layer(self, exercise, inputs, kwargs):
        """The Keras layer (or loss) and the list of its weights to differentiate."""
        L = self.keras.layers
        if exercise == "dense":
            layer = L.Dense(inputs["kernel"].shape[1], dtype="float64")
            weights = [inputs["kernel"], inputs["bias"]]
        elif exercise == "conv2d":
            KH, KW, _, C_out = inputs["kernel"].shape
            layer = L.Conv2D(C_out, (KH, KW), dtype="float64", **kwargs)
            weights = [inputs["kernel"], inputs["bias"]]
        elif exercise == "max_pooling2d":
            layer, weights = L.MaxPooling2D(dtype="float64", **kwargs), []
        elif exercise == "batch_normalization":
            layer = L.BatchNormalization(dtype="float64", **kwargs)
            C = inputs["gamma"].shape[0]
            weights = [inputs["gamma"], inputs["beta"], np.zeros(C), np.ones(C)]
        elif exercise == "dropout":
            layer, weights = L.Dropout(kwargs["rate"], seed=DROPOUT_SEED, dtype="float64"), []
        else:
            raise KeyError(exercise)
        layer.build(inputs["x"].shape)
        layer.set_weights(weights)
        return layer

    def run(self, exercise, inputs, kwargs, make_dy):
        tf = self.tf
        first = next(iter(inputs))
        x = tf.Variable(inputs[first])
        if exercise == "softmax_cross_entropy":
            loss = self.keras.losses.CategoricalCrossentropy(from_logits=True, dtype="float64")
            with tf.GradientTape() as tape:
                y = loss(tf.constant(inputs["y_true"]), x)
                dy = make_dy(())
                fake = y * dy
            return float(y), {"dlogits": tape.gradient(fake, x).numpy()}, dy
        layer = self._layer(exercise, inputs, kwargs)
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            dy = make_dy(tuple(y.shape))
            fake = tf.reduce_sum(y * dy)
        weights = layer.trainable_weights
        found = tape.gradient(fake, [x, *weights])
        names = ["dx"] + [f"d{w.name}" for w in weights]
        return y.numpy(), {n: g.numpy() for n, g in zip(names, found)}, dy

    def dropout_keep(self, x, rate):
        layer = self.keras.layers.Dropout(rate, seed=DROPOUT_SEED, dtype="float64")
        return np.asarray(layer(x, training=True)) != 0

    def adam(self, w, gs, kwargs):
        variable = self.keras.Variable(w, dtype="float64")
        adam, out = self.keras.optimizers.Adam(**kwargs), []
        for g in gs:
            adam.apply([self.tf.constant(g)], [variable])
            out.append(np.array(variable.numpy()))
        return out

"""Write your own layer, twice: with ops and autodiff, and with a hand-written backward pass.

The layer is a "scaled dense" layer: y = (x @ kernel + bias) * scale, with a learned scalar
``scale`` per output unit. Written the Keras way (``call`` with ``scratchnet.ops``), autodiff
finds its gradient; written the scratchnet way (``forward`` and ``backward``), you write the
chain rule yourself:

    forward:  z = x @ kernel + bias;   y = z * scale
    backward: dscale = sum_N dy * z;   dz = dy * scale
              dkernel = x^T @ dz;      dbias = sum_N dz;    dx = dz @ kernel^T

``check_gradients`` is the first thing to run after writing a layer: it compares the layer's
gradients with finite differences, and names the tensor that is wrong. Both versions pass it,
start from the same weights, train on MNIST, and end with the same numbers.

    python examples/custom_layer.py                          # scratchnet, 2 epochs
    python -m examples.custom_layer                          # the same, run as a module
    python examples/custom_layer.py --limit 2000 --epochs 1  # a quick look

(With ``--impl keras`` only the ops version runs: Keras has no forward/backward layers.)
"""

import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common

NAME = "custom_layer"
EPOCHS = 2
BATCH_SIZE = 128


def ops_layer(lib):
    """The layer written the Keras way: weights in ``build``, the math in ``call``."""

    class ScaledDense(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

        def call(self, x):
            return (lib.ops.matmul(x, self.kernel) + self.bias) * self.scale

    return ScaledDense


def backprop_layer(lib):
    """The same layer with the chain rule written by hand (scratchnet only)."""

    class ScaledDenseByHand(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
            self.add_weight(shape=(self.units,), initializer="ones", name="scale")
            super().build(input_shape)

        def forward(self, x, training=False):
            kernel, bias, scale = (self.params[k] for k in ("kernel", "bias", "scale"))
            z = x @ kernel + bias  # (N, units)
            if training:
                self._x, self._z = x, z  # backward needs x (for dkernel) and z (for dscale)
            return z * scale  # (N, units)

        def backward(self, dy, need_dx=True):
            kernel, scale = self.params["kernel"], self.params["scale"]
            self.grads["scale"] = (dy * self._z).sum(axis=0)  # (units,)
            dz = dy * scale  # (N, units)
            self.grads["kernel"] = self._x.T @ dz  # (D_in, units)
            self.grads["bias"] = dz.sum(axis=0)  # (units,)
            return dz @ kernel.T if need_dx else None  # (N, D_in)

    return ScaledDenseByHand


def build(lib, layer_class):
    return lib.Sequential(
        [
            lib.Input((784,)),
            layer_class(64, name="scaled"),
            lib.layers.Activation("relu"),
            lib.layers.Dense(10, activation="softmax"),
        ]
    )


def main(argv=None):
    args = common.parse_args(__doc__, NAME, EPOCHS, argv)
    lib = common.load_library(args.impl)
    lib.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = common.load_mnist()
    x_train, y_train, x_test, y_test = common.first(args.limit, x_train, y_train, x_test, y_test)
    x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
    y_train, y_test = lib.utils.to_categorical(y_train, 10), lib.utils.to_categorical(y_test, 10)

    versions = {"ops + autodiff": ops_layer(lib)}
    if args.impl == "scratchnet":
        versions["forward + backward by hand"] = backprop_layer(lib)
        print("== check_gradients: the layer's gradients against finite differences ==")
        for title, layer_class in versions.items():
            report = lib.utils.check_gradients(layer_class(5), x_train[:4, :12])
            print(f"{title}:\n{report}")

    results, start = {}, None
    for title, layer_class in versions.items():
        print(f"\n== {title} ==")
        model = build(lib, layer_class)
        if start is None:
            start = model.get_weights()
        model.set_weights(start)  # both versions start from the same weights
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        lib.utils.set_random_seed(args.seed)  # and see the batches in the same shuffled order
        history = model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs)
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        results[title] = (history.history["loss"], accuracy, model.get_weights())
        print(f"{title}: test accuracy {accuracy:.4f}")
    if len(results) == 2:
        (loss_a, acc_a, w_a), (loss_b, acc_b, w_b) = results.values()
        gap = max(float(np.max(np.abs(a - b))) for a, b in zip(w_a, w_b))
        print(f"\nlosses per epoch: {np.round(loss_a, 6)} and {np.round(loss_b, 6)}")
        print(f"largest difference between the two trained models' weights: {gap:.2e}")
    accuracy = list(results.values())[0][1]
    print(f"RESULT example={NAME} impl={args.impl} test_acc={accuracy:.4f}")


if __name__ == "__main__":
    main()

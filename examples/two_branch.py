"""The two-branch CNN on MNIST, built twice: with the Functional API and by subclassing Model.

Two convolutions read the same image side by side: a 3x3 one ('valid', 26x26 out) and a 5x5 one
('same', 28x28 out). The wider branch is cropped by one pixel on each side so both are 26x26, the
two are concatenated along the channels, pooled, flattened and classified. The image tensor feeds
both branches, so in backprop it receives the sum of the two branches' gradients.

The same code runs on scratchnet (default) and, with --impl keras, on Keras: both libraries have
the same ``Input``, ``Model``, layers and ``concatenate``.

    python examples/two_branch.py                          # scratchnet, 3 epochs, both APIs
    python -m examples.two_branch                          # the same, run as a module
    python examples/two_branch.py --impl keras             # the same program on Keras
    python examples/two_branch.py --limit 2000 --epochs 1  # a quick look
"""

import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common

NAME = "two_branch"
EPOCHS = 3
BATCH_SIZE = 128


def functional_model(lib):
    """The Functional API: call layers on tensors, then wrap inputs and outputs in a Model."""
    layers = lib.layers
    inputs = lib.Input((28, 28, 1))
    a = layers.Conv2D(32, 3, activation="relu")(inputs)  # (None, 26, 26, 32)
    b = layers.Conv2D(32, 5, activation="relu", padding="same")(inputs)  # (None, 28, 28, 32)
    b = layers.Cropping2D(1)(b)  # (None, 26, 26, 32): now the shapes agree
    merged = layers.concatenate([a, b])  # (None, 26, 26, 64)
    x = layers.MaxPooling2D()(merged)  # (None, 13, 13, 64)
    x = layers.Flatten()(x)  # (None, 10816)
    outputs = layers.Dense(10, activation="softmax")(x)
    return lib.Model(inputs=inputs, outputs=outputs, name="two_branch_functional")


def subclassed_model(lib):
    """Subclassing: create the layers in __init__, write the forward pass in call()."""
    layers = lib.layers

    class TwoBranch(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv3 = layers.Conv2D(32, 3, activation="relu")
            self.conv5 = layers.Conv2D(32, 5, activation="relu", padding="same")
            self.crop = layers.Cropping2D(1)
            self.merge = layers.Concatenate()
            self.pool = layers.MaxPooling2D()
            self.flatten = layers.Flatten()
            self.classify = layers.Dense(10, activation="softmax")

        def call(self, inputs, training=False):
            a = self.conv3(inputs)
            b = self.crop(self.conv5(inputs))
            x = self.merge([a, b])
            return self.classify(self.flatten(self.pool(x)))

    return TwoBranch(name="two_branch_subclassed")


def prepare_images(x):
    """Pixels to [0, 1] and a channel axis: (N, 28, 28) uint8 -> (N, 28, 28, 1) float32."""
    return np.expand_dims(x.astype("float32") / 255, -1)


def train(model, lib, x_train, y_train, x_test, y_test, epochs):
    """Compile, fit (last 10% held out for validation) and return (test accuracy, epoch timer)."""
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    timer = common.epoch_timer(lib)
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_split=0.1,
        callbacks=[timer],
    )
    _, test_acc = model.evaluate(x_test, y_test, verbose=0)
    return test_acc, timer


def main(argv=None):
    args = common.parse_args(__doc__, NAME, EPOCHS, argv)
    lib = common.load_library(args.impl)
    lib.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = common.load_mnist()
    x_train, y_train, x_test, y_test = common.first(args.limit, x_train, y_train, x_test, y_test)
    print(f"{len(x_train)} training images, {len(x_test)} test images")
    x_train, x_test = prepare_images(x_train), prepare_images(x_test)
    y_train_onehot = lib.utils.to_categorical(y_train, 10)
    y_test_onehot = lib.utils.to_categorical(y_test, 10)

    print("\n== 1. The Functional API ==")
    model = functional_model(lib)
    model.summary()
    acc, timer = train(model, lib, x_train, y_train_onehot, x_test, y_test_onehot, args.epochs)
    print(f"Functional: test accuracy {acc:.4f}")
    common.save_and_reload(lib, model, x_test[:20], args.out / "two_branch_functional.keras")

    print("\n== 2. A subclassed Model ==")
    twin = subclassed_model(lib)
    sub_acc, _ = train(twin, lib, x_train, y_train_onehot, x_test, y_test_onehot, args.epochs)
    twin.summary()
    print(f"Subclassed: test accuracy {sub_acc:.4f}")
    path = args.out / "two_branch_subclassed.weights.h5"
    twin.save_weights(path)
    reloaded = subclassed_model(lib)
    reloaded(x_test[:1])  # build it, then load the saved weights into it
    reloaded.load_weights(path)
    same = np.allclose(
        reloaded.predict(x_test[:20], verbose=0), twin.predict(x_test[:20], verbose=0)
    )
    print(f"Saved the weights to {path}; a fresh instance loads them and predicts the same: {same}")

    common.print_result(NAME, args.impl, acc, timer)


if __name__ == "__main__":
    main()

"""A model with two inputs and two outputs on MNIST: the digit, and whether it is even.

The two inputs are two views of one image: the image itself, read by a small convolution, and
its "ink profile", the mean darkness of each of its 28 rows and 28 columns (56 numbers), read
by a Dense layer. The two branches are concatenated and feed two heads:

* ``digit``: softmax over the 10 classes, sparse categorical cross-entropy;
* ``even``: one sigmoid, binary cross-entropy on (digit % 2 == 0).

compile takes one loss, one loss weight and one metric list per output, keyed by the outputs'
names; fit takes the inputs and labels as dicts keyed by the inputs' and outputs' names, and
History has Keras's keys: ``loss``, ``digit_loss``, ``even_loss``, ``digit_accuracy``,
``even_accuracy`` and their ``val_`` twins. The same program runs on Keras (``--impl keras``).

    python examples/two_branch_multi_output.py                   # scratchnet, 3 epochs
    python -m examples.two_branch_multi_output --impl keras      # the same program on Keras
    python examples/two_branch_multi_output.py --limit 2000 --epochs 1  # a quick look
"""

import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common

NAME = "two_branch_multi_output"
EPOCHS = 3
BATCH_SIZE = 64
LOSS = {"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"}
LOSS_WEIGHTS = {"digit": 1.0, "even": 0.5}
METRICS = {"digit": ["accuracy"], "even": ["accuracy"]}


def build(lib):
    """Two inputs (``image``, ``profile``), two outputs (``digit``, ``even``)."""
    layers = lib.layers
    image = lib.Input((28, 28, 1), name="image")
    profile = lib.Input((56,), name="profile")
    a = layers.Conv2D(8, 3, activation="relu")(image)  # (None, 26, 26, 8)
    a = layers.MaxPooling2D()(a)  # (None, 13, 13, 8)
    a = layers.Flatten()(a)  # (None, 1352)
    b = layers.Dense(16, activation="relu")(profile)  # (None, 16)
    merged = layers.concatenate([a, b])  # (None, 1368)
    digit = layers.Dense(10, activation="softmax", name="digit")(merged)
    even = layers.Dense(1, activation="sigmoid", name="even")(merged)
    return lib.Model(inputs=[image, profile], outputs=[digit, even], name=NAME)


def inputs(x):
    """(N, 28, 28) uint8 images -> {"image": (N, 28, 28, 1), "profile": (N, 56)} float32."""
    image = x.astype("float32")[..., None] / 255
    profile = np.concatenate([image.mean(axis=(2, 3)), image.mean(axis=(1, 3))], axis=1)
    return {"image": image, "profile": profile}


def labels(y):
    """Digit labels (N,) -> {"digit": (N,), "even": (N, 1)}."""
    return {"digit": y, "even": (y % 2 == 0).astype("float32")[:, None]}


def compile_model(model, lib):
    model.compile(
        optimizer=lib.optimizers.SGD(0.05, momentum=0.9),
        loss=LOSS,
        loss_weights=LOSS_WEIGHTS,
        metrics=METRICS,
    )


def main(argv=None):
    args = common.parse_args(__doc__, NAME, EPOCHS, argv)
    lib = common.load_library(args.impl)
    lib.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = common.load_mnist()
    x_train, y_train, x_test, y_test = common.first(args.limit, x_train, y_train, x_test, y_test)
    print(f"{len(x_train)} training images, {len(x_test)} test images")

    model = build(lib)
    model.summary()
    compile_model(model, lib)
    timer = common.epoch_timer(lib)
    history = model.fit(
        inputs(x_train),
        labels(y_train),
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        validation_split=0.1,
        callbacks=[timer],
    )
    print("History keys:", list(history.history))
    results = model.evaluate(inputs(x_test), labels(y_test), verbose=0, return_dict=True)
    print("Test:", {k: round(v, 4) for k, v in results.items()})
    digit, even = model.predict(inputs(x_test[:5]), verbose=0)
    print("First 5 test digits:", y_test[:5], "predicted:", digit.argmax(axis=1))
    print("Even?", (y_test[:5] % 2 == 0), "predicted:", even[:, 0] > 0.5)
    common.print_result(NAME, args.impl, results["digit_accuracy"], timer)


if __name__ == "__main__":
    main()

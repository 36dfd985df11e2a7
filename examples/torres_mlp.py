"""Jordi Torres's first MNIST network, on scratchnet (default) or, with --impl keras, on Keras.

A two-layer perceptron, Dense(10, sigmoid) then Dense(10, softmax), on the flattened pixels,
trained with plain SGD at Keras's default learning rate of 0.01. The post shows a training
accuracy of about 0.70 after 5 epochs (it also claims 0.9018 on the test set, which this program
does not reach on either library) and ends with the confusion matrix, drawn here too.

    python examples/torres_mlp.py                          # scratchnet, 5 epochs
    python -m examples.torres_mlp                          # the same, run as a module
    python examples/torres_mlp.py --impl keras             # the same program on Keras
    python examples/torres_mlp.py --limit 2000 --epochs 1  # a quick look
"""

import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common, plots
from keras_impl.architectures import build

NAME = "torres"
EPOCHS = 5
BATCH_SIZE = 100


def prepare_images(x):
    """Scale to [0, 1] and flatten each image: (N, 28, 28) uint8 -> (N, 784) float32."""
    x = x.astype("float32")
    x /= 255
    return x.reshape(x.shape[0], 784)


def compile_model(model, lib):
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])


def main(argv=None):
    args = common.parse_args(__doc__, NAME, EPOCHS, argv)
    lib = common.load_library(args.impl)
    lib.utils.set_random_seed(args.seed)

    # 1. Load MNIST.
    (x_train, y_train), (x_test, y_test) = common.load_mnist()
    x_train, y_train, x_test, y_test = common.first(args.limit, x_train, y_train, x_test, y_test)
    print(f"{len(x_train)} training images, {len(x_test)} test images")

    # 2. Show a few digits.
    plots.plot_digits(x_train, y_train, args.out / "digits.png")

    # 3. Prepare the data as the post does: pixels in [0, 1], 784 inputs, one-hot labels.
    x_train_prepared = prepare_images(x_train)  # (N, 784)
    x_test_prepared = prepare_images(x_test)
    y_train_onehot = lib.utils.to_categorical(y_train, num_classes=10)  # (N, 10)
    y_test_onehot = lib.utils.to_categorical(y_test, num_classes=10)

    # 4. Build the model.
    model = build(NAME, lib)
    model.summary()

    # 5. Compile and fit; the post validates on nothing.
    compile_model(model, lib)
    timer = common.epoch_timer(lib)
    history = model.fit(
        x_train_prepared,
        y_train_onehot,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        callbacks=[timer],
    )

    # 6. Evaluate on the test set.
    test_loss, test_acc = model.evaluate(x_test_prepared, y_test_onehot)
    print(f"Test loss: {test_loss:.4f}")
    print(f"Test accuracy: {test_acc:.4f}")

    # 7. Predictions for the first 20 test images, then for all of them: the confusion matrix.
    common.print_predictions(model, x_test_prepared[:20], y_test[:20])
    predictions = np.argmax(model.predict(x_test_prepared, verbose=0), axis=1)  # (N,)
    title = f"{NAME} on {args.impl}"
    matrix = plots.plot_confusion_matrix(
        y_test, predictions, args.out / "confusion_matrix.png", title
    )
    print("Confusion matrix (row: true digit, column: predicted digit):")
    print(matrix)

    # 8. Save the model, load it back, check it predicts the same.
    common.save_and_reload(lib, model, x_test_prepared[:20], args.out / "model.keras")

    # Pictures: the learning curves (training only: the post has no validation set).
    plots.plot_history(history.history, args.out / "curves.png", title)

    common.print_result(NAME, args.impl, test_acc, timer)


if __name__ == "__main__":
    main()

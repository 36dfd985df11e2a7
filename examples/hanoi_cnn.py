"""The Hanoi deep-learning course CNN, on scratchnet (default) or, with --impl keras, on Keras.

Sigmoid everywhere, trained on the raw 0-255 pixels (no scaling), with the last 10,000 training
images held out for validation; the course reported about 99% test accuracy.

    python examples/hanoi_cnn.py                          # scratchnet, 5 epochs
    python -m examples.hanoi_cnn                          # the same, run as a module
    python examples/hanoi_cnn.py --impl keras             # the same program on Keras
    python examples/hanoi_cnn.py --limit 2000 --epochs 1  # a quick look
"""

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common, plots
from keras_impl.architectures import build

NAME = "hanoi"
EPOCHS = 5
BATCH_SIZE = 64


def prepare_images(x):
    """Add the channel axis and nothing else: (N, 28, 28) uint8 -> (N, 28, 28, 1), still 0-255."""
    return x.reshape(x.shape[0], 28, 28, 1)


def compile_model(model, lib):
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])


def main(argv=None):
    args = common.parse_args(__doc__, NAME, EPOCHS, argv)
    lib = common.load_library(args.impl)
    lib.utils.set_random_seed(args.seed)

    # 1. Load MNIST and split it: 50,000 to train on, 10,000 to validate on, 10,000 to test on.
    (X_train, y_train), (X_test, y_test) = common.load_mnist()
    X_val, y_val = X_train[50000:60000], y_train[50000:60000]
    X_train, y_train = X_train[:50000], y_train[:50000]
    X_train, y_train, X_val, y_val, X_test, y_test = common.first(
        args.limit, X_train, y_train, X_val, y_val, X_test, y_test
    )
    print(f"{len(X_train)} training, {len(X_val)} validation, {len(X_test)} test images")

    # 2. Show a few digits.
    plots.plot_digits(X_train, y_train, args.out / "digits.png")

    # 3. Prepare the data as the course does: reshape to (N, 28, 28, 1), one-hot labels.
    X_train = prepare_images(X_train)
    X_val = prepare_images(X_val)
    X_test_prepared = prepare_images(X_test)
    Y_train = lib.utils.to_categorical(y_train, 10)  # (N, 10)
    Y_val = lib.utils.to_categorical(y_val, 10)
    Y_test = lib.utils.to_categorical(y_test, 10)

    # 4. Build the model.
    model = build(NAME, lib)
    model.summary()

    # 5. Compile and fit, validating on the held-out 10,000.
    compile_model(model, lib)
    timer = common.epoch_timer(lib)
    H = model.fit(
        X_train,
        Y_train,
        validation_data=(X_val, Y_val),
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        verbose=1,
        callbacks=[timer],
    )

    # 6. Evaluate on the test set.
    test_loss, test_acc = model.evaluate(X_test_prepared, Y_test, verbose=0)
    print(f"Test loss: {test_loss:.4f}")
    print(f"Test accuracy: {test_acc:.4f}")

    # 7. Predictions for the first 20 test images.
    common.print_predictions(model, X_test_prepared[:20], y_test[:20])

    # 8. Save the model, load it back, check it predicts the same.
    common.save_and_reload(lib, model, X_test_prepared[:20], args.out / "model.keras")

    # Pictures: learning curves, the first layer's filters, what the conv layers see in one digit.
    title = f"{NAME} on {args.impl}"
    plots.plot_history(H.history, args.out / "curves.png", title)
    plots.plot_filters(common.first_conv_kernel(model), args.out / "filters.png", title)
    maps = common.conv_feature_maps(model, X_test_prepared[:1])
    plots.plot_feature_maps(X_test[0], maps, args.out / "feature_maps.png", title)

    common.print_result(NAME, args.impl, test_acc, timer)


if __name__ == "__main__":
    main()

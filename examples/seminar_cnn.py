"""The "seminar" digit-recognition CNN, on scratchnet (default) or, with --impl keras, on Keras.

Two same-padded conv blocks, dropout and a dense head (421,642 parameters), trained with plain SGD.
The tutorial reported a validation accuracy of 0.9868 and ends with a drawing app: here that is
``python -m examples.draw.app --program seminar``, which loads the model this script saves.

    python examples/seminar_cnn.py                          # scratchnet, 10 epochs
    python -m examples.seminar_cnn                          # the same, run as a module
    python examples/seminar_cnn.py --impl keras             # the same program on Keras
    python examples/seminar_cnn.py --limit 2000 --epochs 1  # a quick look
"""

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common, plots
from keras_impl.architectures import build

NAME = "seminar"
EPOCHS = 10
BATCH_SIZE = 32


def prepare_images(x):
    """Add the channel axis and scale the pixels to [0, 1]: (N, 28, 28) uint8 -> (N, 28, 28, 1)."""
    x = x.reshape(x.shape[0], 28, 28, 1)
    x = x.astype("float32")
    return x / 255


def compile_model(model, lib):
    model.compile(
        loss="categorical_crossentropy",
        optimizer=lib.optimizers.SGD(learning_rate=0.01),
        metrics=["accuracy"],
    )


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

    # 3. Prepare the data as the tutorial does: a channel axis, pixels in [0, 1], one-hot labels.
    x_train_prepared = prepare_images(x_train)  # (N, 28, 28, 1)
    x_test_prepared = prepare_images(x_test)
    y_train_onehot = lib.utils.to_categorical(y_train, 10)  # (N, 10)
    y_test_onehot = lib.utils.to_categorical(y_test, 10)

    # 4. Build the model.
    model = build(NAME, lib)
    model.summary()

    # 5. Compile and fit, validating on the test set after every epoch as the tutorial does.
    compile_model(model, lib)
    timer = common.epoch_timer(lib)
    history = model.fit(
        x_train_prepared,
        y_train_onehot,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        verbose=1,
        validation_data=(x_test_prepared, y_test_onehot),
        callbacks=[timer],
    )

    # 6. Evaluate on the test set.
    test_loss, test_acc = model.evaluate(x_test_prepared, y_test_onehot, verbose=0)
    print(f"Test loss: {test_loss:.4f}")
    print(f"Test accuracy: {test_acc:.4f}")

    # 7. Predictions for the first 20 test images.
    common.print_predictions(model, x_test_prepared[:20], y_test[:20])

    # 8. Save the model (the drawing app loads it), load it back, check it predicts the same.
    common.save_and_reload(lib, model, x_test_prepared[:20], args.out / "model.keras")

    # Pictures: learning curves, the first layer's filters, what the conv layers see in one digit.
    title = f"{NAME} on {args.impl}"
    plots.plot_history(history.history, args.out / "curves.png", title)
    plots.plot_filters(common.first_conv_kernel(model), args.out / "filters.png", title)
    maps = common.conv_feature_maps(model, x_test_prepared[:1])
    plots.plot_feature_maps(x_test[0], maps, args.out / "feature_maps.png", title)

    common.print_result(NAME, args.impl, test_acc, timer)


if __name__ == "__main__":
    main()

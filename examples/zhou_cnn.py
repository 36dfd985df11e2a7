"""Victor Zhou's "Keras for Beginners" CNN, on scratchnet (default) or, with --impl keras, on Keras.

Tiny convolutions with no activation (8 filters each) and a softmax; the post reported a validation
accuracy of 0.9750 after 3 epochs. Following this project's table, the model is compiled without an
optimizer, so both libraries use their default, RMSprop.

    python examples/zhou_cnn.py                          # scratchnet, 3 epochs
    python -m examples.zhou_cnn                          # the same, run as a module
    python examples/zhou_cnn.py --impl keras             # the same program on Keras
    python examples/zhou_cnn.py --limit 2000 --epochs 1  # a quick look
"""

import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common, plots
from keras_impl.architectures import build

NAME = "zhou"
EPOCHS = 3
BATCH_SIZE = 32  # the tutorial passes no batch size: Keras's default


def prepare_images(x):
    """Centre the pixels on zero, in [-0.5, 0.5], and add the channel axis: (N, 28, 28, 1).

    As in the post this makes float64 arrays; both libraries cast them to float32 when they train.
    """
    x = (x / 255) - 0.5
    return np.expand_dims(x, axis=3)


def compile_model(model, lib):
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])


def main(argv=None):
    args = common.parse_args(__doc__, NAME, EPOCHS, argv)
    lib = common.load_library(args.impl)
    lib.utils.set_random_seed(args.seed)

    # 1. Load MNIST.
    (train_images, train_labels), (test_images, test_labels) = common.load_mnist()
    train_images, train_labels, test_images, test_labels = common.first(
        args.limit, train_images, train_labels, test_images, test_labels
    )
    print(f"{len(train_images)} training images, {len(test_images)} test images")

    # 2. Show a few digits.
    plots.plot_digits(train_images, train_labels, args.out / "digits.png")

    # 3. Prepare the data as the post does: centred pixels and a channel axis.
    train_x = prepare_images(train_images)  # (N, 28, 28, 1)
    test_x = prepare_images(test_images)

    # 4. Build the model.
    model = build(NAME, lib)
    model.summary()

    # 5. Compile (no optimizer given: the default RMSprop) and fit with one-hot labels,
    #    validating on the test set after every epoch as the post does.
    compile_model(model, lib)
    timer = common.epoch_timer(lib)
    history = model.fit(
        train_x,
        lib.utils.to_categorical(train_labels, 10),
        epochs=args.epochs,
        validation_data=(test_x, lib.utils.to_categorical(test_labels, 10)),
        callbacks=[timer],
    )

    # 6. Evaluate on the test set.
    test_loss, test_acc = model.evaluate(
        test_x, lib.utils.to_categorical(test_labels, 10), verbose=0
    )
    print(f"Test loss: {test_loss:.4f}")
    print(f"Test accuracy: {test_acc:.4f}")

    # 7. Predictions for the first 20 test images.
    common.print_predictions(model, test_x[:20], test_labels[:20])

    # 8. Save the model, load it back, check it predicts the same.
    common.save_and_reload(lib, model, test_x[:20], args.out / "model.keras")

    # Pictures: learning curves, the first layer's filters, what the conv layers see in one digit.
    title = f"{NAME} on {args.impl}"
    plots.plot_history(history.history, args.out / "curves.png", title)
    plots.plot_filters(common.first_conv_kernel(model), args.out / "filters.png", title)
    maps = common.conv_feature_maps(model, test_x[:1])
    plots.plot_feature_maps(test_images[0], maps, args.out / "feature_maps.png", title)

    common.print_result(NAME, args.impl, test_acc, timer)


if __name__ == "__main__":
    main()

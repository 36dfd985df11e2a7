"""One tutorial program on scratchnet and on Keras side by side, from the same start.

Both models start from the same weights (scratchnet's, copied into Keras with ``set_weights``),
their Dropout layers get the same fixed seeds (so they draw the same masks), and both see the
training images in the same order: each epoch, one permutation drawn here from ``--seed`` is
applied to the data and both libraries fit on it with ``shuffle=False``. Keras's own shuffle
comes from tf.data and cannot be reproduced outside TensorFlow.

This compares the two libraries, not the tutorials' protocols: every program trains on its
training images (all 60,000, or --limit N) and is validated on the test set after each epoch.
It prints per epoch the loss and accuracy of both, their difference and the seconds each took,
and draws both learning curves in one PNG.

    python examples/compare.py                              # the keras.io convnet, 10 epochs
    python -m examples.compare                              # the same, run as a module
    python examples/compare.py --program torres             # any of the five programs
    python examples/compare.py --program zhou --limit 5000 --epochs 2
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import (
    common,
    hanoi_cnn,
    keras_convnet,
    plots,
    seminar_cnn,
    torres_mlp,
    zhou_cnn,
)
from keras_impl.architectures import ARCHITECTURES, build

PROGRAMS = {
    module.NAME: module for module in (seminar_cnn, zhou_cnn, hanoi_cnn, torres_mlp, keras_convnet)
}
KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--program", choices=tuple(PROGRAMS), default="convnet")
    parser.add_argument("--epochs", type=int, help="default: the tutorial's")
    parser.add_argument("--limit", type=int, metavar="N", help="use the first N train/test images")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, dropout, data order")
    parser.add_argument("--out", type=common.Path, help="default runs/compare/<program>/")
    args = parser.parse_args(argv)
    args.epochs = args.epochs or PROGRAMS[args.program].EPOCHS
    args.out = args.out or common.REPO / "runs" / "compare" / args.program
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def dropout_seeds(name, seed):
    """``build`` overrides giving every Dropout layer of ``name`` a fixed seed, the same on both."""
    layers = ARCHITECTURES[name]["layers"]
    return {i: {"seed": seed + i} for i, (cls, _) in enumerate(layers) if cls == "Dropout"}


def main(argv=None):
    args = parse_args(argv)
    program = PROGRAMS[args.program]
    libs = {impl: common.load_library(impl) for impl in common.IMPLS}

    # The data, prepared as the tutorial prepares it.
    (x_train, y_train), (x_test, y_test) = common.load_mnist()
    x_train, y_train, x_test, y_test = common.first(args.limit, x_train, y_train, x_test, y_test)
    x_train, x_test = program.prepare_images(x_train), program.prepare_images(x_test)
    y_train = libs["scratchnet"].utils.to_categorical(y_train, 10)  # (N, 10)
    y_test = libs["scratchnet"].utils.to_categorical(y_test, 10)
    print(f"{args.program}: {len(x_train)} training images, {len(x_test)} test images")

    # The same model on both, from the same weights.
    models = {}
    for impl, lib in libs.items():
        lib.utils.set_random_seed(args.seed)
        models[impl] = build(args.program, lib, overrides=dropout_seeds(args.program, args.seed))
        program.compile_model(models[impl], lib)
    start = models["scratchnet"].get_weights()
    own = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(start, models["keras"].get_weights(), strict=True)
    )
    models["keras"].set_weights(start)
    print(f"Initial weights: Keras's own draw differs from scratchnet's by at most {own:.1e};")
    print("scratchnet's weights are now copied into the Keras model.")

    # Train epoch by epoch on one shared order.
    rng = np.random.default_rng(args.seed)
    history = {impl: {key: [] for key in KEYS} for impl in libs}
    side = "  loss  accuracy  val_acc"
    diff = "      loss   accuracy    val_acc"
    print(f"{'':5}  {'scratchnet':^24}  {'keras':^24}  {'scratchnet - keras':^32}  {'seconds':^14}")
    print(f"epoch  {side}  {side}  {diff}  scratch  keras")
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))  # (N,)
        seconds = {}
        for impl, model in models.items():
            begin = time.perf_counter()
            logs = model.fit(
                x_train[order],
                y_train[order],
                batch_size=program.BATCH_SIZE,
                epochs=1,
                shuffle=False,
                validation_data=(x_test, y_test),
                verbose=0,
            ).history
            seconds[impl] = time.perf_counter() - begin
            for key in KEYS:
                history[impl][key].append(float(logs[key][0]))
        row = [f"{epoch:5d}"]
        for impl in libs:
            h = history[impl]
            row.append(
                f"{h['loss'][-1]:7.4f} {h['accuracy'][-1]:9.4f} {h['val_accuracy'][-1]:8.4f}"
            )
        s, k = history["scratchnet"], history["keras"]
        row.append(
            " ".join(
                f"{s[key][-1] - k[key][-1]:+10.1e}" for key in ("loss", "accuracy", "val_accuracy")
            )
        )
        row.append(f"{seconds['scratchnet']:8.1f} {seconds['keras']:5.1f}")
        print("  ".join(row))

    for impl in libs:
        print(
            f"{impl:>10}: test loss {history[impl]['val_loss'][-1]:.4f}, "
            f"test accuracy {history[impl]['val_accuracy'][-1]:.4f}"
        )
    plots.plot_comparison(
        history, args.out / "compare.png", f"{args.program}: scratchnet and Keras, same start"
    )


if __name__ == "__main__":
    main()

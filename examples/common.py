"""What every example shares: the command line, loading MNIST, timing, and the checks at the end.

The tutorials themselves live in the example scripts; nothing here changes what a program computes.
The pictures are in ``examples.plots``.
"""

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
IMPLS = ("scratchnet", "keras")


def parse_args(doc, name, epochs, argv=None):
    """The options every example takes: --impl, --epochs, --limit, --seed, --out.

    Args:
        doc: the script's docstring, shown by --help.
        name: the program's name, used for the default output folder ``runs/<name>/<impl>/``.
        epochs: the tutorial's number of epochs, the default for ``--epochs``.
        argv: the arguments to parse (``None``: ``sys.argv``).
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--impl", choices=IMPLS, default="scratchnet", help="library to run on")
    parser.add_argument(
        "--epochs", type=int, default=epochs, help=f"default {epochs}, as the tutorial"
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="a quick look: train on the first N training images (validate and test on at most N)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for set_random_seed (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"folder for the PNGs and the saved model (default runs/{name}/<impl>/)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = REPO / "runs" / name / args.impl
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def load_library(impl):
    """Import the library the program runs on: the module ``scratchnet`` or ``keras``.

    Keras is imported only when asked for, so a scratchnet run never pays TensorFlow's start-up.
    For scratchnet, say so when numba has not compiled its kernels yet (the first epoch pays it).
    """
    if impl == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        return keras
    if numba_cache_is_cold():
        print(
            "Note: this first run compiles scratchnet's numba kernels (some seconds, mostly in the"
            " first epoch); later runs load them from the on-disk cache."
        )
    import scratchnet

    return scratchnet


def numba_cache_is_cold():
    """True when numba's on-disk cache holds no compiled scratchnet kernel yet.

    Numba caches next to the sources (``__pycache__/*.nbi``) or under ``$NUMBA_CACHE_DIR``. Look
    before importing scratchnet: building a model already compiles its random-number kernel.
    """
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if cache is None:
        cache = Path(importlib.util.find_spec("scratchnet").origin).parent
    return not any(Path(cache).rglob("*.nbi"))


def load_mnist():
    """MNIST as Keras gives it: ``(x_train, y_train), (x_test, y_test)``, uint8.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28), y_test (10000,).

    Both implementations load through scratchnet's loader, which returns exactly the arrays of
    ``keras.datasets.mnist.load_data()``. Keras's own loader would download ``mnist.npz`` from
    Google's storage, which this machine cannot reach; and a copy dropped into ``~/.keras/datasets``
    would not carry Keras's pinned file hash, so Keras would try to download it again.
    """
    import scratchnet.datasets.mnist

    return scratchnet.datasets.mnist.load_data()


def first(n, *arrays):
    """The first ``n`` rows of each array (all of them when ``n`` is None): the --limit option."""
    return tuple(a[:n] for a in arrays)


def epoch_timer(lib):
    """A ``lib.callbacks.Callback`` recording each epoch's wall-clock seconds in ``.seconds``."""

    class EpochTimer(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def print_predictions(model, x, y):
    """Print the predicted digit of each image under its true label.

    Args:
        model: a trained model ending in a 10-way softmax.
        x: images, prepared as the model expects, (N, ...).
        y: the true digits, (N,) integers.
    """
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)  # (N,)
    print(f"First {len(y)} test images:")
    print("  label:     " + " ".join(str(int(d)) for d in y))
    print("  predicted: " + " ".join(str(int(d)) for d in predicted))
    print(f"  {int(np.sum(predicted == y))} of {len(y)} right")


def save_and_reload(lib, model, x, path):
    """Save the model, load it back with ``lib.models.load_model`` and check it predicts the same.

    Args:
        lib: scratchnet or keras.
        model: the trained model.
        x: a few prepared images to predict on, (N, ...).
        path: where to save, a ``.keras`` file.

    Raises:
        SystemExit: the reloaded model's predictions differ.
    """
    model.save(path)
    reloaded = lib.models.load_model(path)
    before = np.asarray(model.predict(x, verbose=0))  # (N, 10)
    after = np.asarray(reloaded.predict(x, verbose=0))  # (N, 10)
    worst = float(np.max(np.abs(before - after)))
    same = worst <= 1e-6 and np.array_equal(before.argmax(1), after.argmax(1))
    print(f"Saved to {path}; reloaded, it predicts the same: {same} (max |difference| {worst:.1e})")
    if not same:
        raise SystemExit(f"The model reloaded from {path} predicts differently.")
    return reloaded


def conv_feature_maps(model, x):
    """The output of every Conv2D layer for one image, layer by layer.

    Args:
        model: a Sequential model (scratchnet or Keras).
        x: one prepared image, (1, H, W, C).

    Returns:
        A list of ``(layer name, maps)`` with maps (H_out, W_out, C_out), one entry per Conv2D.
    """
    maps = []
    h = np.asarray(x, dtype="float32")  # what the model's input does to uint8 or float64 pixels
    for layer in model.layers:
        h = layer(h, training=False)
        if type(layer).__name__ == "Conv2D":
            maps.append((layer.name, np.asarray(h)[0]))  # (H_out, W_out, C_out)
    return maps


def first_conv_kernel(model):
    """The first Conv2D layer's kernel, (KH, KW, C_in, C_out), or None for a model without one."""
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            return np.asarray(layer.get_weights()[0])
    return None


def print_result(name, impl, test_acc, timer):
    """Print the machine-readable last line that ``examples.run_all`` collects.

    Seconds per epoch is the median over the epochs, so the first epoch's one-off costs (numba
    compilation on scratchnet, graph tracing on Keras) do not count once there are three or more.
    """
    sec = statistics.median(timer.seconds) if timer.seconds else float("nan")
    print(f"RESULT example={name} impl={impl} test_acc={test_acc:.4f} sec_per_epoch={sec:.2f}")

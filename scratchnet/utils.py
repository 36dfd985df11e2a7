"""Small helpers mirroring ``keras.utils``: one-hot labels and the global random seed, and
scratchnet's own ``check_gradients`` (``scratchnet.gradcheck``), the gradient check to run first
on a layer you wrote.

Example:
    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]])
"""

import os
import random
import re
import uuid

try:
    import fcntl  # POSIX: locks on the temporary files of atomic_write
except ImportError:  # Windows
    fcntl = None

import numpy as np

from . import random as sn_random
from .drawing import draw_tape  # noqa: F401  (scratchnet's own: one training step drawn)
from .gradcheck import check_gradients  # noqa: F401  (scratchnet's own, see gradcheck.py)
from .live_plot import LivePlot  # noqa: F401  (scratchnet's own: curves redrawn during fit)
from .model_plot import model_to_dot, plot_model  # noqa: F401  (keras.utils's, with Graphviz)
from .naming import clear_session  # noqa: F401  (keras.utils.clear_session)
from .py_dataset import PyDataset  # noqa: F401  (keras.utils.PyDataset)

_GLOBAL_SEED = None


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels, exactly as ``keras.utils.to_categorical`` does.

    Args:
        x: array-like of integer labels in [0, num_classes). Floats are truncated toward zero,
            as ``np.array(x, dtype="int64")`` does in Keras.
        num_classes: the number of classes; None (or 0) means ``max(x) + 1``.

    Shapes:
        x (...,) or (..., 1)  ->  (..., num_classes), float64. A trailing axis of size 1 is
        dropped first, so labels of shape (N, 1) give (N, num_classes), not (N, 1, num_classes).

    Math:
        y[..., c] = 1.0 if x[...] == c else 0.0

    Example:
        >>> to_categorical([[1], [0]])
        array([[0., 1.],
               [1., 0.]])
    """
    x = np.array(x, dtype="int64")
    input_shape = x.shape
    if len(input_shape) > 1 and input_shape[-1] == 1:
        input_shape = input_shape[:-1]
    x = x.reshape(-1)  # (N,) all labels in a row
    if not num_classes:
        if x.size == 0:
            raise ValueError("to_categorical: cannot infer num_classes from empty labels.")
        num_classes = int(x.max()) + 1
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        bad = x[(x < 0) | (x >= num_classes)][0]
        raise ValueError(
            f"to_categorical: label {bad} is outside [0, {num_classes}); labels must be "
            "integers from 0 to num_classes - 1."
        )
    categorical = np.zeros((x.shape[0], num_classes))  # (N, num_classes) float64
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape(input_shape + (num_classes,))


def set_random_seed(seed):
    """Seed every random source scratchnet uses, like ``keras.utils.set_random_seed``.

    Seeds Python's ``random`` (the source of every unseeded initializer and Dropout seed, drawn
    at construction exactly as Keras draws them) and NumPy's global generator, and records the
    seed for ``get_random_seed``. After ``set_random_seed(S)`` in both libraries, models built in
    the same order start from the same weights and drop the same units.

    Args:
        seed: an int.

    Example:
        >>> set_random_seed(1); a = random.random()
        >>> set_random_seed(1); a == random.random()
        True
    """
    global _GLOBAL_SEED
    if not isinstance(seed, int):
        raise ValueError(
            f"set_random_seed: expected an integer seed, got {seed!r} (of type {type(seed)})."
        )
    _GLOBAL_SEED = seed
    random.seed(seed)
    np.random.seed(seed)
    sn_random.reset_global_seed_generator()  # as Keras: the next unseeded draw starts afresh


def get_random_seed():
    """The seed last given to ``set_random_seed``, or None (``keras.utils.get_random_seed``)."""
    return _GLOBAL_SEED


def trace(model, x, training=True):
    """What one forward pass of ``model`` on ``x`` runs, as the tape records it: a line per call.

    ``model.layers`` and ``summary()`` list the layers as Keras does; the tape lists what ran,
    so a Conv2D + MaxPooling2D pair that ran fused (``scratchnet.layers.fused``) shows as one
    step. ``config.set_fusion(False)`` makes them two again.

    Example:
        >>> import numpy as np
        >>> from scratchnet import Input, layers, models
        >>> conv, pool = layers.Conv2D(2, 3, name="conv"), layers.MaxPooling2D(name="pool")
        >>> model = models.Sequential([Input((6, 6, 1)), conv, pool, layers.Flatten(name="flat")])
        >>> print(trace(model, np.zeros((1, 6, 6, 1))))
        1. conv+pool (ConvPool): (1, 6, 6, 1) -> (1, 2, 2, 2)
        2. flat (Flatten): (1, 2, 2, 2) -> (1, 8)
    """
    model.forward(x, training=training)
    return model._tape.describe()


def atomic_write(path, write):
    """Write a file all at once or not at all: ``write(f)`` fills a temporary file beside ``path``,
    which is then flushed to disk and renamed over ``path`` (atomic on one file system).

    A crash, a full disk or an exception in ``write`` leaves the previous file untouched and no
    temporary file behind. The new file gets ordinary permissions (the process umask).

    A process killed outright (``kill -9``, a power cut) cannot remove its temporary file: it
    stays as ``.<name>.<pid>.<random>.tmp`` beside ``path``, and the next write to ``path``
    removes it. A writer holds a lock (``flock``) on its temporary file until the rename, so a
    live write, in this process or another, is never taken for a dead one (without ``fcntl``,
    on Windows, the files stay for you to delete).
    """
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write '{path}': the folder '{folder}' does not exist.")
    _remove_dead_temporaries(folder, name)
    f, tmp_path = _locked_temporary(folder, name)
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # renamed while open, so still locked (Windows cannot)
                os.replace(tmp_path, path)
        if fcntl is None:
            os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    try:  # make the rename itself durable, where the platform allows it
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _locked_temporary(folder, name):
    """A new temporary file beside ``folder/name``, open for writing and locked: ``(f, path)``."""
    while True:
        tmp_path = os.path.join(folder, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        f = open(tmp_path, "xb")  # "x": never reuse an existing file
        if fcntl is None:
            return f, tmp_path
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # waits if a cleanup holds it (next line)
        if os.fstat(f.fileno()).st_nlink:
            return f, tmp_path
        f.close()  # another write removed it between open and lock, as a dead one's: again


def _remove_dead_temporaries(folder, name):
    """Remove the temporary files of writes to ``folder/name`` whose process died mid-write:
    those nobody holds a lock on."""
    if fcntl is None:
        return
    pattern = re.compile(re.escape(f".{name}.") + r"[0-9]+\.[0-9a-f]{8}\.tmp")
    for entry in os.listdir(folder):
        if not pattern.fullmatch(entry):
            continue
        tmp_path = os.path.join(folder, entry)
        try:
            fd = os.open(tmp_path, os.O_RDONLY)
        except OSError:  # gone already (renamed or removed by its writer)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.remove(tmp_path)  # under the lock: its writer, if it just opened it, starts again
        except OSError:  # locked: a write in progress; or removed meanwhile
            pass
        finally:
            os.close(fd)

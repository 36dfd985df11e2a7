"""Training trajectories: ``fit`` a model and record what happens at every step.

``record_fit`` works on a scratchnet model or a Keras model alike (both have ``fit`` and callbacks
with ``on_train_batch_end``), so a test calls it twice on the same data and compares.

How per-step losses are recorded. In both libraries the ``logs["loss"]`` handed to
``on_train_batch_end`` is not the loss of that batch: it is the running, sample-weighted mean over
the epoch so far (keras-behaviour.md section 6.2), ``m_b = sum_{i<=b} l_i n_i / S_b`` with
``S_b = n_1 + ... + n_b``. We record ``m_b`` as it is (that is what the progress bar and History
show) and recover the loss of batch ``b`` itself by undoing the mean:

    l_b = (m_b * S_b - m_{b-1} * S_{b-1}) / n_b

The batch sizes ``n_b`` are known because ``shuffle=False`` batches are consecutive slices with the
partial batch last. In float64 this costs a relative error of about ``1e-16 * S_b / n_b``, far
below the trajectory tolerance. Each ``l_b`` is the loss on batch ``b`` in training mode (Dropout
active) before that batch's update.

Example:
    >>> import numpy as np
    >>> import scratchnet
    >>> from keras_impl.architectures import build
    >>> model = build("torres", scratchnet)
    >>> model.compile(optimizer="sgd", loss="categorical_crossentropy")
    >>> x, y = np.zeros((10, 784)), np.eye(10)
    >>> record = record_fit(model, scratchnet, x, y, batch_size=4)
    >>> len(record["step_loss"])
    3
"""

import math

import numpy as np

from .architectures import build
from .setup import COMPILE_KWARGS, keras


def build_keras(name, overrides=None):
    """Keras model for tutorial architecture ``name`` (see ``keras_impl.architectures``)."""
    return build(name, keras, overrides)


def compile_keras(model, **kwargs):
    """``model.compile(**kwargs)`` with the deterministic settings (no XLA)."""
    model.compile(**kwargs, **COMPILE_KWARGS)


def _batch_sizes(n_samples, batch_size):
    return [min(batch_size, n_samples - start) for start in range(0, n_samples, batch_size)]


def record_fit(model, lib, x, y, batch_size, epochs=1, validation_split=0.0, validation_data=None):
    """Fit ``model`` (from ``lib``: scratchnet or keras) without shuffling, recording every step.

    Args:
        model: a compiled model.
        lib: the module the model comes from (its ``callbacks.Callback`` is subclassed).
        x, y: training data.
        batch_size, epochs, validation_split, validation_data: passed to ``fit``.

    Returns:
        dict with
        ``running``: ``{key: [value after each step]}`` from the batch logs (running means);
        ``step_loss``: the loss of each batch itself, derived as in the module docstring;
        ``history``: ``History.history`` (one value per epoch, ``val_`` keys included);
        ``weights``: the weights after training.
    """
    n_train = math.floor(len(x) * (1.0 - validation_split)) if validation_split else len(x)
    sizes = _batch_sizes(n_train, batch_size)
    running, step_loss = {}, []

    class StepRecorder(lib.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for key, value in (logs or {}).items():
                running.setdefault(key, []).append(float(value))
            seen = sum(sizes[: batch + 1])
            mean_now = float(logs["loss"])
            mean_before = running["loss"][-2] if batch > 0 else 0.0
            step_loss.append((mean_now * seen - mean_before * (seen - sizes[batch])) / sizes[batch])

    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        shuffle=False,
        validation_split=validation_split,
        validation_data=validation_data,
        callbacks=[StepRecorder()],
    )
    return {
        "running": running,
        "step_loss": step_loss,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "weights": [np.asarray(w) for w in model.get_weights()],
    }

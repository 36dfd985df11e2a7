"""The callbacks that record and report: ``History``, ``ProgbarLogger``, ``CSVLogger``,
``LambdaCallback`` and ``TerminateOnNaN``, as Keras 3.15 has them."""

import collections
import csv
import math
import os

import numpy as np

from .callback import Callback


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']`` is one float per epoch.

    ``fit`` always adds one (after your callbacks, so it sees what they add to the logs, such
    as ``learning_rate``) and returns it. As in Keras, each epoch's end also sets
    ``model.history`` to it, so after a ``fit`` that a Ctrl-C stopped, ``model.history`` holds
    the completed epochs (``models/interrupts.py``).

    Example:
        >>> import numpy as np
        >>> from scratchnet import Input, layers, models
        >>> model = models.Sequential([Input((2,)), layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=3, verbose=0)
        >>> history.params, list(history.history), history.epoch
        ({'verbose': 0, 'epochs': 3, 'steps': 1}, ['loss'], [0, 1, 2])
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints the progress bar and the logs to stdout (Keras's ``ProgbarLogger``).

    ``fit``, ``evaluate`` and ``predict`` add one when ``verbose != 0``. It reads ``verbose``,
    ``epochs`` and ``steps`` from ``self.params``: verbose=1 redraws the bar after each batch,
    verbose=2 writes one line per epoch. Keras 3.15's constructor takes no argument (its
    docstring still names ``count_mode``, which it no longer accepts): it always counts steps.
    Inside ``fit`` the validation draws no bar of its own.

    Example:
        >>> bar = ProgbarLogger()
        >>> bar.set_params({"verbose": "auto", "epochs": 2, "steps": 10})
        >>> bar.verbose, bar.epochs, bar.target
        (1, 2, 10)
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        verbose = params["verbose"]
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params["epochs"]
        self.target = params["steps"]

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        from ..progbar import Progbar

        if self.progbar is None:
            self.progbar = Progbar(
                self.target, verbose=self.verbose, unit_name="step", stateless_metrics=set()
            )

    def _update_progbar(self, batch, logs=None):
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


class CSVLogger(Callback):
    """Writes each epoch's logs as a row of a CSV file (Keras's ``CSVLogger``).

    The columns are ``epoch`` (0-based, as Keras writes it) then the first epoch's log keys,
    sorted; when that epoch has no ``val_`` key, ``val_`` twins of every key are added (and
    read ``NA``). The rows end in ``\\r\\n`` (the ``csv`` module's default, as in Keras).

    Args:
        filename: the CSV file's path.
        separator: the column separator.
        append: add to an existing file (writing the header only if it is empty) instead of
            overwriting it.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
        >>> logger = CSVLogger(path, separator=";")
        >>> logger.on_train_begin()
        >>> logger.on_epoch_end(0, {"loss": 0.5})
        >>> logger.on_train_end()
        >>> open(path, newline="").read()
        'epoch;loss;val_loss\\r\\n0;0.5;NA\\r\\n'
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                f"CSVLogger: separator must be a one-character string, got {separator!r}."
            )
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode)
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{key}" for key in self.keys])
        if not self.writer:

            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect
            )
            if self.append_header:
                self.writer.writeheader()
        row = collections.OrderedDict({"epoch": epoch})
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    """A log value as Keras's CSVLogger writes it: a list-like as ``"[a, b]"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, collections.abc.Iterable) and not (
        isinstance(value, np.ndarray) and value.ndim == 0
    ):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class LambdaCallback(Callback):
    """A callback made of functions given as arguments (Keras's ``LambdaCallback``).

    Args:
        on_epoch_begin, on_epoch_end: called as ``f(epoch, logs)``.
        on_train_begin, on_train_end: called as ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: called as ``f(batch, logs)``.
        **kwargs: any other hook by name, e.g. ``on_test_end=lambda logs: ...``.

    Example:
        >>> seen = []
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
        >>> cb.on_epoch_end(0, {})
        >>> seen
        [0]
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
        )
        for name, fn in {**kwargs, **hooks}.items():
            if fn is not None and name.startswith("on_") and not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {fn!r}.")
        self.__dict__.update(kwargs)
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stops training when a batch loss is NaN or infinite (Keras's ``TerminateOnNaN``).

    Args:
        raise_error: raise a ``RuntimeError`` instead of setting ``model.stop_training``.

    (scratchnet's ``fit`` already stops on a non-finite loss, before that step's update; this
    callback is for Keras programs that name it.)

    Example:
        >>> cb = TerminateOnNaN(raise_error=True)
        >>> cb.on_batch_end(0, {"loss": 0.5})  # a finite loss: nothing happens
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True

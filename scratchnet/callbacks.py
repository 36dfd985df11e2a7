"""Callbacks: hooks ``fit`` calls at the start and end of training, epochs and batches.

Mirrors ``keras.callbacks``: ``History`` (always attached; ``fit`` returns it), ``EarlyStopping``,
``ModelCheckpoint`` and ``TerminateOnNaN``. Logs are dicts of floats with Keras's keys, sorted
(``accuracy``, ``loss``, ``val_accuracy``, ``val_loss``).
"""

import math
import sys

import numpy as np


class Callback:
    """Base class; override the hooks you need. ``self.model`` is set by fit."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']`` is one float per epoch.

    As in Keras, each epoch's end also sets ``model.history`` to it, so after a ``fit`` that a
    Ctrl-C stopped, ``model.history`` holds the completed epochs (``models/interrupts.py``).
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
        if self.model is not None:
            self.model.history = self


def _mode_is_min(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode == "auto":
        return not ("acc" in monitor or monitor.startswith("fmeasure"))
    return mode == "min"


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving for ``patience`` epochs.

    Args:
        monitor: a log key, e.g. 'val_loss' (default) or 'val_accuracy'.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: 'min', 'max' or 'auto' (max for accuracies, else min).
        restore_best_weights: at the end, put back the weights of the best epoch.
        baseline: the value to beat; start_from_epoch: epochs to wait before monitoring.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.minimize = _mode_is_min(monitor, mode)
        self.min_delta = abs(min_delta) * (-1 if self.minimize else 1)

    def _improved(self, current, reference):
        if reference is None:
            return True
        return (
            current - self.min_delta < reference
            if self.minimize
            else current - self.min_delta > reference
        )

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            print(
                f"EarlyStopping: monitor '{self.monitor}' is not in the logs "
                f"(available: {sorted(logs or {})}); nothing is monitored.",
                file=sys.stderr,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of each epoch, optionally only when it improves.

    Args:
        filepath: path ending in '.keras' (or '.weights.h5' with save_weights_only=True); may use
            format fields such as '{epoch:02d}' and any log key, e.g. '{val_loss:.2f}'.
        monitor, mode: what "best" means, as in EarlyStopping.
        save_best_only: save only when ``monitor`` improves.
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
    ):
        super().__init__()
        filepath = str(filepath)
        if save_weights_only and not filepath.endswith(".weights.h5"):
            raise ValueError(
                f"ModelCheckpoint: with save_weights_only=True the filepath must end in "
                f"'.weights.h5', got {filepath!r}."
            )
        if not save_weights_only and not filepath.endswith(".keras"):
            raise ValueError(
                f"ModelCheckpoint: the filepath must end in '.keras' (or use "
                f"save_weights_only=True with '.weights.h5'), got {filepath!r}."
            )
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported.")
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.minimize = _mode_is_min(monitor, mode)
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                print(
                    f"ModelCheckpoint: can save best model only with '{self.monitor}' available "
                    f"(logs have {sorted(logs)}); skipping.",
                    file=sys.stderr,
                )
                return
            better = self.best is None or (
                current < self.best if self.minimize else current > self.best
            )
            if not better or not np.isfinite(current):
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ProgbarLogger(Callback):
    """Draws the progress bar during fit (attached by fit when verbose > 0).

    Keras's ``ProgbarLogger``: a new bar each epoch, updated after each batch when verbose=1
    (verbose=2 only writes the final line), finalized with the epoch's logs.
    """

    def __init__(self, verbose, epochs, steps):
        super().__init__()
        from .progbar import Progbar

        self._make = lambda: Progbar(steps, verbose=verbose, stateless_metrics=set())
        self.verbose, self.epochs, self.bar = verbose, epochs, None

    def on_epoch_begin(self, epoch, logs=None):
        self.bar = self._make()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose == 1:
            self.bar.update(batch + 1, list((logs or {}).items()), finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.bar.target, list((logs or {}).items()), finalize=True)

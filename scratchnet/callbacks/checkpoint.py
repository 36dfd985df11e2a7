"""Callbacks that write the model to disk: ``ModelCheckpoint`` and ``BackupAndRestore``,
as Keras 3.15 has them (the same file names, the same files: Keras opens them)."""

import json
import os
import shutil
import warnings

import numpy as np

from .callback import Callback
from .monitor import MonitorCallback


def _check_save_freq(save_freq, where):
    if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
        raise ValueError(
            f"{where}: save_freq must be 'epoch' or a positive number of batches, got "
            f"save_freq={save_freq!r}."
        )


class _BatchCounter:
    """Counts training batches across epochs; ``due(batch)`` is true every ``every`` batches.

    Keras's ``_should_save_on_batch``: a batch index not above the last one seen starts a new
    epoch (``batch + 1`` batches more); otherwise the difference is added."""

    def __init__(self, every, last=None):
        self.every, self.last, self.count = every, last, 0

    def due(self, batch):
        if self.last is None or batch <= self.last:
            self.count += batch + 1
        else:
            self.count += batch - self.last
        self.last = batch
        if self.count >= self.every:
            self.count = 0
            return True
        return False


class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) during training (Keras's ``ModelCheckpoint``).

    The file name is ``filepath.format(epoch=epoch + 1, **logs)`` (and ``batch=batch + 1`` when
    saving every few batches), so ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"`` names each epoch's
    file; a field missing from the logs raises a KeyError naming the pattern.

    Args:
        filepath: ending in '.keras', or '.weights.h5' with ``save_weights_only=True``.
        monitor: the log key that says which model is best.
        verbose: 1 prints each save (or why it did not save).
        save_best_only: save only when ``monitor`` improves (on ``initial_value_threshold``
            first, if given); a monitor missing from the logs warns and saves.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: 'min', 'max' or 'auto' (see ``MonitorCallback``).
        save_freq: 'epoch' (at each epoch's end), or an integer: every that many training
            batches (counted across epochs), with the batch's running logs.
        initial_value_threshold: the value the first save must beat (save_best_only).

    Example:
        >>> import numpy as np, os, tempfile
        >>> from scratchnet import Input, layers, models
        >>> model = models.Sequential([Input((2,)), layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> folder = tempfile.mkdtemp()
        >>> ckpt = ModelCheckpoint(os.path.join(folder, "m-{epoch:02d}-{loss:.2f}.weights.h5"),
        ...                        monitor="loss", save_weights_only=True)
        >>> _ = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0,
        ...               callbacks=[ckpt])
        >>> sorted(os.listdir(folder))  # doctest: +ELLIPSIS
        ['m-01-...weights.h5', 'm-02-...weights.h5']
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
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        _check_save_freq(save_freq, "ModelCheckpoint")
        self.save_freq = save_freq
        self._batches = _BatchCounter(save_freq) if save_freq != "epoch" else None
        self._current_epoch = 0
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ValueError(
                "ModelCheckpoint: with `save_weights_only=True` the filepath must end in "
                f"`.weights.h5` (Keras weights format). Received: filepath={self.filepath}"
            )
        if not save_weights_only and not self.filepath.endswith(".keras"):
            raise ValueError(
                "ModelCheckpoint: the filepath must end in `.keras` (Keras model format; the "
                "legacy `.h5` whole-model format is not supported), or use "
                f"save_weights_only=True with `.weights.h5`. Received: filepath={self.filepath}"
            )

    def on_train_batch_end(self, batch, logs=None):
        if self._batches is not None and self._batches.due(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_model(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(
                "Can save best model only when `monitor` is a scalar value. Received: "
                f"{current}. Falling back to `save_best_only=False`.",
                stacklevel=3,
            )
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used is "
                f"an existing directory: {filepath}"
            )
        if self._should_save_model(epoch, logs, filepath):
            dirname = os.path.dirname(filepath)
            if dirname:
                os.makedirs(dirname, exist_ok=True)
            if self.save_weights_only:
                self.model.save_weights(filepath)
            else:
                self.model.save(filepath)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e} is '
                f"not in the logs (they have {sorted(logs)})."
            ) from None


class BackupAndRestore(Callback):
    """Back up the training state, so a ``fit`` that was interrupted resumes where it stopped.

    At each epoch's end (or every ``save_freq`` batches) it writes ``latest.weights.h5`` (the
    weights and the optimizer state) and ``training_metadata.json`` (``{"epoch": epochs done,
    "batch": ...}``) into ``backup_dir``. At the start of the next ``fit`` with the same
    ``backup_dir`` it loads them: the weights and the optimizer state come back and training
    starts at the first epoch not completed (Keras's ``model._initial_epoch``). A ``fit`` that
    ends normally deletes the backup (``delete_checkpoint=True``). Keras's file names and
    formats: Keras can resume from a scratchnet backup and the other way round.

    Args:
        backup_dir: the folder for the backup.
        save_freq: 'epoch', or an integer: also back up every that many batches (the resumed
            ``fit`` still starts at the epoch's beginning, as Keras 3.15 does).
        double_checkpoint: keep the previous backup as ``*.bkp`` too, used if the latest one
            cannot be read.
        delete_checkpoint: delete ``backup_dir`` when training ends normally.

    Example:
        >>> import tempfile
        >>> cb = BackupAndRestore(tempfile.mkdtemp())
        >>> cb.save_freq, cb.delete_checkpoint
        ('epoch', True)
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):  # fmt: skip
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: empty `backup_dir` argument passed.")
        _check_save_freq(save_freq, "BackupAndRestore")
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches = _BatchCounter(save_freq, last=0) if save_freq != "epoch" else None
        self._current_epoch = 0
        self.backup_dir = os.fspath(backup_dir)
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self._prev_training_metadata_path = f"{self._training_metadata_path}.bkp"

    def on_train_begin(self, logs=None):
        try:
            self._load_model()
        except OSError:
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copy(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                shutil.copy(self._prev_training_metadata_path, self._training_metadata_path)
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._load_model()

    def _load_model(self):
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you call "
                f"`fit()`. Model {self.model} is unbuilt. Give it an Input, or call it on a "
                "batch of data first."
            )
        if os.path.exists(self._weights_path):
            self.model.load_weights(self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as f:
                metadata = json.loads(f.read())
            self.model._initial_epoch = metadata["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        if self._batches is not None:
            self._batches.last = 0
        if self.save_freq == "epoch":
            self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        if self._batches is not None and self._batches.due(batch):
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            shutil.copy(self._weights_path, self._prev_weights_path)
        if self.double_checkpoint and os.path.exists(self._training_metadata_path):
            shutil.copy(self._training_metadata_path, self._prev_training_metadata_path)
        self.model.save_weights(self._weights_path)
        last = self._batches.last if self._batches is not None else 0
        with open(self._training_metadata_path, "w") as f:
            f.write(json.dumps({"epoch": self._current_epoch, "batch": last}))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)

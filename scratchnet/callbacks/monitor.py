"""Callbacks that watch a logged quantity or drive the learning rate: ``EarlyStopping``,
``ReduceLROnPlateau``, ``LearningRateScheduler``, as Keras 3.15 has them.

Two details of Keras's arithmetic that change results, measured on the installed Keras:

* "improved" is decided in float32: Keras compares with ``ops.less``/``ops.greater``, which
  turn ``value - min_delta`` and the best value into float32 tensors first.
* The learning rate is a float32 variable in Keras, so every value read back from the
  optimizer (and logged as ``learning_rate``) is float32-rounded; ``ReduceLROnPlateau`` thus
  multiplies the rounded value. Here ``_get_lr`` reads it the same way.
"""

import warnings

import numpy as np

from .. import config
from .callback import Callback

# The metrics whose direction Keras knows (their ``_direction``), by class name.
_UP = {
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Precision", "Recall",
    "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall",
    "RecallAtPrecision", "AUC", "PearsonCorrelation", "ConcordanceCorrelation", "FBetaScore",
    "F1Score", "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "CosineSimilarity",
    "R2Score",
}  # fmt: skip
_DOWN = {
    "Hinge", "SquaredHinge", "CategoricalHinge", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "MeanSquaredError", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError",
    "LogCoshError", "KLDivergence", "Poisson",
}  # fmt: skip


def _metric_direction(metric):
    """'up', 'down' or None, as Keras's ``metric._direction``."""
    for cls in type(metric).__mro__:
        if cls.__name__ in _UP:
            return "up"
        if cls.__name__ in _DOWN:
            return "down"
    fn = getattr(metric, "fn", None)  # a MeanMetricWrapper of a loss function: minimized
    if fn is not None and getattr(fn, "__module__", "").startswith("scratchnet.losses"):
        return "down"
    return None


def _less(a, b):
    return bool(np.float32(a) < np.float32(b))


def _greater(a, b):
    return bool(np.float32(a) > np.float32(b))


def _get_lr(optimizer):
    """The optimizer's learning rate as Keras's float32 variable holds it, as a Python float."""
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    dtype = getattr(optimizer, "dtype", None) or config.floatx()
    return float(np.asarray(optimizer.learning_rate, dtype=dtype))


class MonitorCallback(Callback):
    """Base of the callbacks that watch ``monitor`` in the logs (Keras's ``MonitorCallback``).

    Args:
        monitor: the log key to watch, e.g. 'val_loss'.
        mode: 'min', 'max', or 'auto': minimize 'loss'/'val_loss'; for a metric, its direction
            (up for accuracies, AUC, ...; down for errors and cross-entropies). An unknown
            mode warns and falls back to 'auto'; 'auto' on a name whose direction is unknown
            raises a ValueError at the first epoch's end.
        baseline: the initial "best" value (None: the first value seen).
        min_delta: the smallest change that counts as an improvement.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = _less
        elif self.mode == "max":
            self.monitor_op = _greater
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = _less
            for metric in getattr(self.model, "metrics", None) or []:
                if metric.name == name:
                    direction = _metric_direction(metric)
                    if direction is not None:
                        self.monitor_op = _greater if direction == "up" else _less
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "scratchnet (like Keras) cannot tell whether that metric should be "
                    "maximized or minimized. Pass `mode='max'` in order to monitor based on the "
                    "highest metric value, or pass `mode='min'` in order to use the lowest value."
                )
        if self.monitor_op is _less:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return self.monitor_op(monitor_value - self.min_delta, reference_value)


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has stopped improving (Keras's ``EarlyStopping``).

    At each epoch's end (from ``start_from_epoch`` on) the wait count grows by one; an
    improvement on the best value (by more than ``min_delta``) resets it, unless ``baseline``
    is set and not beaten. When the count reaches ``patience`` (and the epoch is not the first),
    ``model.stop_training`` is set.

    Args:
        monitor: a log key, e.g. 'val_loss' (default) or 'val_accuracy'.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: 'min', 'max' or 'auto' (see ``MonitorCallback``).
        baseline: a value to beat; training stops after ``patience`` epochs that do not.
        restore_best_weights: at the end of training, put back the weights of the best epoch
            (when monitoring began at all).
        start_from_epoch: epochs to wait before monitoring (a warm-up).

    Example:
        >>> import numpy as np
        >>> from scratchnet import Input, layers, models
        >>> model = models.Sequential([Input((20,)), layers.Dense(10)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> stop = EarlyStopping(monitor="loss", min_delta=100, patience=2)  # nothing is enough
        >>> history = model.fit(np.ones((5, 20)), np.zeros((5, 10)), epochs=10,
        ...                     batch_size=1, callbacks=[stop], verbose=0)
        >>> len(history.history["loss"]), stop.stopped_epoch  # the first epoch sets the best
        (3, 2)
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
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
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
                epoch = self.best_epoch + 1
                print(f"Restoring model weights from the end of the best epoch: {epoch}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(list(logs.keys()))}",
                stacklevel=2,
            )
        return value


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving (Keras's).

    Each epoch's end writes the current rate into the logs as ``learning_rate``, then: in
    cooldown, counts the cooldown down and the wait to 0; an improvement (by more than
    ``min_delta``) resets the wait; otherwise the wait grows, and at ``patience`` the rate
    becomes ``max(lr * factor, min_lr)`` (if it is above ``min_lr``) and the cooldown starts.

    Args:
        monitor: the log key to watch.
        factor: the multiplier, below 1.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: 'min', 'max' or 'auto' (see ``MonitorCallback``).
        min_delta: the smallest change that counts as an improvement (default 1e-4).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate's lower bound.

    Example:
        >>> cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
        >>> cb.factor, cb.patience, cb.min_delta
        (0.5, 1, 0.0001)
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **kwargs,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        unknown = set(kwargs) - {"epsilon"}  # (Keras swallows its other keyword arguments)
        if unknown:
            warnings.warn(
                f"ReduceLROnPlateau: ignoring unknown arguments {sorted(unknown)}.", stacklevel=2
            )
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def _reduce_optimizer_lr(self, optimizer, epoch):
        old_lr = _get_lr(optimizer)
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            return True
        return False

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _get_lr(self.model.optimizer)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                if self._reduce_optimizer_lr(self.model.optimizer, epoch):
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)`` (Keras's).

    ``schedule`` gets the 0-based epoch and the current rate (a float) and returns the new
    rate, a float; a one-argument ``schedule(epoch)`` works too. Each epoch's end writes the
    rate into the logs as ``learning_rate`` (so ``History`` records it).

    Args:
        schedule: the function.
        verbose: 1 prints the rate set at each epoch.

    Example:
        >>> import numpy as np
        >>> from scratchnet import Input, layers, models
        >>> model = models.Sequential([Input((2,)), layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
        >>> history = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=3, verbose=0,
        ...                     callbacks=[halve])
        >>> tuple(round(lr, 6) for lr in history.history["learning_rate"])
        (0.01, 0.005, 0.0025)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"LearningRateScheduler: schedule must be a function schedule(epoch, lr) -> "
                f"float, got {schedule!r}."
            )
        self.schedule = schedule
        self.verbose = verbose

    def _update_optimizer_lr(self, optimizer, epoch):
        learning_rate = _get_lr(optimizer)
        try:
            learning_rate = self.schedule(epoch, learning_rate)
        except TypeError:  # the old one-argument form, schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate}"
            )
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        learning_rate = self._update_optimizer_lr(self.model.optimizer, epoch)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _get_lr(self.model.optimizer)

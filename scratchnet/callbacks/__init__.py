"""Callbacks: hooks that ``fit``, ``evaluate`` and ``predict`` call at each stage (Keras's
``keras.callbacks``).

* ``callback.py``: the protocol (``Callback``, its hooks and the logs each gets).
* ``callback_list.py``: ``CallbackList``, which calls a list of callbacks and skips the batch
  hooks nobody overrides.
* ``history.py``: ``History`` (``fit`` returns it), ``ProgbarLogger``, ``CSVLogger``,
  ``LambdaCallback``, ``TerminateOnNaN``.
* ``monitor.py``: ``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``.
* ``checkpoint.py``: ``ModelCheckpoint``, ``BackupAndRestore``.
* ``tensorboard.py``: ``TensorBoard`` (needs ``pip install scratchnet[tensorboard]``).

Logs are dicts of floats with Keras's keys, sorted (``accuracy``, ``loss``, ``val_accuracy``,
``val_loss``).
"""

from .callback import Callback
from .callback_list import CallbackList, configure  # noqa: F401  (fit's, evaluate's)
from .checkpoint import BackupAndRestore, ModelCheckpoint
from .history import CSVLogger, History, LambdaCallback, ProgbarLogger, TerminateOnNaN
from .monitor import EarlyStopping, LearningRateScheduler, MonitorCallback, ReduceLROnPlateau
from .tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]

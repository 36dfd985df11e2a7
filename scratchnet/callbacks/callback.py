"""The callback protocol: ``Callback`` and its hooks (``callback_list.CallbackList`` calls them).

As in Keras 3.15 (keras/src/callbacks/callback.py and callback_list.py), measured on the
installed Keras with a callback that records every call:

* ``fit`` calls ``on_train_begin``, then per epoch ``on_epoch_begin``, per batch
  ``on_train_batch_begin``/``on_train_batch_end``, then (with validation data) the whole
  ``on_test_*`` sequence of ``evaluate`` on fit's own callbacks, then ``on_epoch_end``; last
  ``on_train_end``. ``evaluate(callbacks=...)`` calls the ``on_test_*`` hooks and
  ``predict(callbacks=...)`` the ``on_predict_*`` hooks.
* Every hook gets a dict, never None: ``{}`` for the begin hooks and ``on_predict_end``; the
  running loss and metrics for ``on_train_batch_end`` and ``on_test_batch_end``; the epoch's
  results (``val_`` keys added) for ``on_epoch_end``; the last epoch's for ``on_train_end``;
  the evaluation's for ``on_test_end``; ``{"outputs": batch_predictions}`` for
  ``on_predict_batch_end``. ``CallbackList`` makes each dict anew for each hook call: keys
  sorted, values made Python floats where ``float(value)`` works (Keras's ``pythonify_logs``:
  so a single-number prediction batch reaches ``on_predict_batch_end`` as a float).
  Callbacks called in one hook share that dict: ``LearningRateScheduler`` adds
  ``"learning_rate"`` to the epoch logs, and ``History`` (after the user's callbacks) sees it.
* ``self.params`` is ``{"verbose": ..., "epochs": ..., "steps": ...}``, with ``verbose`` as
  given (``"auto"`` stays ``"auto"``); ``evaluate`` and ``predict`` say ``epochs=1``.
* ``on_batch_begin``/``on_batch_end`` are the old names: the default ``on_train_batch_begin``
  calls ``on_batch_begin`` (and ``..._end`` likewise).
* ``model.stop_training = True`` from any hook ends ``fit`` after the current batch (its epoch
  is still closed with ``on_epoch_end``); ``model.stop_evaluating`` and
  ``model.stop_predicting`` end ``evaluate`` and ``predict`` after the current batch.

Speed: ``CallbackList`` notes once which callbacks override each batch hook (the hooks of
``Callback`` are marked ``_is_default``, as in Keras); a batch hook nobody overrides is not
called at all, and ``fit`` then does not even collect the batch logs.

Example:
    >>> class CountBatches(Callback):
    ...     def on_train_begin(self, logs=None):
    ...         self.count = 0
    ...     def on_train_batch_end(self, batch, logs=None):
    ...         self.count += 1
    >>> from scratchnet.callbacks import CallbackList
    >>> callbacks = CallbackList([CountBatches()], verbose=0, epochs=1, steps=3)
    >>> callbacks.on_train_begin()
    >>> for step in range(3):
    ...     callbacks.on_train_batch_end(step, {"loss": 0.5})
    >>> callbacks.callbacks[0].count, callbacks.callbacks[0].params
    (3, {'verbose': 0, 'epochs': 1, 'steps': 3})
"""


def _default(method):
    """Mark a hook of ``Callback`` as the do-nothing default (Keras's ``utils.default``)."""
    method._is_default = True
    return method


def is_default(method):
    """Whether ``method`` is a hook a subclass left as ``Callback``'s default."""
    return getattr(method, "_is_default", False)


def pythonify_logs(logs):
    """A new dict of ``logs``: keys sorted, nested dicts flattened, values as Python floats
    where ``float(value)`` works (arrays of more than one number stay arrays). Keras's rule."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class Callback:
    """Base class of callbacks: override the hooks you need.

    ``fit``, ``evaluate`` and ``predict`` call the hooks (see the module docstring for when and
    with which logs). ``self.model`` is the model being trained, ``self.params`` fit's
    ``{"verbose", "epochs", "steps"}``.

    Example:
        >>> import numpy as np
        >>> from scratchnet import Input, layers, models
        >>> class Stop(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         if logs["loss"] < 10:
        ...             self.model.stop_training = True
        >>> model = models.Sequential([Input((1,)), layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=5, verbose=0,
        ...                     callbacks=[Stop()])
        >>> len(history.epoch)
        1
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    @_default
    def on_batch_begin(self, batch, logs=None):
        """The old name of ``on_train_batch_begin`` (which calls it)."""

    @_default
    def on_batch_end(self, batch, logs=None):
        """The old name of ``on_train_batch_end`` (which calls it)."""

    @_default
    def on_epoch_begin(self, epoch, logs=None):
        """At the start of epoch ``epoch`` (0-based) of ``fit``; ``logs`` is ``{}``."""

    @_default
    def on_epoch_end(self, epoch, logs=None):
        """At the end of an epoch: ``logs`` has the epoch's loss and metrics, and their
        ``val_`` twins when ``fit`` validates."""

    @_default
    def on_train_batch_begin(self, batch, logs=None):
        """Before training batch ``batch`` (0-based within the epoch); ``logs`` is ``{}``."""
        self.on_batch_begin(batch, logs=logs)

    @_default
    def on_train_batch_end(self, batch, logs=None):
        """After a training batch: ``logs`` has the running loss and metrics of the epoch."""
        self.on_batch_end(batch, logs=logs)

    @_default
    def on_test_batch_begin(self, batch, logs=None):
        """Before a batch of ``evaluate`` (or of fit's validation); ``logs`` is ``{}``."""

    @_default
    def on_test_batch_end(self, batch, logs=None):
        """After a batch of ``evaluate``: ``logs`` has the running loss and metrics."""

    @_default
    def on_predict_batch_begin(self, batch, logs=None):
        """Before a batch of ``predict``; ``logs`` is ``{}``."""

    @_default
    def on_predict_batch_end(self, batch, logs=None):
        """After a batch of ``predict``: ``logs`` is ``{"outputs": the batch's predictions}``."""

    @_default
    def on_train_begin(self, logs=None):
        """At the start of ``fit``; ``logs`` is ``{}``."""

    @_default
    def on_train_end(self, logs=None):
        """At the end of ``fit``: ``logs`` is the last epoch's logs (``{}`` if none ran)."""

    @_default
    def on_test_begin(self, logs=None):
        """At the start of ``evaluate`` or of fit's validation; ``logs`` is ``{}``."""

    @_default
    def on_test_end(self, logs=None):
        """At the end of ``evaluate``: ``logs`` has the final loss and metrics."""

    @_default
    def on_predict_begin(self, logs=None):
        """At the start of ``predict``; ``logs`` is ``{}``."""

    @_default
    def on_predict_end(self, logs=None):
        """At the end of ``predict``; ``logs`` is ``{}``."""

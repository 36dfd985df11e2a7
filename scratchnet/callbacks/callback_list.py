"""``CallbackList``: calls a list of callbacks at once, and skips the batch hooks nobody overrides
(Keras's keras/src/callbacks/callback_list.py); ``configure`` makes fit's, evaluate's and
predict's."""

from .callback import Callback, is_default, pythonify_logs
from .history import History, ProgbarLogger

# Each batch hook, and the old name its default calls (a callback overriding either is called).
_BATCH_HOOKS = {
    "on_train_batch_begin": "on_batch_begin",
    "on_train_batch_end": "on_batch_end",
    "on_test_batch_begin": None,
    "on_test_batch_end": None,
    "on_predict_batch_begin": None,
    "on_predict_batch_end": None,
}


class CallbackList(Callback):
    """Calls a list of callbacks at once: ``callback_list.on_epoch_end(epoch, logs)``.

    Args:
        callbacks: a list of ``Callback`` instances.
        add_history: append a ``History`` unless the list has one (``fit`` does).
        add_progbar: append a ``ProgbarLogger`` unless the list has one (``verbose != 0``).
        model: the model the callbacks get with ``set_model``.
        **params: handed to each callback with ``set_params`` (``verbose``, ``epochs``,
            ``steps``).

    ``has_train_batch_hooks`` (and ``has_test_...``, ``has_predict_...``) say whether any
    callback overrides a batch hook of that kind; the loops skip the batch hooks when none does.

    Example:
        >>> callbacks = CallbackList([], add_history=True, verbose=0, epochs=2, steps=1)
        >>> [type(cb).__name__ for cb in callbacks.callbacks], callbacks.has_train_batch_hooks
        (['History'], False)
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks) if callbacks else []
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks: every entry must be a scratchnet.callbacks.Callback instance, "
                    f"got {cb!r} ({type(cb).__name__}). Subclass Callback, or wrap functions in "
                    "callbacks.LambdaCallback."
                )
        self._add_default_callbacks(add_history, add_progbar)
        self.set_model(model)
        self.set_params(params)
        self._note_batch_hooks()

    def _add_default_callbacks(self, add_history, add_progbar):
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    def _note_batch_hooks(self):
        """For each batch hook, the callbacks that override it (or its old name)."""
        self._batch = {}
        for hook, alias in _BATCH_HOOKS.items():
            self._batch[hook] = [
                cb
                for cb in self.callbacks
                if not is_default(getattr(cb, hook))
                or (alias is not None and not is_default(getattr(cb, alias)))
            ]
        self.has_train_batch_hooks = bool(
            self._batch["on_train_batch_begin"] or self._batch["on_train_batch_end"]
        )
        self.has_test_batch_hooks = bool(
            self._batch["on_test_batch_begin"] or self._batch["on_test_batch_end"]
        )
        self.has_predict_batch_hooks = bool(
            self._batch["on_predict_batch_begin"] or self._batch["on_predict_batch_end"]
        )

    def set_params(self, params):
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _call(self, hook, *args):
        logs = pythonify_logs(args[-1])
        for cb in self.callbacks:
            getattr(cb, hook)(*args[:-1], logs)

    def _call_batch(self, hook, batch, logs):
        callbacks = self._batch[hook]
        if callbacks:
            logs = pythonify_logs(logs)
            for cb in callbacks:
                getattr(cb, hook)(batch, logs=logs)

    def on_batch_begin(self, batch, logs=None):
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_batch("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._note_batch_hooks()  # (the list may have changed since it was made)
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_test_begin(self, logs=None):
        self._note_batch_hooks()
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._note_batch_hooks()
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)


def configure(callbacks, model, verbose, epochs, steps, add_history=False):
    """The ``CallbackList`` of ``fit`` (``add_history``), ``evaluate`` or ``predict``, as Keras
    makes it: the user's callbacks, then a ``History`` (fit), then a ``ProgbarLogger`` unless
    ``verbose == 0``. A ``CallbackList`` given (fit's, for its validation) is used as it is."""
    if isinstance(callbacks, CallbackList):
        return callbacks
    return CallbackList(
        callbacks, add_history=add_history, add_progbar=verbose != 0, model=model,
        verbose=verbose, epochs=epochs, steps=steps,
    )  # fmt: skip

"""Training and inference on one model from two threads: a clear error, never a mixed answer.

Inference is safe from many threads at once: it keeps nothing on the layers
(``scratchnet.layers.base``, "Threads"). Training is not something two threads can share: a
training step changes the weights in place, and keeps what its backward pass needs on the layers.
So while one thread trains a model (``fit``, ``train_on_batch``), every other thread's call of
that model (``predict``, ``evaluate``, ``model(x)``, ``test_on_batch``, a second ``fit``) raises
a RuntimeError that says so, and a ``predict`` that was already running when the training began
raises when it ends, rather than return numbers made partly from the old weights and partly from
the new. The thread that trains may call the model itself (fit's validation, a callback).

To serve predictions while training, train a copy (``models.load_model`` of the saved file, or
a second model given ``set_weights(model.get_weights())``) and copy the weights over between
requests.

The guard is the model's: a layer shared by two models, one training and one predicting, is not
covered, nor is ``layer(x)`` called directly while its model trains.
"""

import threading


class TrainingGuard:
    """Which thread trains a model, and a count of training runs, so inference can tell.

    ``training(model, what)`` wraps a training call; ``inference_ticket(model, what)`` before
    and ``check_ticket(model, what, ticket)`` after an inference call raise if another thread
    trained the model in between. The two checks cost two attribute reads each: the one-thread
    path stays as fast as before.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.thread = None  # the id of the thread training the model, if one is
        self.depth = 0  # nested training calls on that thread (fit inside a callback, ...)
        self.runs = 0  # +1 each time a training call starts: an inference call compares
        self.metrics_lock = threading.Lock()  # one evaluate at a time with a user's Metric

    def __deepcopy__(self, memo):  # a copy of a model (gradcheck's twin) is not being trained
        return TrainingGuard()

    def training(self, model, what):
        """A context manager around a training call: raises if another thread is training."""
        return _Training(self, model, what)

    def inference_ticket(self, model, what):
        """Before an inference call: raise if another thread trains; returns a ticket."""
        runs = self.runs  # read first: a training call sets its thread before counting its run
        thread = self.thread
        if thread is not None and thread != threading.get_ident():
            raise RuntimeError(
                f"Model '{model.name}' is being trained in another thread (fit or "
                f"train_on_batch), so {what} cannot run on it now: a training step changes the "
                f"weights in place. Call {what} after fit returns, or on a copy of the model "
                "(see scratchnet.models.guard)."
            )
        return runs

    def check_ticket(self, model, what, ticket):
        """After an inference call: raise if a training call started in another thread since."""
        if self.runs != ticket:
            raise RuntimeError(
                f"Model '{model.name}' was trained in another thread while {what} ran, so its "
                "answer would mix the weights before and after a training step; it is not "
                f"returned. Call {what} after fit returns, or on a copy of the model (see "
                "scratchnet.models.guard)."
            )


class _Training:
    def __init__(self, guard, model, what):
        self.guard, self.model, self.what = guard, model, what

    def __enter__(self):
        guard, me = self.guard, threading.get_ident()
        with guard._lock:
            if guard.thread is not None and guard.thread != me:
                raise RuntimeError(
                    f"Model '{self.model.name}' is being trained in another thread, so "
                    f"{self.what} cannot train it too: two threads would update the same weights "
                    "and overwrite each other's training caches. Train one model per thread."
                )
            guard.thread = me  # first the thread, then the count (see inference_ticket)
            guard.depth += 1
            guard.runs += 1
        return self

    def __exit__(self, *exc):
        guard = self.guard
        with guard._lock:
            guard.depth -= 1
            if guard.depth == 0:
                guard.thread = None
        return False

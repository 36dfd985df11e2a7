"""``evaluate`` and ``predict`` (``Model`` inherits them): batches of data in inference mode.

Both take the data as ``fit`` does (``data.py``): one array, or a list or dict of arrays for a
model with several inputs or outputs. They keep nothing on the layers, so threads may run them
on one model at once (``scratchnet.layers.base``, "Threads"); ``guard.py`` stops them while
another thread trains the model.
"""

import contextlib

import numpy as np

from .. import callbacks as callbacks_module
from .. import config
from .. import metrics as metrics_module
from . import data
from .checks import check_batch_size
from .compiled import OutputTrackers


class Inference:
    """``evaluate`` and ``predict`` for ``Model``."""

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """Loss and metrics over (x, y) in inference mode: ``[loss, accuracy]`` (or a dict).

        ``sample_weight`` weighs each sample's loss; ``steps`` evaluates only that many batches.
        Each call keeps its own running mean of the loss (``metrics.Trackers``); the metrics
        keep their state in themselves, so threads evaluating one model at once take turns.
        ``callbacks`` get the ``on_test_*`` hooks (``model.stop_evaluating`` ends it early).
        """
        self._require_compiled("evaluate")
        verbose = verbose if verbose == "auto" else int(verbose)  # (callbacks' params keep "auto")
        batches, n_inputs = self._batches(x, y, sample_weight, batch_size, steps, "evaluate")
        logs = self._evaluate_batches(batches, n_inputs, verbose, callbacks)
        return self._results(logs, return_dict)

    def _batches(self, x, y, sample_weight, batch_size, steps, where):
        """``(batches, n_inputs)`` of evaluation data: arrays (``_prepare``), or a generator or
        PyDataset whose batches carry their labels and weights (``data.StreamBatches``)."""
        if data.is_stream(x):
            if y is not None or sample_weight is not None:
                raise ValueError(
                    f"{where}: x is a generator or PyDataset, whose batches carry the labels and "
                    "sample weights; y and sample_weight must be None."
                )
            stream = data.StreamBatches(self, x, False, steps, None, where)
            return stream, len(data.input_names(self))
        columns, n, n_inputs = self._prepare(x, y, sample_weight, None, where)
        batch_size = check_batch_size(batch_size, where, n, steps)
        return data.Batches(columns, n, batch_size, steps_per_epoch=steps), n_inputs

    def _evaluate_batches(self, batches, n_inputs, verbose, callbacks=None):
        """evaluate's loop over ``batches`` (``_batches``); the logs. ``callbacks``: a list, or
        fit's ``CallbackList`` (its validation: the same callbacks get the ``on_test_*`` hooks)."""
        batches._pass = None  # each evaluation starts anew (Keras resets its iterator)
        callbacks = callbacks_module.configure(callbacks, self, verbose, 1, batches.steps)
        stateful = bool(self.metrics)  # every metric keeps its own state: take turns
        ticket = self._guard.inference_ticket(self, "evaluate")
        self.stop_evaluating = False
        callbacks.on_test_begin()
        batch_hooks = callbacks.has_test_batch_hooks
        with self._guard.metrics_lock if stateful else contextlib.nullcontext():
            if n_inputs is None:
                trackers = metrics_module.Trackers(self.metrics, config.floatx())
            else:
                trackers = OutputTrackers(self._compiled, config.floatx())
            for step, batch in enumerate(batches.epoch()):
                if batch_hooks:
                    callbacks.on_test_batch_begin(step)
                if n_inputs is None:
                    self._test_step(*batch, trackers)
                else:
                    self._general_test_step(trackers, *batch, n_inputs=n_inputs)
                if batch_hooks:
                    callbacks.on_test_batch_end(step, trackers.logs())
                if self.stop_evaluating:
                    break
            logs = trackers.logs()
        self._guard.check_ticket(self, "evaluate", ticket)
        callbacks.on_test_end(logs)
        self._trackers = trackers  # test_on_batch goes on from here, as after Keras's evaluate
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for every sample of ``x``, in batches, in inference mode (from many threads
        at once if need be: see ``scratchnet.layers.base``, "Threads"). A model with several
        outputs gives a list of arrays, one per output (as Keras); ``steps``: only that many
        batches. ``callbacks`` get the ``on_predict_*`` hooks (``model.stop_predicting`` ends
        it early)."""
        verbose = verbose if verbose == "auto" else int(verbose)  # (callbacks' params keep "auto")
        n_in = len(data.input_names(self))
        if data.is_stream(x):  # the inputs of each batch (its labels, if any, are left out)
            batches = data.StreamBatches(self, x, False, steps, None, "predict")
        else:
            xs = data.flatten_x(self, x, "predict")
            named = [(f"x[{k!r}]" if k else "x", a) for k, a in zip(data.input_names(self), xs)]
            n = data.count_samples(self, named, "predict")
            batch_size = check_batch_size(batch_size, "predict", n, steps)
            batches = data.Batches(xs, n, batch_size, steps_per_epoch=steps)
        callbacks = callbacks_module.configure(callbacks, self, verbose, 1, batches.steps)
        ticket = self._guard.inference_ticket(self, "predict")
        self.stop_predicting = False
        callbacks.on_predict_begin()
        batch_hooks = callbacks.has_predict_batch_hooks
        outputs = []
        for step, batch in enumerate(batches.epoch()):
            if batch_hooks:
                callbacks.on_predict_batch_begin(step)
            y = self(batch[0] if n_in == 1 else batch[:n_in], training=False)
            outputs.append(y if isinstance(y, list) else [y])
            if batch_hooks:
                callbacks.on_predict_batch_end(step, {"outputs": y})
            if self.stop_predicting:
                break
        self._guard.check_ticket(self, "predict", ticket)  # (fit between two batches)
        callbacks.on_predict_end()
        joined = [o[0] if len(outputs) == 1 else np.concatenate(o) for o in zip(*outputs)]
        return joined[0] if len(joined) == 1 else joined

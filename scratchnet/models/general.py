"""The general training and test steps: several inputs and outputs, per-output losses and
metrics, sample and class weights (``Model`` inherits them).

``fit``'s default case (one input, one output, one loss, no weights) keeps its own step,
``Model._train_step``: the five tutorials run it, and its numbers and speed are pinned. Every
other case comes here, with the data made into flat lists first (``data.py``): ``xs`` one
array per input, ``ys`` one per output (None: no labels), ``sws`` one weight array per output
or None. The loss of each output, its weight and its gradient seed come from
``compiled.CompiledOutputs``; backprop starts from every output at once (``Tape.backward``
with a list).
"""

import math
import warnings

import numpy as np

from .. import config, constraints
from ..kernels import process
from ..losses import ActivationWithLoss
from . import data
from .checks import as_array, check_batch_size


class GeneralSteps:
    """What ``Model`` runs for multi-input/multi-output data and weighted losses, and the
    one-batch calls ``train_on_batch`` and ``test_on_batch``."""

    def _check_xy(self, x, y, where):
        x = as_array(x, "x", where)
        y = as_array(y, "y", where)
        if len(x) != len(y):
            raise ValueError(
                f"{where}: x has {len(x)} samples but y has {len(y)}; they must match one to one."
            )
        return x, y

    def _prepare(self, x, y, sample_weight, class_weight, where):
        """``(columns, n, step)``: the data as flat columns, its sample count, and the step that
        takes one batch of them: the default ``_train_step(x, y)`` for one input, one output
        and no weights, else the general one (``general.py``), flagged by ``step.general``."""
        if not self._needs_general(x, y, sample_weight, class_weight):
            x, y = self._check_xy(x, y, where)
            return [x, y], len(x), None
        columns, n_inputs, n = self._flat_data(x, y, sample_weight, class_weight, where)
        return columns, n, n_inputs

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns its [loss, metrics...] (or a dict).

        As in Keras 3.15, each call starts from reset metrics: the numbers are this batch's.
        """
        self._require_compiled("train_on_batch")
        columns, _, n_inputs = self._prepare(x, y, sample_weight, class_weight, "train_on_batch")
        self._use_trackers(n_inputs is not None)
        with self._guard.training(self, "train_on_batch"):
            if n_inputs is None:
                loss_value = self._train_step(*columns)
            else:
                loss_value = self._general_train_step(*columns, n_inputs=n_inputs)
        if not math.isfinite(float(loss_value)):
            raise FloatingPointError(
                f"train_on_batch: the loss is {float(loss_value)}; the weights were not updated. "
                "Lower the learning rate or scale the inputs (e.g. x / 255)."
            )
        return self._results(self._logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics of one batch in inference mode (metrics reset first, as Keras)."""
        self._require_compiled("test_on_batch")
        columns, _, n_inputs = self._prepare(x, y, sample_weight, None, "test_on_batch")
        self._use_trackers(n_inputs is not None)
        ticket = self._guard.inference_ticket(self, "test_on_batch")
        if n_inputs is None:
            self._test_step(*columns, self._trackers)
        else:
            self._general_test_step(self._trackers, *columns, n_inputs=n_inputs)
        self._guard.check_ticket(self, "test_on_batch", ticket)
        return self._results(self._logs(), return_dict)

    def _needs_general(self, x, y, sample_weight=None, class_weight=None):
        """Whether this data takes the general step rather than the default one."""
        return (
            self._general
            or sample_weight is not None
            or class_weight is not None
            or isinstance(x, dict)
            or isinstance(y, dict)
        )

    def _flat_data(self, x, y, sample_weight, class_weight, where):
        """``(columns, n_inputs, n)``: the inputs, labels and weights as one flat list of
        arrays (None where absent), checked for one row per sample."""
        xs = data.flatten_x(self, x, where)
        ys = data.flatten_y(self, y, where)
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(
                    f"{where}: you cannot give class_weight and sample_weight at the same time."
                )
            if len(ys) != 1:
                raise ValueError(
                    f"{where}: class_weight is only supported for models with a single output "
                    f"(model '{self.name}' has {len(ys)}); pass sample_weight per output."
                )
            sample_weight = data.class_weight_to_sample_weight(ys[0], class_weight, config.floatx())
        sws = data.flatten_sample_weight(self, sample_weight, ys, where)
        names = data.input_names(self)
        outs = data.output_names(self)
        named = [(f"x[{n!r}]" if n else "x", a) for n, a in zip(names, xs)]
        named += [(f"y[{n!r}]", a) for n, a in zip(outs, ys)]
        named += [(f"sample_weight[{n!r}]", a) for n, a in zip(outs, sws or [])]
        n = data.count_samples(self, named, where)
        columns = xs + ys + (sws if sws is not None else [None] * len(ys))
        return columns, len(xs), n

    def _split_columns(self, columns, n_inputs):
        n_out = (len(columns) - n_inputs) // 2
        xs = columns[:n_inputs]
        ys = columns[n_inputs : n_inputs + n_out]
        sws = columns[n_inputs + n_out :]
        return xs, ys, (None if all(s is None for s in sws) else sws)

    def _use_trackers(self, general):
        """Fresh trackers of the kind the step updates: Keras 3.15's ``train_on_batch`` and
        ``test_on_batch`` reset the metrics at each call (measured)."""
        self._general_now = general
        self.reset_metrics()

    def _general_loss(self, recording, ys, preds, sws, logits=None, gradient=True):
        """The batch's total loss (added losses included), its per-output losses, and the
        backward seeds."""
        dtype = np.dtype(config.floatx())
        total, per_loss, seeds, flags = self._compiled.losses(
            recording, ys, preds, sws, dtype, self._fusable, logits, gradient
        )
        added = self.losses
        if total is None and not added:
            raise ValueError(
                f"Model '{self.name}': no loss to compute. Provide a `loss` argument in "
                "`compile()`, or add one in a layer with add_loss."
            )
        if gradient and added:  # every output reached, so each layer adds its loss's gradient
            seeds = [np.zeros_like(p) if s is None else s for s, p in zip(seeds, preds)]
        total = self._plus_added_losses(dtype.type(0) if total is None else total)
        return total, per_loss, seeds, flags

    def _general_train_step(self, *columns, n_inputs):
        """Forward, every output's loss, one backward from all outputs, update."""
        xs, ys, sws = self._split_columns(list(columns), n_inputs)
        with process.one_thread_blas():
            y_pred = self.forward(xs[0] if len(xs) == 1 else xs, training=True)
            preds = y_pred if isinstance(y_pred, list) else [y_pred]
            total, per_loss, seeds, flags = self._general_loss(self._tape, ys, preds, sws)
            if math.isfinite(float(total)):
                if len(preds) == 1:
                    if seeds[0] is not None:
                        self._tape.backward(preds[0], seeds[0], from_logits=flags[0])
                elif any(s is not None for s in seeds):
                    self._tape.backward(preds, seeds, from_logits=flags)
                slots = self._trainable_slots()
                # a weight that no loss reaches (an output without a loss) has no gradient:
                # the optimizer leaves it out of the step, as Keras does (with its warning)
                grads = [o.grads.get(k, None) for o, k, _ in slots]
                missing = [f"{o.name}/{k}" for g, (o, k, _) in zip(grads, slots) if g is None]
                if missing:
                    warnings.warn(
                        f"Gradients do not exist for variables {missing} when minimizing the "
                        "loss. If using `model.compile()`, did you forget to provide a `loss` "
                        "argument?",
                        stacklevel=2,
                    )
                if self.optimizer.loss_scale_factor is not None:
                    factor = self.optimizer.loss_scale_factor
                    grads = [None if g is None else g * factor for g in grads]
                self.optimizer.apply(grads, [w for _, _, w in slots])
                if self.__dict__["_constrained"]:  # (only the weights that were updated)
                    updated = [s for g, s in zip(grads, slots) if g is not None]
                    constraints.apply_to(o.variables_by_key[k] for o, k, _ in updated)
        self._trackers.update(ys, preds, total, per_loss, len(xs[0]))
        self._tape = None
        return total

    def _general_test_step(self, trackers, *columns, n_inputs):
        """Every output's loss and metrics of one batch in inference mode."""
        xs, ys, sws = self._split_columns(list(columns), n_inputs)
        with process.one_thread_blas(), ActivationWithLoss.collect() as logits:
            recording, y_pred = self._record(xs[0] if len(xs) == 1 else xs, training=False)
        preds = y_pred if isinstance(y_pred, list) else [y_pred]
        total, per_loss, _, _ = self._general_loss(
            recording, ys, preds, sws, logits, gradient=False
        )
        trackers.update(ys, preds, total, per_loss, len(xs[0]))

    def _fit_arrays(
        self, x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch,
        validation_split,
    ):  # fmt: skip
        """fit's array data: ``(train batches, n_inputs, (validation columns, count, n_inputs)
        or None, batch size)``, the validation part split off the end (as Keras)."""
        columns, n, n_inputs = self._prepare(x, y, sample_weight, class_weight, "fit")
        validation = None
        if validation_split:
            split_at = int(n * (1 - validation_split))
            if split_at == 0:
                raise ValueError(
                    f"fit: validation_split={validation_split} leaves no training samples out of "
                    f"{n}."
                )
            val = [None if c is None else c[split_at:] for c in columns]
            if class_weight is not None:  # Keras weighs the classes of the training part only
                n_out = (len(val) - n_inputs) // 2
                val[len(val) - n_out :] = [None] * n_out
            columns = [None if c is None else c[:split_at] for c in columns]
            validation, n = (val, n - split_at, n_inputs), split_at
        batch_size = check_batch_size(batch_size, "fit", n, steps_per_epoch)
        train = data.Batches(columns, n, batch_size, shuffle, steps_per_epoch)
        return train, n_inputs, validation, batch_size

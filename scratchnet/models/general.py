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

import numpy as np

from .. import config, constraints
from ..kernels import process
from ..losses import ActivationWithLoss
from . import data
from .compiled import OutputTrackers


class GeneralSteps:
    """What ``Model`` runs for multi-input/multi-output data and weighted losses."""

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
        """Make ``self._trackers`` the kind the step updates, keeping the loss mean so far
        (train_on_batch's running means go on across calls, as in Keras)."""
        if general == isinstance(self._trackers, OutputTrackers):
            return
        loss = self._trackers.loss if self._trackers is not None else None
        self._general_now = general
        self.reset_metrics()
        if loss is not None:
            self._trackers.loss = loss

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
                grads = [o.grads[k] for o, k, _ in slots]
                if self.optimizer.loss_scale_factor is not None:
                    grads = [g * self.optimizer.loss_scale_factor for g in grads]
                self.optimizer.apply(grads, [w for _, _, w in slots])
                if self.__dict__["_constrained"]:
                    constraints.apply_to(o.variables_by_key[k] for o, k, _ in slots)
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

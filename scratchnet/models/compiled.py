"""``compile``'s losses, loss weights and metrics, one set per model output (Keras's
``trainers/compile_utils.py``), and the numbers ``fit`` reports for them.

The rules, read from Keras 3.15's ``CompileLoss`` and ``CompileMetrics`` and measured:

* ``loss``: one loss (applied to every output), a list with one entry per output, or a dict
  keyed by every output name; an entry may be None (that output has no loss, and needs no
  labels). ``loss_weights``: a float (one output), a list, or a dict keyed by output names.
* the total loss is ``sum_k w_k * L_k`` (each ``L_k`` reduced with that output's sample
  weights), plus the layers' ``add_loss`` losses;
* with more than one loss, each output's *unweighted* loss is logged as ``"<output>_loss"``,
  a running mean over the batches. Measured on Keras 3.15 (TensorFlow): each batch counts
  once, a partial last batch as much as a full one, unlike the total ``"loss"``, whose mean
  weighs each batch by its size (Keras passes the batch size as the sample weight of a scalar,
  which the TensorFlow graph's unknown batch dimension turns into a count of 1);
* ``metrics``: with one output, a list applied to it, logged by the metric's name; with
  several, a list with one entry per output (None, a metric or a list of them) or a dict keyed
  by output names (outputs left out get none), logged as ``"<output>_<metric>"`` (a repeated
  name gets ``_1``, ``_2``...). Metrics get no sample weights (Keras's ``weighted_metrics``
  do: not supported here);
* ``evaluate`` and ``train_on_batch`` give a list ordered as Keras's
  ``_flatten_metrics_in_order``: the loss, each output's loss, then the remaining keys sorted.
"""

from .. import metrics as metrics_module
from ..losses import ActivationWithLoss
from ..losses import get as get_loss
from ..metrics.base import RunningMean, _log_value
from ..ops.core import convert_to_tensor


def _per_output(value, names, what, model):
    """``value`` as one entry per output: a list of the outputs' count or a dict keyed by
    their names (keys left out: None)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"compile: model '{model.name}' has outputs {names}, but {what} has the unknown "
                f"key(s) {unknown}. Key it by the outputs' names."
            )
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"compile: model '{model.name}' has {len(names)} output(s) {names}, but {what} "
                f"is a list of {len(value)}. Give one entry per output (None for an output "
                "without one), or a dict keyed by the outputs' names."
            )
        return list(value)
    return None


class OutputSpec:
    """One output's loss (or None), loss weight (or None) and metrics, with its name."""

    def __init__(self, name, loss, weight, metrics):
        self.name, self.loss, self.weight, self.metrics = name, loss, weight, metrics


class CompiledOutputs:
    """The per-output losses and metrics of ``compile`` for the general training step.

    Args:
        model: the model (for its output names and in messages).
        names: the outputs' names, in ``model.outputs`` order.
        loss, loss_weights, metrics: as given to ``compile``.
    """

    def __init__(self, model, names, loss, loss_weights, metrics):
        self.names = names
        n = len(names)
        if isinstance(loss, dict) and set(loss) != set(names):
            raise ValueError(
                f"compile: model '{model.name}' expects the keys {names} in the loss dict, but "
                f"found loss.keys()={list(loss)} (use None for an output without a loss)."
            )
        losses = _per_output(loss, names, "loss", model)
        if losses is None:  # one loss for every output, as Keras maps it over them
            losses = [loss] * n
        weights = [None] * n
        if loss_weights is not None:
            if isinstance(loss_weights, (int, float)) and n == 1:
                weights = [float(loss_weights)]
            else:
                weights = _per_output(loss_weights, names, "loss_weights", model)
                if weights is None:
                    raise ValueError(
                        f"compile: model '{model.name}' has {n} outputs {names}; loss_weights "
                        f"must be a list or dict of one weight per output, got {loss_weights!r}."
                    )
        if n == 1:
            flat = metrics if isinstance(metrics, (list, tuple)) else [metrics]
            per_metrics = [[m for m in flat if m is not None]] if metrics else [[]]
        elif not metrics:
            per_metrics = [[] for _ in names]
        else:
            per_metrics = _per_output(metrics, names, "metrics", model)
            if per_metrics is None:
                raise ValueError(
                    f"compile: model '{model.name}' has {n} outputs {names}; metrics must be a "
                    f"list with one entry per output or a dict keyed by their names, got "
                    f"{metrics!r}."
                )
            per_metrics = [[] if m is None else m if isinstance(m, (list, tuple)) else [m]
                           for m in per_metrics]  # fmt: skip
        self.outputs = [
            OutputSpec(
                name,
                None if lo is None else get_loss(lo),
                w,
                [metrics_module.get(m) for m in ms],
            )
            for name, lo, w, ms in zip(names, losses, weights, per_metrics)
        ]
        self.n_losses = sum(o.loss is not None for o in self.outputs)
        self.metrics = [m for o in self.outputs for m in o.metrics]
        self._log_names = self._metric_log_names()

    def _metric_log_names(self):
        """Each metric's key in the logs: its name, prefixed by the output's with several
        outputs, numbered when repeated (Keras's ``CompileMetrics.result``)."""
        names, seen = [], {}
        for o in self.outputs:
            for m in o.metrics:
                name = m.name if len(self.outputs) == 1 else f"{o.name}_{m.name}"
                if name in seen:
                    seen[name] += 1
                    name = f"{name}_{seen[name] - 1}"
                else:
                    seen[name] = 1
                names.append(name)
        return names

    def loss_names(self):
        """The per-output loss keys (only with more than one loss)."""
        if self.n_losses <= 1:
            return []
        return [f"{o.name}_loss" for o in self.outputs if o.loss is not None]

    def order(self, logs):
        """Keras's ``_flatten_metrics_in_order``: the values of ``logs`` as a list."""
        known = ["loss"] + [m.name for m in self.metrics] + self.loss_names()
        values = [logs[k] for k in known if k in logs]
        values += [logs[k] for k in sorted(logs) if k not in known]
        return values[0] if len(values) == 1 else values

    # -- the loss of one batch ---------------------------------------------------------------

    def losses(self, recording, ys, preds, sws, dtype, fusable, logits=None, gradient=True):
        """``(total, per-output losses, seeds, from_logits flags)`` of one batch.

        ``seeds[k]`` is dL/d(output k) (or dL/dz of its layer's logits where the flag is set,
        softmax or sigmoid fused with its cross-entropy), already times the output's loss
        weight; None for an output without a loss. ``logits`` is a test step's ``collect``
        dict (training reads the layers' own). With ``gradient=False`` no seeds are made.
        """
        total, per_loss, seeds, flags = None, [], [], []
        for k, out in enumerate(self.outputs):
            if out.loss is None:
                seeds.append(None)
                flags.append(False)
                continue
            y, p = ys[k], preds[k]
            if y is None:
                raise ValueError(
                    f"The output '{out.name}' has the loss {out.loss.name!r} but no labels "
                    "were given for it: pass them in y (a list in output order or a dict keyed "
                    "by output names)."
                )
            sw = None if sws is None else sws[k]
            fused = None
            if fusable[k]:
                layer = recording.output_layer(p)
                z = getattr(layer, "logits", None) if logits is None else logits.get(id(p))
                fused = ActivationWithLoss.find(out.loss, layer, z)
            if fused is not None:
                value, seed = out.loss.value_and_grad_from_logits(y, fused.logits, sw)
            elif out.loss.from_logits:
                value, seed = out.loss.value_and_grad_from_logits(y, p, sw)
            elif gradient:
                value, seed = out.loss.value_and_gradient(y, p, sw)
            else:
                value, seed = out.loss(y, p, sw), None
            value = dtype.type(value)
            per_loss.append(value)
            if out.weight is not None:
                w = dtype.type(out.weight)
                value = value * w
                seed = None if seed is None else seed * w
            total = value if total is None else total + value
            seeds.append(seed)
            flags.append(fused is not None)
        return total, per_loss, seeds, flags


class OutputTrackers:
    """The running means of the total loss and of each output's loss, and the metrics' states
    (``metrics.Trackers`` for several outputs)."""

    def __init__(self, compiled, dtype):
        self.compiled = compiled
        self.loss = RunningMean(dtype)
        self.per_loss = [RunningMean(dtype) for _ in compiled.loss_names()]
        self.own = [type(m).__module__.startswith("scratchnet.") for m in compiled.metrics]
        for metric in compiled.metrics:
            metric.reset_state()

    def update(self, ys, preds, total, per_loss, n):
        dtype = self.loss.dtype
        self.loss.update(dtype.type(total) * dtype.type(n), n)
        for mean, value in zip(self.per_loss, per_loss):
            mean.update(value, 1)  # a plain mean over batches: measured (see the docstring)
        i = 0
        for k, out in enumerate(self.compiled.outputs):
            for metric in out.metrics:
                y, p = ys[k], preds[k]
                if self.own[i]:
                    metric.update_state(y, p)
                else:
                    metric.update_state(convert_to_tensor(y), convert_to_tensor(p))
                i += 1

    def logs(self, prefix=""):
        logs = {prefix + "loss": self.loss.result()}
        for name, mean in zip(self.compiled.loss_names(), self.per_loss):
            logs[prefix + name] = mean.result()
        for name, metric in zip(self.compiled._log_names, self.compiled.metrics):
            logs[prefix + name] = _log_value(metric.result())
        return dict(sorted(logs.items()))


def fusable_outputs(model):
    """Per output: whether its layer and loss may run fused (no other layer reads it)."""
    outputs = getattr(model, "outputs", None)
    order = getattr(model, "_order", None)
    if not outputs or order is None:
        return [True]
    read = {id(p) for t in order for p in t.inputs}
    return [id(t) not in read for t in outputs]

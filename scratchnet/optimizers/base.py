"""The optimizer base class: the step counter, the learning rate (or schedule), the slots, and
the options every Keras optimizer has (clipping, weight decay, EMA, loss scale, accumulation).

One step, ``apply(grads, variables)``, in the order of Keras's ``BaseOptimizer.apply`` and
``_backend_apply_gradients`` (``keras/src/optimizers/base_optimizer.py``, Keras 3.15):

    1. ``grads / loss_scale_factor``                                (if set)
    2. gradient accumulation: on all but every ``gradient_accumulation_steps``-th call, add the
       gradients to the accumulators and stop here (go to 6); on that call use
       ``(g + accumulated) / steps`` and zero the accumulators after step 5
    3. clip: ``clipnorm`` per gradient, else ``global_clipnorm`` over all, else ``clipvalue``
    4. decoupled weight decay ``w <- w - w * weight_decay * lr``    (if set)
    5. the optimizer's own update of each variable (``update_step``)
    6. EMA of the weights (``use_ema``), every ``ema_overwrite_frequency`` steps copied into them
    7. ``iterations += 1``  (the model applies weight constraints after ``apply``, as Keras
       does after step 6)

The learning rate of a step is read once, before step 4, at the step counter *before* the
increment: the first update uses ``schedule(0)``.

Example:
    >>> import numpy as np
    >>> from scratchnet.optimizers import SGD
    >>> w = np.array([3.0, 4.0]); opt = SGD(learning_rate=1.0, clipnorm=1.0)
    >>> opt.apply([np.array([3.0, 4.0])], [w]); w                   # g clipped to norm 1
    array([2.4, 3.2])
"""

import warnings

import numpy as np

from .. import config
from ..kernels import parallel
from .schedules import LearningRateSchedule, deserialize, serialize


def _f32(value, dtype):
    """A Python float cast the way ``ops.cast(python_float, dtype)`` does: through float32."""
    return dtype.type(np.float32(value))


def _pow(base, exponent, dtype):
    """``base ** exponent`` for scalars of ``dtype`` as TensorFlow's ``pow`` gives it in float64.

    NumPy's ``np.power`` ufunc uses its own SIMD pow, which differs from the C library's ``pow``
    (what TF calls) in the last bit for about 5% of Adam's ``beta**t`` (measured, t up to 3000);
    NumPy's scalar ``**`` calls the C library (Adam and AdamW use it in float64, Adamax and
    Nadam in both). In float32, TF uses Eigen's own pow, which neither reproduces (a float32 ulp
    in ~15% of steps: within the float32 tolerances).
    """
    return dtype.type(base) ** dtype.type(exponent)


def interleaved(slots, *names):
    """Slots in Keras's ``add_optimizer_variables(vars, [names])`` order: per parameter, each
    name in turn (Adam's momentum, velocity, momentum, velocity, ...)."""
    return [a for group in zip(*(slots[name] for name in names)) for a in group]


class Optimizer:
    """Base class: holds the learning rate, the step counter, the slot variables and the options.

    Args:
        learning_rate: the step size: a float, or a ``LearningRateSchedule`` (or any callable
            ``schedule(step)``) evaluated at the step counter before each update.
        weight_decay: decoupled weight decay, ``w <- w - w * weight_decay * lr`` before the update.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: scale all gradients together so their joint L2 norm is at most this.
        use_ema: keep an exponential moving average of the weights; ``fit`` copies it into the
            weights at the end (``finalize_variable_values``).
        ema_momentum: ``average <- m * average + (1 - m) * w`` (m = 0 on the first step).
        ema_overwrite_frequency: also copy the average into the weights every this many steps.
        loss_scale_factor: the model multiplies the loss by it, the optimizer divides the
            gradients by it.
        gradient_accumulation_steps: update only every this many calls, with the mean gradient.
        name: Keras's name (used in saved files).
    """

    slot_names = ()  # Keras's names for the per-parameter state, e.g. ("momentum", "velocity")

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        where = type(self).__name__
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.", stacklevel=2
            )
        if kwargs:
            raise ValueError(f"{where}: argument(s) not recognized: {kwargs}.")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                f"{where}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError(
                f"{where}: `gradient_accumulation_steps` must be an integer >= 2. Received: "
                f"gradient_accumulation_steps={gradient_accumulation_steps}"
            )
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError(
                f"{where}: `ema_momentum` must be in the range [0, 1]. Received: "
                f"ema_momentum={ema_momentum}"
            )
        if (
            use_ema
            and ema_overwrite_frequency
            and (not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1)
        ):
            raise ValueError(
                f"{where}: `ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                f"ema_overwrite_frequency={ema_overwrite_frequency}"
            )
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = use_ema, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.name = name or type(self).__name__.lower()
        self._iterations = 0  # the saved counter: every apply() call, accumulating or not
        self.slots = None  # {slot name: [array per parameter]}, made by build()
        self.averages = []  # EMA of each parameter (use_ema)
        self.accumulators = []  # summed gradients (gradient_accumulation_steps)
        self.dtype = None  # floatx when built: the dtype of the learning_rate variable

    # -- learning rate and step counter ------------------------------------------------------------

    @property
    def learning_rate(self):
        """The current learning rate (a schedule's value at the current step)."""
        if self.has_schedule:
            return self._learning_rate(np.int64(self._iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if self.has_schedule:
            raise TypeError(
                f"{type(self).__name__} was created with a learning-rate schedule, so its "
                "learning rate cannot be set; create it with a float learning_rate instead."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or value < 0:
            raise ValueError(
                f"{type(self).__name__}: learning_rate must be a non-negative number or a "
                f"LearningRateSchedule, got {value!r}."
            )
        self._learning_rate = float(value)

    @property
    def has_schedule(self):
        return callable(self._learning_rate)

    @property
    def iterations(self):
        """Updates applied: with gradient accumulation, the accumulated steps (Keras's view)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    def _step_learning_rate(self):
        """This step's learning rate: the floatx variable, or the schedule at the counter."""
        if self.has_schedule:
            return self._learning_rate(np.int64(self._iterations))
        return self.dtype.type(self._learning_rate)

    # -- state -------------------------------------------------------------------------------------

    def build(self, variables):
        """Create the state: EMA averages, accumulators, then the slots (Keras's order)."""
        variables = [getattr(v, "value", v) for v in variables]  # Variables or arrays
        self.dtype = np.dtype(config.floatx())
        self.averages = [np.zeros_like(v) for v in variables] if self.use_ema else []
        steps = self.gradient_accumulation_steps
        self.accumulators = [np.zeros_like(v) for v in variables] if steps else []
        self.slots = {
            name: [self.initial_slot(name, v) for v in variables] for name in self.active_slots()
        }

    def initial_slot(self, name, w):
        """A slot's starting value (zeros; Adagrad starts its accumulator elsewhere)."""
        return np.zeros_like(w)

    def active_slots(self):
        return self.slot_names

    @property
    def variables(self):
        """All state in Keras's order: iteration, learning_rate (not with a schedule), the EMA
        averages, the gradient accumulators, the slots (see ``slot_order``), extra state."""
        dtype = self.dtype or np.dtype(config.floatx())
        out = [np.array(self._iterations, dtype=np.int64)]
        if not self.has_schedule:
            out.append(np.array(self._learning_rate, dtype=dtype))
        return out + self._state_arrays()

    def _state_arrays(self):
        if self.slots is None:  # not built
            return []
        return [*self.averages, *self.accumulators, *self.slot_order(), *self.extra_state()]

    def slot_order(self):
        """Slots grouped by name, as Keras stores them (RMSprop, SGD); Adam overrides."""
        return [a for name in self.active_slots() for a in self.slots[name]]

    def set_slot_order(self, arrays):
        """Load slot arrays given in ``slot_order``."""
        for dst, src in zip(self.slot_order(), arrays):
            dst[...] = src

    def extra_state(self):
        """State after the slots (Nadam's running product); 0-d arrays, updated in place."""
        return []

    def load_own_variables(self, arrays):
        """Load ``variables`` as saved (used by load_model); the optimizer must be built."""
        arrays = list(arrays)
        self._iterations = int(arrays.pop(0))
        if not self.has_schedule:
            self._learning_rate = float(arrays.pop(0))
        for dst, src in zip(self._state_arrays(), arrays):
            dst[...] = src

    # -- one step ----------------------------------------------------------------------------------

    def apply(self, grads, variables):
        """One optimizer step: update every array in ``variables`` in place from ``grads``.

        A gradient of None (a weight that no loss reaches) leaves its variable out of the step,
        as Keras's ``_filter_empty_gradients`` does: no update, no weight decay, no clipping
        share; its moving average (``use_ema``) still follows it, as in Keras.
        """
        if len(grads) != len(variables):
            raise ValueError(
                f"{type(self).__name__}.apply: got {len(grads)} gradients for {len(variables)} "
                "variables."
            )
        variables = [getattr(v, "value", v) for v in variables]  # Variables or their arrays
        if self.slots is None:
            self.build(variables)
        indices, live = range(len(variables)), variables  # which variables this step updates
        if any(g is None for g in grads):  # as Keras: a variable without a gradient sits out
            indices = [i for i, g in enumerate(grads) if g is not None]
            if not indices:
                raise ValueError(f"{type(self).__name__}.apply: no gradient for any variable.")
            grads, live = [grads[i] for i in indices], [variables[i] for i in indices]
        grads = [g.astype(w.dtype, copy=False) for g, w in zip(grads, live)]
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        steps = self.gradient_accumulation_steps
        if not steps:
            self._update(grads, live, indices)
        elif (self._iterations + 1) % steps == 0:
            sums = [grads[k] + self.accumulators[i] for k, i in enumerate(indices)]
            self._update([g / steps for g in sums], live, indices)
            for a in self.accumulators:
                a[...] = 0
        else:
            for k, i in enumerate(indices):
                self.accumulators[i] += grads[k]
        if self.use_ema:
            self._update_averages(variables)
        self._iterations += 1  # Keras increments after the update

    def _update(self, grads, variables, indices):
        """Clip, decay the weights, then each parameter's own update (steps 3-5 above).
        ``indices``: each variable's place among the optimizer's (its slots)."""
        if self.clipnorm or self.global_clipnorm or self.clipvalue:
            grads = self._clip_gradients(grads)
        lr_value = self._step_learning_rate()
        if self.weight_decay is not None:
            for w in variables:
                lr = w.dtype.type(lr_value)
                w -= w * _f32(self.weight_decay, w.dtype) * lr  # wd cast through float32
        self.before_updates(variables)
        for i, g, w in zip(indices, grads, variables):
            lr = w.dtype.type(lr_value)  # the floatx (or schedule) value cast to the weight's
            slots = {name: self.slots[name][i] for name in self.active_slots()}
            self._update_in_parts(g, w, lr, slots)

    def before_updates(self, variables):
        """Work done once per update before the parameters' updates (Nadam's running product)."""

    def _clip_gradients(self, grads):
        """Keras's ``_clip_gradients`` (TF's ``clip_by_norm`` for clipnorm).

        Math:
            clipnorm c:         g <- g * c / max(||g||, c)                       (per gradient)
            global_clipnorm c:  n = sqrt(sum_i ||g_i||^2);  g_i <- g_i * c * min(1/n, 1/c)
            clipvalue c:        g <- clip(g, -c, c)
        """
        if self.clipnorm and self.clipnorm > 0:
            out = []
            for g in grads:
                l2sum = np.sum(g * g)
                l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
                out.append((g * self.clipnorm) / np.maximum(l2norm, g.dtype.type(self.clipnorm)))
            return out
        if self.global_clipnorm and self.global_clipnorm > 0:
            dt = grads[0].dtype.type
            norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in grads])))
            c = self.global_clipnorm
            scale = dt(c) * np.minimum(dt(1.0) / norm, dt(1.0 / c)) + (
                norm - norm
            )  # nan if not finite
            return [g * scale for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _update_averages(self, variables):
        """``average <- m * average + (1 - m) * w`` (m = 0 on the first step); every
        ``ema_overwrite_frequency`` steps the weights become their average."""
        step = self.iterations
        for w, avg in zip(variables, self.averages):
            m = w.dtype.type(step != 0) * w.dtype.type(self.ema_momentum)
            avg[...] = m * avg + (w.dtype.type(1) - m) * w
        frequency = self.ema_overwrite_frequency
        if frequency and (step + 1) % frequency == 0:
            self.finalize_variable_values(variables)

    def finalize_variable_values(self, variables):
        """With ``use_ema``, copy the moving averages into the weights (``fit`` does at the end)."""
        if self.use_ema and self.averages:
            for w, avg in zip(variables, self.averages):
                getattr(w, "value", w)[...] = avg

    def scale_loss(self, loss):
        """The loss times ``loss_scale_factor`` (Keras's ``scale_loss``)."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    # Smaller arrays are updated on one core, which is done before a second one would start
    # (measured: docs/kernels/updates.md#measured-the-parallel-split).
    PARALLEL_MIN_SIZE = 1_000_000

    def _update_in_parts(self, g, w, lr, slots):
        """``update_step`` on the whole array, or on one slice of it per core for big arrays.

        A slice of a flattened array is a view, so each part updates ``w`` and its slots in
        place.
        """
        parts = config.num_threads()
        if parts == 1 or w.size < self.PARALLEL_MIN_SIZE:  # the usual case: tested first
            return self.update_step(g, w, lr, slots)
        # reshape(-1) of a non-contiguous array is a copy: updating it would lose the update
        if not all(a.flags.c_contiguous for a in [w, *slots.values()]):
            return self.update_step(g, w, lr, slots)
        edges = np.linspace(0, w.size, parts + 1).astype(int)
        g_flat = g.reshape(-1)  # a copy if g is not contiguous: only read
        flat = {name: a.reshape(-1) for name, a in slots.items()}
        w_flat = w.reshape(-1)

        def part(worker, k):
            s, e = edges[k], edges[k + 1]
            self.update_step(g_flat[s:e], w_flat[s:e], lr, {n: a[s:e] for n, a in flat.items()})

        parallel.parallel_for(parts, part)

    def apply_gradients(self, grads_and_vars):
        """Keras's spelling: ``apply_gradients(zip(grads, variables))``."""
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))

    def update_step(self, g, w, lr, slots):
        """Update ``w`` (and the arrays in ``slots``, by slot name) in place from gradient ``g``."""
        raise NotImplementedError

    # -- config ------------------------------------------------------------------------------------

    def get_config(self):
        if self.has_schedule:
            learning_rate = serialize(self._learning_rate)
        else:
            learning_rate = float(np.dtype(self.dtype or config.floatx()).type(self._learning_rate))
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config):
        """``cls(**config)``; a built-in schedule's entry in ``learning_rate`` is rebuilt (yours
        come through ``scratchnet.saving``, which knows the registered classes)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize(config["learning_rate"])
        return cls(**config)

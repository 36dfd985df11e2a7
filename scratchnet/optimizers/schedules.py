"""Learning-rate schedules: the step size as a function of the optimizer's step counter.

Pass one as any optimizer's ``learning_rate``; the optimizer calls it with its ``iterations``
(the number of updates already applied: 0 for the first update) before each update, as Keras
does (``keras/src/optimizers/base_optimizer.py``, ``_get_current_learning_rate``).

Keras computes every built-in schedule in **float32**, whatever ``floatx`` is: the initial
learning rate is a Python float, ``ops.convert_to_tensor`` makes it a float32 tensor, and the
other constants are cast to its dtype (measured on Keras 3.15: ``ExponentialDecay(0.1, ...)(2)``
is float32 in float64 mode too). The update then casts that float32 value to the weights' dtype.
The arithmetic here is the same float32 operations in the same order (``np.float32`` scalars),
so the values are Keras's to the bit (a parity test checks every schedule at many steps).

Your own schedule: subclass ``LearningRateSchedule`` and write ``__call__(self, step)`` (``step``
is an ``np.int64``) and ``get_config``; register it (``scratchnet.saving.register_keras_
serializable``) to save it in a ``.keras`` file.

Example:
    >>> s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> float(s(10))
    0.05000000074505806
"""

import math

import numpy as np

F32 = np.float32


# TensorFlow computes float32 cos, log and pow with Eigen's own approximations, which are not
# correctly rounded; these round the C library's double result to float32, which agrees with
# TF's value or is one float32 ulp off (measured over steps 0-3000: cos 1% of arguments, log
# 0.2%, pow 15-30%); NumPy's float32 ufuncs are further off (cos 17%).
def _cos(x):
    return F32(math.cos(float(x)))


def _log(x):
    return F32(math.log(float(x)))


def _pow(x, y):
    return F32(math.pow(float(x), float(y)))


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate for the update numbered ``step``."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive_steps(owner, name, value):
    if value <= 0:
        raise ValueError(f"{owner}: argument `{name}` must be > 0. Received: {name}={value}")


def _initial(value, owner):
    """The initial learning rate as Keras's ``convert_to_tensor(python float)``: float32."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating)):
        raise ValueError(
            f"{owner}: initial_learning_rate must be a number, got {value!r} "
            f"({type(value).__name__})."
        )
    return F32(value)


def _tensor_value(value):
    """A value as Keras's ``convert_to_tensor``: a Python float becomes float32, an int int32."""
    if isinstance(value, float):
        return F32(value)
    if isinstance(value, int):
        return np.int32(value)
    return np.asarray(value)[()]


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Math (float32): p = step / decay_steps (floored if ``staircase``); lr = lr0 * rate^p
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="ExponentialDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _positive_steps("ExponentialDecay", "decay_steps", decay_steps)

    def __call__(self, step):
        lr0 = _initial(self.initial_learning_rate, "ExponentialDecay")
        p = F32(step) / F32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return lr0 * _pow(F32(self.decay_rate), p)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` up to ``boundaries[1]``, ...

    Keras adds ``indicator * value`` over the intervals, so the result has ``values``' dtype
    (float32 for Python floats).
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "PiecewiseConstantDecay: the length of boundaries should be 1 less than the "
                f"length of values. Received: boundaries={boundaries} of length "
                f"{len(boundaries)}, and values={values} of length {len(values)}."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = np.int64(step)
        bounds = [np.int64(b) for b in self.boundaries]  # cast to the step's dtype, as Keras
        values = [_tensor_value(v) for v in self.values]
        if step <= bounds[0]:
            return values[0]
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1]):
            if low < step <= high:
                return value
        return values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` along ``(1 - step/steps)^power``.

    Math (float32): s = min(step, decay_steps), or with ``cycle`` decay_steps is multiplied by
    ceil(step / decay_steps) (1 at step 0); lr = (lr0 - lr_end) * (1 - s/decay_steps)^power + lr_end
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _positive_steps("PolynomialDecay", "decay_steps", decay_steps)

    def __call__(self, step):
        lr0 = _initial(self.initial_learning_rate, "PolynomialDecay")
        end, power = F32(self.end_learning_rate), F32(self.power)
        s, decay_steps = F32(step), F32(self.decay_steps)
        if self.cycle:
            multiplier = F32(1.0) if s == 0 else np.ceil(s / F32(self.decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            s = min(s, decay_steps)
        p = s / decay_steps
        return (lr0 - end) * _pow(F32(1) - p, power) + end

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    Math (float32): p = step / decay_steps (floored if ``staircase``); lr = lr0 / (1 + rate * p)
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="InverseTimeDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _positive_steps("InverseTimeDecay", "decay_steps", decay_steps)

    def __call__(self, step):
        lr0 = _initial(self.initial_learning_rate, "InverseTimeDecay")
        p = F32(step) / F32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return lr0 / (F32(1) + F32(self.decay_rate) * p)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the start rate down to ``alpha`` times it, after an optional warm-up.

    Math (float32; lr_top = warmup_target, or initial_learning_rate without warm-up):
        warm-up (step < warmup_steps): lr = (lr_top - lr0) * (step / warmup_steps) + lr0
        decay:  s = min(step - warmup_steps, decay_steps)
                lr = lr_top * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _positive_steps("CosineDecay", "decay_steps", decay_steps)

    def _decay(self, s, decay_steps, top):
        cosine = F32(0.5) * (F32(1) + _cos(F32(math.pi) * (s / decay_steps)))
        return top * (F32(1 - self.alpha) * cosine + F32(self.alpha))

    def __call__(self, step):
        lr0 = _initial(self.initial_learning_rate, "CosineDecay")
        decay_steps, s = F32(self.decay_steps), F32(step)
        if self.warmup_target is None:
            return self._decay(min(s, decay_steps), decay_steps, lr0)
        target, warmup_steps = F32(self.warmup_target), F32(self.warmup_steps)
        s = min(s, decay_steps + warmup_steps)
        if s < warmup_steps:
            return (target - lr0) * (s / warmup_steps) + lr0
        return self._decay(s - warmup_steps, decay_steps, target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay that restarts: period i lasts ``first_decay_steps * t_mul^i`` steps and
    starts at ``initial_learning_rate * m_mul^i`` (SGDR, Loshchilov & Hutter 2016).

    Math (float32; f = step / first_decay_steps):
        t_mul == 1: i = floor(f);  f <- f - i
        else:       i = floor(log(1 - f (1 - t_mul)) / log(t_mul))
                    f <- (f - (1 - t_mul^i) / (1 - t_mul)) / t_mul^i
        lr = lr0 * ((1 - alpha) * 0.5 * m_mul^i * (1 + cos(pi f)) + alpha)
    """

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _positive_steps("CosineDecayRestarts", "first_decay_steps", first_decay_steps)

    def __call__(self, step):
        lr0 = _initial(self.initial_learning_rate, "CosineDecayRestarts")
        alpha, t_mul, m_mul = F32(self.alpha), F32(self._t_mul), F32(self._m_mul)
        f = F32(step) / F32(self.first_decay_steps)
        one = F32(1)
        if t_mul == one:
            i_restart = np.floor(f)
            f = f - i_restart
        else:
            i_restart = np.floor(_log(one - f * (one - t_mul)) / _log(t_mul))
            sum_r = (one - _pow(t_mul, i_restart)) / (one - t_mul)
            f = (f - sum_r) / _pow(t_mul, i_restart)
        m_fac = _pow(m_mul, i_restart)
        cosine = F32(0.5) * m_fac * (one + _cos(F32(math.pi) * f))
        return lr0 * ((one - alpha) * cosine + alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


BUILTIN = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule):
    """A built-in schedule as Keras writes it inside an optimizer's config; yours as it is
    (``scratchnet.saving`` writes it with its registered name)."""
    if type(schedule) in BUILTIN.values():
        return {
            "module": "keras.optimizers.schedules",
            "class_name": type(schedule).__name__,
            "config": schedule.get_config(),
            "registered_name": None,
        }
    return schedule


def deserialize(config):
    """A built-in schedule from Keras's entry (``{"class_name": "CosineDecay", ...}``)."""
    cls = BUILTIN.get(config.get("class_name"))
    if cls is None or (config.get("module") or "keras").split(".")[0] not in (
        "keras",
        "scratchnet",
    ):
        raise ValueError(
            f"Unknown learning-rate schedule {config.get('class_name')!r}: scratchnet has "
            f"{sorted(BUILTIN)}. A schedule of yours is read by scratchnet.saving "
            "(register it with @scratchnet.saving.register_keras_serializable())."
        )
    return cls.from_config(dict(config.get("config") or {}))

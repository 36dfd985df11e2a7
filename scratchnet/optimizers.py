"""SGD, Adam and RMSprop with Keras 3's exact update formulas.

Each optimizer updates the parameter arrays in place: ``opt.apply(grads, variables)``. State
("slot variables": momentum, velocity, ...) is created on the first call, one array per
parameter, in the same order Keras creates them, so a saved optimizer can be loaded by Keras.

Two details that make the numbers Keras's, not just close (keras-behaviour.md section 5):

* ``learning_rate`` is stored in the float dtype of the model: in float32, 0.01 is really
  0.009999999776482582.
* Keras casts some Python-float hyper-parameters (SGD's momentum, Adam's beta_1/beta_2 in the bias
  corrections) through a float32 tensor even in float64 mode; ``_f32`` reproduces that.

Big parameters are updated in two halves at once, one per core: every formula is elementwise, so
the numbers are the same as in one piece. SGD, Adam and RMSprop (in their default forms) call
their update through the kernel family in use (``scratchnet.kernels.backend``): the NumPy lines,
or a numba loop that runs them as one pass with the same arithmetic in the same order (the same
numbers, bit for bit).

Example:
    >>> import numpy as np
    >>> w = np.array([1.0, 2.0]); opt = SGD(learning_rate=0.1)
    >>> opt.apply([np.array([1.0, 1.0])], [w]); w
    array([0.9, 1.9])
"""

import numpy as np

from . import config
from .kernels import backend, parallel


def _f32(value, dtype):
    """A Python float cast the way ``ops.cast(python_float, dtype)`` does: through float32."""
    return dtype.type(np.float32(value))


class Optimizer:
    """Base class: holds the learning rate, the step counter and the slot variables.

    Args:
        learning_rate: the step size.
        name: Keras's name (used in saved files).
    """

    slot_names = ()  # Keras's names for the per-parameter state, e.g. ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, name=None, **kwargs):
        unsupported = {k: v for k, v in kwargs.items() if v not in (None, False)}
        if unsupported:
            raise ValueError(
                f"{type(self).__name__}: options {sorted(unsupported)} are not supported by "
                "scratchnet (no clipping, weight decay or EMA); remove them."
            )
        if not isinstance(learning_rate, (int, float, np.floating)) or learning_rate < 0:
            raise ValueError(
                f"{type(self).__name__}: learning_rate must be a non-negative number, got "
                f"{learning_rate!r}."
            )
        self.learning_rate = float(learning_rate)
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.slots = None  # {slot name: [array per parameter]}, made by build()
        self.dtype = None  # floatx when built: the dtype of the learning_rate variable

    def build(self, variables):
        """Create zeroed slot arrays, one per parameter for each name in ``slot_names``."""
        variables = [getattr(v, "value", v) for v in variables]  # Variables or arrays
        self.slots = {name: [np.zeros_like(v) for v in variables] for name in self.active_slots()}
        self.dtype = np.dtype(config.floatx())

    def active_slots(self):
        return self.slot_names

    def apply(self, grads, variables):
        """One optimizer step: update every array in ``variables`` in place from ``grads``."""
        if len(grads) != len(variables):
            raise ValueError(
                f"{type(self).__name__}.apply: got {len(grads)} gradients for {len(variables)} "
                "variables."
            )
        variables = [getattr(v, "value", v) for v in variables]  # Variables or their arrays
        if self.slots is None:
            self.build(variables)
        for i, (g, w) in enumerate(zip(grads, variables)):
            # The learning rate lives in a floatx variable, then is cast to the weight's dtype.
            lr = w.dtype.type(self.dtype.type(self.learning_rate))
            g = g.astype(w.dtype, copy=False)
            slots = {name: self.slots[name][i] for name in self.active_slots()}
            self._update_in_parts(g, w, lr, slots)
        self.iterations += 1  # Keras increments after the update

    # Smaller arrays are updated on one core, which is done before a second one would start
    # (measured: docs/kernels/updates.md#measured-the-parallel-split).
    PARALLEL_MIN_SIZE = 1_000_000

    def _update_in_parts(self, g, w, lr, slots):
        """``update_step`` on the whole array, or on one slice of it per core for big arrays.

        A slice of a flattened array is a view, so each part updates ``w`` and its slots in
        place.
        """
        parts = config.num_threads()
        # reshape(-1) of a non-contiguous array is a copy: updating it would lose the update
        contiguous = all(a.flags.c_contiguous for a in [w, *slots.values()])
        if parts == 1 or w.size < self.PARALLEL_MIN_SIZE or not contiguous:
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

    @property
    def variables(self):
        """All state in Keras's order: iteration, learning_rate, then the slots (see slot_order)."""
        dtype = self.dtype or np.dtype(config.floatx())
        out = [np.array(self.iterations, dtype=np.int64), np.array(self.learning_rate, dtype=dtype)]
        if self.slots is not None:
            out += self.slot_order()
        return out

    def slot_order(self):
        """Slots grouped by name, as Keras stores them (RMSprop, SGD); Adam overrides."""
        return [a for name in self.active_slots() for a in self.slots[name]]

    def set_slot_order(self, arrays):
        """Load slot arrays given in ``slot_order`` (used by load_model)."""
        for dst, src in zip(self.slot_order(), arrays):
            dst[...] = src

    def get_config(self):
        return {
            "name": self.name,
            "learning_rate": float(np.float32(self.learning_rate)),
            "weight_decay": None,
            "clipnorm": None,
            "global_clipnorm": None,
            "clipvalue": None,
            "use_ema": False,
            "ema_momentum": 0.99,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
        }

    @classmethod
    def from_config(cls, config):
        keys = cls.__init__.__code__.co_varnames[1 : cls.__init__.__code__.co_argcount]
        return cls(**{k: v for k, v in config.items() if k in keys})


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Math (m starts at 0, mu = momentum rounded through float32):
        momentum == 0:  w <- w - lr * g
        else:           m <- mu * m - lr * g
                        w <- w + m                      (nesterov=False)
                        w <- w + mu * m - lr * g        (nesterov=True, with the updated m)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not isinstance(momentum, float) or not 0 <= momentum <= 1:
            raise ValueError(
                f"SGD: momentum must be a float in [0, 1] (as in Keras), got {momentum!r}. "
                "Write momentum=0.9, not 0.9 as an int or a string."
            )
        self.momentum = momentum
        self.nesterov = nesterov

    # One or two passes per value, less work than Adam's or RMSprop's: split only from twice
    # their size (measured: docs/kernels/updates.md#measured-the-parallel-split).
    PARALLEL_MIN_SIZE = 2_000_000

    def active_slots(self):
        return ("momentum",) if self.momentum != 0 else ()

    def update_step(self, g, w, lr, slots):
        if self.momentum == 0:
            backend.current().sgd_update(g, w, lr)  # w <- w - g * lr
            return
        mu = _f32(self.momentum, w.dtype)
        m = slots["momentum"]
        m[...] = m * mu - g * lr
        if self.nesterov:
            w += m * mu - g * lr
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam, in Keras's form: bias correction folded into the step size, epsilon outside the sqrt.

    Math (t = step number from 1; b1, b2 rounded through float32 in the powers only):
        alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)
        m <- m + (g - m) * (1 - beta_1)
        v <- v + (g^2 - v) * (1 - beta_2)
        v_hat <- max(v_hat, v); use v_hat for v          (amsgrad only)
        w <- w - m * alpha / (sqrt(v) + epsilon)
    Note: this is not the textbook m_hat / (sqrt(v_hat) + eps); they differ when eps matters.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        name="adam",
        **kwargs,
    ):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def active_slots(self):
        return (
            ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")
        )

    def update_step(self, g, w, lr, slots):
        dt = w.dtype.type
        t = dt(self.iterations + 1)
        beta_1_power = np.power(_f32(self.beta_1, w.dtype), t)
        beta_2_power = np.power(_f32(self.beta_2, w.dtype), t)
        alpha = lr * np.sqrt(dt(1) - beta_2_power) / (dt(1) - beta_1_power)
        m, v = slots["momentum"], slots["velocity"]
        if not self.amsgrad:
            # m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2);
            # w <- w - m alpha / (sqrt(v) + epsilon)    (the Python-double 1 - beta, as Keras)
            backend.current().adam_update(
                g, w, m, v, alpha, dt(1 - self.beta_1), dt(1 - self.beta_2), dt(self.epsilon)
            )
            return
        m += (g - m) * (1 - self.beta_1)  # Python-double (1 - beta_1), as Keras
        v += (np.square(g) - v) * (1 - self.beta_2)
        if self.amsgrad:
            v_hat = slots["velocity_hat"]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= (m * alpha) / (np.sqrt(v) + self.epsilon)

    def slot_order(self):
        """Keras stores Adam's state per parameter as (momentum, velocity), then the v_hats."""
        out = []
        for m, v in zip(self.slots["momentum"], self.slots["velocity"]):
            out += [m, v]
        return out + list(self.slots.get("velocity_hat", []))

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class RMSprop(Optimizer):
    """RMSprop: divide the step by a running root-mean-square of the gradients.

    Math (v, a, mom start at 0):
        v <- rho * v + (1 - rho) * g^2
        centered: a <- rho * a + (1 - rho) * g;  denom = v - a^2 + eps
        else:     denom = v + eps                         (eps INSIDE the sqrt)
        inc = lr * g / sqrt(denom)
        momentum > 0: mom <- momentum * mom + inc;  w <- w - mom
        else:         w <- w - inc
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        name="rmsprop",
        **kwargs,
    ):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def active_slots(self):
        names = ["velocity"]
        if self.momentum > 0:
            names.append("momentum")
        if self.centered:
            names.append("average_gradient")
        return tuple(names)

    def update_step(self, g, w, lr, slots):
        rho = self.rho
        v = slots["velocity"]
        plain = not self.centered and self.momentum == 0
        if plain:  # v <- rho v + (1 - rho) g^2;  w <- w - lr g / sqrt(v + epsilon)
            dt = w.dtype.type
            backend.current().rmsprop_update(g, w, v, lr, dt(rho), dt(1 - rho), dt(self.epsilon))
            return
        v[...] = rho * v + (1 - rho) * np.square(g)
        if self.centered:
            a = slots["average_gradient"]
            a[...] = rho * a + (1 - rho) * g
            denominator = v - np.square(a) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = (lr * g) / np.sqrt(denominator)
        if self.momentum > 0:
            mom = slots["momentum"]
            mom[...] = self.momentum * mom + increment
            w -= mom
        else:
            w -= increment

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier):
    """Resolve 'sgd', 'adam', 'rmsprop' (any case), an optimizer class, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Expected one of {sorted(_BY_NAME)} or an object "
        "such as scratchnet.optimizers.Adam(learning_rate=1e-3)."
    )

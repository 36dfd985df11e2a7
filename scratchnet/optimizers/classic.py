"""SGD, Adam (and AdamW) and RMSprop with Keras 3's exact update formulas.

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

from ..kernels import backend
from .base import Optimizer, _f32, _pow, interleaved


def _beta_power(beta, t, dtype):
    """Adam's ``beta**t``, with beta rounded through float32 as Keras's ``ops.cast`` does.

    float64: the C library's pow, as TensorFlow's (``_pow``), so Adam is bit-exact with Keras.
    float32: NumPy's ``np.power``; TensorFlow uses Eigen's own powf there, which neither
    reproduces (an ulp off in some steps, within the float32 tolerances), and the tutorials'
    numbers are pinned to this one (tests/test_no_numeric_change.py).
    """
    if dtype == np.float64:
        return _pow(_f32(beta, dtype), t, dtype)
    return np.power(_f32(beta, dtype), t)


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
        beta_1_power = _beta_power(self.beta_1, t, w.dtype)
        beta_2_power = _beta_power(self.beta_2, t, w.dtype)
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
        return interleaved(self.slots, "momentum", "velocity") + self.slots.get("velocity_hat", [])

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), Keras's default 0.004.

    Math: w <- w - w * weight_decay * lr before Adam's update (the base optimizer's weight
    decay, which every optimizer has; AdamW only makes it required).
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        name="adamw",
        **kwargs,
    ):
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            name,
            weight_decay=weight_decay,
            **kwargs,
        )
        if self.weight_decay is None:
            raise ValueError(
                "AdamW: argument `weight_decay` must be a float. Received: weight_decay=None"
            )


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

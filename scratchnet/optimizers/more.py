"""Adagrad, Adadelta, Adamax, Nadam and Lion with Keras 3's exact update formulas.

Each ``update_step`` is Keras's ``update_step`` (``keras/src/optimizers/<name>.py``, 3.15) as
NumPy lines in the same order. Where Keras writes ``ops.cast(python_float, dtype)`` the constant
goes through float32 (``_f32``, keras-behaviour.md section 5); where it multiplies a tensor by a
Python float, the float is exact in the weights' dtype. Those roundings are what make the float64
numbers bit-exact (parity_tests/test_optimizers_more.py).

Example:
    >>> import numpy as np
    >>> w = np.array([1.0, -1.0]); opt = Lion(learning_rate=0.1)
    >>> opt.apply([np.array([0.5, -2.0])], [w]); w                   # w - lr * sign(...)
    array([ 0.9, -0.9])
"""

import numpy as np

from .base import Optimizer, _f32, _pow, interleaved


class Adagrad(Optimizer):
    """Adagrad: divide by the root of the summed squared gradients.

    Math (acc starts at initial_accumulator_value, rounded through float32):
        acc <- acc + g^2
        w   <- w - lr * g / sqrt(acc + epsilon)
    """

    slot_names = ("accumulator",)

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        name="adagrad",
        **kwargs,
    ):
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def initial_slot(self, name, w):
        # Keras's Constant initializer: ops.cast(value, dtype) * ones
        return np.full_like(w, _f32(self.initial_accumulator_value, w.dtype))

    def update_step(self, g, w, lr, slots):
        acc = slots["accumulator"]
        acc += np.square(g)
        w -= (lr * g) / np.sqrt(acc + self.epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Adadelta: the step is the ratio of two running RMS values, times ``learning_rate``.

    Math (both accumulators start at 0; rms(x) = sqrt(x + epsilon)):
        Eg  <- rho * Eg + (1 - rho) * g^2
        d   <- -rms(Edx) * g / rms(Eg)
        Edx <- rho * Edx + (1 - rho) * d^2
        w   <- w + lr * d
    """

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def update_step(self, g, w, lr, slots):
        rho, eps = self.rho, self.epsilon
        grad_acc, delta_acc = slots["accumulated_grad"], slots["accumulated_delta_var"]
        grad_acc[...] = rho * grad_acc + (1 - rho) * np.square(g)
        delta = -((np.sqrt(delta_acc + eps) * g) / np.sqrt(grad_acc + eps))
        delta_acc[...] = rho * delta_acc + (1 - rho) * np.square(delta)
        w += lr * delta

    def slot_order(self):
        """Keras stores (accumulated_grad, accumulated_delta_var) per parameter."""
        return interleaved(self.slots, "accumulated_grad", "accumulated_delta_var")

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm in place of the second moment.

    Math (t = step number from 1; beta_1 rounded through float32 in the power only):
        m <- m + (g - m) * (1 - beta_1)
        u <- max(beta_2 * u, |g|)
        w <- w - lr * m / ((1 - beta_1^t) * (u + epsilon))
    """

    slot_names = ("momentum", "norm")

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adamax", **kwargs
    ):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update_step(self, g, w, lr, slots):
        beta_1_power = _pow(_f32(self.beta_1, w.dtype), self.iterations + 1, w.dtype)
        m, u = slots["momentum"], slots["norm"]
        m += (g - m) * (1 - self.beta_1)
        np.maximum(self.beta_2 * u, np.abs(g), out=u)
        w -= (lr * m) / ((1 - beta_1_power) * (u + self.epsilon))

    def slot_order(self):
        """Keras stores (momentum, norm) per parameter."""
        return interleaved(self.slots, "momentum", "norm")

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum and Dozat's momentum schedule.

    Math (t = step number from 1; b1, b2 and 0.96 rounded through float32 in the step, but exact
    in the running product u_prod, which starts at 1 and is updated once per step first):
        u_prod <- u_prod * beta_1 * (1 - 0.5 * 0.96^t)
        u_t = b1 (1 - 0.5 * 0.96^t);  u_t1 = b1 (1 - 0.5 * 0.96^(t+1));  u_prod1 = u_prod * u_t1
        m <- m + (g - m)(1 - b1);  v <- v + (g^2 - v)(1 - b2)
        m_hat = u_t1 m / (1 - u_prod1) + (1 - u_t) g / (1 - u_prod);  v_hat = v / (1 - b2^t)
        w <- w - m_hat lr / (sqrt(v_hat) + epsilon)
    """

    slot_names = ("momentum", "velocity")

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="nadam", **kwargs
    ):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.u_product = None

    def build(self, variables):
        super().build(variables)
        dtype = getattr(variables[0], "value", variables[0]).dtype if variables else self.dtype
        self.u_product = np.array(1.0, dtype=dtype)  # Keras's unnamed variable, saved last

    def extra_state(self):
        return [self.u_product]

    def before_updates(self, variables):
        dtype = self.u_product.dtype
        t = self.iterations + 1
        self.u_product[...] = self.u_product * self.beta_1 * (1.0 - 0.5 * _pow(0.96, t, dtype))

    def update_step(self, g, w, lr, slots):
        dt = w.dtype.type
        t, t1 = self.iterations + 1, self.iterations + 2
        decay = _f32(0.96, w.dtype)
        beta_1, beta_2 = _f32(self.beta_1, w.dtype), _f32(self.beta_2, w.dtype)
        u_t = beta_1 * (dt(1) - dt(0.5) * _pow(decay, t, w.dtype))
        u_t_1 = beta_1 * (dt(1) - dt(0.5) * _pow(decay, t1, w.dtype))
        u_product_t = dt(self.u_product)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = _pow(beta_2, t, w.dtype)
        m, v = slots["momentum"], slots["velocity"]
        m += (g - m) * (dt(1) - beta_1)
        v += (np.square(g) - v) * (dt(1) - beta_2)
        m_hat = (u_t_1 * m) / (dt(1) - u_product_t_1) + ((dt(1) - u_t) * g) / (dt(1) - u_product_t)
        v_hat = v / (dt(1) - beta_2_power)
        w -= (m_hat * lr) / (np.sqrt(v_hat) + self.epsilon)

    def slot_order(self):
        """Keras stores (momentum, velocity) per parameter."""
        return interleaved(self.slots, "momentum", "velocity")

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Lion(Optimizer):
    """Lion (Chen et al. 2023): the sign of an interpolated momentum is the step.

    Math (b1, b2 rounded through float32):
        w <- w - lr * sign(b1 m + (1 - b1) g)
        m <- b2 m + (1 - b2) g
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError(
                "Lion: argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                f"degenerates to SignSGD. Received: beta_1={beta_1}."
            )
        self.beta_1, self.beta_2 = beta_1, beta_2

    def update_step(self, g, w, lr, slots):
        dt = w.dtype.type
        beta_1, beta_2 = _f32(self.beta_1, w.dtype), _f32(self.beta_2, w.dtype)
        m = slots["momentum"]
        w -= lr * np.sign(m * beta_1 + g * (dt(1) - beta_1))
        m[...] = m * beta_2 + g * (dt(1) - beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}

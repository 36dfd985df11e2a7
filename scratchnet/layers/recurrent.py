"""SimpleRNN, LSTM and GRU: one step forward, and the same step backward, for each.

Each layer below is its step: ``step`` computes the new states from this time step's input
projection ``zx = x_t @ kernel + bias`` and the previous states, and caches what the step's
backward needs; ``step_backward`` is the chain rule through that step, gate by gate. The loop
over time (forward) and backprop through time (backward) are shared, in
``scratchnet.layers.recurrent_base``; so is the input projection of all steps at once.

Keras's weight layout, so ``set_weights(keras_layer.get_weights())`` works:
``kernel`` (D, k*units), ``recurrent_kernel`` (units, k*units), ``bias``, the k gate blocks side by
side in Keras's order (LSTM: i, f, c, o; GRU: z, r, h).
"""

import numpy as np

from .. import activations, initializers
from .recurrent_base import Recurrent

_CUDNN_CHOICES = ("auto", True, False)


def _check_use_cudnn(layer, use_cudnn):
    if use_cudnn not in _CUDNN_CHOICES:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': use_cudnn must be 'auto', True or False, "
            f"got {use_cudnn!r}. (scratchnet runs on the CPU; the choice changes nothing.)"
        )


class SimpleRNN(Recurrent):
    """A fully connected recurrent layer: the new state is a function of the input and the state.

    Args:
        units: size of the state h and of the output.
        activation: 'tanh' by default.
        seed: accepted as in Keras (it seeds dropout, which is 0 here); as in Keras,
            SimpleRNN's get_config leaves it out, while LSTM's and GRU's include it.
        kernel_regularizer, recurrent_regularizer, bias_regularizer and the three constraints:
            as in ``Recurrent``. activity_regularizer: only None. Measured: Keras 3.15's
            SimpleRNN takes it but never hands it to its base layer, so it adds no penalty and
            its config writes None; scratchnet refuses it rather than differ from Keras.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        return_sequences, return_state, go_backwards: as in Keras; see ``Recurrent``.

    Shapes:
        x: (N, T, D);  kernel: (D, units);  recurrent_kernel: (units, units);  bias: (units,)
        y: (N, units), or (N, T, units) with return_sequences;  states: [h_T (N, units)]

    Math:
        forward, each step t (h_0 = 0):
            a_t = x_t @ kernel + bias + h_{t-1} @ recurrent_kernel
            h_t = activation(a_t)
        backward, t = T..1, with dh_t = dL/dh_t (from the output and from step t+1):
            da_t = activation'(dh_t)
            drecurrent_kernel += h_{t-1}^T @ da_t
            dh_{t-1} = da_t @ recurrent_kernel^T         (sent on to step t-1)
            dkernel = sum_t x_t^T @ da_t;  dbias = sum_{N,t} da_t;  dx_t = da_t @ kernel^T

    Example:
        >>> import numpy as np
        >>> layer = SimpleRNN(3)
        >>> layer(np.ones((2, 5, 4))).shape
        (2, 3)
    """

    seed_first = True

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        activity_regularizer=None,
        **kwargs,
    ):
        if activity_regularizer is not None:
            raise ValueError(
                f"SimpleRNN: activity_regularizer={activity_regularizer!r} would not give "
                "Keras's numbers: Keras 3.15's SimpleRNN accepts it but never uses it (no "
                "penalty, and its config says None). Remove it, or use LSTM or GRU, where it "
                "works."
            )
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )

    def step(self, zx, states):
        (h_prev,) = states  # (N, units)
        a = zx + h_prev @ self.params["recurrent_kernel"]  # (N, units)
        h = self.activation.forward(a)  # (N, units)
        return [h], (h_prev, h, a)

    def step_backward(self, dstates, cache, dweights):
        (dh,) = dstates  # (N, units)
        h_prev, h, a = cache
        da = activations.backprop(self.activation, dh, h, a)  # (N, units)
        dweights["recurrent_kernel"] += h_prev.T @ da  # (units, units)
        dh_prev = da @ self.params["recurrent_kernel"].T  # (N, units)
        return da, [dh_prev]


class LSTM(Recurrent):
    """Long short-term memory: a cell state c, written and read through three sigmoid gates.

    Args:
        units: size of the states h and c and of the output.
        activation: 'tanh' (the candidate and the read-out of c).
        recurrent_activation: 'sigmoid' (the gates i, f, o).
        unit_forget_bias: start the forget gate's bias at 1 (then bias_initializer is used for
            the other three blocks only), as Keras.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        return_sequences, return_state, go_backwards: as in Keras; see ``Recurrent``.

    Shapes:
        x: (N, T, D);  kernel: (D, 4*units);  recurrent_kernel: (units, 4*units);
        bias: (4*units,), blocks [i, f, c, o]
        y: (N, units), or (N, T, units);  states: [h_T, c_T], each (N, units)

    Math:
        forward, each step t (h_0 = c_0 = 0; s = recurrent_activation, g = activation):
            [a_i, a_f, a_c, a_o] = x_t @ kernel + bias + h_{t-1} @ recurrent_kernel
            i = s(a_i);  f = s(a_f);  c~ = g(a_c);  o = s(a_o)
            c_t = f * c_{t-1} + i * c~
            h_t = o * g(c_t)
        backward, t = T..1, with dh = dL/dh_t and dc = dL/dc_t from step t+1:
            do = dh * g(c_t)
            dc = dc + g'(dh * o)                  (c_t reaches the loss through h_t too)
            di = dc * c~;  df = dc * c_{t-1};  dc~ = dc * i
            dc_{t-1} = dc * f                                       (sent on to step t-1)
            da = [s'(di), s'(df), g'(dc~), s'(do)]                  (N, 4*units)
            drecurrent_kernel += h_{t-1}^T @ da;  dh_{t-1} = da @ recurrent_kernel^T
            dkernel = sum_t x_t^T @ da;  dbias = sum_{N,t} da;  dx_t = da @ kernel^T
        Here s'(v) and g'(v) mean the activation's backward applied to v (v * s(1 - s), ...).

    Example:
        >>> import numpy as np
        >>> layer = LSTM(3, return_sequences=True)
        >>> layer(np.ones((2, 5, 4))).shape
        (2, 5, 3)
    """

    gates = 4
    state_size = 2

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        use_cudnn="auto",
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        _check_use_cudnn(self, use_cudnn)
        self.use_cudnn = use_cudnn
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def bias_initial_value(self, shape, dtype):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype)
        u = self.units
        return np.concatenate(  # Keras: [init (u,), ones (u,), init (2u,)]
            [
                self.bias_initializer((u,), dtype),
                initializers.get("ones")((u,), dtype),
                self.bias_initializer((2 * u,), dtype),
            ]
        )

    def step(self, zx, states):
        h_prev, c_prev = states  # (N, units) each
        u, s, g = self.units, self.recurrent_activation, self.activation
        a = zx + h_prev @ self.params["recurrent_kernel"]  # (N, 4u): [a_i, a_f, a_c, a_o]
        i = s.forward(a[:, :u])  # input gate  (N, u)
        f = s.forward(a[:, u : 2 * u])  # forget gate  (N, u)
        cc = g.forward(a[:, 2 * u : 3 * u])  # candidate c~  (N, u)
        o = s.forward(a[:, 3 * u :])  # output gate  (N, u)
        c = f * c_prev + i * cc  # (N, u)
        gc = g.forward(c)  # (N, u)
        h = o * gc  # (N, u)
        return [h, c], (h_prev, c_prev, i, f, cc, o, gc)

    def step_backward(self, dstates, cache, dweights):
        dh, dc = dstates  # (N, units) each
        h_prev, c_prev, i, f, cc, o, gc = cache
        s, g = self.recurrent_activation, self.activation
        do = dh * gc  # (N, u)
        dc = dc + g.backward(dh * o, gc)  # (N, u): c_t feeds h_t and c_{t+1}
        di = dc * cc  # (N, u)
        df = dc * c_prev  # (N, u)
        dcc = dc * i  # (N, u)
        dc_prev = dc * f  # (N, u)
        da = np.concatenate(
            [s.backward(di, i), s.backward(df, f), g.backward(dcc, cc), s.backward(do, o)], axis=1
        )  # (N, 4u)
        dweights["recurrent_kernel"] += h_prev.T @ da  # (u, 4u)
        dh_prev = da @ self.params["recurrent_kernel"].T  # (N, u)
        return da, [dh_prev, dc_prev]

    def config_extras(self):
        return [
            (
                "activation",
                "recurrent_activation",
                activations.serialize(self.recurrent_activation),
            ),
            ("bias_initializer", "unit_forget_bias", self.unit_forget_bias),
            ("recurrent_dropout", "seed", self.seed),
        ]


class GRU(Recurrent):
    """Gated recurrent unit: an update gate z mixes the old state with a candidate.

    Args:
        units: size of the state h and of the output.
        activation: 'tanh' (the candidate).
        recurrent_activation: 'sigmoid' (the gates z and r).
        reset_after: True (Keras 3's default, cuDNN's form): the reset gate multiplies the
            recurrent projection of h, and the bias is (2, 3*units), row 0 for the input
            projection and row 1 for the recurrent one. False: r multiplies h before its
            projection, and the bias is (3*units,).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        return_sequences, return_state, go_backwards: as in Keras; see ``Recurrent``.

    Shapes:
        x: (N, T, D);  kernel: (D, 3*units);  recurrent_kernel: (units, 3*units), blocks [z, r, h]
        bias: (2, 3*units) with reset_after, else (3*units,)
        y: (N, units), or (N, T, units);  states: [h_T (N, units)]

    Math (s = recurrent_activation, g = activation, W = recurrent_kernel, blocks W_z, W_r, W_h):
        forward, each step t (h_0 = 0), [x_z, x_r, x_h] = x_t @ kernel + bias[0]:
            reset_after=True, [m_z, m_r, m_h] = h_{t-1} @ W + bias[1]:
                z = s(x_z + m_z);  r = s(x_r + m_r);  h~ = g(x_h + r * m_h)
            reset_after=False:
                z = s(x_z + h_{t-1} @ W_z);  r = s(x_r + h_{t-1} @ W_r)
                h~ = g(x_h + (r * h_{t-1}) @ W_h)
            h_t = z * h_{t-1} + (1 - z) * h~
        backward, t = T..1, with dh = dL/dh_t:
            da_z = s'(dh * (h_{t-1} - h~));  da_h = g'(dh * (1 - z))
            reset_after=True:
                da_r = s'(da_h * m_h)
                dm = [da_z, da_r, da_h * r];  dW += h_{t-1}^T @ dm;  dbias[1] += sum_N dm
                dh_{t-1} = dh * z + dm @ W^T
            reset_after=False:
                d(r h) = da_h @ W_h^T;  da_r = s'(d(r h) * h_{t-1})
                dW_zr += h_{t-1}^T @ [da_z, da_r];  dW_h += (r * h_{t-1})^T @ da_h
                dh_{t-1} = dh * z + d(r h) * r + [da_z, da_r] @ W_zr^T
            with da = [da_z, da_r, da_h]: dkernel = sum_t x_t^T @ da;  dbias[0] = sum_{N,t} da;
            dx_t = da @ kernel^T

    Example:
        >>> import numpy as np
        >>> layer = GRU(3)
        >>> layer(np.ones((2, 5, 4))).shape
        (2, 3)
        >>> layer.params["bias"].shape
        (2, 9)
    """

    gates = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        reset_after=True,
        use_cudnn="auto",
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        _check_use_cudnn(self, use_cudnn)
        self.use_cudnn = use_cudnn
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self):
        bias = self.params["bias"]
        return bias[0] if self.reset_after else bias

    def step(self, zx, states):
        (h_prev,) = states  # (N, units)
        u, s, g = self.units, self.recurrent_activation, self.activation
        W = self.params["recurrent_kernel"]  # (u, 3u)
        if self.reset_after:
            m = h_prev @ W  # (N, 3u): [m_z, m_r, m_h]
            if self.use_bias:
                m += self.params["bias"][1]
            z = s.forward(zx[:, :u] + m[:, :u])  # update gate  (N, u)
            r = s.forward(zx[:, u : 2 * u] + m[:, u : 2 * u])  # reset gate  (N, u)
            kept = m[:, 2 * u :]  # m_h  (N, u), what backward needs for da_r
            hh = g.forward(zx[:, 2 * u :] + r * kept)  # candidate h~  (N, u)
        else:
            m = h_prev @ W[:, : 2 * u]  # (N, 2u): [m_z, m_r]
            z = s.forward(zx[:, :u] + m[:, :u])  # (N, u)
            r = s.forward(zx[:, u : 2 * u] + m[:, u:])  # (N, u)
            kept = r * h_prev  # r * h_{t-1}  (N, u), what backward needs for dW_h
            hh = g.forward(zx[:, 2 * u :] + kept @ W[:, 2 * u :])  # (N, u)
        h = z * h_prev + (1 - z) * hh  # (N, u)
        return [h], (h_prev, z, r, hh, kept)

    def step_backward(self, dstates, cache, dweights):
        (dh,) = dstates  # (N, units)
        h_prev, z, r, hh, kept = cache
        u, s, g = self.units, self.recurrent_activation, self.activation
        W = self.params["recurrent_kernel"]  # (u, 3u)
        dW = dweights["recurrent_kernel"]  # (u, 3u), summed over the steps
        da_z = s.backward(dh * (h_prev - hh), z)  # (N, u)
        da_h = g.backward(dh * (1 - z), hh)  # (N, u)
        if self.reset_after:
            da_r = s.backward(da_h * kept, r)  # (N, u), kept = m_h
            dm = np.concatenate([da_z, da_r, da_h * r], axis=1)  # (N, 3u)
            dW += h_prev.T @ dm  # (u, 3u)
            if self.use_bias:
                dweights["recurrent_bias"] += dm.sum(axis=0)  # (3u,)
            dh_prev = dh * z + dm @ W.T  # (N, u)
        else:
            drh = da_h @ W[:, 2 * u :].T  # d(r * h_{t-1})  (N, u)
            da_r = s.backward(drh * h_prev, r)  # (N, u)
            dzr = np.concatenate([da_z, da_r], axis=1)  # (N, 2u)
            dW[:, : 2 * u] += h_prev.T @ dzr  # (u, 2u)
            dW[:, 2 * u :] += kept.T @ da_h  # (u, u), kept = r * h_{t-1}
            dh_prev = dh * z + drh * r + dzr @ W[:, : 2 * u].T  # (N, u)
        return np.concatenate([da_z, da_r, da_h], axis=1), [dh_prev]

    def zero_recurrent_grads(self):
        dweights = super().zero_recurrent_grads()
        if self.reset_after and self.use_bias:
            dweights["recurrent_bias"] = np.zeros_like(self.params["bias"][1])  # (3u,)
        return dweights

    def bias_gradient(self, dinput_bias, dweights):
        if self.reset_after:
            return np.stack([dinput_bias, dweights["recurrent_bias"]])  # (2, 3u)
        return dinput_bias

    def config_extras(self):
        return [
            (
                "activation",
                "recurrent_activation",
                activations.serialize(self.recurrent_activation),
            ),
            ("recurrent_dropout", "reset_after", self.reset_after),
            ("reset_after", "seed", self.seed),
        ]

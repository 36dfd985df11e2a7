"""What SimpleRNN, LSTM and GRU share: the loop over time forward, and backprop through time.

A recurrent layer applies one *step* to every time step of a sequence, carrying a state from
step to step. The three layers differ only in their step (``scratchnet.layers.recurrent``); this
module holds the rest, written once:

* the arguments, defaults, weights and ``get_config`` of Keras's ``RNN`` base and cells;
* ``forward``: the input projection of all time steps at once (it has no recurrence), then the
  loop ``states = step(zx[t], states)``;
* ``backward``: the same loop in reverse (backprop through time): at each step the gradient of
  the state is what the next step sent back plus what the output at this step receives.

A subclass sets ``gates`` (k: the kernel is (D, k*units)) and ``state_size`` (1, or 2 for
LSTM's h and c), and writes ``step`` and ``step_backward``.
"""

import numpy as np

from .. import activations, initializers, regularizers
from .. import random as sn_random
from ..kernels import parallel
from .base import Layer
from .core import regularizers_and_constraints_config, set_regularizers_and_constraints


class _PendingOrthogonal(initializers.Initializer):
    """Stands in for Keras's ``Orthogonal`` initializer while scratchnet has none.

    It draws its seed at construction, as Keras's does, so the layers built after it still get
    Keras's seeds. It fills the weight with NaN: a layer using it must be given its weights
    (``set_weights(keras_layer.get_weights())``) before it runs, and says so otherwise.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self._init_seed = gain, seed
        self.seed = sn_random.make_default_seed() if seed is None else seed

    def __call__(self, shape, dtype=None):
        return np.full(shape, np.nan, dtype=dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self._init_seed}


def _recurrent_initializer(identifier):
    """``initializers.get``, except that 'orthogonal' (a name or a Keras config dict) also works
    while ``scratchnet.initializers`` does not list it by name: then its ``Orthogonal`` class is
    used if it has one, else ``_PendingOrthogonal``."""
    try:
        return initializers.get(identifier)
    except ValueError:
        if isinstance(identifier, dict) and identifier.get("class_name") == "Orthogonal":
            config = dict(identifier.get("config") or {})
        elif isinstance(identifier, str) and identifier.lower() == "orthogonal":
            config = {}
        else:
            raise
    orthogonal = getattr(initializers, "Orthogonal", _PendingOrthogonal)
    return orthogonal(**config)


def _serialize_initializer(init):
    if isinstance(init, _PendingOrthogonal):
        return {
            "module": "keras.initializers",
            "class_name": "Orthogonal",
            "config": init.get_config(),
            "registered_name": None,
        }
    return initializers.serialize(init)


class Recurrent(Layer):
    """Base class of SimpleRNN, LSTM and GRU (Keras's ``RNN`` with its cell folded in).

    Args (those every recurrent layer takes, Keras's names and defaults):
        units: size of the state h (and of the output).
        activation: the state's activation ('tanh').
        use_bias, kernel_initializer ('glorot_uniform'), recurrent_initializer ('orthogonal'),
            bias_initializer ('zeros'): as in Keras.
        return_sequences: return every step's output (N, T, units) instead of the last (N, units).
        return_state: return ``[output, *final_states]`` (see ``backward`` for their gradients).
            In a model that is one call with several output tensors, ``output, h, c =
            LSTM(4, return_state=True)(x)``; backprop gives ``backward`` one gradient each.
        go_backwards: run the sequence from its last step to its first; the output sequence is
            then in that (reversed) order, as in Keras.
        dropout, recurrent_dropout: only 0.0 (not supported yet).
        seed: Keras's dropout seed; kept for ``get_config``.
        unroll, zero_output_for_mask: accepted; they change nothing here (no graph, no masks).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties on the weights
            added to the loss, or None; activity_regularizer: a penalty on each output (with
            ``return_state``, on the output and on every returned state, each divided by the
            batch size N, as Keras's ``Layer.__call__`` adds one per output tensor).
        kernel_constraint, recurrent_constraint, bias_constraint: projections applied after
            every optimizer update, or None.
        ``stateful=True`` is not supported (must be False).

    Shapes:
        x: (N, T, D);  kernel: (D, k*units);  recurrent_kernel: (units, k*units)
        y: (N, units), or (N, T, units) with return_sequences
    """

    input_ndim = 3
    gates = 1  # k: how many blocks of ``units`` columns the kernels have
    state_size = 1  # how many (N, units) states the step carries
    seed_first = False  # Keras's SimpleRNNCell draws its dropout seed before its initializers'

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        kind = f"{type(self).__name__} '{self.name}'"
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{kind}: units must be a positive integer, got {units!r}.")
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if value != 0:
                raise ValueError(
                    f"{kind}: {arg}={value!r} is not supported yet in scratchnet; pass {arg}=0.0 "
                    "(the default). A Dropout layer before it is not the same: it draws a new "
                    "mask at every time step, Keras's dropout= one mask for all steps."
                )
        if stateful:
            raise ValueError(f"{kind}: stateful=True is not supported yet; pass stateful=False.")
        self.units = int(units)
        self.seed = seed
        if self.seed_first:
            self.seed_generator = sn_random.SeedGenerator(seed)  # Keras's order of seed draws
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        # Made here, not in build: Keras draws the random seeds when the layer is constructed.
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = _recurrent_initializer(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, kernel=(kernel_regularizer, kernel_constraint),
            recurrent=(recurrent_regularizer, recurrent_constraint),
            bias=(bias_regularizer, bias_constraint),
        )  # fmt: skip
        if not self.seed_first:
            # Keras's cell owns a dropout seed generator even with dropout 0; creating it keeps
            # the seeds of every initializer constructed afterwards equal to Keras's.
            self.seed_generator = sn_random.SeedGenerator(seed)
        self.dropout, self.recurrent_dropout = 0.0, 0.0
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    def input_layout(self):
        return "(batch, timesteps, features)"

    # -- weights ---------------------------------------------------------------------------------

    def bias_shape(self):
        return (self.gates * self.units,)

    def bias_initial_value(self, shape, dtype):
        return self.bias_initializer(shape, dtype)

    def build(self, input_shape):
        d = input_shape[-1]
        if d is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the feature axis must be known, got input "
                f"shape {tuple(input_shape)}. Give Input a shape such as (None, features)."
            )
        k_units = self.gates * self.units
        self.add_weight(
            shape=(d, k_units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.add_weight(
            shape=(self.units, k_units),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
            name="recurrent_kernel",
        )
        if self.use_bias:
            self.add_weight(
                shape=self.bias_shape(),
                initializer=self.bias_initial_value,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        # Until set_weights fills it, a recurrent kernel from _PendingOrthogonal holds NaN.
        self._pending_init = isinstance(self.recurrent_initializer, _PendingOrthogonal)
        # Any number of time steps works once built (Keras checks only the rank): leave T open.
        super().build((input_shape[0], None, d))

    def _check_weights_ready(self):
        if self._pending_init:
            if np.isnan(self.params["recurrent_kernel"]).any():
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': recurrent_kernel has no values: "
                    "recurrent_initializer='orthogonal' is not in scratchnet.initializers yet. "
                    "Copy weights in first (layer.set_weights(keras_layer.get_weights())), or "
                    "pass recurrent_initializer='glorot_uniform'."
                )
            self._pending_init = False

    def compute_output_shape(self, input_shape):
        n, t = input_shape[0], input_shape[1]
        output = (n, t, self.units) if self.return_sequences else (n, self.units)
        if self.return_state:
            return [output] + [(n, self.units)] * self.state_size
        return output

    # -- calling ---------------------------------------------------------------------------------

    def __call__(self, *args, training=None, mask=None, initial_state=None, **kwargs):
        if mask is not None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': masking is not supported yet; call the "
                "layer without mask= (and without a Masking layer or mask_zero=True before it)."
            )
        if initial_state is not None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': initial_state is not supported yet; the "
                "states start at zero, as Keras's do by default."
            )
        return super().__call__(*args, training=training, **kwargs)

    # -- forward and backward through time -------------------------------------------------------

    def forward(self, x, training=False):
        """Run ``step`` over the T time steps; cache each step's values when training."""
        self._check_weights_ready()
        N, T, D = x.shape
        xs = x[:, ::-1] if self.go_backwards else x  # (N, T, D), in the order the steps run
        kernel = self.params["kernel"]
        # The input projection x_t @ kernel + bias has no recurrence: all T steps in one product.
        zx = parallel.matmul(xs.reshape(N * T, D), kernel)  # (N*T, k*units)
        zx = zx.reshape(N, T, -1).transpose(1, 0, 2)  # (T, N, k*units), a view: zx[t] is a step
        if self.use_bias:
            zx += self.input_bias()
        states = [np.zeros((N, self.units), x.dtype) for _ in range(self.state_size)]
        outputs = np.empty((N, T, self.units), x.dtype) if self.return_sequences else None
        caches = []
        for t in range(T):
            states, cache = self.step(zx[t], states)  # states[0] is h_t, the step's output
            if outputs is not None:
                outputs[:, t] = states[0]
            if training:
                caches.append(cache)
        if not self.return_state:
            y = outputs if outputs is not None else states[0]  # (N, T, units) or h_T (N, units)
        else:
            output = outputs if outputs is not None else states[0].copy()  # not the state's array
            y = [output, *states]
        if training:
            # backward needs x (dkernel), every step, and the outputs (their activity penalty)
            self._xs, self._caches, self._y = xs, caches, y
        if self.regularized:  # the penalties of the outputs and the weights: the layer's losses
            self._losses = regularizers.penalties(self, y)
        return y

    def input_bias(self):
        """The part of the bias added to the input projection (all of it, except in GRU)."""
        return self.params["bias"]

    def backward(self, dy, need_dx=True):
        """Backprop through time.

        Args:
            dy: dL/d(output), shaped like the output. With ``return_state``, a list
                ``[d output, d h_T, (d c_T)]`` in the order forward returned them; an entry may
                be None (that output does not reach the loss).

        Returns:
            dx (N, T, D), in the input's time order (also with go_backwards), or None.
        """
        xs, caches = self._xs, self._caches
        N, T, D = xs.shape
        douts = list(dy) if isinstance(dy, (list, tuple)) else [dy]
        if self.activity_regularizer is not None:  # L also holds penalty(out) / N, every output
            outs = self._y if self.return_state else [self._y]
            douts = [regularizers.activity_gradient(self, out) + (0 if d is None else d)
                     for out, d in zip(outs, douts)]  # fmt: skip
        doutput = douts[0]
        # dL/d(state) flowing into the last step: from the returned states, if any.
        dstates = [np.zeros((N, self.units), xs.dtype) for _ in range(self.state_size)]
        for i, dfinal in enumerate(douts[1:]):
            if dfinal is not None:
                dstates[i] = dstates[i] + dfinal
        dweights = self.zero_recurrent_grads()
        dzx = np.empty((T, N, self.gates * self.units), xs.dtype)  # dL/d(x_t @ kernel + bias)
        for t in reversed(range(T)):
            # h_t went to two places, the output and step t+1: its gradient is the sum of both.
            if doutput is not None and self.return_sequences:
                dstates[0] = dstates[0] + doutput[:, t]
            elif doutput is not None and t == T - 1:
                dstates[0] = dstates[0] + doutput
            dzx[t], dstates = self.step_backward(dstates, caches[t], dweights)
        dzx2 = dzx.transpose(1, 0, 2).reshape(N * T, -1)  # (N*T, k*units), rows in xs's order
        self.grads["kernel"] = parallel.matmul(xs.reshape(N * T, D).T, dzx2)  # x^T @ dzx
        self.grads["recurrent_kernel"] = dweights["recurrent_kernel"]
        if self.use_bias:
            self.grads["bias"] = self.bias_gradient(dzx2.sum(axis=0), dweights)  # sum_{N,T} dzx
        if self.regularized:  # dkernel += d kernel_regularizer / d kernel, and the others
            regularizers.add_weight_gradients(self)
        if not need_dx:
            return None
        dx = parallel.matmul(dzx2, self.params["kernel"].T).reshape(N, T, D)  # dzx @ kernel^T
        return dx[:, ::-1] if self.go_backwards else dx

    def zero_recurrent_grads(self):
        """The gradients each step adds to, starting at zero: dL/d(recurrent_kernel)."""
        return {"recurrent_kernel": np.zeros_like(self.params["recurrent_kernel"])}

    def bias_gradient(self, dinput_bias, dweights):
        return dinput_bias

    # -- config ----------------------------------------------------------------------------------

    def get_config(self):
        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": False,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _serialize_initializer(self.kernel_initializer),
            "recurrent_initializer": _serialize_initializer(self.recurrent_initializer),
            "bias_initializer": _serialize_initializer(self.bias_initializer),
            **regularizers_and_constraints_config(self),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
        for anchor, key, value in self.config_extras():  # at Keras's places in the dict
            keys = list(config)
            at = keys.index(anchor) + 1
            config = {**{k: config[k] for k in keys[:at]}, key: value,
                      **{k: config[k] for k in keys[at:]}}  # fmt: skip
        return config

    def config_extras(self):
        """A layer's own config entries, each ``(the key it follows, key, value)``."""
        return []

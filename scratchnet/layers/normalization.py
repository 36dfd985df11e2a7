"""BatchNormalization: normalize each channel by the batch's statistics, as Keras does.

The one built-in layer that behaves differently in training and at inference, and the one with
state that is not learned by gradient descent (the moving mean and variance). Read the class
docstring for the lesson: why ``fit`` and ``evaluate`` report different losses on the same data.
"""

import numpy as np

from .. import initializers, regularizers
from ..kernels import backend
from .base import Layer
from .core import regularizers_and_constraints_config, set_regularizers_and_constraints


class BatchNormalization(Layer):
    """Normalize each channel to mean 0 and variance 1, then scale by gamma and shift by beta.

    Args:
        axis: the channels axis, the one that keeps its own statistics (default -1: channels
            last, ``(N, D)`` features or ``(N, H, W, C)`` images). Every other axis, the batch
            included, is averaged over. One integer, as in Keras 3.
        momentum: how slowly the moving statistics follow the batches, in [0, 1]:
            ``moving = moving * momentum + batch_statistic * (1 - momentum)``.
        epsilon: added to the variance before the square root (>= 0), so a constant channel
            does not divide by zero.
        center: learn an offset ``beta`` (else the output has mean 0).
        scale: learn a scale ``gamma`` (else the output has variance 1).
        beta_initializer, gamma_initializer, moving_mean_initializer,
            moving_variance_initializer: as in Keras ('zeros', 'ones', 'zeros', 'ones').
        beta_regularizer, gamma_regularizer: penalties on beta and gamma added to the loss
            (their gradients added to dbeta and dgamma), or None.
        beta_constraint, gamma_constraint: projections applied after every update, or None.
        activity_regularizer: a penalty on y divided by the batch size, as every Keras layer
            takes (``Layer``'s argument; dy gets its gradient first), or None.
        synchronized: Keras's flag for statistics across devices. scratchnet runs on one device,
            but Keras (TF backend) then still computes the variance the all-reduce way,
            E[x^2] - E[x]^2 clipped at 0, instead of E[(x - mean)^2], and so does scratchnet:
            the same math, but it cancels badly. Measured in float32 on data of mean 1000 and
            standard deviation 0.01: variance 0.1875 (and 0 for another channel) instead of 8.7e-5.
        renorm, renorm_clipping, renorm_momentum: Keras's batch renormalization; only
            ``renorm=False`` (the default) is implemented.

    Shapes:
        x, y: any rank >= 1, e.g. (N, D) or (N, H, W, C); C = x.shape[axis] channels.
        gamma, beta, moving_mean, moving_variance: (C,), in this order (Keras's weights: the
            trainable gamma and beta, then the non-trainable moving statistics; each one only
            if it exists).
        M: the number of values per channel, N*H*W for (N, H, W, C) with axis=-1.

    Math:
        forward, training (``training=True`` and ``layer.trainable``), per channel c:
            mean = (1/M) sum x                      over the M values of channel c
            var = (1/M) sum (x - mean)^2            biased (1/M, not 1/(M-1)), as Keras
            inv_std = 1 / sqrt(var + epsilon)
            x_hat = (x - mean) * inv_std
            y = gamma * x_hat + beta
            and, once per training call, the state update (Keras's TF backend, measured):
            moving_mean = moving_mean * momentum + mean * (1 - momentum)
            moving_variance = moving_variance * momentum + var * (1 - momentum)
            where ``momentum`` and ``1 - momentum`` (computed as Python doubles) are each
            rounded to the weights' dtype first: in float32, 0.99 becomes 0.99000001, and
            1 - 0.9 is float32(0.09999999999999998), not float32(1) - float32(0.9).
            The moving variance takes the same biased variance that normalized the batch.
        forward, inference: the same y with mean = moving_mean, var = moving_variance.
        backward, inference (the statistics are constants):
            dbeta = sum dy;  dgamma = sum dy * x_hat;  dx = dy * gamma * inv_std
        backward, training: mean and var depend on every x of the channel, so dx has two more
            paths. With dx_hat = dy * gamma and sums over the M values of channel c:
            dvar = sum dx_hat * (x - mean) * (-1/2) inv_std^3
            dmean = -inv_std * sum dx_hat            (the path through var adds
                                                      dvar * (-2/M) sum (x - mean) = 0)
            dx = dx_hat * inv_std + dvar * 2 (x - mean) / M + dmean / M
            which, with (x - mean) * inv_std = x_hat, collects into
            dx = (gamma * inv_std / M) * (M * dy - dbeta - x_hat * dgamma)
            the three terms: the direct path, the path through the mean (every output moves
            when the mean moves), the path through the variance.

    Why ``fit`` and ``evaluate`` disagree on the same data:
        ``fit`` reports the running mean of the batch losses of the epoch, each computed in
        training mode: every batch is normalized by its own mean and variance, and the weights
        change after every batch, so early batches are scored by earlier weights. ``evaluate``
        runs in inference mode with the final weights, and normalizes every sample by the moving
        statistics, an exponential average over the batches seen, which lags behind: after k
        steps from the initial (0, 1), the moving mean holds only 1 - momentum^k of the data's
        mean (with 0.99, about 10% after 10 steps, 63% after 100). Until it has caught up,
        ``evaluate`` (and ``predict``) normalize with statistics the network never trained
        with, and can score much worse than ``fit`` suggested; with a small momentum, or
        many steps, the two agree up to the batch-to-batch noise of the statistics.

    Example:
        >>> import numpy as np
        >>> layer = BatchNormalization()
        >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])  # 2 samples, 2 channels
        >>> np.round(layer(x, training=True), 2)  # batch statistics: means (2, 20), vars (1, 100)
        array([[-1., -1.],
               [ 1.,  1.]], dtype=float32)
        >>> layer.params["moving_mean"]  # 0.99 * 0 + 0.01 * (2, 20), in float32 as in Keras
        array([0.02      , 0.19999999], dtype=float32)
        >>> layer(x, training=False).shape  # inference: the moving statistics, no update
        (2, 2)
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        layer_name = f"BatchNormalization '{self.name}'"
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(
                f"{layer_name}: axis must be one integer, the channels axis (-1 for channels "
                f"last), got {axis!r}. Keras 3's BatchNormalization keeps statistics per entry "
                "of one axis and averages over all the others."
            )
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(
                f"{layer_name}: momentum must be in [0, 1], got {momentum!r}. It is the weight "
                "of the old moving statistics in each update (Keras's default is 0.99)."
            )
        if not float(epsilon) >= 0.0:
            raise ValueError(
                f"{layer_name}: epsilon must be >= 0 (it is added to the variance before the "
                f"square root), got {epsilon!r}. Keras's default is 1e-3."
            )
        if renorm or renorm_clipping is not None:
            raise ValueError(
                f"{layer_name}: batch renormalization (renorm=True, renorm_clipping) is not "
                "implemented in scratchnet. Use renorm=False, the default."
            )
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.synchronized = synchronized
        self.renorm_momentum = renorm_momentum  # kept as given, as Keras does, for get_config
        # Made here, not in build, as Keras does (a random initializer draws its seed here).
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        set_regularizers_and_constraints(
            self, activity_regularizer, beta=(beta_regularizer, beta_constraint),
            gamma=(gamma_regularizer, gamma_constraint),
        )  # fmt: skip

    # -- shapes --------------------------------------------------------------------------------

    def _channel_axis(self, input_shape):
        """``axis`` as a non-negative index into ``input_shape``, or a clear error."""
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"BatchNormalization '{self.name}': axis={self.axis} is out of bounds for inputs "
                f"of shape {tuple(input_shape)} (rank {ndim}). Use an axis in [{-ndim}, {ndim}), "
                "usually -1, the channels axis."
            )
        return self.axis % ndim

    def build(self, input_shape):
        channel = self._channel_axis(input_shape)
        C = input_shape[channel]
        if C is None:
            raise ValueError(
                f"BatchNormalization '{self.name}': the size of axis {self.axis} (the channels) "
                f"must be known to create the weights, got input shape {tuple(input_shape)}."
            )
        shape = (C,)
        if self.scale:
            self.add_weight(
                shape=shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                name="gamma",
            )
        if self.center:
            self.add_weight(
                shape=shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                name="beta",
            )
        self.add_weight(
            shape=shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            name="moving_mean",
        )
        self.add_weight(
            shape=shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            name="moving_variance",
        )
        super().build(input_shape)

    def check_input_shape(self, shape):
        """Once built, the rank and the number of channels are fixed (Keras's InputSpec)."""
        if self.built and (
            len(shape) != len(self.input_shape) or shape[self.axis] != self.input_shape[self.axis]
        ):
            raise ValueError(
                f"BatchNormalization '{self.name}' was built for inputs of shape "
                f"{tuple(self.input_shape)} (axis {self.axis} of size "
                f"{self.input_shape[self.axis]}), but got shape {tuple(shape)}. The rank and the "
                "number of channels must stay the same."
            )
        super().check_input_shape(shape)

    def compute_output_shape(self, input_shape):
        self._channel_axis(input_shape)  # raises if axis does not fit
        return tuple(input_shape)

    # -- forward and backward ------------------------------------------------------------------

    def forward(self, x, training=False, relu=False):
        """``relu=True``: return relu(y) (a ReLU that follows, fused: ``layers/fused.py``)."""
        ops, channel = backend.current(), self.axis % x.ndim  # the passes: kernels/batch_norm.py
        use_batch_statistics = bool(training) and self.trainable  # a frozen layer: inference
        if use_batch_statistics:
            # mean = (1/M) sum x, var = (1/M) sum (x - mean)^2 (synchronized: E[x^2] - E[x]^2)
            mean, variance = ops.batch_norm_moments(x, channel, self.synchronized)  # (C,) each
            self._update_moving_statistics(mean, variance)
        else:
            mean, variance = self.params["moving_mean"], self.params["moving_variance"]
        inv_std = 1.0 / np.sqrt(variance + x.dtype.type(self.epsilon))  # (C,)
        gamma = self.params["gamma"] if self.scale else None  # (C,)
        beta = self.params["beta"] if self.center else None  # (C,)
        # x_hat = (x - mean) * inv_std, y = gamma * x_hat + beta
        y = ops.batch_norm_normalize(x, channel, mean, inv_std, gamma, beta, relu)  # (N, ..., C)
        if training:
            # backward needs x, mean and inv_std (it recomputes x_hat from them rather than
            # keeping a second array of x's size), which statistics were used, and, after a
            # fused ReLU, gamma and beta (to recompute where y > 0); the mean copied, since the
            # moving mean is updated in place
            self._x, self._mean, self._inv_std = x, mean.copy(), inv_std
            self._used_batch_statistics = use_batch_statistics
            self._relu_of = (gamma, beta) if relu else None
        if self.regularized:  # the penalties of y, gamma and beta are this layer's losses
            self._losses = regularizers.penalties(self, y)  # (never fused with a ReLU then)
            self._y = y if training else None  # the activity penalty's gradient reads y
        return y

    def _update_moving_statistics(self, mean, variance):
        """The state update of a training call, in place, with Keras's arithmetic and roundings:
        ``moving * momentum + batch * (1 - momentum)``, both factors rounded to the dtype."""
        dtype = self.params["moving_mean"].dtype.type
        keep, take = dtype(self.momentum), dtype(1.0 - self.momentum)
        for key, batch in (("moving_mean", mean), ("moving_variance", variance)):
            moving = self.params[key]  # (C,), the Variable's own array: updated in place
            moving[...] = moving * keep + batch * take

    def backward(self, dy, need_dx=True):
        """After a fused ReLU, ``dy`` is dL/d relu(y): the kernels take it through relu' first."""
        if self.activity_regularizer is not None:  # L also holds penalty(y) / N
            dy = dy + regularizers.activity_gradient(self, self._y)  # (N, ..., C), a new array
        ops, x, mean, inv_std = backend.current(), self._x, self._mean, self._inv_std
        channel, relu_of = self.axis % x.ndim, self._relu_of
        # dbeta = sum dy, dgamma = sum dy * x_hat
        sums = ops.batch_norm_gradient_sums(dy, x, channel, mean, inv_std, relu_of)
        sum_dy, sum_dy_x_hat = sums  # (C,) each
        if self.center:
            self.grads["beta"] = sum_dy
        if self.scale:
            self.grads["gamma"] = sum_dy_x_hat
        if self.regularized:  # dgamma += d gamma_regularizer / d gamma, the same for beta
            regularizers.add_weight_gradients(self)
        if not need_dx:
            return None
        scale = inv_std * self.params["gamma"] if self.scale else inv_std  # (C,) gamma * inv_std
        if not self._used_batch_statistics:  # inference statistics are constants
            # dx = dy * gamma * inv_std: the formula below without the paths through the
            # statistics (their sums set to 0)
            zero = np.zeros_like(sum_dy)
            return ops.batch_norm_dx(dy, x, channel, mean, inv_std, scale, zero, zero, relu_of)
        # dx = (gamma * inv_std / M) * (M * dy - dbeta - x_hat * dgamma)
        args = (mean, inv_std, scale, sum_dy, sum_dy_x_hat, relu_of)
        return ops.batch_norm_dx(dy, x, channel, *args)  # (N, ..., C)

    # -- config --------------------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            **regularizers_and_constraints_config(self, activity=False),
            "synchronized": self.synchronized,
            "renorm": False,
            "renorm_clipping": None,
            "renorm_momentum": self.renorm_momentum,
        }

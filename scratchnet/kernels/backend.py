"""The two kernel families behind one interface, chosen in one place (MiniTorch's TensorBackend).

Every op of the built-in layers that has a fast kernel has two implementations with one
signature:

* ``NumpyKernels``: the NumPy reference twins. Short, readable, slow: the math as a student
  writes it, and what the fast kernels are tested against.
* ``NumbaKernels``: the numba kernels (the default). Each takes the arrays it was written for
  (float32 or float64, C order) and hands anything else to its twin.

``current()`` returns the family that ``scratchnet.config.use_kernels`` (or the environment
variable ``SCRATCHNET_KERNELS``) selected; layers, activations, optimizers and the random
numbers call ops through it and never ask which family it is. The two give the same numbers,
bit for bit, wherever the tests say so (all but the convolution's sums, whose order differs:
there they agree to rounding).

Example:
    >>> import numpy as np
    >>> current() is NumbaKernels, NumpyKernels.relu_backward(np.ones(2), np.array([0.0, 3.0]))
    (True, array([0., 1.]))
"""

import numpy as np

from .. import config
from . import batch_norm, conv, conv_pool, elementwise, philox, pooling, updates
from .conv import reference as conv_reference


class NumpyKernels:
    """The reference twins (``config.use_kernels("numpy")``)."""

    name = "numpy"
    fuses_conv_pool = False  # Conv2D + MaxPooling2D run as the two layers
    fuses_norm_relu = False  # BatchNormalization + ReLU too

    conv2d_forward = staticmethod(conv_reference.conv2d_forward)
    conv2d_backward = staticmethod(conv_reference.conv2d_backward)
    max_pool2d_forward = staticmethod(pooling.max_pool2d_forward_reference)
    max_pool2d_backward = staticmethod(pooling.max_pool2d_backward_reference)
    batch_norm_moments = staticmethod(batch_norm.moments_reference)
    batch_norm_normalize = staticmethod(batch_norm.normalize_reference)
    batch_norm_gradient_sums = staticmethod(batch_norm.gradient_sums_reference)
    batch_norm_dx = staticmethod(batch_norm.batch_dx_reference)

    key_and_counter = staticmethod(philox.key_and_counter_numpy)
    philox_words = staticmethod(philox.philox_words_numpy)
    unit_floats = staticmethod(philox.unit_floats_numpy)
    dropout_mask = staticmethod(philox.dropout_mask_numpy)
    normal = staticmethod(philox.normal_numpy)
    truncated_normal = staticmethod(philox.truncated_normal_numpy)

    @staticmethod
    def sigmoid(z, out=None):
        """y = 1 / (1 + exp(-z)), in place in ``out`` (four passes over one array).

        For z below about -88 (float32) exp(-z) overflows to inf and y becomes exactly 0, the
        right limit, so the overflow warning is silenced.
        """
        y = np.negative(z, out=out)  # (same as z)
        with np.errstate(over="ignore"):
            np.exp(y, out=y)
        y += 1
        return np.divide(1, y, out=y)  # = np.reciprocal(y), bit for bit, and 2x faster here

    @staticmethod
    def relu_backward(dy, y):
        """dz = dy * (y > 0): relu'(0) = 0, as in TensorFlow."""
        return dy * (y > 0)

    @staticmethod
    def sigmoid_backward(dy, y):
        """dz = dy * y * (1 - y)."""
        return dy * y * (1 - y)

    @staticmethod
    def sgd_update(g, w, lr):
        """w <- w - g * lr, in place."""
        w -= g * lr

    @staticmethod
    def adam_update(g, w, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
        """Adam's moments and step, in place (the numbers of ``optimizers.Adam``)."""
        m += (g - m) * one_minus_beta_1
        v += (np.square(g) - v) * one_minus_beta_2
        w -= (m * alpha) / (np.sqrt(v) + epsilon)

    @staticmethod
    def rmsprop_update(g, w, v, lr, rho, one_minus_rho, epsilon):
        """RMSprop's average and step, in place (the numbers of ``optimizers.RMSprop``)."""
        v[...] = rho * v + one_minus_rho * np.square(g)
        w -= (lr * g) / np.sqrt(v + epsilon)


def _fits(*arrays):
    """True if the numba kernels take these arrays: one float dtype, one shape, C order."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype not in _FLOATS:
        return False
    dtype, shape = first.dtype, first.shape
    for a in arrays:  # a plain loop: this runs for every update and activation, every step
        if type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape:
            return False
        if not a.flags.c_contiguous:
            return False
    return True


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class NumbaKernels:
    """The numba kernels (the default). The same signatures as ``NumpyKernels``."""

    name = "numba"
    fuses_conv_pool = True  # Conv2D + MaxPooling2D may run as one step (scratchnet.layers.fused)
    fuses_norm_relu = True  # BatchNormalization + ReLU too

    conv2d_forward = staticmethod(conv.conv2d_forward)
    conv2d_backward = staticmethod(conv.conv2d_backward)
    conv2d_maxpool_forward = staticmethod(conv_pool.conv2d_maxpool_forward)
    conv2d_maxpool_backward = staticmethod(conv_pool.conv2d_maxpool_backward)
    max_pool2d_forward = staticmethod(pooling.max_pool2d_forward)
    max_pool2d_backward = staticmethod(pooling.max_pool2d_backward)
    batch_norm_moments = staticmethod(batch_norm.moments)
    batch_norm_normalize = staticmethod(batch_norm.normalize)
    batch_norm_gradient_sums = staticmethod(batch_norm.gradient_sums)
    batch_norm_dx = staticmethod(batch_norm.batch_dx)

    key_and_counter = staticmethod(philox.key_and_counter_numba)
    philox_words = staticmethod(philox.philox_words_numba)
    unit_floats = staticmethod(philox.unit_floats_numba)
    dropout_mask = staticmethod(philox.dropout_mask_numba)
    normal = staticmethod(philox.normal_numba)
    truncated_normal = staticmethod(philox.truncated_normal_numba)

    @staticmethod
    def sigmoid(z, out=None):
        """One pass with its own SIMD exp, within 2.5 ulp (``elementwise.sigmoid_kernel``)."""
        z = np.asarray(z)
        if not (_fits(z) and (out is None or _fits(z, out))):
            return NumpyKernels.sigmoid(z, out)
        y = np.empty_like(z) if out is None else out
        elementwise.sigmoid_kernel(z, y)
        return y

    @staticmethod
    def relu_backward(dy, y):
        """The twin's numbers in one pass (``elementwise.activation_backward_kernel``)."""
        if not _fits(dy, y):
            return NumpyKernels.relu_backward(dy, y)
        dz = np.empty_like(dy)
        elementwise.activation_backward_kernel(dy, y, elementwise.RELU, dz)
        return dz

    @staticmethod
    def sigmoid_backward(dy, y):
        """The twin's numbers in one pass (``elementwise.activation_backward_kernel``)."""
        if not _fits(dy, y):
            return NumpyKernels.sigmoid_backward(dy, y)
        dz = np.empty_like(dy)
        elementwise.activation_backward_kernel(dy, y, elementwise.SIGMOID, dz)
        return dz

    @staticmethod
    def sgd_update(g, w, lr):
        """The twin's numbers in one pass (``updates.sgd_kernel``)."""
        if not _fits(g, w):
            return NumpyKernels.sgd_update(g, w, lr)
        updates.sgd_kernel(g.reshape(-1), w.reshape(-1), lr)

    @staticmethod
    def adam_update(g, w, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
        """The twin's numbers in one pass (``updates.adam_kernel``)."""
        if not _fits(g, w, m, v):
            return NumpyKernels.adam_update(
                g, w, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon
            )
        flat = [a.reshape(-1) for a in (g, w, m, v)]  # views: all are contiguous
        updates.adam_kernel(*flat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon)

    @staticmethod
    def rmsprop_update(g, w, v, lr, rho, one_minus_rho, epsilon):
        """The twin's numbers in one pass (``updates.rmsprop_kernel``)."""
        if not _fits(g, w, v):
            return NumpyKernels.rmsprop_update(g, w, v, lr, rho, one_minus_rho, epsilon)
        flat = [a.reshape(-1) for a in (g, w, v)]  # views: all are contiguous
        updates.rmsprop_kernel(*flat, lr, rho, one_minus_rho, epsilon)


FAMILIES = {"numpy": NumpyKernels, "numba": NumbaKernels}


def current():
    """The kernel family in use: ``NumbaKernels`` or ``NumpyKernels`` (``config.kernels()``)."""
    return FAMILIES[config.kernels()]

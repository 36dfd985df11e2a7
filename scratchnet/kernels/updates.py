"""SGD's, Adam's and RMSprop's updates as one numba pass each (``scratchnet.optimizers``).

In NumPy, Adam's update is eight array operations, each a pass over memory with a temporary
array (measured: docs/kernels/updates.md#measured-one-pass-updates). Here it is one loop that
reads each value once and writes w, m and v once. The arithmetic is the NumPy formula's, in the
same order and in the weights' precision, so the results are the same bit for bit (a test checks
it); the formulas themselves, with Keras's rounding of each constant, are in
``scratchnet.optimizers``.
"""

import numpy as np

from .jit import njit


@njit
def sgd_kernel(g, w, lr):
    """Plain SGD (no momentum), in place, for 1-D arrays of one dtype: w <- w - g * lr."""
    for i in range(w.size):
        w[i] = w[i] - g[i] * lr


@njit
def adam_kernel(g, w, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """Adam without amsgrad, in place, for 1-D arrays of one dtype.

    Math (each line in that order, as the NumPy twin):
        m <- m + (g - m) * (1 - beta_1)
        v <- v + (g^2 - v) * (1 - beta_2)
        w <- w - (m * alpha) / (sqrt(v) + epsilon)
    """
    for i in range(w.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1
        vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
        m[i], v[i] = mi, vi
        w[i] = w[i] - (mi * alpha) / (np.sqrt(vi) + epsilon)


@njit
def rmsprop_kernel(g, w, v, lr, rho, one_minus_rho, epsilon):
    """RMSprop without momentum or centering, in place, for 1-D arrays of one dtype.

    Math (as the NumPy twin):
        v <- rho * v + (1 - rho) * g^2
        w <- w - (lr * g) / sqrt(v + epsilon)
    """
    for i in range(w.size):
        gi = g[i]
        vi = rho * v[i] + one_minus_rho * (gi * gi)
        v[i] = vi
        w[i] = w[i] - (lr * gi) / np.sqrt(vi + epsilon)

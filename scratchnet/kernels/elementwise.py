"""Bias and activations as numba kernels: the elementwise work inside a convolution's chunks.

``scratchnet.activations`` states each activation in NumPy. Run on a chunk of a convolution, that
NumPy is four to six calls, each short, each giving up Python's lock and taking it back
(measured: docs/kernels/elementwise.md#measured-bias-and-activation). Here the same rules are
numba loops that a chunk kernel calls without leaving machine code (``scratchnet.kernels.conv``),
and that ``scratchnet.activations`` itself uses whenever the numba kernels are selected, so every
layer computes an activation the same way.

Activations are passed to kernels as small integers: ``code(activation)``. Only linear, relu and
sigmoid have kernels; others (tanh, softmax) return ``OTHER`` and stay in NumPy.

Sigmoid needs exp, and numba's exp is a scalar library call, much slower than NumPy's SIMD exp.
So ``sigmoid_kernel`` computes exp itself (float32), in loops LLVM turns into SIMD code:

    exp(t) = 2^n * exp(r),  n = round(t / ln 2),  r = t - n ln 2 in [-ln2/2, ln2/2]
    exp(r) ~ 1 + r + r^2 (1/2 + r/6 + ...)        (Cephes' expf polynomial)
    2^n is put in by adding n to the float's exponent bits

with t = -|z| <= 0, so exp never overflows, and sigmoid(z) = 1/(1 + e) for z >= 0 or e/(1 + e)
for z < 0, with e = exp(-|z|). Within 2.5 units in the last place of the exact value, and
faster than NumPy's four passes (measured: docs/kernels/elementwise.md#measured-sigmoid). Below
z = -87 it returns 0 (the true value is under 1.7e-38). float64 uses math.exp.
"""

import math

import numpy as np

from .jit import njit

OTHER, LINEAR, RELU, SIGMOID = -1, 0, 1, 2
_CODES = {"linear": LINEAR, "relu": RELU, "sigmoid": SIGMOID}


def code(activation):
    """The kernels' number for an activation object (None means linear); OTHER if it has none."""
    return LINEAR if activation is None else _CODES.get(activation.name, OTHER)


# Cephes expf: ln 2 split in two so that n * LN2_HI is exact, and the polynomial for exp(r).
_F = np.float32
LOG2E, LN2_HI, LN2_LO = _F(1.44269504088896341), _F(0.693359375), _F(-2.12194440e-4)
EXP_POLY = (_F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3), _F(4.1665795894e-2),
            _F(1.6666665459e-1), _F(5.0000001201e-1))  # fmt: skip
LOWEST = _F(-87.0)  # exp(t) for t >= -87 is a normal float32, so the exponent trick holds
BLOCK = 256  # values per pass: the three passes below stay in the L1 cache


@njit
def _sigmoid_float32(z, y):
    """y = sigmoid(z) for 1-D float32 arrays (y may be z): see the module docstring.

    Works on blocks copied into local buffers, so that no loop reads the array it writes: with
    y = z (in place) LLVM would otherwise fall back to a scalar loop
    (docs/kernels/elementwise.md#measured-sigmoid).
    """
    P0, P1, P2, P3, P4, P5 = EXP_POLY
    z_block = np.empty(BLOCK, np.float32)
    e_block = np.empty(BLOCK, np.float32)
    e_bits = e_block.view(np.int32)  # the same memory, read as integers
    n_block = np.empty(BLOCK, np.int32)
    for start in range(0, z.size, BLOCK):
        zb, yb = z[start : start + BLOCK], y[start : start + BLOCK]  # this block, as views
        size = zb.size
        for k in range(size):  # (a loop, not a slice assignment: numba compiles it faster)
            z_block[k] = zb[k]
        for k in range(size):  # pass 1: e = exp(r), n
            t = max(-abs(z_block[k]), LOWEST)
            n = np.floor(t * LOG2E + _F(0.5))
            r = (t - n * LN2_HI) - n * LN2_LO
            p = ((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5
            e_block[k] = p * r * r + r + _F(1.0)
            n_block[k] = np.int32(n)
        for k in range(size):  # pass 2: e *= 2^n, by adding n to the exponent bits
            e_bits[k] += n_block[k] << 23
        for k in range(size):  # pass 3: sigmoid from e = exp(-|z|)
            v = z_block[k]
            e = e_block[k] if -abs(v) >= LOWEST else _F(0.0)
            s = _F(1.0) / (_F(1.0) + e)
            yb[k] = v if v != v else (s if v >= 0 else e * s)  # NaN stays NaN


@njit
def _sigmoid_float64(z, y):
    """y = sigmoid(z) for 1-D float64 arrays, with e = exp(-|z|) as above."""
    for i in range(z.size):
        v = z[i]
        e = math.exp(-abs(v))
        s = 1.0 / (1.0 + e)
        y[i] = s if v >= 0 else e * s


@njit
def sigmoid_kernel(z, y):
    """y = 1 / (1 + exp(-z)) elementwise, for contiguous arrays of any shape (y may be z)."""
    z, y = z.reshape(z.size), y.reshape(y.size)
    if z.itemsize == 4:
        _sigmoid_float32(z, y)
    else:
        _sigmoid_float64(z, y)


@njit
def bias_activation_kernel(z, bias, use_bias, activation, y):
    """z += bias (if ``use_bias``), then y = activation(z), for a (rows, C) chunk.

    ``activation`` is a ``code``: relu sets values below 0 to 0 (NaN and -0.0 stay, as in
    np.maximum); OTHER only adds the bias. ``y`` may be ``z``; otherwise z keeps the logits.
    """
    rows, C = z.shape
    for r in range(rows):
        for c in range(C):
            v = z[r, c] + bias[c] if use_bias else z[r, c]
            z[r, c] = v
            if activation == RELU:
                y[r, c] = 0 if v < 0 else v
            elif activation != SIGMOID:
                y[r, c] = v
    if activation == SIGMOID:
        sigmoid_kernel(z, y)


@njit
def activation_backward_kernel(dy, y, activation, dz):
    """dz = activation'(dy) read from the output y, with the rules of ``scratchnet.activations``.

    relu: dz = dy * (y > 0);  sigmoid: dz = dy * y * (1 - y);  linear: dz = dy.
    Contiguous arrays of one shape; dz may be dy.
    """
    dy, y, dz = dy.reshape(dy.size), y.reshape(y.size), dz.reshape(dz.size)
    one = np.ones(1, dtype=y.dtype)[0]  # 1 in y's precision, as NumPy's ``1 - y`` computes
    zero = np.zeros(1, dtype=y.dtype)[0]  # (y > 0) as a number, as NumPy's ``dy * (y > 0)``
    for i in range(dy.size):
        if activation == RELU:
            dz[i] = dy[i] * (one if y[i] > 0 else zero)
        elif activation == SIGMOID:
            dz[i] = dy[i] * y[i] * (one - y[i])
        else:
            dz[i] = dy[i]


class Deferred:
    """An elementwise result computed one slice of the batch at a time, when it is asked for.

    ``Deferred(rule, a, b)[start:stop]`` is ``rule(a[start:stop], b[start:stop])``, and
    ``full()`` is ``rule(a, b)``. A layer's dz = activation'(dy) is such a result:
    ``Deferred(activation.backward, dy, y)``. A convolution asks for each chunk of images' dz
    right before the products that read it, while the chunk is in the core's cache, instead of
    computing the whole batch's dz first and reading it back from memory. The rule is
    elementwise (softmax: per sample), so the numbers are the same either way.
    """

    def __init__(self, rule, *arrays):
        self.rule, self.arrays = rule, arrays
        self.shape = arrays[0].shape
        self.code = OTHER  # which activation's backward the rule is, when a kernel knows it

    @classmethod
    def activation_backward(cls, activation, *arrays):
        """dz = ``activation.backward(*arrays)``, deferred: ``arrays`` are (dy, y) or (dy, y, z).

        It also records ``code(activation)``: a convolution's chunk kernels compute dz for
        linear, relu and sigmoid themselves, with ``activation_backward_kernel``, the kernel
        that ``activation.backward`` runs (the same numbers).
        """
        deferred = cls(activation.backward, *arrays)
        deferred.code = code(activation)
        return deferred

    def __getitem__(self, rows):
        return self.rule(*(a[rows] for a in self.arrays))

    def full(self):
        return self.rule(*self.arrays)

"""Randomness that matches Keras and TensorFlow bit for bit, written in NumPy.

Keras (TensorFlow backend) draws every random number it needs, initial weights and Dropout masks
alike, from ``tf.random.stateless_uniform``: a pure function of a shape and a two-integer seed,
built on the Philox-4x32-10 counter-based generator. This module re-implements it, so a scratchnet
model starts from the same weights and drops the same units as its Keras twin.

How a stateless draw works:

1. The seed ``[s0, s1]`` is scrambled into a Philox key (2 words) and a starting counter (4 words)
   by one Philox block (``key_and_counter``).
2. Block ``b`` of output is Philox(counter + b, key): four random 32-bit words.
3. The words become floats in [0, 1) by filling a float's mantissa (``unit_floats``),
   then ``u * (maxval - minval) + minval`` in the requested dtype.

The generator itself, its NumPy twin and its numba kernels, is ``scratchnet.kernels.philox``.

Where the seeds come from is the job of :class:`SeedGenerator`, which mirrors
``keras.random.SeedGenerator``: a state ``[seed, k]`` whose ``k`` goes up by one per draw.

Keras's ``keras.random`` functions are at the end: ``uniform``, ``normal``,
``truncated_normal``, ``dropout`` and ``shuffle``, each taking ``seed`` as Keras does (an int:
the same numbers every call; a SeedGenerator: new numbers every call; None: Keras's global
generator). All give Keras's numbers bit for bit; with the NumPy kernel twins
(``config.use_kernels("numpy")``) the normal ones agree to 3 units in the last place instead
(``stateless_normal`` says why).

Example:
    >>> u = stateless_uniform((2, 3), seed=(1, 2))
    >>> u.shape, u.dtype.name
    ((2, 3), 'float32')
    >>> bool(((0 <= u) & (u < 1)).all())
    True
"""

import math
import operator
import random

import numpy as np

from . import config
from .kernels import backend
from .ops.core import Tensor, convert_to_tensor, record

# Keras casts its int64 seed state to int32 with floormod(seed, int32.max - 1).
KERAS_SEED_MODULUS = 2**31 - 2


def stateless_uniform(shape, seed, dtype="float32", minval=0.0, maxval=1.0):
    """Uniform random numbers, bit-identical to ``tf.random.stateless_uniform`` on CPU.

    The same ``(shape, seed, dtype)`` always gives the same numbers, here and in TensorFlow.

    Args:
        shape: tuple of ints (or one int) for the output shape.
        seed: two ints ``(s0, s1)``; any 64-bit signed values, as TensorFlow accepts.
        dtype: "float32" or "float64" (the two float dtypes scratchnet computes in).
        minval, maxval: the range [minval, maxval); Python floats, cast to ``dtype`` first.

    Shapes:
        returns an array of ``shape`` and ``dtype``, C order.

    Math:
        u = (Philox-4x32-10 words mapped into [0, 1)), in the order element i <- block i // 4,
            word i % 4 (float32) or block i // 2, words (2 (i % 2), 2 (i % 2) + 1) (float64)
        y = u * (maxval - minval) + minval, every operation rounded to ``dtype``

    Example:
        >>> stateless_uniform((3,), seed=(0, 0), minval=-1.0, maxval=1.0).dtype
        dtype('float32')
        >>> bool((stateless_uniform(5, (7, 1)) == stateless_uniform(5, (7, 1))).all())
        True
    """
    shape = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(map(operator.index, shape))
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(
            f"stateless_uniform: dtype {dtype.name!r} is not supported; use 'float32' or 'float64'."
        )
    if len(seed) != 2:
        raise ValueError(f"stateless_uniform: seed must be two integers, got {seed!r}.")
    size = int(np.prod(shape, dtype=np.int64))
    per_block = 4 if dtype == np.float32 else 2  # numbers made from one Philox block
    n_blocks = -(-size // per_block)  # ceil(size / per_block)
    K = backend.current()
    words = K.philox_words(n_blocks, K.key_and_counter(seed))  # (n_blocks, 4)
    u = K.unit_floats(words, dtype, size).reshape(shape)  # shape, in [0, 1)
    if minval == 0.0 and maxval == 1.0:
        return u  # u * 1 + 0 == u exactly, so skip two passes over the array
    lo = dtype.type(minval)
    return u * (dtype.type(maxval) - lo) + lo


def dropout_mask(shape, seed, rate, scale, dtype="float32"):
    """Keras's dropout mask: ``scale`` where ``u >= rate``, 0 elsewhere, u = stateless_uniform.

    Args:
        shape: the shape of the layer's input.
        seed: two ints, as for ``stateless_uniform``.
        rate: the drop probability (compared in ``dtype``, as TensorFlow compares).
        scale: 1 / (1 - rate), already rounded to ``dtype``.
        dtype: "float32" or "float64".

    Returns:
        An array of ``shape`` and ``dtype`` holding 0 or ``scale``.

    Math:
        mask = (u >= rate) * scale,   u = stateless_uniform(shape, seed, dtype)
        The numba kernels compute it straight from the Philox words in one pass (float32),
        where NumPy needs four (words to floats, compare, multiply).
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    K = backend.current()
    per_block = 4 if dtype == np.float32 else 2  # numbers made from one Philox block
    words = K.philox_words(-(-size // per_block), K.key_and_counter(seed))  # (n_blocks, 4)
    return K.dropout_mask(words, rate, scale, dtype, size).reshape(shape)


# ---------------------------------------------------------------------------------------------
# Seeds: where each draw's (s, k) comes from, as in keras.random.
# ---------------------------------------------------------------------------------------------


def make_default_seed():
    """A fresh seed from Python's ``random`` module, as Keras draws one: randint(1, 10**9).

    Because it uses Python's global ``random``, ``random.seed(S)`` (or
    ``scratchnet.utils.set_random_seed(S)``) makes it, and so every unseeded initializer and
    Dropout layer constructed afterwards, reproducible, and equal to Keras's.
    """
    return random.randint(1, int(1e9))


def cast_seed(seed_pair):
    """Keras's ``_cast_seed``: map an int64 seed pair into int32 range by floormod(., 2**31 - 2).

    Args:
        seed_pair: two ints.

    Returns:
        A tuple of two Python ints in [0, 2**31 - 2).

    Example:
        >>> cast_seed((2**31 + 5, 1))
        (7, 1)
    """
    return tuple(int(s) % KERAS_SEED_MODULUS for s in seed_pair)


class SeedGenerator:
    """A stream of stateless seeds, like ``keras.random.SeedGenerator``.

    The state is ``[seed, k]``. Each ``next()`` returns the current state (cast as Keras does
    for TensorFlow) and then adds one to ``k``. A Dropout layer asks for one seed per training
    call, so its k-th call draws ``stateless_uniform(shape, seed=(seed, k))``.

    Args:
        seed: an int, used as-is for the state ``[seed, 0]`` (Keras's rule, both for
            ``SeedGenerator(123)`` and ``Dropout(rate, seed=123)``). ``None`` draws
            ``random.randint(1, 10**9)`` from Python's ``random`` now, at construction.

    Example:
        >>> gen = SeedGenerator(42)
        >>> gen.next(), gen.next()
        ((42, 0), (42, 1))
        >>> gen.state
        array([42,  2])
    """

    def __init__(self, seed=None):
        self.initial_seed = seed
        if seed is None:
            seed = make_default_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"SeedGenerator: seed must be an integer or None, got {seed!r}.")
        self.state = np.array([seed, 0], dtype=np.int64)  # (2,) int64, as Keras's variable

    def next(self, ordered=True):
        """Return the current ``(seed, k)`` (after Keras's int32 cast), then advance ``k``.

        ``ordered=False`` is Keras's step for its global generator instead: both entries become
        ``(entry + 1) * 5387 % 933199``, "a sequence of near-unique numbers".
        """
        current = cast_seed(self.state)
        if ordered:
            self.state[1] += 1
        else:
            self.state[...] = (self.state + 1) * 5387 % 933199
        return current

    def __repr__(self):
        return f"SeedGenerator(state={self.state.tolist()})"


_GLOBAL_SEED_GENERATOR = None


def global_seed_generator():
    """The generator that unseeded draws (``seed=None``) use, made on first use as Keras makes
    its own: ``SeedGenerator()``, whose seed comes from Python's ``random``."""
    global _GLOBAL_SEED_GENERATOR
    if _GLOBAL_SEED_GENERATOR is None:
        _GLOBAL_SEED_GENERATOR = SeedGenerator()
    return _GLOBAL_SEED_GENERATOR


def reset_global_seed_generator():
    """Forget the global generator, as ``keras.utils.set_random_seed`` does: the next unseeded
    draw makes a new one from Python's (then reseeded) ``random``."""
    global _GLOBAL_SEED_GENERATOR
    _GLOBAL_SEED_GENERATOR = None


def draw_seed(seed):
    """The stateless seed pair for one draw, as Keras's ``draw_seed`` followed by ``_cast_seed``.

    Args:
        seed: an int (every draw gets ``(seed, 0)``: the same numbers each time) or a
            :class:`SeedGenerator` (every draw gets its next ``(seed, k)``: new numbers).
            (None, Keras's global generator, is for the public functions: ``seed_pair``.)

    Returns:
        A tuple of two ints for ``stateless_uniform``.

    Example:
        >>> draw_seed(5)
        (5, 0)
    """
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"draw_seed: expected an int or a SeedGenerator, got {seed!r}.")
    return cast_seed((seed, 0))


def seed_pair(seed):
    """The seed pair of one draw of a public function: ``draw_seed``, and for ``seed=None`` the
    next seed of ``global_seed_generator()``, stepped as Keras steps its global generator."""
    if seed is None:
        return global_seed_generator().next(ordered=False)
    return draw_seed(seed)


# ---------------------------------------------------------------------------------------------
# Normal numbers: TensorFlow's Box-Muller transform and truncation, on the same Philox words.
# ---------------------------------------------------------------------------------------------


def stateless_normal(shape, seed, dtype="float32"):
    """Standard normal numbers, as ``tf.random.stateless_normal`` draws them on CPU.

    Args:
        shape: tuple of ints (or one int).
        seed: two ints, as for ``stateless_uniform``.
        dtype: "float32" or "float64".

    Math (TensorFlow's ``BoxMullerFloat/Double``): block b of the seed's Philox stream gives
        numbers 4b..4b+3 (float32: two pairs of words) or 2b, 2b+1 (float64: one pair of
        word pairs). Each pair of uniforms (u1, u2) in [0, 1) (``unit_floats``) becomes
        r = sqrt(-2 log max(u1, 1e-7)),  z = (r sin(2 pi u2), r cos(2 pi u2)).

    Precision: with the numba kernels (the default) the numbers are TensorFlow's bit for bit,
    because the kernels call the C library's logf/sinf/cosf as TensorFlow does; the NumPy twins
    (``config.use_kernels("numpy")``) use NumPy's log, sin and cos and agree to 3 units in the
    last place (``scratchnet.kernels.philox.box_muller_numpy``).

    Example:
        >>> stateless_normal((2, 3), seed=(1, 2)).shape
        (2, 3)
    """
    shape, dtype = _shape(shape), _float_dtype(dtype, "stateless_normal")
    K = backend.current()
    return K.normal(K.key_and_counter(seed), dtype, math.prod(shape)).reshape(shape)


def stateless_truncated_normal(shape, seed, dtype="float32"):
    """Normal numbers within (-2, 2), as ``tf.random.stateless_truncated_normal`` draws them.

    Math (TensorFlow's ``TruncatedNormalDistribution``): the output is cut into groups of 4
    (float32) or 2 (float64). Group g reads the Philox blocks 256 g, 256 g + 1, ... (128 g, ...
    for float64) in order, turns each into normal numbers as ``stateless_normal`` does and keeps
    those with |z| < 2 until the group is full. The standard deviation of what is kept is
    0.87962566 (Keras's VarianceScaling divides by it).

    Precision: as ``stateless_normal`` (bit for bit with the numba kernels, 3 ulps with the
    NumPy twins, which keep and drop the same candidates except when one lies within 3 ulps
    of 2).

    Example:
        >>> bool((abs(stateless_truncated_normal(1000, seed=(3, 4))) < 2).all())
        True
    """
    shape, dtype = _shape(shape), _float_dtype(dtype, "stateless_truncated_normal")
    K = backend.current()
    return K.truncated_normal(K.key_and_counter(seed), dtype, math.prod(shape)).reshape(shape)


# ---------------------------------------------------------------------------------------------
# keras.random: the public functions, returning scratchnet tensors.
# ---------------------------------------------------------------------------------------------


def _shape(shape):
    return (operator.index(shape),) if np.ndim(shape) == 0 else tuple(map(operator.index, shape))


def _float_dtype(dtype, where):
    dtype = np.dtype(dtype or config.floatx())
    if dtype not in (np.float32, np.float64):
        raise ValueError(
            f"{where} requires a floating point dtype, float32 or float64. Received: "
            f"dtype={dtype.name}"
        )
    return dtype


def _tf_cast(value, dtype):
    """``tf.cast(value, dtype)``: a Python float becomes a float32 tensor before the cast."""
    return np.asarray(np.float32(value) if type(value) is float else value, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform numbers in [minval, maxval), Keras's and TensorFlow's bit for bit.

    Args:
        shape: the output shape.
        minval, maxval: the range (numbers or arrays that broadcast to ``shape``).
        dtype: float32 or float64; floatx by default.
        seed: an int, a SeedGenerator or None (see ``seed_pair``).

    Math: y = u * (maxval - minval) + minval in ``dtype``, u = ``stateless_uniform``; Python
        float bounds are rounded to float32 first, as Keras's ``tf.cast`` rounds them (so in
        float64, minval=0.1 means 0.10000000149011612: measured).

    Example:
        >>> uniform((2,), seed=1).numpy().tolist() == uniform((2,), seed=1).numpy().tolist()
        True
    """
    dtype = _float_dtype(dtype, "uniform")
    u = stateless_uniform(_shape(shape), seed_pair(seed), dtype)
    lo, hi = _tf_cast(minval, dtype), _tf_cast(maxval, dtype)
    return Tensor(u * (hi - lo) + lo)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal numbers, Keras's bit for bit (see ``stateless_normal``).

    Math: y = z * stddev + mean, z = ``stateless_normal``, each step rounded to ``dtype``;
        stddev and mean are converted straight to ``dtype`` (tf.convert_to_tensor, not through
        float32 as ``uniform``'s bounds are).

    Example:
        >>> normal((3,), seed=1).numpy().tolist() == normal((3,), seed=1).numpy().tolist()
        True
    """
    dtype = _float_dtype(dtype, "normal")
    z = stateless_normal(_shape(shape), seed_pair(seed), dtype)
    return Tensor(z * np.asarray(stddev, dtype) + np.asarray(mean, dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal numbers redrawn until within 2 standard deviations of the mean, times ``stddev``
    plus ``mean``, Keras's bit for bit (see ``stateless_truncated_normal``; rounding as
    ``normal``)."""
    dtype = _float_dtype(dtype, "truncated_normal")
    z = stateless_truncated_normal(_shape(shape), seed_pair(seed), dtype)
    return Tensor(z * np.asarray(stddev, dtype) + np.asarray(mean, dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero each entry with probability ``rate`` and scale the rest by 1 / (1 - rate), Keras's
    mask bit for bit (``tf.nn.experimental.stateless_dropout``).

    Args:
        inputs: a float tensor.
        rate: the drop probability; 0 returns ``inputs``, 1 returns zeros (no seed is drawn
            for either, as in Keras).
        noise_shape: the mask's shape, broadcast over ``inputs`` (None entries: the input's).
        seed: an int, a SeedGenerator or None.

    Math: keep = u >= rate, u = ``stateless_uniform(noise_shape)`` in the input's dtype;
        y = keep ? x * scale : 0, scale = 1 / (1 - rate) rounded to the dtype;
        dx = keep ? dy * scale : 0
    """
    x = convert_to_tensor(inputs)
    if not 0 <= rate <= 1:
        raise ValueError(f"dropout: rate must be in [0, 1], got {rate}.")
    if rate == 1:
        return Tensor(np.zeros_like(x.value))
    if rate == 0:
        return x
    dtype = _float_dtype(x.dtype, "dropout")
    if noise_shape is None:
        noise_shape = x.shape
    noise_shape = tuple(n if d is None else d for n, d in zip(x.shape, noise_shape))
    u = stateless_uniform(noise_shape, seed_pair(seed), dtype)  # noise_shape
    keep = u >= dtype.type(rate)  # broadcasts over x
    scale = dtype.type(1 / (1 - rate))

    def backward(dy):
        return (np.where(keep, dy * scale, 0),)

    return record(np.where(keep, x.value * scale, 0).astype(dtype), (x,), backward)


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a random order, as Keras's TensorFlow backend
    orders them: by sorting float32 uniform numbers, one per entry (ties keep their order).

    Backward: the gradient goes back to where each entry came from (the inverse order).
    """
    x = convert_to_tensor(x)
    u = stateless_uniform((x.shape[axis],), seed_pair(seed), "float32")
    order = np.argsort(u, kind="stable")
    back = np.argsort(order)

    def backward(dy):
        return (np.take(dy, back, axis=axis),)

    return record(np.take(x.value, order, axis=axis), (x,), backward)

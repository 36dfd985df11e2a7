"""Randomness that matches Keras and TensorFlow bit for bit, written in NumPy.

Keras (TensorFlow backend) draws every random number it needs, initial weights and Dropout masks
alike, from ``tf.random.stateless_uniform``: a pure function of a shape and a two-integer seed,
built on the Philox-4x32-10 counter-based generator. This module re-implements it, so a scratchnet
model starts from the same weights and drops the same units as its Keras twin.

How a stateless draw works:

1. The seed ``[s0, s1]`` is scrambled into a Philox key (2 words) and a starting counter (4 words)
   by one Philox block (``_key_and_counter``).
2. Block ``b`` of output is Philox(counter + b, key): four random 32-bit words.
3. The words become floats in [0, 1) by filling a float's mantissa (``_words_to_unit_floats``),
   then ``u * (maxval - minval) + minval`` in the requested dtype.

Where the seeds come from is the job of :class:`SeedGenerator`, which mirrors
``keras.random.SeedGenerator``: a state ``[seed, k]`` whose ``k`` goes up by one per draw.

Example:
    >>> u = stateless_uniform((2, 3), seed=(1, 2))
    >>> u.shape, u.dtype.name
    ((2, 3), 'float32')
    >>> bool(((0 <= u) & (u < 1)).all())
    True
"""

import operator
import random

import numpy as np

from .ops import jit
from .ops.jit import njit

# Philox-4x32-10 constants (Salmon et al., 2011; the values in TensorFlow's philox_random.h).
PHILOX_M0 = np.uint64(0xD2511F53)  # multiplier for counter word 0
PHILOX_M1 = np.uint64(0xCD9E8D57)  # multiplier for counter word 2
PHILOX_W0 = np.uint64(0x9E3779B9)  # key bump per round, word 0 (golden ratio)
PHILOX_W1 = np.uint64(0xBB67AE85)  # key bump per round, word 1 (sqrt(3) - 1)
PHILOX_ROUNDS = 10

# The fixed key TensorFlow uses to scramble a user seed into a key and counter.
SEED_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)

# Keras casts its int64 seed state to int32 with floormod(seed, int32.max - 1).
KERAS_SEED_MODULUS = 2**31 - 2

_LO32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


# ---------------------------------------------------------------------------------------------
# Philox-4x32-10, NumPy reference twin: all blocks at once, one array per counter word.
# ---------------------------------------------------------------------------------------------


def _philox_numpy(c0, c1, c2, c3, k0, k1):
    """Run ten Philox rounds on many counter blocks at once.

    Args:
        c0, c1, c2, c3: the four 32-bit counter words of every block, as uint64 arrays of one
            shape (uint64 so that a 32x32-bit product fits without overflow).
        k0, k1: the two 32-bit key words, np.uint64 scalars.

    Returns:
        The four output words, uint64 arrays with values below 2**32.

    Math (one round, all arithmetic on 32-bit words):
        (hi0, lo0) = M0 * c0            the 64-bit product split into its two halves
        (hi1, lo1) = M1 * c2
        c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        k = (k0 + W0, k1 + W1) mod 2**32
    """
    for _ in range(PHILOX_ROUNDS):
        product0 = PHILOX_M0 * c0  # (B,) exact: both factors are below 2**32
        product1 = PHILOX_M1 * c2  # (B,)
        hi0, lo0 = product0 >> _SHIFT32, product0 & _LO32
        hi1, lo1 = product1 >> _SHIFT32, product1 & _LO32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + PHILOX_W0) & _LO32
        k1 = (k1 + PHILOX_W1) & _LO32
    return c0, c1, c2, c3


def _key_and_counter(seed):
    """Scramble a two-integer seed into a Philox key and the high half of the starting counter.

    This is TensorFlow's ``GetKeyCounterFromSeed``: each seed integer is read as a 64-bit word
    (negative values in two's complement) and split into two 32-bit halves, which form the
    counter of one Philox block under a fixed key. The block's four output words are the key
    (words 0, 1) and the counter's upper half (words 2, 3); the counter's lower half starts at 0.

    Args:
        seed: two Python ints.

    Returns:
        (k0, k1, c2, c3) as np.uint64 scalars.
    """
    s0, s1 = (operator.index(s) & 0xFFFFFFFFFFFFFFFF for s in seed)
    counter = (s0 & 0xFFFFFFFF, s0 >> 32, s1 & 0xFFFFFFFF, s1 >> 32)
    if jit.kernels() == "numba":  # the same block, ~25x faster than NumPy on 1-element arrays
        words = np.empty((4, 1), dtype=np.uint32)
        _philox_words_kernel(1, *SEED_SCRAMBLE_KEY, *counter, words)
        return tuple(np.uint64(w) for w in words[:, 0])
    k0, k1 = (np.uint64(k) for k in SEED_SCRAMBLE_KEY)
    mix = _philox_numpy(*(np.array([c], dtype=np.uint64) for c in counter), k0, k1)
    return tuple(np.uint64(m[0]) for m in mix)


def philox_words_numpy(n_blocks, key_counter):
    """Random 32-bit words of ``n_blocks`` consecutive Philox blocks (NumPy reference twin).

    Args:
        n_blocks: how many 4-word blocks to generate.
        key_counter: (k0, k1, c2, c3) from ``_key_and_counter``.

    Returns:
        uint32 array of shape (n_blocks, 4): row b is Philox(counter + b, key).

    Math:
        The counter of block b is (b mod 2**32, b div 2**32, c2, c3). The starting counter's
        low words are zero, so adding b never carries into c2.
    """
    k0, k1, c2, c3 = key_counter
    b = np.arange(n_blocks, dtype=np.uint64)  # (B,)
    counter = (b & _LO32, b >> _SHIFT32, np.full_like(b, c2), np.full_like(b, c3))
    out = _philox_numpy(*counter, k0, k1)  # 4 x (B,)
    return np.stack(out, axis=1).astype(np.uint32)  # (B, 4)


# ---------------------------------------------------------------------------------------------
# Philox-4x32-10, numba kernel: one block per loop iteration, several iterations per vector op.
# ---------------------------------------------------------------------------------------------


@njit
def _philox_words_kernel(n_blocks, k0_start, k1_start, c0_start, c1_start, c2_start, c3_start, out):
    """Numba twin of ``philox_words_numpy``, written into ``out`` word-major: (4, n_blocks).

    Block b runs on the counter (c0_start + b, c1_start, c2_start, c3_start): the stream's
    counters start at (0, 0, c2, c3), and ``_key_and_counter`` runs one block (b = 0) on the
    seed itself, so c0_start + b never carries into c1 in either use.

    Each block is a scalar loop of ten rounds, but the loop over blocks compiles to vector
    instructions (several blocks per instruction) because each output word goes to its own
    contiguous row of ``out``. Writing ``out[b, 0..3]`` side by side instead kept the loop scalar:
    measured 8x slower.
    """
    for b in range(n_blocks):
        c0 = np.uint64(c0_start + b) & _LO32
        c1 = np.uint64(c1_start)
        c2 = np.uint64(c2_start)
        c3 = np.uint64(c3_start)
        k0 = np.uint64(k0_start)
        k1 = np.uint64(k1_start)
        for _ in range(PHILOX_ROUNDS):
            product0 = PHILOX_M0 * c0
            product1 = PHILOX_M1 * c2
            new_c0 = (product1 >> _SHIFT32) ^ c1 ^ k0
            new_c2 = (product0 >> _SHIFT32) ^ c3 ^ k1
            c1 = product1 & _LO32
            c3 = product0 & _LO32
            c0 = new_c0
            c2 = new_c2
            k0 = (k0 + PHILOX_W0) & _LO32
            k1 = (k1 + PHILOX_W1) & _LO32
        out[0, b] = np.uint32(c0)
        out[1, b] = np.uint32(c1)
        out[2, b] = np.uint32(c2)
        out[3, b] = np.uint32(c3)


def philox_words(n_blocks, key_counter):
    """Random 32-bit words of ``n_blocks`` Philox blocks, with the kernel family in use.

    Args:
        n_blocks: how many 4-word blocks to generate.
        key_counter: (k0, k1, c2, c3) from ``_key_and_counter``.

    Returns:
        uint32 array of shape (n_blocks, 4) (from the numba kernel, a transposed view).
    """
    if jit.kernels() == "numba":
        k0, k1, c2, c3 = (int(v) for v in key_counter)
        words = np.empty((4, n_blocks), dtype=np.uint32)  # (4, B)
        _philox_words_kernel(n_blocks, k0, k1, 0, 0, c2, c3, words)
        return words.T  # (B, 4)
    return philox_words_numpy(n_blocks, key_counter)


# ---------------------------------------------------------------------------------------------
# From random words to floats, and the public stateless draw.
# ---------------------------------------------------------------------------------------------


def _words_to_unit_floats(words, dtype, size):
    """Turn Philox words into ``size`` floats in [0, 1) exactly as TensorFlow does.

    Args:
        words: uint32 array (n_blocks, 4).
        dtype: np.float32 or np.float64.
        size: how many floats to return.

    Returns:
        1-D array of ``size`` floats of ``dtype``.

    Math:
        float32, one word x per number: TensorFlow sets bits = 0x3F800000 | (x & 0x7FFFFF), the
            float in [1, 2) whose mantissa is the low 23 bits m of x, and subtracts 1. That float
            is 1 + m * 2**-23, so the result is m * 2**-23, exact in float32 (m < 2**23).
        float64, two words (x0, x1) per number, two numbers per block: likewise the double
            1 + m * 2**-52 minus 1 with m = ((x0 & 0xFFFFF) << 32) | x1, i.e. m * 2**-52.
    """
    if dtype == np.float32:
        if jit.kernels() == "numba" and words.T.flags.c_contiguous:  # as philox_words makes
            out = np.empty(size, dtype=np.float32)
            _unit_floats_kernel(words.T, out)  # the kernel reads the word-major (4, B) array
            return out
        x = words.reshape(-1)[:size]  # (size,) one word per number
        return (x & np.uint32(0x7FFFFF)).astype(np.float32) * np.float32(2.0**-23)
    pairs = words.reshape(-1, 2)[:size].astype(np.uint64)  # (size, 2) two words per number
    mantissa = ((pairs[:, 0] & np.uint64(0xFFFFF)) << _SHIFT32) | pairs[:, 1]
    return mantissa.astype(np.float64) * 2.0**-52


@njit
def _unit_float32(words, i):
    """Number i in [0, 1) from the word-major (4, B) words: word i % 4 of block i // 4."""
    return np.float32(words[i & 3, i >> 2] & np.uint32(0x7FFFFF)) * np.float32(2.0**-23)


@njit
def _unit_floats_kernel(words, out):
    """float32 case of ``_words_to_unit_floats``, reading the kernel's word-major (4, B) words.

    out[i] comes from word i % 4 of block i // 4, as in the (B, 4) layout. One pass, where NumPy
    needs a transposing copy and three more: measured 3x faster.
    """
    for i in range(out.shape[0]):
        out[i] = _unit_float32(words, i)


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
    words = philox_words(n_blocks, _key_and_counter(seed))  # (n_blocks, 4)
    u = _words_to_unit_floats(words, dtype, size).reshape(shape)  # shape, in [0, 1)
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
        The numba path computes it straight from the Philox words in one pass (float32), where
        NumPy needs four (words to floats, compare, multiply).
    """
    dtype = np.dtype(dtype)
    if jit.kernels() != "numba" or dtype != np.float32:
        u = stateless_uniform(shape, seed, dtype)
        return np.multiply(u >= dtype.type(rate), scale, dtype=dtype)
    size = int(np.prod(shape, dtype=np.int64))
    words = philox_words(-(-size // 4), _key_and_counter(seed)).T  # (4, B), the kernel's rows
    mask = np.empty(size, dtype=np.float32)
    _dropout_mask_kernel(words, np.float32(rate), np.float32(scale), mask)
    return mask.reshape(shape)


@njit
def _dropout_mask_kernel(words, rate, scale, mask):
    """mask[i] = scale if u[i] >= rate else 0, with u[i] made as in ``_unit_floats_kernel``."""
    zero = scale * np.float32(0)
    for i in range(mask.shape[0]):
        u = _unit_float32(words, i)
        mask[i] = scale if u >= rate else zero


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

    def next(self):
        """Return the current ``(seed, k)`` (after Keras's int32 cast), then advance ``k``."""
        current = cast_seed(self.state)
        self.state[1] += 1
        return current

    def __repr__(self):
        return f"SeedGenerator(state={self.state.tolist()})"


def draw_seed(seed):
    """The stateless seed pair for one draw, as Keras's ``draw_seed`` followed by ``_cast_seed``.

    Args:
        seed: an int (every draw gets ``(seed, 0)``: the same numbers each time) or a
            :class:`SeedGenerator` (every draw gets its next ``(seed, k)``: new numbers).

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

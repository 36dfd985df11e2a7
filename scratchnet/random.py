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

from .kernels import backend

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

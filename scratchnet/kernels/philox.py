"""Philox-4x32-10, TensorFlow's counter-based random generator: the NumPy twin and the kernels.

``scratchnet.random`` draws every random number from here (see its docstring for how a
stateless draw works). Each step has a NumPy function (``*_numpy``, the reference twin, on many
blocks at once, one array per counter word) and a numba one (``*_numba``, one block per loop
iteration, several iterations per vector instruction); ``scratchnet.kernels.backend`` picks the
family. Both give the same words, bit for bit (tests/test_random.py).

The last section turns words into normal numbers (Box-Muller) and truncated normal numbers;
there the kernels match TensorFlow bit for bit and the NumPy twins within 3 ulps (see there).
"""

import math
import operator

import numpy as np

from .jit import njit

# Philox-4x32-10 constants (Salmon et al., 2011; the values in TensorFlow's philox_random.h).
PHILOX_M0 = np.uint64(0xD2511F53)  # multiplier for counter word 0
PHILOX_M1 = np.uint64(0xCD9E8D57)  # multiplier for counter word 2
PHILOX_W0 = np.uint64(0x9E3779B9)  # key bump per round, word 0 (golden ratio)
PHILOX_W1 = np.uint64(0xBB67AE85)  # key bump per round, word 1 (sqrt(3) - 1)
PHILOX_ROUNDS = 10

# The fixed key TensorFlow uses to scramble a user seed into a key and counter.
SEED_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)

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


def seed_words(seed):
    """A two-integer seed as the four 32-bit words of the counter that scrambles it.

    This is the first half of TensorFlow's ``GetKeyCounterFromSeed``: each seed integer is read
    as a 64-bit word (negative values in two's complement) and split into two 32-bit halves.
    """
    s0, s1 = (operator.index(s) & 0xFFFFFFFFFFFFFFFF for s in seed)
    return (s0 & 0xFFFFFFFF, s0 >> 32, s1 & 0xFFFFFFFF, s1 >> 32)


def key_and_counter_numpy(seed):
    """Scramble a two-integer seed into a Philox key and the high half of the starting counter.

    The second half of TensorFlow's ``GetKeyCounterFromSeed``: one Philox block on the seed's
    words (``seed_words``) under a fixed key. The block's four output words are the key (words
    0, 1) and the counter's upper half (words 2, 3); the counter's lower half starts at 0.

    Args:
        seed: two Python ints.

    Returns:
        (k0, k1, c2, c3) as np.uint64 scalars.
    """
    k0, k1 = (np.uint64(k) for k in SEED_SCRAMBLE_KEY)
    mix = _philox_numpy(*(np.array([c], dtype=np.uint64) for c in seed_words(seed)), k0, k1)
    return tuple(np.uint64(m[0]) for m in mix)


def philox_words_numpy(n_blocks, key_counter):
    """Random 32-bit words of ``n_blocks`` consecutive Philox blocks (NumPy reference twin).

    Args:
        n_blocks: how many 4-word blocks to generate.
        key_counter: (k0, k1, c2, c3) from ``key_and_counter_numpy``.

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
    counters start at (0, 0, c2, c3), and ``key_and_counter_numba`` runs one block (b = 0) on the
    seed itself, so c0_start + b never carries into c1 in either use.

    Each block is a scalar loop of ten rounds, but the loop over blocks compiles to vector
    instructions (several blocks per instruction) because each output word goes to its own
    contiguous row of ``out``. Writing ``out[b, 0..3]`` side by side instead kept the loop scalar
    (measured: docs/kernels/philox.md#measured). The ten rounds are written out here rather
    than shared with ``_philox_block`` below: calling one round function from this loop stopped
    it vectorizing, 3x slower for 4M blocks (measured 2026-12-01).
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


def key_and_counter_numba(seed):
    """``key_and_counter_numpy`` with the kernel, faster than NumPy on 1-element arrays
    (docs/kernels/philox.md#measured)."""
    words = np.empty((4, 1), dtype=np.uint32)
    _philox_words_kernel(1, *SEED_SCRAMBLE_KEY, *seed_words(seed), words)
    return tuple(np.uint64(w) for w in words[:, 0])


def philox_words_numba(n_blocks, key_counter):
    """``philox_words_numpy`` with the kernel: uint32 (n_blocks, 4), a transposed view."""
    k0, k1, c2, c3 = (int(v) for v in key_counter)
    words = np.empty((4, n_blocks), dtype=np.uint32)  # (4, B)
    _philox_words_kernel(n_blocks, k0, k1, 0, 0, c2, c3, words)
    return words.T  # (B, 4)


# ---------------------------------------------------------------------------------------------
# From random words to floats, and the public stateless draw.
# ---------------------------------------------------------------------------------------------


def unit_floats_numpy(words, dtype, size):
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
    """float32 case of ``unit_floats_numpy``, reading the kernel's word-major (4, B) words.

    out[i] comes from word i % 4 of block i // 4, as in the (B, 4) layout. One pass, where NumPy
    needs a transposing copy and three more (measured: docs/kernels/philox.md#measured).
    """
    for i in range(out.shape[0]):
        out[i] = _unit_float32(words, i)


def unit_floats_numba(words, dtype, size):
    """``unit_floats_numpy`` with the kernel for float32 words as ``philox_words_numba`` makes
    them (word-major underneath); anything else goes the NumPy way."""
    if dtype != np.float32 or not words.T.flags.c_contiguous:
        return unit_floats_numpy(words, dtype, size)
    out = np.empty(size, dtype=np.float32)
    _unit_floats_kernel(words.T, out)  # the kernel reads the word-major (4, B) array
    return out


# ---------------------------------------------------------------------------------------------
# Dropout masks straight from the words.
# ---------------------------------------------------------------------------------------------


def dropout_mask_numpy(words, rate, scale, dtype, size):
    """mask = (u >= rate) * scale with u = ``unit_floats_numpy(words, dtype, size)``."""
    u = unit_floats_numpy(words, dtype, size)
    return np.multiply(u >= dtype.type(rate), scale, dtype=dtype)


def dropout_mask_numba(words, rate, scale, dtype, size):
    """``dropout_mask_numpy`` in one pass from the words (float32), where NumPy needs four
    (words to floats, compare, multiply)."""
    if dtype != np.float32 or not words.T.flags.c_contiguous:
        return dropout_mask_numpy(words, rate, scale, dtype, size)
    mask = np.empty(size, dtype=np.float32)
    _dropout_mask_kernel(words.T, np.float32(rate), np.float32(scale), mask)
    return mask


@njit
def _dropout_mask_kernel(words, rate, scale, mask):
    """mask[i] = scale if u[i] >= rate else 0, with u[i] made as in ``_unit_floats_kernel``."""
    zero = scale * np.float32(0)
    for i in range(mask.shape[0]):
        u = _unit_float32(words, i)
        mask[i] = scale if u >= rate else zero


# ---------------------------------------------------------------------------------------------
# Normal numbers: TensorFlow's Box-Muller transform, and its truncation to (-2, 2).
#
# The numba kernels are bit-identical to tf.random.stateless_normal and
# stateless_truncated_normal (CPU): numba compiles math.log, math.sin and math.cos on float32
# (float64) to calls of the C library's logf, sinf and cosf (log, sin, cos), which are the
# functions TensorFlow calls, and every other step rounds the same way (checked on a million
# numbers, both dtypes: parity_tests/test_random_api_parity.py). The NumPy twins use NumPy's
# own log, sin and cos, whose last bit differs: within 3 units in the last place (ulps).
# Two things would break the kernels' exactness: numba with Intel's SVML (the icc_rt package)
# vectorises math.log & co. with SVML's functions, and a C library other than TensorFlow's
# (glibc on Linux). With NUMBA_DISABLE_JIT=1 they run as Python, with Python's double math
# functions: close to the twins (checked: 2.4e-7 apart at most in float32), not exact.
# Measured (1M float32, 2 cores): normal 35 ms (twin 157 ms, TensorFlow 55 ms), truncated
# normal 47 ms (twin 309 ms, TensorFlow 56 ms).
# ---------------------------------------------------------------------------------------------

TWO_PI = 2.0 * math.pi  # TensorFlow's 2.0f * M_PI is a double: v = 2 pi u2 is made in double
NORMAL_EPSILON = 1e-7  # u1 is raised to this, so log(0) is never taken

# The truncated normal reserves 256 numbers per output group: group g reads the blocks from
# block 256 g (float32: 4 outputs, 4 numbers per block) or 128 g (float64: 2 outputs, 2 numbers
# per block) until it has kept enough; dtype -> (outputs per group, blocks per group).
TRUNCATED_GROUP = {np.float32: (4, 256), np.float64: (2, 128)}
TRUNCATED_BOUND = 2.0  # keep |z| < 2 (in standard deviations)


def box_muller_numpy(words, dtype):
    """Standard normal numbers from Philox words, by TensorFlow's ``BoxMullerFloat/Double``.

    Args:
        words: uint32 (B, 4) Philox words.
        dtype: np.float32 (4 numbers per block) or np.float64 (2 numbers per block).

    Returns:
        A flat array of 4B (float32) or 2B (float64) numbers, in TensorFlow's order.

    Math, for each pair (u1, u2) of consecutive uniform numbers (``unit_floats_numpy``):
        u1 = max(u1, 1e-7)                 (log(0) is never taken)
        r = sqrt(-2 log u1),  v = 2 pi u2  (v computed in float64, then rounded to dtype)
        z0 = sin(v) r,  z1 = cos(v) r      (written to positions 2k and 2k + 1)

    Precision: TensorFlow calls the C library's logf, sincosf (float32) and log, sincos
    (float64). NumPy's log, sin and cos round differently in the last bit (and its float32
    ones by more), so the float32 functions are taken in float64 and rounded to float32. The
    results then agree with TensorFlow's to 3 ulps (measured: 1.5% of float32 values and
    0.2% of float64 values are not bit-identical). The numba kernel below is exact.
    """
    dtype = np.dtype(dtype)
    per_block = 4 if dtype == np.float32 else 2
    u = unit_floats_numpy(words, dtype, per_block * len(words))  # (per_block * B,) in [0, 1)
    u1, u2 = np.maximum(u[0::2], dtype.type(NORMAL_EPSILON)), u[1::2]  # (per_block * B / 2,)
    v = (TWO_PI * u2.astype(np.float64)).astype(dtype)  # (per_block * B / 2,)
    wide = np.float64  # the float32 library functions, computed in float64 and rounded
    r = np.sqrt(dtype.type(-2) * np.log(u1.astype(wide)).astype(dtype))
    z = np.empty(per_block * len(words), dtype)  # (per_block * B,)
    z[0::2] = np.sin(v.astype(wide)).astype(dtype) * r
    z[1::2] = np.cos(v.astype(wide)).astype(dtype) * r
    return z


def normal_numpy(key_counter, dtype, size):
    """``size`` standard normal numbers of ``dtype``: block b of the stream gives numbers
    4b..4b+3 (float32) or 2b, 2b+1 (float64), by ``box_muller_numpy`` (within 3 ulps)."""
    per_block = 4 if np.dtype(dtype) == np.float32 else 2
    return box_muller_numpy(philox_words_numpy(-(-size // per_block), key_counter), dtype)[:size]


def philox_blocks_numpy(blocks, key_counter):
    """Philox words of the given (not necessarily consecutive) block numbers: uint32 (n, 4).

    Block b's counter is (b mod 2**32, b div 2**32, c2, c3), as in ``philox_words_numpy``.
    """
    k0, k1, c2, c3 = (np.uint64(v) for v in key_counter)
    b = np.asarray(blocks, dtype=np.uint64)  # (n,)
    counter = (b & _LO32, b >> _SHIFT32, np.full_like(b, c2), np.full_like(b, c3))
    return np.stack(_philox_numpy(*counter, k0, k1), axis=1).astype(np.uint32)  # (n, 4)


def truncated_normal_numpy(key_counter, dtype, size):
    """Normal numbers in (-2, 2), as TensorFlow's ``TruncatedNormalDistribution`` draws them.

    Math: the output is cut into groups of 4 (float32) or 2 (float64). Group g reads the Philox
    blocks 256 g, 256 g + 1, ... (128 g, ... for float64) in order, turns each into normal
    numbers (``box_muller_numpy``) and keeps those with |z| < 2 until the group is full.
    This twin runs rounds over all groups at once: each round computes the next block of every
    group that is not full yet (about 17% of float32 groups need a second block).
    """
    dtype = np.dtype(dtype)
    group, stride = TRUNCATED_GROUP[dtype.type]
    n_groups = -(-size // group)
    out = np.empty((n_groups, group), dtype)  # (G, group), filled slot by slot
    filled = np.zeros(n_groups, dtype=np.int64)  # (G,) kept numbers per group
    todo = np.arange(n_groups)  # (T,) the groups that are not full
    step = 0
    while todo.size:
        z = box_muller_numpy(philox_blocks_numpy(todo * stride + step, key_counter), dtype)
        z = z.reshape(todo.size, -1)  # (T, numbers per block), in reading order
        keep = np.abs(z) < TRUNCATED_BOUND  # (T, numbers per block)
        slot = filled[todo, None] + np.cumsum(keep, axis=1) - 1  # where each kept one goes
        keep &= slot < group  # a full group ignores the rest of its block
        rows = np.broadcast_to(todo[:, None], z.shape)
        out[rows[keep], slot[keep]] = z[keep]
        filled[todo] += keep.sum(axis=1)
        todo = todo[filled[todo] < group]
        step += 1
    return out.reshape(-1)[:size]


@njit
def _philox_block(block, k0, k1, c2, c3):
    """The four words of Philox block number ``block``: counter (block lo, block hi, c2, c3)."""
    c0 = np.uint64(block) & _LO32
    c1 = np.uint64(block) >> _SHIFT32
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
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
    return np.uint32(c0), np.uint32(c1), np.uint32(c2), np.uint32(c3)


@njit
def _box_muller_float32(x0, x1):
    """TensorFlow's BoxMullerFloat on two words, with the C library's logf, sinf and cosf."""
    u1 = np.float32(x0 & np.uint32(0x7FFFFF)) * np.float32(2.0**-23)
    if u1 < np.float32(NORMAL_EPSILON):
        u1 = np.float32(NORMAL_EPSILON)
    u2 = np.float32(x1 & np.uint32(0x7FFFFF)) * np.float32(2.0**-23)
    v = np.float32(TWO_PI * np.float64(u2))
    r = math.sqrt(np.float32(-2.0) * math.log(u1))
    return math.sin(v) * r, math.cos(v) * r


@njit
def _unit_float64(x0, x1):
    """A double in [0, 1) from two words, as ``unit_floats_numpy``: m * 2**-52."""
    m = (np.uint64(x0 & np.uint32(0xFFFFF)) << _SHIFT32) | np.uint64(x1)
    return np.float64(m) * 2.0**-52


@njit
def _box_muller_float64(x0, x1, x2, x3):
    """TensorFlow's BoxMullerDouble on four words, with the C library's log, sin and cos."""
    u1 = _unit_float64(x0, x1)
    if u1 < NORMAL_EPSILON:
        u1 = NORMAL_EPSILON
    v = TWO_PI * _unit_float64(x2, x3)
    r = math.sqrt(-2.0 * math.log(u1))
    return math.sin(v) * r, math.cos(v) * r


@njit
def _normal_float32_kernel(k0, k1, c2, c3, out):
    """out[4b .. 4b + 3] from block b: two Box-Muller pairs per block."""
    n = out.shape[0]
    for b in range((n + 3) // 4):
        w0, w1, w2, w3 = _philox_block(b, k0, k1, c2, c3)
        z = _box_muller_float32(w0, w1) + _box_muller_float32(w2, w3)
        for j in range(min(4, n - 4 * b)):
            out[4 * b + j] = z[j]


@njit
def _normal_float64_kernel(k0, k1, c2, c3, out):
    """out[2b], out[2b + 1] from block b: one Box-Muller pair per block."""
    n = out.shape[0]
    for b in range((n + 1) // 2):
        w0, w1, w2, w3 = _philox_block(b, k0, k1, c2, c3)
        z = _box_muller_float64(w0, w1, w2, w3)
        for j in range(min(2, n - 2 * b)):
            out[2 * b + j] = z[j]


@njit
def _truncated_float32_kernel(k0, k1, c2, c3, out):
    """Group g (4 outputs) reads blocks 256 g, 256 g + 1, ... and keeps |z| < 2 in order."""
    n = out.shape[0]
    for g in range((n + 3) // 4):
        kept, block = 0, 256 * g
        while kept < 4:
            w0, w1, w2, w3 = _philox_block(block, k0, k1, c2, c3)
            z = _box_muller_float32(w0, w1) + _box_muller_float32(w2, w3)
            for j in range(4):
                if kept < 4 and abs(z[j]) < np.float32(TRUNCATED_BOUND):
                    if 4 * g + kept < n:
                        out[4 * g + kept] = z[j]
                    kept += 1
            block += 1


@njit
def _truncated_float64_kernel(k0, k1, c2, c3, out):
    """Group g (2 outputs) reads blocks 128 g, 128 g + 1, ... and keeps |z| < 2 in order."""
    n = out.shape[0]
    for g in range((n + 1) // 2):
        kept, block = 0, 128 * g
        while kept < 2:
            w0, w1, w2, w3 = _philox_block(block, k0, k1, c2, c3)
            z = _box_muller_float64(w0, w1, w2, w3)
            for j in range(2):
                if kept < 2 and abs(z[j]) < TRUNCATED_BOUND:
                    if 2 * g + kept < n:
                        out[2 * g + kept] = z[j]
                    kept += 1
            block += 1


def normal_numba(key_counter, dtype, size):
    """``normal_numpy`` with the kernels: bit-identical to tf.random.stateless_normal (CPU)."""
    out = np.empty(size, dtype=dtype)  # (size,)
    kernel = _normal_float32_kernel if out.dtype == np.float32 else _normal_float64_kernel
    kernel(*(int(v) for v in key_counter), out)
    return out


def truncated_normal_numba(key_counter, dtype, size):
    """``truncated_normal_numpy`` with the kernels, one group after another: bit-identical to
    tf.random.stateless_truncated_normal (CPU)."""
    out = np.empty(size, dtype=dtype)  # (size,)
    f32 = out.dtype == np.float32
    (_truncated_float32_kernel if f32 else _truncated_float64_kernel)(
        *(int(v) for v in key_counter), out
    )
    return out

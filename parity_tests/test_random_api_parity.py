"""scratchnet.random against keras.random for the same seeds: int seeds, SeedGenerators, None.

Everything must give Keras's numbers bit for bit with the numba kernels (the default), normal
and truncated normal included: the kernels call the C library's logf/sinf/cosf as TensorFlow
does (``scratchnet.kernels.philox``). The NumPy twins of the normal ones use NumPy's
log/sin/cos, so with ``config.use_kernels("numpy")`` they must agree to 3 units in the last
place, and keep and drop the same candidates (no number lands in another position).
"""

import contextlib
import random

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet import config
from scratchnet import random as sn_random
from scratchnet.kernels import philox

FLOATS = ("float32", "float64")

shapes = st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple)
seeds = st.one_of(st.integers(0, 10**9), st.integers(-(2**40), 2**40))


KERNELS = pytest.mark.parametrize("kernels", ["numba", "numpy"])


@contextlib.contextmanager
def kernel_family(name):
    """Run the block with the numba kernels or the NumPy twins, then restore the choice."""
    previous = config.kernels()
    config.use_kernels(name)
    try:
        yield
    finally:
        config.use_kernels(previous)


def ulps(a, b):
    """How many representable floats apart a and b are, elementwise."""
    a, b = np.asarray(a), np.asarray(b)
    ints = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    return np.abs(a.view(ints).astype(np.int64) - b.view(ints).astype(np.int64))


def assert_within_ulps_of_standard(got, want, mean, stddev):
    """got = z' * stddev + mean against want = z * stddev + mean with z' within 3 ulps of z:
    the shift by the mean can make that more ulps of the result, not more than this."""
    bound = 4 * np.finfo(want.dtype).eps * (np.abs(want - mean) + abs(mean))
    worst = np.max(np.abs(got - want) - bound, initial=-1)
    assert worst <= 0, f"{got} against Keras's {want}: {worst} beyond the bound"


def assert_normal_matches(got, want, kernels, mean=0.0, stddev=1.0):
    """Bit for bit with the numba kernels; within the NumPy twins' bound otherwise."""
    assert got.dtype == want.dtype
    if kernels == "numba":
        np.testing.assert_array_equal(got, want)
    elif (mean, stddev) == (0.0, 1.0):
        assert ulps(got, want).max(initial=0) <= 3
    else:
        assert_within_ulps_of_standard(got, want, mean, stddev)


@settings(max_examples=25)
@given(
    shapes, seeds, st.sampled_from(FLOATS), st.sampled_from([(0.0, 1.0), (-2.5, 3.0), (0.1, 0.7)])
)
def test_uniform_is_bit_identical(shape, seed, dtype, bounds):
    want = keras.random.uniform(shape, *bounds, dtype=dtype, seed=seed).numpy()
    got = sn_random.uniform(shape, *bounds, dtype=dtype, seed=seed)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), want)


@KERNELS
@settings(max_examples=20)
@given(shapes, seeds, st.sampled_from(FLOATS), st.sampled_from([(0.0, 1.0), (1.5, 0.2)]))
def test_normal(kernels, shape, seed, dtype, moments):
    want = keras.random.normal(shape, dtype=dtype, seed=seed).numpy()
    with kernel_family(kernels):
        got = sn_random.normal(shape, dtype=dtype, seed=seed).numpy()
    assert_normal_matches(got, want, kernels)
    want = keras.random.normal(shape, *moments, dtype=dtype, seed=seed).numpy()
    with kernel_family(kernels):
        got = sn_random.normal(shape, *moments, dtype=dtype, seed=seed).numpy()
    assert_normal_matches(got, want, kernels, *moments)


@KERNELS
@settings(max_examples=20)
@given(st.integers(1, 3000), seeds, st.sampled_from(FLOATS))
def test_truncated_normal(kernels, size, seed, dtype):
    want = keras.random.truncated_normal((size,), dtype=dtype, seed=seed).numpy()
    with kernel_family(kernels):
        got = sn_random.truncated_normal((size,), dtype=dtype, seed=seed).numpy()
    assert_normal_matches(got, want, kernels)  # so the same candidates were kept, in place
    want = keras.random.truncated_normal((size,), 0.5, 2.0, dtype=dtype, seed=seed).numpy()
    with kernel_family(kernels):
        got = sn_random.truncated_normal((size,), 0.5, 2.0, dtype=dtype, seed=seed).numpy()
    assert_normal_matches(got, want, kernels, 0.5, 2.0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_a_million_normal_numbers(dtype):
    """The kernels: every number bit-identical; the twins: most, none beyond 3 ulps."""
    for seed in [(0, 0), (3, 7), (2**31 - 3, 12345), (-5, 2**40)]:
        key_counter = philox.key_and_counter_numpy(seed)
        for draw, ours, twin in [
            (tf.random.stateless_normal, philox.normal_numba, philox.normal_numpy),
            (
                tf.random.stateless_truncated_normal,
                philox.truncated_normal_numba,
                philox.truncated_normal_numpy,
            ),
        ]:
            for n in (1, 3, 5, 1001) if seed != (3, 7) else (1_000_000,):
                want = draw((n,), seed=seed, dtype=dtype).numpy()
                np.testing.assert_array_equal(ours(key_counter, dtype, n), want)
                diff = ulps(twin(key_counter, dtype, n), want)
                assert diff.max() <= 3 and (diff == 0).mean() > (0.98 if n > 1000 else 0)


@settings(max_examples=25)
@given(shapes.filter(len), seeds, st.sampled_from(FLOATS), st.floats(0.01, 0.99), st.data())
def test_dropout_is_bit_identical(shape, seed, dtype, rate, data):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    noise_shape = data.draw(
        st.one_of(
            st.none(),
            st.tuples(*(st.sampled_from([None, 1, n]) for n in shape)),
        )
    )
    want = keras.random.dropout(x, rate, noise_shape=noise_shape, seed=seed).numpy()
    got = sn_random.dropout(x, rate, noise_shape=noise_shape, seed=seed)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_dropout_rates_zero_and_one(rate):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(
        sn_random.dropout(x, rate, seed=1).numpy(), keras.random.dropout(x, rate, seed=1)
    )


@settings(max_examples=20)
@given(st.integers(1, 40), st.integers(1, 4), seeds, st.booleans())
def test_shuffle_is_bit_identical(n, m, seed, along_rows):
    x = np.arange(n * m, dtype="float32").reshape(n, m)
    axis = 0 if along_rows else 1
    want = keras.random.shuffle(x, axis=axis, seed=seed).numpy()
    np.testing.assert_array_equal(sn_random.shuffle(x, axis=axis, seed=seed).numpy(), want)


def test_shuffle_with_tied_draws():
    """200,000 draws from 2**23 possible floats: many ties, which keep their order in both."""
    x = np.arange(200_000)
    want = keras.random.shuffle(x, seed=5).numpy()
    np.testing.assert_array_equal(sn_random.shuffle(x, seed=5).numpy(), want)


def test_seed_generators_give_the_same_sequence():
    keras_gen, sn_gen = keras.random.SeedGenerator(42), sn_random.SeedGenerator(42)
    for draw in ("uniform", "uniform", "normal", "dropout", "shuffle", "truncated_normal"):
        if draw == "dropout":
            x = np.ones((4, 5), "float32")
            want = keras.random.dropout(x, 0.5, seed=keras_gen).numpy()
            got = sn_random.dropout(x, 0.5, seed=sn_gen).numpy()
        elif draw == "shuffle":
            want = keras.random.shuffle(np.arange(10), seed=keras_gen).numpy()
            got = sn_random.shuffle(np.arange(10), seed=sn_gen).numpy()
        else:
            want = getattr(keras.random, draw)((3, 4), seed=keras_gen).numpy()
            got = getattr(sn_random, draw)((3, 4), seed=sn_gen).numpy()
        np.testing.assert_array_equal(got, want, err_msg=draw)
    np.testing.assert_array_equal(sn_gen.state, keras_gen.state.numpy())


def test_unseeded_draws_follow_kerass_global_generator():
    """seed=None: after reseeding Python's random and resetting the global generators (what
    keras.utils.set_random_seed does), both libraries draw the same sequence."""
    keras.utils.set_random_seed(123)
    want = [keras.random.uniform((5,)).numpy() for _ in range(3)]
    random.seed(123)
    sn_random.reset_global_seed_generator()
    got = [sn_random.uniform((5,)).numpy() for _ in range(3)]
    np.testing.assert_array_equal(got, want)

"""scratchnet.random against keras.random for the same seeds: int seeds, SeedGenerators, None.

``uniform``, ``dropout`` and ``shuffle`` must give Keras's numbers bit for bit. ``normal`` and
``truncated_normal`` use the same Philox words, pairing and rejection as TensorFlow but NumPy's
log/sin/cos, so they must agree to 3 units in the last place (``scratchnet.random.box_muller``),
and must keep and drop the same candidates (no number lands in another position).
"""

import random

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet import random as sn_random

FLOATS = ("float32", "float64")

shapes = st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple)
seeds = st.one_of(st.integers(0, 10**9), st.integers(-(2**40), 2**40))


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


@settings(max_examples=25)
@given(shapes, seeds, st.sampled_from(FLOATS), st.sampled_from([(0.0, 1.0), (-2.5, 3.0)]))
def test_uniform_is_bit_identical(shape, seed, dtype, bounds):
    want = keras.random.uniform(shape, *bounds, dtype=dtype, seed=seed).numpy()
    got = sn_random.uniform(shape, *bounds, dtype=dtype, seed=seed)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), want)


@settings(max_examples=20)
@given(shapes, seeds, st.sampled_from(FLOATS), st.sampled_from([(0.0, 1.0), (1.5, 0.2)]))
def test_normal_agrees_to_three_ulps(shape, seed, dtype, moments):
    want = keras.random.normal(shape, dtype=dtype, seed=seed).numpy()
    got = sn_random.normal(shape, dtype=dtype, seed=seed).numpy()
    assert got.dtype == want.dtype
    assert ulps(got, want).max(initial=0) <= 3
    want = keras.random.normal(shape, *moments, dtype=dtype, seed=seed).numpy()
    got = sn_random.normal(shape, *moments, dtype=dtype, seed=seed).numpy()
    assert_within_ulps_of_standard(got, want, *moments)


@settings(max_examples=20)
@given(st.integers(1, 3000), seeds, st.sampled_from(FLOATS))
def test_truncated_normal_agrees_to_three_ulps(size, seed, dtype):
    want = keras.random.truncated_normal((size,), dtype=dtype, seed=seed).numpy()
    got = sn_random.truncated_normal((size,), dtype=dtype, seed=seed).numpy()
    assert ulps(got, want).max() <= 3  # so the same candidates were kept, in the same places
    want = keras.random.truncated_normal((size,), 0.5, 2.0, dtype=dtype, seed=seed).numpy()
    got = sn_random.truncated_normal((size,), 0.5, 2.0, dtype=dtype, seed=seed).numpy()
    assert_within_ulps_of_standard(got, want, 0.5, 2.0)


def test_normal_of_a_million_numbers():
    """Most numbers are bit-identical; none is more than 3 ulps away (box_muller's claim)."""
    for dtype in FLOATS:
        want = keras.random.normal((1000, 1000), dtype=dtype, seed=3).numpy()
        diff = ulps(sn_random.normal((1000, 1000), dtype=dtype, seed=3).numpy(), want)
        assert diff.max() <= 3 and (diff == 0).mean() > 0.98


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
        assert ulps(got, want).max() <= (3 if "normal" in draw else 0), draw
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

"""Tests of scratchnet.random: known answers from TensorFlow, the numba/NumPy twins, seed streams.

The Keras comparison proper (random shapes and seeds, live TensorFlow) is in
parity_tests/test_random_parity.py; these tests need neither Keras nor TensorFlow.
"""

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet import config
from scratchnet import random as sn_random
from scratchnet.kernels import philox

# Known answers, made once with tensorflow-cpu 2.21 on x86-64:
#   v = tf.random.stateless_uniform(shape, seed=seed, minval=lo, maxval=hi, dtype=dtype).numpy()
#   v.ravel().view(np.uint32 or np.uint64).tolist()
# Stored as raw bit patterns so the comparison is exact, the floats are in the comments.
KNOWN_ANSWERS = [
    # (shape, seed, dtype, minval, maxval, bits)
    # 0.21101546, 0.70600998, 0.80006337, 0.77079225, 0.38858867, 0.87035942
    ((6,), (0, 0), "float32", 0.0, 1.0,
     [1045959792, 1060420882, 1061998836, 1061507748, 1053226264, 1063178208]),
    # 0.13304532, -0.35596600, 0.24716741, -0.37970945, -0.29600736, -0.01299050
    ((2, 3), (1, 2), "float32", -0.5, 0.25,
     [1040727304, 3199615277, 1048385908, 3200411975, 3197603399, 3159676448]),
    # negative seed, seed above 2**32: 0.90248764, 0.54371607, 0.62880027, 0.00922620, 0.30737996
    ((5,), (-7, 2**40), "float32", 0.0, 1.0,
     [1063717230, 1057698042, 1059125518, 1008150912, 1050501352]),
    # 0.7947567924776369, 0.21453043963963703, 0.7543512773835628
    ((3,), (123, 4), "float64", 0.0, 1.0,
     [4605333752334181328, 4596897293954701008, 4604969811808738558]),
    # 0.9793066369866512, 2.154469134991994, -0.6669882658338366, 1.7686432647357417
    ((2, 2), (5, 0), "float64", -1.0, 3.0,
     [4606996029556105488, 4612033851996782998, 13827554952610991744, 4610644080320662136]),
]  # fmt: skip


@pytest.fixture(params=["numpy", "numba"])
def kernels(request):
    """Run the test once with each kernel family, restoring the previous one afterwards."""
    previous = config.kernels()
    config.use_kernels(request.param)
    yield request.param
    config.use_kernels(previous)


@pytest.mark.parametrize("shape, seed, dtype, minval, maxval, bits", KNOWN_ANSWERS)
def test_stateless_uniform_matches_tensorflow_known_answers(
    kernels, shape, seed, dtype, minval, maxval, bits
):
    out = sn_random.stateless_uniform(shape, seed, dtype, minval, maxval)
    assert out.shape == shape and out.dtype == np.dtype(dtype)
    uint = np.uint32 if dtype == "float32" else np.uint64
    assert out.ravel().view(uint).tolist() == bits, f"{kernels} kernels, seed {seed}, {dtype}"


@given(
    n_blocks=st.integers(0, 300),
    seed=st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1)),
)
def test_philox_numba_kernel_equals_numpy_twin(n_blocks, seed):
    key_counter = philox.key_and_counter_numpy(seed)
    expected = philox.philox_words_numpy(n_blocks, key_counter)
    with_numba = philox.philox_words_numba(n_blocks, key_counter)
    assert with_numba.dtype == np.uint32 and with_numba.shape == (n_blocks, 4)
    np.testing.assert_array_equal(with_numba, expected)


@given(seed=st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1)))
def test_key_and_counter_is_the_same_with_both_kernel_families(seed):
    assert philox.key_and_counter_numba(seed) == philox.key_and_counter_numpy(seed)


@given(
    size=st.integers(0, 2000),
    seed=st.tuples(st.integers(0, 2**31 - 3), st.integers(0, 2**31 - 3)),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_stateless_uniform_is_bit_identical_with_both_kernel_families(size, seed, dtype):
    previous = config.kernels()
    try:
        config.use_kernels("numpy")
        expected = sn_random.stateless_uniform((size,), seed, dtype)
        config.use_kernels("numba")
        got = sn_random.stateless_uniform((size,), seed, dtype)
    finally:
        config.use_kernels(previous)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


def test_uniform_values_lie_in_range_and_look_uniform(kernels):
    for dtype in ("float32", "float64"):
        u = sn_random.stateless_uniform((20000,), (11, 3), dtype)
        assert u.min() >= 0 and u.max() < 1
        assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005


def test_stateless_uniform_is_a_pure_function_of_shape_seed_dtype():
    a = sn_random.stateless_uniform((4, 5), (1, 2))
    assert np.array_equal(a, sn_random.stateless_uniform((4, 5), (1, 2)))
    assert not np.array_equal(a, sn_random.stateless_uniform((4, 5), (1, 3)))
    # The flat order does not depend on the shape: a (20,) draw is the (4, 5) draw flattened.
    assert np.array_equal(a.ravel(), sn_random.stateless_uniform((20,), (1, 2)))


def test_stateless_uniform_accepts_int_shape_and_empty_shapes():
    assert sn_random.stateless_uniform(3, (0, 0)).shape == (3,)
    assert sn_random.stateless_uniform((0, 4), (0, 0)).shape == (0, 4)
    assert sn_random.stateless_uniform((), (0, 0)).shape == ()


def test_stateless_uniform_rejects_bad_arguments():
    with pytest.raises(ValueError, match="float32"):
        sn_random.stateless_uniform((2,), (0, 0), dtype="float16")
    with pytest.raises(ValueError, match="two integers"):
        sn_random.stateless_uniform((2,), (0, 0, 0))


def test_seed_generator_with_int_seed_counts_up_from_zero():
    gen = sn_random.SeedGenerator(123)
    assert gen.state.tolist() == [123, 0]
    assert [gen.next() for _ in range(3)] == [(123, 0), (123, 1), (123, 2)]
    assert gen.state.tolist() == [123, 3]


def test_seed_generator_casts_like_keras_floormod():
    # Keras keeps the state in int64 and casts with floormod(., 2**31 - 2) for TensorFlow.
    assert sn_random.SeedGenerator(2**31 + 5).next() == (7, 0)
    assert sn_random.SeedGenerator(-5).next() == (2**31 - 7, 0)
    assert sn_random.cast_seed((2**31 - 2, 2**31 - 1)) == (0, 1)


def test_seed_generator_without_seed_draws_from_python_random_at_construction():
    random.seed(7)
    expected = random.randint(1, 10**9)
    random.seed(7)
    gen = sn_random.SeedGenerator()
    assert gen.state.tolist() == [expected, 0]
    assert gen.initial_seed is None


def test_seed_generator_rejects_non_integer_seeds():
    for bad in (1.5, "3", True):
        with pytest.raises(ValueError, match="integer"):
            sn_random.SeedGenerator(bad)


def test_draw_seed_int_is_fixed_and_generator_advances():
    assert sn_random.draw_seed(9) == (9, 0) == sn_random.draw_seed(9)
    gen = sn_random.SeedGenerator(9)
    assert sn_random.draw_seed(gen) == (9, 0) and sn_random.draw_seed(gen) == (9, 1)
    with pytest.raises(ValueError):
        sn_random.draw_seed(None)


@given(
    shape=st.lists(st.integers(1, 40), min_size=1, max_size=3).map(tuple),
    seed=st.tuples(st.integers(0, 2**31 - 3), st.integers(0, 2**31 - 3)),
    rate=st.floats(0.0, 0.95),
)
def test_dropout_mask_is_the_same_with_both_kernel_families(shape, seed, rate):
    scale = np.float32(1.0 / (1.0 - rate))
    previous = config.kernels()
    try:
        config.use_kernels("numpy")
        expected = sn_random.dropout_mask(shape, seed, rate, scale)
        config.use_kernels("numba")
        got = sn_random.dropout_mask(shape, seed, rate, scale)
    finally:
        config.use_kernels(previous)
    assert got.shape == expected.shape == shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    u = sn_random.stateless_uniform(shape, seed)
    np.testing.assert_array_equal(got, np.where(u >= np.float32(rate), scale, np.float32(0)))

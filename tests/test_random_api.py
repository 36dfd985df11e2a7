"""scratchnet.random's public functions without Keras: seeds, statistics, the truncated normal
against a plain loop twin, the normal kernels against their NumPy twins, and the gradients
of dropout and shuffle. Also scratchnet.backend.

The Keras comparisons (bit for bit; 3 ulps for the normal ones' NumPy twins) are in
parity_tests/test_random_api_parity.py.
"""

import random

import numpy as np
import pytest

from scratchnet import backend, config
from scratchnet import random as sn_random
from scratchnet.kernels import philox
from scratchnet.ops import core


def test_int_seeds_repeat_and_generators_advance():
    for draw in (sn_random.uniform, sn_random.normal, sn_random.truncated_normal):
        a, b = draw((3, 4), seed=7).numpy(), draw((3, 4), seed=7).numpy()
        np.testing.assert_array_equal(a, b)
        gen = sn_random.SeedGenerator(7)
        first, second = draw((3, 4), seed=gen).numpy(), draw((3, 4), seed=gen).numpy()
        np.testing.assert_array_equal(first, a)  # the generator's first seed is (7, 0)
        assert not np.array_equal(first, second)


def test_unseeded_draws_step_the_global_generator():
    random.seed(3)
    sn_random.reset_global_seed_generator()
    a = sn_random.uniform((4,)).numpy()
    gen = sn_random.global_seed_generator()
    state = gen.state.copy()
    b = sn_random.uniform((4,)).numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(gen.state, (state + 1) * 5387 % 933199)
    random.seed(3)
    sn_random.reset_global_seed_generator()
    np.testing.assert_array_equal(sn_random.uniform((4,)).numpy(), a)


def test_dtypes_and_refusals(float64):
    assert sn_random.uniform((2,), seed=1).dtype == "float64"  # floatx
    assert sn_random.normal((2,), dtype="float32", seed=1).dtype == "float32"
    with pytest.raises(ValueError, match="floating point"):
        sn_random.uniform((2,), dtype="int32", seed=1)
    with pytest.raises(ValueError, match="floating point"):
        sn_random.dropout(np.arange(4), 0.5, seed=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_statistics(dtype):
    u = sn_random.uniform((200_000,), -2.0, 3.0, dtype=dtype, seed=1).numpy()
    assert u.min() >= -2 and u.max() < 3 and abs(u.mean() - 0.5) < 0.02
    z = sn_random.normal((200_000,), 1.0, 2.0, dtype=dtype, seed=2).numpy()
    assert abs(z.mean() - 1) < 0.02 and abs(z.std() - 2) < 0.02
    assert abs(np.mean(np.abs(z - 1) < 2) - 0.6827) < 0.005  # within one sigma
    t = sn_random.truncated_normal((200_000,), 1.0, 2.0, dtype=dtype, seed=3).numpy()
    assert np.all(np.abs(t - 1) < 4)  # within two sigmas
    assert abs(t.mean() - 1) < 0.02 and abs(t.std() - 2 * 0.87962566) < 0.02


def truncated_normal_loop(size, seed, dtype):
    """TensorFlow's truncated normal, plainly: for each group, read its blocks one by one and
    keep numbers with |z| < 2 until the group is full (the twin of the vectorised rounds)."""
    group, stride = philox.TRUNCATED_GROUP[np.dtype(dtype).type]
    n_groups = -(-size // group)
    words = philox.philox_words_numpy(n_groups * stride, philox.key_and_counter_numpy(seed))
    out = []
    for g in range(n_groups):
        kept, block = [], g * stride
        while len(kept) < group:
            for z in philox.box_muller_numpy(words[block : block + 1], dtype):
                if abs(z) < 2 and len(kept) < group:
                    kept.append(z)
            block += 1
        out.extend(kept)
    return np.array(out[:size], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size, seed", [(1, (0, 0)), (7, (5, 2)), (301, (123, 4))])
def test_truncated_normal_rounds_match_the_loop(size, seed, dtype):
    key_counter = philox.key_and_counter_numpy(seed)
    got = philox.truncated_normal_numpy(key_counter, dtype, size)
    np.testing.assert_array_equal(got, truncated_normal_loop(size, seed, dtype))


def ulps(a, b):
    """How many representable floats apart a and b are, elementwise."""
    ints = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    return np.abs(a.view(ints).astype(np.int64) - b.view(ints).astype(np.int64))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 1001, 100_000])
def test_normal_kernels_match_their_twins_to_three_ulps(size, dtype):
    """The numba kernels (exact: parity_tests/test_random_api_parity.py) and the NumPy twins
    differ only by the last bits of log, sin and cos: at most 3 ulps, same positions."""
    key_counter = philox.key_and_counter_numpy((size, 9))
    for kernel, twin in [
        (philox.normal_numba, philox.normal_numpy),
        (philox.truncated_normal_numba, philox.truncated_normal_numpy),
    ]:
        got, want = kernel(key_counter, dtype, size), twin(key_counter, dtype, size)
        assert got.dtype == want.dtype == dtype and got.shape == want.shape == (size,)
        assert ulps(got, want).max(initial=0) <= 3, kernel.__name__


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_stateless_normal_uses_the_kernel_family(kernels):
    previous = config.kernels()
    config.use_kernels(kernels)
    try:
        z = sn_random.stateless_normal((3, 5), (1, 2), "float64")
        t = sn_random.stateless_truncated_normal((3, 5), (1, 2), "float64")
    finally:
        config.use_kernels(previous)
    key_counter = philox.key_and_counter_numpy((1, 2))
    family = {"numpy": (philox.normal_numpy, philox.truncated_normal_numpy)}.get(
        kernels, (philox.normal_numba, philox.truncated_normal_numba)
    )
    np.testing.assert_array_equal(z.reshape(-1), family[0](key_counter, "float64", 15))
    np.testing.assert_array_equal(t.reshape(-1), family[1](key_counter, "float64", 15))


def test_box_muller_pairs():
    """Each pair of uniforms (u1, u2) gives r sin(2 pi u2), r cos(2 pi u2), r = sqrt(-2 ln u1)."""
    words = philox.philox_words_numpy(3, philox.key_and_counter_numpy((1, 1)))
    u = philox.unit_floats_numpy(words, np.dtype(np.float64), 6)
    r = np.sqrt(-2 * np.log(u[0::2]))
    for z in (
        philox.box_muller_numpy(words, np.float64),
        philox.normal_numba(philox.key_and_counter_numpy((1, 1)), "float64", 6),
    ):
        np.testing.assert_allclose(z[0::2], r * np.sin(2 * np.pi * u[1::2]), rtol=1e-14)
        np.testing.assert_allclose(z[1::2], r * np.cos(2 * np.pi * u[1::2]), rtol=1e-14)


def fake_loss_gradient(fn, x):
    """dL/dx of L = sum(fn(x) * dy), backprop against central differences, for a linear-in-x
    fn (dropout, shuffle): then the differences are exact up to rounding."""
    dy = np.random.default_rng(0).standard_normal(fn(x).shape)
    with core.record_gradients():
        xt = core.Tensor(x, requires_grad=True)
        (got,) = core.gradients(fn(xt), dy, [xt])
    want = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[index] = 1e-3
        want[index] = np.sum((fn(x + e).numpy() - fn(x - e).numpy()) * dy) / 2e-3
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_dropout_mask_scale_and_gradient():
    x = np.random.default_rng(1).standard_normal((50, 40))
    y = sn_random.dropout(x, 0.3, seed=4).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.03
    np.testing.assert_allclose(y[kept], x[kept] / 0.7)
    fake_loss_gradient(lambda v: sn_random.dropout(v, 0.3, seed=4), x[:3, :4])
    rows = sn_random.dropout(x, 0.5, noise_shape=(None, 1), seed=4).numpy()
    assert set(np.unique((rows != 0).sum(axis=1))) <= {0, 40}  # whole rows kept or dropped
    np.testing.assert_array_equal(sn_random.dropout(x, 0.0, seed=4).numpy(), x)
    assert not sn_random.dropout(x, 1.0, seed=4).numpy().any()


def test_shuffle_is_a_permutation_with_its_gradient():
    x = np.arange(24.0).reshape(4, 6)
    for axis in (0, 1):
        y = sn_random.shuffle(x, axis=axis, seed=2).numpy()
        np.testing.assert_array_equal(np.sort(y, axis=axis), x)
        fake_loss_gradient(lambda v, a=axis: sn_random.shuffle(v, axis=a, seed=2), x)


def test_backend():
    assert backend.epsilon() == 1e-7 == config.epsilon()
    assert backend.floatx() == config.floatx() and backend.image_data_format() == "channels_last"
    assert backend.is_float_dtype("float64") and not backend.is_float_dtype("int32")
    assert backend.is_int_dtype("uint8") and backend.result_type("int32", float) == "float32"
    backend.set_epsilon(1e-4)
    try:
        assert backend.epsilon() == 1e-4 == config.epsilon()
    finally:
        backend.set_epsilon(1e-7)

"""scratchnet.random and scratchnet.initializers against TensorFlow and Keras, bit for bit.

Randomness is one of the few places where scratchnet can equal Keras exactly (keras-behaviour.md
section 0.3 and Appendix A), so every comparison here is ``array_equal`` on the raw bits:

* ``stateless_uniform`` against ``tf.random.stateless_uniform`` on random shapes, seeds (negative
  and above 2**32 included), ranges and both float dtypes, with both kernel families;
* initial kernels: Keras layers and scratchnet initializers constructed in the same order after
  the same ``random.seed(S)`` (the seeds come from Python's ``random`` at construction);
* Dropout: the masks of ``keras.layers.Dropout`` call after call, seeded and unseeded, against
  ``SeedGenerator`` + ``stateless_uniform``;
* the config dicts of ``serialize`` against ``keras.initializers.serialize``.
"""

import contextlib
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_impl.setup import keras, tf, use_floatx
from scratchnet import config, initializers
from scratchnet import random as sn_random


def assert_bits_equal(ours, theirs, what):
    """Exact equality, with the first differing element named in the failure message."""
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs Keras {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs Keras {theirs.dtype}"
    differ = ours != theirs
    if differ.any():
        index = tuple(int(i) for i in np.argwhere(differ)[0])
        raise AssertionError(
            f"{what}: {int(differ.sum())} of {ours.size} elements differ; first at {index}: "
            f"scratchnet {ours[index]!r} vs Keras {theirs[index]!r}"
        )


@contextlib.contextmanager
def kernel_family(name):
    """Use the 'numpy' or 'numba' kernels inside the ``with`` block, then restore."""
    previous = config.kernels()
    config.use_kernels(name)
    try:
        yield
    finally:
        config.use_kernels(previous)


# ------------------------------------------------------------------------ stateless_uniform

int64s = st.integers(-(2**63), 2**63 - 1)
seeds = st.tuples(
    st.one_of(st.integers(0, 2**31 - 1), int64s), st.one_of(st.integers(0, 2**31 - 1), int64s)
)
shapes = st.one_of(
    st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple),
    st.integers(1, 3000).map(lambda n: (n,)),  # many Philox blocks
)
ranges = st.one_of(
    st.just((0.0, 1.0)),
    st.tuples(st.floats(-10, 10), st.floats(0.001, 10)).map(lambda t: (t[0], t[0] + t[1])),
)


@given(shape=shapes, seed=seeds, dtype=st.sampled_from(["float32", "float64"]), bounds=ranges)
def test_stateless_uniform_equals_tensorflow(shape, seed, dtype, bounds):
    minval, maxval = bounds
    theirs = tf.random.stateless_uniform(
        shape, seed=tf.constant(seed, tf.int64), minval=minval, maxval=maxval, dtype=dtype
    ).numpy()
    for family in ("numpy", "numba"):
        with kernel_family(family):
            ours = sn_random.stateless_uniform(shape, seed, dtype, minval, maxval)
        assert_bits_equal(ours, theirs, f"stateless_uniform{(shape, seed, dtype, bounds)} {family}")


def test_stateless_uniform_int32_seed_tensor_equals_int64():
    # Keras hands TF int32 seeds (after _cast_seed); TF reads both widths the same way.
    for seed in [(5, 0), (-3, 7), (2**31 - 1, -(2**31))]:
        theirs = tf.random.stateless_uniform((9,), seed=tf.constant(seed, tf.int32)).numpy()
        assert_bits_equal(sn_random.stateless_uniform((9,), seed), theirs, f"seed {seed}")


# ------------------------------------------------------------------------ initial weights


@pytest.mark.parametrize("seed", [0, 1337, 2024])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_kernels_equal_keras_after_the_same_python_seed(seed, dtype):
    # The keras.io MNIST convnet's draws, in order: conv kernel, conv kernel, dropout, dense.
    with use_floatx(dtype):
        random.seed(seed)
        # dtype= explicitly: Keras caches its global dtype policy at the first layer it makes,
        # so set_floatx alone does not reach layers made later in the same process.
        conv1 = keras.layers.Conv2D(32, 3, dtype=dtype)
        conv2 = keras.layers.Conv2D(64, 3, kernel_initializer="he_uniform", dtype=dtype)
        dropout = keras.layers.Dropout(0.5, dtype=dtype)
        dense = keras.layers.Dense(10, dtype=dtype)
        conv1.build((None, 28, 28, 1))
        conv2.build((None, 26, 26, 32))
        dense.build((None, 1600))

        random.seed(seed)
        ours = [initializers.get("glorot_uniform"), initializers.get("he_uniform")]
        dropout_generator = sn_random.SeedGenerator()
        ours.append(initializers.GlorotUniform())

        pairs = [(ours[0], conv1), (ours[1], conv2), (ours[2], dense)]
        for init, layer in pairs:
            kernel = layer.kernel.numpy()
            assert_bits_equal(init(kernel.shape), kernel, f"{layer.name}.kernel {dtype}")
            bias = layer.bias.numpy()
            assert_bits_equal(initializers.Zeros()(bias.shape), bias, f"{layer.name}.bias")
        assert dropout_generator.state.tolist() == dropout.seed_generator.state.numpy().tolist()


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("GlorotUniform", {}),
        ("HeUniform", {}),
        ("LecunUniform", {}),
        ("RandomUniform", {"minval": -0.3, "maxval": 0.2}),
        ("VarianceScaling", {"scale": 0.7, "mode": "fan_out", "distribution": "uniform"}),
        ("Constant", {"value": 0.3}),
        ("Constant", {"value": np.float64(0.3)}),
        ("Constant", {"value": 3}),
        ("Ones", {}),
    ],
)
@pytest.mark.parametrize("shape", [(7,), (30, 10), (5, 5, 3, 8)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_initializer_values_equal_keras(name, kwargs, shape, dtype):
    if name not in ("Constant", "Ones"):
        kwargs = {**kwargs, "seed": 2**31 + 12345}  # above int32: exercises the floormod cast
    theirs = getattr(keras.initializers, name)(**kwargs)
    ours = getattr(initializers, name)(**kwargs)
    assert_bits_equal(ours(shape, dtype), theirs(shape, dtype=dtype).numpy(), f"{name}{shape}")
    assert_bits_equal(ours(shape, dtype), theirs(shape, dtype=dtype).numpy(), f"{name} again")


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("GlorotUniform", {"seed": 3}),
        ("GlorotUniform", {}),
        ("HeUniform", {}),
        ("LecunUniform", {"seed": 9}),
        ("RandomUniform", {}),
        ("VarianceScaling", {"scale": 2.0, "distribution": "uniform"}),
        ("Zeros", {}),
        ("Ones", {}),
        ("Constant", {"value": 2.0}),
        ("Constant", {"value": 3}),
    ],
)
def test_serialize_equals_keras_and_configs_cross_over(name, kwargs):
    theirs = keras.initializers.serialize(getattr(keras.initializers, name)(**kwargs))
    ours = initializers.serialize(getattr(initializers, name)(**kwargs))
    assert ours == theirs and list(ours["config"]) == list(theirs["config"])
    assert initializers.serialize(initializers.deserialize(theirs)) == theirs
    assert keras.initializers.serialize(keras.initializers.deserialize(ours)) == ours


def test_get_resolves_names_like_keras():
    # ("Constant" is left out: Keras's get("Constant") fails with KeyError 'value'.)
    for name in ["glorot_uniform", "GlorotUniform", "he_uniform", "zeros", "zero", "ones",
                 "one", "uniform", "random_uniform", "lecun_uniform"]:  # fmt: skip
        assert type(initializers.get(name)).__name__ == type(keras.initializers.get(name)).__name__


# ------------------------------------------------------------------------ Dropout seeds and masks


def our_dropout(x, rate, generator):
    """Keras's TF-backend dropout (keras-behaviour.md section 3.3) on scratchnet's randomness."""
    u = sn_random.stateless_uniform(x.shape, generator.next(), x.dtype)
    return np.where(u >= x.dtype.type(rate), x * x.dtype.type(1 / (1 - rate)), x.dtype.type(0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [123, None])
def test_dropout_masks_equal_keras_call_after_call(dtype, seed):
    rate = 0.3
    x = np.random.default_rng(0).uniform(0.5, 1.5, (4, 6, 6, 5)).astype(dtype)
    random.seed(99)
    layer = keras.layers.Dropout(rate, seed=seed, dtype=dtype)
    random.seed(99)
    generator = sn_random.SeedGenerator(seed)
    for call in range(4):
        theirs = layer(x, training=True).numpy()
        assert_bits_equal(our_dropout(x, rate, generator), theirs, f"dropout call {call}")
    assert generator.state.tolist() == layer.seed_generator.state.numpy().tolist()


@given(seed=st.one_of(st.integers(1, 10**9), int64s))
def test_seed_generator_stream_equals_keras(seed):
    theirs = keras.random.SeedGenerator(seed)
    ours = sn_random.SeedGenerator(seed)
    for _ in range(3):
        expected = keras.src.backend.tensorflow.random._cast_seed(theirs.next()).numpy().tolist()
        assert list(ours.next()) == expected

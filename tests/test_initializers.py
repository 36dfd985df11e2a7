"""Tests of scratchnet.initializers: fans and limits, seeds, values, get/serialize/deserialize."""

import math
import random

import numpy as np
import pytest

from scratchnet import config, initializers
from scratchnet.random import stateless_uniform

# Made once with keras 3.15 / tensorflow-cpu 2.21:
#   keras.initializers.GlorotUniform(seed=42)((3, 3, 1, 2)).numpy().ravel().view(np.uint32)
GLOROT_SEED_42_CONV_3x3x1x2_BITS = [
    3193048070, 3133383168, 1045431026, 3202849651, 3201002266, 1039425212,
    1047932742, 3198009311, 3199416872, 3201822498, 1054186991, 3196198306,
    3165484320, 3195318105, 1046007898, 1048699403, 1024363096, 3198151694,
]  # fmt: skip


def test_glorot_uniform_known_answer_from_keras():
    w = initializers.GlorotUniform(seed=42)((3, 3, 1, 2), "float32")
    assert w.shape == (3, 3, 1, 2) and w.dtype == np.float32
    assert w.ravel().view(np.uint32).tolist() == GLOROT_SEED_42_CONV_3x3x1x2_BITS


@pytest.mark.parametrize(
    "shape, fans",
    [((), (1, 1)), ((7,), (7, 7)), ((1600, 10), (1600, 10)), ((3, 3, 1, 32), (9, 288))],
)
def test_compute_fans(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_compute_fans_with_explicit_axes():
    assert initializers.compute_fans((2, 3, 4), input_axes=[0, 1], output_axes=[2]) == (6, 4)


@pytest.mark.parametrize(
    "init, shape, limit",
    [
        (initializers.GlorotUniform(seed=1), (3, 3, 1, 32), 0.1421338),  # keras-behaviour §1.4
        (initializers.GlorotUniform(seed=1), (1600, 10), 0.0610468),
        (initializers.HeUniform(seed=1), (3, 3, 16, 8), math.sqrt(6 / 144)),
        (initializers.LecunUniform(seed=1), (20, 5), math.sqrt(3 / 20)),
        (
            initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=1),
            (20, 5),
            math.sqrt(6 / 5),
        ),
    ],
)
def test_variance_scaling_limits_and_values(init, shape, limit):
    assert init.limit(shape) == pytest.approx(limit, abs=5e-8)
    w = init(shape, "float64")
    assert w.shape == shape and w.dtype == np.float64
    assert np.abs(w).max() <= init.limit(shape)


def test_draw_is_stateless_uniform_with_seed_s_0_and_python_limit():
    init = initializers.GlorotUniform(seed=5)
    limit = math.sqrt(3.0 * (1.0 / max(1.0, (4 + 6) / 2.0)))
    expected = stateless_uniform((4, 6), (5, 0), "float32", -limit, limit)
    np.testing.assert_array_equal(init((4, 6), "float32"), expected)


def test_calling_twice_gives_the_same_values_like_keras():
    init = initializers.GlorotUniform()
    np.testing.assert_array_equal(init((5, 5)), init((5, 5)))


def test_unseeded_initializers_draw_python_random_in_construction_order():
    random.seed(3)
    seeds = [random.randint(1, 10**9) for _ in range(3)]
    random.seed(3)
    made = [initializers.GlorotUniform(), initializers.Zeros(), initializers.HeUniform()]
    made.append(initializers.get("glorot_uniform"))
    assert [made[0].seed, made[2].seed, made[3].seed] == seeds  # Zeros draws nothing


def test_default_dtype_is_floatx(float64):
    assert initializers.GlorotUniform(seed=1)((2, 2)).dtype == np.float64
    assert initializers.Zeros()((2,)).dtype == np.float64


def test_constant_initializers():
    assert initializers.Zeros()((2, 3), "float32").tolist() == [[0, 0, 0]] * 2
    assert initializers.Ones()((2,), "float64").tolist() == [1.0, 1.0]
    assert initializers.Constant(np.float32(0.25))((3,), "float32").tolist() == [0.25] * 3
    assert config.floatx() == "float32"
    assert initializers.Constant(2)((1,)).dtype == np.float32


def test_random_uniform_range():
    w = initializers.RandomUniform(-0.2, 0.1, seed=4)((1000,), "float32")
    assert w.min() >= -0.2 and w.max() < 0.1


@pytest.mark.parametrize(
    "init, config_dict",
    [
        (initializers.GlorotUniform(), {"seed": None, "input_axes": None, "output_axes": None}),
        (initializers.HeUniform(seed=3), {"seed": 3, "input_axes": None, "output_axes": None}),
        (initializers.LecunUniform(seed=7), {"seed": 7, "input_axes": None, "output_axes": None}),
        (initializers.Zeros(), {}),
        (initializers.Ones(), {}),
        (initializers.Constant(2.0), {"value": 2.0}),
        (
            initializers.RandomUniform(seed=None),
            {"seed": None, "minval": -0.05, "maxval": 0.05},
        ),
        (
            initializers.VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform"),
            {
                "seed": None,
                "scale": 2.0,
                "mode": "fan_in",
                "distribution": "uniform",
                "input_axes": None,
                "output_axes": None,
            },
        ),
    ],
)
def test_serialize_matches_keras_format_and_round_trips(init, config_dict):
    # The expected dicts are what keras.initializers.serialize printed for the same objects.
    expected = {
        "module": "keras.initializers",
        "class_name": type(init).__name__,
        "config": config_dict,
        "registered_name": None,
    }
    assert initializers.serialize(init) == expected
    assert list(initializers.serialize(init)["config"]) == list(config_dict)  # Keras's key order
    back = initializers.deserialize(expected)
    assert type(back) is type(init)
    assert initializers.serialize(back) == expected


def test_round_trip_with_a_seed_gives_the_same_weights():
    init = initializers.GlorotUniform(seed=11)
    back = initializers.deserialize(initializers.serialize(init))
    np.testing.assert_array_equal(init((3, 4), "float32"), back((3, 4), "float32"))


@pytest.mark.parametrize(
    "name, cls",
    [
        ("glorot_uniform", initializers.GlorotUniform),
        ("GlorotUniform", initializers.GlorotUniform),
        ("he_uniform", initializers.HeUniform),
        ("lecun_uniform", initializers.LecunUniform),
        ("zeros", initializers.Zeros),
        ("zero", initializers.Zeros),
        ("ones", initializers.Ones),
        ("uniform", initializers.RandomUniform),
        ("random_uniform", initializers.RandomUniform),
        ("Constant", initializers.Constant),
    ],
)
def test_get_by_name(name, cls):
    assert type(initializers.get(name)) is cls


def test_get_other_identifiers():
    assert initializers.get(None) is None
    init = initializers.HeUniform(seed=1)
    assert initializers.get(init) is init
    assert isinstance(initializers.get(initializers.Ones), initializers.Ones)
    assert initializers.get({"class_name": "GlorotUniform", "config": {"seed": 3}}).seed == 3

    def fn(shape, dtype=None):
        return np.full(shape, 0.5, dtype)

    assert initializers.get(fn) is fn


def test_unknown_names_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        initializers.get("glorot")
    with pytest.raises(ValueError, match="Unknown initializer 'glorot_weird'"):
        initializers.get("glorot_weird")
    with pytest.raises(ValueError, match="Could not interpret"):
        initializers.get(3.5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0, distribution="uniform")
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_max", distribution="uniform")
    with pytest.raises(ValueError, match="seed"):
        initializers.GlorotUniform(seed=1.5)


def test_float64_bounds_and_constants_are_rounded_through_float32_like_keras():
    # Keras casts Python floats with tf.cast, which makes a float32 tensor first (checked
    # against keras 3.15 in parity_tests/test_random_parity.py).
    f32 = float(np.float32(0.3))
    assert initializers.Constant(0.3)((2,), "float64").tolist() == [f32, f32]
    assert initializers.Constant(np.float64(0.3))((1,), "float64").tolist() == [0.3]
    w = initializers.RandomUniform(-0.3, 0.2, seed=5)((6,), "float64")
    expected = stateless_uniform((6,), (5, 0), "float64", -f32, float(np.float32(0.2)))
    np.testing.assert_array_equal(w, expected)

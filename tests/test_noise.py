"""GaussianNoise, GaussianDropout and SpatialDropout2D without Keras: finite differences in
float64 (the noise held fixed by a fresh layer with the same seed for every evaluation), the
noise's statistics, identity in inference, seeds, configs and errors (Keras comparisons:
parity_tests/test_noise.py)."""

import numpy as np
import pytest

from scratchnet import random as sn_random
from scratchnet.layers.noise import GaussianDropout, GaussianNoise, SpatialDropout2D

LAYERS = [
    (GaussianNoise, {"stddev": 0.3}, (3, 4)),
    (GaussianDropout, {"rate": 0.4}, (2, 3, 5)),
    (SpatialDropout2D, {"rate": 0.5}, (3, 4, 4, 6)),
    (SpatialDropout2D, {"rate": 0.3, "data_format": "channels_first"}, (2, 5, 3, 3)),
]


@pytest.mark.parametrize("cls, kwargs, shape", LAYERS)
def test_backward_matches_finite_differences(cls, kwargs, shape, float64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    dy = rng.normal(size=shape)

    def loss(v):  # a fresh layer with seed 5 draws the same noise (seed (5, 0)) every time
        return float(np.sum(cls(**kwargs, seed=5)(v, training=True) * dy))

    layer = cls(**kwargs, seed=5)
    layer(x, training=True)
    dx = layer.backward(dy)
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[index] = 1e-6
        numeric[index] = (loss(x + e) - loss(x - e)) / 2e-6
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8, err_msg=cls.__name__)


@pytest.mark.parametrize("cls, kwargs, shape", LAYERS)
def test_identity_in_inference_and_new_noise_each_training_call(cls, kwargs, shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    layer = cls(**kwargs, seed=2)
    assert layer(x) is x or np.array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)  # dx = dy after an inference call
    first, second = layer(x, training=True), layer(x, training=True)
    assert first.dtype == x.dtype and not np.array_equal(first, second)
    assert layer.seed_generator.state.tolist() == [2, 2]


def test_gaussian_noise_is_x_plus_the_stateless_normal():
    x = np.ones((50, 40))
    layer = GaussianNoise(0.2, seed=7, dtype="float64")
    for k in range(2):
        z = sn_random.stateless_normal(x.shape, (7, k), "float64")
        np.testing.assert_array_equal(layer(x, training=True), x + z * 0.2)


def test_gaussian_dropout_statistics():
    y = GaussianDropout(0.2, seed=1)(np.ones((400, 500)), training=True)
    assert abs(y.mean() - 1) < 0.01 and abs(y.std() - np.sqrt(0.2 / 0.8)) < 0.01


@pytest.mark.parametrize(
    "data_format, axes", [("channels_last", (1, 2)), ("channels_first", (2, 3))]
)
def test_spatial_dropout_drops_whole_channels(data_format, axes):
    x = np.ones((20, 4, 4, 30)) if data_format == "channels_last" else np.ones((20, 30, 4, 4))
    y = SpatialDropout2D(0.4, data_format=data_format, seed=3)(x, training=True)
    assert set(np.unique(y).tolist()) == {0.0, float(np.float32(1 / 0.6))}  # float32 layer
    assert (y.min(axis=axes) == y.max(axis=axes)).all()  # one draw per (sample, channel)
    assert abs((y == 0).mean() - 0.4) < 0.05


def test_rates_zero_and_one():
    x = np.ones((2, 3, 3, 2), "float32")
    assert not SpatialDropout2D(1.0, seed=1)(x, training=True).any()
    for layer in (SpatialDropout2D(0.0), GaussianDropout(0.0), GaussianNoise(0.0)):
        assert layer.seed_generator is None  # as in Keras: no generator, so no seed drawn
        np.testing.assert_array_equal(layer(x, training=True), x)


def test_bad_arguments_and_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"GaussianNoise 'g': stddev must be a float in \[0, 1\]"):
        GaussianNoise(1.5, name="g")
    with pytest.raises(ValueError, match="rate must be"):
        GaussianDropout(-0.1)
    with pytest.raises(ValueError, match="rate must be"):
        SpatialDropout2D(2.0)
    with pytest.raises(ValueError, match="data_format must be"):
        SpatialDropout2D(0.5, data_format="NHWC")
    with pytest.raises(ValueError, match="expects a 4-D input"):
        SpatialDropout2D(0.5)(np.ones((2, 3, 4)), training=True)


@pytest.mark.parametrize("cls, kwargs, shape", LAYERS)
def test_config_round_trip_and_shapes(cls, kwargs, shape):
    layer = cls(**kwargs, seed=4, name="noise")
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *shape[1:])
    layer(np.zeros(shape, "float32"))
    assert layer.count_params() == 0 and layer.get_weights() == []

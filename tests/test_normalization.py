"""BatchNormalization without Keras: finite differences in float64 (both modes), the moving
statistics (their update formula, once per training step, never at inference), weights, errors,
and a save/load round trip.

parity_tests/test_normalization.py checks the same layer against real Keras.
"""

import numpy as np
import pytest

import scratchnet
from scratchnet import Input, layers, models
from scratchnet.layers.normalization import BatchNormalization
from scratchnet.saving import objects


def random_statistics(layer, rng):
    """Random gamma and beta, and random moving statistics (a positive variance)."""
    weights = []
    for w in layer.weights:
        value = rng.normal(size=w.value.shape)
        weights.append(0.5 + np.abs(value) if w.name == "moving_variance" else value)
    layer.set_weights(weights)


def check_gradients(layer, x, rng, eps=1e-6, rtol=1e-6, atol=1e-8):
    """layer.backward against central differences of L = sum(y * dy), in the mode of the call.

    Unlike ``conftest.check_finite_differences`` (which differentiates inference), the loss is
    evaluated with ``training=True``: batch statistics, or, for a frozen layer, the moving ones.
    The moving statistics do change on each training call, but the training output does not
    depend on them.
    """
    y = layer(x, training=True)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    grads = dict(layer.grads)

    def loss():
        return float(np.sum(layer(x, training=True) * dy))

    def numeric(array):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = loss()
            array[index] = saved - eps
            down = loss()
            array[index] = saved
            grad[index] = (up - down) / (2 * eps)
        return grad

    checks = {"dx": (dx, x)}
    checks.update({f"d{k}": (grads[k], layer.params[k]) for k in ("gamma", "beta") if k in grads})
    assert sorted(checks) == sorted(
        ["dx"] + [f"d{k}" for k in ("gamma", "beta") if k in layer.params]
    )
    for name, (analytic, array) in checks.items():
        np.testing.assert_allclose(
            analytic, numeric(array), rtol=rtol, atol=atol, err_msg=f"{layer.name}: {name}"
        )


SHAPES_AND_AXES = [
    ((5, 3), -1),
    ((4, 3), 0),
    ((3, 2, 2, 3), -1),
    ((2, 3, 2, 2), 1),
    ((2, 2, 3, 2), 2),
    ((3, 4, 2), 1),
]


@pytest.mark.parametrize("shape, axis", SHAPES_AND_AXES)
@pytest.mark.parametrize(
    "center, scale", [(True, True), (False, True), (True, False), (False, False)]
)
@pytest.mark.parametrize("frozen", [False, True], ids=["training", "inference"])
def test_backward_matches_finite_differences(float64, shape, axis, center, scale, frozen):
    rng = np.random.default_rng(abs(hash((shape, axis, center, scale))) % 2**32)
    layer = BatchNormalization(axis=axis, center=center, scale=scale, momentum=0.9)
    x = rng.normal(size=shape) * 2.0 + 1.0
    layer.build(x.shape)
    random_statistics(layer, rng)
    layer.trainable = not frozen  # a frozen layer runs in inference mode, as in Keras
    check_gradients(layer, x, rng)


def test_synchronized_variance_formula_has_the_same_gradient(float64):
    rng = np.random.default_rng(7)
    layer = BatchNormalization(synchronized=True)
    x = rng.normal(size=(6, 4))
    layer.build(x.shape)
    random_statistics(layer, rng)
    check_gradients(layer, x, rng)
    plain = BatchNormalization()
    plain.build(x.shape)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x, training=True), plain(x, training=True), rtol=1e-12)


def test_training_normalizes_each_channel_with_the_biased_batch_variance(float64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3, 3, 2)) * [1.0, 10.0] + [5.0, -3.0]
    layer = BatchNormalization(epsilon=0.0, center=False, scale=False)
    y = layer(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1.0, rtol=1e-12)  # var with 1/M
    expected = (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2))
    np.testing.assert_allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_moving_statistics_update_with_keras_rounding_of_momentum(dtype):
    rng = np.random.default_rng(2)
    layer = BatchNormalization(momentum=0.99, dtype=dtype)
    x = rng.integers(-3, 4, size=(4, 3)).astype(dtype)  # exact mean and variance
    layer.build(x.shape)
    random_statistics(layer, rng)
    mean0, var0 = layer.params["moving_mean"].copy(), layer.params["moving_variance"].copy()
    layer(x, training=True)
    t = np.dtype(dtype).type
    keep, take = t(0.99), t(1.0 - 0.99)  # each Python double rounded to the dtype
    np.testing.assert_array_equal(layer.params["moving_mean"], mean0 * keep + x.mean(0) * take)
    np.testing.assert_array_equal(layer.params["moving_variance"], var0 * keep + x.var(0) * take)
    assert layer.params["moving_mean"].dtype == np.dtype(dtype)


def test_inference_uses_moving_statistics_and_changes_nothing(float64):
    rng = np.random.default_rng(3)
    layer = BatchNormalization(epsilon=1e-3)
    x = rng.normal(size=(5, 4))
    layer.build(x.shape)
    random_statistics(layer, rng)
    before = layer.get_weights()
    gamma, beta, mean, var = before
    expected = gamma * (x - mean) / np.sqrt(var + 1e-3) + beta
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-12)
    layer.trainable = False  # frozen: inference even with training=True, and no update
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-12)
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "center, scale, names",
    [
        (True, True, ["gamma", "beta", "moving_mean", "moving_variance"]),
        (False, True, ["gamma", "moving_mean", "moving_variance"]),
        (True, False, ["beta", "moving_mean", "moving_variance"]),
        (False, False, ["moving_mean", "moving_variance"]),
    ],
)
def test_weights_are_in_keras_order(center, scale, names):
    layer = BatchNormalization(center=center, scale=scale)
    layer.build((None, 2, 2, 5))
    assert [w.name for w in layer.weights] == names
    assert [w.name for w in layer.trainable_weights] == [n for n in names if "moving" not in n]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    assert all(w.value.shape == (5,) for w in layer.weights)
    assert layer.count_params() == 5 * len(names)
    np.testing.assert_array_equal(layer.params["moving_variance"], np.ones(5))
    np.testing.assert_array_equal(layer.params["moving_mean"], np.zeros(5))


def mlp(momentum=0.5):
    return models.Sequential(
        [
            Input((3,)),
            BatchNormalization(momentum=momentum),
            layers.Dense(2, activation="softmax"),
        ]
    )


def expected_moving_statistics(x, batch_size, epochs, momentum):
    """The recursion ``moving = moving * m + batch * (1 - m)`` once per batch, in float64.

    BatchNormalization is the first layer, so its batch statistics are those of the data,
    whatever the weights do."""
    mean, var = np.zeros(x.shape[1]), np.ones(x.shape[1])
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            mean = mean * momentum + batch.mean(0) * (1 - momentum)
            var = var * momentum + batch.var(0) * (1 - momentum)
    return mean, var


def test_fit_updates_moving_statistics_once_per_step_and_evaluate_predict_never(float64):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(10, 3)) * 3 + 2, np.eye(2)[rng.integers(0, 2, 10)]
    model = mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)  # 3 steps per epoch
    bn = model.layers[0]
    mean, var = expected_moving_statistics(x, 4, 2, 0.5)
    np.testing.assert_allclose(bn.params["moving_mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(bn.params["moving_variance"], var, rtol=1e-13)
    after_fit = bn.get_weights()
    model.evaluate(x, y, batch_size=4, verbose=0)
    model.predict(x, verbose=0)
    model(x)
    for a, b in zip(after_fit, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_validation_data_does_not_update_moving_statistics(float64):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(8, 3)), np.eye(2)[rng.integers(0, 2, 8)]
    model = mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, validation_data=(x * 9, y))
    mean, _ = expected_moving_statistics(x, 4, 1, 0.5)
    np.testing.assert_allclose(model.layers[0].params["moving_mean"], mean, rtol=1e-13)


def test_subclassed_and_functional_models_update_once_per_step(float64):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, 3)) + 1, np.eye(2)[rng.integers(0, 2, 8)]

    class Small(scratchnet.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.bn = BatchNormalization(momentum=0.5)
            self.head = layers.Dense(2, activation="softmax")

        def call(self, inputs, training=False):
            return self.head(self.bn(inputs, training=training))

    inputs = Input((3,))
    functional = scratchnet.Model(
        inputs, layers.Dense(2, activation="softmax")(BatchNormalization(momentum=0.5)(inputs))
    )
    mean, _ = expected_moving_statistics(x, 4, 1, 0.5)
    for model in (Small(), functional):
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        bn = next(la for la in model.layers if isinstance(la, BatchNormalization))
        np.testing.assert_allclose(bn.params["moving_mean"], mean, rtol=1e-13)
        model.evaluate(x, y, verbose=0)
        np.testing.assert_allclose(bn.params["moving_mean"], mean, rtol=1e-13)


def test_fit_and_evaluate_disagree_while_the_moving_statistics_lag(float64):
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(32, 3)) * 5 + 20, np.eye(2)[rng.integers(0, 2, 32)]
    model = mlp(momentum=0.99)  # Keras's default: the moving mean is still near 0 after 8 steps
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    evaluated = model.evaluate(x, y, verbose=0)
    assert np.all(model.layers[0].params["moving_mean"] < 0.1 * x.mean(0))
    assert abs(evaluated - history.history["loss"][0]) > 0.1


def test_summary_shape_and_config_round_trip():
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False, name="bn")
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 5)
    config = layer.get_config()
    assert config["axis"] == 1 and config["momentum"] == 0.9 and config["center"] is False
    clone = BatchNormalization.from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beta_regularizer": "l3"}, r"'batch_normalization.*': beta_regularizer: .*'l3'"),
        ({"gamma_constraint": "nonneg"}, r"gamma_constraint: .*'nonneg'.*non_neg"),
        ({"renorm": True}, "renorm"),
        ({"axis": [1, 2]}, "axis must be one integer"),
        ({"momentum": 1.5}, r"momentum must be in \[0, 1\]"),
        ({"epsilon": -1.0}, "epsilon must be >= 0"),
        ({"unknown": 1}, "unexpected keyword"),
    ],
)
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BatchNormalization(**kwargs)


def test_bad_shapes_are_explained():
    with pytest.raises(ValueError, match=r"axis=3 is out of bounds.*rank 2"):
        BatchNormalization(axis=3)(np.ones((2, 3)))
    layer = BatchNormalization()
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(2, 3\).*got shape \(2, 4\)"):
        layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match="rank and the number of channels"):
        layer(np.ones((2, 5, 3)))
    with pytest.raises(ValueError, match="must be known"):
        BatchNormalization(axis=1).build((None, None, 3))


def test_save_and_load_round_trip_keeps_the_four_weights(float64, tmp_path):
    assert objects.LAYER_CLASSES["BatchNormalization"] is layers.BatchNormalization
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(8, 3)), np.eye(2)[rng.integers(0, 2, 8)]
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "bn.keras")
    loaded = scratchnet.saving.load_model(tmp_path / "bn.keras")
    bn = loaded.layers[0]
    assert type(bn) is BatchNormalization
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert bn.get_config() == model.layers[0].get_config()

"""Dense, Flatten, Activation and Dropout: backward against central finite differences (float64)."""

import numpy as np
import pytest

from scratchnet import activations, layers

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_finite_differences(float64, finite_differences, activation, use_bias):
    rng = np.random.default_rng(0)
    layer = layers.Dense(4, activation=activation, use_bias=use_bias)
    x = rng.normal(size=(3, 5))
    if activation == "relu":
        x += np.sign(x) * 0.1  # keep pre-activations away from the kink at 0
    finite_differences(layer, x, rng)


def test_dense_on_a_higher_rank_input_acts_on_the_last_axis(float64, finite_differences):
    rng = np.random.default_rng(1)
    layer = layers.Dense(3, activation="tanh")
    x = rng.normal(size=(2, 4, 5))
    assert layer(x).shape == (2, 4, 3)
    finite_differences(layer, x, rng)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer_matches_finite_differences(float64, finite_differences, activation):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6))
    x += np.sign(x) * 0.1
    finite_differences(layers.Activation(activation), x, rng)


def test_relu_gradient_at_exact_zero_is_zero():
    z = np.array([-1.0, 0.0, 2.0])
    dz = activations.relu.backward(np.array([5.0, 5.0, 5.0]), activations.relu.forward(z))
    np.testing.assert_array_equal(dz, [0.0, 0.0, 5.0])


def test_sigmoid_does_not_overflow_for_large_inputs():
    with np.errstate(over="raise"):
        y = activations.sigmoid.forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


def test_flatten_matches_finite_differences_and_keeps_c_order(float64, finite_differences):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 5))
    layer = layers.Flatten()
    np.testing.assert_array_equal(layer(x), x.reshape(2, -1))
    finite_differences(layer, x, rng)


def test_dropout_training_scales_kept_units_and_routes_gradient_through_the_same_mask(float64):
    rng = np.random.default_rng(4)
    layer = layers.Dropout(0.4, seed=123)
    x = rng.normal(size=(50, 20))
    y = layer(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.6, rtol=1e-15)
    assert 0.3 < 1 - kept.mean() < 0.5  # about 40% dropped
    dy = rng.normal(size=x.shape)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, dy / 0.6, 0.0), rtol=1e-15)


def test_dropout_masks_change_from_call_to_call_and_repeat_for_the_same_seed():
    x = np.ones((8, 8), dtype="float32")
    a, b = layers.Dropout(0.5, seed=7), layers.Dropout(0.5, seed=7)
    first, second = a(x, training=True), a(x, training=True)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, b(x, training=True))
    np.testing.assert_array_equal(second, b(x, training=True))


def test_dropout_is_the_identity_in_inference_and_its_gradient_too():
    layer = layers.Dropout(0.5)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(layer.backward(x), x)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_a_rate_outside_0_1(rate):
    with pytest.raises(ValueError, match="rate must be in"):
        layers.Dropout(rate)


def test_unknown_activation_name_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown activation 'relux'.*relu"):
        layers.Dense(3, activation="relux")


def test_dense_rejects_non_positive_units():
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.Dense(0)


def test_set_weights_names_the_layer_and_the_shapes():
    layer = layers.Dense(3)
    layer(np.zeros((1, 4), dtype="float32"))
    with pytest.raises(ValueError, match=r"'kernel' has shape \(4, 3\).*\(3, 4\).*transposed"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])
    with pytest.raises(ValueError, match="has 2 weight array"):
        layer.set_weights([np.zeros((4, 3))])


def test_backward_never_modifies_dy(float64):
    rng = np.random.default_rng(5)
    for layer in [
        layers.Dense(3, activation="relu"),
        layers.Activation("softmax"),
        layers.Flatten(),
    ]:
        x = rng.normal(size=(2, 4))
        layer(x, training=True)
        dy = rng.normal(size=layer(x, training=True).shape)
        before = dy.copy()
        layer.backward(dy)
        np.testing.assert_array_equal(dy, before)

"""Tests of the Keras-side helpers against hand-computed numbers (no scratchnet involved)."""

import numpy as np
import pytest

from keras_impl.gradients import (
    layer_outputs_and_gradients,
    loss_value_and_gradient,
    model_outputs_and_gradients,
    run_optimizer,
)
from keras_impl.setup import keras, use_floatx
from keras_impl.training import build_keras, compile_keras, record_fit
from keras_impl.transfer import copy_weights

rng = np.random.default_rng(1)


def test_use_floatx_sets_and_restores_both_libraries():
    import scratchnet.config

    before = keras.config.floatx()
    keras.layers.Dense(1)  # makes Keras cache its global dtype policy
    with use_floatx("float64"):
        assert keras.config.floatx() == "float64" == scratchnet.config.floatx()
        assert keras.layers.Dense(1).dtype_policy.name == "float64"
    assert keras.config.floatx() == before == scratchnet.config.floatx()
    assert keras.layers.Dense(1).dtype_policy.name == before


def test_layer_gradients_follow_the_fake_loss():
    with use_floatx("float64"):
        layer = keras.layers.Dense(3)
        layer.build((None, 4))
        kernel, bias = rng.standard_normal((4, 3)), rng.standard_normal(3)
        layer.set_weights([kernel, bias])
        x, dy = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
        out = layer_outputs_and_gradients(layer, x, dy)
    np.testing.assert_allclose(out["y"], x @ kernel + bias, rtol=1e-14)
    np.testing.assert_allclose(out["x"], dy @ kernel.T, rtol=1e-14)
    np.testing.assert_allclose(out["kernel"], x.T @ dy, rtol=1e-14)
    np.testing.assert_allclose(out["bias"], dy.sum(0), rtol=1e-14)


def test_model_gradients_come_in_trainable_weights_order():
    with use_floatx("float64"):
        model = build_keras("torres")
        y, grads = model_outputs_and_gradients(
            model, rng.random((3, 784)), rng.standard_normal((3, 10))
        )
    assert y.shape == (3, 10)
    assert [g.shape for g in grads] == [w.shape for w in model.get_weights()]


def test_fused_and_clipped_categorical_crossentropy():
    # keras-behaviour.md section 4.2: logits [20, 0, -20] with label 1 cost logsumexp(z) - 0
    # (about 20) fused, but -log(1e-7) = 16.118 through the clip.
    z = np.array([[20.0, 0.0, -20.0]])
    y = np.array([[0.0, 1.0, 0.0]])
    with use_floatx("float64"):
        fused, dz = loss_value_and_gradient("categorical_crossentropy", y, logits=z)
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        clipped, _ = loss_value_and_gradient("categorical_crossentropy", y, y_pred=p)
    assert abs(fused - np.log(np.exp(z).sum())) < 1e-12
    assert abs(clipped - (-np.log(1e-7))) < 1e-9
    np.testing.assert_allclose(dz, p - y, atol=1e-15)
    with pytest.raises(ValueError):
        loss_value_and_gradient("categorical_crossentropy", y)


def test_run_optimizer_plain_sgd():
    with use_floatx("float64"):
        w = [np.array([1.0, 2.0])]
        final, history = run_optimizer(keras.optimizers.SGD(0.5), w, [[np.array([1.0, 1.0])]] * 2)
    np.testing.assert_array_equal(final[0], [0.0, 1.0])
    assert len(history) == 2


def test_record_fit_recovers_per_step_losses_from_running_means():
    # lr = 0: every step sees the same weights, so step losses must equal the per-batch losses.
    with use_floatx("float64"):
        keras.utils.set_random_seed(3)
        model = build_keras("torres")
        compile_keras(model, optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy")
        x, y = rng.random((10, 784)), np.eye(10)
        record = record_fit(model, keras, x, y, batch_size=4)
        expected = [
            float(model.evaluate(x[i : i + 4], y[i : i + 4], batch_size=4, verbose=0))
            for i in (0, 4, 8)
        ]
    np.testing.assert_allclose(record["step_loss"], expected, rtol=1e-12)
    assert len(record["running"]["loss"]) == 3


def test_copy_weights_checks_layers_and_shapes():
    with use_floatx("float64"):
        a, b = build_keras("torres"), build_keras("torres")
        copy_weights(a, b)
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)
        with pytest.raises(ValueError, match="layers with weights"):
            copy_weights(a, build_keras("zhou"))
        c = keras.Sequential([keras.Input((784,)), keras.layers.Dense(11), keras.layers.Dense(10)])
        with pytest.raises(ValueError, match=r"shape \(784, 10\).*expects \(784, 11\)"):
            copy_weights(a, c)


def test_copy_weights_scratchnet_to_keras_and_back():
    import scratchnet
    from keras_impl.architectures import build

    with use_floatx("float64"):
        ours, theirs = build("zhou", scratchnet), build_keras("zhou")
        copy_weights(ours, theirs)
        for o, t in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_array_equal(o, t)
        theirs.set_weights([w * 2 for w in theirs.get_weights()])
        copy_weights(theirs, ours)
        for o, t in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            assert o.dtype == np.float64
            np.testing.assert_array_equal(o, t)

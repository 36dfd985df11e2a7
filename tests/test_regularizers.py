"""Regularizers and constraints, and their use on Dense and Conv2D, without Keras.

* each regularizer's hand-written gradient against central differences of its penalty (float64);
* a regularized Dense / Conv2D: backward against central differences of the fake loss
  L = sum(y * dy) + sum(layer.losses), the loss the model minimises;
* the constraints' formulas, ``apply_to`` in place, names, configs and clear errors;
* without a regularizer the layers do nothing new (no losses, the same gradients).
"""

import numpy as np
import pytest

from scratchnet import constraints, regularizers
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.core import Dense

REGULARIZERS = {
    "L1": lambda: regularizers.L1(0.03),
    "L2": lambda: regularizers.L2(0.2),
    "L1L2": lambda: regularizers.L1L2(l1=0.05, l2=0.1),
    "Orthogonal rows": lambda: regularizers.OrthogonalRegularizer(0.5),
    "Orthogonal columns": lambda: regularizers.OrthogonalRegularizer(0.3, mode="columns"),
}


def numeric_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        up = float(f())
        x[index] = saved - eps
        down = float(f())
        x[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_regularizer_gradient_matches_finite_differences(name):
    reg = REGULARIZERS[name]()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    x[np.abs(x) < 0.05] = 0.3  # |x| has no derivative at 0
    analytic = reg.gradient(x, dpenalty=0.7)
    np.testing.assert_allclose(
        analytic, numeric_gradient(lambda: 0.7 * reg(x), x), rtol=1e-6, atol=1e-9, err_msg=name
    )


def test_penalty_values_by_hand():
    x = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert float(regularizers.L2(0.5)(x)) == 0.5 * 14
    assert float(regularizers.L1L2(l1=0.25, l2=0.5)(x)) == 0.25 * 6 + 0.5 * 14
    # L1 keeps its factor as a float32 number, as Keras does
    assert float(regularizers.L1(0.5)(x)) == 0.5 * 6
    assert regularizers.L1(0.01).get_config() == {"l1": float(np.float32(0.01))}
    # orthogonal rows give no penalty
    assert float(regularizers.OrthogonalRegularizer(1.0)(np.eye(3))) == 0.0
    # two equal rows: the one pair has |cos| = 1, so penalty = factor * 0.5 * 2 / 1
    assert float(regularizers.OrthogonalRegularizer(1.0)(np.ones((2, 3)))) == pytest.approx(1.0)


def test_orthogonal_regularizer_zero_row_uses_the_epsilon_floor():
    reg = regularizers.OrthogonalRegularizer(1.0)
    x = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, -1.0]])
    assert np.isfinite(reg.gradient(x)).all()
    with pytest.raises(ValueError, match="rank 2"):
        reg(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="mode"):
        regularizers.OrthogonalRegularizer(mode="diagonal")


def test_regularizer_names_configs_and_errors():
    assert type(regularizers.get("l2")) is regularizers.L2
    assert type(regularizers.get("L1")) is regularizers.L1
    assert regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert type(regularizers.get("orthogonal_regularizer")) is regularizers.OrthogonalRegularizer
    assert regularizers.get(None) is None
    for reg in (r() for r in REGULARIZERS.values()):
        back = regularizers.get(regularizers.serialize(reg))
        assert type(back) is type(reg) and back.get_config() == reg.get_config()
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="Could not interpret regularizer"):
        regularizers.get("l3")


def test_a_regularizer_written_with_ops_gets_its_gradient_from_autodiff():
    from scratchnet import ops

    def l1_sum(w):
        return 0.5 * ops.sum(ops.absolute(w))

    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    g = regularizers.gradient_of(l1_sum, x, 2.0)
    np.testing.assert_allclose(g, np.sign(x))


def test_constraints_by_hand():
    w = np.array([[3.0, 0.3], [4.0, -0.4]])  # column norms 5 and 0.5
    eps = constraints.EPSILON
    np.testing.assert_allclose(
        constraints.MaxNorm(1.0)(w), w * np.array([1 / (5 + eps), 0.5 / (0.5 + eps)])
    )
    np.testing.assert_allclose(constraints.UnitNorm()(w), w / (np.array([5.0, 0.5]) + eps))
    np.testing.assert_allclose(
        constraints.MinMaxNorm(1.0, 2.0, rate=0.5)(w),
        w * (np.array([0.5 * 2 + 0.5 * 5, 0.5 * 1 + 0.5 * 0.5]) / (np.array([5.0, 0.5]) + eps)),
    )
    assert constraints.NonNeg()(w).min() == 0.0
    k = np.random.default_rng(1).normal(size=(3, 3, 2, 4))  # a Conv2D kernel
    unit = constraints.UnitNorm(axis=[0, 1, 2])(k)
    np.testing.assert_allclose(np.sqrt((unit**2).sum(axis=(0, 1, 2))), 1.0, rtol=1e-6)


def test_constraint_names_configs_and_apply_to_in_place():
    assert type(constraints.get("max_norm")) is constraints.MaxNorm
    assert type(constraints.get("NonNeg")) is constraints.NonNeg
    for c in (constraints.MaxNorm(3, axis=[0, 1]), constraints.MinMaxNorm(0.5, 2.0, 0.3, 1)):
        back = constraints.get(constraints.serialize(c))
        assert type(back) is type(c) and back.get_config() == c.get_config()
    with pytest.raises(ValueError, match="Could not interpret constraint"):
        constraints.get("positive")
    layer = Dense(2, kernel_constraint="non_neg")
    layer.build((None, 3))
    kernel = layer.params["kernel"]
    kernel[...] = -1.0
    constraints.apply_to(layer.trainable_weights)
    assert layer.params["kernel"] is kernel and (kernel == 0).all()


def fake_loss_check(layer, x, rng, with_logits=False):
    """backward (or backward_from_logits) vs central differences of sum(y * dy) + losses."""
    y = layer(x, training=True)
    dy = rng.normal(size=y.shape)
    if with_logits:  # a fused loss hands dL/dz: the fake loss is then sum(z * dy) + losses
        dx = layer.backward_from_logits(dy)
    else:
        dx = layer.backward(dy)

    def loss():
        out = layer(x, training=True)
        out = layer.logits if with_logits else out
        return float(np.sum(out * dy) + sum(float(p) for p in layer.losses))

    checks = {"dx": (dx, x), **{k: (layer.grads[k], p) for k, p in layer.params.items()}}
    for name, (analytic, array) in checks.items():
        np.testing.assert_allclose(
            analytic, numeric_gradient(loss, array), rtol=1e-6, atol=1e-8, err_msg=name
        )


REGULARIZED = dict(
    kernel_regularizer=regularizers.L1L2(l1=0.02, l2=0.3),
    bias_regularizer="l2",
    activity_regularizer=regularizers.L2(0.1),
)


@pytest.mark.parametrize("activation", ("tanh", "softmax"))
def test_regularized_dense_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(2)
    layer = Dense(3, activation=activation, dtype="float64", **REGULARIZED)
    layer.build((None, 4))
    layer.set_weights([rng.normal(size=(4, 3)), rng.normal(size=3)])
    fake_loss_check(layer, rng.normal(size=(5, 4)), rng)
    assert len(layer.losses) == 3  # activity, kernel, bias


def test_regularized_dense_from_logits_routes_the_activity_penalty_through_softmax():
    rng = np.random.default_rng(3)
    layer = Dense(3, activation="softmax", dtype="float64", **REGULARIZED)
    layer.build((None, 4))
    layer.set_weights([rng.normal(size=(4, 3)), rng.normal(size=3)])
    fake_loss_check(layer, rng.normal(size=(5, 4)), rng, with_logits=True)


def test_regularized_conv2d_backward_matches_finite_differences():
    rng = np.random.default_rng(4)
    layer = Conv2D(
        2,
        2,
        activation="relu",
        dtype="float64",
        kernel_regularizer=regularizers.L1(0.05),
        bias_regularizer=regularizers.L1L2(0.1, 0.2),
        activity_regularizer="l1",
    )
    layer.build((None, 4, 4, 3))
    layer.set_weights([rng.normal(size=(2, 2, 3, 2)), rng.normal(size=2)])
    fake_loss_check(layer, rng.normal(size=(2, 4, 4, 3)), rng)


def test_orthogonal_kernel_regularizer_on_dense():
    rng = np.random.default_rng(5)
    layer = Dense(3, dtype="float64", kernel_regularizer="orthogonal_regularizer")
    layer.build((None, 4))
    layer.set_weights([rng.normal(size=(4, 3)), rng.normal(size=3)])
    fake_loss_check(layer, rng.normal(size=(2, 4)), rng)


def test_a_frozen_layer_adds_no_weight_penalty():
    layer = Dense(2, kernel_regularizer="l2", trainable=False)
    layer(np.ones((2, 3)))
    assert layer.losses == []


def test_without_regularizers_the_layers_add_nothing():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 4))
    plain = Dense(2, dtype="float64")
    plain.build((None, 4))
    assert plain.regularized is False
    plain(x, training=True)
    plain.backward(rng.normal(size=(3, 2)))
    assert plain.losses == [] and set(plain.grads) == {"kernel", "bias"}


def test_config_round_trip_keeps_regularizers_and_constraints():
    layer = Conv2D(
        4, 3, kernel_regularizer="l2", activity_regularizer="l1", bias_constraint="non_neg"
    )
    config = layer.get_config()
    assert config["kernel_regularizer"]["class_name"] == "L2"
    assert config["bias_constraint"]["class_name"] == "NonNeg"
    assert config["kernel_constraint"] is None
    back = Conv2D.from_config({**config, "name": "again"})
    assert type(back.activity_regularizer) is regularizers.L1
    dense = Dense(2)
    assert "activity_regularizer" not in dense.get_config()  # Keras writes it only when set
    assert Dense(2, activity_regularizer="l2").get_config()["activity_regularizer"]["config"] == {
        "l2": 0.01
    }


def test_save_and_load_keep_regularizers_and_constraints(tmp_path):
    from scratchnet import Input, models

    model = models.Sequential(
        [
            Input((6, 6, 1)),
            Conv2D(2, 3, kernel_regularizer=regularizers.L1(0.2), kernel_constraint="non_neg"),
            Dense(3, activity_regularizer="l2", bias_constraint=constraints.MaxNorm(3, axis=0)),
        ]
    )
    model.save(tmp_path / "m.keras")
    back = models.load_model(tmp_path / "m.keras")
    for ours, loaded in zip(model.layers, back.layers):
        assert loaded.get_config() == {**ours.get_config(), "name": loaded.name}
    assert type(back.layers[0].kernel_regularizer) is regularizers.L1
    assert back.layers[1].bias_constraint.get_config() == {"max_value": 3, "axis": 0}


def test_a_regularized_conv2d_before_max_pooling_keeps_its_penalty():
    """A fused Conv2D + MaxPooling2D step never runs Conv2D's forward, where the penalties are
    computed: a regularized convolution is not fused (layers/fused.py)."""
    from scratchnet import Input, config, models
    from scratchnet.layers.core import Flatten
    from scratchnet.layers.pooling import MaxPooling2D

    def penalties(fusion):
        before = config.fusion()
        config.set_fusion(fusion)
        try:
            conv = Conv2D(2, 3, kernel_regularizer="l2", activity_regularizer="l1")
            model = models.Sequential(
                [Input((6, 6, 1)), conv, MaxPooling2D(), Flatten(), Dense(2, activation="softmax")]
            )
            model.compile(optimizer="sgd", loss="categorical_crossentropy")
            model.train_on_batch(np.ones((4, 6, 6, 1)), np.eye(2)[[0, 1, 0, 1]])
            return len(model.losses)
        finally:
            config.set_fusion(before)

    assert penalties(fusion=True) == penalties(fusion=False) == 2

"""Losses: values against their formulas, gradients against central finite differences."""

import numpy as np
import pytest

from scratchnet import losses


def numeric_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        saved = a[i]
        a[i] = saved + eps
        up = f()
        a[i] = saved - eps
        down = f()
        a[i] = saved
        g[i] = (up - down) / (2 * eps)
    return g


def one_hot(labels, c):
    return np.eye(c)[labels]


RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 4, size=6)
LOGITS = RNG.normal(size=(6, 4)) * 3


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize(
    "loss, y",
    [
        (losses.CategoricalCrossentropy(), one_hot(LABELS, 4)),
        (losses.SparseCategoricalCrossentropy(), LABELS),
        (losses.BinaryCrossentropy(), (RNG.random((6, 4)) > 0.5).astype(float)),
    ],
    ids=["cce", "sparse", "bce"],
)
def test_fused_gradient_is_the_derivative_of_the_fused_value(loss, y):
    z = LOGITS.copy()
    value, dz = loss.value_and_grad_from_logits(y, z)
    numeric = numeric_grad(lambda: float(loss.value_and_grad_from_logits(y, z)[0]), z)
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-9)


def test_fused_categorical_value_is_logsumexp_minus_the_true_logit():
    y = one_hot(LABELS, 4)
    value, dz = losses.CategoricalCrossentropy().value_and_grad_from_logits(y, LOGITS)
    lse = np.log(np.exp(LOGITS).sum(-1))
    assert value == pytest.approx(np.mean(lse - LOGITS[np.arange(6), LABELS]), rel=1e-14)
    np.testing.assert_allclose(dz, (softmax(LOGITS) - y) / 6, rtol=1e-12, atol=1e-16)


def test_saturated_logits_keep_the_exact_loss_and_a_nonzero_gradient():
    # The keras-behaviour.md example: the clipped form would give 5.5086 and zero gradients.
    z = np.array([[20.0, 0.0, -20.0], [20.0, 0.0, -20.0], [1.0, 2.0, 3.0]])
    y = np.eye(3)
    value, dz = losses.CategoricalCrossentropy().value_and_grad_from_logits(y, z)
    assert value == pytest.approx(6.80253553, rel=1e-7)  # Keras measured it in float32
    np.testing.assert_allclose(dz.sum(0), [0.36334354, -0.25175717, -0.11158636], atol=1e-8)
    assert np.abs(dz[1]).max() > 0.3


def test_saturated_sigmoid_binary_crossentropy_uses_the_exact_value():
    z = np.array([[30.0], [-30.0], [0.5]])
    y = np.array([[0.0], [0.0], [1.0]])
    value, dz = losses.BinaryCrossentropy().value_and_grad_from_logits(y, z)
    assert value == pytest.approx(10.158026, rel=1e-6)
    assert dz.sum() == pytest.approx(0.207486, rel=1e-5)


@pytest.mark.parametrize(
    "loss, y",
    [
        (losses.CategoricalCrossentropy(), one_hot(LABELS, 4)),
        (losses.SparseCategoricalCrossentropy(), LABELS),
        (losses.BinaryCrossentropy(), (RNG.random((6, 4)) > 0.5).astype(float)),
        (losses.MeanSquaredError(), RNG.normal(size=(6, 4))),
    ],
    ids=["cce", "sparse", "bce", "mse"],
)
def test_plain_path_gradient_matches_finite_differences(loss, y):
    p = softmax(LOGITS) * 0.9 + 0.02  # strictly inside the clip range, not normalised
    numeric = numeric_grad(lambda: float(loss(y, p)), p)
    np.testing.assert_allclose(loss.gradient(y, p), numeric, rtol=1e-5, atol=1e-9)


def test_plain_categorical_path_renormalises_and_clips_like_keras():
    y = np.eye(3)
    p = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], softmax(np.array([1.0, 2.0, 3.0]))])
    # Keras's float32 figures: 1 - 1e-7 rounds to 1 - 2**-23 in float32, hence 1.19e-7.
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y, p.astype("float32")),
        [1.1920929e-07, 16.118095, 0.407606],
        rtol=1e-5,
    )
    # Clipped entries pass no gradient.
    assert losses.CategoricalCrossentropy().gradient(y, p)[1, 1] == 0


def test_sparse_plain_path_renormalises_implicitly():
    value = losses.sparse_categorical_crossentropy(np.array([0]), np.array([[0.5, 0.25, 0.0]]))
    assert value[0] == pytest.approx(0.405465, rel=1e-5)


def test_mean_squared_error_value():
    assert losses.MeanSquaredError()(np.ones((2, 2)), np.array([[1.0, 2.0], [3.0, 4.0]])) == 3.5


def test_integer_labels_with_categorical_crossentropy_suggest_the_fix():
    with pytest.raises(ValueError, match="to_categorical.*sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(np.array([1, 2]), np.full((2, 3), 1 / 3))


def test_one_hot_labels_with_sparse_loss_suggest_the_fix():
    with pytest.raises(ValueError, match="one-hot"):
        losses.SparseCategoricalCrossentropy()(np.eye(3), np.full((3, 3), 1 / 3))


def test_sparse_labels_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))


def test_get_resolves_names_classes_functions_and_rejects_unknowns():
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossentropy)
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get(losses.binary_crossentropy), losses.BinaryCrossentropy)
    assert isinstance(
        losses.get("SparseCategoricalCrossentropy"), losses.SparseCategoricalCrossentropy
    )
    with pytest.raises(ValueError, match="Unknown loss 'crossentropy'"):
        losses.get("crossentropy")

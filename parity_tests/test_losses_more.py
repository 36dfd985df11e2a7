"""Every Keras loss class against Keras 3: value and dL/dy_pred, with options, weights, reductions.

For each loss, hypothesis draws the dtype, the batch and feature sizes, the loss's options
(``from_logits``, ``label_smoothing``, ``delta``, ``alpha``/``gamma``, ...), the reduction, a
``sample_weight`` (none, ``(N,)`` or ``(N, 1)``) and the shape rule's case (a ``(N,)`` target
against a ``(N, 1)`` output). Keras computes the value under ``tf.GradientTape`` and its gradient
with respect to y_pred; scratchnet's ``value_and_gradient`` must give both.
"""

import numpy as np
import pytest
from hypothesis import given, settings

import scratchnet
from keras_impl.setup import keras, tf, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import GRADIENT_FLOOR, LOSS_FLOOR, assert_parity, rtol_for

# loss class -> (kind of data, options drawn for it)
LOSSES = {
    "MeanSquaredError": ("real", {}),
    "MeanAbsoluteError": ("real", {}),
    "MeanAbsolutePercentageError": ("real", {}),
    "MeanSquaredLogarithmicError": ("positive", {}),
    "Huber": ("real", {"delta": (0.5, 1.0, 2.0)}),
    "LogCosh": ("real", {}),
    "CosineSimilarity": ("real", {}),
    "KLDivergence": ("distribution", {}),
    "Poisson": ("positive", {}),
    "Hinge": ("signs", {}),
    "SquaredHinge": ("signs", {}),
    "CategoricalHinge": ("onehot", {}),
    "CategoricalCrossentropy": (
        "onehot_probabilities",
        {"from_logits": (False, True), "label_smoothing": (0.0, 0.1)},
    ),
    "SparseCategoricalCrossentropy": ("sparse", {"from_logits": (False, True)}),
    "BinaryCrossentropy": (
        "binary",
        {"from_logits": (False, True), "label_smoothing": (0.0, 0.2)},
    ),
    "BinaryFocalCrossentropy": (
        "binary",
        {
            "from_logits": (False, True),
            "label_smoothing": (0.0, 0.2),
            "apply_class_balancing": (False, True),
            "gamma": (2.0, 0.5),
        },
    ),
    "CategoricalFocalCrossentropy": (
        "onehot_probabilities",
        {"from_logits": (False, True), "label_smoothing": (0.0, 0.1), "alpha": (0.25, 0.7)},
    ),
}
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _data(kind, n, d, rng, dtype, from_logits):
    """(y_true, y_pred) of the kind a loss expects: y_pred are logits when ``from_logits``."""
    z = rng.standard_normal((n, d)) * 2
    if kind == "real":
        return rng.standard_normal((n, d)), z
    if kind == "positive":
        return rng.uniform(0, 3, (n, d)), rng.uniform(0.05, 3, (n, d))
    if kind == "distribution":
        return _softmax(rng.standard_normal((n, d))), _softmax(z)
    if kind == "signs":
        labels = rng.integers(0, 2, (n, d)).astype(float)
        return (labels if rng.random() < 0.5 else 2 * labels - 1), z
    if kind == "binary":
        y = rng.integers(0, 2, (n, d)).astype(float)
        return y, z if from_logits else 1 / (1 + np.exp(-z))
    ids = rng.integers(0, d, n)
    if kind == "sparse":
        return ids, z if from_logits else _softmax(z)
    onehot = np.eye(d)[ids]
    if kind == "onehot":
        return onehot, z
    return onehot, z if from_logits else _softmax(z) * rng.uniform(0.5, 2, (n, 1))


@S.st.composite
def loss_cases(draw, name):
    kind, options = LOSSES[name]
    kwargs = {key: draw(S.st.sampled_from(values)) for key, values in options.items()}
    kwargs["reduction"] = draw(S.st.sampled_from(REDUCTIONS))
    dtype = draw(S.st.sampled_from(("float64", "float32")))
    n = draw(S.st.integers(1, 4))
    d = draw(S.st.integers(2, 4)) if kind in ("sparse", "onehot", "onehot_probabilities") else 0
    column = d == 0 and draw(S.st.booleans())  # (N,) targets against a (N, 1) output
    d = d or (1 if column else draw(S.st.integers(1, 4)))
    rng = np.random.default_rng(draw(S.st.integers(0, 2**32 - 1)))
    y, p = _data(kind, n, d, rng, dtype, kwargs.get("from_logits", False))
    if column:
        y = y[:, 0]
    weight = draw(S.st.sampled_from((None, "n", "n1")))
    w = None if weight is None else rng.uniform(0, 2, (n,) if weight == "n" else (n, 1))
    y = y if kind == "sparse" else y.astype(dtype)
    return kwargs, dtype, y, p.astype(dtype), None if w is None else w.astype(dtype)


def keras_value_and_gradient(name, kwargs, y, p, w):
    loss = getattr(keras.losses, name)(**kwargs)
    source = tf.constant(p)
    with tf.GradientTape() as tape:
        tape.watch(source)
        value = loss(tf.constant(y), source, sample_weight=None if w is None else tf.constant(w))
    return value.numpy(), tape.gradient(value, source).numpy()


@pytest.mark.parametrize("name", sorted(LOSSES))
@settings(max_examples=15)
@given(data=S.st.data())
def test_loss_value_and_gradient_match_keras(name, data):
    kwargs, dtype, y, p, w = data.draw(loss_cases(name))
    config = {"kwargs": kwargs, "dtype": dtype, "y_true": y.tolist(), "y_pred": p.tolist()}
    config["sample_weight"] = None if w is None else w.tolist()
    with use_floatx(dtype):
        t_value, t_grad = keras_value_and_gradient(name, kwargs, y, p, w)
        loss = getattr(scratchnet.losses, name)(**kwargs)
        o_value, o_grad = loss.value_and_gradient(y, p, sample_weight=w)
        o_call = loss(y, p, sample_weight=w)
    rtol = rtol_for(dtype)
    assert np.shape(o_value) == np.shape(t_value), (name, config)
    assert np.asarray(o_value).dtype == t_value.dtype, (name, config)
    for ours, tensor in ((o_value, "value"), (o_call, "__call__ value")):
        assert_parity(
            ours, t_value, rtol=rtol, tensor=tensor, layer=name, config=config, floor=LOSS_FLOOR
        )
    # dL/dy_pred is about w_i / N times a per-sample derivative of order 1: that is its scale,
    # and a float32 cancellation (cosine similarity of one feature: exactly 0) may leave an ulp.
    floor = 10 * GRADIENT_FLOOR / len(p)
    assert_parity(
        o_grad, t_grad, rtol=rtol, tensor="dy_pred", layer=name, config=config, floor=floor
    )


FUNCTIONS = (
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "huber", "log_cosh", "cosine_similarity", "kl_divergence", "poisson", "hinge",
    "squared_hinge", "categorical_hinge", "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
)  # fmt: skip


@pytest.mark.parametrize("dtype", ("float64", "float32"))
def test_per_sample_functions_match_keras(dtype):
    rng = np.random.default_rng(5)
    y = np.eye(3)[rng.integers(0, 3, 6)].astype(dtype)
    p = _softmax(rng.standard_normal((6, 3))).astype(dtype)
    with use_floatx(dtype):
        for name in FUNCTIONS:
            theirs = getattr(keras.losses, name)(tf.constant(y), tf.constant(p)).numpy()
            ours = getattr(scratchnet.losses, name)(y, p)
            assert_parity(ours, theirs, rtol=rtol_for(dtype), tensor="values", layer=name)


NAMES = (
    "mae", "MAE", "mse", "mape", "msle", "kld", "KLD", "bce", "huber", "log_cosh", "poisson",
    "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity", "kl_divergence",
    "Huber", "LogCosh", "KLDivergence", "binary_focal_crossentropy", "CategoricalFocalCrossentropy",
    "mean_squared_logarithmic_error", "MeanAbsolutePercentageError",
)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_names_resolve_to_the_same_loss_as_in_keras(name):
    rng = np.random.default_rng(1)
    y = np.eye(3)[rng.integers(0, 3, 5)]
    p = _softmax(rng.standard_normal((5, 3)))
    with use_floatx("float64"):
        theirs = keras.losses.get(name)
        theirs = (
            float(np.mean(theirs(y, p)))
            if not isinstance(theirs, keras.losses.Loss)
            else (float(theirs(y, p)))
        )
        ours = float(scratchnet.losses.get(name)(y, p))
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-14), name


@pytest.mark.parametrize("name", ("logcosh", "huber_loss", "kullback_leibler_divergence"))
def test_names_keras_does_not_know_are_refused(name):
    with pytest.raises(ValueError):
        keras.losses.get(name)
    with pytest.raises(ValueError, match="Unknown loss"):
        scratchnet.losses.get(name)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_get_config_matches_keras_and_round_trips(name):
    kind, options = LOSSES[name]
    kwargs = {key: values[-1] for key, values in options.items()}
    kwargs["reduction"] = "sum"
    theirs = getattr(keras.losses, name)(**kwargs).get_config()
    ours = getattr(scratchnet.losses, name)(**kwargs).get_config()
    extra = {"Huber": {"delta"}, "CosineSimilarity": {"axis"}}.get(name, set())  # Keras drops
    assert {k: v for k, v in ours.items() if k not in extra} == theirs
    # each side rebuilds the other's config
    back = getattr(scratchnet.losses, name).from_config(theirs).get_config()
    assert {k: v for k, v in back.items() if k not in extra} == theirs
    assert getattr(keras.losses, name).from_config(ours).get_config() == theirs

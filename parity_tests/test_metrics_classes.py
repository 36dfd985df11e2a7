"""Every Keras metric class against Keras 3: ``update_state`` sequences, results, reset, fit.

Hypothesis draws a metric's options, the dtype, and two to three batches (labels, predictions,
sometimes sample weights of shape (N,)); the result must match Keras's after every update, and
again after ``reset_state`` and one more update. Then a small model is fitted on both sides with
several metrics at once, and History (per epoch) and ``evaluate`` are compared.
"""

import numpy as np
import pytest
from hypothesis import given, settings

import scratchnet
from keras_impl.setup import keras, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import assert_parity, rtol_for

# metric class -> (kind of data, options drawn for it)
METRICS = {
    "BinaryAccuracy": ("binary", {"threshold": (0.5, 0.3)}),
    "CategoricalAccuracy": ("onehot", {}),
    "SparseCategoricalAccuracy": ("sparse", {}),
    "TopKCategoricalAccuracy": ("onehot", {"k": (1, 2, 5)}),
    "SparseTopKCategoricalAccuracy": ("sparse", {"k": (1, 2, 5)}),
    "MeanSquaredError": ("real", {}),
    "MeanAbsoluteError": ("real", {}),
    "MeanAbsolutePercentageError": ("real", {}),
    "MeanSquaredLogarithmicError": ("positive", {}),
    "RootMeanSquaredError": ("real", {}),
    "Precision": (
        "binary",
        {"thresholds": (None, 0.3, (0.2, 0.5, 0.8), (0.0, 0.5, 1.0)), "top_k": (None, 1)},
    ),
    "Recall": ("binary", {"thresholds": (None, 0.7, (0.0, 0.5, 1.0)), "class_id": (None, 0)}),
    "AUC": (
        "binary",
        {
            "num_thresholds": (200, 7),
            "curve": ("ROC", "PR"),
            "summation_method": ("interpolation", "minoring", "majoring"),
        },
    ),
    "F1Score": ("onehot_scores", {"average": (None, "micro", "macro", "weighted")}),
    "Mean": ("values", {}),
    "Sum": ("values", {}),
}


def _batch(kind, n, d, rng):
    if kind == "values":
        return None, rng.standard_normal((n, d) if d > 1 else (n,))
    if kind == "real":
        return rng.standard_normal((n, d)), rng.standard_normal((n, d))
    if kind == "positive":
        return rng.uniform(0, 3, (n, d)), rng.uniform(0, 3, (n, d))
    if kind == "binary":
        p = rng.uniform(0, 1, (n, d))
        p[rng.random((n, d)) < 0.1] = 1.0  # exact 0s and 1s are bucket edges for AUC
        p[rng.random((n, d)) < 0.1] = 0.0
        return rng.integers(0, 2, (n, d)).astype(float), p
    ids = rng.integers(0, max(d, 2), n)
    scores = rng.uniform(0, 1, (n, max(d, 2)))
    if kind == "sparse":
        return (ids[:, None] if rng.random() < 0.5 else ids), scores
    return np.eye(max(d, 2))[ids], scores


@S.st.composite
def update_sequences(draw, name):
    kind, options = METRICS[name]
    kwargs = {key: draw(S.st.sampled_from(values)) for key, values in options.items()}
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    # TensorFlow's in_top_k has no float64 kernel: Keras's top-k accuracies are float32 only.
    dtypes = ("float32",) if "TopK" in name else ("float64", "float32")
    dtype = draw(S.st.sampled_from(dtypes))
    d = draw(S.st.integers(1, 4))
    rng = np.random.default_rng(draw(S.st.integers(0, 2**32 - 1)))
    batches = []
    for _ in range(draw(S.st.integers(2, 3))):
        n = draw(S.st.integers(1, 6))
        y, p = _batch(kind, n, d, rng)
        w = rng.uniform(0, 2, n) if draw(S.st.booleans()) else None
        batches.append((y, p, w))
    return kwargs, dtype, batches


def _update(metric, y, p, w):
    if y is None:
        metric.update_state(p, sample_weight=w)
    else:
        metric.update_state(y, p, sample_weight=w)


@pytest.mark.parametrize("name", sorted(METRICS))
@settings(max_examples=6)
@given(data=S.st.data())
def test_update_state_sequences_match_keras(name, data):
    kwargs, dtype, batches = data.draw(update_sequences(name))
    with use_floatx(dtype):
        theirs = getattr(keras.metrics, name)(**kwargs)
        ours = getattr(scratchnet.metrics, name)(**kwargs)
        steps = batches + ["reset"] + batches[:1]
        for step, batch in enumerate(steps):
            if batch == "reset":
                theirs.reset_state()
                ours.reset_state()
                continue
            y, p, w = (None if a is None else np.asarray(a).astype(dtype) for a in batch)
            if METRICS[name][0] == "sparse":
                y = np.asarray(batch[0])
            _update(theirs, y, p, w)
            _update(ours, y, p, w)
            t, o = np.asarray(theirs.result()), np.asarray(ours.result())
            config = {"kwargs": kwargs, "dtype": dtype, "step": step, "batches": batches}
            assert o.shape == t.shape and o.dtype == t.dtype, (name, config, o, t)
            assert_parity(o, t, rtol=rtol_for(dtype), tensor="result", layer=name, config=config)
    # a default name is numbered per session ("auc_3"): the counters differ, the stem must not
    assert ours.name.rstrip("0123456789").rstrip("_") == theirs.name.rstrip("0123456789").rstrip(
        "_"
    )


@pytest.mark.parametrize("name", sorted(METRICS))
def test_get_config_matches_keras(name):
    theirs = getattr(keras.metrics, name)(name="m").get_config()
    ours = getattr(scratchnet.metrics, name)(name="m").get_config()
    assert ours == theirs
    assert getattr(scratchnet.metrics, name).from_config(theirs).get_config() == theirs


def _fit_both(dtype, metrics_for):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 5)).astype(dtype)
    y = (rng.random((37, 1)) < 0.4).astype(dtype)
    histories, evaluations = [], []
    weights = None
    for lib in (keras, scratchnet):
        model = lib.Sequential(
            [
                lib.Input((5,)),
                lib.layers.Dense(4, activation="relu"),
                lib.layers.Dense(1, "sigmoid"),
            ]
        )
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(
            optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=metrics_for(lib)
        )
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        histories.append(history.history)
        evaluations.append(model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True))
    return histories, evaluations


@pytest.mark.parametrize("dtype", ("float64", "float32"))
def test_fit_history_and_evaluate_match_keras_with_many_metrics(dtype):
    def metrics_for(lib):
        return [
            "acc", "mae", "mse", "mean_absolute_percentage_error", "auc", "precision",
            "root_mean_squared_error", lib.metrics.Recall(name="rec", thresholds=[0.3, 0.6]),
            lib.metrics.AUC(name="pr", curve="PR", num_thresholds=11),
        ]  # fmt: skip

    with use_floatx(dtype):
        (theirs, ours), (t_eval, o_eval) = _fit_both(dtype, metrics_for)
    assert sorted(ours) == sorted(theirs)
    rtol = 1e-10 if dtype == "float64" else 2e-5
    for key in theirs:
        assert_parity(
            np.array(ours[key]), np.array(theirs[key]), rtol=rtol, tensor=key, layer=dtype
        )
    assert sorted(o_eval) == sorted(t_eval)
    for key in t_eval:
        assert_parity(np.array(o_eval[key]), np.array(t_eval[key]), rtol=rtol, tensor=key)


NAMES = (
    "mae", "MAE", "mse", "mape", "msle", "auc", "AUC", "precision", "recall", "f1_score",
    "top_k_categorical_accuracy", "mean_absolute_error", "root_mean_squared_error",
    "categorical_accuracy", "binary_accuracy", "sum", "mean", "Precision",
)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_names_resolve_to_keras_classes(name):
    theirs = keras.metrics.get(name)
    ours = scratchnet.metrics.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.name == name  # compile names the metric by the string: History's key


def _compiled(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer="sgd",
        loss=lib.losses.BinaryFocalCrossentropy(gamma=3.0, label_smoothing=0.1),
        metrics=[
            "mae",
            lib.metrics.AUC(name="a", num_thresholds=11, curve="PR"),
            lib.metrics.Precision(name="p", thresholds=[0.3, 0.6]),
        ],
    )
    return model


@pytest.mark.parametrize("direction", ("scratchnet_to_keras", "keras_to_scratchnet"))
def test_keras_file_compile_config_keeps_loss_and_metric_options(direction, tmp_path):
    writer, reader = (
        (scratchnet, keras) if direction == "scratchnet_to_keras" else (keras, scratchnet)
    )
    path = str(tmp_path / "m.keras")
    _compiled(writer).save(path)
    loaded = reader.models.load_model(path)
    x = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0]])
    reference = _compiled(reader)  # the same compile written directly on the reading side
    reference.set_weights(loaded.get_weights())
    got = loaded.evaluate(x, y, verbose=0, return_dict=True)
    want = reference.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(got) == sorted(want) == ["a", "loss", "mae", "p"]
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-6)
    loss = loaded.loss
    assert (loss.gamma, loss.label_smoothing) == (3.0, 0.1)

"""Several inputs and outputs in fit, evaluate, predict, train_on_batch and test_on_batch, against
Keras 3.15 on the same weights (``set_weights``), ``shuffle=False``.

The model: two inputs (``in_a`` through a Dense, ``in_b`` as it is), concatenated, then two
heads, ``out_a`` (softmax over 3 classes) and ``out_b`` (sigmoid, or linear for mse). Checked:
History's keys (names and order) and values per epoch, evaluate's list and dict, predict's list,
per-output losses, loss weights and metrics given as lists and as dicts, data as lists and as
dicts keyed by names, and a loss of None for an output.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import keras
from keras_impl.training import compile_keras

RTOL = 1e-4  # float32 training for a few steps: the same operations, rounding apart


def build(lib, head_b="sigmoid"):
    a = lib.Input((4,), name="in_a")
    b = lib.Input((3,), name="in_b")
    h = lib.layers.Concatenate(name="cat")([lib.layers.Dense(5, name="da")(a), b])
    out_a = lib.layers.Dense(3, activation="softmax", name="out_a")(h)
    out_b = lib.layers.Dense(1, activation=head_b, name="out_b")(h)
    return lib.models.Model([a, b], [out_a, out_b])


def pair(head_b="sigmoid"):
    theirs = build(keras, head_b)
    ours = build(scratchnet, head_b)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    xa = rng.normal(size=(n, 4)).astype("float32")
    xb = rng.normal(size=(n, 3)).astype("float32")
    ya = rng.integers(0, 3, n)
    yb = rng.integers(0, 2, (n, 1)).astype("float32")
    return xa, xb, ya, yb


def compile_both(ours, theirs, **kwargs):
    compile_keras(theirs, optimizer=keras.optimizers.SGD(0.1), **kwargs)
    ours.compile(optimizer=scratchnet.optimizers.SGD(0.1), **kwargs)


def assert_history(ours, theirs):
    assert list(ours.history) == list(theirs.history)
    for key in theirs.history:
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=RTOL, err_msg=key)


LOSSES = ["sparse_categorical_crossentropy", "binary_crossentropy"]
LOSS_DICT = {"out_a": LOSSES[0], "out_b": LOSSES[1]}

CASES = {
    "lists": dict(loss=LOSSES, metrics=["accuracy", "accuracy"]),
    "dicts": dict(
        loss=LOSS_DICT, metrics={"out_a": "accuracy"}, loss_weights={"out_a": 0.3, "out_b": 2.0}
    ),
    "weights list": dict(
        loss=LOSSES, loss_weights=[0.5, 1.5], metrics=[["accuracy"], ["accuracy", "mse"]]
    ),
    "one loss for both": dict(loss="mse"),
    "no loss for out_b": dict(loss=[LOSSES[0], None], metrics=[["accuracy"], None]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("as_dict", [False, True])
def test_fit_history_and_evaluate_match_keras(case, as_dict):
    ours, theirs = pair()
    compile_both(ours, theirs, **CASES[case])
    xa, xb, ya, yb = data(23)
    if case == "one loss for both":  # mse on both: one-hot labels for out_a
        ya = np.eye(3, dtype="float32")[ya]
    x = {"in_a": xa, "in_b": xb} if as_dict else [xa, xb]
    y = {"out_a": ya, "out_b": yb} if as_dict else [ya, yb]
    fit = dict(batch_size=5, epochs=3, verbose=0, shuffle=False, validation_data=(x, y))
    assert_history(ours.fit(x, y, **fit), theirs.fit(x, y, **fit))
    for return_dict in (False, True):
        got = ours.evaluate(x, y, batch_size=7, verbose=0, return_dict=return_dict)
        want = theirs.evaluate(x, y, batch_size=7, verbose=0, return_dict=return_dict)
        if return_dict:
            assert list(got) == list(want)
            got, want = list(got.values()), list(want.values())
        np.testing.assert_allclose(got, want, rtol=RTOL)
    got, want = ours.predict(x, batch_size=4, verbose=0), theirs.predict(x, batch_size=4, verbose=0)
    assert isinstance(got, list) and len(got) == len(want) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=1e-6)


def test_train_and_test_on_batch_match_keras():
    ours, theirs = pair()
    compile_both(ours, theirs, loss=LOSSES, metrics=["accuracy", "accuracy"])
    xa, xb, ya, yb = data(8)
    for _ in range(3):
        np.testing.assert_allclose(
            ours.train_on_batch([xa, xb], [ya, yb]), theirs.train_on_batch([xa, xb], [ya, yb]),
            rtol=RTOL,
        )  # fmt: skip
    got = ours.test_on_batch([xa, xb], [ya, yb], return_dict=True)
    want = theirs.test_on_batch([xa, xb], [ya, yb], return_dict=True)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=RTOL)


@given(
    n=st.integers(6, 20),
    batch_size=st.integers(2, 7),
    seed=st.integers(0, 2**16),
    per_output=st.booleans(),
)
def test_sample_weights_on_two_outputs_match_keras(n, batch_size, seed, per_output):
    """Random sample weights, one array for both outputs or one per output, with a partial last
    batch where ``batch_size`` does not divide ``n``."""
    ours, theirs = pair()
    compile_both(ours, theirs, loss=LOSSES, metrics=["accuracy", "accuracy"])
    xa, xb, ya, yb = data(n, seed)
    rng = np.random.default_rng(seed + 1)
    sw = rng.uniform(0, 2, n).astype("float32")
    if per_output:
        sw = [sw, rng.uniform(0, 2, n).astype("float32")]
    fit = dict(batch_size=batch_size, epochs=2, verbose=0, shuffle=False)
    hist_ours = ours.fit([xa, xb], [ya, yb], sample_weight=sw, **fit)
    hist_theirs = theirs.fit([xa, xb], [ya, yb], sample_weight=sw, **fit)
    assert_history(hist_ours, hist_theirs)
    np.testing.assert_allclose(
        ours.evaluate([xa, xb], [ya, yb], sample_weight=sw, verbose=0),
        theirs.evaluate([xa, xb], [ya, yb], sample_weight=sw, verbose=0),
        rtol=RTOL,
    )


def test_mismatched_structures_are_clear_value_errors():
    ours, _ = pair()
    xa, xb, ya, yb = data(6)
    with pytest.raises(ValueError, match=r"2 output\(s\) \['out_a', 'out_b'\].*list of 3"):
        ours.compile("sgd", loss=[LOSSES[0]] * 3)
    with pytest.raises(ValueError, match=r"expects the keys \['out_a', 'out_b'\].*'out_c'"):
        ours.compile("sgd", loss={"out_a": LOSSES[0], "out_c": LOSSES[1]})
    ours.compile("sgd", loss=LOSSES)
    with pytest.raises(ValueError, match=r"outputs named \['out_a', 'out_b'\].*unknown: \['z'\]"):
        ours.fit([xa, xb], {"out_a": ya, "z": yb}, verbose=0)
    with pytest.raises(ValueError, match=r"y\['out_b'\]: 5"):
        ours.fit([xa, xb], [ya, yb[:5]], verbose=0)
    with pytest.raises(ValueError, match=r"out_b.*no labels"):
        ours.fit([xa, xb], {"out_a": ya}, verbose=0)


@pytest.mark.parametrize(
    "optimizer",
    [
        ("AdamW", dict(learning_rate=0.01, weight_decay=0.1)),
        ("SGD", dict(learning_rate=0.1, momentum=0.9, weight_decay=0.05)),
        ("Adam", dict(learning_rate=0.01, use_ema=True, global_clipnorm=0.5)),
    ],
)
def test_weights_that_no_loss_reaches_sit_the_update_out_as_in_keras(optimizer):
    """An output with loss None: its head's weights get no gradient. Keras leaves them out of
    the optimizer's step (no weight decay, no share of the global norm, with a warning);
    scratchnet too, so every weight matches after training, the head's still at their start."""
    name, kwargs = optimizer
    ours, theirs = pair()
    start = [w.copy() for w in ours.get_weights()]
    compile_keras(
        theirs, optimizer=getattr(keras.optimizers, name)(**kwargs), loss=[LOSSES[0], None]
    )
    ours.compile(optimizer=getattr(scratchnet.optimizers, name)(**kwargs), loss=[LOSSES[0], None])
    xa, xb, ya, yb = data(20)
    with pytest.warns(UserWarning, match="Gradients do not exist for variables"):
        ours.fit([xa, xb], [ya, yb], batch_size=5, epochs=2, shuffle=False, verbose=0)
    theirs.fit([xa, xb], [ya, yb], batch_size=5, epochs=2, shuffle=False, verbose=0)
    names = [w.path for w in theirs.weights]
    for got, want, first, path in zip(ours.get_weights(), theirs.get_weights(), start, names):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6, err_msg=path)
        if path.startswith("out_b") and not kwargs.get("use_ema"):
            np.testing.assert_array_equal(got, first, err_msg=path)  # never updated

"""fit's options against Keras 3.15 on the same weights, ``shuffle=False``: sample_weight,
class_weight, validation_data with sample weights, validation_split with weights,
initial_epoch, steps_per_epoch (epochs that go on where the last stopped), validation_steps,
validation_freq (an int and a list), validation_batch_size; evaluate(sample_weight, steps) and
predict(steps). History is compared key by key and epoch by epoch.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import keras
from keras_impl.training import compile_keras

RTOL = 1e-4


def build(lib):
    return lib.models.Sequential(
        [
            lib.Input((6,)),
            lib.layers.Dense(8, activation="relu"),
            lib.layers.Dense(4, activation="softmax"),
        ]
    )


def pair(loss="sparse_categorical_crossentropy", metrics=("accuracy",)):
    theirs = build(keras)
    ours = build(scratchnet)
    ours.set_weights(theirs.get_weights())
    compile_keras(theirs, optimizer=keras.optimizers.SGD(0.05), loss=loss, metrics=list(metrics))
    ours.compile(optimizer=scratchnet.optimizers.SGD(0.05), loss=loss, metrics=list(metrics))
    return ours, theirs


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 4, n)


def fit_both(ours, theirs, *args, **kwargs):
    kwargs = dict(verbose=0, shuffle=False, **kwargs)
    got, want = ours.fit(*args, **kwargs), theirs.fit(*args, **kwargs)
    assert list(got.history) == list(want.history)
    for key in want.history:
        np.testing.assert_allclose(got.history[key], want.history[key], rtol=RTOL, err_msg=key)
    for g, w in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=1e-6)
    return got


@given(n=st.integers(5, 30), batch_size=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_sample_weight_matches_keras(n, batch_size, seed):
    ours, theirs = pair()
    x, y = data(n, seed)
    sw = np.random.default_rng(seed).uniform(0, 3, n).astype("float32")
    fit_both(ours, theirs, x, y, sample_weight=sw, batch_size=batch_size, epochs=2)
    np.testing.assert_allclose(
        ours.evaluate(x, y, sample_weight=sw, batch_size=batch_size, verbose=0),
        theirs.evaluate(x, y, sample_weight=sw, batch_size=batch_size, verbose=0),
        rtol=RTOL,
    )


@given(
    weights=st.dictionaries(st.integers(0, 4), st.floats(0.1, 4.0), max_size=5),
    batch_size=st.integers(2, 9),
    one_hot=st.booleans(),
)
def test_class_weight_matches_keras(weights, batch_size, one_hot):
    """Classes left out of the dict weigh 1; one-hot labels weigh by their argmax."""
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    ours, theirs = pair(loss)
    x, y = data(17, 3)
    if one_hot:
        y = np.eye(4, dtype="float32")[y]
    fit_both(ours, theirs, x, y, class_weight=weights, batch_size=batch_size, epochs=2)


def test_validation_data_with_sample_weights_and_validation_options():
    ours, theirs = pair()
    x, y = data(40, 1)
    xv, yv = data(19, 2)
    swv = np.linspace(0.1, 2.0, 19).astype("float32")
    fit_both(
        ours, theirs, x, y, batch_size=8, epochs=5, validation_data=(xv, yv, swv),
        validation_freq=2, validation_batch_size=5, validation_steps=3,
    )  # fmt: skip
    fit_both(ours, theirs, x, y, batch_size=8, epochs=4, validation_data=(xv, yv),
             validation_freq=[1, 4])  # fmt: skip


def test_validation_split_with_sample_weight_and_initial_epoch():
    ours, theirs = pair()
    x, y = data(31, 4)
    sw = np.linspace(0.5, 1.5, 31).astype("float32")
    history = fit_both(
        ours, theirs, x, y, sample_weight=sw, validation_split=0.25, batch_size=4, epochs=4,
        initial_epoch=2,
    )  # fmt: skip
    assert len(history.history["loss"]) == 2


@pytest.mark.parametrize("steps_per_epoch", [2, 3, 5])
def test_steps_per_epoch_goes_on_where_the_last_epoch_stopped(steps_per_epoch):
    """23 samples in batches of 5 make 5 batches: 2 steps per epoch walk through them across
    epochs; 5 steps are one pass; more than there are stop the epoch early (Keras warns)."""
    ours, theirs = pair()
    x, y = data(23, 5)
    fit_both(ours, theirs, x, y, batch_size=5, epochs=4, steps_per_epoch=steps_per_epoch)


def test_steps_per_epoch_without_batch_size_makes_batches_of_n_over_steps():
    ours, theirs = pair()
    x, y = data(23, 6)
    fit_both(ours, theirs, x, y, epochs=2, steps_per_epoch=4)


def test_evaluate_and_predict_with_steps():
    ours, theirs = pair()
    x, y = data(29, 7)
    sw = np.linspace(0, 1, 29).astype("float32")
    for kwargs in (dict(steps=2, batch_size=4), dict(steps=3), dict(sample_weight=sw, steps=2)):
        np.testing.assert_allclose(
            ours.evaluate(x, y, verbose=0, **kwargs),
            theirs.evaluate(x, y, verbose=0, **kwargs),
            rtol=RTOL,
        )
    got = ours.predict(x, batch_size=4, steps=3, verbose=0)
    want = theirs.predict(x, batch_size=4, steps=3, verbose=0)
    assert got.shape == want.shape == (12, 4)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)


def test_bad_options_are_clear_errors():
    ours, _ = pair()
    x, y = data(8)
    with pytest.raises(ValueError, match="class_weight and sample_weight"):
        ours.fit(x, y, sample_weight=np.ones(8), class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="validation_freq"):
        ours.fit(x, y, validation_data=(x, y), validation_freq="2", verbose=0)
    with pytest.raises(ValueError, match=r"different numbers of samples.*sample_weight.*: 5"):
        ours.fit(x, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data must be a tuple"):
        ours.fit(x, y, validation_data=x, verbose=0)


def _penalized(lib):
    class Penalty(lib.layers.Layer):
        """Adds mean(x**2) of its input as a loss and passes the input on."""

        def call(self, x):
            self.add_loss(lib.ops.mean(x**2))
            return x

    return lib.models.Sequential([lib.Input((6,)), lib.layers.Dense(3), Penalty()])


@pytest.mark.parametrize("with_loss", [False, True])
def test_compile_without_a_loss_trains_on_the_added_losses(with_loss):
    """compile(loss=None): the layers' add_loss losses are the whole loss (y may be left out);
    with a loss too, they are added to it."""
    theirs, ours = _penalized(keras), _penalized(scratchnet)
    ours.set_weights(theirs.get_weights())
    loss = "mse" if with_loss else None
    compile_keras(theirs, optimizer=keras.optimizers.SGD(0.1), loss=loss)
    ours.compile(optimizer=scratchnet.optimizers.SGD(0.1), loss=loss)
    x, _ = data(13, 8)
    y = np.zeros((13, 3), "float32") if with_loss else None
    fit_both(ours, theirs, x, y, batch_size=4, epochs=3)
    np.testing.assert_allclose(
        ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=RTOL
    )


def test_compile_without_any_loss_says_so_in_fit():
    ours = build(scratchnet)
    ours.compile(optimizer="sgd")
    x, y = data(4)
    with pytest.raises(ValueError, match="no loss to compute"):
        ours.fit(x, y, verbose=0)

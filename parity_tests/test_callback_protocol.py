"""The callback protocol against Keras: which hooks ``fit``, ``evaluate`` and ``predict`` call,
in which order, with which arguments and logs, and what ``model.stop_*`` does from each hook.

Both sides train the same model from the same weights on the same data (``shuffle=False``), so
the running logs must agree to float32 tolerance, hook call for hook call.
"""

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras
from parity_tests.callback_pairs import assert_same_calls, data, model_pair, recorder

FIT = dict(batch_size=4, epochs=3, shuffle=False, verbose=0)  # 10 samples: batches 4, 4, 2


def _fit_both(stop_at=None, **fit):
    ours, theirs = model_pair(learning_rate=0.1)
    x, y = data(10)
    validation = data(5, seed=1)
    records = []
    for model, lib in ((ours, scratchnet), (theirs, keras)):
        rec = recorder(lib, stop_at)
        history = model.fit(x, y, validation_data=validation, callbacks=[rec], **{**FIT, **fit})
        records.append((rec, history, model))
    return records


def test_fit_calls_every_hook_as_keras_does():
    (ours, our_history, our_model), (theirs, their_history, their_model) = _fit_both()
    assert_same_calls(ours.calls, theirs.calls)
    assert ours.params == theirs.params == {"verbose": 0, "epochs": 3, "steps": 3}
    assert our_history.params == their_history.params
    assert our_history.epoch == their_history.epoch
    assert our_model.history is our_history and their_model.history is their_history


@pytest.mark.parametrize("verbose", ["auto", 1, 2])
def test_params_keep_verbose_as_given(verbose, capsys):
    (ours, _, _), (theirs, _, _) = _fit_both(verbose=verbose, epochs=1)
    capsys.readouterr()
    assert ours.params == theirs.params
    assert ours.params["verbose"] == verbose


@pytest.mark.parametrize(
    "stop_at",
    [
        ("on_train_begin", 1),
        ("on_epoch_begin", 2),
        ("on_train_batch_begin", 2),
        ("on_train_batch_end", 4),
        ("on_test_begin", 1),
        ("on_test_batch_end", 3),
        ("on_test_end", 2),
        ("on_epoch_end", 1),
    ],
)
def test_stop_training_from_any_hook(stop_at):
    (ours, our_history, our_model), (theirs, their_history, their_model) = _fit_both(stop_at)
    assert_same_calls(ours.calls, theirs.calls)
    assert our_history.epoch == their_history.epoch
    assert our_model.optimizer.iterations == int(their_model.optimizer.iterations)
    for a, b in zip(our_model.get_weights(), their_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stop_at", [None, ("on_test_batch_end", 2), ("on_test_begin", 1)])
def test_evaluate_callbacks(stop_at):
    ours, theirs = model_pair()
    x, y = data(11)
    results = []
    for model, lib in ((ours, scratchnet), (theirs, keras)):
        rec = recorder(lib, stop_at, flag="stop_evaluating")
        out = model.evaluate(x, y, batch_size=3, verbose=0, callbacks=[rec], return_dict=True)
        results.append((rec, out))
    (our_rec, our_out), (their_rec, their_out) = results
    assert_same_calls(our_rec.calls, their_rec.calls)
    assert our_rec.params == their_rec.params == {"verbose": 0, "epochs": 1, "steps": 4}
    assert list(our_out) == list(their_out)
    np.testing.assert_allclose(list(our_out.values()), list(their_out.values()), rtol=1e-5)


@pytest.mark.parametrize("stop_at", [None, ("on_predict_batch_end", 2)])
@pytest.mark.parametrize("n", [7, 1])  # one sample, one output row: Keras passes it on as is
def test_predict_callbacks(stop_at, n):
    ours, theirs = model_pair()
    x, _ = data(n)
    results = []
    for model, lib in ((ours, scratchnet), (theirs, keras)):
        rec = recorder(lib, stop_at, flag="stop_predicting")
        out = model.predict(x, batch_size=3, verbose=0, callbacks=[rec])
        results.append((rec, out))
    (our_rec, our_out), (their_rec, their_out) = results
    assert_same_calls(our_rec.calls, their_rec.calls)
    assert our_rec.params == their_rec.params
    np.testing.assert_allclose(our_out, their_out, rtol=1e-5, atol=1e-6)


def test_old_batch_hook_names_are_called():
    """``on_batch_begin``/``on_batch_end`` (the old names) run inside fit's training batches."""
    seen = {}
    for model, lib in zip(model_pair(), (scratchnet, keras)):

        class Old(lib.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.calls = []

            def on_batch_begin(self, batch, logs=None):
                self.calls.append(("begin", batch, dict(logs)))

            def on_batch_end(self, batch, logs=None):
                self.calls.append(("end", batch, sorted(logs)))

        old = Old()
        x, y = data(6)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[old])
        model.evaluate(x, y, verbose=0, callbacks=[old])
        seen[lib.__name__] = old.calls
    assert seen["scratchnet"] == seen["keras"]
    assert len(seen["scratchnet"]) == 8


def test_lambda_callback_hooks():
    seen = {}
    for model, lib in zip(model_pair(), (scratchnet, keras)):
        calls = []
        note = calls.append
        cb = lib.callbacks.LambdaCallback(
            on_train_begin=lambda logs, note=note: note(("train_begin", logs)),
            on_epoch_end=lambda epoch, logs, note=note: note(("epoch_end", epoch, sorted(logs))),
            on_train_batch_end=lambda batch, logs, note=note: note(("batch_end", batch)),
            on_test_end=lambda logs, note=note: note(("test_end", sorted(logs))),
        )
        x, y = data(6)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y), callbacks=[cb])
        seen[lib.__name__] = calls
    assert seen["scratchnet"] == seen["keras"]

"""Each callback against Keras's, on the same model, weights and data: the learning rates of
``LearningRateScheduler`` and ``ReduceLROnPlateau``, where ``EarlyStopping`` stops and which
weights it restores, ``CSVLogger``'s file, ``ModelCheckpoint``'s file names, and how
``BackupAndRestore`` resumes an interrupted ``fit``."""

import csv
import json
import os

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras
from parity_tests.callback_pairs import data, model_pair

LIBS = (scratchnet, keras)


def _fit_both(make_callbacks, epochs, optimizer="SGD", validation=True, **opt_kwargs):
    """Fit the pair with ``make_callbacks(lib)``; returns ``[(history, model, callbacks)]``."""
    x, y = data(12)
    val = data(6, seed=1) if validation else None
    out = []
    for model, lib in zip(model_pair(optimizer, **opt_kwargs), LIBS):
        callbacks = make_callbacks(lib)
        history = model.fit(
            x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0,
            validation_data=val, callbacks=callbacks,
        )  # fmt: skip
        out.append((history, model, callbacks))
    return out


def _close(a, b, what, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def _same_history(ours, theirs):
    assert ours.epoch == theirs.epoch, (ours.epoch, theirs.epoch)
    assert sorted(ours.history) == sorted(theirs.history)
    for key in ours.history:
        _close(ours.history[key], theirs.history[key], f"history[{key!r}]")


def _same_weights(a, b):
    for i, (w, v) in enumerate(zip(a.get_weights(), b.get_weights())):
        _close(w, v, f"weight {i}")


SCHEDULES = {
    "halve": lambda epoch, lr: lr if epoch == 0 else lr * 0.5,
    "one-argument": lambda epoch: 0.2 / (epoch + 1),
    "exponential": lambda epoch, lr: float(lr * np.exp(-0.3)),
    "float32": lambda epoch, lr: np.float32(0.05 * (epoch + 1)),
}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_learning_rate_scheduler(schedule):
    fn = SCHEDULES[schedule]
    (ours, our_model, _), (theirs, their_model, _) = _fit_both(
        lambda lib: [lib.callbacks.LearningRateScheduler(fn)], epochs=4, learning_rate=0.1
    )
    _same_history(ours, theirs)  # the "learning_rate" key included
    assert "learning_rate" in ours.history
    _same_weights(our_model, their_model)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(monitor="loss", factor=0.5, patience=1, min_delta=0.05),
        dict(monitor="val_loss", factor=0.3, patience=2, cooldown=1, min_delta=0.02, min_lr=0.02),
        dict(monitor="val_accuracy", factor=0.5, patience=1, mode="max", min_lr=0.1),
        dict(monitor="loss", factor=0.1, patience=0, min_delta=1.0, cooldown=2),
    ],
)
def test_reduce_lr_on_plateau(kwargs):
    (ours, our_model, [our_cb]), (theirs, their_model, [their_cb]) = _fit_both(
        lambda lib: [lib.callbacks.ReduceLROnPlateau(**kwargs)], epochs=8, learning_rate=0.5
    )
    _same_history(ours, theirs)
    assert len(set(ours.history["learning_rate"])) > 1  # it did reduce
    assert (our_cb.wait, our_cb.cooldown_counter) == (their_cb.wait, their_cb.cooldown_counter)
    _same_weights(our_model, their_model)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(monitor="val_loss", patience=1, min_delta=0.01, restore_best_weights=True),
        dict(monitor="val_accuracy", patience=2, mode="max", start_from_epoch=2),
        dict(monitor="val_accuracy", patience=1, restore_best_weights=True),  # 'auto': up
        dict(monitor="loss", patience=0, min_delta=0.5),
        # a baseline not beaten: the wait grows, but (as in Keras) only an epoch that does not
        # improve on the best can stop training
        dict(monitor="loss", patience=3, baseline=0.01, restore_best_weights=True),
    ],
)
def test_early_stopping(kwargs):
    (ours, our_model, [our_cb]), (theirs, their_model, [their_cb]) = _fit_both(
        lambda lib: [lib.callbacks.EarlyStopping(**kwargs)], epochs=12, learning_rate=0.3
    )
    assert len(ours.epoch) < 12 or "baseline" in kwargs  # it stopped
    _same_history(ours, theirs)
    assert our_cb.stopped_epoch == their_cb.stopped_epoch
    assert our_cb.best_epoch == their_cb.best_epoch
    _close(our_cb.best, float(their_cb.best), "best")
    _same_weights(our_model, their_model)  # the restored weights, with restore_best_weights


def _read_csv(path, separator):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


@pytest.mark.parametrize("separator", [",", ";"])
@pytest.mark.parametrize("validation", [True, False])
def test_csv_logger(tmp_path, separator, validation):
    files = {lib.__name__: str(tmp_path / f"{lib.__name__}.csv") for lib in LIBS}

    def make(lib, append=False):
        return [lib.callbacks.CSVLogger(files[lib.__name__], separator=separator, append=append)]

    _fit_both(make, epochs=3, validation=validation)
    # a second fit appending to the file: the header is not written again
    _fit_both(lambda lib: make(lib, append=True), epochs=2, validation=validation)
    ours, theirs = (_read_csv(files[lib.__name__], separator) for lib in LIBS)
    assert ours[0] == theirs[0]  # the header: epoch, then the keys (val_ twins added)
    assert [row[0] for row in ours] == [row[0] for row in theirs]  # epoch numbers (0-based)
    for a, b in zip(ours[1:], theirs[1:]):
        assert [v == "NA" for v in a] == [v == "NA" for v in b]
        _close([float(v) for v in a[1:] if v != "NA"], [float(v) for v in b[1:] if v != "NA"],
               "csv row")  # fmt: skip
    with open(files["scratchnet"], "rb") as f:
        ours_bytes = f.read()
    with open(files["keras"], "rb") as f:
        theirs_bytes = f.read()
    assert ours_bytes.count(b"\r\n") == theirs_bytes.count(b"\r\n") == len(ours)


@pytest.mark.parametrize(
    "pattern, kwargs",
    [
        ("m-{epoch:02d}-{val_loss:.2f}.weights.h5", dict(save_weights_only=True)),
        ("best-{epoch}.keras", dict(save_best_only=True, monitor="val_loss")),
        ("acc-{epoch}.keras", dict(save_best_only=True, monitor="val_accuracy")),
        ("t{epoch}.keras", dict(save_best_only=True, monitor="loss", initial_value_threshold=1)),
        ("b-{epoch}-{batch}.weights.h5", dict(save_freq=2, save_weights_only=True)),
        ("b-{epoch}-{loss:.1f}.weights.h5", dict(save_freq=3, save_weights_only=True)),
        ("sub/dir/last.keras", dict()),
    ],
)
def test_model_checkpoint_file_names(tmp_path, pattern, kwargs):
    folders = {lib.__name__: tmp_path / lib.__name__ for lib in LIBS}

    def make(lib):
        return [lib.callbacks.ModelCheckpoint(str(folders[lib.__name__] / pattern), **kwargs)]

    (_, our_model, _), (_, their_model, _) = _fit_both(make, epochs=5, learning_rate=0.3)

    def names(folder):
        return sorted(os.path.relpath(os.path.join(d, f), folder)
                      for d, _, fs in os.walk(folder) for f in fs)  # fmt: skip

    ours, theirs = names(folders["scratchnet"]), names(folders["keras"])
    assert ours == theirs and ours
    last = os.path.join(folders["keras"], ours[-1])  # Keras's file opens in scratchnet
    probe = model_pair()[0]
    probe.load_weights(last)
    expected = keras.models.load_model(last) if last.endswith(".keras") else None
    if expected is None:
        expected = model_pair()[1]
        expected.load_weights(last)
    _same_weights(probe, expected)


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("save_freq", ["epoch", 2])
def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path, save_freq):
    x, y = data(12)
    results = {}
    for index, lib in enumerate(LIBS):
        backup = str(tmp_path / lib.__name__)
        model = model_pair("Adam", learning_rate=0.05)[index]

        class Crash(lib.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 2:
                    raise _Interrupt

        with pytest.raises(_Interrupt):
            model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0, callbacks=[
                lib.callbacks.BackupAndRestore(backup, save_freq=save_freq), Crash()])  # fmt: skip
        with open(os.path.join(backup, "training_metadata.json")) as f:
            metadata = json.load(f)
        # a new process would start from a fresh model: its weights differ until restored
        fresh = model_pair("Adam", learning_rate=0.05)[index]
        fresh.set_weights([w + 1 for w in fresh.get_weights()])
        history = fresh.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0,
                            callbacks=[lib.callbacks.BackupAndRestore(backup)])  # fmt: skip
        if save_freq == "epoch":  # the same as training without interruption
            straight = model_pair("Adam", learning_rate=0.05)[index]
            straight.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0)
            _same_weights(fresh, straight)
        # (with save_freq=2 the last backup was in epoch 1, after its last batch: as in Keras,
        # the resumed fit starts that epoch again)
        assert not os.path.exists(backup)  # delete_checkpoint=True
        results[lib.__name__] = (metadata, history, fresh)
    (our_meta, ours, our_model), (their_meta, theirs, their_model) = results.values()
    assert our_meta == their_meta
    assert ours.epoch == theirs.epoch == ([2, 3, 4] if save_freq == "epoch" else [1, 2, 3, 4])
    _same_history(ours, theirs)
    assert our_model.optimizer.iterations == int(their_model.optimizer.iterations)
    _same_weights(our_model, their_model)

"""The callbacks' own rules: bad arguments, warnings, the batch hooks skipped when nobody
overrides them, and TensorBoard without tensorboardX. (Their numbers against Keras are in
parity_tests/test_callback_protocol.py, test_callbacks_parity.py, test_tensorboard_parity.py.)"""

import sys

import numpy as np
import pytest

from scratchnet import Input, callbacks, layers, models


def _model():
    model = models.Sequential([Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, np.eye(2, dtype="float32")[rng.integers(0, 2, n)]


def test_batch_hooks_nobody_overrides_are_skipped(monkeypatch):
    model = _model()
    collected = []
    original = type(model)._logs
    monkeypatch.setattr(type(model), "_logs", lambda self: collected.append(1) or original(self))
    x, y = _data()
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[callbacks.EarlyStopping("loss")])
    assert len(collected) == 2  # once per epoch, never per batch
    plain = callbacks.CallbackList([callbacks.History(), callbacks.EarlyStopping()])
    assert not (plain.has_train_batch_hooks or plain.has_test_batch_hooks)
    assert callbacks.CallbackList([callbacks.TerminateOnNaN()]).has_train_batch_hooks  # an alias
    assert callbacks.CallbackList([callbacks.ProgbarLogger()]).has_predict_batch_hooks
    lam = callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: None)
    assert callbacks.CallbackList([lam]).has_train_batch_hooks


def test_callback_list_rejects_what_is_not_a_callback():
    with pytest.raises(TypeError, match="LambdaCallback"):
        _model().fit(*_data(), verbose=0, callbacks=[lambda logs: None])


def test_pythonify_logs():
    logs = callbacks.callback.pythonify_logs(
        {"b": np.float32(0.5), "a": np.array([1.0, 2.0]), "c": {"d": np.array([[3.0]])}}
    )
    assert list(logs) == ["a", "b", "d"]  # sorted, the nested dict flattened in its place
    assert type(logs["b"]) is float
    assert isinstance(logs["a"], np.ndarray) and isinstance(logs["d"], np.ndarray)  # float() fails


def test_monitor_errors_and_warnings():
    with pytest.warns(UserWarning, match="mode 'sideways' is unknown"):
        stop = callbacks.EarlyStopping(monitor="loss", mode="sideways")
    assert stop.mode == "auto"
    model = _model()
    x, y = _data()
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])
    with pytest.raises(ValueError, match="mode='max'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping("my_score")])
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ReduceLROnPlateau()])
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_errors():
    with pytest.raises(TypeError, match="schedule must be a function"):
        callbacks.LearningRateScheduler(0.1)
    model = _model()
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: 1)  # an int, as Keras refuses
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(*_data(), epochs=1, verbose=0, callbacks=[bad])


def test_learning_rate_scheduler_verbose(capsys):
    model = _model()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.5, verbose=1)
    model.fit(*_data(), epochs=1, verbose=0, callbacks=[sched])
    assert "LearningRateScheduler setting learning rate to 0.5." in capsys.readouterr().out


def test_model_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="must end in `.weights.h5`"):
        callbacks.ModelCheckpoint(str(tmp_path / "x.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match="must end in `.keras`"):
        callbacks.ModelCheckpoint(str(tmp_path / "x.h5"))
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint(str(tmp_path / "x.keras"), save_freq="batch")
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.keras"), monitor="loss")
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        _model().fit(*_data(), epochs=1, verbose=0, callbacks=[ckpt])
    best = callbacks.ModelCheckpoint(str(tmp_path / "b.keras"), save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        _model().fit(*_data(), epochs=1, verbose=0, callbacks=[best])
    assert (tmp_path / "b.keras").exists()  # (as Keras: it saves anyway)


def test_model_checkpoint_batches_are_counted_across_epochs(tmp_path):
    ckpt = callbacks.ModelCheckpoint(
        str(tmp_path / "{epoch}-{batch}.weights.h5"), save_freq=3, save_weights_only=True
    )
    _model().fit(*_data(8), batch_size=2, epochs=2, verbose=0, callbacks=[ckpt])  # 8 batches
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1-3.weights.h5", "2-2.weights.h5"]


def test_backup_and_restore_errors(tmp_path):
    with pytest.raises(ValueError, match="empty `backup_dir`"):
        callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.BackupAndRestore(str(tmp_path), save_freq=0)
    unbuilt = models.Sequential([layers.Dense(2)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="must be built before you call `fit"):
        unbuilt.fit(*_data(), verbose=0, callbacks=[callbacks.BackupAndRestore(str(tmp_path))])


def test_backup_and_restore_keeps_the_backup_when_asked(tmp_path):
    backup = tmp_path / "backup"
    cb = callbacks.BackupAndRestore(str(backup), delete_checkpoint=False, double_checkpoint=True)
    _model().fit(*_data(), epochs=2, verbose=0, callbacks=[cb])
    assert sorted(p.name for p in backup.iterdir()) == [
        "latest.weights.h5", "latest.weights.h5.bkp",
        "training_metadata.json", "training_metadata.json.bkp",
    ]  # fmt: skip


def test_csv_logger_and_lambda_errors(tmp_path):
    with pytest.raises(ValueError, match="one-character string"):
        callbacks.CSVLogger(str(tmp_path / "x.csv"), separator=", ")
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        callbacks.LambdaCallback(on_epoch_end=3)


def test_terminate_on_nan():
    cb = callbacks.TerminateOnNaN(raise_error=True)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        cb.on_train_batch_end(3, {"loss": float("nan")})


def test_tensorboard_without_tensorboardx(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install scratchnet\[tensorboard\]"):
        callbacks.TensorBoard("logs")


def test_tensorboard_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="update_freq"):
        callbacks.TensorBoard(str(tmp_path), update_freq="step")
    with pytest.raises(ValueError, match="profile_batch=2 is not supported"):
        callbacks.TensorBoard(str(tmp_path), profile_batch=2)
    with pytest.raises(ValueError, match="histogram_freq"):
        callbacks.TensorBoard(str(tmp_path), histogram_freq=-1)


def test_stop_training_from_on_train_begin_runs_one_batch():
    model = _model()
    stop = callbacks.LambdaCallback(on_train_begin=lambda _: setattr(model, "stop_training", True))
    history = model.fit(*_data(8), batch_size=2, epochs=3, verbose=0, callbacks=[stop])
    assert history.epoch == [0] and model.optimizer.iterations == 1


def test_tensorboard_steps_per_second(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = callbacks.TensorBoard(str(tmp_path), write_steps_per_second=True, update_freq="batch")
    _model().fit(*_data(8), batch_size=2, epochs=2, verbose=0, callbacks=[board])
    events = EventAccumulator(str(tmp_path / "train"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"batch_steps_per_second", "epoch_steps_per_second", "batch_loss"} <= set(tags)
    assert [e.step for e in events.Scalars("batch_loss")] == list(range(1, 9))
    assert [e.step for e in events.Scalars("epoch_steps_per_second")] == [0, 1]
    assert all(e.value > 0 for e in events.Scalars("epoch_steps_per_second"))

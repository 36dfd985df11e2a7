"""Helpers of the callback parity tests: one small model on both sides, and a recorder.

``model_pair`` builds the same two-layer classifier in Keras and scratchnet, with Keras's
initial weights copied into scratchnet and the same optimizer; ``data`` makes the inputs;
``recorder(lib)`` makes a callback of that library that writes down every hook call with its
arguments and a copy of its logs, and can set ``model.stop_training`` (or ``stop_evaluating``,
``stop_predicting``) at the k-th call of a chosen hook.
"""

import numpy as np

import scratchnet
from keras_impl.setup import keras

HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
    "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin",
    "on_test_batch_end", "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
    "on_predict_batch_end",
)  # fmt: skip


def model_pair(optimizer="SGD", metrics=("accuracy",), **opt_kwargs):
    """``(scratchnet model, keras model)``: Dense(6, relu) -> Dense(3, softmax) on 4 features,
    the same weights, compiled alike (categorical cross-entropy)."""
    keras.utils.set_random_seed(3)
    models = []
    for lib in (scratchnet, keras):
        model = lib.Sequential(
            [
                lib.Input((4,)),
                lib.layers.Dense(6, activation="relu"),
                lib.layers.Dense(3, activation="softmax"),
            ]
        )
        opt = getattr(lib.optimizers, optimizer)(**opt_kwargs)
        model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=list(metrics))
        models.append(model)
    models[0].set_weights(models[1].get_weights())
    return tuple(models)


def data(n, seed=0):
    """``n`` float32 samples of 4 features and one-hot labels of 3 classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
    return x, y


def _copy_logs(logs):
    if logs is None:
        return None
    return {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in logs.items()}


def recorder(lib, stop_at=None, flag="stop_training"):
    """A ``lib.callbacks.Callback`` whose ``calls`` lists ``(hook, index or None, logs)``.

    Args:
        stop_at: ``(hook, k)``: at the k-th call (1-based) of ``hook``, set ``model.<flag>``.
        flag: "stop_training", "stop_evaluating" or "stop_predicting".
    """

    class Recorder(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []
            self.counts = {}

        def _note(self, hook, index, logs):
            self.calls.append((hook, index, _copy_logs(logs)))
            self.counts[hook] = self.counts.get(hook, 0) + 1
            if stop_at is not None and stop_at == (hook, self.counts[hook]):
                setattr(self.model, flag, True)

    def make(hook):
        if hook.endswith(("_begin", "_end")) and ("batch" in hook or "epoch" in hook):

            def method(self, index, logs=None):
                self._note(hook, index, logs)

        else:

            def method(self, logs=None):
                self._note(hook, None, logs)

        return method

    for hook in HOOKS:
        setattr(Recorder, hook, make(hook))
    return Recorder()


def assert_same_calls(ours, theirs, rtol=1e-5, atol=1e-6):
    """The two recorders saw the same hooks, indices, log keys, and log values within tolerance."""
    hooks = [(h, i) for h, i, _ in ours]
    assert hooks == [(h, i) for h, i, _ in theirs], (hooks, [(h, i) for h, i, _ in theirs])
    for (hook, index, a), (_, _, b) in zip(ours, theirs):
        where = f"{hook}({index})"
        assert (a is None) == (b is None), f"{where}: logs {a!r} vs Keras {b!r}"
        if a is None:
            continue
        assert list(a) == list(b), f"{where}: log keys {list(a)} vs Keras {list(b)}"
        for key in a:
            assert type(a[key]) is type(b[key]), f"{where}[{key}]: {type(a[key])} vs {type(b[key])}"
            np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=where)

"""Interruptions, with real signals in child processes (README, "Reliability", "Interruptions").

* SIGINT (Ctrl-C) during ``fit``: the model is left exactly as after some completed step k,
  weights, BatchNormalization's moving statistics and the optimizer's state together, bit for
  bit, as a replay of the same training records them after each step; never a mix of two steps.
  ``model.history`` holds the completed epochs, and the interrupted model saves and reloads.
  The signal comes from a timer thread in the child at a random moment, and from the parent
  process; the model has BatchNormalization, whose moving statistics change in the forward pass,
  so a signal anywhere in a step but its very end would leave a mix without the deferral.
* SIGKILL during ``save``, ``save_weights`` or a ``ModelCheckpoint`` write: the file loads and
  holds one of the versions saved, at most one temporary file is left, and the next save
  removes it.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS_PER_EPOCH = 4


def _child(*args):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


# -- the child's side -----------------------------------------------------------------------------


def _model():
    import scratchnet as sn
    from scratchnet import Input, layers

    sn.utils.set_random_seed(7)
    model = sn.models.Sequential(
        [Input((8,)), layers.Dense(16), layers.BatchNormalization(), layers.Dense(16, "relu")]
        + [layers.Dense(16, "tanh") for _ in range(4)]
        + [layers.BatchNormalization(), layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * STEPS_PER_EPOCH, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, len(x))]
    return x, y


def _state(model):
    """Weights and optimizer slots (once made); the iterations are checked apart."""
    optimizer = model.optimizer
    return model.get_weights() + (optimizer.variables[2:] if optimizer.slots is not None else [])


def _equal(state, other):
    return len(state) == len(other) and all(np.array_equal(a, b) for a, b in zip(state, other))


def _fit(model, epochs, callbacks=()):
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def _replay(epochs):
    """The state before any step and after each step of an uninterrupted ``fit``."""
    import scratchnet as sn

    model = _model()
    states = [_state(model)]

    class Record(sn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            states.append([a.copy() for a in _state(self.model)])

    _fit(model, epochs, [Record()])
    return states


def _check(model, states, tmp):
    """Which step the interrupted model is at, with every check of its state on the way."""
    from scratchnet.saving import load_model

    k = model.optimizer.iterations
    same = [i for i, s in enumerate(states) if _equal(_state(model), s)]
    assert same == [k], f"a mix of two steps: iterations={k}, state equal to steps {same}"
    history = getattr(model, "history", None)
    done = len(history.epoch) if history is not None else 0
    assert done in {k // STEPS_PER_EPOCH, (k - 1) // STEPS_PER_EPOCH if k else 0}, (k, done)
    assert history is None or all(len(v) == done for v in history.history.values())
    if tmp:
        model.save(tmp)
        loaded = load_model(tmp)
        assert _equal(_state(loaded), _state(model))
        assert loaded.optimizer.iterations == k
    return k


def child_sigint(source, attempts, seed):
    """Train fresh models, each stopped by a SIGINT, and report the step each stopped at."""
    import scratchnet as sn

    states = _replay(epochs=30)
    start = time.perf_counter()
    _fit(_model(), epochs=5)
    span = (time.perf_counter() - start) * 1.5  # about 8 of the 30 epochs: the signals land early
    rng = random.Random(seed)
    steps = []

    class Ready(sn.callbacks.Callback):  # the parent sends the SIGINT once it reads the line
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations == 1:
                print("ready", flush=True)

    for attempt in range(attempts):
        model = _model()
        timer = threading.Timer(rng.uniform(0, span), os.kill, (os.getpid(), signal.SIGINT))
        try:
            if source == "timer":
                timer.start()
            _fit(model, 30, [Ready()] if source == "parent" else [])
            raise AssertionError("fit ended before the SIGINT came")
        except KeyboardInterrupt:
            pass
        if source == "timer":
            timer.join()
        tmp = os.path.join(sys.argv[-1], "interrupted.keras") if attempt % 10 == 0 else None
        steps.append(_check(model, states, tmp))
        if source != "timer":
            print("done", flush=True)
    print(json.dumps(steps), flush=True)


def child_save(kind, folder):
    """Save versions 1, 2, 3... of a model to one file until killed, naming each when written."""
    import scratchnet as sn

    model = _model()
    path = os.path.join(folder, "model.weights.h5" if kind == "save_weights" else "model.keras")
    checkpoint = sn.callbacks.ModelCheckpoint(path) if kind == "checkpoint" else None
    if checkpoint:
        checkpoint.set_model(model)
    shapes = [w.shape for w in model.get_weights()]
    version = 0
    while True:
        version += 1
        model.set_weights([np.full(s, version, "float32") for s in shapes])
        if kind == "save":
            model.save(path)
        elif kind == "save_weights":
            model.save_weights(path)
        else:
            checkpoint.on_epoch_end(version, {"loss": 1.0})
        print(version, flush=True)


def child_write(path):
    """Start an atomic write of ``path`` and stay in it until killed."""
    from scratchnet.utils import atomic_write

    def write(f):
        f.write(b"half")
        print("writing", flush=True)
        time.sleep(120)

    atomic_write(path, write)


# -- the tests -----------------------------------------------------------------------------------


def test_sigint_from_a_timer_leaves_the_last_completed_step(tmp_path):
    child = _child("sigint", "timer", "60", "1", str(tmp_path))
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0, out
    steps = json.loads(out.splitlines()[-1])
    assert len(steps) == 60 and len(set(steps)) > 10  # signals landed all over the training


def test_sigint_from_the_parent_leaves_the_last_completed_step(tmp_path):
    rng = random.Random(2)
    child = _child("sigint", "parent", "20", "2", str(tmp_path))
    for _ in range(20):
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.05))
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline() == "done\n"
    # the rest from the same buffered reader: readline may already hold the last line, which
    # communicate() (it reads the pipe itself) would never see
    out = child.stdout.read()
    child.wait(timeout=60)
    assert child.returncode == 0, out
    assert len(json.loads(out.splitlines()[-1])) == 20


def _killed_while_saving(kind, folder, seed):
    from scratchnet.saving import load_model

    rng = random.Random(seed)
    name = "model.weights.h5" if kind == "save_weights" else "model.keras"
    for _ in range(2):  # the second child's first save removes the first's temporary file
        child = _child("save", kind, str(folder))
        first = int(child.stdout.readline())  # the first version is on disk: the child is going
        time.sleep(rng.uniform(0, 0.1))
        child.kill()
        child.wait()
        written = [first] + [int(line) for line in child.stdout.read().split()]
        model, path = _model(), os.path.join(folder, name)
        if kind == "save_weights":
            model.load_weights(path)
        else:
            model = load_model(path)
        versions = set(np.unique(np.concatenate([w.ravel() for w in model.get_weights()])))
        assert len(versions) == 1 and versions <= {written[-1], written[-1] + 1}, versions
        temporaries = [f for f in os.listdir(folder) if f.endswith(".tmp")]
        assert len(temporaries) <= 1, temporaries  # each child's first save removed the last's
    model.save_weights(path) if kind == "save_weights" else model.save(path)
    assert sorted(os.listdir(folder)) == [name]


def test_a_killed_write_leaves_a_temporary_file_that_the_next_write_removes(tmp_path):
    from scratchnet.utils import atomic_write

    path = tmp_path / "model.keras"
    path.write_bytes(b"previous")
    dead, alive = _child("write", str(path)), _child("write", str(path))
    assert dead.stdout.readline() == alive.stdout.readline() == "writing\n"
    dead.kill()
    dead.wait()
    assert len(os.listdir(tmp_path)) == 3 and path.read_bytes() == b"previous"
    atomic_write(
        path, lambda f: f.write(b"new")
    )  # removes the dead write's file, not the live one's
    (live,) = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert live.startswith(f".model.keras.{alive.pid}.") and path.read_bytes() == b"new"
    alive.kill()
    alive.wait()
    atomic_write(path, lambda f: f.write(b"newer"))
    assert os.listdir(tmp_path) == ["model.keras"] and path.read_bytes() == b"newer"


def test_sigkill_during_save(tmp_path):
    _killed_while_saving("save", tmp_path, 1)


def test_sigkill_during_save_weights(tmp_path):
    _killed_while_saving("save_weights", tmp_path, 2)


def test_sigkill_during_model_checkpoint(tmp_path):
    _killed_while_saving("checkpoint", tmp_path, 3)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        child_write(sys.argv[2])
    elif sys.argv[1] == "sigint":
        child_sigint(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        child_save(sys.argv[2], sys.argv[3])

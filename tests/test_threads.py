"""Many threads on one model give exactly the serial answers (issue 17: thread-safe inference).

A web server (Flask, FastAPI, ``http.server``'s ThreadingHTTPServer) calls ``predict`` on one
loaded model from many threads at once. Every test here starts THREADS threads together (a
barrier), gives each its OWN input, so that an answer that crossed over from another thread's
call is caught, repeats the call a few times, and compares each answer bit for bit with the
same call made serially beforehand. Layers that keep state between calls would fail here: the
convolution's scratch buffers, the logits of a softmax, the model's tape, the metrics'
running means.

What is not allowed, and is an error instead: training a model while another thread runs it
(``test_fit_and_predict_*``).
"""

import threading

import numpy as np
import pytest

import scratchnet
from keras_impl.architectures import build
from scratchnet import Input, layers, models, ops

THREADS = 8
REPEATS = 4


def run_together(work, n=THREADS):
    """``work(i)`` on n threads started at once; returns the n results (re-raises an error)."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as error:  # noqa: BLE001 (re-raised below, in the test's thread)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def assert_same_as_serial(call, inputs):
    """``call(inputs[i])`` from thread i, REPEATS times each, equals the serial answer exactly."""
    serial = [call(x) for x in inputs]
    answers = run_together(lambda i: [call(inputs[i]) for _ in range(REPEATS)])
    wrong = [
        (i, r)
        for i, repeats in enumerate(answers)
        for r, answer in enumerate(repeats)
        if not all(np.array_equal(a, s) for a, s in zip(_as_list(answer), _as_list(serial[i])))
    ]
    assert not wrong, (
        f"{len(wrong)} of {THREADS * REPEATS} calls from {THREADS} threads differ from the serial "
        f"answer (thread, repeat): {wrong[:10]}"
    )


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def randomize(model, seed=0):
    """Random weights (moving variances positive), so every layer changes the numbers."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.weights:
        value = rng.normal(scale=0.3, size=w.value.shape).astype(w.value.dtype)
        weights.append(np.abs(value) + 0.5 if "variance" in w.name else value)
    model.set_weights(weights)
    return model


def images(shape, n=THREADS, batch=12, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.random((batch,) + shape, dtype=np.float32) for _ in range(n)]


def one_hot(n=THREADS, batch=12, classes=10, seed=2):
    rng = np.random.default_rng(seed)
    return [np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)] for _ in range(n)]


# ------------------------------------------------------------------------------------ models


def tutorial_cnn():
    return randomize(build("convnet", scratchnet))


def mixed_cnn():
    """Conv2D (fused with MaxPooling2D), BatchNormalization, average and global poolings,
    depthwise and separable convolutions, PReLU, Dropout, Dense and a Softmax layer."""
    return randomize(
        models.Sequential(
            [
                Input((14, 14, 3)),
                layers.Conv2D(6, 3, padding="same"),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.MaxPooling2D(),
                layers.DepthwiseConv2D(3, padding="same", activation="sigmoid"),
                layers.SeparableConv2D(8, 3, activation="tanh"),
                layers.AveragePooling2D(2),
                layers.PReLU(),
                layers.Conv2D(10, 2, activation="softmax"),
                layers.GlobalMaxPooling2D(),
                layers.Dropout(0.3),
                layers.Dense(10),
                layers.Softmax(),
            ]
        )
    )


def recurrent_model():
    return randomize(
        models.Sequential(
            [
                Input((9, 5)),
                layers.LSTM(7, return_sequences=True),
                layers.GRU(6, return_sequences=True),
                layers.SimpleRNN(5),
                layers.Dense(10, activation="softmax"),
            ]
        )
    )


def two_branch():
    inputs = Input((12, 12, 1))
    a = layers.Conv2D(4, 3, activation="relu")(inputs)
    b = layers.Conv2D(4, 5, activation="sigmoid", padding="same")(inputs)
    b = layers.Cropping2D(1)(b)
    x = layers.MaxPooling2D()(layers.concatenate([a, b]))
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return randomize(models.Model(inputs, outputs))


class Gated(layers.Layer):
    """A layer written the Keras way: only ``call``, differentiated by autodiff."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.g = self.add_weight(shape=(input_shape[-1], self.units), name="g")

    def call(self, x):
        return ops.tanh(ops.matmul(x, self.w)) * ops.sigmoid(ops.matmul(x, self.g))


class Subclassed(models.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(4, 3, activation="relu")
        self.pool = layers.MaxPooling2D()
        self.flatten = layers.Flatten()
        self.gated = Gated(16)
        self.out = layers.Dense(10, activation="softmax")

    def call(self, x, training=False):
        x = self.flatten(self.pool(self.conv(x)))
        return self.out(self.gated(x) + 0.5, training=training)


def subclassed():
    model = Subclassed()
    model(np.zeros((1, 12, 12, 1), np.float32))
    return randomize(model)


MODELS = {
    "tutorial_cnn": (tutorial_cnn, (28, 28, 1)),
    "mixed_cnn": (mixed_cnn, (14, 14, 3)),
    "recurrent": (recurrent_model, (9, 5)),
    "two_branch": (two_branch, (12, 12, 1)),
    "subclassed": (subclassed, (12, 12, 1)),
}


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predict_from_many_threads_equals_serial(name):
    make, shape = MODELS[name]
    model = make()
    assert_same_as_serial(lambda x: model.predict(x, batch_size=5, verbose=0), images(shape))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_calling_the_model_from_many_threads_equals_serial(name):
    make, shape = MODELS[name]
    model = make()
    assert_same_as_serial(model, images(shape))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_evaluate_from_many_threads_equals_serial(name):
    make, shape = MODELS[name]
    model = make()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    data = list(zip(images(shape), one_hot()))

    def evaluate(i):
        x, y = data[i]
        return np.array(model.evaluate(x, y, batch_size=5, verbose=0))

    assert_same_as_serial(evaluate, list(range(THREADS)))


LAYERS = {
    "Conv2D": (lambda: layers.Conv2D(5, 3, activation="softmax"), (10, 10, 3)),
    "Dense": (lambda: layers.Dense(6, activation="sigmoid"), (20,)),
    "MaxPooling2D": (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (9, 9, 4)),
    "BatchNormalization": (lambda: layers.BatchNormalization(), (6, 6, 4)),
    "LSTM": (lambda: layers.LSTM(5, return_sequences=True), (7, 3)),
    "Softmax": (lambda: layers.Softmax(), (11,)),
    "Gated": (lambda: Gated(4), (9,)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_calling_a_layer_from_many_threads_equals_serial(name):
    make, shape = LAYERS[name]
    layer = make()
    inputs = images(shape)
    layer(inputs[0])  # built
    randomize(layer, seed=3)
    assert_same_as_serial(layer, inputs)


def test_two_models_in_two_threads_do_not_disturb_each_other():
    first, second = tutorial_cnn(), randomize(mixed_cnn(), seed=5)
    x1, x2 = images((28, 28, 1), n=1, batch=20)[0], images((14, 14, 3), n=1, batch=20)[0]
    serial = [first.predict(x1, verbose=0), second.predict(x2, verbose=0)]

    def work(i):
        model, x = (first, x1) if i == 0 else (second, x2)
        return [model.predict(x, verbose=0) for _ in range(REPEATS * 2)]

    for i, answers in enumerate(run_together(work, n=2)):
        assert all(np.array_equal(a, serial[i]) for a in answers), f"model {i} disturbed"


def test_an_unbuilt_model_is_built_once_when_many_threads_call_it_first():
    model = models.Sequential([layers.Dense(4, activation="relu"), layers.Dense(3)])
    run_together(lambda i: model(np.ones((2, 5), np.float32)))
    assert len(model.weights) == 4


# ------------------------------------------------------------------------------------ fit


class PauseAfterFirstStep(scratchnet.callbacks.Callback):
    """Holds ``fit`` between its first and second step until ``go`` is set."""

    def __init__(self):
        super().__init__()
        self.paused, self.go = threading.Event(), threading.Event()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.paused.set()
            assert self.go.wait(60)


def test_fit_and_predict_in_two_threads_is_a_clear_error_not_a_wrong_answer():
    """While ``fit`` runs in one thread, the model's predict, evaluate, ``model(x)``, fit and
    train_on_batch from another raise RuntimeError naming the conflict; afterwards they work."""
    model = tutorial_cnn()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = images((28, 28, 1), n=1, batch=8)[0], one_hot(n=1, batch=8)[0]
    pause = PauseAfterFirstStep()
    fitting = threading.Thread(
        target=model.fit, args=(x, y), kwargs=dict(batch_size=4, verbose=0, callbacks=[pause])
    )
    fitting.start()
    try:
        assert pause.paused.wait(60)
        conflicts = {
            "predict": lambda: model.predict(x, verbose=0),
            "evaluate": lambda: model.evaluate(x, y, verbose=0),
            "call": lambda: model(x),
            "fit": lambda: model.fit(x, y, verbose=0),
            "train_on_batch": lambda: model.train_on_batch(x, y),
            "test_on_batch": lambda: model.test_on_batch(x, y),
        }
        for call in conflicts.values():
            with pytest.raises(RuntimeError, match="being trained in another thread"):
                call()
    finally:
        pause.go.set()
        fitting.join()
    trained = model.predict(x, verbose=0)
    assert np.array_equal(model.predict(x, verbose=0), trained)


class Blocking(layers.Layer):
    """Passes its input through; in inference it waits for ``go`` once it has started."""

    def __init__(self):
        super().__init__()
        self.started, self.go = threading.Event(), threading.Event()

    def compute_output_shape(self, input_shape):
        return input_shape  # (without it, Input would trace forward once)

    def forward(self, x, training=False):
        if not training:
            self.started.set()
            assert self.go.wait(60)
        return x

    def backward(self, dy, need_dx=True):
        return dy


def test_a_predict_that_a_fit_overlapped_raises_instead_of_mixing_weights():
    """A predict already running when fit starts in another thread cannot be stopped, but it
    must not return numbers made from weights that changed under it: it raises."""
    blocking = Blocking()
    model = models.Sequential([Input((6,)), layers.Dense(5), blocking, layers.Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 6), np.float32), np.zeros((4, 3), np.float32)
    errors = []

    def predict():
        try:
            model.predict(x, verbose=0)
        except RuntimeError as error:
            errors.append(error)

    predicting = threading.Thread(target=predict)
    predicting.start()
    try:
        assert blocking.started.wait(60)
        model.fit(x, y, verbose=0)  # the weights change while the predict is inside
    finally:
        blocking.go.set()
        predicting.join()
    assert len(errors) == 1 and "trained in another thread" in str(errors[0])

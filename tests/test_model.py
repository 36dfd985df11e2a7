"""The Model engine: whole-model gradients, fit's bookkeeping, callbacks, summary and bad input."""

import io
import math
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

import scratchnet
from scratchnet import Input, callbacks, layers, models, optimizers, utils
from scratchnet.naming import clear_session


def small_cnn(activation="tanh"):
    return models.Sequential(
        [
            Input((6, 6, 2)),
            layers.Conv2D(3, 3, padding="same", activation=activation),
            layers.MaxPooling2D(2),
            layers.Conv2D(2, 2, activation="sigmoid"),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )


def data(n=10, shape=(6, 6, 2), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape)
    y = utils.to_categorical(rng.integers(0, classes, n), classes)
    return x, y


def test_whole_model_gradients_match_finite_differences(float64):
    model = small_cnn()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, y = data()
    loss, grads = model.compute_loss_and_gradients(x, y)

    def loss_at():
        return float(model.loss(y, model(x)))

    eps = 1e-6
    for w, g in zip([v.value for v in model.trainable_weights], grads):
        assert g.shape == w.shape
        for i in list(np.ndindex(w.shape))[:: max(1, w.size // 12)]:
            saved = w[i]
            w[i] = saved + eps
            up = loss_at()
            w[i] = saved - eps
            down = loss_at()
            w[i] = saved
            assert g[i] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


def test_fit_keeps_the_last_partial_batch_and_reports_sample_weighted_running_means(float64):
    model = small_cnn()
    model.compile(
        optimizer=optimizers.SGD(learning_rate=0.0),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = data(n=10)
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert history.params == {"verbose": 0, "epochs": 1, "steps": 3}
    per_sample = -np.log((model.predict(x, verbose=0) * y).sum(-1))
    assert history.history["loss"][0] == pytest.approx(per_sample.mean(), rel=1e-12)
    # The unweighted mean of the three batch means (4, 4, 2 samples) would differ:
    batch_means = [per_sample[:4].mean(), per_sample[4:8].mean(), per_sample[8:].mean()]
    assert abs(np.mean(batch_means) - per_sample.mean()) > 1e-6
    assert list(history.history) == ["accuracy", "loss"]


def test_validation_split_takes_the_last_fraction_before_shuffling(float64):
    model = small_cnn()
    model.compile(
        optimizer=optimizers.SGD(learning_rate=0.0),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = data(n=10)
    history = model.fit(x, y, batch_size=3, epochs=2, validation_split=0.3, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == [0, 1]
    val_loss = model.evaluate(x[7:], y[7:], verbose=0)[0]
    assert history.history["val_loss"][1] == pytest.approx(val_loss, rel=1e-12)


def test_training_reduces_the_loss_and_evaluate_predict_agree():
    utils.set_random_seed(0)
    model = small_cnn()
    model.compile(
        optimizer=optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    x = np.random.default_rng(0).normal(size=(64, 6, 6, 2))
    quadrants = [x[:, :3, :3, 0], x[:, :3, 3:, 0], x[:, 3:, :3, 0], x[:, 3:, 3:, 0]]
    y = utils.to_categorical(np.argmax([q.sum((1, 2)) for q in quadrants], axis=0), 4)  # learnable
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert loss < before * 0.8
    expected_acc = np.mean(model.predict(x, verbose=0).argmax(-1) == y.argmax(-1))
    assert acc == pytest.approx(expected_acc)


def test_integer_labels_with_sparse_loss_and_uint8_inputs_are_cast():
    model = models.Sequential([Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(model.optimizer, optimizers.RMSprop)  # Keras's default optimizer
    x = np.random.default_rng(0).integers(0, 255, size=(8, 4)).astype(np.uint8)
    history = model.fit(x, np.arange(8) % 3, verbose=0)
    assert model.predict(x, verbose=0).dtype == np.float32
    assert math.isfinite(history.history["loss"][0])


def test_a_nan_loss_stops_training_naming_epoch_and_step_without_updating():
    model = models.Sequential([Input((2,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.ones((8, 2), dtype="float32")
    x[5] = np.nan  # the second batch of 4 turns the loss into NaN
    y = np.eye(2)[np.arange(8) % 2]
    err = io.StringIO()
    with redirect_stderr(err):
        model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False)
    assert "epoch 1, step 2/2" in err.getvalue()
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_terminate_on_nan_and_early_stopping_and_checkpoint(tmp_path):
    model = models.Sequential([Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy")
    x, y = np.ones((6, 3)), np.eye(2)[[0, 1, 0, 1, 0, 1]]
    stop = callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    path = tmp_path / "best.weights.h5"
    ckpt = callbacks.ModelCheckpoint(
        str(path), monitor="loss", save_best_only=True, save_weights_only=True
    )
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stop, ckpt])
    assert len(history.epoch) == 2  # lr 0: no improvement after epoch 1, patience 1
    assert path.exists()


def test_progress_bar_prints_keras_lines(capsys):
    model = models.Sequential([Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = np.ones((10, 3)), np.eye(2)[np.arange(10) % 2]
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y))
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "\x1b[1m3/3\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m" in out
    assert "/step - accuracy: " in out and " - val_accuracy: " in out and " - val_loss: " in out
    model.fit(x, y, batch_size=4, epochs=1, verbose=2)
    line = capsys.readouterr().out.strip()
    assert line.startswith("3/3 - ") and "/step - accuracy: " in line and "Epoch" not in line


KERAS_CONVNET_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ conv2d (Conv2D)                      │ (None, 26, 26, 32)          │             320 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ max_pooling2d (MaxPooling2D)         │ (None, 13, 13, 32)          │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ conv2d_1 (Conv2D)                    │ (None, 11, 11, 64)          │          18,496 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ max_pooling2d_1 (MaxPooling2D)       │ (None, 5, 5, 64)            │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ flatten (Flatten)                    │ (None, 1600)                │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dropout (Dropout)                    │ (None, 1600)                │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense (Dense)                        │ (None, 10)                  │          16,010 │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 34,826 (136.04 KB)
 Trainable params: 34,826 (136.04 KB)
 Non-trainable params: 0 (0.00 B)"""


def test_summary_is_keras_text_for_the_keras_io_convnet():
    """The expected text is Keras 3.15's own output (keras-behaviour.md section 8, width 88)."""
    from keras_impl.architectures import build

    clear_session()
    model = build("convnet", scratchnet)
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary(line_length=88)
    assert out.getvalue().rstrip("\n") == KERAS_CONVNET_SUMMARY
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(np.zeros((2, 28, 28, 1)), np.eye(10)[:2], verbose=0)
    text = models.summary_text(model, 88)
    assert " Total params: 104,480 (408.13 KB)" in text
    assert " Optimizer params: 69,654 (272.09 KB)" in text


def test_seminar_cnn_has_keras_parameter_count():
    from keras_impl.architectures import build

    assert build("seminar", scratchnet).count_params() == 421_642


def test_get_weights_order_and_set_weights_round_trip():
    model = small_cnn()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 2, 3), (3,), (2, 2, 3, 2), (2,), (8, 4), (4,)]
    new = [np.full(s, i, dtype="float32") for i, s in enumerate(shapes)]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expected 6 arrays.*got 5"):
        model.set_weights(new[:5])


def test_auto_names_count_per_class():
    clear_session()
    a, b, c = layers.Conv2D(1, 1), layers.Conv2D(1, 1), layers.MaxPooling2D()
    assert (a.name, b.name, c.name) == ("conv2d", "conv2d_1", "max_pooling2d")


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0),
            "batch_size must be a positive integer",
        ),
        (
            lambda m, x, y: m.fit(x, y, batch_size=-3, verbose=0),
            "batch_size must be a positive integer",
        ),
        (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), "x is empty"),
        (lambda m, x, y: m.fit(x, y[:5], verbose=0), "x has 10 samples but y has 5"),
        (lambda m, x, y: m.fit(x, y.argmax(-1), verbose=0), "to_categorical"),
        (
            lambda m, x, y: m.fit(np.repeat(x, 3, -1), y, verbose=0),
            r"built for inputs of shape \(None, 6, 6, 1\), but got \(10, 6, 6, 3\)",
        ),
        (lambda m, x, y: m.evaluate(x, y, batch_size=0, verbose=0), "batch_size"),
    ],
    ids=[
        "zero-batch",
        "negative-batch",
        "empty",
        "length-mismatch",
        "label-shape",
        "3-channels-into-1",
        "eval-batch",
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    model = models.Sequential(
        [
            Input((6, 6, 1)),
            layers.Conv2D(2, 3),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, y = data(n=10, shape=(6, 6, 1))
    with pytest.raises(ValueError, match=message):
        call(model, x, y)


def test_conv_on_a_3d_batch_names_the_layer_and_suggests_a_channel_axis():
    model = models.Sequential([layers.Conv2D(2, 3, name="first_conv")])
    with pytest.raises(
        ValueError,
        match=r"'first_conv' \(Conv2D\) expects a 4-D input.*\(5, 6, 6\).*x\[\.\.\., None\]",
    ):
        model.predict(np.zeros((5, 6, 6)), verbose=0)


def test_compile_errors_name_the_unknown_piece():
    model = small_cnn()
    with pytest.raises(ValueError, match="Unknown optimizer 'ftrl'"):
        model.compile(optimizer="ftrl", loss="mse")
    with pytest.raises(ValueError, match="Unknown loss"):
        model.compile(optimizer="sgd", loss="hinge_loss")
    with pytest.raises(RuntimeError, match="must be compiled before fit"):
        small_cnn().fit(*data(), verbose=0)


class TwoSigmoidLayers(models.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(5, activation="sigmoid")
        self.out = layers.Dense(4, activation="softmax")

    def call(self, x, training=False):
        return self.out(self.hidden(x))


def two_sigmoid_layers(kind):
    if kind == "subclassed":
        return TwoSigmoidLayers()
    hidden, out = layers.Dense(5, activation="sigmoid"), layers.Dense(4, activation="softmax")
    if kind == "sequential":
        return models.Sequential([Input((3,)), hidden, out])
    inputs = Input((3,))
    return models.Model(inputs, out(hidden(inputs)))


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_only_the_output_layers_logits_outlive_the_forward_pass(kind):
    """Inner sigmoid/softmax layers let their logits go (memory: hanoi's first convolution's are
    5.5 MB a step); the output layer keeps them, and the loss still takes the fused path."""
    model = two_sigmoid_layers(kind)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, y = data(shape=(3,))
    model.forward(x, training=True)
    hidden, output = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    assert hidden.logits is None
    assert output.logits is not None
    assert model._fused_loss(model._tape, model._output).layer is output
    expected = model.loss.value_and_grad_from_logits(y, output.logits)[0]
    assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-6)
    # Outside the model's run the hidden layer keeps its logits again, e.g. trained alone...
    hidden(x.astype(np.float32), training=True)
    assert hidden.logits is not None
    # ... but inference keeps nothing on a layer (threads: see layers/base.py).
    hidden.logits = None
    hidden(x.astype(np.float32))
    model.predict(x, verbose=0)
    assert hidden.logits is None and output.logits is not None  # (still the training pass's)


class LogitsProbe(layers.Layer):
    """Passes its input through and notes whether ``watched`` holds logits at that moment."""

    def __init__(self, watched):
        super().__init__()
        self.watched, self.seen = watched, []

    def compute_output_shape(self, input_shape):
        return input_shape  # (without it, Input would trace forward once: one more entry seen)

    def forward(self, x, training=False):
        self.seen.append(self.watched.logits is not None)
        return x

    def backward(self, dy, need_dx=True):
        return dy


def test_an_inner_convolution_never_keeps_a_second_copy_of_its_output():
    """Not even until the end of the forward pass: hanoi's first convolution used to hold 5.5 MB
    of logits through its second convolution's forward, then the step's memory peak."""
    conv = layers.Conv2D(2, 3, activation="sigmoid")
    probe = LogitsProbe(conv)
    model = models.Sequential(
        [Input((6, 6, 1)), conv, probe, layers.Flatten(), layers.Dense(3, activation="softmax")]
    )
    model.forward(np.ones((2, 6, 6, 1)), training=True)
    assert probe.seen == [False]
    conv(np.ones((2, 6, 6, 1), dtype=np.float32), training=True)  # alone, an output layer
    assert conv.logits is not None


def test_float64_models_compute_in_float64(float64):
    model = small_cnn()
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(data()[0], verbose=0).dtype == np.float64


def test_functional_and_sequential_compute_the_same(float64):
    seq = small_cnn()
    inputs = Input((6, 6, 2))
    x = inputs
    for layer in seq.layers:
        x = layer(x)
    functional = scratchnet.Model(inputs, x)
    xb, yb = data()
    np.testing.assert_array_equal(functional.predict(xb, verbose=0), seq.predict(xb, verbose=0))
    for m in (seq, functional):
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
    g_seq = seq.compute_loss_and_gradients(xb, yb)[1]
    g_fun = functional.compute_loss_and_gradients(xb, yb)[1]
    for a, b in zip(g_seq, g_fun):
        np.testing.assert_array_equal(a, b)


def test_a_generator_without_steps_per_epoch_is_read_once_then_fit_stops_with_a_warning(capsys):
    """The first epoch reads the generator to its end (the progress bar of unknown length ends
    at the steps it saw); the next finds it empty: a warning, and no epoch is recorded."""
    model = models.Sequential([Input((3,)), layers.Dense(2)])
    model.compile("sgd", "mse")

    def batches():
        for i in range(4):
            yield np.full((5, 3), i, "float32"), np.zeros((5, 2), "float32")

    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(batches(), epochs=3, verbose=1)
    assert len(history.history["loss"]) == 1 and history.params["steps"] is None
    assert "4/4" in capsys.readouterr().out

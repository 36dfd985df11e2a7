"""The Functional and subclassing APIs against Keras: forward, gradients, a short training run.

Two models, each written once as a function of the library (``lib`` is ``scratchnet`` or
``keras``), so both sides run literally the same model code:

* the tutorial's two-branch CNN (Functional API): a 3x3 'valid' and a 5x5 'same' convolution read
  the same image; the wider one is cropped so the shapes agree; concatenate, pool, dense;
* a subclassed twin of the seminar CNN (two conv blocks, two Dropouts with fixed seeds, a dense
  head), written with ``call()`` in plain Python.

Keras's initial weights are copied into scratchnet, everything runs in float64, and Dropout masks
match because both libraries draw them from the same seeds.
"""

import numpy as np
import pytest

import scratchnet
from keras_impl.gradients import model_loss_and_gradients, model_outputs_and_gradients
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from keras_impl.training import record_fit
from parity_tests.compare import F64_RTOL, GRADIENT_FLOOR, TRAJECTORY_F64_RTOL, assert_parity

DROPOUT_SEEDS = (101, 202)


def two_branch(lib, filters=8):
    L = lib.layers
    inputs = lib.Input((28, 28, 1))
    a = L.Conv2D(filters, 3, activation="relu")(inputs)  # (None, 26, 26, filters)
    b = L.Conv2D(filters, 5, activation="relu", padding="same")(inputs)  # (None, 28, 28, filters)
    merged = L.concatenate([a, L.Cropping2D(1)(b)])  # (None, 26, 26, 2 * filters)
    x = L.Flatten()(L.MaxPooling2D()(merged))
    return lib.Model(inputs=inputs, outputs=L.Dense(10, activation="softmax")(x))


def seminar_subclassed(lib):
    L = lib.layers

    class SeminarCNN(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv1 = L.Conv2D(32, (3, 3), activation="relu", padding="same")
            self.pool1 = L.MaxPooling2D((2, 2))
            self.conv2 = L.Conv2D(64, (3, 3), activation="relu", padding="same")
            self.pool2 = L.MaxPooling2D((2, 2))
            self.drop1 = L.Dropout(0.25, seed=DROPOUT_SEEDS[0])
            self.flatten = L.Flatten()
            self.hidden = L.Dense(128, activation="relu")
            self.drop2 = L.Dropout(0.5, seed=DROPOUT_SEEDS[1])
            self.classify = L.Dense(10, activation="softmax")

        def call(self, inputs, training=False):
            x = self.pool1(self.conv1(inputs))
            x = self.drop1(self.pool2(self.conv2(x)), training=training)
            x = self.drop2(self.hidden(self.flatten(x)), training=training)
            return self.classify(x)

    return SeminarCNN()


MODELS = {"two_branch": two_branch, "seminar_subclassed": seminar_subclassed}


def pair(name, n, seed=0):
    """(scratchnet model, Keras model, x, y): Keras's initial weights copied into scratchnet."""
    reset_seeds(seed)
    theirs = MODELS[name](keras)
    ours = MODELS[name](scratchnet)
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1))
    y = np.eye(10)[rng.integers(0, 10, n)]
    theirs(x[:1]), ours(x[:1])  # build the subclassed models
    ours.set_weights(theirs.get_weights())
    return ours, theirs, x, y


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_and_gradients_match_keras(name):
    with use_floatx("float64"):
        ours, theirs, x, y = pair(name, n=4)
        assert [type(layer).__name__ for layer in ours.layers] == [
            type(layer).__name__ for layer in theirs.layers
        ]
        assert_parity(
            ours.predict(x, verbose=0),
            theirs.predict(x, verbose=0),
            rtol=F64_RTOL,
            tensor="y",
            model=name,
        )

        # Backward from a random upstream gradient on the softmax output, Dropout active.
        dy = np.random.default_rng(1).standard_normal((4, 10))
        k_y, k_grads = model_outputs_and_gradients(theirs, x, dy, training=True)
        s_y = ours.forward(x, training=True)
        ours.backward(dy)
        assert_parity(s_y, k_y, rtol=F64_RTOL, tensor="y (training)", model=name)
        for i, (g_ours, g_theirs) in enumerate(zip(ours.gradients(), k_grads, strict=True)):
            assert_parity(
                g_ours,
                g_theirs,
                rtol=F64_RTOL,
                tensor=f"d(weight {i})",
                model=name,
                floor=GRADIENT_FLOOR,
            )

        # The training loss (softmax fused with cross-entropy) and its gradients.
        k_loss, k_grads = model_loss_and_gradients(theirs, x, y, training=True)
        ours.compile(optimizer="sgd", loss="categorical_crossentropy")
        s_loss, s_grads = ours.compute_loss_and_gradients(x, y, training=True)
        assert_parity(s_loss, k_loss, rtol=F64_RTOL, tensor="loss", model=name)
        for i, (g_ours, g_theirs) in enumerate(zip(s_grads, k_grads, strict=True)):
            assert_parity(
                g_ours,
                g_theirs,
                rtol=F64_RTOL,
                tensor=f"d(weight {i}) (CE loss)",
                model=name,
                floor=GRADIENT_FLOOR,
            )


@pytest.mark.parametrize("name, optimizer", [("two_branch", "adam"), ("seminar_subclassed", "sgd")])
def test_training_trajectory_matches_keras(name, optimizer):
    with use_floatx("float64"):
        ours, theirs, x, y = pair(name, n=24, seed=2)
        ours.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        theirs.compile(
            optimizer=optimizer,
            loss="categorical_crossentropy",
            metrics=["accuracy"],
            **COMPILE_KWARGS,
        )
        r_ours = record_fit(ours, scratchnet, x, y, batch_size=8, epochs=2)
        r_theirs = record_fit(theirs, keras, x, y, batch_size=8, epochs=2)
    assert_parity(
        r_ours["step_loss"],
        r_theirs["step_loss"],
        rtol=TRAJECTORY_F64_RTOL,
        tensor="step losses",
        model=name,
    )
    for key in r_theirs["history"]:
        assert_parity(
            r_ours["history"][key],
            r_theirs["history"][key],
            rtol=TRAJECTORY_F64_RTOL,
            tensor=f"history[{key}]",
            model=name,
        )
    for i, (a, b) in enumerate(zip(r_ours["weights"], r_theirs["weights"], strict=True)):
        assert_parity(
            a, b, rtol=TRAJECTORY_F64_RTOL, tensor=f"weight {i} after training", model=name
        )

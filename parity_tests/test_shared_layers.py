"""Shared layers against Keras: one layer called on several tensors, its weights shared.

A layer called twice reads its kernel twice, so dL/d(kernel) is the sum of what each call sends
back (``scratchnet/tape.py``). Three models, each written once as a function of the library:

* ``dense_tower``: a Dense applied three times in a Functional model, at two depths, its
  outputs added (Keras's ``shared[0][0]``, ``shared[1][0]``, ``shared[2][0]``);
* ``siamese_conv``: a Conv2D + MaxPooling2D pair applied to the image and to a 1x1 convolution
  of it (a shared convolution is not fused with its pooling: each call runs as itself);
* ``subclassed``: a subclassed model whose ``call`` uses a Dense and a Conv2D twice each.

Keras's initial weights are copied into scratchnet; everything runs in float64.
"""

import io
import json

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras, reset_seeds, use_floatx
from parity_tests.compare import assert_parity
from parity_tests.runners import assert_model_and_gradients_match, assert_training_matches

LINE_LENGTH = 80  # rich crops wider lines at its 80-column default width when captured


def dense_tower(lib):
    L = lib.layers
    x = lib.Input((6,), name="x")
    shared = L.Dense(6, activation="tanh", name="shared")
    a = shared(x)
    b = shared(a)
    c = shared(L.Dense(6, name="pre")(x))
    merged = L.Add(name="add")([a, b, c])
    return lib.Model(x, L.Dense(3, activation="softmax", name="head")(merged), name="tower")


def siamese_conv(lib):
    L = lib.layers
    x = lib.Input((8, 8, 2), name="image")
    conv = L.Conv2D(3, 3, activation="relu", name="conv")
    pool = L.MaxPooling2D(name="pool")
    left = pool(conv(x))
    right = pool(conv(L.Conv2D(2, 1, name="mix")(x)))
    merged = L.Flatten(name="flat")(L.Concatenate(name="cat")([left, right]))
    return lib.Model(x, L.Dense(4, activation="softmax", name="head")(merged), name="siamese")


def subclassed(lib):
    L = lib.layers

    class Twice(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = L.Conv2D(2, 3, padding="same", activation="relu")
            self.flatten = L.Flatten()
            self.project = L.Dense(8)
            self.dense = L.Dense(8, activation="relu")
            self.head = L.Dense(4, activation="softmax")

        def call(self, inputs, training=False):
            h = self.project(self.flatten(self.conv(self.conv(inputs))))  # (N, 8)
            return self.head(self.dense(self.dense(h)) + h)

    return Twice()


def penalized(lib):
    """A shared Dense with an activity penalty: each call adds its penalty to the loss."""
    L = lib.layers
    x = lib.Input((6,), name="x")
    shared = L.Dense(
        6,
        activation="tanh",
        activity_regularizer=lib.regularizers.L2(0.05),
        kernel_regularizer="l2",
        name="shared",
    )
    y = L.Concatenate(name="cat")([shared(x), shared(L.Dense(6, name="pre")(x))])
    return lib.Model(x, L.Dense(3, activation="softmax", name="head")(y), name="penalized")


MODELS = {
    "dense_tower": dense_tower,
    "siamese_conv": siamese_conv,
    "subclassed": subclassed,
    "penalized": penalized,
}
INPUTS = {
    "dense_tower": (6,),
    "siamese_conv": (8, 8, 2),
    "subclassed": (4, 4, 2),
    "penalized": (6,),
}


def pair(name, n, seed=0):
    """(scratchnet model, Keras model, x, y), Keras's initial weights copied into scratchnet."""
    reset_seeds(seed)
    theirs = MODELS[name](keras)
    ours = MODELS[name](scratchnet)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *INPUTS[name]))
    classes = theirs(x[:1]).shape[-1]
    ours(x[:1])
    y = np.eye(classes)[rng.integers(0, classes, n)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs, x, y


# (penalized's gradients include its penalties', which Keras's helpers leave out: it is
# compared by its training trajectory, whose losses and steps include them on both sides)
@pytest.mark.parametrize("name", sorted(set(MODELS) - {"penalized"}))
def test_shared_layer_forward_and_every_gradient_match_keras(name):
    with use_floatx("float64"):
        ours, theirs, x, y = pair(name, n=5)
        assert [layer.name for layer in ours.layers if not name.startswith("sub")] == [
            layer.name for layer in theirs.layers if not name.startswith("sub")
        ]
        assert len(ours.weights) == len(theirs.weights)  # each shared weight once
        assert_model_and_gradients_match(ours, theirs, x, y, name)


def test_a_gradient_of_a_shared_layer_is_the_sum_over_its_calls():
    """The shared Dense's kernel gradient is what three separate copies of it would get,
    added: the lesson of a tensor used twice, on the weights' side."""
    with use_floatx("float64"):
        ours, _, x, _ = pair("dense_tower", n=4)
        dy = np.random.default_rng(2).standard_normal((4, 3))
        ours.forward(x, training=True)
        ours.backward(dy)
        shared = ours.get_layer("shared")
        summed = shared.grads["kernel"].copy()
        L = scratchnet.layers
        inp = scratchnet.Input((6,))
        copies = [L.Dense(6, activation="tanh") for _ in range(3)]
        pre, head = L.Dense(6), L.Dense(3, activation="softmax")
        a = copies[0](inp)
        unshared = scratchnet.Model(inp, head(L.Add()([a, copies[1](a), copies[2](pre(inp))])))
        for copy in copies:
            copy.set_weights(shared.get_weights())
        pre.set_weights(ours.get_layer("pre").get_weights())
        head.set_weights(ours.get_layer("head").get_weights())
        unshared.forward(x, training=True)
        unshared.backward(dy)
        total = sum(c.grads["kernel"] for c in copies)
        np.testing.assert_allclose(summed, total, rtol=1e-12, atol=1e-15)
        assert not np.allclose(summed, copies[0].grads["kernel"])  # more than one call's share


@pytest.mark.parametrize(
    "name, optimizer",
    [
        ("dense_tower", "adam"),
        ("siamese_conv", "sgd"),
        ("subclassed", "adam"),
        ("penalized", "sgd"),
    ],
)
def test_shared_layer_training_trajectory_matches_keras(name, optimizer):
    with use_floatx("float64"):
        ours, theirs, x, y = pair(name, n=24, seed=3)
        assert_training_matches(ours, theirs, x, y, name, optimizer)


@pytest.mark.parametrize("name", ["dense_tower", "siamese_conv", "penalized"])
def test_shared_layer_config_and_files_move_both_ways(name, tmp_path):
    """``inbound_nodes`` with one entry per call and node indices in ``keras_history``, as
    Keras writes them; each library loads the other's file and gives the same outputs."""
    keras.utils.clear_session()
    scratchnet.utils.clear_session()
    ours, theirs, x, _ = pair(name, n=3)
    assert as_json(ours.get_config()) == as_json(theirs.get_config())
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    from_keras = scratchnet.models.load_model(tmp_path / "theirs.keras")
    from_ours = keras.models.load_model(tmp_path / "ours.keras")
    expected = theirs.predict(x, verbose=0)
    assert_parity(
        from_keras.predict(x, verbose=0), expected, rtol=1e-6, tensor="y (Keras file)", model=name
    )
    assert_parity(
        from_ours.predict(x, verbose=0), expected, rtol=1e-6, tensor="y (our file)", model=name
    )
    assert as_json(from_keras.get_config()) == as_json(theirs.get_config())
    assert len(from_keras.weights) == len(theirs.weights)


def as_json(config):
    """A config as config.json holds it (tuples become lists)."""
    return json.loads(json.dumps(config))


def summary_text(model, **kwargs):
    lines = []
    model.summary(
        line_length=LINE_LENGTH, print_fn=lambda line, line_break=None: lines.append(line), **kwargs
    )
    return "".join(lines).rstrip()


@pytest.mark.parametrize("name", ["dense_tower", "siamese_conv"])
@pytest.mark.parametrize("show_trainable", [False, True])
def test_shared_layer_summary_equals_keras(name, show_trainable):
    """One row per layer; a shared layer lists every call's inputs in "Connected to"."""
    keras.utils.clear_session()
    scratchnet.utils.clear_session()
    ours, theirs, _, _ = pair(name, n=2)
    ours_text = summary_text(ours, show_trainable=show_trainable)
    theirs_text = summary_text(theirs, show_trainable=show_trainable)
    assert ours_text == theirs_text, f"--- scratchnet\n{ours_text}\n--- keras\n{theirs_text}"
    assert "[1][0]" in ours_text


def test_shared_layer_in_the_tape_description():
    """The tape shows each call of a shared layer as its own line."""
    ours, _, x, _ = pair("dense_tower", n=2)
    text = io.StringIO()
    text.write(scratchnet.utils.trace(ours, x.astype("float32")))
    assert text.getvalue().count("shared (Dense)") == 3

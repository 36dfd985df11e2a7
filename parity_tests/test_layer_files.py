"""Per-layer ``.keras`` interop with real Keras, both directions, one small model per layer.

* Keras builds and saves (``model.save``), ``scratchnet.saving.load_model`` opens it: same
  predictions on the same input.
* scratchnet builds and saves, ``keras.saving.load_model`` opens it: same predictions, with the
  weights of the Keras twin copied in by ``set_weights(get_weights())``.

Weights are nudged away from their initial values (by a positive amount, so a variance stays
positive) so that zero biases or unit moving statistics cannot hide a misplaced weight.
Float32, so "the same" means rtol 1e-5.
"""

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras, reset_seeds, use_floatx
from parity_tests.compare import assert_parity

RTOL = 1e-5


def seq(shape, *make):
    """A builder of ``Sequential([Input(shape), *layers])``; ``make(L)`` returns one layer."""

    def build(lib):
        return lib.Sequential([lib.Input(shape)] + [m(lib.layers) for m in make])

    return build


def merge(name):
    """A builder of a Functional model whose two Dense branches are joined by merge ``name``.

    One input, not two: scratchnet's ``Model.__call__`` turns a list of arrays into one array
    (``np.asarray``), so a multi-input model cannot be run on data yet.
    """

    def build(lib):
        L = lib.layers
        x = lib.Input((4,))
        joined = getattr(L, name)()([L.Dense(3)(x), L.Dense(3, activation="tanh")(x)])
        return lib.Model(x, L.Dense(2)(joined))

    return build


# name: (builder, input shape without the batch axis, or "int": token ids for Embedding)
CASES = {
    "BatchNormalization": (seq((5,), lambda L: L.Dense(4), lambda L: L.BatchNormalization()), (5,)),
    "AveragePooling1D": (seq((8, 3), lambda L: L.AveragePooling1D(2)), (8, 3)),
    "AveragePooling2D": (
        seq((6, 6, 2), lambda L: L.AveragePooling2D(2, padding="same")),
        (6, 6, 2),
    ),
    "GlobalAveragePooling1D": (seq((7, 3), lambda L: L.GlobalAveragePooling1D()), (7, 3)),
    "GlobalAveragePooling2D": (seq((5, 5, 3), lambda L: L.GlobalAveragePooling2D()), (5, 5, 3)),
    "GlobalMaxPooling1D": (seq((7, 3), lambda L: L.GlobalMaxPooling1D()), (7, 3)),
    "GlobalMaxPooling2D": (seq((5, 5, 3), lambda L: L.GlobalMaxPooling2D()), (5, 5, 3)),
    "MaxPooling1D": (seq((8, 3), lambda L: L.MaxPooling1D(2, strides=1)), (8, 3)),
    "Conv1D": (seq((8, 3), lambda L: L.Conv1D(4, 3, activation="relu")), (8, 3)),
    "Conv2DTranspose": (seq((4, 4, 2), lambda L: L.Conv2DTranspose(3, 3, strides=2)), (4, 4, 2)),
    "DepthwiseConv2D": (
        seq((6, 6, 2), lambda L: L.DepthwiseConv2D(3, depth_multiplier=2)),
        (6, 6, 2),
    ),
    "SeparableConv2D": (seq((6, 6, 2), lambda L: L.SeparableConv2D(3, 3)), (6, 6, 2)),
    "UpSampling2D": (
        seq((3, 3, 2), lambda L: L.UpSampling2D(2), lambda L: L.Conv2D(2, 2)),
        (3, 3, 2),
    ),
    "SimpleRNN": (seq((5, 3), lambda L: L.SimpleRNN(4)), (5, 3)),
    "LSTM": (seq((5, 3), lambda L: L.LSTM(4, return_sequences=True)), (5, 3)),
    "GRU": (seq((5, 3), lambda L: L.GRU(4)), (5, 3)),
    "ReLU": (seq((6,), lambda L: L.Dense(5), lambda L: L.ReLU(max_value=0.5)), (6,)),
    "LeakyReLU": (seq((6,), lambda L: L.Dense(5), lambda L: L.LeakyReLU(negative_slope=0.2)), (6,)),
    "ELU": (seq((6,), lambda L: L.Dense(5), lambda L: L.ELU(alpha=0.7)), (6,)),
    "PReLU": (seq((6,), lambda L: L.Dense(5), lambda L: L.PReLU()), (6,)),
    "Softmax": (seq((6,), lambda L: L.Dense(5), lambda L: L.Softmax()), (6,)),
    "GaussianNoise": (seq((6,), lambda L: L.GaussianNoise(0.3), lambda L: L.Dense(3)), (6,)),
    "GaussianDropout": (seq((6,), lambda L: L.GaussianDropout(0.3), lambda L: L.Dense(3)), (6,)),
    "SpatialDropout2D": (seq((4, 4, 3), lambda L: L.SpatialDropout2D(0.3)), (4, 4, 3)),
    "Reshape": (seq((6,), lambda L: L.Reshape((2, 3)), lambda L: L.Dense(2)), (6,)),
    "Permute": (seq((3, 4), lambda L: L.Permute((2, 1)), lambda L: L.Dense(2)), (3, 4)),
    "RepeatVector": (seq((4,), lambda L: L.RepeatVector(3), lambda L: L.Dense(2)), (4,)),
    "Rescaling": (seq((4,), lambda L: L.Rescaling(1 / 255.0, offset=-0.5)), (4,)),
    "Embedding": (seq((5,), lambda L: L.Embedding(10, 3), lambda L: L.Flatten()), "int"),
    "Average": (merge("Average"), (4,)),
    "Subtract": (merge("Subtract"), (4,)),
    "Multiply": (merge("Multiply"), (4,)),
    "Maximum": (merge("Maximum"), (4,)),
    "Minimum": (merge("Minimum"), (4,)),
    "Dense+regularizer+constraint": (
        seq(
            (6,),
            lambda L: L.Dense(
                3,
                kernel_regularizer=scratch_or_keras(L).regularizers.L2(0.01),
                kernel_constraint=scratch_or_keras(L).constraints.MaxNorm(2.0),
            ),
        ),
        (6,),
    ),
}


def scratch_or_keras(layers_module):
    """The library a ``layers`` module belongs to (for regularizers and constraints)."""
    return scratchnet if layers_module is scratchnet.layers else keras


def inputs(shape, n=6, seed=0):
    rng = np.random.default_rng(seed)
    if shape == "int":
        return rng.integers(0, 10, (n, 5)).astype("int32")
    return rng.standard_normal((n, *shape)).astype("float32")


def nudged(weights, seed=1):
    rng = np.random.default_rng(seed)
    return [(w + rng.uniform(0.1, 0.5, w.shape)).astype(w.dtype) for w in weights]


def predict_ours(model, x):
    return np.asarray(model.predict(x, verbose=0))


def assert_options_kept(name, loaded):
    """The Dense case: the reloaded layer still has its regularizer and constraint (they change
    no prediction, so the predictions alone would not notice them dropped)."""
    if not name.startswith("Dense"):
        return
    config = loaded.layers[-1].get_config()
    assert config["kernel_regularizer"]["class_name"] == "L2"
    assert config["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.01)
    assert config["kernel_constraint"]["class_name"] == "MaxNorm"
    assert config["kernel_constraint"]["config"]["max_value"] == 2.0


def keras_model(build):
    reset_seeds(0)
    model = build(keras)
    model.set_weights(nudged(model.get_weights()))
    return model


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_file_opens_in_scratchnet(name, tmp_path):
    build, shape = CASES[name]
    x = inputs(shape)
    with use_floatx("float32"):
        theirs = keras_model(build)
        path = tmp_path / "theirs.keras"
        theirs.save(path)
        ours = scratchnet.saving.load_model(path)
        assert_options_kept(name, ours)
        assert_parity(
            predict_ours(ours, x),
            np.asarray(theirs.predict(x, verbose=0)),
            rtol=RTOL,
            tensor="y",
            layer=name,
            model="Keras .keras -> scratchnet.saving.load_model",
        )


@pytest.mark.parametrize("name", sorted(CASES))
def test_scratchnet_file_opens_in_keras(name, tmp_path):
    build, shape = CASES[name]
    x = inputs(shape)
    with use_floatx("float32"):
        twin = keras_model(build)
        ours = build(scratchnet)
        ours.set_weights(twin.get_weights())
        path = tmp_path / "ours.keras"
        ours.save(path)
        theirs = keras.saving.load_model(path)
        assert_options_kept(name, theirs)
        y_ours = predict_ours(ours, x)
        for model, other in (
            ("scratchnet -> keras.saving.load_model", theirs),
            ("Keras twin", twin),
        ):
            assert_parity(
                y_ours,
                np.asarray(other.predict(x, verbose=0)),
                rtol=RTOL,
                tensor="y",
                layer=name,
                model=model,
            )

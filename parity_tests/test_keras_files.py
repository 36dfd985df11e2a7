"""Keras file interop, both directions, with real Keras: ``.keras`` and ``.weights.h5``.

* scratchnet saves, Keras loads (``keras.models.load_model``, ``model.load_weights``): same
  predictions, same optimizer state, and training continues in Keras as it would in scratchnet.
* Keras saves, scratchnet loads: the same, without TensorFlow on scratchnet's side.
* Keras files scratchnet cannot represent fail with an error that names the layer class or option.

Models are small and run in float64 so "the same" can mean 1e-10, not "close".
"""

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from keras_impl.training import record_fit
from parity_tests.compare import F64_RTOL, TRAJECTORY_F64_RTOL, assert_parity


def sequential(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((10, 10, 1)),
            L.Conv2D(3, 3, activation="relu", padding="same"),
            L.MaxPooling2D(),
            L.Conv2D(4, 3, activation="tanh"),
            L.Flatten(),
            L.Dense(5, activation="softmax"),
        ]
    )


def functional(lib):
    """Two branches from one input, cropped/padded to agree, joined by concatenate and add."""
    L = lib.layers
    inputs = lib.Input((10, 10, 1))
    a = L.Conv2D(2, 3, activation="relu")(inputs)  # (None, 8, 8, 2)
    b = L.Conv2D(2, 5, activation="relu", padding="same")(inputs)  # (None, 10, 10, 2)
    joined = L.concatenate([L.Cropping2D(1)(b), a])  # (None, 8, 8, 4)
    summed = L.add([L.ZeroPadding2D(1)(a), b])  # (None, 10, 10, 2)
    x = L.concatenate([L.Flatten()(L.MaxPooling2D()(joined)), L.Flatten()(summed)])
    outputs = L.Dense(5, activation="softmax")(L.Activation("tanh")(L.Dense(6)(x)))
    return lib.Model(inputs, outputs)


def subclassed(lib):
    L = lib.layers

    class Small(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = L.Conv2D(3, 3, activation="relu")
            self.flat = L.Flatten()
            self.head = L.Dense(5, activation="softmax")

        def call(self, inputs, training=False):
            return self.head(self.flat(self.conv(inputs)))

    return Small()


BUILDERS = {"sequential": sequential, "functional": functional}


def data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 10, 10, 1)), np.eye(5)[rng.integers(0, 5, n)]


def compile_both(model, lib):
    kwargs = COMPILE_KWARGS if lib is keras else {}
    model.compile(
        optimizer=lib.optimizers.Adam(learning_rate=0.01),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        **kwargs,
    )


def trained(lib, kind, seed=0):
    """A compiled model of ``kind`` trained for one epoch (so the optimizer has state)."""
    reset_seeds(seed)
    model = BUILDERS[kind](lib)
    compile_both(model, lib)
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    return model


def assert_same_model(ours, theirs, what):
    x, y = data(seed=5)
    assert_parity(
        ours.predict(x, verbose=0),
        theirs.predict(x, verbose=0),
        rtol=F64_RTOL,
        tensor="y",
        model=what,
    )
    assert len(ours.get_weights()) == len(theirs.get_weights())
    for i, (w_ours, w_theirs) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_parity(w_ours, w_theirs, rtol=0, tensor=f"weight {i}", model=what)


def assert_same_optimizer(ours, theirs, what):
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__
    k_vars = [np.asarray(v) for v in theirs.optimizer.variables]
    s_vars = ours.optimizer.variables
    assert len(s_vars) == len(k_vars), f"{what}: optimizer variable count"
    for i, (a, b) in enumerate(zip(s_vars, k_vars)):
        assert_parity(a, b, rtol=0, tensor=f"optimizer variable {i}", model=what)


def assert_training_continues_alike(ours, theirs, what):
    x, y = data(seed=7)
    r_ours = record_fit(ours, scratchnet, x, y, batch_size=4)
    r_theirs = record_fit(theirs, keras, x, y, batch_size=4)
    assert_parity(
        r_ours["step_loss"],
        r_theirs["step_loss"],
        rtol=TRAJECTORY_F64_RTOL,
        tensor="step losses",
        model=what,
    )
    for i, (a, b) in enumerate(zip(r_ours["weights"], r_theirs["weights"])):
        assert_parity(
            a, b, rtol=TRAJECTORY_F64_RTOL, tensor=f"weight {i} after resuming", model=what
        )


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_scratchnet_keras_file_opens_in_keras(kind, tmp_path):
    with use_floatx("float64"):
        ours = trained(scratchnet, kind)
        path = tmp_path / "ours.keras"
        ours.save(path)
        theirs = keras.models.load_model(path)
        assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
        assert theirs.optimizer.learning_rate.numpy() == pytest.approx(0.01)
        assert_same_model(ours, theirs, f"{kind}: scratchnet .keras -> keras.models.load_model")
        assert_same_optimizer(ours, theirs, f"{kind}: scratchnet .keras -> Keras")
        assert_training_continues_alike(ours, theirs, f"{kind}: resumed after scratchnet -> Keras")


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_keras_file_opens_in_scratchnet(kind, tmp_path):
    with use_floatx("float64"):
        theirs = trained(keras, kind)
        path = tmp_path / "theirs.keras"
        theirs.save(path)
        ours = scratchnet.models.load_model(path)
        assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
        assert_same_model(ours, theirs, f"{kind}: Keras .keras -> scratchnet.models.load_model")
        assert_same_optimizer(ours, theirs, f"{kind}: Keras .keras -> scratchnet")
        assert_training_continues_alike(ours, theirs, f"{kind}: resumed after Keras -> scratchnet")


@pytest.mark.parametrize("kind", sorted(BUILDERS) + ["subclassed"])
def test_weights_files_both_ways(kind, tmp_path):
    build = BUILDERS.get(kind, subclassed)
    x, _ = data()
    with use_floatx("float64"):
        ours, theirs = build(scratchnet), build(keras)
        ours(x[:1]), theirs(x[:1])  # build (subclassed models are built by a first call)
        reset_seeds(3)
        random = [np.random.standard_normal(w.shape) for w in ours.get_weights()]
        ours.set_weights(random)
        ours.save_weights(tmp_path / "ours.weights.h5")
        theirs.load_weights(tmp_path / "ours.weights.h5")
        assert_same_model(ours, theirs, f"{kind}: scratchnet .weights.h5 -> Keras load_weights")

        theirs.set_weights([w * 0.5 for w in random])
        theirs.save_weights(tmp_path / "theirs.weights.h5")
        ours.load_weights(tmp_path / "theirs.weights.h5")
        assert_same_model(ours, theirs, f"{kind}: Keras .weights.h5 -> scratchnet load_weights")


def test_keras_layer_scratchnet_lacks_is_named(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(2),
        ]
    )
    model.save(tmp_path / "ln.keras")
    with pytest.raises(
        ValueError, match=r"class 'LayerNormalization'.*Supported layer classes:.*Dense"
    ):
        scratchnet.models.load_model(tmp_path / "ln.keras")


def test_keras_option_scratchnet_lacks_is_named(tmp_path):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, lora_rank=2)])
    model.save(tmp_path / "lora.keras")
    with pytest.raises(ValueError, match="lora_rank"):
        scratchnet.models.load_model(tmp_path / "lora.keras")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Ftrl(), loss="mse")
    model.save(tmp_path / "ftrl.keras")
    with pytest.raises(ValueError, match="'Ftrl' is not supported"):
        scratchnet.models.load_model(tmp_path / "ftrl.keras")


def test_keras_weights_of_another_architecture_are_refused(tmp_path):
    with use_floatx("float64"):
        theirs = keras.Sequential(
            [keras.Input((10, 10, 1)), keras.layers.Flatten(), keras.layers.Dense(5)]
        )
        theirs.save_weights(tmp_path / "mlp.weights.h5")
        ours = sequential(scratchnet)
        before = ours.get_weights()
        with pytest.raises(ValueError, match=r"Conv2D\): no weights in the file"):
            ours.load_weights(tmp_path / "mlp.weights.h5")
        for a, b in zip(before, ours.get_weights()):
            np.testing.assert_array_equal(a, b)

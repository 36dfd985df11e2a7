"""Saving and loading without Keras: round trips, resumed training, atomic writes, bad files.

The files are Keras's formats (``scratchnet/saving/``); parity_tests/test_keras_files.py checks
that real Keras reads and writes the same files. Here only h5py, zipfile and json look at them.
"""

import json
import os
import shutil
import zipfile

import h5py
import numpy as np
import pytest

import scratchnet
from scratchnet import Input, layers, models, optimizers, saving, utils


def small_cnn(dropout=0.25):
    return models.Sequential(
        [
            Input((8, 8, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(dropout, seed=3),
            layers.Dense(4, activation="softmax"),
        ]
    )


def two_branch():
    inputs = Input((8, 8, 1))
    a = layers.Conv2D(2, 3, activation="relu")(inputs)  # (None, 6, 6, 2)
    b = layers.Conv2D(2, 5, padding="same", activation="relu")(inputs)  # (None, 8, 8, 2)
    merged = layers.concatenate([layers.Cropping2D(1)(b), a])
    x = layers.Flatten()(layers.MaxPooling2D()(merged))
    return scratchnet.Model(inputs, layers.Dense(4, activation="softmax")(x))


class Subclassed(scratchnet.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(3, 3, activation="relu")
        self.flat = layers.Flatten()
        self.head = layers.Dense(4, activation="softmax")

    def call(self, inputs, training=False):
        return self.head(self.flat(self.conv(inputs)))


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, n)]
    return x, y


def trained(build, optimizer="adam"):
    utils.set_random_seed(1)
    model = build()
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return model


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        np.testing.assert_array_equal(u, v)


# ---------------------------------------------------------------------------------- round trips


def no_dropout_cnn():
    return small_cnn(dropout=0.0)


@pytest.mark.parametrize("build", [no_dropout_cnn, two_branch], ids=["sequential", "functional"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd_momentum"])
def test_load_model_resumes_training_identically(build, optimizer, tmp_path):
    """fit after save + load gives bit-identical weights to fit without the round trip.

    (Without Dropout: like Keras, the file does not hold a Dropout layer's random-stream position,
    so a reloaded Dropout draws its masks from the start of its stream again.)
    """
    if optimizer == "sgd_momentum":
        optimizer = optimizers.SGD(0.05, momentum=0.9)
    model = trained(build, optimizer)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = models.load_model(path)

    assert type(loaded) is type(model)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert_same_weights(model, loaded)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    for u, v in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(u, v)
    assert loaded.metrics_names == model.metrics_names

    x, y = data(seed=1)
    h1 = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history
    h2 = loaded.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history
    assert h1 == h2
    assert_same_weights(model, loaded)


def test_load_model_compile_false_and_uncompiled_model(tmp_path):
    model = small_cnn()
    model.save(tmp_path / "m.keras")  # never compiled: no compile_config, no optimizer group
    loaded = models.load_model(tmp_path / "m.keras")
    assert not loaded.compiled
    assert_same_weights(model, loaded)
    trained_model = trained(small_cnn)
    trained_model.save(tmp_path / "t.keras")
    assert not models.load_model(tmp_path / "t.keras", compile=False).compiled


def test_config_json_is_keras_shaped(tmp_path):
    model = trained(two_branch)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert [i.filename for i in z.infolist()] == [
            "metadata.json",
            "config.json",
            "model.weights.h5",
        ]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        config = json.loads(z.read("config.json"))
        assert json.loads(z.read("metadata.json"))["keras_version"] == saving.KERAS_VERSION
    assert set(config) == {
        "module",
        "class_name",
        "config",
        "registered_name",
        "build_config",
        "compile_config",
    }
    assert config["class_name"] == "Functional"
    names = [entry["class_name"] for entry in config["config"]["layers"]]
    # Keras's order: deepest first (the 5x5 conv feeds the crop), ties in depth-first order
    expected = ["InputLayer", "Conv2D", "Cropping2D", "Conv2D", "Concatenate", "MaxPooling2D"]
    assert names == expected + ["Flatten", "Dense"]
    assert model.layers[1].kernel_size == (5, 5)  # after the InputLayer, as in Keras
    concat = config["config"]["layers"][4]
    assert [t["config"]["keras_history"][0] for t in concat["inbound_nodes"][0]["args"][0]] == [
        model.layers[2].name,
        model.layers[3].name,
    ]
    assert config["compile_config"]["loss"] == "categorical_crossentropy"
    assert config["compile_config"]["metrics"] == ["accuracy"]
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"


def test_weights_file_layout_uses_class_keys(tmp_path):
    model = trained(small_cnn)
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert f["vars"].attrs["name"] == model.name
        assert f["layers/conv2d/vars"].attrs["name"] == model.layers[0].name
        assert f["layers/conv2d/vars/0"].shape == (3, 3, 1, 3)
        assert f["layers/dense/vars/1"].shape == (4,)
        assert list(f["layers/dropout/vars"]) == []
        assert f["optimizer/vars/0"].dtype == np.int64 and f["optimizer/vars/0"][()] == 3
        assert len(f["optimizer/vars"]) == 2 + 2 * 4  # Adam: (momentum, velocity) per weight


def test_save_weights_round_trip_ignores_layer_names(tmp_path):
    """Weights are matched by position and class, as Keras does, not by layer name."""
    model = trained(small_cnn)
    model.save_weights(tmp_path / "w.weights.h5")
    other = small_cnn()  # same architecture, other auto-names (conv2d_7, dense_7, ...)
    assert other.layers[0].name != model.layers[0].name
    other.load_weights(tmp_path / "w.weights.h5")
    assert_same_weights(model, other)
    other.load_weights(tmp_path / "w.weights.h5")  # idempotent
    third = small_cnn()
    third.load_weights(_save(model, tmp_path / "m.keras"))  # a .keras file works too
    assert_same_weights(model, third)


def _save(model, path):
    model.save(path)
    return path


def test_subclassed_model_round_trip(tmp_path):
    model = trained(Subclassed)
    model.save_weights(tmp_path / "s.weights.h5")
    with h5py.File(tmp_path / "s.weights.h5", "r") as f:  # Keras keys subclass layers by attribute
        assert f["conv/vars/0"].shape == (3, 3, 1, 3)
        assert f["head/vars/0"].shape == (108, 4)
    fresh = Subclassed()
    x, y = data()
    fresh(x[:1])
    fresh.load_weights(tmp_path / "s.weights.h5")
    assert_same_weights(model, fresh)

    model.save(tmp_path / "s.keras")
    with pytest.raises(ValueError, match="custom_objects"):
        models.load_model(tmp_path / "s.keras")
    loaded = models.load_model(tmp_path / "s.keras", custom_objects={"Subclassed": Subclassed})
    assert_same_weights(model, loaded)
    assert loaded.optimizer.iterations == 3
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_float64_round_trip(tmp_path):
    scratchnet.config.set_floatx("float64")
    try:
        model = trained(two_branch)
    finally:
        scratchnet.config.set_floatx("float32")
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert all(w.dtype == np.float64 for w in loaded.get_weights())
    assert_same_weights(model, loaded)


# ---------------------------------------------------------------------------------- atomic writes


def test_extension_is_required(tmp_path):
    model = small_cnn()
    with pytest.raises(ValueError, match=r"must end in '\.keras'.*save_weights"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"must end in '\.weights\.h5'"):
        model.save_weights(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"'\.weights\.h5' or '\.keras'"):
        model.load_weights(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"'\.keras'"):
        models.load_model(tmp_path / "m.weights.h5")
    assert os.listdir(tmp_path) == []


def test_crash_mid_write_leaves_old_file_intact(tmp_path, monkeypatch):
    model = trained(small_cnn)
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()

    real_writestr = zipfile.ZipFile.writestr

    def crash_on_weights(self, name, data, *args, **kwargs):
        if name == "model.weights.h5":
            real_writestr(self, name, data[: len(data) // 2])  # half the bytes reach the disk
            raise KeyboardInterrupt("simulated crash mid-write")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash_on_weights)
    x, y = data(seed=2)
    model.fit(x, y, verbose=0)  # new weights that the crashed save would have written
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]  # no temporary file left behind

    monkeypatch.undo()
    weights_path = tmp_path / "w.weights.h5"
    model.save_weights(weights_path)
    good = weights_path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        model.save_weights(weights_path)
    assert weights_path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "w.weights.h5"]


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_files_give_clear_errors(tmp_path, fraction):
    model = trained(small_cnn)
    for name, load in [
        ("m.keras", lambda p: models.load_model(p)),
        ("w.weights.h5", lambda p: small_cnn().load_weights(p)),
    ]:
        full = tmp_path / name
        if name.endswith(".keras"):
            model.save(full)
        else:
            model.save_weights(full)
        blob = full.read_bytes()
        cut = tmp_path / ("cut_" + name)
        cut.write_bytes(blob[: int(len(blob) * fraction)])
        with pytest.raises(ValueError, match="truncated|damaged|not a valid"):
            load(cut)


# ---------------------------------------------------------------------------------- bad files


def test_foreign_files(tmp_path):
    model = small_cnn()
    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(ValueError, match="not a valid .keras file.*not a zip"):
        models.load_model(tmp_path / "text.keras")

    model.save_weights(tmp_path / "w.weights.h5")
    shutil.copy(tmp_path / "w.weights.h5", tmp_path / "h5.keras")
    with pytest.raises(ValueError, match="HDF5 file.*load_weights"):
        models.load_model(tmp_path / "h5.keras")

    with zipfile.ZipFile(tmp_path / "other.keras", "w") as z:
        z.writestr("readme.txt", "not a model")
    with pytest.raises(ValueError, match="no 'config.json'"):
        models.load_model(tmp_path / "other.keras")

    with zipfile.ZipFile(tmp_path / "badjson.keras", "w") as z:
        z.writestr("config.json", "{not json")
        z.writestr("model.weights.h5", b"")
    with pytest.raises(ValueError, match="not valid JSON"):
        models.load_model(tmp_path / "badjson.keras")

    (tmp_path / "zip.weights.h5").write_bytes((tmp_path / "other.keras").read_bytes())
    with pytest.raises(ValueError, match="HDF5"):
        model.load_weights(tmp_path / "zip.weights.h5")

    with h5py.File(tmp_path / "foreign.weights.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a Keras 3 weights file"):
        model.load_weights(tmp_path / "foreign.weights.h5")

    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.weights.h5")


def _rewrite_config(path, edit):
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def test_unknown_layer_class_is_named(tmp_path):
    path = _save(small_cnn(), tmp_path / "m.keras")

    def add_layernorm(config):
        config["config"]["layers"][2]["class_name"] = "LayerNormalization"

    _rewrite_config(path, add_layernorm)
    with pytest.raises(
        ValueError, match=r"'LayerNormalization'.*Supported layer classes: .*Conv2D"
    ):
        models.load_model(path)


def test_unsupported_layer_option_is_named(tmp_path):
    path = _save(small_cnn(), tmp_path / "m.keras")

    def add_groups(config):
        config["config"]["layers"][1]["config"]["groups"] = 2

    _rewrite_config(path, add_groups)
    with pytest.raises(ValueError, match="groups"):
        models.load_model(path)


def test_missing_weights_wrong_shapes_wrong_layers(tmp_path):
    model = trained(small_cnn)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    target = small_cnn()
    before = target.get_weights()

    broken = tmp_path / "missing.weights.h5"
    shutil.copy(path, broken)
    with h5py.File(broken, "a") as f:
        del f["layers/dense/vars/1"]
    with pytest.raises(
        ValueError, match=r"layer 'dense\w*' \(Dense\): expects 2 weight array\(s\), the file has 1"
    ):
        target.load_weights(broken)

    with h5py.File(broken, "a") as f:
        del f["layers/dense"]
    with pytest.raises(ValueError, match=r"'dense\w*' \(Dense\): no weights in the file"):
        target.load_weights(broken)

    wider = models.Sequential(
        [
            Input((8, 8, 1)),
            layers.Conv2D(5, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(4, activation="softmax"),
        ]
    )
    with pytest.raises(
        ValueError, match=r"weight 0 has shape \(3, 3, 1, 5\) but the file has \(3, 3, 1, 3\)"
    ):
        wider.load_weights(path)

    mlp = models.Sequential([Input((8, 8, 1)), layers.Flatten(), layers.Dense(4), layers.Dense(4)])
    with pytest.raises(
        ValueError,
        match=r"no weights in the file.*\n.*'/layers/conv2d/vars' .*no layer of this model takes",
    ):
        mlp.load_weights(path)

    for u, v in zip(before, target.get_weights()):  # nothing was half-loaded
        np.testing.assert_array_equal(u, v)


def test_optimizer_state_of_another_optimizer_is_skipped_with_a_warning(tmp_path):
    model = trained(small_cnn, "adam")
    model.save_weights(tmp_path / "w.weights.h5")
    other = small_cnn()
    other.compile(optimizer=optimizers.SGD(0.1, momentum=0.5), loss="categorical_crossentropy")
    with pytest.warns(UserWarning, match="skipping the optimizer state"):
        other.load_weights(tmp_path / "w.weights.h5")
    assert_same_weights(model, other)

"""Custom objects without Keras: registration, scopes, (de)serialization, files, clear errors.

parity_tests/test_custom_objects_files.py checks the same files against real Keras. Here only
scratchnet, h5py, zipfile and json look at them. Tests that register throwaway objects run
inside the ``clean_registry`` fixture, so no registration leaks into another test.
"""

import json
import sys
import threading
import zipfile

import h5py
import numpy as np
import pytest

import scratchnet
from scratchnet import Input, activations, layers, losses, metrics, ops, saving
from scratchnet.saving import object_registration

# ------------------------------------------------------------------------ the classes we save


@saving.register_keras_serializable(package="SavingTests")
class Linear(layers.Layer):
    """Keras's subclassing guide's layer."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="random_uniform", name="w"
        )
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@saving.register_keras_serializable(package="SavingTests")
class Block(layers.Layer):
    """A Dense sublayer, a list of sublayers and a weight of its own."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = layers.Dense(units)
        self.stack = [Linear(units), Linear(units)]

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

    def call(self, inputs):
        x = self.dense(inputs)
        for layer in self.stack:
            x = layer(x)
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@saving.register_keras_serializable(package="SavingTests")
class Net(scratchnet.Model):
    def __init__(self, hidden=4, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.block = Block(hidden)
        self.head = layers.Dense(2)

    def call(self, inputs):
        return self.head(ops.relu(self.block(inputs)))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@saving.register_keras_serializable(package="SavingTests")
def absolute_error(y_true, y_pred):
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


@saving.register_keras_serializable(package="SavingTests")
class ScaledError(losses.Loss):
    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * ops.mean(ops.square(y_true - y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@saving.register_keras_serializable(package="SavingTests")
class PredictionSum(metrics.Metric):
    def __init__(self, name="prediction_sum", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(ops.sum(y_pred))

    def result(self):
        return self.total


class Unregistered(layers.Layer):
    """Saved under its class name; found only when passed."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@pytest.fixture
def clean_registry():
    """Registrations made in the test are undone afterwards."""
    objects = dict(object_registration.GLOBAL_CUSTOM_OBJECTS)
    names = dict(object_registration.GLOBAL_CUSTOM_NAMES)
    yield
    object_registration.GLOBAL_CUSTOM_OBJECTS.clear()
    object_registration.GLOBAL_CUSTOM_OBJECTS.update(objects)
    object_registration.GLOBAL_CUSTOM_NAMES.clear()
    object_registration.GLOBAL_CUSTOM_NAMES.update(names)


def data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 5)).astype("float32"), rng.random((n, 2)).astype("float32")


def model_with_custom_layers():
    return scratchnet.Sequential([Input((5,)), Linear(4), Block(3), layers.Dense(2)])


def config_json(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def rewrite_config(path, edit):
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


# ---------------------------------------------------------------------------- registration


def test_registered_names_are_package_and_name():
    assert saving.get_registered_name(Linear) == "SavingTests>Linear"
    assert saving.get_registered_object("SavingTests>Linear") is Linear
    assert saving.get_custom_objects()["SavingTests>absolute_error"] is absolute_error
    assert saving.get_registered_name(Unregistered) == "Unregistered"  # its __name__
    assert saving.get_registered_object("Unregistered") is None


def test_registration_defaults_and_explicit_names(clean_registry):
    @saving.register_keras_serializable()
    class Plain(layers.Layer):
        pass

    @saving.register_keras_serializable("Pkg", name="Renamed")
    def helper(x):
        return x

    assert saving.get_registered_name(Plain) == "Custom>Plain"  # Keras's default package
    assert saving.get_registered_name(helper) == "Pkg>Renamed"
    assert saving.get_registered_object("Pkg>Renamed") is helper


def test_a_class_without_get_config_cannot_be_registered(clean_registry):
    with pytest.raises(ValueError, match="get_config"):
        saving.register_keras_serializable()(type("NoConfig", (), {}))


def test_a_name_clash_is_an_error_but_redefining_a_class_replaces_it(clean_registry):
    def define():
        class Twin(layers.Layer):
            pass

        return Twin

    first, second = define(), define()  # the same definition run twice (a notebook cell)
    saving.register_keras_serializable("Clash")(first)
    saving.register_keras_serializable("Clash")(second)
    assert saving.get_registered_object("Clash>Twin") is second
    assert first not in object_registration.GLOBAL_CUSTOM_NAMES

    other = type("Twin", (layers.Layer,), {"__module__": "another.module"})
    with pytest.raises(ValueError, match=r"'Clash>Twin' is already taken by .*another\.module"):
        saving.register_keras_serializable("Clash")(other)
    assert saving.get_registered_object("Clash>Twin") is second


# ---------------------------------------------------------------------------------- scopes


def test_scopes_nest_replace_and_restore():
    a, b = object(), object()
    assert saving.custom_object_scope is saving.CustomObjectScope
    with saving.custom_object_scope({"A": a}) as scope:
        assert isinstance(scope, saving.CustomObjectScope)
        assert saving.get_registered_object("A") is a
        with saving.custom_object_scope({"B": b}):
            # as in Keras, an inner scope replaces the outer one for its block
            assert saving.get_registered_object("B") is b
            assert saving.get_registered_object("A") is None
        assert saving.get_registered_object("A") is a
        assert saving.get_registered_object("B") is None
    assert saving.get_registered_object("A") is None
    assert "A" not in saving.get_custom_objects()  # a scope never writes into the registry


def test_a_scope_is_restored_after_an_error_and_is_per_thread():
    seen = []
    with pytest.raises(RuntimeError):
        with saving.custom_object_scope({"A": 1}):
            thread = threading.Thread(target=lambda: seen.append(saving.get_registered_object("A")))
            thread.start()
            thread.join()
            raise RuntimeError
    assert seen == [None]
    assert saving.get_registered_object("A") is None


def test_lookup_order_is_scope_registry_then_custom_objects(clean_registry):
    mine, theirs, scoped = object(), object(), object()
    assert saving.get_registered_object("X", custom_objects={"X": mine}) is mine
    saving.get_custom_objects()["X"] = theirs
    assert saving.get_registered_object("X", custom_objects={"X": mine}) is theirs
    with saving.custom_object_scope({"X": scoped}):
        assert saving.get_registered_object("X", custom_objects={"X": mine}) is scoped


# ------------------------------------------------------------------- serialize / deserialize


def test_a_custom_layer_serializes_as_keras_writes_it():
    layer = Linear(3, name="lin")
    entry = saving.serialize_keras_object(layer)
    assert entry == {
        "module": __name__,
        "class_name": "Linear",
        "config": {
            "name": "lin",
            "trainable": True,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": "float32"},
                "registered_name": None,
            },
            "units": 3,
        },
        "registered_name": "SavingTests>Linear",
    }  # not built yet: no build_config
    layer(np.zeros((2, 5), "float32"))
    entry = saving.serialize_keras_object(layer)
    assert entry["build_config"] == {"input_shape": (2, 5)}
    rebuilt = saving.deserialize_keras_object(entry)
    assert type(rebuilt) is Linear and rebuilt.built
    assert (rebuilt.name, rebuilt.units) == ("lin", 3)
    assert [w.shape for w in rebuilt.get_weights()] == [(5, 3), (3,)]


def test_functions_and_builtins_round_trip():
    entry = saving.serialize_keras_object(absolute_error)
    assert entry == {
        "module": "builtins",
        "class_name": "function",
        "config": "SavingTests>absolute_error",
        "registered_name": "function",
    }
    assert saving.deserialize_keras_object(entry) is absolute_error
    relu = saving.serialize_keras_object(activations.relu)
    assert relu["config"] == "relu"
    assert saving.deserialize_keras_object(relu) is activations.relu
    mse = saving.serialize_keras_object(losses.mean_squared_error)
    assert saving.deserialize_keras_object(mse) is losses.mean_squared_error
    dense = saving.deserialize_keras_object(saving.serialize_keras_object(layers.Dense(3)))
    assert type(dense) is layers.Dense and dense.units == 3


def test_losses_metrics_and_plain_values_round_trip():
    loss = saving.deserialize_keras_object(saving.serialize_keras_object(ScaledError(3.0)))
    assert type(loss) is ScaledError and loss.scale == 3.0
    metric = saving.deserialize_keras_object(saving.serialize_keras_object(PredictionSum()))
    assert type(metric) is PredictionSum and metric.name == "prediction_sum"
    builtin = saving.serialize_keras_object(losses.CategoricalCrossentropy())
    assert builtin["module"] == "keras.losses" and builtin["registered_name"] is None
    value = {"a": [1, 2.5, "x", None], "b": (3, 4), "c": np.arange(3), "d": np.float32(0.5)}
    entry = saving.serialize_keras_object(value)
    assert entry["c"] == {
        "class_name": "__numpy__",
        "config": {"value": [0, 1, 2], "dtype": "int64"},
    }
    back = saving.deserialize_keras_object(json.loads(json.dumps(entry)))
    np.testing.assert_array_equal(back["c"], np.arange(3))
    assert back["a"] == [1, 2.5, "x", None] and back["b"] == [3, 4] and back["d"] == 0.5


def test_a_model_round_trips_through_serialize_keras_object():
    model = model_with_custom_layers()
    entry = json.loads(json.dumps(saving.serialize_keras_object(model)))
    rebuilt = saving.deserialize_keras_object(entry)
    rebuilt.set_weights(model.get_weights())
    x, _ = data()
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer) for layer in rebuilt.layers] == [Linear, Block, layers.Dense]


def test_custom_objects_are_found_by_registered_name_then_class_name():
    entry = saving.serialize_keras_object(Unregistered(3.0))
    assert entry["registered_name"] == "Unregistered"
    for custom in ({"Unregistered": Unregistered}, {"Pkg>Unregistered": Unregistered}):
        entry["registered_name"] = next(iter(custom))
        assert type(saving.deserialize_keras_object(entry, custom_objects=custom)) is Unregistered
    with saving.custom_object_scope({"Unregistered": Unregistered}):
        layer = saving.deserialize_keras_object(entry)  # "Pkg>Unregistered", then the class name
    assert layer.factor == 3.0


# ------------------------------------------------------------------------------ .keras files


def test_a_model_with_custom_layers_round_trips_in_a_file(tmp_path):
    model = model_with_custom_layers()
    model.compile(
        optimizer="adam", loss=ScaledError(2.0), metrics=[absolute_error, PredictionSum()]
    )
    x, y = data()
    model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    entries = config_json(tmp_path / "m.keras")["config"]["layers"]
    block = entries[2]
    assert (block["class_name"], block["registered_name"]) == ("Block", "SavingTests>Block")
    assert block["module"] == __name__ and block["build_config"] == {"input_shape": [None, 4]}

    loaded = saving.load_model(tmp_path / "m.keras")
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(loaded.loss) is ScaledError and loaded.loss.scale == 2.0
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert loaded.optimizer.iterations == model.optimizer.iterations


def test_sublayer_weights_sit_under_the_layer_as_keras_writes_them(tmp_path):
    model = model_with_custom_layers()
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert f["layers/linear/vars/0"].shape == (5, 4)
        assert f["layers/block/vars/0"].shape == (3,)  # Block's own weight
        assert f["layers/block/dense/vars/0"].shape == (4, 3)  # self.dense
        assert f["layers/block/stack/linear/vars/0"].shape == (3, 3)  # self.stack[0]
        assert f["layers/block/stack/linear_1/vars/1"].shape == (3,)  # self.stack[1]
        assert f["layers/block/dense/vars"].attrs["name"] == model.layers[1].dense.name
        assert f["layers/dense/vars/0"].shape == (3, 2)
    fresh = model_with_custom_layers()
    fresh.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_subclassed_model_round_trips(tmp_path):
    model = Net(hidden=3, name="my_net")
    x, _ = data()
    model(x[:2])
    model.save(tmp_path / "net.keras")
    config = config_json(tmp_path / "net.keras")
    assert (config["registered_name"], config["module"]) == ("SavingTests>Net", __name__)
    assert config["config"]["hidden"] == 3
    loaded = saving.load_model(tmp_path / "net.keras")
    assert type(loaded) is Net and loaded.name == "my_net" and loaded.hidden == 3
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_an_unregistered_class_loads_when_passed_and_nothing_leaks(tmp_path):
    model = scratchnet.Sequential([Input((5,)), Unregistered(3.0), layers.Dense(2)])
    model.save(tmp_path / "u.keras")
    registry_before = dict(saving.get_custom_objects())
    with pytest.raises(ValueError) as error:
        saving.load_model(tmp_path / "u.keras")
    message = str(error.value)
    assert "'Unregistered'" in message
    assert "custom_objects={'Unregistered': Unregistered}" in message
    assert "register_keras_serializable" in message
    loaded = saving.load_model(tmp_path / "u.keras", custom_objects={"Unregistered": Unregistered})
    assert loaded.layers[0].factor == 3.0
    with saving.custom_object_scope({"Unregistered": Unregistered}):
        assert type(saving.load_model(tmp_path / "u.keras").layers[0]) is Unregistered
    # what load_model and the scope were given does not stay behind
    assert saving.get_custom_objects() == registry_before
    assert saving.get_registered_object("Unregistered") is None
    with pytest.raises(ValueError, match="cannot find the class 'Unregistered'"):
        saving.load_model(tmp_path / "u.keras")


def test_a_file_never_makes_scratchnet_import_a_module(tmp_path):
    path = tmp_path / "m.keras"
    model_with_custom_layers().save(path)

    def point_at_a_module(config):
        entry = config["config"]["layers"][1]
        entry.update(module="evil_module_for_tests", class_name="Payload", registered_name=None)

    rewrite_config(path, point_at_a_module)
    with pytest.raises(ValueError, match=r"'evil_module_for_tests' is neither Keras's nor"):
        saving.load_model(path)
    assert "evil_module_for_tests" not in sys.modules


def test_keras_classes_scratchnet_lacks_and_non_model_functions_are_refused():
    with pytest.raises(ValueError, match=r"'LayerNormalization', which scratchnet does not"):
        saving.deserialize_keras_object(
            {"module": "keras.layers", "class_name": "LayerNormalization", "config": {},
             "registered_name": None}
        )  # fmt: skip
    for module, name in (("keras.saving", "load_model"), ("keras.losses", "get")):
        with pytest.raises(ValueError, match="is not in scratchnet"):
            saving.deserialize_keras_object(
                {"module": module, "class_name": name, "config": {}, "registered_name": None}
            )
    with pytest.raises(ValueError, match="Cannot find the function 'os.system'"):
        saving.deserialize_keras_object(
            {"module": "builtins", "class_name": "function", "config": "os.system"}
        )


def test_lambdas_are_never_saved_or_loaded():
    with pytest.raises(ValueError, match="Cannot save a lambda"):
        saving.serialize_keras_object(lambda x: x)
    entry = {"class_name": "__lambda__", "config": {"value": "..."}}
    with pytest.raises(ValueError, match=r"safe_mode=True"):
        saving.deserialize_keras_object(entry)
    with pytest.raises(ValueError, match="never runs Python bytecode"):
        saving.deserialize_keras_object(entry, safe_mode=False)

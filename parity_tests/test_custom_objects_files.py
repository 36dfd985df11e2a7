"""Your own layers and models in Keras files, both ways, with real Keras.

The custom classes are written once, as text, and run twice: with ``keras`` and with
``scratchnet`` bound to ``lib`` (and each library's ``ops`` to ``ops``), each registered with
``lib.saving.register_keras_serializable(package="CustomObjectFiles")``, so both libraries
know them under the same registered names (``"CustomObjectFiles>Linear"``, ...) and a file
written by one names classes the other can find:

* ``Linear``, Keras's subclassing guide's layer: ``add_weight`` in ``build``, ``call`` with ops;
* ``DenseBlock``: a ``Dense`` sublayer in ``self.dense``, a list of two ``Linear`` in
  ``self.blocks``, and two weights of its own (one not trainable, made first);
* ``Net``: a subclassed model holding a ``DenseBlock`` and a ``Dense`` head, with
  ``get_config`` / ``from_config``;
* for the compile settings: a ``Loss`` subclass, a loss function used as a metric, and a
  ``Metric`` subclass with a state variable.

For a Sequential, a Functional and the subclassed model:

* scratchnet saves, ``keras.saving.load_model`` loads: the same predictions on the same input,
  the same weights and the same optimizer state; and the other way round.
* Both libraries write the same file: the same HDF5 paths and shapes (a layer's sublayers under
  ``layers/dense_block/dense``, ``layers/dense_block/blocks/linear_1``, ...) and the same
  ``config.json`` entries for the custom classes (module, class name, registered name, config,
  build config).

Models run in float64, so "the same" means 1e-10, not "close".
"""

import io
import json
import zipfile

import h5py
import numpy as np
import pytest

import scratchnet
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from parity_tests.compare import F64_RTOL, assert_parity

PACKAGE = "CustomObjectFiles"

SOURCE = """
register = lib.saving.register_keras_serializable(package=PACKAGE)


@register
class Linear(lib.layers.Layer):
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


@register
class DenseBlock(lib.layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = lib.layers.Dense(units, activation="relu")
        self.blocks = [Linear(units), Linear(units)]

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")
        self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

    def call(self, inputs):
        x = self.dense(inputs)
        for block in self.blocks:
            x = block(x)
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register
class Net(lib.Model):
    def __init__(self, hidden=5, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.classes = hidden, classes
        self.block = DenseBlock(hidden)
        self.head = lib.layers.Dense(classes, activation="softmax")

    def call(self, inputs):
        return self.head(ops.relu(self.block(inputs)))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "classes": self.classes}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@register
class ScaledError(lib.losses.Loss):
    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * ops.mean(ops.square(y_true - y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@register
def mean_abs_error(y_true, y_pred):
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


@register
class SumOfPredictions(lib.metrics.Metric):
    def __init__(self, name="sum_of_predictions", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(ops.sum(y_pred))

    def result(self):
        return self.total
"""


def define(lib):
    """The custom classes written with ``lib`` (keras or scratchnet), registered in it."""
    namespace = {"lib": lib, "ops": lib.ops, "PACKAGE": PACKAGE, "__name__": __name__}
    exec(compile(SOURCE, f"<custom classes on {lib.__name__}>", "exec"), namespace)
    return namespace


CLASSES = {keras: define(keras), scratchnet: define(scratchnet)}


def sequential(lib):
    c, L = CLASSES[lib], lib.layers
    return lib.Sequential(
        [lib.Input((4,)), c["Linear"](6), c["DenseBlock"](5), L.Dense(3, activation="softmax")]
    )


def functional(lib):
    c, L = CLASSES[lib], lib.layers
    inputs = lib.Input((4,))
    x = c["DenseBlock"](5)(c["Linear"](6)(inputs))
    return lib.Model(inputs, L.Dense(3, activation="softmax")(x))


def subclassed(lib):
    model = CLASSES[lib]["Net"]()
    model(np.zeros((2, 4)))  # a subclassed model is built by a first call
    return model


BUILDERS = {"sequential": sequential, "functional": functional, "subclassed": subclassed}


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), np.eye(3)[rng.integers(0, 3, n)]


def trained(lib, kind):
    """A compiled model of ``kind``, random weights, trained for one epoch (optimizer state)."""
    reset_seeds(0)
    model = BUILDERS[kind](lib)
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape) for w in model.get_weights()])
    kwargs = COMPILE_KWARGS if lib is keras else {}
    model.compile(
        optimizer=lib.optimizers.Adam(learning_rate=0.01),
        loss="categorical_crossentropy",
        **kwargs,
    )
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    return model


def assert_same_model(ours, theirs, what):
    x, _ = data(seed=5)
    assert_parity(
        ours.predict(x, verbose=0),
        theirs.predict(x, verbose=0),
        rtol=F64_RTOL,
        tensor="y",
        model=what,
    )
    assert len(ours.get_weights()) == len(theirs.get_weights()), f"{what}: weight count"
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_parity(a, b, rtol=0, tensor=f"weight {i}", model=what)
    k_vars = [np.asarray(v) for v in theirs.optimizer.variables]
    assert len(ours.optimizer.variables) == len(k_vars), f"{what}: optimizer variable count"
    for i, (a, b) in enumerate(zip(ours.optimizer.variables, k_vars)):
        assert_parity(a, b, rtol=0, tensor=f"optimizer variable {i}", model=what)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_scratchnet_file_with_custom_objects_opens_in_keras(kind, tmp_path):
    with use_floatx("float64"):
        ours = trained(scratchnet, kind)
        ours.save(tmp_path / "ours.keras")
        theirs = keras.saving.load_model(tmp_path / "ours.keras")
        if kind == "subclassed":
            assert type(theirs) is CLASSES[keras]["Net"]
        else:
            names = [type(layer).__name__ for layer in theirs.layers]
            assert names == [type(layer).__name__ for layer in ours.layers]
            assert [n for n in names if n != "InputLayer"] == ["Linear", "DenseBlock", "Dense"]
        assert_same_model(ours, theirs, f"{kind}: scratchnet .keras -> keras.saving.load_model")


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_keras_file_with_custom_objects_opens_in_scratchnet(kind, tmp_path):
    with use_floatx("float64"):
        theirs = trained(keras, kind)
        theirs.save(tmp_path / "theirs.keras")
        ours = scratchnet.saving.load_model(tmp_path / "theirs.keras")
        if kind == "subclassed":
            assert type(ours) is CLASSES[scratchnet]["Net"]
            assert (ours.hidden, ours.classes) == (5, 3)
        else:
            assert [type(layer).__name__ for layer in ours.layers] == [
                type(layer).__name__ for layer in theirs.layers
            ]
        assert_same_model(ours, theirs, f"{kind}: Keras .keras -> scratchnet.saving.load_model")


def _archive(path):
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            datasets = {}
            f.visititems(
                lambda name, obj: (
                    datasets.update({name: obj.shape}) if isinstance(obj, h5py.Dataset) else None
                )
            )
    return config, datasets


def _custom_entries(config):
    """The entries of config.json that name a custom class, without the names (counters
    differ) and the compile settings (not a custom object's)."""
    found, skipped = [], ("name", "inbound_nodes", "compile_config")

    def visit(node):
        if isinstance(node, dict):
            if str(node.get("registered_name", "")).startswith(PACKAGE + ">"):
                entry = {k: v for k, v in node.items() if k not in skipped}
                entry["config"] = {k: v for k, v in node["config"].items() if k != "name"}
                found.append(entry)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    return found


def _drop_sharing_ids(node):
    """Keras marks objects it wrote twice (the dtype policy) with a 'shared_object_id'."""
    if isinstance(node, dict):
        return {k: _drop_sharing_ids(v) for k, v in node.items() if k != "shared_object_id"}
    if isinstance(node, list):
        return [_drop_sharing_ids(v) for v in node]
    return node


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_both_libraries_write_the_same_file(kind, tmp_path):
    with use_floatx("float64"):
        trained(scratchnet, kind).save(tmp_path / "ours.keras")
        trained(keras, kind).save(tmp_path / "theirs.keras")
    ours_config, ours_datasets = _archive(tmp_path / "ours.keras")
    theirs_config, theirs_datasets = _archive(tmp_path / "theirs.keras")
    assert ours_datasets == theirs_datasets
    assert _custom_entries(ours_config) == _drop_sharing_ids(_custom_entries(theirs_config))
    if kind != "subclassed":
        assert ours_datasets["layers/dense_block/dense/vars/0"] == (6, 5)  # the Dense sublayer
        assert ours_datasets["layers/dense_block/blocks/linear_1/vars/0"] == (5, 5)
        assert ours_datasets["layers/dense_block/vars/0"] == (5,)  # own weights: trainable first
        assert ours_datasets["layers/dense_block/vars/1"] == ()
        block = next(e for e in _custom_entries(ours_config) if e["class_name"] == "DenseBlock")
        assert block["registered_name"] == f"{PACKAGE}>DenseBlock"
        assert block["module"] == __name__
        assert block["build_config"] == {"input_shape": [None, 6]}
        assert block["config"]["units"] == 5
    else:
        assert ours_datasets["block/dense/vars/0"] == (4, 5)  # by attribute: block, head


def test_unregistered_keras_class_loads_with_custom_objects(tmp_path):
    """A class Keras saved without registering it (registered name = class name) loads in
    scratchnet once passed by class name; without it, the error says how to pass it."""
    source = SOURCE.replace("@register\n", "")
    found = {}
    for lib in (keras, scratchnet):
        namespace = {"lib": lib, "ops": lib.ops, "PACKAGE": PACKAGE, "__name__": __name__}
        exec(compile(source, "<unregistered classes>", "exec"), namespace)
        found[lib] = namespace["Linear"]
    with use_floatx("float64"):
        theirs = keras.Sequential([keras.Input((4,)), found[keras](3)])
        theirs.save(tmp_path / "plain.keras")
        with pytest.raises(ValueError, match=r"custom_objects=\{'Linear': Linear\}"):
            scratchnet.saving.load_model(tmp_path / "plain.keras")
        ours = scratchnet.saving.load_model(
            tmp_path / "plain.keras", custom_objects={"Linear": found[scratchnet]}
        )
        assert type(ours.layers[0]) is found[scratchnet]
        x, _ = data()
        assert_parity(
            ours.predict(x, verbose=0),
            theirs.predict(x, verbose=0),
            rtol=F64_RTOL,
            tensor="y",
            model="unregistered Linear: Keras -> scratchnet",
        )


@pytest.mark.parametrize("saver", ["scratchnet", "keras"])
def test_custom_loss_and_metrics_in_compile_settings(saver, tmp_path):
    """compile(loss=ScaledError(2.0), metrics=[mean_abs_error, SumOfPredictions()]) is saved by
    registered name and restored by the other library: the same loss and metric values."""
    libs = {"scratchnet": scratchnet, "keras": keras}
    source, target = libs[saver], libs["keras" if saver == "scratchnet" else "scratchnet"]
    c = CLASSES[source]
    x, y = data()
    with use_floatx("float64"):
        model = sequential(source)
        model.compile(
            optimizer="sgd",
            loss=c["ScaledError"](2.0),
            metrics=[c["mean_abs_error"], c["SumOfPredictions"]()],
            **(COMPILE_KWARGS if source is keras else {}),
        )
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        model.save(tmp_path / "compiled.keras")
        loaded = target.saving.load_model(tmp_path / "compiled.keras")
        assert type(loaded.loss) is CLASSES[target]["ScaledError"]
        assert loaded.loss.scale == 2.0
        want = model.evaluate(x, y, batch_size=4, verbose=0)
        got = loaded.evaluate(x, y, batch_size=4, verbose=0)
    assert_parity(
        np.asarray(got), np.asarray(want), rtol=F64_RTOL, tensor="evaluate()", model=saver
    )

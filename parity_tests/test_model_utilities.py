"""The model utilities against Keras: ``get_layer``, ``model.layers`` with its InputLayer,
``layer.input``/``layer.output``, ``model.inputs``/``outputs``, ``Input(batch_shape=...)``,
``get_config``/``from_config``, ``to_json``/``model_from_json`` (both ways) and ``clone_model``.

Each test builds the same model in both libraries (fresh name counters) and compares what the
user sees: names, types, shapes, error messages, and predictions on shared weights.
"""

import json

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras, reset_seeds
from parity_tests.compare import assert_parity


def functional(lib):
    """Two branches from one input, joined, then a head."""
    L = lib.layers
    x = lib.Input(batch_shape=(None, 6), name="features")
    a = L.Dense(4, activation="relu", name="wide")(x)
    b = L.Dense(3, activation="tanh", name="narrow")(x)
    joined = L.Concatenate(name="join")([a, b])
    return lib.Model(x, L.Dense(2, activation="softmax", name="head")(joined), name="branches")


def sequential(lib):
    L = lib.layers
    return lib.Sequential(
        [lib.Input((6,)), L.Dense(4, activation="relu", name="hidden"), L.Dense(2, name="out")],
        name="stack",
    )


BUILDERS = {"functional": functional, "sequential": sequential}


def pair(kind):
    keras.utils.clear_session()
    theirs = BUILDERS[kind](keras)
    scratchnet.utils.clear_session()
    ours = BUILDERS[kind](scratchnet)
    return ours, theirs


def layer_view(model):
    return [(type(layer).__name__, layer.name) for layer in model.layers]


def error_of(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value).__name__, str(info.value)


def x_data(n=5):
    return np.random.default_rng(0).standard_normal((n, 6)).astype("float32")


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_layers_and_get_layer_are_keras(kind):
    ours, theirs = pair(kind)
    assert layer_view(ours) == layer_view(theirs)  # a Functional model lists its InputLayer
    for i in range(len(theirs.layers)):
        assert ours.get_layer(index=i).name == theirs.get_layer(index=i).name
        assert ours.get_layer(theirs.layers[i].name) is ours.layers[i]
    for kwargs in ({}, {"name": "nothing"}, {"index": 9}, {"name": "head", "index": 1}):
        ours_error = error_of(lambda kw=kwargs: ours.get_layer(**kw))
        assert ours_error == error_of(lambda kw=kwargs: theirs.get_layer(**kw)), kwargs


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_inputs_outputs_and_each_layers_tensors_have_keras_shapes(kind):
    ours, theirs = pair(kind)
    shapes = lambda ts: [tuple(t.shape) for t in ts]  # noqa: E731
    assert shapes(ours.inputs) == shapes(theirs.inputs)
    assert shapes(ours.outputs) == shapes(theirs.outputs)
    if kind == "functional":  # Keras's Sequential has inputs and outputs, but no input/output
        assert tuple(ours.input.shape) == tuple(theirs.input.shape)
        assert tuple(ours.output.shape) == tuple(theirs.output.shape)
    for o, t in zip(ours.layers, theirs.layers):
        assert tuple(o.output.shape) == tuple(t.output.shape), t.name
        o_in, t_in = o.input, t.input
        if isinstance(t_in, list):
            assert shapes(o_in) == shapes(t_in), t.name
        else:
            assert tuple(o_in.shape) == tuple(t_in.shape), t.name


def test_layer_without_a_call_and_sequential_without_an_input_say_so_as_keras():
    keras.utils.clear_session()
    scratchnet.utils.clear_session()
    assert error_of(lambda: scratchnet.layers.Dense(3).input) == error_of(
        lambda: keras.layers.Dense(3).input
    )
    ours, theirs = scratchnet.Sequential(name="empty"), keras.Sequential(name="empty")
    assert error_of(lambda: ours.inputs) == error_of(lambda: theirs.inputs)


@pytest.mark.parametrize("shape", [(None, 6), (3, 6), (None, 4, 5)])
def test_input_batch_shape_is_keras(shape):
    ours, theirs = scratchnet.Input(batch_shape=shape), keras.Input(batch_shape=shape)
    assert tuple(ours.shape) == tuple(theirs.shape)


def same_predictions(ours, theirs, what):
    x = x_data()
    assert_parity(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6, tensor=what)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_json_moves_both_ways_with_keras(kind):
    ours, theirs = pair(kind)
    ours.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    theirs.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    from_ours = keras.models.model_from_json(ours.to_json())
    from_theirs = scratchnet.models.model_from_json(theirs.to_json())
    assert layer_view(from_ours) == layer_view(theirs)
    assert layer_view(from_theirs) == layer_view(ours)
    assert from_ours.compiled and from_theirs.compiled
    assert type(from_theirs.optimizer).__name__ == "Adam"
    reset_seeds(0)
    weights = theirs.get_weights()
    for model in (from_ours, from_theirs):
        model.set_weights(weights)
    same_predictions(from_theirs, from_ours, f"{kind}: predictions after both JSON trips")
    assert json.loads(ours.to_json())["class_name"] == json.loads(theirs.to_json())["class_name"]


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_get_config_and_from_config_move_both_ways_with_keras(kind):
    ours, theirs = pair(kind)
    ours_cls = scratchnet.Model if kind == "functional" else scratchnet.Sequential
    theirs_cls = keras.Model if kind == "functional" else keras.Sequential
    assert sorted(ours.get_config()) == sorted(theirs.get_config())
    again_ours = ours_cls.from_config(theirs.get_config())
    again_theirs = theirs_cls.from_config(ours.get_config())
    assert layer_view(again_ours) == layer_view(theirs)
    assert layer_view(again_theirs) == layer_view(ours)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_clone_model_is_keras(kind):
    ours, theirs = pair(kind)
    ours.compile(optimizer="sgd", loss="mse")
    theirs.compile(optimizer="sgd", loss="mse")
    our_clone, their_clone = scratchnet.models.clone_model(ours), keras.models.clone_model(theirs)
    assert (our_clone.name, layer_view(our_clone)) == (their_clone.name, layer_view(their_clone))
    assert our_clone.compiled == their_clone.compiled
    assert type(our_clone.optimizer).__name__ == type(their_clone.optimizer).__name__
    pairs = zip(our_clone.get_weights(), ours.get_weights())
    assert not any(np.array_equal(a, b) for a, b in pairs if a.ndim > 1), "new kernels"
    assert all(a is not b for a, b in zip(our_clone.layers, ours.layers))
    our_clone.set_weights(theirs.get_weights())
    same_predictions(our_clone, theirs, f"{kind}: clone with the original's weights")


def insert_dropout(lib):
    def call_function(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        if isinstance(layer, lib.layers.Dense) and layer.name != "head":
            out = lib.layers.Dropout(0.5, name=f"{layer.name}_dropout")(out)
        return out

    return call_function


def test_clone_model_with_clone_call_functions_and_new_inputs_is_keras():
    ours, theirs = pair("functional")

    def renamed(lib):
        def clone(layer):
            config = layer.get_config()
            config["name"] = "copy_of_" + config["name"]
            return layer.__class__.from_config(config)

        return clone

    made = {}
    for lib, model in ((scratchnet, ours), (keras, theirs)):
        new_input = lib.Input((6,), name="fresh")
        made[lib] = lib.models.clone_model(
            model,
            input_tensors=new_input,
            clone_function=renamed(lib),
            call_function=insert_dropout(lib),
        )
    assert layer_view(made[scratchnet]) == layer_view(made[keras])
    made[scratchnet].set_weights(made[keras].get_weights())
    same_predictions(made[scratchnet], made[keras], "clone with Dropout inserted (inference)")

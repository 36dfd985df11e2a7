"""Nested models against Keras: a model called as a layer, trained through, saved and loaded.

Each model is written once as a function of the library:

* ``functional_of_both``: a Sequential and a Functional model inside a Functional model;
* ``sequential_of_models``: a Sequential and a Functional model as layers of a Sequential;
* ``inner_output``: a nested Functional model whose output is the outer model's output
  (Keras writes that reference with the call counted from 1);
* ``shared_inner``: one Functional model called on two tensors (a shared nested model);
* ``convnet_blocks``: convolution blocks as Sequential models inside a Functional CNN
  (the Conv2D + MaxPooling2D inside a block still fuse, as in any Sequential).

Keras's initial weights are copied into scratchnet; numbers are compared in float64: the
outputs, every weight's gradient (the inner models' weights too), a training run, and the
``.keras`` files, each library loading the other's.
"""

import json

import numpy as np
import pytest

import scratchnet
from keras_impl.gradients import model_outputs_and_gradients
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from keras_impl.training import record_fit
from parity_tests.compare import F64_RTOL, GRADIENT_FLOOR, TRAJECTORY_F64_RTOL, assert_parity
from parity_tests.runners import assert_model_and_gradients_match, assert_training_matches

LINE_LENGTH = 80  # rich crops wider lines at its 80-column default width when captured


def _inner_sequential(lib, name="inner_seq"):
    L = lib.layers
    return lib.Sequential(
        [lib.Input((6,)), L.Dense(5, activation="relu", name=f"{name}_a"), L.Dense(6)], name=name
    )


def _inner_functional(lib, units=4, name="inner_fun", inputs=6):
    L = lib.layers
    x = lib.Input((inputs,), name=f"{name}_in")
    return lib.Model(x, L.Dense(units, activation="tanh", name=f"{name}_dense")(x), name=name)


def functional_of_both(lib):
    L = lib.layers
    x = lib.Input((6,), name="x")
    h = _inner_sequential(lib)(x)
    y = _inner_functional(lib)(L.Add(name="add")([h, x]))
    return lib.Model(x, L.Dense(3, activation="softmax", name="head")(y), name="outer")


def sequential_of_models(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((6,)),
            _inner_sequential(lib, "first"),
            _inner_functional(lib),
            L.Dense(3, activation="softmax", name="head"),
        ],
        name="outer_seq",
    )


def inner_output(lib):
    L = lib.layers
    x = lib.Input((6,), name="x")
    head = _inner_functional(lib, units=3, name="head_model", inputs=5)
    return lib.Model(x, head(L.Dense(5, activation="relu", name="pre")(x)), name="outer")


def shared_inner(lib):
    L = lib.layers
    x = lib.Input((6,), name="x")
    block = _inner_functional(lib, units=6, name="block")
    y = L.Concatenate(name="cat")([block(x), block(L.Dense(6, name="pre")(x))])
    return lib.Model(x, L.Dense(3, activation="softmax", name="head")(y), name="outer")


def convnet_blocks(lib):
    L = lib.layers

    def block(filters, name):
        return lib.Sequential(
            [L.Conv2D(filters, 3, activation="relu", padding="same"), L.MaxPooling2D()], name=name
        )

    x = lib.Input((8, 8, 1), name="image")
    h = block(4, "block_2")(block(3, "block_1")(x))
    return lib.Model(x, L.Dense(3, activation="softmax")(L.Flatten()(h)), name="cnn")


MODELS = {
    "functional_of_both": functional_of_both,
    "sequential_of_models": sequential_of_models,
    "inner_output": inner_output,
    "shared_inner": shared_inner,
    "convnet_blocks": convnet_blocks,
}
INPUTS = {name: (6,) for name in MODELS} | {"convnet_blocks": (8, 8, 1)}


def pair(name, n, seed=0):
    """(scratchnet model, Keras model, x, y), Keras's initial weights copied into scratchnet,
    with fresh name counters on both sides."""
    keras.utils.clear_session()
    scratchnet.utils.clear_session()
    reset_seeds(seed)
    theirs = MODELS[name](keras)
    ours = MODELS[name](scratchnet)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *INPUTS[name]))
    y = np.eye(3)[rng.integers(0, 3, n)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs, x, y


def as_json(config):
    """A config as config.json holds it (tuples become lists)."""
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_nested_model_layers_weights_and_gradients_match_keras(name):
    with use_floatx("float64"):
        ours, theirs, x, y = pair(name, n=5)
        assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
        assert [type(layer).__name__ for layer in ours.layers] == [
            type(layer).__name__ for layer in theirs.layers
        ]
        assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
        assert_model_and_gradients_match(ours, theirs, x, y, name)


@pytest.mark.parametrize(
    "name, optimizer",
    [
        ("functional_of_both", "adam"),
        ("sequential_of_models", "sgd"),
        ("shared_inner", "adam"),
        ("convnet_blocks", "adam"),
    ],
)
def test_training_through_nested_models_matches_keras(name, optimizer):
    with use_floatx("float64"):
        ours, theirs, x, y = pair(name, n=24, seed=3)
        assert_training_matches(ours, theirs, x, y, name, optimizer)


def test_a_frozen_inner_model_is_not_trained_as_in_keras():
    """``inner.trainable = False`` freezes every layer in it: no gradient, no update, and the
    summary's Trainable column says N for them."""
    with use_floatx("float64"):
        ours, theirs, x, y = pair("functional_of_both", n=16, seed=4)
        for model in (ours, theirs):
            model.get_layer("inner_seq").trainable = False
        assert len(ours.trainable_weights) == len(theirs.trainable_weights)
        assert len(ours.non_trainable_weights) == len(theirs.non_trainable_weights)
        frozen = ours.get_layer("inner_seq").get_weights()
        ours.compile(optimizer="adam", loss="categorical_crossentropy")
        theirs.compile(optimizer="adam", loss="categorical_crossentropy", **COMPILE_KWARGS)
        r_ours = record_fit(ours, scratchnet, x, y, batch_size=8, epochs=1)
        r_theirs = record_fit(theirs, keras, x, y, batch_size=8, epochs=1)
        for a, b in zip(ours.get_layer("inner_seq").get_weights(), frozen, strict=True):
            np.testing.assert_array_equal(a, b)
        assert_parity(
            r_ours["step_loss"],
            r_theirs["step_loss"],
            rtol=TRAJECTORY_F64_RTOL,
            tensor="step losses (frozen inner model)",
        )
        assert summary_text(ours, show_trainable=True, expand_nested=True) == summary_text(
            theirs, show_trainable=True, expand_nested=True
        )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_nested_model_config_and_files_move_both_ways(name, tmp_path):
    ours, theirs, x, _ = pair(name, n=3)
    assert as_json(ours.get_config()) == as_json(theirs.get_config())
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    from_keras = scratchnet.models.load_model(tmp_path / "theirs.keras")
    from_ours = keras.models.load_model(tmp_path / "ours.keras")
    expected = theirs.predict(x, verbose=0)
    assert_parity(
        from_keras.predict(x, verbose=0),
        expected,
        rtol=1e-6,
        tensor="y (Keras's file in scratchnet)",
        model=name,
    )
    assert_parity(
        from_ours.predict(x, verbose=0),
        expected,
        rtol=1e-6,
        tensor="y (scratchnet's file in Keras)",
        model=name,
    )
    assert [type(layer).__name__ for layer in from_keras.layers] == [
        type(layer).__name__ for layer in theirs.layers
    ]


def summary_text(model, **kwargs):
    lines = []
    model.summary(
        line_length=LINE_LENGTH,
        print_fn=lambda line, line_break=None: lines.append(line),
        **kwargs,
    )
    return "".join(lines).rstrip()


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("expand_nested", [False, True])
@pytest.mark.parametrize("show_trainable", [False, True])
def test_nested_model_summary_equals_keras(name, expand_nested, show_trainable):
    ours, theirs, _, _ = pair(name, n=2)
    kwargs = {"expand_nested": expand_nested, "show_trainable": show_trainable}
    ours_text, theirs_text = summary_text(ours, **kwargs), summary_text(theirs, **kwargs)
    assert ours_text == theirs_text, f"--- scratchnet\n{ours_text}\n--- keras\n{theirs_text}"


def subclassed(lib):
    L = lib.layers

    class Head(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = _inner_sequential(lib, "encoder")
            self.dense = L.Dense(3, activation="softmax")

        def call(self, inputs, training=False):
            return self.dense(self.encoder(inputs) + inputs)

    return Head(name="head")


def test_a_model_inside_a_subclassed_model_trains_and_prints_as_in_keras():
    """A Sequential model as an attribute of a subclassed model: its layers are ops of the
    subclassed model's graph (gradients flow into them), and the summary lists it."""
    with use_floatx("float64"):
        keras.utils.clear_session()
        scratchnet.utils.clear_session()
        reset_seeds(5)
        theirs, ours = subclassed(keras), subclassed(scratchnet)
        x = np.random.default_rng(5).standard_normal((6, 6))
        theirs(x[:1]), ours(x[:1])
        ours.set_weights(theirs.get_weights())
        dy = np.random.default_rng(6).standard_normal((6, 3))
        k_y, k_grads = model_outputs_and_gradients(theirs, x, dy, training=True)
        s_y = ours.forward(x, training=True)
        ours.backward(dy)
        assert_parity(s_y, k_y, rtol=F64_RTOL, tensor="y", model="subclassed")
        for g_ours, g_theirs in zip(ours.gradients(), k_grads, strict=True):
            assert_parity(
                g_ours,
                g_theirs,
                rtol=F64_RTOL,
                tensor="dw",
                model="subclassed",
                floor=GRADIENT_FLOOR,
            )
        for expand_nested in (False, True):
            assert summary_text(ours, expand_nested=expand_nested) == summary_text(
                theirs, expand_nested=expand_nested
            )


@pytest.mark.parametrize("built", [False, True])
def test_subclassed_model_summary_equals_keras(built):
    """A subclassed model's summary: "?" and "0 (unbuilt)" before data; after, each layer's
    shape for the batch it was built on, except for the layers Keras builds when it makes them
    (pooling, Dropout: "?")."""
    from parity_tests.test_functional_parity import seminar_subclassed

    keras.utils.clear_session()
    scratchnet.utils.clear_session()
    theirs, ours = seminar_subclassed(keras), seminar_subclassed(scratchnet)
    if built:
        x = np.zeros((2, 28, 28, 1), "float32")
        theirs(x), ours(x)
    for show_trainable in (False, True):
        ours_text = summary_text(ours, show_trainable=show_trainable)
        theirs_text = summary_text(theirs, show_trainable=show_trainable)
        assert ours_text == theirs_text, f"--- scratchnet\n{ours_text}\n--- keras\n{theirs_text}"


def subclassed_inside(lib):
    """A subclassed model (``Head`` above, itself holding a Sequential) as a layer of a
    Sequential and of a Functional model."""
    L = lib.layers
    x = lib.Input((6,), name="x")
    branch = subclassed(lib)
    functional = lib.Model(x, L.Dense(3, activation="softmax", name="out")(branch(x)))
    return lib.Sequential([lib.Input((6,)), functional, L.Dense(2)], name="outer")


def test_a_subclassed_model_inside_sequential_and_functional_models_trains_as_in_keras():
    with use_floatx("float64"):
        keras.utils.clear_session()
        scratchnet.utils.clear_session()
        reset_seeds(7)
        theirs, ours = subclassed_inside(keras), subclassed_inside(scratchnet)
        ours.set_weights(theirs.get_weights())
        rng = np.random.default_rng(7)
        x, y = rng.standard_normal((16, 6)), rng.standard_normal((16, 2))
        dy = rng.standard_normal((16, 2))
        k_y, k_grads = model_outputs_and_gradients(theirs, x, dy, training=True)
        s_y = ours.forward(x, training=True)
        ours.backward(dy)
        assert_parity(s_y, k_y, rtol=F64_RTOL, tensor="y", model="subclassed inside")
        for g_ours, g_theirs in zip(ours.gradients(), k_grads, strict=True):
            assert_parity(
                g_ours,
                g_theirs,
                rtol=F64_RTOL,
                tensor="dw",
                model="subclassed inside",
                floor=GRADIENT_FLOOR,
            )
        ours.compile(optimizer="adam", loss="mse")
        theirs.compile(optimizer="adam", loss="mse", **COMPILE_KWARGS)
        r_ours = record_fit(ours, scratchnet, x, y, batch_size=8, epochs=2)
        r_theirs = record_fit(theirs, keras, x, y, batch_size=8, epochs=2)
        assert_parity(
            r_ours["step_loss"],
            r_theirs["step_loss"],
            rtol=TRAJECTORY_F64_RTOL,
            tensor="step losses",
            model="subclassed inside",
        )


@pytest.mark.parametrize("recursive", [False, True])
@pytest.mark.parametrize("name", ["functional_of_both", "sequential_of_models", "shared_inner"])
def test_clone_model_of_nested_models_as_keras(name, recursive):
    """``clone_model``: new weights, the same structure; with ``recursive`` the nested models
    are cloned layer by layer through ``clone_function`` (here it renames each layer)."""

    def renamed(layer):
        return layer.__class__.from_config({**layer.get_config(), "name": "c_" + layer.name})

    def names(model):
        return [
            (layer.name, names(layer)) if hasattr(layer, "layers") else layer.name
            for layer in model.layers
        ]

    ours, theirs, x, _ = pair(name, n=3)
    clones = [
        lib.models.clone_model(m, clone_function=renamed, recursive=recursive)
        for lib, m in ((scratchnet, ours), (keras, theirs))
    ]
    assert names(clones[0]) == names(clones[1])
    for clone, model in zip(clones, (ours, theirs)):
        assert all(a is not b for a, b in zip(clone.weights, model.weights))
        clone.set_weights(model.get_weights())
    assert_parity(
        clones[0].predict(x, verbose=0),
        clones[1].predict(x, verbose=0),
        rtol=1e-6,
        tensor="y (clone)",
        model=name,
    )


def sequential_of_subclassed(lib):
    return lib.Sequential([lib.Input((6,)), subclassed(lib), lib.layers.Dense(2)], name="outer")


@pytest.mark.parametrize("build", [subclassed_inside, sequential_of_subclassed])
@pytest.mark.parametrize("expand_nested", [False, True])
def test_summary_of_a_subclassed_model_inside_others_equals_keras(build, expand_nested):
    """Traced on an Input, a subclassed model's layers show a batch axis of None, as Keras's;
    default model names follow Keras's counters (a Sequential takes a "functional" name)."""
    keras.utils.clear_session()
    scratchnet.utils.clear_session()
    theirs, ours = build(keras), build(scratchnet)
    for show_trainable in (False, True):
        kwargs = {"expand_nested": expand_nested, "show_trainable": show_trainable}
        ours_text, theirs_text = summary_text(ours, **kwargs), summary_text(theirs, **kwargs)
        assert ours_text == theirs_text, f"--- scratchnet\n{ours_text}\n--- keras\n{theirs_text}"

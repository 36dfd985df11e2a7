"""The Functional API without Keras: merge and reshaping layers, graph backprop, summary, example.

The key lesson checked here: a tensor read by two layers receives the sum of their gradients.
Finite differences in float64 check it on a small graph whose first hidden tensor feeds two
branches.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchnet
from scratchnet import Input, layers, utils

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def float64():
    scratchnet.config.set_floatx("float64")
    yield
    scratchnet.config.set_floatx("float32")


def numeric_grad(f, array, eps=1e-6):
    """Central differences of the scalar ``f()`` with respect to every entry of ``array``."""
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]
        array[i] = old + eps
        up = f()
        array[i] = old - eps
        down = f()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


# ----------------------------------------------------------------------------- layers


LAYER_CASES = [
    ("concatenate", lambda: layers.Concatenate(), [(2, 3, 4, 2), (2, 3, 4, 3)]),
    ("concatenate axis 1", lambda: layers.Concatenate(axis=1), [(2, 2, 5), (2, 3, 5), (2, 1, 5)]),
    ("add", lambda: layers.Add(), [(2, 3, 4, 2), (2, 3, 4, 2), (2, 3, 4, 2)]),
    ("zero padding", lambda: layers.ZeroPadding2D(((1, 2), (0, 3))), [(2, 3, 4, 2)]),
    ("cropping", lambda: layers.Cropping2D(((1, 0), (2, 1))), [(2, 4, 5, 2)]),
]


@pytest.mark.parametrize("name, make, shapes", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_backward_matches_finite_differences(float64, name, make, shapes):
    rng = np.random.default_rng(0)
    layer = make()
    xs = [rng.standard_normal(s) for s in shapes]
    arg = xs if len(xs) > 1 else xs[0]
    y = layer(arg, training=True)
    dy = rng.standard_normal(y.shape)  # random, never all-ones: ones hide mirrored gradients
    dxs = layer.backward(dy)
    dxs = dxs if isinstance(dxs, list) else [dxs]
    assert y.shape == layer.compute_output_shape(
        [x.shape for x in xs] if len(xs) > 1 else xs[0].shape
    )
    for x, dx in zip(xs, dxs):
        expected = numeric_grad(lambda: float(np.sum(layer(arg) * dy)), x)  # fake loss sum(y * dy)
        np.testing.assert_allclose(dx, expected, rtol=1e-7, atol=1e-9, err_msg=f"{name}: dx")
    dy_before = dy.copy()
    layer(arg, training=True)
    layer.backward(dy)
    np.testing.assert_array_equal(dy, dy_before)  # backward never modifies dy


def test_merge_layers_explain_bad_shapes():
    with pytest.raises(ValueError, match=r"Cropping2D, layers.ZeroPadding2D"):
        layers.concatenate([Input((6, 6, 2)), Input((8, 8, 2))])
    with pytest.raises(ValueError, match="same shape"):
        layers.add([Input((6, 6, 2)), Input((6, 6, 3))])
    with pytest.raises(ValueError, match="called on a list"):
        layers.Concatenate()(Input((6, 6, 2)))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.Add()([Input((6,))])
    concat = layers.Concatenate()
    concat([np.zeros((2, 3, 3, 1)), np.zeros((2, 3, 3, 2))])
    with pytest.raises(ValueError, match="every axis but the concatenation axis"):
        concat([np.zeros((2, 3, 3, 1)), np.zeros((2, 4, 3, 2))])
    with pytest.raises(ValueError, match="removes all"):
        layers.Cropping2D(2)(Input((4, 4, 1)))
    with pytest.raises(ValueError, match="pair of pairs"):
        layers.ZeroPadding2D((1, 2, 3))


def test_padding_and_cropping_configs_use_keras_form():
    assert layers.ZeroPadding2D(1).get_config()["padding"] == ((1, 1), (1, 1))
    assert layers.ZeroPadding2D((1, 2)).padding == ((1, 1), (2, 2))
    assert layers.Cropping2D(((0, 1), (2, 3))).get_config()["cropping"] == ((0, 1), (2, 3))
    assert layers.Concatenate(axis=1).get_config()["axis"] == 1


# ----------------------------------------------------------------------------- graphs


def shared_tensor_model():
    """x -> h = Dense(4, tanh); h feeds two branches; their sum -> Dense(2)."""
    inputs = Input((3,))
    h = layers.Dense(4, activation="tanh")(inputs)
    left = layers.Dense(3, activation="sigmoid")(h)
    right = layers.Dense(3)(h)
    merged = layers.add([left, right])
    both = layers.concatenate([merged, h])  # h is read a third time
    return scratchnet.Model(inputs, layers.Dense(2)(both))


def test_shared_tensor_gradient_is_the_sum_over_its_readers(float64):
    utils.set_random_seed(0)
    model = shared_tensor_model()
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    _, grads = model.compute_loss_and_gradients(x, y)
    grads = [g.copy() for g in grads]

    def loss():
        return float(model.loss(y, model(x)))

    for w, g in zip([v.value for v in model.trainable_weights], grads):
        np.testing.assert_allclose(g, numeric_grad(loss, w), rtol=1e-6, atol=1e-9)
    # The first Dense's gradient really is a sum of three paths: drop one and it changes.
    first = model.layers[1]  # after the InputLayer, as in Keras
    assert first.units == 4 and np.abs(grads[0]).sum() > 0


def shared_layer_model():
    """A Conv2D + MaxPooling2D pair and a PReLU each called on two tensors (shared layers)."""
    inputs = Input((6, 6, 2))
    conv, pool, prelu = (
        layers.Conv2D(2, 3),
        layers.MaxPooling2D(),
        layers.PReLU(alpha_initializer="random_uniform"),
    )
    left = prelu(pool(conv(inputs)))
    right = prelu(pool(conv(layers.Conv2D(2, 1)(inputs))))
    both = layers.concatenate([left, right])
    return scratchnet.Model(inputs, layers.Dense(2)(layers.Flatten()(both)))


def test_a_shared_layer_gets_the_sum_of_its_calls_gradients(float64):
    """Each call is its own node on the tape, with its own caches; the weights' gradients add
    up over the calls (finite differences of the loss). A shared Conv2D is not fused with the
    pooling after it: the trace shows each call of it."""
    utils.set_random_seed(0)
    model = shared_layer_model()
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 6, 6, 2)), rng.standard_normal((3, 2))
    _, grads = model.compute_loss_and_gradients(x, y)
    grads = [g.copy() for g in grads]

    def loss():
        return float(model.loss(y, model(x)))

    for v, g in zip(model.trainable_weights, grads):
        np.testing.assert_allclose(g, numeric_grad(loss, v.value), rtol=1e-6, atol=1e-9,
                                   err_msg=v.name)  # fmt: skip
    lines = utils.trace(model, x).splitlines()
    assert sum("(Conv2D)" in line for line in lines) == 3
    assert not any("ConvPool" in line for line in lines)
    assert len(model.layers) == 8  # each shared layer once


def test_functional_layer_order_is_keras_order():
    """Keras orders by depth (longest path to the output), ties by a depth-first walk."""
    inputs = Input((8, 8, 1))
    a = layers.Conv2D(2, 3, name="a")(inputs)
    b = layers.Conv2D(2, 5, padding="same", name="b")(inputs)
    merged = layers.concatenate([b, layers.ZeroPadding2D(1, name="pad_a")(a)], name="join")
    model = scratchnet.Model(
        inputs, layers.Dense(2, name="out")(layers.Flatten(name="flat")(merged))
    )
    names = ["a", "b", "pad_a", "join", "flat", "out"]
    assert [layer.name for layer in model.layers] == [inputs.name] + names  # InputLayer first
    kernels = [w.shape for w in model.get_weights()]
    assert kernels[0] == (3, 3, 1, 2) and kernels[2] == (5, 5, 1, 2)


def two_branch(filters=4):
    inputs = Input((28, 28, 1))
    a = layers.Conv2D(filters, 3, activation="relu")(inputs)
    b = layers.Conv2D(filters, 5, activation="relu", padding="same")(inputs)
    merged = layers.concatenate([a, layers.Cropping2D(1)(b)])
    x = layers.Flatten()(layers.MaxPooling2D()(merged))
    return scratchnet.Model(inputs=inputs, outputs=layers.Dense(10, activation="softmax")(x))


def test_two_branch_model_trains():
    utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y_int = rng.integers(0, 10, 64)
    x = rng.random((64, 28, 28, 1)).astype("float32") * 0.1
    for i, label in enumerate(y_int):  # a learnable cue: a bright square whose place is the class
        x[i, 2 * label : 2 * label + 4, 2 * label : 2 * label + 4, 0] = 1.0
    y = utils.to_categorical(y_int, 10)
    model = two_branch()
    model.compile(
        optimizer=scratchnet.optimizers.Adam(0.01),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.5
    assert model.predict(x[:3], verbose=0).shape == (3, 10)
    assert model.count_params() == 40 + 104 + 13 * 13 * 8 * 10 + 10


def test_summary_shows_connections_like_keras():
    """The exact text Keras 3.15 prints (80-column terminal) for this graph."""
    inputs = Input((28, 28, 1), name="input_layer_1")
    a = layers.Conv2D(4, 3, activation="relu", name="conv2d_1")(inputs)
    b = layers.Conv2D(4, 5, activation="relu", padding="same", name="conv2d_2")(inputs)
    padded = layers.ZeroPadding2D(1, name="zero_padding2d")(a)
    merged = layers.concatenate([padded, b], name="concatenate")
    x = layers.Flatten(name="flatten_1")(layers.MaxPooling2D(name="max_pooling2d_1")(merged))
    model = scratchnet.Model(inputs, layers.Dense(10, name="dense_1")(x), name="functional_1")
    lines = []
    model.summary(line_length=76, print_fn=lines.append)
    expected = """\
Model: "functional_1"
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ input_layer_1       │ (None, 28, 28, 1) │          0 │ -                 │
│ (InputLayer)        │                   │            │                   │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ conv2d_1 (Conv2D)   │ (None, 26, 26, 4) │         40 │ input_layer_1[0]… │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ zero_padding2d      │ (None, 28, 28, 4) │          0 │ conv2d_1[0][0]    │
│ (ZeroPadding2D)     │                   │            │                   │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ conv2d_2 (Conv2D)   │ (None, 28, 28, 4) │        104 │ input_layer_1[0]… │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ concatenate         │ (None, 28, 28, 8) │          0 │ zero_padding2d[0… │
│ (Concatenate)       │                   │            │ conv2d_2[0][0]    │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ max_pooling2d_1     │ (None, 14, 14, 8) │          0 │ concatenate[0][0] │
│ (MaxPooling2D)      │                   │            │                   │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ flatten_1 (Flatten) │ (None, 1568)      │          0 │ max_pooling2d_1[… │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense_1 (Dense)     │ (None, 10)        │     15,690 │ flatten_1[0][0]   │
└─────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 15,834 (61.85 KB)
 Trainable params: 15,834 (61.85 KB)
 Non-trainable params: 0 (0.00 B)"""
    assert lines[0] == expected


def test_chain_shaped_functional_summary_has_no_connections_column():
    inputs = Input((4,), name="in")
    model = scratchnet.Model(inputs, layers.Dense(2)(layers.Dense(3)(inputs)))
    lines = []
    model.summary(line_length=76, print_fn=lines.append)
    assert "Connected to" not in lines[0]
    assert "│ in (InputLayer)" in lines[0]


def test_two_branch_example_runs(tmp_path):
    """examples/two_branch.py in a quick --limit run (both APIs, scratchnet)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "examples.two_branch",
            "--limit",
            "128",
            "--epochs",
            "1",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "reloaded, it predicts the same: True" in done.stdout
    assert "a fresh instance loads them and predicts the same: True" in done.stdout
    assert "RESULT example=two_branch impl=scratchnet" in done.stdout


def test_multi_input_model_on_bad_data_names_the_inputs():
    """np.asarray would stack two same-shaped arrays into one and feed it to the first input: a
    list of the wrong length, a dict with unknown keys, one array for two inputs and arrays of
    different lengths each get a ValueError naming the model and the inputs."""
    a, b = Input((4,), name="left"), Input((4,), name="right")
    model = scratchnet.models.Model([a, b], layers.Add()([layers.Dense(2)(a), layers.Dense(2)(b)]))
    model.compile(optimizer="sgd", loss="mse")
    one = np.ones((3, 4), "float32")
    y = np.zeros((3, 2), "float32")
    cases = [
        ([one], r"2 inputs \['left', 'right'\].*list of 1"),
        ({"left": one, "middle": one}, r"unknown: \['middle'\]"),
        (one, r"2 inputs.*one ndarray"),
        ([one, one[:2]], r"different numbers of samples.*'left'\]: 3.*'right'\]: 2"),
    ]
    for x, message in cases:
        for run in (model.predict, lambda x: model.fit(x, y, verbose=0)):
            with pytest.raises(ValueError, match=message):
                run(x)
    assert model.predict({"left": one, "right": one}, verbose=0).shape == (3, 2)


def test_input_takes_shape_or_batch_shape_and_names_the_mistake():
    assert scratchnet.Input(batch_shape=(8, 3)).shape == (8, 3)
    assert scratchnet.Input(3, batch_size=2).shape == (2, 3)
    with pytest.raises(ValueError, match=r"either shape \(and batch_size\) or batch_shape"):
        scratchnet.Input((3,), batch_shape=(None, 3))
    with pytest.raises(ValueError, match="give the per-sample shape"):
        scratchnet.Input()
    with pytest.raises(ValueError, match="positive int or None"):
        scratchnet.Input((0, 3))

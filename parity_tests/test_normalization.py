"""BatchNormalization against Keras on shared weights.

* one layer, hypothesis-drawn shapes, axis, center/scale, momentum, epsilon, synchronized:
  forward y, dx, dgamma, dbeta under a random upstream gradient, in training mode (then the
  moving statistics after the call too) and in inference mode (moving statistics as constants);
* the moving-statistics update bit for bit, on data whose batch statistics are exact;
* weights (names, order, shapes, counts) and ``get_config`` against Keras's;
* ``fit`` of small models from the same weights: per-step and per-epoch losses, all four
  BatchNormalization weights and the others after training, and ``evaluate`` afterwards;
* ``.keras`` files both ways (the class registered in this test only).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.gradients import layer_outputs_and_gradients
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from keras_impl.training import record_fit
from parity_tests.compare import (
    GRADIENT_FLOOR,
    LOSS_FLOOR,
    TRAJECTORY_F32_RTOL,
    TRAJECTORY_F64_RTOL,
    assert_parity,
    rtol_for,
)
from parity_tests.runners import scratchnet_layer_step
from parity_tests.strategies import arrays, upstream_gradients
from scratchnet.layers.normalization import BatchNormalization
from scratchnet.saving import objects

DTYPES = ("float64", "float32")
LAYER = "BatchNormalization"


@st.composite
def batch_norm_cases(draw):
    """``(kwargs, input_shape)``: a rank 2-4 input with a batch of 2-5 and any non-batch axis
    (written positive or negative), so every channel has at least 2 values to average."""
    rank = draw(st.integers(2, 4), label="rank")
    shape = (draw(st.integers(2, 5)),) + tuple(
        draw(st.lists(st.integers(1, 4), min_size=rank - 1, max_size=rank - 1))
    )
    axis = draw(st.integers(1, rank - 1), label="axis")
    if draw(st.booleans()):
        axis -= rank  # the same axis counted from the end
    kwargs = {
        "axis": axis,
        "momentum": draw(st.sampled_from((0.99, 0.9, 0.5, 0.0))),
        "epsilon": draw(st.sampled_from((1e-3, 1e-5, 0.1))),
        "center": draw(st.booleans()),
        "scale": draw(st.booleans()),
        "synchronized": draw(st.booleans()),
    }
    return kwargs, shape


def shared_weights(names, shape, dtype, seed):
    """Random values for weights named ``names``, each of ``shape``; the variance positive."""
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        value = rng.standard_normal(shape)
        out.append((0.5 + np.abs(value) if name == "moving_variance" else value).astype(dtype))
    return out


def layer_pair(kwargs, shape, dtype, seed):
    """Both layers built on ``shape`` with the same random weights (inside ``use_floatx``)."""
    ours, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    theirs.build(shape)
    ours.build(shape)
    names = [w.name for w in theirs.weights]
    assert [w.name for w in ours.weights] == names
    weights = shared_weights(names, (shape[kwargs["axis"]],), dtype, seed)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def moving(layer):
    """The moving statistics of either library's layer."""
    if isinstance(layer, BatchNormalization):
        return layer.params["moving_mean"], layer.params["moving_variance"]
    return layer.moving_mean.numpy(), layer.moving_variance.numpy()


def direct_path_size(layer, x, dy, variance=None):
    """The size of dx's direct path, max |gamma * inv_std * dy|, from the batch's variance (or
    the given one).

    In training, dx = (gamma * inv_std / M) * (M * dy - sum dy - x_hat * sum dy * x_hat) is a
    difference of terms that large, and its rounding error is relative to them. With M = 2 the
    difference can be a thousand times smaller (measured: x of shape (2, 2), dx of 4.7e-3 from
    terms of 2; Keras's float32 dx is off by 6.7e-6 there, 1.4e-3 of itself, scratchnet's by
    3e-8 against a float64 reference). A wrong backward is off by the size of the terms.
    """
    if variance is None:
        axes = tuple(a for a in range(x.ndim) if a != layer.axis % x.ndim)
        variance = x.astype(np.float64).var(axis=axes)
    gamma = np.abs(layer.params["gamma"]) if "gamma" in layer.params else 1.0
    inv_std = 1.0 / np.sqrt(np.asarray(variance, np.float64) + layer.epsilon)
    return float(np.max(gamma * inv_std)) * float(np.max(np.abs(dy)))


def compare_step(ours, theirs, dtype, config, floor, dx_floor):
    for tensor, (a, b) in (
        ("y", (ours["y"], theirs["y"])),
        ("dx", (ours["dx"], theirs["x"])),
        *((f"d{k}", (ours.get(f"d{k}"), theirs[k])) for k in ("gamma", "beta") if k in theirs),
    ):
        assert a is not None, f"scratchnet's BatchNormalization has no gradient '{tensor}'"
        assert_parity(
            a,
            b,
            rtol=rtol_for(dtype),
            tensor=tensor,
            layer=LAYER,
            config=config,
            floor={"y": 0.0, "dx": dx_floor}.get(tensor, floor),
        )
    assert sorted(k for k in ours if k.startswith("d") and k != "dx") == sorted(
        f"d{k}" for k in ("gamma", "beta") if k in theirs
    )


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=12)
@given(case=batch_norm_cases(), data=st.data())
def test_training_mode_forward_backward_and_moving_statistics(dtype, case, data):
    kwargs, shape = case
    x = data.draw(arrays(shape, dtype, ("normal", "saturated")), label="x")
    dy = data.draw(upstream_gradients(shape, dtype), label="dy")
    seed = data.draw(st.integers(0, 2**16), label="weight_seed")
    config = {**kwargs, "input_shape": shape, "dtype": dtype, "mode": "training"}
    with use_floatx(dtype):
        ours_layer, theirs_layer = layer_pair(kwargs, shape, dtype, seed)
        theirs = layer_outputs_and_gradients(theirs_layer, x, dy, training=True)
        floor = GRADIENT_FLOOR * float(np.max(np.abs(dy)))
        dx_floor = direct_path_size(ours_layer, x, dy)
        ours = scratchnet_layer_step(ours_layer, x, dy, training=True)
        compare_step(ours, theirs, dtype, config, floor, dx_floor)
        for name, a, b in zip(
            ("moving_mean", "moving_variance"), *map(moving, (ours_layer, theirs_layer))
        ):
            assert a.dtype == b.dtype == np.dtype(dtype)
            assert_parity(a, b, rtol=rtol_for(dtype), tensor=name, layer=LAYER, config=config)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=12)
@given(case=batch_norm_cases(), data=st.data())
def test_inference_mode_forward_backward_with_constant_statistics(dtype, case, data):
    """Keras called with ``training=False`` against scratchnet's frozen layer in a training call
    (``trainable=False`` means inference mode, in both libraries): the same math, and backward
    treats the moving statistics as constants. Neither side updates them."""
    kwargs, shape = case
    x = data.draw(arrays(shape, dtype), label="x")
    dy = data.draw(upstream_gradients(shape, dtype), label="dy")
    seed = data.draw(st.integers(0, 2**16), label="weight_seed")
    config = {**kwargs, "input_shape": shape, "dtype": dtype, "mode": "inference"}
    with use_floatx(dtype):
        ours_layer, theirs_layer = layer_pair(kwargs, shape, dtype, seed)
        before = ours_layer.get_weights()
        theirs = layer_outputs_and_gradients(theirs_layer, x, dy, training=False)
        ours_layer.trainable = False
        ours = scratchnet_layer_step(ours_layer, x, dy, training=True)
        floor = GRADIENT_FLOOR * float(np.max(np.abs(dy)))  # dx = dy * gamma * inv_std: no
        compare_step(ours, theirs, dtype, config, floor, floor)  # cancellation in inference
        theirs_layer.trainable = False  # Keras's frozen layer in a training call: the same y
        frozen = theirs_layer(x, training=True).numpy()
        assert_parity(ours["y"], frozen, rtol=rtol_for(dtype), tensor="y (frozen)", layer=LAYER)
        for a, b, c in zip(before, ours_layer.get_weights(), theirs_layer.get_weights()):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.99, 0.9, 0.7])
def test_moving_statistics_update_is_bit_exact(dtype, momentum):
    """On integer data with a batch of 4 the batch mean and variance are exact on both sides,
    so what remains is the update itself: ``moving * momentum + batch * (1 - momentum)`` with
    each factor rounded to the dtype. Three training calls, compared with tolerance 0."""
    rng = np.random.default_rng(0)
    shape = (4, 2, 3)
    with use_floatx(dtype):
        ours, theirs = layer_pair({"axis": -1, "momentum": momentum}, shape, dtype, seed=1)
        for call in range(3):
            x = rng.integers(-4, 5, size=shape).astype(dtype)
            ours(x, training=True)
            theirs(x, training=True)
            for name, a, b in zip(("moving_mean", "moving_variance"), moving(ours), moving(theirs)):
                config = {"momentum": momentum, "dtype": dtype, "call": call}
                assert_parity(a, b, rtol=0.0, tensor=name, layer=LAYER, config=config)


CONFIGS = [
    {},
    {"axis": 1, "momentum": 0.9, "epsilon": 1e-5, "center": False},
    {"axis": -2, "scale": False, "synchronized": True, "renorm_momentum": 0.5},
    {
        "beta_initializer": "ones",
        "gamma_initializer": "zeros",
        "moving_mean_initializer": "ones",
        "moving_variance_initializer": "zeros",
    },
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_get_config_weights_and_counts_equal_keras(kwargs):
    shape = (None, 3, 4, 5)
    with use_floatx("float32"):
        ours = BatchNormalization(name="bn", **kwargs)
        theirs = keras.layers.BatchNormalization(name="bn", **kwargs)
        ours.build(shape)
        theirs.build(shape)
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert ours_config.pop("dtype") == theirs_config.pop("dtype")["config"]["name"]
    assert ours_config == theirs_config
    assert [(w.name, w.value.shape) for w in ours.weights] == [
        (w.name, tuple(w.shape)) for w in theirs.weights
    ]
    assert [w.name for w in ours.trainable_weights] == [w.name for w in theirs.trainable_weights]
    assert ours.count_params() == theirs.count_params()
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))


# ----------------------------------------------------------------------------------- models


def bn_model(lib, kind):
    L = lib.layers
    BN = BatchNormalization if lib is scratchnet else keras.layers.BatchNormalization
    if kind == "dense":
        return lib.Sequential(
            [
                lib.Input((6,)),
                L.Dense(5),
                BN(momentum=0.9),
                L.Activation("relu"),
                L.Dense(3, activation="softmax"),
            ]
        )
    return lib.Sequential(
        [
            lib.Input((5, 5, 2)),
            L.Conv2D(3, 3, padding="same"),
            BN(momentum=0.8, epsilon=1e-2, center=False),
            L.Activation("tanh"),
            L.Flatten(),
            L.Dense(3, activation="softmax"),
        ]
    )


def model_pair(kind, seed=0):
    """Both models with the same random weights (inside ``use_floatx``), compiled alike."""
    reset_seeds(seed)
    ours, theirs = bn_model(scratchnet, kind), bn_model(keras, kind)
    names = [w.name for w in theirs.weights]
    assert [w.name for w in ours.weights] == names
    rng = np.random.default_rng(seed)
    dtype = keras.config.floatx()
    weights = [
        (
            0.5 + np.abs(rng.standard_normal(w.shape))
            if n == "moving_variance"
            else 0.5 * rng.standard_normal(w.shape)
        ).astype(dtype)
        for n, w in zip(names, theirs.get_weights())
    ]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    for model, lib in ((ours, scratchnet), (theirs, keras)):
        model.compile(
            optimizer=lib.optimizers.SGD(learning_rate=0.1),
            loss="categorical_crossentropy",
            **(COMPILE_KWARGS if lib is keras else {}),
        )
    return ours, theirs


def model_data(kind, n=10, seed=0):
    rng = np.random.default_rng(seed)
    shape = (6,) if kind == "dense" else (5, 5, 2)
    return rng.standard_normal((n, *shape)) * 2 + 1, np.eye(3)[rng.integers(0, 3, n)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_fit_trains_and_updates_moving_statistics_as_keras(dtype, kind):
    """Two epochs of 3 steps (the last batch partial) from the same weights: the losses of every
    step and epoch, every weight after training (gamma, beta, moving mean and variance
    included), then ``evaluate``, which normalizes with the moving statistics."""
    rtol = TRAJECTORY_F64_RTOL if dtype == "float64" else TRAJECTORY_F32_RTOL
    with use_floatx(dtype):
        ours, theirs = model_pair(kind)
        x, y = model_data(kind)
        x, y = x.astype(dtype), y.astype(dtype)
        r_ours = record_fit(ours, scratchnet, x, y, batch_size=4, epochs=2)
        r_theirs = record_fit(theirs, keras, x, y, batch_size=4, epochs=2)
        what = f"{kind} ({dtype})"
        for tensor, a, b in (
            ("step losses", r_ours["step_loss"], r_theirs["step_loss"]),
            ("epoch losses", r_ours["history"]["loss"], r_theirs["history"]["loss"]),
        ):
            assert_parity(a, b, rtol=rtol, tensor=tensor, model=what, floor=LOSS_FLOOR)
        names = [w.name for w in theirs.weights]
        for name, a, b in zip(names, r_ours["weights"], r_theirs["weights"]):
            assert_parity(a, b, rtol=rtol, tensor=f"{name} after fit", model=what)
        evaluated = ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0)
        assert_parity(*evaluated, rtol=rtol, tensor="evaluate loss", model=what, floor=LOSS_FLOOR)
        for name, a, b in zip(names, ours.get_weights(), theirs.get_weights()):
            assert_parity(a, b, rtol=rtol, tensor=f"{name} after evaluate", model=what)


@pytest.fixture
def registered():
    """BatchNormalization is known to scratchnet's saving (its tables list it)."""
    assert objects.LAYER_CLASSES["BatchNormalization"] is BatchNormalization
    assert "BatchNormalization" in objects._HAS_BUILD_CONFIG


def test_serialized_entry_equals_keras(registered):
    with use_floatx("float32"):
        ours, theirs = (
            BatchNormalization(name="bn", axis=1),
            keras.layers.BatchNormalization(name="bn", axis=1),
        )
        ours.build((None, 3, 4))
        theirs.build((None, 3, 4))
    entry = objects.serialize_object(ours)
    expected = keras.saving.serialize_keras_object(theirs)
    assert expected["build_config"] == {"input_shape": (None, 3, 4)}  # so _HAS_BUILD_CONFIG
    assert entry == expected


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_keras_files_both_ways(kind, tmp_path, registered):
    with use_floatx("float64"):
        ours, theirs = model_pair(kind)
        x, y = model_data(kind)
        ours.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        ours.save(tmp_path / "ours.keras")
        loaded = keras.models.load_model(tmp_path / "ours.keras")
        assert [w.name for w in loaded.weights] == [w.name for w in ours.weights]
        for a, b in zip(ours.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert_parity(
            ours.predict(x, verbose=0),
            loaded.predict(x, verbose=0),
            rtol=rtol_for("float64"),
            tensor="y (scratchnet file in Keras)",
            model=kind,
        )
        theirs.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        theirs.save(tmp_path / "theirs.keras")
        back = scratchnet.saving.load_model(tmp_path / "theirs.keras")
        for a, b in zip(theirs.get_weights(), back.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert_parity(
            back.predict(x, verbose=0),
            theirs.predict(x, verbose=0),
            rtol=rtol_for("float64"),
            tensor="y (Keras file in scratchnet)",
            model=kind,
        )

"""Regularizers and constraints against Keras: penalties, gradients, projections, configs, and
a regularized, constrained model trained by ``fit`` on both sides.

* each regularizer's penalty and gradient (``tf.GradientTape`` with a random dL/d(penalty)), on
  hypothesis-drawn shapes, in float32 and float64;
* each constraint's projection, with int and list axes;
* names, ``serialize`` and the layers' ``get_config`` entries, equal to Keras's;
* Dense and Conv2D with regularizers on shared weights: y, ``losses``, dx and every weight
  gradient of L = sum(y * dy) + sum(layer.losses), Keras's from GradientTape;
* a small Conv2D + Dense model with every kind of regularizer and constraint, trained 3 epochs by
  ``fit``: the per-epoch loss (which includes the penalties) and the final weights.

Keras 3.15's OrthogonalRegularizer cannot run in float64 (its factor is a float32 tensor,
multiplied with a float64 sum: TensorFlow raises), so it is compared in float32 only; scratchnet
computes it in float64 too, with the float32-rounded factor (see
``test_keras_orthogonal_regularizer_fails_in_float64``).

The model's training step applies the constraints right after the optimizer's update, as Keras
does; the penalties reach the reported loss through ``model.losses``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import COMPILE_KWARGS, keras, tf, use_floatx
from parity_tests.compare import LOSS_FLOOR, assert_parity, rtol_for
from scratchnet import constraints, regularizers
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.core import Dense

DTYPES = ("float32", "float64")

REGULARIZERS = [
    ("L1", {}),
    ("L1", {"l1": 0.3}),
    ("L2", {}),
    ("L2", {"l2": 0.07}),
    ("L1L2", {"l1": 0.01, "l2": 0.2}),
    ("L1L2", {"l2": 0.1}),
    ("OrthogonalRegularizer", {}),
    ("OrthogonalRegularizer", {"factor": 0.3, "mode": "columns"}),
]

CONSTRAINTS = [
    ("MaxNorm", {}),
    ("MaxNorm", {"max_value": 0.5, "axis": [0, 1, 2]}),
    ("NonNeg", {}),
    ("UnitNorm", {}),
    ("UnitNorm", {"axis": [0, 1]}),
    ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 0.8, "max_value": 1.1, "rate": 0.4, "axis": 1}),
]


def dtypes_for(name):
    """The dtypes Keras can compute ``name`` in (OrthogonalRegularizer: float32 only)."""
    return ("float32",) if "rthogonal" in str(name) else DTYPES


def both(module_name, name, kwargs):
    ours = getattr(getattr(scratchnet, module_name), name)(**kwargs)
    theirs = getattr(getattr(keras, module_name), name)(**kwargs)
    return ours, theirs


shapes_2d = st.tuples(st.integers(2, 5), st.integers(2, 5))
shapes_any = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@st.composite
def regularizer_cases(draw):
    """A regularizer (name, kwargs) and a dtype Keras computes it in."""
    name, kwargs = draw(st.sampled_from(REGULARIZERS))
    return name, kwargs, draw(st.sampled_from(dtypes_for(name)))


@settings(max_examples=16)
@given(case=regularizer_cases(), shape2=shapes_2d, shape=shapes_any, seed=st.integers(0, 2**16))
def test_regularizer_penalty_and_gradient(case, shape2, shape, seed):
    name, kwargs, dtype = case
    shape = shape2 if name == "OrthogonalRegularizer" else shape
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    dpenalty = np.asarray(rng.uniform(0.1, 2.0), dtype=dtype)
    with use_floatx(dtype):
        ours, theirs = both("regularizers", name, kwargs)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            penalty = theirs(xt)
        grad = tape.gradient(penalty, xt, output_gradients=tf.constant(dpenalty))
    config = {"regularizer": name, **kwargs, "shape": shape, "dtype": dtype}
    p = ours(x)
    assert np.asarray(p).dtype == dtype, config
    assert_parity(p, penalty.numpy(), rtol=rtol_for(dtype), tensor="penalty", config=config)
    g = ours.gradient(x, dpenalty)
    assert g.dtype == dtype and g.shape == x.shape, config
    assert_parity(g, grad.numpy(), rtol=rtol_for(dtype), tensor="dx", config=config)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONSTRAINTS, ids=lambda c: f"{c[0]}{c[1]}")
def test_constraint_projection(case, dtype):
    name, kwargs = case
    rng = np.random.default_rng(3)
    for w in (rng.normal(size=(2, 3, 2, 4)) * 0.4, rng.normal(size=(2, 3, 2, 4)) * 3):
        w = w.astype(dtype)
        w[0, 0, 0, 0] = 0.0
        with use_floatx(dtype):
            ours, theirs = both("constraints", name, kwargs)
            expected = np.asarray(theirs(tf.constant(w)))
        got = ours(w)
        assert got.dtype == dtype
        # the same operations in the same order: equal up to the last bit of sqrt and sum
        assert_parity(got, expected, rtol=4e-7 if dtype == "float32" else 1e-15, tensor="w'",
                      config={"constraint": name, **kwargs, "dtype": dtype})  # fmt: skip


def test_names_and_serialize_equal_keras():
    from keras.src import constraints as keras_constraints
    from keras.src import regularizers as keras_regularizers

    assert sorted(regularizers._CATALOG.names) == sorted(keras_regularizers.ALL_OBJECTS_DICT)
    assert sorted(constraints._CATALOG.names) == sorted(keras_constraints.ALL_OBJECTS_DICT)
    for name, kwargs in REGULARIZERS:
        ours, theirs = both("regularizers", name, kwargs)
        assert regularizers.serialize(ours) == keras.regularizers.serialize(theirs)
    for name, kwargs in CONSTRAINTS:
        ours, theirs = both("constraints", name, kwargs)
        assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
    for name in regularizers._CATALOG.names:
        if name not in ("Regularizer", "regularizer"):
            assert regularizers.get(name).get_config() == keras.regularizers.get(name).get_config()


REGULARIZED_LAYER_ARGS = [
    {},
    {"kernel_regularizer": "l2", "bias_regularizer": "l1"},
    {"activity_regularizer": "l1l2", "kernel_constraint": "max_norm"},
    {
        "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}},
        "activity_regularizer": "l2",
        "bias_constraint": "non_neg",
        "kernel_constraint": {"class_name": "MinMaxNorm", "config": {"rate": 0.5}},
    },
]
CONFIG_KEYS = (
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)


@pytest.mark.parametrize("args", REGULARIZED_LAYER_ARGS)
def test_layer_configs_equal_keras(args):
    for ours, theirs in (
        (Dense(3, **args), keras.layers.Dense(3, **args)),
        (Conv2D(2, 3, **args), keras.layers.Conv2D(2, 3, **args)),
    ):
        ours_config, theirs_config = ours.get_config(), theirs.get_config()
        for key in CONFIG_KEYS:
            assert (key in ours_config) == (key in theirs_config), (type(ours).__name__, key)
            assert ours_config.get(key) == theirs_config.get(key), (type(ours).__name__, key)
        ours.build((None, 5, 5, 2))
        theirs.build((None, 5, 5, 2))
        assert ours.count_params() == theirs.count_params()


LAYER_REGULARIZERS = [
    {"kernel_regularizer": regularizers.L1L2(l1=0.02, l2=0.3), "bias_regularizer": "l2"},
    {"activity_regularizer": "l2"},
    {
        "kernel_regularizer": "orthogonal_regularizer",
        "activity_regularizer": regularizers.L1(0.05),
        "bias_regularizer": regularizers.L1(0.2),
    },
]


def keras_args(args):
    """The same arguments with Keras's objects (ours are serialized and read back by Keras)."""
    return {
        k: keras.regularizers.get(regularizers.serialize(v)) if k.endswith("regularizer") else v
        for k, v in args.items()
    }


def layer_parity(make, args, input_shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=input_shape).astype(dtype)
    with use_floatx(dtype):
        ours, theirs = make(scratchnet, args), make(keras, keras_args(args))
        theirs.build(input_shape)
        ours.build(input_shape)
        weights = [(rng.normal(size=w.shape) * 0.5).astype(dtype) for w in theirs.get_weights()]
        theirs.set_weights(weights)
        ours.set_weights(weights)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y_theirs = theirs(xt)
            dy = rng.normal(size=y_theirs.shape).astype(dtype)
            loss = tf.reduce_sum(y_theirs * dy) + tf.add_n(theirs.losses)
        grads = tape.gradient(loss, [xt, *theirs.trainable_weights])
        penalty_theirs = float(tf.add_n(theirs.losses))
    y = ours(x, training=True)
    penalty = float(sum(ours.losses))
    dx = ours.backward(dy)
    rtol = rtol_for(dtype)
    config = {"layer": type(ours).__name__, **{k: str(v) for k, v in args.items()}, "dtype": dtype}
    assert len(ours.losses) == len(theirs.losses), config
    assert_parity(y, y_theirs.numpy(), rtol=rtol, tensor="y", config=config)
    assert_parity(penalty, penalty_theirs, rtol=rtol, tensor="losses", config=config)
    assert_parity(dx, grads[0].numpy(), rtol=rtol, tensor="dx", config=config)
    for key, g in zip(ours.params, grads[1:]):
        assert_parity(ours.grads[key], g.numpy(), rtol=rtol, tensor=f"d{key}", config=config)


@st.composite
def layer_regularizer_cases(draw, cases):
    args = draw(st.sampled_from(cases))
    return args, draw(st.sampled_from(dtypes_for(args.get("kernel_regularizer"))))


@settings(max_examples=8)
@given(
    case=layer_regularizer_cases(LAYER_REGULARIZERS),
    activation=st.sampled_from([None, "relu", "softmax"]),
    n=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_regularized_dense(case, activation, n, seed):
    args, dtype = case

    def make(lib, a):
        return lib.layers.Dense(3, activation=activation, **a)

    layer_parity(make, args, (n, 4), dtype, seed)


@settings(max_examples=8)
@given(
    args=st.sampled_from(LAYER_REGULARIZERS[:2]),  # orthogonal needs a rank-2 kernel
    dtype=st.sampled_from(DTYPES),
    padding=st.sampled_from(["valid", "same"]),
    n=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_regularized_conv2d(args, dtype, padding, n, seed):
    def make(lib, a):
        return lib.layers.Conv2D(2, 2, padding=padding, activation="tanh", **a)

    layer_parity(make, args, (n, 4, 4, 3), dtype, seed)


def regularized_model(lib, dtype):
    r, c = lib.regularizers, lib.constraints
    dense_kernel = r.OrthogonalRegularizer(0.1) if dtype == "float32" else r.L1(0.01)
    return lib.models.Sequential(
        [
            lib.layers.Input((5, 5, 2)),
            lib.layers.Conv2D(
                3,
                2,
                activation="relu",
                kernel_regularizer=r.L2(0.05),
                bias_regularizer=r.L1(0.02),
                activity_regularizer=r.L1L2(l1=0.01, l2=0.01),
                kernel_constraint=c.MaxNorm(0.8, axis=[0, 1, 2]),
                bias_constraint=c.NonNeg(),
            ),
            lib.layers.Flatten(),
            lib.layers.Dense(
                4,
                activation="softmax",
                kernel_regularizer=dense_kernel,
                bias_regularizer="l2",
                activity_regularizer=r.L2(0.02),
                kernel_constraint=c.MinMaxNorm(0.2, 0.6, rate=0.7),
                bias_constraint=c.UnitNorm(),
            ),
        ]
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_with_regularizers_and_constraints(dtype):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(10, 5, 5, 2)).astype(dtype)
    y = np.eye(4, dtype=dtype)[rng.integers(0, 4, size=10)]
    with use_floatx(dtype):
        theirs = regularized_model(keras, dtype)
        ours = regularized_model(scratchnet, dtype)
        ours.set_weights(theirs.get_weights())
        compile_args = dict(loss="categorical_crossentropy")
        theirs.compile(optimizer=keras.optimizers.SGD(0.2), **compile_args, **COMPILE_KWARGS)
        ours.compile(optimizer=scratchnet.optimizers.SGD(0.2), **compile_args)
        fit = dict(batch_size=4, epochs=3, shuffle=False, verbose=0)
        history_theirs = theirs.fit(x, y, validation_data=(x[:6], y[:6]), **fit).history
        history_ours = ours.fit(x, y, validation_data=(x[:6], y[:6]), **fit).history
    rtol = rtol_for(dtype)
    for key in ("loss", "val_loss"):
        assert_parity(np.array(history_ours[key]), np.array(history_theirs[key]), rtol=rtol,
                      tensor=key, model="regularized", floor=LOSS_FLOOR)  # fmt: skip
    for w_ours, w_theirs, v in zip(ours.get_weights(), theirs.get_weights(), theirs.weights):
        assert_parity(w_ours, w_theirs, rtol=rtol, tensor=v.path, model="regularized")


def test_keras_orthogonal_regularizer_fails_in_float64():
    """Measured in Keras 3.15: float64 inputs raise; scratchnet computes the penalty anyway."""
    x = np.random.default_rng(0).normal(size=(3, 4))
    with use_floatx("float64"):
        with pytest.raises((TypeError, tf.errors.InvalidArgumentError)):
            keras.regularizers.OrthogonalRegularizer(0.01)(tf.constant(x))
    penalty = regularizers.OrthogonalRegularizer(0.01)(x)
    assert penalty.dtype == np.float64 and np.isfinite(penalty)


def test_a_keras_file_with_regularizers_and_constraints_loads(tmp_path):
    theirs = keras.Sequential(
        [
            keras.Input((5, 5, 2)),
            keras.layers.Conv2D(2, 2, kernel_regularizer="l2", bias_constraint="non_neg"),
            keras.layers.Flatten(),
            keras.layers.Dense(
                3,
                activity_regularizer=keras.regularizers.L1L2(0.1, 0.2),
                kernel_constraint=keras.constraints.MaxNorm(1.5, axis=[0]),
            ),
        ]
    )
    theirs.save(tmp_path / "r.keras")
    ours = scratchnet.models.load_model(tmp_path / "r.keras")
    for o, t in zip(ours.layers, theirs.layers):
        ours_config, theirs_config = o.get_config(), t.get_config()
        for key in CONFIG_KEYS:
            assert ours_config.get(key) == theirs_config.get(key), (o.name, key)

"""Regularizers and constraints on every built-in layer that takes them, against Keras 3.15.

Dense and Conv2D are in ``test_regularizers.py``; this file covers the others: Conv1D,
Conv2DTranspose, DepthwiseConv2D, SeparableConv2D, Embedding, SimpleRNN, LSTM, GRU,
BatchNormalization and PReLU.

* hypothesis draws a layer config, a regularizer (or none) for each of its weights and for its
  activity, a dtype and the data; on shared weights, y, every entry of ``layer.losses`` (in
  Keras's order: the activity penalties, then the weights'), dx and every weight gradient of
  L = sum(y * dy) + sum(layer.losses) under a random dy equal Keras's (``tf.GradientTape``);
* with ``return_state``, Keras adds an activity penalty for every output (the output and each
  state), and the gradient of each reaches its own output;
* each layer trained by ``fit`` with a regularizer and a constraint on every weight (MaxNorm,
  NonNeg, UnitNorm and MinMaxNorm in turn): the loss ``fit`` reports, penalties included, and
  the constrained weights after every epoch's steps;
* ``get_config``: the same keys in the same order as Keras's, with the regularizers and
  constraints set and unset; ``.keras`` files with them round trip both ways (the
  configs, and ``evaluate``'s loss, which holds the penalties, so a dropped regularizer shows).

OrthogonalRegularizer needs a rank-2 weight (Dense-like kernels, the recurrent weights, the
embeddings, GRU's (2, 3*units) bias, a 2-D PReLU alpha) and runs in float32 only in Keras 3.15;
it is drawn only there. Measured: Keras 3.15's SimpleRNN accepts ``activity_regularizer`` but
never uses it (no penalty, its config says None); scratchnet refuses it, tested below.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import COMPILE_KWARGS, keras, tf, use_floatx
from parity_tests.compare import LOSS_FLOOR, assert_parity, rtol_for
from parity_tests.test_normalization import direct_path_size
from parity_tests.test_regularizers import REGULARIZERS
from scratchnet import regularizers

ACTIVATIONS = (None, "tanh", "relu")


@dataclass(frozen=True)
class Spec:
    """One layer: how to make it, its configs, its input, and its regularized weights.

    ``weights`` maps each argument prefix (``kernel`` for ``kernel_regularizer``) to the key of
    the weight it acts on in ``layer.params``.
    """

    cls: str
    args: tuple  # positional arguments
    configs: st.SearchStrategy
    input_shape: tuple  # one sample's shape
    weights: dict
    ids: int = 0  # > 0: the input is integer ids below this (Embedding)
    activity: bool = True
    fit_config: dict = field(default_factory=dict)

    def make(self, lib, config, regs):
        return getattr(lib.layers, self.cls)(*self.args, **config, **regs)

    def data(self, rng, n, dtype):
        if self.ids:
            return rng.integers(0, self.ids, (n, *self.input_shape)).astype("int32")
        return rng.normal(size=(n, *self.input_shape)).astype(dtype)


def _rnn_configs(**extra):
    return st.fixed_dictionaries(
        {
            "return_sequences": st.booleans(),
            "return_state": st.booleans(),
            "go_backwards": st.booleans(),
            "use_bias": st.booleans(),
            **extra,
        }
    )


RNN_WEIGHTS = {"kernel": "kernel", "recurrent": "recurrent_kernel", "bias": "bias"}
SPECS = {
    "Conv1D": Spec(
        "Conv1D",
        (2,),
        st.fixed_dictionaries(
            {
                "kernel_size": st.integers(1, 3),
                "padding": st.sampled_from(["valid", "same", "causal"]),
                "strides": st.integers(1, 2),
                "activation": st.sampled_from(ACTIVATIONS),
                "use_bias": st.booleans(),
            }
        ),
        (5, 2),
        {"kernel": "kernel", "bias": "bias"},
        fit_config={"kernel_size": 2, "padding": "causal"},
    ),
    "Conv2DTranspose": Spec(
        "Conv2DTranspose",
        (2,),
        st.fixed_dictionaries(
            {
                "kernel_size": st.sampled_from([1, 3]),
                "strides": st.integers(1, 2),
                "padding": st.sampled_from(["valid", "same"]),
                "activation": st.sampled_from(ACTIVATIONS),
                "use_bias": st.booleans(),
            }
        ),
        (3, 3, 2),
        {"kernel": "kernel", "bias": "bias"},
        fit_config={"kernel_size": 3, "strides": 2},
    ),
    "DepthwiseConv2D": Spec(
        "DepthwiseConv2D",
        (),
        st.fixed_dictionaries(
            {
                "kernel_size": st.integers(1, 3),
                "depth_multiplier": st.integers(1, 2),
                "strides": st.integers(1, 2),
                "padding": st.sampled_from(["valid", "same"]),
                "activation": st.sampled_from(ACTIVATIONS),
                "use_bias": st.booleans(),
            }
        ),
        (4, 4, 2),
        {"depthwise": "kernel", "bias": "bias"},
        fit_config={"kernel_size": 2},
    ),
    "SeparableConv2D": Spec(
        "SeparableConv2D",
        (3,),
        st.fixed_dictionaries(
            {
                "kernel_size": st.integers(1, 3),
                "depth_multiplier": st.integers(1, 2),
                "padding": st.sampled_from(["valid", "same"]),
                "activation": st.sampled_from(ACTIVATIONS),
                "use_bias": st.booleans(),
            }
        ),
        (4, 4, 2),
        {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel", "bias": "bias"},
        fit_config={"kernel_size": 2},
    ),
    "Embedding": Spec(
        "Embedding",
        (6, 3),
        st.just({}),
        (3,),
        {"embeddings": "embeddings"},
        ids=6,
    ),
    "Embedding1D": Spec("Embedding", (5, 2), st.just({}), (), {"embeddings": "embeddings"}, ids=5),
    "SimpleRNN": Spec(
        "SimpleRNN",
        (3,),
        _rnn_configs(),
        (3, 2),
        RNN_WEIGHTS,
        activity=False,
        fit_config={"return_sequences": True},
    ),  # fmt: skip
    "LSTM": Spec(
        "LSTM",
        (2,),
        _rnn_configs(unit_forget_bias=st.booleans()),
        (3, 2),
        RNN_WEIGHTS,
        fit_config={"return_sequences": True},
    ),  # fmt: skip
    "GRU": Spec(
        "GRU",
        (3,),
        _rnn_configs(reset_after=st.booleans()),
        (3, 2),
        RNN_WEIGHTS,
        fit_config={"return_sequences": True},
    ),  # fmt: skip
    "BatchNormalization": Spec(
        "BatchNormalization",
        (),
        st.fixed_dictionaries({"center": st.booleans(), "scale": st.booleans()}),
        (3,),
        {"beta": "beta", "gamma": "gamma"},
        fit_config={"momentum": 0.5},
    ),
    "BatchNormalization3D": Spec(
        "BatchNormalization",
        (),
        st.fixed_dictionaries({"axis": st.sampled_from([-1, 1])}),
        (2, 3),
        {"beta": "beta", "gamma": "gamma"},
    ),
    "PReLU": Spec(
        "PReLU",
        (),
        st.fixed_dictionaries({"shared_axes": st.sampled_from([None, [1]])}),
        (2, 3),
        {"alpha": "alpha"},
    ),
    "PReLU1D": Spec("PReLU", (), st.just({}), (3,), {"alpha": "alpha"}),
}


def regularizer_pair(name, kwargs):
    """The same regularizer in both libraries."""
    return (getattr(scratchnet.regularizers, name)(**kwargs),
            getattr(keras.regularizers, name)(**kwargs))  # fmt: skip


def orthogonal_fits(shape):
    """OrthogonalRegularizer needs a matrix; with one row (or column) it is 0/0 in both."""
    return len(shape) == 2 and min(shape) >= 2


def weights_like(layer, rng, dtype):
    """Random weights for ``layer`` (Keras's), the moving variance positive."""
    found = []
    for v in layer.weights:
        w = rng.normal(size=v.shape) * 0.6
        found.append((np.abs(w) + 0.5 if "variance" in v.path else w).astype(dtype))
    return found


def draw_case(data, spec):
    """(config, {argument: (name, kwargs)}, dtype, n, seed) for ``spec``: a regularizer or None
    for each weight and the activity, at least one of them set.

    A probe layer (made between the draws, as making a layer draws initializer seeds) gives
    the weights' and outputs' shapes, to draw OrthogonalRegularizer only where it applies.
    """
    config = data.draw(spec.configs, label="config")
    n = data.draw(st.integers(2, 3), label="n")
    with use_floatx("float32"):
        probe = spec.make(scratchnet, config, {})
        outs = tf.nest.flatten(probe(spec.data(np.random.default_rng(0), n, "float32")))
    targets = {f"{p}_regularizer": probe.params.get(key) for p, key in spec.weights.items()}
    if spec.activity:
        targets["activity_regularizer"] = outs[0]
    choices = {}
    for arg, value in targets.items():
        if value is None:  # no bias (use_bias=False), no beta (center=False), ...
            continue
        fits = orthogonal_fits(value.shape) and all(orthogonal_fits(o.shape) for o in outs)
        options = [r for r in REGULARIZERS if fits or r[0] != "OrthogonalRegularizer"]
        choice = data.draw(st.none() | st.sampled_from(options), label=arg)
        if choice is not None:
            choices[arg] = choice
    if not choices:
        choices[next(a for a, v in targets.items() if v is not None)] = ("L2", {"l2": 0.1})
    orthogonal = any(name == "OrthogonalRegularizer" for name, _ in choices.values())
    dtype = "float32" if orthogonal else data.draw(st.sampled_from(["float32", "float64"]))
    return config, choices, dtype, n, data.draw(st.integers(0, 2**16), label="seed")


def check_layer(spec, case):
    config, choices, dtype, n, seed = case
    rng = np.random.default_rng(seed)
    pairs = {arg: regularizer_pair(*choice) for arg, choice in choices.items()}
    x = spec.data(rng, n, dtype)
    with use_floatx(dtype):
        ours = spec.make(scratchnet, config, {a: p[0] for a, p in pairs.items()})
        theirs = spec.make(keras, config, {a: p[1] for a, p in pairs.items()})
        theirs.build(x.shape)
        ours.build(x.shape)
        weights = weights_like(theirs, rng, dtype)
        theirs.set_weights(weights)
        ours.set_weights(weights)
        xt = tf.constant(x)
        floating = not spec.ids
        with tf.GradientTape() as tape:
            if floating:
                tape.watch(xt)
            y_theirs = theirs(xt, training=True)
            outs_theirs = tf.nest.flatten(y_theirs)  # SimpleRNN: [output, (h,)]
            dys = [rng.normal(size=o.shape).astype(dtype) for o in outs_theirs]
            loss = tf.add_n([tf.reduce_sum(o * dy) for o, dy in zip(outs_theirs, dys)])
            loss = loss + tf.add_n(theirs.losses)
        sources = ([xt] if floating else []) + list(theirs.trainable_weights)
        grads = tape.gradient(loss, sources)
    y = ours(x, training=True)
    outs = y if isinstance(y, list) else [y]
    losses = list(ours.losses)
    dx = ours.backward(dys if isinstance(y, list) else dys[0])
    rtol = rtol_for(dtype)
    info = {"layer": spec.cls, **config, **{a: f"{c[0]}{c[1]}" for a, c in choices.items()},
            "dtype": dtype, "n": n}  # fmt: skip
    for i, (o, o_theirs) in enumerate(zip(outs, outs_theirs)):
        assert_parity(o, o_theirs.numpy(), rtol=rtol, tensor=f"y[{i}]", config=info)
    assert len(losses) == len(theirs.losses), info
    for i, (p, p_theirs) in enumerate(zip(losses, theirs.losses)):
        assert_parity(p, p_theirs.numpy(), rtol=rtol, tensor=f"losses[{i}]", config=info)
    if floating:
        floor = 0.0
        if spec.cls == "BatchNormalization":  # its dx cancels; compare as test_normalization
            dy = dys[0]
            if ours.activity_regularizer is not None:  # what reaches y: dy and the penalty's
                dy = dy + regularizers.activity_gradient(ours, y)
            floor = direct_path_size(ours, x, dy)
        assert_parity(dx, grads[0].numpy(), rtol=rtol, tensor="dx", config=info, floor=floor)
        grads = grads[1:]
    for v, g in zip(ours.trainable_weights, grads, strict=True):
        g = tf.convert_to_tensor(g).numpy()  # Embedding's is IndexedSlices in TensorFlow
        assert_parity(ours.grads[v.key], g, rtol=rtol, tensor=f"d{v.key}", config=info)


def _gradient_test(name, examples):
    spec = SPECS[name]

    @settings(max_examples=examples)
    @given(data=st.data())
    def test(data):
        check_layer(spec, draw_case(data, spec))

    test.__name__ = f"test_{name}_penalties_and_gradients_equal_keras"
    return test


# One test per layer (so a failure names it), a few hypothesis examples each.
for _name in SPECS:
    globals()[f"test_{_name}_penalties_and_gradients_equal_keras"] = _gradient_test(_name, 6)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_return_state_has_an_activity_penalty_per_output(return_sequences):
    """Keras's Layer.__call__ regularizes every output tensor: LSTM's [output, h, c] are 3."""
    spec = SPECS["LSTM"]
    config = {"return_sequences": return_sequences, "return_state": True}
    case = (config, {"activity_regularizer": ("L1L2", {"l1": 0.01, "l2": 0.2})}, "float64", 3, 5)
    check_layer(spec, case)
    layer = spec.make(scratchnet, config, {"activity_regularizer": "l2"})
    layer(np.ones((2, 3, 2)))
    assert len(layer.losses) == 3


def test_simple_rnn_refuses_the_activity_regularizer_keras_ignores():
    theirs = keras.layers.SimpleRNN(2, activity_regularizer="l2")
    theirs(np.ones((2, 3, 2), "float32"))
    assert theirs.losses == [] and theirs.get_config()["activity_regularizer"] is None
    with pytest.raises(ValueError, match="Keras 3.15's SimpleRNN accepts it but never uses it"):
        scratchnet.layers.SimpleRNN(2, activity_regularizer="l2")


# ----------------------------------------------------------------------------- fit, constraints

CONSTRAINT_KINDS = ("MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm")


def constraint_for(kind, rank, turn):
    """A constraint of ``kind`` for a weight of ``rank``, its axis and numbers varied by turn."""
    axis = (turn % rank) if turn % 3 else list(range(max(rank - 1, 1)))
    return {
        "MaxNorm": ("MaxNorm", {"max_value": 0.4, "axis": axis}),
        "NonNeg": ("NonNeg", {}),
        "UnitNorm": ("UnitNorm", {"axis": axis}),
        "MinMaxNorm": (
            "MinMaxNorm",
            {"min_value": 0.3, "max_value": 0.6, "rate": 0.7, "axis": axis},
        ),  # fmt: skip
    }[kind]


def fit_arguments(spec, index, lib):
    """Every weight of ``spec`` regularized and constrained (the constraint kinds in turn, so
    each layer family sees several), plus an activity penalty where Keras applies one."""
    with use_floatx("float32"):
        probe = spec.make(scratchnet, spec.fit_config, {})
        probe.build((None, *spec.input_shape))
    args = {}
    for turn, (prefix, key) in enumerate(spec.weights.items()):
        rank = probe.params[key].ndim
        kind = CONSTRAINT_KINDS[(index + turn) % len(CONSTRAINT_KINDS)]
        name, kwargs = constraint_for(kind, rank, index + turn)
        args[f"{prefix}_constraint"] = getattr(lib.constraints, name)(**kwargs)
        reg_name, reg_kwargs = ("L1", {"l1": 0.02}) if turn % 2 else ("L2", {"l2": 0.05})
        args[f"{prefix}_regularizer"] = getattr(lib.regularizers, reg_name)(**reg_kwargs)
    if spec.activity:
        args["activity_regularizer"] = lib.regularizers.L1L2(l1=0.01, l2=0.03)
    return args


def fit_model(spec, index, lib):
    layer = spec.make(lib, spec.fit_config, fit_arguments(spec, index, lib))
    return lib.Sequential([lib.Input(spec.input_shape), layer])


FIT_CASES = [n for n in SPECS if n not in ("Embedding1D", "BatchNormalization3D", "PReLU1D")]


@pytest.mark.parametrize("name", FIT_CASES)
def test_fit_with_constraints_equals_keras(name):
    spec, index = SPECS[name], FIT_CASES.index(name)
    dtype = "float64" if index % 2 else "float32"
    rng = np.random.default_rng(index)
    x = spec.data(rng, 8, dtype)
    with use_floatx(dtype):
        theirs = fit_model(spec, index, keras)
        ours = fit_model(spec, index, scratchnet)
        weights = weights_like(theirs, rng, dtype)
        theirs.set_weights(weights)
        ours.set_weights(weights)
        y = rng.normal(size=(8, *theirs.output_shape[1:])).astype(dtype)
        opt = {"learning_rate": 0.1, "momentum": 0.5}
        theirs.compile(optimizer=keras.optimizers.SGD(**opt), loss="mse", **COMPILE_KWARGS)
        ours.compile(optimizer=scratchnet.optimizers.SGD(**opt), loss="mse")
        fit = dict(batch_size=4, epochs=2, shuffle=False, verbose=0)
        history_theirs = theirs.fit(x, y, **fit).history
        history_ours = ours.fit(x, y, **fit).history
    rtol = rtol_for(dtype)
    info = {"layer": name, "dtype": dtype}
    assert_parity(np.array(history_ours["loss"]), np.array(history_theirs["loss"]), rtol=rtol,
                  tensor="loss", config=info, floor=LOSS_FLOOR)  # fmt: skip
    for w_ours, v in zip(ours.get_weights(), theirs.weights, strict=True):
        assert_parity(w_ours, v.numpy(), rtol=rtol, tensor=v.path, config=info)
    constrained = [v for v in theirs.layers[0].trainable_weights if v.constraint is not None]
    assert len(constrained) == len(spec.weights), info  # every weight had its constraint


# ----------------------------------------------------------------------------- configs and files

REGULARIZER_KEYS = ("regularizer", "constraint")


def options_of(config):
    """The regularizer and constraint entries of a layer config, in order."""
    return [(k, v) for k, v in config.items() if k.endswith(REGULARIZER_KEYS)]


@pytest.mark.parametrize("options", ["unset", "set"])
@pytest.mark.parametrize("name", FIT_CASES)
def test_configs_equal_keras_and_read_back(name, options):
    """The same keys in the same order as Keras's (an activity regularizer, once set, moves
    next to dtype in both), the same entries; each library rebuilds the other's config."""
    spec, index = SPECS[name], FIT_CASES.index(name)

    def args(lib):
        return fit_arguments(spec, index, lib) if options == "set" else {}

    ours = spec.make(scratchnet, spec.fit_config, args(scratchnet)).get_config()
    theirs = spec.make(keras, spec.fit_config, args(keras)).get_config()
    assert list(ours) == list(theirs), name
    assert options_of(ours) == options_of(theirs), name
    assert any(v is not None for _, v in options_of(ours)) == (options == "set"), name
    as_ours = {**theirs, "dtype": "float32"}  # Keras writes a dtype policy; a file read maps it
    rebuilt_ours = getattr(scratchnet.layers, spec.cls).from_config(as_ours).get_config()
    rebuilt_theirs = getattr(keras.layers, spec.cls).from_config(ours).get_config()
    assert options_of(rebuilt_ours) == options_of(theirs), name
    assert options_of(rebuilt_theirs) == options_of(ours), name


def file_model(lib, kind):
    """Every layer of this file in one model, each with a regularizer and a constraint on every
    weight (the fit cases' arguments): a sequence model and an image model."""

    def layer(name, **config):
        spec = SPECS[name]
        regs = fit_arguments(spec, FIT_CASES.index(name), lib)
        return spec.make(lib, {**spec.fit_config, **config}, regs)

    if kind == "sequences":
        names, shape = ("Embedding", "Conv1D", "LSTM", "GRU", "SimpleRNN", "PReLU"), (5,)
        layers = [layer(n) for n in names] + [layer("BatchNormalization")]
    else:
        names, shape = ("SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose"), (4, 4, 2)
        layers = [layer(n) for n in names] + [layer("BatchNormalization")]
    return lib.Sequential([lib.Input(shape), *layers])


def file_data(kind, rng):
    if kind == "sequences":
        return rng.integers(0, 6, (6, 5)).astype("float32")
    return rng.normal(size=(6, 4, 4, 2)).astype("float32")


def assert_same_model(ours, theirs, x, y, what):
    """Same options on every layer, same predictions, same evaluate loss (penalties included)."""
    for o, t in zip(ours.layers, theirs.layers, strict=True):
        assert options_of(o.get_config()) == options_of(t.get_config()), (what, o.name)
    ours.compile(loss="mse")
    theirs.compile(loss="mse", **COMPILE_KWARGS)
    assert_parity(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                  tensor="y", model=what)  # fmt: skip
    loss_ours = ours.evaluate(x, y, verbose=0)
    loss_theirs = theirs.evaluate(x, y, verbose=0)
    assert_parity(loss_ours, loss_theirs, rtol=1e-5, tensor="evaluate loss", model=what)
    penalty = sum(float(p) for p in ours.losses)
    assert penalty > 1e-3, what  # the regularizers are there, and count


@pytest.mark.parametrize("kind", ["sequences", "images"])
def test_keras_files_with_regularizers_and_constraints_round_trip(kind, tmp_path):
    rng = np.random.default_rng(3)
    x = file_data(kind, rng)
    with use_floatx("float32"):
        theirs = file_model(keras, kind)
        theirs.set_weights(weights_like(theirs, rng, "float32"))
        y = rng.normal(size=(len(x), *theirs.output_shape[1:])).astype("float32")
        theirs.save(tmp_path / "theirs.keras")
        ours = scratchnet.saving.load_model(tmp_path / "theirs.keras")
        ours.save(tmp_path / "ours.keras")  # what it read, written back
        again = keras.saving.load_model(tmp_path / "ours.keras")
        assert_same_model(ours, theirs, x, y, "Keras .keras -> scratchnet")
        assert_same_model(ours, again, x, y, "scratchnet .keras -> Keras")

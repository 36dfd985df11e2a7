"""The shape and wiring layers against Keras: Reshape, Permute, RepeatVector, Rescaling,
Embedding, the element-wise merges and Lambda.

Each runs on hypothesis-drawn configurations that are valid by construction, on shared weights,
under a random upstream gradient, in float32 and float64: the forward output, every dx and every
weight gradient (Keras's from ``tf.GradientTape``). Then ``get_config`` (keys in Keras's order,
values equal), output shapes and parameter counts, and the measured rules: Maximum's and
Minimum's ties, Rescaling's float32 rounding, Embedding's initial weights and negative ids,
and Lambda's safe mode.
"""

import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import keras, tf, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import GRADIENT_FLOOR, assert_parity, rtol_for
from scratchnet import ops
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.lambda_layer import Lambda
from scratchnet.layers.merging import Average, Maximum, Minimum, Multiply, Subtract
from scratchnet.layers.preprocessing import Rescaling
from scratchnet.layers.reshaping import Permute, RepeatVector, Reshape

DTYPES = ("float64", "float32")
FEW = settings(max_examples=10)  # each example builds Keras layers: keep the file fast
OURS = {
    cls.__name__: cls
    for cls in (
        Reshape, Permute, RepeatVector, Rescaling, Embedding, Lambda,
        Average, Subtract, Multiply, Maximum, Minimum,
    )
}  # fmt: skip


# ----------------------------------------------------------------------------- both sides


def keras_step(layer, xs, dy, multi):
    """Keras forward, then ``tf.GradientTape`` on L = sum(y * dy): y, [dx], {weight: grad}.

    An integer input (Embedding's ids) has no gradient (None). An embedding's gradient comes
    as ``tf.IndexedSlices`` (rows and their values); it is made dense to compare."""
    tensors = [
        tf.convert_to_tensor(x, keras.config.floatx() if x.dtype.kind == "f" else None) for x in xs
    ]
    with tf.GradientTape() as tape:
        for t in tensors:
            if t.dtype.is_floating:
                tape.watch(t)
        y = layer(tensors if multi else tensors[0])
        loss = tf.reduce_sum(y * tf.convert_to_tensor(dy, y.dtype))
    grads = tape.gradient(loss, [*tensors, *layer.trainable_weights])
    dense = [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]
    names = [w.path.split("/")[-1] for w in layer.trainable_weights]
    return y.numpy(), dense[: len(xs)], dict(zip(names, dense[len(xs) :], strict=True))


def ours_step(layer, xs, dy, multi):
    """scratchnet forward and hand-written (or, for Lambda, autodiff) backward; dy untouched."""
    y = layer(xs if multi else xs[0], training=True)
    before = dy.copy()
    dxs = layer.backward(dy)
    assert np.array_equal(dy, before), f"{type(layer).__name__}.backward modified dy"
    return y, (list(dxs) if multi else [dxs]), dict(layer.grads)


def check_pair(ours, theirs, xs, dy, dtype, config, multi=False, weights=()):
    """Run both layers (sharing ``weights``) and assert y, each float dx and each grad agree.

    ``ours`` and ``theirs`` make the layers (called with no argument), inside ``use_floatx``:
    a layer takes its dtype from floatx when it is constructed."""
    with use_floatx(dtype):
        ours, theirs = ours(), theirs()
        if weights:
            theirs.build(xs[0].shape)
            ours.build(xs[0].shape)
            theirs.set_weights(weights)
            ours.set_weights(weights)
        t_y, t_dxs, t_grads = keras_step(theirs, xs, dy, multi)
        o_y, o_dxs, o_grads = ours_step(ours, xs, dy, multi)
    name, rtol = type(ours).__name__, rtol_for(dtype)
    config = {**config, "shapes": [x.shape for x in xs], "dtype": dtype}
    floor = GRADIENT_FLOOR * float(np.max(np.abs(dy))) if dy.size else 0.0
    assert o_y.dtype == t_y.dtype, f"{name}: y dtype {o_y.dtype}, Keras {t_y.dtype}"
    assert_parity(o_y, t_y, rtol=rtol, tensor="y", layer=name, config=config)
    for k, (o_dx, t_dx) in enumerate(zip(o_dxs, t_dxs, strict=True)):
        if t_dx is not None:
            assert_parity(
                o_dx, t_dx, rtol=rtol, tensor=f"dx_{k}", layer=name, config=config, floor=floor
            )
    assert sorted(o_grads) == sorted(t_grads), f"{name}: gradients {sorted(o_grads)}"
    for key, t_grad in t_grads.items():
        assert_parity(
            o_grads[key],
            t_grad,
            rtol=rtol,
            tensor=f"d{key}",
            layer=name,
            config=config,
            floor=floor,
        )
    return o_y, t_y, o_dxs, t_dxs


def draw_inputs(data, shapes, dtype, kinds=("normal",)):
    return [data.draw(S.arrays(s, dtype, kinds), label=f"x_{k}") for k, s in enumerate(shapes)]


def draw_dy(data, shape, dtype):
    return data.draw(S.upstream_gradients(tuple(shape), dtype), label="dy")


# ----------------------------------------------------------------------------- strategies


@st.composite
def reshape_cases(draw):
    """(target_shape, input shape): the target a factorisation of the sample size, maybe a -1."""
    sample = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    size, target = math.prod(sample), []
    for _ in range(draw(st.integers(0, 2))):
        d = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
        target.append(d)
        size //= d
    target.append(size)
    target = draw(st.permutations(target))
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return tuple(target), (draw(st.integers(1, 3)), *sample)


@st.composite
def merge_cases(draw):
    """(class name, input shapes): 1-3 inputs (2 for Subtract) from one full shape, each maybe
    of lower rank (leading axes after the batch dropped) and with size-1 axes (broadcast)."""
    name = draw(st.sampled_from(("Average", "Subtract", "Multiply", "Maximum", "Minimum")))
    n = 2 if name == "Subtract" else draw(st.integers(1, 3))
    full = (draw(st.integers(1, 3)), *draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    shapes = []
    for _ in range(n):
        rest = list(full[1 + draw(st.integers(0, len(full) - 2)) :])
        rest = [1 if draw(st.integers(0, 3)) == 0 else d for d in rest]
        shapes.append((full[0], *rest))
    return name, shapes


LAMBDAS = {
    "x * tanh(x)": lambda o: lambda x: x * o.tanh(x),
    "sum(x ** 2, -1)": lambda o: lambda x: o.sum(x**2, axis=-1),
    "softmax(x) - mean(x)": lambda o: lambda x: o.softmax(x) - o.mean(x, axis=-1, keepdims=True),
    "maximum(x, 0.5) * k": lambda o: lambda x, k=3.0: o.maximum(x, 0.5) * k,
}


# ----------------------------------------------------------------------------- forward/backward


@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(case=reshape_cases(), data=st.data())
def test_reshape(dtype, case, data):
    target, shape = case
    xs = draw_inputs(data, [shape], dtype)
    out = keras.layers.Reshape(target).compute_output_shape(shape)
    o_y, t_y, _, _ = check_pair(
        lambda: Reshape(target),
        lambda: keras.layers.Reshape(target),
        xs,
        draw_dy(data, out, dtype),
        dtype,
        {"target_shape": target},
    )
    np.testing.assert_array_equal(o_y, t_y)  # a reshape moves no values


@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(
    dims=st.integers(1, 3).flatmap(lambda k: st.permutations(range(1, k + 1))),
    data=st.data(),
)
def test_permute(dtype, dims, data):
    shape = (data.draw(st.integers(1, 3)), *(data.draw(st.integers(1, 4)) for _ in dims))
    xs = draw_inputs(data, [shape], dtype)
    out = (shape[0], *(shape[d] for d in dims))
    o_y, t_y, o_dx, t_dx = check_pair(
        lambda: Permute(dims),
        lambda: keras.layers.Permute(dims),
        xs,
        draw_dy(data, out, dtype),
        dtype,
        {"dims": tuple(dims)},
    )
    np.testing.assert_array_equal(o_y, t_y)
    np.testing.assert_array_equal(o_dx[0], t_dx[0])


@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(n=st.integers(1, 4), N=st.integers(1, 3), D=st.integers(1, 5), data=st.data())
def test_repeat_vector(dtype, n, N, D, data):
    xs = draw_inputs(data, [(N, D)], dtype)
    check_pair(
        lambda: RepeatVector(n),
        lambda: keras.layers.RepeatVector(n),
        xs,
        draw_dy(data, (N, n, D), dtype),
        dtype,
        {"n": n},
    )


@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(
    scale=st.sampled_from((1 / 255, 0.5, -2.0, 1 / 3, 0.1, 2)),
    offset=st.sampled_from((0.0, -1.0, 0.3, 1)),
    per_channel=st.sampled_from((None, "float64", "float32")),
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple),
    integers=st.booleans(),
    data=st.data(),
)
def test_rescaling(dtype, scale, offset, per_channel, shape, integers, data):
    if per_channel is not None:  # one scale per channel, a NumPy array of that dtype
        scale = (np.arange(1, shape[-1] + 1) / 7.0).astype(per_channel)
    if integers:  # uint8 pixels: cast to floats on both sides; no gradient reaches them
        xs = [np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, 256, shape)]
        xs = [xs[0].astype(np.uint8)]
    else:
        xs = draw_inputs(data, [shape], dtype)
    o_y, t_y, _, _ = check_pair(
        lambda: Rescaling(scale, offset),
        lambda: keras.layers.Rescaling(scale, offset),
        xs,
        draw_dy(data, shape, dtype),
        dtype,
        {"scale": scale, "offset": offset},
    )
    np.testing.assert_array_equal(o_y, t_y)  # one multiply and one add: bit-exact


@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(
    input_dim=st.integers(1, 8),
    output_dim=st.integers(1, 5),
    ids_shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    data=st.data(),
)
def test_embedding(dtype, input_dim, output_dim, ids_shape, data):
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    # ids from the whole valid range, negatives included (they count from the end in Keras's
    # take); with few rows, most ids repeat, so the scatter-add must sum them
    ids = rng.integers(-input_dim, input_dim, size=ids_shape)
    weights = S.weights_for([(input_dim, output_dim)], dtype, seed)
    dy = draw_dy(data, (*ids_shape, output_dim), dtype)
    o_y, t_y, _, _ = check_pair(
        lambda: Embedding(input_dim, output_dim),
        lambda: keras.layers.Embedding(input_dim, output_dim),
        [ids],
        dy,
        dtype,
        {"input_dim": input_dim, "output_dim": output_dim},
        weights=weights,
    )
    np.testing.assert_array_equal(o_y, t_y)  # a look-up is exact


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25)
@given(case=merge_cases(), data=st.data())
def test_merges(dtype, case, data):
    name, shapes = case
    # "ties" first: integers in {0, 1, 2}, so Maximum and Minimum meet equal inputs often
    xs = draw_inputs(data, shapes, dtype, kinds=("ties", "normal"))
    out = getattr(keras.layers, name)().compute_output_shape(shapes)
    check_pair(
        OURS[name],
        getattr(keras.layers, name),
        xs,
        draw_dy(data, out, dtype),
        dtype,
        {"layer": name},
        multi=True,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LAMBDAS))
@settings(max_examples=5)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple), data=st.data())
def test_lambda_differentiated_by_autodiff(dtype, name, shape, data):
    xs = draw_inputs(data, [shape], dtype)
    ours = lambda: Lambda(LAMBDAS[name](ops))  # noqa: E731
    theirs = lambda: keras.layers.Lambda(LAMBDAS[name](keras.ops))  # noqa: E731
    with use_floatx(dtype):
        out = theirs().compute_output_shape(shape)
        assert ours().compute_output_shape(shape) == tuple(out)
    check_pair(ours, theirs, xs, draw_dy(data, out, dtype), dtype, {"function": name})


# ----------------------------------------------------------------------------- measured rules


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["Maximum", "Minimum"])
def test_ties_go_to_the_first_input_as_in_tensorflow(dtype, name):
    xs = [np.array([[1.0, 2.0, 0.0]]), np.array([[1.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 2.0]])]
    xs = [x.astype(dtype) for x in xs]
    dy = np.array([[3.0, 5.0, 7.0]], dtype)
    _, _, o_dxs, t_dxs = check_pair(
        OURS[name], getattr(keras.layers, name), xs, dy, dtype, {}, multi=True
    )
    for o, t in zip(o_dxs, t_dxs, strict=True):
        np.testing.assert_array_equal(o, t)  # exactly where TensorFlow routes it
    np.testing.assert_array_equal(t_dxs[0][0, 0], 3.0)  # a three-way tie: all to the first


def test_rescaling_rounds_a_python_float_through_float32_in_float64():
    x = np.ones((1, 1))
    with use_floatx("float64"):
        theirs = keras.layers.Rescaling(1 / 255, offset=0.1)(x).numpy()
        ours = Rescaling(1 / 255, offset=0.1)(x)
    assert ours[0, 0] == theirs[0, 0] == float(np.float32(1 / 255)) + float(np.float32(0.1))
    assert ours[0, 0] != 1 / 255 + 0.1


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_initial_weights_are_keras_uniform_draws(dtype):
    with use_floatx(dtype):
        keras.utils.set_random_seed(11)
        theirs = keras.layers.Embedding(30, 7)
        theirs.build((None, 3))
        scratchnet.utils.set_random_seed(11)
        ours = Embedding(30, 7)
        ours.build((None, 3))
    np.testing.assert_array_equal(ours.get_weights()[0], theirs.get_weights()[0])
    assert np.abs(ours.get_weights()[0]).max() <= 0.05


def test_keras_lambda_config_loads_only_with_safe_mode_false():
    fn = lambda x, k=2.0: x * k  # noqa: E731
    config = keras.layers.Lambda(fn, output_shape=(3,)).get_config()
    with pytest.raises(ValueError, match="safe_mode=False"):
        keras.layers.Lambda.from_config(dict(config), safe_mode=True)
    with pytest.raises(ValueError, match="safe_mode=False"):
        Lambda.from_config(dict(config), safe_mode=True)
    config["dtype"] = config["dtype"]["config"]["name"]
    ours = Lambda.from_config(dict(config), safe_mode=False)
    np.testing.assert_array_equal(ours(np.ones((2, 3))), np.full((2, 3), 2.0, np.float32))


# ----------------------------------------------------------------------------- configs


CONFIG_CASES = [
    ("Reshape", {"target_shape": (-1, 2)}, (None, 3, 4)),
    ("Reshape", {"target_shape": (12,)}, (None, 3, 4)),
    ("Permute", {"dims": (2, 3, 1)}, (None, 3, 4, 5)),
    ("RepeatVector", {"n": 3}, (None, 4)),
    ("Rescaling", {"scale": 1 / 255}, (None, 4, 4, 3)),
    ("Rescaling", {"scale": 1 / 127.5, "offset": -1}, (None, 4)),
    ("Rescaling", {"scale": np.array([0.5, 2.0, 4.0])}, (None, 2, 3)),
    ("Embedding", {"input_dim": 10, "output_dim": 4}, (None, 7)),
    ("Embedding", {"input_dim": 3, "output_dim": 2, "embeddings_initializer": "zeros"}, (None,)),
    ("Average", {}, [(None, 3), (None, 3)]),
    ("Subtract", {}, [(None, 1, 4), (None, 3, 4)]),
    ("Multiply", {}, [(None, 4), (None, 3, 4), (None, 1, 1)]),
    ("Maximum", {}, [(None, 3), (None, 3)]),
    ("Minimum", {}, [(None, 2, 3), (None, 2, 3)]),
    ("Lambda", {"function": lambda x: x * 2.0}, (None, 3)),
    ("Lambda", {"function": lambda x: x, "output_shape": (5,), "arguments": {}}, (None, 5)),
]


def without_dtype(config):
    return {k: v for k, v in config.items() if k != "dtype"}


def same_values(a, b):
    """Config equality, NumPy arrays compared by value."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("layer, kwargs, shape", CONFIG_CASES)
def test_get_config_output_shape_and_count_match_keras(layer, kwargs, shape):
    ours = OURS[layer](**kwargs, name="x")
    theirs = getattr(keras.layers, layer)(**kwargs, name="x")
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert list(ours_config) == list(theirs_config)
    assert ours_config["dtype"] == theirs_config["dtype"]["config"]["name"]
    assert same_values(without_dtype(ours_config), without_dtype(theirs_config))
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    ours.build(shape)
    theirs.build(shape)
    assert ours.count_params() == theirs.count_params()
    assert [(w.name, w.value.shape) for w in ours.weights] == [
        (w.name, tuple(w.shape)) for w in theirs.weights
    ]
    if layer != "Lambda":
        clone = type(ours).from_config(ours.get_config())
        assert same_values(clone.get_config(), ours.get_config())


@pytest.mark.parametrize("layer", sorted(OURS))
def test_constructor_signature_matches_keras(layer):
    def params(cls):
        skip = ("self", "name", "kwargs")
        signature = inspect.signature(cls.__init__).parameters.items()
        return [(n, p.default) for n, p in signature if n not in skip]

    keras_params = params(getattr(keras.layers, layer))
    ours = dict(params(OURS[layer]))
    for name, default in keras_params:
        assert name in ours and ours[name] == default, (layer, name, default)


# ----------------------------------------------------------------------------- in a model


def text_model(lib, L, o):
    """Embedding, Lambda, Reshape, RepeatVector, Permute, Flatten, Rescaling, Dense."""
    return lib.models.Sequential(
        [
            L["Embedding"](9, 3),
            L["Lambda"](lambda x: o.tanh(x) * x),
            L["Reshape"]((-1,)),
            L["RepeatVector"](2),
            L["Permute"]((2, 1)),
            lib.layers.Flatten(),
            L["Rescaling"](0.5, offset=0.25),
            lib.layers.Dense(4),
        ]
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_sequential_model_of_these_layers_matches_keras(dtype):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 9, size=(6, 5))
    dy = rng.standard_normal((6, 4)).astype(dtype)
    keras_layers = {name: getattr(keras.layers, name) for name in OURS}
    with use_floatx(dtype):
        theirs = text_model(keras, keras_layers, keras.ops)
        theirs.build((None, 5))
        ours = text_model(scratchnet, OURS, ops)
        ours.forward(ids, training=False)  # builds it (scratchnet's Sequential has no build)
        ours.set_weights(theirs.get_weights())
        with tf.GradientTape() as tape:
            t_y = theirs(tf.constant(ids))
            loss = tf.reduce_sum(t_y * tf.constant(dy))
        t_grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, theirs.weights)]
        o_y = ours.forward(ids, training=True)
        ours.backward(dy)
        o_grads = ours.gradients()
    assert_parity(o_y, t_y.numpy(), rtol=rtol_for(dtype), tensor="y", model="text_model")
    for w, o, t in zip(theirs.weights, o_grads, t_grads, strict=True):
        assert_parity(o, t, rtol=rtol_for(dtype), tensor=f"d{w.path}", model="text_model",
                      floor=GRADIENT_FLOOR * float(np.max(np.abs(dy))))  # fmt: skip

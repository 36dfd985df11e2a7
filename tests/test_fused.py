"""Conv2D + MaxPooling2D, and BatchNormalization + ReLU, fused into one step each, must give
exactly the two layers' numbers."""

import re

import numpy as np
import pytest

import scratchnet as sn
from keras_impl.architectures import NAMES, build
from scratchnet import activations, config
from scratchnet.kernels import conv as conv_ops
from scratchnet.kernels import conv_pool, process
from scratchnet.kernels import pooling as pool_ops
from scratchnet.kernels.conv import chunks
from scratchnet.kernels.conv import shifted as shifted_ops
from scratchnet.kernels.elementwise import Deferred
from scratchnet.layers import fused

CASES = [
    # (x shape, kernel shape, strides, padding, activation, pool size, pool strides, pool padding)
    ((5, 12, 12, 1), (3, 3, 1, 8), (1, 1), "valid", "relu", (2, 2), (2, 2), "valid"),
    ((4, 11, 9, 3), (3, 3, 3, 6), (1, 1), "same", "sigmoid", (2, 2), (2, 2), "valid"),
    ((3, 13, 13, 2), (2, 3, 2, 5), (2, 1), "same", "tanh", (3, 3), (3, 3), "same"),
    ((6, 10, 10, 4), (3, 3, 4, 4), (1, 1), "valid", "linear", (2, 2), (3, 3), "valid"),
    ((2, 9, 9, 3), (1, 1, 3, 7), (1, 1), "valid", "relu", (2, 3), (2, 3), "same"),
    ((20, 10, 10, 3), (3, 3, 3, 4), (1, 1), "same", "relu", (2, 2), (2, 2), "valid"),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shifted", [False, True])
@pytest.mark.parametrize("one_image", [False, True])
def test_fused_ops_equal_conv_then_pool_bit_for_bit(
    case, dtype, use_bias, shifted, one_image, monkeypatch
):
    """Both ways to compute the convolution: im2col, and (where the geometry allows it: stride
    1, 'valid') shifted products, here even for few channels and small images; with whole-batch
    chunks, or one image per chunk (then several chunks per group: see ChunkPlan.groups)."""
    if one_image:
        monkeypatch.setattr(chunks, "CHUNK_FLOATS", 1)
    if shifted:
        monkeypatch.setattr(shifted_ops, "SHIFTED_MIN_CHANNELS", 1)
        monkeypatch.setattr(shifted_ops, "SHIFTED_MAX_WASTE", float("inf"))
        monkeypatch.setattr(shifted_ops, "SHIFTED_BLAS_KERNELS", {process.blas_kernel_family()})
    else:
        monkeypatch.setattr(shifted_ops, "SHIFTED_MIN_CHANNELS", 10**9)
    x_shape, k_shape, strides, padding, act_name, pool_size, pool_strides, pool_padding = case
    plan = chunks.ChunkPlan(x_shape, k_shape, strides, padding, (1, 1), None)
    assert plan.shifted == (shifted and strides == (1, 1) and padding == "valid")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    x[:, ::2, ::3] = 0.25  # flat regions: ties inside pooling windows
    x[:, 1::4] = 0.0  # whole rows of zero: relu ties at 0 after a zero bias
    kernel = (rng.standard_normal(k_shape) * 0.5).astype(dtype)
    bias = rng.standard_normal(k_shape[3]).astype(dtype) if use_bias else None
    act = activations.get(act_name)

    y, _ = conv_ops.conv2d_forward(x, kernel, bias, strides, padding, (1, 1), act)
    p, argmax = pool_ops.max_pool2d_forward(y, pool_size, pool_strides, pool_padding)
    p_f, argmax_f = conv_pool.conv2d_maxpool_forward(
        x, kernel, bias, strides, padding, (1, 1), act, pool_size, pool_strides, pool_padding, {}
    )
    np.testing.assert_array_equal(p_f, p)
    np.testing.assert_array_equal(argmax_f, argmax)

    dp = rng.standard_normal(p.shape).astype(dtype)
    dy = pool_ops.max_pool2d_backward(dp, argmax, y.shape)
    expected = conv_ops.conv2d_backward(
        Deferred(act.backward, dy, y), x, kernel, strides, padding, (1, 1)
    )
    got = conv_pool.conv2d_maxpool_backward(
        dp, argmax_f, p_f, x, kernel, strides, padding, (1, 1), act, workspace={}
    )
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)
    _, dk, db = conv_pool.conv2d_maxpool_backward(
        dp, argmax_f, p_f, x, kernel, strides, padding, (1, 1), act, need_dx=False
    )
    np.testing.assert_array_equal(dk, expected[1])
    np.testing.assert_array_equal(db, expected[2])


OPTIMIZERS = {
    "seminar": "sgd",
    "zhou": "rmsprop",
    "hanoi": "adam",
    "torres": "sgd",
    "convnet": "adam",
}


def _train(name, fuse, monkeypatch):
    """Two epochs of fit and a predict, with fusion on or off; returns everything that came out."""
    if not fuse:
        monkeypatch.setattr(fused, "can_fuse", lambda first, second: False)
    sn.utils.set_random_seed(3)
    model = build(name, sn)
    model.compile(optimizer=OPTIMIZERS[name], loss="categorical_crossentropy")
    rng = np.random.default_rng(1)
    shape = (784,) if name == "torres" else (28, 28, 1)
    x = rng.random((48, *shape), dtype=np.float32)
    y = sn.utils.to_categorical(rng.integers(0, 10, 48), 10)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    steps = [type(step).__name__ for step in model._steps()]
    monkeypatch.undo()
    return history.history["loss"], model.predict(x, verbose=0), model.get_weights(), steps


@pytest.mark.parametrize("name", NAMES)
def test_tutorial_models_train_the_same_fused_and_unfused(name, monkeypatch):
    loss_f, pred_f, weights_f, steps_f = _train(name, True, monkeypatch)
    loss_u, pred_u, weights_u, steps_u = _train(name, False, monkeypatch)
    assert "ConvPool" not in steps_u
    if name != "torres":
        assert "ConvPool" in steps_f  # every tutorial CNN has a fusable pair
    assert loss_f == loss_u
    np.testing.assert_array_equal(pred_f, pred_u)
    for a, b in zip(weights_f, weights_u, strict=True):
        np.testing.assert_array_equal(a, b)


def test_which_pairs_are_fused():
    conv, pool = sn.layers.Conv2D(4, 3, activation="relu"), sn.layers.MaxPooling2D(2)
    assert fused.can_fuse(conv, pool)
    assert not fused.can_fuse(pool, conv)
    assert not fused.can_fuse(conv, sn.layers.MaxPooling2D(3, strides=2))  # windows overlap
    assert not fused.can_fuse(sn.layers.Conv2D(4, 3, activation="softmax"), pool)
    assert not fused.can_fuse(conv, sn.layers.MaxPooling2D(2, dtype="float64"))

    class MyConv(sn.layers.Conv2D):
        pass

    assert not fused.can_fuse(MyConv(4, 3), pool)
    previous = config.kernels()
    config.use_kernels("numpy")
    try:
        assert not fused.can_fuse(conv, pool)  # the reference twins stay layer by layer
    finally:
        config.use_kernels(previous)


def test_a_fused_model_looks_the_same_from_outside():
    model = build("convnet", sn)
    names = [layer.name for layer in model.layers]
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    model.fit(x, sn.utils.to_categorical([1, 2, 3, 4], 10), verbose=0)
    assert [layer.name for layer in model.layers] == names
    assert len(model.gradients()) == len(model.trainable_weights)
    assert all(g.shape == w.shape for g, w in zip(model.gradients(), model.trainable_weights))
    assert model(x).shape == (4, 10)


def test_a_fused_pair_still_reports_bad_input_in_the_conv_layers_words():
    model = build("zhou", sn)
    with pytest.raises(ValueError, match="Conv2D|conv2d"):
        model.predict(np.zeros((2, 28, 28, 3), dtype=np.float32), verbose=0)


def test_the_fusion_switch_turns_fusion_off_with_the_same_numbers():
    """config.set_fusion(False): the pairs run as two layers, the tape says so, numbers stay."""
    rng = np.random.default_rng(4)
    x = rng.random((8, 28, 28, 1), dtype=np.float32)
    y = sn.utils.to_categorical(rng.integers(0, 10, 8), 10)
    results = {}
    for on in (True, False):
        sn.utils.set_random_seed(5)
        model = build("zhou", sn)
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
        sn.config.set_fusion(on)
        try:
            ran = sn.utils.trace(model, x)
            loss = model.train_on_batch(x, y)
            results[on] = (ran, loss, model.get_weights())
        finally:
            sn.config.set_fusion(True)
    assert "ConvPool" in results[True][0] and "ConvPool" not in results[False][0]
    assert "+max_pooling2d" in results[True][0]  # conv2d_N+max_pooling2d_M (ConvPool)
    assert results[True][1] == results[False][1]
    for a, b in zip(results[True][2], results[False][2], strict=True):
        np.testing.assert_array_equal(a, b)


def _functional_two_branches():
    """A branch whose conv feeds only a pooling (fused), and one whose conv output is read
    twice (by a pooling and by the merge: not fused)."""
    inputs = sn.Input((12, 12, 1))
    a = sn.layers.MaxPooling2D()(sn.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs))
    conv_b = sn.layers.Conv2D(4, 3, padding="same", activation="sigmoid")(inputs)
    b = sn.layers.MaxPooling2D()(conv_b)
    c = sn.layers.Conv2D(4, 2, strides=2)(conv_b)  # a second reader of conv_b
    merged = sn.layers.Concatenate()([a, b, c])
    outputs = sn.layers.Dense(3, activation="softmax")(sn.layers.Flatten()(merged))
    return sn.Model(inputs, outputs)


def test_functional_models_fuse_the_pairs_that_sequential_would():
    rng = np.random.default_rng(6)
    x = rng.random((5, 12, 12, 1), dtype=np.float32)
    y = sn.utils.to_categorical(rng.integers(0, 3, 5), 3)
    results = {}
    for on in (True, False):
        sn.utils.set_random_seed(7)
        model = _functional_two_branches()
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        sn.config.set_fusion(on)
        try:
            ran = sn.utils.trace(model, x).splitlines()
            history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
            results[on] = (ran, history.history["loss"], model.get_weights(), model.predict(x))
        finally:
            sn.config.set_fusion(True)
    fused_steps = [line for line in results[True][0] if "ConvPool" in line]
    assert len(fused_steps) == 1  # branch a only: conv_b has two readers
    assert len(results[True][0]) == len(results[False][0]) - 1
    assert results[True][1] == results[False][1]
    np.testing.assert_array_equal(results[True][3], results[False][3])
    for a, b in zip(results[True][2], results[False][2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_convolution_that_is_a_model_output_is_not_fused_away():
    inputs = sn.Input((6, 6, 1))
    conv = sn.layers.Conv2D(2, 3)(inputs)
    pooled = sn.layers.MaxPooling2D()(conv)
    model = sn.Model(inputs, conv)  # the pooling is not on the way to the output
    assert "ConvPool" not in sn.utils.trace(model, np.zeros((1, 6, 6, 1)))
    del pooled


# ============================================================ BatchNormalization + ReLU (NormReLU)


def _fit_with_fusion(make_model, on, x, y, epochs=2):
    """fit, predict and the tape with fusion on or off, from the same seed."""
    sn.utils.set_random_seed(8)
    model = make_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    config.set_fusion(on)
    try:
        ran = sn.utils.trace(model, x[:2])
        history = model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0)
        return ran, history.history["loss"], model.predict(x, verbose=0), model.get_weights()
    finally:
        config.set_fusion(True)


def _assert_same_numbers(a, b):
    assert a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])
    for wa, wb in zip(a[3], b[3], strict=True):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_modern_cnn_trains_the_same_with_norm_relu_fused_and_not(dtype):
    rng = np.random.default_rng(2)
    x = rng.random((48, 28, 28, 1)).astype(dtype)
    y = sn.utils.to_categorical(rng.integers(0, 10, 48), 10).astype(dtype)
    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        on, off = (_fit_with_fusion(lambda: build("modern", sn), f, x, y) for f in (True, False))
    finally:
        config.set_floatx(previous)
    assert on[0].count("(NormReLU)") == 2 and "NormReLU" not in off[0]
    assert re.search(r"batch_normalization(_\d+)?\+activation(_\d+)? \(NormReLU\)", on[0])
    _assert_same_numbers(on, off)


def test_which_norm_relu_pairs_are_fused():
    norm = sn.layers.BatchNormalization()
    norm_relu = sn.layers.ReLU()
    assert fused.can_fuse_norm_relu(norm, sn.layers.Activation("relu"))
    assert fused.can_fuse_norm_relu(norm, sn.layers.ReLU())
    assert not fused.can_fuse_norm_relu(norm, sn.layers.ReLU(max_value=6.0))
    assert not fused.can_fuse_norm_relu(norm, sn.layers.ReLU(negative_slope=0.1))
    assert not fused.can_fuse_norm_relu(norm, sn.layers.Activation("sigmoid"))
    assert not fused.can_fuse_norm_relu(norm, sn.layers.Activation("relu", dtype="float64"))
    assert not fused.can_fuse_norm_relu(sn.layers.Activation("relu"), norm)
    # an activity penalty reads the normalization's y, which the fused step never makes
    penalized = sn.layers.BatchNormalization(activity_regularizer="l2")
    assert not fused.can_fuse_norm_relu(penalized, sn.layers.ReLU())
    assert fused.can_fuse_norm_relu(sn.layers.BatchNormalization(gamma_regularizer="l2"), norm_relu)

    class MyNorm(sn.layers.BatchNormalization):
        pass

    assert not fused.can_fuse_norm_relu(MyNorm(), sn.layers.ReLU())
    with config_kernels("numpy"):
        assert not fused.can_fuse_norm_relu(norm, sn.layers.ReLU())  # the twins: layer by layer


class config_kernels:
    def __init__(self, name):
        self.name, self.previous = name, config.kernels()

    def __enter__(self):
        config.use_kernels(self.name)

    def __exit__(self, *exc):
        config.use_kernels(self.previous)


def _functional_norm_relu(frozen):
    """One BatchNormalization feeding only a ReLU (fused), one read twice (not fused)."""
    inputs = sn.Input((8, 8, 2))
    h = sn.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    norm = sn.layers.BatchNormalization(momentum=0.5)
    norm.trainable = not frozen
    a = sn.layers.ReLU()(norm(h))
    b_norm = sn.layers.BatchNormalization(center=False)(a)
    b = sn.layers.Add()([sn.layers.Activation("relu")(b_norm), b_norm])  # b_norm read twice
    pooled = sn.layers.GlobalAveragePooling2D()(b)
    return sn.Model(inputs, sn.layers.Dense(3, activation="softmax")(pooled))


@pytest.mark.parametrize("frozen", [False, True])
def test_functional_models_fuse_norm_relu_only_where_the_output_has_one_reader(frozen):
    rng = np.random.default_rng(9)
    x = rng.normal(0, 1, (32, 8, 8, 2)).astype(np.float32)
    y = sn.utils.to_categorical(rng.integers(0, 3, 32), 3)
    make = lambda: _functional_norm_relu(frozen)  # noqa: E731
    on, off = (_fit_with_fusion(make, f, x, y) for f in (True, False))
    assert on[0].count("(NormReLU)") == 1 and "NormReLU" not in off[0]
    assert len(on[0].splitlines()) == len(off[0].splitlines()) - 1
    _assert_same_numbers(on, off)

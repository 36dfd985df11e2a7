"""The autodiff engine and the Keras-way Layer API, on their own (Keras parity: parity_tests/).

The engine (scratchnet/ops/core.py): broadcasting's gradient, a tensor used twice, ops with no
gradient, raw NumPy refused where it would lose a gradient. The Layer API
(scratchnet/layers/base.py, calling.py): add_weight's keywords, Variables, tracked sublayers,
call's declared arguments, several inputs, tracing on an Input, configs, and that nothing writes
into the caller's arrays.
"""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import layers, ops
from scratchnet.ops.core import Tensor, gradients, record_gradients


def grad_of(fn, *values):
    """d(sum(fn(*tensors) * dy))/d(each value), dy random, under recording."""
    rng = np.random.default_rng(0)
    with record_gradients():
        xs = [Tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
        y = fn(*xs)
    dy = rng.standard_normal(y.shape)
    return gradients(y, dy, xs), dy


def test_broadcasting_sums_the_gradient_over_the_stretched_axes():
    (dx, db), dy = grad_of(lambda x, b: x * b, np.ones((4, 3)), np.arange(3.0))
    np.testing.assert_allclose(db, dy.sum(axis=0))
    np.testing.assert_allclose(dx, dy * np.arange(3.0))
    (dc,), dy = grad_of(lambda c: ops.add(np.ones((2, 5, 1)), c), np.ones((1, 4)))
    assert dc.shape == (1, 4)
    np.testing.assert_allclose(dc, dy.sum(axis=(0, 1))[None])


def test_a_tensor_used_twice_sums_both_gradients():
    (dx,), dy = grad_of(lambda x: x * x + x, np.array([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(dx, dy * (2 * np.array([1.0, -2.0, 3.0]) + 1))


def test_comparisons_and_argmax_pass_no_gradient_and_ints_are_constants():
    with record_gradients():
        x = Tensor(np.array([1.0, 3.0, 2.0]), requires_grad=True)
        mask = x > 1.5
        index = ops.argmax(x)
    assert mask.dtype == "bool" and not mask.requires_grad and mask.backward is None
    assert not index.requires_grad and int(index) == 1


def test_a_numpy_function_on_a_tensor_needing_a_gradient_names_the_op():
    with record_gradients():
        x = Tensor(np.ones(3), requires_grad=True)
        with pytest.raises(TypeError, match=r"np\.exp .*scratchnet\.ops\.exp"):
            np.exp(x)
        with pytest.raises(TypeError, match=r"np\.concatenate .*scratchnet\.ops\.concatenate"):
            np.concatenate([x, x])
    assert np.exp(Tensor(np.zeros(2))).tolist() == [1.0, 1.0]  # no gradient wanted: NumPy's
    assert np.asarray(x).tolist() == [1.0, 1.0, 1.0]  # NumPy reads values


def test_ndarray_on_the_left_of_an_operator_still_records():
    (dx,), dy = grad_of(lambda x: np.full(3, 2.0) * x - np.ones(3), np.zeros(3))
    np.testing.assert_allclose(dx, 2 * dy)


class Affine(layers.Layer):
    """Keras's guide's Linear, weights made in __init__ with keywords only."""

    def __init__(self, units=3, input_dim=4, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_uniform")
        self.b = self.add_weight(shape=(units,), initializer="zeros", name="b")
        self.units, self.input_dim = units, input_dim

    def call(self, x):
        return ops.matmul(x, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units, "input_dim": self.input_dim}


def test_add_weight_takes_keras_keywords_and_makes_variables():
    layer = Affine()
    assert isinstance(layer.w, sn.Variable) and layer.w.trainable and layer.w.shape == (4, 3)
    assert layer.b.name == "b" and layer.w.name == "variable"
    assert [v.shape for v in layer.weights] == [(4, 3), (3,)]
    layer.b.assign(np.ones(3))
    layer.b.assign_add(np.ones(3))
    layer.b.assign_sub(np.full(3, 0.5))
    np.testing.assert_array_equal(layer.b.numpy(), np.full(3, 1.5))
    np.testing.assert_array_equal(np.asarray(layer.b) + 1, np.full(3, 2.5))  # NumPy reads it


def test_non_trainable_weights_come_after_the_trainable_ones():
    class Counter(layers.Layer):
        def __init__(self):
            super().__init__()
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False)
            self.scale = self.add_weight(shape=(2,), initializer="ones")

        def call(self, x):
            self.seen.assign_add(1.0)
            return x * self.scale

    layer = Counter()
    assert [v.trainable for v in layer.weights] == [True, False]
    assert layer.trainable_weights == [layer.scale] and layer.non_trainable_weights == [layer.seen]
    layer(np.ones((1, 2), np.float32))
    layer(np.ones((1, 2), np.float32))
    assert float(layer.seen.numpy()) == 2.0 and layer.seen.shape == ()


def test_sublayers_in_attributes_lists_and_dicts_are_tracked_and_train():
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.first = Affine(3, 4)
            self.more = [layers.Dense(3), layers.Dense(2)]
            self.named = {"last": Affine(2, 2)}

        def call(self, x):
            return self.named["last"](self.more[1](self.more[0](self.first(x))))

    sn.utils.set_random_seed(0)
    block = Block()
    model = sn.Sequential([sn.Input((4,)), block])
    # a big step: with the guide's small random_uniform weights, lr=0.01 moves some weights by
    # less than float32 can show
    model.compile(optimizer=sn.optimizers.SGD(learning_rate=10.0), loss="mean_squared_error")
    assert len(block._layers) == 4 and len(model.trainable_weights) == 8
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(np.ones((2, 4), np.float32), np.zeros((2, 2), np.float32))
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_call_gets_only_the_arguments_it_declares_and_may_take_several_tensors():
    seen = {}

    class Mix(layers.Layer):
        def call(self, a, b, training=None):
            seen["training"] = training
            return a * 2.0 + b

    class Plain(layers.Layer):
        def call(self, x):  # no training parameter: Keras does not pass one
            return x - 1.0

    a, b = np.ones((2, 3), np.float32), np.full((2, 3), 5.0, np.float32)
    np.testing.assert_array_equal(Mix()(a, b), np.full((2, 3), 7.0))
    assert seen["training"] is False
    np.testing.assert_array_equal(Plain()(a), np.zeros((2, 3)))

    class Net(sn.Model):
        def __init__(self):
            super().__init__()
            self.mix, self.plain = Mix(), Plain()

        def call(self, x):  # no training parameter on a model either
            return self.plain(self.mix(x, x))

    net = Net()
    net.compile(optimizer="sgd", loss="mean_squared_error")
    net.fit(a, a, verbose=0)
    assert seen["training"] is True  # inherited from fit's step


def test_calling_on_an_input_traces_call_for_the_output_shape():
    inputs = sn.Input((5, 4))
    out = Affine(3, 4)(inputs)
    assert out.shape == (None, 5, 3)
    model = sn.Model(inputs, layers.Flatten()(out))
    assert model.output_shape == (None, 15)


def test_a_custom_layer_config_round_trips():
    layer = Affine(5, 2, name="affine")
    clone = Affine.from_config(layer.get_config())
    assert (clone.units, clone.input_dim, clone.name) == (5, 2, "affine")


def test_an_in_place_update_in_call_never_touches_the_callers_data():
    class Center(layers.Layer):
        def call(self, x):
            x -= ops.mean(x, axis=-1, keepdims=True)
            return x

    data = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    kept = data.copy()
    out = Center()(data)
    np.testing.assert_array_equal(data, kept)
    np.testing.assert_allclose(out, kept - kept.mean(axis=-1, keepdims=True))


def test_add_loss_is_reset_every_call_and_reaches_the_model():
    class Penalty(layers.Layer):
        def call(self, x):
            self.add_loss(ops.sum(x * x) * 0.5)
            return x

    layer = Penalty()
    layer(np.ones((1, 2), np.float32))
    layer(np.ones((1, 2), np.float32))
    assert len(layer.losses) == 1 and float(np.asarray(layer.losses[0])) == 1.0
    model = sn.Sequential([sn.Input((2,)), layer, layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    x, y = np.full((4, 2), 2.0, np.float32), np.zeros((4, 1), np.float32)
    loss = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(0.5 * 32)  # sum(x * x) / 2: the compiled loss is 0


def test_tracing_on_an_input_keeps_unknown_sizes_unknown_and_the_weights_as_they_were():
    class Count(layers.Layer):
        def __init__(self):
            super().__init__()
            self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x):
            self.calls.assign_add(1.0)
            return ops.expand_dims(x, -1) * 2.0

    layer = Count()
    assert layer(sn.Input((None, 4))).shape == (None, None, 4, 1)  # a sequence of any length
    assert float(layer.calls.numpy()) == 0.0  # tracing ran call, but left no trace

"""Layers, losses and metrics written the Keras way train to Keras's numbers.

Each custom class is written twice, once per library, from one source: the class body is the
same text, executed with ``keras`` or ``scratchnet`` bound to ``lib`` and the library's ``ops``
bound to ``ops``. That is the claim of the custom-layers work: a Keras program runs on
scratchnet when only its imports change. Both models then start from the same weights
(``set_weights``) and train on the same batches without shuffling; the per-epoch losses, the
metrics and the final weights must agree.

The layers: the seminar report's ``TokenAndPositionEmbedding`` (section 3.3.2, typos fixed), and
Keras's guide "Making new layers and models via subclassing": ``Linear`` (weights made in
``__init__``, then in ``build``), ``ComputeSum`` (a non-trainable weight updated in ``call``),
``MLPBlock`` (sublayers) and ``ActivityRegularizationLayer`` (``add_loss``); a subclassed model
with arithmetic in ``call``; a custom ``Loss`` class, a plain loss function and a custom
``Metric`` class.
"""

import numpy as np
import pytest

import scratchnet
from parity_tests.ops_parity import keras  # sets the backend first
from scratchnet import ops as sn_ops

LIBS = {"keras": (keras, keras.ops), "scratchnet": (scratchnet, sn_ops)}

SOURCE = '''
class TokenAndPositionEmbedding(lib.Layer):
    """The seminar report's layer (section 3.3.2), with its typos fixed."""

    def __init__(self, max_length, vocab_size, embed_dim):
        super().__init__()
        self.token_embed = self.add_weight(
            shape=(vocab_size, embed_dim), initializer="random_uniform", trainable=True
        )
        self.position_embed = self.add_weight(
            shape=(max_length, embed_dim), initializer="random_uniform", trainable=True
        )

    def call(self, token_ids):
        length = token_ids.shape[-1]
        positions = ops.arange(0, length, dtype="int32")
        position_vectors = ops.take(self.position_embed, positions, axis=0)
        token_ids = ops.cast(token_ids, dtype="int32")
        token_vectors = ops.take(self.token_embed, token_ids, axis=0)
        embed = token_vectors + position_vectors
        power_sum = ops.sum(ops.square(embed), axis=1, keepdims=True)
        return embed / ops.sqrt(ops.maximum(power_sum, 1e-7))


class Linear(lib.layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(
            shape=(input_dim, units), initializer="random_uniform", trainable=True
        )
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class LazyLinear(lib.layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="random_uniform", trainable=True
        )
        self.b = self.add_weight(shape=(self.units,), initializer="random_uniform", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class RegularizedLinear(lib.layers.Layer):
    def __init__(self, units=3):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="random_uniform", regularizer="l2"
        )
        self.b = self.add_weight(
            shape=(self.units,), initializer="zeros", regularizer=lib.regularizers.L1(0.1)
        )

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class ComputeSum(lib.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return inputs * 1.0


class MLPBlock(lib.layers.Layer):
    def __init__(self):
        super().__init__()
        self.linear_1 = LazyLinear(8)
        self.linear_2 = LazyLinear(8)
        self.linear_3 = LazyLinear(3)

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = lib.activations.relu(x)
        x = self.linear_2(x)
        x = lib.activations.relu(x)
        return self.linear_3(x)


class ActivityRegularizationLayer(lib.layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class Scaled(lib.Model):
    def __init__(self):
        super().__init__()
        self.hidden = lib.layers.Dense(8, activation="tanh")
        self.out = lib.layers.Dense(3)

    def call(self, x):
        h = self.hidden(x) * 2.0 - ops.mean(x, axis=-1, keepdims=True)
        return self.out(h[:, :6]) / 3.0


class HuberLike(lib.losses.Loss):
    def __init__(self, delta=1.0, name="huber_like"):
        super().__init__(name=name)
        self.delta = delta

    def call(self, y_true, y_pred):
        error = y_pred - y_true
        small = ops.square(error) / 2.0
        large = self.delta * (ops.abs(error) - self.delta / 2.0)
        return ops.mean(ops.where(ops.abs(error) <= self.delta, small, large), axis=-1)


def squared_log_error(y_true, y_pred):
    return ops.mean(ops.square(ops.log(1.0 + ops.abs(y_pred)) - ops.log(1.0 + y_true)), axis=-1)


class MeanAbsoluteMax(lib.metrics.Metric):
    """Running mean of each batch's largest absolute error."""

    def __init__(self, name="mean_absolute_max", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(ops.max(ops.abs(y_pred - ops.cast(y_true, y_pred.dtype))))
        self.count.assign_add(1.0)

    def result(self):
        return self.total / self.count
'''


def classes(name):
    """The custom classes written with library ``name`` (``keras`` or ``scratchnet``)."""
    lib, ops = LIBS[name]
    namespace = {"lib": lib, "ops": ops}
    exec(compile(SOURCE, f"<custom classes on {name}>", "exec"), namespace)
    return namespace


def train_both(build, compile_args, x, y, epochs=3, batch_size=4):
    """Build on both libraries, share scratchnet's weights, train; return both histories and
    models."""
    out = {}
    for name in ("scratchnet", "keras"):
        lib, _ = LIBS[name]
        model = build(lib, classes(name))
        model.compile(**compile_args(lib, classes(name)))
        model(x[:1])  # build
        out[name] = model
    out["keras"].set_weights(out["scratchnet"].get_weights())
    histories = {
        name: model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
        for name, model in out.items()
    }
    return histories, out


def assert_same_training(histories, models, rtol=1e-5):
    sn_h, k_h = histories["scratchnet"].history, histories["keras"].history
    assert sorted(sn_h) == sorted(k_h), (sorted(sn_h), sorted(k_h))
    for key in k_h:
        np.testing.assert_allclose(sn_h[key], k_h[key], rtol=rtol, atol=1e-7, err_msg=key)
    for i, (a, b) in enumerate(
        zip(models["scratchnet"].get_weights(), models["keras"].get_weights(), strict=True)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=f"weight {i}")


def regression_data(n=12, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype("float32")
    y = rng.random((n, 3)).astype("float32")
    return x, y


def test_the_seminar_reports_token_and_position_embedding_trains_like_keras():
    """With SGD, to the last digits. (With Adam the embedding rows of tokens that occur twice
    in a batch differ by about 1e-3 after a step: ``ops.take``'s gradient is an IndexedSlices
    in TensorFlow, and Keras's Adam squares its slices one by one before summing the repeated
    rows, sum(g_i^2) where the dense gradient gives (sum g_i)^2. scratchnet's gradient is the
    dense one, so its Adam is the textbook Adam there; measured on Keras 3.15.)"""
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 20, size=(16, 6))
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, 16)]

    def build(lib, c):
        inputs = lib.Input((6,), dtype="int32")
        x = c["TokenAndPositionEmbedding"](6, 20, 8)(inputs)
        x = lib.layers.Flatten()(x)
        return lib.Model(inputs, lib.layers.Dense(4, activation="softmax")(x))

    histories, models = train_both(
        build, lambda lib, c: dict(optimizer="sgd", loss="categorical_crossentropy"), tokens, y
    )
    assert_same_training(histories, models)


@pytest.mark.parametrize("layer", ["Linear", "LazyLinear", "MLPBlock"])
def test_guide_layers_train_like_keras(layer):
    x, y = regression_data()

    def build(lib, c):
        make = c[layer]
        inner = make(3, 5) if layer == "Linear" else (make(3) if layer == "LazyLinear" else make())
        return lib.Sequential([lib.Input((5,)), inner])

    histories, models = train_both(
        build, lambda lib, c: dict(optimizer="sgd", loss="mean_squared_error"), x, y
    )
    assert_same_training(histories, models)


def test_add_weight_with_a_regularizer_adds_its_penalty_like_keras():
    x, y = regression_data()

    def build(lib, c):
        return lib.Sequential([lib.Input((5,)), c["RegularizedLinear"](3)])

    histories, models = train_both(
        build, lambda lib, c: dict(optimizer="sgd", loss="mean_squared_error"), x, y
    )
    assert_same_training(histories, models)


def test_a_non_trainable_weight_updated_in_call_matches_keras():
    x, y = regression_data()

    def build(lib, c):
        return lib.Sequential([lib.Input((5,)), c["ComputeSum"](5), lib.layers.Dense(3)])

    histories, models = train_both(
        build, lambda lib, c: dict(optimizer="sgd", loss="mean_squared_error"), x, y, epochs=2
    )
    assert_same_training(histories, models)
    sn_total = models["scratchnet"].layers[0].total.numpy()
    np.testing.assert_allclose(sn_total, np.asarray(models["keras"].layers[0].total), rtol=1e-5)


def test_add_loss_enters_the_loss_and_its_gradient_like_keras():
    x, y = regression_data()

    def build(lib, c):
        inputs = lib.Input((5,))
        h = lib.layers.Dense(4)(inputs)
        h = c["ActivityRegularizationLayer"](0.5)(h)
        return lib.Model(inputs, lib.layers.Dense(3)(h))

    histories, models = train_both(
        build, lambda lib, c: dict(optimizer="sgd", loss="mean_squared_error"), x, y
    )
    assert_same_training(histories, models)


def test_a_subclassed_model_with_arithmetic_in_call_trains_like_keras():
    x, y = regression_data()
    histories, models = train_both(
        lambda lib, c: c["Scaled"](),
        lambda lib, c: dict(optimizer="adam", loss="mean_squared_error"),
        x,
        y,
    )
    assert_same_training(histories, models)


def test_a_custom_loss_class_a_loss_function_and_a_metric_class_match_keras():
    x, y = regression_data()

    def build(lib, c):
        return lib.Sequential([lib.Input((5,)), lib.layers.Dense(3, activation="tanh")])

    for loss in ("HuberLike", "squared_log_error"):

        def compile_args(lib, c, loss=loss):
            chosen = c[loss]() if loss == "HuberLike" else c[loss]
            return dict(optimizer="sgd", loss=chosen, metrics=[c["MeanAbsoluteMax"]()])

        histories, models = train_both(build, compile_args, x, y)
        assert_same_training(histories, models)
        results = {
            name: m.evaluate(x, y, verbose=0, return_dict=True) for name, m in models.items()
        }
        for key in results["keras"]:
            np.testing.assert_allclose(results["scratchnet"][key], results["keras"][key], rtol=1e-5)

"""Model subclassing without Keras: layers in __init__, call() in plain Python, backprop by tape.

A subclassed twin of a Sequential model, given the same weights, must train step for step like it;
a call() that does raw NumPy arithmetic on tensors that need gradients must fail with a message
that says why (the tape only knows layer calls).
"""

import numpy as np
import pytest

import scratchnet
from scratchnet import Input, layers, models, utils


class SmallCNN(scratchnet.Model):
    def __init__(self, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(3, 3, activation="relu")
        self.pool = layers.MaxPooling2D()
        self.flatten = layers.Flatten()
        self.dropout = layers.Dropout(dropout, seed=7)
        self.dense = layers.Dense(4, activation="softmax")

    def call(self, inputs, training=False):
        x = self.pool(self.conv(inputs))  # no training= passed: layers inherit the model's mode
        return self.dense(self.dropout(self.flatten(x)))


def sequential_twin(dropout=0.0):
    return models.Sequential(
        [
            Input((8, 8, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(dropout, seed=7),
            layers.Dense(4, activation="softmax"),
        ]
    )


def data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1)).astype("float32"), np.eye(4)[rng.integers(0, 4, n)]


def test_subclassed_model_trains_like_its_sequential_twin():
    x, y = data()
    sub, seq = SmallCNN(dropout=0.3), sequential_twin(dropout=0.3)
    sub(x[:1])  # build
    assert [type(layer).__name__ for layer in sub.layers] == [
        type(layer).__name__ for layer in seq.layers
    ]
    sub.set_weights(seq.get_weights())
    for model in (sub, seq):
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    h_sub = sub.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False).history
    h_seq = seq.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False).history
    assert h_sub == h_seq  # same dropout masks too: training mode reached the Dropout layer
    for a, b in zip(sub.get_weights(), seq.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sub.evaluate(x, y, verbose=0) == seq.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(sub.predict(x, verbose=0), seq.predict(x, verbose=0))
    assert sub.count_params() == seq.count_params()


def test_training_mode_is_inherited_by_layer_calls():
    x, _ = data()
    model = SmallCNN(dropout=0.5)
    inference = model(x)
    training = model.forward(x, training=True)
    assert not np.allclose(inference, training)  # dropout was active inside call()
    np.testing.assert_array_equal(model(x), inference)  # and inactive in a plain call


class ScaledOutput(SmallCNN):
    def call(self, inputs, training=False):
        return super().call(inputs) * 2  # raw NumPy on the output: not a layer, no backward


class ScaledMiddle(SmallCNN):
    def call(self, inputs, training=False):
        x = self.flatten(self.pool(self.conv(inputs))) * 2  # raw NumPy between two layers
        return self.dense(x)


class Sliced(scratchnet.Model):
    def __init__(self):
        super().__init__()
        self.flatten = layers.Flatten()
        self.dense = layers.Dense(4, activation="tanh")

    def call(self, inputs, training=False):
        x = self.flatten(inputs)
        return self.dense(x[:, :4])  # slicing makes a new array the tape never saw


class RawExp(SmallCNN):
    def call(self, inputs, training=False):
        return np.exp(super().call(inputs))  # a NumPy function: it records no backward rule


@pytest.mark.parametrize("model", [ScaledOutput, ScaledMiddle, Sliced], ids=lambda m: m.__name__)
def test_arithmetic_and_slicing_in_call_train_through_autodiff(model, float64):
    """A subclassed model's call() gets Tensors: * 2 and x[:, :4] are ops with backward rules,
    so the whole model's gradient matches central finite differences."""
    x, y = data()
    x, y = x[:3].astype(np.float64), y[:3]
    model = model()
    model.compile(optimizer="sgd", loss="mean_squared_error")
    loss, grads = model.compute_loss_and_gradients(x, y)
    weights = [v.value for v in model.trainable_weights]
    assert len(grads) == len(weights) and all(g.shape == w.shape for g, w in zip(grads, weights))
    rng = np.random.default_rng(0)
    for w, g in zip(weights, grads):
        for index in [tuple(rng.integers(0, n) for n in w.shape) for _ in range(3)]:
            saved = w[index]
            w[index] = saved + 1e-6
            up = float(model.loss(y, model(x)))
            w[index] = saved - 1e-6
            down = float(model.loss(y, model(x)))
            w[index] = saved
            assert g[index] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-9)


def test_a_numpy_function_on_a_tensor_that_needs_a_gradient_names_the_op():
    x, y = data()
    model = RawExp()
    model.compile(optimizer="sgd", loss="mean_squared_error")
    assert model.predict(x, verbose=0).shape == (20, 4)  # inference needs no gradient: it works
    with pytest.raises(TypeError, match=r"np.exp was called on a scratchnet tensor.*ops.exp"):
        model.fit(x, y, verbose=0)


def test_a_layer_called_twice_trains_with_the_sum_of_both_calls_gradients():
    """A shared layer (one Dense and one PReLU, each called twice in ``call``):
    each call's caches are kept for its backward, and the weight gradients add up; checked
    against finite differences of the loss in float64."""

    class Reused(scratchnet.Model):
        def __init__(self):
            super().__init__()
            self.flatten = layers.Flatten()
            self.dense = layers.Dense(6, activation="tanh")
            self.prelu = layers.PReLU(alpha_initializer="random_uniform")
            self.project = layers.Dense(6)

        def call(self, inputs, training=False):
            h = self.project(self.flatten(inputs))
            h = self.prelu(self.dense(self.prelu(h)))
            return self.dense(h)

    scratchnet.config.set_floatx("float64")
    try:
        utils.set_random_seed(0)
        model = Reused()
        model.compile(optimizer="sgd", loss="mse")
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 6))
        _, grads = model.compute_loss_and_gradients(x, y)
        for variable, g in zip(model.trainable_weights, [g.copy() for g in grads]):
            w, numeric = variable.value, np.zeros_like(variable.value)
            for i in np.ndindex(w.shape):
                old = w[i]
                w[i] = old + 1e-6
                up = float(model.loss(y, model(x)))
                w[i] = old - 1e-6
                down = float(model.loss(y, model(x)))
                w[i] = old
                numeric[i] = (up - down) / 2e-6
            np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9, err_msg=variable.name)
        model.fit(x, y, epochs=2, verbose=0)  # and fit runs the same steps
    finally:
        scratchnet.config.set_floatx("float32")


def test_subclass_without_call_explains_what_to_write():
    class NoCall(scratchnet.Model):
        pass

    with pytest.raises(NotImplementedError, match="call"):
        NoCall()(np.zeros((1, 3)))


def test_gradients_match_finite_differences_in_float64():
    scratchnet.config.set_floatx("float64")
    try:
        utils.set_random_seed(0)
        model = SmallCNN()
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        x, y = data(n=3)
        x = x.astype("float64")
        _, grads = model.compute_loss_and_gradients(x, y)
        grads = [g.copy() for g in grads]
        dense_bias, dense_grad = model.dense.params["bias"], grads[-1]
        conv_kernel, conv_grad = model.conv.params["kernel"], grads[0]
        for w, g in ((dense_bias, dense_grad), (conv_kernel, conv_grad)):
            numeric = np.zeros_like(w)
            for i in np.ndindex(w.shape):
                old = w[i]
                w[i] = old + 1e-6
                up = float(model.loss(y, model(x)))
                w[i] = old - 1e-6
                down = float(model.loss(y, model(x)))
                w[i] = old
                numeric[i] = (up - down) / 2e-6
            np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-9)
    finally:
        scratchnet.config.set_floatx("float32")

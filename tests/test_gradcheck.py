"""``utils.check_gradients``: it passes on every built-in layer, on layers written with ``call``,
on models and on functions, and it fails, naming the tensor and the mistake, on wrong backwards.

Data is random normal (relu kinks within eps of a point have probability ~1e-6 per entry);
max-pooling data is a shuffled ``arange`` so no window has a tie, except in the test that puts
one there on purpose.
"""

import numpy as np
import pytest

from scratchnet import Input, Sequential, config, layers, models, ops
from scratchnet.gradcheck import GradientReport, numeric_gradient
from scratchnet.layers.merging import Merge
from scratchnet.utils import check_gradients


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def distinct(rng, shape):
    """Values 0.1 apart in a shuffled order: no max-pool window has a tie or a near-tie."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1


# ----------------------------------------------------------------------------- it passes


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "softmax"])
def test_dense_with_each_activation(rng, activation):
    report = check_gradients(layers.Dense(3, activation=activation), rng.normal(size=(4, 5)))
    assert [t.tensor for t in report.tensors] == ["dx", "kernel", "bias"]
    assert report.passed and max(report.errors.values()) < 1e-8


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=(2, 3), strides=2, padding="same", activation="relu"),
        dict(kernel_size=3, strides=(2, 1), padding="valid", activation="tanh"),
        dict(kernel_size=2, dilation_rate=2, padding="same", use_bias=False),
    ],
)
def test_conv2d(rng, kwargs):
    report = check_gradients(layers.Conv2D(3, **kwargs), rng.normal(size=(2, 6, 5, 2)))
    expected = ["dx", "kernel"] + (["bias"] if kwargs.get("use_bias", True) else [])
    assert [t.tensor for t in report.tensors] == expected


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(pool_size=3, strides=2, padding="same"), dict(pool_size=(2, 1))]
)
def test_max_pooling_without_ties(rng, kwargs):
    check_gradients(layers.MaxPooling2D(**kwargs), distinct(rng, (2, 5, 5, 2)))


def test_a_max_pool_tie_fails_with_the_kink_hint():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    x[0, 0, 0, 0] = x[0, 1, 1, 0]  # the first window's maximum, twice
    with pytest.raises(AssertionError) as failure:
        check_gradients(layers.MaxPooling2D(), x)
    message = str(failure.value)
    assert "tensor 'dx'" in message
    assert "worst index (0, 0, 0, 0)" in message or "worst index (0, 1, 1, 0)" in message
    assert "only 2 of 16 entries disagree" in message and "max-pool tie" in message


@pytest.mark.parametrize(
    "layer",
    [
        layers.Flatten(),
        layers.Activation("relu"),
        layers.Activation("softmax"),
        layers.ZeroPadding2D(((1, 2), (0, 1))),
        layers.Cropping2D(((1, 0), (1, 2))),
        layers.Dropout(0.0),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_shape_and_elementwise_layers(rng, layer):
    report = check_gradients(layer, rng.normal(size=(2, 4, 5, 3)))
    assert [t.tensor for t in report.tensors] == ["dx"]


def test_dropout_keeps_one_mask_for_every_evaluation(rng):
    layer = layers.Dropout(0.5, seed=3)
    state = layer.seed_generator.state.copy()
    report = check_gradients(layer, rng.normal(size=(4, 6)))
    assert report.passed
    assert (layer.seed_generator.state == state).all()  # the layer's own stream did not move


def test_inference_mode(rng):
    check_gradients(layers.Dense(3, activation="relu"), rng.normal(size=(2, 4)), training=False)
    check_gradients(layers.Dropout(0.0), rng.normal(size=(2, 4)), training=False)


def test_dropout_in_a_model(rng):
    model = Sequential([Input((5,)), layers.Dense(4), layers.Dropout(0.5), layers.Dense(2)])
    check_gradients(model, rng.normal(size=(3, 5)))


@pytest.mark.parametrize("merge", [layers.Concatenate(), layers.Concatenate(axis=1), layers.Add()])
def test_merge_layers_with_three_inputs(rng, merge):
    xs = [rng.normal(size=(2, 3, 4)) for _ in range(3)]
    report = check_gradients(merge, *xs)
    assert [t.tensor for t in report.tensors] == ["dx[0]", "dx[1]", "dx[2]"]
    assert check_gradients(merge, xs).errors.keys() == report.errors.keys()  # a list works too


class Affine(layers.Layer):
    """tanh(x @ kernel + bias), written with ``call``: autodiff finds the gradient."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="random_uniform", name="bias")
        super().build(input_shape)

    def call(self, x):
        return ops.tanh(ops.matmul(x, self.kernel) + self.bias)


class Block(layers.Layer):
    """A layer written with ``call`` around two built-in sublayers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first, self.second = layers.Dense(4, activation="relu"), layers.Dense(2)

    def call(self, x):
        return self.second(self.first(x)) * 2.0


def test_layer_written_with_call(rng):
    report = check_gradients(Affine(3), rng.normal(size=(4, 5)))
    assert [t.tensor for t in report.tensors] == ["dx", "kernel", "bias"]


def test_layer_with_sublayers_names_their_weights(rng):
    block = Block()
    report = check_gradients(block, rng.normal(size=(3, 5)))
    first, second = block.first.name, block.second.name
    names = ["dx", f"{first}/kernel", f"{first}/bias", f"{second}/kernel", f"{second}/bias"]
    assert [t.tensor for t in report.tensors] == names


def test_small_models(rng):
    convnet = Sequential(
        [
            Input((6, 6, 1)),
            layers.Conv2D(2, 3, activation="relu"),
            layers.MaxPooling2D(),  # runs fused with the Conv2D (layers.fused)
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    convnet.compile(optimizer="sgd", loss="categorical_crossentropy")  # its loss is not used
    report = check_gradients(convnet, rng.normal(size=(2, 6, 6, 1)))
    assert len(report.tensors) == 4 and "dx" not in report.errors  # weights only

    inputs = Input((4,))
    a, b = layers.Dense(3, activation="tanh")(inputs), layers.Dense(3)(inputs)
    functional = models.Model(inputs, layers.Add()([a, b]))
    check_gradients(functional, rng.normal(size=(2, 4)))


def test_plain_function(rng):
    def f(x, w):
        return ops.sum(ops.tanh(ops.matmul(x, w)) * x[:, :2], axis=0)

    report = check_gradients(f, rng.normal(size=(3, 4)), rng.normal(size=(4, 2)))
    assert [t.tensor for t in report.tensors] == ["dx[0]", "dx[1]"]
    assert report.subject == "function 'f'"


def test_a_float32_layer_is_checked_in_float64_and_left_unchanged(rng):
    assert config.floatx() == "float32"
    layer = layers.Dense(3)
    layer(np.zeros((1, 4)))
    before = [w.copy() for w in layer.get_weights()]
    check_gradients(layer, rng.normal(size=(2, 4)).astype("float32"))
    assert layer.dtype == np.float32 and config.floatx() == "float32"
    assert all(w.dtype == np.float32 for w in layer.get_weights())
    assert all((w == b).all() for w, b in zip(layer.get_weights(), before))

    unbuilt = layers.Dense(3)
    check_gradients(unbuilt, rng.normal(size=(2, 4)))
    assert not unbuilt.built


def test_big_tensors_are_sampled_the_same_way_every_time(rng):
    layer, x = layers.Dense(20), rng.normal(size=(8, 30))
    report = check_gradients(layer, x, max_entries=50)
    assert [t.checked for t in report.tensors] == [50, 50, 20]  # dx, kernel (600), bias (20)
    again = check_gradients(layer, x, max_entries=50)
    assert (report["kernel"].indices == again["kernel"].indices).all()
    assert check_gradients(layer, x, max_entries=None)["kernel"].checked == 600


def test_the_report_prints_as_a_table(rng):
    report = check_gradients(layers.Dense(2, name="tiny"), rng.normal(size=(3, 4)))
    assert isinstance(report, GradientReport)
    lines = str(report).splitlines()
    assert lines[0].startswith("gradient check of layer 'tiny' (Dense) in float64: passed")
    assert lines[1].split() == ["tensor", "shape", "checked", "max", "abs", "error", "relative",
                                "error"]  # fmt: skip
    assert lines[3].startswith("kernel  (4, 2)  8 of 8") and lines[3].endswith("ok")


def test_numeric_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 0.5])
    dy = np.array([0.3, -1.0, 2.0])
    numeric = numeric_gradient(lambda: x**3, x, np.arange(3), dy, 1e-6)
    np.testing.assert_allclose(numeric, 3 * x**2 * dy, rtol=1e-9)
    assert (x == [1.0, -2.0, 0.5]).all()  # restored exactly


# ----------------------------------------------------------------------------- it refuses


class Noisy(layers.Layer):
    """Draws from NumPy's global generator: a different function at every call."""

    def call(self, x):
        return x * np.random.rand(*x.shape)


def test_a_layer_with_its_own_randomness_is_refused(rng):
    with pytest.raises(ValueError, match="different output each time.*np.random"):
        check_gradients(Noisy(), rng.normal(size=(2, 3)))


def test_dropout_in_inference_mode_of_a_training_check_is_explained(rng):
    with pytest.raises(ValueError, match="something else in inference than in training"):
        check_gradients(layers.Dropout(0.5, seed=1), rng.normal(size=(3, 4)), training=False)


def test_not_a_layer_model_or_function():
    with pytest.raises(TypeError, match="expected a layer, a model or a function"):
        check_gradients(42, np.zeros(2))


# ----------------------------------------------------------------------------- it fails


class ScaledKernel(layers.Dense):
    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        self.grads["kernel"] = 1.5 * self.grads["kernel"]
        return dx


class FlippedDx(layers.Dense):
    def backward(self, dy, need_dx=True):
        return -super().backward(dy, need_dx)


class NoBiasGradient(layers.Dense):
    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        self.grads["bias"] = np.zeros_like(self.params["bias"])
        return dx


class TransposedKernel(layers.Dense):
    """dkernel = (x^T @ dz)^T: the right shape only when D_in == D_out."""

    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        self.grads["kernel"] = self.grads["kernel"].T
        return dx


class TransposedKernelReshaped(TransposedKernel):
    """A transposed dkernel reshaped back to the kernel's shape, so no shape error shows it."""

    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        self.grads["kernel"] = self.grads["kernel"].reshape(self.params["kernel"].shape)
        return dx


class SwappedProduct(Merge):
    """y = a * b, with the gradients of its two inputs swapped."""

    def forward(self, xs, training=False):
        a, b = xs
        if training:
            self._a, self._b = a, b  # backward needs each input for the other's gradient
        return a * b

    def backward(self, dy, need_dx=True):
        return [dy * self._a, dy * self._b]  # wrong: dL/da = dy * b and dL/db = dy * a


def failure(layer, *inputs, **kwargs):
    with pytest.raises(AssertionError) as raised:
        check_gradients(layer, *inputs, **kwargs)
    return str(raised.value)


@pytest.mark.parametrize(
    "layer, tensor, hint",
    [
        (ScaledKernel(3, activation="tanh", name="scaled"), "kernel", "is 1.5x the numeric one"),
        (FlippedDx(3, name="flipped"), "dx", "the analytic gradient has the opposite sign"),
        (NoBiasGradient(3, name="no_bias"), "bias", "zero where the numeric one is not"),
        (
            TransposedKernel(4, name="transposed"),
            "kernel",
            "transposed? the analytic gradient is the numeric one's transpose",
        ),
        (
            TransposedKernel(3, name="transposed"),
            "kernel",
            "shape (3, 4), but the tensor has shape (4, 3)",
        ),
        (TransposedKernelReshaped(3, name="transposed"), "kernel", "transposed, then reshaped"),
    ],  # fmt: skip
    ids=[
        "scaled-dkernel",
        "flipped-dx",
        "zero-dbias",
        "transposed",
        "transposed-shape",
        "transposed-reshaped",
    ],  # fmt: skip
)
def test_wrong_backward_passes_fail_naming_the_tensor_and_the_mistake(rng, layer, tensor, hint):
    message = failure(layer, rng.normal(size=(5, 4)))
    first = message.splitlines()[0]
    assert f"layer '{layer.name}' ({type(layer).__name__}), tensor '{tensor}'" in first
    assert hint in message
    if "shape (3, 4)" not in hint:
        assert "worst index (" in message and "analytic = " in message and "numeric = " in message
    assert "FAILED" in message  # the table of every tensor closes the message


def test_the_scaled_kernel_message_in_full(rng):
    message = failure(ScaledKernel(2, name="scaled"), rng.normal(size=(3, 2)))
    lines = message.splitlines()
    assert lines[1] == "  float64, shape (2, 2), 4 of 4 entries checked"
    analytic, numeric = lines[2].split(" = ")[1:]  # "  worst index (i, j): analytic = a, ..."
    assert float(analytic.split(",")[0]) == pytest.approx(1.5 * float(numeric), rel=1e-6)
    assert "relative error 5.000e-01 > tolerance rtol=1e-05" in lines[3]
    assert lines[4].startswith("  hint: the analytic gradient is 1.5x the numeric one everywhere")


def test_swapped_input_gradients_are_recognised(rng):
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    message = failure(SwappedProduct(name="swapped"), a, b)
    assert "tensor 'dx[0]'" in message
    swapped = "the numeric gradient of 'dx[1]': are the gradients of 'dx[0]' and 'dx[1]' swapped?"
    assert swapped in message


def test_a_wrong_layer_inside_a_model_is_named(rng):
    bad = ScaledKernel(3, name="bad_dense")
    model = Sequential([Input((4,)), layers.Dense(5, activation="relu"), bad], name="net")
    message = failure(model, rng.normal(size=(3, 4)))
    assert message.splitlines()[0].endswith(
        "model 'net' (Sequential), tensor 'bad_dense/kernel' of layer 'bad_dense' (ScaledKernel)"
    )
    assert "1.5x" in message

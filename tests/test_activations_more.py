"""The added activations and the activation layers: backward against finite differences (float64).

Activations are checked on their own (``forward``/``backprop``), in place (``out=z``), through the
Tensor path (an op inside a layer's ``call``), and as Python functions differentiated by
autodiff. Layers use ``check_finite_differences``; values stay away from the kinks, whose
slopes are checked against TensorFlow's in ``parity_tests/test_activations_more.py``.
"""

import numpy as np
import pytest

from scratchnet import activations, ops
from scratchnet.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from scratchnet.ops.core import Tensor, gradients, record_gradients

NEW = [
    "elu", "selu", "gelu", "leaky_relu", "softplus", "softsign", "silu", "swish", "hard_sigmoid",
    "hard_silu", "hard_swish", "log_softmax", "exponential", "relu6", "mish",
]  # fmt: skip
KINKS = {"elu": [0.0], "selu": [0.0], "leaky_relu": [0.0], "relu6": [0.0, 6.0]}
KINKS.update(hard_sigmoid=[-3.0, 3.0], hard_silu=[-3.0, 3.0], hard_swish=[-3.0, 3.0])


def away_from_kinks(name, z, margin=0.05):
    """z with every value within ``margin`` of a kink of activation ``name`` pushed out."""
    for kink in KINKS.get(name, ()):
        near = np.abs(z - kink) < margin
        z = np.where(near, kink + np.where(z >= kink, 2, -2) * margin, z)
    return z


def numeric_dz(activation, z, dy, eps=1e-6):
    """Central differences of L = sum(forward(z) * dy) with respect to z."""
    dz = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[index] += eps
        down[index] -= eps
        dz[index] = np.sum((activation.forward(up) - activation.forward(down)) * dy) / (2 * eps)
    return dz


@pytest.mark.parametrize("name", NEW)
def test_backward_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    activation = activations.get(name)
    z = away_from_kinks(name, rng.normal(scale=3.0, size=(4, 5)))
    y = activation.forward(z)
    dy = rng.normal(size=z.shape)
    dz = activations.backprop(activation, dy, y, z)
    np.testing.assert_allclose(dz, numeric_dz(activation, z, dy), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_both_forms_match_finite_differences(approximate):
    rng = np.random.default_rng(1)
    activation = activations.GELU(approximate=approximate)
    z, dy = rng.normal(scale=2.0, size=(3, 4)), rng.normal(size=(3, 4))
    dz = activation.backward(dy, activation.forward(z), z)
    np.testing.assert_allclose(dz, numeric_dz(activation, z, dy), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NEW)
def test_forward_in_place_gives_the_same_values(name):
    activation = activations.get(name)
    z = np.random.default_rng(2).normal(scale=3.0, size=(3, 4))
    expected = activation.forward(z.copy())
    out = z.copy()
    assert activation.forward(out, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", NEW)
def test_backward_leaves_dy_alone(name):
    activation = activations.get(name)
    rng = np.random.default_rng(3)
    z, dy = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    before = dy.copy()
    activations.backprop(activation, dy, activation.forward(z), z)
    np.testing.assert_array_equal(dy, before)


def test_names_and_aliases_resolve_to_one_object_each():
    assert activations.get("swish") is activations.silu is activations.swish
    assert activations.get("hard_swish") is activations.hard_silu
    assert activations.get("GELU") is activations.gelu and not activations.gelu.approximate
    assert activations.serialize("swish") == "silu"
    assert {n for n in NEW if activations.get(n).needs_input} == {
        "gelu", "softsign", "silu", "swish", "hard_silu", "hard_swish", "mish",
    }  # fmt: skip


def test_kink_slopes_are_tensorflows():
    one = np.ones(2)
    at = {  # activation: (z values, expected dz for dy = 1)
        "elu": ([0.0, -0.0], [1.0, 1.0]),
        "selu": ([0.0, -0.0], [activations.SELU_SCALE] * 2),
        "leaky_relu": ([0.0, -0.0], [np.float32(0.2)] * 2),
        "relu6": ([0.0, 6.0], [0.0, 0.0]),
        "hard_sigmoid": ([-3.0, 3.0], [0.0, 0.0]),
        "hard_silu": ([-3.0, 3.0], [0.0, 1.0]),
    }
    for name, (z, expected) in at.items():
        activation = activations.get(name)
        z = np.array(z)
        dz = activations.backprop(activation, one, activation.forward(z), z)
        np.testing.assert_allclose(dz, expected, rtol=1e-15, err_msg=name)


def test_softplus_backward_from_its_output_alone_is_the_sigmoid():
    z = np.array([-40.0, -5.0, 0.0, 5.0, 40.0])
    dz = activations.softplus.backward(np.ones(5), activations.softplus.forward(z))
    np.testing.assert_allclose(dz, 1 / (1 + np.exp(-z)), rtol=1e-14)


def test_bad_parameters_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        activations.ELU(alpha=-1.0)
    with pytest.raises(ValueError, match="negative_slope must be >= 0"):
        activations.LeakyReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match="a function of one tensor"):
        activations.get(3)


def test_activation_object_on_a_tensor_records_its_backward():
    z = Tensor(np.array([[-1.5, 0.3, 2.0]]), requires_grad=True)
    dy = np.array([[0.5, -1.0, 2.0]])
    with record_gradients():
        y = activations.mish(z)
    (dz,) = gradients(y, dy, [z])
    expected = activations.mish.backward(dy, y.value, z.value)
    np.testing.assert_allclose(dz, expected, rtol=1e-15)


def cube_plus_tanh(x):
    return x**3 / 10 + ops.tanh(x)


def test_a_python_function_is_an_activation_differentiated_by_autodiff():
    activation = activations.get(cube_plus_tanh)
    assert isinstance(activation, activations.FunctionActivation) and activation.needs_input
    assert activations.serialize(activation)["config"] == "cube_plus_tanh"  # Keras's entry
    rng = np.random.default_rng(4)
    z, dy = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    y = activation.forward(z)
    np.testing.assert_allclose(y, z**3 / 10 + np.tanh(z), rtol=1e-15)
    dz = activations.backprop(activation, dy, y, z)
    np.testing.assert_allclose(dz, dy * (3 * z**2 / 10 + 1 - np.tanh(z) ** 2), rtol=1e-14)


def test_a_function_using_raw_numpy_is_refused_in_backward_with_the_op_to_use():
    activation = activations.get(lambda x: np.sin(x))
    z = np.ones((1, 2))
    activation.forward(z)  # inference: NumPy's answer is fine
    with pytest.raises(TypeError, match="scratchnet.ops.sin"):
        activation.backward(np.ones((1, 2)), None, z)


# ----------------------------------------------------------------------------------- layers


LAYERS = [
    (LeakyReLU, {}),
    (LeakyReLU, {"negative_slope": 0.05}),
    (ReLU, {}),
    (ReLU, {"negative_slope": 0.2}),
    (ReLU, {"max_value": 1.5, "negative_slope": 0.1, "threshold": 0.5}),
    (ReLU, {"max_value": 6.0}),
    (ReLU, {"max_value": 1.0, "threshold": 0.25}),
    (ELU, {}),
    (ELU, {"alpha": 0.5}),
    (PReLU, {}),
    (PReLU, {"shared_axes": [1]}),
    (PReLU, {"shared_axes": 2, "alpha_initializer": "random_normal"}),
    (Softmax, {}),
    (Softmax, {"axis": 1}),
    (Softmax, {"axis": [1, 2]}),
]


def layer_input(rng, kwargs):
    """A (2, 3, 4) input kept 0.05 away from every kink of the layer's kwargs."""
    x = rng.normal(scale=2.0, size=(2, 3, 4))
    for kink in (0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value") or 0.0):
        near = np.abs(x - kink) < 0.05
        x = np.where(near, kink + np.where(x >= kink, 0.1, -0.1), x)
    return x


@pytest.mark.parametrize(("cls", "kwargs"), LAYERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_layer_matches_finite_differences(float64, finite_differences, cls, kwargs):
    rng = np.random.default_rng(5)
    layer = cls(**kwargs)
    x = layer_input(rng, kwargs)
    layer.build(x.shape)
    if "alpha" in layer.params:  # a non-zero alpha, so that it shows in dx
        layer.params["alpha"][...] = rng.normal(size=layer.params["alpha"].shape)
    finite_differences(layer, x, rng)


def test_prelu_alpha_has_the_input_shape_with_shared_axes_set_to_one():
    layer = PReLU(shared_axes=[1, 2])
    layer.build((None, 5, 6, 3))
    assert layer.params["alpha"].shape == (1, 1, 3) and layer.count_params() == 3
    with pytest.raises(ValueError, match="shared_axes must be axes 1 to 3"):
        PReLU(shared_axes=[0]).build((None, 5, 6, 3))


def test_layer_arguments_are_checked_with_the_layer_named():
    with pytest.raises(ValueError, match="LeakyReLU 'leaky': negative_slope"):
        LeakyReLU(negative_slope=-1, name="leaky")
    with pytest.raises(ValueError, match="ReLU 'r': max_value must be a float >= 0 or None"):
        ReLU(max_value=-1.0, name="r")
    with pytest.raises(ValueError, match="PReLU 'p': alpha_regularizer: Could not interpret"):
        PReLU(alpha_regularizer="l22", name="p")
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        Softmax(axis=3)(np.ones((2, 3)))


def test_leaky_relu_accepts_the_deprecated_alpha_name():
    with pytest.warns(UserWarning, match="negative_slope"):
        layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


def test_output_shapes_need_no_data():
    for cls, kwargs in LAYERS:
        assert cls(**kwargs).compute_output_shape((None, 3, 4)) == (None, 3, 4)

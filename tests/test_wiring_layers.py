"""The shape and wiring layers by themselves: finite differences in float64, the rules a learner
can check by hand (a scatter-add sums repeated ids, a tie goes to the first input), the errors,
and the Lambda's saving rules (a marshalled lambda is refused unless safe_mode=False)."""

import json

import numpy as np
import pytest

from scratchnet import ops
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.lambda_layer import Lambda
from scratchnet.layers.merging import Average, Maximum, Minimum, Multiply, Subtract, average
from scratchnet.layers.preprocessing import Rescaling
from scratchnet.layers.reshaping import Permute, RepeatVector, Reshape

MERGES = (Average, Subtract, Multiply, Maximum, Minimum)


def merge_finite_differences(layer, xs, rng, eps=1e-6):
    """Each dx of a merge against central differences of L = sum(y * dy)."""
    y = layer(xs, training=True)
    dy = rng.normal(size=y.shape)
    dxs = layer.backward(dy)
    for k, x in enumerate(xs):
        numeric = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            saved = x[index]
            x[index] = saved + eps
            up = np.sum(layer(xs) * dy)
            x[index] = saved - eps
            down = np.sum(layer(xs) * dy)
            x[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(dxs[k], numeric, rtol=1e-6, atol=1e-8, err_msg=f"dx_{k}")


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: Reshape((-1, 2)), (2, 3, 4)),
        (lambda: Reshape((6,)), (2, 2, 3)),
        (lambda: Permute((2, 3, 1)), (2, 3, 4, 2)),
        (lambda: Permute((2, 1)), (3, 2, 5)),
        (lambda: RepeatVector(3), (2, 4)),
        (lambda: Rescaling(0.5, offset=-1.0), (2, 3)),
        (lambda: Rescaling(np.array([1.0, 2.0, -3.0])), (2, 2, 3)),
        (lambda: Lambda(lambda x: ops.tanh(x) * x), (2, 3)),
        (lambda: Lambda(lambda x, k: ops.sum(x**k, axis=-1), arguments={"k": 3}), (2, 3)),
    ],
)
def test_single_input_layers_match_finite_differences(layer, shape, float64, finite_differences):
    rng = np.random.default_rng(0)
    finite_differences(layer(), rng.normal(size=shape), rng)


@pytest.mark.parametrize("cls", MERGES)
@pytest.mark.parametrize("shapes", [[(2, 3), (2, 3)], [(2, 1, 4), (2, 3, 4)], [(2, 4), (2, 3, 4)]])
def test_merges_match_finite_differences(cls, shapes, float64):
    rng = np.random.default_rng(1)
    n = 2 if cls is Subtract else 3
    shapes = (shapes * 2)[:n]
    merge_finite_differences(cls(), [rng.normal(size=s) for s in shapes], rng)


def test_lambda_on_two_inputs_gets_a_list(float64):
    layer = Lambda(lambda xs: xs[0] * ops.exp(xs[1]))
    merge_finite_differences(
        layer, [np.ones((2, 3)) * 0.5, np.zeros((2, 3)) + 0.1], np.random.default_rng(2)
    )


def test_embedding_backward_is_a_scatter_add_and_repeated_ids_sum(float64):
    layer = Embedding(5, 2, weights=np.arange(10.0).reshape(5, 2))
    ids = np.array([[1, 3, 1], [-1, 1, 0]])  # id 1 three times; -1 is the last row, 4
    y = layer(ids, training=True)
    np.testing.assert_array_equal(y[1, 0], [8.0, 9.0])
    dy = np.arange(12.0).reshape(2, 3, 2)
    assert layer.backward(dy, need_dx=False) is None
    expected = np.zeros((5, 2))
    for (n, t), i in np.ndenumerate(ids):
        expected[i] += dy[n, t]
    np.testing.assert_array_equal(layer.grads["embeddings"], expected)
    np.testing.assert_array_equal(layer.grads["embeddings"][1], dy[0, 0] + dy[0, 2] + dy[1, 1])
    np.testing.assert_array_equal(layer.grads["embeddings"][2], [0.0, 0.0])  # never read


def test_embedding_matches_finite_differences_on_its_table(float64):
    rng = np.random.default_rng(3)
    layer = Embedding(4, 3)
    ids = rng.integers(0, 4, size=(2, 5))
    y = layer(ids, training=True)
    dy = rng.normal(size=y.shape)
    layer.backward(dy)
    table, eps = layer.params["embeddings"], 1e-6
    numeric = np.zeros_like(table)
    for index in np.ndindex(table.shape):
        saved = table[index]
        table[index] = saved + eps
        up = np.sum(layer(ids) * dy)
        table[index] = saved - eps
        down = np.sum(layer(ids) * dy)
        table[index] = saved
        numeric[index] = (up - down) / (2 * eps)
    np.testing.assert_allclose(layer.grads["embeddings"], numeric, rtol=1e-6, atol=1e-8)


def test_embedding_keeps_integer_ids_and_truncates_float_ids():
    layer = Embedding(3, 2, weights=[np.arange(6.0).reshape(3, 2)])
    assert layer(np.array([[2]], dtype=np.int64))[0, 0, 0] == 4.0
    assert layer(np.array([[1.9]]))[0, 0, 0] == 2.0  # cast to int32 truncates, as Keras
    assert layer(np.array([[1]])).dtype == np.float32


def test_maximum_and_minimum_give_a_tie_to_the_first_input():
    a, b, c = np.ones((1, 2)), np.array([[1.0, 0.0]]), np.ones((1, 2))
    for cls in (Maximum, Minimum):
        layer = cls()
        layer([a, b, c], training=True)
        dxs = layer.backward(np.array([[5.0, 7.0]]))
        expected = (
            [[[5, 7]], [[0, 0]], [[0, 0]]] if cls is Maximum else [[[5, 0]], [[0, 7]], [[0, 0]]]
        )
        for dx, e in zip(dxs, expected, strict=True):
            np.testing.assert_array_equal(dx, e)


def test_output_shapes_without_data():
    assert Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    assert Permute((2, 1)).compute_output_shape((None, 3, 5)) == (None, 5, 3)
    assert RepeatVector(4).compute_output_shape((None, 3)) == (None, 4, 3)
    assert Embedding(9, 4).compute_output_shape((None, 7)) == (None, 7, 4)
    assert Average().compute_output_shape([(None, 4), (None, 3, 4)]) == (None, 3, 4)
    assert Lambda(lambda x: ops.sum(x, axis=1)).compute_output_shape((None, 3, 4)) == (None, 4)
    assert Lambda(lambda x: x, output_shape=(8,)).compute_output_shape((None, 8)) == (None, 8)


def test_functional_form():
    y = average([np.zeros((1, 2)), np.full((1, 2), 4.0)])
    np.testing.assert_array_equal(y, [[2.0, 2.0]])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Reshape((-1, -1)), "at most one -1"),
        (lambda: Reshape((5,))(np.zeros((2, 3))), "total size must not change"),
        (lambda: Reshape((-1, 4))(np.zeros((2, 6))), "not a multiple of 4"),
        (lambda: Permute((1, 3)), "permutation of 1, ..., k"),
        (lambda: Permute((2, 1))(np.zeros((2, 3))), "expects a 3-D input"),
        (lambda: RepeatVector(0), "n must be positive"),
        (lambda: Subtract()([np.zeros((1, 2))] * 3), "exactly 2 inputs"),
        (lambda: Multiply()([np.zeros((1, 2)), np.zeros((1, 3))]), "broadcast"),
        (lambda: Average()([np.zeros((1, 2)), np.zeros((2, 2))]), "different batch sizes"),
        (lambda: Average()(np.zeros((1, 2))), "list of tensors"),
        (lambda: Embedding(0, 2), "input_dim must be a positive integer"),
        (lambda: Embedding(3, 2, mask_zero=True), "mask_zero"),
        (lambda: Embedding(3, 2)(np.array([[3]])), "ids must be in"),
        (lambda: Rescaling("half"), "scale must be a number"),
        (lambda: Lambda(3), "must be callable"),
    ],
)
def test_bad_arguments_and_shapes_say_what_to_do(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_repeat_vector_rejects_a_bool():
    with pytest.raises(TypeError, match="n must be an int"):
        RepeatVector(True)


# ------------------------------------------------------------------------------- Lambda saving


def roundtrip(layer):
    """get_config through JSON, as config.json stores it."""
    return json.loads(json.dumps(layer.get_config()))


def test_a_marshalled_lambda_is_refused_unless_safe_mode_is_false():
    scale = 3.0
    layer = Lambda(lambda x, p=2.0: x * scale + p, output_shape=(4,))
    config = roundtrip(layer)
    assert config["function"]["class_name"] == "__lambda__"
    for safe_mode in (True, None):
        with pytest.raises(ValueError, match="safe_mode=False"):
            Lambda.from_config(config, safe_mode=safe_mode)
    clone = Lambda.from_config(config, safe_mode=False)
    np.testing.assert_array_equal(clone(np.ones((1, 4))), np.full((1, 4), 5.0, np.float32))
    # the same bytecode (marshal's byte string itself may differ in its reference flags)
    assert clone.function.__code__.co_code == layer.function.__code__.co_code
    assert clone.get_config()["function"]["config"]["closure"] == (3.0,)
    assert clone.compute_output_shape((None, 4)) == (None, 4)


def test_a_lambda_output_shape_function_is_refused_too():
    config = roundtrip(Lambda(lambda x: x, output_shape=lambda s: s))
    config["function"] = {"module": "builtins", "class_name": "function", "config": "relu"}
    with pytest.raises(ValueError, match="output_shape"):
        Lambda.from_config(config)
    clone = Lambda.from_config(config, safe_mode=False)  # relu: found among the activations
    assert clone.compute_output_shape((None, 2)) == (None, 2)
    np.testing.assert_array_equal(clone(np.array([[-1.0, 2.0]])), [[0.0, 2.0]])


def test_a_named_function_is_found_by_name_and_no_code_is_written():
    def double(x):
        return x * 2.0

    config = Lambda(double).get_config()
    assert config["function"] is double  # the saving code writes it by its registered name
    config["function"] = {"module": "builtins", "class_name": "function", "config": "Custom>double"}
    with pytest.raises(ValueError, match="cannot find the function"):
        Lambda.from_config(config)
    clone = Lambda.from_config(config, custom_objects={"Custom>double": double})
    assert clone.function is double

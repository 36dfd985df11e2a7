"""Tests of scratchnet.utils: to_categorical (Keras's NumPy path) and set_random_seed."""

import random

import numpy as np
import pytest

from scratchnet import utils


def test_to_categorical_basic_is_float64():
    y = utils.to_categorical([0, 1, 2, 3], num_classes=4)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, np.eye(4))


def test_to_categorical_infers_num_classes_as_max_plus_one():
    y = utils.to_categorical(np.array([2, 0], dtype=np.uint8))
    np.testing.assert_array_equal(y, [[0, 0, 1], [1, 0, 0]])


def test_to_categorical_zero_num_classes_means_infer_like_keras():
    assert utils.to_categorical([1, 0], num_classes=0).shape == (2, 2)


def test_to_categorical_squeezes_a_trailing_size_one_axis():
    assert utils.to_categorical(np.array([[1], [0], [2]])).shape == (3, 3)
    assert utils.to_categorical(np.zeros((2, 5, 1), dtype=int), 4).shape == (2, 5, 4)


def test_to_categorical_keeps_other_shapes():
    assert utils.to_categorical(np.array([[0, 1], [1, 0]]), 3).shape == (2, 2, 3)
    assert utils.to_categorical(np.array([1]), 3).shape == (1, 3)  # (1,) is not squeezed
    assert utils.to_categorical(2, 3).tolist() == [0.0, 0.0, 1.0]  # a scalar label


def test_to_categorical_truncates_float_labels_like_numpy_int64_cast():
    np.testing.assert_array_equal(utils.to_categorical([1.9, 0.2], 2), [[0, 1], [1, 0]])


def test_to_categorical_empty_with_num_classes():
    assert utils.to_categorical(np.zeros((0,), dtype=int), 3).shape == (0, 3)


@pytest.mark.parametrize(
    "labels, num_classes, match",
    [
        ([0, -1, 2], None, "label -1 is outside"),
        ([0, 3], 3, r"label 3 is outside \[0, 3\)"),
        ([], None, "empty"),
    ],
)
def test_to_categorical_rejects_bad_labels(labels, num_classes, match):
    with pytest.raises(ValueError, match=match):
        utils.to_categorical(labels, num_classes)


def test_set_random_seed_seeds_python_and_numpy():
    utils.set_random_seed(5)
    a = (random.random(), np.random.rand())
    utils.set_random_seed(5)
    assert (random.random(), np.random.rand()) == a
    assert utils.get_random_seed() == 5


def test_set_random_seed_requires_an_int():
    with pytest.raises(ValueError, match="integer"):
        utils.set_random_seed(1.0)

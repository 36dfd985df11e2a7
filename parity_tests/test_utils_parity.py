"""scratchnet.utils against keras.utils: to_categorical on NumPy and list inputs, exactly."""

import random

import numpy as np
import pytest

from keras_impl.setup import keras
from scratchnet import utils


@pytest.mark.parametrize(
    "labels, num_classes",
    [
        ([0, 1, 2, 3], None),
        ([0, 1, 2, 3], 6),
        (np.array([3, 0, 1], dtype=np.uint8), None),
        (np.array([[1], [0], [2]]), None),  # trailing size-1 axis squeezed
        (np.array([[0, 1], [1, 0]]), 3),
        (np.zeros((2, 5, 1), dtype=np.int32), 4),
        (np.array([1]), 3),  # a (1,) shape is not squeezed
        ([1.9, 0.2], 2),  # floats truncated by the int64 cast
        (2, 3),  # a scalar label
        ([1, 0], 0),  # 0 classes means infer
    ],
)
def test_to_categorical_equals_keras(labels, num_classes):
    theirs = keras.utils.to_categorical(labels, num_classes)
    ours = utils.to_categorical(labels, num_classes)
    assert ours.dtype == theirs.dtype == np.float64
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_set_random_seed_leaves_python_and_numpy_where_keras_does():
    keras.utils.set_random_seed(42)
    theirs = (random.random(), np.random.rand())
    utils.set_random_seed(42)
    ours = (random.random(), np.random.rand())
    assert ours == theirs

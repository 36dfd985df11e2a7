"""The five tutorial models, and the benchmark's modern CNN (BatchNormalization + ReLU, run fused),
against Keras: forward output and every parameter gradient.

Both models start from Keras's initial weights, copied into scratchnet, and their Dropout layers
get the same seeds, so in training mode both drop the same units. Two backward passes per model:
from a random upstream gradient on the softmax output (un-fused softmax backward), and from the
cross-entropy training loss (softmax fused with the loss, as in ``fit``).
"""

import pytest

from keras_impl.architectures import NAMES
from parity_tests.compare import GRADIENT_FLOOR, LOSS_FLOOR, assert_parity, rtol_for
from parity_tests.runners import model_gradient_pairs


@pytest.mark.parametrize("dtype", ("float64", "float32"))
@pytest.mark.parametrize("name", (*NAMES, "modern"))
def test_model_forward_and_all_parameter_gradients(name, dtype):
    pairs = model_gradient_pairs(name, dtype, n=4)
    for tensor, (ours, theirs) in pairs.items():
        layer, _, what = tensor.rpartition(".")
        floor = LOSS_FLOOR if tensor == "loss" else 0.0 if tensor == "y" else GRADIENT_FLOOR / 4
        assert_parity(
            ours,
            theirs,
            rtol=rtol_for(dtype),
            tensor=what,
            layer=layer or None,
            model=name,
            config={"dtype": dtype, "batch": 4, "training": True},
            floor=floor,
        )

"""Summary parity for more layers: one small model per layer, built the same way in both libraries.

Each case compares ``count_params()``, per-layer ``count_params()``, the trainable /
non-trainable split, the output shapes and the whole ``summary()`` text (``line_length`` fixed).
Layer names come from fresh name counters on both sides (``clear_session``).
"""

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras

LINE_LENGTH = 80  # rich crops wider lines at its 80-column default width when captured


def _seq(lib, input_shape, *layers):
    return lib.Sequential([lib.Input(shape=input_shape), *layers])


def _merge(name):
    def build(lib):
        a = lib.Input(shape=(4,))
        b = lib.Input(shape=(4,))
        x = lib.layers.Dense(3)(a)
        y = lib.layers.Dense(3)(b)
        out = getattr(lib.layers, name)()([x, y])
        return lib.Model([a, b], out)

    return build


L = lambda lib: lib.layers  # noqa: E731

CASES = {
    "BatchNormalization": lambda lib: _seq(lib, (5,), L(lib).BatchNormalization()),
    "AveragePooling2D": lambda lib: _seq(lib, (6, 6, 2), L(lib).AveragePooling2D(2)),
    "GlobalAveragePooling2D": lambda lib: _seq(lib, (6, 6, 2), L(lib).GlobalAveragePooling2D()),
    "GlobalMaxPooling2D": lambda lib: _seq(lib, (6, 6, 2), L(lib).GlobalMaxPooling2D()),
    "MaxPooling1D": lambda lib: _seq(lib, (8, 3), L(lib).MaxPooling1D()),
    "AveragePooling1D": lambda lib: _seq(lib, (8, 3), L(lib).AveragePooling1D(2)),
    "GlobalAveragePooling1D": lambda lib: _seq(lib, (8, 3), L(lib).GlobalAveragePooling1D()),
    "Conv1D": lambda lib: _seq(lib, (8, 3), L(lib).Conv1D(4, 3)),
    "Conv2DTranspose": lambda lib: _seq(lib, (5, 5, 2), L(lib).Conv2DTranspose(3, 3, strides=2)),
    "DepthwiseConv2D": lambda lib: _seq(lib, (6, 6, 2), L(lib).DepthwiseConv2D(3)),
    "SeparableConv2D": lambda lib: _seq(lib, (6, 6, 2), L(lib).SeparableConv2D(4, 3)),
    "UpSampling2D": lambda lib: _seq(lib, (3, 3, 2), L(lib).UpSampling2D()),
    "SimpleRNN": lambda lib: _seq(lib, (5, 3), L(lib).SimpleRNN(4)),
    "LSTM": lambda lib: _seq(lib, (5, 3), L(lib).LSTM(4, return_sequences=True)),
    "GRU": lambda lib: _seq(lib, (5, 3), L(lib).GRU(4)),
    "ReLU": lambda lib: _seq(lib, (4,), L(lib).ReLU()),
    "LeakyReLU": lambda lib: _seq(lib, (4,), L(lib).LeakyReLU()),
    "ELU": lambda lib: _seq(lib, (4,), L(lib).ELU()),
    "PReLU": lambda lib: _seq(lib, (4,), L(lib).PReLU()),
    "Softmax": lambda lib: _seq(lib, (4,), L(lib).Softmax()),
    "GaussianNoise": lambda lib: _seq(lib, (4,), L(lib).GaussianNoise(0.1)),
    "GaussianDropout": lambda lib: _seq(lib, (4,), L(lib).GaussianDropout(0.1)),
    "SpatialDropout2D": lambda lib: _seq(lib, (4, 4, 2), L(lib).SpatialDropout2D(0.2)),
    "Reshape": lambda lib: _seq(lib, (6,), L(lib).Reshape((2, 3))),
    "Permute": lambda lib: _seq(lib, (2, 3), L(lib).Permute((2, 1))),
    "RepeatVector": lambda lib: _seq(lib, (4,), L(lib).RepeatVector(3)),
    "Rescaling": lambda lib: _seq(lib, (4,), L(lib).Rescaling(1 / 255)),
    "Embedding": lambda lib: _seq(lib, (5,), L(lib).Embedding(10, 3)),
    "Average": _merge("Average"),
    "Subtract": _merge("Subtract"),
    "Multiply": _merge("Multiply"),
    "Maximum": _merge("Maximum"),
    "Minimum": _merge("Minimum"),
}


def summary_text(model):
    lines = []
    model.summary(
        line_length=LINE_LENGTH, print_fn=lambda line, line_break=None: lines.append(line)
    )
    return "".join(lines).rstrip()


def _size(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _layers(model):
    return model.layers  # a Functional model's InputLayers too, in both


def _shapes(model, input_shape):
    """Each layer's output shape, chained through ``compute_output_shape`` (Sequential only)."""
    shapes, shape = [], input_shape
    for layer in model.layers:
        shape = tuple(layer.compute_output_shape(shape))
        shapes.append(shape)
    return shapes


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_summary_equals_keras(name):
    keras.utils.clear_session()
    theirs = CASES[name](keras)
    scratchnet.utils.clear_session()
    ours = CASES[name](scratchnet)

    assert ours.count_params() == theirs.count_params()
    assert [layer.name for layer in _layers(ours)] == [layer.name for layer in _layers(theirs)]
    assert [layer.count_params() for layer in _layers(ours)] == [
        layer.count_params() for layer in _layers(theirs)
    ]
    assert _size(ours.trainable_weights) == _size(theirs.trainable_weights)
    assert _size(ours.non_trainable_weights) == _size(theirs.non_trainable_weights)
    assert tuple(ours.output_shape) == tuple(theirs.outputs[0].shape)
    if isinstance(theirs, keras.Sequential):
        input_shape = tuple(theirs.inputs[0].shape)
        assert _shapes(ours, input_shape) == _shapes(theirs, input_shape)
    ours_text, theirs_text = summary_text(ours), summary_text(theirs)
    assert ours_text == theirs_text, (
        f"summary() of {name} differs:\n--- scratchnet\n{ours_text}\n--- keras\n{theirs_text}"
    )

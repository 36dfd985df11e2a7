"""Every built-in layer's ``get_config``/``from_config``: a round trip, and Keras's config.

The test walks ``scratchnet.layers`` for every Layer class it exports, so a new layer without a
case here fails ``test_every_layer_has_a_case``. Each case gives constructor arguments (the
required ones, and options away from the defaults); for each:

* ``type(layer).from_config(layer.get_config())`` is a layer whose config is the same;
* Keras's layer of the same name, made with the same arguments, has the same config: the same
  keys in the same order and the same values (``dtype`` aside: Keras writes a DTypePolicy
  dict where scratchnet writes its name, and the values are compared as config.json holds
  them, tuples as lists).
"""

import inspect
import json

import pytest

import scratchnet
from keras_impl.setup import keras
from scratchnet.layers.base import Layer


def double(x):
    return x * 2


# class name: [constructor arguments, ...]
CASES = {
    "Activation": [{"activation": "relu"}, {"activation": "softmax"}],
    "Add": [{}],
    "Average": [{}],
    "AveragePooling1D": [{"pool_size": 2}, {"pool_size": 3, "strides": 1, "padding": "same"}],
    "AveragePooling2D": [{"pool_size": 2}, {"pool_size": (2, 3), "strides": 1, "padding": "same"}],
    "BatchNormalization": [{}, {"momentum": 0.9, "epsilon": 1e-4, "center": False}],
    "Concatenate": [{}, {"axis": 1}],
    "Conv1D": [{"filters": 4, "kernel_size": 3},
               {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same",
                "activation": "relu", "use_bias": False}],
    "Conv2D": [{"filters": 4, "kernel_size": 3},
               {"filters": 2, "kernel_size": (2, 3), "strides": 2, "padding": "same",
                "activation": "tanh", "kernel_initializer": "he_normal"}],
    "Conv2DTranspose": [{"filters": 3, "kernel_size": 3}, {"filters": 2, "kernel_size": 2,
                                                           "strides": 2, "padding": "same"}],
    "Cropping2D": [{}, {"cropping": ((1, 2), (0, 1))}],
    "Dense": [{"units": 3}, {"units": 5, "activation": "sigmoid", "use_bias": False,
                             "kernel_regularizer": "l2", "bias_initializer": "ones"}],
    "DepthwiseConv2D": [{"kernel_size": 3}, {"kernel_size": 2, "depth_multiplier": 2,
                                             "padding": "same"}],
    "Dropout": [{"rate": 0.5}, {"rate": 0.2, "seed": 3}],
    "ELU": [{}, {"alpha": 0.5}],
    "Embedding": [{"input_dim": 10, "output_dim": 3}],
    "Flatten": [{}],
    "GRU": [{"units": 4}, {"units": 2, "return_sequences": True, "reset_after": False}],
    "GaussianDropout": [{"rate": 0.3}],
    "GaussianNoise": [{"stddev": 0.1}],
    "GlobalAveragePooling1D": [{}, {"keepdims": True}],
    "GlobalAveragePooling2D": [{}, {"keepdims": True}],
    "GlobalMaxPooling1D": [{}],
    "GlobalMaxPooling2D": [{}],
    "InputLayer": [{"shape": (4,)}, {"shape": (3, 2), "batch_size": 5}],
    "LSTM": [{"units": 4}, {"units": 3, "return_state": True, "unit_forget_bias": False}],
    "Lambda": [{"function": double}],
    "Layer": [{}],
    "LeakyReLU": [{}, {"negative_slope": 0.1}],
    "MaxPooling1D": [{}, {"pool_size": 3, "strides": 1}],
    "MaxPooling2D": [{}, {"pool_size": 3, "strides": 2, "padding": "same"}],
    "Maximum": [{}],
    "Minimum": [{}],
    "Multiply": [{}],
    "PReLU": [{}, {"shared_axes": [1]}],
    "Permute": [{"dims": (2, 1)}],
    "ReLU": [{}, {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5}],
    "RepeatVector": [{"n": 3}],
    "Rescaling": [{"scale": 0.5}, {"scale": 1 / 255, "offset": -1.0}],
    "Reshape": [{"target_shape": (2, 3)}],
    "SeparableConv2D": [{"filters": 4, "kernel_size": 3}, {"filters": 2, "kernel_size": 2,
                                                           "depth_multiplier": 2}],
    "SimpleRNN": [{"units": 4}, {"units": 2, "activation": "relu", "go_backwards": True}],
    "Softmax": [{}, {"axis": 1}],
    "SpatialDropout2D": [{"rate": 0.2}],
    "Subtract": [{}],
    "UpSampling2D": [{}, {"size": 3, "interpolation": "bilinear"}],
    "ZeroPadding2D": [{}, {"padding": ((1, 0), (2, 1))}],
}  # fmt: skip

LAYER_CLASSES = sorted(
    {
        name: cls
        for name in dir(scratchnet.layers)
        if inspect.isclass(cls := getattr(scratchnet.layers, name))
        and issubclass(cls, Layer)
        and cls.__name__ == name  # not an alias (MaxPool2D is MaxPooling2D)
    }.items()
)
PARAMS = [
    pytest.param(name, kwargs, id=f"{name}-{i}")
    for name, _ in LAYER_CLASSES
    for i, kwargs in enumerate(CASES.get(name, []))
]


def as_json(config):
    """A config as config.json holds it: tuples as lists, a function by its name."""
    return json.loads(json.dumps(config, default=lambda v: getattr(v, "__name__", repr(v))))


def without_dtype(config):
    return {k: v for k, v in config.items() if k != "dtype"}


def test_every_layer_has_a_case():
    missing = [name for name, _ in LAYER_CLASSES if not CASES.get(name)]
    assert not missing, f"add constructor arguments for {missing} to CASES"


@pytest.mark.parametrize("name, kwargs", PARAMS)
def test_get_config_from_config_round_trip(name, kwargs):
    layer = getattr(scratchnet.layers, name)(**kwargs, name="probe")
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert type(again) is type(layer)
    assert as_json(again.get_config()) == as_json(config)


@pytest.mark.parametrize(
    "name, kwargs", [p for p in PARAMS if p.values[0] not in ("Layer", "Lambda")]
)
def test_get_config_equals_keras(name, kwargs):
    """(Lambda's config holds its function's bytecode; ``test_wiring_layers`` checks it.)"""
    ours = getattr(scratchnet.layers, name)(**kwargs, name="probe")
    theirs = getattr(keras.layers, name)(**kwargs, name="probe")
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert list(ours_config) == list(theirs_config), f"{name}: keys differ"
    dtype = theirs_config.get("dtype")
    if isinstance(dtype, dict):
        dtype = dtype["config"]["name"]
    assert ours_config.get("dtype") == dtype
    assert as_json(without_dtype(ours_config)) == as_json(without_dtype(theirs_config))

"""scratchnet: a from-scratch NumPy CNN library that mirrors Keras 3, layer for layer.

A Keras Sequential program runs on scratchnet when only its imports change::

    from scratchnet import layers, models, utils
    from scratchnet.datasets import mnist

Reading order for a learner: ``tape`` (the engine) -> ``activations`` -> ``layers/base.py`` ->
``layers/core.py`` -> ``layers/conv.py`` (and one level down ``kernels/conv/``) ->
``layers/pooling.py`` -> ``losses`` -> ``optimizers`` -> ``models`` (fit, evaluate, predict).
To write your own layer: ``ops`` (Keras's ``keras.ops``, with autodiff) and ``layers/calling.py``.
"""

from . import (
    activations,
    backend,
    callbacks,
    config,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    utils,
)
from .kernels import jit as _jit
from .layers import Layer
from .layers.input_layer import Input
from .models import Model, Sequential
from .ops import Variable

_jit.drop_stale_kernel_cache()  # now that every kernel module is imported (see there)

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Layer",
    "Model",
    "Sequential",
    "Variable",
    "activations",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "saving",
    "utils",
]

"""scratchnet: a from-scratch NumPy CNN library that mirrors Keras 3, layer for layer.

A Keras Sequential program runs on scratchnet when only its imports change::

    from scratchnet import layers, models, utils
    from scratchnet.datasets import mnist

Reading order for a learner: ``activations`` -> ``layers/base.py`` (the backprop tape) ->
``layers/core.py`` -> ``ops/conv.py`` and ``layers/conv.py`` -> ``ops/pooling.py`` and
``layers/pooling.py`` -> ``losses`` -> ``optimizers`` -> ``models`` (fit, evaluate, predict).
"""

from . import (
    activations,
    callbacks,
    config,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    utils,
)
from .graph import Input
from .kernels import jit as _jit
from .models import Model, Sequential

_jit.drop_stale_kernel_cache()  # now that every kernel module is imported (see there)

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "config",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "utils",
]

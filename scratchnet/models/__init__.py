"""Models: Sequential, Functional (``Model(inputs, outputs)``) and subclassed ``Model``.

Reading order: ``model.py`` (the engine every model shares: the tape, the loss, backprop, the
optimizer step, fit/evaluate/predict), ``sequential.py``, ``functional.py``, ``nesting.py`` (a
model used as a layer of another), then ``summary.py`` (Keras's summary table), ``cloning.py``
(``get_config``, JSON, ``clone_model``).

Example:
    >>> from scratchnet import Input, layers, models
    >>> model = models.Sequential([Input((4,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    >>> model.count_params()
    10
"""

from .. import saving
from .cloning import clone_model, model_from_config, model_from_json
from .functional import Functional
from .model import Model
from .sequential import Sequential
from .summary import summary_text


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with ``model.save`` (or by Keras, for supported layers).

    A subclassed model needs its class: ``custom_objects={"MyModel": MyModel}``, as in Keras.
    """
    return saving.load_model(
        filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
    )


__all__ = [
    "Functional",
    "Model",
    "Sequential",
    "clone_model",
    "load_model",
    "model_from_config",
    "model_from_json",
    "summary_text",
]

"""Optimizers with Keras 3's exact update formulas, options and learning-rate schedules.

``base``: the ``Optimizer`` class (step counter, learning rate or schedule, slots, and the options
every optimizer has: clipping, weight decay, EMA, loss scale, gradient accumulation, in Keras's
order); ``classic``: SGD, Adam, AdamW, RMSprop; ``more``: Adagrad, Adadelta, Adamax, Nadam,
Lion; ``schedules``: the learning-rate schedules (``scratchnet.optimizers.schedules``).

Example:
    >>> import numpy as np
    >>> w = np.array([1.0, 2.0]); opt = get("sgd")
    >>> opt.apply([np.array([1.0, 1.0])], [w]); w
    array([0.99, 1.99])
"""

from . import schedules
from .base import Optimizer
from .classic import SGD, Adam, AdamW, RMSprop
from .more import Adadelta, Adagrad, Adamax, Lion, Nadam

__all__ = [
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "SGD",
    "get",
    "schedules",
]

_BY_NAME = {
    cls.__name__.lower(): cls
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)
}


def get(identifier):
    """Resolve a name ('sgd', 'adamw', ..., any case), an optimizer class, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Expected one of {sorted(_BY_NAME)} or an object "
        "such as scratchnet.optimizers.Adam(learning_rate=1e-3)."
    )


def class_by_name(class_name, where="optimizer"):
    """The optimizer class Keras calls ``class_name`` ('Adam', 'SGD', ...), or a clear error."""
    cls = _BY_NAME.get(str(class_name).lower())
    if cls is None:
        raise ValueError(
            f"{where}: optimizer {class_name!r} is not supported; scratchnet has "
            f"{', '.join(c.__name__ for c in _BY_NAME.values())}."
        )
    return cls

"""Classes by registered name, as Keras's ``register_keras_serializable`` keeps them.

A file names each object by its class name (``"Sequential"``, ``"Functional"``); the registry
maps such a name back to the class. Model classes register themselves when
``scratchnet.models`` is imported (``@registry.register("Sequential")`` above the class), so
the saving code never imports ``scratchnet.models``: it asks the registry for the class when it
needs it, by which time any model that exists has registered its class.

Example:
    >>> from scratchnet import models
    >>> get("Sequential") is models.Sequential
    True
    >>> is_instance(models.Sequential(), "Sequential", "Functional")
    True
"""

_CLASSES = {}  # registered name -> class


def register(name):
    """A class decorator that registers the class under ``name`` (a later one replaces it)."""

    def decorator(cls):
        _CLASSES[name] = cls
        return cls

    return decorator


def get(name):
    """The class registered under ``name``."""
    if name not in _CLASSES:
        raise LookupError(
            f"No class is registered under {name!r}; registered: {', '.join(sorted(_CLASSES))}. "
            "(Model classes register themselves when scratchnet.models is imported.)"
        )
    return _CLASSES[name]


def is_instance(obj, *names):
    """``isinstance(obj, (get(name), ...))``: whether ``obj`` is of one of the named classes."""
    return isinstance(obj, tuple(get(name) for name in names))

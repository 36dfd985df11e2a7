"""Names, as Keras makes them: snake-cased class names with a counter, and shapes as text.

Example:
    >>> to_snake_case("MaxPooling2D"), shape_str((None, 28, 28, 1))
    ('max_pooling2d', '(None, 28, 28, 1)')
"""

import re
from collections import defaultdict

_NAME_COUNTS = defaultdict(int)


def to_snake_case(name):
    """Keras's rule: 'MaxPooling2D' -> 'max_pooling2d', 'Conv2D' -> 'conv2d'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """'conv2d', then 'conv2d_1', 'conv2d_2', ... per process, as Keras names layers."""
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Reset the automatic layer and model name counters (like ``keras.utils.clear_session``)."""
    _NAME_COUNTS.clear()


def shape_str(shape):
    """(None, 28, 28, 1) printed as Keras prints it."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class Catalog:
    """Keras's ``get`` / ``serialize`` / ``deserialize`` for one family of small objects
    (regularizers, constraints): by name, by Keras's config dict, by class, or as a callable.

    Args:
        kind: the family's word in messages ("regularizer").
        module: Keras's module for the family ("keras.regularizers"), written in configs.
        classes: the family's classes; each is known by its class name and its snake-cased name.
        aliases: more names, ``{"l1l2": L1L2}``.
    """

    def __init__(self, kind, module, classes, aliases=None):
        self.kind, self.module, self.classes = kind, module, tuple(classes)
        self.names = {cls.__name__: cls for cls in self.classes}
        self.names.update({to_snake_case(cls.__name__): cls for cls in self.classes})
        self.names.update(aliases or {})

    def lookup(self, name):
        if name not in self.names:
            raise ValueError(
                f"Could not interpret {self.kind} identifier: {name!r}. scratchnet offers: "
                f"{', '.join(sorted(self.names))}."
            )
        return self.names[name]

    def serialize(self, obj):
        """Keras's config dict (None stays None); an object of yours is returned as it is, for
        ``scratchnet.saving`` to write with its registered name."""
        if obj is None or type(obj) not in self.classes:
            return obj
        return {
            "module": self.module,
            "class_name": type(obj).__name__,
            "config": obj.get_config(),
            "registered_name": None,
        }

    def deserialize(self, config):
        """The object from Keras's config dict or a name, the inverse of ``serialize``."""
        if isinstance(config, str):
            return self.lookup(config)()
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(
                "deserialize: expected a name or a dict with 'class_name' and 'config', "
                f"got {config!r}."
            )
        return self.lookup(config["class_name"]).from_config(dict(config.get("config") or {}))

    def get(self, identifier):
        """None, a name, a config dict, a class (its defaults) or a callable -> the object."""
        if identifier is None:
            return None
        if isinstance(identifier, (str, dict)):
            return self.deserialize(identifier)
        if isinstance(identifier, type):
            return identifier()
        if callable(identifier):
            return identifier
        raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}")

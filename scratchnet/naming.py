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

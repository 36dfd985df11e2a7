"""Custom objects: your own classes and functions, found again by name when a file is loaded.

A saved file names every object it holds. Keras's own objects are named by their public place
(``"module": "keras.layers", "class_name": "Dense"``); yours by a *registered name*,
``"package>name"``. Loading maps that name back to your class through one of three dicts,
looked up in this order (Keras's ``get_registered_object``):

1. the innermost ``custom_object_scope({...})`` being run (a ``with`` block);
2. the global registry: ``@register_keras_serializable(package="MyLayers")`` above the class
   puts it there under ``"MyLayers>Linear"``;
3. the ``custom_objects={...}`` passed to ``load_model`` or ``deserialize_keras_object``.

Nothing is ever imported by name: a class can only be found if your program defined it and
put it in one of the three. That is what makes loading a file from someone else safe.

One difference from Keras: Keras silently replaces a registered object when another one is
registered under the same name. scratchnet raises instead when the two are different
definitions (two ``Linear`` classes from different modules), since the file could only ever
load one of them; defining the same class again (re-running a notebook cell) replaces it.

Example:
    >>> from scratchnet import layers
    >>> @register_keras_serializable(package="Docs")
    ... class Scale(layers.Layer):
    ...     def call(self, x):
    ...         return x * 2.0
    >>> get_registered_name(Scale)
    'Docs>Scale'
    >>> get_registered_object("Docs>Scale") is Scale
    True
    >>> with custom_object_scope({"Twice": Scale}):
    ...     get_registered_object("Twice") is Scale
    True
    >>> get_registered_object("Twice") is None  # the scope is gone
    True
"""

import inspect
import threading

GLOBAL_CUSTOM_OBJECTS = {}  # "package>name" -> class or function
GLOBAL_CUSTOM_NAMES = {}  # class or function -> "package>name"
_SCOPE = threading.local()  # .objects: the dict of the innermost custom_object_scope, per thread


def _scope_objects():
    """The custom objects of the innermost ``custom_object_scope`` in this thread ({} if none)."""
    return getattr(_SCOPE, "objects", None) or {}


class CustomObjectScope:
    """Within the ``with`` block, the given objects can be found by name when loading.

    As in Keras, an inner scope replaces the outer one for its block (they are not merged), and
    leaving a block restores what was there before.

    Args:
        custom_objects: ``{name: class or function}``, e.g. ``{"MyLayers>Linear": Linear}``.
    """

    def __init__(self, custom_objects):
        self.custom_objects = custom_objects or {}
        self.backup = None

    def __enter__(self):
        self.backup = dict(_scope_objects())
        _SCOPE.objects = dict(self.custom_objects)
        return self

    def __exit__(self, *exc_info):
        _SCOPE.objects = dict(self.backup)


custom_object_scope = CustomObjectScope  # Keras's alias


def get_custom_objects():
    """The global registry itself (a live dict): ``{"package>name": object}``.

    Objects of a ``custom_object_scope`` are not in it.
    """
    return GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package="Custom", name=None):
    """A decorator that registers a class or function under ``"package>name"``.

    Args:
        package: the first part of the registered name (Keras's default ``"Custom"``).
        name: the second part; default the class's or function's ``__name__``.

    Returns:
        the decorator; it returns the object unchanged.

    A class must have ``get_config()`` (every scratchnet layer, loss and metric has). A different
    object already registered under the same name is an error (see the module docstring).
    """

    def decorator(arg):
        registered_name = f"{package}>{name if name is not None else arg.__name__}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        previous = GLOBAL_CUSTOM_OBJECTS.get(registered_name)
        if previous is not None and previous is not arg and _where(previous) != _where(arg):
            raise ValueError(
                f"register_keras_serializable: the name '{registered_name}' is already taken by "
                f"{_where(previous)}, so {_where(arg)} cannot have it too: a file naming "
                f"'{registered_name}' could only load one of them. Give one another name, "
                f"e.g. @register_keras_serializable(package='{package}', "
                f"name='{arg.__name__}2'), or another package."
            )
        if previous is not None:
            GLOBAL_CUSTOM_NAMES.pop(previous, None)
        GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def _where(obj):
    """'module.QualName': where a class or function was defined."""
    return f"{obj.__module__}.{obj.__qualname__}"


def get_registered_name(obj):
    """The name ``obj`` is registered under, or its ``__name__`` if it is not registered."""
    if obj in GLOBAL_CUSTOM_NAMES:
        return GLOBAL_CUSTOM_NAMES[obj]
    return obj.__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class or function known as ``name``, or None.

    Looks in the current ``custom_object_scope``, then the global registry, then
    ``custom_objects``, then ``module_objects`` (Keras's order).
    """
    scope = _scope_objects()
    if name in scope:
        return scope[name]
    if name in GLOBAL_CUSTOM_OBJECTS:
        return GLOBAL_CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None

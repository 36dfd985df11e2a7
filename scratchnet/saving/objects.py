"""One object and its Keras config dict, both ways (Keras's ``saving/serialization_lib.py``).

Every object in ``config.json`` (a layer, a loss, a metric, an activation, an initializer) is
written as a dict with the same four keys, the form Keras reads:

    {"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": null}
    {"module": "my_project.layers", "class_name": "Linear", "config": {...},
     "registered_name": "MyLayers>Linear", "build_config": {"input_shape": [null, 3]}}
    {"module": "builtins", "class_name": "function", "config": "MyLosses>smooth_l1",
     "registered_name": "function"}

Writing (``serialize_object``):

* None, str, int, float, bool, lists and dicts stay as they are; a NumPy array or a Tensor
  becomes ``{"class_name": "__numpy__" / "__tensor__", ...}``;
* a function is written by its registered name (``object_registration``); Keras writes
  ``"module": "builtins"`` and ``"registered_name": "function"`` for every function;
* any other object needs ``get_config()``. A class scratchnet has from Keras is written under
  Keras's public module (``keras.layers``, ``keras.losses``, ...); your class under its own
  module (None when it lives in ``__main__``, as Keras writes), with its registered name. A
  built layer also gets a ``build_config``: the input shape it was built on.

Reading (``deserialize_object``) finds the class first:

* your class: by its registered name, then by its class name, in the current
  ``custom_object_scope``, the registry and the ``custom_objects`` passed (Keras itself looks
  up only the registered name);
* Keras's class: in scratchnet's tables of what it has (``LAYER_CLASSES``, ...). A built-in
  layer is rebuilt strictly: every option in the file must be one scratchnet implements.

then calls ``cls.from_config(config)`` (or ``cls(**config)``) inside a
``custom_object_scope`` of all the custom objects, so a ``from_config`` that deserializes a
nested object finds them too, and builds a layer from its ``build_config``.

The hooks an object may define (Keras's names): ``get_config()`` (required), the class method
``from_config(config)``, and for a layer ``get_build_config()`` / ``build_from_config(config)``
(default: the input shape ``build`` received / ``build_from_shape``).

Safety: a file can only name classes and functions that are already known (scratchnet's
tables, or what your program registered or passed); an unknown ``module`` or
``registered_name`` is refused, and nothing is ever imported from a module named in a file. A
``Lambda`` layer's Python code (marshalled bytecode) loads only with ``safe_mode=False``, as in
Keras; a ``__lambda__`` anywhere else is refused whatever ``safe_mode`` says. Arrays in a config
(``__numpy__``) hold numbers only: a dtype such as ``"S2000000000"`` would make NumPy allocate
what the file asks.
"""

import inspect
import types

import numpy as np

from .. import activations, initializers, losses, metrics, optimizers
from .. import layers as layers_module
from ..layers.base import Layer
from ..ops.core import Tensor
from .object_registration import (
    GLOBAL_CUSTOM_OBJECTS,
    CustomObjectScope,
    _scope_objects,
    get_registered_name,
    get_registered_object,
)

PLAIN_TYPES = (str, int, float, bool)

# The layer classes a file may contain, by Keras class name.
LAYER_CLASSES = {
    name: getattr(layers_module, name)
    for name in (
        "Activation", "Add", "Average", "AveragePooling1D", "AveragePooling2D",
        "BatchNormalization", "Concatenate", "Conv1D", "Conv2D", "Conv2DTranspose", "Cropping2D",
        "Dense", "DepthwiseConv2D",
        "Dropout", "ELU", "Embedding", "Flatten", "GRU", "GaussianDropout", "GaussianNoise",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
        "GlobalMaxPooling2D", "LSTM", "Lambda", "LeakyReLU", "MaxPooling1D", "MaxPooling2D",
        "Maximum", "Minimum", "Multiply", "PReLU", "Permute", "ReLU", "RepeatVector",
        "Rescaling", "Reshape", "SeparableConv2D", "SimpleRNN", "Softmax", "SpatialDropout2D",
        "Subtract", "UpSampling2D", "ZeroPadding2D",
    )
}  # fmt: skip
# Keras writes a "build_config" for these built-in classes only (and for every custom layer).
_HAS_BUILD_CONFIG = {  # measured: the classes whose get_build_config() Keras writes
    "Add", "Average", "BatchNormalization", "Concatenate", "Conv1D", "Conv2D", "Conv2DTranspose",
    "Cropping2D", "Dense", "DepthwiseConv2D", "Embedding", "Flatten", "GRU", "LSTM", "Lambda",
    "Maximum", "Minimum", "Multiply", "PReLU", "Permute", "RepeatVector", "Rescaling",
    "SeparableConv2D", "SimpleRNN", "Subtract", "UpSampling2D", "ZeroPadding2D",
}  # fmt: skip
# Keras config keys that scratchnet's constructors do not take, with the value Keras writes when
# the feature is unused. Any other value means the file uses a feature scratchnet lacks.
_KERAS_ONLY_KEYS = {
    "kernel_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
}
# Keras's public modules, each with the scratchnet module holding what scratchnet has of it and
# the base class every such class derives from.
_FAMILIES = {
    "layers": (layers_module, Layer),
    "losses": (losses, losses.Loss),
    "metrics": (metrics, metrics.Metric),
    "optimizers": (optimizers, optimizers.Optimizer),
    "optimizers.schedules": (optimizers.schedules, optimizers.schedules.LearningRateSchedule),
    "initializers": (initializers, initializers.Initializer),
}
# Keras's built-in loss and metric functions that scratchnet has (activations: activations.get).
_FUNCTIONS = {"losses": losses.FUNCTION_NAMES, "metrics": metrics.FUNCTION_NAMES}


# ============================================================================ writing


def serialize_object(obj):
    """``obj`` as Keras's config: plain values as they are, objects as Keras's dicts."""
    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: serialize_object(value) for key, value in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        parts = {k: serialize_object(getattr(obj, k)) for k in ("start", "stop", "step")}
        return {"class_name": "__slice__", "config": parts}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(obj, Tensor):
        return {
            "class_name": "__tensor__",
            "config": {"value": obj.value.tolist(), "dtype": obj.dtype},
        }
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {
            "class_name": "__numpy__",
            "config": {"value": obj.tolist(), "dtype": obj.dtype.name},
        }
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.item()  # a NumPy scalar, as a plain number
    if isinstance(obj, types.FunctionType) or _is_builtin_activation(obj):
        return _function_entry(obj)
    if hasattr(obj, "get_config") and not inspect.isclass(obj):
        return _class_entry(obj)
    raise TypeError(
        f"Cannot serialize {obj!r} (of type {type(obj).__name__}): to be saved, an object needs "
        "a get_config() method returning a dict, or must be a named function."
    )


def _is_builtin_activation(obj):
    """One of ``scratchnet.activations``' own objects (``relu``, ...): saved as Keras's function."""
    if not isinstance(obj, activations.Activation):
        return False
    try:
        return activations.get(obj.name) is obj
    except ValueError:
        return False


def _function_entry(fn):
    if isinstance(fn, activations.Activation):
        name = fn.name
    elif fn.__name__ == "<lambda>":
        raise ValueError(
            "Cannot save a lambda: a file could only restore it by running Python bytecode, "
            "which scratchnet never does. Write a named function (def ...) and register it "
            "with @scratchnet.saving.register_keras_serializable()."
        )
    else:
        name = get_registered_name(fn)
    return {
        "module": "builtins",
        "class_name": "function",
        "config": name,
        "registered_name": "function",
    }


def _class_entry(obj):
    cls = type(obj)
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"{cls.__name__}.get_config() must return a dict; it returned {config!r}.")
    config = serialize_object(config)
    public = _public_module(cls)
    if isinstance(obj, Layer) and (public or "dtype" in config):
        config["dtype"] = dtype_policy(obj.dtype.name)
    module = public or cls.__module__
    entry = {
        "module": None if module == "__main__" else module,
        "class_name": cls.__name__,
        "config": config,
        "registered_name": None if public else get_registered_name(cls),
    }
    build_config = _build_config(obj, public) if isinstance(obj, Layer) else None
    if build_config is not None:
        entry["build_config"] = serialize_object(build_config)
    return entry


def dtype_policy(name):
    """Keras's ``DTypePolicy`` entry for a dtype name (scratchnet keeps just the name)."""
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": name},
        "registered_name": None,
    }


def _public_module(cls):
    """'keras.layers' (or losses, ...) for a class scratchnet has from Keras, else None."""
    if not cls.__module__.startswith("scratchnet."):
        return None
    for family, (module, _) in _FAMILIES.items():
        if getattr(module, cls.__name__, None) is cls:
            return f"keras.{family}"
    return None


def _build_config(layer, public):
    """What the layer was built on, as Keras's ``get_build_config``: ``{"input_shape": ...}``."""
    if public and type(layer).__name__ not in _HAS_BUILD_CONFIG:
        return None
    if hasattr(layer, "get_build_config"):
        return layer.get_build_config()
    if not layer.built or layer.input_shape is None:
        return None
    return {"input_shape": layer.input_shape}


# ============================================================================ reading


def all_custom_objects(custom_objects=None):
    """Every custom object a load can use: those passed, the scope's, the registry's.

    Merged as Keras merges them: for one name, the registry wins over the scope, which wins
    over ``custom_objects``.
    """
    return {**(custom_objects or {}), **_scope_objects(), **GLOBAL_CUSTOM_OBJECTS}


def deserialize_object(config, custom_objects=None, safe_mode=True, what=None):
    """Rebuild what ``serialize_object`` wrote (or Keras wrote), for non-model objects.

    Args:
        config: a config (a dict with ``class_name`` and ``config``, a list, a plain value).
        custom_objects: ``{name: class or function}`` for your objects.
        safe_mode: Keras's flag: a Lambda layer's Python code loads only if it is False.
        what: how to name the object in errors (e.g. "layer 'dense'").
    """
    custom = all_custom_objects(custom_objects)
    if config is None:
        return None
    if isinstance(config, str) and custom.get(config) is not None:
        return custom[config]  # a function saved by its bare name
    if isinstance(config, (list, tuple)):
        return [deserialize_object(x, custom, safe_mode) for x in config]
    if isinstance(config, PLAIN_TYPES):
        return config
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_object(v, custom, safe_mode) for k, v in config.items()}
    class_name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    special = _SPECIAL.get(class_name)
    if special is not None:
        return special(inner, custom, safe_mode)
    if class_name == "function":
        return find_function(config, custom)
    if class_name == "DTypePolicy" and is_keras_or_ours(config.get("module")):
        return inner.get("name")  # scratchnet has no DTypePolicy: a layer takes the name
    cls = find_class(config, custom, what)
    if isinstance(cls, types.FunctionType):
        return cls
    if cls in LAYER_CLASSES.values() and class_name == "Lambda":
        return _lambda_layer(cls, config, custom, safe_mode)
    if cls in LAYER_CLASSES.values():
        return _builtin_layer(cls, config, custom)
    return from_config(cls, config, custom)


def _lambda_layer(cls, entry, custom, safe_mode):
    """A Lambda from its entry: its function is a named one (found as any function is), or
    marshalled Python code, which is loaded only with ``safe_mode=False``, as in Keras."""
    config = dict(entry.get("config") or {})
    dtype = config.pop("dtype", None)
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return cls.from_config(
        {**config, "dtype": dtype}, custom_objects=all_custom_objects(custom), safe_mode=safe_mode
    )


def _refuse_lambda(inner, custom, safe_mode):
    reason = (
        "it is disallowed by default (safe_mode=True), as in Keras"
        if safe_mode
        else "scratchnet never runs Python bytecode from a file, even with safe_mode=False"
    )
    raise ValueError(
        f"The file asks to load a Python lambda: {reason}. Replace the lambda by a named "
        "function, register it with @scratchnet.saving.register_keras_serializable(), and "
        "save again."
    )


def _slice(inner, custom, safe_mode):
    parts = [deserialize_object(inner[k], custom, safe_mode) for k in ("start", "stop", "step")]
    return slice(*parts)


def _refuse(what):
    def refuse(inner, custom, safe_mode):
        raise ValueError(f"scratchnet cannot load {what} from a config.")

    return refuse


def _array(inner):
    """A ``__numpy__`` or ``__tensor__`` value: numbers only (a dtype such as ``"S999999999"``
    would make NumPy allocate what the file asks), no bigger than the config that holds them."""
    dtype = np.dtype(inner["dtype"])
    if dtype.kind not in "biufc":
        raise ValueError(f"an array in the config has dtype {dtype}; only numbers are loaded.")
    return np.array(inner["value"], dtype=dtype)


_SPECIAL = {
    "__numpy__": lambda inner, custom, safe: _array(inner),
    "__tensor__": lambda inner, custom, safe: Tensor(_array(inner)),
    "__bytes__": lambda inner, custom, safe: inner["value"].encode("utf-8"),
    "__ellipsis__": lambda inner, custom, safe: Ellipsis,
    "__slice__": _slice,
    "__lambda__": _refuse_lambda,
    "__typespec__": _refuse("a TensorFlow TypeSpec"),
    "__keras_tensor__": _refuse("a symbolic tensor outside a Functional model's layer graph"),
}


def is_keras_or_ours(module):
    """Whether a file's ``module`` is Keras's (``keras.layers``, ...) or scratchnet's."""
    return isinstance(module, str) and module.split(".")[0] in ("keras", "scratchnet")


def find_class(config, custom, what=None):
    """The class a config names: yours (by registered name, then class name), or Keras's."""
    class_name, module = config.get("class_name"), config.get("module")
    registered = config.get("registered_name")
    if registered:  # not one of Keras's public classes: look for yours first, as Keras does
        for name in (registered, class_name):
            found = get_registered_object(name, custom)
            if found is not None:
                return found
    if is_keras_or_ours(module):
        parts = module.split(".")[1:]  # "optimizers.schedules" is a family of its own
        joined = ".".join(parts)
        family = joined if joined in _FAMILIES else next((p for p in parts if p in _FAMILIES), None)
        found = _builtin_class(family, class_name)
        if found is not None:
            return found
        if family == "layers":
            raise ValueError(
                f"{_what(config, what)} has class {class_name!r}, which scratchnet does not "
                f"support. Supported layer classes: {', '.join(sorted(LAYER_CLASSES))}."
            )
        if module.split(".")[0] == "keras":
            raise ValueError(
                f"{_what(config, what)}: Keras's {class_name!r} ({module}) is not in scratchnet."
            )
    raise ValueError(_not_found(config, what))


def _builtin_class(family, class_name):
    if family == "layers":
        return LAYER_CLASSES.get(class_name)
    if family is None:
        return None
    module, base = _FAMILIES[family]
    cls = getattr(module, class_name, None)
    defined_there = cls.__module__.startswith(module.__name__) if inspect.isclass(cls) else False
    if defined_there and issubclass(cls, base):  # (a package's classes live in its submodules)
        return cls
    return None


def _what(config, what):
    if what:
        return what
    name = (
        (config.get("config") or {}).get("name") if isinstance(config.get("config"), dict) else None
    )
    return f"'{name}'" if name else f"The object of class {config.get('class_name')!r}"


def _not_found(config, what):
    class_name, module = config.get("class_name"), config.get("module")
    registered = config.get("registered_name") or class_name
    package = registered.split(">")[0] if ">" in registered else "Custom"
    if not module:
        origin = "it was defined in a script (__main__)"
    elif is_keras_or_ours(module):
        origin = f"module {module!r}"
    else:
        origin = (
            f"module {module!r} is neither Keras's nor scratchnet's, and scratchnet never "
            "imports a module named in a file"
        )
    return (
        f"{_what(config, what)}: cannot find the class {class_name!r} (registered name "
        f"{registered!r}; {origin}). It must be a class of yours: pass it, "
        f"load_model(path, custom_objects={{'{registered}': {class_name}}}), or register it where "
        f"it is defined with @scratchnet.saving.register_keras_serializable(package='{package}') "
        "and import that module before loading."
    )


def find_function(config, custom):
    """The function a ``{"class_name": "function", ...}`` entry names: yours, or a built-in."""
    name = config.get("config")
    if not isinstance(name, str):
        raise TypeError(f"A function's config must be its name (a string), got {config!r}.")
    bare = name.split(">")[-1]
    for candidate in (name, bare):  # the registered name, then the function's own name
        found = get_registered_object(candidate, custom)
        if found is not None:
            return found
    builtin = builtin_function(name)
    if builtin is not None:
        return builtin
    for key, obj in custom.items():  # Keras <= 3.6 saved custom functions by their bare name
        if key.endswith(">" + name):
            return obj
    package = name.split(">")[0] if ">" in name else "Custom"
    raise ValueError(
        f"Cannot find the function {name!r}: it is not one of Keras's functions that scratchnet "
        f"has, so it must be yours. Pass it, load_model(path, custom_objects={{'{name}': "
        f"{bare}}}), or register it with @scratchnet.saving.register_keras_serializable("
        f"package='{package}') above its definition (and import it before loading)."
    )


def builtin_function(name):
    """Keras's built-in activation, loss or metric function ``name`` (scratchnet's), or None."""
    if name.lower() in {a.name for a in _builtin_activations()}:
        return activations.get(name)
    for family, names in _FUNCTIONS.items():
        if name in names:
            return getattr(_FAMILIES[family][0], name)
    return None


def _builtin_activations():
    return [a for a in vars(activations).values() if _is_builtin_activation(a)]


def from_config(cls, config, custom):
    """``cls.from_config(config["config"])`` (or ``cls(**...)``), then build it if it is a layer."""
    inner = dict(config.get("config") or {})
    if isinstance(inner.get("dtype"), dict):
        inner["dtype"] = (inner["dtype"].get("config") or {}).get("name")
    with CustomObjectScope(custom):
        try:
            instance = cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)
        except TypeError as e:
            raise TypeError(
                f"{cls.__name__} could not be rebuilt from its config {inner}: {e}. If its "
                "get_config() returns objects (layers, losses, ...), serialize them there with "
                "scratchnet.saving.serialize_keras_object and rebuild them in from_config() "
                "with deserialize_keras_object."
            ) from e
        build_config = config.get("build_config")
        if build_config and isinstance(instance, Layer) and not instance.built:
            build_from_config(instance, build_config)
    return instance


def build_from_config(layer, build_config):
    """Create the layer's weights from its ``build_config``, as Keras's ``build_from_config``."""
    if hasattr(layer, "build_from_config"):
        layer.build_from_config(build_config)
    elif "input_shape" in build_config:
        layer.build_from_shape(_shape(build_config["input_shape"]))
    elif "shapes_dict" in build_config:
        layer.build(**{k: _shape(v) for k, v in build_config["shapes_dict"].items()})
    layer.built = True


def _shape(shape):
    """A JSON shape back as a tuple (``[null, 3]`` -> ``(None, 3)``), or a list of them."""
    if shape and all(isinstance(d, (list, tuple)) for d in shape):
        return [tuple(d) for d in shape]
    return tuple(shape) if shape is not None else None


def _builtin_layer(cls, entry, custom):
    """A scratchnet layer from its entry, strictly: every option must be one it implements."""
    class_name = entry.get("class_name")
    config = dict(entry.get("config") or {})
    name = config.get("name", "?")
    dtype = config.pop("dtype", None)
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    if isinstance(config.get("activation"), dict):  # a function of yours, by registered name
        config["activation"] = deserialize_object(config["activation"], custom)
    for key, value in config.items():  # arrays (Rescaling's scale): numbers only, see _array
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":
            config[key] = _array(value.get("config") or {})
    accepted = _constructor_args(cls)
    for key in [k for k in config if k not in accepted]:
        value = config.pop(key)
        if key not in _KERAS_ONLY_KEYS or value != _KERAS_ONLY_KEYS[key]:
            raise ValueError(
                f"Layer '{name}' ({class_name}) uses {key}={value!r}, which scratchnet does not "
                "support."
            )
    try:
        if "from_config" in vars(cls):  # a layer with its own rule (Rescaling: array scales)
            return cls.from_config({**config, "dtype": dtype})
        return cls(**config, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"Cannot rebuild layer '{name}' ({class_name}) from its config: {e}"
        ) from e


def _constructor_args(cls):
    names = {"name", "trainable", "input_shape"}
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self":
                    names.add(p.name)
    return names - {"dtype"}

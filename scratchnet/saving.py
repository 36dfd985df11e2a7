"""Save and load models in Keras 3's own file formats, using only h5py, zipfile and json.

Two formats, the same as Keras writes (keras-behaviour.md section 11):

* ``model.weights.h5``: an HDF5 file of weights. Each object with state gets a group
  ``<path>/vars`` holding datasets ``0``, ``1``, ... in weight order (kernel, then bias), with an
  attribute ``name`` (the object's name). The paths come from walking the model the way Keras
  does (``_saveables`` below):

      /vars                         the model itself (no arrays)
      /layers/conv2d/vars/0, 1      the first Conv2D: kernel (KH, KW, C_in, C_out), bias (C_out,)
      /layers/conv2d_1/vars/0, 1    the second Conv2D ...
      /optimizer/vars/0             step counter (int64), /1 learning rate, /2... slots

  A group key is the snake-cased class name, numbered in layer order (``conv2d``, ``conv2d_1``),
  not the layer's name, so two copies of one architecture share keys even if their names differ.
  In a subclassed model the key is the attribute name (``self.conv1 = ...`` -> ``/conv1/vars``).
* ``.keras``: a zip archive with three uncompressed members: ``metadata.json`` (Keras version
  and date), ``config.json`` (the architecture, each layer's constructor arguments with Keras's
  keys, and the compile settings) and ``model.weights.h5`` (as above, with optimizer state).

Because both are Keras's formats, ``keras.models.load_model`` opens what scratchnet saves, and
scratchnet opens what Keras saves (for the layers scratchnet has), without TensorFlow.

As in Keras, a Dropout layer's random-stream position is not saved: a reloaded model draws its
masks from the start of the stream again.

Writes are atomic: the file is written to a temporary file next to the target, flushed to disk,
then renamed over it, so a crash mid-write leaves the previous file intact. Reads check
everything (format, layer classes, weight count and shapes) before changing the model, and
fail with a message naming the problem rather than loading garbage.

Example:
    >>> import os, tempfile
    >>> from scratchnet import Input, layers, models
    >>> model = models.Sequential([Input((4,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.keras")
    >>> model.save(path)
    >>> [w.shape for w in load_model(path).get_weights()]
    [(4, 2), (2,)]
"""

import datetime
import inspect
import io
import json
import os
import warnings
import zipfile

import h5py
import numpy as np

from . import graph
from . import layers as layers_module
from . import losses as losses_module
from . import optimizers as optimizers_module
from .layers.base import Layer
from .layers.merging import Merge
from .models import Functional, Model, Sequential
from .naming import to_snake_case
from .utils import atomic_write

KERAS_VERSION = "3.15.1"  # the version whose format this module writes (and was tested against)
CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE = "config.json", "metadata.json", "model.weights.h5"

# The layer classes a file may contain, by Keras class name.
LAYER_CLASSES = {
    name: getattr(layers_module, name)
    for name in (
        "Activation",
        "Add",
        "Concatenate",
        "Conv2D",
        "Cropping2D",
        "Dense",
        "Dropout",
        "Flatten",
        "MaxPooling2D",
        "ZeroPadding2D",
    )
}
# Keras writes a "build_config" (the input shape the layer was built on) for these classes only.
_HAS_BUILD_CONFIG = {
    "Add",
    "Concatenate",
    "Conv2D",
    "Cropping2D",
    "Dense",
    "Flatten",
    "ZeroPadding2D",
}
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
_OPTIMIZER_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


# ============================================================================ public functions


def save_model(model, filepath):
    """Save architecture, weights, compile settings and optimizer state as a ``.keras`` file.

    Args:
        model: a built scratchnet model.
        filepath: path ending in ``.keras``.
    """
    filepath = _check_extension(filepath, (".keras",), "save", "model.save_weights('x.weights.h5')")
    model._require_built("save")
    config = json.dumps(serialize_model(model))
    metadata = json.dumps(
        {
            "keras_version": KERAS_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        }
    )
    weights = _weights_bytes(model)

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA_FILE, metadata)
            archive.writestr(CONFIG_FILE, config)
            archive.writestr(WEIGHTS_FILE, weights)

    atomic_write(filepath, write)


def save_weights(model, filepath):
    """Save the weights (and the optimizer state, as Keras does) as a ``.weights.h5`` file.

    Args:
        model: a built scratchnet model.
        filepath: path ending in ``.weights.h5``.
    """
    filepath = _check_extension(filepath, (".weights.h5",), "save_weights", "model.save('x.keras')")
    model._require_built("save_weights")
    weights = _weights_bytes(model)
    atomic_write(filepath, lambda f: f.write(weights))


def load_weights(model, filepath):
    """Load weights saved by ``save_weights`` or ``save`` (scratchnet's or Keras's) into ``model``.

    The model must be built and have the same architecture as the saved one. Weights are matched
    by position (class name and order), as in Keras, not by layer name. If the model is compiled
    and the file has matching optimizer state, that is loaded too (as Keras does).

    Args:
        model: a built scratchnet model.
        filepath: a ``.weights.h5`` or ``.keras`` file.
    """
    filepath = _check_extension(filepath, (".weights.h5", ".keras"), "load_weights", None)
    model._require_built("load_weights")
    if filepath.endswith(".keras"):
        with _open_archive(filepath) as archive:
            _read_weights_into(model, _read_member(archive, WEIGHTS_FILE, filepath), filepath)
    else:
        with open(_existing(filepath), "rb") as f:
            _read_weights_into(model, f.read(), filepath)


def load_model(filepath, compile=True, custom_objects=None):
    """Load a ``.keras`` file written by ``model.save`` (scratchnet's or Keras's).

    Args:
        filepath: path ending in ``.keras``.
        compile: also restore the optimizer (with its state), loss and metrics.
        custom_objects: ``{"MyModel": MyModel}`` for subclassed models, as in Keras.

    Returns:
        the model, built, with its weights (and compiled, if the file has compile settings).
    """
    filepath = _check_extension(filepath, (".keras",), "load_model", None)
    with _open_archive(filepath) as archive:
        config = _read_json(archive, CONFIG_FILE, filepath)
        weights = _read_member(archive, WEIGHTS_FILE, filepath)
    model = deserialize_model(config, custom_objects or {}, filepath)
    compile_config = config.get("compile_config")
    if compile and compile_config:
        _compile_from_config(model, compile_config, filepath)
    _read_weights_into(model, weights, filepath)
    return model


# ============================================================================ the state walk


class _InputLayerEntry:
    """Stands in for Keras's ``InputLayer`` in a Functional model's layer list (no weights)."""

    def __init__(self, tensor):
        self.name = tensor.name
        self.weights = []


def _keras_layers(model):
    """The model's layers as Keras lists them: a Functional model includes its InputLayers."""
    if not isinstance(model, Functional):
        return model.layers
    out = []
    for t in model._order:
        item = _InputLayerEntry(t) if t.layer is None else t.layer
        if not any(item is o for o in out):
            out.append(item)
    return out


def _name_key(name):
    return "~" + name if name.startswith("_") else name  # private attributes are visited last


def _children(model):
    """(attribute name, value) pairs in the order Keras's ``_walk_saveable`` visits them.

    Sequential and Functional models first yield their layer list; then every attribute in
    sorted order (private ones last), with ``layers`` among them, as in Keras's ``dir()`` walk.
    """
    layers = _keras_layers(model)
    if isinstance(model, (Sequential, Functional)):
        yield "layers", layers
    attributes = {k: v for k, v in vars(model).items() if not k.startswith("__")}
    attributes["layers"] = layers
    for name in sorted(attributes, key=_name_key):
        yield name, attributes[name]


def _is_saveable(obj):
    return isinstance(obj, (Layer, Model, optimizers_module.Optimizer, _InputLayerEntry))


def _saveables(model):
    """Every object with (possibly empty) state, with its path in the file, each once.

    Returns a list of ``(path, object)``: ``("", model)``, ``("layers/conv2d", layer)``, ...,
    ``("optimizer", optimizer)``. Container entries are keyed by snake-cased class name with a
    counter (``dense``, ``dense_1``); nested lists become ``container``, ``container_1``.
    """
    found, visited = [], set()

    def visit(obj, path):
        if id(obj) in visited:
            return
        visited.add(id(obj))
        found.append((path, obj))
        if isinstance(obj, Model):
            for name, child in _children(obj):
                child_path = f"{path}/{name}" if path else name
                if _is_saveable(child):
                    visit(child, child_path)
                elif isinstance(child, (list, tuple, dict)):
                    visit_container(child, child_path, set())

    def visit_container(container, path, seen_containers):
        if id(container) in seen_containers:
            return
        seen_containers.add(id(container))
        used = {}
        for item in container.values() if isinstance(container, dict) else container:
            if _is_saveable(item):
                cls_name = (
                    "InputLayer" if isinstance(item, _InputLayerEntry) else type(item).__name__
                )
                visit(item, f"{path}/{_unique_key(to_snake_case(cls_name), used)}")
            elif isinstance(item, (list, tuple, dict)):
                visit_container(item, f"{path}/{_unique_key('container', used)}", seen_containers)

    visit(model, "")
    return found


def _unique_key(name, used):
    """'dense', then 'dense_1', 'dense_2' ... within one container (Keras's _get_unique_name)."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _vars_path(path):
    return f"{path}/vars" if path else "vars"


def _state_of(obj):
    """The arrays an object stores, in Keras's order."""
    if isinstance(obj, optimizers_module.Optimizer):
        return obj.variables
    if isinstance(obj, (Model, _InputLayerEntry)):
        return []
    return obj.weights


# ============================================================================ writing


def _weights_bytes(model):
    """The ``model.weights.h5`` content as bytes (h5py writes into an in-memory file)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for path, obj in _saveables(model):
            group = f.create_group(_vars_path(path))
            group.attrs["name"] = obj.name
            for i, array in enumerate(_state_of(obj)):
                group.create_dataset(str(i), data=np.asarray(array))
    return buffer.getvalue()


# ============================================================================ config.json


def _dtype_policy(name):
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": name},
        "registered_name": None,
    }


def serialize_layer(layer):
    """A layer's entry in ``config.json``, with Keras's keys."""
    config = layer.get_config()
    config["dtype"] = _dtype_policy(layer.dtype.name)
    if isinstance(layer, layers_module.Dense):
        config["quantization_config"] = None
    entry = {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": config,
        "registered_name": None,
    }
    if layer.built and type(layer).__name__ in _HAS_BUILD_CONFIG:
        entry["build_config"] = {"input_shape": layer.input_shape}
    return entry


def _input_layer_entry(tensor):
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": list(tensor.shape),
            "dtype": str(tensor.dtype),
            "sparse": False,
            "ragged": False,
            "name": tensor.name,
            "optional": False,
        },
        "registered_name": None,
    }


def _history(tensor):
    """Keras's reference to a tensor: [producing layer name, call index, output index]."""
    return [tensor.name if tensor.layer is None else tensor.layer.name, 0, 0]


def _keras_tensor(tensor):
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": list(tensor.shape),
            "dtype": str(tensor.dtype),
            "keras_history": _history(tensor),
        },
    }


def serialize_model(model):
    """The whole ``config.json`` dict: architecture and compile settings, as Keras writes it."""
    if isinstance(model, Sequential):
        layers = (
            [_input_layer_entry(model.input_spec)] if model.input_spec is not None else []
        ) + [serialize_layer(layer) for layer in model.layers]
        config = {
            "name": model.name,
            "trainable": True,
            "dtype": _dtype_policy(_model_dtype(model)),
            "layers": layers,
        }
        entry = {
            "module": "keras",
            "class_name": "Sequential",
            "config": config,
            "registered_name": None,
        }
        if model.input_spec is not None:
            config["build_input_shape"] = list(model.input_spec.shape)
            entry["build_config"] = {"input_shape": list(model.input_spec.shape)}
    elif isinstance(model, Functional):
        layers = []
        for t in model._order:
            if t.layer is None:
                layers.append({**_input_layer_entry(t), "name": t.name, "inbound_nodes": []})
                continue
            args = [_keras_tensor(p) for p in t.inputs]
            arg = args if isinstance(t.layer, Merge) else args[0]  # a merge takes a list
            node = {"args": [arg], "kwargs": {}}
            layers.append(
                {**serialize_layer(t.layer), "name": t.layer.name, "inbound_nodes": [node]}
            )
        refs = [_history(t) for t in model.inputs]
        config = {
            "name": model.name,
            "trainable": True,
            "layers": layers,
            "input_layers": refs[0] if len(refs) == 1 else refs,
            "output_layers": _history(model.outputs[0]),
        }
        entry = {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": config,
            "registered_name": "Functional",
            "build_config": {"input_shape": None},
        }
    else:
        config = {
            **model.get_config(),
            "trainable": True,
            "dtype": _dtype_policy(_model_dtype(model)),
        }
        entry = {
            "module": type(model).__module__,
            "class_name": type(model).__name__,
            "config": config,
            "registered_name": type(model).__name__,
            "build_config": {
                "input_shape": list(getattr(model, "_build_input_shape", None) or []) or None
            },
        }
    if model.compiled:
        entry["compile_config"] = _compile_config(model)
    return entry


def _model_dtype(model):
    return model.layers[0].dtype.name if model.layers else "float32"


def _compile_config(model):
    opt = model.optimizer
    args = getattr(model, "_compile_args", {})
    return {
        "optimizer": {
            "module": "keras.optimizers",
            "class_name": type(opt).__name__,
            "config": opt.get_config(),
            "registered_name": None,
        },
        "loss": _serialize_loss(args.get("loss", model.loss)),
        "loss_weights": None,
        "metrics": [m if isinstance(m, str) else m.name for m in args["metrics"]]
        if args.get("metrics")
        else None,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def _serialize_loss(loss):
    if isinstance(loss, str):
        return loss
    if isinstance(loss, losses_module.Loss):
        return {
            "module": "keras.losses",
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None,
        }
    if isinstance(loss, type) and issubclass(loss, losses_module.Loss):
        return loss.__name__
    return loss.__name__  # one of scratchnet.losses' functions: Keras's name for it


# ============================================================================ reading config.json


def deserialize_layer(entry):
    """Build a scratchnet layer from a layer entry of ``config.json`` (Keras's or ours)."""
    class_name = entry.get("class_name")
    config = dict(entry.get("config") or {})
    name = config.get("name", "?")
    if class_name not in LAYER_CLASSES:
        raise ValueError(
            f"Layer '{name}' has class {class_name!r}, which scratchnet does not support. "
            f"Supported layer classes: {', '.join(sorted(LAYER_CLASSES))}."
        )
    cls = LAYER_CLASSES[class_name]
    dtype = config.pop("dtype", None)
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    accepted = _constructor_args(cls)
    for key in [k for k in config if k not in accepted]:
        value = config.pop(key)
        if key not in _KERAS_ONLY_KEYS or value != _KERAS_ONLY_KEYS[key]:
            raise ValueError(
                f"Layer '{name}' ({class_name}) uses {key}={value!r}, which scratchnet does not "
                "support."
            )
    try:
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


def _input_from_entry(entry):
    config = entry.get("config") or {}
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not shape:
        raise ValueError(f"InputLayer {config.get('name')!r} has no batch_shape in the file.")
    return graph.Input(tuple(shape[1:]), name=config.get("name"))


def deserialize_model(config, custom_objects=None, source="config"):
    """Rebuild a model (Sequential, Functional or a registered subclass) from ``config.json``."""
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(
            f"{source}: config.json does not describe a Keras model (no class_name/config)."
        )
    class_name, inner = config["class_name"], config["config"]
    if class_name == "Sequential":
        return _sequential_from_config(inner)
    if class_name in ("Functional", "Model"):
        return _functional_from_config(inner, source)
    cls = (custom_objects or {}).get(class_name)
    if cls is None:
        raise ValueError(
            f"{source}: the model class {class_name!r} is a subclassed model. Pass its class: "
            f"load_model(path, custom_objects={{'{class_name}': {class_name}}}). scratchnet "
            "itself rebuilds only Sequential and Functional models."
        )
    kwargs = {k: v for k, v in inner.items() if k not in ("trainable", "dtype")}
    if "from_config" in vars(cls):
        model = cls.from_config(kwargs)
    elif "name" in inspect.signature(cls.__init__).parameters or _takes_kwargs(cls):
        model = cls(**kwargs)
    else:
        model = cls()  # an __init__ without arguments: the saved name is not restored
    shape = (config.get("build_config") or {}).get("input_shape")
    if shape:
        model(np.zeros([1 if d is None else d for d in shape], dtype=_dtype_name(inner)))
    return model


def _takes_kwargs(cls):
    params = inspect.signature(cls.__init__).parameters.values()
    return any(p.kind == p.VAR_KEYWORD for p in params)


def _dtype_name(config):
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name", "float32")
    return dtype or "float32"


def _sequential_from_config(config):
    model = Sequential(name=config.get("name"))
    entries = list(config.get("layers") or [])
    if entries and entries[0].get("class_name") == "InputLayer":
        model.add(_input_from_entry(entries.pop(0)))
    elif config.get("build_input_shape"):
        model.add(graph.Input(tuple(config["build_input_shape"][1:])))
    for entry in entries:
        model.add(deserialize_layer(entry))
    return model


def _functional_from_config(config, source):
    tensors = {}  # layer name -> its output tensor

    def resolve(arg):
        if isinstance(arg, list):
            return [resolve(a) for a in arg]
        if not isinstance(arg, dict) or arg.get("class_name") != "__keras_tensor__":
            raise ValueError(f"{source}: unexpected layer argument {arg!r} in config.json.")
        layer_name, node_index, _ = arg["config"]["keras_history"]
        if node_index != 0:
            raise ValueError(
                f"{source}: layer '{layer_name}' is shared (called more than once); each "
                "scratchnet layer is called once."
            )
        if layer_name not in tensors:
            raise ValueError(
                f"{source}: config.json refers to layer '{layer_name}' before defining it."
            )
        return tensors[layer_name]

    for entry in config.get("layers") or []:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if entry.get("class_name") == "InputLayer":
            tensors[name] = _input_from_entry(entry)
            continue
        layer = deserialize_layer(entry)
        nodes = entry.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise ValueError(
                f"{source}: layer '{name}' is called {len(nodes)} times in the graph; scratchnet "
                "supports layers called exactly once (no shared layers)."
            )
        args, kwargs = nodes[0].get("args") or [], nodes[0].get("kwargs") or {}
        if len(args) != 1 or any(v is not None for k, v in kwargs.items() if k != "training"):
            raise ValueError(
                f"{source}: layer '{name}' is called with arguments scratchnet does not "
                f"support: {nodes[0]}."
            )
        tensors[name] = layer(resolve(args[0]))

    def refs(spec):
        spec = spec or []
        if spec and not isinstance(spec[0], list):
            spec = [spec]
        return [tensors[s[0]] for s in spec]

    return Model(
        refs(config.get("input_layers")), refs(config.get("output_layers")), name=config.get("name")
    )


def _compile_from_config(model, config, source):
    opt_entry = config.get("optimizer")
    if isinstance(opt_entry, str):
        optimizer = optimizers_module.get(opt_entry)
    else:
        class_name = (opt_entry or {}).get("class_name", "")
        opt_config = dict((opt_entry or {}).get("config") or {})
        for key, default in _OPTIMIZER_DEFAULTS.items():
            if opt_config.get(key, default) != default:
                raise ValueError(
                    f"{source}: the optimizer uses {key}={opt_config[key]!r}, which scratchnet "
                    "does not support."
                )
        if not isinstance(opt_config.get("learning_rate"), (int, float)):
            raise ValueError(
                f"{source}: the optimizer's learning_rate {opt_config.get('learning_rate')!r} "
                "is not a number (schedules are not supported)."
            )
        cls = (
            type(optimizers_module.get(class_name.lower()))
            if class_name.lower() in ("sgd", "adam", "rmsprop")
            else None
        )
        if cls is None:
            raise ValueError(
                f"{source}: optimizer {class_name!r} is not supported; scratchnet has SGD, "
                "Adam and RMSprop."
            )
        optimizer = cls.from_config(opt_config)
        optimizer.name = opt_config.get("name", optimizer.name)
    model.compile(
        optimizer=optimizer,
        loss=_deserialize_loss(config.get("loss"), source),
        metrics=[_deserialize_metric(m) for m in config.get("metrics") or []] or None,
    )


def _deserialize_loss(loss, source):
    if isinstance(loss, dict):
        class_name = loss.get("class_name")
        config = loss.get("config") or {}
        if class_name == "function":
            return config
        cls = type(losses_module.get(class_name))
        kwargs = {"from_logits": config["from_logits"]} if config.get("from_logits") else {}
        return cls(**kwargs)
    if loss is None:
        raise ValueError(
            f"{source}: the file has compile settings without a loss; load with compile=False."
        )
    return loss


def _deserialize_metric(metric):
    if isinstance(metric, dict):
        config = metric.get("config")
        if isinstance(config, dict) and config.get("name"):
            return config["name"]
        return to_snake_case(metric.get("class_name", ""))
    return metric


# ============================================================================ reading files


def _check_extension(filepath, extensions, what, hint):
    filepath = os.fspath(filepath)
    if not filepath.endswith(extensions):
        wanted = " or ".join(f"'{e}'" for e in extensions)
        message = (
            f"{what}: the file name must end in {wanted}, as Keras requires; got '{filepath}'."
        )
        if hint:
            message += f" (To save the other format, use {hint}.)"
        raise ValueError(message)
    return filepath


def _existing(filepath):
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: '{filepath}'.")
    return filepath


def _open_archive(filepath):
    """``zipfile.ZipFile(filepath)``, with a clear error for a file that is not a .keras zip.

    Use it as ``with _open_archive(path) as archive:``.
    """
    path = _existing(filepath)
    try:
        return zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            head = f.read(8)
    kind = (
        "an HDF5 file (use load_weights for .weights.h5 files)"
        if head.startswith(b"\x89HDF")
        else "not a zip archive"
    )
    raise ValueError(
        f"'{path}' is not a valid .keras file: it is {kind}. It may be truncated (a crash "
        "while copying or saving) or a different format."
    )


def _read_member(archive, member, filepath):
    if member not in archive.namelist():
        raise ValueError(
            f"'{filepath}' is a zip archive but not a Keras .keras file: it has no '{member}' "
            f"(members: {archive.namelist()[:10]})."
        )
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"'{filepath}' is damaged: cannot read '{member}' ({e}).") from None


def _read_json(archive, member, filepath):
    try:
        return json.loads(_read_member(archive, member, filepath))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"'{filepath}': '{member}' is not valid JSON ({e}).") from None


def _open_h5(data, filepath):
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise ValueError(
            f"'{filepath}' does not contain an HDF5 weights file (wrong file signature)."
        )
    try:
        return h5py.File(io.BytesIO(data), "r")
    except OSError as e:
        raise ValueError(
            f"'{filepath}': the HDF5 weights are unreadable, probably truncated ({e})."
        ) from None


def _read_weights_into(model, data, filepath):
    """Check the whole file against the model, then copy the arrays in. Nothing changes on error."""
    with _open_h5(data, filepath) as f:
        if "vars" not in f and "layers" not in f:
            raise ValueError(
                f"'{filepath}' is an HDF5 file but not a Keras 3 weights file: it has no "
                "'/vars' or "
                f"'/layers' group (top-level keys: {list(f.keys())[:10]}). Legacy Keras 2 '.h5' "
                "files are not supported."
            )
        problems, assignments, used = [], [], set()
        optimizer_path = None
        for path, obj in _saveables(model):
            if isinstance(obj, optimizers_module.Optimizer):
                optimizer_path = path
                continue
            expected = _state_of(obj)
            where = _vars_path(path)
            used.add(where)
            group = f.get(where)
            what = f"layer '{obj.name}' ({type(obj).__name__})"
            if group is None:
                if expected:
                    problems.append(f"{what}: no weights in the file (expected group '/{where}').")
                continue
            arrays = _group_arrays(group, where, problems)
            if arrays is None:
                continue
            if len(arrays) != len(expected):
                problems.append(
                    f"{what}: expects {len(expected)} weight array(s), the file has {len(arrays)} "
                    f"at '/{where}'."
                )
                continue
            for i, (current, new) in enumerate(zip(expected, arrays)):
                if new.shape != current.shape:
                    problems.append(
                        f"{what}: weight {i} has shape {current.shape} but the file has "
                        f"{new.shape} at '/{where}/{i}'."
                    )
                else:
                    assignments.append((current, new))
        unused = [
            name
            for name in _vars_groups(f)
            if name not in used and not name.startswith("optimizer/") and len(f[name]) > 0
        ]
        for name in unused:
            label = f[name].attrs.get("name", "?")
            problems.append(
                f"the file has weights at '/{name}' (layer '{label}') that no layer of this model "
                "takes: the architectures differ."
            )
        if problems:
            listing = "\n  - ".join(problems[:20])
            raise ValueError(
                f"Cannot load '{filepath}' into model '{model.name}': the weights do not match "
                f"the model.\n  - {listing}"
            )
        optimizer_state = None
        if optimizer_path is not None and model.optimizer is not None:
            optimizer_state = _read_optimizer(model, f.get(_vars_path(optimizer_path)), filepath)
    for current, new in assignments:
        current[...] = new
    if optimizer_state is not None:
        optimizer, arrays = optimizer_state
        optimizer.iterations = int(arrays[0])
        optimizer.learning_rate = float(arrays[1])
        optimizer.set_slot_order(arrays[2:])


def _group_arrays(group, where, problems):
    if not isinstance(group, h5py.Group):
        problems.append(f"'/{where}' is not a group.")
        return None
    keys = list(group.keys())
    if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [
        str(i) for i in range(len(keys))
    ]:
        problems.append(f"'/{where}' has datasets {keys}, expected 0, 1, 2, ...")
        return None
    return [np.asarray(group[str(i)]) for i in range(len(keys))]


def _vars_groups(f):
    names = []
    f.visit(
        lambda name: (
            names.append(name)
            if name.split("/")[-1] == "vars" and isinstance(f[name], h5py.Group)
            else None
        )
    )
    return names


def _read_optimizer(model, group, filepath):
    """The optimizer's saved arrays if they fit this model's optimizer; else warn, as Keras does."""
    if group is None:
        return None
    optimizer = model.optimizer
    arrays = [np.asarray(group[str(i)]) for i in range(len(group))] if len(group) else []
    if len(arrays) <= 2:
        return (optimizer, arrays) if len(arrays) == 2 else None
    if optimizer.slots is None:
        optimizer.build(model.trainable_weights)
    expected = optimizer.variables
    if len(arrays) != len(expected) or any(a.shape != e.shape for a, e in zip(arrays, expected)):
        warnings.warn(
            f"'{filepath}': skipping the optimizer state: the file has {len(arrays)} optimizer "
            f"variables, but this model's {type(optimizer).__name__} has {len(expected)} (a "
            "different optimizer or architecture). The weights were loaded.",
            stacklevel=3,
        )
        return None
    return optimizer, arrays

"""``config.json``: layers, models, losses and optimizers to Keras's config dicts and back.

``serialize_model`` writes the architecture (each layer's constructor arguments under Keras's
keys) and the compile settings, as Keras writes them; ``deserialize_model`` rebuilds a model
from that, checking every class and option it meets. Model classes are found by their
registered Keras class names (``registry.get("Sequential")``), so this module never imports
``scratchnet.models``.
"""

import inspect

import numpy as np

from .. import graph
from .. import layers as layers_module
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from ..layers.merging import Merge
from ..naming import to_snake_case
from . import registry

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
    if registry.is_instance(model, "Sequential"):
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
    elif registry.is_instance(model, "Functional"):
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
    model = registry.get("Sequential")(name=config.get("name"))
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

    return registry.get("Functional")(
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

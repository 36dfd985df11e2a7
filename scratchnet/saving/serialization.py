"""``config.json``: models and their compile settings to Keras's config dicts and back.

``serialize_model`` writes the architecture (each layer's entry, from ``objects.py``) and the
compile settings, as Keras writes them; ``deserialize_model`` rebuilds a model from that,
checking every class and option it meets. Sequential and Functional models are found by their
registered Keras class names (``registry.get("Sequential")``), so this module never imports
``scratchnet.models``; a subclassed model's class is one of yours, found as any custom object
(``objects.find_class``).

``serialize_keras_object`` and ``deserialize_keras_object``, the public pair, live here: they
take models too, and hand every other object to ``objects.py``.
"""

import inspect
import math

import numpy as np

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..layers.base import Layer
from ..layers.input_layer import Input
from ..layers.merging import Merge
from . import objects, registry
from .object_registration import CustomObjectScope, get_registered_name

_MODEL_CLASSES = ("Sequential", "Functional", "Model")
# The most values one sample of a model's input may have in a file (an 8K RGB image has 1e8):
# rebuilding a model runs layers written with ``call`` on zeros of that shape.
MAX_INPUT_VALUES = 2**28


# ============================================================================ any object


def serialize_keras_object(obj):
    """The config dict of ``obj``, as Keras's ``keras.saving.serialize_keras_object``.

    Works for models, layers (yours too), losses, metrics, activations, optimizers,
    initializers, your functions, and any object with ``get_config()``; plain values, lists and
    dicts are returned as they are (their items serialized). ``deserialize_keras_object`` is
    the inverse. See ``objects.py`` for the format.

    Example:
        >>> from scratchnet import layers
        >>> entry = serialize_keras_object(layers.Dense(3, name="d"))
        >>> entry["module"], entry["class_name"], entry["config"]["units"]
        ('keras.layers', 'Dense', 3)
    """
    if registry.is_instance(obj, "Model"):
        return serialize_model(obj)
    return objects.serialize_object(obj)


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object a config describes, as Keras's ``keras.saving.deserialize_keras_object``.

    Args:
        config: what ``serialize_keras_object`` (scratchnet's or Keras's) returned.
        custom_objects: ``{name: class or function}``: your classes and functions, by registered
            name (``"MyLayers>Linear"``) or class name. Also found: those of the current
            ``custom_object_scope`` and those registered with ``register_keras_serializable``.
        safe_mode: Keras's switch: a Lambda layer's Python code loads only if it is False.
        module_objects: (keyword) more ``{name: object}`` to look in, last.

    Returns:
        the object; a model comes back built, and compiled if the config has compile settings.
    """
    module_objects = kwargs.pop("module_objects", None)
    if kwargs:
        raise TypeError(f"deserialize_keras_object: unexpected argument(s) {sorted(kwargs)}.")
    custom = {**(module_objects or {}), **(custom_objects or {})}
    if isinstance(config, dict) and _describes_model(config, custom):
        model = deserialize_model(config, custom, "deserialize_keras_object", safe_mode)
        if config.get("compile_config"):
            _compile_from_config(
                model, config["compile_config"], "deserialize_keras_object", custom
            )
        return model
    return objects.deserialize_object(config, custom, safe_mode)


def _describes_model(config, custom):
    if "class_name" not in config or "config" not in config:
        return False
    if config["class_name"] in _MODEL_CLASSES and objects.is_keras_or_ours(config.get("module")):
        return True
    if not config.get("registered_name"):
        return False
    try:
        cls = objects.find_class(config, objects.all_custom_objects(custom))
    except ValueError:
        return False  # deserialize_object will say what is missing
    return inspect.isclass(cls) and issubclass(cls, registry.get("Model"))


def serialize_layer(layer):
    """A layer's entry in ``config.json``, with Keras's keys (a built-in layer or yours). A
    nested model's is its whole entry, with its compile settings ({} if none, as Keras)."""
    if not isinstance(layer, Layer):
        raise TypeError(f"serialize_layer expects a scratchnet layer, got {layer!r}.")
    if registry.is_instance(layer, "Model"):
        entry = serialize_model(layer)
        entry.setdefault("compile_config", {})
        return entry
    return objects.serialize_object(layer)


def deserialize_layer(entry, custom_objects=None, safe_mode=True):
    """Build a layer from its entry of ``config.json`` (Keras's or ours), built if it says how."""
    name = (entry.get("config") or {}).get("name", "?")
    layer = objects.deserialize_object(entry, custom_objects, safe_mode, what=f"Layer '{name}'")
    if not isinstance(layer, Layer):
        raise ValueError(
            f"Layer '{name}': the file's {entry.get('class_name')!r} gives a "
            f"{type(layer).__name__}, which is not a scratchnet layer."
        )
    return layer


# ============================================================================ writing models


def _input_layer_entry(tensor):
    layer = tensor.input_layer
    config = layer.get_config() if layer is not None else {
        "batch_shape": list(tensor.shape), "dtype": str(tensor.dtype), "sparse": False,
        "ragged": False, "name": tensor.name, "optional": False,
    }  # fmt: skip
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": config,
        "registered_name": None,
    }


def _history(tensor, model):
    """Keras's reference to a tensor: [producing layer name, call index, output index], the
    call counted among ``model``'s calls of that layer (``shared``'s second call is 1)."""
    name = tensor.name if tensor.layer is None else tensor.layer.name
    return [name, model._call_index(tensor), tensor.index]


def _io_history(tensor, model):
    """A model input's or output's reference. Keras counts a nested Functional model's calls
    from 1 there (it reads them back as one less), not in ``inbound_nodes``."""
    name, node, index = _history(tensor, model)
    if registry.is_instance(tensor.layer, "Functional"):
        node += 1
    return [name, node, index]


def _keras_tensor(tensor, model):
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": list(tensor.shape),
            "dtype": str(tensor.dtype),
            "keras_history": _history(tensor, model),
        },
    }


def _functional_layers(model):
    """The ``layers`` list of a Functional model's config: each layer once, in ``layers``
    order, with one inbound node per call (a shared layer has several)."""
    entries = []
    for layer in model.layers:
        calls = model._calls.get(id(layer))
        if calls is None:  # an InputLayer
            t = layer.output
            entries.append({**_input_layer_entry(t), "name": t.name, "inbound_nodes": []})
            continue
        nodes = []
        for t in calls:
            args = [_keras_tensor(p, model) for p in t.inputs]
            # a merge (or your layer) called on several tensors takes them as one list
            arg = args if isinstance(layer, Merge) or len(args) > 1 else args[0]
            kwargs = {"mask": None} if registry.is_instance(layer, "Model") else {}
            nodes.append({"args": [arg], "kwargs": kwargs})
        entries.append({**serialize_layer(layer), "name": layer.name, "inbound_nodes": nodes})
    return entries


def serialize_model(model):
    """The whole ``config.json`` dict: architecture and compile settings, as Keras writes it."""
    if registry.is_instance(model, "Sequential"):
        layers = (
            [_input_layer_entry(model.input_spec)] if model.input_spec is not None else []
        ) + [serialize_layer(layer) for layer in model.layers]
        config = {
            "name": model.name,
            "trainable": True,
            "dtype": objects.dtype_policy(_model_dtype(model)),
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
        layers = _functional_layers(model)
        refs = [_io_history(t, model) for t in model.inputs]
        outs = [_io_history(t, model) for t in model.outputs]
        config = {
            "name": model.name,
            "trainable": True,
            "layers": layers,
            "input_layers": refs[0] if len(refs) == 1 else refs,
            "output_layers": outs[0] if len(outs) == 1 else outs,
        }
        entry = {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": config,
            "registered_name": "Functional",
            "build_config": {"input_shape": None},
        }
    else:
        cls = type(model)
        config = {
            **objects.serialize_object(model.get_config()),
            "trainable": True,
            "dtype": objects.dtype_policy(_model_dtype(model)),
        }
        entry = {
            "module": None if cls.__module__ == "__main__" else cls.__module__,
            "class_name": cls.__name__,
            "config": config,
            "registered_name": get_registered_name(cls),
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
    metrics = args.get("metrics")
    return {
        "optimizer": {
            "module": "keras.optimizers",
            "class_name": type(opt).__name__,
            "config": objects.serialize_object(opt.get_config()),  # a schedule of yours too
            "registered_name": None,
        },
        "loss": _nested(_serialize_loss, args.get("loss", model.loss)),
        "loss_weights": args.get("loss_weights"),
        "metrics": _serialize_metrics(metrics, model),
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": args.get("steps_per_execution", 1),
        "jit_compile": False,
    }


def _nested(fn, value):
    """``fn`` on each entry of a per-output list or dict (None stays None), as Keras writes
    compile's per-output losses."""
    if isinstance(value, dict) and "class_name" not in value:  # (not one serialized object)
        return {k: None if v is None else fn(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [None if v is None else fn(v) for v in value]
    return None if value is None else fn(value)


def _serialize_metrics(metrics, model):
    """compile's ``metrics`` as given (a list, or one entry per output in a list or dict), each
    metric as ``_serialize_metric`` writes it."""
    if not metrics:
        return None
    outputs = model._compiled.outputs
    if len(outputs) == 1:
        return [_serialize_metric(m, r) for m, r in zip(metrics, model.metrics)]
    by_name = {o.name: o for o in outputs}

    def entry(given, output):
        if given is None:
            return None
        if not isinstance(given, (list, tuple)):
            return _serialize_metric(given, output.metrics[0])
        return [_serialize_metric(m, r) for m, r in zip(given, output.metrics)]

    if isinstance(metrics, dict):
        return {k: entry(v, by_name[k]) for k, v in metrics.items()}
    return [entry(v, o) for v, o in zip(metrics, outputs)]


def _serialize_loss(loss):
    """What ``compile(loss=...)`` was given: a name as it is, an object or function as Keras."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, type) and issubclass(loss, losses_module.Loss):
        return loss.__name__
    return objects.serialize_object(loss)


def _serialize_metric(metric, resolved):
    """A metric of ``compile``: a name as it is (Keras resolves 'accuracy' by name), an object
    or function as its Keras entry (Keras's class and options, or yours)."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, type):
        metric = resolved
    if type(metric) is metrics_module.Accuracy:  # 'accuracy' resolved by shapes: its name
        return metric.name
    return objects.serialize_object(metric)


# ============================================================================ reading models


def _input_from_entry(entry):
    config = entry.get("config") or {}
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not shape:
        raise ValueError(f"InputLayer {config.get('name')!r} has no batch_shape in the file.")
    _check_input_shape(shape, f"InputLayer {config.get('name')!r}")
    return Input(batch_shape=tuple(shape), dtype=_dtype_name(config), name=config.get("name"))


def _check_input_shape(shape, what):
    """A model's input shape from a file (batch axis first): sizes that are ints or None, and
    at most ``MAX_INPUT_VALUES`` values per sample."""
    if not isinstance(shape, (list, tuple)) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in shape
    ):
        raise ValueError(f"{what}: the input shape {shape!r} is not a list of sizes (or null).")
    values = math.prod(d for d in shape[1:] if d is not None)
    if values > MAX_INPUT_VALUES:
        raise ValueError(
            f"{what}: the input shape {shape} has {values:,} values per sample, more than the "
            f"{MAX_INPUT_VALUES:,} scratchnet accepts from a file (damaged or hostile?)."
        )


def deserialize_model(config, custom_objects=None, source="config", safe_mode=True):
    """Rebuild a model (Sequential, Functional or your subclass) from ``config.json``.

    Args:
        config: the ``config.json`` dict.
        custom_objects: ``{name: class or function}`` for your layers, models and functions.
        source: the file, to name it in errors.
    """
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(
            f"{source}: config.json does not describe a Keras model (no class_name/config)."
        )
    class_name, inner = config["class_name"], config["config"]
    module = config.get("module")
    custom = objects.all_custom_objects(custom_objects)
    if class_name == "Sequential" and objects.is_keras_or_ours(module):
        return _sequential_from_config(inner, custom, safe_mode)
    if class_name in ("Functional", "Model") and objects.is_keras_or_ours(module):
        return _functional_from_config(inner, source, custom, safe_mode)
    cls = objects.find_class(config, custom, what=f"{source}: the model {inner.get('name')!r}")
    if not (inspect.isclass(cls) and issubclass(cls, registry.get("Model"))):
        raise ValueError(
            f"{source}: the model class {class_name!r} resolves to {cls!r}, which is not a "
            "scratchnet.Model subclass."
        )
    kwargs = {k: v for k, v in inner.items() if k not in ("trainable", "dtype")}
    with CustomObjectScope(custom):
        if cls.from_config.__func__ is not registry.get("Model").from_config.__func__:
            model = cls.from_config(kwargs)
        elif "name" in inspect.signature(cls.__init__).parameters or _takes_kwargs(cls):
            model = cls(**kwargs)
        else:
            model = cls()  # an __init__ without arguments: the saved name is not restored
    shape = (config.get("build_config") or {}).get("input_shape")
    if shape:
        _check_input_shape(shape, f"{source}: the model {inner.get('name')!r}")
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


def _sequential_from_config(config, custom, safe_mode):
    model = registry.get("Sequential")(name=config.get("name"))
    entries = list(config.get("layers") or [])
    if entries and entries[0].get("class_name") == "InputLayer":
        model.add(_input_from_entry(entries.pop(0)))
    elif config.get("build_input_shape"):
        model.add(Input(tuple(config["build_input_shape"][1:])))
    for entry in entries:
        model.add(_deserialize_part(entry, custom, safe_mode, "config.json"))
    return model


class _NotYet(Exception):
    """A call reads a tensor that a later call in the file makes: try it again later."""


def _functional_from_config(config, source, custom, safe_mode):
    """Rebuild a Functional model as Keras's ``functional_from_config`` does: make every layer,
    then make their calls (``inbound_nodes``) layer by layer, in the file's order, each call
    once the tensors it reads exist (a shared layer may be called at several depths)."""
    calls = {}  # layer name -> [the output of its call 0, of its call 1, ...]
    layers, pending = {}, {}  # name -> layer; name -> its calls not made yet

    def resolve(arg):
        if isinstance(arg, list):
            return [resolve(a) for a in arg]
        if not isinstance(arg, dict) or arg.get("class_name") != "__keras_tensor__":
            raise ValueError(f"{source}: unexpected layer argument {arg!r} in config.json.")
        layer_name, node_index, tensor_index = arg["config"]["keras_history"]
        if layer_name not in layers:
            raise ValueError(
                f"{source}: config.json refers to layer '{layer_name}', which it does not define."
            )
        made = calls.get(layer_name, [])
        if not isinstance(node_index, int) or node_index < 0:
            raise ValueError(f"{source}: layer '{layer_name}': call index {node_index!r}.")
        if node_index >= len(made):
            raise _NotYet
        return _output_at(made[node_index], tensor_index, layer_name, source)

    def make_call(name, node):
        layer = layers[name]
        if not isinstance(node, dict):
            raise ValueError(f"{source}: layer '{name}' has a call {node!r} in config.json.")
        args, kwargs = node.get("args") or [], node.get("kwargs") or {}
        if layer.writes_call() and args and not registry.is_instance(layer, "Model"):
            return layer(*[resolve(a) for a in args], **kwargs)  # your layer: what Keras recorded
        if len(args) != 1 or any(
            v is not None for k, v in kwargs.items() if k not in ("training", "mask")
        ):
            raise ValueError(
                f"{source}: layer '{name}' is called with arguments scratchnet does not "
                f"support: {node}."
            )
        return layer(resolve(args[0]))

    for entry in config.get("layers") or []:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if entry.get("class_name") == "InputLayer":
            layers[name] = tensor = _input_from_entry(entry)
            calls[name] = [tensor]
            continue
        layers[name] = _deserialize_part(entry, custom, safe_mode, source)
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list) or not nodes:
            raise ValueError(f"{source}: layer '{name}' is never called in config.json.")
        pending[name] = list(nodes)
    while pending:
        progress = False
        for name in list(pending):
            while pending[name]:
                try:
                    out = make_call(name, pending[name][0])
                except _NotYet:
                    break
                calls.setdefault(name, []).append(out)
                pending[name].pop(0)
                progress = True
            if not pending[name]:
                del pending[name]
        if not progress:
            raise ValueError(
                f"{source}: the Functional model's graph in config.json has a loop or a call "
                f"that reads a tensor no layer makes (layers {sorted(pending)})."
            )

    def refs(spec):
        spec = spec or []
        if spec and not isinstance(spec[0], list):
            spec = [spec]
        out = []
        for s in spec:
            if not (isinstance(s, list) and len(s) == 3 and s[0] in calls):
                raise ValueError(f"{source}: config.json names the model tensor {s!r}.")
            node = s[1] - 1 if registry.is_instance(layers[s[0]], "Functional") else s[1]
            if not isinstance(node, int) or not -1 <= node < len(calls[s[0]]):
                raise ValueError(f"{source}: config.json names the model tensor {s!r}.")
            out.append(_output_at(calls[s[0]][node], s[2], s[0], source))
        return out

    return registry.get("Functional")(
        refs(config.get("input_layers")), refs(config.get("output_layers")), name=config.get("name")
    )


def _deserialize_part(entry, custom, safe_mode, source):
    """A layer of a Functional model from its entry: a layer, or a nested model."""
    if isinstance(entry, dict) and _describes_model(entry, custom):
        return deserialize_model(entry, custom, source, safe_mode)
    return deserialize_layer(entry, custom, safe_mode)


def _output_at(made, index, layer_name, source):
    """Output ``index`` of a layer's call: ``made`` is its tensor, or its list of tensors."""
    outputs = made if isinstance(made, list) else [made]
    if not isinstance(index, int) or not 0 <= index < len(outputs):
        raise ValueError(
            f"{source}: config.json refers to output {index!r} of layer '{layer_name}', which has "
            f"{len(outputs)} output(s)."
        )
    return outputs[index]


# ============================================================================ compile settings


def _compile_from_config(model, config, source, custom_objects=None):
    custom = objects.all_custom_objects(custom_objects)
    opt_entry = config.get("optimizer")
    if isinstance(opt_entry, str):
        optimizer = optimizers_module.get(opt_entry)
    else:
        cls = optimizers_module.class_by_name((opt_entry or {}).get("class_name", ""), source)
        opt_config = dict((opt_entry or {}).get("config") or {})
        schedule = opt_config.get("learning_rate")
        if isinstance(schedule, dict):  # a schedule: Keras's (by name) or yours (registered)
            opt_config["learning_rate"] = objects.deserialize_object(
                schedule, custom, what=f"{source}: the optimizer's learning-rate schedule"
            )
        try:
            optimizer = cls.from_config(opt_config)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{source}: cannot rebuild the optimizer {cls.__name__}: {e}") from e
    loss = config.get("loss")  # None: the model's layers add their own (add_loss)
    metrics = config.get("metrics")
    if isinstance(metrics, dict):
        metrics = {k: _nested(lambda m: _deserialize_metric(m, custom), v)
                   for k, v in metrics.items()}  # fmt: skip
    elif metrics:
        metrics = [_nested(lambda m: _deserialize_metric(m, custom), v) for v in metrics]
    model.compile(
        optimizer=optimizer,
        loss=_nested(lambda lo: _deserialize_loss(lo, source, custom), loss),
        loss_weights=config.get("loss_weights"),
        metrics=metrics or None,
        steps_per_execution=config.get("steps_per_execution") or 1,
    )


def _deserialize_loss(loss, source, custom):
    if not isinstance(loss, dict):
        return loss
    if loss.get("class_name") == "function":
        return objects.find_function(loss, custom)
    if loss.get("registered_name"):  # a Loss class of yours
        return objects.deserialize_object(loss, custom, what="the loss")
    cls = type(losses_module.get(loss.get("class_name")))
    return cls.from_config(dict(loss.get("config") or {}))  # Keras's options: delta, ...


def _deserialize_metric(metric, custom):
    if not isinstance(metric, dict):
        return metric
    if metric.get("class_name") == "function":
        return objects.find_function(metric, custom)
    if metric.get("registered_name"):  # a Metric class of yours
        return objects.deserialize_object(metric, custom, what="the metric")
    found = metrics_module.get(metric.get("class_name", ""))  # Keras's class: its options too
    config = dict(metric.get("config") or {})
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = (config["dtype"].get("config") or {}).get("name")
    return type(found).from_config(config)

"""A model's architecture as data, and back: ``get_config``/``from_config``, JSON, ``clone_model``.

The architecture is what ``config.json`` in a ``.keras`` file holds (``scratchnet.saving``):
each layer's constructor arguments and, for a Functional model, which tensors each layer reads.
Rebuilding from it gives new layers with new weights, as in Keras.

Example:
    >>> from scratchnet import Input, layers, models
    >>> x = Input((4,), name="pixels")
    >>> model = models.Model(x, layers.Dense(2, name="logits")(x))
    >>> copy = models.model_from_json(model.to_json())
    >>> [layer.name for layer in copy.layers], copy.get_weights()[0] is model.get_weights()[0]
    (['pixels', 'logits'], False)
"""

import json

from .. import saving
from ..layers.input_layer import Input
from ..layers.merging import Merge
from .functional import Functional
from .model import Model
from .sequential import Sequential


def model_from_json(json_string, custom_objects=None):
    """The model ``model.to_json()`` describes, with new weights, compiled as the JSON says
    (as Keras's)."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"model_from_json: the string is not JSON: {error}") from None
    return model_from_config(config, custom_objects, source="model_from_json")


def model_from_config(config, custom_objects=None, source="model_from_config"):
    """The model a ``{"class_name": ..., "config": ...}`` dict describes, with new weights."""
    model = saving.deserialize_model(config, custom_objects, source=source)
    if isinstance(config, dict) and config.get("compile_config"):
        saving._compile_from_config(model, config["compile_config"], source, custom_objects)
    return model


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, **kwargs):
    """A new model with the same architecture and new weights, as ``keras.models.clone_model``.

    Args:
        model: a Sequential or Functional model (a subclassed one is rebuilt from its config).
        input_tensors: optional new inputs (``Input`` tensors) to build the clone on.
        clone_function: ``fn(layer) -> layer`` for each layer; by default a new layer from the
            layer's config (``layer.__class__.from_config(layer.get_config())``).
        call_function: ``fn(layer, *args, **kwargs) -> outputs``, how each layer is called in a
            Functional clone (to insert layers, for example).
        recursive: (keyword) clone a nested Sequential or Functional model layer by layer, with
            the same ``clone_function``, rather than from its config, as Keras does.

    The clone keeps the model's and the layers' names, and is compiled as the model is
    (optimizer, loss and metrics from the same settings, with fresh state).
    """
    recursive = kwargs.pop("recursive", False)
    cache = kwargs.pop("cache", None)
    if kwargs:
        raise ValueError(f"Unexpected keyword argument(s): {tuple(kwargs)}")
    cache = {} if cache is None else cache

    def clone(layer):  # each layer once (a shared layer, a nested model called twice)
        if id(layer) in cache:
            return cache[id(layer)]
        if recursive and isinstance(layer, (Sequential, Functional)):  # as Keras: cloned inside
            functional = isinstance(layer, Functional)
            cache[id(layer)] = clone_model(
                layer, clone_function=clone_function, recursive=True, cache=cache,
                call_function=call_function if functional else None,
            )  # fmt: skip
        else:
            cache[id(layer)] = (clone_function or _new_layer)(layer)
        return cache[id(layer)]

    if isinstance(model, Sequential):
        if call_function is not None:
            raise ValueError(
                "`call_function` argument is not supported with Sequential models. In a "
                "Sequential model, layers aren't called at model-construction time (they're "
                "merely listed). Use `call_function` with Functional models only."
            )
        copy = _clone_sequential(model, clone, input_tensors)
    elif isinstance(model, Functional):
        copy = _clone_functional(model, clone, input_tensors, call_function)
    else:
        if clone_function is not None or input_tensors is not None or call_function is not None:
            raise ValueError(
                "Arguments `clone_function`, `call_function` and `input_tensors` are only "
                "supported for Sequential models or Functional models. Received model of type "
                f"'{type(model).__name__}'."
            )
        config = saving.serialize_model(model)
        config.pop("compile_config", None)
        copy = saving.deserialize_model(config, {type(model).__name__: type(model)})
    if model.compiled:
        saving._compile_from_config(
            copy, saving.serialize_model(model)["compile_config"], "clone_model"
        )
    return copy


def _new_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def _clone_sequential(model, clone, input_tensors):
    layers = [clone(layer) for layer in model.layers]
    if input_tensors is not None:
        inputs = input_tensors if not isinstance(input_tensors, (list, tuple)) else None
        if inputs is None and len(input_tensors) == 1:
            inputs = input_tensors[0]
        if inputs is None:
            raise ValueError("Argument `input_tensors` must contain a single tensor.")
        layers = [inputs] + layers
    elif model.input_spec is not None:
        spec = model.input_spec
        layers = [Input(batch_shape=spec.shape, dtype=spec.dtype, name=spec.name)] + layers
    return Sequential(layers, name=model.name)


def _clone_functional(model, clone, input_tensors, call_function):
    if input_tensors is None:
        inputs = [Input(batch_shape=t.shape, dtype=t.dtype, name=t.name) for t in model.inputs]
    else:
        many = isinstance(input_tensors, (list, tuple))
        inputs = list(input_tensors) if many else [input_tensors]
        if len(inputs) != len(model.inputs):
            raise ValueError(
                f"`input_tensors` must have the same structure as model.input: the model has "
                f"{len(model.inputs)} input(s), got {len(inputs)}."
            )
    new = {id(old): t for old, t in zip(model.inputs, inputs)}  # id(old tensor) -> new tensor
    for t in model._order:  # every call once, after the tensors it reads
        if t.layer is None:
            continue
        args = [new[id(p)] for p in t.inputs]
        arg = args if len(args) > 1 or isinstance(t.layer, Merge) else args[0]
        layer = clone(t.layer)
        out = call_function(layer, arg) if call_function is not None else layer(arg)
        for old, made in zip(t.outputs, out if isinstance(out, list) else [out]):
            new[id(old)] = made
    return Model(inputs, [new[id(t)] for t in model.outputs], name=model.name)

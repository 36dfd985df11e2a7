"""The weights file ``model.weights.h5``: the state walk, writing it, and reading it back.

``_saveables`` walks a model the way Keras's ``_walk_saveable`` does and gives every object
with state (the model, its layers, its optimizer) a path in the file; ``_weights_bytes`` writes
their arrays there, and ``_read_weights_into`` checks a file against the model and copies its
arrays in (optimizer state included, when it fits). Model kinds are asked of the registry
(``registry.is_instance(model, "Functional")``), so this module never imports the model classes.
"""

import io
import warnings

import numpy as np

from .. import optimizers as optimizers_module
from ..layers.base import Layer
from ..layers.fused import ConvPool
from ..layers.recurrent_base import Recurrent
from ..naming import to_snake_case
from . import registry

# ============================================================================ the state walk


class _InputLayerEntry:
    """Stands in for Keras's ``InputLayer`` in a Functional model's layer list (no weights)."""

    def __init__(self, tensor):
        self.name = tensor.name
        self.weights = []


class _CellEntry:
    """Stands in for the cell of a recurrent layer. scratchnet folds the cell into SimpleRNN,
    LSTM and GRU; Keras keeps it as a sublayer, so the layer's ``vars`` group is empty and its
    weights sit at ``<layer path>/cell/vars`` (attribute ``name`` ``gru_cell``, ...)."""

    def __init__(self, layer):
        self.layer = layer
        self.name = to_snake_case(type(layer).__name__) + "_cell"


def _keras_layers(model):
    """The model's layers as Keras lists them: a Functional model includes its InputLayers."""
    if not registry.is_instance(model, "Functional"):
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
    if registry.is_instance(model, "Sequential", "Functional"):
        yield "layers", layers
    attributes = {k: v for k, v in vars(model).items() if not k.startswith("__")}
    attributes["layers"] = layers
    for name in sorted(attributes, key=_name_key):
        yield name, attributes[name]


def _reference_attributes():
    """Every attribute a plain ``Layer`` has: the walk skips them in a layer, as Keras skips
    ``dir(Layer())`` (Keras's ``get_attr_skipset``), and visits only what a subclass adds."""
    reference = object.__new__(Layer)
    Layer.__init__(reference, name="reference")  # a name given, so no name counter moves
    return frozenset(dir(reference))


_LAYER_ATTRIBUTES = _reference_attributes()


def _layer_children(layer):
    """(attribute name, value) pairs of a layer's own attributes, in Keras's order: sorted,
    private ones last (``self.dense = Dense(...)`` is visited as ``dense``)."""
    for name in sorted(set(dir(layer)) - _LAYER_ATTRIBUTES, key=_name_key):
        if name.startswith("__"):
            continue
        try:
            value = getattr(layer, name)
        except Exception:  # a property that cannot be read now (Keras skips it too)
            continue
        yield name, value


def _is_saveable(obj):
    """A model, a layer, an optimizer: what has a ``vars`` group. A fused Conv2D + pooling step
    is not one: it is how a model runs its two layers, which are saved as themselves."""
    model_class = registry.get("Model")
    saveable = (Layer, model_class, optimizers_module.Optimizer, _InputLayerEntry)
    return isinstance(obj, saveable) and not isinstance(obj, ConvPool)


def _saveables(model):
    """Every object with (possibly empty) state, with its path in the file, each once.

    Returns a list of ``(path, object)``: ``("", model)``, ``("layers/conv2d", layer)``, ...,
    ``("optimizer", optimizer)``. Container entries are keyed by snake-cased class name with a
    counter (``dense``, ``dense_1``); nested lists become ``container``, ``container_1``. A
    layer's own attributes are walked too (Keras's ``_walk_saveable`` walks every saveable):
    your layer's ``self.dense`` is at ``layers/<your_layer>/dense``, its ``self.blocks = [...]``
    at ``layers/<your_layer>/blocks/dense``, ``.../blocks/dense_1``.
    """
    found, visited = [], set()

    def visit(obj, path):
        if id(obj) in visited:
            return
        visited.add(id(obj))
        found.append((path, obj))
        if isinstance(obj, Recurrent):
            found.append((f"{path}/cell", _CellEntry(obj)))
        if registry.is_instance(obj, "Model"):
            children = _children(obj)
        elif isinstance(obj, Layer):
            children = _layer_children(obj)
        else:
            return
        for name, child in children:
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
    if isinstance(obj, (registry.get("Model"), _InputLayerEntry, Recurrent)):
        return []  # a recurrent layer's weights are its cell's (``_CellEntry``)
    if isinstance(obj, _CellEntry):
        obj = obj.layer
    own = list(obj.variables_by_key.values())  # its own, as Keras's save_own_variables:
    return [v.value for v in own if v.trainable] + [v.value for v in own if not v.trainable]


# ============================================================================ writing


def _weights_bytes(model):
    """The ``model.weights.h5`` content as bytes (h5py writes into an in-memory file)."""
    buffer = io.BytesIO()
    import h5py  # here, not at the top: a model that is never saved never loads HDF5 (memory)

    with h5py.File(buffer, "w") as f:
        for path, obj in _saveables(model):
            group = f.create_group(_vars_path(path))
            group.attrs["name"] = obj.name
            for i, array in enumerate(_state_of(obj)):
                group.create_dataset(str(i), data=np.asarray(array))
    return buffer.getvalue()


# ============================================================================ reading


def _open_h5(data, filepath):
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise ValueError(
            f"'{filepath}' does not contain an HDF5 weights file (wrong file signature)."
        )
    try:
        import h5py

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
        optimizer.load_own_variables(arrays)


def _group_arrays(group, where, problems):
    import h5py

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
    import h5py

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
    unbuilt = 1 if optimizer.has_schedule else 2  # iteration (and learning_rate)
    if len(arrays) <= unbuilt:
        return (optimizer, arrays) if len(arrays) == unbuilt else None
    if optimizer.slots is None:
        optimizer.build([w for _, _, w in model._trainable_slots()])
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

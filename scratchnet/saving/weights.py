"""The weights file ``model.weights.h5``: the state walk, writing it, and reading it back.

``_saveables`` walks a model the way Keras's ``_walk_saveable`` does and gives every object
with state (the model, its layers, its optimizer) a path in the file; ``_weights_bytes`` writes
their arrays there, and ``_read_weights_into`` checks a file against the model and copies its
arrays in (optimizer state included, when it fits). Model kinds are asked of the registry
(``registry.is_instance(model, "Functional")``), so this module never imports the model classes.

Reading a file someone else wrote is guarded (the README's "Reliability" section):

* while a model is rebuilt from a ``.keras`` file, ``WeightBudget`` checks every weight a layer
  asks for before its initializer allocates it: a weight with more values than the file's
  weights member has bytes cannot come from that file, so ``Dense(units=10**11)`` is refused
  with the file's and the layer's names, and nothing is allocated for it;
* ``check_proportion`` refuses a weights member (or a ``.weights.h5`` file) whose size is out
  of all proportion to what the model needs, before a byte of it is read;
* the HDF5 file is checked from its metadata before any array is read: only hard links, each
  ``vars`` group holding datasets ``0, 1, ...`` of numbers, stored as Keras stores them
  (contiguous or compact, no external files, no filters), each of the shape the model expects
  and of a dtype that casts to the weight's as Keras's ``assign`` casts (float64 into float32,
  not a float into an int or a complex into a float). Attributes are never read (a corrupt
  variable-length string can hang HDF5: measured with h5py 3.14). Only then are the arrays
  read, each as big as the weight it goes into;
* h5py's errors on a damaged file (OSError, KeyError, RuntimeError, ...) become a ValueError
  naming the file, and nothing in the model changes until every check has passed.

Not detectable: HDF5 keeps no checksum of the arrays, so a ``.weights.h5`` whose numbers were
changed in place loads those numbers (in a ``.keras`` file the zip CRC catches it).
"""

import contextlib
import io
import math
import os
import warnings

import numpy as np

from .. import optimizers as optimizers_module
from ..layers.base import WEIGHT_CHECK, Layer
from ..layers.fused import ConvPool, NormReLU
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
    """A model, a layer, an optimizer: what has a ``vars`` group. A fused step (Conv2D + pooling,
    BatchNormalization + ReLU) is not one: it is how a model runs its two layers, which are
    saved as themselves."""
    model_class = registry.get("Model")
    saveable = (Layer, model_class, optimizers_module.Optimizer, _InputLayerEntry)
    return isinstance(obj, saveable) and not isinstance(obj, (ConvPool, NormReLU))


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


# ============================================================================ sizes


class WeightBudget:
    """While it is active, every ``add_weight`` is checked before it allocates (Layer.add_weight).

    Args:
        size: the bytes of the weights member the model is being rebuilt for: a file of that
            many bytes holds at most that many values, so a weight (or all weights together)
            needing more cannot match it.
        filepath: the file, to name it in errors.

    Use as ``with WeightBudget(size, path): model = deserialize_model(...)``.
    """

    def __init__(self, size, filepath):
        self.size, self.left, self.filepath = size, size, filepath
        self.previous = None

    def __enter__(self):
        self.previous = getattr(WEIGHT_CHECK, "check", None)
        WEIGHT_CHECK.check = self.check
        return self

    def __exit__(self, *exc_info):
        WEIGHT_CHECK.check = self.previous

    def check(self, layer, shape, dtype):
        what = f"'{self.filepath}': layer '{layer.name}' ({type(layer).__name__})"
        if dtype.kind not in "biuf":
            raise ValueError(f"{what} asks for a weight of dtype {dtype}; weights are numbers.")
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
            raise ValueError(f"{what}: its config gives a weight of shape {shape}, not integers.")
        if any(d < 0 for d in shape):
            raise ValueError(f"{what}: its config gives a weight of negative shape {shape}.")
        count = math.prod(int(d) for d in shape)
        if count > self.left:
            raise ValueError(
                f"{what}: its config asks for a weight of shape {tuple(int(d) for d in shape)} "
                f"({count:,} values), but the file's weights hold {self.size:,} bytes in all, "
                "so the config does not match the weights (a damaged or hostile file). "
                "Refused before allocating it."
            )
        self.left -= count


def _expected_bytes(model):
    """The bytes of every array the model holds (its optimizer's too, once built)."""
    values = [np.asarray(a) for path, obj in _saveables(model) for a in _state_of(obj)]
    return sum(a.nbytes for a in values)


def check_proportion(size, model, filepath, what):
    """Refuse ``size`` bytes of weights for ``model`` when they are out of all proportion.

    A file may store each value as float64 for a float32 model (x2), with up to three optimizer
    slots per weight (x4), and HDF5 needs a few KiB per group: more than 16 bytes per byte of
    weights, plus 16 KiB per object with state and 1 MiB, is no weights file of this model (a
    damaged size field or a zip bomb), and is refused before it is read.
    """
    limit = 16 * _expected_bytes(model) + 16 * 2**10 * len(_saveables(model)) + 2**20
    if size > limit:
        raise ValueError(
            f"'{filepath}': {what} declares {size:,} bytes, out of all proportion to the "
            f"{_expected_bytes(model):,} bytes of weights of the model it describes (at most "
            f"{limit:,} would be plausible); refusing to read it (a damaged size field or a "
            "zip bomb)."
        )


# ============================================================================ reading

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class _Refused(ValueError):
    """A check of the file failed; raised with the message as it is (not re-wrapped)."""


@contextlib.contextmanager
def _h5_errors(filepath):
    """h5py's errors on a damaged file (and NumPy's on its contents) as a ValueError naming it."""
    try:
        yield
    except _Refused:
        raise
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, OverflowError) as e:
        raise ValueError(
            f"'{filepath}': the HDF5 weights are damaged ({type(e).__name__}: {e})."
        ) from None


def _open_h5(source, filepath):
    """``h5py.File`` on ``source``: the bytes of a weights member, or a file's path."""
    if isinstance(source, bytes):
        head = source[:8]
    else:
        with open(source, "rb") as f:
            head = f.read(8)
    if head != _SIGNATURE:
        raise ValueError(
            f"'{filepath}' does not contain an HDF5 weights file (wrong file signature)."
        )
    import h5py

    try:
        return h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r")
    except (OSError, RuntimeError, ValueError) as e:
        raise ValueError(
            f"'{filepath}': the HDF5 weights are unreadable, probably truncated ({e})."
        ) from None


def read_weights_file(model, filepath):
    """``_read_weights_into`` for a ``.weights.h5`` file: its size is checked first."""
    check_proportion(os.path.getsize(filepath), model, filepath, "the weights file")
    _read_weights_into(model, filepath, filepath)


def _read_weights_into(model, source, filepath):
    """Check the whole file against the model, then copy the arrays in. Nothing changes on error.

    ``source`` is the weights' bytes (a ``.keras`` member) or a ``.weights.h5`` path.
    """
    with _open_h5(source, filepath) as f, _h5_errors(filepath):
        if "vars" not in f and "layers" not in f:
            raise _Refused(
                f"'{filepath}' is an HDF5 file but not a Keras 3 weights file: it has no "
                "'/vars' or "
                f"'/layers' group (top-level keys: {list(f.keys())[:10]}). Legacy Keras 2 '.h5' "
                "files are not supported."
            )
        _check_links(f, filepath)
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
            datasets = _group_datasets(group, where, problems)
            if datasets is None:
                continue
            if len(datasets) != len(expected):
                problems.append(
                    f"{what}: expects {len(expected)} weight array(s), the file has "
                    f"{len(datasets)} at '/{where}'."
                )
                continue
            for i, (current, dataset) in enumerate(zip(expected, datasets)):
                problem = _mismatch(current, dataset)
                if problem:
                    problems.append(f"{what}: weight {i} {problem} at '/{where}/{i}'.")
                else:
                    assignments.append((current, dataset))
        unused = [
            name
            for name in _vars_groups(f)
            if name not in used and not name.startswith("optimizer/") and len(f[name]) > 0
        ]
        for name in unused:
            problems.append(
                f"the file has weights at '/{name}' that no layer of this model takes: the "
                "architectures differ."
            )
        if problems:
            listing = "\n  - ".join(problems[:20])
            raise _Refused(
                f"Cannot load '{filepath}' into model '{model.name}': the weights do not match "
                f"the model.\n  - {listing}"
            )
        # every shape and dtype is checked: now read, each array as big as its weight
        assignments = [(current, np.asarray(dataset[()])) for current, dataset in assignments]
        optimizer_state = None
        if optimizer_path is not None and model.optimizer is not None:
            optimizer_state = _read_optimizer(model, f.get(_vars_path(optimizer_path)), filepath)
    for current, new in assignments:
        current[...] = new
    if optimizer_state is not None:
        optimizer, arrays = optimizer_state
        optimizer.load_own_variables(arrays)  # step counter, learning rate, slots: Keras's order


def _check_links(f, filepath):
    """Refuse soft and external links: Keras writes only groups and datasets (hard links), and
    an external link would make loading open another file."""
    import h5py

    odd = []
    f.visititems_links(
        lambda name, link: None if isinstance(link, h5py.HardLink) else odd.append(name)
    )
    if odd:
        raise _Refused(
            f"'{filepath}': the HDF5 weights have soft or external links ({odd[:5]}); a Keras "
            "weights file has none, and scratchnet never follows a link out of the file."
        )


def _mismatch(current, dataset):
    """Why ``dataset`` cannot be loaded into the array ``current`` (None if it can)."""
    if dataset.shape != current.shape:
        return f"has shape {current.shape} but the file has {dataset.shape}"
    if not np.can_cast(dataset.dtype, current.dtype, "same_kind"):  # as Keras's assign casts
        return f"has dtype {current.dtype} but the file has {dataset.dtype}"
    return None


def _group_datasets(group, where, problems):
    """The datasets ``0, 1, ...`` of a ``vars`` group, each checked from its metadata only."""
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
    datasets = [group[str(i)] for i in range(len(keys))]
    for i, dataset in enumerate(datasets):
        problem = _unreadable(dataset)
        if problem:
            problems.append(f"'/{where}/{i}' {problem}.")
            return None
    return datasets


def _unreadable(dataset):
    """Why a dataset is not one of Keras's weight arrays (None if it is one), from metadata."""
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        return "is not a dataset"
    if dataset.shape is None or dataset.dtype.kind not in "biufc":
        return f"holds {dataset.dtype} values, not numbers"
    plist = dataset.id.get_create_plist()
    layout = plist.get_layout()
    if layout not in (h5py.h5d.CONTIGUOUS, h5py.h5d.COMPACT) or plist.get_external_count():
        return "is stored in chunks or in external files, which Keras never writes"
    if plist.get_nfilters():
        return "is compressed or filtered, which Keras never does"
    return None


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
    problems = []
    datasets = _group_datasets(group, "optimizer/vars", problems)
    if datasets is None:
        raise _Refused(f"'{filepath}': the optimizer state is damaged: {problems[0]}")
    unbuilt = 1 if optimizer.has_schedule else 2  # iteration (and learning_rate)
    if len(datasets) <= unbuilt:  # an optimizer saved before its first step
        if len(datasets) < unbuilt:
            return None
        if any(d.shape != () for d in datasets):
            raise _Refused(
                f"'{filepath}': the optimizer's step counter and learning rate are not scalars "
                f"(shapes {[d.shape for d in datasets]})."
            )
        return _optimizer_state(optimizer, datasets)
    if optimizer.slots is None:
        optimizer.build([w for _, _, w in model._trainable_slots()])
    expected = optimizer.variables
    if len(datasets) != len(expected) or any(
        _mismatch(np.asarray(e), d) for e, d in zip(expected, datasets)
    ):
        warnings.warn(
            f"'{filepath}': skipping the optimizer state: the file has {len(datasets)} "
            f"optimizer variables, but this model's {type(optimizer).__name__} has "
            f"{len(expected)} (a different optimizer or architecture). The weights were loaded.",
            stacklevel=3,
        )
        return None
    return _optimizer_state(optimizer, datasets)


def _optimizer_state(optimizer, datasets):
    """(optimizer, its variables' arrays in Keras's order), read from checked datasets."""
    return optimizer, [np.asarray(d[()]) for d in datasets]

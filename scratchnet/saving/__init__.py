"""Save and load models in Keras 3's own file formats, using only h5py, zipfile and json.

Two formats, the same as Keras writes (keras-behaviour.md section 11):

* ``model.weights.h5``: an HDF5 file of weights. Each object with state gets a group
  ``<path>/vars`` holding datasets ``0``, ``1``, ... in weight order (kernel, then bias), with an
  attribute ``name`` (the object's name). The paths come from walking the model the way Keras
  does (``_saveables`` in ``weights.py``):

      /vars                         the model itself (no arrays)
      /layers/conv2d/vars/0, 1      the first Conv2D: kernel (KH, KW, C_in, C_out), bias (C_out,)
      /layers/conv2d_1/vars/0, 1    the second Conv2D ...
      /optimizer/vars/0             step counter (int64), /1 learning rate, /2... slots

  A recurrent layer (SimpleRNN, LSTM, GRU) has an empty group and its weights under
  ``/layers/lstm/cell/vars``, where Keras keeps its cell (scratchnet folds the cell in).
  A group key is the snake-cased class name, numbered in layer order (``conv2d``, ``conv2d_1``),
  not the layer's name, so two copies of one architecture share keys even if their names differ.
  In a subclassed model the key is the attribute name (``self.conv1 = ...`` -> ``/conv1/vars``),
  and a layer's own sublayers sit under it the same way (``self.dense = Dense(...)`` in your
  layer -> ``/layers/<your_layer>/dense/vars``).
* ``.keras``: a zip archive with three uncompressed members: ``metadata.json`` (Keras version
  and date), ``config.json`` (the architecture, each layer's constructor arguments with Keras's
  keys, and the compile settings) and ``model.weights.h5`` (as above, with optimizer state).

Because both are Keras's formats, ``keras.models.load_model`` opens what scratchnet saves, and
scratchnet opens what Keras saves (for the layers scratchnet has), without TensorFlow.

Your own layers, models, losses, metrics and activations are saved too, as Keras saves them:
by a registered name (``@register_keras_serializable(package="MyLayers")`` gives
``"MyLayers>Linear"``). Loading finds the class by that name in ``custom_objects``, the
current ``custom_object_scope`` or the registry (``object_registration.py``); a file never
makes scratchnet import a module (``objects.py``).

As in Keras, a Dropout layer's random-stream position is not saved: a reloaded model draws its
masks from the start of the stream again.

Writes are atomic: the file is written to a temporary file next to the target, flushed to disk,
then renamed over it, so a crash mid-write leaves the previous file intact.

Reads treat the file as untrusted (the README's "Reliability" section). Every failure is a
``ValueError`` naming the file, and the model changes only once everything has been checked:

* the archive: each member's declared size before it is decompressed, then a bounded, CRC-checked
  read (``files.py``): ``config.json`` at most ``files.CONFIG_LIMIT`` bytes and
  ``files.MAX_NESTING`` levels deep; ``model.weights.h5`` in proportion to the model the config
  describes (``weights.check_proportion``), so a zip bomb is refused without inflating it;
* the config: classes only from scratchnet's tables and your registered or passed objects, never
  an import (``objects.py``); a Lambda's Python code only with ``safe_mode=False``; input shapes
  at most ``serialization.MAX_INPUT_VALUES`` values per sample; while the model is rebuilt, every
  weight checked before it is allocated (``weights.WeightBudget``): ``Dense(units=10**11)`` is
  refused, naming the layer, before its initializer runs;
* the weights: every dataset's shape, dtype, layout and link checked from the HDF5 metadata
  before any array is read (``weights.py``).

Reading order: this file (the public functions), ``weights.py`` (the state walk and the
HDF5 weights), ``serialization.py`` (``config.json``: models and compile settings),
``objects.py`` (one object and its config: layers, losses, functions, ...),
``object_registration.py`` (your classes by registered name), ``files.py`` (atomic writes,
opening the archive) and ``registry.py`` (model classes by their Keras class name: the model
classes register themselves, so saving never imports ``scratchnet.models``).

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
import json

from . import registry
from .files import (
    _check_extension,
    _existing,
    _member,
    _open_archive,
    _read_json,
    _read_member,
    _write_archive,
    _write_bytes,
    errors_naming,
)
from .object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from .objects import LAYER_CLASSES, all_custom_objects
from .serialization import (
    _compile_from_config,
    deserialize_keras_object,
    deserialize_layer,
    deserialize_model,
    serialize_keras_object,
    serialize_layer,
    serialize_model,
)
from .weights import (
    WeightBudget,
    _read_weights_into,
    _weights_bytes,
    check_proportion,
    read_weights_file,
)

KERAS_VERSION = "3.15.1"  # the version whose format this module writes (and was tested against)
CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE = "config.json", "metadata.json", "model.weights.h5"


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
    _write_archive(filepath, {METADATA_FILE: metadata, CONFIG_FILE: config, WEIGHTS_FILE: weights})


def save_weights(model, filepath):
    """Save the weights (and the optimizer state, as Keras does) as a ``.weights.h5`` file.

    Args:
        model: a built scratchnet model.
        filepath: path ending in ``.weights.h5``.
    """
    filepath = _check_extension(filepath, (".weights.h5",), "save_weights", "model.save('x.keras')")
    model._require_built("save_weights")
    weights = _weights_bytes(model)
    _write_bytes(filepath, weights)


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
            weights = _read_weights_member(archive, model, filepath)
        _read_weights_into(model, weights, filepath)
    else:
        read_weights_file(model, _existing(filepath))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a ``.keras`` file written by ``model.save`` (scratchnet's or Keras's).

    Args:
        filepath: path ending in ``.keras``.
        custom_objects: ``{name: class or function}`` for your own layers, models, losses,
            metrics and activations, keyed by registered name (``"MyLayers>Linear"``) or class
            name. Not needed for objects registered with ``register_keras_serializable`` or in
            the current ``custom_object_scope``.
        compile: also restore the optimizer (with its state), loss and metrics.
        safe_mode: as in Keras, a ``Lambda`` whose function is Python code saved in the file
            loads only with ``safe_mode=False`` (it runs that code: only for files you trust).

    Returns:
        the model, built, with its weights (and compiled, if the file has compile settings).
    """
    filepath = _check_extension(filepath, (".keras",), "load_model", None)
    custom = all_custom_objects(custom_objects)
    with _open_archive(filepath) as archive:
        config = _read_json(archive, CONFIG_FILE, filepath)
        size = _member(archive, WEIGHTS_FILE, filepath).file_size
        # your from_config() may deserialize objects of its own: the scope lets it find them
        with errors_naming(filepath), WeightBudget(size, filepath), custom_object_scope(custom):
            model = deserialize_model(config, custom, filepath, safe_mode)
            compile_config = config.get("compile_config")
            if compile and compile_config:
                _compile_from_config(model, compile_config, filepath, custom)
        weights = _read_weights_member(archive, model, filepath)
    _read_weights_into(model, weights, filepath)
    return model


def _read_weights_member(archive, model, filepath):
    """The bytes of ``model.weights.h5``: its declared size checked against the model first."""
    info = _member(archive, WEIGHTS_FILE, filepath)
    check_proportion(info.file_size, model, filepath, f"its member '{WEIGHTS_FILE}'")
    return _read_member(archive, info, info.file_size, filepath, "bytes its header declares")


__all__ = [
    "KERAS_VERSION",
    "LAYER_CLASSES",
    "CustomObjectScope",
    "custom_object_scope",
    "deserialize_keras_object",
    "deserialize_layer",
    "deserialize_model",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "register_keras_serializable",
    "registry",
    "save_model",
    "save_weights",
    "serialize_keras_object",
    "serialize_layer",
    "serialize_model",
]

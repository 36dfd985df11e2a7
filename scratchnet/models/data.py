"""The data ``fit``, ``evaluate`` and ``predict`` take, made into flat lists of arrays, and its
batches (Keras's ``trainers/data_adapters``, for NumPy data).

A model with several inputs or outputs takes them as a list (in ``model.inputs`` /
``model.outputs`` order) or as a dict keyed by the inputs' names and the outputs' names (the
names of the layers that make them, ``model.output_names``). Inside, everything is one flat
list per argument: ``xs`` (one array per input), ``ys`` (one per output, None for an output
without labels) and ``sws`` (one sample-weight array per output, or None), as Keras flattens
its ``(x, y, sample_weight)`` trees.

Measured on Keras 3.15 (and followed here):

* one ``sample_weight`` array for a multi-output model applies to every output; it must then
  have one weight per sample (``(N,)`` or ``(N, 1)``);
* ``class_weight`` (``{class id: weight}``) becomes sample weights, from the labels' argmax
  (or the labels themselves for ``(N,)`` or ``(N, 1)`` labels); only for a single output, and
  never together with ``sample_weight``;
* ``validation_data`` is ``(x, y)`` or ``(x, y, sample_weight)``;
* with ``steps_per_epoch``, an epoch takes that many batches and the next epoch goes on from
  where the last one stopped (a new pass, shuffled again, starts when the data runs out).
"""

import math
import random
import types
import warnings

import numpy as np

from ..py_dataset import PyDataset
from .checks import as_array


def input_names(model):
    """The inputs' names (the keys of a dict of input arrays); ``[None]`` for one unnamed."""
    inputs = getattr(model, "inputs", None)
    if not isinstance(inputs, list) or len(inputs) == 0:
        return [None]
    return [getattr(t, "name", None) for t in inputs]


def output_names(model):
    """The outputs' names: Keras's ``model.output_names`` (the layers that make the outputs)."""
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    layers = model.layers
    return [layers[-1].name] if layers else ["output"]


def _flatten(model, data, names, what, where, allow_missing=False):
    """``data`` (an array, a list of arrays, or a dict keyed by ``names``) as a list in
    ``names``' order; a clear ValueError for a list of the wrong length or a dict's unknown
    keys."""
    kind = "inputs" if what == "x" else "outputs"
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(names))
        missing = [n for n in names if n not in data]
        if unknown or (missing and not allow_missing):
            raise ValueError(
                f"{where}: model '{model.name}' has {kind} named {names}, but {what} is a dict "
                f"with keys {sorted(data)}"
                + (f" (unknown: {unknown})" if unknown else "")
                + (f" (missing: {missing})" if missing and not allow_missing else "")
                + f". Key the arrays by the {kind}' names."
            )
        return [None if data.get(n) is None else as_array(data[n], f"{what}[{n!r}]", where)
                for n in names]  # fmt: skip
    if len(names) == 1:
        return [as_array(data, what, where)]
    if not isinstance(data, (list, tuple)):
        raise ValueError(
            f"{where}: model '{model.name}' has {len(names)} {kind} {names}, but {what} is one "
            f"{type(data).__name__}; pass a list of {len(names)} arrays (in that order) or a "
            f"dict keyed by those names."
        )
    if len(data) != len(names):
        raise ValueError(
            f"{where}: model '{model.name}' has {len(names)} {kind} {names}, but {what} is a "
            f"list of {len(data)}. Pass one array per {kind[:-1]}, in that order (or a dict keyed "
            "by the names)."
        )
    return [None if d is None else as_array(d, f"{what}[{i}]", where) for i, d in enumerate(data)]


def flatten_x(model, x, where):
    """One array per model input, in ``model.inputs`` order."""
    if x is None:
        raise ValueError(f"{where}: x is None; pass a NumPy array (or one per input).")
    return _flatten(model, x, input_names(model), "x", where)


def flatten_y(model, y, where):
    """One array per model output (None: no labels for that output)."""
    if y is None:
        return [None] * len(output_names(model))
    return _flatten(model, y, output_names(model), "y", where, allow_missing=True)


def flatten_sample_weight(model, sample_weight, ys, where):
    """One weight array per output (the same one for every output if one array is given), or
    None."""
    if sample_weight is None:
        return None
    names = output_names(model)
    if isinstance(sample_weight, (dict, list, tuple)) and len(names) > 1:
        return _flatten(model, sample_weight, names, "sample_weight", where, allow_missing=True)
    sw = as_array(sample_weight, "sample_weight", where)
    if len(names) > 1 and not (sw.ndim == 1 or (sw.ndim == 2 and sw.shape[1] == 1)):
        raise ValueError(
            f"{where}: model '{model.name}' has {len(names)} outputs {names}; one sample_weight "
            f"array must hold one weight per sample (shape (N,)), got shape {sw.shape}. For "
            "other weights pass one array per output."
        )
    return [sw] * len(names)


def class_weight_to_sample_weight(y, class_weight, floatx):
    """Keras's ``class_weight_to_sample_weights``: each sample weighs its class's weight (1.0
    for a class not in the dict); the class is the argmax of one-hot labels."""
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels[..., 0] if labels.shape[-1] == 1 else np.argmax(labels, axis=-1)
    labels = np.round(labels).astype("int32")
    return np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=floatx)


def count_samples(model, columns, where):
    """The common number of samples of every array, or a ValueError naming each one's size."""
    sizes = {name: len(a) for name, a in columns if a is not None}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name}: {n}" for name, n in sizes.items())
        raise ValueError(
            f"{where}: model '{model.name}' got arrays with different numbers of samples "
            f"({listed}); every input, label and weight array needs one row per sample."
        )
    return next(iter(sizes.values()))


def unpack_validation(data):
    """``(x, y, sample_weight)`` of ``validation_data``: a tuple (or list) of 2 or 3."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple) or len(data) not in (2, 3):
        raise ValueError(
            "fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
            f"val_sample_weight), got {type(data).__name__}"
            + (f" of {len(data)}" if isinstance(data, tuple) else "")
            + "."
        )
    return data if len(data) == 3 else (*data, None)


class Batches:
    """An epoch's batches of ``columns`` (arrays with one row per sample, or None): each step
    yields the list of their rows for that batch.

    Args:
        columns: the arrays, e.g. ``[x, y]`` or the inputs, labels and weights of a
            multi-output model.
        n: the number of samples.
        batch_size: rows per batch (the last one keeps what is left, as Keras).
        shuffle: draw a new order each pass (NumPy's global generator, as ``fit`` always has).
        steps_per_epoch: None for a whole pass per epoch; else this many batches per epoch,
            each epoch going on where the last stopped (Keras's ``EpochIterator``).
    """

    def __init__(self, columns, n, batch_size, shuffle=False, steps_per_epoch=None):
        self.columns, self.n, self.batch_size = columns, n, batch_size
        self.shuffle, self.steps_per_epoch = shuffle, steps_per_epoch
        self.num_batches = math.ceil(n / batch_size)
        self._pass = None  # the running pass when steps_per_epoch is set

    @property
    def steps(self):
        return self.steps_per_epoch or self.num_batches

    def _one_pass(self):
        order = np.random.permutation(self.n) if self.shuffle else None
        n, size = self.n, self.batch_size
        for step in range(self.num_batches):
            batch = slice(step * size, min(n, (step + 1) * size))
            idx = batch if order is None else order[batch]
            yield [None if c is None else c[idx] for c in self.columns]

    def epoch(self):
        """The batches of one epoch."""
        if self.steps_per_epoch is None:
            yield from self._one_pass()
            return
        if self._pass is None:
            self._pass = (self._one_pass(), [0])
        for _ in range(self.steps_per_epoch):
            passing, seen = self._pass
            if seen[0] >= self.num_batches:
                _ran_out()
                break
            seen[0] += 1
            yield next(passing)
        if self._pass[1][0] >= self.num_batches:
            self._pass = None  # the next epoch starts a new pass


def is_stream(x):
    """Whether ``x`` is a PyDataset or a Python generator of batches (Keras 3.15 takes these,
    and no other iterators)."""
    return isinstance(x, (PyDataset, types.GeneratorType))


def unpack_batch(batch, where):
    """``(x, y, sample_weight)`` of one batch from a generator or PyDataset (Keras accepts
    ``x``, ``(x,)``, ``(x, y)`` and ``(x, y, sample_weight)``)."""
    if isinstance(batch, np.ndarray) or isinstance(batch, dict):
        return batch, None, None
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
        raise ValueError(
            f"{where}: a generator or PyDataset must yield a tuple (x,), (x, y) or (x, y, "
            f"sample_weight); got {type(batch).__name__}"
            + (f" of {len(batch)}" if isinstance(batch, tuple) else "")
            + "."
        )
    return batch + (None,) * (3 - len(batch))


class StreamBatches(Batches):
    """The batches of a generator or a ``PyDataset``, made into the general step's columns.

    Args:
        model: the model (its inputs and outputs say how to flatten each batch).
        source: the generator or PyDataset.
        shuffle: for a PyDataset, shuffle the order of its batches each epoch (Python's
            ``random.shuffle``, as Keras).
        steps_per_epoch: batches per epoch; None: a PyDataset's length, or until a generator
            runs out.
        class_weight: weights per class, turned into each batch's sample weights.
        where: the calling method's name, for messages.

    A generator without ``steps_per_epoch`` is read to its end in the first epoch; when an
    epoch then finds it empty, ``exhausted`` is set, a warning says so and ``fit`` stops. (Keras
    3.15 on TensorFlow trains the later epochs on the few first batches it peeked at to learn
    the shapes, a side effect not copied here.)
    """

    def __init__(self, model, source, shuffle, steps_per_epoch, class_weight, where):
        self.model, self.source, self.class_weight, self.where = model, source, class_weight, where
        self.shuffle, self.steps_per_epoch = shuffle, steps_per_epoch
        self.is_dataset = isinstance(source, PyDataset)
        self.num_batches = source.num_batches if self.is_dataset else None
        self._pass = None
        self.exhausted = False

    def _columns(self, batch):
        x, y, sw = unpack_batch(batch, self.where)
        return self.model._flat_data(x, y, sw, self.class_weight, self.where)[0]

    def _one_pass(self):
        if not self.is_dataset:
            empty = True
            for batch in self.source:
                empty = False
                yield self._columns(batch)
            if empty and self.steps_per_epoch is None:
                self.exhausted = True
                _ran_out()
            return
        indices = list(range(self.num_batches))
        if self.shuffle:
            random.shuffle(indices)
        for i in indices:
            yield self._columns(self.source[i])

    def epoch(self):
        if self.is_dataset:
            self.source.on_epoch_begin()
        if self.steps_per_epoch is None:
            yield from self._one_pass()
        else:
            yield from self._steps_of_pass()
        if self.is_dataset:
            self.source.on_epoch_end()

    def _steps_of_pass(self):
        if self._pass is None:
            self._pass = (self._one_pass(), [0])
        for _ in range(self.steps_per_epoch):
            passing, seen = self._pass
            if self.num_batches is not None and seen[0] >= self.num_batches:
                break
            try:
                batch = next(passing)
            except StopIteration:
                _ran_out()
                return
            seen[0] += 1
            yield batch
        if self.num_batches is not None and self._pass[1][0] >= self.num_batches:
            self._pass = None


def _ran_out():
    warnings.warn(
        "Your input ran out of data; interrupting training. Make sure that your dataset or "
        "generator can generate at least `steps_per_epoch * epochs` batches.",
        stacklevel=3,
    )


def should_eval(epoch, validation_freq):
    """Keras's ``_should_eval``: every ``validation_freq``-th epoch, or the (1-based) epochs
    of a list."""
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq

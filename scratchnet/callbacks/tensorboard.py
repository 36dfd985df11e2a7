"""``TensorBoard``: the training curves as TensorBoard event files, as Keras 3.15 writes them.

What Keras writes, measured by reading the event files of the installed Keras back:

* ``log_dir/train``: ``epoch_<name>`` at step ``epoch`` (0-based) for every training log and
  ``epoch_learning_rate``; with ``update_freq`` set to ``"batch"`` or ``N``, ``batch_<name>``
  at step = the global training batch (1-based, counted across epochs) when it is a multiple
  of N. With ``write_graph`` (the default), the model's Keras JSON under the tag ``keras``
  (plugin ``graph_keras_model``, TensorBoard's conceptual graph) at step 0.
* ``log_dir/validation``: ``epoch_<name>`` (the ``val_`` prefix removed) at step ``epoch``,
  and at each evaluation's end ``evaluation_<name>_vs_iterations`` at step =
  ``optimizer.iterations``.
* A quirk kept: Keras guards every summary with ``tf.summary.record_if(step % N == 0)`` where
  step is the global batch of the latest batch (train or test) begun, so with
  ``update_freq=N`` an epoch's summaries are written only when that count is a multiple of N.

The event files are written by ``tensorboardX`` (``pip install scratchnet[tensorboard]``), as
plain scalars; TensorBoard reads them like TensorFlow's. They are written synchronously
(tensorboardX's ``EventsWriter``; its ``SummaryWriter`` queues events for a thread that writes
them to disk up to two minutes later), so a flush, at each epoch's and each evaluation's end,
puts everything on disk as TensorFlow's ``flush`` does.

Example:
    >>> import numpy as np, os, tempfile
    >>> from scratchnet import Input, layers, models
    >>> model = models.Sequential([Input((2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> log_dir = tempfile.mkdtemp()
    >>> _ = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0,
    ...               callbacks=[TensorBoard(log_dir)])
    >>> os.listdir(log_dir)
    ['train']
"""

import itertools
import os
import time

import numpy as np

from .callback import Callback
from .monitor import _get_lr

_FILE_NUMBERS = itertools.count()  # TensorFlow's writers name files uniquely in a process too


def _tensorboardx():
    """tensorboardX's event-file writer, protocol buffers and summary makers."""
    try:
        import tensorboardX.event_file_writer
        import tensorboardX.proto.event_pb2
        import tensorboardX.summary
    except ImportError as e:
        raise ImportError(
            "scratchnet.callbacks.TensorBoard writes its event files with tensorboardX, which is "
            "not installed. Install it with `pip install scratchnet[tensorboard]` (or `pip "
            "install tensorboardX`)."
        ) from e
    return tensorboardX


class _Writer:
    """One event file, written synchronously: ``add(summary, step)``, ``flush``, ``close``."""

    def __init__(self, tbx, folder, suffix):
        os.makedirs(folder, exist_ok=True)
        self._tbx = tbx
        self._events = tbx.event_file_writer.EventsWriter(os.path.join(folder, "events"), suffix)

    def add(self, summary, step):
        event = self._tbx.proto.event_pb2.Event(wall_time=time.time(), step=step, summary=summary)
        self._events.write_event(event)

    def flush(self):
        self._events.flush()

    def close(self):
        self._events.close()


class TensorBoard(Callback):
    """Write loss, metrics and learning rate for TensorBoard (Keras's ``TensorBoard``).

    Run ``tensorboard --logdir=path_to_your_logs`` to see them. See the module docstring for the
    exact tags and steps.

    Args:
        log_dir: the folder of the logs; ``train/`` and ``validation/`` are made in it.
        histogram_freq: every that many epochs, a histogram of each weight (tag
            ``<weight path>/histogram``, 30 buckets as ``tf.summary.histogram``); 0: none.
        write_graph: write the model's Keras JSON (TensorBoard's conceptual graph).
        write_steps_per_second: also log the training steps per second (``batch_steps_per_second``
            per batch, ``epoch_steps_per_second`` per epoch).
        update_freq: 'epoch', 'batch', or N: also log the batch logs every N batches.
        write_images, profile_batch, embeddings_freq, embeddings_metadata: Keras's arguments
            for weight images, the profiler and the embedding projector; only their defaults
            are supported (a ValueError says so otherwise).

    Raises:
        ImportError: tensorboardX is not installed (``pip install scratchnet[tensorboard]``).
    """

    def __init__(
        self,
        log_dir="logs",
        histogram_freq=0,
        write_graph=True,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq=0,
        embeddings_metadata=None,
    ):
        super().__init__()
        self._tbx = _tensorboardx()
        unsupported = {
            "write_images": (write_images, False),
            "profile_batch": (profile_batch, 0),
            "embeddings_freq": (embeddings_freq, 0),
            "embeddings_metadata": (embeddings_metadata, None),
        }
        for name, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(
                    f"TensorBoard: {name}={value!r} is not supported by scratchnet (there is no "
                    f"profiler or projector); leave it at its default {default!r}."
                )
        if update_freq not in ("epoch", "batch") and not (
            isinstance(update_freq, int) and update_freq > 0
        ):
            raise ValueError(
                f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, got "
                f"{update_freq!r}."
            )
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(
                f"TensorBoard: histogram_freq must be a non-negative integer, got "
                f"{histogram_freq!r}."
            )
        self.log_dir = str(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._global_train_batch = 0
        self._global_test_batch = 0
        self._previous_epoch_iterations = 0
        self._batch_start_time = 0
        self._writers = {}
        self._closed = set()  # the writers closed at the end of training
        self._record_steps = []  # Keras's stack of record_if(step % update_freq == 0) contexts

    def set_model(self, model):
        self._model = model
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._close_writers()
        self._writers, self._closed = {}, set()
        if self.write_graph:
            self._write_keras_model_summary()

    def _writer(self, which):
        """The train or validation writer, made on first use. tensorboardX names a file by the
        second and the host alone, so a suffix (process, number) keeps two files of one second
        apart, as TensorFlow's names do."""
        if which not in self._writers:
            folder = self._train_dir if which == "train" else self._val_dir
            suffix = f".{os.getpid()}.{next(_FILE_NUMBERS)}.v2"
            self._writers[which] = _Writer(self._tbx, folder, suffix)
        return self._writers[which]

    def _recording(self):
        if self.update_freq == "epoch" or not self._record_steps:
            return True
        return self._record_steps[-1] % self.update_freq == 0

    def _scalar(self, which, tag, value, step):
        if self._recording() and which not in self._closed:
            self._writer(which).add(self._tbx.summary.scalar(tag, float(value)), int(step))

    def _push(self, step):
        if self.update_freq != "epoch":
            self._record_steps.append(step)

    def _pop(self):
        if self.update_freq != "epoch" and self._record_steps:
            self._record_steps.pop()

    def _close_writers(self):
        """Close the writers. As in Keras, they stay closed until the next ``set_model``, which
        ``fit``, ``evaluate`` and ``predict`` each call: each of those starts new event files."""
        for which, writer in self._writers.items():
            if which not in self._closed:
                writer.close()
        self._closed = set(self._writers)

    def _write_keras_model_summary(self):
        """The model's Keras JSON as Keras's ``keras_model_summary`` writes it (Sequential and
        Functional models only, as in Keras)."""
        if type(self.model).__name__ not in ("Sequential", "Functional"):
            return
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboardX.proto.tensor_pb2 import TensorProto

        metadata = SummaryMetadata(
            plugin_data=SummaryMetadata.PluginData(plugin_name="graph_keras_model", content=b"1")
        )
        tensor = TensorProto(dtype=7, string_val=[self.model.to_json().encode()])  # DT_STRING
        summary = Summary(value=[Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
        self._writer("train").add(summary, 0)

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0
        self._push(self._global_train_batch)

    def on_train_end(self, logs=None):
        self._pop()
        self._close_writers()

    def on_test_begin(self, logs=None):
        self._push(self._global_test_batch)

    def on_test_end(self, logs=None):
        if self.model.optimizer is not None:
            for name, value in (logs or {}).items():
                self._scalar(
                    "val", f"evaluation_{name}_vs_iterations", value,
                    self.model.optimizer.iterations,
                )  # fmt: skip
        self._pop()
        self._flush()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.update_freq != "epoch":
            self._pop()
            self._push(self._global_train_batch)
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.write_steps_per_second:
            seconds = time.time() - self._batch_start_time
            self._scalar("train", "batch_steps_per_second", 1.0 / seconds, self._global_train_batch)
        if self.update_freq == "epoch":
            return  # (Keras calls summary.scalar here too, with no default writer: a no-op)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, self._global_train_batch)

    def on_test_batch_begin(self, batch, logs=None):
        self._global_test_batch += 1
        if self.update_freq != "epoch":
            self._pop()
            self._push(self._global_test_batch)

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._previous_epoch_iterations = float(self.model.optimizer.iterations)
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        self._flush()

    def _flush(self):
        for which, writer in self._writers.items():
            if which not in self._closed:
                writer.flush()

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k: v for k, v in logs.items() if k.startswith("val_")}
        train_logs["learning_rate"] = _get_lr(self.model.optimizer)
        if self.write_steps_per_second:
            seconds = time.time() - self._epoch_start_time
            steps = float(self.model.optimizer.iterations) - self._previous_epoch_iterations
            train_logs["steps_per_second"] = float(np.float32(steps) / np.float32(seconds))
        for name, value in train_logs.items():
            self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in val_logs.items():
            self._scalar("val", f"epoch_{name[4:]}", value, epoch)

    def _log_weights(self, epoch):
        if not self._recording() or "train" in self._closed:
            return
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                values = np.asarray(weight.value)
                writer.add(self._tbx.summary.histogram(f"{name}/histogram", values, bins=30), epoch)
        writer.flush()

"""``PyDataset``: batches written in Python, for ``fit``, ``evaluate`` and ``predict``
(Keras's ``keras.utils.PyDataset``).

Subclass it, give ``__len__`` (the number of batches) and ``__getitem__(index)`` (one batch:
``x``, ``(x, y)`` or ``(x, y, sample_weight)``, where x and y may be lists or dicts for a model
with several inputs or outputs), and pass it to ``fit`` as ``x``, with no ``y``.

As measured on Keras 3.15 (``trainers/data_adapters/py_dataset_adapter.py``): with
``shuffle=True`` (fit's default) the *order of the batches* is shuffled each epoch with Python's
``random.shuffle`` (the same generator ``utils.set_random_seed`` seeds), not the samples inside
them; ``on_epoch_begin`` and ``on_epoch_end`` run around each epoch. ``workers``,
``use_multiprocessing`` and ``max_queue_size`` are Keras's options for loading batches in
parallel: accepted and kept, and scratchnet loads each batch when it needs it, in the training
thread.

Example:
    >>> import numpy as np
    >>> class Squares(PyDataset):
    ...     def __len__(self):
    ...         return 3
    ...     def __getitem__(self, index):
    ...         x = np.full((4, 1), index, "float32")
    ...         return x, x**2
    >>> len(Squares()), float(Squares()[2][1][0, 0])
    (3, 4.0)
"""


class PyDataset:
    """Base class for a dataset of batches made by Python code (Keras's ``PyDataset``).

    Args:
        workers: Keras's number of loading threads or processes (kept; loads in-thread here).
        use_multiprocessing: Keras's process pool switch (kept; not used here).
        max_queue_size: Keras's prefetch queue size (kept; not used here).
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    @property
    def workers(self):
        return self.__dict__.get("_workers", 1)

    @property
    def use_multiprocessing(self):
        return self.__dict__.get("_use_multiprocessing", False)

    @property
    def max_queue_size(self):
        return self.__dict__.get("_max_queue_size", 10)

    def __getitem__(self, index):
        """The batch at position ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index).")

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must define __len__ or the num_batches property."
        )

    def __iter__(self):
        for index in range(self.num_batches):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""

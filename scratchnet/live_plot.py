"""``LivePlot``: the training curves, redrawn while ``fit`` runs (made for Jupyter).

Keras has no such callback; this is scratchnet's own, a few lines on top of matplotlib. Pass it
to ``fit`` and the figure of loss and accuracy (and their ``val_`` twins) is redrawn after every
epoch, or every ``batches`` batches. In Jupyter it replaces its own output cell
(``IPython.display``); elsewhere it draws into a figure that ``path`` saves as it goes. matplotlib
and IPython are imported when training starts, so importing scratchnet needs neither.

Example:
    >>> plot = LivePlot(path=None)
    >>> plot.history
    {}
"""

import sys

from .callbacks import Callback


class LivePlot(Callback):
    """Redraw the training curves during ``fit``.

    Args:
        batches: also redraw every ``batches`` training batches (the batch logs, which are
            running means over the epoch so far); None: after each epoch only.
        path: where to save the figure at each redraw (e.g. "curves.png"), or None.
        metrics: the logs to plot, each with its ``val_`` twin when present; default: every
            log of the first epoch that does not start with ``val_``.
    """

    def __init__(self, batches=None, path=None, metrics=None):
        super().__init__()
        self.batches, self.path, self.metrics = batches, path, metrics
        self.history = {}  # name -> one value per epoch
        self.batch_history = {}  # name -> one value per redraw inside an epoch
        self.figure = None

    def on_train_begin(self, logs=None):
        import matplotlib.pyplot as plt  # imported here: scratchnet itself never needs it

        self.figure = plt.figure(figsize=(10, 3.5))
        self.history, self.batch_history = {}, {}

    def on_train_batch_end(self, batch, logs=None):
        if self.batches and (batch + 1) % self.batches == 0:
            for name, value in (logs or {}).items():
                self.batch_history.setdefault(name, []).append(float(value))
            self.draw()

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        self.draw()

    def _names(self):
        known = set(self.history) | set(self.batch_history)
        names = self.metrics or [n for n in known if not n.startswith("val_")]
        return sorted(names, key=lambda n: (n != "loss", n))

    def draw(self):
        """Redraw every curve; in Jupyter, replace the previous drawing."""
        self.figure.clear()
        names = self._names()
        for i, name in enumerate(names, 1):
            ax = self.figure.add_subplot(1, len(names), i)
            if name in self.history:
                epochs = range(1, len(self.history[name]) + 1)
                ax.plot(epochs, self.history[name], "o-", label=name)
            if "val_" + name in self.history:
                epochs = range(1, len(self.history["val_" + name]) + 1)
                ax.plot(epochs, self.history["val_" + name], "o-", label="val_" + name)
            if name in self.batch_history:
                ax.plot(self.batch_history[name], alpha=0.4, label=f"{name} (batches)")
            ax.set_xlabel("epoch" if name in self.history else "redraw")
            ax.set_title(name)
            ax.legend()
        self.figure.tight_layout()
        if self.path:
            self.figure.savefig(self.path)
        if "ipykernel" in sys.modules:  # in Jupyter: draw in place of the previous drawing
            from IPython.display import clear_output, display

            clear_output(wait=True)
            display(self.figure)

"""Ctrl-C during ``fit`` lands between two training steps, never inside one.

A ``KeyboardInterrupt`` can arrive between any two Python bytecodes: after the optimizer updated
the first layer's kernel but not the second's, or after a BatchNormalization moved its running
mean in the forward pass but before the update the step was for. A model stopped there holds a
mix of two steps. So ``fit`` runs each step with SIGINT deferred: a Ctrl-C that arrives inside a
step is noted, and ``KeyboardInterrupt`` is raised as soon as the step is complete. The model's
weights, its optimizer's state (slots, ``iterations``) and the metrics' running means are then
those after the last completed step, and ``model.history`` holds the completed epochs.

This is what Keras does too, as far as the user can see: its TensorFlow step runs as one graph
call, and Python raises the ``KeyboardInterrupt`` when the call returns; ``fit`` does not catch
it (``History`` sets ``model.history`` at each epoch's end, so the interrupted epoch is not in it).

The cost: the handler is installed once per ``fit`` (about 6 microseconds, measured, for
``signal.signal``), and each step sets and clears a flag. Only the main thread can install a
signal handler, and only the main thread receives SIGINT: ``fit`` in another thread is not
interrupted by Ctrl-C at all, so it needs nothing. A SIGINT handler that is not a Python function
(``SIG_IGN``, ``SIG_DFL``) is left alone; a Python handler of the program's own is called, after
the step, with the signal.

Example:
    >>> with DeferredInterrupt() as steps:
    ...     steps.run(sum, [1, 2])  # a Ctrl-C inside sum() would be raised after it returns
    3
"""

import signal
import sys
import threading


class DeferredInterrupt:
    """Within the block, ``run(step, *args)`` calls ``step`` with SIGINT held until it returns."""

    def __init__(self):
        self.previous = None  # the SIGINT handler to restore and to hand a deferred signal to
        self.in_step = False
        self.pending = False  # a SIGINT arrived during a step and is not delivered yet

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGINT)
            if callable(current):  # default_int_handler (raises KeyboardInterrupt) or the program's
                self.previous = current
                signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, exc_type, exc, tb):
        previous, self.previous = self.previous, None
        if previous is not None and signal.getsignal(signal.SIGINT) == self._handler:
            signal.signal(signal.SIGINT, previous)
        if self.pending and exc_type is None:  # (an error that ends fit is raised as it is)
            self.pending = False
            previous(signal.SIGINT, sys._getframe())

    def _handler(self, signum, frame):
        if self.in_step:
            self.pending = True
        else:
            self.previous(signum, frame)

    def run(self, step, *args):
        """``step(*args)``, then the Ctrl-C that arrived meanwhile, if one did."""
        self.in_step = True
        try:
            result = step(*args)
        finally:
            self.in_step = False
        if self.pending:
            self.pending = False
            self.previous(signal.SIGINT, sys._getframe())
        return result

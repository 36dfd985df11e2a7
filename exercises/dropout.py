"""Exercise: Dropout in training, given which units are kept ("inverted" dropout, as Keras).

Shapes: x, keep and y all (N, ...); keep is a boolean array, True where the unit stays.
Keras scales the kept units so that the expected output equals x: no change at test time.
Check: ``python -m exercises.check dropout`` (the mask it gives you is the one Keras drew).
"""


def forward(x, keep, rate):
    """Return ``(y, cache)`` for the dropped fraction ``rate`` in [0, 1)."""
    raise NotImplementedError("exercises/dropout.py: write forward(x, keep, rate)")


def backward(dy, cache):
    """Return dx, shaped like x."""
    raise NotImplementedError("exercises/dropout.py: write backward(dy, cache)")

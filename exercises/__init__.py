"""Exercises: write a forward or a backward pass yourself, then check it.

Each file here is a stub to fill in: ``dense.py``, ``conv2d.py``, ``max_pooling2d.py`` (with
ties), ``softmax_cross_entropy.py``, ``dropout.py``, ``adam.py`` and ``batch_normalization.py``.
Every function says what it takes and returns, with shapes; the formulas are in scratchnet's own
layers (``scratchnet/layers/``) once you want to compare.

    python -m exercises.check                  # check every exercise
    python -m exercises.check dense conv2d     # check some
    python -m exercises.check --answers library    # scratchnet's own answers: all pass

The check compares your backward pass with finite differences of your own forward pass, and
both passes with Keras when it is installed (else with scratchnet, which the parity tests prove
equal to Keras). For each exercise it prints a verdict; for a wrong tensor, the worst index,
your value and the expected one, and a hint.
"""

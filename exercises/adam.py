"""Exercise: one step of Adam, in Keras's form.

Arrays w (the weight), g (its gradient), m and v (the first and second moment estimates, zeros
before the first step) all have the same shape; t is the step number, 1 for the first step.

    m <- beta_1 m + (1 - beta_1) g;     v <- beta_2 v + (1 - beta_2) g^2
    then w moves against m / sqrt(v), with both moments corrected for their start at zero

Keras writes the bias correction and epsilon in one particular way: look at where epsilon goes.
Check: ``python -m exercises.check adam`` (three steps against Keras's Adam).
"""


def step(w, g, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Return the new ``(w, m, v)`` (new arrays, or the same ones updated in place)."""
    raise NotImplementedError("exercises/adam.py: write step(w, g, m, v, t, ...)")

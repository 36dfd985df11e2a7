"""Exercise: BatchNormalization in training, over every axis but the last (the channels).

Shapes: x (N, ..., C), gamma (C,), beta (C,), y like x.

    mean, var = the batch mean and (biased) variance of each channel
    y = gamma * (x - mean) / sqrt(var + epsilon) + beta

The backward pass is the classic one to get wrong: the mean and the variance depend on x too.
Check: ``python -m exercises.check batch_normalization``.
"""


def forward(x, gamma, beta, epsilon=1e-3):
    """Return ``(y, cache)``."""
    raise NotImplementedError("exercises/batch_normalization.py: write forward(x, gamma, beta)")


def backward(dy, cache):
    """Return ``(dx, dgamma, dbeta)``."""
    raise NotImplementedError("exercises/batch_normalization.py: write backward(dy, cache)")

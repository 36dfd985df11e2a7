"""Exercise: softmax followed by categorical cross-entropy, as one step from the logits.

Shapes: logits z (N, C), y_true (N, C) one-hot (or any rows summing to 1).

    p = softmax(z) row by row;   L = mean over the N rows of -sum_c y_true * log(p)

Write the loss so that a large logit cannot overflow exp. The gradient dL/dz has a famous short
form; find it on paper first.
Check: ``python -m exercises.check softmax_cross_entropy``.
"""


def forward(logits, y_true):
    """Return ``(loss, cache)``: the loss as a float."""
    raise NotImplementedError("exercises/softmax_cross_entropy.py: write forward(logits, y_true)")


def backward(dloss, cache):
    """Return dL/dz (N, C), for dloss = the gradient reaching the loss (1.0 in training)."""
    raise NotImplementedError("exercises/softmax_cross_entropy.py: write backward(dloss, cache)")

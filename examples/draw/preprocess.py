"""Turn a drawing into an MNIST digit, the way the MNIST images themselves were made.

LeCun, Cortes and Burges describe it: each NIST digit was size-normalised to fit a 20x20 box
while keeping its aspect ratio (anti-aliasing gives the grey levels), then centred in a 28x28
image by its centre of mass. A network trained on MNIST only knows digits that look like this,
so a drawing has to go through the same steps before it is predicted.

Example:
    >>> import numpy as np
    >>> drawing = np.zeros((280, 280)); drawing[40:240, 120:160] = 1.0  # a thick "1"
    >>> digit = to_mnist(drawing)
    >>> rows = np.flatnonzero(digit.max(axis=1))  # the rows with ink: 20 of them, centred
    >>> digit.shape, float(digit.max()), int(rows[0]), int(rows[-1])
    ((28, 28), 255.0, 4, 23)
"""

import numpy as np

BOX = 20  # the digit's longer side, in pixels
SIZE = 28  # the image's side
CENTRE = 14.0  # where the centre of mass goes: MNIST's mean centre of mass, in pixel indices


def area_weights(n_in, n_out):
    """How much of each input pixel falls into each output pixel when resampling a line.

    Pixel i of the input covers [i, i + 1); pixel j of the output covers an interval of length
    n_in / n_out. The weight is the length of their overlap, normalised so each row sums to 1:
    each output pixel is the average of what it covers (a box filter, which anti-aliases).

    Returns:
        (n_out, n_in) weights.
    """
    edges_out = np.linspace(0, n_in, n_out + 1)  # (n_out + 1,)
    lo = np.maximum(edges_out[:-1, None], np.arange(n_in)[None, :])  # (n_out, n_in)
    hi = np.minimum(edges_out[1:, None], np.arange(1, n_in + 1)[None, :])  # (n_out, n_in)
    overlap = np.clip(hi - lo, 0, None)  # (n_out, n_in)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize_area(image, height, width):
    """Resample ``image`` (H, W) to (height, width) by area averaging: rows, then columns."""
    return area_weights(image.shape[0], height) @ image @ area_weights(image.shape[1], width).T


def to_mnist(drawing):
    """Crop the ink, fit it into a 20x20 box, centre it by mass in 28x28.

    Args:
        drawing: (H, W) ink intensities, 0 for background, larger for ink (any scale).

    Returns:
        (28, 28) float64 pixel values in [0, 255] like an MNIST image, or None if nothing is drawn.
    """
    rows = np.flatnonzero(drawing.max(axis=1) > 0)
    cols = np.flatnonzero(drawing.max(axis=0) > 0)
    if rows.size == 0:
        return None
    crop = drawing[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (h, w)
    h, w = crop.shape
    scale = BOX / max(h, w)
    small = resize_area(crop, max(1, round(h * scale)), max(1, round(w * scale)))  # (h', w')
    small = small / small.max()

    mass = small.sum()
    cy = small.sum(axis=1) @ np.arange(small.shape[0]) / mass
    cx = small.sum(axis=0) @ np.arange(small.shape[1]) / mass
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - small.shape[0]))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - small.shape[1]))
    digit = np.zeros((SIZE, SIZE))
    digit[top : top + small.shape[0], left : left + small.shape[1]] = small
    return digit * 255

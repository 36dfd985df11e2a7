"""Layers, mirroring ``keras.layers``: one file per family.

Reading order for a learner: ``base`` (Layer and the backprop tape), ``core`` (Dense, Flatten,
Dropout, Activation), ``conv`` (Conv2D), ``pooling`` (MaxPooling2D), then for the Functional API
``reshaping`` (ZeroPadding2D, Cropping2D) and ``merging`` (Concatenate, Add). ``fused`` is not a
layer you use: it is how Sequential runs a Conv2D + MaxPooling2D pair as one faster step.
"""

from ..graph import Input
from .base import Layer
from .conv import Conv2D, Convolution2D
from .core import Activation, Dense, Dropout, Flatten
from .merging import Add, Concatenate, add, concatenate
from .pooling import MaxPool2D, MaxPooling2D
from .reshaping import Cropping2D, ZeroPadding2D

__all__ = [
    "Activation",
    "Add",
    "Concatenate",
    "Conv2D",
    "Convolution2D",
    "Cropping2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "ZeroPadding2D",
    "add",
    "concatenate",
]

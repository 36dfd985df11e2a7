"""Layers, mirroring ``keras.layers``: one file per family.

Reading order for a learner: ``base`` (Layer and the backprop tape), ``core`` (Dense, Flatten,
Dropout, Activation), ``conv`` (Conv2D), ``pooling`` (MaxPooling2D).
"""

from ..graph import Input
from .base import Layer
from .conv import Conv2D, Convolution2D
from .core import Activation, Dense, Dropout, Flatten
from .pooling import MaxPool2D, MaxPooling2D

__all__ = [
    "Activation",
    "Conv2D",
    "Convolution2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
]

"""Layers, mirroring ``keras.layers``: one file per family.

Reading order for a learner: ``base`` (the Layer class), ``core`` (Dense, Flatten, Dropout,
Activation), ``conv`` (Conv2D), ``pooling`` (MaxPooling2D), then ``normalization``
(BatchNormalization), ``pooling_more`` (average and global poolings, 1-D), ``convolutional``
and ``depthwise`` (Conv1D, Conv2DTranspose, UpSampling2D, depthwise and separable), ``activation``
(LeakyReLU, ReLU, ELU, PReLU, Softmax), ``noise``, ``recurrent`` (SimpleRNN, LSTM, GRU with
backprop through time), ``embedding``, ``preprocessing``, and for the Functional API
``reshaping`` and ``merging``. ``calling`` is how a layer written with ``call`` runs with
autodiff, and ``lambda_layer`` is one. ``fused`` is not a layer you use: it is how a model runs
a Conv2D + MaxPooling2D pair as one faster step.
"""

from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .base import Layer
from .conv import Conv2D, Convolution2D
from .convolutional import (
    Conv1D,
    Conv2DTranspose,
    Convolution1D,
    Convolution2DTranspose,
    UpSampling2D,
)
from .core import Activation, Dense, Dropout, Flatten
from .depthwise import DepthwiseConv2D, SeparableConv2D, SeparableConvolution2D
from .embedding import Embedding
from .input_layer import Input, InputLayer
from .lambda_layer import Lambda
from .merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .noise import GaussianDropout, GaussianNoise, SpatialDropout2D
from .normalization import BatchNormalization
from .pooling import MaxPool2D, MaxPooling2D
from .pooling_more import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPooling1D,
)
from .preprocessing import Rescaling
from .recurrent import GRU, LSTM, SimpleRNN
from .reshaping import Cropping2D, Permute, RepeatVector, Reshape, ZeroPadding2D

__all__ = [
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNormalization",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Convolution1D",
    "Convolution2D",
    "Convolution2DTranspose",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "GRU",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "LSTM",
    "Lambda",
    "Layer",
    "LeakyReLU",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "PReLU",
    "Permute",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "SeparableConv2D",
    "SeparableConvolution2D",
    "SimpleRNN",
    "Softmax",
    "SpatialDropout2D",
    "Subtract",
    "UpSampling2D",
    "ZeroPadding2D",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]
